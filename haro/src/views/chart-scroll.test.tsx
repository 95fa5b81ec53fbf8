// @vitest-environment jsdom
// Charts that load older bars as they are scrolled left, against a stubbed server and a stand-in
// for the chart library: the Candles view's chart and a backtest's trade chart start with the
// newest window, ask for the one before the oldest bar loaded once the view nears it (once until
// it arrives), grow the same chart with it and keep the view on the same bars, and stop at the
// first bar.
import { act, createElement as h } from 'react'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { mountApp, unmountApp } from '../test/mount'
import type { Candle, Report, ReportTrade } from '../api/types'
import { FIRST_VIEW } from '../components/charts'
import { charts, scroll } from '../test/fake-chart'
import { json, routes, sent, until, useStubFetch, type Handler } from '../test/stub-fetch'
import { TradeChart } from './backtest-detail'
import Candles from './candles'

vi.mock('lightweight-charts', () => import('../test/fake-chart'))

useStubFetch()

const T0 = Date.parse('2020-01-01T00:00:00Z')
const bars: Candle[] = Array.from({ length: 25_000 }, (_, i) => ({
  ts: new Date(T0 + i * 60_000).toISOString().replace('.000Z', 'Z'), open: 1, high: 2, low: 0.5, close: i, volume: 1, source: 'synth',
}))
const sec = (ts: string) => Date.parse(ts) / 1000

/** Held answers: `GET /candles` waits for `release()` while `hold` is on. */
let held: (() => void)[] = []
let hold = false
const release = () => {
  hold = false
  for (const r of held.splice(0)) r()
}

/** `GET /candles` over `series` as the API answers it: `[start, end)`, the newest `limit` first. */
const candlesRoute = (series: Candle[]): Handler => (_: unknown, url: URL) => {
  const p = url.searchParams
  const start = p.get('start') ? Date.parse(p.get('start')!) : -Infinity
  const end = p.get('end') ? Date.parse(p.get('end')!) : Infinity
  const page = series.filter((b) => Date.parse(b.ts) >= start && Date.parse(b.ts) < end).reverse().slice(0, Number(p.get('limit') ?? 1000))
  if (!hold) return json(200, page)
  return new Promise<Response>((r) => held.push(() => r(json(200, page)))) as unknown as Response
}
const asked = () => sent.filter((s) => s.path === '/candles').map((s) => s.url.searchParams)

let el: HTMLElement
beforeEach(() => {
  charts.length = 0
  held = []
  hold = false
})
afterEach(unmountApp)

function mount(node: ReturnType<typeof h>, path = '/') {
  ;({ el } = mountApp(node, path))
}
const $ = (id: string) => el.querySelector<HTMLElement>(`[data-testid="${id}"]`)

describe('the Candles view chart', () => {
  it('loads the window before its oldest bar when scrolled near it, in the same chart, keeping the view', async () => {
    routes['GET /candles'] = candlesRoute(bars)
    routes['GET /candles/series'] = () => json(200, [])
    mount(h(Candles), '/ui/candles?symbol=SYN&timeframe=1Min')
    await until(() => expect(charts[0]?.data).toHaveLength(10_000))
    const c = charts[0]
    // The newest bars, not all 10,000 (which would sit at the first bar and ask for more at once).
    expect(c.range).toEqual({ from: 10_000 - FIRST_VIEW, to: 9_999 })
    expect(asked()).toHaveLength(1)
    // Scrolled left, still 100 bars from the first: nothing yet.
    act(() => scroll(c, 100, 2_100))
    expect(asked()).toHaveLength(1)

    hold = true
    act(() => {
      scroll(c, 30, 2_030)
      scroll(c, 20, 2_020)
    })
    await until(() => expect($('chart-older')?.textContent).toBe('loading older bars…'))
    act(() => scroll(c, 10, 2_010))
    release()
    await until(() => expect(c.data).toHaveLength(20_000))
    // Asked once, for the window ending at the oldest bar loaded.
    expect(asked()).toHaveLength(2)
    expect(asked()[1].get('end')).toBe(bars[15_000].ts)
    expect(asked()[1].get('limit')).toBe('10000')
    // The same chart, its data grown at the front, the view moved by the 10,000 bars added.
    expect(charts).toHaveLength(1)
    expect(c.removed).toBe(false)
    expect(c.sets).toBe(2)
    expect(c.data[0].time).toBe(sec(bars[5_000].ts))
    expect(c.data[19_999].time).toBe(sec(bars[24_999].ts))
    expect(c.range).toEqual({ from: 10_010, to: 12_010 })
    expect($('chart-older')).toBeNull()
    // The pager stays where it was.
    expect($('candles-window')!.textContent).toContain('(the newest)')

    act(() => scroll(c, 40, 500))
    await until(() => expect(c.data).toHaveLength(25_000))
    expect(asked()[2].get('end')).toBe(bars[5_000].ts)
    expect(c.range).toEqual({ from: 5_040, to: 5_500 })
    // 5,000 bars, fewer than a window: those were the first; scrolling to them asks nothing more.
    act(() => scroll(c, 0, 400))
    act(() => scroll(c, -20, 380))
    await act(() => new Promise((r) => setTimeout(r, 50)))
    expect(asked()).toHaveLength(3)
    expect($('chart-older')!.textContent).toBe('first bar')
    expect(charts).toHaveLength(1)
  })

  it('a series that fits in one window shows every bar and asks for nothing', async () => {
    routes['GET /candles'] = candlesRoute(bars.slice(0, 3_000))
    routes['GET /candles/series'] = () => json(200, [])
    mount(h(Candles), '/ui/candles?symbol=SYN&timeframe=1Min')
    await until(() => expect(charts[0]?.data).toHaveLength(3_000))
    const c = charts[0]
    expect(c.range).toEqual({ from: 0, to: 2_999 })
    act(() => scroll(c, -10, 2_990))
    await act(() => new Promise((r) => setTimeout(r, 50)))
    expect(asked()).toHaveLength(1)
    // All of it is on screen: no mark.
    expect($('chart-older')).toBeNull()
  })

  it('asks again after a load that failed', async () => {
    let fail = false
    const ok = candlesRoute(bars)
    routes['GET /candles'] = (b, url) => (fail ? json(500, { code: 'internal', message: 'down' }) : ok(b, url))
    routes['GET /candles/series'] = () => json(200, [])
    mount(h(Candles), '/ui/candles?symbol=SYN&timeframe=1Min')
    await until(() => expect(charts[0]?.data).toHaveLength(10_000))
    const c = charts[0]
    fail = true
    act(() => scroll(c, 10, 2_010))
    await until(() => expect(el.querySelector('.error')).not.toBeNull())
    // The chart keeps what it has.
    expect(c.data).toHaveLength(10_000)
    fail = false
    act(() => scroll(c, 5, 2_005))
    await until(() => expect(c.data).toHaveLength(20_000))
    expect(asked().map((p) => p.get('end'))).toEqual([null, bars[15_000].ts, bars[15_000].ts])
  })
})

describe("a backtest's trade chart", () => {
  const range = bars.slice(0, 12_000)
  const trade = (entry: number, exit: number): ReportTrade => ({
    symbol: 'SYN', size: 1, entry_bar: entry, exit_bar: exit, entry_time: range[entry].ts, exit_time: range[exit].ts,
    entry_price: 1, exit_price: 2, pnl: 1, return_pct: 100, commission: 0,
  } as unknown as ReportTrade)
  const trades = [trade(100, 200), trade(11_000, 11_500)]
  const report = { metrics: {}, trades, data: [{ symbol: 'SYN', start: range[0].ts, end: range[11_999].ts }] } as unknown as Report

  it('starts with the newest 5,000 bars of its range and loads older ones on scroll, with their trades', async () => {
    routes['GET /candles'] = candlesRoute(bars)
    mount(h(TradeChart, { symbol: 'SYN', timeframe: '1Min', report, trades }))
    await until(() => expect(charts[0]?.data).toHaveLength(5_000))
    const c = charts[0]
    const first = asked()[0]
    expect(first.get('start')).toBe(range[0].ts)
    expect(first.get('end')).toBe(new Date(Date.parse(range[11_999].ts) + 1000).toISOString())
    expect(first.get('limit')).toBe('5000')
    expect(c.data[0].time).toBe(sec(range[7_000].ts))
    // Only the trade on the bars loaded is marked (its entry and exit).
    expect(c.markers.map((m) => m.time)).toEqual([sec(range[11_000].ts), sec(range[11_500].ts)])
    expect(c.range).toEqual({ from: 5_000 - FIRST_VIEW, to: 4_999 })

    act(() => scroll(c, 25, 1_025))
    await until(() => expect(c.data).toHaveLength(10_000))
    expect(asked()[1].get('end')).toBe(range[7_000].ts)
    expect(asked()[1].get('start')).toBe(range[0].ts)
    expect(c.range).toEqual({ from: 5_025, to: 6_025 })
    act(() => scroll(c, 3, 1_003))
    // The range's first 2,000 bars: fewer than a page, so the first bar of the backtest.
    await until(() => expect(c.data).toHaveLength(12_000))
    expect(c.data[0].time).toBe(sec(range[0].ts))
    expect(c.markers).toHaveLength(4)
    expect(charts).toHaveLength(1)
    act(() => scroll(c, 0, 1_000))
    await act(() => new Promise((r) => setTimeout(r, 50)))
    expect(asked()).toHaveLength(3)
    expect($('trade-chart')!.dataset.bars).toBe('12000')
  })
})
