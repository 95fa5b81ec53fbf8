// @vitest-environment jsdom
// The StreamProvider hook end to end in a DOM: one stream per tab, events invalidate the matching
// queries (batched), the feed keeps non-bar events, and a new API key reopens the stream.
import { act, createElement, type ReactNode } from 'react'
import { createRoot } from 'react-dom/client'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { StreamProvider, useStream } from './stream'
import { settings } from '../lib/settings'

;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

const event = (cursor: string, type: string, run: string | null) =>
  `id: ${cursor}\nevent: ${type}\ndata: ${JSON.stringify({ cursor, type, ts: '2024-01-01T00:00:00Z', run_id: run, data: {} })}\n\n`

/** A stream response that stays open after `text`, like the server's. */
function openStream(text: string): Response {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode(text))
    },
  })
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } })
}

let seen: ReturnType<typeof useStream> = { state: 'connecting', events: [] }
function Probe() {
  seen = useStream()
  return null
}

function mount(qc: QueryClient, children: ReactNode) {
  const el = document.createElement('div')
  const root = createRoot(el)
  act(() => root.render(createElement(QueryClientProvider, { client: qc }, createElement(StreamProvider, null, children))))
  return root
}

beforeEach(() => {
  sessionStorage.clear()
  localStorage.clear()
  vi.useFakeTimers({ shouldAdvanceTime: true })
})
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('StreamProvider', () => {
  it('opens one stream, invalidates the queries events touch, and reopens on a new key', async () => {
    // Fake time only: with time also advancing as the wall clock does, a loaded machine (CI
    // runs this beside schemathesis) let the query batch's timer fire before the assertion
    // that it has not yet.
    vi.useFakeTimers({ shouldAdvanceTime: false })
    const calls: Record<string, string>[] = []
    vi.stubGlobal('fetch', vi.fn(async (_u: RequestInfo | URL, init?: RequestInit) => {
      calls.push({ ...(init?.headers as Record<string, string>) })
      return openStream(event('0-1', 'ui.orders.Updated', '4') + event('0-2', 'ui.market.Bar', '4') + event('0-3', 'ui.backtest.StatusChanged', null))
    }))
    const qc = new QueryClient()
    const invalidate = vi.spyOn(qc, 'invalidateQueries')
    const root = mount(qc, createElement(Probe))
    await act(async () => {
      await vi.advanceTimersByTimeAsync(50)
    })
    expect(seen.state).toBe('live')
    expect(calls).toHaveLength(1)
    // The feed takes events in batches (one render per batch, not per event).
    expect(seen.events).toEqual([])
    await act(async () => {
      await vi.advanceTimersByTimeAsync(220)
    })
    // The feed skips bars; newest first.
    expect(seen.events.map((e) => e.type)).toEqual(['ui.backtest.StatusChanged', 'ui.orders.Updated'])
    expect(invalidate).not.toHaveBeenCalled() // batched
    await act(async () => {
      await vi.advanceTimersByTimeAsync(400)
    })
    const keys = invalidate.mock.calls.map((c) => JSON.stringify(c[0]?.queryKey))
    expect(keys).toEqual(expect.arrayContaining(['["orders"]', '["run","4"]', '["backtests"]', '["accounts"]']))
    expect(new Set(keys).size).toBe(keys.length) // each key once per batch

    // A new key: the old stream closes, a new one resumes from the last cursor with the key.
    await act(async () => {
      settings.setApiKey('new-key-0123456789')
      await vi.advanceTimersByTimeAsync(50)
    })
    expect(calls).toHaveLength(2)
    expect(calls[1]['X-API-Key']).toBe('new-key-0123456789')
    expect(calls[1]['last-event-id']).toBe('0-3')
    act(() => root.unmount())
  })

  it('reports a refused key and does not retry until the key changes', async () => {
    const fetch = vi.fn(async () => new Response(JSON.stringify({ code: 'unauthorized', message: 'no', details: null, correlation_id: 'c' }), { status: 401 }))
    vi.stubGlobal('fetch', fetch)
    const root = mount(new QueryClient(), createElement(Probe))
    await act(async () => {
      await vi.advanceTimersByTimeAsync(10_000)
    })
    expect(seen.state).toBe('unauthorized')
    expect(fetch).toHaveBeenCalledTimes(1)
    act(() => root.unmount())
  })

  it('refetches every query and restarts without a cursor when the replay was truncated', async () => {
    sessionStorage.setItem('weaver.events.cursor', '0-1')
    const calls: Record<string, string>[] = []
    const truncated = `event: replay_truncated\ndata: ${JSON.stringify({ code: 'replay_truncated', message: 'm', details: { after: '0-2', replay_events: 1 } })}\n\n`
    vi.stubGlobal('fetch', vi.fn(async (_u: RequestInfo | URL, init?: RequestInit) => {
      calls.push({ ...(init?.headers as Record<string, string>) })
      return calls.length === 1
        ? new Response(event('0-2', 'ui.orders.Updated', '4') + truncated, { status: 200, headers: { 'content-type': 'text/event-stream' } })
        : openStream(event('0-50', 'ui.backtest.StatusChanged', null))
    }))
    const qc = new QueryClient()
    const invalidate = vi.spyOn(qc, 'invalidateQueries')
    const root = mount(qc, createElement(Probe))
    await act(async () => {
      await vi.advanceTimersByTimeAsync(300)
    })
    expect(calls).toHaveLength(2)
    expect(calls[0]['last-event-id']).toBe('0-1')
    expect(calls[1]['last-event-id']).toBeUndefined()
    // invalidateQueries() with no filter: everything shown is refetched.
    expect(invalidate).toHaveBeenCalledWith()
    expect(seen.state).toBe('live')
    expect(seen.events.map((e) => e.cursor)).toEqual(['0-50', '0-2'])
    expect(sessionStorage.getItem('weaver.events.cursor')).toBe('0-50')
    act(() => root.unmount())
  })
})
