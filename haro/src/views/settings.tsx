// Settings: the API key (kept in this browser's localStorage), the theme, the trading state
// switch with the kill switch ("Halt and flatten"), notifications (channels, rules, send test,
// what was not delivered), and the chart library's attribution.
import { useState, useSyncExternalStore } from 'react'
import { useQueryClient } from '@tanstack/react-query'
import { useSetTradingState, useTradingState } from '../api/queries'
import type { TradingStateName } from '../api/types'
import { Chip, ErrorNote, QueryState } from '../components/ui'
import { fmtTime } from '../lib/format'
import { settings, type Theme } from '../lib/settings'
import { HaltAndFlatten } from './control'
import { NotificationsSettings } from './notifications'

const STATES: [TradingStateName, string][] = [['active', 'Active'], ['reduce_only', 'Reduce only'], ['halted', 'Halted']]

export function SettingsView() {
  return (
    <section>
      <h1>Settings</h1>
      <ApiKey />
      <TradingSwitch />
      <NotificationsSettings />
      <ThemePick />
      <h2>About</h2>
      <p className="small">
        Charts by TradingView Lightweight Charts™ (Apache-2.0). Copyright (c) 2025 TradingView, Inc.{' '}
        <a href="https://www.tradingview.com/" target="_blank" rel="noreferrer">tradingview.com</a>
      </p>
    </section>
  )
}

function ApiKey() {
  const stored = useSyncExternalStore(settings.subscribe, settings.apiKey)
  const [key, setKey] = useState('')
  const qc = useQueryClient()
  const save = (k: string) => {
    settings.setApiKey(k)
    setKey('')
    qc.invalidateQueries()
  }
  return (
    <>
      <h2>API key</h2>
      <form className="form" onSubmit={(e) => { e.preventDefault(); save(key) }}>
        <label className="wide">X-API-Key (needed when the server sets WEAVER_API_KEY; kept in this browser only)
          <input type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} placeholder={stored ? 'a key is saved' : 'no key saved'} data-testid="api-key" />
        </label>
        <div className="row">
          <button className="primary" type="submit" disabled={!key}>Save</button>
          {stored && <button type="button" onClick={() => save('')}>Forget the key</button>}
        </div>
      </form>
    </>
  )
}

function TradingSwitch() {
  const q = useTradingState()
  const set = useSetTradingState()
  return (
    <>
      <h2>Trading state</h2>
      <QueryState q={q} what="The trading state switch">
        {() => (
          <div className="row" data-testid="trading-state">
            <Chip value={q.data!.state} />
            <div className="seg" role="group" aria-label="Trading state">
              {STATES.map(([s, label]) => (
                <button key={s} type="button" aria-pressed={q.data!.state === s} disabled={set.isPending} onClick={() => set.mutate(s)}>{label}</button>
              ))}
            </div>
            <span className="small">updated {fmtTime(q.data!.updated_at)}</span>
            <HaltAndFlatten />
          </div>
        )}
      </QueryState>
      {set.error && <ErrorNote error={set.error} />}
      <p className="small">
        Reduce only: runs may only close positions. Halted: no new orders at all. Halt and flatten (the kill switch) also
        cancels every running run's working orders and closes its positions.
      </p>
    </>
  )
}

function ThemePick() {
  const theme = useSyncExternalStore(settings.subscribe, settings.theme)
  return (
    <>
      <h2>Theme</h2>
      <div className="seg" role="group" aria-label="Theme">
        {(['system', 'light', 'dark'] as Theme[]).map((t) => (
          <button key={t} type="button" aria-pressed={theme === t} onClick={() => settings.setTheme(t)}>{t}</button>
        ))}
      </div>
    </>
  )
}
