// @vitest-environment jsdom
// The run list against a stubbed server: each run's parameters, equity, PnL and a sparkline of its
// equity curve, the page's sparklines fetched in one request (not one per row), a running sim
// run's progress, and the next page of runs asking for its own sparklines once.
import { act, createElement as h } from 'react'
import { afterEach, describe, expect, it } from 'vitest'
import { mountApp, unmountApp } from '../test/mount'
import type { Sparkline } from '../api/run-charts'
import type { Run } from '../api/types'
import { json, routes, sent, until, useStubFetch } from '../test/stub-fetch'
import { Runs, RUNS_PER_PAGE } from './runs'

useStubFetch()

let el: HTMLElement
afterEach(unmountApp)

const run = (id: number, extra: Partial<Run> = {}): Run => ({
  id, strategy_id: 1, strategy_name: 'sma-cross', params: { slow: 20, fast: 5 }, mode: 'paper', venue: 'sim', symbols: ['GOOG'],
  timeframe: '1Day', status: 'stopped', error_code: null, created_at: '2026-01-01T00:00:00Z', started_at: null, stopped_at: null,
  starting_cash: 10000, cash: 10000, equity: 10250.5, pnl: { realized: 200, unrealized: 50.5, total: 250.5 }, positions: [],
  last_trade: null, figures: null, risk: {}, trading_state: 'active', risk_state: null, options: null, ...extra,
}) as Run

const spark = (id: number, values: number[], progress = { bars_done: 2000, bars_total: 2000 }): Sparkline => ({
  run_id: id, points: values.map((equity, i) => ({ ts: new Date(Date.UTC(2024, 0, i + 1)).toISOString(), equity })), progress,
})

function mount() {
  ;({ el } = mountApp(h(Runs)))
}

const cells = (tr: Element, id: string) => tr.querySelector(`[data-testid=${id}]`)?.textContent

describe('the run list', () => {
  it('shows params, equity, PnL and each sparkline from one request', async () => {
    routes['GET /strategies'] = () => json(200, [])
    routes['GET /venues'] = () => json(200, [])
    routes['GET /runs'] = () => json(200, [
      run(3, { status: 'running', equity: 9900, pnl: { realized: 0, unrealized: -100, total: -100 } }),
      run(2),
      run(1, { params: {} }),
    ])
    routes['GET /runs/sparklines'] = (_b, url) => {
      expect(url.searchParams.get('ids')).toBe('3,2,1')
      expect(url.searchParams.get('points')).toBe('40')
      return json(200, { items: [spark(3, [10000, 9950, 9900], { bars_done: 500, bars_total: 2000 }), spark(2, [10000, 10100, 10250.5])] })
    }
    mount()
    await until(() => expect(el.querySelectorAll('svg.spark')).toHaveLength(2), 10_000)
    const rows = [...el.querySelectorAll('[data-testid=runs-table] tbody tr')]
    expect(rows.map((r) => cells(r, 'run-params'))).toEqual(['fast=5 slow=20', 'fast=5 slow=20', '—'])
    expect(rows.map((r) => cells(r, 'run-equity'))).toEqual(['$9,900.00', '$10,250.50', '$10,250.50'])
    expect(rows.map((r) => r.querySelector('[data-testid=run-pnl] span')?.className)).toEqual(['neg', 'pos', 'pos'])
    // A falling curve is drawn red, a rising one green, over the whole box.
    const lines = [...el.querySelectorAll('svg.spark polyline')]
    expect(lines.map((l) => l.getAttribute('stroke'))).toEqual(['#ef5350', '#26a69a'])
    expect(lines[1].getAttribute('points')).toBe('1,23 48,14.2 95,1')
    expect(rows[0].querySelector('svg')?.getAttribute('aria-label')).toBe('Equity of run 3')
    expect(cells(rows[0], 'run-spark-progress')).toBe('25%')
    expect(cells(rows[1], 'run-spark-progress')).toBeUndefined()
    expect(cells(rows[2], 'run-spark')).toBe('—')
    expect(sent.filter((s) => s.path === '/runs/sparklines')).toHaveLength(1)
  }, 20_000)

  it('asks for the sparklines of the page shown only', async () => {
    const many = Array.from({ length: RUNS_PER_PAGE + 5 }, (_, i) => run(RUNS_PER_PAGE + 5 - i))
    const asked: string[] = []
    routes['GET /strategies'] = () => json(200, [])
    routes['GET /venues'] = () => json(200, [])
    routes['GET /runs'] = () => json(200, many)
    routes['GET /runs/sparklines'] = (_b, url) => {
      asked.push(url.searchParams.get('ids')!)
      return json(200, { items: [] })
    }
    mount()
    // A page of 50 rows renders slowly on a busy machine: wait longer than the default.
    await until(() => expect(asked).toHaveLength(1), 15_000)
    expect(asked[0].split(',')).toHaveLength(RUNS_PER_PAGE)
    await until(() => expect(el.querySelector('[data-testid=pager-next]')).not.toBeNull(), 15_000)
    await act(async () => el.querySelector<HTMLElement>('[data-testid=pager-next]')!.click())
    await until(() => expect(asked).toHaveLength(2), 15_000)
    expect(asked[1]).toBe('5,4,3,2,1')
  }, 40_000)
})
