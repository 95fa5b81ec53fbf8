// Pure helpers behind the backtest report: sorting and filtering the trades table, and turning
// trades into chart markers and points (lightweight-charts wants UTC seconds, ascending, unique).
import type { ReportTrade } from '../api/types'

export type SortDir = 'asc' | 'desc'
export type TradeKey = keyof ReportTrade

// One collator for every sort: `localeCompare` looks up the locale's collation on each of the
// ~200,000 comparisons a sort of 14,000 trades makes.
const collator = new Intl.Collator('en-US')

export function sortRows<T>(rows: readonly T[], key: keyof T, dir: SortDir): T[] {
  const sign = dir === 'asc' ? 1 : -1
  return [...rows].sort((a, b) => {
    const x = a[key]
    const y = b[key]
    if (x === y) return 0
    if (x === null || x === undefined) return 1 // blanks last either way
    if (y === null || y === undefined) return -1
    if (typeof x === 'number' && typeof y === 'number') return (x - y) * sign
    return collator.compare(String(x), String(y)) * sign
  })
}

export interface TradeFilter {
  symbol?: string
  side?: 'all' | 'long' | 'short'
  outcome?: 'all' | 'win' | 'loss'
}

export function filterTrades(rows: readonly ReportTrade[], f: TradeFilter): ReportTrade[] {
  const sym = f.symbol?.trim().toUpperCase() ?? ''
  return rows.filter(
    (t) =>
      (!sym || t.symbol.toUpperCase().includes(sym)) &&
      (f.side === undefined || f.side === 'all' || (f.side === 'long' ? t.size > 0 : t.size < 0)) &&
      (f.outcome === undefined || f.outcome === 'all' || (f.outcome === 'win' ? t.pnl > 0 : t.pnl <= 0)),
  )
}

/** RFC 3339 → UTC seconds (the chart's time unit). */
export function toSeconds(ts: string): number {
  return Math.floor(new Date(ts).getTime() / 1000)
}

export interface Marker {
  time: number
  position: 'belowBar' | 'aboveBar'
  color: string
  shape: 'arrowUp' | 'arrowDown'
  text: string
  id: string
}

export const UP = '#26a69a'
export const DOWN = '#ef5350'

/**
 * Entry and exit markers of the trades of `symbol`: buys below the bar (green, up), sells above
 * (red, down). A long enters with a buy and exits with a sell; a short the other way round.
 * Sorted by time, as the chart requires.
 */
export function tradesToMarkers(trades: readonly ReportTrade[], symbol?: string, labelUpTo = 20): Marker[] {
  const out: Marker[] = []
  // Past a handful of trades the labels overlap into noise; the chart's hover shows the details.
  const labelled = trades.filter((t) => !symbol || t.symbol === symbol).length <= labelUpTo
  trades.forEach((t, i) => {
    if (symbol && t.symbol !== symbol) return
    const long = t.size > 0
    const qty = Math.abs(t.size)
    const mark = (buy: boolean, ts: string, price: number, what: string): Marker => ({
      time: toSeconds(ts),
      position: buy ? 'belowBar' : 'aboveBar',
      color: buy ? UP : DOWN,
      shape: buy ? 'arrowUp' : 'arrowDown',
      text: labelled ? `${buy ? 'BUY' : 'SELL'} ${qty} @ ${price}` : '',
      id: `${what}-${i}`,
    })
    out.push(mark(long, t.entry_time, t.entry_price, 'entry'))
    out.push(mark(!long, t.exit_time, t.exit_price, 'exit'))
  })
  return out.sort((a, b) => a.time - b.time)
}

/** Points keyed by time, ascending, the last value winning for a repeated second. */
export function toLinePoints<T>(rows: readonly T[], time: (r: T) => string, value: (r: T) => number) {
  const m = new Map<number, number>()
  for (const r of rows) m.set(toSeconds(time(r)), value(r))
  return [...m.entries()].sort((a, b) => a[0] - b[0]).map(([t, v]) => ({ time: t, value: v }))
}

/** The trades touching a bar time (for the chart's hover details). */
export function tradesAt(trades: readonly ReportTrade[], seconds: number): ReportTrade[] {
  return trades.filter((t) => toSeconds(t.entry_time) === seconds || toSeconds(t.exit_time) === seconds)
}
