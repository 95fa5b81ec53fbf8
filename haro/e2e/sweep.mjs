// End-to-end sweep: `weaver serve` on an empty data dir with its sample data and the example
// strategies, driven in headless chromium through the Sweeps view: a refused sweep (too many points)
// shows the server's reason; a small grid sweep over `fast` and
// `slow` started from the form runs to done with its progress, heatmap and results; a header
// click sorts the results on the server; the page fits a phone; a point opens as a backtest.
//
//   node e2e/sweep.mjs        (from haro/ or the repository root; scripts/test.sh runs it)
//
// Needs chromium, a built `weaver` ($WEAVER_BIN), haro/dist and strategies/dist (with
// sma-cross.wasm). Screenshots go to haro/test-results/sweep-*.png.
import { join } from 'node:path'
import { checker, nav, need, needBasics, root, scenario, shots } from './lib.mjs'

const EXAMPLES = join(root, 'strategies/dist')

needBasics()
need(join(EXAMPLES, 'sma-cross.wasm'), 'the example strategies (scripts/build-strategies.sh)')

const { checks, ok } = checker()
const shot = (page, name, fullPage = true) => page.screenshot({ path: join(shots, `sweep-${name}.png`), fullPage })

await scenario('sweep', async ({ start, browser }) => {
  const { base } = await start({
    WEAVER_STRATEGIES_DIR: EXAMPLES,
    WEAVER_SAMPLE_DATA: undefined,
    WEAVER_API_KEY: undefined,
  })
  // The refused sweep's 422 is logged by chromium as a failed resource; it is expected.
  const b = await browser((text, url) => /\/sweeps$/.test(url) && text.includes('Failed to load resource'))
  const { page, errors } = b
  const at = (name) => (b.state.step = name)

  at('form')
  await page.goto(`${base}/`)
  await nav(page, 'Sweeps').click()
  await page.getByRole('heading', { name: 'Sweeps' }).waitFor()
  const form = page.getByRole('form', { name: 'New sweep' })
  // The example strategies compile at start: wait until sma-cross is offered.
  const value = await page.waitForFunction(() => {
    const o = [...document.querySelectorAll('[data-testid=strategy-select] option')].find((x) => x.textContent.startsWith('sma-cross '))
    return o && o.value
  }, null, { timeout: 120_000 }).then((h) => h.jsonValue())
  await form.getByTestId('strategy-select').selectOption(value)
  await form.locator('[name=symbols]').fill('SAMPLE')
  await form.locator('[name=timeframe]').selectOption('1Day')
  await form.locator('[name=axis-0-name]').fill('fast')
  await form.locator('[name=axis-0-min]').fill('1')
  await form.locator('[name=axis-0-max]').fill('1000000')
  await form.locator('[name=axis-0-step]').fill('1')

  at('refusal')
  await form.getByRole('button', { name: 'Start sweep' }).click()
  await form.getByTestId('refusal-note').filter({ hasText: '1,000,000 points; this server allows at most' }).waitFor()
  ok(`a sweep of a million points is refused: ${(await form.getByTestId('api-error').locator('strong').textContent())?.trim()}`)

  at('grid')
  await form.locator('[name=axis-0-min]').fill('5')
  await form.locator('[name=axis-0-max]').fill('15')
  await form.locator('[name=axis-0-step]').fill('5')
  await form.getByTestId('add-axis').click()
  await form.locator('[name=axis-1-name]').fill('slow')
  await form.locator('[name=axis-1-kind]').selectOption('list')
  await form.locator('[name=axis-1-values]').fill('30, 40')
  await form.locator('[name=metric]').selectOption('return_pct')
  await form.getByRole('button', { name: 'Start sweep' }).click()
  await page.waitForURL(/\/ui\/sweeps\/\d+$/)
  const sweepUrl = page.url()
  const progress = page.getByTestId('sweep-progress').first()
  await progress.filter({ hasText: '6/6' }).waitFor({ timeout: 120_000 })
  // The sweep's own chip, the page's first: the points' chips in the results say done earlier.
  await page.waitForFunction(() => document.querySelector('.chip')?.textContent === 'done', null, { timeout: 60_000 })
  if (await page.getByTestId('sweep-cancel').count()) throw new Error('a finished sweep still offers Cancel')
  const best = (await page.getByTestId('sweep-best-point').textContent())?.trim() ?? ''
  ok(`grid sweep of 6 points ran to done from the form (${(await progress.textContent())?.trim()}); best: ${best.slice(0, 80)}`)

  at('heatmap')
  const cells = page.locator('[data-testid=heatmap] g[data-testid^=cell-]')
  await page.getByTestId('heatmap').waitFor()
  if ((await cells.count()) !== 6) throw new Error(`heatmap cells: ${await cells.count()}`)
  if (await page.locator('[data-testid=heatmap] g[data-state=pending]').count()) throw new Error('a heatmap cell has no point')
  await shot(page, 'done')
  ok('heatmap: 3 × 2 cells (fast across, slow down), each with its point')

  at('sort')
  const table = page.getByTestId('sweep-results')
  const tradesAt = (await table.locator('thead th').allTextContents()).findIndex((t) => t.startsWith('trades'))
  const trades = async () => (await table.locator(`tbody tr td:nth-child(${tradesAt + 1})`).allTextContents()).map(Number)
  const sorted = page.waitForResponse((r) => /\/sweeps\/\d+\?.*sort=trades/.test(r.url()) && /order=desc/.test(r.url()))
  await table.locator('thead th button', { hasText: 'trades' }).click()
  await sorted
  await table.locator('th[aria-sort=descending]', { hasText: 'trades' }).waitFor()
  await page.waitForFunction((i) => {
    const v = [...document.querySelectorAll(`[data-testid=sweep-results] tbody tr td:nth-child(${i + 1})`)].map((td) => Number(td.textContent))
    return v.length === 6 && v.every((x, k) => k === 0 || v[k - 1] >= x)
  }, tradesAt)
  ok(`results sorted by trades on the server, most first: ${(await trades()).join(', ')}`)

  at('phone')
  await page.setViewportSize({ width: 390, height: 844 })
  for (const path of [new URL(sweepUrl).pathname, '/ui/sweeps']) {
    await page.goto(`${base}${path}`)
    await page.getByRole('heading', { level: 1 }).waitFor()
    await page.getByTestId(path === '/ui/sweeps' ? 'sweeps-table' : 'sweep-results').waitFor()
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    if (overflow > 1) throw new Error(`${path} is ${overflow}px wider than the phone`)
  }
  await shot(page, 'phone')
  await page.setViewportSize({ width: 1280, height: 860 })
  ok('phone width: the sweep page and the list fit (no horizontal scroll)')

  at('open-as-backtest')
  await page.goto(sweepUrl)
  const first = page.getByTestId('sweep-results').locator('tbody tr').first()
  await first.getByRole('button', { name: 'Open as backtest' }).click()
  await page.waitForURL(/\/ui\/backtests\/\d+$/)
  await page.getByTestId('metrics-table').waitFor({ timeout: 120_000 })
  ok(`a point opened as a backtest: ${new URL(page.url()).pathname}`)

  if (errors.length) throw new Error(`console errors:\n${errors.join('\n')}`)
  ok('no console errors')
  console.log(`sweep e2e: ${checks.length} checks passed; screenshots in ${shots}`)
})
