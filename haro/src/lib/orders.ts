// Orders by hand: which orders are still working (and so can be cancelled), the check of the
// "Order by hand" form, the request it sends, and the sentence its confirmation shows.
import type { HandOrder, OrderStatus } from '../api/types'
import { fmtMoney, fmtQty } from './format'

/** Statuses after which an order can no longer fill (nothing left to cancel). */
const ENDED = new Set(['filled', 'canceled', 'cancelled', 'rejected', 'expired', 'done_for_day', 'replaced'])

// Typed against the OpenAPI enum: a state missing here, or one the API does not accept, fails
// the type check (`npx tsc -b`) once the API types are regenerated.
const STATUS_SET: Record<OrderStatus, true> = {
  pending_submit: true, submitted: true, accepted: true, partially_filled: true, filled: true,
  cancelled: true, rejected: true, expired: true, unknown: true,
}
/** Every state `GET /orders?status=` accepts, in the order an order moves through them. */
export const ORDER_STATUSES = Object.keys(STATUS_SET) as OrderStatus[]

export const isWorking = (status: string) => !ENDED.has(status)

export const ORDER_TYPES = ['market', 'limit', 'stop', 'stop_limit'] as const
export type OrderType = (typeof ORDER_TYPES)[number]
export const TIME_IN_FORCE = ['day', 'gtc', 'ioc', 'fok'] as const

export const needsLimit = (t: string) => t === 'limit' || t === 'stop_limit'
export const needsStop = (t: string) => t === 'stop' || t === 'stop_limit'

/** The form as typed: strings, sized in units (`quantity`) or money (`notional`). */
export interface HandOrderForm {
  symbol: string
  side: 'buy' | 'sell'
  type: OrderType
  time_in_force: string
  sizeBy: 'quantity' | 'notional'
  amount: string
  limit_price: string
  stop_price: string
  tag: string
}

export type HandOrderField = 'symbol' | 'amount' | 'limit_price' | 'stop_price'
export type HandOrderErrors = Partial<Record<HandOrderField, string>>

const positive = (v: string) => {
  const t = v.trim()
  return t !== '' && Number.isFinite(Number(t)) && Number(t) > 0
}

/** Field errors (empty when the order can be sent). */
export function validateHandOrder(f: HandOrderForm): HandOrderErrors {
  const e: HandOrderErrors = {}
  if (!f.symbol) e.symbol = 'Pick a symbol.'
  if (!positive(f.amount)) e.amount = f.sizeBy === 'quantity' ? 'Enter a quantity above 0.' : 'Enter an amount above 0.'
  if (needsLimit(f.type) && !positive(f.limit_price)) e.limit_price = 'Enter a limit price above 0.'
  if (needsStop(f.type) && !positive(f.stop_price)) e.stop_price = 'Enter a stop price above 0.'
  return e
}

/** The `POST /runs/{id}/orders` body: decimals as strings, prices only where the type uses them. */
export function handOrderRequest(f: HandOrderForm): HandOrder {
  const body: HandOrder = { symbol: f.symbol, side: f.side, type: f.type, time_in_force: f.time_in_force }
  body[f.sizeBy] = f.amount.trim()
  if (needsLimit(f.type)) body.limit_price = f.limit_price.trim()
  if (needsStop(f.type)) body.stop_price = f.stop_price.trim()
  if (f.tag.trim()) body.tag = f.tag.trim()
  return body
}

/** `Buy 10 GOOG at market, day` · `Sell $500 of GOOG, stop $90 limit $89.50, gtc` */
export function describeHandOrder(o: HandOrder): string {
  const side = o.side === 'sell' ? 'Sell' : 'Buy'
  const size = o.quantity ? `${fmtQty(o.quantity)} ${o.symbol}` : `${fmtMoney(o.notional)} of ${o.symbol}`
  const type = o.type ?? 'market'
  const prices = [
    needsStop(type) ? `stop ${fmtMoney(o.stop_price)}` : null,
    needsLimit(type) ? `limit ${fmtMoney(o.limit_price)}` : null,
  ].filter(Boolean)
  const how = type === 'market' ? 'at market' : prices.join(' ')
  return `${side} ${size} ${how}, ${o.time_in_force ?? 'day'}`
}
