// Sweeps: launch one over stored candles (the form), list them with their progress and best point.
import type { FormEvent } from 'react'
import { Link, useNavigate } from 'react-router'
import { ApiError } from '../api/client'
import { useCreateSweep, useSweeps, type Sweep } from '../api/sweeps'
import { useStrategies } from '../api/queries'
import type { Strategy } from '../api/types'
import { Chip, Empty, ErrorNote, QueryState, scrollable } from '../components/ui'
import { fmtNumber, fmtTime } from '../lib/format'
import { buildSweepRequest, refusalNote } from '../lib/sweeps'
import { parseParams, splitSymbols } from './run-form'
import { SweepFields, useSweepForm } from './sweep-fields'

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
export function Refusal({ error }: { error: unknown }) {
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
  const form = useSweepForm()
  const { f, errors, setErrors } = form
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const b = buildSweepRequest(f, parseParams, splitSymbols)
    if (!b.ok) return setErrors(b.errors)
    setErrors({})
    create.mutate(b.value, { onSuccess: (s) => nav(`/ui/sweeps/${s.id}`) })
  }
  const bad = Object.values(errors).some(Boolean)
  return (
    <form className="form" onSubmit={submit} aria-label="New sweep" data-testid="sweep-form">
      <h2 className="wide">New sweep</h2>
      <SweepFields {...form} />
      <div className="wide row">
        <button className="primary" type="submit" disabled={create.isPending}>{create.isPending ? 'Starting…' : 'Start sweep'}</button>
        {bad && <span className="neg">check the fields marked</span>}
      </div>
      {create.error && <Refusal error={create.error} />}
    </form>
  )
}
