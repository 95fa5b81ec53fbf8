// The three ways to get candles without the CLI, shared by the dashboard's first-run card and
// the Candles view: load the bundled sample data, import a CSV file, generate a synthetic series.
import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react'
import { useImportCandles, useLoadSample, useSynthCandles } from '../api/queries'
import type { CandleSeries } from '../api/types'
import { ErrorNote, SourceBadge } from '../components/ui'
import {
  isSample, MAX_SYNTH_BARS, serverFieldError, symbolFromFile, TIMEFRAMES, validateImport, validateSynth,
  type Errors, type ImportField, type SynthField,
} from '../lib/candles'
import { fmtDate } from '../lib/format'

const IMPORT_FIELDS: readonly ImportField[] = ['file', 'symbol', 'timeframe']
const SYNTH_FIELDS: readonly SynthField[] = ['symbol', 'timeframe', 'bars', 'seed']

/** `SAMPLE 1Day · 1,250 bars · 2019-01-02 → 2023-12-29` */
export function seriesSummary(s: CandleSeries): string {
  return `${s.symbol} ${s.timeframe} · ${s.count.toLocaleString('en-US')} bars · ${fmtDate(s.first)} → ${fmtDate(s.last)}`
}

/** A labelled control with its error under it (announced, and tied to the control). */
export function Field({ id, label, error, hint, children }: { id: string; label: string; error?: string; hint?: string; children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      {error ? <span className="field-error" id={`${id}-err`} role="alert">{error}</span> : hint ? <span className="small" id={`${id}-err`}>{hint}</span> : null}
    </div>
  )
}

/** Props tying a control to its Field's message. */
export const described = (id: string, error: string | undefined, hint?: string) => ({
  id,
  'aria-invalid': error ? true : undefined,
  'aria-describedby': error || hint ? `${id}-err` : undefined,
})

/** Moves focus to the first invalid control after a refused submit. */
export function useFocusInvalid(errors: object) {
  const form = useRef<HTMLFormElement>(null)
  useEffect(() => {
    if (Object.keys(errors).length) form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus()
  }, [errors])
  return form
}

function TimeframeSelect({ id, value, onChange, error }: { id: string; value: string; onChange: (v: string) => void; error?: string }) {
  return (
    <Field id={id} label="Timeframe" error={error}>
      <select {...described(id, error)} name="timeframe" value={value} onChange={(e) => onChange(e.target.value)}>
        {TIMEFRAMES.map((t) => <option key={t}>{t}</option>)}
      </select>
    </Field>
  )
}

export function SampleData({ series, onLoaded }: { series: CandleSeries[]; onLoaded?: (s: CandleSeries[]) => void }) {
  const load = useLoadSample()
  const samples = series.filter((s) => isSample(s.source))
  return (
    <div className="option" data-testid="sample-data">
      <h4>Use sample data</h4>
      {samples.length ? (
        <>
          <p className="small">Sample data is already loaded <SourceBadge source="sample" /></p>
          <ul className="series-list" data-testid="sample-series">
            {samples.map((s) => <li key={`${s.symbol} ${s.timeframe}`}>{seriesSummary(s)}</li>)}
          </ul>
        </>
      ) : (
        <p className="small">A bundled sample set (symbol SAMPLE, daily and hourly bars) to try everything out. It is not market data.</p>
      )}
      <button type="button" className={samples.length ? undefined : 'primary'} disabled={load.isPending}
        onClick={() => load.mutate(undefined, { onSuccess: (s) => onLoaded?.(s) })}>
        {load.isPending ? 'Loading…' : samples.length ? 'Load sample data again' : 'Use sample data'}
      </button>
      {load.isSuccess && <p className="small" role="status" data-testid="sample-ok">Loaded {load.data.length} sample series.</p>}
      {load.error && <ErrorNote error={load.error} what="Sample data" />}
    </div>
  )
}

export function ImportForm({ onAdded }: { onAdded?: (s: CandleSeries) => void }) {
  const imp = useImportCandles()
  const id = useId()
  const input = useRef<HTMLInputElement>(null)
  const [file, setFile] = useState<File | null>(null)
  const [symbol, setSymbol] = useState('')
  const [timeframe, setTimeframe] = useState('1Day')
  const [errors, setErrors] = useState<Errors<ImportField>>({})
  const form = useFocusInvalid(errors)
  const server = serverFieldError(imp.error, IMPORT_FIELDS)
  const err = (k: ImportField) => errors[k] ?? (server?.field === k ? server.message : undefined)
  const edited = () => {
    if (imp.error || imp.data) imp.reset()
  }
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const v = validateImport({ file, symbol, timeframe })
    if (!v.ok) {
      imp.reset()
      return setErrors(v.errors)
    }
    setErrors({})
    imp.mutate(v.value, {
      onSuccess: (s) => {
        setFile(null)
        if (input.current) input.current.value = ''
        onAdded?.(s)
      },
    })
  }
  return (
    <form ref={form} className="form flat" onSubmit={submit} aria-label="Import a CSV" noValidate>
      <div className="wide">
        <Field id={`${id}-file`} label="CSV file" error={err('file')} hint="Columns timestamp,open,high,low,close,volume (or Date,Open,High,Low,Close,Volume); ISO-8601 or unix times.">
          <input {...described(`${id}-file`, err('file'), 'hint')} ref={input} type="file" name="file" accept=".csv,text/csv"
            data-testid="csv-input"
            onChange={(e) => {
              const f = e.target.files?.[0] ?? null
              setFile(f)
              if (f && !symbol.trim()) setSymbol(symbolFromFile(f.name))
              setErrors((x) => ({ ...x, file: undefined }))
              edited()
            }} />
        </Field>
      </div>
      <Field id={`${id}-symbol`} label="Symbol" error={err('symbol')}>
        <input {...described(`${id}-symbol`, err('symbol'))} name="symbol" value={symbol} autoComplete="off" placeholder="GOOG"
          onChange={(e) => { setSymbol(e.target.value); edited() }} />
      </Field>
      <TimeframeSelect id={`${id}-tf`} value={timeframe} onChange={(v) => { setTimeframe(v); edited() }} error={err('timeframe')} />
      <div className="wide row">
        <button className="primary" type="submit" disabled={imp.isPending}>{imp.isPending ? 'Importing…' : 'Import'}</button>
        {imp.data && <span role="status" data-testid="import-ok">Imported {seriesSummary(imp.data)}.</span>}
      </div>
      {imp.error && !server && <div className="wide"><ErrorNote error={imp.error} what="CSV import" /></div>}
    </form>
  )
}

export function SynthForm({ onAdded }: { onAdded?: (s: CandleSeries) => void }) {
  const synth = useSynthCandles()
  const id = useId()
  const [f, setF] = useState({ symbol: 'SYNTH', timeframe: '1Day', bars: '1000', seed: '' })
  const [errors, setErrors] = useState<Errors<SynthField>>({})
  const form = useFocusInvalid(errors)
  const server = serverFieldError(synth.error, SYNTH_FIELDS)
  const err = (k: SynthField) => errors[k] ?? (server?.field === k ? server.message : undefined)
  const set = (k: keyof typeof f) => (v: string) => {
    setF({ ...f, [k]: v })
    if (synth.error || synth.data) synth.reset()
  }
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const v = validateSynth(f)
    if (!v.ok) {
      synth.reset()
      return setErrors(v.errors)
    }
    setErrors({})
    synth.mutate(v.value, { onSuccess: (s) => onAdded?.(s) })
  }
  return (
    <form ref={form} className="form flat" onSubmit={submit} aria-label="Generate a synthetic series" noValidate>
      <Field id={`${id}-symbol`} label="Symbol" error={err('symbol')}>
        <input {...described(`${id}-symbol`, err('symbol'))} name="symbol" value={f.symbol} autoComplete="off" onChange={(e) => set('symbol')(e.target.value)} />
      </Field>
      <TimeframeSelect id={`${id}-tf`} value={f.timeframe} onChange={set('timeframe')} error={err('timeframe')} />
      <Field id={`${id}-bars`} label="Bars" error={err('bars')}>
        <input {...described(`${id}-bars`, err('bars'))} name="bars" value={f.bars} inputMode="numeric" placeholder={`1–${MAX_SYNTH_BARS}`} onChange={(e) => set('bars')(e.target.value)} />
      </Field>
      <Field id={`${id}-seed`} label="Seed (optional)" error={err('seed')}>
        <input {...described(`${id}-seed`, err('seed'))} name="seed" value={f.seed} inputMode="numeric" placeholder="default" onChange={(e) => set('seed')(e.target.value)} />
      </Field>
      <div className="wide row">
        <button className="primary" type="submit" disabled={synth.isPending}>{synth.isPending ? 'Generating…' : 'Generate'}</button>
        {synth.data && <span role="status" data-testid="synth-ok">Generated {seriesSummary(synth.data)}.</span>}
      </div>
      {synth.error && !server && <div className="wide"><ErrorNote error={synth.error} what="Synthetic series" /></div>}
    </form>
  )
}

/** The three ways, compact: sample data up front, the two forms folded. */
export function GetCandles({ series, onAdded }: { series: CandleSeries[]; onAdded?: (s: CandleSeries) => void }) {
  return (
    <div className="options">
      <SampleData series={series} onLoaded={(s) => s[0] && onAdded?.(s[0])} />
      <details className="option">
        <summary>Import a CSV</summary>
        <ImportForm onAdded={onAdded} />
      </details>
      <details className="option">
        <summary>Generate a synthetic series</summary>
        <SynthForm onAdded={onAdded} />
      </details>
    </div>
  )
}
