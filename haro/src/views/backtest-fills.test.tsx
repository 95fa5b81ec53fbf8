// @vitest-environment jsdom
// The backtest form's fill models: fields map to the `POST /backtests` names, empty ones are left
// out (the reference fills), out-of-range ones are refused before anything is sent, and the
// form posts them.
import { act, createElement as h } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { MemoryRouter } from 'react-router'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { fillRequest, NO_FILLS } from './backtest-fills'
import { Backtests } from './backtests'

;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

let root: Root | null = null
let el: HTMLElement
afterEach(() => {
  act(() => root?.unmount())
  root = null
  el?.remove()
  vi.unstubAllGlobals()
})

describe('fill models', () => {
  it('map to the API names and leave empty fields out', () => {
    expect(fillRequest(NO_FILLS)).toEqual({ ok: true, value: {} })
    const r = fillRequest({ ...NO_FILLS, fill: 'close', volume_share: true, volume_limit: '0.01', remainder: 'cancel', spread_hl: '0.1', latency_bars: '2', commission_model: 'alpaca' })
    expect(r).toEqual({ ok: true, value: { fill: 'close', volume_share: true, volume_limit: 0.01, remainder: 'cancel', spread_hl: 0.1, latency_bars: 2, commission_model: 'alpaca' } })
    // Volume-share settings go only with volume share on (the server refuses them alone).
    expect(fillRequest({ ...NO_FILLS, volume_limit: '0.01', remainder: 'cancel' })).toEqual({ ok: true, value: {} })
  })

  it('refuse values out of the server ranges', () => {
    const r = fillRequest({ ...NO_FILLS, volume_share: true, volume_limit: '1.5', latency_bars: '1.5', spread_hl: '-1' })
    expect(r.ok).toBe(false)
    if (!r.ok) expect(Object.keys(r.errors).sort()).toEqual(['latency_bars', 'spread_hl', 'volume_limit'])
  })

  it('are posted by the launch form', async () => {
    const posted: unknown[] = []
    vi.stubGlobal('fetch', vi.fn(async (url: string, init?: RequestInit) => {
      if (init?.method === 'POST') {
        posted.push(JSON.parse(String(init.body)))
        return new Response(JSON.stringify({ id: 9, status: 'queued' }), { status: 202, headers: { 'content-type': 'application/json' } })
      }
      const body = String(url).includes('/strategies') ? [{ id: 1, name: 'sma-cross', version: '1', status: 'ready' }] : []
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } })
    }))
    el = document.createElement('div')
    document.body.append(el)
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } })
    root = createRoot(el)
    act(() => root!.render(h(QueryClientProvider, { client: qc }, h(MemoryRouter, null, h(Backtests)))))
    const form = () => el.querySelector('form[aria-label="Launch a backtest"]') as HTMLFormElement
    const end = Date.now() + 2000
    while (!form()?.querySelector('option[value="1"]') && Date.now() < end) {
      await act(() => new Promise((r) => setTimeout(r, 10)))
    }
    const change = (sel: string, value: string) => act(() => {
      const input = form().querySelector(sel) as HTMLInputElement | HTMLSelectElement
      const proto = input instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype
      Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(input, value)
      input.dispatchEvent(new Event(input instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }))
    })
    change('select', '1')
    change('input[name=symbols]', 'SYN')
    change('input[name=latency_bars]', '3')
    change('select[name=commission_model]', 'alpaca')
    await act(async () => { form().requestSubmit() })
    const until = Date.now() + 2000
    while (!posted.length && Date.now() < until) await act(() => new Promise((r) => setTimeout(r, 10)))
    expect(posted[0]).toMatchObject({ strategy: 1, symbols: ['SYN'], latency_bars: 3, commission_model: 'alpaca' })
    expect(posted[0]).not.toHaveProperty('volume_share')
  })
})
