// A stubbed server's list routes as the API pages them: newest first by default with `before`
// (the page's `next_before` when it was full), oldest first with `order=asc` and `after`.
import type { Order, RunLogLine } from '../api/types'
import { json } from './stub-fetch'

/** One page of `rows` (sorted by `key`, ascending) as `GET /orders` or `/runs/{id}/logs` cut it. */
export function page<T>(rows: T[], key: (r: T) => number, url: URL, defaultLimit = 100) {
  const limit = Number(url.searchParams.get('limit') ?? defaultLimit)
  const after = url.searchParams.get('after')
  const before = url.searchParams.get('before')
  const order = url.searchParams.get('order') ?? (after !== null && before === null ? 'asc' : 'desc')
  let sel = rows.filter((r) => (after === null || key(r) > Number(after)) && (before === null || key(r) < Number(before)))
  if (order === 'desc') sel = [...sel].reverse()
  const items = sel.slice(0, limit)
  const cursor = items.length === limit ? key(items[items.length - 1]) : null
  return { items, next_after: order === 'asc' ? cursor : null, next_before: order === 'desc' ? cursor : null }
}

export const order = (id: number, extra: Partial<Order> = {}): Order => ({
  id, client_order_id: `c-${id}`, exchange_order_id: null, run_id: 1, symbol: 'SYN', side: id % 2 ? 'buy' : 'sell',
  order_type: 'market', time_in_force: 'day', quantity: '1', notional: null, limit_price: null, stop_price: null,
  status: 'filled', filled_quantity: '1', average_price: '100', created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
  ...extra,
})

/** `GET /orders` over `rows` (ascending ids), honouring `run` and `status`. */
export const ordersRoute = (rows: Order[]) => (_: unknown, url: URL) => {
  const run = url.searchParams.get('run')
  const status = url.searchParams.get('status')
  const kept = rows.filter((o) => (!run || String(o.run_id) === run) && (!status || o.status === status))
  const p = page(kept, (o) => o.id, url)
  return json(200, { orders: p.items, next_after: p.next_after, next_before: p.next_before })
}

export const logLine = (seq: number, level = 'info', message = `line ${seq}`): RunLogLine => ({
  seq, ts: '2026-01-01T00:00:00Z', level, message,
})

const LOG_LEVELS = ['debug', 'info', 'warn', 'error']

/** `GET /runs/{id}/logs` over `lines` (ascending seq; the array may grow during a test),
 * honouring `level` (that level and above) and `q` (text in any case) as the API does. */
export const logsRoute = (lines: RunLogLine[]) => (_: unknown, url: URL) => {
  const floor = LOG_LEVELS.indexOf(url.searchParams.get('level') ?? 'debug')
  const q = (url.searchParams.get('q') ?? '').toLowerCase()
  const kept = lines.filter((l) => {
    const at = LOG_LEVELS.indexOf(l.level)
    return (at === -1 || at >= floor) && l.message.toLowerCase().includes(q)
  })
  const p = page(kept, (l) => l.seq, url)
  const after = Number(url.searchParams.get('after') ?? 0)
  const next = p.items.reduce((m, l) => Math.max(m, l.seq), after)
  return json(200, { items: p.items, next, next_before: p.next_before })
}
