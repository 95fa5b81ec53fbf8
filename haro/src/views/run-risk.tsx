// The "Risk" panel of a run's page: its own trading state (badge, and why: the breach in force,
// set by hand, a cooldown), its limits (every key, "off" where null), "Edit limits" (only the
// changed keys go to PATCH /runs/{id}/risk, a cleared field is null = off, confirmed first; a
// 422 shows next to its field), and the run's trading-state control (with "and flatten").
import { useId, useState, type FormEvent } from 'react'
import { ApiError } from '../api/client'
import { usePatchRisk, useSetRunState, useTradingState } from '../api/queries'
import type { RiskLimits, Run, RunStateResult, RunTradingStateName } from '../api/types'
import { Confirm } from '../components/dialog'
import { Chip, ErrorNote } from '../components/ui'
import { fmtTime } from '../lib/format'
import {
  fieldOfError, labelOf, LIMITS, riskPatch, showLimit, stateReason, stateWord, valuesOf, type LimitDef, type LimitValues,
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

/** The run's own state, and why it is in it. */
export function TradingStateLine({ run }: { run: Pick<Run, 'risk_state' | 'trading_state'> }) {
  const state = run.trading_state ?? 'active'
  const why = stateReason(state, run.risk_state)
  const global = useTradingState().data?.state
  return (
    <div className="risk-state" data-testid="run-trading-state">
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

export function LimitsTable({ risk }: { risk: Partial<RiskLimits> }) {
  return (
    <div className="table-wrap">
      <table className="limits" data-testid="limits-table">
        <tbody>
          {LIMITS.map((d) => {
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

const showValue = (v: unknown) => (v === null ? 'off' : typeof v === 'object' ? JSON.stringify(v) : String(v))

/** "Edit limits": only the changed keys are sent, after a confirmation listing them. */
export function EditLimits({ run, onDone }: { run: Pick<Run, 'id' | 'risk'>; onDone: () => void }) {
  const risk = run.risk ?? {}
  const patchRisk = usePatchRisk(run.id)
  const id = useId()
  const [values, setValues] = useState<LimitValues>(() => valuesOf(risk))
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [asking, setAsking] = useState<Record<string, unknown> | null>(null)
  const set = (k: string, v: string) => {
    setValues((old) => ({ ...old, [k]: v }))
    setErrors((e) => ({ ...e, [k.split('.')[0]]: '' }))
  }
  const submit = (e: FormEvent) => {
    e.preventDefault()
    patchRisk.reset()
    const r = riskPatch(risk, values)
    if (!r.ok) return setErrors(r.errors)
    setErrors({})
    if (Object.keys(r.patch).length === 0) return setErrors({ _: 'Nothing changed.' })
    setAsking(r.patch)
  }
  const confirm = () => {
    if (!asking) return
    patchRisk.mutate(asking, {
      onSuccess: () => {
        setAsking(null)
        onDone()
      },
      onError: (err) => {
        setAsking(null)
        const key = err instanceof ApiError ? fieldOfError(err.details) : null
        if (key) setErrors({ [key]: err.message })
      },
    })
  }
  const serverField = patchRisk.error instanceof ApiError ? fieldOfError(patchRisk.error.details) : null
  return (
    <>
      <form className="form" onSubmit={submit} aria-label="Edit limits" noValidate>
        {LIMITS.map((d) => {
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
          <button className="primary" type="submit" disabled={patchRisk.isPending}>Save limits…</button>
          <button type="button" onClick={onDone} disabled={patchRisk.isPending}>Back</button>
          <span className="small">An empty field turns its limit off. The run checks its next order against the new limits.</span>
        </div>
        {errors._ && <div className="wide small">{errors._}</div>}
        {patchRisk.error && !serverField && <div className="wide"><ErrorNote error={patchRisk.error} /></div>}
      </form>
      {asking && (
        <Confirm
          title={`Change run #${run.id}'s limits?`} confirmLabel="Save limits" busyLabel="Saving…" testId="limits-dialog"
          onConfirm={confirm} onClose={() => setAsking(null)} busy={patchRisk.isPending}
        >
          <ul data-testid="limits-changes">
            {Object.entries(asking).map(([k, v]) => (
              <li key={k}>{labelOf(k)}: {showValue((risk as Record<string, unknown>)[k] ?? null)} → <b>{showValue(v)}</b></li>
            ))}
          </ul>
        </Confirm>
      )}
    </>
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

/** Sets the run's own state (active / reduce-only / halted), optionally flattening it. */
export function RunStateControl({ run }: { run: Pick<Run, 'id' | 'status' | 'trading_state'> }) {
  const setState = useSetRunState(run.id)
  const [open, setOpen] = useState(false)
  const [state, setS] = useState<RunTradingStateName>('halted')
  const [flatten, setFlatten] = useState(false)
  if (!open && run.status !== 'running') return null
  const close = () => {
    setOpen(false)
    setState.reset()
    setFlatten(false)
  }
  const start = () => {
    setS(run.trading_state === 'halted' ? 'active' : 'halted')
    setOpen(true)
  }
  return (
    <>
      {run.status === 'running' && <button type="button" onClick={start}>Set trading state…</button>}
      {open && (
        <Confirm
          title={`Set run #${run.id}'s trading state?`} confirmLabel={flatten ? `Set ${stateWord(state)} and flatten` : `Set ${stateWord(state)}`}
          busyLabel="Setting…" testId="run-state-dialog"
          onConfirm={() => setState.mutate({ state, ...(flatten ? { flatten: true } : {}) })} onClose={close} busy={setState.isPending}
          error={setState.error ? <ErrorNote error={setState.error} /> : null}
          result={setState.data ? <RunStateSummary result={setState.data} /> : null}
        >
          <fieldset className="choices">
            <legend>State (now {stateWord(run.trading_state)})</legend>
            {STATES.map(([v, label]) => (
              <label key={v} className="choice">
                <input type="radio" name="run-state" value={v} checked={state === v} onChange={() => setS(v)} /> {label}
              </label>
            ))}
          </fieldset>
          <label className="choice">
            <input type="checkbox" name="flatten" checked={flatten} onChange={(e) => setFlatten(e.target.checked)} /> and flatten (cancel its working orders, close its positions)
          </label>
          <p className="small">
            Reduce-only lets orders only shrink positions; halted refuses new orders. Active also clears the run's breaches
            (daily loss, drawdown, cooldown). The global trading state still applies: the stricter wins.
          </p>
        </Confirm>
      )}
    </>
  )
}
