// One account (`/ui/accounts/:venue/:number`): balances, positions with each active run's share
// (linking to the run) and what no active run accounts for, Close per position (the whole of it)
// and per run share, the account's risk panel (state, limits, edit), and the kill switch "Halt
// and flatten account". Everything that trades asks first and then shows what the server did.
import { useState } from 'react'
import { Link, useParams } from 'react-router'
import { useAccount, useCloseAccountPosition } from '../api/queries'
import type { Account, AccountPosition } from '../api/types'
import { Confirm } from '../components/dialog'
import { Chip, Empty, QueryState, scrollable } from '../components/ui'
import { closeShareText, closeWholeText, heldPositions } from '../lib/accounts'
import { fmtMoney, fmtQty } from '../lib/format'
import { AccountFlattenSummary, AccountRisk, HaltAccount } from './account-controls'
import { LiveBadge } from './accounts'
import { OrderRefusal } from './control'

export function AccountDetail() {
  const { venue = '', number = '' } = useParams()
  const q = useAccount(venue, number)
  return (
    <section>
      <p className="small"><Link to="/ui/accounts">← Accounts</Link></p>
      <QueryState q={q} what="Account pages">{() => <AccountBody account={q.data!} />}</QueryState>
    </section>
  )
}

export function AccountBody({ account }: { account: Account }) {
  return (
    <>
      <h1 className="row">
        Account {account.id} <LiveBadge account={account} />
        <span data-testid="account-state"><Chip value={account.trading_state} /></span>
        <HaltAccount account={account} />
      </h1>
      {account.run_id !== null && account.run_id !== undefined && (
        <p className="small">The paper account of <Link to={`/ui/runs/${account.run_id}`}>run #{account.run_id}</Link> on the simulated exchange.</p>
      )}
      <div className="cards">
        <div className="card" data-testid="account-balances">
          <h3>Balances</h3>
          <div className="stats">
            <div className="stat"><span className="small">Equity</span><b data-testid="account-equity">{fmtMoney(account.equity)}</b></div>
            <div className="stat"><span className="small">Cash</span><b>{fmtMoney(account.cash)}</b></div>
            <div className="stat"><span className="small">Buying power</span><b>{fmtMoney(account.buying_power)}</b></div>
            <div className="stat"><span className="small">Active runs</span><b data-testid="account-runs">{account.runs}</b></div>
          </div>
        </div>
      </div>
      <AccountPositions account={account} />
      <AccountRisk account={account} />
    </>
  )
}

/** What Close is about to do: a whole position, or one run's share of it. */
type Asking = { position: AccountPosition; runId?: number; qty: number } | null

function AccountPositions({ account }: { account: Account }) {
  const closeP = useCloseAccountPosition(account)
  const [asking, setAsking] = useState<Asking>(null)
  const [closed, setClosed] = useState<string | null>(null)
  const positions = heldPositions(account.positions)
  const confirm = () => {
    if (!asking) return
    const { position, runId } = asking
    setClosed(runId === undefined ? `${position.symbol} on ${account.id}` : `run #${runId}'s ${position.symbol}`)
    closeP.mutate({ symbol: position.symbol, runId }, { onSettled: () => setAsking(null) })
  }
  return (
    <>
      <h2>Positions</h2>
      {positions.length === 0 ? <Empty><span data-testid="account-flat">Flat.</span></Empty> : (
        <div className="table-wrap" {...scrollable('Positions')}>
          <table data-testid="account-positions">
            <thead>
              <tr><th>Symbol</th><th className="num">Qty</th><th>Runs' shares</th><th className="num">Unattributed</th><th /></tr>
            </thead>
            <tbody>
              {positions.map((p) => (
                <tr key={p.symbol} data-testid="account-position-row" data-symbol={p.symbol}>
                  <td>{p.symbol}</td>
                  <td className="num" data-testid="position-qty">{fmtQty(p.qty)}</td>
                  <td>
                    {p.runs.length === 0 ? <span className="muted">none</span> : (
                      <ul className="shares">
                        {p.runs.map((r) => (
                          <li key={r.run_id} data-testid="run-share" data-run={r.run_id}>
                            <Link to={`/ui/runs/${r.run_id}`}>run #{r.run_id}</Link>: {fmtQty(r.qty)}
                            {r.qty !== 0 && (
                              <> <button type="button" className="danger small" data-testid={`close-share-${p.symbol}-${r.run_id}`}
                                onClick={() => setAsking({ position: p, runId: r.run_id, qty: r.qty })}>Close</button></>
                            )}
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                  <td className={`num${p.unattributed !== 0 ? ' neg' : ''}`} data-testid="unattributed"
                    title={p.unattributed !== 0 ? 'What no active run accounts for: runs that ended keeping it, or trades outside Weaver' : undefined}>
                    {fmtQty(p.unattributed)}
                  </td>
                  <td>
                    {p.qty !== 0 && (
                      <button type="button" className="danger" data-testid={`close-position-${p.symbol}`}
                        onClick={() => setAsking({ position: p, qty: p.qty })}>Close</button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {closed && closeP.error && <OrderRefusal error={closeP.error} />}
      {closed && closeP.data && (
        <div className="note" role="status" data-testid="account-close-result">
          <b>Close {closed}:</b>
          <AccountFlattenSummary result={closeP.data} />
        </div>
      )}
      {asking && (
        <Confirm
          title={asking.runId === undefined ? `Close all of ${asking.position.symbol} on ${account.id}?` : `Close run #${asking.runId}'s ${asking.position.symbol}?`}
          confirmLabel={asking.runId === undefined ? 'Close position' : "Close run's share"} busyLabel="Closing…"
          testId="account-close-dialog" onConfirm={confirm} onClose={() => setAsking(null)} busy={closeP.isPending}
        >
          {asking.runId === undefined ? (
            <ul data-testid="close-what">{closeWholeText(account, asking.position).map((l) => <li key={l}>{l}</li>)}</ul>
          ) : (
            <p data-testid="close-what">{closeShareText(asking.position, asking.runId, asking.qty)}</p>
          )}
          <p className="small">Allowed while trading is halted: it can only reduce.</p>
        </Confirm>
      )}
    </>
  )
}
