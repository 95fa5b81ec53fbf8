// @vitest-environment jsdom
// The Risk panel of a run's page against a stubbed server: its state and why, its limits, Edit
// limits (only the changed keys, confirmed, a 422 next to its field), the run's trading-state
// control (with flatten), the run form's risk section, and risk events in the feed.
import { act, createElement as h, type ReactNode } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { MemoryRouter } from 'react-router'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { RiskLimits } from '../api/types'
import { EventLine } from './dashboard'
import { RiskFields, riskOf, NO_RISK } from './run-form'
import { RiskPanel } from './run-risk'

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


const OFF: RiskLimits = {
  max_notional_per_order: null, max_position_per_symbol: null, max_gross_exposure: null, max_open_orders: null,
  max_orders_per_minute: null, max_order_quantity: null, max_price_deviation: null, max_order_equity_pct: null,
  daily_loss_pct: null, max_drawdown_pct: null, cooldown: null, allowed_symbols: null,
  daily_loss_action: 'reduce_only', drawdown_action: 'halted', reset_next_session: false,
}
const RUN = { id: 5, status: 'running', trading_state: 'active', risk: { ...OFF, max_notional_per_order: '1000', daily_loss_pct: '5' }, risk_state: null }
const cell = (key: string) => el.querySelector(`[data-testid=limit-${key}] td`)?.textContent
const input = (name: string, scope: ParentNode = el) => scope.querySelector<HTMLInputElement>(`[name="${name}"]`)!
const submit = (form: Element) => act(async () => { form.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true })) })

describe('Risk panel', () => {
  it('shows the state, every limit and "off" where null', () => {
    mount(h(RiskPanel, { run: RUN }))
    expect(el.querySelector('[data-testid=run-trading-state] .chip')?.textContent).toBe('active')
    expect(el.querySelectorAll('[data-testid^=limit-]').length).toBe(15)
    expect(cell('max_notional_per_order')).toBe('1000')
    expect(cell('max_gross_exposure')).toBe('off')
    expect(cell('drawdown_action')).toBe('halted')
  })

  it('says why: the breach in force with figure, limit and since when; set by hand; a cooldown', () => {
    const breach = { rule: 'max_drawdown_pct', figure: '21.5', limit: '20', state: 'halted', ts: '2024-03-01T00:00:00Z', until: null }
    const cooldown = { rule: 'cooldown', figure: '3', limit: '3', state: 'reduce_only', ts: '2024-03-01T00:00:00Z', until: '2024-03-01T00:30:00Z' }
    const rs = { peak_equity: '10000', last_equity: '7850', session_start: null, session_equity: null, daily_loss: null,
      drawdown: breach, cooldown, losses: [], orders: [], manual: 'active' }
    mount(h(RiskPanel, { run: { ...RUN, trading_state: 'halted', risk_state: rs } }))
    const why = el.querySelector('[data-testid=run-trading-state]')!.textContent!
    expect(el.querySelector('[data-testid=run-trading-state] .chip')?.textContent).toBe('halted')
    expect(why).toContain('max_drawdown_pct 21.5 > 20 → halted since 2024-03-01')
    expect(why).toContain('until 2024-03-01 00:30')
    act(() => root!.render(h(QueryClientProvider, { client: qc }, h(RiskPanel, { run: { ...RUN, trading_state: 'reduce_only', risk_state: { ...rs, drawdown: null, cooldown: null, manual: 'reduce_only' } } }))))
    expect(el.querySelector('[data-testid=risk-why]')!.textContent).toBe('set by hand')
  })

  it('notes a global trading state stricter than active', async () => {
    routes['GET /trading-state'] = () => json(200, { state: 'halted', updated_at: null })
    mount(h(RiskPanel, { run: RUN }))
    await until(() => expect(el.querySelector('[data-testid=global-state]')?.textContent).toContain('the global trading state is halted'))
  })

  it('Edit limits sends only the changed keys after a confirmation; a cleared field is null', async () => {
    routes['PATCH /runs/5/risk'] = () => json(200, { ...RUN, risk: { ...RUN.risk, max_notional_per_order: '20000', daily_loss_pct: null } })
    mount(h(RiskPanel, { run: RUN }))
    await click(button('Edit limits'))
    const form = el.querySelector('form[aria-label="Edit limits"]')!
    await setValue(input('max_notional_per_order'), '20000')
    await setValue(input('daily_loss_pct'), '')
    await submit(form)
    const d = dialog()!
    expect(d.querySelector('[data-testid=limits-changes]')!.textContent).toBe('Max notional per order: 1000 → 20000Daily loss %: 5 → off')
    expect(posts()).toEqual([])
    await click(button('Save limits', d))
    await until(() => expect(posts()).toEqual([{ method: 'PATCH', path: '/runs/5/risk', body: { max_notional_per_order: '20000', daily_loss_pct: null } }]))
    await until(() => expect(dialog()).toBeNull())
    expect(el.querySelector('form[aria-label="Edit limits"]')).toBeNull()
  })

  it("shows a 422's field next to that field", async () => {
    routes['PATCH /runs/5/risk'] = () => json(422, { code: 'invalid_risk', message: 'risk.daily_loss_pct: must be more than 0 and at most 100', details: { field: 'risk.daily_loss_pct' } })
    mount(h(RiskPanel, { run: RUN }))
    await click(button('Edit limits'))
    await setValue(input('daily_loss_pct'), '150')
    await submit(el.querySelector('form')!)
    await click(button('Save limits', dialog()!))
    await until(() => expect(el.querySelector('[data-testid=limit-error-daily_loss_pct]')?.textContent).toContain('at most 100'))
    expect(input('daily_loss_pct').getAttribute('aria-invalid')).toBe('true')
    expect(el.querySelector('[data-testid=api-error]')).toBeNull()
  })

  it('refuses a bad value before asking, and says when nothing changed', async () => {
    mount(h(RiskPanel, { run: RUN }))
    await click(button('Edit limits'))
    await submit(el.querySelector('form')!)
    expect(el.textContent).toContain('Nothing changed.')
    await setValue(input('max_open_orders'), 'many')
    await submit(el.querySelector('form')!)
    expect(el.querySelector('[data-testid=limit-error-max_open_orders]')).not.toBeNull()
    expect(dialog()).toBeNull()
  })
})

describe('run trading-state control', () => {
  it('sets halted with flatten after a confirmation, then shows what the flatten did', async () => {
    routes['PUT /runs/5/trading-state'] = () => json(200, {
      run: { ...RUN, trading_state: 'halted' },
      flattened: { canceled: [], closing: [{ sequence: 4, client_order_id: 'w-5-4', symbol: 'GOOG', side: 'sell', status: 'accepted', venue_order_id: 'sim-9', code: null, message: null }], errors: [] },
    })
    mount(h(RiskPanel, { run: RUN }))
    await click(button('Set trading state…'))
    const d = dialog()!
    expect(d.querySelector<HTMLInputElement>('input[value=halted]')!.checked).toBe(true)
    await click(d.querySelector('input[name=flatten]'))
    await click(button('Set halted and flatten', d))
    await until(() => expect(dialog()!.querySelector('[data-testid=run-state-result]')).not.toBeNull())
    expect(posts()).toEqual([{ method: 'PUT', path: '/runs/5/trading-state', body: { state: 'halted', flatten: true } }])
    expect(dialog()!.textContent).toContain('Run #5 is now halted')
    expect(dialog()!.textContent).toContain('sell GOOG: accepted')
    expect(invalidated()).toContain('["run","5"]')
  })

  it('offers active when halted, without flatten by default', async () => {
    routes['PUT /runs/5/trading-state'] = () => json(200, { run: { ...RUN, trading_state: 'active' }, flattened: null })
    mount(h(RiskPanel, { run: { ...RUN, trading_state: 'halted' } }))
    await click(button('Set trading state…'))
    await click(button('Set active', dialog()!))
    await until(() => expect(posts()).toEqual([{ method: 'PUT', path: '/runs/5/trading-state', body: { state: 'active' } }]))
    await until(() => expect(dialog()!.textContent).toContain('left as they were'))
  })

  it('is not offered on an ended run', () => {
    mount(h(RiskPanel, { run: { ...RUN, status: 'stopped' } }))
    expect(button('Set trading state…')).toBeUndefined()
    expect(button('Edit limits')).toBeUndefined()
  })
})

describe('run form risk limits', () => {
  it('is collapsed by default and says where limits come from', () => {
    mount(h(RiskFields, { values: NO_RISK, errors: {}, onChange: () => {} }))
    const details = el.querySelector('details')!
    expect(details.open).toBe(false)
    expect(details.textContent).toContain("Runs on Alpaca (paper and live) start from the operator's defaults")
    expect(details.textContent).toContain('simulated exchange have no limits unless set')
  })

  it('sends only the keys filled in', () => {
    expect(riskOf(NO_RISK)).toEqual({ ok: true, value: {} })
    expect(riskOf({ ...NO_RISK, max_notional_per_order: '1000', max_open_orders: '5' }))
      .toEqual({ ok: true, value: { risk: { max_notional_per_order: '1000', max_open_orders: 5 } } })
    expect(riskOf({ ...NO_RISK, daily_loss_pct: 'x' }).ok).toBe(false)
  })
})

describe('feed', () => {
  it('summarises a risk event in one line', () => {
    mount(h(EventLine, { ev: { type: 'ui.risk.OrderDenied', data: { rule: 'max_notional_per_order', figure: '12345', limit: '1000', side: 'buy', symbol: 'GOOG' } } }))
    expect(el.textContent).toBe('Order denied: max_notional_per_order 12345 > 1000 (buy GOOG)')
  })
})
