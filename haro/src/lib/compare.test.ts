import { describe, expect, it } from 'vitest'
import { compareIds, compareMetrics, MAX_COMPARED, paramDiff } from './compare'

const ids = (q: string) => compareIds(new URLSearchParams(q))

describe('which backtests a comparison names', () => {
  it('takes ?ids= in order, each once, and keeps ?a=&b= working', () => {
    expect(ids('ids=3,1,2')).toEqual(['3', '1', '2'])
    expect(ids('ids=3,3,1')).toEqual(['3', '1'])
    expect(ids('a=4&b=9')).toEqual(['4', '9'])
    // ids wins over a and b
    expect(ids('ids=5&a=1&b=2')).toEqual(['5'])
  })

  it('drops what is not a backtest id and caps the count', () => {
    expect(ids('ids=1,x,0,-2,2.5, 7 ')).toEqual(['1', '7'])
    expect(ids('a=1')).toEqual(['1'])
    expect(ids('')).toEqual([])
    const many = Array.from({ length: 20 }, (_, i) => i + 1).join(',')
    expect(ids(`ids=${many}`)).toHaveLength(MAX_COMPARED)
  })
})

describe('metrics compared', () => {
  const rows = compareMetrics([
    { return_pct: 10, max_drawdown_pct: -20, volatility_ann_pct: 15, trades: 12, sharpe: 1.2, start: '2020-01-01' },
    { return_pct: 14, max_drawdown_pct: -12, volatility_ann_pct: 18, trades: 30, sharpe: 1.2, start: '2020-01-01' },
    { return_pct: 6, max_drawdown_pct: -30, volatility_ann_pct: 11, trades: 4, sharpe: null, start: '2020-01-01' },
  ])
  const row = (k: string) => rows.find((r) => r.key === k)!

  it('gives each value its delta against the first', () => {
    expect(row('return_pct').deltas).toEqual([null, 4, -4])
    expect(row('max_drawdown_pct').deltas).toEqual([null, 8, -10])
    expect(row('sharpe').deltas).toEqual([null, 0, null])
    expect(row('start').deltas).toEqual([null, null, null])
  })

  it('marks the better value: higher returns, the shallower drawdown, lower volatility', () => {
    expect(row('return_pct').best).toEqual([1])
    // −12 % beats −20 % and −30 %
    expect(row('max_drawdown_pct').best).toEqual([1])
    expect(row('volatility_ann_pct').best).toEqual([2])
  })

  it('marks nothing for metrics that do not rank, or when the values are equal', () => {
    expect(row('trades').best).toEqual([])
    expect(row('start').best).toEqual([])
    // one number against a blank
    expect(row('sharpe').best).toEqual([])
    expect(compareMetrics([{ sharpe: 1 }, { sharpe: 1 }])[0].best).toEqual([])
  })

  it('marks every column of a tie for the best', () => {
    expect(compareMetrics([{ sharpe: 2 }, { sharpe: 1 }, { sharpe: 2 }])[0].best).toEqual([0, 2])
  })
})

describe('parameter diff', () => {
  it('lists every name, sorted, and flags those that differ', () => {
    expect(paramDiff([{ slow: 20, fast: 5 }, { fast: 10, slow: 20 }, { fast: 5, slow: 20, mode: 'x' }])).toEqual([
      { name: 'fast', values: ['5', '10', '5'], differs: true },
      { name: 'mode', values: ['—', '—', 'x'], differs: true },
      { name: 'slow', values: ['20', '20', '20'], differs: false },
    ])
    expect(paramDiff([{ symbols: ['GOOG'] }, { symbols: ['GOOG'] }])).toEqual([{ name: 'symbols', values: ['["GOOG"]', '["GOOG"]'], differs: false }])
  })
})
