// Charts on lightweight-charts (Apache-2.0; its attribution logo stays on, as its licence asks).
// Only the lazily loaded views import this module, so the library is in its own chunk.
import { useEffect, useMemo, useRef, useState } from 'react'
import {
  AreaSeries, CandlestickSeries, ColorType, createChart, createSeriesMarkers, LineSeries,
  TickMarkType, type IChartApi, type ISeriesApi, type ISeriesMarkersPluginApi, type Time, type UTCTimestamp,
} from 'lightweight-charts'
import type { Candle, ReportTrade } from '../api/types'
import { useTheme } from '../app/layout'
import { fmtDate, fmtMoney, fmtTimeOfBar, fmtNumber, fmtPnl, partsIn, zoneLabel } from '../lib/format'
import { DOWN, toSeconds, tradesAt, UP, type Marker } from '../lib/trades'

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** A chart time's parts in the zone of the settings (the library itself knows only UTC). */
const partsAt = (t: Time) => partsIn(new Date((typeof t === 'number' ? t : 0) * 1000))

/** Axis labels in the zone of the settings, at the precision the library asks for. */
export function tickLabel(t: Time, type: TickMarkType): string {
  const p = partsAt(t)
  switch (type) {
    case TickMarkType.Year: return p.date.slice(0, 4)
    case TickMarkType.Month: return MONTHS[Number(p.date.slice(5, 7)) - 1] ?? p.date
    case TickMarkType.DayOfMonth: return String(Number(p.date.slice(8, 10)))
    case TickMarkType.Time: return p.time.slice(0, 5)
    default: return p.time
  }
}

/** The zone the axes are in, on the chart. */
const ZoneMark = () => <span className="chart-zone" data-testid="chart-zone">{zoneLabel()}</span>

function base(el: HTMLElement, dark: boolean): IChartApi {
  return createChart(el, {
    // The crosshair's time and the axis in the zone of the settings (labelled by ZoneMark).
    localization: {
      timeFormatter: (t: Time) => {
        const p = partsAt(t)
        return `${p.date} ${p.time.slice(0, 5)} ${p.label}`
      },
    },
    autoSize: true,
    layout: {
      background: { type: ColorType.Solid, color: 'transparent' },
      textColor: dark ? '#c9d1db' : '#333d48',
      attributionLogo: true,
    },
    grid: {
      vertLines: { color: dark ? '#232932' : '#eef1f5' },
      horzLines: { color: dark ? '#232932' : '#eef1f5' },
    },
    // The default minimum spacing (0.5 px a bar) cannot fit a few thousand daily bars into a
    // half-width panel, so fitContent would silently show only the latest years.
    timeScale: { borderVisible: false, minBarSpacing: 0.05, tickMarkFormatter: tickLabel },
    rightPriceScale: { borderVisible: false },
  })
}

const at = (s: number) => s as UTCTimestamp

/** Shows all the data; returns the effect's cleanup. */
function fit(chart: IChartApi): () => void {
  chart.timeScale().fitContent()
  return () => chart.remove()
}

/** Bars from the first loaded one within which a chart that can load older bars asks for them. */
export const NEAR_START = 50
/** Bars a chart with older ones still to load shows at first: the newest, wide enough to read.
 * Fitting every bar loaded would put the view at the first bar and ask for older ones at once. */
export const FIRST_VIEW = 2_000

type Bar = { time: UTCTimestamp; open: number; high: number; low: number; close: number }

/** The chart's bars (ascending, one a time, as the library wants them) and each bar's candle by
 * time for the crosshair's tip. */
function toBars(candles: Candle[]): { bars: Bar[]; byTime: Map<number, Candle>; intraday: boolean } {
  const byTime = new Map<number, Candle>()
  for (const c of candles) byTime.set(toSeconds(c.ts), c)
  const bars = [...byTime.entries()].sort((a, b) => a[0] - b[0]).map(([t, c]) => ({ time: at(t), open: c.open, high: c.high, low: c.low, close: c.close }))
  return { bars, byTime, intraday: intradaySpacing(bars) }
}

/** Whether bars are shorter than a day, from their spacing (a candle does not carry its
 * timeframe): the closest two of the first bars less than a day apart. A weekend or a gap only
 * widens spacing, so daily bars are never taken for intraday ones. */
export function intradaySpacing(bars: { time: number }[]): boolean {
  for (let i = 1; i < Math.min(bars.length, 50); i++) {
    if (bars[i].time - bars[i - 1].time < 86_400) return true
  }
  return false
}

interface Live {
  chart: IChartApi
  series: ISeriesApi<'Candlestick'>
  marks: ISeriesMarkersPluginApi<Time>
  /** The first bar set, to tell older bars prepended from a new series. */
  first: number | null
}

/**
 * Candles with markers (a backtest's trades, a run's fills) and the crosshair's tip. One chart per
 * mount (a theme change builds another): new bars go in with `setData`, and older bars prepended
 * (`candles` grown at the front) shift the visible range by as many bars, so the view stays on the
 * bars the user was looking at. With `onNeedOlder`, scrolling within `NEAR_START` bars of the first
 * bar asks for older ones, once until they arrive (or the load fails).
 */
export function CandleChart({ candles, markers = [], trades = [], testId = 'candle-chart', source, onNeedOlder, loadingOlder = false, hasOlder = false, show }: {
  candles: Candle[]; markers?: Marker[]; trades?: ReportTrade[]; testId?: string
  /** Where the bars came from; sample data is marked on the chart. */
  source?: string | null
  /** Called when the view nears the first bar and `hasOlder`; not again until the promise it
   * returns settles or new bars arrive. */
  onNeedOlder?: () => unknown
  loadingOlder?: boolean
  hasOlder?: boolean
  /** Times to bring into view (a window picked by a pager); applied when they change. */
  show?: { from: string; to: string } | null
}) {
  const ref = useRef<HTMLDivElement>(null)
  const dark = useTheme() === 'dark'
  const [tip, setTip] = useState<{ c: Candle; trades: ReportTrade[] } | null>(null)
  const [atStart, setAtStart] = useState(false)
  // Older bars came in since the chart was built: only then is "first bar" news (a series that
  // fits in the first window is all on screen).
  const [grew, setGrew] = useState(false)
  const live = useRef<Live | null>(null)
  const { bars, byTime, intraday } = useMemo(() => toBars(candles), [candles])
  // What the library's callbacks read: the props of the latest render.
  const props = useRef({ byTime, trades, onNeedOlder, hasOlder })
  const asked = useRef(false)
  useEffect(() => {
    props.current = { byTime, trades, onNeedOlder, hasOlder }
  })

  useEffect(() => {
    if (!ref.current) return
    const chart = base(ref.current, dark)
    const series = chart.addSeries(CandlestickSeries, { upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN })
    const marks = createSeriesMarkers(series, [])
    chart.subscribeCrosshairMove((p) => {
      const t = typeof p.time === 'number' ? p.time : null
      const c = t === null ? undefined : props.current.byTime.get(t)
      setTip(c && t !== null ? { c, trades: tradesAt(props.current.trades, t) } : null)
    })
    chart.timeScale().subscribeVisibleLogicalRangeChange((r) => {
      if (!r) return
      const near = r.from < NEAR_START
      setAtStart(near)
      const p = props.current
      if (near && p.onNeedOlder && p.hasOlder && !asked.current) {
        asked.current = true
        // Settled without new bars (a failed load): the next scroll near the start asks again.
        void Promise.resolve(p.onNeedOlder()).finally(() => {
          asked.current = false
        })
      }
    })
    live.current = { chart, series, marks, first: null }
    return () => {
      live.current = null
      chart.remove()
    }
  }, [dark])

  useEffect(() => {
    const l = live.current
    if (!l) return
    const ts = l.chart.timeScale()
    // Where the bar that was first now is: that many older bars came in front of it.
    const added = l.first === null ? -1 : bars.findIndex((b) => b.time === l.first)
    if (added > 0) {
      const r = ts.getVisibleLogicalRange()
      l.series.setData(bars)
      if (r) ts.setVisibleLogicalRange({ from: r.from + added, to: r.to + added })
      setGrew(true)
    } else {
      // The same first bar (a new last one): the library keeps the view by itself.
      l.series.setData(bars)
      if (added < 0) {
        firstView(l.chart, bars.length, Boolean(props.current.onNeedOlder && props.current.hasOlder))
        setGrew(false)
      }
    }
    l.first = bars[0]?.time ?? null
    asked.current = false
  }, [bars, dark])

  useEffect(() => {
    const l = live.current
    if (!l || !bars.length) return
    // Markers outside the bars loaded wait for theirs (the library wants a bar under each).
    const first = bars[0].time
    const last = bars[bars.length - 1].time
    l.marks.setMarkers(markers.filter((m) => m.time >= first && m.time <= last).map((m) => ({ ...m, time: at(m.time) })))
  }, [markers, bars, dark])

  useEffect(() => {
    const l = live.current
    if (!l || !show || !bars.length) return
    l.chart.timeScale().setVisibleRange({ from: at(toSeconds(show.from)), to: at(toSeconds(show.to)) })
    // Only a change of the times asked for moves the view, not new bars.
  }, [show?.from, show?.to, dark])

  return (
    <div className="chart" data-testid={testId} data-bars={bars.length} ref={ref}>
      <ZoneMark />
      {source === 'sample' && <span className="chart-mark chip sample" data-testid="chart-sample" title="Bundled sample data, not market data">sample data</span>}
      {onNeedOlder && (loadingOlder
        ? <span className="chart-older" data-testid="chart-older" role="status">loading older bars…</span>
        : !hasOlder && atStart && grew ? <span className="chart-older" data-testid="chart-older">first bar</span> : null)}
      {tip && (
        <div className="tip" data-testid="chart-tip">
          <b>{intraday ? fmtTimeOfBar(tip.c.ts) : fmtDate(tip.c.ts)}</b> O {fmtNumber(tip.c.open)} H {fmtNumber(tip.c.high)} L {fmtNumber(tip.c.low)} C {fmtNumber(tip.c.close)}
          {tip.trades.map((t, i) => {
            const entry = toSeconds(t.entry_time) === toSeconds(tip.c.ts)
            return (
              <div key={i}>
                {entry ? 'Entry' : 'Exit'} {t.symbol} {t.size > 0 ? 'long' : 'short'} {Math.abs(t.size)} @ {fmtMoney(entry ? t.entry_price : t.exit_price)}
                {!entry && <> · PnL {fmtPnl(t.pnl)}</>}
              </div>
            )
          })}
        </div>
      )}
    </div>
  )
}

/** A new series' view: every bar, or the newest `FIRST_VIEW` when older ones can still be loaded. */
function firstView(chart: IChartApi, n: number, more: boolean) {
  if (more && n > FIRST_VIEW) chart.timeScale().setVisibleLogicalRange({ from: n - FIRST_VIEW, to: n - 1 })
  else chart.timeScale().fitContent()
}

export interface Line {
  name: string
  points: { time: number; value: number }[]
  color: string
}

/** Line or area series sharing one time axis (equity curves, drawdown); `mark` flags one time
 * on the first line (a shadow's first divergence). */
export function LineChart({ lines, area, short, testId, mark }: {
  lines: Line[]; area?: boolean; short?: boolean; testId?: string; mark?: { time: number; text: string } | null
}) {
  const ref = useRef<HTMLDivElement>(null)
  const dark = useTheme() === 'dark'
  useEffect(() => {
    if (!ref.current) return
    const chart = base(ref.current, dark)
    for (const [i, l] of lines.entries()) {
      const data = l.points.map((p) => ({ time: at(p.time) as Time, value: p.value }))
      if (area) {
        const s = chart.addSeries(AreaSeries, { lineColor: l.color, topColor: `${l.color}55`, bottomColor: `${l.color}05`, lineWidth: 2, title: l.name })
        s.setData(data)
      } else {
        const s = chart.addSeries(LineSeries, { color: l.color, lineWidth: 2, title: l.name })
        s.setData(data)
        if (i === 0 && mark) createSeriesMarkers(s, [{ time: at(mark.time), position: 'aboveBar', shape: 'arrowDown', color: DOWN, text: mark.text }])
      }
    }
    return fit(chart)
  }, [lines, area, dark, mark])
  return <div className={short ? 'chart short' : 'chart'} data-testid={testId} ref={ref}><ZoneMark /></div>
}
