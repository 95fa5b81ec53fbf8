// @vitest-environment jsdom
// The store-fault banner against a stubbed server: shown on every page while `GET /healthz`
// reports a store fault (what it is, how many runs wait), gone once it does not.
import { act, createElement as h } from 'react'
import type { QueryClient } from '@tanstack/react-query'
import { afterEach, describe, expect, it } from 'vitest'
import { mountApp, unmountApp } from '../test/mount'
import { json, routes, sent, until, useStubFetch } from '../test/stub-fetch'
import { StoreFaultBanner } from './layout'

useStubFetch()

let el: HTMLElement
let qc: QueryClient
afterEach(unmountApp)

function mount() {
  ;({ el, qc } = mountApp(h(StoreFaultBanner)))
}

const fault = {
  id: 'f1', kind: 'outage', since: '2026-01-02T03:04:05Z', seconds: 12.5,
  error: 'pool timed out while waiting for an open connection', runs_waiting: 3, writers_waiting: 1,
}

describe('store fault banner', () => {
  it('says what the fault is and how many runs wait, then goes when the store is back', async () => {
    let body: object = { status: 'ok', store_fault: fault }
    routes['GET /healthz'] = () => json(200, body)
    mount()
    await until(() => expect(el.querySelector('[data-testid=store-fault]')).not.toBeNull())
    const text = el.querySelector('[data-testid=store-fault]')!.textContent!
    expect(text).toContain('the database cannot be reached')
    expect(text).toContain('3 runs wait')
    expect(text).toContain('pool timed out')
    expect(sent[0].path).toBe('/healthz')
    body = { status: 'ok' }
    await act(() => qc.invalidateQueries({ queryKey: ['healthz'] }))
    await until(() => expect(el.querySelector('[data-testid=store-fault]')).toBeNull())
  })

  it('names a full disk and shows nothing while the store is fine', async () => {
    routes['GET /healthz'] = () => json(200, { status: 'ok', store_fault: { ...fault, kind: 'disk_full', runs_waiting: 1 } })
    mount()
    await until(() => expect(el.querySelector('[data-testid=store-fault]')?.textContent).toContain('the disk under the database is full'))
    expect(el.textContent).toContain('1 run waits')
    unmountApp()
    routes['GET /healthz'] = () => json(200, { status: 'ok' })
    mount()
    await until(() => expect(sent.filter((s) => s.path === '/healthz').length).toBeGreaterThan(1))
    await act(() => new Promise((r) => setTimeout(r, 20)))
    expect(el.querySelector('[data-testid=store-fault]')).toBeNull()
  })
})
