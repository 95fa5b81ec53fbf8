// The controls of an account's page that act on the whole account: its limits (shown, and
// replaced as a whole by PUT /accounts/{venue}/{number}/risk), its own trading state (with "and
// flatten"), the kill switch "Halt and flatten account", and the view of what a flatten or a close
// on the account did (each active run's part, then what no active run holds).
// They reuse the run's risk pieces (run-risk.tsx) and the confirmation dialog.
import { useState } from 'react'
import { usePutAccountRisk, useSetAccountState } from '../api/queries'
import type { Account, AccountFlattened, AccountStateResult } from '../api/types'
import { Confirm } from '../components/dialog'
import { Chip, ErrorNote } from '../components/ui'
import { LIMITS } from '../lib/risk'
import { FlattenSummary, RunsFlattened } from './control'
import { LimitsForm, LimitsTable, StateDialog, TradingStateLine } from './run-risk'

type AccountRef = Pick<Account, 'id' | 'venue' | 'number'>

/** A cooldown counts one run's losing trades, so only a simulated account (one run's own) has
 * one; a broker account refuses it (422 `invalid_risk`, field `cooldown`). */
const defsFor = (a: Pick<Account, 'venue'>) => (a.venue === 'sim' ? LIMITS : LIMITS.filter((d) => d.key !== 'cooldown'))

/** What a flatten or a close on an account did: per active run, then the rest of the account. */
export function AccountFlattenSummary({ result }: { result: AccountFlattened }) {
  return (
    <div className="summary" data-testid="account-flatten-result">
      {result.runs.length === 0 ? <p data-testid="no-runs">No active run had a part in it.</p> : (
        <>
          <p>Each active run, through its own orders:</p>
          <RunsFlattened flattened={result.runs} />
        </>
      )}
      <div data-testid="account-rest">
        <p><b>What no active run holds</b> (orders and positions of the account itself):</p>
        <FlattenSummary result={{ canceled: result.canceled, closing: result.closing, errors: result.errors }} />
      </div>
    </div>
  )
}

/** The answer of setting the account's state: the state now and what the flatten did. */
function AccountStateSummary({ result }: { result: AccountStateResult }) {
  return (
    <div data-testid="account-state-result">
      <p>Account {result.account.id} is now <Chip value={result.account.trading_state} />.</p>
      {result.flattened ? <AccountFlattenSummary result={result.flattened} /> : <p>Its orders and positions were left as they were.</p>}
    </div>
  )
}

/** The account's risk panel: its state and why, "Set trading state…", its limits and "Edit limits". */
export function AccountRisk({ account }: { account: Account }) {
  const [editing, setEditing] = useState(false)
  const putRisk = usePutAccountRisk(account)
  const defs = defsFor(account)
  const sim = account.venue === 'sim'
  return (
    <div className="card" data-testid="account-risk" style={{ marginTop: '1rem' }}>
      <h3 className="row">Risk <AccountStateControl account={account} /></h3>
      <TradingStateLine run={account} testId="account-trading-state" />
      {sim && account.run_id !== null && (
        <p className="small">These are run #{account.run_id}'s own limits and state: a simulated account is one run's.</p>
      )}
      {editing ? (
        <LimitsForm
          risk={account.risk ?? {}} defs={defs} replace mutation={putRisk} onDone={() => setEditing(false)}
          title={`Replace the limits of account ${account.id}?`}
          note={<>Saving <b>replaces</b> the account's limits with this form: a field left empty is off. Orders on the account are checked against them from the next one.</>}
        />
      ) : (
        <>
          <LimitsTable risk={account.risk ?? {}} defs={defs} />
          <p className="row">
            <button type="button" onClick={() => setEditing(true)} data-testid="account-edit-limits">Edit limits</button>
          </p>
        </>
      )}
      {!sim && <p className="small" data-testid="cooldown-per-run">Cooldown is a rule of each run (its own losing trades): set it on the run's page.</p>}
    </div>
  )
}

/** "Set trading state…": the account's own state, optionally with a flatten of the account. */
function AccountStateControl({ account }: { account: Account }) {
  const setState = useSetAccountState(account)
  const [open, setOpen] = useState(false)
  const close = () => {
    setOpen(false)
    setState.reset()
  }
  return (
    <>
      <button type="button" onClick={() => setOpen(true)} data-testid="account-set-state">Set trading state…</button>
      {open && (
        <StateDialog
          title={`Set account ${account.id}'s trading state?`} current={account.trading_state} testId="account-state-dialog"
          initial={account.trading_state === 'halted' ? 'active' : 'halted'} mutation={setState} onClose={close}
          flattenWhat="cancel every open order on the account, close every position on it"
          note={<>It applies to every run on the account. Reduce-only lets orders only shrink positions; halted refuses new orders.
            Active also clears the account's breaches (daily loss, drawdown). Each run's own state and the global trading state
            still apply: the strictest wins.</>}
          result={setState.data ? <AccountStateSummary result={setState.data} /> : null}
        />
      )}
    </>
  )
}

/** The account's kill switch: halted, then every open order on it cancelled and every position
 * on it closed (each run's share through the run, the rest on the account). */
export function HaltAccount({ account }: { account: AccountRef & Pick<Account, 'live' | 'runs'> }) {
  const setState = useSetAccountState(account)
  const [open, setOpen] = useState(false)
  const close = () => {
    setOpen(false)
    setState.reset()
  }
  return (
    <>
      <button type="button" className="danger kill" onClick={() => setOpen(true)} data-testid="account-kill">Halt and flatten account</button>
      {open && (
        <Confirm
          title={`Halt account ${account.id} and flatten it?`} confirmLabel="Halt and flatten account" busyLabel="Flattening…"
          testId="account-kill-dialog" onConfirm={() => setState.mutate({ state: 'halted', flatten: true })} onClose={close}
          busy={setState.isPending} error={setState.error ? <ErrorNote error={setState.error} /> : null}
          result={setState.data ? <AccountStateSummary result={setState.data} /> : null}
        >
          {account.live && <p className="error" data-testid="kill-live">This is a real-money account.</p>}
          <p>
            Sets the account's trading state to <b>halted</b>, then <b>cancels every open order on the account and closes every
            position on it</b> with market orders: each of its {account.runs} active run{account.runs === 1 ? "'s" : "s'"} share through
            the run, and what no active run holds (orders and positions from outside Weaver or from ended runs) on the account itself.
          </p>
          <p className="small">The runs keep running; their new orders are refused until the account is set back to Active.</p>
        </Confirm>
      )}
    </>
  )
}
