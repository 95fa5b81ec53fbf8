// End-to-end shadow run, promotion and rollback (issue #25): `weaver serve` on a temp dir with the
// sample data (no key, only sma-cross registered), a paper run on the sim paced at 200 ms a bar,
// then from the run's page: a shadow of the same version with other parameters started from the
// Shadows panel, its diff opened (both equity curves, the first divergence, the bars that differ),
// the page at phone width without horizontal overflow; the shadow promoted (the Versions panel
// shows it running, the run's params are the shadow's), rolled back (the original version and
// params running again), the switches said in the live feed; and the shadow stopped.
//
//   node e2e/shadow.mjs        (from haro/ or the repository root; scripts/test.sh runs it)
//
// Needs chromium, a built `weaver` ($WEAVER_BIN), haro/dist and strategies/dist/sma-cross.wasm.
// Screenshots go to haro/test-results/shadow-*.png.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checker, need, needBasics, root, scenario, shots, until } from './lib.mjs'

const WASM = join(root, 'strategies/dist/sma-cross.wasm')

needBasics()
need(WASM, 'the sma-cross component (scripts/build-strategies.sh)')

const { checks, ok } = checker()
const dir = mkdtempSync(join(tmpdir(), 'haro-e2e-shadow-'))
copyFileSync(WASM, join(dir, 'sma-cross.wasm'))

await scenario('shadow', async ({ start, browser }) => {
  const { base } = await start({
    WEAVER_STRATEGIES_DIR: dir,
    // Paced, so the run is still running while the shadow is started and compared.
    WEAVER_RUN_BAR_INTERVAL_MS: '200',
    WEAVER_SAMPLE_DATA: undefined,
    WEAVER_API_KEY: undefined,
  })
  const b = await browser()
  const { page, errors } = b
  const at = (name) => (b.state.step = name)
  const api = (path, method = 'GET', body = undefined) => page.evaluate(async ([path, method, body]) => {
    const res = await fetch(path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
    return { status: res.status, body: await res.json().catch(() => null) }
  }, [path, method, body])

  // 1. A paper run on the sim over the sample's daily bars (through the API: the run form has
  // its own end-to-end test).
  at('run')
  await page.goto(`${base}/`)
  // Polled from here: an async predicate given to waitForFunction returns at once (its Promise
  // is truthy), and under load the run was posted while sma-cross still compiled (409).
  await until('sma-cross ready', async () => (await api('/strategies?name=sma-cross')).body?.some((x) => x.status === 'ready'), 120_000)
  const created = await api('/runs', 'POST', {
    strategy: 'sma-cross', mode: 'paper', venue: 'sim', symbols: ['SAMPLE'], timeframe: '1Day', params: { fast: 10, slow: 20 },
  })
  if (created.status !== 201) throw new Error(`POST /runs: ${created.status} ${JSON.stringify(created.body)}`)
  const id = created.body.id
  await page.goto(`${base}/ui/runs/${id}`)
  await page.locator('h1 .chip', { hasText: 'running' }).waitFor()
  ok(`paper run #${id} on SAMPLE 1Day (fast 10, slow 20), paced at 200 ms a bar`)

  // 2. A shadow of the same version with other parameters, from the Shadows panel.
  at('start-shadow')
  const panel = page.getByTestId('shadows')
  const form = panel.getByRole('form', { name: 'Start shadow' })
  await form.getByTestId('shadow-version').locator('option', { hasText: 'the run’s' }).waitFor({ state: 'attached' })
  await form.getByTestId('shadow-params').fill('{"fast": 3, "slow": 7}')
  await form.getByRole('button', { name: 'Start shadow' }).click()
  await form.getByText(/Shadow #\d+ started\./).waitFor()
  const row = panel.locator('tr[data-testid^=shadow-]').filter({ hasText: '{"fast":3,"slow":7}' }).first()
  await row.waitFor()
  const sid = Number((await row.getAttribute('data-testid')).replace('shadow-', ''))
  await row.locator('.chip', { hasText: 'running' }).waitFor()
  ok(`shadow #${sid} started from the panel with {"fast": 3, "slow": 7}; listed running with sma-cross's version`)

  // 3. Its diff: the first divergence (the panel polls a running shadow's diff), both curves.
  at('diff')
  await panel.getByTestId(`shadow-diff-${sid}`).click()
  const diff = page.getByTestId('shadow-diff')
  await diff.getByTestId('shadow-first-divergence').filter({ hasNotText: 'No divergence' }).waitFor({ timeout: 90_000 })
  const first = (await diff.getByTestId('shadow-first-divergence').textContent())?.trim()
  await diff.locator('[data-testid=shadow-equity-chart] canvas').first().waitFor()
  await diff.locator('tr.first-divergence').waitFor()
  const rows = await diff.getByTestId('shadow-divergent-row').count()
  if (rows < 1) throw new Error('no divergent rows listed')
  const server = (await api(`/runs/${id}/shadows/${sid}/diff`)).body
  if (!server.first_divergence || server.divergences < 1) throw new Error(`GET …/diff: ${JSON.stringify({ first: server.first_divergence, n: server.divergences })}`)
  const listed = (await panel.getByTestId(`shadow-divergences-${sid}`).textContent())?.trim()
  await page.screenshot({ path: join(shots, 'shadow-diff.png'), fullPage: true })
  ok(`diff: first divergence at ${first}, ${rows} divergent rows shown, both equity curves drawn; the list says ${listed} (server: ${server.divergences})`)

  // 4. Phone width: nothing on the run page is wider than the phone, the diff open.
  at('phone')
  await page.setViewportSize({ width: 390, height: 844 })
  await diff.getByTestId('shadow-divergent-row').first().waitFor()
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  if (overflow > 1) throw new Error(`the run page with a shadow diff is ${overflow}px wider than the phone`)
  await page.screenshot({ path: join(shots, 'shadow-phone.png'), fullPage: true })
  await page.setViewportSize({ width: 1280, height: 860 })
  ok('phone width (390 px): no horizontal overflow with the diff open')

  // 5. Promote the shadow from its row: at the run's next bar its version and params become the
  // run's; the Versions panel marks it as running now.
  at('promote')
  const versions = page.getByTestId('versions')
  await versions.getByTestId('version-1').locator('.chip', { hasText: 'active' }).waitFor()
  await panel.getByTestId(`shadow-promote-${sid}`).click()
  const pd = page.getByTestId('promote-shadow-dialog')
  await pd.getByRole('button', { name: 'Promote' }).click()
  await pd.getByTestId('switch-requested').waitFor()
  await pd.getByRole('button', { name: 'Done' }).click()
  const promoted = versions.locator('tr[aria-current]', { hasText: '{"fast":3,"slow":7}' })
  await promoted.waitFor({ timeout: 60_000 })
  const pseq = Number((await promoted.getAttribute('data-testid')).replace('version-', ''))
  if (!(await promoted.textContent()).includes(`promote (shadow #${sid})`)) throw new Error(`promoted row: ${await promoted.textContent()}`)
  await versions.getByTestId('version-1').locator('.chip', { hasText: 'superseded' }).waitFor()
  let history = (await api(`/runs/${id}/versions`)).body.items
  let now = history.find((v) => v.status === 'active')
  let runNow = (await api(`/runs/${id}`)).body
  if (now?.seq !== pseq || now.shadow_id !== sid || now.reason !== 'promote' || JSON.stringify(runNow.params) !== '{"fast":3,"slow":7}')
    throw new Error(`after Promote: ${JSON.stringify({ history, params: runNow.params })}`)
  ok(`shadow #${sid} promoted from its row: version #${pseq} active at bar ${now.at_bar} (${now.replayed} envelopes replayed); GET /runs/${id} params ${JSON.stringify(runNow.params)}`)

  // 6. Roll back from the Versions panel: the original version and params run again.
  at('rollback')
  await versions.getByTestId('rollback').click()
  const rd = page.getByTestId('rollback-dialog')
  await rd.getByText('back to').waitFor()
  if (!(await rd.textContent()).includes('{"fast":10,"slow":20}')) throw new Error(`rollback dialog: ${await rd.textContent()}`)
  await rd.getByRole('button', { name: 'Roll back' }).click()
  const back = versions.locator('tr[aria-current]', { hasText: '{"fast":10,"slow":20}' })
  await back.waitFor({ timeout: 60_000 })
  const bseq = Number((await back.getAttribute('data-testid')).replace('version-', ''))
  await versions.getByTestId(`version-${pseq}`).locator('.chip', { hasText: 'superseded' }).waitFor()
  history = (await api(`/runs/${id}/versions`)).body.items
  now = history.find((v) => v.status === 'active')
  runNow = (await api(`/runs/${id}`)).body
  if (bseq !== pseq + 1 || now?.seq !== bseq || now.reason !== 'rollback' || now.strategy_id !== history[0].strategy_id
    || JSON.stringify(runNow.params) !== JSON.stringify(history[0].params) || runNow.status !== 'running')
    throw new Error(`after Roll back: ${JSON.stringify({ history, run: { status: runNow.status, params: runNow.params } })}`)
  ok(`rolled back from the panel: version #${bseq} (rollback) active with the original ${JSON.stringify(runNow.params)}; run still running`)

  // 7. The Versions panel at phone width, then the switches in the live feed (the dashboard).
  at('versions-phone')
  await page.setViewportSize({ width: 390, height: 844 })
  await versions.scrollIntoViewIfNeeded()
  const overflow2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  if (overflow2 > 1) throw new Error(`the run page with its versions is ${overflow2}px wider than the phone`)
  await versions.screenshot({ path: join(shots, 'shadow-versions-phone.png') })
  await page.setViewportSize({ width: 1280, height: 860 })
  ok('phone width (390 px): no horizontal overflow with the Versions panel')
  at('feed')
  await page.getByRole('link', { name: 'Dashboard' }).click()
  const feed = page.getByTestId('feed')
  await feed.getByText(`run ${id} switched to sma-cross v`, { exact: false }).filter({ hasText: '(promote)' }).first().waitFor()
  await feed.getByText(`run ${id} switched to sma-cross v`, { exact: false }).filter({ hasText: '(rollback)' }).first().waitFor()
  ok('the live feed says both switches ("run N switched to sma-cross v… (promote)", "… (rollback)")')
  await page.goBack()
  await page.locator('h1 .chip', { hasText: 'running' }).waitFor()

  // 8. Stop: the shadow ends, the run keeps running.
  at('stop')
  await panel.getByTestId(`shadow-stop-${sid}`).click()
  await row.locator('.chip', { hasText: 'stopped' }).waitFor()
  const shadows = (await api(`/runs/${id}/shadows`)).body
  const run = (await api(`/runs/${id}`)).body
  if (shadows.find((s) => s.id === sid)?.status !== 'stopped') throw new Error(`after Stop: ${JSON.stringify(shadows)}`)
  if (run.status !== 'running') throw new Error(`run #${id} after stopping its shadow: ${run.status}`)
  ok(`shadow #${sid} stopped from the panel (GET …/shadows says stopped); run #${id} still running`)

  if (errors.length) throw new Error(`console errors:\n${errors.join('\n')}`)
  ok('no console errors')
  console.log(`e2e (shadow): ${checks.length} checks passed; screenshots in ${shots}`)
})
rmSync(dir, { recursive: true, force: true })
