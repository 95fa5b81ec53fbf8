// The walk-forward form's window checks, the server's refusals mapped to fields, the overfitting
// figures in words and the stitched curve's geometry: apart from React so they are tested plainly.
import { ApiError } from '../api/client'
import type { Overfitting, Size, WalkForwardRequest, WindowsKind, WindowsSpec } from '../api/walkforward'
import { checkNumber } from './forms'
import { buildSweepRequest, type SweepForm } from './sweeps'

export type SizeUnit = 'bars' | 'duration'
/** The windows part of the form; each size is the text typed, read in `unit`. */
export interface WindowsForm { kind: WindowsKind; unit: SizeUnit; in_sample: string; out_of_sample: string; step: string }
export const emptyWindowsForm = (): WindowsForm => ({ kind: 'rolling', unit: 'bars', in_sample: '', out_of_sample: '', step: '' })

/** A duration as the server reads it (greta `parse_size`): 1 to 100000 days, weeks or calendar
 * months (`90d`, `12w`, `6M`). */
export const DURATION = /^([1-9]\d{0,5})(d|w|M)$/
export const DURATION_HINT = 'e.g. 90d, 12w or 6M'
/** The most bars a size may be (the server's bound). */
const MAX_BARS = 100_000_000

/** One size field: a whole number of bars (1 or more) or a duration, or why not. */
export function checkSize(text: string, unit: SizeUnit): { ok: true; value?: Size } | { ok: false; error: string } {
  const t = text.trim()
  if (!t) return { ok: true }
  if (unit === 'bars') {
    const c = checkNumber(t, { integer: true, min: 1, max: MAX_BARS })
    return c.ok ? { ok: true, value: c.value } : c
  }
  const d = t.replace(/\s+/g, '')
  const m = DURATION.exec(d)
  return m && Number(m[1]) <= 100_000 ? { ok: true, value: d } : { ok: false, error: `"${t.slice(0, 20)}" is not a duration (${DURATION_HINT})` }
}

export type BuiltWalkForward = { ok: true; value: WalkForwardRequest } | { ok: false; errors: Record<string, string> }

/** The `POST /walkforward` body: the sweep's request plus `windows`, or every wrong field (the
 * sweep's keyed as `buildSweepRequest` keys them, the windows' by their name). */
export function buildWalkForwardRequest(f: SweepForm, w: WindowsForm,
  parseParams: Parameters<typeof buildSweepRequest>[1], splitSymbols: Parameters<typeof buildSweepRequest>[2]): BuiltWalkForward {
  const sweep = buildSweepRequest(f, parseParams, splitSymbols)
  const errors: Record<string, string> = sweep.ok ? {} : { ...sweep.errors }
  const sizes: Partial<Record<'in_sample' | 'out_of_sample' | 'step', Size>> = {}
  for (const k of ['in_sample', 'out_of_sample', 'step'] as const) {
    const c = checkSize(w[k], w.unit)
    if (!c.ok) errors[k] = c.error
    else if (c.value === undefined && k !== 'step') errors[k] = 'required'
    else if (c.value !== undefined) sizes[k] = c.value
  }
  // The server refuses overlapping out-of-sample windows; sizes of one unit compare here.
  const [oos, step] = [sizes.out_of_sample, sizes.step].map((x) => (x === undefined ? null : typeof x === 'number' ? { n: x, u: 'bars' } : { n: parseInt(x, 10), u: x.slice(-1) }))
  if (oos && step && oos.u === step.u && step.n < oos.n) errors.step = 'at least the out-of-sample size'
  if (Object.keys(errors).length || !sweep.ok) return { ok: false, errors }
  const windows: WindowsSpec = { kind: w.kind, in_sample: sizes.in_sample!, out_of_sample: sizes.out_of_sample! }
  if (sizes.step !== undefined) windows.step = sizes.step
  return { ok: true, value: { ...sweep.value, windows } }
}

/** The fields of the walk-forward form a refusal can be about (`windows`: the windows as a whole). */
const WINDOW_FIELDS = ['in_sample', 'out_of_sample', 'step', 'kind', 'windows'] as const

/**
 * A refusal of `POST /walkforward` placed under the field it is about: `invalid_windows` under
 * the window field its details name (`field`: `windows.step`, …; `windows` or none: under the
 * windows as a whole),
 * `unknown_parameter` under the space row of that name, `unknown_metric` under the objective,
 * `sweep_too_large` under the space. Null for anything else (shown as a general error).
 */
export function refusalField(error: unknown, axes: { name: string }[]): { field: string; message: string } | null {
  if (!(error instanceof ApiError)) return null
  const d = (error.details ?? {}) as Record<string, unknown>
  switch (error.code) {
    case 'invalid_windows': {
      const named = typeof d.field === 'string' ? d.field.replace(/^windows\./, '') : ''
      const field = (WINDOW_FIELDS as readonly string[]).includes(named) ? named : 'windows'
      return { field, message: error.message }
    }
    case 'unknown_parameter': {
      const i = axes.findIndex((a) => a.name.trim() === d.name)
      return { field: i >= 0 ? `axis-${i}-name` : 'space', message: error.message }
    }
    case 'unknown_metric':
      return { field: 'metric', message: Array.isArray(d.accepted) ? `${error.message} (accepted: ${d.accepted.join(', ')})` : error.message }
    case 'sweep_too_large':
      return { field: 'space', message: d.points !== undefined && d.limit !== undefined
        // The server counts every window's points: points × windows.
        ? `${Number(d.points).toLocaleString('en')} points over all windows; this server allows at most ${Number(d.limit).toLocaleString('en')}`
        : error.message }
    default:
      return null
  }
}

const pct = (p: number) => `${(p * 100).toFixed(p > 0.001 && p < 0.999 ? 1 : 2)} %`

/** The deflated Sharpe ratio in words: how likely the best point's Sharpe ratio is not luck. */
export function dsrLine(dsr: number): string {
  const verdict = dsr >= 0.95 ? 'likely skill' : dsr >= 0.5 ? 'not clearly better than luck' : 'most likely luck'
  return `${pct(dsr)} probability that the best point's true Sharpe ratio beats the best of the trials by luck alone: ${verdict}.`
}

/** PBO in words: how often the in-sample best does worse than the median out of sample. */
export function pboLine(pbo: number): string {
  const verdict = pbo < 0.1 ? 'low: the in-sample choice usually holds up'
    : pbo < 0.5 ? 'moderate: the in-sample choice often holds up, not always'
      : 'high: choosing the in-sample best is likely overfitting'
  return `In ${pct(pbo)} of the in-sample/out-of-sample splits the in-sample best ranked below the median out of sample (${verdict}).`
}

/** Whether any figure of `o` is there to show. */
export const hasFigures = (o: Overfitting | null | undefined) => !!o && (!!o.deflated_sharpe || !!o.pbo)

export interface CurveGeometry {
  /** The SVG path of the curve in a `width × height` box (y grows down). */
  d: string
  lo: number
  hi: number
  start: number
  end: number
  /** The x of a time in the box. */
  x: (t: number) => number
}

/** The path of an equity curve scaled into `width × height` (the value range padded by 5 %);
 * null with fewer than two points. */
export function curveGeometry(points: { ts: string; equity: number }[], width: number, height: number): CurveGeometry | null {
  const pts = points.map((p) => ({ t: new Date(p.ts).getTime(), v: p.equity })).filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v))
  if (pts.length < 2) return null
  const lo = Math.min(...pts.map((p) => p.v))
  const hi = Math.max(...pts.map((p) => p.v))
  const start = pts[0].t
  const end = pts[pts.length - 1].t
  const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 1
  const x = (t: number) => (end > start ? ((t - start) / (end - start)) * width : 0)
  const y = (v: number) => height - ((v - (lo - pad)) / (hi - lo + 2 * pad)) * height
  const d = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ')
  return { d, lo, hi, start, end, x }
}

/** A parameter value as shown in the tables. */
export function showValue(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(4).replace(/0+$/, '').replace(/\.$/, '')
  return typeof v === 'string' ? v : JSON.stringify(v)
}

/** `fast=10 slow=40` from a window's best parameters. */
export const paramsText = (p: Record<string, unknown> | null | undefined) =>
  p ? Object.entries(p).map(([k, v]) => `${k}=${showValue(v)}`).join(' ') : '—'

/** A size as the spec gave it: `250 bars` or `180d`. */
export const sizeText = (s: Size | undefined) => (s === undefined ? '—' : typeof s === 'number' ? `${s} bars` : s)
