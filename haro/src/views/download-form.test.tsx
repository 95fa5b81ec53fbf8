// @vitest-environment jsdom
// The "Download from Alpaca" form against a stubbed server: what is posted, the job's progress
// while it runs, the series list refreshed with the new series and its adjustment when it is
// done, and field errors (ours and the server's).
import { act, createElement as h } from 'react'
import { afterEach, describe, expect, it } from 'vitest'
import { mountApp, unmountApp } from '../test/mount'
import { json, routes, sent, until, useStubFetch } from '../test/stub-fetch'
import { SeriesTable } from './candles'
import { DownloadForm, fmtEta, validateDownload } from './download-form'
import { useCandleSeries } from '../api/queries'

useStubFetch()

let el: HTMLElement
afterEach(unmountApp)

function Page() {
  const series = useCandleSeries()
  return h('div', null, h(DownloadForm, { pollMs: 20 }), series.data ? h(SeriesTable, { series: series.data }) : null)
}

function mount() {
  ;({ el } = mountApp(h(Page)))
}

const input = (name: string) => el.querySelector<HTMLInputElement | HTMLSelectElement>(`[name="${name}"]`)!
function fill(name: string, value: string) {
  const i = input(name)
  const proto = i instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype
  Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(i, value)
  act(() => { i.dispatchEvent(new Event(i instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true })) })
}
const submit = () => act(() => { el.querySelector('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true })) })

const job = (status: string, progress: object) => ({
  id: 7, kind: 'download', status, spec: {}, created_at: '2026-01-01T00:00:00Z', error: null,
  progress: { bars: 0, pages: 0, symbols_done: 0, symbols_total: 2, symbol: null, eta_seconds: null, ...progress },
})

describe('DownloadForm', () => {
  it('starts a job, shows its progress and lists the new series with its adjustment when done', async () => {
    let polls = 0
    let stored: unknown[] = []
    routes['GET /candles/series'] = () => json(200, stored)
    routes['POST /candles/download'] = () => json(202, job('queued', {}))
    routes['GET /jobs/7'] = () => {
      polls += 1
      if (polls < 4) return json(200, job('running', { bars: 1000 * polls, pages: polls, symbols_done: 1, symbol: 'MSFT', eta_seconds: 65 }))
      stored = [{ symbol: 'AAPL', timeframe: '1Day', first: '2024-01-02T05:00:00Z', last: '2024-06-28T04:00:00Z', count: 124, source: 'download', adjustment: 'all' }]
      return json(200, job('done', { bars: 5000, pages: 5, symbols_done: 2, eta_seconds: 0 }))
    }
    mount()
    fill('symbols', 'aapl, msft')
    fill('start', '2024-01-02')
    fill('end', '2024-06-28')
    fill('adjustment', 'split')
    submit()
    await until(() => expect(sent.find((r) => r.method === 'POST')).toBeTruthy())
    expect(sent.find((r) => r.method === 'POST')!.body).toEqual({
      symbols: ['AAPL', 'MSFT'], timeframe: '1Day', start: '2024-01-02', end: '2024-06-28', adjustment: 'split',
    })
    await until(() => expect(el.querySelector('[data-testid="download-progress"]')!.textContent).toContain('running'))
    const running = el.querySelector('[data-testid="download-progress"]')!.textContent!
    expect(running).toMatch(/\d,000 bars · \d pages · 1\/2 symbols · MSFT · ETA 1 min 5 s/)
    await until(() => expect(el.querySelector('[data-testid="download-progress"]')!.textContent).toContain('done'))
    expect(el.querySelector('[data-testid="download-progress"]')!.textContent).toContain('5,000 bars · 5 pages · 2/2 symbols')
    await until(() => expect(el.querySelector('[data-testid="series-adjustment"]')?.textContent).toBe('all'))
    const pollsAtDone = polls
    await act(() => new Promise((r) => setTimeout(r, 100)))
    expect(polls).toBe(pollsAtDone) // no polling once done
  })

  it('shows our field errors without posting, and the server\'s under its field', async () => {
    routes['GET /candles/series'] = () => json(200, [])
    mount()
    fill('start', '2024-02-01')
    fill('end', '2024-01-01')
    submit()
    await until(() => expect(el.textContent).toContain('Name at least one symbol.'))
    expect(el.textContent).toContain('The last day is before the first.')
    expect(sent.some((r) => r.method === 'POST')).toBe(false)

    routes['POST /candles/download'] = () =>
      json(409, { code: 'alpaca_not_configured', message: 'Alpaca is not configured: set APCA_API_KEY_ID and APCA_API_SECRET_KEY', details: {}, correlation_id: 'c1' })
    fill('symbols', 'AAPL')
    fill('end', '2024-03-01')
    submit()
    await until(() => expect(el.textContent).toContain('APCA_API_KEY_ID'))
    routes['POST /candles/download'] = () =>
      json(422, { code: 'invalid_download', message: 'symbols must name 1–50 symbols', details: { field: 'symbols' }, correlation_id: 'c2' })
    submit()
    await until(() => expect(el.querySelector('[role="alert"]')?.textContent).toContain('symbols must name 1–50 symbols'))
  })

  it('describes the adjustment chosen, not always `all`', async () => {
    routes['GET /candles/series'] = () => json(200, [])
    mount()
    expect(el.textContent).toContain('all: split- and dividend-adjusted prices.')
    for (const [value, text] of [['raw', 'raw: prices as traded'], ['split', 'split: adjusted for splits only'], ['dividend', 'dividend: adjusted for dividends only']]) {
      fill('adjustment', value)
      expect(el.textContent).toContain(text)
      expect(el.textContent).not.toContain('all: split- and dividend-adjusted prices.')
    }
  })

  it('validates like the server', () => {
    const base = { symbols: 'AAPL', timeframe: '1Day', start: '2024-01-01', end: '2024-01-31', feed: '', adjustment: 'all' }
    expect(validateDownload(base).ok).toBe(true)
    const many = validateDownload({ ...base, symbols: Array.from({ length: 51 }, (_, i) => `S${i}`).join(',') })
    expect(many.ok ? null : many.errors.symbols).toContain('At most 50')
    expect(fmtEta(40)).toBe('40 s')
    expect(fmtEta(null)).toBe('—')
  })
})
