// @vitest-environment jsdom
// The backtests list against a stubbed server: a queued backtest says what it waits for (memory
// or a slot, and its place in the queue), a running or finished one does not.
import { act, createElement as h } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { MemoryRouter } from 'react-router'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Backtest } from '../api/types'
import { Backtests, queueNote } from './backtests'

;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

const row = (id: number, status: string, extra: Partial<Backtest> = {}): Backtest => ({
  id, status, error: null, report: null, config: { strategy: 'sma-cross', symbols: ['BIG'], timeframe: '1Min' },
  created_at: '2026-12-05T23:00:00Z', memory_estimate_mb: 830, waiting_for: null, queue_position: null, ...extra,
})

const rows = [
  row(3, 'queued', { waiting_for: 'memory', queue_position: 2 }),
  row(2, 'queued', { waiting_for: 'slot', queue_position: 1 }),
  row(1, 'running'),
]

let root: Root | null = null
let el: HTMLElement
beforeEach(() => {
  vi.stubGlobal('fetch', vi.fn(async () =>
    new Response(JSON.stringify(rows), { status: 200, headers: { 'content-type': 'application/json' } })))
})
afterEach(() => {
  act(() => root?.unmount())
  root = null
  el?.remove()
  vi.unstubAllGlobals()
})

describe('queued backtests', () => {
  it('say what they wait for', () => {
    expect(queueNote(rows[0])).toBe('waiting for memory, #2 in queue')
    expect(queueNote(rows[1])).toBe('waiting for a free slot, #1 in queue')
    expect(queueNote(rows[2])).toBeNull()
    expect(queueNote(row(4, 'done', { waiting_for: 'memory' }))).toBeNull()
  })

  it('show it in the list', async () => {
    el = document.createElement('div')
    document.body.append(el)
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } })
    root = createRoot(el)
    act(() => root!.render(h(QueryClientProvider, { client: qc }, h(MemoryRouter, null, h(Backtests)))))
    const end = Date.now() + 2000
    while (!el.querySelector('[data-testid=backtests-table]') && Date.now() < end) {
      await act(() => new Promise((r) => setTimeout(r, 10)))
    }
    const cells = [...el.querySelectorAll('tbody tr')].map((tr) => tr.children[5].textContent)
    expect(cells).toEqual(['queued (waiting for memory, #2 in queue)', 'queued (waiting for a free slot, #1 in queue)', 'running'])
  })
})
