// Display formatters. Pure functions, locale fixed to en-US so tests and screenshots are stable.

const DASH = '—'

type Num = number | string | null | undefined

/** Parses numbers the API sends as numbers or as decimal strings (orders). */
export function toNumber(v: Num): number | null {
  if (v === null || v === undefined || v === '') return null
  const n = typeof v === 'number' ? v : Number(v)
  return Number.isFinite(n) ? n : null
}

export function fmtNumber(v: Num, digits = 2): string {
  const n = toNumber(v)
  if (n === null) return DASH
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** Quantities: as many decimals as needed, at most 8. */
export function fmtQty(v: Num): string {
  const n = toNumber(v)
  if (n === null) return DASH
  return n.toLocaleString('en-US', { maximumFractionDigits: 8 })
}

export function fmtMoney(v: Num): string {
  const n = toNumber(v)
  if (n === null) return DASH
  const s = Math.abs(n).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })
  return n < 0 ? `-$${s}` : `$${s}`
}

/** Signed money for PnL: always shows + or -. */
export function fmtPnl(v: Num): string {
  const n = toNumber(v)
  if (n === null) return DASH
  return n > 0 ? `+${fmtMoney(n)}` : fmtMoney(n)
}

/** `v` is already in percent (the report's *_pct keys). */
export function fmtPct(v: Num, digits = 2): string {
  const n = toNumber(v)
  if (n === null) return DASH
  return `${n.toFixed(digits)}%`
}

export function fmtBytes(v: Num): string {
  const n = toNumber(v)
  if (n === null) return DASH
  const units = ['B', 'KiB', 'MiB', 'GiB']
  let x = n
  let i = 0
  while (Math.abs(x) >= 1024 && i < units.length - 1) {
    x /= 1024
    i++
  }
  return i === 0 ? `${x} B` : `${x.toFixed(1)} ${units[i]}`
}

/** `2024-01-02 15:04:05` in UTC (the system's times are UTC everywhere). */
export function fmtTime(v: string | null | undefined): string {
  if (!v) return DASH
  const d = new Date(v)
  if (Number.isNaN(d.getTime())) return v
  return d.toISOString().replace('T', ' ').slice(0, 19)
}

/** Date only, for daily bars. */
export function fmtDate(v: string | null | undefined): string {
  return v ? fmtTime(v).slice(0, 10) : DASH
}

/** `3s ago`, `5m ago`, `2h ago`, `4d ago` relative to `now`. */
export function fmtAgo(v: string | null | undefined, now: number = Date.now()): string {
  if (!v) return DASH
  const t = new Date(v).getTime()
  if (Number.isNaN(t)) return DASH
  const s = Math.max(0, Math.round((now - t) / 1000))
  if (s < 60) return `${s}s ago`
  if (s < 3600) return `${Math.floor(s / 60)}m ago`
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`
  return `${Math.floor(s / 86400)}d ago`
}

export function shortHash(h: string | null | undefined, n = 12): string {
  return h ? h.slice(0, n) : DASH
}

/** Report metric keys (`max_drawdown_pct`) as labels (`Max drawdown`). */
export function metricLabel(key: string): string {
  // The unit is in the formatted value (`%`, `d`), not in the label.
  const words = key.replace(/_(pct|days)$/, '').replace(/_ann$/, '_(ann.)').split('_')
  const s = words.join(' ').replace('( ann.)', '(ann.)')
  return s.charAt(0).toUpperCase() + s.slice(1)
}

/** A report metric by its key's unit. */
export function fmtMetric(key: string, v: unknown): string {
  if (typeof v === 'string') return key === 'start' || key === 'end' ? fmtDate(v) : v
  if (typeof v !== 'number') return DASH
  if (key.endsWith('_pct')) return fmtPct(v)
  if (key.endsWith('_days')) return `${fmtNumber(v, 1)} d`
  if (key.startsWith('equity') || key === 'commissions') return fmtMoney(v)
  if (key === 'trades') return String(v)
  return fmtNumber(v, 2)
}

/** When a run's trade happened, in words. A run on the simulated exchange replays stored candles,
 * so its trades carry bar times (years ago, perhaps): those are shown as the bar's time, never as
 * "6819d ago". Runs on a live venue trade now: "5m ago". */
export function fmtTradeWhen(venue: string | null | undefined, ts: string | null | undefined, now: number = Date.now()): string {
  if (venue === 'sim') return ts ? `bar ${fmtTime(ts)}` : DASH
  return fmtAgo(ts, now)
}
