import { describe, expect, it } from 'vitest'
import type { Account, AccountPosition } from '../api/types'
import { accountHref, busyAccount, closeShareText, closeWholeText, heldPositions, hrefOfId, sortAccounts } from './accounts'

type Row = Pick<Account, 'id' | 'venue' | 'live' | 'run_id'>
const a = (id: string, live = false): Row => {
  const [venue, number] = id.split('/')
  return { id, venue, live, run_id: venue === 'sim' ? Number(number) : null }
}

describe('accounts', () => {
  it('sorts real money first, then other broker accounts, then simulated ones newest run first', () => {
    const rows = [a('sim/3'), a('alpaca/PA2'), a('sim/10'), a('alpaca/LIVE', true), a('alpaca/PA1')]
    expect(sortAccounts(rows).map((r) => r.id)).toEqual(['alpaca/LIVE', 'alpaca/PA1', 'alpaca/PA2', 'sim/10', 'sim/3'])
  })

  it('folds simulated accounts without an active run', () => {
    expect(busyAccount({ venue: 'sim', runs: 0 })).toBe(false)
    expect(busyAccount({ venue: 'sim', runs: 1 })).toBe(true)
    expect(busyAccount({ venue: 'alpaca', runs: 0 })).toBe(true)
  })

  it('links to an account page by venue and number, encoded; none for a numberless account', () => {
    expect(accountHref({ venue: 'alpaca', number: 'PA3FAKE0001' })).toBe('/ui/accounts/alpaca/PA3FAKE0001')
    expect(accountHref({ venue: 'sim', number: 'a b' })).toBe('/ui/accounts/sim/a%20b')
    expect(accountHref({ venue: 'sim' })).toBeNull()
    expect(hrefOfId('sim/42')).toBe('/ui/accounts/sim/42')
    expect(hrefOfId('sim')).toBeNull()
  })

  it('keeps positions someone holds, by the broker or by the records', () => {
    const p = (symbol: string, qty: number, runs: [number, number][], unattributed: number): AccountPosition =>
      ({ symbol, qty, runs: runs.map(([run_id, q]) => ({ run_id, qty: q })), unattributed })
    expect(heldPositions([p('A', 0, [], 0), p('B', 1, [], 1), p('C', 0, [[5, 2]], -2), p('D', 0, [[5, 0]], 0)]).map((x) => x.symbol)).toEqual(['B', 'C'])
    expect(heldPositions(null)).toEqual([])
  })

  it('says what a close closes', () => {
    const short: AccountPosition = { symbol: 'MSFT', qty: -4, runs: [{ run_id: 5, qty: -1 }, { run_id: 6, qty: -3 }], unattributed: 0 }
    expect(closeWholeText({ id: 'alpaca/X' }, short)).toEqual([
      'Buys back all 4 MSFT on alpaca/X with market orders:', "run #5's share of -1, through the run", "run #6's share of -3, through the run",
    ])
    expect(closeShareText({ symbol: 'AAPL', qty: 3, runs: [{ run_id: 5, qty: 3 }], unattributed: 0 }, 5, 3))
      .toBe("A market order sells run #5's 3 AAPL, through the run. That is the whole position.")
  })
})
