// @vitest-environment jsdom
// The Shadows panel of a run's page against a stubbed server: the list with its diff figures,
// the start form (ready versions of the run's strategy only; the body it posts), a refusal with
// its message, Stop (DELETE), Promote (POST …/promote with the shadow, confirmed; refused while a
// switch is pending), the params prefilled with the run's, and the diff (first divergence, the
// divergent rows only).
import { act, createElement as h } from 'react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { mountApp, unmountApp } from '../test/mount'
import type { Shadow, ShadowDiff } from '../api/shadows'
import type { Run, Strategy } from '../api/types'
import { json, routes, sent, until, useStubFetch } from '../test/stub-fetch'
import { ShadowsPanel } from './run-shadows'

// The chart library needs a canvas; the test checks what the chart is given.
vi.mock('../components/charts', () => ({
  LineChart: ({ lines, mark }: { lines: { name: string; points: unknown[] }[]; mark?: { time: number; text: string } | null }) =>
    h('div', { 'data-testid': 'chart' }, `${lines.map((l) => `${l.name}:${l.points.length}`).join(' ')} mark=${mark ? mark.time : 'none'}`),
}))

useStubFetch()

let el: HTMLElement
afterEach(unmountApp)

function mount(run: Run) {
  ;({ el } = mountApp(h(ShadowsPanel, { run })))
}

// The confirmations are portalled into <body>.
const $ = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`)
const click = (b: Element | null) => {
  if (!b) throw new Error('no such element')
  return act(async () => (b as HTMLElement).click())
}
const setValue = (input: HTMLTextAreaElement | HTMLSelectElement, v: string) => act(async () => {
  const proto = input instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLTextAreaElement.prototype
  Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(input, v)
  input.dispatchEvent(new Event(input instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }))
})
const writes = () => sent.filter((s) => s.method !== 'GET').map(({ method, path, body }) => ({ method, path, body }))

const RUN = {
  id: 7, strategy_id: 11, strategy_name: 'sma-cross', status: 'running', mode: 'paper', venue: 'sim',
  symbols: ['GOOG'], timeframe: '1Day',
} as unknown as Run

const strategy = (id: number, version: string, status: string, name = 'sma-cross') =>
  ({ id, name, version, status, sha256: 'x', size_bytes: 1, created_at: '2024-01-01T00:00:00Z', supported_contracts: '' }) as unknown as Strategy

const SHADOW: Shadow = {
  id: 3, run_id: 7, strategy_id: 12, params: { fast: 3 }, status: 'running', created_at: '2024-01-02T00:00:00Z',
}

const intent = (side: string, qty: number) => ({ intent: 'place_order', side, symbol: 'GOOG', qty })

const DIFF: ShadowDiff = {
  shadow: SHADOW,
  bars: [
    { bar_ts: '2024-01-03T00:00:00Z', diverges: false, run: [intent('buy', 1)], shadow: [intent('buy', 1)] },
    { bar_ts: '2024-01-05T00:00:00Z', diverges: true, run: [], shadow: [intent('sell', 1)] },
    { bar_ts: '2024-01-08T00:00:00Z', diverges: true, run: [intent('sell', 1)], shadow: [] },
  ],
  first_divergence: '2024-01-05T00:00:00Z',
  divergences: 2,
  compared_until: '2024-01-09T00:00:00Z',
  run_equity: [
    { ts: '2024-01-03T00:00:00Z', equity: 10000 }, { ts: '2024-01-04T00:00:00Z', equity: 10010 }, { ts: '2024-01-08T00:00:00Z', equity: 10020 },
  ],
  shadow_equity: [{ ts: '2024-01-03T00:00:00Z', equity: 10000 }, { ts: '2024-01-08T00:00:00Z', equity: 9990 }],
  run_equity_source: 'sim_account',
  truncated: false,
}

function serve(shadows: Shadow[] = [SHADOW]) {
  routes['GET /strategies'] = () => json(200, [strategy(11, '1', 'ready'), strategy(12, '2', 'ready'), strategy(13, '3', 'compiling'), strategy(14, '1', 'ready', 'other')])
  routes['GET /runs/7/shadows'] = () => json(200, shadows)
  routes['GET /runs/7/shadows/3/diff'] = () => json(200, DIFF)
}

describe('ShadowsPanel', () => {
  it('lists the shadows with their version, params, status and diff figures', async () => {
    serve()
    mount(RUN)
    await until(() => expect($('shadow-divergences-3')?.textContent).toBe('2'))
    const row = $('shadow-3')!.textContent!
    expect(row).toContain('sma-cross v2')
    expect(row).toContain('{"fast":3}')
    expect(row).toContain('running')
    expect($('shadow-first-3')!.textContent).toContain('2024-01-05')
    expect(sent.some((s) => s.path === '/strategies')).toBe(true)
  })

  it('offers only ready versions of the run’s strategy and posts the picked one with its params', async () => {
    serve([])
    routes['POST /runs/7/shadows'] = () => json(201, { ...SHADOW, id: 4 })
    mount(RUN)
    await until(() => expect($('shadow-version')!.querySelectorAll('option')).toHaveLength(2))
    const select = $('shadow-version') as HTMLSelectElement
    expect([...select.options].map((o) => o.value)).toEqual(['11', '12'])
    // The run's own version is picked first.
    expect(select.value).toBe('11')
    await setValue(select, '12')
    await setValue($('shadow-params') as HTMLTextAreaElement, '{"fast": 3, "slow": 20}')
    await click($('shadow-start'))
    await until(() => expect(el.textContent).toContain('Shadow #4 started.'))
    expect(writes()).toEqual([{ method: 'POST', path: '/runs/7/shadows', body: { strategy: 12, params: { fast: 3, slow: 20 } } }])
  })

  it('sends no params when the box is empty (the run’s own) and refuses bad JSON before sending', async () => {
    serve([])
    routes['POST /runs/7/shadows'] = () => json(201, SHADOW)
    mount(RUN)
    await until(() => expect(($('shadow-version') as HTMLSelectElement).value).toBe('11'))
    await setValue($('shadow-params') as HTMLTextAreaElement, '[1]')
    await click($('shadow-start'))
    expect($('error-shadow-params')!.textContent).toBe('params must be a JSON object')
    expect(writes()).toEqual([])
    await setValue($('shadow-params') as HTMLTextAreaElement, '')
    await click($('shadow-start'))
    await until(() => expect(writes()).toEqual([{ method: 'POST', path: '/runs/7/shadows', body: { strategy: 11 } }]))
  })

  it('shows a refusal with its message and code', async () => {
    serve([])
    routes['POST /runs/7/shadows'] = () => json(422, { code: 'shadow_limit', message: 'run #7 has 8 running shadows already', details: null, correlation_id: 'req-1' })
    mount(RUN)
    await until(() => expect(($('shadow-version') as HTMLSelectElement).value).toBe('11'))
    await click($('shadow-start'))
    await until(() => expect($('api-error')).not.toBeNull())
    expect($('api-error')!.textContent).toContain('run #7 has 8 running shadows already')
    expect($('api-error')!.textContent).toContain('shadow_limit')
  })

  it('stops a shadow with DELETE', async () => {
    serve()
    routes['DELETE /runs/7/shadows/3'] = () => json(200, { ...SHADOW, status: 'stopped' })
    mount(RUN)
    await until(() => expect($('shadow-stop-3')).not.toBeNull())
    await click($('shadow-stop-3'))
    await until(() => expect(writes()).toEqual([{ method: 'DELETE', path: '/runs/7/shadows/3', body: undefined }]))
  })

  it('has no start form once the run has ended, and no Stop or Promote for an ended shadow', async () => {
    serve([{ ...SHADOW, status: 'stopped' }])
    mount({ ...RUN, status: 'stopped' })
    await until(() => expect($('shadow-3')).not.toBeNull())
    expect($('shadow-form')).toBeNull()
    expect($('shadow-stop-3')).toBeNull()
    expect($('shadow-promote-3')).toBeNull()
  })

  it('promotes a running shadow after a confirmation: its version and params become the run’s', async () => {
    serve()
    routes['POST /runs/7/promote'] = () => json(202, {
      seq: 2, strategy_id: 12, strategy_name: 'sma-cross', strategy_version: '2', params: { fast: 3 }, reason: 'promote', state: 'replay',
      shadow_id: 3, status: 'pending', requested_at: '2024-01-04T00:00:00Z', switched_at: null, at_bar: null, replayed: null, error_code: null,
      auto_rollback_bars: 20,
    })
    mount(RUN)
    await until(() => expect($('shadow-promote-3')).not.toBeNull())
    await click($('shadow-promote-3'))
    const dialog = $('promote-shadow-dialog')!
    expect(dialog.textContent).toContain('Promote shadow #3 in run #7?')
    expect(dialog.textContent).toContain('sma-cross v2')
    expect(dialog.textContent).toContain('{"fast":3}')
    expect(writes()).toEqual([])
    await click([...dialog.querySelectorAll('button')].find((b) => b.textContent === 'Promote')!)
    await until(() => expect($('switch-requested')).not.toBeNull())
    expect(writes()).toEqual([{ method: 'POST', path: '/runs/7/promote', body: { shadow_id: 3 } }])
    expect($('switch-requested')!.textContent).toContain('Switch #2 to sma-cross v2 requested (promote)')
  })

  it('shows a refused promotion in its dialog, and offers none while a switch is pending', async () => {
    serve()
    routes['POST /runs/7/promote'] = () => json(409, { code: 'switch_pending', message: 'run #7 has a pending switch', details: null, correlation_id: 'req-2' })
    mount(RUN)
    await until(() => expect($('shadow-promote-3')).not.toBeNull())
    await click($('shadow-promote-3'))
    await click([...$('promote-shadow-dialog')!.querySelectorAll('button')].find((b) => b.textContent === 'Promote')!)
    await until(() => expect($('promote-shadow-dialog')!.querySelector('[data-testid="api-error"]')).not.toBeNull())
    expect($('promote-shadow-dialog')!.textContent).toContain('run #7 has a pending switch')
    expect($('promote-shadow-dialog')!.textContent).toContain('switch_pending')
    unmountApp()

    serve()
    routes['GET /runs/7/versions'] = () => json(200, { items: [{ seq: 2, status: 'pending' }] })
    mount(RUN)
    await until(() => expect(($('shadow-promote-3') as HTMLButtonElement | null)?.disabled).toBe(true))
  })

  it('prefills the start form’s params with the run’s when GET /runs/{id} has them', async () => {
    serve([])
    routes['POST /runs/7/shadows'] = () => json(201, SHADOW)
    mount({ ...RUN, params: { fast: 10, slow: 20 } } as Run)
    await until(() => expect(($('shadow-version') as HTMLSelectElement).value).toBe('11'))
    expect(($('shadow-params') as HTMLTextAreaElement).value).toBe('{"fast":10,"slow":20}')
    await click($('shadow-start'))
    await until(() => expect(writes()).toEqual([{ method: 'POST', path: '/runs/7/shadows', body: { strategy: 11, params: { fast: 10, slow: 20 } } }]))
  })

  it('opens the diff: both curves, the first divergence marked, only the divergent rows', async () => {
    serve()
    mount(RUN)
    await until(() => expect($('shadow-diff-3')).not.toBeNull())
    await click($('shadow-diff-3'))
    await until(() => expect($('shadow-diff-summary')).not.toBeNull())
    expect($('shadow-first-divergence')!.textContent).toContain('2024-01-05')
    expect($('shadow-diff-summary')!.textContent).toContain('2 bar times differ')
    // The marker snaps to the run's last equity point not after the divergence (Jan 4).
    expect($('chart')!.textContent).toBe(`run #7:3 shadow #3:2 mark=${Date.parse('2024-01-04T00:00:00Z') / 1000}`)
    const rows = el.querySelectorAll('[data-testid="shadow-divergent-row"]')
    expect(rows).toHaveLength(2)
    expect(rows[0].className).toBe('first-divergence')
    expect(rows[0].textContent).toContain('first')
    expect(rows[0].querySelector('[data-testid="run-intents"]')!.textContent).toBe('(none)')
    expect(rows[0].querySelector('[data-testid="shadow-intents"]')!.textContent).toBe('place_order side=sell symbol=GOOG qty=1')
    expect(rows[1].querySelector('[data-testid="run-intents"]')!.textContent).toBe('place_order side=sell symbol=GOOG qty=1')
    await click($('shadow-diff-3'))
    expect($('shadow-diff')).toBeNull()
  })

  it('says so when nothing diverges', async () => {
    serve()
    routes['GET /runs/7/shadows/3/diff'] = () => json(200, { ...DIFF, bars: [DIFF.bars[0]], first_divergence: null, divergences: 0 })
    mount(RUN)
    await until(() => expect($('shadow-diff-3')).not.toBeNull())
    await click($('shadow-diff-3'))
    await until(() => expect($('shadow-first-divergence')?.textContent).toBe('No divergence'))
    expect($('shadow-first-3')!.textContent).toBe('none')
    expect($('chart')!.textContent).toContain('mark=none')
    expect(el.querySelectorAll('[data-testid="shadow-divergent-row"]')).toHaveLength(0)
  })
})
