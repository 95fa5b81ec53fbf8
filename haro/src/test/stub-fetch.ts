// A stubbed server for view tests: `fetch` answers from `routes` ("METHOD /path" → handler) and
// records every request in `sent`; anything else is the API's 404 `route_not_found`.
// `useStubFetch()` installs it around each test of the file that calls it.
import { act } from 'react'
import { afterEach, beforeEach, vi } from 'vitest'

export const json = (status: number, body: unknown) =>
  new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

/** Answers a request: its JSON body (or FormData) and its whole URL (query parameters). */
export type Handler = (body: unknown, url: URL) => Response

/** The stubbed routes of the current test (emptied before each). */
export const routes: Record<string, Handler> = {}
/** Every request the current test made, in order (emptied before each). */
export const sent: { method: string; path: string; body: unknown; url: URL }[] = []

export function useStubFetch() {
  beforeEach(() => {
    for (const k of Object.keys(routes)) delete routes[k]
    sent.length = 0
    vi.stubGlobal('fetch', vi.fn(async (url: string, init?: RequestInit) => {
      const method = init?.method ?? 'GET'
      const path = url.split('?')[0]
      const body = typeof init?.body === 'string' ? JSON.parse(init.body) : init?.body
      const whole = new URL(url, 'http://localhost')
      sent.push({ method, path, body, url: whole })
      const r = routes[`${method} ${path}`]
      return r ? r(body, whole) : json(404, { code: 'route_not_found', message: 'no route' })
    }))
  })
  afterEach(() => vi.unstubAllGlobals())
}

/** Waits (up to `ms`) until `check` stops throwing, letting React work in between. */
export async function until(check: () => void, ms = 2000) {
  const end = Date.now() + ms
  for (;;) {
    try {
      check()
      return
    } catch (e) {
      if (Date.now() > end) throw e
    }
    await act(() => new Promise((r) => setTimeout(r, 10)))
  }
}
