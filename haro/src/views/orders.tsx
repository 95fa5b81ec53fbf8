// Orders: filter by run, symbol and status (server-side), newest first a page at a time (Older /
// Newer / Newest, and Oldest to jump to the first orders, so every order can be reached), sort a page by any column (client-side), cancel
// a working one (through the run that placed it), and export every order of the filter as CSV
// (written here from the pages of GET /orders).
import { useEffect, useState } from 'react'
import { Link, useSearchParams } from 'react-router'
import { api, qs } from '../api/client'
import { useOrders, type OrderFilter } from '../api/queries'
import type { Order, OrderPage } from '../api/types'
import { Chip, Empty, ErrorNote, nextSort, QueryState, SortTh, scrollable } from '../components/ui'
import { fmtMoney, fmtQty, fmtTime, toNumber } from '../lib/format'
import { ORDER_STATUSES } from '../lib/orders'
import { allOrders, ordersCsv, saveBlob } from '../lib/exports'
import { sortRows, type SortDir } from '../lib/trades'
import { CancelOrderButton } from './control'

/** Orders per page. */
export const ORDER_PAGE = 100

/** Where the pager stands: the page's `before` cursor (none: the newest page) and the cursors of
 * the pages above it when they are known (walked down from the newest). A page reached by
 * **Oldest** has no known pages above: **Newer** then asks the server for the next ids up and
 * `fromOldest` counts the pages from the oldest instead. */
interface Position {
  before?: number
  above: (number | undefined)[] | null
  fromOldest: number
}
const NEWEST: Position = { above: [], fromOldest: 0 }

/** The page `size` orders up from `after` (oldest first, as `order=asc` pages them) ends at:
 * its `before` cursor (one past its newest id), or none when those are the newest orders. */
async function pageUpFrom(filter: Omit<OrderFilter, 'before' | 'limit'>, after: number | undefined, size: number): Promise<number | undefined> {
  const up = await api.get<OrderPage>(`/orders${qs({ ...filter, order: 'asc', after, limit: size })}`)
  if (up.next_after === null || up.orders.length < size) return undefined
  return Math.max(...up.orders.map((o) => o.id)) + 1
}

/** One page of `filter`'s orders, newest first, with the pager that walks to the oldest (or
 * jumps there). */
export function OrdersPager({ filter, empty = 'No orders match.', compact, pageSize = ORDER_PAGE }: {
  filter: Omit<OrderFilter, 'before' | 'limit'>; empty?: string; compact?: boolean; pageSize?: number
}) {
  const [pos, setPos] = useState<Position>(NEWEST)
  const [jump, setJump] = useState<{ busy: boolean; error: unknown }>({ busy: false, error: null })
  const key = JSON.stringify(filter)
  useEffect(() => setPos(NEWEST), [key])
  const q = useOrders({ ...filter, before: pos.before, limit: pageSize })
  // Oldest, or Newer from a page Oldest reached: the server says where the page ends.
  const go = async (after: number | undefined, fromOldest: number) => {
    setJump({ busy: true, error: null })
    try {
      const before = await pageUpFrom(filter, after, pageSize)
      setPos(before === undefined ? NEWEST : { before, above: null, fromOldest })
      setJump({ busy: false, error: null })
    } catch (e) {
      setJump({ busy: false, error: e })
    }
  }
  const atNewest = pos.before === undefined
  const newer = () => {
    if (pos.above === null) void go(pos.before === undefined ? undefined : pos.before - 1, pos.fromOldest + 1)
    else setPos({ before: pos.above.at(-1), above: pos.above.slice(0, -1), fromOldest: 0 })
  }
  return (
    <QueryState q={q}>
      {() => {
        const page = q.data!
        if (page.orders.length === 0 && atNewest) return <Empty>{empty}</Empty>
        // A full page carries a cursor even when nothing is older; the page Oldest found is the
        // oldest.
        const older = pos.above === null && pos.fromOldest === 1 ? null : page.next_before ?? null
        const label = pos.above === null ? `page ${pos.fromOldest} from the oldest` : `page ${pos.above.length + 1}`
        return (
          <>
            <OrdersTable orders={page.orders} compact={compact} />
            <div className="row pager" data-testid="orders-pager">
              <button type="button" disabled={atNewest || jump.busy} onClick={() => setPos(NEWEST)} data-testid="orders-newest">Newest</button>
              <button type="button" disabled={atNewest || jump.busy} onClick={newer} data-testid="orders-newer">← Newer</button>
              <span className="small" data-testid="orders-page">{label}{older === null ? ' (oldest)' : ''}</span>
              <button type="button" disabled={older === null || jump.busy} onClick={() => older !== null && setPos({ before: older, above: pos.above && [...pos.above, pos.before], fromOldest: Math.max(pos.fromOldest - 1, 1) })} data-testid="orders-older">Older →</button>
              <button type="button" disabled={older === null || jump.busy} onClick={() => void go(undefined, 1)} data-testid="orders-oldest">Oldest</button>
              <ExportOrders filter={filter} />
            </div>
            {jump.error ? <ErrorNote error={jump.error} /> : null}
          </>
        )
      }}
    </QueryState>
  )
}

/** Saves every order of the filter (all pages, not only the one shown) as CSV. */
export function ExportOrders({ filter }: { filter: Omit<OrderFilter, 'before' | 'limit'> }) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const run = async () => {
    setBusy(true)
    setError(null)
    try {
      const f = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => [k, String(v)]))
      const { orders } = await allOrders(f)
      const name = filter.run ? `run-${filter.run}-orders.csv` : 'orders.csv'
      saveBlob(new Blob([ordersCsv(orders)], { type: 'text/csv' }), name)
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
    }
  }
  return (
    <>
      <button type="button" disabled={busy} onClick={() => void run()} data-testid="orders-export">{busy ? 'Exporting…' : 'Export CSV'}</button>
      {error ? <ErrorNote error={error} /> : null}
    </>
  )
}

export function Orders() {
  const [params, setParams] = useSearchParams()
  const filter = { run: params.get('run') ?? '', symbol: params.get('symbol') ?? '', status: params.get('status') ?? '' }
  const set = (k: string, v: string) => {
    const p = new URLSearchParams(params)
    if (v) p.set(k, v)
    else p.delete(k)
    setParams(p, { replace: true })
  }
  return (
    <section>
      <h1>Orders</h1>
      <div className="form">
        <label>Run<input value={filter.run} inputMode="numeric" onChange={(e) => set('run', e.target.value.replace(/\D/g, ''))} placeholder="any" /></label>
        <label>Symbol<input value={filter.symbol} onChange={(e) => set('symbol', e.target.value)} placeholder="any" /></label>
        <label>Status
          <select value={filter.status} onChange={(e) => set('status', e.target.value)}>
            <option value="">any</option>
            {ORDER_STATUSES.map((s) => <option key={s} value={s}>{s.replace(/_/g, ' ')}</option>)}
          </select>
        </label>
      </div>
      <OrdersPager filter={{ run: filter.run, symbol: filter.symbol.toUpperCase(), status: filter.status }} />
    </section>
  )
}

type Col = 'id' | 'created_at' | 'run_id' | 'symbol' | 'side' | 'order_type' | 'qty' | 'filled' | 'price' | 'status'

const value = (o: Order, c: Col): string | number | null => {
  switch (c) {
    case 'qty': return toNumber(o.quantity ?? o.notional)
    case 'filled': return toNumber(o.filled_quantity)
    case 'price': return toNumber(o.average_price ?? o.limit_price)
    default: return o[c]
  }
}

export function OrdersTable({ orders, compact }: { orders: Order[]; compact?: boolean }) {
  const [sort, setSort] = useState<{ key: Col; dir: SortDir }>({ key: 'id', dir: 'desc' })
  const rows = sortRows(orders.map((o) => ({ o, v: value(o, sort.key) })), 'v', sort.dir)
  const th = (k: Col, label: string, num?: boolean) => <SortTh k={k} label={label} sort={sort} onSort={(c) => setSort(nextSort(sort, c))} num={num} />
  return (
    <div className="table-wrap" {...scrollable('Orders')}>
      <table data-testid="orders-table">
        <thead>
          <tr>
            {th('id', 'Id', true)}
            {!compact && th('created_at', 'Created')}
            {th('run_id', 'Run', true)}
            {th('symbol', 'Symbol')}
            {th('side', 'Side')}
            {!compact && th('order_type', 'Type')}
            {th('qty', 'Qty', true)}
            {th('filled', 'Filled', true)}
            {th('price', 'Avg price', true)}
            {th('status', 'Status')}
            <th aria-label="Actions" />
          </tr>
        </thead>
        <tbody>
          {rows.map(({ o }) => (
            <tr key={o.id} data-testid="order-row">
              <td className="num">{o.id}</td>
              {!compact && <td>{fmtTime(o.created_at)}</td>}
              <td className="num">{o.run_id ? <Link to={`/ui/runs/${o.run_id}`}>{o.run_id}</Link> : '—'}</td>
              <td>{o.symbol}</td>
              <td className={o.side === 'buy' ? 'pos' : 'neg'}>{o.side}</td>
              {!compact && <td>{o.order_type}</td>}
              <td className="num">{o.quantity !== null ? fmtQty(o.quantity) : fmtMoney(o.notional)}</td>
              <td className="num">{fmtQty(o.filled_quantity)}</td>
              <td className="num">{fmtMoney(o.average_price ?? o.limit_price)}</td>
              <td><Chip value={o.status} /></td>
              <td>{o.run_id !== null && <CancelOrderButton order={o} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
