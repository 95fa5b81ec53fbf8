// A run's charts on its page: how far it got (bars done of bars total on `sim`), its equity curve,
// and the price of one of its symbols with its fills marked at their **bar** times, with the list
// of those fills. The data is `GET /runs/{id}/equity`, a page at a time, newest first: every page
// loaded is shown in the same charts and list. The price chart asks for the next older page when
// scrolled near its first bar, as "Older bars" does; "Newest bars" drops the older pages again.
// Its keys sit under ['run', id], so the run's events refresh it as they refresh the rest of the
// page: the newest page only, the older ones kept (see `api/run-charts.ts`).
import { useMemo, useState } from 'react'
import { useQueryClient } from '@tanstack/react-query'
import { joinEquity, newestOnly, runEquityKey, useRunCandles, useRunEquityPages, type BarFill, type EquityPages, type Progress } from '../api/run-charts'
import { olderLoader } from '../api/queries'
import type { Run } from '../api/types'
import { CandleChart, LineChart } from '../components/charts'
import { Empty, ErrorNote, Loading, QueryState } from '../components/ui'
import { candlesSource } from '../lib/candles'
import { fmtBarTime, fmtMoney, fmtNumber } from '../lib/format'
import { fillsToMarkers, progressOf } from '../lib/run-charts'
import { toLinePoints } from '../lib/trades'

type Pages = ReturnType<typeof useRunEquityPages>

export function RunCharts({ run }: { run: Run }) {
  const q = useRunEquityPages(run.id)
  return (
    <section aria-label="Charts" data-testid="run-charts">
      {/* An older page that failed to load is said under the charts, which keep what they have. */}
      <QueryState q={{ isPending: q.isPending, error: q.data ? null : q.error, refetch: q.refetch, isFetching: q.isFetching }} what="The run's charts">
        {() => <ChartsBody run={run} q={q} />}
      </QueryState>
    </section>
  )
}

function ChartsBody({ run, q }: { run: Run; q: Pages }) {
  const qc = useQueryClient()
  const [symbol, setSymbol] = useState(run.symbols[0] ?? '')
  const pages = q.data!.pages
  const { points, fills } = useMemo(() => joinEquity(pages), [pages])
  const equity = useMemo(
    () => [{ name: 'Equity', color: '#2962ff', points: toLinePoints(points, (p) => p.ts, (p) => p.equity) }],
    [points],
  )
  const first = points[0]?.ts
  const last = points[points.length - 1]?.ts
  const older = olderLoader(q)
  const newest = () => qc.setQueryData<EquityPages>(runEquityKey(run.id), (d) => d && newestOnly(d))
  return (
    <>
      <RunProgress progress={pages[0].progress} />
      {points.length === 0 ? (
        <Empty>No bars yet: the charts start with the run's first bar.</Empty>
      ) : (
        <>
          <div className="row small" data-testid="run-chart-range">
            Bars {fmtBarTime(first, run.timeframe)} – {fmtBarTime(last, run.timeframe)}
            {q.hasNextPage && <button type="button" disabled={q.isFetchingNextPage} onClick={() => void older()} data-testid="run-chart-older">← Older bars</button>}
            {pages.length > 1 && <button type="button" onClick={newest} data-testid="run-chart-newest">Newest bars →</button>}
          </div>
          {q.isFetchNextPageError && <ErrorNote error={q.error} />}
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
              <PriceChart runId={run.id} symbol={symbol} timeframe={run.timeframe} first={first!} last={last!} fills={fills}
                older={older} loadingOlder={q.isFetchingNextPage} hasOlder={q.hasNextPage} />
            </div>
          </div>
          <FillsTable fills={fills} timeframe={run.timeframe} />
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

/** The candles of the loaded pages' bar times with the fills of `symbol` marked on their bars;
 * scrolled near its first bar, it asks for the next older page (`older`), whose bars then extend
 * the candles. */
function PriceChart({ runId, symbol, timeframe, first, last, fills, older, loadingOlder, hasOlder }: {
  runId: number; symbol: string; timeframe: string; first: string; last: string; fills: BarFill[]
  older: () => unknown; loadingOlder: boolean; hasOlder: boolean
}) {
  const q = useRunCandles(runId, symbol, timeframe, first, last)
  const markers = useMemo(() => fillsToMarkers(fills, symbol), [fills, symbol])
  // An older page came and its candles are on their way: the chart still shows the previous
  // bars, and asking for yet another page now would skip past these.
  const behind = Boolean(q.isPlaceholderData && q.data?.length && Date.parse(q.data[0].ts) > Date.parse(first))
  if (q.error) return <ErrorNote error={q.error} />
  if (q.isPending) return <Loading />
  if (q.data.length === 0) return <Empty>No stored candles for {symbol} {timeframe}.</Empty>
  return (
    <div data-testid="run-price" data-markers={markers.length}>
      <CandleChart candles={q.data} markers={markers} testId="run-price-chart" source={candlesSource(q.data)}
        onNeedOlder={() => (behind ? undefined : older())} loadingOlder={loadingOlder || behind} hasOlder={hasOlder} />
    </div>
  )
}

/** The loaded pages' fills, newest first, at their bar times. */
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
