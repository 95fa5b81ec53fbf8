// Exports from the dashboard: a backtest's files come from the server (`/backtests/{id}/trades`,
// `/report.json`, `/report.html`), fetched with the API key and saved as files; a run's orders are
// written here as CSV from the pages of `GET /orders` (the server has no CSV of orders).
import { api, authHeaders, errorFrom, qs } from '../api/client'
import type { Order, OrderPage } from '../api/types'
import { settings } from './settings'

/** Saves a blob as a file through a temporary link. */
export function saveBlob(blob: Blob, filename: string) {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  document.body.appendChild(a)
  a.click()
  a.remove()
  // Give the browser time to start the download before the URL goes away.
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

/** Downloads a server file with the API key (a plain link could not send it). */
export async function downloadFrom(path: string, filename: string) {
  const res = await fetch(path, { headers: authHeaders() })
  if (!res.ok) throw await errorFrom(res)
  saveBlob(await res.blob(), filename)
}

/** The files of a backtest's Export menu: label, server path, saved name. */
export function backtestExports(id: number): { label: string; path: string; file: string }[] {
  return [
    { label: 'Trades (CSV)', path: `/backtests/${id}/trades?format=csv`, file: `backtest-${id}-trades.csv` },
    { label: 'Trades (JSON)', path: `/backtests/${id}/trades?format=json`, file: `backtest-${id}-trades.json` },
    { label: 'Report (JSON)', path: `/backtests/${id}/report.json`, file: `backtest-${id}-report.json` },
    { label: 'Tearsheet (HTML)', path: `/backtests/${id}/report.html`, file: `backtest-${id}-tearsheet.html` },
  ]
}

/** Opens the printable tearsheet in a new tab; with an API key it is saved as a file instead
 * (a new tab cannot send the key, and the dashboard's own policy would not style a copy of it). */
export async function openTearsheet(id: number) {
  const path = `/backtests/${id}/report.html`
  if (!settings.apiKey()) {
    window.open(path, '_blank', 'noopener')
    return
  }
  await downloadFrom(path, `backtest-${id}-tearsheet.html`)
}

export const ORDER_COLUMNS: (keyof Order)[] = [
  'id', 'run_id', 'client_order_id', 'exchange_order_id', 'symbol', 'side', 'order_type', 'time_in_force',
  'quantity', 'notional', 'limit_price', 'stop_price', 'status', 'filled_quantity', 'average_price',
  'created_at', 'updated_at',
]

/** One CSV cell: quoted when it must be, and text a spreadsheet would run as a formula defused. */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return ''
  let s = String(v)
  if (typeof v === 'string' && /^[=+\-@]/.test(s) && !/^-?\d/.test(s)) s = `'${s}`
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** Orders as CSV (a header row, then one row per order; times as the server sent them, UTC). */
export function ordersCsv(orders: Order[]): string {
  const lines = [ORDER_COLUMNS.join(',')]
  for (const o of orders) lines.push(ORDER_COLUMNS.map((c) => csvCell(o[c])).join(','))
  return `${lines.join('\r\n')}\r\n`
}

/** Most orders one export reads (pages of 1000). */
export const MAX_EXPORT_ORDERS = 50_000

/** Every order of a filter, newest first, read page by page (at most MAX_EXPORT_ORDERS). */
export async function allOrders(filter: Record<string, string>, get = api.get<OrderPage>): Promise<{ orders: Order[]; truncated: boolean }> {
  const out: Order[] = []
  let before: number | undefined
  for (;;) {
    const page = await get(`/orders${qs({ ...filter, before, limit: 1000 })}`)
    out.push(...page.orders)
    const next = page.next_before ?? null
    if (next === null || page.orders.length === 0) return { orders: out, truncated: false }
    if (out.length >= MAX_EXPORT_ORDERS) return { orders: out, truncated: true }
    before = next
  }
}
