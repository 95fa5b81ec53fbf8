// The Shadows panel of a run's page: the run's shadows (version, params, status, how many bar
// times diverge and the first) with Stop, "Diff" and Promote (run-versions.tsx: the shadow's
// version and params become the run's), and, while the run is active, a form that starts one (a
// ready version of the run's own strategy; params prefilled with the run's).
// The diff (shadow-diff.tsx) is loaded on demand: it draws with lightweight-charts, which the
// run page otherwise does not need.
import { lazy, Suspense, useState, type FormEvent } from 'react'
import { useStrategies } from '../api/queries'
import { useShadowDiff, useShadows, useStartShadow, useStopShadow, type Shadow } from '../api/shadows'
import type { Run, Strategy } from '../api/types'
import { Chip, Empty, ErrorNote, Loading, QueryState, scrollable } from '../components/ui'
import { fmtTime } from '../lib/format'
import { paramsText } from '../lib/versions'
import { FieldError, parseParams } from './run-form'
import { PromoteShadowButton } from './run-versions'

const ShadowDiffView = lazy(() => import('./shadow-diff'))

export function ShadowsPanel({ run }: { run: Run }) {
  const q = useShadows(run.id)
  // Every version of the run's strategy name: the version labels for the list, the ready ones
  // for the picker.
  const versions = useStrategies(run.strategy_name ?? undefined)
  const same = (versions.data ?? []).filter((s) => s.name === run.strategy_name)
  const [open, setOpen] = useState<number | null>(null)
  const shown = q.data?.find((s) => s.id === open)
  return (
    <section data-testid="shadows">
      <h2>Shadows</h2>
      <QueryState q={q} what="Shadow runs">
        {() => (q.data!.length === 0
          ? <Empty>No shadows. A shadow runs another version or other parameters beside this run, on the same bars, never sent to a venue.</Empty>
          : <ShadowTable run={run} shadows={q.data!} versions={same} open={open} onOpen={(id) => setOpen(open === id ? null : id)} />)}
      </QueryState>
      {shown && (
        <Suspense fallback={<Loading />}>
          <ShadowDiffView run={run} shadow={shown} label={versionOf(same, shown.strategy_id)} />
        </Suspense>
      )}
      {/* A shadow starts only beside a run executing now (else 409 `run_not_active`). */}
      {run.status === 'running' && <StartShadowForm run={run} versions={same} />}
    </section>
  )
}

const versionOf = (versions: Strategy[], id: number) => {
  const v = versions.find((s) => s.id === id)
  return v ? `${v.name} v${v.version}` : `strategy #${id}`
}

function ShadowTable({ run, shadows, versions, open, onOpen }: {
  run: Run; shadows: Shadow[]; versions: Strategy[]; open: number | null; onOpen: (id: number) => void
}) {
  const stop = useStopShadow(run.id)
  return (
    <>
      {stop.error && <ErrorNote error={stop.error} />}
      <div className="table-wrap" {...scrollable('Shadows')}>
        <table data-testid="shadows-table">
          <thead>
            <tr><th>#</th><th>Version</th><th>Params</th><th>Status</th><th className="num">Divergences</th><th>First divergence</th><th /></tr>
          </thead>
          <tbody>
            {shadows.map((s) => (
              <tr key={s.id} data-testid={`shadow-${s.id}`}>
                <td>{s.id}</td>
                <td>{versionOf(versions, s.strategy_id)}</td>
                <td><code className="small">{JSON.stringify(s.params)}</code></td>
                <td><Chip value={s.status} />{s.error_code && <> <code className="small">{s.error_code}</code></>}</td>
                <DiffCells run={run} shadow={s} />
                <td className="row">
                  <button type="button" onClick={() => onOpen(s.id)} aria-expanded={open === s.id} data-testid={`shadow-diff-${s.id}`}>
                    {open === s.id ? 'Hide diff' : 'Diff'}
                  </button>
                  {s.status === 'running' && (
                    <button type="button" className="danger" disabled={stop.isPending} onClick={() => stop.mutate(s.id)} data-testid={`shadow-stop-${s.id}`}>
                      Stop
                    </button>
                  )}
                  {/* Only a running shadow of a running run can be promoted (else 409). */}
                  {s.status === 'running' && run.status === 'running' && <PromoteShadowButton run={run} shadow={s} label={versionOf(versions, s.strategy_id)} />}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  )
}

/** The list's two diff figures; the same query as the open diff, so it is fetched once. */
function DiffCells({ run, shadow }: { run: Run; shadow: Shadow }) {
  const d = useShadowDiff(run.id, shadow)
  if (!d.data) return <><td className="num">{d.error ? '?' : '…'}</td><td /></>
  return (
    <>
      <td className="num" data-testid={`shadow-divergences-${shadow.id}`}>{d.data.divergences}</td>
      <td data-testid={`shadow-first-${shadow.id}`}>{d.data.first_divergence ? fmtTime(d.data.first_divergence) : 'none'}</td>
    </>
  )
}

function StartShadowForm({ run, versions }: { run: Run; versions: Strategy[] }) {
  const start = useStartShadow(run.id)
  const ready = versions.filter((s) => s.status === 'ready')
  const [picked, setPicked] = useState('')
  // Prefilled with the run's parameters when GET /runs/{id} has them; an empty box sends none,
  // and the server then gives the shadow the run's own.
  const [params, setParams] = useState(() => paramsText(run.params))
  const [error, setError] = useState<string>()
  const strategyId = picked || String(ready.find((s) => s.id === run.strategy_id)?.id ?? ready[0]?.id ?? '')
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const p = parseParams(params)
    if (!p.ok) return setError(p.error)
    setError(undefined)
    if (!strategyId) return
    start.mutate({ strategy: Number(strategyId), ...(p.value ? { params: p.value } : {}) })
  }
  return (
    <form className="form" onSubmit={submit} aria-label="Start shadow" noValidate data-testid="shadow-form">
      <label>Version
        <select value={strategyId} onChange={(e) => setPicked(e.target.value)} data-testid="shadow-version">
          {ready.length === 0 && <option value="">no ready version</option>}
          {ready.map((s) => (
            <option key={s.id} value={s.id}>v{s.version} (#{s.id}){s.id === run.strategy_id ? ' · the run’s' : ''}</option>
          ))}
        </select>
      </label>
      <label className="wide">Params (JSON; empty: the run’s)
        <textarea rows={2} value={params} onChange={(e) => setParams(e.target.value)} placeholder='{"fast": 5}' data-testid="shadow-params" />
        <FieldError error={error} name="shadow-params" />
      </label>
      <div className="wide row">
        <button type="submit" disabled={start.isPending || !strategyId} data-testid="shadow-start">
          {start.isPending ? 'Starting…' : 'Start shadow'}
        </button>
        {start.data && !start.isPending && <span className="small" role="status">Shadow #{start.data.id} started.</span>}
      </div>
      {start.error && <div className="wide"><ErrorNote error={start.error} /></div>}
    </form>
  )
}
