// @vitest-environment jsdom
// Haro's lists against a stubbed server that pages as the API does (newest first, `before`):
// orders (all, a run's, "Recent orders") start at the newest and page to the oldest (or jump
// there and walk back up); the status
// picker offers exactly the API's states; a run's log starts at its newest line, pages back to
// the first, follows new lines, filters by level and text.
import { act, createElement as h, type ReactNode } from 'react'
import { afterEach, describe, expect, it } from 'vitest'
import type { QueryClient } from '@tanstack/react-query'
import { mountApp, unmountApp } from '../test/mount'
import { logLine, logsRoute, order, ordersRoute } from '../test/fake-lists'
import { routes, sent, until, useStubFetch } from '../test/stub-fetch'
import { Dashboard } from './dashboard'
import { Orders } from './orders'
import { RunLogs } from './run-logs'

useStubFetch()

let el: HTMLElement
let qc: QueryClient
afterEach(unmountApp)

function mount(node: ReactNode, path = '/') {
  ;({ el, qc } = mountApp(node, path))
}

const ids = () => [...el.querySelectorAll('[data-testid=order-row] td:first-child')].map((td) => Number(td.textContent))
const click = (testId: string) => act(() => el.querySelector<HTMLButtonElement>(`[data-testid=${testId}]`)!.click())

describe('orders', () => {
  const all = Array.from({ length: 250 }, (_, i) => order(i + 1, { run_id: i % 2 ? 7 : 8 }))

  it('start at the newest and page to the oldest, every order once', async () => {
    const some = all.slice(0, 150)
    routes['GET /orders'] = ordersRoute(some)
    mount(h(Orders), '/ui/orders')
    await until(() => expect(ids()[0]).toBe(150), 5000)
    const seen: number[] = []
    for (;;) {
      seen.push(...ids())
      const older = el.querySelector<HTMLButtonElement>('[data-testid=orders-older]')!
      if (older.disabled) break
      const first = ids()[0]
      act(() => older.click())
      await until(() => expect(ids()[0]).toBeLessThan(first), 5000)
    }
    expect(seen).toEqual(some.map((o) => o.id).reverse())
    click('orders-newest')
    await until(() => expect(ids()[0]).toBe(150), 5000)
  }, 15_000)

  it('jump to the oldest with Oldest and walk back up with Newer, every order once', async () => {
    const some = all.slice(0, 250)
    routes['GET /orders'] = ordersRoute(some)
    mount(h(Orders), '/ui/orders')
    await until(() => expect(ids()[0]).toBe(250), 5000)
    click('orders-oldest')
    await until(() => expect(ids().at(-1)).toBe(1), 5000)
    expect(ids()).toEqual(Array.from({ length: 100 }, (_, i) => 100 - i))
    expect(el.querySelector('[data-testid=orders-page]')!.textContent).toBe('page 1 from the oldest (oldest)')
    expect(el.querySelector<HTMLButtonElement>('[data-testid=orders-older]')!.disabled).toBe(true)
    const seen = [...ids()]
    while (!el.querySelector<HTMLButtonElement>('[data-testid=orders-newer]')!.disabled) {
      const first = ids()[0]
      click('orders-newer')
      await until(() => expect(ids()[0]).toBeGreaterThan(first), 5000)
      seen.unshift(...ids().filter((id) => id > first))
    }
    expect(seen).toEqual(some.map((o) => o.id).reverse())
    // Up from the oldest, the newest 50 are the newest page itself.
    expect(el.querySelector('[data-testid=orders-page]')!.textContent).toBe('page 1')
    click('orders-older')
    await until(() => expect(ids()[0]).toBe(150), 5000)
  }, 15_000)

  it("of a run reach its oldest, and the status picker offers exactly the API's states", async () => {
    routes['GET /orders'] = ordersRoute(all)
    mount(h(Orders), '/ui/orders?run=7')
    await until(() => expect(ids()[0]).toBe(250))
    click('orders-older')
    await until(() => expect(ids().at(-1)).toBe(2), 5000)
    expect(ids().every((id) => id % 2 === 0)).toBe(true)
    const options = [...el.querySelectorAll('select option')].map((o) => (o as HTMLOptionElement).value)
    expect(options).toEqual(['', 'pending_submit', 'submitted', 'accepted', 'partially_filled', 'filled', 'cancelled', 'rejected', 'expired', 'unknown'])
  }, 15_000)

  it('"Recent orders" shows the newest ten and pages back', async () => {
    routes['GET /orders'] = ordersRoute(all)
    mount(h(Dashboard))
    await until(() => expect(ids()).toEqual([250, 249, 248, 247, 246, 245, 244, 243, 242, 241]))
    click('orders-older')
    await until(() => expect(ids()[0]).toBe(240))
  })
})

describe('a run log', () => {
  const lines = () => el.querySelector('[data-testid=log-lines]')?.textContent?.split('\n') ?? []

  it('starts at its newest line and pages back to the first', async () => {
    const log = Array.from({ length: 754 }, (_, i) => logLine(i + 1, 'info', i === 753 ? 'replay finished' : `order #${i + 1}`))
    routes['GET /runs/3/logs'] = logsRoute(log)
    mount(h(RunLogs, { id: 3 }))
    await until(() => expect(lines()[0]).toContain('replay finished'))
    while (el.querySelector('[data-testid=log-older]')) {
      const n = lines().length
      click('log-older')
      await until(() => expect(lines().length).toBeGreaterThan(n))
    }
    expect(lines()).toHaveLength(754)
    expect(lines().at(-1)).toContain('order #1')
    expect(el.querySelector('[data-testid=log-count]')!.textContent).toContain('from the first line')
  })

  it('follows new lines, and filters by level and text', async () => {
    const log = [logLine(1, 'info', 'started'), logLine(2, 'warn', 'order #1 not placed'), logLine(3, 'info', 'bar')]
    routes['GET /runs/4/logs'] = logsRoute(log)
    mount(h(RunLogs, { id: 4 }))
    await until(() => expect(lines()).toHaveLength(3))
    log.push(logLine(4, 'error', 'run failed'))
    await act(() => qc.invalidateQueries({ queryKey: ['run', '4'] }))
    await until(() => expect(lines()[0]).toContain('run failed'))
    expect(sent.at(-1)!.path).toBe('/runs/4/logs')
    const level = el.querySelector<HTMLSelectElement>('[data-testid=log-level]')!
    act(() => {
      level.value = 'warn'
      level.dispatchEvent(new Event('change', { bubbles: true }))
    })
    expect(lines().map((l) => l.replace(/^.*?(ERROR|WARN|INFO|DEBUG)\s+/, ''))).toEqual(['run failed', 'order #1 not placed'])
    const search = el.querySelector<HTMLInputElement>('[data-testid=log-search]')!
    act(() => {
      const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!
      set.call(search, 'ORDER')
      search.dispatchEvent(new Event('input', { bubbles: true }))
    })
    expect(lines()).toHaveLength(1)
    expect(lines()[0]).toContain('order #1 not placed')
    // Not following: new lines wait.
    const follow = el.querySelector<HTMLInputElement>('[data-testid=log-follow]')!
    act(() => follow.click())
    log.push(logLine(5, 'error', 'order #2 not placed'))
    await act(() => qc.invalidateQueries({ queryKey: ['run', '4'] }))
    await act(() => new Promise((r) => setTimeout(r, 50)))
    expect(lines()).toHaveLength(1)
  })

  it('searches the whole log on the server, and pages through the matches', async () => {
    // 2,000 lines: the newest page (200) holds no error; the errors are far back.
    const log = Array.from({ length: 2000 }, (_, i) =>
      logLine(i + 1, (i + 1) % 450 === 0 ? 'error' : 'info', (i + 1) % 450 === 0 ? `Order REJECTED #${i + 1}` : `bar ${i + 1}`),
    )
    routes['GET /runs/5/logs'] = logsRoute(log)
    mount(h(RunLogs, { id: 5 }))
    await until(() => expect(lines()).toHaveLength(200))
    const search = el.querySelector<HTMLInputElement>('[data-testid=log-search]')!
    act(() => {
      const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!
      set.call(search, 'rejected')
      search.dispatchEvent(new Event('input', { bubbles: true }))
    })
    // At once: none of the loaded lines match, and the whole log is being searched.
    expect(el.querySelector('[data-testid=log-count]')!.textContent).toContain('searching the whole log')
    await until(() => expect(lines()).toHaveLength(4), 5000)
    expect(lines()[0]).toContain('Order REJECTED #1800')
    expect(lines().at(-1)).toContain('Order REJECTED #450')
    expect(el.querySelector('[data-testid=log-count]')!.textContent).toContain('4 matching lines')
    const asked = sent.filter((r) => r.path === '/runs/5/logs').at(-1)!
    expect(asked.url.searchParams.get('q')).toBe('rejected')
    // The level goes to the server too, with the text.
    const level = el.querySelector<HTMLSelectElement>('[data-testid=log-level]')!
    act(() => {
      level.value = 'error'
      level.dispatchEvent(new Event('change', { bubbles: true }))
    })
    await until(() => {
      const last = sent.filter((r) => r.path === '/runs/5/logs').at(-1)!
      expect(last.url.searchParams.get('level')).toBe('error')
      expect(last.url.searchParams.get('q')).toBe('rejected')
    })
    await until(() => expect(lines()).toHaveLength(4))
  })
})
