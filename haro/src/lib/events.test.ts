import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createBatcher, eventSummary, keysForEvent } from './events'

describe('keysForEvent', () => {
  it('maps each namespace to the queries it makes stale', () => {
    expect(keysForEvent({ type: 'ui.strategy.StatusChanged', run_id: null })).toEqual([['strategies']])
    expect(keysForEvent({ type: 'ui.backtest.StatusChanged', run_id: null })).toEqual([['backtests']])
    expect(keysForEvent({ type: 'ui.run.StatusChanged', run_id: '7' })).toEqual([['runs'], ['accounts'], ['run', '7']])
    expect(keysForEvent({ type: 'ui.orders.Updated', run_id: '7' })).toContainEqual(['orders'])
    expect(keysForEvent({ type: 'ui.orders.Filled.v2', run_id: '7' })).toContainEqual(['run', '7'])
    expect(keysForEvent({ type: 'ui.market.Bar', run_id: '3' })).toEqual([['run', '3']])
    expect(keysForEvent({ type: 'ui.run.Heartbeat', run_id: '3' })).toEqual([['run', '3'], ['accounts']])
    expect(keysForEvent({ type: 'ui.data.CandlesStored', run_id: null })).toEqual([['candles']])
  })

  it('refreshes the run a risk event is about', () => {
    expect(keysForEvent({ type: 'ui.risk.OrderDenied', run_id: '7' })).toEqual([['run', '7']])
    expect(keysForEvent({ type: 'ui.risk.TradingStateChanged', run_id: '7' })).toEqual([['run', '7']])
    expect(eventSummary({ type: 'ui.risk.TradingStateChanged', data: { state: 'reduce_only' } })).toBe('Trading state set to reduce-only')
    expect(eventSummary({ type: 'ui.run.StatusChanged', data: {} })).toBeNull()
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
