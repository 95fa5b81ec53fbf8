// Backtests side by side, any number of them (`?ids=1,2,3`; the older `?a=1&b=2` still works):
// every metric with its delta against the first and the better value marked (lib/compare.ts
// knows which metrics are better higher or lower), the parameters and settings with those that
// differ highlighted, and every equity curve on one chart.
import { useMemo } from 'react'
import { useQueries } from '@tanstack/react-query'
import { Link, useSearchParams } from 'react-router'
import { api } from '../api/client'
import type { Backtest, Report } from '../api/types'
import { LineChart } from '../components/charts'
import { ErrorNote, Loading } from '../components/ui'
import { BETTER, compareIds, compareMetrics, MAX_COMPARED, paramDiff, type DiffRow } from '../lib/compare'
import { fmtMetric, metricLabel } from '../lib/format'
import { toLinePoints } from '../lib/trades'
import { configOf, reportOf } from './backtests'

/** One color per curve, in column order (repeats past the palette). */
export const PALETTE = ['#2962ff', '#f57c00', '#2e7d32', '#8e24aa', '#c62828', '#00838f', '#6d4c41', '#ad1457', '#546e7a', '#9e9d24', '#283593', '#ef6c00']

export default function BacktestCompare() {
  const [p] = useSearchParams()
  const ids = compareIds(p)
  if (ids.length < 2)
    return (
      <section>
        <p className="small"><Link to="/ui/backtests">← Backtests</Link></p>
        <h1>Compare backtests</h1>
        <p className="note" role="status" data-testid="compare-needs-two">
          Compare needs two backtests or more (<code>?ids=&lt;id&gt;,&lt;id&gt;,…</code>, at most {MAX_COMPARED}): tick them on the{' '}
          <Link to="/ui/backtests">Backtests</Link> page and press "Compare selected".
        </p>
      </section>
    )
  return <Comparison ids={ids} />
}

function Comparison({ ids }: { ids: string[] }) {
  const qs = useQueries({
    queries: ids.map((id) => ({
      queryKey: ['backtests', id],
      queryFn: () => api.get<Backtest>(`/backtests/${id}`),
      // One still working: look again each second, as its own page does.
      refetchInterval: (q: { state: { data?: Backtest } }) => (q.state.data?.status === 'queued' || q.state.data?.status === 'running' ? 1000 : false),
    })),
  })
  const pending = qs.some((q) => q.isPending)
  const errors = qs.flatMap((q) => (q.error ? [q.error] : []))
  const done = qs.every((q) => q.data)
  const backtests = qs.map((q) => q.data).filter((b): b is Backtest => Boolean(b))
  const reports = backtests.map((b) => reportOf(b))
  const ready = done && reports.every((r) => r !== null)
  return (
    <section>
      <p className="small"><Link to="/ui/backtests">← Backtests</Link></p>
      <h1>Compare {ids.map((id) => `#${id}`).join(', ')}</h1>
      {errors.map((e, i) => <ErrorNote key={i} error={e} />)}
      {pending && <Loading />}
      {done && !ready && <p className="note">Every backtest needs a finished report to compare.</p>}
      {ready && <CompareBody backtests={backtests} reports={reports as Report[]} />}
    </section>
  )
}

export function CompareBody({ backtests, reports }: { backtests: Backtest[]; reports: Report[] }) {
  const names = backtests.map((b, i) => `#${b.id} ${reports[i].strategy.name}`)
  const rows = useMemo(() => compareMetrics(reports.map((r) => r.metrics)), [reports])
  const params = useMemo(() => paramDiff(reports.map((r, i) => r.strategy.params ?? (configOf(backtests[i]) as { params?: Record<string, unknown> }).params ?? {})), [reports, backtests])
  const settings = useMemo(() => paramDiff(backtests.map((b) => {
    const { params: _p, strategy: _s, ...rest } = (b.config ?? {}) as Record<string, unknown>
    return rest
  })), [backtests])
  const lines = useMemo(
    () => reports.map((r, i) => ({ name: `#${backtests[i].id}`, color: PALETTE[i % PALETTE.length], points: toLinePoints(r.equity ?? [], (e) => e.ts, (e) => e.equity) })),
    [reports, backtests],
  )
  return (
    <>
      <h2>Metrics</h2>
      <p className="small">Δ is against the first backtest; <span className="better">▲ marks the better value</span> where a metric ranks (higher or lower is better).</p>
      <div className="table-wrap">
        <table data-testid="compare-metrics">
          <thead><tr><th>Metric</th>{names.map((n) => <th key={n} className="num">{n}</th>)}</tr></thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.key} data-metric={r.key}>
                <td>{metricLabel(r.key)}{BETTER[r.key] && <span className="small muted"> ({BETTER[r.key]} is better)</span>}</td>
                {r.values.map((v, i) => {
                  const best = r.best.includes(i)
                  const d = r.deltas[i]
                  return (
                    <td key={i} className={best ? 'num better' : 'num'} data-best={best || undefined}>
                      {fmtMetric(r.key, v)}{best && <span aria-label="better"> ▲</span>}
                      {d !== null && d !== 0 && <div className="small delta">Δ {d > 0 ? '+' : '−'}{fmtMetric(r.key, Math.abs(d))}</div>}
                    </td>
                  )
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Parameters</h2>
      <DiffTable rows={params} names={names} testId="compare-params" empty="No parameters." />
      <h2>Settings</h2>
      <DiffTable rows={settings} names={names} testId="compare-settings" empty="No settings." />
      <h2>Equity</h2>
      <LineChart lines={lines} testId="compare-chart" />
    </>
  )
}

/** Values side by side; rows whose values differ are highlighted and say so. */
function DiffTable({ rows, names, testId, empty }: { rows: DiffRow[]; names: string[]; testId: string; empty: string }) {
  if (rows.length === 0) return <p className="empty">{empty}</p>
  return (
    <div className="table-wrap">
      <table data-testid={testId}>
        <thead><tr><th>Name</th>{names.map((n) => <th key={n}>{n}</th>)}</tr></thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.name} className={r.differs ? 'differs' : undefined} data-differs={r.differs || undefined}>
              <td>{r.name}{r.differs && <span className="small"> (differs)</span>}</td>
              {r.values.map((v, i) => <td key={i}><code>{v}</code></td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
