// Pure helpers behind a run's charts and the run list: fills as chart markers at their bar
// times, a run's progress in words, its parameters in one line, and a sparkline's SVG points.
import type { BarFill, Progress } from '../api/run-charts'
import { DOWN, toSeconds, UP, type Marker } from './trades'

/**
 * The fills of `symbol` as markers on its price chart, at their **bar** times (`bar_ts`), never
 * at the wall-clock time a live venue filled them: a marker must sit on a bar the chart has.
 * Buys below the bar (green, up), sells above (red, down); labelled while there are few.
 */
export function fillsToMarkers(fills: readonly BarFill[], symbol: string, labelUpTo = 20): Marker[] {
  const mine = fills.filter((f) => f.symbol === symbol)
  const labelled = mine.length <= labelUpTo
  return mine
    .map((f, i) => {
      const buy = f.side === 'buy'
      return {
        time: toSeconds(f.bar_ts),
        position: buy ? 'belowBar' : 'aboveBar',
        color: buy ? UP : DOWN,
        shape: buy ? 'arrowUp' : 'arrowDown',
        text: labelled ? `${buy ? 'BUY' : 'SELL'} ${f.qty} @ ${f.price}` : '',
        id: `fill-${f.order_id}-${i}`,
      } satisfies Marker
    })
    .sort((a, b) => a.time - b.time)
}

/** Bars done of bars total, with the share done (0–100, at most 100) when the total is known. */
export function progressOf(p: Progress | null | undefined): { done: number; total: number | null; pct: number | null } | null {
  if (!p) return null
  const total = p.bars_total ?? null
  const pct = total ? Math.min(100, (p.bars_done / total) * 100) : null
  return { done: p.bars_done, total, pct }
}

/** A run's parameters in one line: `fast=5 slow=20` (keys sorted; objects as JSON). */
export function paramsLine(params: unknown): string {
  if (!params || typeof params !== 'object') return ''
  return Object.entries(params as Record<string, unknown>)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ')
}

/**
 * The `points` attribute of an SVG polyline drawing `values` in a `w` × `h` box (x evenly over
 * the width, the lowest value at the bottom, a flat line in the middle), or '' for no values.
 */
export function sparkPoints(values: readonly number[], w: number, h: number, pad = 1): string {
  if (values.length === 0) return ''
  const lo = Math.min(...values)
  const hi = Math.max(...values)
  const span = hi - lo
  const step = values.length > 1 ? (w - 2 * pad) / (values.length - 1) : 0
  const y = (v: number) => (span === 0 ? h / 2 : pad + (1 - (v - lo) / span) * (h - 2 * pad))
  return values.map((v, i) => `${round(pad + i * step)},${round(y(v))}`).join(' ')
}

const round = (n: number) => Math.round(n * 10) / 10
