// Charts on lightweight-charts (Apache-2.0; its attribution logo stays on, as its licence asks).
// Only the lazily loaded views import this module, so the library is in its own chunk.
import { useEffect, useRef, useState } from 'react'
import {
  AreaSeries, CandlestickSeries, ColorType, createChart, createSeriesMarkers, LineSeries,
  TickMarkType, type IChartApi, type Time, type UTCTimestamp,
} from 'lightweight-charts'
import type { Candle, ReportTrade } from '../api/types'
import { useTheme } from '../app/layout'
import { fmtDate, fmtMoney, fmtNumber, fmtPnl, partsIn, zoneLabel } from '../lib/format'
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

export function CandleChart({ candles, markers = [], trades = [], testId = 'candle-chart', source }: {
  candles: Candle[]; markers?: Marker[]; trades?: ReportTrade[]; testId?: string
  /** Where the bars came from; sample data is marked on the chart. */
  source?: string | null
}) {
  const ref = useRef<HTMLDivElement>(null)
  const dark = useTheme() === 'dark'
  const [tip, setTip] = useState<{ c: Candle; trades: ReportTrade[] } | null>(null)
  useEffect(() => {
    if (!ref.current) return
    const chart = base(ref.current, dark)
    const series = chart.addSeries(CandlestickSeries, { upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN })
    const byTime = new Map<number, Candle>()
    for (const c of candles) byTime.set(toSeconds(c.ts), c)
    series.setData([...byTime.entries()].sort((a, b) => a[0] - b[0]).map(([t, c]) => ({ time: at(t), open: c.open, high: c.high, low: c.low, close: c.close })))
    createSeriesMarkers(series, markers.map((m) => ({ ...m, time: at(m.time) })))
    chart.subscribeCrosshairMove((p) => {
      const t = typeof p.time === 'number' ? p.time : null
      const c = t === null ? undefined : byTime.get(t)
      setTip(c && t !== null ? { c, trades: tradesAt(trades, t) } : null)
    })
    return fit(chart)
  }, [candles, markers, trades, dark])
  return (
    <div className="chart" data-testid={testId} ref={ref}>
      <ZoneMark />
      {source === 'sample' && <span className="chart-mark chip sample" data-testid="chart-sample" title="Bundled sample data, not market data">sample data</span>}
      {tip && (
        <div className="tip" data-testid="chart-tip">
          <b>{fmtDate(tip.c.ts)}</b> O {fmtNumber(tip.c.open)} H {fmtNumber(tip.c.high)} L {fmtNumber(tip.c.low)} C {fmtNumber(tip.c.close)}
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
