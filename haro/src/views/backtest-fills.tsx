// The backtest form's fill models (README "Backtest from the command line"): the fields of
// `POST /backtests` that change how orders fill, named as the API names them. Empty fields are
// left out, so the server's defaults (the reference fills) apply.
import type { BacktestRequest } from '../api/types'
import { checkNumbers } from '../lib/forms'
import { FieldError } from './run-form'

export type FillForm = {
  fill: '' | 'next_open' | 'close'
  volume_share: boolean
  volume_limit: string
  volume_impact: string
  remainder: '' | 'carry' | 'cancel'
  spread_hl: string
  latency_bars: string
  commission_model: '' | 'flat' | 'alpaca'
}

export const NO_FILLS: FillForm = {
  fill: '', volume_share: false, volume_limit: '', volume_impact: '', remainder: '',
  spread_hl: '', latency_bars: '', commission_model: '',
}

type FillRequest = Pick<BacktestRequest, 'fill' | 'volume_share' | 'volume_limit' | 'volume_impact' | 'remainder' | 'spread_hl' | 'latency_bars' | 'commission_model'>
type NumberKey = 'volume_limit' | 'volume_impact' | 'spread_hl' | 'latency_bars'

/** The request fields of the form, or the errors of the fields out of the server's ranges. */
export function fillRequest(f: FillForm): { ok: true; value: FillRequest } | { ok: false; errors: Partial<Record<NumberKey, string>> } {
  const nums = checkNumbers<NumberKey>(f, {
    volume_limit: { min: 0, minExclusive: true, max: 1 },
    volume_impact: { min: 0, max: 10 },
    spread_hl: { min: 0, max: 1 },
    latency_bars: { integer: true, min: 0, max: 10000 },
  })
  if (!nums.ok) return nums
  const v = nums.values
  const out: FillRequest = {}
  if (f.fill) out.fill = f.fill
  if (f.volume_share) {
    out.volume_share = true
    if (v.volume_limit !== undefined) out.volume_limit = v.volume_limit
    if (v.volume_impact !== undefined) out.volume_impact = v.volume_impact
    if (f.remainder) out.remainder = f.remainder
  }
  if (v.spread_hl !== undefined) out.spread_hl = v.spread_hl
  if (v.latency_bars !== undefined) out.latency_bars = v.latency_bars
  if (f.commission_model) out.commission_model = f.commission_model
  return { ok: true, value: out }
}

export function FillFields({ f, onChange, errors }: {
  f: FillForm
  onChange: (f: FillForm) => void
  errors: Partial<Record<NumberKey, string>>
}) {
  const text = (k: NumberKey, label: string, placeholder: string) => (
    <label>{label}<input name={k} value={f[k]} inputMode="decimal" aria-invalid={errors[k] ? true : undefined}
      onChange={(e) => onChange({ ...f, [k]: e.target.value })} placeholder={placeholder} /><FieldError error={errors[k]} name={k} /></label>
  )
  return (
    <>
      <label>Fill
        <select name="fill" value={f.fill} onChange={(e) => onChange({ ...f, fill: e.target.value as FillForm['fill'] })}>
          <option value="">next open (default)</option>
          <option value="close">signal bar's close</option>
        </select>
      </label>
      <label>Commission model
        <select name="commission_model" value={f.commission_model} onChange={(e) => onChange({ ...f, commission_model: e.target.value as FillForm['commission_model'] })}>
          <option value="">flat (default)</option>
          <option value="alpaca">Alpaca (SEC fee and TAF on sells)</option>
        </select>
      </label>
      {text('spread_hl', 'Spread (fraction of high − low)', '0')}
      {text('latency_bars', 'Latency (bars)', '0')}
      <label className="row"><input type="checkbox" name="volume_share" checked={f.volume_share}
        onChange={(e) => onChange({ ...f, volume_share: e.target.checked })} />Volume-share slippage</label>
      {f.volume_share && (
        <>
          {text('volume_limit', 'Volume limit (share of a bar)', '0.025')}
          {text('volume_impact', 'Price impact', '0.1')}
          <label>Rest above the limit
            <select name="remainder" value={f.remainder} onChange={(e) => onChange({ ...f, remainder: e.target.value as FillForm['remainder'] })}>
              <option value="">carry to the next bars (default)</option>
              <option value="cancel">cancel</option>
            </select>
          </label>
        </>
      )}
    </>
  )
}
