// The `ui.*` event feed: which cached queries an event makes stale, and a batcher that
// coalesces invalidations (a paper run emits bars many times a second).
import type { UiEvent } from '../api/types'
import { reconcileSummary } from './accounts'
import { accountOfEvent, riskSummary } from './risk'
import { versionSummary, type NameOf } from './versions'

export type QueryKey = readonly unknown[]

/**
 * The query keys an event invalidates (prefix match, as TanStack Query does).
 * Event types are `ui.` + `<namespace>.<Name>`; the namespace says what changed.
 * `['account']` alone is every account page (one at most is open): fills and runs move an
 * account's figures and the runs' shares of its positions.
 */
export function keysForEvent(ev: Pick<UiEvent, 'type' | 'run_id'> & { data?: unknown }): QueryKey[] {
  const [ns, name] = ev.type.replace(/^ui\./, '').split('.')
  const run = ev.run_id ? [['run', String(ev.run_id)]] : []
  const account = accountOfEvent(ev.data)
  switch (ns) {
    case 'strategy':
      return [['strategies']]
    case 'run':
      // A heartbeat moves a run's figures, not the list of runs.
      return name === 'Heartbeat' ? [...run, ['accounts'], ['account']] : [['runs'], ['accounts'], ['account'], ...run]
    case 'orders':
    case 'live':
      return [['orders'], ['accounts'], ['account'], ...run, ['run-orders']]
    case 'backtest':
      // A sweep's or a walk-forward's status change refreshes those, not the backtests.
      if (name === 'SweepStatusChanged') return [['sweeps']]
      return name === 'WalkForwardStatusChanged' ? [['walkforward']] : [['backtests']]
    case 'data':
      return [['candles']]
    case 'market':
      // A bar moves a run's equity and positions, and so its account's: both refetch in the
      // same batch, so the account card and the run card agree at the same instant.
      return ev.run_id ? [...run, ['accounts'], ['account']] : []
    case 'trading':
      return [['trading-state']]
    case 'risk':
      // An account's own limits, breach or state: the accounts list and that account's page.
      if (account) return [['accounts'], ['account', account], ...run]
      // A denial, a breach, new limits or a state set by hand: the run's risk panel, and the
      // page of its paper account when it is a simulated run (`sim/<run id>` shows the run's
      // limits and state; for a run on a broker no such page is cached, so nothing refetches).
      return ev.run_id ? [...run, ['account', `sim/${ev.run_id}`]] : []
    case 'reconcile':
      // The broker's position and Weaver's records differ: the account's positions.
      return [['accounts'], account ? ['account', account] : ['account']]
    default:
      return []
  }
}

/** An event in one line for the lists of events: the `risk.*` ones, position mismatches and a
 * run's version switches summarised, others by type. */
export function eventSummary(ev: Pick<UiEvent, 'type' | 'data'> & { run_id?: string | null }, nameOf?: NameOf): string | null {
  return riskSummary(ev.type, ev.data) ?? reconcileSummary(ev.type, ev.data) ?? versionSummary(ev.type, ev.data, ev.run_id, nameOf)
}

/**
 * The feed after `ev` arrives, newest first: at most `cap` routine events and, apart from them,
 * at most `cap` notable ones (those `eventSummary` describes: risk, mismatches, version switches).
 * A busy run emits orders and heartbeats by the dozen; they must not push a halt or a version
 * switch off the dashboard within seconds.
 */
export function feedAdd<E extends Pick<UiEvent, 'type' | 'data'> & { run_id?: string | null }>(feed: readonly E[], ev: E, cap: number): E[] {
  let notable = 0
  let routine = 0
  return [ev, ...feed].filter((e) => (eventSummary(e) === null ? ++routine <= cap : ++notable <= cap))
}

/**
 * Collects items and hands them to `flush` together, at most once per `ms` (the first item of a
 * batch starts the wait): a burst becomes one call.
 */
export function createBuffer<T>(flush: (items: T[]) => void, ms: number) {
  let pending: T[] = []
  let timer: ReturnType<typeof setTimeout> | null = null
  return {
    add(items: readonly T[]) {
      pending.push(...items)
      if (timer === null && pending.length > 0) {
        timer = setTimeout(() => {
          timer = null
          const batch = pending
          pending = []
          flush(batch)
        }, ms)
      }
    },
    cancel() {
      if (timer !== null) clearTimeout(timer)
      timer = null
      pending = []
    },
  }
}

/**
 * Collects keys and flushes them at most once per `ms`: a burst of events becomes one refetch
 * per affected query.
 */
export function createBatcher(flush: (keys: QueryKey[]) => void, ms = 300) {
  return createBuffer<QueryKey>((keys) => flush([...new Map(keys.map((k) => [JSON.stringify(k), k])).values()]), ms)
}
