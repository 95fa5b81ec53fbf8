// The `ui.*` event feed: which cached queries an event makes stale, and a batcher that
// coalesces invalidations (a paper run emits bars many times a second).
import type { UiEvent } from '../api/types'
import { riskSummary } from './risk'

export type QueryKey = readonly unknown[]

/**
 * The query keys an event invalidates (prefix match, as TanStack Query does).
 * Event types are `ui.` + `<namespace>.<Name>`; the namespace says what changed.
 */
export function keysForEvent(ev: Pick<UiEvent, 'type' | 'run_id'>): QueryKey[] {
  const [ns, name] = ev.type.replace(/^ui\./, '').split('.')
  const run = ev.run_id ? [['run', String(ev.run_id)]] : []
  switch (ns) {
    case 'strategy':
      return [['strategies']]
    case 'run':
      // A heartbeat moves a run's figures, not the list of runs.
      return name === 'Heartbeat' ? [...run, ['accounts']] : [['runs'], ['accounts'], ...run]
    case 'orders':
    case 'live':
      return [['orders'], ['accounts'], ...run, ['run-orders']]
    case 'backtest':
      return [['backtests']]
    case 'data':
      return [['candles']]
    case 'market':
      // A bar moves a run's equity and positions; nothing else.
      return run
    case 'trading':
      return [['trading-state']]
    case 'risk':
      // A denial, a breach, new limits or a state set by hand: the run's risk panel.
      return run
    default:
      return []
  }
}

/** An event in one line for the lists of events: the `risk.*` ones summarised, others by type. */
export function eventSummary(ev: Pick<UiEvent, 'type' | 'data'>): string | null {
  return riskSummary(ev.type, ev.data)
}

/**
 * Collects keys and flushes them at most once per `ms`: a burst of events becomes one refetch
 * per affected query.
 */
export function createBatcher(flush: (keys: QueryKey[]) => void, ms = 300) {
  const pending = new Map<string, QueryKey>()
  let timer: ReturnType<typeof setTimeout> | null = null
  return {
    add(keys: QueryKey[]) {
      for (const k of keys) pending.set(JSON.stringify(k), k)
      if (timer === null && pending.size > 0) {
        timer = setTimeout(() => {
          timer = null
          const batch = [...pending.values()]
          pending.clear()
          flush(batch)
        }, ms)
      }
    },
    cancel() {
      if (timer !== null) clearTimeout(timer)
      timer = null
      pending.clear()
    },
  }
}
