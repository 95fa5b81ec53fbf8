// @vitest-environment jsdom
// The candle chart's tip names the bar under the crosshair as precisely as its bars need: the
// minute for intraday bars (1,000 one-minute bars all shared one date before), the date alone for
// daily bars.
import { act, createElement as h } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { afterEach, beforeEach, expect, it, vi } from 'vitest'
import type { Candle } from '../api/types'
import { charts, hover } from '../test/fake-chart'
import { CandleChart, intradaySpacing } from './charts'

vi.mock('lightweight-charts', () => import('../test/fake-chart'))

;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

const series = (startMs: number, stepMs: number, n: number): Candle[] => Array.from({ length: n }, (_, i) => ({
  ts: new Date(startMs + i * stepMs).toISOString().replace('.000Z', 'Z'), open: 1, high: 2, low: 0.5, close: 1.5, volume: 1, source: 'synth',
}))

let root: Root | null = null
let el: HTMLElement
beforeEach(() => {
  charts.length = 0
  el = document.createElement('div')
  document.body.append(el)
})
afterEach(() => {
  act(() => root?.unmount())
  root = null
  el.remove()
})

function tipAt(candles: Candle[], i: number): string {
  root = createRoot(el)
  act(() => root!.render(h(CandleChart, { candles })))
  act(() => hover(charts[0], Date.parse(candles[i].ts) / 1000))
  return el.querySelector('[data-testid=chart-tip] b')?.textContent ?? ''
}

it('shows the minute of an intraday bar', () => {
  const tip = tipAt(series(Date.parse('2024-03-04T14:30:00Z'), 60_000, 100), 7)
  expect(tip).toMatch(/^2024-03-04 14:37 /)
})

it('shows the date alone for daily bars, weekends and all', () => {
  // Weekdays only: Friday to Monday is three days, never taken for intraday spacing.
  const days = series(Date.parse('2024-03-04T00:00:00Z'), 86_400_000, 5)
  const weekdays = [...days, ...series(Date.parse('2024-03-11T00:00:00Z'), 86_400_000, 5)]
  expect(tipAt(weekdays, 6)).toBe('2024-03-12')
})

it('tells spacing under a day from a day or more', () => {
  expect(intradaySpacing([{ time: 0 }, { time: 3_600 }])).toBe(true)
  expect(intradaySpacing([{ time: 0 }, { time: 86_400 }, { time: 3 * 86_400 }])).toBe(false)
  expect(intradaySpacing([{ time: 0 }])).toBe(false)
})
