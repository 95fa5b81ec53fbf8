// @vitest-environment jsdom
// The Export menu of a backtest (files fetched with the API key and saved; a refusal shown in the
// error model's words) and the time zone picker of the settings.
import { act, createElement as h } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { settings } from '../lib/settings'
import { ExportMenu } from './backtest-detail'
import { TimeZonePick } from './settings'

;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

const store = new Map<string, string>()
let root: Root | null = null
let el: HTMLElement
const saved: string[] = []
beforeEach(() => {
  store.clear()
  saved.length = 0
  vi.stubGlobal('localStorage', {
    getItem: (k: string) => store.get(k) ?? null,
    setItem: (k: string, v: string) => void store.set(k, v),
    removeItem: (k: string) => void store.delete(k),
  })
  URL.createObjectURL = vi.fn(() => 'blob:x')
  URL.revokeObjectURL = vi.fn()
  vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
    saved.push(this.download)
  })
})
afterEach(() => {
  act(() => root?.unmount())
  root = null
  el?.remove()
  vi.unstubAllGlobals()
  vi.restoreAllMocks()
})

async function mount(node: ReturnType<typeof h>) {
  el = document.createElement('div')
  document.body.appendChild(el)
  root = createRoot(el)
  await act(async () => root!.render(node))
}

const button = (text: string) => [...el.querySelectorAll('button')].find((b) => b.textContent?.startsWith(text))!

describe('the Export menu', () => {
  it('saves the trades CSV fetched with the API key', async () => {
    settings.setApiKey('k-123')
    const fetch = vi.fn(async () => new Response('symbol\n', { status: 200, headers: { 'content-type': 'text/csv' } }))
    vi.stubGlobal('fetch', fetch)
    await mount(h(ExportMenu, { id: 4 }))
    expect([...el.querySelectorAll('.menu-items button')].map((b) => b.textContent)).toEqual([
      'Trades (CSV)', 'Trades (JSON)', 'Report (JSON)', 'Tearsheet (HTML)'])
    await act(async () => button('Trades (CSV)').click())
    await act(async () => new Promise((r) => setTimeout(r, 0)))
    expect(fetch).toHaveBeenCalledWith('/backtests/4/trades?format=csv', { headers: { 'X-API-Key': 'k-123' } })
    expect(saved).toEqual(['backtest-4-trades.csv'])
    // With a key the tearsheet is saved too (a new tab could not send the key).
    await act(async () => button('Tearsheet').click())
    await act(async () => new Promise((r) => setTimeout(r, 0)))
    expect(saved).toEqual(['backtest-4-trades.csv', 'backtest-4-tearsheet.html'])
  })

  it('opens the tearsheet in a tab without a key, and shows a refusal', async () => {
    const open = vi.fn()
    vi.stubGlobal('open', open)
    window.open = open
    vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify({
      code: 'backtest_not_done', message: 'backtest 4 has no report yet', details: null, correlation_id: 'c1',
    }), { status: 409, headers: { 'content-type': 'application/json' } })))
    await mount(h(ExportMenu, { id: 4 }))
    await act(async () => button('Tearsheet').click())
    expect(open).toHaveBeenCalledWith('/backtests/4/report.html', '_blank', 'noopener')
    await act(async () => button('Report (JSON)').click())
    await act(async () => new Promise((r) => setTimeout(r, 0)))
    expect(el.textContent).toContain('backtest 4 has no report yet')
    expect(saved).toEqual([])
  })
})

describe('the time zone picker', () => {
  it('sets UTC, local or an IANA zone', async () => {
    await mount(h(TimeZonePick))
    expect(el.textContent).toContain('labelled UTC')
    expect(button('UTC').getAttribute('aria-pressed')).toBe('true')
    await act(async () => button('Local').click())
    expect(settings.timeZone()).toBe('local')
    const select = el.querySelector<HTMLSelectElement>('[data-testid=time-zone]')!
    expect([...select.options].map((o) => o.value)).toContain('Asia/Tokyo')
    await act(async () => {
      select.value = 'Asia/Tokyo'
      select.dispatchEvent(new Event('change', { bubbles: true }))
    })
    expect(settings.timeZone()).toBe('Asia/Tokyo')
    expect(store.get('weaver.timeZone')).toBe('Asia/Tokyo')
    expect(el.textContent).toContain('shown in Asia/Tokyo and labelled GMT+9')
  })
})
