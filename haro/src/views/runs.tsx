// Runs: start one (strategy, mode, venue, symbols, timeframe, params, optional risk limits), list them, stop them
// (the stop dialog asks what happens to each run's orders and positions). The list shows each run's
// parameters, equity, PnL and a sparkline of its equity curve with its progress (bars done of bars
// total on `sim`), 50 runs a page, the page's sparklines in one request (`GET /runs/sparklines`).
import { useMemo, useState, type FormEvent } from 'react'
import { Link, useNavigate } from 'react-router'
import { ApiError } from '../api/client'
import { useCreateRun, useRuns } from '../api/queries'
import { useRunSparklines, type Sparkline as Spark } from '../api/run-charts'
import type { Run } from '../api/types'
import { Sparkline } from '../components/sparkline'
import { Chip, Empty, ErrorNote, Pnl, QueryState, usePaged } from '../components/ui'
import { fmtMoney, fmtNumber, fmtTime } from '../lib/format'
import { paramsLine, progressOf } from '../lib/run-charts'
import { CASH, checkNumbers, LIMIT } from '../lib/forms'
import { fieldOfError } from '../lib/risk'
import { StopButton } from './control'
import { BarOptionFields, barOptionsOf, FieldError, LimitFields, NO_BAR_OPTIONS, takesBarOptions, type BarOptionValues, limitsOf, NO_RISK, parseParams, RiskFields, riskOf, splitSymbols, StrategySelect, TIMEFRAMES, VenueSelect, type RiskFieldValues } from './run-form'

export function Runs() {
  const q = useRuns()
  return (
    <section>
      <h1>Runs</h1>
      <StartRun />
      <QueryState q={q}>
        {() => (q.data!.length === 0 ? <Empty>No runs yet.</Empty> : <RunsTable runs={q.data!} />)}
      </QueryState>
    </section>
  )
}

function StartRun() {
  const create = useCreateRun()
  const nav = useNavigate()
  const [f, setF] = useState({ strategy: '', mode: 'paper', venue: 'sim', symbols: '', timeframe: '1Day', params: '', cash: '', fuel: '', memory: '' })
  const [bad, setBad] = useState<string | null>(null)
  const [errors, setErrors] = useState<Partial<Record<'cash' | 'fuel' | 'memory', string>>>({})
  const [risk, setRisk] = useState<RiskFieldValues>(NO_RISK)
  const [riskErrors, setRiskErrors] = useState<Partial<Record<keyof RiskFieldValues, string>>>({})
  const [bars, setBars] = useState<BarOptionValues>(NO_BAR_OPTIONS)
  const [barsError, setBarsError] = useState<string | undefined>()
  const set = (k: keyof typeof f) => (v: string) => {
    setF({ ...f, [k]: v })
    setErrors({ ...errors, [k]: undefined })
  }
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const nums = checkNumbers(f, { cash: CASH, fuel: LIMIT, memory: LIMIT })
    if (!nums.ok) {
      setErrors(nums.errors)
      return setBad('check the fields marked')
    }
    const p = parseParams(f.params)
    if (!p.ok) return setBad(p.error)
    const r = riskOf(risk)
    if (!r.ok) {
      setRiskErrors(r.errors)
      return setBad('check the risk limits')
    }
    setRiskErrors({})
    const o = barOptionsOf(f.venue, bars)
    if (!o.ok) {
      setBarsError(o.error)
      return setBad('check the fields marked')
    }
    setBad(null)
    create.mutate(
      {
        strategy: Number(f.strategy), mode: f.mode, venue: f.venue, symbols: splitSymbols(f.symbols),
        timeframe: f.timeframe, params: p.value, ...(nums.values.cash !== undefined ? { cash: nums.values.cash } : {}),
        ...limitsOf(f.fuel, f.memory), ...r.value, ...o.value,
      },
      { onSuccess: (run) => nav(`/ui/runs/${run.id}`) },
    )
  }
  return (
    <form className="form" onSubmit={submit} aria-label="Start a run">
      <StrategySelect value={f.strategy} onChange={set('strategy')} />
      <label>Mode
        <select value={f.mode} onChange={(e) => set('mode')(e.target.value)}>
          <option value="paper">paper</option><option value="live">live</option>
        </select>
      </label>
      <VenueSelect value={f.venue} onChange={set('venue')} />
      <label>Symbols<input name="symbols" value={f.symbols} onChange={(e) => set('symbols')(e.target.value)} placeholder="GOOG, AAPL" required /></label>
      <label>Timeframe
        <select value={f.timeframe} onChange={(e) => set('timeframe')(e.target.value)}>
          {TIMEFRAMES.map((t) => <option key={t}>{t}</option>)}
        </select>
      </label>
      <label>Cash (optional)<input name="cash" value={f.cash} inputMode="decimal" aria-invalid={errors.cash ? true : undefined} onChange={(e) => set('cash')(e.target.value)} placeholder="default 10000" /><FieldError error={errors.cash} name="cash" /></label>
      <LimitFields fuel={f.fuel} memory={f.memory} onFuel={set('fuel')} onMemory={set('memory')} errors={errors} />
      <label className="wide">Params (JSON object)<input value={f.params} onChange={(e) => set('params')(e.target.value)} placeholder='{"fast": 10, "slow": 30}' /></label>
      {takesBarOptions(f.venue) && <BarOptionFields values={bars} error={barsError} onChange={(v) => {
        setBars(v)
        setBarsError(undefined)
      }} />}
      <RiskFields values={risk} errors={{ ...serverRiskError(create.error), ...riskErrors }} onChange={(k, v) => {
        setRisk({ ...risk, [k]: v })
        setRiskErrors({ ...riskErrors, [k]: undefined })
      }} />
      <div className="wide row">
        <button className="primary" type="submit" disabled={create.isPending || !f.strategy}>{create.isPending ? 'Starting…' : 'Start run'}</button>
        {bad && <span className="neg">{bad}</span>}
      </div>
      {create.error && <div className="wide"><ErrorNote error={create.error} /></div>}
    </form>
  )
}

/** A 422 `invalid_risk` of `POST /runs`, next to the field it names. */
function serverRiskError(error: unknown): Partial<Record<keyof RiskFieldValues, string>> {
  const key = error instanceof ApiError ? fieldOfError(error.details) : null
  return key && key in NO_RISK ? { [key]: (error as ApiError).message } : {}
}

function RunsTable({ runs }: { runs: Run[] }) {
  const { rows, pager } = usePaged(runs, RUNS_PER_PAGE)
  const ids = useMemo(() => rows.map((r) => r.id), [rows])
  const sparks = useRunSparklines(ids)
  const byRun = useMemo(() => new Map((sparks.data?.items ?? []).map((s) => [s.run_id, s])), [sparks.data])
  return (
    <>
      <div className="table-wrap" role="region" aria-label="Runs" tabIndex={0}>
        <table data-testid="runs-table">
          <thead>
            <tr>
              <th className="num">Id</th><th>Strategy</th><th>Params</th><th>Mode</th><th>Venue</th><th>Symbols</th><th>Timeframe</th><th>Status</th>
              <th className="num">Equity</th><th className="num">PnL</th><th>Equity curve</th><th>Created</th><th />
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} data-run={r.id}>
                <td className="num"><Link to={`/ui/runs/${r.id}`}>{r.id}</Link></td>
                <td>{r.strategy_name ?? `#${r.strategy_id}`}</td>
                <td className="small" data-testid="run-params"><code>{paramsLine(r.params) || '—'}</code></td>
                <td>{r.mode}</td>
                <td>{r.venue}</td>
                <td>{r.symbols.join(', ')}</td>
                <td>{r.timeframe}</td>
                <td><Chip value={r.status} />{r.error_code && <> <code className="neg">{r.error_code}</code></>}</td>
                <td className="num" data-testid="run-equity">{fmtMoney(r.equity)}</td>
                <td className="num" data-testid="run-pnl"><Pnl value={r.pnl?.total} /></td>
                <td><RunSpark run={r} spark={byRun.get(r.id)} /></td>
                <td>{fmtTime(r.created_at)}</td>
                <td><StopButton run={r} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {pager}
    </>
  )
}

/** Runs a page of the list shows (and whose sparklines one request fetches). */
export const RUNS_PER_PAGE = 50

/** A run's equity sparkline and, while a `sim` run replays, how far it got. */
function RunSpark({ run, spark }: { run: Run; spark: Spark | undefined }) {
  const values = useMemo(() => (spark?.points ?? []).map((p) => p.equity), [spark])
  const p = progressOf(spark?.progress)
  return (
    <span className="row spark-cell">
      <Sparkline values={values} label={`Equity of run ${run.id}`} testId="run-spark" />
      {run.status === 'running' && p?.pct !== null && p?.pct !== undefined && (
        <span className="small" data-testid="run-spark-progress">{fmtNumber(p.pct, 0)}%</span>
      )}
    </span>
  )
}
