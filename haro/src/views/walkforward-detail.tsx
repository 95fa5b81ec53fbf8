// One walk-forward: its progress (polled while it works), cancel, the stitched out-of-sample
// equity curve with its metrics and the walk-forward efficiency, the windows (click one for its
// report), how stable the chosen parameters are across windows, and the overfitting figures.
import { useState } from 'react'
import { Link, useParams } from 'react-router'
import { useCancelWalkForward, useWalkForward, useWindowReport, working, type WalkForward, type WalkForwardWindow } from '../api/walkforward'
import { Chip, Empty, ErrorNote, QueryState } from '../components/ui'
import { fmtDate, fmtMetric, fmtMoney, fmtNumber, fmtTime } from '../lib/format'
import { curveGeometry, paramsText, showValue, sizeText } from '../lib/walkforward'
import { OverfittingCard, Term } from './overfitting'
import { WalkForwardProgress } from './walkforwards'

/** The stitched curve's metrics strip, in this order when present. */
const STRIP = ['return_pct', 'cagr_pct', 'sharpe', 'sortino', 'max_drawdown_pct', 'trades', 'win_rate_pct', 'profit_factor', 'exposure_time_pct', 'equity_final']
/** A window's report summary. */
const REPORT = ['return_pct', 'sharpe', 'sortino', 'max_drawdown_pct', 'trades', 'win_rate_pct', 'profit_factor', 'exposure_time_pct', 'equity_final']
const EFFICIENCY_TIP = 'Walk-forward efficiency: the mean, over the windows whose chosen point made money in-sample, of its annualised out-of-sample return ÷ its annualised in-sample return. Near 1 (or above) means the in-sample results held up out of sample; well below 1, or negative, means they did not.'
const CV_TIP = 'Coefficient of variation of the value chosen in each window (standard deviation ÷ mean): near 0 means the windows agree on the value; a large one means the best value jumps between windows. None for values that are not numbers.'

export default function WalkForwardDetail() {
  const { id = '' } = useParams()
  const q = useWalkForward(id)
  return (
    <section>
      <p className="small"><Link to="/ui/walkforward">← Walk-forward</Link></p>
      <h1>Walk-forward {id}</h1>
      <QueryState q={q} what="Walk-forward">{() => <Body w={q.data!} id={id} />}</QueryState>
    </section>
  )
}

function Body({ w, id }: { w: WalkForward; id: string }) {
  const cancel = useCancelWalkForward(id)
  const [reportOf, setReportOf] = useState<number | null>(null)
  const windows = w.windows ?? []
  const spec = w.windows_spec
  return (
    <>
      <div className="row" style={{ marginBottom: '.6rem' }}>
        <Chip value={w.status} />
        <WalkForwardProgress p={w.progress} />
        {working(w) && (
          <button type="button" onClick={() => cancel.mutate()} disabled={cancel.isPending} data-testid="wf-cancel">
            {cancel.isPending ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
      </div>
      <p className="small">
        {w.symbols.join(', ')} {w.timeframe} · {spec.kind} windows, in-sample {sizeText(spec.in_sample)}, out-of-sample {sizeText(spec.out_of_sample)}
        {spec.step != null && <>, step {sizeText(spec.step)}</>} · objective <code>{w.objective.metric}</code> ({w.objective.direction}) · created {fmtTime(w.created_at)}
        {w.finished_at && <> · finished {fmtTime(w.finished_at)}</>}
      </p>
      {w.error && <p className="neg">{w.error}</p>}
      {cancel.error && <ErrorNote error={cancel.error} />}

      <h2>Out-of-sample equity (stitched)</h2>
      {w.stitched ? (
        <>
          <EquitySvg points={w.stitched.equity} marks={windows.map((x) => x.out_of_sample.start)} />
          <dl className="metrics" data-testid="wf-metrics">
            {STRIP.filter((k) => w.stitched!.metrics[k] !== undefined).map((k) => (
              <div key={k}><dt>{k}</dt><dd data-testid={`wf-${k}`}>{fmtMetric(k, w.stitched!.metrics[k])}</dd></div>
            ))}
            <div><dt><Term label="efficiency" tip={EFFICIENCY_TIP} /></dt><dd data-testid="wf-efficiency">{fmtNumber(w.efficiency, 2)}</dd></div>
          </dl>
        </>
      ) : <Empty>{working(w) ? 'Stitched once the windows have run.' : 'No out-of-sample result.'}</Empty>}

      <h2>Windows</h2>
      {windows.length === 0 ? <Empty>No window planned yet.</Empty> : (
        <>
          <p className="small">Click a window for the report of its out-of-sample run.</p>
          <WindowsTable windows={windows} metric={w.objective.metric} selected={reportOf} onPick={setReportOf} />
        </>
      )}
      {reportOf !== null && <WindowReport id={id} index={reportOf} onClose={() => setReportOf(null)} />}

      <h2>Parameter stability</h2>
      <StabilityTable w={w} />
      <div style={{ marginTop: '1rem' }}>
        {(w.overfitting !== undefined) && <OverfittingCard o={w.overfitting} pending={working(w)} />}
      </div>
    </>
  )
}

const range = (s: { start: string; end: string; bars: number }) => `${fmtDate(s.start)} → ${fmtDate(s.end)} (${s.bars})`

function WindowsTable({ windows, metric, selected, onPick }: { windows: WalkForwardWindow[]; metric: string; selected: number | null; onPick: (i: number) => void }) {
  return (
    <div className="table-wrap">
      <table data-testid="wf-windows">
        <thead>
          <tr>
            <th className="num">#</th><th>In-sample</th><th>Out-of-sample</th><th>Best params</th><th className="num">IS {metric}</th>
            <th className="num">OOS return</th><th className="num">OOS sharpe</th><th className="num">OOS drawdown</th><th>Status</th>
          </tr>
        </thead>
        <tbody>
          {windows.map((x) => {
            const open = !!x.out_of_sample_metrics && x.status !== 'failed'
            return (
              <tr key={x.index} data-testid="wf-window" aria-current={selected === x.index ? 'true' : undefined}
                className={open ? 'clickable' : undefined} onClick={open ? () => onPick(x.index) : undefined}>
                <td className="num">
                  {open ? <button type="button" className="th" data-testid={`window-${x.index}`} onClick={(e) => { e.stopPropagation(); onPick(x.index) }}>{x.index}</button> : x.index}
                </td>
                <td>{range(x.in_sample)}</td>
                <td>{range(x.out_of_sample)}</td>
                <td>{paramsText(x.best_params)}</td>
                <td className="num">{fmtNumber(x.in_sample_objective, 4)}</td>
                <td className="num">{fmtMetric('return_pct', x.out_of_sample_metrics?.return_pct)}</td>
                <td className="num">{fmtMetric('sharpe', x.out_of_sample_metrics?.sharpe)}</td>
                <td className="num">{fmtMetric('max_drawdown_pct', x.out_of_sample_metrics?.max_drawdown_pct)}</td>
                <td><Chip value={x.status} />{x.error && <span className="small neg" title={x.error}> {x.error.slice(0, 60)}</span>}</td>
              </tr>
            )
          })}
        </tbody>
      </table>
    </div>
  )
}

/** A window's out-of-sample report summary; the server runs it again for it, so it may take a moment. */
function WindowReport({ id, index, onClose }: { id: string; index: number; onClose: () => void }) {
  const q = useWindowReport(id, index)
  return (
    <div className="card" data-testid="window-report" style={{ margin: '1rem 0' }}>
      <div className="row"><strong>Report of window #{index} (out-of-sample)</strong><button type="button" onClick={onClose}>Close</button></div>
      <QueryState q={q} what="Report">
        {() => (
          <dl className="metrics">
            {REPORT.filter((k) => q.data!.metrics[k] !== undefined).map((k) => (
              <div key={k}><dt>{k}</dt><dd data-testid={`report-${k}`}>{fmtMetric(k, q.data!.metrics[k])}</dd></div>
            ))}
            <div><dt>closed trades</dt><dd data-testid="report-closed">{q.data!.trades?.length ?? 0}</dd></div>
          </dl>
        )}
      </QueryState>
    </div>
  )
}

function StabilityTable({ w }: { w: WalkForward }) {
  const rows = Object.entries(w.stability ?? {})
  if (!rows.length) return <Empty>{working(w) ? 'Known once windows have finished.' : 'No parameter was chosen.'}</Empty>
  return (
    <div className="table-wrap">
      <table data-testid="wf-stability">
        <thead><tr><th>Parameter</th><th>Chosen per window</th><th className="num">Distinct</th><th className="num"><Term label="CV" tip={CV_TIP} /></th></tr></thead>
        <tbody>
          {rows.map(([k, s]) => (
            <tr key={k} data-testid="stability-row">
              <td>{k}</td>
              <td>{s.values.map(showValue).join(', ')}</td>
              <td className="num">{s.distinct}</td>
              <td className="num">{s.cv === null ? '—' : fmtNumber(s.cv, 3)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** The drawing's own units: the SVG stretches them to its box (the stroke keeps its width). */
const W = 1000
const H = 300

/** The stitched equity as an SVG line (like the sweep's heatmap: no chart library) stretched to
 * the box's width at a fixed height, a dashed line where each window's out-of-sample part
 * starts; the labels are HTML around it so they keep their size at any width. */
export function EquitySvg({ points, marks = [] }: { points: { ts: string; equity: number }[]; marks?: string[] }) {
  const g = curveGeometry(points, W, H)
  if (!g) return <Empty>Too few equity points for a curve.</Empty>
  const last = points[points.length - 1].equity
  const colour = last >= points[0].equity ? 'var(--good)' : 'var(--bad)'
  return (
    <div className="svg-chart">
      <div className="svg-chart-y small"><span>{fmtMoney(g.hi)}</span><span>{fmtMoney(g.lo)}</span></div>
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" data-testid="wf-equity"
        aria-label={`stitched out-of-sample equity from ${fmtMoney(points[0].equity)} to ${fmtMoney(last)}`}>
        {marks.map((m, i) => {
          const x = g.x(new Date(m).getTime())
          return Number.isFinite(x) && x > 0 && x < W
            ? <line key={i} x1={x} x2={x} y1={0} y2={H} stroke="var(--muted)" strokeDasharray="4 4" strokeWidth={1} vectorEffect="non-scaling-stroke" data-testid="wf-mark" />
            : null
        })}
        <path d={g.d} fill="none" stroke={colour} strokeWidth={2} vectorEffect="non-scaling-stroke" data-testid="wf-equity-line" />
      </svg>
      <div className="svg-chart-x small"><span>{fmtDate(new Date(g.start).toISOString())}</span><span>{fmtDate(new Date(g.end).toISOString())}</span></div>
    </div>
  )
}
