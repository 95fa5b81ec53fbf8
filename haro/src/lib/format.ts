// Display formatters, locale fixed to en-US so tests and screenshots are stable. Times are shown
// in the time zone of the settings (UTC by default) and labelled with it; every time formatter
// takes the zone as an optional last argument (tests), else reads the setting.
import { settings, type TimeZoneSetting } from './settings'

const DASH = '—'

type Num = number | string | null | undefined

/** Parses numbers the API sends as numbers or as decimal strings (orders). */
export function toNumber(v: Num): number | null {
  if (v === null || v === undefined || v === '') return null
  const n = typeof v === 'number' ? v : Number(v)
  return Number.isFinite(n) ? n : null
}

// One Intl.NumberFormat per option set, made once: `toLocaleString` with options builds a new
// formatter on every call, and a page of a trades table calls it hundreds of times per render.
const numberFormats = new Map<string, Intl.NumberFormat>()
function numberFormat(min: number, max: number): Intl.NumberFormat {
  const key = `${min}:${max}`
  let f = numberFormats.get(key)
  if (!f) {
    f = new Intl.NumberFormat('en-US', { minimumFractionDigits: min, maximumFractionDigits: max })
    numberFormats.set(key, f)
  }
  return f
}

export function fmtNumber(v: Num, digits = 2): string {
  const n = toNumber(v)
  if (n === null) return DASH
  return numberFormat(digits, digits).format(n)
}

/** Quantities: as many decimals as needed, at most 8. */
export function fmtQty(v: Num): string {
  const n = toNumber(v)
  if (n === null) return DASH
  return numberFormat(0, 8).format(n)
}

export function fmtMoney(v: Num): string {
  const n = toNumber(v)
  if (n === null) return DASH
  const s = numberFormat(2, 2).format(Math.abs(n))
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

/** The IANA zone of a setting (`local`: the browser's own). */
export function zoneName(setting: TimeZoneSetting = settings.timeZone()): string {
  if (setting !== 'local') return setting
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'
}

const formats = new Map<string, Intl.DateTimeFormat>()
function formatIn(zone: string): Intl.DateTimeFormat {
  let f = formats.get(zone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit',
      minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
    })
    formats.set(zone, f)
  }
  return f
}

/** A moment's civil parts in a zone, and the zone's short name then (`EST`, `GMT+1`, `UTC`). */
export function partsIn(d: Date, setting: TimeZoneSetting = settings.timeZone()) {
  const zone = zoneName(setting)
  if (zone === 'UTC') {
    const iso = d.toISOString()
    return { date: iso.slice(0, 10), time: iso.slice(11, 19), label: 'UTC' }
  }
  const p: Record<string, string> = {}
  for (const x of formatIn(zone).formatToParts(d)) p[x.type] = x.value
  return { date: `${p.year}-${p.month}-${p.day}`, time: `${p.hour}:${p.minute}:${p.second}`, label: p.timeZoneName ?? zone }
}

/** The label of the zone times are shown in now (`UTC`, `EST`, …). */
export function zoneLabel(setting: TimeZoneSetting = settings.timeZone(), at: Date = new Date()): string {
  return partsIn(at, setting).label
}

/** `2024-01-02 15:04:05 UTC`: date, time and zone, in the zone of the settings. */
export function fmtTime(v: string | null | undefined, setting?: TimeZoneSetting): string {
  if (!v) return DASH
  const d = new Date(v)
  if (Number.isNaN(d.getTime())) return v
  const p = partsIn(d, setting)
  return `${p.date} ${p.time} ${p.label}`
}

/** Date only (in the zone of the settings), for daily bars. */
export function fmtDate(v: string | null | undefined, setting?: TimeZoneSetting): string {
  if (!v) return DASH
  const d = new Date(v)
  if (Number.isNaN(d.getTime())) return v
  return partsIn(d, setting).date
}

/** An intraday bar's time to the minute (`2024-01-02 15:04 UTC`), when its timeframe is not at
 * hand. */
export function fmtTimeOfBar(v: string | null | undefined, setting?: TimeZoneSetting): string {
  return fmtBarTime(v, '1Min', setting)
}

/** Whether a timeframe's bars are shorter than a day (`1Min`, `4Hour`): their times need the
 * time of day; daily and longer bars show the date only. */
export function isIntraday(timeframe: string | null | undefined): boolean {
  return /^\d+\s*(Min|T|Hour|H)$/i.test(timeframe ?? '')
}

/** A bar's time as its timeframe needs it: `2024-01-02 15:04 UTC` intraday, `2024-01-02` for
 * daily and longer bars. */
export function fmtBarTime(v: string | null | undefined, timeframe: string | null | undefined, setting?: TimeZoneSetting): string {
  if (!v) return DASH
  const d = new Date(v)
  if (Number.isNaN(d.getTime())) return v
  const p = partsIn(d, setting)
  return isIntraday(timeframe) ? `${p.date} ${p.time.slice(0, 5)} ${p.label}` : p.date
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
