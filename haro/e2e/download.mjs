// End-to-end download (issue #21): `weaver serve` pointed at `weaver fake-alpaca` (which seeds
// three days of 1-minute bars per asset, ending now), driven in headless chromium: the Candles
// view's "Download from Alpaca" form is filled (AAPL, MSFT, 1Hour, the last four days,
// adjustment split) and submitted; the job's progress shows (status, bars, pages, symbols) and
// reaches done; then both series are in the stored-series list with the bar count and the
// adjustment `GET /candles/series` reports, and picking one shows its candles; then a portfolio
// backtest over both (issue #24) is started from the Backtests form and its page shows the
// "By symbol" table with both symbols and the total.
//
//   node e2e/download.mjs        (from haro/ or the repository root; scripts/test.sh runs it)
//
// Needs chromium, a built `weaver` with the fake-alpaca feature ($WEAVER_BIN), haro/dist and
// strategies/dist/donchian-breakout.wasm (scripts/build-strategies.sh), the only strategy it
// registers.
// Screenshots: haro/test-results/download-done.png, portfolio-backtest.png. A debug `weaver` serves the haro/dist of the
// checkout it was built in (rust-embed reads it from disk), so build the binary in this checkout.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checker, nav, need, needBasics, root, scenario, shots } from './lib.mjs'

const WASM = join(root, 'strategies/dist/donchian-breakout.wasm')
needBasics()
need(WASM, 'the donchian-breakout component (scripts/build-strategies.sh)')
// Registered at start, alone, so only it compiles while the download runs.
const strategies = mkdtempSync(join(tmpdir(), 'haro-e2e-download-'))
copyFileSync(WASM, join(strategies, 'donchian-breakout.wasm'))

const { checks, ok } = checker()
const SYMBOLS = ['AAPL', 'MSFT']
const TIMEFRAME = '1Hour'
const ADJUSTMENT = 'split'
const day = (msAgo) => new Date(Date.now() - msAgo).toISOString().slice(0, 10)
const START = day(4 * 86_400_000)
const END = day(0)

await scenario('download', async ({ start, browser, fakeAlpaca }) => {
  const t0 = Date.now()
  const fake = await fakeAlpaca()
  const { base } = await start({ WEAVER_SAMPLE_DATA: 'off', WEAVER_API_KEY: undefined, WEAVER_STRATEGIES_DIR: strategies, ...fake.env })
  const b = await browser()
  const { page, errors } = b
  const at = (name) => (b.state.step = name)
  const api = (path) => page.evaluate(async (path) => {
    const res = await fetch(path)
    return { status: res.status, body: await res.json().catch(() => null) }
  }, path)

  // 1. The Candles view starts with no series; the download form is behind its disclosure.
  at('open-form')
  await page.goto(`${base}/`)
  await nav(page, 'Candles').click()
  await page.getByRole('heading', { name: 'Candles', level: 1 }).waitFor()
  await page.getByText('No candles stored yet').waitFor()
  await page.getByTestId('download-option').locator('summary', { hasText: 'Download from Alpaca' }).click()
  const form = page.getByRole('form', { name: 'Download from Alpaca' })
  await form.waitFor()
  ok('Candles view: no series yet; the "Download from Alpaca" form opens')

  // 2. Fill and submit.
  at('submit')
  await form.getByLabel('Symbols').fill(SYMBOLS.join(', '))
  await form.getByLabel('Timeframe').selectOption(TIMEFRAME)
  await form.getByLabel('First day').fill(START)
  await form.getByLabel('Last day').fill(END)
  await form.getByLabel('Adjustment').selectOption(ADJUSTMENT)
  await form.getByRole('button', { name: 'Download' }).click()

  // 3. Progress: the status line appears (queued, running or already done) with its counts,
  // then reaches done with every symbol.
  at('progress')
  const progress = form.getByTestId('download-progress')
  await progress.waitFor({ timeout: 10_000 }).catch(() => {
    throw new Error('no download progress shown after submitting the form')
  })
  const first = (await progress.textContent()).trim()
  const counts = /^(queued|running|done) · [\d,]+ bars · \d+ pages · \d+\/2 symbols/
  if (!counts.test(first)) throw new Error(`progress shown: ${JSON.stringify(first)}`)
  ok(`progress shown after submit: "${first}"`)
  await progress.locator('strong', { hasText: /^(done|failed)$/ }).waitFor({ timeout: 20_000 })
  const last = (await progress.textContent()).trim()
  const m = /^done · ([\d,]+) bars · (\d+) pages · 2\/2 symbols$/.exec(last)
  if (!m) throw new Error(`the download did not end done with 2/2 symbols: ${JSON.stringify(last)}`)
  const bars = Number(m[1].replace(/,/g, ''))
  if (!(bars > 0) || Number(m[2]) < 1) throw new Error(`done without bars or pages: ${last}`)
  if (await form.getByRole('button', { name: 'Download' }).isDisabled()) throw new Error('Download stays disabled after the job ended')
  ok(`job done: "${last}"`)

  // 4. The series list refreshes by itself: both series, with the server's counts and the
  // adjustment asked for; their bar counts add up to the job's.
  at('series')
  const { status, body: listed } = await api('/candles/series')
  if (status !== 200 || !Array.isArray(listed)) throw new Error(`GET /candles/series: ${status} ${JSON.stringify(listed)}`)
  const rows = page.getByTestId('series-row')
  let total = 0
  for (const symbol of SYMBOLS) {
    const s = listed.find((x) => x.symbol === symbol && x.timeframe === TIMEFRAME)
    if (!s) throw new Error(`GET /candles/series has no ${symbol} ${TIMEFRAME}: ${JSON.stringify(listed)}`)
    if (s.adjustment !== ADJUSTMENT) throw new Error(`${symbol}: the server stored adjustment ${s.adjustment}, not ${ADJUSTMENT}`)
    total += s.count
    const row = rows.filter({ has: page.getByRole('link', { name: `Show ${symbol} ${TIMEFRAME}`, exact: true }) })
    await row.waitFor({ timeout: 10_000 }).catch(() => {
      throw new Error(`${symbol} ${TIMEFRAME} never appeared in the series list (it has: ${JSON.stringify(listed.map((x) => `${x.symbol} ${x.timeframe}`))})`)
    })
    const cells = (await row.locator('td').allTextContents()).map((t) => t.trim())
    if (cells[4] !== s.count.toLocaleString('en-US')) throw new Error(`${symbol}: the list shows ${cells[4]} bars, the server ${s.count}`)
    if ((await row.getByTestId('series-adjustment').textContent()).trim() !== ADJUSTMENT) throw new Error(`${symbol}: adjustment shown ${cells[6]}`)
    ok(`series list: ${cells.join(' · ')} (GET /candles/series: ${s.count} bars, ${s.adjustment})`)
  }
  if (total !== bars) throw new Error(`the job stored ${bars} bars but the two series hold ${total}`)
  ok(`the job's ${bars} bars are the two series' ${total}`)

  // 5. Picking one shows its candles.
  at('candles')
  await page.getByRole('link', { name: `Show AAPL ${TIMEFRAME}`, exact: true }).click()
  await page.locator('[data-testid=candle-chart] canvas').first().waitFor()
  const win = (await page.getByTestId('candles-window').textContent()).trim()
  const aapl = listed.find((x) => x.symbol === 'AAPL').count
  if (!win.includes(`of ${aapl.toLocaleString('en-US')}`)) throw new Error(`candles window: ${win} (expected of ${aapl})`)
  await page.screenshot({ path: join(shots, 'download-done.png'), fullPage: true })
  ok(`AAPL ${TIMEFRAME} chart shown: ${win}`)

  // 6. A portfolio backtest over both symbols from the Backtests form (one cash account; the
  // bundled donchian-breakout puts 40 % of equity in each signal): its page has the By symbol
  // table, one row per symbol and the total, which the report's rows add up to.
  at('portfolio')
  await nav(page, 'Backtests').click()
  const launch = page.getByRole('form', { name: 'Launch a backtest' })
  const option = launch.getByTestId('strategy-select').locator('option', { hasText: 'donchian-breakout' }).first()
  await option.waitFor({ state: 'attached', timeout: 60_000 })
  await launch.getByTestId('strategy-select').selectOption(await option.getAttribute('value'))
  await launch.locator('input[name=symbols]').fill(SYMBOLS.join(', '))
  await launch.getByLabel('Timeframe').selectOption(TIMEFRAME)
  await launch.getByLabel('Params (JSON object)').fill('{"entry": 5, "exit": 3, "fraction": 0.4}')
  await launch.getByRole('button', { name: 'Run backtest' }).click()
  await page.waitForURL(/\/ui\/backtests\/\d+$/)
  const bySymbol = page.getByTestId('by-symbol-table')
  await bySymbol.waitFor({ timeout: 60_000 })
  const shown = (await bySymbol.getByTestId('by-symbol-row').locator('td:first-child').allTextContents()).map((t) => t.trim())
  if (shown.join() !== SYMBOLS.join()) throw new Error(`By symbol rows: ${JSON.stringify(shown)}, expected ${SYMBOLS}`)
  const totalRow = (await bySymbol.getByTestId('by-symbol-total').locator('th, td').allTextContents()).map((t) => t.trim())
  if (totalRow[0] !== 'Total') throw new Error(`By symbol total row: ${JSON.stringify(totalRow)}`)
  const { body: done } = await api(`/backtests/${page.url().split('/').pop()}`)
  const by = done?.report?.by_symbol
  const sum = (by?.symbols ?? []).reduce((a, r) => a + r.net_pnl, 0)
  if (!by || Math.abs(sum - by.total.net_pnl) > 0.005 || by.total.trades !== done.report.metrics.trades)
    throw new Error(`by_symbol does not add up to the total: ${JSON.stringify(by)}`)
  await page.screenshot({ path: join(shots, 'portfolio-backtest.png'), fullPage: true })
  ok(`portfolio backtest over ${SYMBOLS.join(' + ')} ${TIMEFRAME}: By symbol ${shown.join(', ')}; total ${totalRow.slice(1, 4).join(' · ')}`)

  if (errors.length) throw new Error(`console errors:\n${errors.join('\n')}`)
  ok('no console errors')
  console.log(`download e2e: ${checks.length} checks passed in ${((Date.now() - t0) / 1000).toFixed(1)} s; screenshot in ${shots}`)
})
rmSync(strategies, { recursive: true, force: true })
