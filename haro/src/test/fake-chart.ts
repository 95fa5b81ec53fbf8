// A stand-in for lightweight-charts in jsdom (which has no canvas), for
// `vi.mock('lightweight-charts', () => import('../test/fake-chart'))`: each `createChart` is
// recorded in `charts` with the data, markers and visible range it was given, and `scroll` moves
// a chart's visible range as a person dragging it would, telling the chart's subscribers; `hover`
// moves its crosshair onto a bar.
import type { LogicalRange } from 'lightweight-charts'

export interface FakeChart {
  /** The last `setData`, and how many times it was called. */
  data: { time: number }[]
  sets: number
  markers: { time: number }[]
  /** The visible logical range (what `getVisibleLogicalRange` answers). */
  range: LogicalRange | null
  /** The last `setVisibleRange` (times), when one was asked for. */
  timeRange: { from: number; to: number } | null
  handlers: ((r: LogicalRange | null) => void)[]
  /** The crosshair's subscribers (`hover` calls them). */
  crosshair: ((p: { time?: number }) => void)[]
  removed: boolean
}

export const charts: FakeChart[] = []

const logical = (from: number, to: number) => ({ from, to }) as LogicalRange

export function createChart() {
  const c: FakeChart = { data: [], sets: 0, markers: [], range: null, timeRange: null, handlers: [], crosshair: [], removed: false }
  charts.push(c)
  const timeScale = {
    fitContent: () => { c.range = logical(0, c.data.length - 1) },
    getVisibleLogicalRange: () => c.range,
    setVisibleLogicalRange: (r: { from: number; to: number }) => { c.range = logical(r.from, r.to) },
    setVisibleRange: (r: { from: number; to: number }) => {
      c.timeRange = r
      c.range = logical(c.data.findIndex((b) => b.time >= r.from), c.data.filter((b) => b.time <= r.to).length - 1)
    },
    subscribeVisibleLogicalRangeChange: (h: (r: LogicalRange | null) => void) => { c.handlers.push(h) },
  }
  return {
    addSeries: () => ({ chart: c, setData: (d: { time: number }[]) => { c.data = d; c.sets += 1 } }),
    timeScale: () => timeScale,
    subscribeCrosshairMove: (h: (p: { time?: number }) => void) => { c.crosshair.push(h) },
    remove: () => { c.removed = true },
  }
}

export const createSeriesMarkers = (series: { chart: FakeChart }, markers: { time: number }[]) => {
  series.chart.markers = markers
  return { setMarkers: (m: { time: number }[]) => { series.chart.markers = m } }
}

/** Drags chart `c` to show bars `from` to `to` (logical indexes into its data). */
export function scroll(c: FakeChart, from: number, to: number) {
  c.range = logical(from, to)
  for (const h of c.handlers) h(c.range)
}

/** Moves the crosshair of chart `c` onto the bar at `time` (seconds), as a mouse would. */
export function hover(c: FakeChart, time: number) {
  for (const h of c.crosshair) h({ time })
}

export const CandlestickSeries = {}
export const AreaSeries = {}
export const LineSeries = {}
export const ColorType = { Solid: 'solid' }
export const TickMarkType = { Year: 0, Month: 1, DayOfMonth: 2, Time: 3, TimeWithSeconds: 4 }
