// @vitest-environment jsdom
// A run's charts against a stubbed server: its progress (bars done of bars total), its equity
// curve, the price of its symbol with its fills marked at their bar times (not the wall-clock
// time a live venue filled them), the fills listed, and "Older bars" asking for the page before.
import { act, createElement as h } from 'react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { mountApp, unmountApp } from '../test/mount'
import type { EquityPage } from '../api/run-charts'
import type { Run } from '../api/types'
import { json, routes, sent, until, useStubFetch } from '../test/stub-fetch'
import { RunCharts, RunProgress } from './run-charts'

// The chart library needs a canvas; the test checks what the charts are given.
vi.mock('../components/charts', () => ({
  LineChart: ({ lines, testId }: { lines: { name: string; points: { time: number; value: number }[] }[]; testId: string }) =>
    h('div', { 'data-testid': testId }, lines.map((l) => `${l.name}:${l.points.map((p) => `${p.time}=${p.value}`).join(',')}`).join(' ')),
  CandleChart: ({ candles, markers, testId }: { candles: unknown[]; markers: { time: number; text: string }[]; testId: string }) =>
    h('div', { 'data-testid': testId }, `bars=${candles.length} markers=${markers.map((m) => `${m.time}:${m.text}`).join('|')}`),
}))

useStubFetch()

let el: HTMLElement
afterEach(unmountApp)

const RUN = { id: 7, symbols: ['AAPL'], timeframe: '1Hour', venue: 'alpaca', status: 'running' } as unknown as Run
const sec = (ts: string) => Date.parse(ts) / 1000

const PAGE: EquityPage = {
  points: [
    { ts: '2024-01-02T09:00:00Z', equity: 1000 },
    { ts: '2024-01-02T10:00:00Z', equity: 1005 },
    { ts: '2024-01-02T11:00:00Z', equity: 985 },
  ],
  fills: [{ bar_ts: '2024-01-02T10:00:00Z', filled_at: '2024-01-02T10:32:07Z', order_id: 4, symbol: 'AAPL', side: 'buy', qty: 10, price: 100.5 }],
  next_before: '2024-01-02T09:00:00Z',
  first_bar: '2024-01-01T09:00:00Z',
  last_bar: '2024-01-02T11:00:00Z',
  starting_cash: 1000,
  progress: { bars_done: 30, bars_total: null },
}

const candle = (ts: string) => ({ symbol: 'AAPL', timeframe: '1Hour', ts, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10, source: 'live' })

function mount() {
  ;({ el } = mountApp(h(RunCharts, { run: RUN })))
}

const $ = (id: string) => el.querySelector<HTMLElement>(`[data-testid="${id}"]`)

describe('RunCharts', () => {
  it('draws the equity curve and the price with the fills at bar times', async () => {
    routes['GET /runs/7/equity'] = () => json(200, PAGE)
    routes['GET /candles'] = (_b, url) => {
      expect(url.searchParams.get('symbol')).toBe('AAPL')
      expect(url.searchParams.get('timeframe')).toBe('1Hour')
      expect(url.searchParams.get('start')).toBe('2024-01-02T09:00:00Z')
      return json(200, PAGE.points.map((p) => candle(p.ts)))
    }
    mount()
    await until(() => expect($('run-price-chart')).not.toBeNull())
    expect($('run-equity-chart')!.textContent).toBe(
      `Equity:${sec('2024-01-02T09:00:00Z')}=1000,${sec('2024-01-02T10:00:00Z')}=1005,${sec('2024-01-02T11:00:00Z')}=985`)
    // The fill of 10:32 is on the 10:00 bar, as the server placed it.
    expect($('run-price-chart')!.textContent).toBe(`bars=3 markers=${sec('2024-01-02T10:00:00Z')}:BUY 10 @ 100.5`)
    expect($('run-price')!.dataset.markers).toBe('1')
    const row = el.querySelector('[data-testid=run-fills] tbody tr')!
    expect([...row.children].map((c) => c.textContent)).toEqual(['2024-01-02 10:00 UTC', 'AAPL', 'buy', '10', '$100.50'])
    expect($('run-progress')!.textContent).toBe('30 bars')
    const q = sent.find((s) => s.path === '/runs/7/equity')
    expect(q).toBeTruthy()
  })

  it('pages back with the cursor and returns to the newest bars', async () => {
    const asked: (string | null)[] = []
    routes['GET /runs/7/equity'] = (_b, url) => {
      asked.push(url.searchParams.get('before'))
      return json(200, url.searchParams.get('before') ? { ...PAGE, next_before: null } : PAGE)
    }
    routes['GET /candles'] = () => json(200, [])
    mount()
    await until(() => expect($('run-chart-older')).not.toBeNull())
    await act(async () => $('run-chart-older')!.click())
    await until(() => expect($('run-chart-older')).toBeNull())
    expect($('run-chart-newest')).not.toBeNull()
    expect(asked).toEqual([null, '2024-01-02T09:00:00Z'])
    await act(async () => $('run-chart-newest')!.click())
    await until(() => expect($('run-chart-older')).not.toBeNull())
  })

  it('says so before the first bar', async () => {
    routes['GET /runs/7/equity'] = () => json(200, { ...PAGE, points: [], fills: [], next_before: null, progress: { bars_done: 0, bars_total: 2000 } })
    mount()
    await until(() => expect(el.textContent).toContain('No bars yet'))
    expect($('run-progress')!.textContent).toBe('0 of 2,000 bars (0.0%)')
    expect($('run-equity-chart')).toBeNull()
  })
})

describe('RunProgress', () => {
  it('shows a bar of bars done of bars total on sim', () => {
    ;({ el } = mountApp(h(RunProgress, { progress: { bars_done: 1234, bars_total: 2000 } })))
    const bar = el.querySelector('progress')!
    expect([bar.max, bar.value]).toEqual([2000, 1234])
    expect(el.textContent).toBe('1,234 of 2,000 bars (61.7%)')
  })
})
