// @vitest-environment jsdom
// Defects of the dashboard walkthrough (issue #23), each against a stubbed server: the upload's
// Name follows the next file; number fields refuse "abc" before anything is sent; compare with one
// id says what it needs; a failed backtest names its strategy; a replayed run's last trade shows
// its bar time; the header says offline while the server does not answer, and error panels
// recover by themselves (and have Retry).
import { act, createElement as h, type ReactNode } from 'react'
import { QueryClient, useQuery } from '@tanstack/react-query'
import { afterEach, describe, expect, it } from 'vitest'
import { mountApp, unmountApp } from '../test/mount'
import { api } from '../api/client'
import type { Backtest } from '../api/types'
import { connectionLabel, useConnection } from '../app/layout'
import { QueryState } from '../components/ui'
import { fmtTradeWhen } from '../lib/format'
import { json, routes, sent, until, useStubFetch } from '../test/stub-fetch'
import BacktestCompare from './backtest-compare'
import { Backtests } from './backtests'
import { Runs } from './runs'
import { Strategies } from './strategies'

useStubFetch()

let el: HTMLElement
let qc: QueryClient
afterEach(unmountApp)

function mount(node: ReactNode, path = '/') {
  ;({ el, qc } = mountApp(node, path))
}

const $ = <T extends Element = HTMLElement>(sel: string) => el.querySelector<T>(sel)
function type(input: HTMLInputElement | HTMLSelectElement, value: string) {
  act(() => {
    const proto = input instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype
    Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(input, value)
    input.dispatchEvent(new Event(input instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }))
  })
}
const strategy = (id: number, name: string) => ({
  id, name, version: 'abc', sha256: 'ab'.repeat(32), status: 'ready', size_bytes: 10, created_at: '2026-01-01T00:00:00Z',
})

describe('strategy upload', () => {
  it("names the next file after itself, not after the first one's name", async () => {
    let next = 1
    routes['GET /strategies'] = () => json(200, [])
    routes['POST /strategies'] = (body) => json(202, strategy(next++, (body as FormData).get('name') as string))
    mount(h(Strategies))
    const input = $<HTMLInputElement>('[data-testid=file-input]')!
    const pick = (name: string) =>
      act(() => {
        Object.defineProperty(input, 'files', { value: [new File([new Uint8Array([0, 97, 115, 109])], name)], configurable: true })
        input.dispatchEvent(new Event('change', { bubbles: true }))
      })
    const name = () => $<HTMLInputElement>('input[name=name]')!.value
    const upload = () => act(() => [...el.querySelectorAll('button')].find((b) => b.textContent === 'Upload')!.click())
    pick('sma-cross.wasm')
    expect(name()).toBe('sma-cross')
    upload()
    await until(() => expect($('[data-testid=upload-ok]')?.textContent).toContain('sma-cross'))
    pick('rsi-reversion.wasm')
    expect(name()).toBe('rsi-reversion')
    upload()
    await until(() => expect($('[data-testid=upload-ok]')?.textContent).toContain('rsi-reversion'))
    const names = sent.filter((s) => s.method === 'POST').map((s) => (s.body as FormData).get('name'))
    expect(names).toEqual(['sma-cross', 'rsi-reversion'])
    // A name typed by hand is kept for its file.
    pick('donchian.wasm')
    type($<HTMLInputElement>('input[name=name]')!, 'breakout')
    pick('donchian-v2.wasm')
    expect(name()).toBe('breakout')
  })
})

describe('launch forms', () => {
  it('refuse cash "abc" at the field and send nothing', async () => {
    routes['GET /strategies'] = () => json(200, [strategy(1, 'sma-cross')])
    routes['GET /runs'] = () => json(200, [])
    mount(h(Runs))
    await until(() => expect($('[data-testid=strategy-select] option[value="1"]')).not.toBeNull())
    type($<HTMLSelectElement>('[data-testid=strategy-select]')!, '1')
    type($<HTMLInputElement>('input[name=symbols]')!, 'GOOG')
    type($<HTMLInputElement>('input[name=cash]')!, 'abc')
    type($<HTMLInputElement>('input[name=fuel]')!, '1.5')
    act(() => $<HTMLFormElement>('form')!.requestSubmit())
    expect($('[data-testid=error-cash]')?.textContent).toBe('"abc" is not a number')
    expect($('[data-testid=error-fuel]')?.textContent).toBe('a whole number')
    expect(sent.some((s) => s.method === 'POST')).toBe(false)
    // Corrected, it sends the number typed.
    routes['POST /runs'] = () => json(201, { id: 9 })
    type($<HTMLInputElement>('input[name=cash]')!, '2500')
    type($<HTMLInputElement>('input[name=fuel]')!, '')
    expect($('[data-testid=error-cash]')).toBeNull()
    act(() => $<HTMLFormElement>('form')!.requestSubmit())
    await until(() => expect(sent.find((s) => s.method === 'POST')?.body).toMatchObject({ cash: 2500, symbols: ['GOOG'] }))
  })

  it('the backtest form refuses a bad cash and warm-up too', async () => {
    routes['GET /strategies'] = () => json(200, [strategy(1, 'sma-cross')])
    routes['GET /backtests'] = () => json(200, [])
    mount(h(Backtests))
    await until(() => expect($('[data-testid=strategy-select] option[value="1"]')).not.toBeNull())
    type($<HTMLSelectElement>('[data-testid=strategy-select]')!, '1')
    type($<HTMLInputElement>('input[name=symbols]')!, 'GOOG')
    type($<HTMLInputElement>('input[name=cash]')!, '-5')
    type($<HTMLInputElement>('input[name=warmup]')!, 'x')
    act(() => $<HTMLFormElement>('form')!.requestSubmit())
    expect($('[data-testid=error-cash]')?.textContent).toBe('more than 0')
    expect($('[data-testid=error-warmup]')?.textContent).toBe('"x" is not a number')
    expect(sent.some((s) => s.method === 'POST')).toBe(false)
  })
})

describe('compare', () => {
  it('with one id says it needs two instead of loading forever', () => {
    mount(h(BacktestCompare), '/ui/backtests/compare?a=1')
    expect($('[data-testid=compare-needs-two]')?.textContent).toContain('Compare needs two backtests')
    expect(el.textContent).not.toContain('Loading')
    expect(sent).toEqual([])
  })
})

describe('a failed backtest', () => {
  it("shows its strategy's name, not its id", async () => {
    const failed: Backtest = {
      id: 4, status: 'failed', error: 'invalid_params: bad', report: null, created_at: '2026-01-01T00:00:00Z',
      config: { strategy: 2, symbols: ['GOOG'], timeframe: '1Day' }, memory_estimate_mb: null, waiting_for: null, queue_position: null,
    }
    routes['GET /backtests'] = () => json(200, [failed])
    routes['GET /strategies'] = () => json(200, [strategy(1, 'sma-cross'), strategy(2, 'rsi-reversion')])
    mount(h(Backtests))
    await until(() => expect($('[data-testid=backtest-strategy]')?.textContent).toBe('rsi-reversion'))
  })
})

describe('a replayed run', () => {
  it('shows the bar time of its last trade, not "6819d ago"', () => {
    const now = Date.parse('2026-12-06T00:00:00Z')
    expect(fmtTradeWhen('sim', '2008-03-14T00:00:00Z', now)).toBe('bar 2008-03-14 00:00:00 UTC')
    expect(fmtTradeWhen('alpaca', '2026-12-05T23:55:00Z', now)).toBe('5m ago')
  })
})

describe('connection', () => {
  it('is offline while the server does not answer, whatever the stream says', () => {
    expect(connectionLabel('live', true)).toEqual({ state: 'offline', text: '○ offline' })
    expect(connectionLabel('live', false)).toEqual({ state: 'live', text: '● live' })
    expect(connectionLabel('retrying', false).text).toBe('○ retrying')
  })

  it('brings error panels back by themselves when the server answers again, and they have Retry', async () => {
    let up = false
    const down = () => {
      throw new TypeError('Failed to fetch')
    }
    routes['GET /healthz'] = () => (up ? json(200, { status: 'ok' }) : down())
    routes['GET /trading-state'] = () => (up ? json(200, { state: 'active', updated_at: null }) : down())
    function Panel() {
      const conn = useConnection()
      const q = useQuery({ queryKey: ['trading-state'], queryFn: () => api.get<{ state: string }>('/trading-state') })
      return h('div', null, h('span', { 'data-testid': 'conn' }, conn.text), h(QueryState, { q, children: () => h('b', { 'data-testid': 'state' }, q.data!.state) }))
    }
    mount(h(Panel))
    await until(() => expect($('[data-testid=conn]')?.textContent).toBe('○ offline'))
    await until(() => expect($('[data-testid=retry]')).not.toBeNull())
    expect($('[data-testid=api-error]')?.textContent).toContain('cannot reach the server')
    // Retry while still down: still the error.
    const asked = sent.filter((s) => s.path === '/trading-state').length
    act(() => $<HTMLButtonElement>('[data-testid=retry]')!.click())
    await until(() => expect(sent.filter((s) => s.path === '/trading-state').length).toBe(asked + 1))
    // The server is back: the next probe brings the panel back without a click.
    up = true
    await act(() => qc.refetchQueries({ queryKey: ['healthz'] }))
    await until(() => expect($('[data-testid=state]')?.textContent).toBe('active'))
    expect($('[data-testid=conn]')?.textContent).not.toBe('○ offline')
  })
})
