// Candles: the stored series (sample data badged, downloads with their price adjustment), the
// bars of the one picked (a chart that loads older windows of 10,000 bars as it is scrolled left,
// and a pager from the newest window to the first with each window's span and latest bars), and
// the ways to add candles (sample data, CSV import, synthetic series, a download from Alpaca as a
// background job).
import { useEffect, useMemo, useState } from 'react'
import { Link, useNavigate, useSearchParams } from 'react-router'
import { CANDLE_PAGE, joinPages, olderLoader, useCandlePages, useCandleSeries } from '../api/queries'
import type { Candle, CandleSeries } from '../api/types'
import { CandleChart } from '../components/charts'
import { Empty, ErrorNote, QueryState, SourceBadge, scrollable } from '../components/ui'
import { candlesSource, findSeries, isSample, seriesKey, TIMEFRAMES } from '../lib/candles'
import { fmtNumber, fmtTime } from '../lib/format'
import { GetCandles } from './candle-forms'
import { DownloadForm } from './download-form'

export const candlesHref = (s: { symbol: string; timeframe: string }) =>
  `/ui/candles?${new URLSearchParams({ symbol: s.symbol, timeframe: s.timeframe })}`

export default function Candles() {
  const [p, setP] = useSearchParams()
  const nav = useNavigate()
  const symbol = (p.get('symbol') ?? '').toUpperCase()
  const timeframe = p.get('timeframe') ?? '1Day'
  const series = useCandleSeries()
  // Every window loaded, newest first: the chart holds them all and asks for the next older one
  // when scrolled near its first bar; the pager picks the one the text and table describe.
  const q = useCandlePages(symbol, timeframe)
  const pages = q.data?.pages
  const candles = useMemo(() => joinPages(pages ?? []), [pages])
  // The window the pager is on (0 the newest), and whether it was moved (the chart then shows it).
  const [at, setAt] = useState(0)
  const [moved, setMoved] = useState(false)
  useEffect(() => {
    setAt(0)
    setMoved(false)
  }, [symbol, timeframe])
  // Until the window asked for arrives, the last one loaded stays on screen.
  const shown = pages ? Math.min(at, pages.length - 1) : 0
  const win = pages?.[shown] ?? []
  const go = (i: number) => {
    setAt(i)
    setMoved(true)
    if (pages && i >= pages.length) void olderLoader(q)()
  }
  const current = findSeries(series.data, seriesKey({ symbol, timeframe }))
  const source = (pages && candlesSource(candles)) ?? current?.source ?? null
  const show = useMemo(() => (moved && win.length ? { from: win[0].ts, to: win[win.length - 1].ts } : null), [moved, win])
  return (
    <section>
      <h1>Candles</h1>
      <h2>Stored series</h2>
      <QueryState q={series} what="The list of stored series">
        {() => (series.data!.length === 0
          ? <Empty>No candles stored yet: add some below.</Empty>
          : <SeriesTable series={series.data!} selected={symbol ? seriesKey({ symbol, timeframe }) : ''} />)}
      </QueryState>
      {series.error ? <LookUp symbol={symbol} timeframe={timeframe} onShow={(s, t) => setP({ symbol: s, timeframe: t }, { replace: true })} /> : null}
      {symbol && (
        <>
          <h2 className="row">{symbol} {timeframe} {source && <SourceBadge source={source} />}</h2>
          {isSample(source) && <p className="note" data-testid="sample-note">Sample data: a bundled set for trying Weaver out, not market data.</p>}
          {current?.gaps && <Gaps gaps={current.gaps} />}
          {/* An older window that failed to load is said under the chart, which keeps what it has. */}
          <QueryState q={{ isPending: q.isPending, error: pages ? null : q.error, refetch: q.refetch, isFetching: q.isFetching }}>
            {() => (candles.length === 0
              ? <Empty>No stored candles for {symbol} {timeframe}. Add some below.</Empty>
              : (
              <>
                {win.length === 0 ? (
                  // A series of exactly a multiple of a window: the last Older found nothing more.
                  <><Empty>No older bars: the previous window starts at the first one.</Empty><button type="button" onClick={() => go(shown - 1)} data-testid="candles-newer">Newer →</button></>
                ) : (
                  <>
                    <p className="small" data-testid="candles-window">
                      {win.length.toLocaleString('en-US')} bars, {fmtTime(win[0].ts)} → {fmtTime(win[win.length - 1].ts)}
                      {current ? ` of ${current.count.toLocaleString('en-US')}` : ''}{shown === 0 ? ' (the newest)' : ''}
                    </p>
                    <div className="row pager">
                      <button type="button" disabled={shown === 0} onClick={() => go(0)} data-testid="candles-newest">Newest</button>
                      <button type="button" disabled={shown === 0} onClick={() => go(shown - 1)} data-testid="candles-newer">Newer →</button>
                      <button type="button" disabled={win.length < CANDLE_PAGE} onClick={() => go(shown + 1)} data-testid="candles-older">← Older</button>
                    </div>
                  </>
                )}
                <CandleChart candles={candles} source={source} onNeedOlder={olderLoader(q)} loadingOlder={q.isFetchingNextPage} hasOlder={q.hasNextPage} show={show} />
                {q.isFetchNextPageError && <ErrorNote error={q.error} />}
                {win.length > 0 && (
                  <>
                    <h3>Latest bars</h3>
                    <BarsTable candles={win.slice(-10).reverse()} source={source} />
                  </>
                )}
              </>
            ))}
          </QueryState>
        </>
      )}
      <h2>Add candles</h2>
      <GetCandles series={series.data ?? []} onAdded={(s) => nav(candlesHref(s), { replace: true })} />
      <details className="option" data-testid="download-option">
        <summary>Download from Alpaca</summary>
        <DownloadForm />
      </details>
    </section>
  )
}

const CALENDARS: Record<string, string> = {
  alpaca: "by Alpaca's trading calendar; holidays are not gaps",
  weekdays: 'by weekdays: no venue calendar, holidays count as gaps',
  utc_days: 'every UTC day',
}

/** A series' missing sessions: how many, by which calendar, and the first runs of them. */
export function Gaps({ gaps }: { gaps: NonNullable<CandleSeries['gaps']> }) {
  const calendar = CALENDARS[gaps.calendar] ?? `by the ${gaps.calendar} calendar`
  if (gaps.missing === 0) return <p className="small" data-testid="gaps">No missing sessions ({calendar}).</p>
  return (
    <details className="option" data-testid="gaps">
      <summary>
        {gaps.missing.toLocaleString('en-US')} missing session{gaps.missing === 1 ? '' : 's'} in {gaps.count.toLocaleString('en-US')} gap{gaps.count === 1 ? '' : 's'} ({calendar})
      </summary>
      <ul data-testid="gap-list">
        {gaps.ranges.map((g) => (
          <li key={g.from}>{g.from === g.to ? g.from : `${g.from} – ${g.to}`}{g.sessions > 1 ? ` (${g.sessions} sessions)` : ''}</li>
        ))}
      </ul>
      {gaps.count > gaps.ranges.length && <p className="small">The first {gaps.ranges.length} of {gaps.count} gaps.</p>}
    </details>
  )
}

/** The stored series; each links to its candles. */
export function SeriesTable({ series, selected }: { series: CandleSeries[]; selected?: string }) {
  return (
    <div className="table-wrap" {...scrollable('Stored series')}>
      <table data-testid="series-table">
        <thead>
          <tr><th>Symbol</th><th>Timeframe</th><th>First</th><th>Last</th><th className="num">Bars</th><th>Source</th><th>Adjustment</th><th className="num">Gaps</th></tr>
        </thead>
        <tbody>
          {series.map((s) => {
            const key = seriesKey(s)
            return (
              <tr key={key} data-testid="series-row" aria-current={key === selected ? 'true' : undefined}>
                <td><Link to={candlesHref(s)} aria-label={`Show ${key}`}>{s.symbol}</Link></td>
                <td>{s.timeframe}</td>
                <td>{fmtTime(s.first)}</td>
                <td>{fmtTime(s.last)}</td>
                <td className="num">{s.count.toLocaleString('en-US')}</td>
                <td><SourceBadge source={s.source} /></td>
                <td data-testid="series-adjustment">{s.adjustment ?? '—'}</td>
                <td className="num" data-testid="series-gaps" title={s.gaps ? `missing sessions, by the ${s.gaps.calendar} calendar` : undefined}>
                  {s.gaps ? s.gaps.missing.toLocaleString('en-US') : '—'}
                </td>
              </tr>
            )
          })}
        </tbody>
      </table>
    </div>
  )
}

function BarsTable({ candles, source }: { candles: Candle[]; source: string | null }) {
  return (
    <div className="table-wrap" {...scrollable('Latest bars')}>
      <table data-testid="bars-table">
        <thead>
          <tr><th>Open time</th><th className="num">Open</th><th className="num">High</th><th className="num">Low</th><th className="num">Close</th><th className="num">Volume</th><th>Source</th></tr>
        </thead>
        <tbody>
          {candles.map((c) => (
            <tr key={c.ts}>
              <td>{fmtTime(c.ts)}</td>
              <td className="num">{fmtNumber(c.open)}</td><td className="num">{fmtNumber(c.high)}</td>
              <td className="num">{fmtNumber(c.low)}</td><td className="num">{fmtNumber(c.close)}</td>
              <td className="num">{fmtNumber(c.volume, 0)}</td>
              <td><SourceBadge source={c.source ?? source} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** By symbol and timeframe, for servers without the series list. */
function LookUp({ symbol, timeframe, onShow }: { symbol: string; timeframe: string; onShow: (symbol: string, timeframe: string) => void }) {
  return (
    <form className="form" aria-label="Look up candles" onSubmit={(e) => {
      e.preventDefault()
      const d = new FormData(e.currentTarget)
      onShow(String(d.get('symbol') ?? '').trim().toUpperCase(), String(d.get('timeframe') ?? '1Day'))
    }}>
      <label>Symbol<input name="symbol" defaultValue={symbol} placeholder="GOOG" /></label>
      <label>Timeframe
        <select name="timeframe" defaultValue={timeframe}>
          {TIMEFRAMES.map((t) => <option key={t}>{t}</option>)}
        </select>
      </label>
      <button className="primary" type="submit">Show</button>
    </form>
  )
}
