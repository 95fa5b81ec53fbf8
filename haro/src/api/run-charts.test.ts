// How a run's newest equity page is joined onto the one held and how a run's candles are
// extended: a refresh skips no bar time even when more than a page of them came in between, and
// only the candles not held are asked for.
import { describe, expect, it } from 'vitest'
import type { Candle } from './types'
import { extendCandles, refreshNewest, type EquityPage } from './run-charts'

const ts = (i: number) => new Date(Date.UTC(2024, 0, 2, i)).toISOString().replace('.000Z', 'Z')
/** The API's page of the `n` bar times before `before` among bars 0..`last`, a fill on each. */
const server = (last: number, n: number) => async (before: string | null): Promise<EquityPage> => {
  const to = before ? Date.parse(before) : Infinity
  const bars = Array.from({ length: last + 1 }, (_, i) => i).filter((i) => Date.parse(ts(i)) < to).slice(-n)
  return {
    points: bars.map((i) => ({ ts: ts(i), equity: i })),
    fills: bars.map((i) => ({ bar_ts: ts(i), filled_at: ts(i), order_id: i, symbol: 'X', side: 'buy', qty: 1, price: i })),
    next_before: bars[0] > 0 ? ts(bars[0]) : null,
    first_bar: ts(0), last_bar: ts(last), starting_cash: 0, progress: { bars_done: last + 1, bars_total: null },
  }
}

describe('refreshNewest', () => {
  it('keeps the held bars and fills older than the fetched ones, and its cursor', async () => {
    const held = await server(9, 3)(null) // 7..9
    const got = await refreshNewest(server(10, 3), held) // 8..10 fetched
    expect(got.points.map((p) => p.equity)).toEqual([7, 8, 9, 10])
    expect(got.fills.map((f) => f.order_id)).toEqual([7, 8, 9, 10])
    expect(got.next_before).toBe(ts(7))
    expect(got.progress.bars_done).toBe(11)
  })

  it('reaches back to the held bars when more than a page came since', async () => {
    const held = await server(5, 3)(null) // 3..5
    const asked: (string | null)[] = []
    const get = server(12, 3)
    const got = await refreshNewest((b) => (asked.push(b), get(b)), held)
    expect(got.points.map((p) => p.equity)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    expect(asked).toEqual([null, ts(10), ts(7)])
    expect(got.next_before).toBe(ts(3))
  })

  it('is the fetched page when nothing is held', async () => {
    expect((await refreshNewest(server(4, 3))).points.map((p) => p.equity)).toEqual([2, 3, 4])
  })
})

describe('extendCandles', () => {
  const c = (i: number) => ({ ts: ts(i), close: i }) as Candle
  const store = (last: number) => {
    const asked: [string, string][] = []
    const get = async (s: string, e: string) => {
      asked.push([s, e])
      return Array.from({ length: last + 1 }, (_, i) => c(i)).filter((x) => x.ts >= s && Date.parse(x.ts) < Date.parse(e))
    }
    return { asked, get }
  }

  it('asks for the bars older than those held and from the last held one on', async () => {
    const { asked, get } = store(9)
    const got = await extendCandles(get, { from: ts(5), candles: [5, 6, 7].map(c) }, ts(2), ts(9))
    expect(got.map((x) => x.close)).toEqual([2, 3, 4, 5, 6, 7, 8, 9])
    expect(asked.map(([s]) => s)).toEqual([ts(2), ts(7)])
  })

  it('drops the held bars before a later first one and asks for all when nothing held overlaps', async () => {
    const { asked, get } = store(9)
    expect((await extendCandles(get, { from: ts(0), candles: [0, 1, 2, 3].map(c) }, ts(2), ts(4))).map((x) => x.close)).toEqual([2, 3, 4])
    expect(asked.map(([s]) => s)).toEqual([ts(3)])
    expect((await extendCandles(get, { from: ts(0), candles: [0, 1].map(c) }, ts(6), ts(8))).map((x) => x.close)).toEqual([6, 7, 8])
    expect(asked.slice(-1)[0][0]).toBe(ts(6))
  })
})
