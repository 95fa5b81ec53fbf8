import { describe, expect, it } from 'vitest'
import type { BarFill } from '../api/run-charts'
import { fillsToMarkers, paramsLine, progressOf, sparkPoints } from './run-charts'
import { toSeconds } from './trades'

const fill = (o: Partial<BarFill>): BarFill => ({
  bar_ts: '2024-01-02T10:00:00Z', filled_at: '2024-01-02T10:32:07Z', order_id: 1, symbol: 'AAPL', side: 'buy', qty: 10, price: 100.5, ...o,
})

describe('fills on the price chart', () => {
  it('sit at their bar times, not the wall-clock time they filled', () => {
    const m = fillsToMarkers([fill({})], 'AAPL')
    expect(m).toHaveLength(1)
    expect(m[0].time).toBe(toSeconds('2024-01-02T10:00:00Z'))
    expect(m[0].time).not.toBe(toSeconds('2024-01-02T10:32:07Z'))
    expect(m[0]).toMatchObject({ position: 'belowBar', shape: 'arrowUp', text: 'BUY 10 @ 100.5' })
  })

  it('are the symbol shown only, sells above the bar, sorted by time', () => {
    const m = fillsToMarkers([
      fill({ order_id: 2, side: 'sell', bar_ts: '2024-01-05T00:00:00Z', qty: 3, price: 90 }),
      fill({ order_id: 3, symbol: 'MSFT' }),
      fill({ order_id: 1, bar_ts: '2024-01-03T00:00:00Z' }),
    ], 'AAPL')
    expect(m.map((x) => x.id)).toEqual(['fill-1-1', 'fill-2-0'])
    expect(m[1]).toMatchObject({ position: 'aboveBar', shape: 'arrowDown', text: 'SELL 3 @ 90' })
  })

  it('lose their labels past a handful', () => {
    const many = Array.from({ length: 21 }, (_, i) => fill({ order_id: i, bar_ts: new Date(Date.UTC(2024, 0, i + 1)).toISOString() }))
    expect(fillsToMarkers(many, 'AAPL').every((x) => x.text === '')).toBe(true)
  })
})

describe('progress', () => {
  it('is bars done of bars total where the total is known', () => {
    expect(progressOf({ bars_done: 500, bars_total: 2000 })).toEqual({ done: 500, total: 2000, pct: 25 })
    expect(progressOf({ bars_done: 2100, bars_total: 2000 })?.pct).toBe(100)
    expect(progressOf({ bars_done: 42, bars_total: null })).toEqual({ done: 42, total: null, pct: null })
    expect(progressOf(undefined)).toBeNull()
  })
})

describe('the run list', () => {
  it('shows parameters in one line, sorted', () => {
    expect(paramsLine({ slow: 20, fast: 5, mode: 'x', w: [1, 2] })).toBe('fast=5 mode=x slow=20 w=[1,2]')
    expect(paramsLine({})).toBe('')
    expect(paramsLine(null)).toBe('')
  })

  it('draws a sparkline over the whole box, the lowest value at the bottom', () => {
    expect(sparkPoints([10, 20, 15], 100, 20, 0)).toBe('0,20 50,0 100,10')
    expect(sparkPoints([5, 5], 10, 20, 0)).toBe('0,10 10,10')
    expect(sparkPoints([], 10, 10)).toBe('')
  })
})
