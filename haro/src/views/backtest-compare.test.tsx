// @vitest-environment jsdom
// Comparing backtests against a stubbed server: three of them by `?ids=`, each metric with its
// delta against the first and the better value marked, the parameters that differ highlighted,
// every equity curve on one chart; and the older `?a=&b=` link still comparing two.
import { createElement as h } from 'react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { mountApp, unmountApp } from '../test/mount'
import type { Backtest } from '../api/types'
import { json, routes, until, useStubFetch } from '../test/stub-fetch'
import BacktestCompare from './backtest-compare'

vi.mock('../components/charts', () => ({
  LineChart: ({ lines, testId }: { lines: { name: string; color: string; points: unknown[] }[]; testId: string }) =>
    h('div', { 'data-testid': testId }, lines.map((l) => `${l.name}:${l.color}:${l.points.length}`).join(' ')),
}))

useStubFetch()

let el: HTMLElement
afterEach(unmountApp)

const equity = (n: number) => Array.from({ length: n }, (_, i) => ({ ts: new Date(Date.UTC(2024, 0, i + 1)).toISOString(), equity: 10000 + i, drawdown_pct: 0 }))

const backtest = (id: number, params: Record<string, unknown>, metrics: Record<string, number | string | null>, extra: Record<string, unknown> = {}): Backtest => ({
  id, status: 'done', error: null, created_at: '2026-01-01T00:00:00Z', memory_estimate_mb: null, waiting_for: null, queue_position: null,
  config: { strategy: 'sma-cross', symbols: ['GOOG'], timeframe: '1Day', params, ...extra },
  report: { strategy: { name: 'sma-cross', params }, metrics, trades: [], equity: equity(id + 2) },
}) as unknown as Backtest

function mount(url: string) {
  ;({ el } = mountApp(h(BacktestCompare), url))
}

const row = (table: string, key: string) => el.querySelector(`[data-testid=${table}] tr[data-metric="${key}"]`)!
const texts = (tr: Element) => [...tr.children].slice(1).map((td) => td.textContent)

describe('comparing backtests', () => {
  it('shows deltas against the first, marks the better value and the differing params', async () => {
    routes['GET /backtests/1'] = () => json(200, backtest(1, { fast: 5, slow: 20 }, { return_pct: 10, max_drawdown_pct: -20, volatility_ann_pct: 15, trades: 12 }))
    routes['GET /backtests/2'] = () => json(200, backtest(2, { fast: 10, slow: 20 }, { return_pct: 14, max_drawdown_pct: -12, volatility_ann_pct: 18, trades: 30 }, { cash: 5000 }))
    routes['GET /backtests/3'] = () => json(200, backtest(3, { fast: 5, slow: 20 }, { return_pct: 6, max_drawdown_pct: -30, volatility_ann_pct: 11, trades: 4 }))
    mount('/ui/backtests/compare?ids=1,2,3')
    await until(() => expect(el.querySelector('[data-testid=compare-metrics]')).not.toBeNull())
    expect(el.querySelector('h1')!.textContent).toBe('Compare #1, #2, #3')
    expect(texts(row('compare-metrics', 'return_pct'))).toEqual(['10.00%', '14.00% ▲Δ +4.00%', '6.00%Δ −4.00%'])
    expect(texts(row('compare-metrics', 'max_drawdown_pct'))).toEqual(['-20.00%', '-12.00% ▲Δ +8.00%', '-30.00%Δ −10.00%'])
    expect(texts(row('compare-metrics', 'volatility_ann_pct'))).toEqual(['15.00%', '18.00%Δ +3.00%', '11.00% ▲Δ −4.00%'])
    const best = (key: string) => [...row('compare-metrics', key).querySelectorAll<HTMLTableCellElement>('td[data-best]')].map((td) => td.cellIndex)
    expect(best('return_pct')).toEqual([2])
    expect(best('volatility_ann_pct')).toEqual([3])
    // a trade count does not rank
    expect(best('trades')).toEqual([])
    const params = [...el.querySelectorAll('[data-testid=compare-params] tbody tr')]
    expect(params.map((r) => [r.children[0].textContent, r.classList.contains('differs')])).toEqual([['fast (differs)', true], ['slow', false]])
    expect(texts(params[0])).toEqual(['5', '10', '5'])
    const settings = [...el.querySelectorAll('[data-testid=compare-settings] tr[data-differs]')]
    expect(settings.map((r) => r.children[0].textContent)).toEqual(['cash (differs)'])
    expect(el.querySelector('[data-testid=compare-chart]')!.textContent).toBe('#1:#2962ff:3 #2:#f57c00:4 #3:#2e7d32:5')
  })

  it('keeps ?a=&b= working for two', async () => {
    routes['GET /backtests/4'] = () => json(200, backtest(4, { fast: 5 }, { sharpe: 1 }))
    routes['GET /backtests/9'] = () => json(200, backtest(9, { fast: 6 }, { sharpe: 2 }))
    mount('/ui/backtests/compare?a=4&b=9')
    await until(() => expect(el.querySelector('[data-testid=compare-metrics]')).not.toBeNull())
    expect([...el.querySelectorAll('[data-testid=compare-metrics] thead th')].map((t) => t.textContent)).toEqual(['Metric', '#4 sma-cross', '#9 sma-cross'])
    expect(texts(row('compare-metrics', 'sharpe'))).toEqual(['1.00', '2.00 ▲Δ +1.00'])
  })

  it('waits for a report still being made', async () => {
    routes['GET /backtests/1'] = () => json(200, backtest(1, {}, { sharpe: 1 }))
    routes['GET /backtests/2'] = () => json(200, { ...backtest(2, {}, {}), status: 'running', report: null })
    mount('/ui/backtests/compare?ids=1,2')
    await until(() => expect(el.textContent).toContain('Every backtest needs a finished report'))
  })
})
