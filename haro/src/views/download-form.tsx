// "Download from Alpaca": symbols, timeframe, dates, feed and adjustment; starts a background
// job and shows its progress (status, bars, pages, symbols, ETA) until it ends. The server
// checks everything again; its field errors (`details.field`) show under the field.
import { useId, useState, type FormEvent } from 'react'
import { ADJUSTMENTS, FEEDS, MAX_DOWNLOAD_SYMBOLS, useJob, useStartDownload, type Job } from '../api/downloads'
import { ErrorNote } from '../components/ui'
import { serverFieldError, TIMEFRAMES, type Errors } from '../lib/candles'
import { described, Field, useFocusInvalid } from './candle-forms'

type DownloadField = 'symbols' | 'timeframe' | 'start' | 'end' | 'feed' | 'adjustment'
const FIELDS: readonly DownloadField[] = ['symbols', 'timeframe', 'start', 'end', 'feed', 'adjustment']

/** What each adjustment means, shown under the picker for the one chosen. */
export const ADJUSTMENT_HINTS: Record<string, string> = {
  raw: 'raw: prices as traded, not adjusted.',
  split: 'split: adjusted for splits only.',
  dividend: 'dividend: adjusted for dividends only.',
  all: 'all: split- and dividend-adjusted prices.',
}

type Form = { symbols: string; timeframe: string; start: string; end: string; feed: string; adjustment: string }

/** The form's values checked as the server will; errors by field. */
export function validateDownload(f: Form) {
  const errors: Errors<DownloadField> = {}
  const symbols = f.symbols.split(/[\s,]+/).map((s) => s.trim().toUpperCase()).filter(Boolean)
  if (symbols.length === 0) errors.symbols = 'Name at least one symbol.'
  else if (symbols.length > MAX_DOWNLOAD_SYMBOLS) errors.symbols = `At most ${MAX_DOWNLOAD_SYMBOLS} symbols (${symbols.length} given).`
  if (!f.start) errors.start = 'Pick the first day.'
  if (!f.end) errors.end = 'Pick the last day.'
  else if (f.start && f.end < f.start) errors.end = 'The last day is before the first.'
  if (Object.keys(errors).length) return { ok: false as const, errors }
  return {
    ok: true as const,
    value: { symbols, timeframe: f.timeframe, start: f.start, end: f.end, feed: f.feed || undefined, adjustment: f.adjustment },
  }
}

/** `2 min 5 s`, `40 s` */
export function fmtEta(s: number | null | undefined): string {
  if (s == null) return '—'
  if (s < 60) return `${s} s`
  return `${Math.floor(s / 60)} min ${s % 60} s`
}

export function JobProgress({ job }: { job: Job }) {
  const p = job.progress
  return (
    <div role="status" data-testid="download-progress" className="small">
      <strong>{job.status}</strong>
      {' · '}{p.bars.toLocaleString('en-US')} bars · {p.pages} pages · {p.symbols_done}/{p.symbols_total} symbols
      {job.status === 'running' && <>{p.symbol ? ` · ${p.symbol}` : ''} · ETA {fmtEta(p.eta_seconds)}</>}
      {job.error && <div className="field-error">{job.error}</div>}
    </div>
  )
}

export function DownloadForm({ pollMs = 1000 }: { pollMs?: number }) {
  const start = useStartDownload()
  const id = useId()
  const [f, setF] = useState<Form>({ symbols: '', timeframe: '1Day', start: '', end: '', feed: '', adjustment: 'all' })
  const [errors, setErrors] = useState<Errors<DownloadField>>({})
  const [jobId, setJobId] = useState<number | null>(null)
  const job = useJob(jobId, pollMs)
  const form = useFocusInvalid(errors)
  const server = serverFieldError(start.error, FIELDS)
  const err = (k: DownloadField) => errors[k] ?? (server?.field === k ? server.message : undefined)
  const set = (k: keyof Form) => (v: string) => {
    setF({ ...f, [k]: v })
    if (start.error) start.reset()
  }
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const v = validateDownload(f)
    if (!v.ok) {
      start.reset()
      return setErrors(v.errors)
    }
    setErrors({})
    start.mutate(v.value, { onSuccess: (j) => setJobId(j.id) })
  }
  const shown = job.data ?? start.data
  return (
    <form ref={form} className="form flat" onSubmit={submit} aria-label="Download from Alpaca" noValidate>
      <div className="wide">
        <Field id={`${id}-symbols`} label="Symbols" error={err('symbols')} hint="Comma-separated, up to 50 (AAPL, MSFT, BTC/USD).">
          <input {...described(`${id}-symbols`, err('symbols'), 'hint')} name="symbols" value={f.symbols} autoComplete="off" placeholder="AAPL, MSFT"
            onChange={(e) => set('symbols')(e.target.value)} />
        </Field>
      </div>
      <Field id={`${id}-tf`} label="Timeframe" error={err('timeframe')}>
        <select {...described(`${id}-tf`, err('timeframe'))} name="timeframe" value={f.timeframe} onChange={(e) => set('timeframe')(e.target.value)}>
          {TIMEFRAMES.map((t) => <option key={t}>{t}</option>)}
        </select>
      </Field>
      <Field id={`${id}-start`} label="First day" error={err('start')}>
        <input {...described(`${id}-start`, err('start'))} type="date" name="start" value={f.start} onChange={(e) => set('start')(e.target.value)} />
      </Field>
      <Field id={`${id}-end`} label="Last day" error={err('end')}>
        <input {...described(`${id}-end`, err('end'))} type="date" name="end" value={f.end} onChange={(e) => set('end')(e.target.value)} />
      </Field>
      <Field id={`${id}-feed`} label="Feed" error={err('feed')}>
        <select {...described(`${id}-feed`, err('feed'))} name="feed" value={f.feed} onChange={(e) => set('feed')(e.target.value)}>
          <option value="">server default</option>
          {FEEDS.map((t) => <option key={t}>{t}</option>)}
        </select>
      </Field>
      <Field id={`${id}-adj`} label="Adjustment" error={err('adjustment')} hint={ADJUSTMENT_HINTS[f.adjustment] ?? ''}>
        <select {...described(`${id}-adj`, err('adjustment'), 'hint')} name="adjustment" value={f.adjustment} onChange={(e) => set('adjustment')(e.target.value)}>
          {ADJUSTMENTS.map((t) => <option key={t}>{t}</option>)}
        </select>
      </Field>
      <div className="wide row">
        <button className="primary" type="submit" disabled={start.isPending || (shown != null && !['done', 'failed'].includes(shown.status))}>
          {start.isPending ? 'Starting…' : 'Download'}
        </button>
        {shown && <JobProgress job={shown} />}
      </div>
      {start.error && !server && <div className="wide"><ErrorNote error={start.error} what="Download" /></div>}
      {job.error && <div className="wide"><ErrorNote error={job.error} what="Download progress" /></div>}
    </form>
  )
}
