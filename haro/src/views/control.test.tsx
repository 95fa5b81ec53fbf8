// @vitest-environment jsdom
// The controls by hand in a DOM, against a stubbed server: the stop dialog (its defaults, its
// choices, what the stop did), Cancel on working orders, the kill switch, the order-by-hand form
// (checks, confirmation, accepted and refused), and Close / Flatten run on a run's positions.
// Each asks first, sends exactly what the API takes, and refreshes the queries it touched.
import { act, createElement as h, type ReactNode } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { MemoryRouter } from 'react-router'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Attempt, Order } from '../api/types'
import { CancelOrderButton, HaltAndFlatten, StopButton } from './control'
import { HandOrderForm } from './hand-order'
import { OrdersTable } from './orders'
import { RunPositions } from './run-positions'

;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

const json = (status: number, body: unknown) =>
  new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

type Handler = (body: unknown) => Response
let routes: Record<string, Handler>
const sent: { method: string; path: string; body: unknown }[] = []

beforeEach(() => {
  routes = {}
  sent.length = 0
  vi.stubGlobal('fetch', vi.fn(async (url: string, init?: RequestInit) => {
    const method = init?.method ?? 'GET'
    const path = url.split('?')[0]
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) : init?.body
    sent.push({ method, path, body })
    const r = routes[`${method} ${path}`]
    return r ? r(body) : json(404, { code: 'route_not_found', message: 'no route' })
  }))
})

let root: Root | null = null
let el: HTMLElement
let qc: QueryClient
afterEach(() => {
  act(() => root?.unmount())
  root = null
  el?.remove()
  vi.unstubAllGlobals()
})

function mount(node: ReactNode) {
  el = document.createElement('div')
  document.body.append(el)
  qc = new QueryClient({ defaultOptions: { queries: { retry: false } } })
  vi.spyOn(qc, 'invalidateQueries')
  root = createRoot(el)
  act(() => root!.render(h(QueryClientProvider, { client: qc }, h(MemoryRouter, null, node))))
}

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

const dialog = () => document.querySelector<HTMLElement>('[role=dialog]')
const button = (name: string, scope: ParentNode = document) =>
  [...scope.querySelectorAll('button')].find((b) => b.textContent === name)
const click = (b: Element | null | undefined) => {
  if (!b) throw new Error('no such button')
  return act(async () => (b as HTMLElement).click())
}
const posts = () => sent.filter((s) => s.method !== 'GET').map(({ method, path, body }) => ({ method, path, body }))
const invalidated = () => vi.mocked(qc.invalidateQueries).mock.calls.map((c) => JSON.stringify(c[0]?.queryKey))
const setValue = (input: HTMLInputElement | HTMLSelectElement, v: string) => act(async () => {
  const proto = input instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype
  Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(input, v)
  input.dispatchEvent(new Event(input instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }))
})

const attempt = (a: Partial<Attempt> = {}): Attempt => ({
  sequence: 4, client_order_id: 'w-5-4', symbol: 'GOOG', side: 'sell', status: 'accepted', venue_order_id: 'sim-9', code: null, message: null, ...a,
})
const RUN = { id: 5, status: 'running' }
const STOPPED = { id: 5, status: 'stopped', mode: 'paper', venue: 'sim', symbols: ['GOOG'], timeframe: '1Day', positions: [] }

describe('stop dialog', () => {
  it('states the defaults, sends the choices, and shows what the stop did', async () => {
    routes['POST /runs/5/stop'] = () => json(200, {
      ...STOPPED, wind_down: { canceled: ['w-5-2'], closing: [attempt()], errors: [] }, held: [],
    })
    mount(h(StopButton, { run: RUN }))
    await click(button('Stop'))
    const d = dialog()!
    expect(d.textContent).toContain('Stop run #5?')
    expect(d.textContent).toContain("By default a stop cancels the run's working orders and keeps its positions.")
    const checked = [...d.querySelectorAll<HTMLInputElement>('input[type=radio]')].filter((r) => r.checked).map((r) => `${r.name}=${r.value}`)
    expect(checked).toEqual(['orders=cancel', 'positions=keep'])
    await click(d.querySelector('input[name=positions][value=close]'))
    await click(button('Stop run', d))
    await until(() => expect(dialog()!.querySelector('[data-testid=stop-result]')).not.toBeNull())
    expect(posts()).toEqual([{ method: 'POST', path: '/runs/5/stop', body: { orders: 'cancel', positions: 'close' } }])
    const result = dialog()!.textContent!
    expect(result).toContain('Run #5 is stopped.')
    expect(result).toContain('Cancelled 1 working order: w-5-2')
    expect(result).toContain('sell GOOG: accepted')
    expect(result).toContain('It holds no positions.')
    expect(invalidated()).toEqual(expect.arrayContaining(['["runs"]', '["run","5"]', '["orders"]']))
    await click(button('Done'))
    expect(dialog()).toBeNull()
  })

  it('keeping everything: says nothing was wound down and lists what is held', async () => {
    routes['POST /runs/5/stop'] = () => json(200, { ...STOPPED, wind_down: null, held: [{ symbol: 'GOOG', qty: 7 }, { symbol: 'AAPL', qty: -2 }] })
    mount(h(StopButton, { run: RUN }))
    await click(button('Stop'))
    await click(dialog()!.querySelector('input[name=orders][value=keep]'))
    await click(button('Stop run'))
    await until(() => expect(dialog()!.querySelector('[data-testid=held]')?.textContent).toBe('It still holds 7 GOOG, -2 AAPL.'))
    expect(dialog()!.textContent).toContain('Its orders and positions were left as they were.')
    expect(posts()[0].body).toEqual({ orders: 'keep', positions: 'keep' })
  })

  it('Back sends nothing; a failed stop shows the error in the dialog; ended runs have no Stop', async () => {
    routes['POST /runs/5/stop'] = () => json(409, { code: 'run_not_running', message: 'run 5 is not running', correlation_id: 'c-1' })
    mount(h('div', null, h(StopButton, { run: RUN }), h(StopButton, { run: { id: 6, status: 'stopped' } })))
    expect(el.querySelectorAll('button').length).toBe(1)
    await click(button('Stop'))
    await click(button('Back'))
    expect(dialog()).toBeNull()
    expect(posts()).toEqual([])
    await click(button('Stop'))
    await click(button('Stop run'))
    await until(() => expect(dialog()!.querySelector('[data-testid=api-error]')?.textContent).toContain('run 5 is not running'))
    expect(button('Stop run', dialog()!)).toBeDefined()
  })

  it('Escape closes it', async () => {
    mount(h(StopButton, { run: RUN }))
    await click(button('Stop'))
    await act(async () => dialog()!.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true })))
    expect(dialog()).toBeNull()
  })
})

const order = (o: Partial<Order>): Order => ({
  id: 12, client_order_id: 'w-5-3', exchange_order_id: 'sim-3', run_id: 5, symbol: 'GOOG', side: 'buy', order_type: 'limit',
  time_in_force: 'day', quantity: '10', notional: null, limit_price: '90', stop_price: null, status: 'accepted',
  filled_quantity: '0', average_price: null, created_at: '2026-01-02T00:00:00Z', updated_at: '2026-01-02T00:00:00Z', ...o,
})

describe('Cancel on orders', () => {
  it('appears only on working orders of a run', () => {
    mount(h(OrdersTable, { orders: [order({ id: 1 }), order({ id: 2, status: 'filled' }), order({ id: 3, status: 'partially_filled' }), order({ id: 4, status: 'canceled' }), order({ id: 5, run_id: null })] }))
    const rows = [...el.querySelectorAll('[data-testid=order-row]')]
    expect(rows.map((r) => r.firstElementChild!.textContent + ':' + Boolean(button('Cancel', r)))).toEqual(['5:false', '4:false', '3:true', '2:false', '1:true'])
  })

  it('asks, cancels through the run, and says whether the venue was asked', async () => {
    routes['POST /orders/12/cancel'] = () => json(200, { order_id: 12, cancel_requested: true })
    mount(h(CancelOrderButton, { order: order({}) }))
    await click(button('Cancel'))
    expect(dialog()!.textContent).toContain('Cancel order #12?')
    expect(dialog()!.textContent).toContain('The buy order for GOOG of run #5')
    await click(button('Cancel order'))
    await until(() => expect(dialog()!.querySelector('[data-testid=cancel-result]')?.textContent).toBe('The venue was asked to cancel order #12.'))
    expect(posts()).toEqual([{ method: 'POST', path: '/orders/12/cancel', body: undefined }])
    expect(invalidated()).toEqual(expect.arrayContaining(['["orders"]', '["run","5"]']))
  })

  it('an order that had already ended: nothing was done', async () => {
    routes['POST /orders/12/cancel'] = () => json(200, { order_id: 12, cancel_requested: false })
    mount(h(CancelOrderButton, { order: order({}) }))
    await click(button('Cancel'))
    await click(button('Cancel order'))
    await until(() => expect(dialog()!.textContent).toContain('Order #12 had already ended; nothing was done.'))
  })
})

describe('Halt and flatten', () => {
  it('asks, sends halted with flatten, and shows per run what was done', async () => {
    routes['PUT /trading-state'] = () => json(200, {
      state: 'halted', updated_at: '2026-01-02T00:00:00Z',
      flattened: [
        { run_id: 5, done: { canceled: [], closing: [attempt({ status: 'accepted' })], errors: [] }, error: null },
        { run_id: 6, done: null, error: 'run 6 ended meanwhile' },
      ],
    })
    mount(h(HaltAndFlatten))
    await click(button('Halt and flatten'))
    const d = dialog()!
    expect(d.textContent).toContain('Halt all trading and flatten every run?')
    expect(d.textContent).toContain('until you set the state back to Active')
    await click(button('Halt and flatten', d))
    await until(() => expect(dialog()!.querySelectorAll('[data-testid=run-flattened]').length).toBe(2))
    expect(posts()).toEqual([{ method: 'PUT', path: '/trading-state', body: { state: 'halted', flatten: true } }])
    const [r5, r6] = [...dialog()!.querySelectorAll('[data-testid=run-flattened]')].map((r) => r.textContent)
    expect(r5).toContain('Run #5')
    expect(r5).toContain('No working orders to cancel.')
    expect(r5).toContain('sell GOOG: accepted')
    expect(r6).toBe('Run #6run 6 ended meanwhile')
    expect(qc.getQueryData(['trading-state'])).toEqual({ state: 'halted', updated_at: '2026-01-02T00:00:00Z' })
    expect(invalidated()).toEqual(expect.arrayContaining(['["runs"]', '["run"]', '["orders"]', '["trading-state"]']))
  })

  it('with no running run: says there was nothing to flatten', async () => {
    routes['PUT /trading-state'] = () => json(200, { state: 'halted', updated_at: null, flattened: [] })
    mount(h(HaltAndFlatten))
    await click(button('Halt and flatten'))
    await click(button('Halt and flatten', dialog()!))
    await until(() => expect(dialog()!.textContent).toContain('No run was running, so there was nothing to flatten.'))
  })
})

describe('order by hand', () => {
  const RUN2 = { id: 5, symbols: ['GOOG', 'AAPL'] }
  const form = () => el.querySelector('form')!
  const field = (name: string) => el.querySelector<HTMLInputElement & HTMLSelectElement>(`[name=${name}]`)!

  it('checks the fields, asks for the prices its type needs, and sends nothing while wrong', async () => {
    mount(h(HandOrderForm, { run: RUN2 }))
    expect([...field('symbol').options].map((o) => o.value)).toEqual(['GOOG', 'AAPL'])
    expect(field('limit_price')).toBeNull()
    await setValue(field('type'), 'stop_limit')
    await act(async () => form().requestSubmit())
    expect([...el.querySelectorAll('[role=alert]')].map((e) => e.textContent)).toEqual([
      'Enter a quantity above 0.', 'Enter a limit price above 0.', 'Enter a stop price above 0.',
    ])
    expect(document.activeElement).toBe(field('amount'))
    expect(dialog()).toBeNull()
    expect(posts()).toEqual([])
  })

  it('confirms the order in words, places it, and shows the accepted attempt', async () => {
    routes['POST /runs/5/orders'] = () => json(201, attempt({ side: 'buy', symbol: 'AAPL', sequence: 7, client_order_id: 'w-5-7' }))
    mount(h(HandOrderForm, { run: RUN2 }))
    await setValue(field('symbol'), 'AAPL')
    await setValue(field('type'), 'limit')
    await setValue(field('amount'), '3')
    await setValue(field('limit_price'), '150.5')
    await act(async () => form().requestSubmit())
    expect(dialog()!.querySelector('[data-testid=order-summary]')!.textContent).toBe('Buy 3 AAPL limit $150.50, day')
    await click(button('Place order'))
    await until(() => expect(el.querySelector('[data-testid=order-accepted]')?.textContent).toContain('client order id w-5-7 · sequence 7 · venue order sim-9'))
    expect(dialog()).toBeNull()
    expect(posts()).toEqual([{ method: 'POST', path: '/runs/5/orders', body: { symbol: 'AAPL', side: 'buy', type: 'limit', time_in_force: 'day', quantity: '3', limit_price: '150.5' } }])
    expect(invalidated()).toEqual(expect.arrayContaining(['["run","5"]', '["orders"]']))
  })

  it("shows a refusal's rule, message and client order id", async () => {
    routes['POST /runs/5/orders'] = () => json(422, {
      code: 'trading_halted', message: 'trading is halted', details: { client_order_id: 'w-5-8', sequence: 8 }, correlation_id: 'c-2',
    })
    mount(h(HandOrderForm, { run: RUN2 }))
    await setValue(field('size_by'), 'notional')
    await setValue(field('amount'), '1000')
    await act(async () => form().requestSubmit())
    expect(dialog()!.textContent).toContain('Buy $1,000.00 of GOOG at market, day')
    await click(button('Place order'))
    await until(() => expect(el.querySelector('[data-testid=order-refused]')).not.toBeNull())
    const refused = el.querySelector('[data-testid=order-refused]')!.textContent
    expect(refused).toContain('Refused: trading_halted trading is halted')
    expect(refused).toContain('client order id w-5-8 · sequence 8 · correlation id c-2')
    expect(posts()[0].body).toEqual({ symbol: 'GOOG', side: 'buy', type: 'market', time_in_force: 'day', notional: '1000' })
  })
})

describe('positions: Close and Flatten run', () => {
  const pos = (symbol: string, qty: number) => ({ symbol, qty, avg_price: 100, last_price: 101, unrealized_pnl: qty })
  const RUNP = { id: 5, status: 'running', positions: [pos('GOOG', 7), pos('AAPL', -2)] }

  it('Close asks, sends a close for the symbol, and shows the closing order', async () => {
    routes['POST /runs/5/positions/AAPL/close'] = () => json(201, attempt({ symbol: 'AAPL', side: 'buy' }))
    mount(h(RunPositions, { run: RUNP }))
    const rows = [...el.querySelectorAll('[data-testid=position-row]')]
    await click(button('Close', rows[1]))
    expect(dialog()!.textContent).toContain("A market order buys back run #5's 2 AAPL.")
    await click(button('Close position'))
    await until(() => expect(el.querySelector('[data-testid=close-result]')?.textContent).toContain('buy AAPL: accepted'))
    expect(dialog()).toBeNull()
    expect(posts()).toEqual([{ method: 'POST', path: '/runs/5/positions/AAPL/close', body: undefined }])
  })

  it('Close of nothing held (204) says so', async () => {
    routes['POST /runs/5/positions/GOOG/close'] = () => new Response(null, { status: 204 })
    mount(h(RunPositions, { run: RUNP }))
    await click(button('Close', el.querySelector('[data-testid=position-row]')!))
    expect(dialog()!.textContent).toContain("A market order sells run #5's 7 GOOG.")
    await click(button('Close position'))
    await until(() => expect(el.querySelector('[data-testid=close-result]')?.textContent).toBe('Nothing to close: the run holds none of it.'))
  })

  it('Flatten run asks, flattens, and shows what it did', async () => {
    routes['POST /runs/5/flatten'] = () => json(200, { canceled: ['w-5-2', 'w-5-3'], closing: [attempt(), attempt({ client_order_id: 'w-5-5', symbol: 'AAPL', side: 'buy', status: 'refused', code: 'venue_rejected', message: 'no', venue_order_id: null })], errors: ['AAPL: timed out'] })
    mount(h(RunPositions, { run: RUNP }))
    await click(button('Flatten run'))
    expect(dialog()!.textContent).toContain('The run keeps running')
    await click(button('Flatten run', dialog()!))
    await until(() => expect(el.querySelector('[data-testid=flatten-result]')).not.toBeNull())
    const text = el.querySelector('[data-testid=flatten-result]')!.textContent
    expect(text).toContain('Cancelled 2 working orders: w-5-2, w-5-3')
    expect(text).toContain('buy AAPL: refused venue_rejected no')
    expect(text).toContain('Not done (try again to finish):AAPL: timed out')
    expect(posts()).toEqual([{ method: 'POST', path: '/runs/5/flatten', body: undefined }])
    expect(invalidated()).toEqual(expect.arrayContaining(['["runs"]', '["run","5"]', '["orders"]']))
  })

  it('a run that is not running shows its positions without controls', () => {
    mount(h(RunPositions, { run: { ...RUNP, status: 'stopped' } }))
    expect(el.querySelectorAll('[data-testid=position-row]').length).toBe(2)
    expect(el.querySelectorAll('button').length).toBe(0)
  })
})
