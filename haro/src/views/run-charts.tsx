// A run's charts on its page: how far it got (bars done of bars total on `sim`), its equity curve,
// and the price of one of its symbols with its fills marked at their **bar** times, with the list
// of those fills. The data is `GET /runs/{id}/equity` (its keys sit under ['run', id], so the
// run's events refresh it as they refresh the rest of the page); "Older bars" pages back
// through a long run, "Newest bars" returns to the live end.
import { useMemo, useState } from 'react'
import { useRunCandles, useRunEquity, type BarFill, type EquityPage, type Progress } from '../api/run-charts'
import type { Run } from '../api/types'
import { CandleChart, LineChart } from '../components/charts'
import { Empty, ErrorNote, Loading, QueryState } from '../components/ui'
import { candlesSource } from '../lib/candles'
import { fmtBarTime, fmtMoney, fmtNumber } from '../lib/format'
import { fillsToMarkers, progressOf } from '../lib/run-charts'
import { toLinePoints } from '../lib/trades'

export function RunCharts({ run }: { run: Run }) {
  const [before, setBefore] = useState<string | null>(null)
  const q = useRunEquity(run.id, before)
  return (
    <section aria-label="Charts" data-testid="run-charts">
      <QueryState q={q} what="The run's charts">
        {() => <ChartsBody run={run} page={q.data!} before={before} onPage={setBefore} />}
      </QueryState>
    </section>
  )
}

function ChartsBody({ run, page, before, onPage }: { run: Run; page: EquityPage; before: string | null; onPage: (b: string | null) => void }) {
  const [symbol, setSymbol] = useState(run.symbols[0] ?? '')
  const equity = useMemo(
    () => [{ name: 'Equity', color: '#2962ff', points: toLinePoints(page.points, (p) => p.ts, (p) => p.equity) }],
    [page.points],
  )
  const first = page.points[0]?.ts
  const last = page.points[page.points.length - 1]?.ts
  return (
    <>
      <RunProgress progress={page.progress} />
      {page.points.length === 0 ? (
        <Empty>No bars yet: the charts start with the run's first bar.</Empty>
      ) : (
        <>
          <div className="row small" data-testid="run-chart-range">
            Bars {fmtBarTime(first, run.timeframe)} – {fmtBarTime(last, run.timeframe)}
            {page.next_before && <button type="button" onClick={() => onPage(page.next_before ?? null)} data-testid="run-chart-older">← Older bars</button>}
            {before && <button type="button" onClick={() => onPage(null)} data-testid="run-chart-newest">Newest bars →</button>}
          </div>
          <div className="grid2">
            <div>
              <h2>Equity</h2>
              <LineChart lines={equity} testId="run-equity-chart" />
            </div>
            <div>
              <h2 className="row">
                Price and fills
                {run.symbols.length > 1 && (
                  <select value={symbol} onChange={(e) => setSymbol(e.target.value)} aria-label="Symbol of the price chart">
                    {run.symbols.map((s) => <option key={s}>{s}</option>)}
                  </select>
                )}
              </h2>
              <PriceChart runId={run.id} symbol={symbol} timeframe={run.timeframe} first={first!} last={last!} fills={page.fills} />
            </div>
          </div>
          <FillsTable fills={page.fills} timeframe={run.timeframe} />
        </>
      )}
    </>
  )
}

/** Bars done of bars total (a bar on `sim`, which replays every stored bar); the count alone on a
 * live venue, whose bars have no end. */
export function RunProgress({ progress }: { progress: Progress | null | undefined }) {
  const p = progressOf(progress)
  if (!p) return null
  return (
    <div className="row run-progress" data-testid="run-progress">
      {p.total !== null && p.pct !== null ? (
        <>
          <progress max={p.total} value={Math.min(p.done, p.total)} aria-label="Bars done" />
          <span className="small">{fmtNumber(p.done, 0)} of {fmtNumber(p.total, 0)} bars ({fmtNumber(p.pct, 1)}%)</span>
        </>
      ) : (
        <span className="small">{fmtNumber(p.done, 0)} bars</span>
      )}
    </div>
  )
}

/** The candles of the page's bar times with the fills of `symbol` marked on their bars. */
function PriceChart({ runId, symbol, timeframe, first, last, fills }: { runId: number; symbol: string; timeframe: string; first: string; last: string; fills: BarFill[] }) {
  const q = useRunCandles(runId, symbol, timeframe, first, last)
  const markers = useMemo(() => fillsToMarkers(fills, symbol), [fills, symbol])
  if (q.error) return <ErrorNote error={q.error} />
  if (q.isPending) return <Loading />
  if (q.data.length === 0) return <Empty>No stored candles for {symbol} {timeframe}.</Empty>
  return (
    <div data-testid="run-price" data-markers={markers.length}>
      <CandleChart candles={q.data} markers={markers} testId="run-price-chart" source={candlesSource(q.data)} />
    </div>
  )
}

/** The page's fills, newest first, at their bar times. */
function FillsTable({ fills, timeframe }: { fills: BarFill[]; timeframe: string }) {
  const rows = useMemo(() => [...fills].reverse(), [fills])
  return (
    <>
      <h2>Fills ({fills.length})</h2>
      {fills.length === 0 ? <Empty>No fills at these bars.</Empty> : (
        <div className="table-wrap">
          <table data-testid="run-fills">
            <thead><tr><th>Bar</th><th>Symbol</th><th>Side</th><th className="num">Qty</th><th className="num">Price</th></tr></thead>
            <tbody>
              {rows.map((f, i) => (
                <tr key={`${f.order_id}-${i}`}>
                  <td>{fmtBarTime(f.bar_ts, timeframe)}</td>
                  <td>{f.symbol}</td>
                  <td className={f.side === 'buy' ? 'pos' : 'neg'}>{f.side}</td>
                  <td className="num">{fmtNumber(f.qty, f.qty % 1 === 0 ? 0 : 4)}</td>
                  <td className="num">{fmtMoney(f.price)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  )
}
