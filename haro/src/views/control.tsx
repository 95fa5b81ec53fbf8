// Control by hand: the stop dialog (what happens to the run's orders and positions), the Cancel
// button of a working order, the kill switch ("Halt and flatten"), and the views of what each
// did (the closing orders, cancels and errors the server reports).
import { useState } from 'react'
import { Link } from 'react-router'
import { ApiError } from '../api/client'
import { useCancelOrder, useHaltAndFlatten, useStopRun } from '../api/queries'
import type { Attempt, FlattenResult, Order, Run, RunFlattened, StopChoices, StopResult } from '../api/types'
import { Confirm } from '../components/dialog'
import { ErrorNote } from '../components/ui'
import { fmtQty } from '../lib/format'
import { isWorking } from '../lib/orders'

/** A refused order (422: `code` names the rule, `details` the order), else the usual note. */
export function OrderRefusal({ error }: { error: unknown }) {
  const d = error instanceof ApiError && error.status === 422 ? (error.details as { client_order_id?: string; sequence?: number } | null) : null
  if (!(error instanceof ApiError) || !d?.client_order_id) return <ErrorNote error={error} />
  return (
    <div className="error" role="alert" data-testid="order-refused">
      <strong>Refused: <code>{error.code}</code></strong> {error.message}
      <div className="small">
        client order id <code>{d.client_order_id}</code>{d.sequence !== undefined && <> · sequence {d.sequence}</>}
        {error.correlationId && <> · correlation id <code>{error.correlationId}</code></>}
      </div>
    </div>
  )
}

/** One order placed by hand or by a flatten: accepted (with the venue's id) or refused (why). */
export function AttemptLine({ a }: { a: Attempt }) {
  const ok = a.status === 'accepted'
  return (
    <span data-testid="attempt">
      {a.side} {a.symbol}: <b className={ok ? 'pos' : 'neg'}>{a.status}</b>
      {a.code && <> <code>{a.code}</code></>}{a.message && <> {a.message}</>}
      <span className="small"> · client order id <code>{a.client_order_id}</code>{a.venue_order_id && <> · venue order <code>{a.venue_order_id}</code></>}</span>
    </span>
  )
}

/** What a flatten or a stop's wind-down did: cancels, closing orders, what could not be done. */
export function FlattenSummary({ result }: { result: FlattenResult }) {
  return (
    <div className="summary" data-testid="flatten-result">
      <p>
        {result.canceled.length === 0 ? 'No working orders to cancel.' : <>Cancelled {result.canceled.length} working order{result.canceled.length === 1 ? '' : 's'}: {result.canceled.map((c, i) => <span key={c}>{i > 0 && ', '}<code>{c}</code></span>)}</>}
      </p>
      {result.closing.length === 0 ? <p>No positions to close.</p> : (
        <>
          <p>Closing orders:</p>
          <ul>{result.closing.map((a) => <li key={a.client_order_id}><AttemptLine a={a} /></li>)}</ul>
        </>
      )}
      {result.errors.length > 0 && (
        <div className="error" role="alert">
          Not done (try again to finish):
          <ul>{result.errors.map((e) => <li key={e}>{e}</li>)}</ul>
        </div>
      )}
    </div>
  )
}

/** What a stop did (`wind_down`) and what the run still holds (`held`). */
export function StopSummary({ result }: { result: StopResult }) {
  return (
    <div data-testid="stop-result">
      <p><b>Run #{result.id} is {result.status}.</b></p>
      {result.wind_down ? <FlattenSummary result={result.wind_down} /> : <p>Its orders and positions were left as they were.</p>}
      <p data-testid="held">
        {result.held.length === 0 ? 'It holds no positions.' : <>It still holds {result.held.map((h, i) => <span key={h.symbol}>{i > 0 && ', '}<b>{fmtQty(h.qty)} {h.symbol}</b></span>)}.</>}
      </p>
    </div>
  )
}

const stoppable = (run: Pick<Run, 'status'>) => run.status === 'running' || run.status === 'created'

/** A radio group of the stop dialog. */
function Choice<T extends string>({ legend, name, value, options, onChange }: {
  legend: string; name: string; value: T; options: [T, string][]; onChange: (v: T) => void
}) {
  return (
    <fieldset className="choices">
      <legend>{legend}</legend>
      {options.map(([v, label]) => (
        <label key={v} className="choice">
          <input type="radio" name={name} value={v} checked={value === v} onChange={() => onChange(v)} /> {label}
        </label>
      ))}
    </fieldset>
  )
}

/** The run's Stop button: a dialog asks what to do with its working orders and its positions
 * (defaults: cancel the orders, keep the positions), then shows what the stop did. */
export function StopButton({ run }: { run: Pick<Run, 'id' | 'status'> }) {
  const stop = useStopRun()
  const [open, setOpen] = useState(false)
  const [choices, setChoices] = useState<Required<StopChoices>>({ orders: 'cancel', positions: 'keep' })
  if (!open && !stoppable(run)) return null
  const close = () => {
    setOpen(false)
    stop.reset()
    setChoices({ orders: 'cancel', positions: 'keep' })
  }
  return (
    <>
      {stoppable(run) && (
        <button className="danger" type="button" onClick={() => setOpen(true)}>Stop</button>
      )}
      {open && (
        <Confirm
          title={`Stop run #${run.id}?`} confirmLabel="Stop run" busyLabel="Stopping…" testId="stop-dialog"
          onConfirm={() => stop.mutate({ id: run.id, choices })} onClose={close} busy={stop.isPending}
          error={stop.error ? <ErrorNote error={stop.error} /> : null}
          result={stop.data ? <StopSummary result={stop.data} /> : null}
        >
          <p className="small">By default a stop cancels the run's working orders and keeps its positions.</p>
          <Choice legend="Working orders" name="orders" value={choices.orders} onChange={(orders) => setChoices({ ...choices, orders })}
            options={[['cancel', 'Cancel them (default)'], ['keep', 'Keep them working']]} />
          <Choice legend="Positions" name="positions" value={choices.positions} onChange={(positions) => setChoices({ ...choices, positions })}
            options={[['keep', 'Keep them (default)'], ['close', 'Close them with market orders (waits up to 30 s for the fills)']]} />
        </Confirm>
      )}
    </>
  )
}

/** Cancel for a working order (asks first); nothing for an order that has ended. */
export function CancelOrderButton({ order }: { order: Pick<Order, 'id' | 'run_id' | 'status' | 'side' | 'symbol'> }) {
  const cancel = useCancelOrder()
  const [open, setOpen] = useState(false)
  if (!open && !isWorking(order.status)) return null
  const close = () => {
    setOpen(false)
    cancel.reset()
  }
  const done = cancel.data
  return (
    <>
      {isWorking(order.status) && <button type="button" className="danger" onClick={() => setOpen(true)}>Cancel</button>}
      {open && (
        <Confirm
          title={`Cancel order #${order.id}?`} confirmLabel="Cancel order" busyLabel="Cancelling…" testId="cancel-dialog"
          onConfirm={() => cancel.mutate({ id: order.id, runId: order.run_id })} onClose={close} busy={cancel.isPending}
          error={cancel.error ? <ErrorNote error={cancel.error} /> : null}
          result={done ? (
            <p data-testid="cancel-result">
              {done.cancel_requested ? `The venue was asked to cancel order #${done.order_id}.` : `Order #${done.order_id} had already ended; nothing was done.`}
            </p>
          ) : null}
        >
          <p>The {order.side} order for {order.symbol}{order.run_id ? <> of run #{order.run_id}</> : null} is cancelled through the run that placed it. Whatever already filled stays filled.</p>
        </Confirm>
      )}
    </>
  )
}

/** Per run, what its flatten (or close) did or why it could not. */
export function RunsFlattened({ flattened }: { flattened: RunFlattened[] }) {
  return (
    <ul className="runs-flattened">
      {flattened.map((f) => (
        <li key={f.run_id} data-testid="run-flattened">
          <Link to={`/ui/runs/${f.run_id}`}>Run #{f.run_id}</Link>
          {f.error ? <div className="error" role="alert">{f.error}</div> : f.done ? <FlattenSummary result={f.done} /> : <p>Nothing to do.</p>}
        </li>
      ))}
    </ul>
  )
}

/** The kill switch's answer: per running run, what its flatten did or why it could not. */
export function HaltResult({ flattened }: { flattened: RunFlattened[] | null | undefined }) {
  if (!flattened || flattened.length === 0) return <p data-testid="halt-result">Trading is halted. No run was running, so there was nothing to flatten.</p>
  return (
    <div data-testid="halt-result">
      <p>Trading is halted. Each running run was flattened:</p>
      <RunsFlattened flattened={flattened} />
    </div>
  )
}

/** "Halt and flatten": halts all trading, then cancels every running run's working orders and
 * closes its positions. */
export function HaltAndFlatten() {
  const halt = useHaltAndFlatten()
  const [open, setOpen] = useState(false)
  const close = () => {
    setOpen(false)
    halt.reset()
  }
  return (
    <>
      <button type="button" className="danger" onClick={() => setOpen(true)}>Halt and flatten</button>
      {open && (
        <Confirm
          title="Halt all trading and flatten every run?" confirmLabel="Halt and flatten" busyLabel="Flattening…" testId="halt-dialog"
          onConfirm={() => halt.mutate()} onClose={close} busy={halt.isPending}
          error={halt.error ? <ErrorNote error={halt.error} /> : null}
          result={halt.data ? <HaltResult flattened={halt.data.flattened} /> : null}
        >
          <p>Sets the trading state to <b>halted</b>, then every running run cancels its working orders and closes its positions with market orders.</p>
          <p className="small">The runs keep running; their new orders are refused until you set the state back to Active.</p>
        </Confirm>
      )}
    </>
  )
}
