// The tab's one connection to `GET /events/stream`. It is fetch-based (not EventSource) because
// the server authenticates the stream with the X-API-Key header, which EventSource cannot send.
// It resumes with `Last-Event-ID` after any drop, and remembers the cursor in sessionStorage so a
// reload resumes too. Without a cursor the server starts with its newest events (the replay cap,
// WEAVER_SSE_REPLAY_EVENTS). A cursor the server's retention has overtaken (410 `cursor_expired`),
// or one further behind than the cap (the stream ends with a `replay_truncated` event), is
// forgotten: the tab refetches its data (onReset) and the stream starts again without a cursor,
// since replaying thousands of stale events would only invalidate what a refetch brings anyway.
import { fetchEventSource, EventStreamContentType } from '@microsoft/fetch-event-source'
import type { UiEvent } from '../api/types'
import { errorFrom } from '../api/client'

export type StreamState = 'connecting' | 'live' | 'retrying' | 'unauthorized' | 'unavailable'

export interface StreamOptions {
  url?: string
  headers: () => Record<string, string>
  onEvent: (ev: UiEvent) => void
  onState: (s: StreamState) => void
  /** The tab missed events (its cursor expired or was too far behind): refetch what it shows. */
  onReset?: () => void
  /** Milliseconds between reconnection attempts. */
  retryMs?: number
  fetch?: typeof fetch
  storage?: Pick<Storage, 'getItem' | 'setItem'> | null
}

const CURSOR = 'weaver.events.cursor'
/** The final event of a stream whose cursor was further behind than the server replays. */
export const REPLAY_TRUNCATED = 'replay_truncated'

/** The cursor is expired or too far behind: start again without it. */
class Expired extends Error {}

class Fatal extends Error {
  readonly state: StreamState
  constructor(state: StreamState) {
    super(state)
    this.state = state
  }
}

/** Opens the stream; returns a function that closes it for good. */
export function openEventStream(o: StreamOptions): () => void {
  const ctrl = new AbortController()
  const storage = o.storage === undefined ? safeSession() : o.storage
  o.onState('connecting')
  const connect = (cursor: string | null) => {
    const headers: Record<string, string> = { accept: EventStreamContentType, ...o.headers() }
    // fetch-event-source keeps this same lowercase key up to date as ids arrive and sends it on
    // every reconnect.
    if (cursor) headers['last-event-id'] = cursor
    fetchEventSource(o.url ?? '/events/stream', {
      signal: ctrl.signal,
      headers,
      fetch: o.fetch,
      async onopen(res) {
        if (res.ok && res.headers.get('content-type')?.startsWith(EventStreamContentType)) {
          o.onState('live')
          return
        }
        const err = await errorFrom(res)
        if (res.status === 401) throw new Fatal('unauthorized')
        if (err.missingRoute) throw new Fatal('unavailable')
        if (err.code === 'cursor_expired') throw new Expired(err.message)
        throw err // retried
      },
      onmessage(msg) {
        if (msg.event === REPLAY_TRUNCATED) throw new Expired(REPLAY_TRUNCATED)
        if (!msg.data) return
        try {
          const ev = JSON.parse(msg.data) as UiEvent
          if (msg.id) storage?.setItem(CURSOR, msg.id)
          o.onEvent(ev)
        } catch {
          // a malformed event is skipped; the next one carries its own cursor
        }
      },
      onclose() {
        // The server ended the stream (shutdown): onerror reconnects after the retry delay.
        throw new Error('stream closed')
      },
      onerror(err) {
        if (err instanceof Fatal) {
          o.onState(err.state)
          throw err // stops retrying; a new key opens a new stream
        }
        if (err instanceof Expired) throw err // this connection ends; a fresh one starts below
        o.onState('retrying')
        return o.retryMs ?? 3000
      },
    }).catch((err) => {
      if (err instanceof Expired && !ctrl.signal.aborted) {
        storage?.setItem(CURSOR, '')
        o.onState('retrying')
        o.onReset?.()
        connect(null)
      }
      // Fatal or aborted: the state was already reported.
    })
  }
  connect(storage?.getItem(CURSOR) || null)
  return () => ctrl.abort()
}

function safeSession(): Pick<Storage, 'getItem' | 'setItem'> | null {
  try {
    return globalThis.sessionStorage ?? null
  } catch {
    return null
  }
}
