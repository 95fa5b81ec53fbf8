import { describe, expect, it } from 'vitest'
import { describeHandOrder, handOrderRequest, isWorking, validateHandOrder, type HandOrderForm } from './orders'

const form = (f: Partial<HandOrderForm> = {}): HandOrderForm => ({
  symbol: 'GOOG', side: 'buy', type: 'market', time_in_force: 'day', sizeBy: 'quantity',
  amount: '10', limit_price: '', stop_price: '', tag: '', ...f,
})

describe('isWorking', () => {
  it('is true until an order has ended', () => {
    expect(['new', 'accepted', 'pending_new', 'partially_filled', 'pending_cancel', 'held'].every(isWorking)).toBe(true)
    expect(['filled', 'canceled', 'cancelled', 'rejected', 'expired', 'done_for_day', 'replaced'].some(isWorking)).toBe(false)
  })
})

describe('validateHandOrder', () => {
  it('accepts a market order by quantity', () => {
    expect(validateHandOrder(form())).toEqual({})
  })

  it('wants a positive size and the prices the type uses', () => {
    expect(validateHandOrder(form({ amount: '0' }))).toEqual({ amount: 'Enter a quantity above 0.' })
    expect(validateHandOrder(form({ amount: 'x', sizeBy: 'notional' }))).toEqual({ amount: 'Enter an amount above 0.' })
    expect(validateHandOrder(form({ type: 'limit' }))).toEqual({ limit_price: 'Enter a limit price above 0.' })
    expect(validateHandOrder(form({ type: 'stop', limit_price: '5' }))).toEqual({ stop_price: 'Enter a stop price above 0.' })
    expect(Object.keys(validateHandOrder(form({ type: 'stop_limit', symbol: '' })))).toEqual(['symbol', 'limit_price', 'stop_price'])
  })
})

describe('handOrderRequest', () => {
  it('sends decimals as strings and only the prices the type uses', () => {
    expect(handOrderRequest(form({ amount: ' 10 ', limit_price: '99' }))).toEqual({
      symbol: 'GOOG', side: 'buy', type: 'market', time_in_force: 'day', quantity: '10',
    })
    expect(handOrderRequest(form({ side: 'sell', type: 'stop_limit', sizeBy: 'notional', amount: '500', limit_price: '89.5', stop_price: '90', tag: ' exit ' })))
      .toEqual({ symbol: 'GOOG', side: 'sell', type: 'stop_limit', time_in_force: 'day', notional: '500', limit_price: '89.5', stop_price: '90', tag: 'exit' })
  })
})

describe('describeHandOrder', () => {
  it('says the order in words', () => {
    expect(describeHandOrder(handOrderRequest(form()))).toBe('Buy 10 GOOG at market, day')
    expect(describeHandOrder(handOrderRequest(form({ side: 'sell', type: 'stop_limit', sizeBy: 'notional', amount: '500', limit_price: '89.5', stop_price: '90', time_in_force: 'gtc' }))))
      .toBe('Sell $500.00 of GOOG stop $90.00 limit $89.50, gtc')
    expect(describeHandOrder(handOrderRequest(form({ type: 'limit', limit_price: '100' })))).toBe('Buy 10 GOOG limit $100.00, day')
  })
})
