// Accounts: every account Weaver trades on (a broker account shared by its runs, and each
// simulated run's own paper account `sim/<run id>`), with balances, active runs and trading
// state, each linking to its page. Simulated accounts without an active run are folded away:
// there is one per simulated run ever started.
import { useState } from 'react'
import { Link } from 'react-router'
import { useAccounts } from '../api/queries'
import type { Account } from '../api/types'
import { Chip, Empty, QueryState, scrollable } from '../components/ui'
import { accountHref, busyAccount, sortAccounts } from '../lib/accounts'
import { fmtMoney } from '../lib/format'

/** Real money or paper; a simulated account is paper on the simulated exchange. */
export function LiveBadge({ account }: { account: Pick<Account, 'live' | 'venue'> }) {
  if (account.live) return <span className="chip bad" data-testid="live-badge" title="Real money">live</span>
  return <span className="chip" data-testid="paper-badge">{account.venue === 'sim' ? 'paper · simulated' : 'paper'}</span>
}

/** The account's id, linking to its page when it has one. */
export function AccountLink({ account }: { account: Pick<Account, 'id' | 'venue' | 'number'> }) {
  const href = accountHref(account)
  return href ? <Link to={href} data-testid="account-link">{account.id}</Link> : <span>{account.id}</span>
}

export function Accounts() {
  const q = useAccounts()
  const [all, setAll] = useState(false)
  return (
    <section>
      <h1>Accounts</h1>
      <p className="small">
        A broker account is shared by the runs on it: each run holds its own share of a position. Each simulated run trades its
        own paper account <code>sim/&lt;run id&gt;</code>.
      </p>
      <QueryState q={q} what="Accounts">
        {() => {
          const sorted = sortAccounts(q.data!)
          const shown = all ? sorted : sorted.filter(busyAccount)
          const idle = sorted.length - sorted.filter(busyAccount).length
          return (
            <>
              {shown.length === 0 ? <Empty>{idle > 0 ? 'No account has an active run.' : 'No accounts yet.'}</Empty> : <AccountsTable accounts={shown} />}
              {idle > 0 && (
                <label className="choice small">
                  <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} data-testid="show-idle" />{' '}
                  show the {idle} simulated account{idle === 1 ? '' : 's'} without an active run
                </label>
              )}
            </>
          )
        }}
      </QueryState>
    </section>
  )
}

export function AccountsTable({ accounts }: { accounts: Account[] }) {
  return (
    <div className="table-wrap" {...scrollable('Accounts')}>
      <table data-testid="accounts-table">
        <thead>
          <tr>
            <th>Account</th><th>Kind</th><th className="num">Equity</th><th className="num">Cash</th>
            <th className="num">Buying power</th><th className="num">Runs</th><th>Trading state</th>
          </tr>
        </thead>
        <tbody>
          {accounts.map((a) => (
            <tr key={a.id} data-testid="account-row">
              <td><AccountLink account={a} />{a.run_id !== null && a.run_id !== undefined && <span className="small"> · <Link to={`/ui/runs/${a.run_id}`}>run #{a.run_id}</Link></span>}</td>
              <td><LiveBadge account={a} /></td>
              <td className="num">{fmtMoney(a.equity)}</td>
              <td className="num">{fmtMoney(a.cash)}</td>
              <td className="num">{fmtMoney(a.buying_power)}</td>
              <td className="num">{a.runs}</td>
              <td><Chip value={a.trading_state} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
