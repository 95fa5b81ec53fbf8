// Small shared pieces: loading, empty and error states, status chips, sortable headers.
import { useEffect, useState, type ReactNode } from 'react'
import { ApiError } from '../api/client'
import type { SortDir } from '../lib/trades'
import { fmtPnl, toNumber } from '../lib/format'

export function Loading({ what = 'Loading' }: { what?: string }) {
  return <p className="muted" role="status" aria-busy="true">{what}…</p>
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>
}

/** Asks again; `busy` while that request is out. */
export interface Retry {
  run: () => unknown
  busy?: boolean
}

function RetryButton({ retry }: { retry?: Retry }) {
  if (!retry) return null
  return (
    <button type="button" className="retry" disabled={retry.busy} onClick={() => retry.run()} data-testid="retry">
      {retry.busy ? 'Retrying…' : 'Retry'}
    </button>
  )
}

/** An API failure with its message and correlation id (what to quote in a bug report), and a
 * Retry button when there is something to ask again. */
export function ErrorNote({ error, what, retry }: { error: unknown; what?: string; retry?: Retry }) {
  if (error instanceof ApiError) {
    if (error.missingRoute)
      return <p className="note" data-testid="unavailable">{what ?? 'This feature'}: not available on this server version yet.</p>
    return (
      <div className="error" role="alert" data-testid="api-error">
        <strong>{error.message}</strong>
        <div className="small">
          <code>{error.code}</code>
          {error.correlationId && <> · correlation id <code data-testid="correlation-id">{error.correlationId}</code></>}
        </div>
        {error.unauthorized && <div className="small">Set the API key in Settings.</div>}
        <RetryButton retry={retry} />
      </div>
    )
  }
  return <div className="error" role="alert">{String(error)} <RetryButton retry={retry} /></div>
}

/** The usual trio for a query: loading, error (with Retry), else the content. */
export function QueryState({ q, what, children }: {
  q: { isPending: boolean; error: unknown; refetch?: () => unknown; isFetching?: boolean }; what?: string; children: () => ReactNode
}) {
  if (q.error) return <ErrorNote error={q.error} what={what} retry={q.refetch && { run: () => q.refetch!(), busy: q.isFetching }} />
  if (q.isPending) return <Loading />
  return <>{children()}</>
}

const TONES: Record<string, string> = {
  ready: 'good', running: 'good', done: 'good', filled: 'good', active: 'good', live: 'good',
  compiling: 'warn', uploaded: 'warn', queued: 'warn', created: 'warn', stopping: 'warn', suspended: 'warn', accepted: 'warn',
  new: 'warn', pending_submit: 'warn', submitted: 'warn', partially_filled: 'warn', reduce_only: 'warn', connecting: 'warn', retrying: 'warn',
  rejected: 'bad', failed: 'bad', halted: 'bad', canceled: 'bad', cancelled: 'bad', unauthorized: 'bad',
}

export function Chip({ value }: { value: string | null | undefined }) {
  const v = value ?? 'unknown'
  return <span className={`chip ${TONES[v] ?? ''}`}>{v.replace(/_/g, ' ')}</span>
}

export function SortTh<K extends string>({ k, label, sort, onSort, num }: {
  k: K; label: string; sort: { key: K; dir: SortDir }; onSort: (k: K) => void; num?: boolean
}) {
  const active = sort.key === k
  return (
    <th className={num ? 'num' : undefined} aria-sort={active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
      <button type="button" className="th" onClick={() => onSort(k)}>
        {label}{active ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ''}
      </button>
    </th>
  )
}

/** Sort state that flips direction when the same column is clicked again. */
export function nextSort<K>(cur: { key: K; dir: SortDir }, key: K): { key: K; dir: SortDir } {
  return cur.key === key ? { key, dir: cur.dir === 'asc' ? 'desc' : 'asc' } : { key, dir: 'asc' }
}

export function Pnl({ value }: { value: number | string | null | undefined }) {
  const n = toNumber(value)
  return <span className={n === null ? '' : n > 0 ? 'pos' : n < 0 ? 'neg' : ''}>{fmtPnl(n)}</span>
}

/** Where candles came from. Sample data gets a visible badge so it is never taken for market data. */
export function SourceBadge({ source }: { source: string | null | undefined }) {
  if (!source) return <span className="small">—</span>
  if (source === 'sample')
    return <span className="chip sample" data-testid="sample-badge" title="Bundled sample data, not market data">sample</span>
  return <span className="chip" data-testid="source-badge">{source}</span>
}

/** Rows shown a page at a time (long tables stay a few hundred DOM nodes): the page's rows and
 * its pager. The page goes back to the first when the rows change length (a new filter). */
export function usePaged<T>(rows: readonly T[], size: number): { rows: T[]; pager: ReactNode } {
  const [page, setPage] = useState(0)
  const pages = Math.max(1, Math.ceil(rows.length / size))
  useEffect(() => setPage(0), [rows.length])
  const at = Math.min(page, pages - 1)
  const pager = pages > 1 ? (
    <div className="row pager" data-testid="pager">
      <button type="button" disabled={at === 0} onClick={() => setPage(0)}>First</button>
      <button type="button" disabled={at === 0} onClick={() => setPage(at - 1)} data-testid="pager-prev">← Previous</button>
      <span className="small" data-testid="pager-at">{at * size + 1}–{Math.min(rows.length, (at + 1) * size)} of {rows.length}</span>
      <button type="button" disabled={at >= pages - 1} onClick={() => setPage(at + 1)} data-testid="pager-next">Next →</button>
      <button type="button" disabled={at >= pages - 1} onClick={() => setPage(pages - 1)}>Last</button>
    </div>
  ) : null
  return { rows: rows.slice(at * size, (at + 1) * size), pager }
}

/** The props of a box that scrolls (a wide table on a phone, a log): a labelled region the
 * keyboard can focus, so its overflow can be scrolled without a mouse (axe's
 * scrollable-region-focusable; WCAG 2.1.1). */
export const scrollable = (label: string) => ({ role: 'region', 'aria-label': label, tabIndex: 0 }) as const
