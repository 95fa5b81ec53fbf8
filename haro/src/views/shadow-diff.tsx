// A shadow beside its run (GET /runs/{id}/shadows/{sid}/diff): both equity curves on one chart
// with the first divergence marked, and the bar times where their order intents differ, a page
// at a time. Loaded lazily by the Shadows panel (it pulls in the chart library).
import { useMemo } from 'react'
import { useShadowDiff, type BarDiff, type Intent, type Shadow } from '../api/shadows'
import type { Run } from '../api/types'
import { LineChart } from '../components/charts'
import { Empty, QueryState, usePaged, scrollable } from '../components/ui'
import { fmtTime } from '../lib/format'
import { toLinePoints, toSeconds } from '../lib/trades'

const PAGE = 25

/** One intent on one line: its kind, then its fields (`place_order side=buy symbol=GOOG …`). */
export function intentText(i: Intent): string {
  const { intent, ...rest } = i
  const fields = Object.entries(rest)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
  return [String(intent ?? '?'), ...fields].join(' ')
}

function Intents({ list, testId }: { list: Intent[]; testId: string }) {
  if (list.length === 0) return <span className="muted" data-testid={testId}>(none)</span>
  return (
    <div className="small" data-testid={testId}>
      {list.map((i, n) => <div key={n}><code>{intentText(i)}</code></div>)}
    </div>
  )
}

export default function ShadowDiffView({ run, shadow, label }: { run: Run; shadow: Shadow; label: string }) {
  const q = useShadowDiff(run.id, shadow)
  return (
    <div className="card" data-testid="shadow-diff">
      <h3>Shadow #{shadow.id} ({label}) beside run #{run.id}</h3>
      <QueryState q={q} what="Shadow diff">{() => <DiffBody diff={q.data!} runId={run.id} />}</QueryState>
    </div>
  )
}

function DiffBody({ diff, runId }: { diff: NonNullable<ReturnType<typeof useShadowDiff>['data']>; runId: number }) {
  const lines = useMemo(() => [
    { name: `run #${runId}`, color: '#2962ff', points: toLinePoints(diff.run_equity, (e) => e.ts, (e) => e.equity) },
    { name: `shadow #${diff.shadow.id}`, color: '#f57c00', points: toLinePoints(diff.shadow_equity, (e) => e.ts, (e) => e.equity) },
  ], [diff, runId])
  // The marker goes on the run's curve at the last point not after the divergence: curves of
  // long runs are thinned to 2000 points, so the bar itself may have none.
  const mark = useMemo(() => {
    if (!diff.first_divergence) return null
    const t = toSeconds(diff.first_divergence)
    const pts = lines[0].points.filter((p) => p.time <= t)
    const at = pts.length ? pts[pts.length - 1].time : lines[0].points[0]?.time
    return at === undefined ? null : { time: at, text: 'first divergence' }
  }, [diff.first_divergence, lines])
  const divergent = useMemo(() => diff.bars.filter((b) => b.diverges), [diff.bars])
  const { rows, pager } = usePaged(divergent, PAGE)
  const noCurve = lines.every((l) => l.points.length === 0)
  return (
    <>
      <p className="small" data-testid="shadow-diff-summary">
        {diff.first_divergence
          ? <>First divergence at <b data-testid="shadow-first-divergence">{fmtTime(diff.first_divergence)}</b> · {diff.divergences} bar times differ</>
          : <b data-testid="shadow-first-divergence">No divergence</b>}
        {diff.compared_until && <> · compared until {fmtTime(diff.compared_until)}</>}
        {' '}· run equity: {diff.run_equity_source === 'venue_fills' ? 'its venue fills at the latest closes' : 'its simulated exchange'}
        {diff.truncated && <> · only the first 2000 bar times with intents</>}
      </p>
      {noCurve ? <Empty>No equity recorded yet.</Empty> : <LineChart lines={lines} mark={mark} short testId="shadow-equity-chart" />}
      {divergent.length === 0 ? <Empty>Their order intents agree at every bar so far.</Empty> : (
        <>
          <div className="table-wrap" {...scrollable('Bars where the intents differ')}>
            <table data-testid="shadow-divergent-rows">
              <thead><tr><th>Bar</th><th>Run intents</th><th>Shadow intents</th></tr></thead>
              <tbody>
                {rows.map((b: BarDiff) => (
                  <tr key={b.bar_ts} className={b.bar_ts === diff.first_divergence ? 'first-divergence' : undefined} data-testid="shadow-divergent-row">
                    <td>{fmtTime(b.bar_ts)}{b.bar_ts === diff.first_divergence && <> <span className="chip bad">first</span></>}</td>
                    <td><Intents list={b.run} testId="run-intents" /></td>
                    <td><Intents list={b.shadow} testId="shadow-intents" /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {pager}
        </>
      )}
    </>
  )
}
