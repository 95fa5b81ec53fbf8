import { describe, expect, it } from 'vitest'
import type { CandleSeries, Strategy } from '../api/types'
import { defaultSeries, firstRunState, newest, strategyChoices } from './first-run'

const base = { series: 0, backtests: 0, runs: 0, dismissed: false, started: false }

describe('first-run card: when it shows', () => {
  it('shows while there is no series, or no backtest and no run', () => {
    expect(firstRunState(base).show).toBe(true)
    expect(firstRunState({ ...base, series: 2 }).show).toBe(true)
    expect(firstRunState({ ...base, backtests: 1 }).show).toBe(true)
    expect(firstRunState({ ...base, runs: 1 }).show).toBe(true)
  })
  it('is not shown to a user who has data and a backtest or a run and never saw it', () => {
    expect(firstRunState({ ...base, series: 1, backtests: 1 }).show).toBe(false)
    expect(firstRunState({ ...base, series: 1, runs: 3 }).show).toBe(false)
  })
  it('stays, once started, until dismissed', () => {
    const s = firstRunState({ ...base, series: 1, backtests: 1, started: true })
    expect(s).toMatchObject({ show: true, needed: false, canDismiss: true })
    expect(firstRunState({ ...base, series: 1, backtests: 1, runs: 1, started: true, dismissed: true }).show).toBe(false)
  })
  it('can be dismissed only once there is a backtest or a run', () => {
    expect(firstRunState(base).canDismiss).toBe(false)
    expect(firstRunState({ ...base, series: 1 }).canDismiss).toBe(false)
    // A stale dismissal does not hide the card from someone who has done nothing yet.
    expect(firstRunState({ ...base, series: 1, dismissed: true, started: true }).show).toBe(true)
    expect(firstRunState({ ...base, runs: 1, dismissed: true, started: true })).toMatchObject({ show: false, canDismiss: true })
  })
})

const strat = (id: number, name: string, status: Strategy['status'] = 'ready', version = '1.0.0') =>
  ({ id, name, status, version }) as Strategy

describe('first-run card: preselection', () => {
  it('offers ready strategies, the example sma-cross (newest) first', () => {
    const list = [strat(1, 'donchian-breakout'), strat(2, 'sma-cross'), strat(3, 'rsi-reversion'), strat(4, 'sma-cross', 'compiling'), strat(5, 'sma-cross')]
    expect(strategyChoices(list).map((s) => s.id)).toEqual([5, 2, 1, 3])
    expect(strategyChoices([strat(1, 'x', 'rejected')])).toEqual([])
    expect(strategyChoices(undefined)).toEqual([])
  })
  it('preselects the first series listed', () => {
    const s = (symbol: string, timeframe: string) => ({ symbol, timeframe, first: '', last: '', count: 1, source: 'sample' }) as CandleSeries
    expect(defaultSeries([s('SAMPLE', '1Day'), s('SAMPLE', '1Hour')])).toEqual(s('SAMPLE', '1Day'))
    expect(defaultSeries([])).toBeUndefined()
  })
  it('finds the newest item', () => {
    expect(newest([{ id: 2 }, { id: 9 }, { id: 4 }])).toEqual({ id: 9 })
    expect(newest([])).toBeUndefined()
  })
})
