// One run: status (and the error code when it failed), account figures, sandbox figures
// (fuel, memory, calls), its charts (run-charts.tsx: progress, equity curve, price with its fills at
// bar times; loaded on demand with the chart library), positions, orders and logs. Refreshed by
// events, not by polling.
// "Replay" replays the run server-side and shows whether its intents match the recording.
// While it runs: Stop (with its choices), Close per position, Flatten run, an order by hand and
// Cancel per working order. The Risk panel (run-risk.tsx): its trading state and why, its limits,
// Edit limits, and setting its own state (with "and flatten"). Versions (run-versions.tsx): the
// run's strategy versions, Roll back and promoting a version. Shadows (run-shadows.tsx): the
// run's shadows, their diffs, promoting one, and starting one while it runs.
import { lazy, Suspense } from 'react'
import { Link, useParams } from 'react-router'
import { useReplayRun, useRun } from '../api/queries'
import type { ReplayReport, Run } from '../api/types'
import { Chip, Empty, ErrorNote, Loading, Pnl, QueryState } from '../components/ui'
import { fmtBytes, fmtMoney, fmtNumber, fmtTime } from '../lib/format'
import { StopButton } from './control'
import { HandOrderForm } from './hand-order'
import { OrdersPager } from './orders'
import { RunPositions } from './run-positions'
import { RiskPanel } from './run-risk'
import { ShadowsPanel } from './run-shadows'
import { RunLogs } from './run-logs'
import { VersionsPanel } from './run-versions'

// The charts pull in lightweight-charts: a chunk of their own, as the backtest pages.
const RunCharts = lazy(() => import('./run-charts').then((m) => ({ default: m.RunCharts })))

export function RunDetail() {
  const { id = '' } = useParams()
  const q = useRun(id)
  return (
    <section>
      <p className="small"><Link to="/ui/runs">← Runs</Link></p>
      <QueryState q={q}>{() => <RunBody run={q.data!} />}</QueryState>
    </section>
  )
}

function RunBody({ run }: { run: Run }) {
  const f = run.figures
  const replay = useReplayRun()
  return (
    <>
      <h1 className="row">
        Run #{run.id} <Chip value={run.status} /> <StopButton run={run} />
        <button type="button" disabled={replay.isPending} onClick={() => replay.mutate(run.id)} data-testid="replay">
          {replay.isPending ? 'Replaying…' : 'Replay'}
        </button>
      </h1>
      <p className="small">
        {run.strategy_name ?? `strategy #${run.strategy_id}`} · {run.mode} · {run.venue} · {run.symbols.join(', ')} · {run.timeframe}
        {run.started_at && <> · started {fmtTime(run.started_at)}</>}
        {run.stopped_at && <> · stopped {fmtTime(run.stopped_at)}</>}
      </p>
      {run.error_code && <div className="error" role="alert">Failed: <code data-testid="run-error">{run.error_code}</code></div>}
      {run.figures?.waiting_for_store && (
        <div className="error" role="status" data-testid="waiting-for-store">
          Paused: waiting for the database to journal an order ({run.figures.waiting_for_store}). It goes on where it stopped when the database is back.
        </div>
      )}
      {run.status === 'suspended' && <p className="note" data-testid="run-suspended">Suspended by a shutdown of the server: it resumes when the server starts again.</p>}
      {replay.error && <ErrorNote error={replay.error} />}
      {replay.data && <ReplayResult report={replay.data} />}
      <div className="cards">
        <div className="card">
          <h3>Account</h3>
          <div className="stats">
            <div className="stat"><span className="small">Equity</span><b>{fmtMoney(run.equity)}</b></div>
            <div className="stat"><span className="small">Cash</span><b>{fmtMoney(run.cash)}</b></div>
            <div className="stat"><span className="small">PnL</span><b><Pnl value={run.pnl?.total} /></b></div>
          </div>
          {run.pnl && <div className="small">realized <Pnl value={run.pnl.realized} /> · unrealized <Pnl value={run.pnl.unrealized} /></div>}
        </div>
        <div className="card" data-testid="figures">
          <h3>Sandbox</h3>
          {f ? (
            <div className="stats">
              <div className="stat"><span className="small">Bars</span><b>{f.bars}</b></div>
              <div className="stat"><span className="small">Order intents</span><b data-testid="order-intents">{f.order_intents}</b></div>
              <div className="stat"><span className="small">Fuel / event</span><b>{fmtNumber(f.fuel_per_event, 0)}</b></div>
              <div className="stat"><span className="small">Fuel max</span><b>{fmtNumber(f.fuel_max, 0)}</b></div>
              <div className="stat"><span className="small">Peak memory / limit</span><b>{fmtBytes(f.peak_memory_bytes)} / {fmtBytes(f.limits.max_memory_bytes)}</b></div>
              <div className="stat"><span className="small">Fuel limit / event, / bar</span><b>{fmtNumber(f.limits.fuel_per_event, 0)}, {fmtNumber(f.limits.fuel_per_bar, 0)}</b></div>
              <div className="stat"><span className="small">Peak host / budget</span><b>{fmtBytes(f.peak_host_bytes)} / {fmtBytes(f.limits.max_host_bytes)}</b></div>
              <div className="stat"><span className="small">Calls / traps</span><b>{f.calls} / {f.traps}</b></div>
            </div>
          ) : <Empty>No figures yet.</Empty>}
        </div>
      </div>
      <Suspense fallback={<Loading what="Loading the charts" />}><RunCharts run={run} /></Suspense>
      <RiskPanel run={run} />
      <RunPositions run={run} />
      {run.status === 'running' && (
        <>
          <h2>Order by hand</h2>
          <HandOrderForm run={run} />
        </>
      )}
      <VersionsPanel run={run} />
      <ShadowsPanel run={run} />
      <h2>Orders</h2>
      <RunOrders id={run.id} />
      <h2>Logs</h2>
      <RunLogs id={run.id} />
    </>
  )
}

/** What a replay found: identical, or the first decision that differs (both sides). */
export function ReplayResult({ report }: { report: ReplayReport }) {
  const m = report.first_mismatch
  const intents = (i: unknown) => (i === null || i === undefined ? '(no decision)' : JSON.stringify(i))
  return (
    <div className={report.identical ? 'note' : 'error'} role="status" data-testid="replay-result">
      <b>{report.identical ? 'Replay identical' : 'Replay differs'}</b>{' '}
      <span className="small">
        {report.decisions_compared} decisions compared · {report.recorded} recorded · {report.replayed} replayed
      </span>
      {m && (
        <div className="small">
          First difference: decision {m.index}
          {m.bar_ts && <> at {fmtTime(m.bar_ts)}</>}
          {m.replayed_bar_ts && <> (replayed at {fmtTime(m.replayed_bar_ts)})</>}
          <pre className="logs" role="region" aria-label="Replay difference" tabIndex={0}>{`recorded: ${intents(m.recorded)}\nreplayed: ${intents(m.replayed)}`}</pre>
        </div>
      )}
    </div>
  )
}

function RunOrders({ id }: { id: number }) {
  return <OrdersPager filter={{ run: String(id) }} empty="No orders yet." />
}
