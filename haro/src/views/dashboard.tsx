// Dashboard: the first-run card (while needed), the main accounts (linking to their pages), a status card per recent run, recent orders, the live feed.
import { Link } from 'react-router'
import { useAccounts, useRun, useRuns, useStrategies } from '../api/queries'
import type { Run, UiEvent } from '../api/types'
import { useStream } from '../app/stream'
import { Chip, Empty, Pnl, QueryState } from '../components/ui'
import { fmtMoney, fmtQty, fmtTime, fmtTradeWhen } from '../lib/format'
import { eventSummary } from '../lib/events'
import { busyAccount, hrefOfId, mismatchGone, sortAccounts } from '../lib/accounts'
import { accountOfEvent } from '../lib/risk'
import { isVersionEvent, type NameOf } from '../lib/versions'
import { AccountLink, LiveBadge } from './accounts'
import { FirstRun } from './first-run'
import { OrdersPager } from './orders'

export function Dashboard() {
  return (
    <section>
      <h1>Dashboard</h1>
      <FirstRun />
      <AccountCards />
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

/** At most this many account cards: there is one simulated account per simulated run. */
const ACCOUNT_CARDS = 4

/** The accounts that matter most (real money first, then other broker accounts, then the
 * simulated ones of active runs), each linking to its page; the rest are on the Accounts page. */
export function AccountCards() {
  const q = useAccounts()
  return (
    <QueryState q={q} what="Account figures">
      {() => {
        const all = sortAccounts(q.data!)
        const shown = all.filter(busyAccount).slice(0, ACCOUNT_CARDS)
        if (all.length === 0) return <Empty>No accounts yet.</Empty>
        return (
          <>
            {shown.length === 0 && <Empty>No account has an active run.</Empty>}
            <div className="cards" data-testid="accounts">
              {shown.map((a) => (
                <div className="card" key={a.id} data-testid="account-card">
                  <h3 className="row">
                    <AccountLink account={a} /> <LiveBadge account={a} />
                    {a.trading_state && a.trading_state !== 'active' && <Chip value={a.trading_state} />}
                  </h3>
                  <div className="small">{a.runs} active run{a.runs === 1 ? '' : 's'}</div>
                  <div className="stats">
                    <div className="stat"><span className="small">Equity</span><b>{fmtMoney(a.equity)}</b></div>
                    <div className="stat"><span className="small">Cash</span><b>{fmtMoney(a.cash)}</b></div>
                    <div className="stat"><span className="small">Buying power</span><b>{fmtMoney(a.buying_power)}</b></div>
                  </div>
                </div>
              ))}
            </div>
            {all.length > shown.length && (
              <p className="small"><Link to="/ui/accounts" data-testid="all-accounts">All {all.length} accounts →</Link></p>
            )}
          </>
        )
      }}
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
        {last ? <>Last trade: {last.side} {fmtQty(last.qty)} {last.symbol} @ {fmtMoney(last.price)} · <span data-testid="last-trade-when">{fmtTradeWhen(d.venue, last.ts)}</span></> : last === null ? 'No trade yet' : null}
        {d.error_code && <> · error <code>{d.error_code}</code></>}
      </div>
    </div>
  )
}

/** The newest orders of every run, ten a page; the pager reaches the oldest. */
function RecentOrders() {
  return <OrdersPager filter={{}} compact pageSize={10} empty="No orders yet." />
}

/** The one-line summary of an event the feed can describe (`risk.*`, mismatches, version switches;
 * `nameOf` names a switch's strategy version). */
export function EventLine({ ev, nameOf }: { ev: Pick<UiEvent, 'type' | 'data'> & { run_id?: string | null }; nameOf?: NameOf }) {
  const text = eventSummary(ev, nameOf)
  const bad = /(OrderDenied|LimitBreached|VersionSwitchFailed)$/.test(ev.type) || (ev.type.endsWith('PositionMismatch') && !mismatchGone(ev.data))
  return text ? <span className={bad ? 'neg' : undefined} data-testid="event-summary">{text}</span> : null
}

function Feed() {
  const { state, events } = useStream()
  // A version switch names the strategy by id: the strategies name it (loaded once one arrives).
  const strategies = useStrategies(undefined, events.some((e) => isVersionEvent(e.type))).data
  const nameOf: NameOf = (id) => {
    const s = strategies?.find((x) => x.id === id)
    return s ? `${s.name} v${s.version}` : undefined
  }
  if (events.length === 0)
    return <Empty>{state === 'live' ? 'Waiting for events…' : `Event stream ${state}.`}</Empty>
  return (
    <ul className="feed card" data-testid="feed">
      {events.map((e) => (
        <li key={e.cursor}>
          <span className="small">{fmtTime(e.ts).slice(11)}</span>
          <code>{e.type.replace(/^ui\./, '')}</code>
          {e.run_id && <Link to={`/ui/runs/${e.run_id}`}>run {e.run_id}</Link>}
          <EventAccount data={e.data} />
          <EventLine ev={e} nameOf={nameOf} />
        </li>
      ))}
    </ul>
  )
}

/** The account an event names, linking to its page. */
function EventAccount({ data }: { data: unknown }) {
  const id = accountOfEvent(data)
  const href = id ? hrefOfId(id) : null
  return href ? <Link to={href}>{id}</Link> : null
}
