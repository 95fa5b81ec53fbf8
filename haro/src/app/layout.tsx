// The frame around every view: navigation, the live/stale indicator, the theme toggle, and a
// banner while the server cannot write to its store (a database outage, a full disk).
import { useEffect, useState, useSyncExternalStore } from 'react'
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { NavLink, Outlet, useLocation } from 'react-router'
import { api, ApiError } from '../api/client'
import type { StreamState } from '../lib/sse'
import { effectiveTheme, settings, type Theme } from '../lib/settings'
import { setServerReachable } from './query-client'
import { useStream } from './stream'

const NAV = [
  ['/', 'Dashboard'],
  ['/ui/runs', 'Runs'],
  ['/ui/accounts', 'Accounts'],
  ['/ui/strategies', 'Strategies'],
  ['/ui/backtests', 'Backtests'],
  ['/ui/sweeps', 'Sweeps'],
  ['/ui/walkforward', 'Walk-forward'],
  ['/ui/orders', 'Orders'],
  ['/ui/candles', 'Candles'],
  ['/ui/settings', 'Settings'],
] as const

const NEXT: Record<Theme, Theme> = { system: 'dark', dark: 'light', light: 'system' }

export function useTheme(): 'light' | 'dark' {
  const theme = useSyncExternalStore(settings.subscribe, settings.theme)
  const [dark, setDark] = useState(() => globalThis.matchMedia?.('(prefers-color-scheme: dark)').matches ?? false)
  useEffect(() => {
    const mq = globalThis.matchMedia?.('(prefers-color-scheme: dark)')
    const on = (e: MediaQueryListEvent) => setDark(e.matches)
    mq?.addEventListener('change', on)
    return () => mq?.removeEventListener('change', on)
  }, [])
  return effectiveTheme(theme, dark)
}

/** The store fault `GET /healthz` reports (it answers from memory, also during an outage). */
export type StoreFault = {
  id: string
  kind: 'outage' | 'disk_full' | 'error' | string
  since: string
  seconds: number
  error: string
  runs_waiting: number
  writers_waiting: number
}

const FAULT_TEXT: Record<string, string> = {
  outage: 'the database cannot be reached',
  disk_full: 'the disk under the database is full',
}

/** How often the layout asks `/healthz` whether the store can be written. */
export const FAULT_POLL_MS = 5000

/** `GET /healthz`, every [`FAULT_POLL_MS`]: the store fault, and whether the server answers at
 * all (an open event stream alone does not prove it: a server shutting down may hold it). */
export const useHealth = () =>
  useQuery({
    queryKey: ['healthz'],
    queryFn: () => api.get<{ status: string; store_fault?: StoreFault }>('/healthz'),
    refetchInterval: FAULT_POLL_MS,
    // One failed probe says it: the next one comes in FAULT_POLL_MS anyway.
    retry: false,
  })

/** A failed probe that means the server is not there: no answer, or a proxy's 502/503/504. */
export const unreachable = (error: unknown) =>
  error instanceof ApiError && (error.status === 0 || error.status === 502 || error.status === 503 || error.status === 504)

/** The header's connection label: the stream's state, unless the server does not answer. */
export function connectionLabel(stream: StreamState, down: boolean): { state: string; text: string } {
  if (down) return { state: 'offline', text: '○ offline' }
  if (stream === 'live') return { state: 'live', text: '● live' }
  if (stream === 'unavailable') return { state: stream, text: '○ polling' }
  return { state: stream, text: `○ ${stream}` }
}

/** While the server does not answer, say so; when it answers again, refetch everything shown so
 * error panels recover by themselves (not at the next slow poll). */
export function useConnection(): { state: string; text: string } {
  const { state } = useStream()
  const health = useHealth()
  const qc = useQueryClient()
  const down = health.isError && unreachable(health.error)
  const [wasDown, setWasDown] = useState(false)
  useEffect(() => {
    setServerReachable(!down)
    if (down) setWasDown(true)
    else if (wasDown && health.isSuccess) {
      setWasDown(false)
      void qc.invalidateQueries({ predicate: (q) => q.queryKey[0] !== 'healthz' })
    }
  }, [down, wasDown, health.isSuccess, qc])
  return connectionLabel(state, down)
}

/** A banner, on every page, while the server reports a store fault. */
export function StoreFaultBanner() {
  const health = useHealth()
  const f = health.data?.store_fault
  if (!f) return null
  const runs = f.runs_waiting === 1 ? '1 run waits' : `${f.runs_waiting} runs wait`
  return (
    <div className="error" role="alert" data-testid="store-fault">
      Weaver cannot write to its store since {new Date(f.since).toLocaleString()}: {FAULT_TEXT[f.kind] ?? 'the database refuses writes'}.{' '}
      {runs} for it and go on where they stopped when it is back; no order is sent unjournaled. ({f.error})
    </div>
  )
}

export function Layout() {
  const theme = useSyncExternalStore(settings.subscribe, settings.theme)
  // Times are formatted in the zone of the settings: a new zone redraws the page (charts too).
  const zone = useSyncExternalStore(settings.subscribe, settings.timeZone)
  const shown = useTheme()
  const conn = useConnection()
  const [open, setOpen] = useState(false)
  const loc = useLocation()
  useEffect(() => setOpen(false), [loc.pathname])
  useEffect(() => {
    document.documentElement.dataset.theme = shown
  }, [shown])

  return (
    <div className="shell">
      <header className="top">
        <button type="button" className="menu" aria-label="Menu" aria-expanded={open} onClick={() => setOpen(!open)}>☰</button>
        <strong className="brand">Weaver</strong>
        <nav className={open ? 'nav open' : 'nav'}>
          {NAV.map(([to, label]) => (
            <NavLink key={to} to={to} end={to === '/'}>{label}</NavLink>
          ))}
        </nav>
        <span className={`live s-${conn.state}`} data-testid="stream-state" role="status" title={`connection: ${conn.state}`}>
          {conn.text}
        </span>
        <button type="button" className="ghost" onClick={() => settings.setTheme(NEXT[theme])} title="Theme: system → dark → light">
          {theme === 'system' ? '◐' : theme === 'dark' ? '☾' : '☀'}
        </button>
      </header>
      <main>
        <StoreFaultBanner />
        <Outlet key={zone} />
      </main>
    </div>
  )
}
