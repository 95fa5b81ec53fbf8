import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { api, ApiError, qs } from './client'
import { settings } from '../lib/settings'

const store = new Map<string, string>()
beforeEach(() => {
  store.clear()
  vi.stubGlobal('localStorage', {
    getItem: (k: string) => store.get(k) ?? null,
    setItem: (k: string, v: string) => void store.set(k, v),
    removeItem: (k: string) => void store.delete(k),
  })
})
afterEach(() => vi.unstubAllGlobals())

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })

describe('api client', () => {
  it('sends the stored key and JSON bodies', async () => {
    settings.setApiKey('  secret-key  ')
    const fetch = vi.fn(async () => json(201, { id: 3 }))
    vi.stubGlobal('fetch', fetch)
    await expect(api.post('/runs', { a: 1 })).resolves.toEqual({ id: 3 })
    const [path, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect(path).toBe('/runs')
    const h = init.headers as Record<string, string>
    expect(h['X-API-Key']).toBe('secret-key')
    expect(h['Content-Type']).toBe('application/json')
    expect(init.body).toBe('{"a":1}')
  })

  it('omits the key header when none is stored', async () => {
    const fetch = vi.fn(async () => json(200, []))
    vi.stubGlobal('fetch', fetch)
    await api.get('/runs')
    const init = (fetch.mock.calls[0] as unknown as [string, RequestInit])[1]
    expect((init.headers as Record<string, string>)['X-API-Key']).toBeUndefined()
  })

  it('turns the error model into an ApiError with the correlation id', async () => {
    vi.stubGlobal('fetch', async () =>
      json(422, { code: 'invalid_component', message: 'not a component', details: null, correlation_id: 'abc-123' }))
    const err = (await api.get('/x').catch((e) => e)) as ApiError
    expect(err).toBeInstanceOf(ApiError)
    expect(err.status).toBe(422)
    expect(err.code).toBe('invalid_component')
    expect(err.message).toBe('not a component')
    expect(err.correlationId).toBe('abc-123')
    expect(err.missingRoute).toBe(false)
  })

  it('recognises a route the server does not have yet, and non-JSON errors', async () => {
    vi.stubGlobal('fetch', async () => json(404, { code: 'route_not_found', message: 'no route', details: null, correlation_id: 'c' }))
    expect(((await api.get('/accounts').catch((e) => e)) as ApiError).missingRoute).toBe(true)
    vi.stubGlobal('fetch', async () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway', headers: { 'x-request-id': 'r-1' } }))
    const err = (await api.get('/runs').catch((e) => e)) as ApiError
    expect(err.code).toBe('http_502')
    expect(err.message).toBe('Bad Gateway')
    expect(err.correlationId).toBe('r-1')
    vi.stubGlobal('fetch', async () => { throw new TypeError('Failed to fetch') })
    expect(((await api.get('/runs').catch((e) => e)) as ApiError).code).toBe('network_error')
  })

  it('builds query strings without empty values', () => {
    expect(qs({ run: '3', symbol: '', status: undefined, limit: 10 })).toBe('?run=3&limit=10')
    expect(qs({})).toBe('')
  })
})
