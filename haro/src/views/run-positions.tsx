// A run's positions with the controls that reduce them: Close (one symbol, a market order for the
// run's own share) and Flatten run (cancel all its working orders, close all its positions; the
// run keeps running). Both ask first, and what they did stays shown under the table.
import { useState } from 'react'
import { useClosePosition, useFlattenRun } from '../api/queries'
import type { Position, Run } from '../api/types'
import { Confirm } from '../components/dialog'
import { Empty, ErrorNote, Pnl, scrollable } from '../components/ui'
import { fmtMoney, fmtQty, toNumber } from '../lib/format'
import { AttemptLine, FlattenSummary, OrderRefusal } from './control'

type Asking = { kind: 'close'; position: Position } | { kind: 'flatten' } | null

export function RunPositions({ run }: { run: Pick<Run, 'id' | 'status' | 'positions'> }) {
  const closeP = useClosePosition(run.id)
  const flatten = useFlattenRun(run.id)
  const [asking, setAsking] = useState<Asking>(null)
  const [last, setLast] = useState<'close' | 'flatten' | null>(null)
  const running = run.status === 'running'
  const positions = run.positions
  const done = () => setAsking(null)
  const confirm = () => {
    if (asking?.kind === 'close') {
      setLast('close')
      flatten.reset()
      closeP.mutate(asking.position.symbol, { onSettled: done })
    } else if (asking?.kind === 'flatten') {
      setLast('flatten')
      closeP.reset()
      flatten.mutate(undefined, { onSettled: done })
    }
  }
  return (
    <>
      <h2 className="row">
        Positions
        {running && (
          <button type="button" className="danger" onClick={() => setAsking({ kind: 'flatten' })} disabled={flatten.isPending}>Flatten run</button>
        )}
      </h2>
      {positions === undefined || positions === null ? (
        <p className="note">Positions are not reported by this server version yet.</p>
      ) : positions.length === 0 ? <Empty>Flat.</Empty> : (
        <div className="table-wrap" {...scrollable('Positions')}>
          <table data-testid="positions-table">
            <thead><tr><th>Symbol</th><th className="num">Qty</th><th className="num">Avg price</th><th className="num">Last</th><th className="num">Unrealized</th>{running && <th />}</tr></thead>
            <tbody>
              {positions.map((p) => (
                <tr key={p.symbol} data-testid="position-row">
                  <td>{p.symbol}</td><td className="num">{fmtQty(p.qty)}</td><td className="num">{fmtMoney(p.avg_price)}</td>
                  <td className="num">{fmtMoney(p.last_price)}</td><td className="num"><Pnl value={p.unrealized_pnl} /></td>
                  {running && (
                    <td><button type="button" className="danger" onClick={() => setAsking({ kind: 'close', position: p })}>Close</button></td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {last === 'close' && <CloseOutcome close={closeP} />}
      {last === 'flatten' && flatten.data && <div className="note" role="status"><b>Flatten run #{run.id}:</b><FlattenSummary result={flatten.data} /></div>}
      {last === 'flatten' && flatten.error && <ErrorNote error={flatten.error} />}
      {asking?.kind === 'close' && (
        <Confirm
          title={`Close ${asking.position.symbol}?`} confirmLabel="Close position" busyLabel="Closing…" testId="close-dialog"
          onConfirm={confirm} onClose={done} busy={closeP.isPending}
        >
          <p>A market order {closeSide(asking.position)} run #{run.id}'s {fmtQty(Math.abs(toNumber(asking.position.qty) ?? 0))} {asking.position.symbol}.</p>
          <p className="small">Only this run's own share is closed. Allowed while trading is halted: it can only reduce.</p>
        </Confirm>
      )}
      {asking?.kind === 'flatten' && (
        <Confirm
          title={`Flatten run #${run.id}?`} confirmLabel="Flatten run" busyLabel="Flattening…" testId="flatten-dialog"
          onConfirm={confirm} onClose={done} busy={flatten.isPending}
        >
          <p>Cancels all of the run's working orders and closes all its positions with market orders.</p>
          <p className="small">The run keeps running, and its strategy may trade again.</p>
        </Confirm>
      )}
    </>
  )
}

const closeSide = (p: Position) => ((toNumber(p.qty) ?? 0) < 0 ? 'buys back' : 'sells')

function CloseOutcome({ close }: { close: ReturnType<typeof useClosePosition> }) {
  if (close.error) return <OrderRefusal error={close.error} />
  if (!close.isSuccess) return null
  return (
    <p className="note" role="status" data-testid="close-result">
      {close.data ? <>Closing order: <AttemptLine a={close.data} /></> : 'Nothing to close: the run holds none of it.'}
    </p>
  )
}
