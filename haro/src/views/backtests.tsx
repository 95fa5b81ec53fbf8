// Backtests: launch one over stored candles, list them, pick two or more to compare.
import { useState, type FormEvent } from 'react'
import { Link, useNavigate } from 'react-router'
import { useBacktests, useCreateBacktest, useStrategies } from '../api/queries'
import type { Backtest, Report, Strategy } from '../api/types'
import { Chip, Empty, ErrorNote, QueryState, scrollable } from '../components/ui'
import { fmtMoney, fmtPct, fmtTime } from '../lib/format'
import { CASH, checkNumbers, LIMIT } from '../lib/forms'
import { FieldError, LimitFields, limitsOf, parseParams, splitSymbols, StrategySelect, TIMEFRAMES } from './run-form'
import { FillFields, fillRequest, NO_FILLS } from './backtest-fills'
import { MAX_COMPARED } from '../lib/compare'

export const reportOf = (b: Backtest) => (b.report ?? null) as unknown as Report | null
/** Why a queued backtest has not started, in words (`null` unless it is queued and the server says). */
export const queueNote = (b: Backtest): string | null => {
  if (b.status !== 'queued' || !b.waiting_for) return null
  const what = b.waiting_for === 'memory' ? 'memory' : 'a free slot'
  return `waiting for ${what}${b.queue_position ? `, #${b.queue_position} in queue` : ''}`
}
export const configOf = (b: Backtest) => (b.config ?? {}) as { strategy?: string | number | { name?: string }; symbols?: string[]; timeframe?: string; start?: string | null; end?: string | null }

/** The strategy of a backtest in words: the report's name, else the name of the strategy the
 * request named (by id or name; a failed backtest has no report), else what the request said. */
export function strategyLabel(b: Backtest, strategies: Strategy[] | undefined): string {
  const named = reportOf(b)?.strategy.name
  if (named) return named
  const ref = configOf(b).strategy
  if (ref === undefined || ref === null) return '—'
  if (typeof ref === 'object') return ref.name ?? '—'
  const s = strategies?.find((x) => String(x.id) === String(ref))
  return s ? s.name : String(ref)
}

export function Backtests() {
  const q = useBacktests()
  const strategies = useStrategies().data
  const [picked, setPicked] = useState<number[]>([])
  const nav = useNavigate()
  const toggle = (id: number) =>
    setPicked((p) => (p.includes(id) ? p.filter((x) => x !== id) : [...p, id].slice(-MAX_COMPARED)))
  return (
    <section>
      <h1>Backtests</h1>
      <Launch />
      <div className="row" style={{ marginBottom: '.6rem' }}>
        <button type="button" disabled={picked.length < 2} onClick={() => nav(`/ui/backtests/compare?ids=${picked.join(',')}`)}>
          Compare selected ({picked.length})
        </button>
      </div>
      <QueryState q={q}>
        {() =>
          q.data!.length === 0 ? <Empty>No backtests yet.</Empty> : (
            <div className="table-wrap" {...scrollable('Backtests')}>
              <table data-testid="backtests-table">
                <thead>
                  <tr><th /><th className="num">Id</th><th>Strategy</th><th>Symbols</th><th>Timeframe</th><th>Status</th><th className="num">Return</th><th className="num">Max DD</th><th className="num">Trades</th><th className="num">Final equity</th><th>Created</th></tr>
                </thead>
                <tbody>
                  {q.data!.map((b) => {
                    const r = reportOf(b)
                    const c = configOf(b)
                    return (
                      <tr key={b.id}>
                        <td><input type="checkbox" aria-label={`compare ${b.id}`} checked={picked.includes(b.id)} onChange={() => toggle(b.id)} /></td>
                        <td className="num"><Link to={`/ui/backtests/${b.id}`}>{b.id}</Link></td>
                        <td data-testid="backtest-strategy">{strategyLabel(b, strategies)}</td>
                        <td>{(c.symbols ?? []).join(', ')}</td>
                        <td>{c.timeframe ?? '—'}</td>
                        <td><Chip value={b.status} />{queueNote(b) && <span className="small"> ({queueNote(b)})</span>}{b.error && <span className="small neg"> {b.error}</span>}</td>
                        <td className="num">{fmtPct(r?.metrics.return_pct)}</td>
                        <td className="num">{fmtPct(r?.metrics.max_drawdown_pct)}</td>
                        <td className="num">{r?.metrics.trades ?? '—'}</td>
                        <td className="num">{fmtMoney(r?.metrics.equity_final)}</td>
                        <td>{fmtTime(b.created_at)}</td>
                      </tr>
                    )
                  })}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryState>
    </section>
  )
}

function Launch() {
  const create = useCreateBacktest()
  const nav = useNavigate()
  const [f, setF] = useState({ strategy: '', symbols: '', timeframe: '1Day', start: '', end: '', cash: '', commission: '', warmup: '', params: '', fuel: '', memory: '' })
  const [fills, setFills] = useState(NO_FILLS)
  const [fillErrors, setFillErrors] = useState<Parameters<typeof FillFields>[0]['errors']>({})
  const [bad, setBad] = useState<string | null>(null)
  const [errors, setErrors] = useState<Partial<Record<'cash' | 'commission' | 'warmup' | 'fuel' | 'memory', string>>>({})
  const set = (k: keyof typeof f) => (v: string) => {
    setF({ ...f, [k]: v })
    setErrors({ ...errors, [k]: undefined })
  }
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const nums = checkNumbers(f, { cash: CASH, commission: { min: 0, max: 1 }, warmup: { integer: true, min: 0, max: 1_000_000 }, fuel: LIMIT, memory: LIMIT })
    const fill = fillRequest(fills)
    setFillErrors(fill.ok ? {} : fill.errors)
    if (!nums.ok || !fill.ok) {
      if (!nums.ok) setErrors(nums.errors)
      return setBad('check the fields marked')
    }
    const p = parseParams(f.params)
    if (!p.ok) return setBad(p.error)
    setBad(null)
    const day = (s: string) => (s ? new Date(`${s}T00:00:00Z`).toISOString() : undefined)
    const v = nums.values
    create.mutate(
      {
        strategy: Number(f.strategy), symbols: splitSymbols(f.symbols), timeframe: f.timeframe,
        start: day(f.start), end: day(f.end), cash: v.cash, commission: v.commission,
        params: p.value, ...(v.warmup !== undefined ? { warmup: v.warmup } : {}),
        ...limitsOf(f.fuel, f.memory), ...fill.value,
      },
      { onSuccess: (b) => nav(`/ui/backtests/${b.id}`) },
    )
  }
  return (
    <form className="form" onSubmit={submit} aria-label="Launch a backtest">
      <StrategySelect value={f.strategy} onChange={set('strategy')} />
      <label>Symbols<input name="symbols" value={f.symbols} onChange={(e) => set('symbols')(e.target.value)} placeholder="GOOG" required /></label>
      <label>Timeframe
        <select value={f.timeframe} onChange={(e) => set('timeframe')(e.target.value)}>
          {TIMEFRAMES.map((t) => <option key={t}>{t}</option>)}
        </select>
      </label>
      <label>From<input type="date" value={f.start} onChange={(e) => set('start')(e.target.value)} /></label>
      <label>To<input type="date" value={f.end} onChange={(e) => set('end')(e.target.value)} /></label>
      <label>Cash<input name="cash" value={f.cash} inputMode="decimal" aria-invalid={errors.cash ? true : undefined} onChange={(e) => set('cash')(e.target.value)} placeholder="default 10000" /><FieldError error={errors.cash} name="cash" /></label>
      <label>Commission<input name="commission" value={f.commission} inputMode="decimal" aria-invalid={errors.commission ? true : undefined} onChange={(e) => set('commission')(e.target.value)} placeholder="e.g. 0.002" /><FieldError error={errors.commission} name="commission" /></label>
      <label>Warm-up bars<input name="warmup" value={f.warmup} inputMode="numeric" aria-invalid={errors.warmup ? true : undefined} onChange={(e) => set('warmup')(e.target.value)} placeholder="0" /><FieldError error={errors.warmup} name="warmup" /></label>
      <FillFields f={fills} onChange={(v) => { setFills(v); setFillErrors({}) }} errors={fillErrors} />
      <LimitFields fuel={f.fuel} memory={f.memory} onFuel={set('fuel')} onMemory={set('memory')} errors={errors} />
      <label className="wide">Params (JSON object)<input value={f.params} onChange={(e) => set('params')(e.target.value)} placeholder='{"fast": 10, "slow": 30}' /></label>
      <div className="wide row">
        <button className="primary" type="submit" disabled={create.isPending || !f.strategy}>{create.isPending ? 'Launching…' : 'Run backtest'}</button>
        {bad && <span className="neg">{bad}</span>}
      </div>
      {create.error && <div className="wide"><ErrorNote error={create.error} /></div>}
    </form>
  )
}
