// End-to-end test of Haro against a real `weaver serve` (SQLite in a temp dir, random free port,
// API key on), driven by playwright-core in Debian's /usr/bin/chromium, headless.
//
//   node e2e/run.mjs        (from haro/; scripts/test.sh runs it)
//
// Needs, and fails loudly without: chromium ($CHROMIUM, default /usr/bin/chromium), a built
// `weaver` ($WEAVER_BIN, default $CARGO_TARGET_DIR/debug/weaver), a built dashboard (haro/dist)
// and strategies/dist/sma-cross.wasm (scripts/build-strategies.sh). Candles are imported from
// ../shared/data/ohlcv relative to the repository root (read in place, never copied).
// Screenshots go to haro/test-results/.
import { spawn, execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const haro = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const root = resolve(haro, '..')
const shots = join(haro, 'test-results')
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
const BIN = process.env.WEAVER_BIN ? resolve(process.env.WEAVER_BIN) : join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug', 'weaver')
const WASM = join(root, 'strategies/dist/sma-cross.wasm')
const CSV = join(root, '../shared/data/ohlcv/GOOG.csv')
const KEY = 'e2e-key-0123456789abcdef'
const T = 30_000

function need(path, what) {
  if (!existsSync(path)) {
    console.error(`e2e: ${what} is missing: ${path}`)
    process.exit(2)
  }
}
need(CHROMIUM, 'chromium (apt-get install -y chromium)')
need(BIN, 'the weaver binary (cargo build --bin weaver, or set WEAVER_BIN)')
need(join(haro, 'dist/index.html'), 'the built dashboard (scripts/build-haro.sh)')
need(WASM, 'the sma-cross component (scripts/build-strategies.sh)')
need(CSV, 'the reference candles')

const freePort = () =>
  new Promise((ok, fail) => {
    const s = createServer()
    s.once('error', fail)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => ok(port))
    })
  })

const data = mkdtempSync(join(tmpdir(), 'haro-e2e-'))
mkdirSync(join(data, 'no-examples'))
const port = await freePort()
const base = `http://127.0.0.1:${port}`
const env = {
  ...process.env,
  WEAVER_DATA_DIR: data,
  WEAVER_BIND: `127.0.0.1:${port}`,
  WEAVER_API_KEY: KEY,
  WEAVER_STRATEGIES_DIR: join(data, 'no-examples'),
  WEAVER_RUN_BAR_INTERVAL_MS: '25',
  WEAVER_LOG: 'warn',
}
// SQLite in the temp dir, whatever the caller's environment says.
delete env.WEAVER_DATABASE_URL
mkdirSync(shots, { recursive: true })

execFileSync(BIN, ['data', 'import', CSV, '--symbol', 'GOOG', '--timeframe', '1Day'], { env, cwd: data, stdio: ['ignore', 'ignore', 'inherit'] })

const server = spawn(BIN, ['serve'], { env, cwd: data, stdio: ['ignore', 'ignore', 'inherit'] })
let serverExit = null
server.on('exit', (code) => (serverExit = code))

async function waitHealthy() {
  const until = Date.now() + 60_000
  while (Date.now() < until) {
    if (serverExit !== null) throw new Error(`weaver serve exited with ${serverExit}`)
    try {
      if ((await fetch(`${base}/healthz`)).ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error('weaver serve did not become healthy in 60 s')
}

const errors = []
let keyless = true
// While set, a failed request to a URL matching it is expected (the deliberately bad upload).
let expectFailing = null
let step = 'start'
const checks = []
const ok = (what) => {
  checks.push(what)
  console.log(`  ✓ ${what}`)
}

async function pickStrategy(page) {
  const option = page.getByTestId('strategy-select').locator('option', { hasText: 'sma-cross' }).first()
  await option.waitFor({ state: 'attached' })
  await page.getByTestId('strategy-select').selectOption(await option.getAttribute('value'))
}

const profile = mkdtempSync(join(tmpdir(), 'haro-chromium-'))
let ctx
try {
  await waitHealthy()
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
  })
  const page = ctx.pages()[0] ?? (await ctx.newPage())
  page.setDefaultTimeout(T)
  page.on('pageerror', (e) => errors.push(`[${step}] page error: ${e}`))
  page.on('console', (m) => {
    if (m.type() !== 'error') return
    const url = m.location()?.url ?? ''
    const text = m.text()
    if (keyless && text.includes('401')) return // before the key is entered, 401s are the point
    if (expectFailing && expectFailing.test(url) && text.includes('Failed to load resource')) return
    errors.push(`[${step}] console: ${text} ${url}`)
  })

  // 1. The SPA loads without a key (static files are public); the API asks for one.
  step = 'keyless'
  await page.goto(`${base}/`)
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor()
  await page.getByText('missing or invalid API key').first().waitFor()
  ok('dashboard shell loads without a key; API errors show the server message')

  // 2. Settings: enter the key; the event stream goes live.
  step = 'settings'
  await page.getByRole('link', { name: 'Settings', exact: true }).click()
  await page.getByTestId('api-key').fill(KEY)
  await page.getByRole('button', { name: 'Save' }).click()
  keyless = false
  await page.getByTestId('stream-state').filter({ hasText: 'live' }).waitFor()
  ok('API key saved in localStorage; SSE stream live (fetch-based, X-API-Key)')

  // 3. Strategies: a bad file shows the error and its correlation id; the real one is dropped.
  step = 'strategies'
  await page.getByRole('link', { name: 'Strategies', exact: true }).click()
  expectFailing = /\/strategies$/
  await page.getByTestId('file-input').setInputFiles({ name: 'broken.wasm', mimeType: 'application/wasm', buffer: Buffer.from('not a component') })
  await page.getByRole('button', { name: 'Upload' }).click()
  await page.getByTestId('api-error').waitFor()
  const corr = await page.getByTestId('correlation-id').textContent()
  if (!corr || corr.length < 8) throw new Error(`no correlation id shown: ${corr}`)
  expectFailing = null
  ok(`invalid upload shows "${await page.getByTestId('api-error').locator('strong').textContent()}" and correlation id ${corr}`)
  const wasm = readFileSync(WASM).toString('base64')
  await page.getByTestId('dropzone').evaluate((el, b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
    const dt = new DataTransfer()
    dt.items.add(new File([bytes], 'sma-cross.wasm', { type: 'application/wasm' }))
    el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }))
  }, wasm)
  await page.getByLabel('Name').fill('sma-cross')
  await page.getByRole('button', { name: 'Upload' }).click()
  await page.getByTestId('upload-ok').waitFor()
  // Compilation finishes in the background; the StatusChanged event refreshes the table.
  await page.getByTestId('strategy-row').filter({ hasText: 'ready' }).first().waitFor({ timeout: 120_000 })
  ok('sma-cross.wasm dropped, uploaded, compiled to ready (no reload)')
  await page.screenshot({ path: join(shots, 'strategies.png'), fullPage: true })

  // 4. Backtest: launch, then read the report and its charts.
  step = 'backtest'
  await page.getByRole('link', { name: 'Backtests', exact: true }).click()
  await pickStrategy(page)
  await page.locator('input[name=symbols]').fill('GOOG')
  await page.getByRole('button', { name: 'Run backtest' }).click()
  await page.waitForURL(/\/ui\/backtests\/\d+$/)
  await page.getByTestId('metrics-table').waitFor({ timeout: 120_000 })
  await page.locator('[data-testid=equity-chart] canvas').first().waitFor()
  await page.locator('[data-testid=drawdown-chart] canvas').first().waitFor()
  await page.locator('[data-testid=trade-chart] canvas').first().waitFor()
  const trades = await page.getByTestId('trade-row').count()
  if (trades < 1) throw new Error('the backtest report shows no trades')
  const ret = await page.getByTestId('metrics-table').locator('tr', { hasText: /^Return[-\d]/ }).first().textContent()
  ok(`backtest report: metrics (${ret?.trim()}), equity, drawdown, candles, ${trades} trades`)
  // Sorting by PnL puts the worst trade first.
  await page.getByRole('button', { name: 'PnL' }).click()
  const pnls = await page.getByTestId('trade-row').evaluateAll((rows) => rows.map((r) => Number(r.children[6].textContent.replace(/[$,]/g, ''))))
  if (pnls.some((v, i) => i > 0 && v < pnls[i - 1])) throw new Error(`trades not sorted by PnL: ${pnls}`)
  await page.getByLabel('Outcome').selectOption('loss')
  const losses = await page.getByTestId('trade-row').evaluateAll((rows) => rows.map((r) => Number(r.children[6].textContent.replace(/[$,]/g, ''))))
  if (losses.some((v) => v > 0)) throw new Error(`loss filter shows a win: ${losses}`)
  await page.getByLabel('Outcome').selectOption('all')
  ok('trades table sorts by PnL and filters losses')
  // Hover the candle chart: OHLC (and trade) details appear.
  const box = await page.getByTestId('trade-chart').boundingBox()
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5)
  await page.getByTestId('chart-tip').waitFor()
  ok(`chart hover: ${(await page.getByTestId('chart-tip').textContent())?.slice(0, 60)}`)
  await page.screenshot({ path: join(shots, 'backtest-report.png'), fullPage: true })
  // A client-side route survives a reload (SPA fallback).
  await page.reload()
  await page.getByTestId('metrics-table').waitFor()
  ok('reload on /ui/backtests/:id serves the app (SPA fallback)')

  // A second backtest with other parameters, then the two side by side.
  step = 'compare'
  await page.getByRole('link', { name: 'Backtests', exact: true }).click()
  await pickStrategy(page)
  await page.locator('input[name=symbols]').fill('GOOG')
  await page.getByLabel('Params (JSON object)').fill('{"fast": 5, "slow": 30}')
  await page.getByRole('button', { name: 'Run backtest' }).click()
  await page.waitForURL(/\/ui\/backtests\/\d+$/)
  await page.getByTestId('metrics-table').waitFor({ timeout: 120_000 })
  await page.getByRole('link', { name: 'Backtests', exact: true }).click()
  await page.getByRole('checkbox', { name: 'compare 1' }).check()
  await page.getByRole('checkbox', { name: 'compare 2' }).check()
  await page.getByRole('button', { name: /Compare selected/ }).click()
  await page.locator('[data-testid=compare-chart] canvas').first().waitFor()
  const cols = await page.getByTestId('metrics-table').locator('thead th').count()
  if (cols !== 3) throw new Error(`the comparison has ${cols - 1} columns`)
  await page.screenshot({ path: join(shots, 'backtest-compare.png'), fullPage: true })
  ok('a second backtest compared side by side with the first (metrics, both equity curves)')

  // 5. Paper run on the simulated exchange: orders appear without reloading; stop it.
  step = 'run'
  await page.getByRole('link', { name: 'Runs', exact: true }).click()
  await pickStrategy(page)
  await page.locator('input[name=symbols]').fill('GOOG')
  await page.getByRole('button', { name: 'Start run' }).click()
  await page.waitForURL(/\/ui\/runs\/\d+$/)
  const runUrl = page.url()
  await page.getByTestId('order-row').first().waitFor({ timeout: 60_000 })
  const first = await page.getByTestId('order-row').count()
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=order-row]').length > n, first, { timeout: 60_000 })
  if (page.url() !== runUrl) throw new Error('the page navigated while waiting for orders')
  ok(`paper run: orders appear live (${first} → more) without a reload`)
  await page.screenshot({ path: join(shots, 'paper-run.png'), fullPage: true })
  await page.getByRole('button', { name: 'Stop' }).first().click()
  await page.locator('h1 .chip', { hasText: /stopped/ }).waitFor()
  ok('run stopped from the UI')

  // 6. Dashboard, orders, candles, phone width, dark theme.
  step = 'overview'
  await page.getByRole('link', { name: 'Dashboard', exact: true }).click()
  await page.getByTestId('feed').waitFor()
  await page.locator('[data-testid^=run-card-]').first().waitFor()
  await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true })
  await page.getByRole('link', { name: 'Orders', exact: true }).click()
  await page.getByTestId('order-row').first().waitFor()
  await page.getByRole('link', { name: 'Candles', exact: true }).click()
  await page.locator('input[name=symbol]').fill('GOOG')
  await page.getByRole('button', { name: 'Show' }).click()
  await page.locator('[data-testid=candle-chart] canvas').first().waitFor()
  await page.screenshot({ path: join(shots, 'candles.png') })
  ok('dashboard (run cards, feed), orders and candles render')
  await page.setViewportSize({ width: 390, height: 844 })
  await page.goto(runUrl)
  await page.getByTestId('order-row').first().waitFor()
  await page.evaluate(() => localStorage.setItem('weaver.theme', 'dark'))
  await page.reload()
  await page.getByTestId('order-row').first().waitFor()
  const theme = await page.evaluate(() => document.documentElement.dataset.theme)
  if (theme !== 'dark') throw new Error(`theme is ${theme}`)
  await page.screenshot({ path: join(shots, 'run-phone-dark.png'), fullPage: true })
  ok('phone width, dark theme')

  if (errors.length) throw new Error(`console errors:\n${errors.join('\n')}`)
  ok('no console errors')
  console.log(`e2e: ${checks.length} checks passed; screenshots in ${shots}`)
} catch (e) {
  console.error(`e2e failed at step "${step}": ${e?.stack ?? e}`)
  if (errors.length) console.error(errors.join('\n'))
  try {
    const page = ctx?.pages()[0]
    if (page) await page.screenshot({ path: join(shots, `failure-${step}.png`), fullPage: true })
  } catch {
    // best effort
  }
  process.exitCode = 1
} finally {
  await ctx?.close()
  server.kill('SIGTERM')
  rmSync(profile, { recursive: true, force: true })
  rmSync(data, { recursive: true, force: true })
}
