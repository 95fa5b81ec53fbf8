// The "Risk" panel of a run's page: its own trading state (badge, and why: the breach in force,
// set by hand, a cooldown), its limits (every key, "off" where null), "Edit limits" (only the
// changed keys go to PATCH /runs/{id}/risk, a cleared field is null = off, confirmed first; a
// 422 shows next to its field), and the run's trading-state control (with "and flatten").
// The pieces an account's page shares (the state line, the limits table, the limits form, the
// state dialog) take what they work on as props: a run's or an account's.
import { useId, useState, type FormEvent, type ReactNode } from 'react'
import type { UseMutationResult } from '@tanstack/react-query'
import { ApiError } from '../api/client'
import { usePatchRisk, useSetRunState, useTradingState } from '../api/queries'
import type { RiskLimits, RiskState, Run, RunStateResult, RunTradingStateName } from '../api/types'
import { Confirm } from '../components/dialog'
import { Chip, ErrorNote, scrollable } from '../components/ui'
import { fmtTime } from '../lib/format'
import {
  fieldOfError, labelOf, LIMITS, riskPatch, riskWhole, showLimit, showOff, stateReason, stateWord, valuesOf, type LimitDef, type LimitValues,
} from '../lib/risk'
import { FlattenSummary } from './control'

type RiskRun = Pick<Run, 'id' | 'status' | 'risk' | 'risk_state' | 'trading_state'>

export function RiskPanel({ run }: { run: RiskRun }) {
  const [editing, setEditing] = useState(false)
  const running = run.status === 'running'
  return (
    <div className="card" data-testid="risk-panel">
      <h3>Risk <RunStateControl run={run} /></h3>
      <TradingStateLine run={run} />
      {editing ? <EditLimits run={run} onDone={() => setEditing(false)} /> : (
        <>
          <LimitsTable risk={run.risk ?? {}} />
          {running && <p><button type="button" onClick={() => setEditing(true)}>Edit limits</button></p>}
        </>
      )}
    </div>
  )
}

/** A run's (or an account's) own state, and why it is in it. */
export function TradingStateLine({ run, testId = 'run-trading-state' }: {
  run: { risk_state?: RiskState | null; trading_state?: string | null }; testId?: string
}) {
  const state = run.trading_state ?? 'active'
  const why = stateReason(state, run.risk_state)
  const global = useTradingState().data?.state
  return (
    <div className="risk-state" data-testid={testId}>
      <div className="row"><span className="small">Trading state</span> <Chip value={state} /></div>
      <ul className="small" data-testid="risk-why">
        {why.byHand && <li>set by hand</li>}
        {why.breaches.map((b) => (
          <li key={b.rule} data-testid="breach">
            <b>{b.rule}</b> {b.figure} &gt; {b.limit} → {stateWord(b.state)} since {fmtTime(b.ts)}
          </li>
        ))}
        {why.cooldown && (
          <li data-testid="cooldown">
            cooldown: {why.cooldown.figure} losing trades (limit {why.cooldown.limit}), reduce-only from {fmtTime(why.cooldown.ts)}
            {why.cooldown.until && <> until {fmtTime(why.cooldown.until)}</>}
          </li>
        )}
        {state !== 'active' && !why.byHand && why.breaches.length === 0 && <li>no breach recorded</li>}
        {global && global !== 'active' && (
          <li data-testid="global-state">the global trading state is <b>{stateWord(global)}</b> (Settings): the stricter of the two applies</li>
        )}
      </ul>
    </div>
  )
}

/** Every limit (of `defs`, all by default), "off" where null. */
export function LimitsTable({ risk, defs = LIMITS }: { risk: Partial<RiskLimits>; defs?: LimitDef[] }) {
  return (
    <div className="table-wrap" {...scrollable('Risk limits')}>
      <table className="limits" data-testid="limits-table">
        <tbody>
          {defs.map((d) => {
            const v = showLimit(d, risk[d.key])
            return (
              <tr key={d.key} data-testid={`limit-${d.key}`}>
                <th scope="row">{d.label} <code className="small">{d.key}</code></th>
                <td className={v === 'off' ? 'muted' : undefined}>{v}</td>
              </tr>
            )
          })}
        </tbody>
      </table>
    </div>
  )
}

/** The form of one key: a text box, a select, a checkbox, or the cooldown's three numbers. */
function LimitInput({ d, id, values, set, error }: {
  d: LimitDef; id: string; values: LimitValues; set: (k: string, v: string) => void; error?: string
}) {
  const aria = { 'aria-invalid': error ? true : undefined, 'aria-describedby': `${id}-err` }
  if (d.kind === 'action')
    return (
      <select id={id} name={d.key} value={values[d.key]} onChange={(e) => set(d.key, e.target.value)} {...aria}>
        <option value="reduce_only">reduce-only</option><option value="halted">halted</option>
      </select>
    )
  if (d.kind === 'bool')
    return <input id={id} name={d.key} type="checkbox" checked={values[d.key] === 'true'} onChange={(e) => set(d.key, String(e.target.checked))} {...aria} />
  if (d.kind === 'cooldown')
    return (
      <span className="row" id={id}>
        {(['losing_trades', 'window_minutes', 'pause_minutes'] as const).map((k) => (
          <input key={k} name={`cooldown.${k}`} aria-label={`cooldown ${k.replace('_', ' ')}`} size={4} inputMode="numeric"
            value={values[`cooldown.${k}`]} placeholder="off" onChange={(e) => set(`cooldown.${k}`, e.target.value)} {...aria} />
        ))}
      </span>
    )
  return (
    <input id={id} name={d.key} value={values[d.key]} placeholder="off" autoComplete="off"
      inputMode={d.kind === 'symbols' ? 'text' : 'decimal'} onChange={(e) => set(d.key, e.target.value)} {...aria} />
  )
}

/** What saving limits sends: a patch (`PATCH /runs/{id}/risk`) or the whole object (`PUT
 * /accounts/{venue}/{number}/risk`); it answers the run or the account. */
export type RiskMutation = UseMutationResult<unknown, Error, Partial<Record<keyof RiskLimits, unknown>>>

/**
 * The limits form, confirmed before it saves. `replace`: the whole object of `defs`' keys is
 * sent (keys left empty are absent, i.e. off), else only the changed keys (a cleared one `null`).
 * Either way the confirmation lists what changes. A 422 naming one of the fields shows next to it.
 */
export function LimitsForm({ risk, defs = LIMITS, replace = false, mutation, title, note, onDone }: {
  risk: Partial<RiskLimits>
  defs?: LimitDef[]
  replace?: boolean
  mutation: RiskMutation
  /** The confirmation's question. */
  title: string
  /** Beside the Save button: what an empty field means, when the new limits apply. */
  note: ReactNode
  onDone: () => void
}) {
  const id = useId()
  const keys = defs.map((d) => d.key)
  const [values, setValues] = useState<LimitValues>(() => valuesOf(risk))
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [asking, setAsking] = useState<{ body: Record<string, unknown>; changes: Record<string, unknown> } | null>(null)
  const set = (k: string, v: string) => {
    setValues((old) => ({ ...old, [k]: v }))
    setErrors((e) => ({ ...e, [k.split('.')[0]]: '' }))
  }
  const submit = (e: FormEvent) => {
    e.preventDefault()
    mutation.reset()
    const r = riskPatch(risk, values, keys)
    if (!r.ok) return setErrors(r.errors)
    const whole = riskWhole(values, keys)
    if (!whole.ok) return setErrors(whole.errors)
    setErrors({})
    if (Object.keys(r.patch).length === 0) return setErrors({ _: 'Nothing changed.' })
    setAsking({ body: replace ? whole.risk : r.patch, changes: r.patch })
  }
  // A 422 about a field of this form goes next to it; about anything else, under the form.
  const fieldOf = (err: unknown) => {
    const key = err instanceof ApiError ? fieldOfError(err.details) : null
    return key && keys.includes(key as keyof RiskLimits) ? key : null
  }
  const confirm = () => {
    if (!asking) return
    mutation.mutate(asking.body, {
      onSuccess: () => {
        setAsking(null)
        onDone()
      },
      onError: (err) => {
        setAsking(null)
        const key = fieldOf(err)
        if (key) setErrors({ [key]: err.message })
      },
    })
  }
  const serverField = fieldOf(mutation.error)
  return (
    <>
      <form className="form" onSubmit={submit} aria-label="Edit limits" noValidate>
        {defs.map((d) => {
          const fid = `${id}-${d.key}`
          const err = errors[d.key]
          return (
            <div className="field" key={d.key}>
              <label htmlFor={fid}>{d.label}</label>
              <LimitInput d={d} id={fid} values={values} set={set} error={err} />
              {err ? <span className="field-error" id={`${fid}-err`} role="alert" data-testid={`limit-error-${d.key}`}>{err}</span>
                : d.hint ? <span className="small" id={`${fid}-err`}>{d.hint}</span> : null}
            </div>
          )
        })}
        <div className="wide row">
          <button className="primary" type="submit" disabled={mutation.isPending} data-testid="limits-save">Save limits…</button>
          <button type="button" onClick={onDone} disabled={mutation.isPending}>Back</button>
          <span className="small">{note}</span>
        </div>
        {errors._ && <div className="wide small">{errors._}</div>}
        {mutation.error && !serverField && <div className="wide"><ErrorNote error={mutation.error} /></div>}
      </form>
      {asking && (
        <Confirm
          title={title} confirmLabel="Save limits" busyLabel="Saving…" testId="limits-dialog"
          onConfirm={confirm} onClose={() => setAsking(null)} busy={mutation.isPending}
        >
          <ul data-testid="limits-changes">
            {Object.entries(asking.changes).map(([k, v]) => (
              <li key={k}>{labelOf(k)}: {showOff((risk as Record<string, unknown>)[k] ?? null)} → <b>{showOff(v)}</b></li>
            ))}
          </ul>
          {replace && (
            <p className="small" data-testid="limits-replace-note">
              The new limits replace the old ones as a whole: every field of the form is sent, and every one left empty is off.
            </p>
          )}
        </Confirm>
      )}
    </>
  )
}

/** "Edit limits" of a run: only the changed keys are sent, after a confirmation listing them. */
export function EditLimits({ run, onDone }: { run: Pick<Run, 'id' | 'risk'>; onDone: () => void }) {
  const patchRisk = usePatchRisk(run.id)
  return (
    <LimitsForm
      risk={run.risk ?? {}} mutation={patchRisk} title={`Change run #${run.id}'s limits?`} onDone={onDone}
      note="An empty field turns its limit off. The run checks its next order against the new limits."
    />
  )
}

const STATES: [RunTradingStateName, string][] = [['active', 'Active'], ['reduce_only', 'Reduce-only'], ['halted', 'Halted']]

/** What setting the state did: the state now, and the flatten's cancels and closing orders. */
export function RunStateSummary({ result }: { result: RunStateResult }) {
  return (
    <div data-testid="run-state-result">
      <p>Run #{result.run.id} is now <Chip value={result.run.trading_state} />.</p>
      {result.flattened ? <FlattenSummary result={result.flattened} /> : <p>Its orders and positions were left as they were.</p>}
    </div>
  )
}

/**
 * The dialog that sets a run's or an account's own state (active / reduce-only / halted),
 * optionally flattening it, then shows `result` (what the answer reports).
 */
export function StateDialog({ title, current, initial, mutation, flattenWhat, note, result, onClose, testId }: {
  title: string
  current: string | null | undefined
  initial: RunTradingStateName
  mutation: UseMutationResult<unknown, Error, { state: RunTradingStateName; flatten?: boolean }>
  /** What "and flatten" does, in words. */
  flattenWhat: string
  note: ReactNode
  result: ReactNode
  onClose: () => void
  testId: string
}) {
  const [state, setS] = useState<RunTradingStateName>(initial)
  const [flatten, setFlatten] = useState(false)
  return (
    <Confirm
      title={title} confirmLabel={flatten ? `Set ${stateWord(state)} and flatten` : `Set ${stateWord(state)}`}
      busyLabel="Setting…" testId={testId}
      onConfirm={() => mutation.mutate({ state, ...(flatten ? { flatten: true } : {}) })} onClose={onClose} busy={mutation.isPending}
      error={mutation.error ? <ErrorNote error={mutation.error} /> : null}
      result={mutation.data ? result : null}
    >
      <fieldset className="choices">
        <legend>State (now {stateWord(current)})</legend>
        {STATES.map(([v, label]) => (
          <label key={v} className="choice">
            <input type="radio" name="run-state" value={v} checked={state === v} onChange={() => setS(v)} /> {label}
          </label>
        ))}
      </fieldset>
      <label className="choice">
        <input type="checkbox" name="flatten" checked={flatten} onChange={(e) => setFlatten(e.target.checked)} /> and flatten ({flattenWhat})
      </label>
      <p className="small">{note}</p>
    </Confirm>
  )
}

/** Sets the run's own state (active / reduce-only / halted), optionally flattening it. */
export function RunStateControl({ run }: { run: Pick<Run, 'id' | 'status' | 'trading_state'> }) {
  const setState = useSetRunState(run.id)
  const [open, setOpen] = useState(false)
  if (!open && run.status !== 'running') return null
  const close = () => {
    setOpen(false)
    setState.reset()
  }
  return (
    <>
      {run.status === 'running' && <button type="button" onClick={() => setOpen(true)}>Set trading state…</button>}
      {open && (
        <StateDialog
          title={`Set run #${run.id}'s trading state?`} current={run.trading_state} testId="run-state-dialog"
          initial={run.trading_state === 'halted' ? 'active' : 'halted'} mutation={setState} onClose={close}
          flattenWhat="cancel its working orders, close its positions"
          note={<>Reduce-only lets orders only shrink positions; halted refuses new orders. Active also clears the run's breaches
            (daily loss, drawdown, cooldown). The global trading state still applies: the stricter wins.</>}
          result={setState.data ? <RunStateSummary result={setState.data} /> : null}
        />
      )}
    </>
  )
}
