// Settings: the API key (kept in this browser's localStorage), the theme, the time zone, the trading state
// switch with the kill switch ("Halt and flatten"), notifications (channels, rules, send test,
// what was not delivered), and the chart library's attribution.
import { useState, useSyncExternalStore } from 'react'
import { useQueryClient } from '@tanstack/react-query'
import { useSetTradingState, useTradingState } from '../api/queries'
import type { TradingStateName } from '../api/types'
import { Chip, ErrorNote, QueryState } from '../components/ui'
import { fmtTime, zoneLabel, zoneName } from '../lib/format'
import { settings, zoneChoices, type Theme } from '../lib/settings'
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
      <TimeZonePick />
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

/** The zone every time is shown in: UTC (the default), this browser's, or any IANA zone. */
export function TimeZonePick() {
  const zone = useSyncExternalStore(settings.subscribe, settings.timeZone)
  const mode = zone === 'UTC' ? 'UTC' : zone === 'local' ? 'local' : 'zone'
  const [pick, setPick] = useState(mode === 'zone' ? zone : 'America/New_York')
  return (
    <>
      <h2>Time zone</h2>
      <div className="row">
        <div className="seg" role="group" aria-label="Time zone">
          <button type="button" aria-pressed={mode === 'UTC'} onClick={() => settings.setTimeZone('UTC')}>UTC</button>
          <button type="button" aria-pressed={mode === 'local'} onClick={() => settings.setTimeZone('local')}>Local ({zoneName('local')})</button>
          <button type="button" aria-pressed={mode === 'zone'} onClick={() => settings.setTimeZone(pick)}>Zone</button>
        </div>
        <select aria-label="IANA time zone" data-testid="time-zone" value={mode === 'zone' ? zone : pick}
          onChange={(e) => { setPick(e.target.value); settings.setTimeZone(e.target.value) }}>
          {zoneChoices().map((z) => <option key={z} value={z}>{z}</option>)}
        </select>
      </div>
      <p className="small">Times are shown in {zoneName(zone)} and labelled {zoneLabel(zone)}. The server stores and sends UTC.</p>
    </>
  )
}
