// One backtest's report: metrics table, equity curve, drawdown, the "By symbol" table of a
// several-symbol backtest, candles with entry/exit markers (hover for details; the newest 5,000
// bars of its range first, older ones as the chart is scrolled left), a sortable, filterable
// trades table, and the Export menu (trades CSV/JSON, report JSON, the printable tearsheet).
import { useMemo, useState } from 'react'
import { Link, useParams } from 'react-router'
import { joinPages, olderLoader, TRADE_CHART_PAGE, useBacktest, useCandlePages, useStrategies } from '../api/queries'
import type { Report, ReportTrade } from '../api/types'
import { CandleChart, LineChart } from '../components/charts'
import { Chip, Empty, ErrorNote, Loading, nextSort, QueryState, SortTh, usePaged, scrollable } from '../components/ui'
import { candlesSource } from '../lib/candles'
import { fmtBarTime, fmtMetric, fmtMoney, fmtPct, fmtTime, metricLabel } from '../lib/format'
import { backtestExports, downloadFrom, openTearsheet } from '../lib/exports'
import { filterTrades, sortRows, toLinePoints, tradesToMarkers, type SortDir, type TradeFilter, type TradeKey } from '../lib/trades'
import { configOf, queueNote, reportOf, strategyLabel } from './backtests'
import { BySymbolTable, showsBySymbol } from './backtest-symbols'

export default function BacktestDetail() {
  const { id = '' } = useParams()
  const q = useBacktest(id)
  const strategies = useStrategies().data
  return (
    <section>
      <p className="small"><Link to="/ui/backtests">← Backtests</Link></p>
      <QueryState q={q}>
        {() => {
          const b = q.data!
          const r = reportOf(b)
          const c = configOf(b)
          return (
            <>
              <h1 className="row">Backtest #{b.id} <Chip value={b.status} />{r && <ExportMenu id={b.id} />}</h1>
              <p className="small"><span data-testid="backtest-strategy">{strategyLabel(b, strategies)}</span> · {(c.symbols ?? []).join(', ')} · {c.timeframe} · created {fmtTime(b.created_at)}</p>
              {b.error && <div className="error" role="alert">{b.error}</div>}
              {b.memory_estimate_mb != null && <p className="small">Memory estimate {b.memory_estimate_mb} MB</p>}
              {b.status === 'queued' || b.status === 'running' ? <Loading what={queueNote(b) ? `Queued (${queueNote(b)})` : 'Running the backtest'} /> : null}
              {r && <ReportView report={r} timeframe={c.timeframe ?? '1Day'} />}
            </>
          )
        }}
      </QueryState>
    </section>
  )
}

/** The report's order (the stored JSON comes back with its keys sorted). */
const ORDER = ['start', 'end', 'duration_days', 'exposure_time_pct', 'equity_final', 'equity_peak', 'commissions',
  'return_pct', 'buy_hold_return_pct', 'return_ann_pct', 'volatility_ann_pct', 'cagr_pct', 'sharpe', 'sortino',
  'calmar', 'alpha_pct', 'beta', 'max_drawdown_pct', 'avg_drawdown_pct', 'max_drawdown_duration_days',
  'avg_drawdown_duration_days', 'trades', 'win_rate_pct', 'best_trade_pct', 'worst_trade_pct', 'avg_trade_pct',
  'max_trade_duration_days', 'avg_trade_duration_days', 'profit_factor', 'expectancy_pct', 'sqn', 'kelly']
const rank = (k: string) => (ORDER.includes(k) ? ORDER.indexOf(k) : ORDER.length)

export function MetricsTable({ reports }: { reports: { name: string; report: Report }[] }) {
  const keys = Object.keys(reports[0]?.report.metrics ?? {}).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
  return (
    <div className="table-wrap" {...scrollable('Metrics')}>
      <table data-testid="metrics-table">
        <thead><tr><th>Metric</th>{reports.map((r) => <th key={r.name} className="num">{r.name}</th>)}</tr></thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k}>
              <td>{metricLabel(k)}</td>
              {reports.map((r) => <td key={r.name} className="num">{fmtMetric(k, r.report.metrics[k])}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function ReportView({ report, timeframe }: { report: Report; timeframe: string }) {
  const trades = useMemo(() => report.trades ?? [], [report])
  const symbols = useMemo(() => [...new Set([...(report.data ?? []).map((d) => d.symbol), ...trades.map((t) => t.symbol)])], [report, trades])
  const [symbol, setSymbol] = useState(symbols[0] ?? '')
  const equity = useMemo(() => [{ name: 'Equity', color: '#2962ff', points: toLinePoints(report.equity ?? [], (e) => e.ts, (e) => e.equity) }], [report])
  const drawdown = useMemo(() => [{ name: 'Drawdown %', color: '#ef5350', points: toLinePoints(report.equity ?? [], (e) => e.ts, (e) => -e.drawdown_pct) }], [report])
  return (
    <>
      {report.bankrupt_at && <div className="error">Bankrupt at {fmtTime(report.bankrupt_at)}</div>}
      <div className="grid2">
        <div>
          <h2>Metrics</h2>
          <MetricsTable reports={[{ name: 'Value', report }]} />
        </div>
        <div>
          <h2>Equity</h2>
          {equity[0].points.length ? <LineChart lines={equity} testId="equity-chart" /> : <Empty>No equity points.</Empty>}
          <h2>Drawdown</h2>
          {drawdown[0].points.length ? <LineChart lines={drawdown} area short testId="drawdown-chart" /> : <Empty>No drawdown.</Empty>}
        </div>
      </div>
      {showsBySymbol(report.by_symbol) && (
        <>
          <h2>By symbol</h2>
          <BySymbolTable by={report.by_symbol} />
        </>
      )}
      <h2 className="row">
        Price and trades
        {symbols.length > 1 && (
          <select value={symbol} onChange={(e) => setSymbol(e.target.value)} aria-label="Symbol">
            {symbols.map((s) => <option key={s}>{s}</option>)}
          </select>
        )}
      </h2>
      <TradeChart symbol={symbol} timeframe={timeframe} report={report} trades={trades} />
      <h2>Trades ({trades.length})</h2>
      <TradesTable trades={trades} timeframe={timeframe} />
    </>
  )
}

/** The Export menu of a done backtest: files from the server, saved with the API key. */
export function ExportMenu({ id }: { id: number }) {
  const [error, setError] = useState<unknown>(null)
  const run = (f: () => Promise<void>) => {
    setError(null)
    f().catch(setError)
  }
  return (
    <details className="menu-pop" data-testid="export-menu">
      <summary className="btn">Export</summary>
      <div className="menu-items">
        {backtestExports(id).map((x) => (
          <button key={x.path} type="button" onClick={() => run(() => x.path.endsWith('.html') ? openTearsheet(id) : downloadFrom(x.path, x.file))}>{x.label}</button>
        ))}
      </div>
      {error ? <ErrorNote error={error} /> : null}
    </details>
  )
}

/** The candles of the backtest's range for `symbol`, the newest `TRADE_CHART_PAGE` first and
 * older ones as the chart is scrolled left, with the trades of the bars loaded marked. */
export function TradeChart({ symbol, timeframe, report, trades }: { symbol: string; timeframe: string; report: Report; trades: ReportTrade[] }) {
  const d = report.data?.find((x) => x.symbol === symbol)
  const start = d?.start ?? (report.metrics.start as string | undefined)
  const end = d?.end ? new Date(new Date(d.end).getTime() + 1000).toISOString() : undefined
  const q = useCandlePages(symbol, timeframe, { start, end }, TRADE_CHART_PAGE)
  const pages = q.data?.pages
  const candles = useMemo(() => joinPages(pages ?? []), [pages])
  const source = useMemo(() => candlesSource(candles), [candles])
  const mine = useMemo(() => trades.filter((t) => t.symbol === symbol), [trades, symbol])
  const markers = useMemo(() => tradesToMarkers(mine), [mine])
  if (q.error && !pages) return <ErrorNote error={q.error} />
  if (q.isPending) return <Loading />
  if (candles.length === 0) return <Empty>No stored candles for {symbol} {timeframe}.</Empty>
  return (
    <>
      <CandleChart candles={candles} markers={markers} trades={mine} testId="trade-chart" source={source}
        onNeedOlder={olderLoader(q)} loadingOlder={q.isFetchingNextPage} hasOlder={q.hasNextPage} />
      {q.isFetchNextPageError && <ErrorNote error={q.error} />}
    </>
  )
}

const COLS: [TradeKey, string, boolean][] = [
  ['symbol', 'Symbol', false], ['entry_time', 'Entry', false], ['exit_time', 'Exit', false], ['size', 'Size', true],
  ['entry_price', 'Entry price', true], ['exit_price', 'Exit price', true], ['pnl', 'PnL', true],
  ['return_pct', 'Return', true], ['commission', 'Commission', true],
]

export function TradesTable({ trades, timeframe }: { trades: ReportTrade[]; timeframe?: string }) {
  const [sort, setSort] = useState<{ key: TradeKey; dir: SortDir }>({ key: 'entry_time', dir: 'asc' })
  const [f, setF] = useState<TradeFilter>({ symbol: '', side: 'all', outcome: 'all' })
  const all = useMemo(() => sortRows(filterTrades(trades, f), sort.key, sort.dir), [trades, f, sort])
  const { rows, pager } = usePaged(all, 100)
  if (trades.length === 0) return <Empty>No closed trades.</Empty>
  return (
    <>
      <div className="row" style={{ marginBottom: '.5rem' }}>
        <input aria-label="Filter by symbol" placeholder="symbol" value={f.symbol} onChange={(e) => setF({ ...f, symbol: e.target.value })} />
        <select aria-label="Side" value={f.side} onChange={(e) => setF({ ...f, side: e.target.value as TradeFilter['side'] })}>
          <option value="all">long and short</option><option value="long">long</option><option value="short">short</option>
        </select>
        <select aria-label="Outcome" value={f.outcome} onChange={(e) => setF({ ...f, outcome: e.target.value as TradeFilter['outcome'] })}>
          <option value="all">wins and losses</option><option value="win">wins</option><option value="loss">losses</option>
        </select>
        <span className="small">{all.length} shown</span>
      </div>
      <div className="table-wrap" {...scrollable('Trades')}>
        <table data-testid="trades-table">
          <thead>
            <tr>{COLS.map(([k, label, num]) => <SortTh key={k} k={k} label={label} num={num} sort={sort} onSort={(c) => setSort(nextSort(sort, c))} />)}</tr>
          </thead>
          <tbody>
            {rows.map((t, i) => (
              <tr key={`${t.symbol}-${t.entry_bar}-${i}`} data-testid="trade-row">
                <td>{t.symbol}</td><td>{timeframe ? fmtBarTime(t.entry_time, timeframe) : fmtTime(t.entry_time)}</td><td>{timeframe ? fmtBarTime(t.exit_time, timeframe) : fmtTime(t.exit_time)}</td>
                <td className="num">{t.size}</td><td className="num">{fmtMoney(t.entry_price)}</td><td className="num">{fmtMoney(t.exit_price)}</td>
                <td className={`num ${t.pnl > 0 ? 'pos' : t.pnl < 0 ? 'neg' : ''}`}>{fmtMoney(t.pnl)}</td>
                <td className="num">{fmtPct(t.return_pct)}</td><td className="num">{fmtMoney(t.commission)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {pager}
    </>
  )
}
