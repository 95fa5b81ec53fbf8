import { describe, expect, it } from 'vitest'
import type { ReportTrade } from '../api/types'
import { filterTrades, sortRows, toLinePoints, toSeconds, tradesAt, tradesToMarkers } from './trades'

const t = (o: Partial<ReportTrade>): ReportTrade => ({
  symbol: 'GOOG', entry_bar: 0, exit_bar: 1, entry_time: '2024-01-01T00:00:00Z',
  exit_time: '2024-01-03T00:00:00Z', size: 10, entry_price: 100, exit_price: 110, pnl: 100,
  commission: 1, return_pct: 10, ...o,
})

const trades = [
  t({ symbol: 'GOOG', pnl: 50, size: 10 }),
  t({ symbol: 'AAPL', pnl: -20, size: -5, entry_time: '2024-01-02T00:00:00Z', exit_time: '2024-01-04T00:00:00Z' }),
  t({ symbol: 'GOOGL', pnl: 5, size: 2 }),
]

describe('trade table', () => {
  it('sorts by numbers and by text in both directions', () => {
    expect(sortRows(trades, 'pnl', 'asc').map((x) => x.pnl)).toEqual([-20, 5, 50])
    expect(sortRows(trades, 'pnl', 'desc').map((x) => x.pnl)).toEqual([50, 5, -20])
    expect(sortRows(trades, 'symbol', 'asc').map((x) => x.symbol)).toEqual(['AAPL', 'GOOG', 'GOOGL'])
  })

  it('keeps blanks last and does not mutate its input', () => {
    const rows = [{ v: null as number | null }, { v: 2 }, { v: 1 }]
    expect(sortRows(rows, 'v', 'asc').map((r) => r.v)).toEqual([1, 2, null])
    expect(sortRows(rows, 'v', 'desc').map((r) => r.v)).toEqual([2, 1, null])
    expect(rows[0].v).toBeNull()
  })

  it('filters by symbol text, side and outcome', () => {
    expect(filterTrades(trades, { symbol: 'goog' })).toHaveLength(2)
    expect(filterTrades(trades, { side: 'short' }).map((x) => x.symbol)).toEqual(['AAPL'])
    expect(filterTrades(trades, { outcome: 'loss' }).map((x) => x.symbol)).toEqual(['AAPL'])
    expect(filterTrades(trades, { symbol: 'GOOG', outcome: 'win', side: 'long' })).toHaveLength(2)
    expect(filterTrades(trades, {})).toHaveLength(3)
  })
})

describe('chart data', () => {
  it('marks long entries as buys below the bar and exits as sells above, in time order', () => {
    const m = tradesToMarkers(trades, 'GOOG')
    expect(m).toHaveLength(2)
    expect(m[0]).toMatchObject({ position: 'belowBar', shape: 'arrowUp', text: 'BUY 10 @ 100', time: toSeconds('2024-01-01T00:00:00Z') })
    expect(m[1]).toMatchObject({ position: 'aboveBar', shape: 'arrowDown', text: 'SELL 10 @ 110' })
  })

  it('marks short entries as sells', () => {
    const m = tradesToMarkers(trades, 'AAPL')
    expect(m.map((x) => x.text)).toEqual(['SELL 5 @ 100', 'BUY 5 @ 110'])
    const all = tradesToMarkers(trades)
    expect(all).toHaveLength(6)
    expect(all.map((x) => x.time)).toEqual([...all.map((x) => x.time)].sort((a, b) => a - b))
  })

  it('drops the labels when there are too many trades to read them', () => {
    expect(tradesToMarkers(trades, undefined, 2).every((m) => m.text === '')).toBe(true)
    expect(tradesToMarkers(trades, 'GOOG', 1).every((m) => m.text !== '')).toBe(true)
  })

  it('builds ascending, unique line points', () => {
    const pts = toLinePoints(
      [{ ts: '2024-01-02T00:00:00Z', v: 2 }, { ts: '2024-01-01T00:00:00Z', v: 1 }, { ts: '2024-01-02T00:00:00Z', v: 3 }],
      (r) => r.ts, (r) => r.v,
    )
    expect(pts).toEqual([{ time: toSeconds('2024-01-01T00:00:00Z'), value: 1 }, { time: toSeconds('2024-01-02T00:00:00Z'), value: 3 }])
  })

  it('finds the trades entering or exiting at a bar', () => {
    expect(tradesAt(trades, toSeconds('2024-01-04T00:00:00Z')).map((x) => x.symbol)).toEqual(['AAPL'])
    expect(tradesAt(trades, toSeconds('2024-01-01T00:00:00Z'))).toHaveLength(2)
  })
})
