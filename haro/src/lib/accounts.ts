// Accounts in the dashboard: their paths (API and page), the order they are listed in, which
// positions are worth a row, and what a Close will close, in words.
import type { Account, AccountPosition } from '../api/types'
import { fmtQty } from './format'
import { accountOfEvent } from './risk'

type AccountId = Pick<Account, 'venue' | 'number'>

/** `alpaca/PA3FAKE0001` → `alpaca/PA3FAKE0001` with each part encoded (the path of the API and
 * of the page both end with it). */
export const accountSegments = (a: AccountId) => `${encodeURIComponent(a.venue)}/${encodeURIComponent(a.number)}`

/** The account's page. `null` for an account without a number (a server from before per-run
 * paper accounts listed one `sim` aggregate, which has no page). */
export function accountHref(a: Partial<AccountId>): string | null {
  return a.venue && a.number ? `/ui/accounts/${accountSegments({ venue: a.venue, number: a.number })}` : null
}

/** The account id from the page's route parameters. */
export const accountId = (venue: string, number: string) => `${venue}/${number}`

/** Simulated accounts last (there is one per simulated run), real money first; simulated ones
 * newest run first. */
export function sortAccounts<A extends Pick<Account, 'id' | 'venue' | 'live' | 'run_id'>>(accounts: readonly A[]): A[] {
  const rank = (a: A) => (a.live ? 0 : a.venue === 'sim' ? 2 : 1)
  return [...accounts].sort((a, b) => rank(a) - rank(b) || (b.run_id ?? 0) - (a.run_id ?? 0) || a.id.localeCompare(b.id))
}

/** An account worth listing by default: not simulated, or with an active run (there is one
 * simulated account per simulated run ever started). */
export const busyAccount = (a: Pick<Account, 'venue' | 'runs'>) => a.venue !== 'sim' || a.runs > 0

/** A position worth a row: the broker holds some, or a run's records say it does (a difference
 * the table must show). */
export const heldPosition = (p: AccountPosition) => p.qty !== 0 || p.unattributed !== 0 || p.runs.some((r) => r.qty !== 0)

export const heldPositions = (ps: readonly AccountPosition[] | null | undefined) => (ps ?? []).filter(heldPosition)

const sideOf = (qty: number) => (qty < 0 ? 'buys back' : 'sells')

/** What "Close" of a whole position does, in words: each run's share and the unattributed rest. */
export function closeWholeText(account: Pick<Account, 'id'>, p: AccountPosition): string[] {
  const side = p.qty < 0 ? 'Buys back' : 'Sells'
  const lines = [`${side} all ${fmtQty(Math.abs(p.qty))} ${p.symbol} on ${account.id} with market orders:`]
  for (const r of p.runs.filter((r) => r.qty !== 0)) lines.push(`run #${r.run_id}'s share of ${fmtQty(r.qty)}, through the run`)
  if (p.unattributed !== 0) lines.push(`the ${fmtQty(p.unattributed)} no active run holds, on the account`)
  return lines
}

/** What "Close" of one run's share does, in words. */
export function closeShareText(p: AccountPosition, runId: number, qty: number): string {
  const rest = p.qty - qty
  return `A market order ${sideOf(qty)} run #${runId}'s ${fmtQty(Math.abs(qty))} ${p.symbol}, through the run. ` +
    (rest === 0 ? 'That is the whole position.' : `The rest of the position (${fmtQty(rest)}) stays.`)
}

/** The page of an account named by its id (`alpaca/PA3FAKE0001`, as events name it). */
export function hrefOfId(id: string): string | null {
  const i = id.indexOf('/')
  return i > 0 ? accountHref({ venue: id.slice(0, i), number: id.slice(i + 1) }) : null
}

/** A `reconcile.PositionMismatch` whose difference is zero: the broker and the records agree again. */
export const mismatchGone = (data: unknown) => {
  const diff = (data as { difference?: unknown } | null)?.difference
  return diff !== undefined && diff !== null && Number(diff) === 0
}

/** A `reconcile.*` event in one line; null for other events. */
export function reconcileSummary(type: string, data: unknown): string | null {
  const t = type.replace(/^ui\./, '')
  if (!t.startsWith('reconcile.')) return null
  const d = (data ?? {}) as Record<string, unknown>
  const n = (v: unknown) => (v === null || v === undefined ? '?' : fmtQty(v as number | string))
  if (t === 'reconcile.PositionMismatch') {
    const where = `${String(d.symbol ?? '?')} on ${accountOfEvent(d) ?? '?'}: broker ${n(d.broker_qty)}, Weaver ${n(d.recorded_qty)}`
    // A difference of zero says an earlier mismatch is gone.
    return mismatchGone(d) ? `Position agrees again: ${where}` : `Position mismatch ${where}`
  }
  return t
}
