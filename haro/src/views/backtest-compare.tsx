// Two backtests side by side: metrics in columns, both equity curves on one chart.
import { useMemo } from 'react'
import { Link, useSearchParams } from 'react-router'
import { useBacktest } from '../api/queries'
import { LineChart } from '../components/charts'
import { ErrorNote, Loading } from '../components/ui'
import { toLinePoints } from '../lib/trades'
import { reportOf } from './backtests'
import { MetricsTable } from './backtest-detail'

/** Backtest ids as the URL gives them: a positive whole number, else nothing. */
const idOf = (v: string | null) => (v && /^[1-9]\d*$/.test(v) ? v : '')

export default function BacktestCompare() {
  const [p] = useSearchParams()
  const [ia, ib] = [idOf(p.get('a')), idOf(p.get('b'))]
  if (!ia || !ib)
    return (
      <section>
        <p className="small"><Link to="/ui/backtests">← Backtests</Link></p>
        <h1>Compare backtests</h1>
        <p className="note" role="status" data-testid="compare-needs-two">
          Compare needs two backtests (<code>?a=&lt;id&gt;&amp;b=&lt;id&gt;</code>): tick two rows on the{' '}
          <Link to="/ui/backtests">Backtests</Link> page and press "Compare selected".
        </p>
      </section>
    )
  return <Comparison a={ia} b={ib} />
}

function Comparison({ a: ia, b: ib }: { a: string; b: string }) {
  const a = useBacktest(ia)
  const b = useBacktest(ib)
  const ra = a.data && reportOf(a.data)
  const rb = b.data && reportOf(b.data)
  const lines = useMemo(
    () => [
      ...(ra ? [{ name: `#${a.data!.id}`, color: '#2962ff', points: toLinePoints(ra.equity ?? [], (e) => e.ts, (e) => e.equity) }] : []),
      ...(rb ? [{ name: `#${b.data!.id}`, color: '#f57c00', points: toLinePoints(rb.equity ?? [], (e) => e.ts, (e) => e.equity) }] : []),
    ],
    [ra, rb, a.data, b.data],
  )
  return (
    <section>
      <p className="small"><Link to="/ui/backtests">← Backtests</Link></p>
      <h1>Compare #{ia} and #{ib}</h1>
      {a.error && <ErrorNote error={a.error} />}
      {b.error && <ErrorNote error={b.error} />}
      {(a.isPending || b.isPending) && <Loading />}
      {a.data && b.data && (!ra || !rb) && <p className="note">Both backtests need a finished report to compare.</p>}
      {ra && rb && (
        <>
          <MetricsTable reports={[{ name: `#${a.data!.id} ${ra.strategy.name}`, report: ra }, { name: `#${b.data!.id} ${rb.strategy.name}`, report: rb }]} />
          <h2>Equity</h2>
          <LineChart lines={lines} testId="compare-chart" />
        </>
      )}
    </section>
  )
}
