// @vitest-environment jsdom
// The Accounts page, the dashboard's account cards and an account's page against a stubbed
// server: the list (live first, idle simulated accounts folded), positions with each run's share
// and the unattributed rest, Close (whole or a run's share) after a confirmation, the limits
// replaced as a whole (no cooldown on a broker account), the account's trading state, and the kill
// switch with its report.
import { act, createElement as h, type ReactNode } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { MemoryRouter, Route, Routes } from 'react-router'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { json, routes, sent, until, useStubFetch } from '../test/stub-fetch'
import type { Account, AccountFlattened, Attempt, RiskLimits } from '../api/types'
import { AccountDetail } from './account-detail'
import { Accounts } from './accounts'
import { AccountCards, EventLine } from './dashboard'

;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

useStubFetch()

let root: Root | null = null
let el: HTMLElement
let qc: QueryClient
afterEach(() => {
  act(() => root?.unmount())
  root = null
  el?.remove()
})

/** Renders `node` at `path`, under the app's account routes. */
function mount(node: ReactNode, path = '/') {
  el = document.createElement('div')
  document.body.append(el)
  qc = new QueryClient({ defaultOptions: { queries: { retry: false } } })
  vi.spyOn(qc, 'invalidateQueries')
  root = createRoot(el)
  const tree = h(Routes, null,
    h(Route, { path: '/ui/accounts/:venue/:number', element: h(AccountDetail) }),
    h(Route, { path: '*', element: node }))
  act(() => root!.render(h(QueryClientProvider, { client: qc }, h(MemoryRouter, { initialEntries: [path] }, tree))))
}

const dialog = () => document.querySelector<HTMLElement>('[role=dialog]')
const button = (name: string, scope: ParentNode = document) =>
  [...scope.querySelectorAll('button')].find((b) => b.textContent === name)
const byTestId = (id: string, scope: ParentNode = document) => scope.querySelector<HTMLElement>(`[data-testid="${id}"]`)
const click = (b: Element | null | undefined) => {
  if (!b) throw new Error('no such element')
  return act(async () => (b as HTMLElement).click())
}
const writes = () => sent.filter((s) => s.method !== 'GET').map(({ method, path, body }) => ({ method, path, body }))
const invalidated = () => vi.mocked(qc.invalidateQueries).mock.calls.map((c) => JSON.stringify(c[0]?.queryKey))
const setValue = (input: HTMLInputElement, v: string) => act(async () => {
  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(input, v)
  input.dispatchEvent(new Event('input', { bubbles: true }))
})
const submit = (form: Element) => act(async () => { form.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true })) })

const OFF: RiskLimits = {
  max_notional_per_order: null, max_position_per_symbol: null, max_gross_exposure: null, max_open_orders: null,
  max_orders_per_minute: null, max_order_quantity: null, max_price_deviation: null, max_order_equity_pct: null,
  daily_loss_pct: null, max_drawdown_pct: null, cooldown: null, allowed_symbols: null,
  daily_loss_action: 'reduce_only', drawdown_action: 'halted', reset_next_session: false,
}
const acct = (a: Partial<Account>): Account => ({
  id: 'alpaca/PA3FAKE0001', venue: 'alpaca', number: 'PA3FAKE0001', run_id: null, live: false,
  equity: 100000, cash: 95000, buying_power: 190000, runs: 2, positions: [], risk: OFF, trading_state: 'active', risk_state: null, ...a,
})
const sim = (run: number, runs = 1) => acct({ id: `sim/${run}`, venue: 'sim', number: String(run), run_id: run, runs, equity: 10000, cash: 10000, buying_power: 10000 })
const ALPACA = acct({
  risk: { ...OFF, max_open_orders: 50, daily_loss_pct: '5' },
  positions: [
    { symbol: 'AAPL', qty: 13, runs: [{ run_id: 5, qty: 3 }], unattributed: 10 },
    { symbol: 'MSFT', qty: -4, runs: [{ run_id: 5, qty: -1 }, { run_id: 6, qty: -3 }], unattributed: 0 },
    { symbol: 'SPY', qty: 0, runs: [], unattributed: 0 },
  ],
})
const PAGE = '/ui/accounts/alpaca/PA3FAKE0001'
const API = '/accounts/alpaca/PA3FAKE0001'
const attempt = (a: Partial<Attempt> = {}): Attempt => ({
  sequence: 4, client_order_id: 'w-5-4', symbol: 'AAPL', side: 'sell', status: 'accepted', venue_order_id: 'fake-9', code: null, message: null, ...a,
})
const FLATTENED: AccountFlattened = {
  runs: [
    { run_id: 5, done: { canceled: ['w-5-2'], closing: [attempt()], errors: [] }, error: null },
    { run_id: 6, done: null, error: 'run 6 ended meanwhile' },
  ],
  canceled: ['outside-1'],
  closing: [attempt({ client_order_id: 'weaver-acct-1', sequence: 0, venue_order_id: 'fake-10' })],
  errors: ['MSFT: timed out'],
}

describe('Accounts page', () => {
  it('lists real money first, simulated accounts of active runs last, idle ones folded away', async () => {
    routes['GET /accounts'] = () => json(200, [sim(7), sim(3, 0), ALPACA, acct({ id: 'alpaca/LIVE1', number: 'LIVE1', live: true, trading_state: 'halted' }), sim(9)])
    mount(h(Accounts))
    await until(() => expect(el.querySelectorAll('[data-testid=account-row]').length).toBe(4))
    const rows = [...el.querySelectorAll('[data-testid=account-row]')]
    expect(rows.map((r) => r.querySelector('[data-testid=account-link]')!.textContent)).toEqual(['alpaca/LIVE1', 'alpaca/PA3FAKE0001', 'sim/9', 'sim/7'])
    expect(rows[0].querySelector('[data-testid=live-badge]')?.textContent).toBe('live')
    expect(rows[0].textContent).toContain('halted')
    expect(rows[1].querySelector('[data-testid=paper-badge]')?.textContent).toBe('paper')
    expect(rows[1].textContent).toContain('$100,000.00')
    expect(rows[1].querySelector('a')!.getAttribute('href')).toBe(PAGE)
    expect(rows[2].querySelector('a[href="/ui/runs/9"]')).not.toBeNull()
    await click(byTestId('show-idle', el))
    expect(el.querySelectorAll('[data-testid=account-row]').length).toBe(5)
  })

  it('says when no account has an active run, and shows the idle ones on demand', async () => {
    routes['GET /accounts'] = () => json(200, [sim(3, 0)])
    mount(h(Accounts))
    await until(() => expect(el.textContent).toContain('No account has an active run.'))
    await click(byTestId('show-idle', el))
    expect(el.querySelectorAll('[data-testid=account-row]').length).toBe(1)
  })

  it('says so when the server has no accounts route yet', async () => {
    mount(h(Accounts))
    await until(() => expect(byTestId('unavailable', el)?.textContent).toContain('not available on this server version yet'))
  })
})

describe('dashboard account cards', () => {
  it('shows at most four, live first, each linking to its page, and a link to all', async () => {
    routes['GET /accounts'] = () => json(200, [sim(1), sim(2), sim(3), sim(4), ALPACA, sim(5, 0)])
    mount(h(AccountCards))
    await until(() => expect(el.querySelectorAll('[data-testid=account-card]').length).toBe(4))
    const links = [...el.querySelectorAll('[data-testid=account-card] [data-testid=account-link]')].map((a) => a.getAttribute('href'))
    expect(links).toEqual([PAGE, '/ui/accounts/sim/4', '/ui/accounts/sim/3', '/ui/accounts/sim/2'])
    expect(byTestId('all-accounts', el)?.textContent).toBe('All 6 accounts →')
  })
})

describe('account page', () => {
  const rowOf = (symbol: string) => el.querySelector<HTMLElement>(`[data-testid=account-position-row][data-symbol="${symbol}"]`)!

  it('shows balances, and each position with its runs\' shares (linking to them) and the unattributed rest', async () => {
    routes[`GET ${API}`] = () => json(200, ALPACA)
    mount(null, PAGE)
    await until(() => expect(el.querySelector('h1')?.textContent).toContain('Account alpaca/PA3FAKE0001'))
    expect(byTestId('account-balances', el)!.textContent).toContain('$190,000.00')
    expect(byTestId('account-runs', el)!.textContent).toBe('2')
    expect(el.querySelectorAll('[data-testid=account-position-row]').length).toBe(2) // SPY is flat everywhere
    const aapl = rowOf('AAPL')
    expect(byTestId('position-qty', aapl)!.textContent).toBe('13')
    expect(byTestId('unattributed', aapl)!.textContent).toBe('10')
    expect(byTestId('unattributed', aapl)!.className).toContain('neg')
    expect([...aapl.querySelectorAll('[data-testid=run-share]')].map((s) => s.textContent)).toEqual(['run #5: 3 Close'])
    expect(aapl.querySelector('a')!.getAttribute('href')).toBe('/ui/runs/5')
    const msft = rowOf('MSFT')
    expect([...msft.querySelectorAll('[data-testid=run-share] a')].map((s) => s.textContent)).toEqual(['run #5', 'run #6'])
    expect(byTestId('unattributed', msft)!.className).not.toContain('neg')
    expect(byTestId('account-state', el)!.textContent).toBe('active')
  })

  it('says an unknown account is not found', async () => {
    routes['GET /accounts/alpaca/NOPE'] = () => json(404, { code: 'not_found', message: 'no account alpaca/NOPE', correlation_id: 'c-9' })
    mount(null, '/ui/accounts/alpaca/NOPE')
    await until(() => expect(byTestId('api-error', el)?.textContent).toContain('no account alpaca/NOPE'))
  })

  it('Close of a whole position says what it closes, then posts with no body and shows the report', async () => {
    routes[`GET ${API}`] = () => json(200, ALPACA)
    routes['POST /positions/alpaca/PA3FAKE0001/AAPL/close'] = () => json(200, { ...FLATTENED, runs: [FLATTENED.runs[0]], canceled: [], errors: [] })
    mount(null, PAGE)
    await until(() => expect(byTestId('close-position-AAPL', el)).not.toBeNull())
    await click(byTestId('close-position-AAPL', el))
    expect(dialog()!.querySelector('h2')!.textContent).toBe('Close all of AAPL on alpaca/PA3FAKE0001?')
    expect([...byTestId('close-what', dialog()!)!.querySelectorAll('li')].map((l) => l.textContent)).toEqual([
      'Sells all 13 AAPL on alpaca/PA3FAKE0001 with market orders:',
      "run #5's share of 3, through the run",
      'the 10 no active run holds, on the account',
    ])
    expect(writes()).toEqual([])
    await click(button('Close position', dialog()!))
    await until(() => expect(byTestId('account-close-result', el)).not.toBeNull())
    expect(dialog()).toBeNull()
    expect(writes()).toEqual([{ method: 'POST', path: '/positions/alpaca/PA3FAKE0001/AAPL/close', body: undefined }])
    const report = byTestId('account-close-result', el)!.textContent!
    expect(report).toContain('Close AAPL on alpaca/PA3FAKE0001:')
    expect(report).toContain('Run #5')
    expect(byTestId('account-rest', el)!.textContent).toContain('sell AAPL: accepted')
    expect(invalidated()).toEqual(expect.arrayContaining(['["account","alpaca/PA3FAKE0001"]', '["accounts"]', '["run"]', '["orders"]']))
  })

  it("Close of one run's share posts its run_id; a refusal shows the server's message", async () => {
    routes[`GET ${API}`] = () => json(200, ALPACA)
    routes['POST /positions/alpaca/PA3FAKE0001/MSFT/close'] = () => json(409, { code: 'run_not_active', message: 'run 6 is not running', correlation_id: 'c-3' })
    mount(null, PAGE)
    await until(() => expect(byTestId('close-share-MSFT-6', el)).not.toBeNull())
    await click(byTestId('close-share-MSFT-6', el))
    expect(dialog()!.querySelector('h2')!.textContent).toBe("Close run #6's MSFT?")
    expect(byTestId('close-what', dialog()!)!.textContent).toBe("A market order buys back run #6's 3 MSFT, through the run. The rest of the position (-1) stays.")
    await click(button("Close run's share", dialog()!))
    await until(() => expect(byTestId('api-error', el)?.textContent).toContain('run 6 is not running'))
    expect(writes()).toEqual([{ method: 'POST', path: '/positions/alpaca/PA3FAKE0001/MSFT/close', body: { run_id: 6 } }])
  })

  it('Edit limits replaces the whole object (empty = absent = off) after a confirmation; no cooldown on a broker account', async () => {
    let now = ALPACA
    routes[`GET ${API}`] = () => json(200, now)
    routes[`PUT ${API}/risk`] = (body) => json(200, (now = { ...ALPACA, risk: { ...OFF, ...(body as object) } }))
    mount(null, PAGE)
    await until(() => expect(byTestId('account-edit-limits', el)).not.toBeNull())
    expect(byTestId('limit-max_open_orders', el)!.querySelector('td')!.textContent).toBe('50')
    expect(byTestId('limit-cooldown', el)).toBeNull()
    expect(byTestId('cooldown-per-run', el)).not.toBeNull()
    await click(byTestId('account-edit-limits', el))
    const form = el.querySelector('form[aria-label="Edit limits"]')!
    expect(form.querySelector('[name="cooldown.losing_trades"]')).toBeNull()
    expect(form.textContent).toContain('replaces the account\'s limits with this form: a field left empty is off')
    await setValue(form.querySelector<HTMLInputElement>('[name=max_open_orders]')!, '7')
    await setValue(form.querySelector<HTMLInputElement>('[name=daily_loss_pct]')!, '')
    await submit(form)
    const d = dialog()!
    expect(d.querySelector('h2')!.textContent).toBe('Replace the limits of account alpaca/PA3FAKE0001?')
    expect(byTestId('limits-changes', d)!.textContent).toBe('Max open orders: 50 → 7Daily loss %: 5 → off')
    expect(byTestId('limits-replace-note', d)!.textContent).toContain('every one left empty is off')
    await click(button('Save limits', d))
    await until(() => expect(writes().length).toBe(1))
    expect(writes()[0]).toEqual({
      method: 'PUT', path: `${API}/risk`,
      body: { max_open_orders: 7, daily_loss_action: 'reduce_only', reset_next_session: false, drawdown_action: 'halted' },
    })
    await until(() => expect(byTestId('limit-max_open_orders', el)?.querySelector('td')?.textContent).toBe('7'))
    expect(dialog()).toBeNull()
    expect(byTestId('limit-daily_loss_pct', el)!.querySelector('td')!.textContent).toBe('off')
  })

  it("a 422 invalid_risk shows next to the field it names", async () => {
    routes[`GET ${API}`] = () => json(200, ALPACA)
    routes[`PUT ${API}/risk`] = () => json(422, { code: 'invalid_risk', message: 'risk.max_order_equity_pct: must be more than 0 and at most 100', details: { field: 'risk.max_order_equity_pct' } })
    mount(null, PAGE)
    await until(() => expect(byTestId('account-edit-limits', el)).not.toBeNull())
    await click(byTestId('account-edit-limits', el))
    const form = el.querySelector('form')!
    await setValue(form.querySelector<HTMLInputElement>('[name=max_order_equity_pct]')!, '150')
    await submit(form)
    await click(button('Save limits', dialog()!))
    await until(() => expect(byTestId('limit-error-max_order_equity_pct', el)?.textContent).toContain('at most 100'))
  })

  it('a simulated account edits the cooldown too (they are its run\'s limits)', async () => {
    routes['GET /accounts/sim/42'] = () => json(200, sim(42))
    mount(null, '/ui/accounts/sim/42')
    await until(() => expect(byTestId('account-edit-limits', el)).not.toBeNull())
    expect(el.textContent).toContain("These are run #42's own limits and state")
    expect(byTestId('limit-cooldown', el)).not.toBeNull()
    await click(byTestId('account-edit-limits', el))
    expect(el.querySelector('[name="cooldown.losing_trades"]')).not.toBeNull()
  })

  it('the kill switch asks, sends halted with flatten, and shows what was done', async () => {
    let now = ALPACA
    routes[`GET ${API}`] = () => json(200, now)
    routes[`PUT ${API}/trading-state`] = () => json(200, { account: (now = { ...ALPACA, trading_state: 'halted', positions: [] }), flattened: FLATTENED })
    mount(null, PAGE)
    await until(() => expect(byTestId('account-kill', el)).not.toBeNull())
    await click(byTestId('account-kill', el))
    const d = dialog()!
    expect(d.getAttribute('data-testid')).toBe('account-kill-dialog')
    expect(d.textContent).toContain('cancels every open order on the account and closes every position on it')
    expect(byTestId('kill-live', d)).toBeNull()
    expect(writes()).toEqual([])
    await click(button('Halt and flatten account', d))
    await until(() => expect(byTestId('account-state-result', dialog()!)).not.toBeNull())
    expect(writes()).toEqual([{ method: 'PUT', path: `${API}/trading-state`, body: { state: 'halted', flatten: true } }])
    const report = dialog()!
    expect(report.textContent).toContain('Account alpaca/PA3FAKE0001 is now halted.')
    const [r5, r6] = [...report.querySelectorAll('[data-testid=run-flattened]')].map((r) => r.textContent)
    expect(r5).toContain('Cancelled 1 working order: w-5-2')
    expect(r5).toContain('sell AAPL: accepted')
    expect(r6).toBe('Run #6run 6 ended meanwhile')
    const rest = byTestId('account-rest', report)!.textContent
    expect(rest).toContain('Cancelled 1 working order: outside-1')
    expect(rest).toContain('client order id weaver-acct-1')
    expect(rest).toContain('Not done (try again to finish):MSFT: timed out')
    await click(button('Done', report))
    expect(dialog()).toBeNull()
    // The answer's account is shown at once: halted and flat.
    expect(byTestId('account-state', el)!.textContent).toBe('halted')
    expect(byTestId('account-flat', el)).not.toBeNull()
  })

  it('warns on a real-money account before the kill switch', async () => {
    routes['GET /accounts/alpaca/LIVE1'] = () => json(200, acct({ id: 'alpaca/LIVE1', number: 'LIVE1', live: true }))
    mount(null, '/ui/accounts/alpaca/LIVE1')
    await until(() => expect(byTestId('account-kill', el)).not.toBeNull())
    await click(byTestId('account-kill', el))
    expect(byTestId('kill-live', dialog()!)?.textContent).toBe('This is a real-money account.')
  })

  it('sets the account reduce-only without a flatten', async () => {
    let now = ALPACA
    routes[`GET ${API}`] = () => json(200, now)
    routes[`PUT ${API}/trading-state`] = () => json(200, { account: (now = { ...ALPACA, trading_state: 'reduce_only' }), flattened: null })
    mount(null, PAGE)
    await until(() => expect(byTestId('account-set-state', el)).not.toBeNull())
    await click(byTestId('account-set-state', el))
    const d = dialog()!
    expect(d.querySelector<HTMLInputElement>('input[value=halted]')!.checked).toBe(true)
    await click(d.querySelector('input[value=reduce_only]'))
    await click(button('Set reduce-only', d))
    await until(() => expect(writes()).toEqual([{ method: 'PUT', path: `${API}/trading-state`, body: { state: 'reduce_only' } }]))
    await until(() => expect(dialog()!.textContent).toContain('Its orders and positions were left as they were.'))
    expect(byTestId('account-state', el)!.textContent).toBe('reduce only')
  })
})

describe('feed', () => {
  it('says a position mismatch in one line, as a problem', () => {
    mount(h(EventLine, { ev: { type: 'ui.reconcile.PositionMismatch', data: { account: 'alpaca/PA3FAKE0001', symbol: 'AAPL', broker_qty: 10, recorded_qty: 8, difference: 2 } } }))
    const line = byTestId('event-summary', el)!
    expect(line.textContent).toBe('Position mismatch AAPL on alpaca/PA3FAKE0001: broker 10, Weaver 8')
    expect(line.className).toBe('neg')
  })

  it('says a mismatch that is gone, not as a problem', () => {
    mount(h(EventLine, { ev: { type: 'ui.reconcile.PositionMismatch', data: { account: 'alpaca/PA3FAKE0001', symbol: 'AAPL', broker_qty: 10, recorded_qty: 10, difference: 0 } } }))
    expect(byTestId('event-summary', el)!.className).toBe('')
  })
})
