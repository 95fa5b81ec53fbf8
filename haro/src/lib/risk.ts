// A run's risk limits in the dashboard: the keys (labels, kinds), the edit form's text values,
// the patch of only what changed (a field cleared is `null` = off), why a run is in its trading
// state, and one-line summaries of the `risk.*` events.
import type { RiskBreach, RiskLimits, RiskState } from '../api/types'

export type LimitKind = 'decimal' | 'integer' | 'symbols' | 'cooldown' | 'action' | 'bool'

export interface LimitDef {
  key: keyof RiskLimits
  label: string
  kind: LimitKind
  /** Shown under the field. */
  hint?: string
}

/** Every key of `risk`, in the order the panel shows them. */
export const LIMITS: LimitDef[] = [
  { key: 'max_notional_per_order', label: 'Max notional per order', kind: 'decimal', hint: 'quantity × price' },
  { key: 'max_position_per_symbol', label: 'Max position per symbol', kind: 'decimal', hint: 'units, counting working orders' },
  { key: 'max_gross_exposure', label: 'Max gross exposure', kind: 'decimal' },
  { key: 'max_open_orders', label: 'Max open orders', kind: 'integer' },
  { key: 'max_orders_per_minute', label: 'Max orders per minute', kind: 'integer' },
  { key: 'max_order_quantity', label: 'Max order quantity', kind: 'decimal', hint: 'units' },
  { key: 'max_price_deviation', label: 'Max price deviation', kind: 'decimal', hint: '0.1 = 10 % from the reference price' },
  { key: 'max_order_equity_pct', label: 'Max order, % of equity', kind: 'decimal', hint: '0 < x ≤ 100' },
  { key: 'allowed_symbols', label: 'Allowed symbols', kind: 'symbols', hint: 'comma-separated' },
  { key: 'daily_loss_pct', label: 'Daily loss %', kind: 'decimal', hint: '0 < x ≤ 100' },
  { key: 'daily_loss_action', label: 'On daily loss', kind: 'action' },
  { key: 'reset_next_session', label: 'Daily loss clears next session', kind: 'bool' },
  { key: 'max_drawdown_pct', label: 'Max drawdown %', kind: 'decimal', hint: '0 < x ≤ 100' },
  { key: 'drawdown_action', label: 'On drawdown', kind: 'action' },
  { key: 'cooldown', label: 'Cooldown', kind: 'cooldown', hint: 'losing trades / window minutes / pause minutes' },
]

/** The keys of the run form's optional "Risk limits" section. */
export const COMMON_KEYS = ['daily_loss_pct', 'max_drawdown_pct', 'max_notional_per_order', 'max_open_orders', 'max_orders_per_minute'] as const
export type CommonKey = (typeof COMMON_KEYS)[number]

export const labelOf = (key: string) => LIMITS.find((d) => d.key === key)?.label ?? key

const ACTION_WORDS: Record<string, string> = { reduce_only: 'reduce-only', halted: 'halted', active: 'active' }
export const stateWord = (s: string | null | undefined) => (s ? (ACTION_WORDS[s] ?? s.replace(/_/g, ' ')) : '—')

/** One limit as the table shows it: "off" where null. */
export function showLimit(def: Pick<LimitDef, 'kind'>, v: unknown): string {
  if (v === null || v === undefined) return 'off'
  switch (def.kind) {
    case 'symbols':
      return Array.isArray(v) ? (v.length ? v.join(', ') : 'none') : String(v)
    case 'cooldown': {
      const c = v as { losing_trades: number; window_minutes: number; pause_minutes: number }
      return `${c.losing_trades} losing trades in ${c.window_minutes} min → pause ${c.pause_minutes} min`
    }
    case 'action':
      return stateWord(String(v))
    case 'bool':
      return v ? 'yes' : 'no'
    default:
      return String(v)
  }
}

/** The edit form's values: text per key; the cooldown's three numbers; selects and a checkbox. */
export type LimitValues = Record<string, string>

/** The form's starting text for each key (empty where off). */
export function valuesOf(risk: Partial<RiskLimits>): LimitValues {
  const out: LimitValues = {}
  for (const d of LIMITS) {
    const v = risk[d.key] as unknown
    if (d.kind === 'cooldown') {
      const c = v as RiskLimits['cooldown']
      out['cooldown.losing_trades'] = c ? String(c.losing_trades) : ''
      out['cooldown.window_minutes'] = c ? String(c.window_minutes) : ''
      out['cooldown.pause_minutes'] = c ? String(c.pause_minutes) : ''
    } else if (d.kind === 'symbols') out[d.key] = Array.isArray(v) ? v.join(', ') : ''
    else if (d.kind === 'bool') out[d.key] = v ? 'true' : 'false'
    else if (d.kind === 'action') out[d.key] = v ? String(v) : 'reduce_only'
    else out[d.key] = v === null || v === undefined ? '' : String(v)
  }
  return out
}

const NUMBER = /^\d+(\.\d+)?$/
const INTEGER = /^\d+$/

/** One field's value for the API, or an error in words. Empty is `null` (off). */
function parseOne(d: LimitDef, v: LimitValues): { ok: true; value: unknown } | { ok: false; error: string } {
  const text = (v[d.key] ?? '').trim()
  switch (d.kind) {
    case 'decimal':
      if (!text) return { ok: true, value: null }
      return NUMBER.test(text) ? { ok: true, value: text } : { ok: false, error: 'a number, or empty for off' }
    case 'integer':
      if (!text) return { ok: true, value: null }
      return INTEGER.test(text) ? { ok: true, value: Number(text) } : { ok: false, error: 'a whole number, or empty for off' }
    case 'symbols': {
      if (!text) return { ok: true, value: null }
      return { ok: true, value: text.split(/[\s,]+/).map((s) => s.trim().toUpperCase()).filter(Boolean) }
    }
    case 'bool':
      return { ok: true, value: text === 'true' }
    case 'action':
      return { ok: true, value: text || 'reduce_only' }
    case 'cooldown': {
      const parts = ['losing_trades', 'window_minutes', 'pause_minutes'].map((k) => (v[`cooldown.${k}`] ?? '').trim())
      if (parts.every((p) => !p)) return { ok: true, value: null }
      if (!parts.every((p) => INTEGER.test(p) && Number(p) >= 1)) return { ok: false, error: 'all three whole numbers (at least 1), or all empty for off' }
      const [losing_trades, window_minutes, pause_minutes] = parts.map(Number)
      return { ok: true, value: { losing_trades, window_minutes, pause_minutes } }
    }
  }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null)

/** Compares decimals as numbers ("1000" and "1000.00" are the same limit). */
function sameLimit(d: LimitDef, a: unknown, b: unknown) {
  if (d.kind === 'decimal' && a !== null && a !== undefined && b !== null && b !== undefined) return Number(a) === Number(b)
  return same(a, b)
}

/**
 * The patch of what the form changed against `risk` (only changed keys; a cleared field is
 * `null`), or the errors per key. `only` limits it to some keys (the run form's section).
 */
export function riskPatch(risk: Partial<RiskLimits>, v: LimitValues, only?: readonly string[]):
  { ok: true; patch: Partial<Record<keyof RiskLimits, unknown>> } | { ok: false; errors: Record<string, string> } {
  const patch: Partial<Record<keyof RiskLimits, unknown>> = {}
  const errors: Record<string, string> = {}
  for (const d of LIMITS) {
    if (only && !only.includes(d.key)) continue
    const r = parseOne(d, v)
    if (!r.ok) errors[d.key] = r.error
    else if (!sameLimit(d, r.value, risk[d.key])) patch[d.key] = r.value
  }
  return Object.keys(errors).length ? { ok: false, errors } : { ok: true, patch }
}

/**
 * The whole `risk` object the form describes, for a `PUT` that replaces the limits: every key of
 * `keys` with a value, and none of those left empty (absent = off). Or the errors per key.
 */
export function riskWhole(v: LimitValues, keys: readonly string[] = LIMITS.map((d) => d.key)):
  { ok: true; risk: Partial<Record<keyof RiskLimits, unknown>> } | { ok: false; errors: Record<string, string> } {
  const risk: Partial<Record<keyof RiskLimits, unknown>> = {}
  const errors: Record<string, string> = {}
  for (const d of LIMITS) {
    if (!keys.includes(d.key)) continue
    const r = parseOne(d, v)
    if (!r.ok) errors[d.key] = r.error
    else if (r.value !== null) risk[d.key] = r.value
  }
  return Object.keys(errors).length ? { ok: false, errors } : { ok: true, risk }
}

/** The key a 422 `invalid_risk` names (`details.field`: `risk.daily_loss_pct`, `risk.cooldown.pause_minutes`). */
export function fieldOfError(details: unknown): string | null {
  const f = (details as { field?: unknown } | null)?.field
  if (typeof f !== 'string') return null
  const key = f.replace(/^risk\./, '').split('.')[0]
  return LIMITS.some((d) => d.key === key) ? key : null
}

/** Why a run is in its state: the breaches in force, and whether it was set by hand. */
export interface StateReason {
  breaches: RiskBreach[]
  byHand: boolean
  /** The last cooldown started (in force until its `until`, in bar time). */
  cooldown: RiskBreach | null
}

export function stateReason(state: string, rs: RiskState | null | undefined): StateReason {
  const breaches = rs ? [rs.daily_loss, rs.drawdown].filter((b): b is RiskBreach => Boolean(b)) : []
  const byHand = Boolean(rs && rs.manual && rs.manual !== 'active' && rs.manual === state)
  // Its `until` is bar time (a simulated run replays old bars), so it is shown, not judged here.
  return { breaches, byHand, cooldown: rs?.cooldown ?? null }
}


/** A limit's value in a line of text: "off" where none. */
export const showOff = (v: unknown) => (v === null || v === undefined ? 'off' : typeof v === 'object' ? JSON.stringify(v) : String(v))

/** The account an event names: its id (`alpaca/PA3FAKE0001`), or `{venue, number}` / `{id}`. */
export function accountOfEvent(data: unknown): string | null {
  const a = (data as { account?: unknown } | null)?.account
  if (typeof a === 'string' && a) return a
  const o = a as { id?: unknown; venue?: unknown; number?: unknown } | null | undefined
  if (o && typeof o.id === 'string') return o.id
  if (o && typeof o.venue === 'string' && o.number !== undefined && o.number !== null) return `${o.venue}/${String(o.number)}`
  return null
}
const accountName = (a: unknown) => accountOfEvent({ account: a }) ?? '?'

/** A `risk.*` event in one line; null for other events. */
export function riskSummary(type: string, data: unknown): string | null {
  const t = type.replace(/^ui\./, '')
  if (!t.startsWith('risk.')) return null
  const d = (data ?? {}) as Record<string, unknown>
  const s = (v: unknown) => (v === null || v === undefined ? '?' : String(v))
  switch (t) {
    case 'risk.OrderDenied': {
      const fig = d.figure !== null && d.figure !== undefined && d.limit !== null && d.limit !== undefined ? ` ${s(d.figure)} > ${s(d.limit)}` : ''
      // Refused by an account's limits or state rather than the run's own: say whose.
      const by = accountOfEvent(d)
      return `Order denied${by ? ` by account ${by}` : ''}: ${s(d.rule)}${fig} (${s(d.side)} ${s(d.symbol)})`
    }
    case 'risk.LimitBreached':
      return `Limit breached: ${s(d.rule)} ${s(d.figure)} > ${s(d.limit)} → ${stateWord(s(d.state))}${d.until ? ` until ${s(d.until)}` : ''}`
    case 'risk.LimitsChanged': {
      const o = (d.old ?? {}) as Record<string, unknown>
      const n = (d.new ?? {}) as Record<string, unknown>
      const changed = Object.keys(n).filter((k) => !same(o[k], n[k]))
      return changed.length
        ? `Limits changed: ${changed.map((k) => `${k} ${showOff(o[k])} → ${showOff(n[k])}`).join(', ')}`
        : 'Limits changed'
    }
    case 'risk.TradingStateChanged':
      return `Trading state set to ${stateWord(s(d.state))}`
    // An account's own limits and state (issue #19): the same, naming the account.
    case 'risk.AccountLimitBreached':
      return `Account ${accountName(d.account)} ${s(d.rule)} tripped: ${s(d.figure)} > ${s(d.limit)} → ${stateWord(s(d.state))}${d.until ? ` until ${s(d.until)}` : ''}`
    case 'risk.AccountLimitsChanged': {
      const o = (d.old ?? {}) as Record<string, unknown>
      const n = (d.new ?? {}) as Record<string, unknown>
      // The new limits replace the old: a key missing from `new` was turned off.
      const changed = [...new Set([...Object.keys(o), ...Object.keys(n)])].filter((k) => !same(o[k], n[k]))
      return changed.length
        ? `Account ${accountName(d.account)} limits changed: ${changed.map((k) => `${k} ${showOff(o[k])} → ${showOff(n[k])}`).join(', ')}`
        : `Account ${accountName(d.account)} limits changed`
    }
    case 'risk.AccountTradingStateChanged':
      return `Account ${accountName(d.account)} trading state set to ${stateWord(s(d.state))}`
    default:
      return t
  }
}
