// @vitest-environment jsdom
// The replay result on a run's page: an identical replay, and a difference with both sides.
import { act, createElement as h } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ReplayResult } from './run-detail'

;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

let root: Root
let el: HTMLDivElement

beforeEach(() => {
  el = document.createElement('div')
  document.body.append(el)
  root = createRoot(el)
})

afterEach(() => {
  act(() => root.unmount())
  el.remove()
})

describe('ReplayResult', () => {
  it('says an identical replay is identical, with the counts', () => {
    act(() => root.render(h(ReplayResult, {
      report: { identical: true, decisions_compared: 1257, recorded: 1257, replayed: 1257, first_mismatch: null },
    })))
    const text = el.querySelector('[data-testid="replay-result"]')?.textContent ?? ''
    expect(text).toContain('Replay identical')
    expect(text).toContain('1257 decisions compared · 1257 recorded · 1257 replayed')
    expect(text).not.toContain('First difference')
  })

  it('shows the first difference with the recorded and replayed intents', () => {
    act(() => root.render(h(ReplayResult, {
      report: {
        identical: false, decisions_compared: 10, recorded: 10, replayed: 11,
        first_mismatch: {
          index: 4, bar_ts: '2024-05-01T00:00:00Z', replayed_bar_ts: null,
          recorded: [], replayed: [{ intent: 'log', level: 'info', message: 'hi' }],
        },
      },
    })))
    const result = el.querySelector('[data-testid="replay-result"]')!
    expect(result.className).toBe('error')
    expect(result.textContent).toContain('Replay differs')
    expect(result.textContent).toContain('First difference: decision 4')
    const pre = result.querySelector('pre')!.textContent!
    expect(pre).toContain('recorded: []')
    expect(pre).toContain('replayed: [{"intent":"log","level":"info","message":"hi"}]')
  })

  it('names a decision only one side made', () => {
    act(() => root.render(h(ReplayResult, {
      report: {
        identical: false, decisions_compared: 3, recorded: 4, replayed: 3,
        first_mismatch: { index: 3, bar_ts: null, replayed_bar_ts: null, recorded: [], replayed: null },
      },
    })))
    expect(el.querySelector('pre')!.textContent).toContain('replayed: (no decision)')
  })
})
