import { QueryClient } from '@tanstack/react-query'
import { ApiError } from '../api/client'

/** Slow fallback polling, only while the event stream is not live. */
const FALLBACK_MS = 30_000
let streamLive = false
let reachable = true
export function setStreamLive(live: boolean) {
  streamLive = live
}
/** The layout's health probe: whether the server answers (a stream that looks open may not). */
export function setServerReachable(up: boolean) {
  reachable = up
}

/** The default refetch interval: none while the stream is live and the server answers, else the
 * slow fallback. */
export const fallbackInterval = (): number | false => (streamLive && reachable ? false : FALLBACK_MS)

export function makeQueryClient() {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 5_000,
        // Client errors (4xx: missing route, bad key, unknown id) will not heal by retrying.
        retry: (n, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && n < 2,
        refetchOnWindowFocus: false,
        // Evaluated after every fetch, so it follows the stream's state without re-rendering.
        refetchInterval: fallbackInterval,
      },
    },
  })
}
