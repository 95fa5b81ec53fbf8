// Shared bits of the run and backtest launch forms: strategy picker, symbols, params JSON, sandbox
// limits, a run's optional risk limits and its bar options on Alpaca.
import { useId } from 'react'
import { useStrategies, useVenues } from '../api/queries'
import type { Venue } from '../api/types'
import { COMMON_KEYS, labelOf, riskPatch, type CommonKey } from '../lib/risk'
import { checkNumber, WARMUP } from '../lib/forms'

export function StrategySelect({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  const q = useStrategies()
  const ready = (q.data ?? []).filter((s) => s.status === 'ready')
  return (
    <label>Strategy
      <select value={value} onChange={(e) => onChange(e.target.value)} required data-testid="strategy-select">
        <option value="">{q.isPending ? 'loading…' : ready.length ? 'choose…' : 'no ready strategy'}</option>
        {ready.map((s) => <option key={s.id} value={s.id}>{s.name} {s.version} (#{s.id})</option>)}
      </select>
    </label>
  )
}

const VENUE_LABEL: Record<string, string> = {
  sim: 'sim (simulated exchange, stored candles)',
  'sim-live': 'sim-live (simulated fills on live Alpaca bars)',
  alpaca: 'alpaca',
}

/** The venue picker: the venues this server offers (`GET /venues`), `sim` while they load. */
export function VenueSelect({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  const q = useVenues()
  const venues: Pick<Venue, 'name' | 'description'>[] = q.data ?? [{ name: 'sim', description: '' }]
  const chosen = venues.find((v) => v.name === value)
  return (
    <label>Venue
      <select value={value} onChange={(e) => onChange(e.target.value)} data-testid="venue-select">
        {venues.map((v) => <option key={v.name} value={v.name} title={v.description}>{VENUE_LABEL[v.name] ?? v.name}</option>)}
      </select>
      {chosen && chosen.name === 'sim-live' && <span className="small">paper only; orders never reach the broker</span>}
    </label>
  )
}

export const splitSymbols = (s: string) => s.split(/[\s,]+/).map((x) => x.trim().toUpperCase()).filter(Boolean)

/** Parses the params box: empty is no params; anything else must be a JSON object. */
export function parseParams(text: string): { ok: true; value?: Record<string, unknown> } | { ok: false; error: string } {
  if (!text.trim()) return { ok: true }
  try {
    const v = JSON.parse(text)
    if (v && typeof v === 'object' && !Array.isArray(v)) return { ok: true, value: v as Record<string, unknown> }
    return { ok: false, error: 'params must be a JSON object' }
  } catch (e) {
    return { ok: false, error: `params: ${(e as Error).message}` }
  }
}

export { TIMEFRAMES } from '../lib/candles'

/** The optional sandbox limits of a run or backtest request (absent fields keep the tier's). */
export function limitsOf(fuel: string, memory: string) {
  const limits = {
    ...(fuel.trim() ? { fuel_per_event: Number(fuel) } : {}),
    ...(memory.trim() ? { memory_mb: Number(memory) } : {}),
  }
  return Object.keys(limits).length ? { limits } : {}
}

/** A field's error under it (`role=alert`, so it is read out), or nothing. */
export function FieldError({ error, name }: { error?: string; name: string }) {
  return error ? <span className="field-error" role="alert" data-testid={`error-${name}`}>{error}</span> : null
}

/** Inputs for more fuel per event or memory than the strategy's tier (within the operator's maxima). */
export function LimitFields(p: { fuel: string, memory: string, onFuel: (v: string) => void, onMemory: (v: string) => void, errors?: { fuel?: string; memory?: string } }) {
  return (
    <>
      <label>Fuel per event (optional)<input name="fuel" value={p.fuel} inputMode="numeric" aria-invalid={p.errors?.fuel ? true : undefined} onChange={(e) => p.onFuel(e.target.value)} placeholder="tier default" /><FieldError error={p.errors?.fuel} name="fuel" /></label>
      <label>Memory MiB (optional)<input name="memory" value={p.memory} inputMode="numeric" aria-invalid={p.errors?.memory ? true : undefined} onChange={(e) => p.onMemory(e.target.value)} placeholder="tier default" /><FieldError error={p.errors?.memory} name="memory" /></label>
    </>
  )
}

export type RiskFieldValues = Record<CommonKey, string>
export const NO_RISK: RiskFieldValues = { daily_loss_pct: '', max_drawdown_pct: '', max_notional_per_order: '', max_open_orders: '', max_orders_per_minute: '' }

/** The run request's `risk` from the form's section: only the keys filled in (an empty field keeps
 * the venue's default), or the errors per key. */
export function riskOf(v: RiskFieldValues): { ok: true; value: { risk?: Record<string, unknown> } } | { ok: false; errors: Partial<Record<CommonKey, string>> } {
  const filled = Object.fromEntries(Object.entries(v).filter(([, x]) => x.trim()))
  const r = riskPatch({}, filled, COMMON_KEYS)
  if (!r.ok) return { ok: false, errors: r.errors }
  return { ok: true, value: Object.keys(r.patch).length ? { risk: r.patch } : {} }
}

/** "Risk limits" of the run form, collapsed by default: the common keys. */
export function RiskFields({ values, errors, onChange }: {
  values: RiskFieldValues; errors: Partial<Record<CommonKey, string>>; onChange: (k: CommonKey, v: string) => void
}) {
  const id = useId()
  const open = Object.values(values).some((v) => v.trim()) || Object.keys(errors).length > 0
  return (
    <details className="wide" data-testid="risk-fields" open={open || undefined}>
      <summary>Risk limits (optional)</summary>
      <p className="small">
        Runs on Alpaca (paper and live) start from the operator's defaults (<code>WEAVER_RISK_DEFAULTS</code>); runs on the
        simulated exchange have no limits unless set here. A field left empty keeps the venue's default; change or turn
        limits off later from the run's Risk panel.
      </p>
      <div className="form flat">
        {COMMON_KEYS.map((k) => (
          <div className="field" key={k}>
            <label htmlFor={`${id}-${k}`}>{labelOf(k)}</label>
            <input id={`${id}-${k}`} name={`risk.${k}`} value={values[k]} inputMode="decimal" autoComplete="off" placeholder="default"
              aria-invalid={errors[k] ? true : undefined} aria-describedby={`${id}-${k}-err`} onChange={(e) => onChange(k, e.target.value)} />
            {errors[k] && <span className="field-error" id={`${id}-${k}-err`} role="alert">{errors[k]}</span>}
          </div>
        ))}
      </div>
    </details>
  )
}

/** The bar options of a run on Alpaca's live bars, as the form holds them. */
export interface BarOptionValues { extendedHours: boolean; emptyBars: 'skip' | 'carry'; warmup: string }
export const NO_BAR_OPTIONS: BarOptionValues = { extendedHours: false, emptyBars: 'skip', warmup: '' }

/** The venues whose runs build their bars from Alpaca's 1-minute stream with these options and get a warm-up:
 * `alpaca`, and `sim-live` (its simulated exchange builds them as Alpaca runs do). */
export const takesBarOptions = (venue: string) => venue === 'alpaca' || venue === 'sim-live'

/** The run request's `extended_hours`, `empty_bars` and `warmup` for `venue`: nothing on other venues,
 * the defaults left out (an empty warm-up is the strategy's declared one), or the warm-up's error. */
export function barOptionsOf(venue: string, v: BarOptionValues):
  { ok: true; value: { extended_hours?: boolean; empty_bars?: 'carry'; warmup?: number } } | { ok: false; error: string } {
  if (!takesBarOptions(venue)) return { ok: true, value: {} }
  const w = checkNumber(v.warmup, WARMUP)
  if (!w.ok) return { ok: false, error: w.error }
  return {
    ok: true,
    value: {
      ...(v.extendedHours ? { extended_hours: true } : {}),
      ...(v.emptyBars === 'carry' ? { empty_bars: 'carry' as const } : {}),
      ...(w.value !== undefined ? { warmup: w.value } : {}),
    },
  }
}

/** "Bars" of the run form on Alpaca's live bars (`alpaca`, `sim-live`): extended hours, empty periods, warm-up. */
export function BarOptionFields({ values, error, onChange }: {
  values: BarOptionValues; error?: string; onChange: (v: BarOptionValues) => void
}) {
  return (
    <fieldset className="wide" data-testid="bar-options">
      <legend>Bars (Alpaca)</legend>
      <label><input type="checkbox" name="extended_hours" checked={values.extendedHours}
        onChange={(e) => onChange({ ...values, extendedHours: e.target.checked })} /> Extended hours (04:00–20:00 New York)</label>
      <label>Periods without trades
        <select name="empty_bars" value={values.emptyBars} onChange={(e) => onChange({ ...values, emptyBars: e.target.value as 'skip' | 'carry' })}>
          <option value="skip">skip (as Alpaca's historical bars)</option>
          <option value="carry">carry (flat bar at the last close)</option>
        </select>
      </label>
      <label>Warm-up bars (optional)<input name="warmup" value={values.warmup} inputMode="numeric" aria-invalid={error ? true : undefined}
        onChange={(e) => onChange({ ...values, warmup: e.target.value })} placeholder="the strategy's declared" /><FieldError error={error} name="warmup" /></label>
    </fieldset>
  )
}
