// @vitest-environment jsdom
// The walk-forward views against a stubbed server: the form's POST body (bars and durations),
// its checks, refusals shown under their field, the list, and a walk-forward's page: progress
// polled while it runs, cancel, the stitched curve and metrics, the windows table (a row opens
// its report), parameter stability and the overfitting card.
import { act, createElement as h } from 'react'
import { Route, Routes } from 'react-router'
import { afterEach, describe, expect, it } from 'vitest'
import { mountApp, unmountApp } from '../test/mount'
import { json, routes, sent, until, useStubFetch } from '../test/stub-fetch'
import type { WalkForward, WalkForwardWindow } from '../api/walkforward'
import { WalkForwards } from './walkforwards'
import WalkForwardDetail from './walkforward-detail'

useStubFetch()

let el: HTMLElement
afterEach(unmountApp)

function mount(at: string) {
  ;({ el } = mountApp(h(Routes, null,
      h(Route, { path: '/ui/walkforward', element: h(WalkForwards) }),
      h(Route, { path: '/ui/walkforward/:id', element: h(WalkForwardDetail) })), at))
}

const q = <T extends Element = HTMLElement>(sel: string) => el.querySelector<T & HTMLElement>(sel)
function fill(name: string, value: string) {
  const i = q<HTMLInputElement | HTMLSelectElement>(`[name="${name}"]`)!
  const proto = i instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype
  Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(i, value)
  act(() => { i.dispatchEvent(new Event(i instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true })) })
}
function pickStrategy(id: string) {
  const s = q<HTMLSelectElement>('[data-testid=strategy-select]')!
  Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value')!.set!.call(s, id)
  act(() => { s.dispatchEvent(new Event('change', { bubbles: true })) })
}
const click = (sel: string) => act(() => { q(sel)!.click() })
const submit = () => act(() => { q('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true })) })
const posted = () => sent.filter((r) => r.method === 'POST' && r.path === '/walkforward').map((r) => r.body)
const text = (sel: string) => q(sel)?.textContent

const strategy = { id: 3, name: 'sma-cross', version: 'v1', status: 'ready', sha256: 'x', size_bytes: 1, created_at: '2026-12-01T00:00:00Z', updated_at: '2026-12-01T00:00:00Z' }
const span = (start: string, end: string, bars: number) => ({ start: `${start}T00:00:00Z`, end: `${end}T00:00:00Z`, bars })
const win = (index: number, extra: Partial<WalkForwardWindow> = {}): WalkForwardWindow => ({
  index, in_sample: span(`2024-0${index + 1}-01`, `2024-0${index + 2}-01`, 200), out_of_sample: span(`2024-0${index + 2}-01`, `2024-0${index + 3}-01`, 50),
  status: 'done', best_params: { fast: 5 + 5 * index, slow: 40 }, in_sample_objective: 1.25 + index,
  out_of_sample_metrics: { return_pct: 2.5 - index, sharpe: 0.8, max_drawdown_pct: -3.25 }, error: null, ...extra,
})
const wf = (extra: Partial<WalkForward> = {}): WalkForward => ({
  id: 4, status: 'done', strategy_id: 3, symbols: ['SAMPLE'], timeframe: '1Day', objective: { metric: 'sharpe', direction: 'max' },
  windows_spec: { kind: 'rolling', in_sample: 200, out_of_sample: 50 },
  progress: { windows_done: 2, windows_total: 2, points_done: 8, points_total: 8 },
  windows: [win(0), win(1)],
  stitched: {
    equity: [{ ts: '2024-02-01T00:00:00Z', equity: 10000 }, { ts: '2024-03-01T00:00:00Z', equity: 10250 }, { ts: '2024-04-01T00:00:00Z', equity: 10400 }],
    metrics: { return_pct: 4, sharpe: 1.1, max_drawdown_pct: -3.25, trades: 6 },
  },
  efficiency: 0.62,
  stability: { fast: { values: [5, 10], distinct: 2, cv: 0.4714 }, mode: { values: ['a', 'a'], distinct: 1, cv: null } },
  overfitting: { trials: 4, deflated_sharpe: { sharpe: 0.12, dsr: 0.4, expected_max_sharpe: 0.09, observations: 240, trial_sharpe_variance: 0.004, skewness: 0.1, kurtosis: 3.2 }, pbo: null, note: 'PBO needs 16 periods a block or more' },
  error: null, created_at: '2026-12-06T08:00:00Z', finished_at: '2026-12-06T08:01:00Z', ...extra,
})

async function openForm() {
  routes['GET /strategies'] = () => json(200, [strategy])
  routes['GET /walkforward'] = () => json(200, [])
  mount('/ui/walkforward')
  await until(() => expect(q('[data-testid=strategy-select] option[value="3"]')).not.toBeNull())
  pickStrategy('3')
  fill('symbols', 'sample')
  fill('axis-0-name', 'fast')
  fill('axis-0-kind', 'list')
  fill('axis-0-values', '5, 10')
}

describe('the new walk-forward form', () => {
  it("posts the sweep's fields with rolling windows in bars, then opens it", async () => {
    await openForm()
    routes['POST /walkforward'] = () => json(202, wf({ status: 'queued', windows: [], stitched: null }))
    routes['GET /walkforward/4'] = () => json(200, wf({ status: 'queued', windows: [], stitched: null, progress: { windows_done: 0, windows_total: 3, points_done: 0, points_total: 6 } }))
    fill('metric', 'return_pct')
    fill('min_trades', '2')
    fill('in_sample', '200')
    fill('out_of_sample', '50')
    submit()
    await until(() => expect(posted()).toHaveLength(1))
    expect(posted()[0]).toEqual({
      strategy: 3, symbols: ['SAMPLE'], timeframe: '1Day', method: { kind: 'grid' }, space: { fast: [5, 10] },
      objective: { metric: 'return_pct', direction: 'max' }, constraints: { min_trades: 2 },
      windows: { kind: 'rolling', in_sample: 200, out_of_sample: 50 },
    })
    await until(() => expect(text('h1')).toBe('Walk-forward 4'))
    await until(() => expect(text('[data-testid=wf-progress]')).toContain('0/3 windows'))
  })

  it('sends durations when the sizes are switched to durations', async () => {
    await openForm()
    routes['POST /walkforward'] = () => json(202, wf())
    routes['GET /walkforward/4'] = () => json(200, wf())
    fill('kind', 'anchored')
    click('[data-testid=unit-duration]')
    expect(q('[data-testid=unit-duration]')!.getAttribute('aria-pressed')).toBe('true')
    fill('in_sample', '12M')
    fill('out_of_sample', '90d')
    fill('step', '13w')
    submit()
    await until(() => expect(posted()).toHaveLength(1))
    expect((posted()[0] as { windows: unknown }).windows).toEqual({ kind: 'anchored', in_sample: '12M', out_of_sample: '90d', step: '13w' })
  })

  it('marks wrong fields and sends nothing', async () => {
    await openForm()
    fill('in_sample', '200')
    fill('out_of_sample', '2.5')
    click('[data-testid=unit-duration]')
    fill('in_sample', '200')
    fill('out_of_sample', '90d')
    submit()
    expect(text('[data-testid=error-in_sample]')).toBe('"200" is not a duration (e.g. 90d, 12w or 6M)')
    expect(q('[name=in_sample]')!.getAttribute('aria-invalid')).toBe('true')
    expect(q('[data-testid=error-out_of_sample]')).toBeNull()
    expect(posted()).toHaveLength(0)
  })

  it("shows the server's refusals under the field they are about", async () => {
    await openForm()
    fill('in_sample', '5000')
    fill('out_of_sample', '50')
    routes['POST /walkforward'] = () => json(422, { code: 'invalid_windows', message: 'windows: there are 750 bars and the first window needs 5050', details: { field: 'windows', bars: 750, needed: 5050 }, correlation_id: 'abc' })
    submit()
    await until(() => expect(text('[data-testid=error-windows]')).toBe('windows: there are 750 bars and the first window needs 5050'))
    expect(q('[data-testid=api-error]')).toBeNull()
    routes['POST /walkforward'] = () => json(422, { code: 'invalid_windows', message: 'windows.in_sample: give a positive number of bars', details: { field: 'windows.in_sample' } })
    submit()
    await until(() => expect(text('[data-testid=error-in_sample]')).toBe('windows.in_sample: give a positive number of bars'))
    expect(q('[data-testid=error-windows]')).toBeNull()

    routes['POST /walkforward'] = () => json(422, { code: 'unknown_parameter', message: 'the strategy has no parameter fast', details: { name: 'fast' } })
    submit()
    await until(() => expect(text('[data-testid=error-axis-0-name]')).toBe('the strategy has no parameter fast'))
    expect(q('[data-testid=error-in_sample]')).toBeNull()

    routes['POST /walkforward'] = () => json(422, { code: 'sweep_too_large', message: 'too many points', details: { points: 200000, limit: 100000 } })
    submit()
    await until(() => expect(text('[data-testid=error-space]')).toBe('200,000 points over all windows; this server allows at most 100,000'))

    routes['POST /walkforward'] = () => json(404, { code: 'strategy_not_found', message: 'no strategy 3', details: null })
    submit()
    await until(() => expect(text('[data-testid=api-error]')).toContain('no strategy 3'))
  })
})

describe('the walk-forward list', () => {
  it('lists them newest first with a link, progress and the out-of-sample result', async () => {
    routes['GET /strategies'] = () => json(200, [strategy])
    routes['GET /walkforward'] = () => json(200, [wf({ id: 5, status: 'running', stitched: null, efficiency: null, progress: { windows_done: 1, windows_total: 4, points_done: 3, points_total: 4 } }), wf()])
    mount('/ui/walkforward')
    await until(() => expect(el.querySelectorAll('[data-testid=wf-table] tbody tr')).toHaveLength(2))
    const rows = [...el.querySelectorAll('[data-testid=wf-table] tbody tr')]
    expect(rows[0].querySelector('a')!.getAttribute('href')).toBe('/ui/walkforward/5')
    expect(rows[0].textContent).toContain('1/4 windows (25 %)')
    expect(rows[1].textContent).toContain('sma-cross v1')
    expect(rows[1].textContent).toContain('rolling 200 bars / 50 bars')
    expect(rows[1].textContent).toContain('4.00%')
    expect(rows[1].textContent).toContain('0.62')
  })
})

describe('a walk-forward page', () => {
  it('polls while running, offers Cancel, then shows the finished result', async () => {
    let status = 'running'
    let asked = 0
    routes['GET /walkforward/4'] = () => {
      asked++
      return json(200, status === 'running'
        ? wf({ status: 'running', stitched: null, efficiency: null, overfitting: null, windows: [win(0), win(1, { status: 'running', best_params: null, in_sample_objective: null, out_of_sample_metrics: null })], progress: { windows_done: 1, windows_total: 2, points_done: 5, points_total: 8 } })
        : wf({ status: 'cancelled' }))
    }
    routes['POST /walkforward/4/cancel'] = () => {
      status = 'cancelled'
      return json(200, wf({ status: 'cancelled' }))
    }
    mount('/ui/walkforward/4')
    await until(() => expect(text('[data-testid=wf-progress]')).toContain('1/2 windows (50 %) · 5/8 points'))
    expect(text('[data-testid=overfitting]')).toContain('Computed once the trials have finished.')
    // The running window has no report to open.
    expect(q('[data-testid=window-1]')).toBeNull()
    click('[data-testid=wf-cancel]')
    await until(() => expect(sent.some((r) => r.method === 'POST' && r.path === '/walkforward/4/cancel')).toBe(true))
    await until(() => expect(q('[data-testid=wf-cancel]')).toBeNull(), 4000)
    expect(asked).toBeGreaterThanOrEqual(2)
    expect(q('[data-testid=wf-equity]')).not.toBeNull()
  })

  it('draws the stitched curve with its metrics, efficiency, windows and stability', async () => {
    routes['GET /walkforward/4'] = () => json(200, wf())
    mount('/ui/walkforward/4')
    await until(() => expect(q('[data-testid=wf-equity]')).not.toBeNull())
    expect(q('[data-testid=wf-equity-line]')!.getAttribute('d')).toMatch(/^M0\.0,[\d.]+ L[\d.]+,[\d.]+ L1000\.0,[\d.]+$/)
    expect(q('[data-testid=wf-equity]')!.getAttribute('aria-label')).toBe('stitched out-of-sample equity from $10,000.00 to $10,400.00')
    // Window 1's out-of-sample part starts inside the curve (window 0's at its first point).
    expect(el.querySelectorAll('[data-testid=wf-mark]')).toHaveLength(1)
    expect(text('[data-testid=wf-return_pct]')).toBe('4.00%')
    expect(text('[data-testid=wf-max_drawdown_pct]')).toBe('-3.25%')
    expect(text('[data-testid=wf-efficiency]')).toBe('0.62')
    const rows = [...el.querySelectorAll('[data-testid=wf-window]')].map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent))
    expect(rows[0]).toEqual(['0', '2024-01-01 → 2024-02-01 (200)', '2024-02-01 → 2024-03-01 (50)', 'fast=5 slow=40', '1.2500', '2.50%', '0.80', '-3.25%', 'done'])
    expect(rows[1][3]).toBe('fast=10 slow=40')
    const stab = [...el.querySelectorAll('[data-testid=stability-row]')].map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent))
    expect(stab).toEqual([['fast', '5, 10', '2', '0.471'], ['mode', 'a, a', '1', '—']])
    expect(text('[data-testid=of-dsr]')).toBe('40.0 %')
    expect(text('[data-testid=of-note]')).toBe('PBO needs 16 periods a block or more')
    expect(q('[data-testid=of-pbo]')).toBeNull()
  })

  it("opens a window's report from its row", async () => {
    routes['GET /walkforward/4'] = () => json(200, wf())
    routes['GET /walkforward/4/windows/1/report'] = () => json(200, { metrics: { return_pct: 1.5, sharpe: 0.8, trades: 3 }, trades: [{}, {}, {}], equity: [] })
    mount('/ui/walkforward/4')
    await until(() => expect(el.querySelectorAll('[data-testid=wf-window]')).toHaveLength(2))
    act(() => { (el.querySelectorAll('[data-testid=wf-window]')[1] as HTMLElement).click() })
    await until(() => expect(text('[data-testid=window-report] [data-testid=report-return_pct]')).toBe('1.50%'))
    expect(text('[data-testid=window-report]')).toContain('Report of window #1')
    expect(text('[data-testid=report-closed]')).toBe('3')
    expect(el.querySelectorAll('[data-testid=wf-window]')[1].getAttribute('aria-current')).toBe('true')
    act(() => { [...el.querySelectorAll<HTMLButtonElement>('[data-testid=window-report] button')].find((b) => b.textContent === 'Close')!.click() })
    expect(q('[data-testid=window-report]')).toBeNull()
  })
})
