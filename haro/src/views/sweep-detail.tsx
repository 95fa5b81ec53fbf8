// One sweep: its progress (polled while it works), cancel, the best point, the results table
// sorted and paged by the server, a heatmap when two parameters vary, and per point its report
// or a backtest of it, and its overfitting figures.
import { useState } from 'react'
import { Link, useNavigate, useParams } from 'react-router'
import { useCancelSweep, useOpenAsBacktest, usePointReport, useSweep, working, type ResultsQuery, type Sweep, type SweepPoint } from '../api/sweeps'
import { Chip, Empty, ErrorNote, QueryState, SortTh, scrollable } from '../components/ui'
import { fmtMetric, fmtNumber, fmtTime } from '../lib/format'
import { cellColour, heatmapOf, type Heatmap } from '../lib/sweeps'
import { OverfittingCard } from './overfitting'
import { Progress } from './sweeps'

/** Rows a page of the results table. */
export const PAGE = 25
/** Points the heatmap reads (the server's page limit); a larger sweep shows its first ones. */
const HEATMAP_POINTS = 1000
/** The metric columns of the table; the objective's own column sorts by the default order. */
const COLUMNS = ['return_pct', 'sharpe', 'max_drawdown_pct', 'trades', 'win_rate_pct'] as const
const OBJECTIVE = 'objective'

type Dir = 'asc' | 'desc'
const cfg = (s: Sweep) => s.config as { objective?: { metric?: string; direction?: 'max' | 'min' }; symbols?: string[]; timeframe?: string; method?: { kind?: string } }
const show = (v: unknown) => (typeof v === 'number' ? fmtNumber(v, Number.isInteger(v) ? 0 : 4) : String(v))
const paramsText = (p: SweepPoint) => Object.entries(p.params).map(([k, v]) => `${k}=${show(v)}`).join(' ')

export default function SweepDetail() {
  const { id = '' } = useParams()
  // The default order is the server's: feasible first, best first by the objective.
  const [sort, setSort] = useState<{ key: string; dir: Dir }>({ key: OBJECTIVE, dir: 'desc' })
  const [offset, setOffset] = useState(0)
  const page: ResultsQuery = sort.key === OBJECTIVE && sort.dir === 'desc'
    ? { offset, limit: PAGE }
    : { offset, limit: PAGE, sort: sort.key === OBJECTIVE ? undefined : sort.key, order: sort.dir }
  const q = useSweep(id, page)
  const onSort = (key: string) => {
    setOffset(0)
    setSort((cur) => (cur.key === key ? { key, dir: cur.dir === 'asc' ? 'desc' : 'asc' } : { key, dir: 'desc' }))
  }
  return (
    <section>
      <p className="small"><Link to="/ui/sweeps">← Sweeps</Link></p>
      <h1>Sweep {id}</h1>
      <QueryState q={q} what="Sweep">
        {() => <Body s={q.data!} id={id} sort={sort} onSort={onSort} offset={offset} setOffset={setOffset} />}
      </QueryState>
    </section>
  )
}

function Body({ s, id, sort, onSort, offset, setOffset }: {
  s: Sweep; id: string; sort: { key: string; dir: Dir }; onSort: (k: string) => void; offset: number; setOffset: (n: number) => void
}) {
  const cancel = useCancelSweep(id)
  const c = cfg(s)
  const metric = c.objective?.metric ?? 'objective'
  const direction = c.objective?.direction ?? 'max'
  const [reportOf, setReportOf] = useState<number | null>(null)
  const finished = s.progress.done + s.progress.failed
  const rows = s.results ?? []
  return (
    <>
      <div className="row" style={{ marginBottom: '.6rem' }}>
        <Chip value={s.status} />
        <Progress p={s.progress} />
        {working(s) && (
          <button type="button" onClick={() => cancel.mutate()} disabled={cancel.isPending} data-testid="sweep-cancel">
            {cancel.isPending ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
      </div>
      <p className="small">
        {(c.symbols ?? []).join(', ')} {c.timeframe} · {c.method?.kind} · objective <code>{metric}</code> ({direction}) · created {fmtTime(s.created_at)}
      </p>
      {s.workers && <WorkersLine w={s.workers} />}
      {s.error && <p className="neg">{s.error}</p>}
      {cancel.error && <ErrorNote error={cancel.error} />}
      <h2>Best point</h2>
      {s.best ? (
        <p data-testid="sweep-best-point">
          #{s.best.index} {paramsText(s.best)} · {metric} <strong>{fmtNumber(s.best.objective, 4)}</strong>
          {' '}<PointActions id={id} point={s.best} onReport={setReportOf} />
        </p>
      ) : <Empty>{working(s) ? 'No feasible point yet.' : 'No feasible point.'}</Empty>}
      {s.overfitting !== undefined && <OverfittingCard o={s.overfitting} pending={working(s)} />}
      {reportOf !== null && <PointReport id={id} index={reportOf} onClose={() => setReportOf(null)} />}

      <h2>Results</h2>
      {rows.length === 0 && offset === 0 ? <Empty>No finished points yet.</Empty> : (
        <>
          <div className="table-wrap" {...scrollable('Sweep results')}>
            <table data-testid="sweep-results">
              <thead>
                <tr>
                  <th className="num">#</th><th>Params</th><th>Status</th>
                  <SortTh k={OBJECTIVE} label={`${metric} (objective)`} sort={sort} onSort={onSort} num />
                  {COLUMNS.filter((k) => k !== metric).map((k) => <SortTh key={k} k={k} label={k} sort={sort} onSort={onSort} num />)}
                  <th />
                </tr>
              </thead>
              <tbody>
                {rows.map((p) => (
                  <tr key={p.index} data-testid="sweep-row" className={p.feasible ? undefined : 'muted'}>
                    <td className="num">{p.index}</td>
                    <td>{paramsText(p)}</td>
                    <td><Chip value={p.status} />{!p.feasible && p.status !== 'failed' && <span className="small"> infeasible</span>}{p.error && <span className="small neg" title={p.error}> {p.error.slice(0, 60)}</span>}</td>
                    <td className="num">{fmtNumber(p.objective, 4)}</td>
                    {COLUMNS.filter((k) => k !== metric).map((k) => <td key={k} className="num">{fmtMetric(k, p.metrics?.[k])}</td>)}
                    <td><PointActions id={id} point={p} onReport={setReportOf} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="row pager">
            <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))} data-testid="results-prev">← Previous</button>
            <span className="small">{offset + 1}–{offset + rows.length} of {finished}</span>
            <button type="button" disabled={offset + PAGE >= finished} onClick={() => setOffset(offset + PAGE)} data-testid="results-next">Next →</button>
          </div>
        </>
      )}
      <HeatmapSection id={id} s={s} metric={metric} direction={direction} />
    </>
  )
}

function PointActions({ id, point, onReport }: { id: string; point: SweepPoint; onReport: (i: number) => void }) {
  const open = useOpenAsBacktest(id)
  const nav = useNavigate()
  if (point.status === 'failed') return null
  return (
    <span className="row" style={{ display: 'inline-flex' }}>
      <button type="button" onClick={() => onReport(point.index)} data-testid={`report-${point.index}`}>Report</button>
      <button type="button" disabled={open.isPending} onClick={() => open.mutate(point.index, { onSuccess: (b) => nav(`/ui/backtests/${b.id}`) })} data-testid={`open-${point.index}`}>
        {open.isPending ? 'Opening…' : 'Open as backtest'}
      </button>
      {open.error && <ErrorNote error={open.error} />}
    </span>
  )
}

const SUMMARY = ['return_pct', 'cagr_pct', 'sharpe', 'sortino', 'calmar', 'max_drawdown_pct', 'trades', 'win_rate_pct', 'profit_factor', 'exposure_time_pct', 'equity_final']

/** A point's report summary; the server runs the point again for it, so it may take a moment. */
function PointReport({ id, index, onClose }: { id: string; index: number; onClose: () => void }) {
  const q = usePointReport(id, index)
  return (
    <div className="card" data-testid="point-report" style={{ marginBottom: '1rem' }}>
      <div className="row"><strong>Report of point #{index}</strong><button type="button" onClick={onClose}>Close</button></div>
      <QueryState q={q} what="Report">
        {() => (
          <dl className="metrics">
            {SUMMARY.filter((k) => q.data!.metrics[k] !== undefined).map((k) => (
              <div key={k}><dt>{k}</dt><dd data-testid={`report-${k}`}>{fmtMetric(k, q.data!.metrics[k])}</dd></div>
            ))}
            <div><dt>closed trades</dt><dd>{q.data!.trades?.length ?? 0}</dd></div>
          </dl>
        )}
      </QueryState>
    </div>
  )
}

function HeatmapSection({ id, s, metric, direction }: { id: string; s: Sweep; metric: string; direction: 'max' | 'min' }) {
  // Every point (up to the page limit), in the default order: the heatmap needs them all, not
  // the table's page.
  const q = useSweep(id, { offset: 0, limit: HEATMAP_POINTS })
  const points = q.data?.results ?? []
  const map = heatmapOf(points)
  if (!map) return null
  return (
    <>
      <h2>Heatmap</h2>
      <p className="small">{metric} by {map.x} (across) and {map.y} (down); greener is better. ✕ failed, ○ infeasible.{s.progress.total > HEATMAP_POINTS && ` The first ${HEATMAP_POINTS} points only.`}</p>
      <HeatmapSvg map={map} direction={direction} />
    </>
  )
}

const CELL = 44
const LEFT = 56
const TOP = 20

export function HeatmapSvg({ map, direction }: { map: Heatmap; direction: 'max' | 'min' }) {
  const w = LEFT + map.xs.length * CELL
  const h = TOP + map.ys.length * CELL + 18
  return (
    <div className="table-wrap heatmap" {...scrollable('Heatmap')}>
      <svg width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`heatmap of ${map.x} and ${map.y}`} data-testid="heatmap">
        {map.xs.map((v, c) => <text key={c} x={LEFT + c * CELL + CELL / 2} y={14} textAnchor="middle" fontSize="11" fill="currentColor">{show(v)}</text>)}
        {map.ys.map((v, r) => <text key={r} x={LEFT - 4} y={TOP + r * CELL + CELL / 2 + 4} textAnchor="end" fontSize="11" fill="currentColor">{show(v)}</text>)}
        <text x={LEFT} y={h - 4} fontSize="11" fill="currentColor">{map.x} →, {map.y} ↓</text>
        {map.cells.map((row, r) => row.map((p, c) => {
          const x = LEFT + c * CELL
          const y = TOP + r * CELL
          const failed = p?.status === 'failed'
          const scored = p && !failed && p.feasible && typeof p.objective === 'number' && map.lo !== null && map.hi !== null
          const fill = scored ? cellColour(p.objective as number, map.lo!, map.hi!, direction) : 'var(--panel)'
          const mark = !p ? '' : failed ? '✕' : !p.feasible ? '○' : fmtNumber(p.objective, 2)
          return (
            <g key={`${r}-${c}`} data-testid={`cell-${r}-${c}`} data-index={p?.index} data-state={!p ? 'pending' : failed ? 'failed' : p.feasible ? 'ok' : 'infeasible'}>
              <title>{p ? `#${p.index} ${map.x}=${show(map.xs[c])} ${map.y}=${show(map.ys[r])}: ${failed ? `failed ${p.error ?? ''}` : fmtNumber(p.objective, 4)}${p.feasible || failed ? '' : ' (infeasible)'}` : 'not run yet'}</title>
              <rect x={x + 1} y={y + 1} width={CELL - 2} height={CELL - 2} fill={fill} stroke="var(--border)" />
              <text x={x + CELL / 2} y={y + CELL / 2 + 4} textAnchor="middle" fontSize="10" fill={scored ? '#fff' : 'currentColor'}>{mark}</text>
            </g>
          )
        }))}
      </svg>
    </div>
  )
}

/** How `weaver worker` processes share a sweep they run (WEAVER_WORKERS=external). */
function WorkersLine({ w }: { w: NonNullable<Sweep['workers']> }) {
  const chunks = w.pending + w.leased + w.done
  return (
    <p className="small" data-testid="sweep-workers">
      Run by {w.workers} {w.workers === 1 ? 'worker' : 'workers'} · chunks {w.done}/{chunks} done, {w.leased} running, {w.pending} waiting
      {w.retries > 0 && <> · <span className="neg">{w.retries} taken over after a worker stopped</span></>}
      {w.workers === 0 && w.done === 0 && ' · no worker has claimed it yet (start `weaver worker`)'}
    </p>
  )
}
