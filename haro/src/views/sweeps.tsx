// Sweeps: launch one over stored candles (the form), list them with their progress and best point.
import { useState, type FormEvent } from 'react'
import { Link, useNavigate } from 'react-router'
import { ApiError } from '../api/client'
import { useCreateSweep, useSweeps, type Sweep } from '../api/sweeps'
import { useStrategies } from '../api/queries'
import type { Strategy } from '../api/types'
import { Chip, Empty, ErrorNote, QueryState, scrollable } from '../components/ui'
import { fmtNumber, fmtTime } from '../lib/format'
import { buildSweepRequest, emptySweepForm, METRICS, newAxis, refusalNote, type AxisKind, type AxisRow, type SweepForm } from '../lib/sweeps'
import { FieldError, parseParams, splitSymbols, StrategySelect, TIMEFRAMES } from './run-form'

const cfg = (s: Sweep) => s.config as { strategy?: unknown; symbols?: string[]; timeframe?: string; objective?: { metric?: string; direction?: string } }

/** The strategy a sweep names, by the version it swept, else what the request said. */
function strategyName(s: Sweep, strategies: Strategy[] | undefined): string {
  const byId = strategies?.find((x) => x.id === s.strategy_id)
  if (byId) return `${byId.name} ${byId.version}`
  const ref = cfg(s).strategy
  const named = strategies?.find((x) => String(x.id) === String(ref))
  return named ? named.name : ref === undefined ? '—' : String(ref)
}

/** A progress bar with its numbers: finished (done + failed) of all. */
export function Progress({ p }: { p: Sweep['progress'] }) {
  const finished = p.done + p.failed
  const pct = p.total ? Math.round((finished / p.total) * 100) : 0
  return (
    <span className="sweep-progress" data-testid="sweep-progress">
      <progress max={p.total || 1} value={finished} aria-label={`${finished} of ${p.total} points`} />
      <span className="small"> {finished}/{p.total} ({pct} %){p.failed ? `, ${p.failed} failed` : ''}</span>
    </span>
  )
}

export function Sweeps() {
  const q = useSweeps()
  const strategies = useStrategies().data
  return (
    <section>
      <h1>Sweeps</h1>
      <NewSweep />
      <QueryState q={q} what="Sweeps">
        {() =>
          q.data!.length === 0 ? <Empty>No sweeps yet.</Empty> : (
            <div className="table-wrap" {...scrollable('Sweeps')}>
              <table data-testid="sweeps-table">
                <thead>
                  <tr><th className="num">Id</th><th>Status</th><th>Strategy</th><th>Symbols</th><th>Progress</th><th>Objective</th><th className="num">Best</th><th>Created</th></tr>
                </thead>
                <tbody>
                  {q.data!.map((s) => {
                    const c = cfg(s)
                    return (
                      <tr key={s.id}>
                        <td className="num"><Link to={`/ui/sweeps/${s.id}`}>{s.id}</Link></td>
                        <td><Chip value={s.status} />{s.error && <span className="small neg"> {s.error}</span>}</td>
                        <td>{strategyName(s, strategies)}</td>
                        <td>{(c.symbols ?? []).join(', ')} {c.timeframe}</td>
                        <td><Progress p={s.progress} /></td>
                        <td>{c.objective?.metric} {c.objective?.direction}</td>
                        <td className="num" data-testid="sweep-best">{fmtNumber(s.best?.objective, 3)}</td>
                        <td>{fmtTime(s.created_at)}</td>
                      </tr>
                    )
                  })}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryState>
    </section>
  )
}

/** A refusal of `POST /sweeps`: the server's message, plus what its details say in words. */
function Refusal({ error }: { error: unknown }) {
  const note = error instanceof ApiError ? refusalNote(error.code, error.details) : null
  return (
    <div className="wide">
      <ErrorNote error={error} />
      {note && <p className="small" data-testid="refusal-note">{note}</p>}
    </div>
  )
}

function NewSweep() {
  const create = useCreateSweep()
  const nav = useNavigate()
  const [f, setF] = useState<SweepForm>(emptySweepForm)
  const [errors, setErrors] = useState<Record<string, string>>({})
  const set = <K extends keyof SweepForm>(k: K) => (v: SweepForm[K]) => {
    setF((cur) => ({ ...cur, [k]: v }))
    setErrors((e) => ({ ...e, [k]: '' }))
  }
  const setAxis = (i: number, patch: Partial<AxisRow>) => {
    setF((cur) => ({ ...cur, axes: cur.axes.map((a, j) => (j === i ? { ...a, ...patch } : a)) }))
    setErrors((e) => Object.fromEntries(Object.entries(e).filter(([k]) => !k.startsWith(`axis-${i}-`))))
  }
  const err = (k: string) => errors[k] || undefined
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const b = buildSweepRequest(f, parseParams, splitSymbols)
    if (!b.ok) return setErrors(b.errors)
    setErrors({})
    create.mutate(b.value, { onSuccess: (s) => nav(`/ui/sweeps/${s.id}`) })
  }
  const num = (k: 'cash' | 'commission' | 'warmup' | 'seed' | 'count' | 'min_trades' | 'max_drawdown_pct' | 'max_exposure_pct', label: string, placeholder: string) => (
    <label>{label}
      <input name={k} value={f[k]} inputMode="decimal" placeholder={placeholder} aria-invalid={err(k) ? true : undefined} onChange={(e) => set(k)(e.target.value)} />
      <FieldError error={err(k)} name={k} />
    </label>
  )
  const bad = Object.values(errors).some(Boolean)
  return (
    <form className="form" onSubmit={submit} aria-label="New sweep" data-testid="sweep-form">
      <h2 className="wide">New sweep</h2>
      <StrategySelect value={f.strategy} onChange={set('strategy')} />
      {err('strategy') && <FieldError error={err('strategy')} name="strategy" />}
      <label>Symbols<input name="symbols" value={f.symbols} onChange={(e) => set('symbols')(e.target.value)} placeholder="SAMPLE" /><FieldError error={err('symbols')} name="symbols" /></label>
      <label>Timeframe
        <select name="timeframe" value={f.timeframe} onChange={(e) => set('timeframe')(e.target.value)}>
          {TIMEFRAMES.map((t) => <option key={t}>{t}</option>)}
        </select>
      </label>
      <label>From<input type="date" name="start" value={f.start} onChange={(e) => set('start')(e.target.value)} /></label>
      <label>To<input type="date" name="end" value={f.end} onChange={(e) => set('end')(e.target.value)} /></label>
      {num('cash', 'Cash', 'default 10000')}
      {num('commission', 'Commission', 'e.g. 0.002')}
      {num('warmup', 'Warm-up bars', "strategy's")}
      <label className="wide">Fixed params (JSON object)<input name="params" value={f.params} onChange={(e) => set('params')(e.target.value)} placeholder='{"size": 1}' /><FieldError error={err('params')} name="params" /></label>

      <fieldset className="wide sweep-space" data-testid="space-editor">
        <legend>Space</legend>
        {f.axes.map((a, i) => (
          <div className="form flat" key={i} data-testid={`axis-${i}`}>
            <label>Parameter<input name={`axis-${i}-name`} value={a.name} onChange={(e) => setAxis(i, { name: e.target.value })} placeholder="fast" /><FieldError error={err(`axis-${i}-name`)} name={`axis-${i}-name`} /></label>
            <label>Kind
              <select name={`axis-${i}-kind`} value={a.kind} onChange={(e) => setAxis(i, { kind: e.target.value as AxisKind })}>
                <option value="range">range (min, max, step)</option>
                <option value="log">log (min, max, count)</option>
                <option value="list">list of values</option>
              </select>
            </label>
            {a.kind === 'list' ? (
              <label>Values<input name={`axis-${i}-values`} value={a.values} onChange={(e) => setAxis(i, { values: e.target.value })} placeholder="40, 60, 80" /><FieldError error={err(`axis-${i}-values`)} name={`axis-${i}-values`} /></label>
            ) : (
              <>
                {(['min', 'max'] as const).map((k) => (
                  <label key={k}>{k}<input name={`axis-${i}-${k}`} value={a[k]} inputMode="decimal" onChange={(e) => setAxis(i, { [k]: e.target.value })} /><FieldError error={err(`axis-${i}-${k}`)} name={`axis-${i}-${k}`} /></label>
                ))}
                {a.kind === 'range' ? (
                  <label>step<input name={`axis-${i}-step`} value={a.step} inputMode="decimal" onChange={(e) => setAxis(i, { step: e.target.value })} /><FieldError error={err(`axis-${i}-step`)} name={`axis-${i}-step`} /></label>
                ) : (
                  <label>count<input name={`axis-${i}-count`} value={a.count} inputMode="numeric" placeholder={f.method === 'random' ? 'optional' : ''} onChange={(e) => setAxis(i, { count: e.target.value })} /><FieldError error={err(`axis-${i}-count`)} name={`axis-${i}-count`} /></label>
                )}
              </>
            )}
            <div className="field"><button type="button" onClick={() => setF((cur) => ({ ...cur, axes: cur.axes.filter((_, j) => j !== i) }))} aria-label={`remove parameter ${i + 1}`}>Remove</button></div>
          </div>
        ))}
        <button type="button" onClick={() => setF((cur) => ({ ...cur, axes: [...cur.axes, newAxis()] }))} data-testid="add-axis">Add parameter</button>
        <FieldError error={err('space')} name="space" />
      </fieldset>

      <label>Method
        <select name="method" value={f.method} onChange={(e) => set('method')(e.target.value as SweepForm['method'])}>
          <option value="grid">grid (every combination)</option>
          <option value="random">random</option>
        </select>
      </label>
      {f.method === 'random' && <>{num('seed', 'Seed', '7')}{num('count', 'Points', '50')}</>}
      <label>Objective
        <select name="metric" value={f.metric} onChange={(e) => set('metric')(e.target.value)}>
          {METRICS.map((m) => <option key={m}>{m}</option>)}
        </select>
      </label>
      <label>Direction
        <select name="direction" value={f.direction} onChange={(e) => set('direction')(e.target.value as SweepForm['direction'])}>
          <option value="max">max</option>
          <option value="min">min</option>
        </select>
      </label>
      {num('min_trades', 'Min trades', 'none')}
      {num('max_drawdown_pct', 'Max drawdown %', 'none, e.g. 30')}
      {num('max_exposure_pct', 'Max exposure %', 'none')}
      <div className="wide row">
        <button className="primary" type="submit" disabled={create.isPending}>{create.isPending ? 'Starting…' : 'Start sweep'}</button>
        {bad && <span className="neg">check the fields marked</span>}
      </div>
      {create.error && <Refusal error={create.error} />}
    </form>
  )
}
