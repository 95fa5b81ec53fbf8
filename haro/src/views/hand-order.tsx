// "Order by hand" on a running run's page: an order attributed to the run (force-entry /
// force-exit), checked here, confirmed in a dialog, then sent through the run's own pre-trade
// checks and journal. Shows the accepted attempt, or the refusal's rule and message.
import { useId, useState, type FormEvent } from 'react'
import { usePlaceOrder } from '../api/queries'
import type { Attempt, HandOrder, Run } from '../api/types'
import { Confirm } from '../components/dialog'
import {
  describeHandOrder, handOrderRequest, needsLimit, needsStop, ORDER_TYPES, TIME_IN_FORCE, validateHandOrder,
  type HandOrderErrors, type HandOrderForm, type OrderType,
} from '../lib/orders'
import { described, Field, useFocusInvalid } from './candle-forms'
import { OrderRefusal } from './control'

export function HandOrderForm({ run }: { run: Pick<Run, 'id' | 'symbols'> }) {
  const place = usePlaceOrder(run.id)
  const id = useId()
  const [f, setF] = useState<HandOrderForm>({
    symbol: run.symbols[0] ?? '', side: 'buy', type: 'market', time_in_force: 'day', sizeBy: 'quantity',
    amount: '', limit_price: '', stop_price: '', tag: '',
  })
  const [errors, setErrors] = useState<HandOrderErrors>({})
  const [asking, setAsking] = useState<HandOrder | null>(null)
  const form = useFocusInvalid(errors)
  const set = <K extends keyof HandOrderForm>(k: K) => (v: HandOrderForm[K]) => {
    setF({ ...f, [k]: v })
    setErrors((e) => ({ ...e, [k]: undefined }))
  }
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const errs = validateHandOrder(f)
    setErrors(errs)
    if (Object.keys(errs).length === 0) setAsking(handOrderRequest(f))
  }
  const confirm = () => {
    if (!asking) return
    place.mutate(asking, { onSettled: () => setAsking(null) })
  }
  return (
    <>
      <form ref={form} className="form" onSubmit={submit} aria-label="Order by hand" noValidate>
        <Field id={`${id}-symbol`} label="Symbol" error={errors.symbol}>
          <select {...described(`${id}-symbol`, errors.symbol)} name="symbol" value={f.symbol} onChange={(e) => set('symbol')(e.target.value)}>
            {run.symbols.map((s) => <option key={s}>{s}</option>)}
          </select>
        </Field>
        <Field id={`${id}-side`} label="Side">
          <select id={`${id}-side`} name="side" value={f.side} onChange={(e) => set('side')(e.target.value as HandOrderForm['side'])}>
            <option value="buy">buy</option><option value="sell">sell</option>
          </select>
        </Field>
        <Field id={`${id}-type`} label="Type">
          <select id={`${id}-type`} name="type" value={f.type} onChange={(e) => set('type')(e.target.value as OrderType)}>
            {ORDER_TYPES.map((t) => <option key={t} value={t}>{t.replace('_', ' ')}</option>)}
          </select>
        </Field>
        <Field id={`${id}-tif`} label="Time in force">
          <select id={`${id}-tif`} name="time_in_force" value={f.time_in_force} onChange={(e) => set('time_in_force')(e.target.value)}>
            {TIME_IN_FORCE.map((t) => <option key={t}>{t}</option>)}
          </select>
        </Field>
        <Field id={`${id}-size-by`} label="Size in">
          <select id={`${id}-size-by`} name="size_by" value={f.sizeBy} onChange={(e) => set('sizeBy')(e.target.value as HandOrderForm['sizeBy'])}>
            <option value="quantity">units (quantity)</option><option value="notional">money (notional)</option>
          </select>
        </Field>
        <Field id={`${id}-amount`} label={f.sizeBy === 'quantity' ? 'Quantity' : 'Notional ($)'} error={errors.amount}>
          <input {...described(`${id}-amount`, errors.amount)} name="amount" value={f.amount} inputMode="decimal" autoComplete="off"
            placeholder={f.sizeBy === 'quantity' ? '10' : '1000'} onChange={(e) => set('amount')(e.target.value)} />
        </Field>
        {needsLimit(f.type) && (
          <Field id={`${id}-limit`} label="Limit price" error={errors.limit_price}>
            <input {...described(`${id}-limit`, errors.limit_price)} name="limit_price" value={f.limit_price} inputMode="decimal" autoComplete="off"
              onChange={(e) => set('limit_price')(e.target.value)} />
          </Field>
        )}
        {needsStop(f.type) && (
          <Field id={`${id}-stop`} label="Stop price" error={errors.stop_price}>
            <input {...described(`${id}-stop`, errors.stop_price)} name="stop_price" value={f.stop_price} inputMode="decimal" autoComplete="off"
              onChange={(e) => set('stop_price')(e.target.value)} />
          </Field>
        )}
        <Field id={`${id}-tag`} label="Tag (optional)">
          <input id={`${id}-tag`} name="tag" value={f.tag} autoComplete="off" onChange={(e) => set('tag')(e.target.value)} />
        </Field>
        <div className="wide row">
          <button className="primary" type="submit" disabled={place.isPending}>Place order…</button>
          <span className="small">Goes through the run's own pre-trade checks; its fills count in the run's account.</span>
        </div>
        {place.data && <div className="wide"><AcceptedOrder a={place.data} /></div>}
        {place.error && <div className="wide"><OrderRefusal error={place.error} /></div>}
      </form>
      {asking && (
        <Confirm
          title={`Place an order for run #${run.id}?`} confirmLabel="Place order" busyLabel="Placing…" testId="order-dialog"
          onConfirm={confirm} onClose={() => setAsking(null)} busy={place.isPending}
        >
          <p data-testid="order-summary"><b>{describeHandOrder(asking)}</b></p>
          <p className="small">The order is attributed to run #{run.id} and placed on its venue.</p>
        </Confirm>
      )}
    </>
  )
}

function AcceptedOrder({ a }: { a: Attempt }) {
  return (
    <p role="status" data-testid="order-accepted">
      Accepted: {a.side} {a.symbol} · client order id <code>{a.client_order_id}</code> · sequence {a.sequence}
      {a.venue_order_id && <> · venue order <code>{a.venue_order_id}</code></>}
    </p>
  )
}
