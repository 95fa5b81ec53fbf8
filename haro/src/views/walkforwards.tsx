// Walk-forward: launch one over stored candles (the sweep's fields plus its windows), list them
// with their progress and out-of-sample result.
import { useState, type FormEvent } from 'react'
import { Link, useNavigate } from 'react-router'
import { useStrategies } from '../api/queries'
import { useCreateWalkForward, useWalkForwards, type WalkForward } from '../api/walkforward'
import { Chip, Empty, QueryState } from '../components/ui'
import { fmtMetric, fmtNumber, fmtTime } from '../lib/format'
import { buildWalkForwardRequest, DURATION_HINT, emptyWindowsForm, refusalField, sizeText, type SizeUnit, type WindowsForm } from '../lib/walkforward'
import { FieldError, parseParams, splitSymbols } from './run-form'
import { SweepFields, useSweepForm } from './sweep-fields'
import { Refusal } from './sweeps'

/** Windows finished of all, and the points of the window running. */
export function WalkForwardProgress({ p }: { p: WalkForward['progress'] }) {
  const pct = p.windows_total ? Math.round((p.windows_done / p.windows_total) * 100) : 0
  return (
    <span className="sweep-progress" data-testid="wf-progress">
      <progress max={p.windows_total || 1} value={p.windows_done} aria-label={`${p.windows_done} of ${p.windows_total} windows`} />
      <span className="small"> {p.windows_done}/{p.windows_total} windows ({pct} %) · {p.points_done}/{p.points_total} points</span>
    </span>
  )
}

export function WalkForwards() {
  const q = useWalkForwards()
  const strategies = useStrategies().data
  const name = (w: WalkForward) => {
    const s = strategies?.find((x) => x.id === w.strategy_id)
    return s ? `${s.name} ${s.version}` : w.strategy_id ? `#${w.strategy_id}` : '—'
  }
  return (
    <section>
      <h1>Walk-forward</h1>
      <NewWalkForward />
      <QueryState q={q} what="Walk-forward">
        {() =>
          q.data!.length === 0 ? <Empty>No walk-forward yet.</Empty> : (
            <div className="table-wrap">
              <table data-testid="wf-table">
                <thead>
                  <tr><th className="num">Id</th><th>Status</th><th>Strategy</th><th>Symbols</th><th>Windows</th><th>Progress</th><th>Objective</th><th className="num">OOS return</th><th className="num">Efficiency</th><th>Created</th></tr>
                </thead>
                <tbody>
                  {q.data!.map((w) => (
                    <tr key={w.id}>
                      <td className="num"><Link to={`/ui/walkforward/${w.id}`}>{w.id}</Link></td>
                      <td><Chip value={w.status} />{w.error && <span className="small neg"> {w.error}</span>}</td>
                      <td>{name(w)}</td>
                      <td>{w.symbols.join(', ')} {w.timeframe}</td>
                      <td>{w.windows_spec.kind} {sizeText(w.windows_spec.in_sample)} / {sizeText(w.windows_spec.out_of_sample)}</td>
                      <td><WalkForwardProgress p={w.progress} /></td>
                      <td>{w.objective.metric} {w.objective.direction}</td>
                      <td className="num">{fmtMetric('return_pct', w.stitched?.metrics.return_pct)}</td>
                      <td className="num">{fmtNumber(w.efficiency, 2)}</td>
                      <td>{fmtTime(w.created_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryState>
    </section>
  )
}

function NewWalkForward() {
  const create = useCreateWalkForward()
  const nav = useNavigate()
  const form = useSweepForm()
  const { f, errors, setErrors } = form
  const [w, setW] = useState<WindowsForm>(emptyWindowsForm)
  const setWin = <K extends keyof WindowsForm>(k: K) => (v: WindowsForm[K]) => {
    setW((cur) => ({ ...cur, [k]: v }))
    setErrors((e) => ({ ...e, [k]: '', windows: '', ...(k === 'unit' ? { in_sample: '', out_of_sample: '', step: '' } : {}) }))
  }
  const err = (k: string) => errors[k] || undefined
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const b = buildWalkForwardRequest(f, w, parseParams, splitSymbols)
    if (!b.ok) return setErrors(b.errors)
    setErrors({})
    create.mutate(b.value, {
      onSuccess: (r) => nav(`/ui/walkforward/${r.id}`),
      // A refusal about one field is shown under it; anything else below the form.
      onError: (error) => {
        const at = refusalField(error, f.axes)
        if (at) setErrors({ [at.field]: at.message })
      },
    })
  }
  const size = (k: 'in_sample' | 'out_of_sample' | 'step', label: string) => (
    <label>{label}
      <input name={k} value={w[k]} inputMode={w.unit === 'bars' ? 'numeric' : 'text'} aria-invalid={err(k) ? true : undefined}
        placeholder={w.unit === 'bars' ? (k === 'step' ? 'out-of-sample' : 'bars') : k === 'step' ? 'out-of-sample' : DURATION_HINT}
        onChange={(e) => setWin(k)(e.target.value)} />
      <FieldError error={err(k)} name={k} />
    </label>
  )
  const bad = Object.values(errors).some(Boolean)
  const refused = create.error && !refusalField(create.error, f.axes)
  return (
    <form className="form" onSubmit={submit} aria-label="New walk-forward" data-testid="wf-form">
      <h2 className="wide">New walk-forward</h2>
      <SweepFields {...form} />
      <fieldset className="wide sweep-space" data-testid="windows-editor">
        <legend>Windows</legend>
        <div className="form flat">
          <label>Kind
            <select name="kind" value={w.kind} onChange={(e) => setWin('kind')(e.target.value as WindowsForm['kind'])}>
              <option value="rolling">rolling (in-sample slides)</option>
              <option value="anchored">anchored (in-sample grows from the start)</option>
            </select>
            <FieldError error={err('kind')} name="kind" />
          </label>
          <div className="field">
            <span className="small" id="wf-unit">Sizes in</span>
            <span className="seg" role="group" aria-labelledby="wf-unit">
              {(['bars', 'duration'] as SizeUnit[]).map((u) => (
                <button key={u} type="button" aria-pressed={w.unit === u} data-testid={`unit-${u}`} onClick={() => setWin('unit')(u)}>{u}</button>
              ))}
            </span>
          </div>
          {size('in_sample', 'In-sample')}
          {size('out_of_sample', 'Out-of-sample')}
          {size('step', 'Step (optional)')}
        </div>
        <FieldError error={err('windows')} name="windows" />
        <p className="small">Each window's best point in-sample is run on the out-of-sample part that follows; the out-of-sample parts are stitched into one curve. The step (default: the out-of-sample size) may not be shorter than the out-of-sample size.</p>
      </fieldset>
      <div className="wide row">
        <button className="primary" type="submit" disabled={create.isPending}>{create.isPending ? 'Starting…' : 'Start walk-forward'}</button>
        {bad && <span className="neg">check the fields marked</span>}
      </div>
      {refused && <Refusal error={create.error} />}
    </form>
  )
}
