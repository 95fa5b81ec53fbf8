// A run's version history read for the Versions panel and the feed: which version runs now, which
// one a rollback goes back to, whether a switch is pending, the promote form's checks and the
// one-line text of the `run.VersionSwitched` / `run.VersionSwitchFailed` events.
import type { PromoteRequest, Version, VersionReason, VersionState } from '../api/versions'
import { checkNumber, type NumberRule } from './forms'

/** `sma-cross v2`, as the Shadows panel names versions. */
export const versionLabel = (v: Pick<Version, 'strategy_name' | 'strategy_version'>) => `${v.strategy_name} v${v.strategy_version}`

const REASONS: Record<VersionReason, string> = { start: 'start', promote: 'promote', rollback: 'rollback', auto_rollback: 'auto rollback' }
export const reasonWord = (r: string) => REASONS[r as VersionReason] ?? r.replace(/_/g, ' ')

// Array.prototype.findLast is ES2023; the build targets ES2022.
const last = <T>(xs: readonly T[], p: (x: T) => boolean): T | undefined => {
  for (let i = xs.length - 1; i >= 0; i--) if (p(xs[i])) return xs[i]
  return undefined
}

/** The version the run runs now (none while the history is empty). */
export const activeVersion = (items: readonly Version[]) => last(items, (v) => v.status === 'active')

/** The switch waiting for its bar boundary, if any (the server allows one at a time). */
export const pendingSwitch = (items: readonly Version[]) => items.find((v) => v.status === 'pending')

/** What a rollback goes back to: the last version that ran before the active one (a failed
 * switch never ran, so it is skipped). */
export function previousVersion(items: readonly Version[]): Version | undefined {
  const active = activeVersion(items)
  if (!active) return undefined
  return last(items, (v) => v.seq < active.seq && v.status === 'superseded')
}

/** Why Roll back is not offered now, or null when it is. */
export function rollbackBlocked(items: readonly Version[]): string | null {
  if (pendingSwitch(items)) return 'a switch is pending'
  if (!previousVersion(items)) return 'no previous version'
  return null
}

/** `auto_rollback_bars`: a whole number of bars, 0 turns it off (the server takes a u32). */
export const AUTO_ROLLBACK: NumberRule = { integer: true, min: 0, max: 4_294_967_295 }
export const AUTO_ROLLBACK_DEFAULT = '20'

export interface PromoteForm {
  /** The picked version's id ('' when there is no ready one). */
  strategy: string
  /** The params box: JSON object text, empty for none. */
  params: string
  state: VersionState
  autoRollbackBars: string
}
export type PromoteErrors = Partial<Record<'strategy' | 'params' | 'autoRollbackBars', string>>

/** Checks the promote form before anything is sent: the request, or the errors by field. An empty
 * params box sends none (the server keeps the run's); an empty bar count sends none (its default). */
export function promoteRequest(f: PromoteForm): { ok: true; value: PromoteRequest } | { ok: false; errors: PromoteErrors } {
  const errors: PromoteErrors = {}
  if (!f.strategy) errors.strategy = 'pick a ready version'
  let params: Record<string, unknown> | undefined
  if (f.params.trim()) {
    try {
      const v = JSON.parse(f.params)
      if (v && typeof v === 'object' && !Array.isArray(v)) params = v as Record<string, unknown>
      else errors.params = 'params must be a JSON object'
    } catch (e) {
      errors.params = `params: ${(e as Error).message}`
    }
  }
  const bars = checkNumber(f.autoRollbackBars, AUTO_ROLLBACK)
  if (!bars.ok) errors.autoRollbackBars = bars.error
  if (Object.keys(errors).length) return { ok: false, errors }
  return {
    ok: true,
    value: {
      strategy: Number(f.strategy),
      ...(params ? { params } : {}),
      state: f.state,
      ...(bars.ok && bars.value !== undefined ? { auto_rollback_bars: bars.value } : {}),
    },
  }
}

/** The params as the form shows them (and as they would be sent back). */
export const paramsText = (p: Record<string, unknown> | null | undefined) => (p && Object.keys(p).length ? JSON.stringify(p) : '')

/** Whether an event is a run's version switch (or a failed one). */
export const isVersionEvent = (type: string) => /^(ui\.)?run\.VersionSwitch(ed|Failed)$/.test(type)

/** A strategy version's name by id (`sma-cross v2`), when known. */
export type NameOf = (strategyId: number) => string | undefined

/**
 * The feed's line for a version event: "run 7 switched to sma-cross v2 (promote)". The event
 * carries the strategy id (`to_strategy_id`, or `strategy_id` when it failed); `nameOf` names
 * it when the strategies are loaded, else it is "strategy #11". An automatic rollback says why
 * (the trap's code, `risk_rule_broken`).
 */
export function versionSummary(type: string, data: unknown, runId?: string | number | null, nameOf?: NameOf): string | null {
  if (!isVersionEvent(type)) return null
  const d = (data ?? {}) as Record<string, unknown>
  const run = String(runId ?? d.run_id ?? '?')
  const id = Number(d.to_strategy_id ?? d.strategy_id)
  const to = (Number.isFinite(id) ? nameOf?.(id) : undefined) ?? `strategy #${Number.isFinite(id) ? id : '?'}`
  const why = d.reason ? reasonWord(String(d.reason)) : ''
  const code = d.error_code ? String(d.error_code) : ''
  if (type.endsWith('VersionSwitched')) return `run ${run} switched to ${to}${why ? ` (${why}${code ? `: ${code}` : ''})` : ''}`
  return `run ${run} could not switch to ${to}${why ? ` (${why})` : ''}${code ? `: ${code}` : ''}`
}
