// @vitest-environment jsdom
// A run's price chart loads older bars as it is scrolled left, against a stubbed server and a
// stand-in for the chart library: near its first bar it asks for the equity page before the
// oldest loaded (`before=<next_before>`) once, grows the same chart with that page's candles,
// marks and lists the fills of every page loaded, stops at the run's first page, and a refresh
// of a running run joins its new bars without dropping the older pages.
import { act, createElement as h } from 'react'
import type { QueryClient } from '@tanstack/react-query'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { mountApp, unmountApp } from '../test/mount'
import { runEquityKey, type EquityPage } from '../api/run-charts'
import type { Candle, Run } from '../api/types'
import { charts, scroll, type FakeChart } from '../test/fake-chart'
import { json, routes, sent, until, useStubFetch } from '../test/stub-fetch'
import { RunCharts } from './run-charts'

vi.mock('lightweight-charts', () => import('../test/fake-chart'))

useStubFetch()

const RUN = { id: 7, symbols: ['AAPL'], timeframe: '1Hour', venue: 'sim', status: 'running' } as unknown as Run
const T0 = Date.parse('2024-01-02T00:00:00Z')
const ts = (i: number) => new Date(T0 + i * 3_600_000).toISOString().replace('.000Z', 'Z')
const sec = (t: string) => Date.parse(t) / 1000
const candle = (i: number): Candle => ({ symbol: 'AAPL', timeframe: '1Hour', ts: ts(i), open: 1, high: 2, low: 0.5, close: i, volume: 1, source: 'live' } as Candle)

/** An equity page of bars `from`..`to` (inclusive) with a fill at `fill`. */
const page = (from: number, to: number, fill: number, older: boolean): EquityPage => ({
  points: Array.from({ length: to - from + 1 }, (_, k) => ({ ts: ts(from + k), equity: 1000 + from + k })),
  fills: [{ bar_ts: ts(fill), filled_at: ts(fill), order_id: fill, symbol: 'AAPL', side: fill % 2 ? 'sell' : 'buy', qty: 1, price: fill }],
  next_before: older ? ts(from) : null,
  first_bar: ts(0),
  last_bar: ts(to),
  starting_cash: 1000,
  progress: { bars_done: to + 1, bars_total: null },
})

/** `GET /candles` as the API answers `order=asc`: the bars of `[start, end)`, oldest first. */
const candlesOf = (last: () => number) => (_: unknown, url: URL) => {
  const start = Date.parse(url.searchParams.get('start')!)
  const end = Date.parse(url.searchParams.get('end')!)
  return json(200, Array.from({ length: last() + 1 }, (_, i) => candle(i)).filter((c) => Date.parse(c.ts) >= start && Date.parse(c.ts) < end))
}
const equityAsked = () => sent.filter((s) => s.path === '/runs/7/equity').map((s) => s.url.searchParams.get('before'))

let el: HTMLElement
let qc: QueryClient
beforeEach(() => {
  charts.length = 0
})
afterEach(unmountApp)

function mount() {
  ;({ el, qc } = mountApp(h(RunCharts, { run: RUN })))
}
const $ = (id: string) => el.querySelector<HTMLElement>(`[data-testid="${id}"]`)
/** The price chart: the live chart that listens to scrolling (the equity chart does not). */
const price = (): FakeChart | undefined => charts.find((c) => c.handlers.length > 0 && !c.removed)
const fillRows = () => [...el.querySelectorAll('[data-testid=run-fills] tbody tr')].map((r) => r.children[0].textContent)

describe("a run's price chart", () => {
  it('loads the equity page before its first bar when scrolled near it, in the same chart, with its fills', async () => {
    // The run's bars 0..5: the newest page is 3..5, the one before it 0..2 (the run's first).
    routes['GET /runs/7/equity'] = (_b, url) => json(200, url.searchParams.get('before') === ts(3) ? page(0, 2, 1, false) : page(3, 5, 4, true))
    routes['GET /candles'] = candlesOf(() => 5)
    mount()
    await until(() => expect(price()?.data).toHaveLength(3))
    const c = price()!
    expect(c.data[0].time).toBe(sec(ts(3)))
    expect(c.markers.map((m) => m.time)).toEqual([sec(ts(4))])
    expect(equityAsked()).toEqual([null])

    act(() => scroll(c, -2, 2))
    await until(() => expect(c.data).toHaveLength(6))
    // Asked once, with the newest page's cursor.
    expect(equityAsked()).toEqual([null, ts(3)])
    // The same chart, grown at the front, the view moved by the 3 bars added.
    expect(price()).toBe(c)
    expect(c.removed).toBe(false)
    expect(c.data.map((b) => b.time)).toEqual([0, 1, 2, 3, 4, 5].map((i) => sec(ts(i))))
    expect(c.range).toEqual({ from: 1, to: 5 })
    // Both pages' fills: marked on the chart, listed newest first, in the equity curve.
    expect(c.markers.map((m) => m.time)).toEqual([sec(ts(1)), sec(ts(4))])
    expect($('run-price')!.dataset.markers).toBe('2')
    expect(fillRows()).toEqual(['2024-01-02 04:00 UTC', '2024-01-02 01:00 UTC'])
    expect($('run-chart-range')!.textContent).toContain('2024-01-02 00:00 UTC – 2024-01-02 05:00 UTC')
    // The candles of the older page alone were asked for, not the newest page's again.
    const candleAsks = sent.filter((s) => s.path === '/candles').map((s) => [s.url.searchParams.get('start'), s.url.searchParams.get('end')])
    expect(candleAsks).toContainEqual([ts(0), ts(3)])
    // The run's first page: scrolling to it asks nothing more.
    expect($('run-chart-older')).toBeNull()
    act(() => scroll(c, -10, 2))
    act(() => scroll(c, -20, 1))
    await act(() => new Promise((r) => setTimeout(r, 50)))
    expect(equityAsked()).toEqual([null, ts(3)])
    expect($('chart-older')!.textContent).toBe('first bar')
    expect(charts.filter((x) => x.handlers.length > 0)).toHaveLength(1)
  })

  it('asks for one page at a time: not again while the candles of the last one are on their way', async () => {
    // Bars 0..8 in three pages: 6..8, 3..5, 0..2.
    routes['GET /runs/7/equity'] = (_b, url) => {
      const b = url.searchParams.get('before')
      return json(200, b === ts(6) ? page(3, 5, 4, true) : b === ts(3) ? page(0, 2, 1, false) : page(6, 8, 7, true))
    }
    const answer = candlesOf(() => 8)
    let held: (() => void)[] | null = null
    routes['GET /candles'] = (b, url) => (held ? new Promise<Response>((r) => held!.push(() => r(answer(b, url)))) as unknown as Response : answer(b, url))
    mount()
    await until(() => expect(price()?.data).toHaveLength(3))
    const c = price()!
    held = []
    act(() => scroll(c, 0, 2))
    await until(() => expect(equityAsked()).toEqual([null, ts(6)]))
    await until(() => expect(held).toHaveLength(1))
    expect($('chart-older')!.textContent).toBe('loading older bars…')
    // Scrolled again before those candles came: the page after is not asked for yet.
    act(() => scroll(c, -1, 2))
    await act(() => new Promise((r) => setTimeout(r, 50)))
    expect(equityAsked()).toEqual([null, ts(6)])
    const go = held
    held = null
    go.forEach((r) => r())
    await until(() => expect(c.data).toHaveLength(6))
    act(() => scroll(c, 1, 4))
    await until(() => expect(c.data).toHaveLength(9))
    expect(equityAsked()).toEqual([null, ts(6), ts(3)])
    expect(fillRows()).toHaveLength(3)
  })

  it("keeps the older pages and the view when a running run's newest page refreshes", async () => {
    // Bars 0..5, then 6 and 7 come: the newest page (3 bar times) slides to 5..7.
    let last = 5
    routes['GET /runs/7/equity'] = (_b, url) => {
      const b = url.searchParams.get('before')
      if (b === ts(3)) return json(200, page(0, 2, 1, false))
      if (b) return json(500, { code: 'internal', message: `unexpected before=${b}` })
      return json(200, page(last - 2, last, last - 1, true))
    }
    routes['GET /candles'] = candlesOf(() => last)
    mount()
    await until(() => expect(price()?.data).toHaveLength(3))
    const c = price()!
    act(() => scroll(c, 0, 2))
    await until(() => expect(c.data).toHaveLength(6))
    const range = c.range
    last = 7
    const before = sent.length
    await act(() => qc.invalidateQueries({ queryKey: ['run', '7'] }))
    await until(() => expect(c.data).toHaveLength(8))
    // One request for the newest page; the older page is kept as it was, with no gap between.
    expect(equityAsked().slice(-1)).toEqual([null])
    expect(sent.slice(before).filter((s) => s.path === '/runs/7/equity')).toHaveLength(1)
    expect(c.data.map((b) => b.time)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => sec(ts(i))))
    expect(price()).toBe(c)
    // New bars at the end: the view is not reset to a new series.
    expect(c.range).toEqual(range)
    const pages = qc.getQueryData<{ pages: EquityPage[] }>(runEquityKey(7))!.pages
    expect(pages.map((p) => p.points.map((x) => x.ts))).toEqual([[3, 4, 5, 6, 7].map(ts), [0, 1, 2].map(ts)])
    // The fill of bar 4 stays (its bar left the newest page's window, not the chart), 6's is new.
    expect(fillRows()).toEqual(['2024-01-02 06:00 UTC', '2024-01-02 04:00 UTC', '2024-01-02 01:00 UTC'])
  })
})
