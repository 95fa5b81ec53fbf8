// Dashboard: the first-run card (while needed), accounts per venue, a status card per recent run, recent orders, the live feed.
import { Link } from 'react-router'
import { useAccounts, useOrders, useRun, useRuns } from '../api/queries'
import type { Run, UiEvent } from '../api/types'
import { useStream } from '../app/stream'
import { Chip, Empty, ErrorNote, Loading, Pnl, QueryState } from '../components/ui'
import { fmtAgo, fmtMoney, fmtQty, fmtTime } from '../lib/format'
import { eventSummary } from '../lib/events'
import { FirstRun } from './first-run'
import { OrdersTable } from './orders'

const DAY_MS = 86_400_000

export function Dashboard() {
  return (
    <section>
      <h1>Dashboard</h1>
      <FirstRun />
      <Accounts />
      <h2>Runs</h2>
      <RunCards />
      <div className="grid2">
        <div>
          <h2>Recent orders</h2>
          <RecentOrders />
        </div>
        <div>
          <h2>Live events</h2>
          <Feed />
        </div>
      </div>
    </section>
  )
}

function Accounts() {
  const q = useAccounts()
  return (
    <QueryState q={q} what="Account figures">
      {() =>
        q.data!.length === 0 ? (
          <Empty>No accounts yet.</Empty>
        ) : (
          <div className="cards" data-testid="accounts">
            {q.data!.map((a) => (
              <div className="card" key={a.venue}>
                <h3>{a.venue} <span className="small">{a.runs} run{a.runs === 1 ? '' : 's'}</span></h3>
                <div className="stats">
                  <div className="stat"><span className="small">Equity</span><b>{fmtMoney(a.equity)}</b></div>
                  <div className="stat"><span className="small">Cash</span><b>{fmtMoney(a.cash)}</b></div>
                  <div className="stat"><span className="small">Buying power</span><b>{fmtMoney(a.buying_power)}</b></div>
                </div>
              </div>
            ))}
          </div>
        )
      }
    </QueryState>
  )
}

function RunCards() {
  const q = useRuns()
  return (
    <QueryState q={q}>
      {() => {
        const runs = (q.data ?? []).filter((r) => r.mode !== 'backtest').slice(0, 6)
        if (runs.length === 0) return <Empty>No runs yet. Start one on the <Link to="/ui/runs">Runs</Link> page.</Empty>
        return <div className="cards">{runs.map((r) => <RunCard key={r.id} run={r} />)}</div>
      }}
    </QueryState>
  )
}

/** One run's card; the detail (PnL, last trade) comes from GET /runs/{id}. */
function RunCard({ run }: { run: Run }) {
  const d = useRun(run.id).data ?? run
  const last = d.last_trade
  return (
    <div className="card" data-testid={`run-card-${run.id}`}>
      <h3>
        <Link to={`/ui/runs/${run.id}`}>#{run.id} {d.strategy_name ?? `strategy ${run.strategy_id}`}</Link>
        <Chip value={d.status} />
      </h3>
      <div className="small">{d.mode} · {d.venue} · {d.symbols.join(', ')} · {d.timeframe}</div>
      <div className="stats" style={{ marginTop: '.4rem' }}>
        <div className="stat"><span className="small">PnL</span><b><Pnl value={d.pnl?.total} /></b></div>
        <div className="stat"><span className="small">Equity</span><b>{fmtMoney(d.equity)}</b></div>
        <div className="stat"><span className="small">Orders</span><b>{d.figures?.order_intents ?? '—'}</b></div>
      </div>
      <div className="small" style={{ marginTop: '.4rem' }}>
        {last ? <>Last trade: {last.side} {fmtQty(last.qty)} {last.symbol} @ {fmtMoney(last.price)} · {fmtAgo(last.ts)}</> : last === null ? 'No trade yet' : null}
        {d.error_code && <> · error <code>{d.error_code}</code></>}
      </div>
    </div>
  )
}

function RecentOrders() {
  // Orders come oldest first; a one-day window keeps the page small, the last ten are shown.
  const since = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS).toISOString()
  const q = useOrders({ from: since, limit: 1000 })
  if (q.error) return <ErrorNote error={q.error} />
  if (q.isPending) return <Loading />
  const rows = q.data.orders.slice(-10).reverse()
  return rows.length === 0 ? <Empty>No orders in the last day.</Empty> : <OrdersTable orders={rows} compact />
}

/** The one-line summary of an event the feed can describe (the `risk.*` ones). */
export function EventLine({ ev }: { ev: Pick<UiEvent, 'type' | 'data'> }) {
  const text = eventSummary(ev)
  return text ? <span className={ev.type.endsWith('OrderDenied') || ev.type.endsWith('LimitBreached') ? 'neg' : undefined} data-testid="event-summary">{text}</span> : null
}

function Feed() {
  const { state, events } = useStream()
  if (events.length === 0)
    return <Empty>{state === 'live' ? 'Waiting for events…' : `Event stream ${state}.`}</Empty>
  return (
    <ul className="feed card" data-testid="feed">
      {events.map((e) => (
        <li key={e.cursor}>
          <span className="small">{fmtTime(e.ts).slice(11)}</span>
          <code>{e.type.replace(/^ui\./, '')}</code>
          {e.run_id && <Link to={`/ui/runs/${e.run_id}`}>run {e.run_id}</Link>}
          <EventLine ev={e} />
        </li>
      ))}
    </ul>
  )
}
