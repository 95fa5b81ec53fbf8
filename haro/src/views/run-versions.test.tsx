// @vitest-environment jsdom
// The Versions panel of a run's page against a stubbed server: the history (the active version
// marked, why and when each switch happened), the promote form (its checks before sending, the
// body it posts after the confirmation, a refusal with its message), Roll back (offered only with
// a previous version and no pending switch, confirmed, a 409 shown in the panel), and a pending
// switch polled until it is active (the run itself refetched then).
import { act, createElement as h } from 'react'
import { afterEach, describe, expect, it } from 'vitest'
import type { QueryClient } from '@tanstack/react-query'
import { mountApp, unmountApp } from '../test/mount'
import type { Run, Strategy } from '../api/types'
import type { Version } from '../api/versions'
import { json, routes, sent, until, useStubFetch } from '../test/stub-fetch'
import { VersionsPanel } from './run-versions'

useStubFetch()

let el: HTMLElement
let qc: QueryClient
afterEach(unmountApp)

function mount(run: Run) {
  ;({ el, qc } = mountApp(h(VersionsPanel, { run })))
}

const $ = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`)
const click = (b: Element | null) => {
  if (!b) throw new Error('no such element')
  return act(async () => (b as HTMLElement).click())
}
const button = (scope: Element, name: string) => [...scope.querySelectorAll('button')].find((b) => b.textContent === name) ?? null
const setValue = (input: HTMLElement, v: string) => act(async () => {
  const proto = input instanceof HTMLSelectElement ? HTMLSelectElement.prototype
    : input instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype
  Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(input, v)
  input.dispatchEvent(new Event(input instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }))
})
const writes = () => sent.filter((s) => s.method !== 'GET').map(({ method, path, body }) => ({ method, path, body }))

const RUN = {
  id: 7, strategy_id: 12, strategy_name: 'sma-cross', status: 'running', mode: 'paper', venue: 'sim',
  symbols: ['GOOG'], timeframe: '1Day', params: { fast: 10, slow: 20 },
} as unknown as Run

const strategy = (id: number, version: string, status: string, name = 'sma-cross') =>
  ({ id, name, version, status, sha256: 'x', size_bytes: 1, created_at: '2024-01-01T00:00:00Z', supported_contracts: '' }) as unknown as Strategy

const version = (seq: number, over: Partial<Version>): Version => ({
  seq, strategy_id: 11, strategy_name: 'sma-cross', strategy_version: '1', params: { fast: 10, slow: 20 }, reason: 'promote',
  state: 'replay', shadow_id: null, status: 'superseded', requested_at: '2024-01-02T10:00:00Z', switched_at: '2024-01-02T10:00:01Z',
  at_bar: '2024-01-02T00:00:00Z', replayed: null, error_code: null, auto_rollback_bars: 20, ...over,
})

const START = version(1, { reason: 'start', requested_at: '2024-01-01T09:00:00Z', switched_at: '2024-01-01T09:00:00Z', at_bar: null, auto_rollback_bars: 0 })
const FAILED = version(2, { strategy_id: 13, strategy_version: '3', status: 'failed', switched_at: null, at_bar: null, error_code: 'guest_trapped' })
const ACTIVE = version(3, { strategy_id: 12, strategy_version: '2', params: { fast: 3, slow: 7 }, shadow_id: 4, status: 'active', replayed: 42 })
const HISTORY = [START, FAILED, ACTIVE]

function serve(items: Version[] = HISTORY) {
  routes['GET /strategies'] = () => json(200, [strategy(11, '1', 'ready'), strategy(12, '2', 'ready'), strategy(13, '3', 'ready'), strategy(14, '4', 'compiling'), strategy(15, '1', 'ready', 'other')])
  routes['GET /runs/7/versions'] = () => json(200, { items })
}

const err = (status: number, code: string, message: string) => json(status, { code, message, details: null, correlation_id: 'req-9' })

describe('VersionsPanel', () => {
  it('lists the history with why and when each switch happened, the active one marked', async () => {
    serve()
    mount(RUN)
    await until(() => expect($('version-3')).not.toBeNull())
    const rows = el.querySelectorAll('[data-testid="versions-table"] tbody tr')
    expect(rows).toHaveLength(3)
    const start = $('version-1')!.textContent!
    expect(start).toContain('sma-cross v1')
    expect(start).toContain('start')
    expect(start).toContain('superseded')
    const failed = $('version-2')!.textContent!
    expect(failed).toContain('sma-cross v3')
    expect(failed).toContain('failed')
    expect(failed).toContain('guest_trapped')
    const active = $('version-3')!
    expect(active.getAttribute('aria-current')).toBe('true')
    expect(active.textContent).toContain('sma-cross v2 (#12)')
    expect(active.textContent).toContain('· running now')
    expect(active.textContent).toContain('promote (shadow #4)')
    expect(active.textContent).toContain('{"fast":3,"slow":7}')
    expect(active.textContent).toContain('replay · auto rollback 20 bars')
    expect(active.textContent).toContain('2024-01-02 10:00:01')
    expect(active.querySelector('td.num')!.textContent).toBe('42')
    // Only the active row is marked.
    expect(el.querySelectorAll('[aria-current]')).toHaveLength(1)
    expect(el.querySelectorAll('[data-testid="version-current"]')).toHaveLength(1)
  })

  it('is history only once the run has ended: no Roll back, no promote form', async () => {
    serve()
    mount({ ...RUN, status: 'stopped' } as Run)
    await until(() => expect($('version-3')).not.toBeNull())
    expect($('rollback')).toBeNull()
    expect($('promote-form')).toBeNull()
  })

  it('says so on a server without the versions route', async () => {
    mount(RUN)
    await until(() => expect($('unavailable')?.textContent).toBe('Versions: not available on this server version yet.'))
  })

  it('promote form: ready versions of the run’s strategy only, prefilled with the run’s params, checked before sending', async () => {
    serve()
    routes['POST /runs/7/promote'] = (body) => json(202, version(4, { strategy_id: 13, strategy_version: '3', status: 'pending', switched_at: null, at_bar: null, ...(body as object) }))
    mount(RUN)
    await until(() => expect($('promote-version')!.querySelectorAll('option')).toHaveLength(3))
    const select = $('promote-version') as HTMLSelectElement
    expect([...select.options].map((o) => o.textContent)).toEqual(['v1 (#11)', 'v2 (#12) · running now', 'v3 (#13)'])
    // The newest ready version other than the one running now.
    expect(select.value).toBe('13')
    expect(($('promote-params') as HTMLTextAreaElement).value).toBe('{"fast":10,"slow":20}')
    expect(($('promote-bars') as HTMLInputElement).value).toBe('20')

    await setValue($('promote-bars')!, 'abc')
    await setValue($('promote-params')!, '[1]')
    await click($('promote-submit'))
    expect(el.textContent).toContain('"abc" is not a number')
    expect(el.textContent).toContain('params must be a JSON object')
    expect($('promote-bars')!.getAttribute('aria-invalid')).toBe('true')
    expect($('promote-dialog')).toBeNull()
    await setValue($('promote-bars')!, '-1')
    await setValue($('promote-params')!, '{"fast": 5}')
    await click($('promote-submit'))
    expect(el.textContent).toContain('0 or more')
    expect(writes()).toEqual([])

    await setValue($('promote-bars')!, '0')
    await setValue($('promote-state')!, 'fresh')
    await setValue(select, '11')
    await click($('promote-submit'))
    const dialog = $('promote-dialog')!
    expect(dialog.textContent).toContain('Promote sma-cross v1 in run #7?')
    expect(dialog.textContent).toContain('{"fast":5}')
    expect(dialog.textContent).toContain('starting fresh')
    expect(dialog.textContent).toContain('No automatic rollback.')
    await click(button(dialog, 'Promote'))
    await until(() => expect($('switch-requested')).not.toBeNull())
    expect(writes()).toEqual([{ method: 'POST', path: '/runs/7/promote', body: { strategy: 11, params: { fast: 5 }, state: 'fresh', auto_rollback_bars: 0 } }])
    expect($('switch-requested')!.textContent).toContain('Switch #4')
    expect($('switch-requested')!.textContent).toContain('at the run’s next bar')
    expect($('promote-dialog')).toBeNull()
  })

  it('shows a refusal of the promotion with its message and code', async () => {
    serve()
    routes['POST /runs/7/promote'] = () => err(422, 'promote_strategy_not_ready', 'strategy #13 is not ready (compiling)')
    mount(RUN)
    await until(() => expect(($('promote-version') as HTMLSelectElement).value).toBe('13'))
    await click($('promote-submit'))
    await click(button($('promote-dialog')!, 'Promote'))
    await until(() => expect($('api-error')).not.toBeNull())
    expect($('api-error')!.textContent).toContain('strategy #13 is not ready (compiling)')
    expect($('api-error')!.textContent).toContain('promote_strategy_not_ready')
    expect($('api-error')!.textContent).toContain('req-9')
    expect($('promote-form')!.contains($('api-error'))).toBe(true)
  })

  it('offers Roll back only with a previous version and no pending switch', async () => {
    serve([{ ...START, status: 'active' }])
    mount(RUN)
    await until(() => expect($('rollback')).not.toBeNull())
    expect(($('rollback') as HTMLButtonElement).disabled).toBe(true)
    expect($('rollback-blocked')!.textContent).toBe('(no previous version)')
    unmountApp()

    serve([START, { ...ACTIVE }, version(4, { status: 'pending', switched_at: null, at_bar: null, reason: 'rollback' })])
    mount(RUN)
    await until(() => expect($('rollback-blocked')?.textContent).toBe('(a switch is pending)'))
    expect(($('rollback') as HTMLButtonElement).disabled).toBe(true)
    expect(($('promote-submit') as HTMLButtonElement).disabled).toBe(true)
    expect($('promote-pending')!.textContent).toBe('Switch #4 to sma-cross v1 is pending.')
  })

  it('rolls back after a confirmation naming both versions, and shows a 409 in the panel', async () => {
    serve()
    routes['POST /runs/7/rollback'] = () => err(409, 'no_previous_version', 'run #7 has no previous version')
    mount(RUN)
    await until(() => expect(($('rollback') as HTMLButtonElement | null)?.disabled).toBe(false))
    expect($('rollback-blocked')).toBeNull()
    await click($('rollback'))
    const dialog = $('rollback-dialog')!
    expect(dialog.textContent).toContain('Roll back run #7?')
    expect(dialog.textContent).toContain('From sma-cross v2 back to sma-cross v1 with {"fast":10,"slow":20}')
    await click(button(dialog, 'Roll back'))
    await until(() => expect($('rollback-error')).not.toBeNull())
    expect(writes()).toEqual([{ method: 'POST', path: '/runs/7/rollback', body: {} }])
    expect($('rollback-dialog')).toBeNull()
    expect($('rollback-error')!.textContent).toContain('run #7 has no previous version')
    expect($('rollback-error')!.textContent).toContain('no_previous_version')
    expect($('versions')!.contains($('rollback-error'))).toBe(true)
  })

  it('says what became of a requested rollback once the history has it', async () => {
    const asked = version(4, { strategy_id: 11, strategy_version: '1', reason: 'rollback', status: 'pending', switched_at: null, at_bar: null })
    let rolled = false
    serve()
    routes['GET /runs/7/versions'] = () => json(200, { items: rolled ? [START, FAILED, { ...ACTIVE, status: 'superseded' }, { ...asked, status: 'active' }] : HISTORY })
    routes['POST /runs/7/rollback'] = () => {
      rolled = true
      return json(202, asked)
    }
    mount(RUN)
    await until(() => expect(($('rollback') as HTMLButtonElement | null)?.disabled).toBe(false))
    await click($('rollback'))
    await click(button($('rollback-dialog')!, 'Roll back'))
    await until(() => expect($('switch-requested')?.textContent).toBe('Switch #4 to sma-cross v1 requested (rollback): done, it runs now.'))
    expect($('version-4')!.getAttribute('aria-current')).toBe('true')
    expect(writes()).toEqual([{ method: 'POST', path: '/runs/7/rollback', body: {} }])
  })

  it('polls a pending switch until it is active, then refetches the run', async () => {
    const pending = version(4, { strategy_id: 11, strategy_version: '1', reason: 'rollback', status: 'pending', switched_at: null, at_bar: null })
    let calls = 0
    serve()
    routes['GET /runs/7/versions'] = () => {
      calls += 1
      return json(200, { items: calls < 2 ? [START, ACTIVE, pending] : [START, { ...ACTIVE, status: 'superseded' }, { ...pending, status: 'active', switched_at: '2024-01-03T10:00:00Z', at_bar: '2024-01-03T00:00:00Z', replayed: 43 }] })
    }
    mount(RUN)
    qc.setQueryData(['run', '7'], RUN)
    await until(() => expect($('version-4')?.textContent).toContain('pending'))
    expect($('version-3')!.getAttribute('aria-current')).toBe('true')
    expect(qc.getQueryState(['run', '7'])!.isInvalidated).toBe(false)
    await until(() => expect($('version-4')!.getAttribute('aria-current')).toBe('true'), 4000)
    expect($('version-4')!.textContent).toContain('active')
    expect($('version-4')!.textContent).toContain('43')
    expect($('version-3')!.textContent).toContain('superseded')
    expect(calls).toBe(2)
    // The run's header names its new strategy: GET /runs/7 is stale now.
    expect(qc.getQueryState(['run', '7'])!.isInvalidated).toBe(true)
    expect($('rollback-blocked')).toBeNull()
    // Nothing pending any more: no further polling.
    await act(() => new Promise((r) => setTimeout(r, 1300)))
    expect(calls).toBe(2)
  })
})
