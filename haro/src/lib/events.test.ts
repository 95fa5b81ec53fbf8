import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createBatcher, eventSummary, feedAdd, keysForEvent } from './events'

describe('keysForEvent', () => {
  it('maps each namespace to the queries it makes stale', () => {
    expect(keysForEvent({ type: 'ui.strategy.StatusChanged', run_id: null })).toEqual([['strategies']])
    expect(keysForEvent({ type: 'ui.backtest.StatusChanged', run_id: null })).toEqual([['backtests']])
    expect(keysForEvent({ type: 'ui.backtest.SweepStatusChanged', run_id: null })).toEqual([['sweeps']])
    expect(keysForEvent({ type: 'ui.backtest.WalkForwardStatusChanged', run_id: null })).toEqual([['walkforward']])
    expect(keysForEvent({ type: 'ui.run.StatusChanged', run_id: '7' })).toEqual([['runs'], ['accounts'], ['account'], ['run', '7']])
    expect(keysForEvent({ type: 'ui.orders.Updated', run_id: '7' })).toContainEqual(['orders'])
    expect(keysForEvent({ type: 'ui.orders.Filled.v2', run_id: '7' })).toContainEqual(['run', '7'])
    // The run's card and its account's card move together (issue #23: they disagreed).
    expect(keysForEvent({ type: 'ui.market.Bar', run_id: '3' })).toEqual([['run', '3'], ['accounts'], ['account']])
    expect(keysForEvent({ type: 'ui.run.Heartbeat', run_id: '3' })).toEqual([['run', '3'], ['accounts'], ['account']])
    expect(keysForEvent({ type: 'ui.orders.Filled.v2', run_id: '7' })).toContainEqual(['account'])
    expect(keysForEvent({ type: 'ui.data.CandlesStored', run_id: null })).toEqual([['candles']])
  })

  it('refreshes the run a risk event is about', () => {
    // ... and the page of its paper account, should it be a simulated run's.
    expect(keysForEvent({ type: 'ui.risk.OrderDenied', run_id: '7' })).toEqual([['run', '7'], ['account', 'sim/7']])
    expect(keysForEvent({ type: 'ui.risk.TradingStateChanged', run_id: '7' })).toEqual([['run', '7'], ['account', 'sim/7']])
    expect(eventSummary({ type: 'ui.risk.TradingStateChanged', data: { state: 'reduce_only' } })).toBe('Trading state set to reduce-only')
    expect(eventSummary({ type: 'ui.run.StatusChanged', data: {} })).toBeNull()
  })

  it("refreshes the accounts and the page of the account an account event names", () => {
    const A = 'alpaca/PA3FAKE0001'
    const both = [['accounts'], ['account', A]]
    expect(keysForEvent({ type: 'ui.risk.AccountLimitsChanged', run_id: null, data: { account: A, old: {}, new: {} } })).toEqual(both)
    expect(keysForEvent({ type: 'ui.risk.AccountLimitBreached', run_id: null, data: { account: A, rule: 'daily_loss_pct' } })).toEqual(both)
    expect(keysForEvent({ type: 'ui.risk.AccountTradingStateChanged', run_id: null, data: { account: A, state: 'halted' } })).toEqual(both)
    expect(keysForEvent({ type: 'ui.reconcile.PositionMismatch', run_id: null, data: { account: A, symbol: 'AAPL' } })).toEqual(both)
    // An account event about a simulated run's account may carry the run too.
    expect(keysForEvent({ type: 'ui.risk.AccountLimitsChanged', run_id: '42', data: { account: 'sim/42' } }))
      .toEqual([['accounts'], ['account', 'sim/42'], ['run', '42']])
    // The account as an object is understood too.
    expect(keysForEvent({ type: 'ui.risk.AccountTradingStateChanged', run_id: null, data: { account: { venue: 'alpaca', number: 'PA3FAKE0001' } } })).toEqual(both)
    expect(keysForEvent({ type: 'ui.reconcile.PositionMismatch', run_id: null, data: {} })).toEqual([['accounts'], ['account']])
  })

  it('says each account event in one line', () => {
    const A = 'alpaca/PA3FAKE0001'
    expect(eventSummary({ type: 'ui.risk.AccountLimitBreached', data: { account: A, rule: 'daily_loss_pct', figure: '5.2', limit: '5', state: 'halted', at: '2026-01-02T15:00:00Z', until: null } }))
      .toBe('Account alpaca/PA3FAKE0001 daily_loss_pct tripped: 5.2 > 5 → halted')
    expect(eventSummary({ type: 'ui.risk.AccountLimitBreached', data: { account: A, rule: 'daily_loss_pct', figure: '6', limit: '5', state: 'reduce_only', until: '2026-01-03T14:30:00Z' } }))
      .toBe('Account alpaca/PA3FAKE0001 daily_loss_pct tripped: 6 > 5 → reduce-only until 2026-01-03T14:30:00Z')
    expect(eventSummary({ type: 'ui.risk.AccountLimitsChanged', data: { account: A, old: { max_open_orders: 50, daily_loss_pct: '5' }, new: { max_open_orders: 7 } } }))
      .toBe('Account alpaca/PA3FAKE0001 limits changed: max_open_orders 50 → 7, daily_loss_pct 5 → off')
    expect(eventSummary({ type: 'ui.risk.AccountTradingStateChanged', data: { account: A, state: 'reduce_only' } }))
      .toBe('Account alpaca/PA3FAKE0001 trading state set to reduce-only')
    expect(eventSummary({ type: 'ui.reconcile.PositionMismatch', data: { account: A, symbol: 'AAPL', broker_qty: '10', recorded_qty: '8', difference: '2' } }))
      .toBe('Position mismatch AAPL on alpaca/PA3FAKE0001: broker 10, Weaver 8')
    expect(eventSummary({ type: 'ui.reconcile.PositionMismatch', data: { account: A, symbol: 'AAPL', broker_qty: '10', recorded_qty: '10', difference: '0' } }))
      .toBe('Position agrees again: AAPL on alpaca/PA3FAKE0001: broker 10, Weaver 10')
    // An order the account's limits refused says whose they were.
    expect(eventSummary({ type: 'ui.risk.OrderDenied', data: { account: A, rule: 'max_open_orders', figure: '7', limit: '7', side: 'buy', symbol: 'AAPL' } }))
      .toBe('Order denied by account alpaca/PA3FAKE0001: max_open_orders 7 > 7 (buy AAPL)')
    expect(keysForEvent({ type: 'ui.risk.OrderDenied', run_id: '5', data: { account: A } })).toEqual([['accounts'], ['account', A], ['run', '5']])
  })

  it('ignores unknown and run-less bar events', () => {
    expect(keysForEvent({ type: 'ui.clock.Tick', run_id: null })).toEqual([])
    expect(keysForEvent({ type: 'ui.market.Bar', run_id: null })).toEqual([])
  })
})

describe('createBatcher', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('coalesces a burst into one flush of distinct keys', () => {
    const flush = vi.fn()
    const b = createBatcher(flush, 100)
    b.add([['runs'], ['orders']])
    b.add([['runs']])
    b.add([['run', '1']])
    expect(flush).not.toHaveBeenCalled()
    vi.advanceTimersByTime(100)
    expect(flush).toHaveBeenCalledTimes(1)
    expect(flush.mock.calls[0][0]).toEqual([['runs'], ['orders'], ['run', '1']])
    b.add([['runs']])
    vi.advanceTimersByTime(100)
    expect(flush).toHaveBeenCalledTimes(2)
  })

  it('drops pending keys on cancel', () => {
    const flush = vi.fn()
    const b = createBatcher(flush, 100)
    b.add([['runs']])
    b.cancel()
    vi.advanceTimersByTime(500)
    expect(flush).not.toHaveBeenCalled()
  })
})

describe('feedAdd', () => {
  const ev = (i: number, type: string, data: unknown = {}) => ({ cursor: `0-${i}`, type, data, run_id: '1' })
  it('keeps a version switch in the feed after more routine events than the feed holds', () => {
    let feed = [ev(1, 'ui.run.VersionSwitched', { to_strategy_id: 2, reason: 'promote' })]
    for (let i = 2; i < 200; i++) feed = feedAdd(feed, ev(i, i % 2 ? 'ui.orders.Updated' : 'ui.run.Heartbeat'), 50)
    // Newest first: 50 routine events, then the switch that came before all of them.
    expect(feed).toHaveLength(51)
    expect(feed[0].cursor).toBe('0-199')
    expect(feed[49].cursor).toBe('0-150')
    expect(feed[50].type).toBe('ui.run.VersionSwitched')
    expect(eventSummary(feed[50])).toBe('run 1 switched to strategy #2 (promote)')
  })
  it('caps notable events on their own and keeps arrival order', () => {
    let feed: ReturnType<typeof ev>[] = []
    for (let i = 1; i <= 8; i++) feed = feedAdd(feed, ev(i, i % 2 ? 'ui.run.VersionSwitched' : 'ui.orders.Updated', { to_strategy_id: i }), 3)
    expect(feed.map((e) => e.cursor)).toEqual(['0-8', '0-7', '0-6', '0-5', '0-4', '0-3'])
  })
})
