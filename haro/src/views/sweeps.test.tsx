// @vitest-environment jsdom
// The sweep views against a stubbed server: the form's POST body (grid and random), a refusal's
// message and details, the results table sorted by the server, the heatmap's cells, "Open as
// backtest" landing on the backtest's page, and the overfitting card.
import { act, createElement as h } from 'react'
import { Route, Routes, useParams } from 'react-router'
import { afterEach, describe, expect, it } from 'vitest'
import { mountApp, unmountApp } from '../test/mount'
import { json, routes, sent, until, useStubFetch } from '../test/stub-fetch'
import type { SweepPoint } from '../api/sweeps'
import { heatmapOf } from '../lib/sweeps'
import { Sweeps } from './sweeps'
import SweepDetail from './sweep-detail'

useStubFetch()

let el: HTMLElement
afterEach(unmountApp)

function BacktestPage() {
  return h('p', { 'data-testid': 'backtest-page' }, `backtest ${useParams().id}`)
}

function mount(at: string) {
  ;({ el } = mountApp(h(Routes, null,
      h(Route, { path: '/ui/sweeps', element: h(Sweeps) }),
      h(Route, { path: '/ui/sweeps/:id', element: h(SweepDetail) }),
      h(Route, { path: '/ui/backtests/:id', element: h(BacktestPage) })), at))
}

const input = (name: string) => el.querySelector<HTMLInputElement | HTMLSelectElement>(`[name="${name}"]`)!
function fill(name: string, value: string) {
  const i = input(name)
  const proto = i instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype
  Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(i, value)
  act(() => { i.dispatchEvent(new Event(i instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true })) })
}
function pickStrategy(id: string) {
  const s = el.querySelector<HTMLSelectElement>('[data-testid=strategy-select]')!
  Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value')!.set!.call(s, id)
  act(() => { s.dispatchEvent(new Event('change', { bubbles: true })) })
}
const click = (sel: string) => act(() => { el.querySelector<HTMLElement>(sel)!.click() })
const submit = () => act(() => { el.querySelector('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true })) })
const posted = () => sent.filter((r) => r.method === 'POST' && r.path === '/sweeps').map((r) => r.body)

const strategy = { id: 3, name: 'sma-cross', version: 'v1', status: 'ready', sha256: 'x', size_bytes: 1, created_at: '2026-12-01T00:00:00Z', updated_at: '2026-12-01T00:00:00Z' }
const point = (index: number, fast: number, slow: number, objective: number | null, extra: Partial<SweepPoint> = {}): SweepPoint => ({
  index, params: { fast, slow }, status: 'done', feasible: true, objective, error: null,
  metrics: { return_pct: objective, sharpe: objective, max_drawdown_pct: -5, trades: 10 + index, win_rate_pct: 50 }, ...extra,
})
const sweep = (results: SweepPoint[], extra: object = {}) => ({
  id: 9, status: 'done', created_at: '2026-12-06T07:00:00Z', updated_at: '2026-12-06T07:01:00Z', error: null, strategy_id: 3,
  config: { strategy: 3, symbols: ['SAMPLE'], timeframe: '1Day', method: { kind: 'grid' }, objective: { metric: 'sharpe', direction: 'max' } },
  progress: { done: results.length, failed: 0, total: results.length }, best: results[0] ?? null, results, ...extra,
})

async function openForm() {
  routes['GET /strategies'] = () => json(200, [strategy])
  routes['GET /sweeps'] = () => json(200, [])
  mount('/ui/sweeps')
  await until(() => expect(el.querySelector('[data-testid=strategy-select] option[value="3"]')).not.toBeNull())
  pickStrategy('3')
  fill('symbols', 'sample, other')
}

describe('the new sweep form', () => {
  it('posts a grid sweep with its space, objective and constraints, then opens it', async () => {
    await openForm()
    routes['POST /sweeps'] = () => json(202, sweep([], { status: 'queued' }))
    routes['GET /sweeps/9'] = () => json(200, sweep([], { status: 'queued', progress: { done: 0, failed: 0, total: 18 } }))
    fill('axis-0-name', 'fast')
    fill('axis-0-min', '5')
    fill('axis-0-max', '30')
    fill('axis-0-step', '5')
    click('[data-testid=add-axis]')
    fill('axis-1-name', 'slow')
    fill('axis-1-kind', 'list')
    fill('axis-1-values', '40, 60,80')
    fill('metric', 'return_pct')
    fill('direction', 'min')
    fill('min_trades', '5')
    fill('max_drawdown_pct', '30')
    fill('start', '2024-01-01')
    submit()
    await until(() => expect(posted()).toHaveLength(1))
    expect(posted()[0]).toEqual({
      strategy: 3, symbols: ['SAMPLE', 'OTHER'], timeframe: '1Day', start: '2024-01-01T00:00:00.000Z',
      method: { kind: 'grid' },
      space: { fast: { min: 5, max: 30, step: 5 }, slow: [40, 60, 80] },
      objective: { metric: 'return_pct', direction: 'min' },
      constraints: { min_trades: 5, max_drawdown_pct: 30 },
    })
    await until(() => expect(el.querySelector('h1')!.textContent).toBe('Sweep 9'))
    await until(() => expect(el.querySelector('[data-testid=sweep-progress]')!.textContent).toContain('0/18'))
  })

  it('posts a random sweep with its seed and count, a log axis without count', async () => {
    await openForm()
    routes['POST /sweeps'] = () => json(202, sweep([], { status: 'queued' }))
    routes['GET /sweeps/9'] = () => json(200, sweep([], { status: 'queued' }))
    fill('method', 'random')
    fill('seed', '11')
    fill('count', '20')
    fill('axis-0-name', 'lr')
    fill('axis-0-kind', 'log')
    fill('axis-0-min', '0.001')
    fill('axis-0-max', '1')
    submit()
    await until(() => expect(posted()).toHaveLength(1))
    expect(posted()[0]).toEqual({
      strategy: 3, symbols: ['SAMPLE', 'OTHER'], timeframe: '1Day',
      method: { kind: 'random', seed: 11, count: 20 },
      space: { lr: { min: 0.001, max: 1, log: true } },
      objective: { metric: 'sharpe', direction: 'max' },
    })
  })

  it('marks wrong fields and sends nothing', async () => {
    await openForm()
    fill('axis-0-name', 'fast')
    fill('axis-0-min', '10')
    fill('axis-0-max', '5')
    fill('method', 'random')
    fill('count', '0')
    submit()
    expect(el.querySelector('[data-testid=error-axis-0-max]')!.textContent).toBe('not below min')
    expect(el.querySelector('[data-testid=error-axis-0-step]')!.textContent).toBe('required')
    expect(el.querySelector('[data-testid=error-count]')!.textContent).toBe('1 or more')
    expect(posted()).toHaveLength(0)
  })

  it("shows a refusal's message and what its details say", async () => {
    await openForm()
    routes['POST /sweeps'] = () => json(422, { code: 'sweep_too_large', message: 'the sweep has 250000 points; at most 100000', details: { points: 250000, limit: 100000 } })
    fill('axis-0-name', 'fast')
    fill('axis-0-kind', 'list')
    fill('axis-0-values', '1,2')
    submit()
    await until(() => expect(el.querySelector('[data-testid=api-error]')!.textContent).toContain('the sweep has 250000 points'))
    expect(el.querySelector('[data-testid=refusal-note]')!.textContent).toContain('250,000 points; this server allows at most 100,000')

    routes['POST /sweeps'] = () => json(422, { code: 'unknown_parameter', message: 'init refused: unknown parameter', details: { name: 'fats' } })
    submit()
    await until(() => expect(el.querySelector('[data-testid=refusal-note]')!.textContent).toBe('The strategy does not declare the parameter "fats".'))
  })
})

describe('a sweep page', () => {
  const points = [point(0, 5, 40, 1.5), point(1, 5, 60, 0.5), point(2, 10, 40, 2.5), point(3, 10, 60, null, { status: 'failed', feasible: false, error: 'trap' })]

  it('sorts the results through the server', async () => {
    const asked: URLSearchParams[] = []
    routes['GET /sweeps/9'] = (_b, url) => {
      asked.push(url.searchParams)
      const sort = url.searchParams.get('sort')
      const rows = sort === 'trades'
        ? [...points].sort((a, b) => (url.searchParams.get('order') === 'asc' ? 1 : -1) * ((a.metrics!.trades as number) - (b.metrics!.trades as number)))
        : points
      return json(200, sweep(rows))
    }
    mount('/ui/sweeps/9')
    const order = () => [...el.querySelectorAll('[data-testid=sweep-row] td:first-child')].map((td) => td.textContent)
    await until(() => expect(order()).toEqual(['0', '1', '2', '3']))
    const header = () => [...el.querySelectorAll<HTMLButtonElement>('th button')].find((b) => b.textContent!.startsWith('trades'))!
    act(() => header().click())
    await until(() => expect(order()).toEqual(['3', '2', '1', '0']))
    expect(asked.some((p) => p.get('sort') === 'trades' && p.get('order') === 'desc' && p.get('offset') === '0')).toBe(true)
    act(() => header().click())
    await until(() => expect(order()).toEqual(['0', '1', '2', '3']))
    expect(asked.some((p) => p.get('sort') === 'trades' && p.get('order') === 'asc')).toBe(true)
  })

  it('says how many workers share a sweep they run, and nothing of workers when the server runs it', async () => {
    routes['GET /sweeps/9'] = () => json(200, sweep(points, { status: 'running', workers: { pending: 1, leased: 2, done: 15, workers: 2, retries: 1 } }))
    mount('/ui/sweeps/9')
    await until(() => expect(el.querySelector('[data-testid=sweep-workers]')).not.toBeNull())
    const line = el.querySelector('[data-testid=sweep-workers]')!.textContent!
    expect(line).toContain('Run by 2 workers')
    expect(line).toContain('chunks 15/18 done, 2 running, 1 waiting')
    expect(line).toContain('1 taken over after a worker stopped')
    unmountApp()
    routes['GET /sweeps/9'] = () => json(200, sweep(points, { workers: null }))
    mount('/ui/sweeps/9')
    await until(() => expect(el.querySelectorAll('[data-testid=sweep-row]').length).toBe(4))
    expect(el.querySelector('[data-testid=sweep-workers]')).toBeNull()
  })

  it('places the objective of each point in its heatmap cell', async () => {
    routes['GET /sweeps/9'] = () => json(200, sweep(points))
    mount('/ui/sweeps/9')
    await until(() => expect(el.querySelector('[data-testid=heatmap]')).not.toBeNull())
    // fast across (5, 10), slow down (40, 60).
    const cell = (r: number, c: number) => el.querySelector(`[data-testid=cell-${r}-${c}]`)!
    expect(cell(0, 0).getAttribute('data-index')).toBe('0')
    expect(cell(1, 0).getAttribute('data-index')).toBe('1')
    expect(cell(0, 1).getAttribute('data-index')).toBe('2')
    expect(cell(0, 1).textContent).toContain('2.50')
    expect(cell(1, 1).getAttribute('data-state')).toBe('failed')
  })

  it('opens a point as a backtest and goes to its page', async () => {
    routes['GET /sweeps/9'] = () => json(200, sweep(points))
    routes['POST /sweeps/9/points/2/backtest'] = () => json(202, { id: 77, status: 'queued', config: {}, created_at: '2026-12-06T07:02:00Z' })
    mount('/ui/sweeps/9')
    await until(() => expect(el.querySelector('[data-testid=sweep-results] [data-testid=open-2]')).not.toBeNull())
    click('[data-testid=sweep-results] [data-testid=open-2]')
    await until(() => expect(el.querySelector('[data-testid=backtest-page]')!.textContent).toBe('backtest 77'))
  })

  it("shows a point's report summary", async () => {
    routes['GET /sweeps/9'] = () => json(200, sweep(points))
    routes['GET /sweeps/9/points/1/report'] = () => json(200, { strategy: { name: 'sma-cross' }, metrics: { return_pct: 12.5, sharpe: 0.5, trades: 4 }, trades: [], equity: [] })
    mount('/ui/sweeps/9')
    await until(() => expect(el.querySelector('[data-testid=sweep-results] [data-testid=report-1]')).not.toBeNull())
    click('[data-testid=sweep-results] [data-testid=report-1]')
    await until(() => expect(el.querySelector('[data-testid=point-report] [data-testid=report-sharpe]')!.textContent).toBe('0.50'))
  })
})

describe("a sweep page's overfitting card", () => {
  const points = [point(0, 5, 40, 1.5), point(1, 5, 60, 0.5)]

  it('shows the deflated Sharpe ratio, the expected maximum of N trials and PBO, each explained', async () => {
    routes['GET /sweeps/9'] = () => json(200, sweep(points, { overfitting: {
      trials: 36, deflated_sharpe: { sharpe: 0.1234, dsr: 0.9812, expected_max_sharpe: 0.0567, skewness: -0.2, observations: 240, trial_sharpe_variance: 0.004, kurtosis: 3.2 },
      pbo: { pbo: 0.125, partitions: 16, combinations: 12870 }, note: null,
    } }))
    mount('/ui/sweeps/9')
    await until(() => expect(el.querySelector('[data-testid=overfitting]')).not.toBeNull())
    const t = (id: string) => el.querySelector(`[data-testid=${id}]`)!.textContent
    expect(t('of-trials')).toBe('36')
    expect(t('of-dsr')).toBe('98.1 %')
    expect(t('of-sharpe')).toBe('0.123')
    expect(t('of-expected')).toBe('0.057')
    expect(t('of-pbo')).toBe('12.5 % (16 blocks)')
    expect(t('of-dsr-line')).toContain('98.1 % probability')
    expect(t('of-pbo-line')).toContain('In 12.5 % of the in-sample/out-of-sample splits')
    expect(el.querySelector('[data-testid=of-note]')).toBeNull()
    const terms = [...el.querySelectorAll('[data-testid=overfitting] [data-testid=term]')]
    expect(terms.map((x) => x.textContent!.replace(/ \?$/, ''))).toEqual(['Trials', 'Deflated Sharpe', 'Expected max Sharpe of 36 trials', 'PBO'])
    expect(terms.every((x) => (x.getAttribute('title') ?? '').length > 60 && x.getAttribute('tabindex') === '0')).toBe(true)
  })

  it('shows the note when a figure could not be computed, and no card on a server without them', async () => {
    routes['GET /sweeps/9'] = () => json(200, sweep(points, { overfitting: {
      trials: 2, deflated_sharpe: { sharpe: 0.1, dsr: 0.51, expected_max_sharpe: 0.08, observations: 240, trial_sharpe_variance: 0.004, skewness: 0.1, kurtosis: 3.2 }, pbo: null, note: 'PBO needs at least 4 trials',
    } }))
    mount('/ui/sweeps/9')
    await until(() => expect(el.querySelector('[data-testid=of-note]')!.textContent).toBe('PBO needs at least 4 trials'))
    expect(el.querySelector('[data-testid=of-pbo]')).toBeNull()
    expect(el.querySelector('[data-testid=of-dsr-line]')!.textContent).toContain('not clearly better than luck')
    unmountApp()
    routes['GET /sweeps/9'] = () => json(200, sweep(points))
    mount('/ui/sweeps/9')
    await until(() => expect(el.querySelector('[data-testid=sweep-results]')).not.toBeNull())
    expect(el.querySelector('[data-testid=overfitting]')).toBeNull()
  })
})

describe('heatmapOf', () => {
  it('is null unless exactly two parameters vary', () => {
    expect(heatmapOf([point(0, 5, 40, 1), point(1, 10, 40, 2)])).toBeNull()
    const three = [point(0, 5, 40, 1), point(1, 10, 60, 2)].map((p, i) => ({ ...p, params: { ...p.params, z: i } }))
    expect(heatmapOf(three)).toBeNull()
  })

  it('orders numeric values by value and keeps the feasible range', () => {
    const m = heatmapOf([point(0, 10, 40, 3), point(1, 5, 40, 1), point(2, 5, 100, 2, { feasible: false }), point(3, 10, 100, 9)])!
    expect([m.x, m.y, m.xs, m.ys]).toEqual(['fast', 'slow', [5, 10], [40, 100]])
    expect(m.cells.map((r) => r.map((p) => p?.index))).toEqual([[1, 0], [2, 3]])
    expect([m.lo, m.hi]).toEqual([1, 9])
  })
})
