// Candles: the stored bars of one symbol and timeframe.
import { useSearchParams } from 'react-router'
import { useCandles } from '../api/queries'
import { CandleChart } from '../components/charts'
import { Empty, QueryState } from '../components/ui'
import { TIMEFRAMES } from './run-form'

export default function Candles() {
  const [p, setP] = useSearchParams()
  const symbol = (p.get('symbol') ?? '').toUpperCase()
  const timeframe = p.get('timeframe') ?? '1Day'
  const q = useCandles(symbol, timeframe)
  const set = (k: string, v: string) => {
    const n = new URLSearchParams(p)
    n.set(k, v)
    setP(n, { replace: true })
  }
  return (
    <section>
      <h1>Candles</h1>
      <form className="form" onSubmit={(e) => { e.preventDefault(); set('symbol', String(new FormData(e.currentTarget).get('symbol') ?? '')) }}>
        <label>Symbol<input name="symbol" defaultValue={symbol} placeholder="GOOG" /></label>
        <label>Timeframe
          <select value={timeframe} onChange={(e) => set('timeframe', e.target.value)}>
            {TIMEFRAMES.map((t) => <option key={t}>{t}</option>)}
          </select>
        </label>
        <button className="primary" type="submit">Show</button>
      </form>
      {!symbol ? <Empty>Choose a symbol.</Empty> : (
        <QueryState q={q}>
          {() => (q.data!.length === 0 ? <Empty>No stored candles for {symbol} {timeframe}. Import some with <code>weaver data import</code>.</Empty> : (
            <>
              <p className="small">{q.data!.length} bars (the newest 10,000 at most)</p>
              <CandleChart candles={q.data!} />
            </>
          ))}
        </QueryState>
      )}
    </section>
  )
}
