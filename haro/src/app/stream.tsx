// The tab's event stream as React state: one connection (opened by <StreamProvider>), its
// status for the live/stale indicator, the latest events for the feed, and query invalidation.
import { createContext, useContext, useEffect, useState, useSyncExternalStore, type ReactNode } from 'react'
import { useQueryClient } from '@tanstack/react-query'
import type { UiEvent } from '../api/types'
import { authHeaders } from '../api/client'
import { createBatcher, createBuffer, feedAdd, keysForEvent } from '../lib/events'
import { openEventStream, type StreamState } from '../lib/sse'
import { settings } from '../lib/settings'
import { setStreamLive } from './query-client'

interface StreamInfo {
  state: StreamState
  events: UiEvent[]
}

const Ctx = createContext<StreamInfo>({ state: 'connecting', events: [] })
const FEED = 50
/** Most often the feed re-renders, ms: a paced run emits dozens of events a second, and one
 * render per event fell tens of seconds behind the stream on a busy machine. */
const FEED_FLUSH_MS = 250

export function StreamProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient()
  const apiKey = useSyncExternalStore(settings.subscribe, settings.apiKey)
  const [info, setInfo] = useState<StreamInfo>({ state: 'connecting', events: [] })

  useEffect(() => {
    const batch = createBatcher((keys) => keys.forEach((queryKey) => qc.invalidateQueries({ queryKey })))
    // Events for the feed, oldest first, added to it together at most every FEED_FLUSH_MS.
    const feed = createBuffer<UiEvent>(
      (add) => setInfo((i) => ({ ...i, events: add.reduce((events, e) => feedAdd(events, e, FEED), i.events) })),
      FEED_FLUSH_MS,
    )
    const close = openEventStream({
      headers: authHeaders,
      onState: (state) => setInfo((i) => ({ ...i, state })),
      // Events were missed (the stream restarts from the newest): refetch everything shown.
      onReset: () => void qc.invalidateQueries(),
      onEvent: (ev) => {
        batch.add(keysForEvent(ev))
        // Bars are too frequent to be interesting in the feed.
        if (!ev.type.startsWith('ui.market.')) feed.add([ev])
      },
    })
    return () => {
      close()
      batch.cancel()
      feed.cancel()
    }
    // A new key opens a new stream (the old one may have stopped on 401).
  }, [qc, apiKey])

  useEffect(() => setStreamLive(info.state === 'live'), [info.state])

  return <Ctx.Provider value={info}>{children}</Ctx.Provider>
}

export const useStream = () => useContext(Ctx)
