// @vitest-environment jsdom
// The run form's bar options on Alpaca's live bars (`alpaca` and `sim-live`): checked before
// sending (a bad warm-up is an error under its field, never the server's default), left out when
// at their defaults, and not offered where they do not apply (`sim`).
import { act, createElement as h } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { MemoryRouter } from 'react-router'
import { afterEach, describe, expect, it } from 'vitest'
import { json, routes, sent, until, useStubFetch } from '../test/stub-fetch'
import { BarOptionFields, barOptionsOf, NO_BAR_OPTIONS, takesBarOptions } from './run-form'
import { Runs } from './runs'

;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true
useStubFetch()

let root: Root | null = null
let el: HTMLElement
afterEach(() => {
  act(() => root?.unmount())
  root = null
  el?.remove()
})

describe('bar options', () => {
  it('sends only what differs from the defaults, on alpaca and sim-live only', () => {
    expect(barOptionsOf('alpaca', NO_BAR_OPTIONS)).toEqual({ ok: true, value: {} })
    expect(barOptionsOf('alpaca', { extendedHours: true, emptyBars: 'carry', warmup: ' 20 ' }))
      .toEqual({ ok: true, value: { extended_hours: true, empty_bars: 'carry', warmup: 20 } })
    expect(barOptionsOf('alpaca', { ...NO_BAR_OPTIONS, warmup: '0' })).toEqual({ ok: true, value: { warmup: 0 } })
    expect(barOptionsOf('sim', { extendedHours: true, emptyBars: 'carry', warmup: 'x' })).toEqual({ ok: true, value: {} })
    expect(takesBarOptions('sim-live')).toBe(true)
    expect(barOptionsOf('sim-live', { ...NO_BAR_OPTIONS, warmup: '30' })).toEqual({ ok: true, value: { warmup: 30 } })
    expect(takesBarOptions('sim')).toBe(false)
  })

  it('refuses a warm-up the API would refuse', () => {
    for (const bad of ['abc', '-1', '2.5', '10001']) {
      const r = barOptionsOf('alpaca', { ...NO_BAR_OPTIONS, warmup: bad })
      expect(r.ok, bad).toBe(false)
    }
    expect(barOptionsOf('alpaca', { ...NO_BAR_OPTIONS, warmup: '10001' })).toEqual({ ok: false, error: '10000 or less' })
  })

  it('shows the fields and the warm-up error, and reports changes', () => {
    el = document.createElement('div')
    document.body.append(el)
    const changes: unknown[] = []
    root = createRoot(el)
    act(() => root!.render(h(BarOptionFields, { values: NO_BAR_OPTIONS, error: 'a whole number', onChange: (v) => changes.push(v) })))
    expect(el.querySelector('[data-testid=error-warmup]')?.textContent).toBe('a whole number')
    const box = el.querySelector<HTMLInputElement>('input[name=extended_hours]')!
    act(() => box.click())
    expect(changes).toEqual([{ ...NO_BAR_OPTIONS, extendedHours: true }])
    expect([...el.querySelectorAll('select[name=empty_bars] option')].map((o) => (o as HTMLOptionElement).value)).toEqual(['skip', 'carry'])
  })
})

describe('the run form on sim-live', () => {
  const $ = <T extends Element = HTMLElement>(sel: string) => el.querySelector<T>(sel)
  function type(input: HTMLInputElement | HTMLSelectElement, value: string) {
    act(() => {
      const proto = input instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype
      Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(input, value)
      input.dispatchEvent(new Event(input instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }))
    })
  }
  const venue = (name: string) => ({ name, modes: ['paper'], data: 'live', fills: 'simulated', timeframes: ['1Min', '5Min'], description: name })

  it('offers the bar options and sends the warm-up with the run', async () => {
    routes['GET /strategies'] = () => json(200, [{ id: 1, name: 'sma-cross', version: 'abc', sha256: 'ab'.repeat(32), status: 'ready', size_bytes: 10, created_at: '2026-01-01T00:00:00Z' }])
    routes['GET /runs'] = () => json(200, [])
    routes['GET /venues'] = () => json(200, [venue('sim'), venue('alpaca'), venue('sim-live')])
    routes['POST /runs'] = () => json(201, { id: 7 })
    el = document.createElement('div')
    document.body.append(el)
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } })
    root = createRoot(el)
    act(() => root!.render(h(QueryClientProvider, { client: qc }, h(MemoryRouter, null, h(Runs)))))
    await until(() => expect($('[data-testid=strategy-select] option[value="1"]')).not.toBeNull())
    await until(() => expect($('[data-testid=venue-select] option[value=sim-live]')).not.toBeNull())
    expect($('[data-testid=bar-options]')).toBeNull()
    type($<HTMLSelectElement>('[data-testid=strategy-select]')!, '1')
    type($<HTMLSelectElement>('[data-testid=venue-select]')!, 'sim-live')
    type($<HTMLInputElement>('input[name=symbols]')!, 'spy')
    type([...el.querySelectorAll<HTMLSelectElement>('select')].find((s) => [...s.options].some((o) => o.value === '5Min'))!, '5Min')
    expect($('[data-testid=bar-options]')).not.toBeNull()
    // A bad warm-up is refused at its field, nothing sent.
    type($<HTMLInputElement>('input[name=warmup]')!, '-1')
    act(() => $<HTMLFormElement>('form')!.requestSubmit())
    expect($('[data-testid=error-warmup]')).not.toBeNull()
    expect(sent.some((s) => s.method === 'POST')).toBe(false)
    type($<HTMLInputElement>('input[name=warmup]')!, '20')
    act(() => $<HTMLFormElement>('form')!.requestSubmit())
    await until(() => expect(sent.find((s) => s.method === 'POST')?.body)
      .toEqual({ strategy: 1, mode: 'paper', venue: 'sim-live', symbols: ['SPY'], timeframe: '5Min', warmup: 20 }))
  })
})
