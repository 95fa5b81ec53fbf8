// Shared bits of the run and backtest launch forms: strategy picker, symbols, params JSON, sandbox limits.
import { useStrategies } from '../api/queries'

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

/** Inputs for more fuel per event or memory than the strategy's tier (within the operator's maxima). */
export function LimitFields(p: { fuel: string, memory: string, onFuel: (v: string) => void, onMemory: (v: string) => void }) {
  return (
    <>
      <label>Fuel per event (optional)<input value={p.fuel} inputMode="numeric" onChange={(e) => p.onFuel(e.target.value)} placeholder="tier default" /></label>
      <label>Memory MiB (optional)<input value={p.memory} inputMode="numeric" onChange={(e) => p.onMemory(e.target.value)} placeholder="tier default" /></label>
    </>
  )
}
