// The one HTTP client: adds X-API-Key, parses JSON, and turns every non-2xx answer into an
// ApiError carrying the server's {code, message, details, correlation_id}.
import { settings } from '../lib/settings'

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly details: unknown
  readonly correlationId: string | null

  constructor(status: number, code: string, message: string, details: unknown, correlationId: string | null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.details = details
    this.correlationId = correlationId
  }

  /** The server has no such route: an endpoint this server version does not offer yet. */
  get missingRoute(): boolean {
    return this.status === 404 && this.code === 'route_not_found'
  }

  get unauthorized(): boolean {
    return this.status === 401
  }
}

/** Builds an ApiError from a failed response (the error model when present, else the status). */
export async function errorFrom(res: Response): Promise<ApiError> {
  const header = res.headers.get('x-request-id')
  let body: unknown = null
  try {
    body = await res.json()
  } catch {
    // not JSON (a proxy's error page): fall back to the status text
  }
  const b = (body ?? {}) as Record<string, unknown>
  const text = (k: string) => (typeof b[k] === 'string' ? (b[k] as string) : null)
  return new ApiError(
    res.status,
    text('code') ?? `http_${res.status}`,
    text('message') ?? (res.statusText || `HTTP ${res.status}`),
    b.details ?? null,
    text('correlation_id') ?? header,
  )
}

export function authHeaders(): Record<string, string> {
  const key = settings.apiKey()
  return key ? { 'X-API-Key': key } : {}
}

/** Query string from an object, skipping empty values. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v))
  const s = p.toString()
  return s ? `?${s}` : ''
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...authHeaders() }
  let payload: BodyInit | undefined
  if (body instanceof FormData || body instanceof Blob) payload = body
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json'
    payload = JSON.stringify(body)
  }
  let res: Response
  try {
    res = await fetch(path, { method, headers, body: payload })
  } catch (e) {
    throw new ApiError(0, 'network_error', `cannot reach the server (${String(e)})`, null, null)
  }
  if (!res.ok) throw await errorFrom(res)
  if (res.status === 204) return undefined as T
  try {
    return (await res.json()) as T
  } catch {
    throw new ApiError(res.status, 'invalid_response', `${path} did not answer JSON`, null, res.headers.get('x-request-id'))
  }
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, body),
  patch: <T>(path: string, body?: unknown) => request<T>('PATCH', path, body),
  del: <T>(path: string) => request<T>('DELETE', path),
}
