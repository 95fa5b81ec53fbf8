// The dashboard's first-run card: when it shows, what it preselects.
import type { CandleSeries, Strategy } from '../api/types'

/** The example strategy the card offers first. */
export const FIRST_STRATEGY = 'sma-cross'

export interface FirstRunInput {
  series: number
  backtests: number
  runs: number
  /** The user closed the card (settings.firstRun() === 'dismissed'). */
  dismissed: boolean
  /** The card was shown before because it was needed (it stays until dismissed). */
  started: boolean
}

/**
 * The card is needed while there is no candle series, or no backtest and no run yet. Once it
 * has shown it stays (steps done are ticked off) until dismissed, which is possible once the
 * user has a backtest or a run.
 */
export function firstRunState(i: FirstRunInput) {
  const hasData = i.series > 0
  const hasActivity = i.backtests > 0 || i.runs > 0
  const needed = !hasData || !hasActivity
  const canDismiss = hasActivity
  const dismissed = canDismiss && i.dismissed
  const show = !dismissed && (needed || i.started)
  return { show, needed, canDismiss, hasData, hasActivity }
}

/** Ready strategies, the example `sma-cross` first (its newest version), then by name. */
export function strategyChoices(list: Strategy[] | undefined): Strategy[] {
  const ready = (list ?? []).filter((s) => s.status === 'ready')
  const first = (s: Strategy) => (s.name === FIRST_STRATEGY ? 0 : 1)
  return ready.sort((a, b) => first(a) - first(b) || a.name.localeCompare(b.name) || b.id - a.id)
}

/** The series preselected: the first one listed (the server sorts by symbol, then timeframe). */
export const defaultSeries = (series: CandleSeries[] | undefined): CandleSeries | undefined => series?.[0]

/** The newest item by id. */
export function newest<T extends { id: number }>(items: T[] | undefined): T | undefined {
  return (items ?? []).reduce<T | undefined>((a, b) => (a === undefined || b.id > a.id ? b : a), undefined)
}
