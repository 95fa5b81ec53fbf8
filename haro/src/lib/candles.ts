// Candle series: timeframes, sources, and the client-side checks of the import and synthetic
// series forms (the server checks again; its field errors are mapped back by serverFieldError).
import { ApiError } from '../api/client'
import type { CandleSeries, SynthRequest } from '../api/types'

/** The timeframes the server accepts. */
export const TIMEFRAMES = ['1Min', '5Min', '15Min', '30Min', '1Hour', '4Hour', '1Day', '1Week', '1Month'] as const
export const MAX_SYNTH_BARS = 1_000_000
const MAX_SYMBOL = 32

/** `SAMPLE 1Day`: identifies a series (symbols hold no spaces). */
export const seriesKey = (s: { symbol: string; timeframe: string }) => `${s.symbol} ${s.timeframe}`

export const findSeries = (list: CandleSeries[] | undefined, key: string) => list?.find((s) => seriesKey(s) === key)

export const isSample = (source: string | null | undefined) => source === 'sample'

/** The source of a set of bars: theirs when they agree, `mixed` when not, null when unknown. */
export function candlesSource(candles: { source?: string | null }[]): string | null {
  let found: string | null = null
  for (const c of candles) {
    if (!c.source) continue
    if (found && found !== c.source) return 'mixed'
    found = c.source
  }
  return found
}

export const normalizeSymbol = (s: string) => s.trim().toUpperCase()

/** Why a symbol is refused, or null. Letters, digits and `. _ - /` (BTC/USD), 1 to 32. */
export function symbolError(raw: string): string | null {
  const s = normalizeSymbol(raw)
  if (!s) return 'Enter a symbol.'
  if (s.length > MAX_SYMBOL) return `At most ${MAX_SYMBOL} characters.`
  if (!/^[A-Z0-9][A-Z0-9._/-]*$/.test(s)) return 'Letters, digits and . _ - / only (no spaces).'
  return null
}

/** `goog.csv` → `GOOG`: a symbol suggested by a file name. */
export function symbolFromFile(name: string): string {
  return normalizeSymbol(name.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._/-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '')).slice(0, MAX_SYMBOL)
}

const timeframeError = (tf: string) => ((TIMEFRAMES as readonly string[]).includes(tf) ? null : `Choose one of ${TIMEFRAMES.join(', ')}.`)

export type Errors<K extends string> = Partial<Record<K, string>>
export type Checked<K extends string, V> = { ok: true; value: V } | { ok: false; errors: Errors<K> }

function done<K extends string, V>(errors: Errors<K>, value: V): Checked<K, V> {
  return Object.values(errors).some(Boolean) ? { ok: false, errors } : { ok: true, value }
}

/** The file must look like a CSV file and not be empty. */
export function fileError(file: Pick<File, 'name' | 'size' | 'type'> | null | undefined): string | null {
  if (!file) return 'Choose a CSV file.'
  const textual = /\.(csv|txt)$/i.test(file.name) || /^text\/(csv|plain)$|^application\/(csv|vnd\.ms-excel)$/.test(file.type)
  if (!textual) return `${file.name} is not a CSV file (.csv).`
  if (file.size === 0) return `${file.name} is empty.`
  return null
}

export type ImportField = 'file' | 'symbol' | 'timeframe'
export function validateImport(f: { file: File | null; symbol: string; timeframe: string }): Checked<ImportField, { file: File; symbol: string; timeframe: string }> {
  const errors: Errors<ImportField> = {}
  const fe = fileError(f.file)
  const se = symbolError(f.symbol)
  const te = timeframeError(f.timeframe)
  if (fe) errors.file = fe
  if (se) errors.symbol = se
  if (te) errors.timeframe = te
  return done(errors, { file: f.file as File, symbol: normalizeSymbol(f.symbol), timeframe: f.timeframe })
}

/** A whole number typed by a person: `1,000`, `1_000` and `1 000` are 1000; else null. */
export function parseCount(s: string): number | null {
  const t = s.trim().replace(/[,_\s]/g, '')
  if (!/^\d+$/.test(t)) return null
  const n = Number(t)
  return Number.isSafeInteger(n) ? n : null
}

export type SynthField = 'symbol' | 'timeframe' | 'bars' | 'seed'
export function validateSynth(f: { symbol: string; timeframe: string; bars: string; seed: string }): Checked<SynthField, SynthRequest> {
  const errors: Errors<SynthField> = {}
  const se = symbolError(f.symbol)
  const te = timeframeError(f.timeframe)
  if (se) errors.symbol = se
  if (te) errors.timeframe = te
  const bars = parseCount(f.bars)
  if (bars === null || bars < 1 || bars > MAX_SYNTH_BARS) errors.bars = `A whole number from 1 to ${MAX_SYNTH_BARS.toLocaleString('en-US')}.`
  let seed: number | undefined
  if (f.seed.trim()) {
    const n = parseCount(f.seed)
    if (n === null) errors.seed = 'A whole number of 0 or more, or empty for the default.'
    else seed = n
  }
  return done(errors, { symbol: normalizeSymbol(f.symbol), timeframe: f.timeframe, bars: bars ?? 0, ...(seed !== undefined ? { seed } : {}) })
}

const CODE_FIELD: Record<string, string> = {
  invalid_csv: 'file', empty_file: 'file', payload_too_large: 'file', invalid_file: 'file',
  invalid_symbol: 'symbol', invalid_symbols: 'symbol', invalid_timeframe: 'timeframe',
  invalid_bars: 'bars', invalid_seed: 'seed',
}

/**
 * The form field a server error is about, with the message to show under it: `invalid_csv`
 * (details `{line, column}`) is the file's; a `details.field` names its field. Null when the
 * error is not about one of `fields` (show it as a general error instead).
 */
export function serverFieldError<K extends string>(err: unknown, fields: readonly K[]): { field: K; message: string } | null {
  if (!(err instanceof ApiError) || err.status < 400 || err.status >= 500) return null
  const d = (err.details && typeof err.details === 'object' ? err.details : {}) as Record<string, unknown>
  const named = typeof d.field === 'string' ? d.field : CODE_FIELD[err.code]
  const field = fields.find((f) => f === named)
  if (!field) return null
  let message = err.message
  const line = typeof d.line === 'number' || typeof d.line === 'string' ? String(d.line) : null
  const column = typeof d.column === 'number' || typeof d.column === 'string' ? String(d.column) : null
  if (line && !new RegExp(`\\bline ${line}\\b`, 'i').test(message)) message += ` (line ${line}${column ? `, column ${column}` : ''})`
  return { field, message }
}
