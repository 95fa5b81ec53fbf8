// The backtest page's "By symbol" table: the report's `by_symbol` rows (what each symbol's closed
// trades made of the one cash account), sortable by any column like the trades table, with the
// total row kept last whatever the sort.
import { useMemo, useState } from 'react'
import type { BySymbol, SymbolStats } from '../api/types'
import { nextSort, scrollable, SortTh } from '../components/ui'
import { fmtMoney, fmtPct, fmtPnl } from '../lib/format'
import { sortRows, type SortDir } from '../lib/trades'

export type SymbolKey = keyof SymbolStats

const COLS: [SymbolKey, string, boolean][] = [
  ['symbol', 'Symbol', false], ['trades', 'Trades', true], ['win_rate_pct', 'Win rate', true],
  ['net_pnl', 'Net PnL', true], ['pnl_share_pct', 'Share of PnL', true], ['contribution_pct', 'Contribution', true],
  ['commissions', 'Commissions', true], ['best_trade_pct', 'Best trade', true], ['worst_trade_pct', 'Worst trade', true],
  ['avg_trade_pct', 'Avg. trade', true], ['exposure_time_pct', 'Exposure', true], ['open_trades', 'Open', true],
]

/** Whether the page shows the table: a report of more than one symbol (one row would repeat the metrics). */
export function showsBySymbol(by: BySymbol | null | undefined): by is BySymbol {
  return (by?.symbols.length ?? 0) > 1
}

function Cells({ row }: { row: SymbolStats }) {
  const pnl = row.net_pnl
  return (
    <>
      <td className="num">{row.trades}</td>
      <td className="num">{fmtPct(row.win_rate_pct)}</td>
      <td className={`num ${pnl > 0 ? 'pos' : pnl < 0 ? 'neg' : ''}`}>{fmtPnl(pnl)}</td>
      <td className="num">{fmtPct(row.pnl_share_pct)}</td>
      <td className="num">{fmtPct(row.contribution_pct)}</td>
      <td className="num">{fmtMoney(row.commissions)}</td>
      <td className="num">{fmtPct(row.best_trade_pct)}</td>
      <td className="num">{fmtPct(row.worst_trade_pct)}</td>
      <td className="num">{fmtPct(row.avg_trade_pct)}</td>
      <td className="num">{fmtPct(row.exposure_time_pct)}</td>
      <td className="num">{row.open_trades}</td>
    </>
  )
}

export function BySymbolTable({ by }: { by: BySymbol }) {
  const [sort, setSort] = useState<{ key: SymbolKey; dir: SortDir }>({ key: 'symbol', dir: 'asc' })
  const rows = useMemo(() => sortRows(by.symbols, sort.key, sort.dir), [by, sort])
  return (
    <div className="table-wrap" {...scrollable('By symbol')}>
      <table data-testid="by-symbol-table">
        <thead>
          <tr>{COLS.map(([k, label, num]) => <SortTh key={k} k={k} label={label} num={num} sort={sort} onSort={(c) => setSort(nextSort(sort, c))} />)}</tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.symbol ?? ''} data-testid="by-symbol-row">
              <td>{r.symbol}</td><Cells row={r} />
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr data-testid="by-symbol-total">
            <th scope="row">Total</th><Cells row={by.total} />
          </tr>
        </tfoot>
      </table>
    </div>
  )
}
