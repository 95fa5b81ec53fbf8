// The frame around every view: navigation, the live/stale indicator, the theme toggle.
import { useEffect, useState, useSyncExternalStore } from 'react'
import { NavLink, Outlet, useLocation } from 'react-router'
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
        <Outlet />
      </main>
    </div>
  )
}
