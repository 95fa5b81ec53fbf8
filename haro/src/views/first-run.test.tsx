// @vitest-environment jsdom
// The first-run card and the candle forms in a DOM, against a stubbed server: what shows when,
// what is preselected, what is posted, how field errors (ours and the server's) appear, and the
// series list's sample badge.
import { act, createElement as h, type ReactNode } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { MemoryRouter, Route, Routes, useParams } from 'react-router'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { CandleSeries } from '../api/types'
import { settings } from '../lib/settings'
import { ImportForm, SynthForm } from './candle-forms'
import { SeriesTable } from './candles'
import { FirstRun } from './first-run'

;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

const series = (symbol: string, timeframe: string, source: CandleSeries['source'], count = 100): CandleSeries =>
  ({ symbol, timeframe, first: '2020-01-01T00:00:00Z', last: '2024-12-31T00:00:00Z', count, source })
const SAMPLE = [series('SAMPLE', '1Day', 'sample', 1250), series('SAMPLE', '1Hour', 'sample', 2000)]
const STRATEGIES = [
  { id: 1, name: 'donchian-breakout', version: '0.1.0', status: 'ready' },
  { id: 2, name: 'sma-cross', version: '0.1.0', status: 'ready' },
]

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

type Handler = (method: string, body: unknown) => Response
let routes: Record<string, Handler>
const posted: { path: string; body: unknown }[] = []

function serve(state: { series?: CandleSeries[]; backtests?: unknown[]; runs?: unknown[] }) {
  routes = {
    '/candles/series': () => json(200, state.series ?? []),
    '/backtests': (m, b) => (m === 'POST' ? json(202, { id: 7, status: 'queued', ...(b as object) }) : json(200, state.backtests ?? [])),
    '/runs': (m) => (m === 'POST' ? json(201, { id: 3, status: 'running' }) : json(200, state.runs ?? [])),
    '/strategies': () => json(200, STRATEGIES),
  }
}

beforeEach(() => {
  localStorage.clear()
  posted.length = 0
  vi.stubGlobal('fetch', vi.fn(async (url: string, init?: RequestInit) => {
    const path = url.split('?')[0]
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) : init?.body
    if (init?.method === 'POST') posted.push({ path, body })
    const r = routes[path]
    return r ? r(init?.method ?? 'GET', body) : json(404, { code: 'route_not_found', message: 'no route' })
  }))
})

let root: Root | null = null
let el: HTMLElement
afterEach(() => {
  act(() => root?.unmount())
  root = null
  el?.remove()
  vi.unstubAllGlobals()
})

function mount(node: ReactNode) {
  el = document.createElement('div')
  document.body.append(el)
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } })
  root = createRoot(el)
  const Report = () => h('p', null, `report ${useParams().id}`)
  act(() =>
    root!.render(
      h(QueryClientProvider, { client: qc },
        h(MemoryRouter, null,
          h(Routes, null,
            h(Route, { path: '/', element: node }),
            h(Route, { path: '/ui/backtests/:id', element: h(Report) }),
            h(Route, { path: '/ui/runs/:id', element: h('p', null, 'run page') }))))),
  )
}

/** Waits (flushing React) until `check` passes. */
async function until(check: () => void, ms = 2000) {
  const end = Date.now() + ms
  for (;;) {
    try {
      check()
      return
    } catch (e) {
      if (Date.now() > end) throw e
    }
    await act(() => new Promise((r) => setTimeout(r, 10)))
  }
}

const card = () => el.querySelector('[data-testid=first-run]')
const button = (name: string) => [...el.querySelectorAll('button')].find((b) => b.textContent === name)
const select = (testId: string) => el.querySelector<HTMLSelectElement>(`[data-testid=${testId}]`)!
const click = (b: Element | undefined) => act(() => (b as HTMLElement).click())
const fetched = () => vi.mocked(fetch).mock.calls.map((c) => String(c[0]))
const settle = () => act(() => new Promise((r) => setTimeout(r, 50)))

describe('first-run card', () => {
  it('with the sample data loaded: says so, preselects sma-cross and the first series, and launches', async () => {
    serve({ series: SAMPLE })
    mount(h(FirstRun))
    await until(() => expect(card()).not.toBeNull())
    expect(el.querySelector('[data-testid=sample-series]')!.textContent).toMatch(/SAMPLE 1Day · 1,250 bars.*SAMPLE 1Hour · 2,000 bars/)
    expect(button('Load sample data again')).toBeDefined()
    expect(button('Dismiss')).toBeUndefined()
    await until(() => expect(select('first-strategy').value).toBe('2'))
    expect(select('first-series').value).toBe('SAMPLE 1Day')
    expect(settings.firstRun()).toBe('started')
    await click(button('Run backtest'))
    await until(() => expect(el.textContent).toBe('report 7'))
    expect(posted).toEqual([{ path: '/backtests', body: { strategy: 2, symbols: ['SAMPLE'], timeframe: '1Day' } }])
  })

  it('starts a paper run on sim with the chosen series', async () => {
    serve({ series: SAMPLE })
    mount(h(FirstRun))
    await until(() => expect(select('first-strategy').value).toBe('2'))
    const s = select('first-series')
    await act(async () => {
      s.value = 'SAMPLE 1Hour'
      s.dispatchEvent(new Event('change', { bubbles: true }))
    })
    await click(button('Start a simulated run'))
    await until(() => expect(el.textContent).toBe('run page'))
    expect(posted).toEqual([{ path: '/runs', body: { strategy: 2, symbols: ['SAMPLE'], timeframe: '1Hour', mode: 'paper', venue: 'sim' } }])
  })

  it('says when the example is still compiling, and selects it once ready', async () => {
    serve({ series: SAMPLE })
    let status = 'compiling'
    routes['/strategies'] = () => json(200, [STRATEGIES[0], { ...STRATEGIES[1], status }])
    mount(h(FirstRun))
    await until(() => expect(el.textContent).toContain('The example sma-cross is compiling'))
    expect(select('first-strategy').value).toBe('1')
    status = 'ready' // picked up by the strategies list's 1 s refresh while something compiles
    await until(() => expect(select('first-strategy').value).toBe('2'), 3000)
    expect(el.textContent).not.toContain('is compiling')
  })

  it('without data: offers the sample data and cannot launch yet', async () => {
    serve({})
    mount(h(FirstRun))
    await until(() => expect(button('Use sample data')).toBeDefined())
    expect(button('Run backtest')!.disabled).toBe(true)
    expect(button('Start a simulated run')!.disabled).toBe(true)
    routes['/candles/sample'] = () => json(201, SAMPLE)
    await click(button('Use sample data'))
    await until(() => expect(el.querySelector('[data-testid=sample-ok]')?.textContent).toBe('Loaded 2 sample series.'))
    expect(posted.map((p) => p.path)).toEqual(['/candles/sample'])
  })

  it('is not shown to a user with data and a backtest who never started it', async () => {
    serve({ series: SAMPLE, backtests: [{ id: 1, status: 'done', config: {} }] })
    mount(h('div', null, h(FirstRun), h('p', null, 'rest')))
    await settle()
    await settle()
    expect(fetched()).toEqual(expect.arrayContaining(['/candles/series', '/backtests?limit=100', '/runs']))
    expect(el.textContent).toBe('rest')
    expect(card()).toBeNull()
    expect(settings.firstRun()).toBeNull()
  })

  it('once started, stays after the first backtest and can then be dismissed', async () => {
    settings.setFirstRun('started')
    serve({ series: SAMPLE, backtests: [{ id: 1, status: 'done', config: {} }] })
    mount(h(FirstRun))
    await until(() => expect(button('Dismiss')).toBeDefined())
    expect(card()!.querySelector('a[href="/ui/backtests/1"]')).not.toBeNull()
    await click(button('Dismiss'))
    expect(card()).toBeNull()
    expect(settings.firstRun()).toBe('dismissed')
  })

  it('stays hidden when the server has no series list (older server) or refuses the key', async () => {
    serve({})
    delete routes['/candles/series']
    mount(h(FirstRun))
    await settle()
    await settle()
    expect(fetched()).toContain('/candles/series')
    expect(card()).toBeNull()
  })
})

describe('candle forms', () => {
  it('import: shows client-side errors by field and sends nothing', async () => {
    serve({})
    mount(h(ImportForm))
    await act(async () => el.querySelector('form')!.requestSubmit())
    const errs = [...el.querySelectorAll('[role=alert]')].map((e) => e.textContent)
    expect(errs).toEqual(['Choose a CSV file.', 'Enter a symbol.'])
    expect(el.querySelector('input[type=file]')!.getAttribute('aria-invalid')).toBe('true')
    expect(document.activeElement).toBe(el.querySelector('input[type=file]'))
    expect(posted).toEqual([])
  })

  it("import: fills the symbol from the file name and shows the server's CSV error under the file", async () => {
    serve({})
    routes['/candles/import'] = () =>
      json(422, { code: 'invalid_csv', message: 'line 3, column close: invalid number', details: { line: 3, column: 'close' }, correlation_id: 'c-9' })
    mount(h(ImportForm))
    const input = el.querySelector<HTMLInputElement>('input[type=file]')!
    const file = new File(['timestamp,open,high,low,close,volume\n1,1,1,1,x,1\n'], 'goog.csv', { type: 'text/csv' })
    await act(async () => {
      Object.defineProperty(input, 'files', { value: [file], configurable: true })
      input.dispatchEvent(new Event('change', { bubbles: true }))
    })
    expect(el.querySelector<HTMLInputElement>('input[name=symbol]')!.value).toBe('GOOG')
    await act(async () => el.querySelector('form')!.requestSubmit())
    await until(() => expect(el.querySelector('[role=alert]')?.textContent).toBe('line 3, column close: invalid number'))
    const form = posted[0].body as FormData
    expect([posted[0].path, form.get('symbol'), form.get('timeframe'), (form.get('file') as File).name]).toEqual(['/candles/import', 'GOOG', '1Day', 'goog.csv'])
    expect(input.getAttribute('aria-describedby')).toBe(el.querySelector('[role=alert]')!.id)
  })

  it('synthetic series: refuses bad bar counts, then posts the request', async () => {
    serve({})
    routes['/candles/synth'] = () => json(201, series('SYNTH', '1Day', 'synth', 300))
    mount(h(SynthForm))
    const bars = el.querySelector<HTMLInputElement>('input[name=bars]')!
    const type = async (input: HTMLInputElement, v: string) => act(async () => {
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(input, v)
      input.dispatchEvent(new Event('input', { bubbles: true }))
    })
    await type(bars, '2000000')
    await act(async () => el.querySelector('form')!.requestSubmit())
    expect(el.querySelector('[role=alert]')?.textContent).toMatch(/1 to 1,000,000/)
    await type(bars, '300')
    await type(el.querySelector<HTMLInputElement>('input[name=seed]')!, '7')
    await act(async () => el.querySelector('form')!.requestSubmit())
    await until(() => expect(el.querySelector('[data-testid=synth-ok]')?.textContent).toMatch(/Generated SYNTH 1Day · 300 bars/))
    expect(posted).toEqual([{ path: '/candles/synth', body: { symbol: 'SYNTH', timeframe: '1Day', bars: 300, seed: 7 } }])
  })
})

describe('series list', () => {
  it('badges sample series, links each to its candles and marks the selected one', () => {
    mount(h(SeriesTable, { series: [...SAMPLE, series('GOOG', '1Day', 'import')], selected: 'SAMPLE 1Hour' }))
    const rows = [...el.querySelectorAll('[data-testid=series-row]')]
    expect(rows.map((r) => r.querySelector('[data-testid=sample-badge]') !== null)).toEqual([true, true, false])
    expect(rows[2].querySelector('[data-testid=source-badge]')!.textContent).toBe('import')
    expect(rows[1].getAttribute('aria-current')).toBe('true')
    expect(rows[0].querySelector('a')!.getAttribute('href')).toBe('/ui/candles?symbol=SAMPLE&timeframe=1Day')
    expect(rows[0].textContent).toContain('1,250')
  })
})
