// @vitest-environment jsdom
// The run form's bar options on Alpaca: checked before sending (a bad warm-up is an error under
// its field, never the server's default), left out when at their defaults, and not offered
// where they do not apply.
import { act, createElement as h } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { afterEach, describe, expect, it } from 'vitest'
import { BarOptionFields, barOptionsOf, NO_BAR_OPTIONS, takesBarOptions } from './run-form'

;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

let root: Root | null = null
let el: HTMLElement
afterEach(() => {
  act(() => root?.unmount())
  root = null
  el?.remove()
})

describe('bar options', () => {
  it('sends only what differs from the defaults, on alpaca only', () => {
    expect(barOptionsOf('alpaca', NO_BAR_OPTIONS)).toEqual({ ok: true, value: {} })
    expect(barOptionsOf('alpaca', { extendedHours: true, emptyBars: 'carry', warmup: ' 20 ' }))
      .toEqual({ ok: true, value: { extended_hours: true, empty_bars: 'carry', warmup: 20 } })
    expect(barOptionsOf('alpaca', { ...NO_BAR_OPTIONS, warmup: '0' })).toEqual({ ok: true, value: { warmup: 0 } })
    expect(barOptionsOf('sim', { extendedHours: true, emptyBars: 'carry', warmup: 'x' })).toEqual({ ok: true, value: {} })
    expect(takesBarOptions('sim-live')).toBe(false)
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
