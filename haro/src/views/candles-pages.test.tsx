// @vitest-environment jsdom
// Candles of any length: the Candles view starts at the newest bars and pages back to the first
// (its chart holding every window loaded), and a run's chart loads every bar of its range (not
// the first 10,000).
import { act, createElement as h } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { MemoryRouter } from 'react-router'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { fetchCandleRange } from '../api/queries'
import type { Candle } from '../api/types'
import { fmtTime } from '../lib/format'
import { json, routes, sent, until, useStubFetch } from '../test/stub-fetch'
import Candles from './candles'

vi.mock('../components/charts', () => ({
  CandleChart: ({ candles, show }: { candles: Candle[]; show?: { from: string; to: string } | null }) =>
    h('div', { 'data-testid': 'chart', 'data-show': show ? `${show.from} ${show.to}` : '' }, `${candles[0].ts} ${candles[candles.length - 1].ts}`),
}))

;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

useStubFetch()

const T0 = Date.parse('2020-01-01T00:00:00Z')
const bars: Candle[] = Array.from({ length: 25_000 }, (_, i) => ({
  ts: new Date(T0 + i * 60_000).toISOString().replace('.000Z', 'Z'), open: 1, high: 2, low: 0.5, close: i, volume: 1, source: 'synth',
}))

/** `GET /candles` over `series` as the API answers it: `[start, end)`, newest first unless `order=asc`. */
const candlesRoute = (series: Candle[]) => (_: unknown, url: URL) => {
  const p = url.searchParams
  const start = p.get('start') ? Date.parse(p.get('start')!) : -Infinity
  const end = p.get('end') ? Date.parse(p.get('end')!) : Infinity
  const limit = Number(p.get('limit') ?? 1000)
  let sel = series.filter((b) => Date.parse(b.ts) >= start && Date.parse(b.ts) < end)
  if (p.get('order') !== 'asc') sel = sel.reverse()
  return json(200, sel.slice(0, limit))
}

let root: Root | null = null
let el: HTMLElement
afterEach(() => {
  act(() => root?.unmount())
  root = null
  el?.remove()
})

describe('candles', () => {
  const chart = () => el.querySelector('[data-testid=chart]')?.textContent ?? ''
  const shown = () => el.querySelector<HTMLElement>('[data-testid=chart]')?.dataset.show ?? ''
  const win = () => el.querySelector('[data-testid=candles-window]')?.textContent ?? ''
  /** The window text of bars `from` to `to`. */
  const span = (from: number, to: number) => `${(to - from + 1).toLocaleString('en-US')} bars, ${fmtTime(bars[from].ts)} → ${fmtTime(bars[to].ts)}`

  it('the Candles view shows the newest bars and pages back to the first', async () => {
    routes['GET /candles'] = candlesRoute(bars)
    routes['GET /candles/series'] = () => json(200, [{ symbol: 'SYN', timeframe: '1Min', first: bars[0].ts, last: bars.at(-1)!.ts, count: bars.length, source: 'synth' }])
    el = document.createElement('div')
    document.body.append(el)
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } })
    root = createRoot(el)
    act(() => root!.render(h(QueryClientProvider, { client: qc }, h(MemoryRouter, { initialEntries: ['/ui/candles?symbol=SYN&timeframe=1Min'] }, h(Candles)))))
    await until(() => expect(chart()).toBe(`${bars[15_000].ts} ${bars[24_999].ts}`))
    expect(win()).toContain(`${span(15_000, 24_999)} of 25,000 (the newest)`)
    // The first view is the chart's own (the newest bars), not a window brought into view.
    expect(shown()).toBe('')
    const older = () => el.querySelector<HTMLButtonElement>('[data-testid=candles-older]')!
    act(() => older().click())
    // The chart keeps every window loaded and shows the one picked.
    await until(() => expect(chart()).toBe(`${bars[5_000].ts} ${bars[24_999].ts}`))
    expect(win()).toContain(span(5_000, 14_999))
    expect(win()).not.toContain('newest')
    expect(shown()).toBe(`${bars[5_000].ts} ${bars[14_999].ts}`)
    act(() => older().click())
    await until(() => expect(chart()).toBe(`${bars[0].ts} ${bars[24_999].ts}`))
    expect(win()).toContain(span(0, 4_999))
    expect(older().disabled).toBe(true)
    act(() => el.querySelector<HTMLButtonElement>('[data-testid=candles-newer]')!.click())
    await until(() => expect(win()).toContain(span(5_000, 14_999)))
    // Back and forth over windows already loaded asks the server nothing more.
    expect(sent.filter((s) => s.path === '/candles')).toHaveLength(3)
    act(() => el.querySelector<HTMLButtonElement>('[data-testid=candles-newest]')!.click())
    await until(() => expect(win()).toContain('(the newest)'))
    expect(shown()).toBe(`${bars[15_000].ts} ${bars[24_999].ts}`)
  })

  it('a series of exactly two windows ends with a way back, not "no candles"', async () => {
    routes['GET /candles'] = candlesRoute(bars.slice(5_000))
    routes['GET /candles/series'] = () => json(200, [])
    el = document.createElement('div')
    document.body.append(el)
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } })
    root = createRoot(el)
    act(() => root!.render(h(QueryClientProvider, { client: qc }, h(MemoryRouter, { initialEntries: ['/ui/candles?symbol=SYN&timeframe=1Min'] }, h(Candles)))))
    const older = () => el.querySelector<HTMLButtonElement>('[data-testid=candles-older]')
    await until(() => expect(older()?.disabled).toBe(false))
    act(() => older()!.click())
    await until(() => expect(win()).toContain(span(5_000, 14_999)))
    act(() => older()!.click())
    await until(() => expect(el.textContent).toContain('No older bars'))
    expect(chart()).toBe(`${bars[5_000].ts} ${bars[24_999].ts}`)
    act(() => el.querySelector<HTMLButtonElement>('[data-testid=candles-newer]')!.click())
    await until(() => expect(win()).toContain(span(5_000, 14_999)))
  })

  it("a run's chart gets every bar of its range, oldest first", async () => {
    routes['GET /candles'] = candlesRoute(bars)
    const got = await fetchCandleRange('SYN', '1Min', bars[0].ts, new Date(Date.parse(bars.at(-1)!.ts) + 1000).toISOString())
    expect(got).toHaveLength(25_000)
    expect(got.map((b) => b.close)).toEqual(bars.map((b) => b.close))
    expect(sent.filter((s) => s.path === '/candles')).toHaveLength(3)
  })
})
