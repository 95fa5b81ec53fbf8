// The fields a sweep and a walk-forward share: strategy, symbols, timeframe, dates, fixed
// params, the space editor, method, objective and constraints. One editor so both forms check
// and send the same request (a walk-forward is a sweep's request plus its windows).
import { useState, type Dispatch, type SetStateAction } from 'react'
import { emptySweepForm, METRICS, newAxis, type AxisKind, type AxisRow, type SweepForm } from '../lib/sweeps'
import { FieldError, StrategySelect, TIMEFRAMES } from './run-form'

export type FieldErrors = Record<string, string>

/** The shared form's state and its per-field errors (keyed as `buildSweepRequest` keys them). */
export function useSweepForm() {
  const [f, setF] = useState<SweepForm>(emptySweepForm)
  const [errors, setErrors] = useState<FieldErrors>({})
  return { f, setF, errors, setErrors }
}

export function SweepFields({ f, setF, errors, setErrors }: {
  f: SweepForm; setF: Dispatch<SetStateAction<SweepForm>>; errors: FieldErrors; setErrors: Dispatch<SetStateAction<FieldErrors>>
}) {
  const set = <K extends keyof SweepForm>(k: K) => (v: SweepForm[K]) => {
    setF((cur) => ({ ...cur, [k]: v }))
    setErrors((e) => ({ ...e, [k]: '' }))
  }
  const setAxis = (i: number, patch: Partial<AxisRow>) => {
    setF((cur) => ({ ...cur, axes: cur.axes.map((a, j) => (j === i ? { ...a, ...patch } : a)) }))
    setErrors((e) => Object.fromEntries(Object.entries(e).filter(([k]) => !k.startsWith(`axis-${i}-`))))
  }
  const err = (k: string) => errors[k] || undefined
  const num = (k: 'cash' | 'commission' | 'warmup' | 'seed' | 'count' | 'min_trades' | 'max_drawdown_pct' | 'max_exposure_pct', label: string, placeholder: string) => (
    <label>{label}
      <input name={k} value={f[k]} inputMode="decimal" placeholder={placeholder} aria-invalid={err(k) ? true : undefined} onChange={(e) => set(k)(e.target.value)} />
      <FieldError error={err(k)} name={k} />
    </label>
  )
  return (
    <>
      <StrategySelect value={f.strategy} onChange={set('strategy')} />
      {err('strategy') && <FieldError error={err('strategy')} name="strategy" />}
      <label>Symbols<input name="symbols" value={f.symbols} onChange={(e) => set('symbols')(e.target.value)} placeholder="SAMPLE" /><FieldError error={err('symbols')} name="symbols" /></label>
      <label>Timeframe
        <select name="timeframe" value={f.timeframe} onChange={(e) => set('timeframe')(e.target.value)}>
          {TIMEFRAMES.map((t) => <option key={t}>{t}</option>)}
        </select>
      </label>
      <label>From<input type="date" name="start" value={f.start} onChange={(e) => set('start')(e.target.value)} /></label>
      <label>To<input type="date" name="end" value={f.end} onChange={(e) => set('end')(e.target.value)} /></label>
      {num('cash', 'Cash', 'default 10000')}
      {num('commission', 'Commission', 'e.g. 0.002')}
      {num('warmup', 'Warm-up bars', "strategy's")}
      <label className="wide">Fixed params (JSON object)<input name="params" value={f.params} onChange={(e) => set('params')(e.target.value)} placeholder='{"size": 1}' /><FieldError error={err('params')} name="params" /></label>

      <fieldset className="wide sweep-space" data-testid="space-editor">
        <legend>Space</legend>
        {f.axes.map((a, i) => (
          <div className="form flat" key={i} data-testid={`axis-${i}`}>
            <label>Parameter<input name={`axis-${i}-name`} value={a.name} onChange={(e) => setAxis(i, { name: e.target.value })} placeholder="fast" /><FieldError error={err(`axis-${i}-name`)} name={`axis-${i}-name`} /></label>
            <label>Kind
              <select name={`axis-${i}-kind`} value={a.kind} onChange={(e) => setAxis(i, { kind: e.target.value as AxisKind })}>
                <option value="range">range (min, max, step)</option>
                <option value="log">log (min, max, count)</option>
                <option value="list">list of values</option>
              </select>
            </label>
            {a.kind === 'list' ? (
              <label>Values<input name={`axis-${i}-values`} value={a.values} onChange={(e) => setAxis(i, { values: e.target.value })} placeholder="40, 60, 80" /><FieldError error={err(`axis-${i}-values`)} name={`axis-${i}-values`} /></label>
            ) : (
              <>
                {(['min', 'max'] as const).map((k) => (
                  <label key={k}>{k}<input name={`axis-${i}-${k}`} value={a[k]} inputMode="decimal" onChange={(e) => setAxis(i, { [k]: e.target.value })} /><FieldError error={err(`axis-${i}-${k}`)} name={`axis-${i}-${k}`} /></label>
                ))}
                {a.kind === 'range' ? (
                  <label>step<input name={`axis-${i}-step`} value={a.step} inputMode="decimal" onChange={(e) => setAxis(i, { step: e.target.value })} /><FieldError error={err(`axis-${i}-step`)} name={`axis-${i}-step`} /></label>
                ) : (
                  <label>count<input name={`axis-${i}-count`} value={a.count} inputMode="numeric" placeholder={f.method === 'random' ? 'optional' : ''} onChange={(e) => setAxis(i, { count: e.target.value })} /><FieldError error={err(`axis-${i}-count`)} name={`axis-${i}-count`} /></label>
                )}
              </>
            )}
            <div className="field"><button type="button" onClick={() => setF((cur) => ({ ...cur, axes: cur.axes.filter((_, j) => j !== i) }))} aria-label={`remove parameter ${i + 1}`}>Remove</button></div>
          </div>
        ))}
        <button type="button" onClick={() => setF((cur) => ({ ...cur, axes: [...cur.axes, newAxis()] }))} data-testid="add-axis">Add parameter</button>
        <FieldError error={err('space')} name="space" />
      </fieldset>

      <label>Method
        <select name="method" value={f.method} onChange={(e) => set('method')(e.target.value as SweepForm['method'])}>
          <option value="grid">grid (every combination)</option>
          <option value="random">random</option>
        </select>
      </label>
      {f.method === 'random' && <>{num('seed', 'Seed', '7')}{num('count', 'Points', '50')}</>}
      <label>Objective
        <select name="metric" value={f.metric} onChange={(e) => set('metric')(e.target.value)}>
          {METRICS.map((m) => <option key={m}>{m}</option>)}
        </select>
        <FieldError error={err('metric')} name="metric" />
      </label>
      <label>Direction
        <select name="direction" value={f.direction} onChange={(e) => set('direction')(e.target.value as SweepForm['direction'])}>
          <option value="max">max</option>
          <option value="min">min</option>
        </select>
      </label>
      {num('min_trades', 'Min trades', 'none')}
      {num('max_drawdown_pct', 'Max drawdown %', 'none, e.g. 30')}
      {num('max_exposure_pct', 'Max exposure %', 'none')}
    </>
  )
}
