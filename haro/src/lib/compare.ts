// Comparing backtests, apart from React so it is tested plainly: which backtests the URL names,
// each metric with its delta against the first and the better value marked, and which parameters
// and settings differ.

/** Whether a metric is better higher or lower; metrics absent here (dates, trade counts,
 * exposure, beta, buy & hold) describe rather than rank, and get no mark. Drawdowns are
 * negative percentages (−12 % is better than −30 %), so they are better higher. */
export const BETTER: Record<string, 'higher' | 'lower'> = {
  equity_final: 'higher', equity_peak: 'higher', return_pct: 'higher', return_ann_pct: 'higher', cagr_pct: 'higher',
  sharpe: 'higher', sortino: 'higher', calmar: 'higher', alpha_pct: 'higher', max_drawdown_pct: 'higher',
  avg_drawdown_pct: 'higher', win_rate_pct: 'higher', best_trade_pct: 'higher', worst_trade_pct: 'higher',
  avg_trade_pct: 'higher', profit_factor: 'higher', expectancy_pct: 'higher', sqn: 'higher', kelly: 'higher',
  volatility_ann_pct: 'lower', max_drawdown_duration_days: 'lower', avg_drawdown_duration_days: 'lower', commissions: 'lower',
}

/** Most backtests one comparison shows. */
export const MAX_COMPARED = 12

/** The backtest ids a comparison URL names: `?ids=1,2,3`, else the older `?a=1&b=2`; positive
 * whole numbers only, each once, in the order given, at most [`MAX_COMPARED`]. */
export function compareIds(p: URLSearchParams): string[] {
  const raw = p.get('ids') !== null ? (p.get('ids') ?? '').split(',') : [p.get('a') ?? '', p.get('b') ?? '']
  const ids = raw.map((s) => s.trim()).filter((s) => /^[1-9]\d*$/.test(s))
  return [...new Set(ids)].slice(0, MAX_COMPARED)
}

export interface MetricRow {
  key: string
  /** Each backtest's value, in column order (`null`: not a number in that report). */
  values: (number | string | null)[]
  /** Each value minus the first's (`null` for the first column and non-numbers). */
  deltas: (number | null)[]
  /** The columns holding the better value (ties all marked); empty for unranked metrics or when
   * every value is equal. */
  best: number[]
}

/** One row per metric of the first report (then any the others add), values side by side. */
export function compareMetrics(metrics: readonly Record<string, number | string | null | undefined>[]): MetricRow[] {
  const keys: string[] = []
  for (const m of metrics) for (const k of Object.keys(m)) if (!keys.includes(k)) keys.push(k)
  return keys.map((key) => {
    const values = metrics.map((m) => m[key] ?? null)
    const nums = values.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : null))
    const base = nums[0]
    const deltas = nums.map((v, i) => (i === 0 || v === null || base === null ? null : v - base))
    const dir = BETTER[key]
    let best: number[] = []
    const present = nums.filter((v): v is number => v !== null)
    if (dir && present.length > 1 && new Set(present).size > 1) {
      const top = dir === 'higher' ? Math.max(...present) : Math.min(...present)
      best = nums.flatMap((v, i) => (v === top ? [i] : []))
    }
    return { key, values, deltas, best }
  })
}

export interface DiffRow {
  name: string
  /** Each backtest's value as text (`—` where it has none). */
  values: string[]
  differs: boolean
}

const text = (v: unknown) => (v === undefined || v === null ? '—' : typeof v === 'string' ? v : JSON.stringify(v))

/** Parameters (and settings) side by side, every name any backtest has, sorted; `differs` when
 * the backtests do not all have the same value. */
export function paramDiff(sets: readonly Record<string, unknown>[]): DiffRow[] {
  const names = [...new Set(sets.flatMap((s) => Object.keys(s)))].sort((a, b) => a.localeCompare(b))
  return names.map((name) => {
    const values = sets.map((s) => text(s[name]))
    return { name, values, differs: new Set(values).size > 1 }
  })
}
