// The frame around every view: navigation, the live/stale indicator, the theme toggle, and a
// banner while the server cannot write to its store (a database outage, a full disk).
import { useEffect, useState, useSyncExternalStore } from 'react'
import { useQuery } from '@tanstack/react-query'
import { NavLink, Outlet, useLocation } from 'react-router'
import { api } from '../api/client'
import { effectiveTheme, settings, type Theme } from '../lib/settings'
import { useStream } from './stream'

const NAV = [
  ['/', 'Dashboard'],
  ['/ui/runs', 'Runs'],
  ['/ui/accounts', 'Accounts'],
  ['/ui/strategies', 'Strategies'],
  ['/ui/backtests', 'Backtests'],
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

/** A banner, on every page, while the server reports a store fault. */
export function StoreFaultBanner() {
  const health = useQuery({
    queryKey: ['healthz'],
    queryFn: () => api.get<{ status: string; store_fault?: StoreFault }>('/healthz'),
    refetchInterval: FAULT_POLL_MS,
  })
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
  const shown = useTheme()
  const { state } = useStream()
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
        <span className={`live s-${state}`} data-testid="stream-state" title={`event stream: ${state}`}>
          {state === 'live' ? '● live' : state === 'unavailable' ? '○ polling' : `○ ${state}`}
        </span>
        <button type="button" className="ghost" onClick={() => settings.setTheme(NEXT[theme])} title="Theme: system → dark → light">
          {theme === 'system' ? '◐' : theme === 'dark' ? '☾' : '☀'}
        </button>
      </header>
      <main>
        <StoreFaultBanner />
        <Outlet />
      </main>
    </div>
  )
}
