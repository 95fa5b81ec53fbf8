// @vitest-environment jsdom
// The backtest page's "By symbol" table (issue #24), against a stubbed server: a two-symbol
// report shows one row per symbol and the total, formatted like the rest of the report; a click
// on a column sorts the rows (the total stays last); a one-symbol report has no such table, and
// the trades table keeps its symbol filter.
import { act, createElement as h } from 'react'
import { Route, Routes } from 'react-router'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { mountApp, unmountApp } from '../test/mount'
import type { SymbolStats } from '../api/types'
import { json, routes, until, useStubFetch } from '../test/stub-fetch'
import BacktestDetail from './backtest-detail'

vi.mock('lightweight-charts', () => import('../test/fake-chart'))

useStubFetch()

const row = (symbol: string | undefined, o: Partial<SymbolStats>): SymbolStats => ({
  ...(symbol ? { symbol } : {}), trades: 0, open_trades: 0, win_rate_pct: null, net_pnl: 0, pnl_share_pct: null,
  contribution_pct: 0, commissions: 0, best_trade_pct: null, worst_trade_pct: null, avg_trade_pct: null, exposure_time_pct: 0, ...o,
})

const trade = (symbol: string, pnl: number) => ({
  symbol, entry_bar: 1, exit_bar: 2, entry_time: '2024-01-02T00:00:00Z', exit_time: '2024-01-03T00:00:00Z',
  size: 1, entry_price: 10, exit_price: 10 + pnl, pnl, commission: 0.5, return_pct: pnl * 10,
})

function backtest(symbols: string[], bySymbol: unknown) {
  return {
    id: 7, status: 'done', error: null, created_at: '2024-01-05T00:00:00Z',
    config: { strategy: 1, symbols, timeframe: '1Day' },
    report: {
      strategy: { name: 'donchian-breakout' },
      data: symbols.map((s) => ({ symbol: s, bars: 5, start: '2024-01-01T00:00:00Z', end: '2024-01-05T00:00:00Z' })),
      metrics: { trades: 3, return_pct: 0.39 },
      trades: [trade('AAA', 18), trade('BBB', 23), trade('AAA', -2)].filter((t) => symbols.includes(t.symbol)),
      open_trades: [],
      equity: [],
      by_symbol: bySymbol,
    },
  }
}

const TWO = {
  symbols: [
    row('AAA', { trades: 2, win_rate_pct: 50, net_pnl: 16, pnl_share_pct: 41.0256, contribution_pct: 0.16, commissions: 1, best_trade_pct: 180, worst_trade_pct: -20, avg_trade_pct: 51.2, exposure_time_pct: 60 }),
    row('BBB', { trades: 1, open_trades: 1, win_rate_pct: 100, net_pnl: 23, pnl_share_pct: 58.9744, contribution_pct: 0.23, commissions: 0.5, best_trade_pct: 230, worst_trade_pct: 230, avg_trade_pct: 230, exposure_time_pct: 40 }),
  ],
  total: row(undefined, { trades: 3, open_trades: 1, win_rate_pct: 66.6667, net_pnl: 39, pnl_share_pct: 100, contribution_pct: 0.39, commissions: 1.5, best_trade_pct: 230, worst_trade_pct: -20, avg_trade_pct: 100.5, exposure_time_pct: 80 }),
}

let el: HTMLElement
afterEach(unmountApp)

function mount() {
  ;({ el } = mountApp(h(Routes, null, h(Route, { path: '/ui/backtests/:id', element: h(BacktestDetail) })), '/ui/backtests/7'))
}

const cells = (tr: Element) => [...tr.querySelectorAll('td, th')].map((c) => c.textContent)
const symbolsShown = () => [...el.querySelectorAll('[data-testid=by-symbol-row]')].map((r) => r.children[0].textContent)

function stub(b: unknown) {
  routes['GET /backtests/7'] = () => json(200, b)
  routes['GET /strategies'] = () => json(200, [])
  routes['GET /candles'] = () => json(200, [])
}

describe('the By symbol table', () => {
  it('shows each symbol and the total of a two-symbol backtest, formatted', async () => {
    stub(backtest(['AAA', 'BBB'], TWO))
    mount()
    await until(() => expect(el.querySelector('[data-testid=by-symbol-table]')).not.toBeNull())
    expect([...el.querySelectorAll('h2')].map((x) => x.textContent)).toContain('By symbol')
    expect(symbolsShown()).toEqual(['AAA', 'BBB'])
    const [aaa] = el.querySelectorAll('[data-testid=by-symbol-row]')
    expect(cells(aaa)).toEqual(['AAA', '2', '50.00%', '+$16.00', '41.03%', '0.16%', '$1.00', '180.00%', '-20.00%', '51.20%', '60.00%', '0'])
    const total = el.querySelector('[data-testid=by-symbol-total]')!
    expect(cells(total)).toEqual(['Total', '3', '66.67%', '+$39.00', '100.00%', '0.39%', '$1.50', '230.00%', '-20.00%', '100.50%', '80.00%', '1'])
    // The trades table and its symbol filter stay.
    expect(el.querySelector('input[aria-label="Filter by symbol"]')).not.toBeNull()
  })

  it('sorts by a column, the total kept last', async () => {
    stub(backtest(['AAA', 'BBB'], TWO))
    mount()
    await until(() => expect(el.querySelector('[data-testid=by-symbol-table]')).not.toBeNull())
    const header = (label: string) => [...el.querySelectorAll<HTMLButtonElement>('[data-testid=by-symbol-table] th button')].find((b) => b.textContent?.startsWith(label))!
    act(() => header('Net PnL').click())
    expect(symbolsShown()).toEqual(['AAA', 'BBB'])
    act(() => header('Net PnL').click())
    expect(symbolsShown()).toEqual(['BBB', 'AAA'])
    expect(header('Net PnL').closest('th')!.getAttribute('aria-sort')).toBe('descending')
    act(() => header('Worst trade').click())
    expect(symbolsShown()).toEqual(['AAA', 'BBB'])
    const table = el.querySelector('[data-testid=by-symbol-table]')!
    expect(table.querySelector('tfoot [data-testid=by-symbol-total]')).not.toBeNull()
  })

  it('is not shown for one symbol', async () => {
    stub(backtest(['AAA'], { symbols: [TWO.symbols[0]], total: TWO.symbols[0] }))
    mount()
    await until(() => expect(el.querySelector('[data-testid=trades-table]')).not.toBeNull())
    expect(el.querySelector('[data-testid=by-symbol-table]')).toBeNull()
  })
})
