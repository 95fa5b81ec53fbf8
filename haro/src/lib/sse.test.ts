import { beforeAll, describe, expect, it } from 'vitest'
import type { UiEvent } from '../api/types'
import { openEventStream, type StreamState } from './sse'

beforeAll(() => {
  // fetch-event-source reaches for window timers and document visibility.
  const g = globalThis as Record<string, unknown>
  g.window ??= globalThis
  g.document ??= { hidden: false, addEventListener() {}, removeEventListener() {} }
})

function sseResponse(text: string): Response {
  return new Response(new Blob([text]).stream(), { status: 200, headers: { 'content-type': 'text/event-stream' } })
}

const event = (cursor: string, type: string) =>
  `id: ${cursor}\nevent: ${type}\ndata: ${JSON.stringify({ cursor, type, ts: '2024-01-01T00:00:00Z', run_id: '1', data: {} })}\n\n`

function memoryStorage() {
  const m = new Map<string, string>()
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) }
}

function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const start = Date.now()
  return new Promise((resolve, reject) => {
    const tick = () => (cond() ? resolve() : Date.now() - start > ms ? reject(new Error('timeout')) : setTimeout(tick, 5))
    tick()
  })
}

describe('openEventStream', () => {
  it('delivers events, resumes with Last-Event-ID after a drop, and stops on 401', async () => {
    const seen: UiEvent[] = []
    const states: StreamState[] = []
    const requests: Record<string, string>[] = []
    const answers = [
      () => sseResponse(event('0-1', 'ui.run.Created') + event('0-2', 'ui.orders.Updated')),
      () => new Response(JSON.stringify({ code: 'unauthorized', message: 'no', details: null, correlation_id: 'c' }), { status: 401 }),
    ]
    const storage = memoryStorage()
    const close = openEventStream({
      headers: () => ({ 'X-API-Key': 'k' }),
      onEvent: (e) => seen.push(e),
      onState: (s) => states.push(s),
      retryMs: 5,
      storage,
      fetch: (async (_url: RequestInfo | URL, init?: RequestInit) => {
        requests.push({ ...(init?.headers as Record<string, string>) })
        return answers[requests.length - 1]()
      }) as typeof fetch,
    })
    await waitFor(() => states.at(-1) === 'unauthorized')
    close()
    expect(seen.map((e) => e.type)).toEqual(['ui.run.Created', 'ui.orders.Updated'])
    expect(requests).toHaveLength(2)
    expect(requests[0]['X-API-Key']).toBe('k')
    expect(requests[0]['last-event-id']).toBeUndefined()
    expect(requests[1]['last-event-id']).toBe('0-2')
    expect(states).toEqual(['connecting', 'live', 'retrying', 'unauthorized'])
    expect(storage.getItem('weaver.events.cursor')).toBe('0-2')
  })

  it('starts from the remembered cursor and reports a server without the feed', async () => {
    const storage = memoryStorage()
    storage.setItem('weaver.events.cursor', '0-9')
    const states: StreamState[] = []
    let sent: Record<string, string> = {}
    openEventStream({
      headers: () => ({}),
      onEvent: () => {},
      onState: (s) => states.push(s),
      storage,
      fetch: (async (_u: RequestInfo | URL, init?: RequestInit) => {
        sent = { ...(init?.headers as Record<string, string>) }
        return new Response(JSON.stringify({ code: 'route_not_found', message: 'no route', details: null, correlation_id: 'c' }), { status: 404 })
      }) as typeof fetch,
    })
    await waitFor(() => states.at(-1) === 'unavailable')
    expect(sent['last-event-id']).toBe('0-9')
  })

  it('forgets a cursor retention overtook and starts again without one', async () => {
    const storage = memoryStorage()
    storage.setItem('weaver.events.cursor', '0-3')
    const states: StreamState[] = []
    const seen: UiEvent[] = []
    const sent: Record<string, string>[] = []
    const close = openEventStream({
      headers: () => ({}),
      onEvent: (e) => seen.push(e),
      onState: (s) => states.push(s),
      retryMs: 5,
      storage,
      fetch: (async (_u: RequestInfo | URL, init?: RequestInit) => {
        sent.push({ ...(init?.headers as Record<string, string>) })
        if (sent.length === 1) {
          const body = { code: 'cursor_expired', message: 'gone', details: { purged_through_id: 7 }, correlation_id: 'c' }
          return new Response(JSON.stringify(body), { status: 410 })
        }
        return sseResponse(event('0-8', 'ui.run.Created'))
      }) as typeof fetch,
    })
    await waitFor(() => seen.length === 1)
    close()
    expect(sent[0]['last-event-id']).toBe('0-3')
    expect(sent[1]['last-event-id']).toBeUndefined()
    expect(states.slice(0, 3)).toEqual(['connecting', 'retrying', 'live'])
    expect(storage.getItem('weaver.events.cursor')).toBe('0-8')
  })

  it('on replay_truncated forgets the cursor, resets, and starts again with the newest events', async () => {
    const storage = memoryStorage()
    storage.setItem('weaver.events.cursor', '0-3')
    const seen: UiEvent[] = []
    const sent: Record<string, string>[] = []
    let resets = 0
    const truncated = `event: replay_truncated\ndata: ${JSON.stringify({ code: 'replay_truncated', message: 'more than 2', details: { after: '0-5', replay_events: 2 } })}\n\n`
    const close = openEventStream({
      headers: () => ({}),
      onEvent: (e) => seen.push(e),
      onState: () => {},
      onReset: () => resets++,
      retryMs: 5,
      storage,
      fetch: (async (_u: RequestInfo | URL, init?: RequestInit) => {
        sent.push({ ...(init?.headers as Record<string, string>) })
        if (sent.length === 1) return sseResponse(event('0-4', 'ui.run.Created') + event('0-5', 'ui.run.Created') + truncated)
        return sseResponse(event('0-90', 'ui.orders.Updated'))
      }) as typeof fetch,
    })
    await waitFor(() => seen.length === 3)
    close()
    expect(sent[0]['last-event-id']).toBe('0-3')
    // Not a resume from 0-5 (still far behind): a fresh start.
    expect(sent[1]['last-event-id']).toBeUndefined()
    expect(resets).toBe(1)
    // The final event is not delivered as a UI event.
    expect(seen.map((e) => e.cursor)).toEqual(['0-4', '0-5', '0-90'])
    expect(storage.getItem('weaver.events.cursor')).toBe('0-90')
  })
})
