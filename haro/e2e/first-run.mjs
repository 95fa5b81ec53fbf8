// End-to-end first run: `weaver serve` on an EMPTY data dir with its defaults (sample data loaded
// on first start, no API key) and the example strategies from strategies/dist, driven in headless
// chromium from the first screen through the dashboard's first-run card to a finished backtest
// report and a running simulated run, then the Candles view (sample badge, a synthetic series)
// and the card at phone width. No CLI step.
//
//   node e2e/first-run.mjs        (from haro/ or the repository root; scripts/test.sh runs it)
//
// Needs chromium, a built `weaver` ($WEAVER_BIN), haro/dist and strategies/dist (with
// sma-cross.wasm: scripts/build-strategies.sh). Screenshots go to haro/test-results/first-run-*.png.
import { join } from 'node:path'
import { checker, nav, need, needBasics, root, scenario, shots } from './lib.mjs'

const EXAMPLES = join(root, 'strategies/dist')

needBasics()
need(join(EXAMPLES, 'sma-cross.wasm'), 'the example strategies (scripts/build-strategies.sh)')

const { checks, ok } = checker()
const shot = (page, name, fullPage = true) => page.screenshot({ path: join(shots, `first-run-${name}.png`), fullPage })

await scenario('first-run', async ({ start, browser }) => {
  const { base } = await start({
    WEAVER_STRATEGIES_DIR: EXAMPLES,
    WEAVER_RUN_BAR_INTERVAL_MS: '50',
    // The defaults, whatever the caller's environment says: sample data on, no key.
    WEAVER_SAMPLE_DATA: undefined,
    WEAVER_API_KEY: undefined,
  })
  const b = await browser()
  const { page, errors } = b
  const at = (name) => (b.state.step = name)
  const card = page.getByTestId('first-run')

  // 1. The first screen: the dashboard with the card; the sample data is already there.
  at('first-screen')
  await page.goto(`${base}/`)
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor()
  await card.getByRole('heading', { name: 'Get started' }).waitFor()
  const samples = (await card.getByTestId('sample-series').locator('li').allTextContents()).map((t) => t.trim())
  if (samples.length !== 2 || !/^SAMPLE 1Day · /.test(samples[0]) || !/^SAMPLE 1Hour · 2,000 bars/.test(samples[1]))
    throw new Error(`sample series listed: ${JSON.stringify(samples)}`)
  await card.getByTestId('sample-badge').first().waitFor()
  if (await card.getByRole('button', { name: 'Dismiss' }).count()) throw new Error('the card offers Dismiss before any backtest or run')
  await shot(page, 'card')
  ok(`first screen: the first-run card says the sample data is loaded (${samples.join('; ')})`)

  // Loading the sample set again is harmless (idempotent).
  at('sample-again')
  await card.getByRole('button', { name: 'Load sample data again' }).click()
  await card.getByTestId('sample-ok').filter({ hasText: 'Loaded 2 sample series.' }).waitFor()
  if ((await card.getByTestId('sample-series').locator('li').count()) !== 2) throw new Error('sample series duplicated')
  ok('"Load sample data again": still the same two sample series')

  // 2. The first backtest: sma-cross and SAMPLE 1Day preselected; launched from the keyboard.
  at('backtest')
  const strategy = card.getByTestId('first-strategy')
  await page.waitForFunction(() => {
    const s = document.querySelector('[data-testid=first-strategy]')
    return s && !s.disabled && s.selectedOptions[0]?.textContent.startsWith('sma-cross')
  }, null, { timeout: 120_000 })
  const series = await card.getByTestId('first-series').inputValue()
  if (series !== 'SAMPLE 1Day') throw new Error(`series preselected: ${series}`)
  ok(`preselected: ${await strategy.locator('option:checked').textContent()} on ${series}`)
  await card.getByRole('button', { name: 'Run backtest' }).focus()
  await page.keyboard.press('Enter')
  await page.waitForURL(/\/ui\/backtests\/\d+$/)
  const backtestUrl = page.url()
  const metrics = page.getByTestId('metrics-table')
  await metrics.waitFor({ timeout: 120_000 })
  await page.locator('h1 .chip', { hasText: 'done' }).waitFor()
  const row = async (re) => (await metrics.locator('tr', { hasText: re }).first().locator('td').allTextContents()).join(' ')
  const ret = await row(/^Return[-+\d]/)
  if (!/\d/.test(ret)) throw new Error(`no return metric shown: ${ret}`)
  const tradeCount = await row(/^Trades\d/)
  await page.locator('[data-testid=equity-chart] canvas').first().waitFor()
  await page.locator('[data-testid=trade-chart] canvas').first().waitFor()
  await page.getByTestId('trade-chart').getByTestId('chart-sample').waitFor()
  await shot(page, 'backtest')
  ok(`backtest report for sma-cross on SAMPLE 1Day: ${ret}${tradeCount ? `, ${tradeCount}` : ''}; the price chart is marked as sample data`)

  // 3. Back on the dashboard the card ticks the backtest off; start the simulated run from it.
  at('run')
  await nav(page, 'Dashboard').click()
  await card.locator(`a[href="${new URL(backtestUrl).pathname}"]`).waitFor()
  await card.getByRole('button', { name: 'Start a simulated run' }).click()
  await page.waitForURL(/\/ui\/runs\/\d+$/)
  const runUrl = page.url()
  // Running (the sim replays a bar every 50 ms), or already with orders; a failure ends the wait.
  const { status, orders } = await page.waitForFunction(() => {
    const status = document.querySelector('h1 .chip')?.textContent ?? ''
    const orders = document.querySelectorAll('[data-testid=order-row]').length
    return (status === 'running' || status === 'failed' || orders > 0) && { status, orders }
  }, null, { timeout: 60_000 }).then((h) => h.jsonValue())
  if (status === 'failed') throw new Error(`the run failed: ${await page.getByTestId('run-error').textContent().catch(() => '?')}`)
  const detail = (await page.locator('h1 + p.small').textContent())?.trim() ?? ''
  if (!/paper · sim · SAMPLE · 1Day/.test(detail)) throw new Error(`the run is not paper/sim on SAMPLE 1Day: ${detail}`)
  await shot(page, 'paper-run')
  ok(`simulated run started from the card (${detail}): status ${status}, ${orders} order rows so far`)

  // 4. Candles: the series list badges sample data; picking it shows marked candles; a
  // synthetic series joins the list without a badge.
  at('candles')
  await nav(page, 'Candles').click()
  const rows = page.getByTestId('series-row')
  await rows.first().waitFor()
  if ((await rows.count()) !== 2 || (await page.getByTestId('series-table').getByTestId('sample-badge').count()) !== 2)
    throw new Error(`series list: ${await page.getByTestId('series-table').textContent()}`)
  await page.getByRole('link', { name: 'Show SAMPLE 1Day' }).click()
  await page.locator('[data-testid=candle-chart] canvas').first().waitFor()
  await page.getByTestId('candle-chart').getByTestId('chart-sample').waitFor()
  await page.getByTestId('sample-note').waitFor()
  await shot(page, 'candles', false)
  ok('Candles view: both sample series badged; SAMPLE 1Day chart marked as sample data')
  await page.locator('summary', { hasText: 'Generate a synthetic series' }).click()
  const synth = page.getByRole('form', { name: 'Generate a synthetic series' })
  await synth.getByLabel('Bars').fill('0')
  await synth.getByRole('button', { name: 'Generate' }).click()
  await synth.getByText('A whole number from 1 to 1,000,000.').waitFor()
  await synth.getByLabel('Bars').fill('500')
  await synth.getByLabel('Seed (optional)').fill('7')
  await synth.getByRole('button', { name: 'Generate' }).click()
  await synth.getByTestId('synth-ok').waitFor()
  const synthRow = rows.filter({ hasText: 'SYNTH' })
  await synthRow.waitFor()
  if (await synthRow.getByTestId('sample-badge').count()) throw new Error('the synthetic series is badged as sample data')
  if ((await synthRow.getByTestId('source-badge').textContent()) !== 'synth') throw new Error(`synthetic series source: ${await synthRow.textContent()}`)
  await page.locator('[data-testid=candle-chart] canvas').first().waitFor()
  ok(`synthetic series generated from the form (bars checked first): ${(await synthRow.locator('td').allTextContents()).join(' · ')}`)

  // 5. Phone width: the card fits; once there is a backtest and a run it can be dismissed.
  at('phone')
  await page.setViewportSize({ width: 390, height: 844 })
  await page.goto(`${base}/`)
  await card.waitFor()
  await card.locator(`a[href="${new URL(runUrl).pathname}"]`).waitFor()
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  if (overflow > 1) throw new Error(`the dashboard is ${overflow}px wider than the phone`)
  await shot(page, 'phone')
  await card.getByRole('button', { name: 'Dismiss' }).click()
  await card.waitFor({ state: 'detached' })
  await page.reload()
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor()
  await page.locator('[data-testid^=run-card-]').first().waitFor()
  if (await card.count()) throw new Error('the dismissed card came back after a reload')
  ok('phone width: card fits (no horizontal scroll); dismissed, it stays gone after a reload')

  if (errors.length) throw new Error(`console errors:\n${errors.join('\n')}`)
  ok('no console errors')
  console.log(`first-run e2e: ${checks.length} checks passed; screenshots in ${shots}`)
})
