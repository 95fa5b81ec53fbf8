// The sweep form's checks and the heatmap's layout, apart from React so they are tested plainly.
import type { Axis, SweepPoint, SweepRequest } from '../api/sweeps'
import { CASH, checkNumber, checkNumbers, LIMIT } from './forms'

export type AxisKind = 'list' | 'range' | 'log'
/** One row of the space editor; every field is the text typed. */
export interface AxisRow { name: string; kind: AxisKind; values: string; min: string; max: string; step: string; count: string }
export const newAxis = (name = ''): AxisRow => ({ name, kind: 'range', values: '', min: '', max: '', step: '', count: '' })

export interface SweepForm {
  strategy: string; symbols: string; timeframe: string; start: string; end: string
  cash: string; commission: string; warmup: string; params: string
  method: 'grid' | 'random'; seed: string; count: string
  axes: AxisRow[]
  metric: string; direction: 'max' | 'min'
  min_trades: string; max_drawdown_pct: string; max_exposure_pct: string
}

export const emptySweepForm = (): SweepForm => ({
  strategy: '', symbols: '', timeframe: '1Day', start: '', end: '', cash: '', commission: '', warmup: '', params: '',
  method: 'grid', seed: '7', count: '50', axes: [newAxis()], metric: 'sharpe', direction: 'max',
  min_trades: '', max_drawdown_pct: '', max_exposure_pct: '',
})

/** The objective and sort keys the server accepts (greta `metric_keys`: the report's numeric
 * metrics plus `return_over_drawdown`); anything else is its 422 `unknown_metric`. */
export const METRICS = [
  'sharpe', 'sortino', 'calmar', 'sqn', 'return_pct', 'return_ann_pct', 'cagr_pct', 'return_over_drawdown', 'max_drawdown_pct',
  'avg_drawdown_pct', 'profit_factor', 'expectancy_pct', 'win_rate_pct', 'trades', 'equity_final', 'equity_peak', 'exposure_time_pct',
  'volatility_ann_pct', 'buy_hold_return_pct', 'alpha_pct', 'beta', 'best_trade_pct', 'worst_trade_pct', 'avg_trade_pct',
  'max_trade_duration_days', 'avg_trade_duration_days', 'commissions', 'duration_days', 'kelly',
] as const

/** A list value as typed: a number when it reads as one, `true`/`false`, else the text (a
 * strategy may take a string parameter). */
export function listValue(t: string): number | string | boolean {
  if (t === 'true' || t === 'false') return t === 'true'
  const n = Number(t)
  return t !== '' && Number.isFinite(n) ? n : t
}

export type Built = { ok: true; value: SweepRequest } | { ok: false; errors: Record<string, string> }

/** The `POST /sweeps` body of a filled form, or the fields that are wrong (keyed by field name;
 * an axis's fields as `axis-<row>-<field>`). Empty optional fields are left out. */
export function buildSweepRequest(f: SweepForm, parseParams: (t: string) => { ok: true; value?: Record<string, unknown> } | { ok: false; error: string },
  splitSymbols: (s: string) => string[]): Built {
  const errors: Record<string, string> = {}
  const { cash, commission, warmup, min_trades, max_drawdown_pct, max_exposure_pct, seed, count } = f
  const nums = checkNumbers({ cash, commission, warmup, min_trades, max_drawdown_pct, max_exposure_pct, seed, count }, {
    cash: CASH, commission: { min: 0, max: 1 }, warmup: { integer: true, min: 0, max: 1_000_000 },
    min_trades: { integer: true, min: 0 }, max_drawdown_pct: { min: 0 }, max_exposure_pct: { min: 0 },
    ...(f.method === 'random' ? { seed: { integer: true, min: 0 }, count: LIMIT } : {}),
  })
  if (!nums.ok) Object.assign(errors, nums.errors)
  const v = nums.ok ? nums.values : {}
  if (!f.strategy) errors.strategy = 'choose a strategy'
  const symbols = splitSymbols(f.symbols)
  if (!symbols.length) errors.symbols = 'at least one symbol'
  if (f.method === 'random') {
    if (!f.seed.trim()) errors.seed = errors.seed ?? 'required'
    if (!f.count.trim()) errors.count = errors.count ?? 'required'
  }
  const p = parseParams(f.params)
  if (!p.ok) errors.params = p.error
  const space: Record<string, Axis> = {}
  f.axes.forEach((a, i) => {
    const at = (k: string) => `axis-${i}-${k}`
    const name = a.name.trim()
    if (!name) errors[at('name')] = 'a parameter name'
    else if (name in space) errors[at('name')] = `${name} twice`
    if (a.kind === 'list') {
      const items = a.values.split(',').map((s) => s.trim()).filter(Boolean)
      if (!items.length) errors[at('values')] = 'one value or more, comma-separated'
      else space[name] = items.map(listValue)
      return
    }
    const need = (k: 'min' | 'max') => {
      const c = checkNumber(a[k], a.kind === 'log' ? { min: 0, minExclusive: true } : {})
      if (!c.ok) errors[at(k)] = c.error
      else if (c.value === undefined) errors[at(k)] = 'required'
      return c.ok ? c.value : undefined
    }
    const min = need('min')
    const max = need('max')
    if (min !== undefined && max !== undefined && max < min) errors[at('max')] = 'not below min'
    if (a.kind === 'range') {
      const step = checkNumber(a.step, { min: 0, minExclusive: true })
      if (!step.ok) errors[at('step')] = step.error
      else if (step.value === undefined) errors[at('step')] = 'required'
      if (min !== undefined && max !== undefined && step.ok && step.value !== undefined) space[name] = { min, max, step: step.value }
    } else {
      // A grid needs the count; random may omit it and draws log-uniformly (README "Sweeps").
      const count = checkNumber(a.count, { integer: true, min: 1 })
      if (!count.ok) errors[at('count')] = count.error
      else if (count.value === undefined && f.method === 'grid') errors[at('count')] = 'required for a grid'
      if (min !== undefined && max !== undefined && count.ok)
        space[name] = { min, max, log: true, ...(count.value !== undefined ? { count: count.value } : {}) }
    }
  })
  if (!f.axes.length) errors.space = 'add a parameter to sweep'
  if (Object.keys(errors).length) return { ok: false, errors }
  const day = (s: string) => (s ? new Date(`${s}T00:00:00Z`).toISOString() : undefined)
  const constraints = {
    ...(v.min_trades !== undefined ? { min_trades: v.min_trades } : {}),
    ...(v.max_drawdown_pct !== undefined ? { max_drawdown_pct: v.max_drawdown_pct } : {}),
    ...(v.max_exposure_pct !== undefined ? { max_exposure_pct: v.max_exposure_pct } : {}),
  }
  const req: SweepRequest = {
    strategy: Number(f.strategy), symbols, timeframe: f.timeframe,
    method: f.method === 'grid' ? { kind: 'grid' } : { kind: 'random', seed: v.seed!, count: v.count! },
    space, objective: { metric: f.metric, direction: f.direction },
  }
  const start = day(f.start)
  const end = day(f.end)
  if (start) req.start = start
  if (end) req.end = end
  if (v.cash !== undefined) req.cash = v.cash
  if (v.commission !== undefined) req.commission = v.commission
  if (v.warmup !== undefined) req.warmup = v.warmup
  if (p.ok && p.value) req.params = p.value
  if (Object.keys(constraints).length) req.constraints = constraints
  return { ok: true, value: req }
}

/** What a refusal of `POST /sweeps` means, in words, from its `code` and `details` (the message
 * alone is shown otherwise). */
export function refusalNote(code: string, details: unknown): string | null {
  const d = (details ?? {}) as Record<string, unknown>
  switch (code) {
    case 'sweep_too_large':
      return `The sweep has ${Number(d.points).toLocaleString('en')} points; this server allows at most ${Number(d.limit).toLocaleString('en')}. Narrow the space or use random search with a count.`
    case 'unknown_parameter':
      return `The strategy does not declare the parameter "${String(d.name)}".`
    case 'unknown_metric':
      return Array.isArray(d.accepted) ? `Accepted metrics: ${d.accepted.join(', ')}.` : null
    default:
      return null
  }
}

const key = (v: unknown) => JSON.stringify(v)

/** Orders distinct parameter values: numbers by value, anything else by its text. */
function byValue(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  return String(a).localeCompare(String(b))
}

export interface Heatmap {
  x: string
  y: string
  xs: unknown[]
  ys: unknown[]
  /** `cells[row][col]`: the point at ys[row], xs[col], if it has finished. */
  cells: (SweepPoint | undefined)[][]
  /** The objective range of the feasible finished points (the colour scale). */
  lo: number | null
  hi: number | null
}

/** The heatmap of `points` when exactly two parameters take more than one value among them (x
 * the first by name, y the second, as the server orders parameters); `null` otherwise. */
export function heatmapOf(points: SweepPoint[]): Heatmap | null {
  const values = new Map<string, Map<string, unknown>>()
  for (const p of points)
    for (const [k, v] of Object.entries(p.params ?? {})) {
      if (!values.has(k)) values.set(k, new Map())
      values.get(k)!.set(key(v), v)
    }
  const varying = [...values.keys()].filter((k) => values.get(k)!.size > 1).sort()
  if (varying.length !== 2) return null
  const [x, y] = varying
  const xs = [...values.get(x)!.values()].sort(byValue)
  const ys = [...values.get(y)!.values()].sort(byValue)
  const xi = new Map(xs.map((v, i) => [key(v), i]))
  const yi = new Map(ys.map((v, i) => [key(v), i]))
  const cells: (SweepPoint | undefined)[][] = ys.map(() => xs.map(() => undefined))
  let lo: number | null = null
  let hi: number | null = null
  for (const p of points) {
    const c = xi.get(key(p.params[x]))
    const r = yi.get(key(p.params[y]))
    if (c === undefined || r === undefined) continue
    cells[r][c] = p
    if (p.feasible && p.status !== 'failed' && typeof p.objective === 'number' && Number.isFinite(p.objective)) {
      lo = lo === null ? p.objective : Math.min(lo, p.objective)
      hi = hi === null ? p.objective : Math.max(hi, p.objective)
    }
  }
  return { x, y, xs, ys, cells, lo, hi }
}

/** A cell's colour: red (worst) to green (best) by the objective; `min` objectives flip it. */
export function cellColour(v: number, lo: number, hi: number, direction: 'max' | 'min'): string {
  let t = hi > lo ? (v - lo) / (hi - lo) : 1
  if (direction === 'min') t = 1 - t
  return `hsl(${Math.round(t * 120)} 65% 42%)`
}
