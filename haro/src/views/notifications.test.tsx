// @vitest-environment jsdom
// Notifications in Settings against a stubbed server: channels with "Send test" (and its
// results), a rule's route changed with PUT /notifications/rules, the dead letters with Retry.
import { act, createElement as h, type ReactNode } from 'react'
import { afterEach, describe, expect, it } from 'vitest'
import { mountApp, unmountApp } from '../test/mount'
import { json, routes, sent, until, useStubFetch } from '../test/stub-fetch'
import { NotificationsSettings } from './notifications'

useStubFetch()

let el: HTMLElement
afterEach(unmountApp)

function mount(node: ReactNode) {
  ;({ el } = mountApp(node))
}

const settings = (route = 'all') => ({
  channels: [{ channel: 'webhook', configured: true }, { channel: 'telegram', configured: false }, { channel: 'discord', configured: false }],
  rules: [{ rule: 'run_failed', events: 'run.StatusChanged failed', route, source: 'default' }],
})

describe('notifications settings', () => {
  it('tests a configured channel and shows what it answered', async () => {
    routes['GET /notifications/settings'] = () => json(200, settings())
    routes['GET /notifications/dead-letters'] = () => json(200, { items: [] })
    routes['POST /notifications/test'] = () => json(200, { results: [{ channel: 'webhook', delivered: false, error: 'HTTP 500' }] })
    mount(h(NotificationsSettings))
    await until(() => expect(el.querySelector('[data-testid=notify-test-webhook]')).not.toBeNull())
    expect(el.querySelector('[data-testid=notify-test-telegram]')).toBeNull()
    act(() => (el.querySelector('[data-testid=notify-test-webhook]') as HTMLButtonElement).click())
    await until(() => expect(el.querySelector('[data-testid=notify-test-results]')?.textContent).toContain('webhook: failed (HTTP 500)'))
    expect(sent.find((s) => s.method === 'POST')).toMatchObject({ method: 'POST', path: '/notifications/test', body: { channel: 'webhook' } })
    expect(el.textContent).toContain('Every notification was delivered.')
  })

  it('routes a rule to one channel with PUT /notifications/rules', async () => {
    routes['GET /notifications/settings'] = () => json(200, settings())
    routes['GET /notifications/dead-letters'] = () => json(200, { items: [] })
    routes['PUT /notifications/rules'] = () => json(200, settings('webhook'))
    mount(h(NotificationsSettings))
    await until(() => expect(el.querySelector('select')).not.toBeNull())
    const select = el.querySelector('select') as HTMLSelectElement
    act(() => {
      select.value = 'webhook'
      select.dispatchEvent(new Event('change', { bubbles: true }))
    })
    await until(() => expect(sent.some((s) => s.method === 'PUT')).toBe(true))
    expect(sent.find((s) => s.method === 'PUT')!.body).toEqual({ rules: { run_failed: 'webhook' } })
    await until(() => expect((el.querySelector('select') as HTMLSelectElement).value).toBe('webhook'))
  })

  it('lists what was not delivered and retries it', async () => {
    routes['GET /notifications/settings'] = () => json(200, settings())
    routes['GET /notifications/dead-letters'] = () => json(200, {
      items: [{ id: 4, event_id: 'e', event_type: 'risk.LimitBreached', channel: 'webhook', title: 'Run 7 halted', text: 'daily loss', attempts: 5, last_error: 'HTTP 503', created_at: '2026-12-01T10:00:00Z', updated_at: '2026-12-01T10:01:00Z' }],
    })
    routes['POST /notifications/dead-letters/4/retry'] = () => json(200, {})
    mount(h(NotificationsSettings))
    await until(() => expect(el.querySelector('[data-testid=notify-retry-4]')).not.toBeNull())
    expect(el.querySelector('[data-testid=notify-dead-letters]')?.textContent).toContain('HTTP 503')
    act(() => (el.querySelector('[data-testid=notify-retry-4]') as HTMLButtonElement).click())
    await until(() => expect(sent.some((s) => s.path === '/notifications/dead-letters/4/retry')).toBe(true))
  })
})
