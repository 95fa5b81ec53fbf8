// The dashboard's first-run card: get candles (sample, CSV, synthetic), run a first backtest of
// the example strategy, start a simulated run — all from the browser, no CLI.
import { useEffect, useId, useState, useSyncExternalStore, type FormEvent } from 'react'
import { Link, useNavigate } from 'react-router'
import { useBacktests, useCandleSeries, useCreateBacktest, useCreateRun, useRuns, useStrategies } from '../api/queries'
import type { Backtest, CandleSeries, Run } from '../api/types'
import { Chip, ErrorNote } from '../components/ui'
import { findSeries, isSample, seriesKey } from '../lib/candles'
import { defaultSeries, FIRST_STRATEGY, firstRunState, newest, strategyChoices } from '../lib/first-run'
import { settings } from '../lib/settings'
import { GetCandles } from './candle-forms'

/** Shown on the dashboard while it is needed (see firstRunState); nothing until the data is in. */
export function FirstRun() {
  const series = useCandleSeries()
  const backtests = useBacktests()
  const runs = useRuns()
  const stored = useSyncExternalStore(settings.subscribe, settings.firstRun)
  const ready = series.data && backtests.data && runs.data
  const state = ready
    ? firstRunState({
        series: series.data!.length, backtests: backtests.data!.length, runs: runs.data!.length,
        dismissed: stored === 'dismissed', started: stored !== null,
      })
    : null
  const needed = state?.needed ?? false
  useEffect(() => {
    if (needed && settings.firstRun() === null) settings.setFirstRun('started')
  }, [needed])
  // Errors (no key yet, an older server without /candles/series) are shown by the other panels.
  if (!state?.show) return null
  return (
    <FirstRunCard series={series.data!} backtest={newest(backtests.data)} run={newest(runs.data?.filter((r) => r.mode !== 'backtest'))}
      canDismiss={state.canDismiss} />
  )
}

function FirstRunCard({ series, backtest, run, canDismiss }: { series: CandleSeries[]; backtest?: Backtest; run?: Run; canDismiss: boolean }) {
  const title = useId()
  // The series the launch steps use: the one just added, else the first listed.
  const [chosen, setChosen] = useState('')
  return (
    <section className="card first-run" aria-labelledby={title} data-testid="first-run">
      <div className="card-head">
        <h2 id={title}>Get started</h2>
        {canDismiss && <button type="button" className="ghost" onClick={() => settings.setFirstRun('dismissed')}>Dismiss</button>}
      </div>
      <p className="small">Get candles, backtest the example strategy on them, then paper-trade it on the simulated exchange.</p>
      <h3>{series.length ? <Done /> : null}1. Get candles</h3>
      <GetCandles series={series} onAdded={(s) => setChosen(seriesKey(s))} />
      <Launch series={series} chosen={chosen} onChoose={setChosen} backtest={backtest} run={run} />
    </section>
  )
}

/** A tick before a step that is done (read out as "done"). */
function Done() {
  return <><span className="done" aria-hidden="true">✓ </span><span className="sr-only">done: </span></>
}

function Launch({ series, chosen, onChoose, backtest, run }: {
  series: CandleSeries[]; chosen: string; onChoose: (k: string) => void; backtest?: Backtest; run?: Run
}) {
  const id = useId()
  const nav = useNavigate()
  const strategies = useStrategies()
  const choices = strategyChoices(strategies.data)
  const [strategyId, setStrategyId] = useState('')
  const strategy = choices.find((s) => String(s.id) === strategyId) ?? choices[0]
  const picked = findSeries(series, chosen) ?? defaultSeries(series)
  const createBacktest = useCreateBacktest()
  const createRun = useCreateRun()
  const canLaunch = Boolean(strategy && picked)
  const busy = createBacktest.isPending || createRun.isPending
  const target = () => ({ strategy: strategy!.id, symbols: [picked!.symbol], timeframe: picked!.timeframe })
  const runBacktest = (e: FormEvent) => {
    e.preventDefault()
    if (!canLaunch) return
    createRun.reset()
    createBacktest.mutate(target(), { onSuccess: (b) => nav(`/ui/backtests/${b.id}`) })
  }
  const startRun = () => {
    if (!canLaunch) return
    createBacktest.reset()
    createRun.mutate({ ...target(), mode: 'paper', venue: 'sim' }, { onSuccess: (r) => nav(`/ui/runs/${r.id}`) })
  }
  const isCompiling = (s: { status: string }) => s.status === 'uploaded' || s.status === 'compiling'
  const compiling = (strategies.data ?? []).some(isCompiling)
  // The example is preselected once it is ready (unless another one was picked meanwhile).
  const exampleCompiling = !strategyId && strategy?.name !== FIRST_STRATEGY
    && (strategies.data ?? []).some((s) => s.name === FIRST_STRATEGY && isCompiling(s))
  return (
    <>
      <h3>{backtest ? <Done /> : null}2. Run your first backtest</h3>
      <form onSubmit={runBacktest} aria-label="Run your first backtest">
        <div className="pickers">
          <div className="field">
            <label htmlFor={`${id}-strategy`}>Strategy</label>
            <select id={`${id}-strategy`} value={strategy ? String(strategy.id) : ''} onChange={(e) => setStrategyId(e.target.value)}
              disabled={!choices.length} data-testid="first-strategy">
              {!choices.length && <option value="">{strategies.isPending ? 'loading…' : compiling ? 'compiling…' : 'no ready strategy'}</option>}
              {choices.map((s) => <option key={s.id} value={s.id}>{s.name} {s.version}{s.name === FIRST_STRATEGY ? ' (example)' : ''}</option>)}
            </select>
          </div>
          <div className="field">
            <label htmlFor={`${id}-series`}>Series</label>
            <select id={`${id}-series`} value={picked ? seriesKey(picked) : ''} onChange={(e) => onChoose(e.target.value)}
              disabled={!series.length} data-testid="first-series">
              {!series.length && <option value="">get candles first</option>}
              {series.map((s) => (
                <option key={seriesKey(s)} value={seriesKey(s)}>
                  {seriesKey(s)} · {s.count.toLocaleString('en-US')} bars{isSample(s.source) ? ' · sample' : ''}
                </option>
              ))}
            </select>
          </div>
        </div>
        {!choices.length && !strategies.isPending && (
          <p className="note">
            {compiling ? 'The example strategies are compiling…' : <>No ready strategy: the examples are registered from <code>WEAVER_STRATEGIES_DIR</code> at start, or upload one on the <Link to="/ui/strategies">Strategies</Link> page.</>}
          </p>
        )}
        {exampleCompiling && <p className="small" role="status">The example {FIRST_STRATEGY} is compiling; it is selected when ready.</p>}
        {strategies.error && <ErrorNote error={strategies.error} what="Strategies" />}
        <div className="row">
          <button className="primary" type="submit" disabled={!canLaunch || busy}>{createBacktest.isPending ? 'Launching…' : 'Run backtest'}</button>
          {backtest && <span className="small">Backtest <Link to={`/ui/backtests/${backtest.id}`}>#{backtest.id}</Link> <Chip value={backtest.status} /></span>}
        </div>
        {createBacktest.error && <ErrorNote error={createBacktest.error} />}
      </form>
      <h3>{run ? <Done /> : null}3. Start a simulated run</h3>
      <p className="small">Paper trading on the simulated exchange (<code>sim</code>), replaying the same series bar by bar.</p>
      <div className="row">
        <button type="button" onClick={startRun} disabled={!canLaunch || busy}>{createRun.isPending ? 'Starting…' : 'Start a simulated run'}</button>
        {run && <span className="small">Run <Link to={`/ui/runs/${run.id}`}>#{run.id}</Link> <Chip value={run.status} /></span>}
      </div>
      {createRun.error && <ErrorNote error={createRun.error} />}
    </>
  )
}
