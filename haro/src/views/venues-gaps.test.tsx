// @vitest-environment jsdom
// The run form's venue picker (what `GET /venues` offers: `sim-live` only when the server lists
// it) and the candles view's gap report (count in the series table, the list on a series' page).
import { createElement as h, type ReactNode } from 'react'
import { afterEach, describe, expect, it } from 'vitest'
import { mountApp, unmountApp } from '../test/mount'
import type { CandleSeries } from '../api/types'
import { json, routes, until, useStubFetch } from '../test/stub-fetch'
import { Gaps, SeriesTable } from './candles'
import { VenueSelect } from './run-form'

useStubFetch()

let el: HTMLElement
afterEach(unmountApp)

function mount(node: ReactNode) {
  ;({ el } = mountApp(node))
}

const options = () => [...el.querySelectorAll<HTMLOptionElement>('[data-testid=venue-select] option')].map((o) => o.value)
const venue = (name: string, modes: string[]) => ({ name, modes, data: 'live', fills: 'simulated', timeframes: ['1Min'], description: name })

describe('venue picker', () => {
  it('offers sim-live only when the server lists it', async () => {
    routes['GET /venues'] = () => json(200, [venue('sim', ['paper']), venue('alpaca', ['paper']), venue('sim-live', ['paper'])])
    mount(h(VenueSelect, { value: 'sim', onChange: () => {} }))
    await until(() => expect(options()).toEqual(['sim', 'alpaca', 'sim-live']))
  })

  it('offers sim alone without Alpaca', async () => {
    routes['GET /venues'] = () => json(200, [venue('sim', ['paper'])])
    mount(h(VenueSelect, { value: 'sim', onChange: () => {} }))
    await until(() => expect(options()).toEqual(['sim']))
  })
})

const GAPS: NonNullable<CandleSeries['gaps']> = {
  calendar: 'alpaca', missing: 3, count: 2,
  ranges: [{ from: '2024-07-02', to: '2024-07-03', sessions: 2 }, { from: '2024-07-10', to: '2024-07-10', sessions: 1 }],
}

describe('gap report', () => {
  it('shows the count per series and the list of gaps', () => {
    const s: CandleSeries = { symbol: 'GAPS', timeframe: '1Day', first: '2024-07-01T04:00:00Z', last: '2024-07-12T04:00:00Z', count: 7, source: 'download', gaps: GAPS }
    mount(h('div', null, h(SeriesTable, { series: [s, { ...s, symbol: 'WEEKLY', gaps: undefined }] }), h(Gaps, { gaps: GAPS })))
    expect([...el.querySelectorAll('[data-testid=series-gaps]')].map((c) => c.textContent?.trim())).toEqual(['3', '—'])
    const report = el.querySelector('[data-testid=gaps]')!
    expect(report.querySelector('summary')?.textContent).toBe("3 missing sessions in 2 gaps (by Alpaca's trading calendar; holidays are not gaps)")
    expect([...report.querySelectorAll('li')].map((li) => li.textContent)).toEqual(['2024-07-02 – 2024-07-03 (2 sessions)', '2024-07-10'])
  })

  it('says when nothing is missing', () => {
    mount(h(Gaps, { gaps: { calendar: 'utc_days', missing: 0, count: 0, ranges: [] } }))
    expect(el.querySelector('[data-testid=gaps]')?.textContent).toBe('No missing sessions (every UTC day).')
  })
})
