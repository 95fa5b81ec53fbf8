import { describe, expect, it } from 'vitest'
import type { Order, OrderPage } from '../api/types'
import { allOrders, backtestExports, csvCell, ORDER_COLUMNS, ordersCsv } from './exports'

const order = (id: number, over: Partial<Order> = {}): Order => ({
  id, client_order_id: `c-${id}`, exchange_order_id: null, run_id: 7, symbol: 'SYN', side: 'buy',
  order_type: 'market', time_in_force: 'day', quantity: '10', notional: null, limit_price: null,
  stop_price: null, status: 'filled', filled_quantity: '10', average_price: '101.5',
  created_at: '2024-01-02T03:04:05Z', updated_at: '2024-01-02T03:04:06Z', ...over,
})

describe('exports', () => {
  it('name the backtest files by id', () => {
    const x = backtestExports(12)
    expect(x.map((e) => e.path)).toEqual([
      '/backtests/12/trades?format=csv', '/backtests/12/trades?format=json', '/backtests/12/report.json', '/backtests/12/report.html',
    ])
    expect(x[0].file).toBe('backtest-12-trades.csv')
  })

  it('write orders as CSV with a header, quoting and defused formulas', () => {
    const csv = ordersCsv([order(1), order(2, { client_order_id: '=cmd|x', symbol: 'A,"B"', limit_price: '-1.5' })])
    const lines = csv.trimEnd().split('\r\n')
    expect(lines[0]).toBe(ORDER_COLUMNS.join(','))
    expect(lines[1]).toBe('1,7,c-1,,SYN,buy,market,day,10,,,,filled,10,101.5,2024-01-02T03:04:05Z,2024-01-02T03:04:06Z')
    expect(lines[2]).toContain(",'=cmd|x,")
    expect(lines[2]).toContain(',"A,""B""",')
    expect(lines[2]).toContain(',-1.5,')
    expect(csvCell(null)).toBe('')
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)")
  })

  it('read every page of a filter', async () => {
    const pages: Record<string, OrderPage> = {
      '/orders?run=7&limit=1000': { orders: [order(5), order(4)], next_after: null, next_before: 4 },
      '/orders?run=7&before=4&limit=1000': { orders: [order(3)], next_after: null, next_before: null },
    }
    const asked: string[] = []
    const got = await allOrders({ run: '7' }, async <T,>(p: string) => {
      asked.push(p)
      return pages[p] as T
    })
    expect(asked).toEqual(Object.keys(pages))
    expect(got.orders.map((o) => o.id)).toEqual([5, 4, 3])
    expect(got.truncated).toBe(false)
  })
})
