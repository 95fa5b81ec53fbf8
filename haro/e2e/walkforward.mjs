// End-to-end walk-forward: `weaver serve` on an empty data dir with its sample data (SAMPLE 1Day,
// 1,260 bars) and the example strategies, driven in headless chromium through the Walk-forward
// view: windows larger than the data are refused with the server's reason under the windows; a
// small rolling walk-forward (3 windows of 500 in-sample and 250 out-of-sample bars, 2 points
// each) started from the form runs to done; the stitched curve, its metrics, the windows table
// and parameter stability are shown; a window's report opens from its row; the page and the list
// fit a phone.
//
//   node e2e/walkforward.mjs        (from haro/ or the repository root; scripts/test.sh runs it)
//
// Needs chromium, a built `weaver` ($WEAVER_BIN), haro/dist and strategies/dist (with
// sma-cross.wasm). Screenshots go to haro/test-results/walkforward-*.png.
import { join } from 'node:path'
import { checker, nav, need, needBasics, root, scenario, shots } from './lib.mjs'

const EXAMPLES = join(root, 'strategies/dist')

needBasics()
need(join(EXAMPLES, 'sma-cross.wasm'), 'the example strategies (scripts/build-strategies.sh)')

const { checks, ok } = checker()
const shot = (page, name, fullPage = true) => page.screenshot({ path: join(shots, `walkforward-${name}.png`), fullPage })

await scenario('walkforward', async ({ start, browser }) => {
  const { base } = await start({
    WEAVER_STRATEGIES_DIR: EXAMPLES,
    WEAVER_SAMPLE_DATA: undefined,
    WEAVER_API_KEY: undefined,
  })
  // The refused walk-forward's 422 is logged by chromium as a failed resource; it is expected.
  const b = await browser((text, url) => /\/walkforward$/.test(url) && text.includes('Failed to load resource'))
  const { page, errors } = b
  const at = (name) => (b.state.step = name)

  at('form')
  await page.goto(`${base}/`)
  await nav(page, 'Walk-forward').click()
  await page.getByRole('heading', { name: 'Walk-forward', level: 1 }).waitFor()
  const form = page.getByRole('form', { name: 'New walk-forward' })
  // The example strategies compile at start (minutes on a busy 2-core machine: the Python and
  // JavaScript examples compile beside it): wait until sma-cross is offered.
  const value = await page.waitForFunction(() => {
    const o = [...document.querySelectorAll('[data-testid=strategy-select] option')].find((x) => x.textContent.startsWith('sma-cross '))
    return o && o.value
  }, null, { timeout: 400_000 }).then((h) => h.jsonValue())
  await form.getByTestId('strategy-select').selectOption(value)
  await form.locator('[name=symbols]').fill('SAMPLE')
  await form.locator('[name=timeframe]').selectOption('1Day')
  await form.locator('[name=axis-0-name]').fill('fast')
  await form.locator('[name=axis-0-kind]').selectOption('list')
  await form.locator('[name=axis-0-values]').fill('5, 10')
  await form.getByTestId('add-axis').click()
  await form.locator('[name=axis-1-name]').fill('slow')
  await form.locator('[name=axis-1-kind]').selectOption('list')
  await form.locator('[name=axis-1-values]').fill('30')
  await form.locator('[name=metric]').selectOption('return_pct')
  await form.locator('[name=kind]').selectOption('rolling')
  await form.getByTestId('unit-bars').click()
  await form.locator('[name=in_sample]').fill('5000')
  await form.locator('[name=out_of_sample]').fill('250')

  at('refusal')
  await form.getByRole('button', { name: 'Start walk-forward' }).click()
  const refusal = form.getByTestId('error-windows')
  await refusal.waitFor()
  const said = (await refusal.textContent())?.trim() ?? ''
  if (!/1260 bars/.test(said)) throw new Error(`the refusal does not say how many bars there are: ${said}`)
  ok(`windows larger than the data are refused under the windows: ${said.slice(0, 100)}`)

  at('run')
  await form.locator('[name=in_sample]').fill('500')
  await form.getByRole('button', { name: 'Start walk-forward' }).click()
  await page.waitForURL(/\/ui\/walkforward\/\d+$/)
  const wfUrl = page.url()
  const progress = page.getByTestId('wf-progress').first()
  await progress.filter({ hasText: '3/3 windows' }).waitFor({ timeout: 120_000 })
  // The walk-forward's own chip, the page's first: its windows' chips may say done earlier.
  await page.waitForFunction(() => document.querySelector('.chip')?.textContent === 'done', null, { timeout: 60_000 })
  if (await page.getByTestId('wf-cancel').count()) throw new Error('a finished walk-forward still offers Cancel')
  ok(`rolling walk-forward of 3 windows × 2 points ran to done from the form (${(await progress.textContent())?.trim()})`)

  at('result')
  await page.getByTestId('wf-equity-line').waitFor()
  const d = (await page.getByTestId('wf-equity-line').getAttribute('d')) ?? ''
  const segments = d.split('L').length
  if (segments < 100) throw new Error(`the stitched curve has ${segments} points`)
  const rows = page.getByTestId('wf-window')
  if ((await rows.count()) !== 3) throw new Error(`windows table rows: ${await rows.count()}`)
  const first = (await rows.first().locator('td').allTextContents()).map((t) => t.trim())
  if (!/fast=(5|10) slow=30/.test(first[3])) throw new Error(`window 0's best params: ${first[3]}`)
  await page.getByTestId('wf-stability').waitFor()
  const ret = (await page.getByTestId('wf-return_pct').textContent())?.trim()
  const eff = (await page.getByTestId('wf-efficiency').textContent())?.trim()
  await shot(page, 'done')
  ok(`stitched out-of-sample curve (${segments} points), return ${ret}, efficiency ${eff}; windows table: ${first.join(' | ')}`)

  at('window-report')
  await rows.nth(1).click()
  const report = page.getByTestId('window-report')
  await report.getByTestId('report-return_pct').waitFor({ timeout: 60_000 })
  ok(`window 1's report opened from its row: return ${(await report.getByTestId('report-return_pct').textContent())?.trim()}`)

  at('phone')
  await page.setViewportSize({ width: 390, height: 844 })
  for (const path of [new URL(wfUrl).pathname, '/ui/walkforward']) {
    await page.goto(`${base}${path}`)
    await page.getByRole('heading', { level: 1 }).waitFor()
    await page.getByTestId(path === '/ui/walkforward' ? 'wf-table' : 'wf-windows').waitFor()
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    if (overflow > 1) throw new Error(`${path} is ${overflow}px wider than the phone`)
  }
  await shot(page, 'phone')
  ok('phone width: the walk-forward page and the list fit (no horizontal scroll)')

  if (errors.length) throw new Error(`console errors:\n${errors.join('\n')}`)
  ok('no console errors')
  console.log(`walkforward e2e: ${checks.length} checks passed; screenshots in ${shots}`)
})
