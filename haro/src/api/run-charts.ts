// A run's charts (`GET /runs/{id}/equity`) and the run list's sparklines (`GET /runs/sparklines`):
// hooks and types. The equity keys sit under ['run', id], so the events that refresh a run (its
// bars, fills, status) refresh its curve too; the sparklines sit under ['runs'], refreshed with
// the run list.
//
// A run's curve is an infinite query: the newest page, then older ones as the page asks. A
// refresh (an event every few hundred milliseconds while a run runs) asks for the newest page
// only: it is joined onto the newest page held, which keeps its first bar, so the older pages
// held still follow it (their cursors do not move) and are handed back as they are, and the
// price chart never loses the bars it shows.
import { useRef } from 'react'
import { keepPreviousData, useInfiniteQuery, useQuery, type InfiniteData } from '@tanstack/react-query'
import { api, qs } from './client'
import { fetchCandleRange } from './queries'
import type { components } from './schema'
import type { Candle } from './types'

type S = components['schemas']

export type EquityPage = S['EquityPageView']
export type BarFill = S['BarFillView']
export type Progress = S['RunProgressView']
export type Sparkline = S['SparklineView']
export type EquityPages = InfiniteData<EquityPage, string | null>

/** Bar times the run page loads at once. */
export const EQUITY_PAGE = 2000
/** Points of one sparkline. */
export const SPARK_POINTS = 40

export const runEquityKey = (runId: number | string) => ['run', String(runId), 'equity'] as const

const ms = (ts: string) => Date.parse(ts)

/** A page of a run's equity curve with its fills: the newest bar times, or those before `before`. */
const fetchEquity = (runId: number | string, before: string | null) =>
  api.get<EquityPage>(`/runs/${runId}/equity${qs({ before, limit: EQUITY_PAGE })}`)

/**
 * The newest page joined onto `held` (the newest page as it was): its points and fills older than
 * those fetched stay, so it keeps its first bar and its `next_before`. When more bars came than a
 * page holds since, the pages before the fetched one are asked too, back to the held bars, so
 * none in between is skipped.
 */
export async function refreshNewest(get: (before: string | null) => Promise<EquityPage>, held?: EquityPage): Promise<EquityPage> {
  const fresh = await get(null)
  const lastHeld = held?.points[held.points.length - 1]?.ts
  if (!held || !lastHeld) return fresh
  const got = [fresh]
  while (got[0].next_before && got[0].points.length && ms(got[0].points[0].ts) > ms(lastHeld)) got.unshift(await get(got[0].next_before))
  const points = got.flatMap((p) => p.points)
  const from = points.length ? ms(points[0].ts) : Infinity
  const kept = held.points.filter((p) => ms(p.ts) < from)
  return {
    ...fresh,
    points: [...kept, ...points],
    fills: [...held.fills.filter((f) => ms(f.bar_ts) < from), ...got.flatMap((p) => p.fills)],
    next_before: kept.length ? held.next_before : got[0].next_before,
  }
}

/**
 * A run's curve page by page, newest first (each next page the bar times before the previous
 * one's `next_before`). See the header: a refetch asks for the newest page alone.
 */
export const useRunEquityPages = (runId: number | string) =>
  useInfiniteQuery({
    queryKey: runEquityKey(runId),
    queryFn: ({ pageParam, client, queryKey }) => {
      const held = client.getQueryData<EquityPages>(queryKey)
      if (pageParam === null) return refreshNewest((b) => fetchEquity(runId, b), held?.pages[0])
      // An older page held under the same cursor has not changed: bars before it are settled.
      const i = held?.pageParams.indexOf(pageParam) ?? -1
      return i > 0 ? held!.pages[i] : fetchEquity(runId, pageParam)
    },
    initialPageParam: null as string | null,
    getNextPageParam: (last: EquityPage) => last.next_before ?? undefined,
  })

/** `pages` with the newest `EQUITY_PAGE` bar times alone (what "Newest bars" returns to). */
export function newestOnly(pages: EquityPages): EquityPages {
  const p = pages.pages[0]
  const cut = Math.max(0, p.points.length - EQUITY_PAGE)
  if (cut === 0) return { pages: [p], pageParams: [null] }
  const from = ms(p.points[cut].ts)
  return {
    pages: [{ ...p, points: p.points.slice(cut), fills: p.fills.filter((f) => ms(f.bar_ts) >= from), next_before: p.points[cut].ts }],
    pageParams: [null],
  }
}

/** The pages' points and fills as one curve, oldest first. */
export function joinEquity(pages: readonly EquityPage[]): { points: EquityPage['points']; fills: BarFill[] } {
  const old = pages.slice().reverse()
  return { points: old.flatMap((p) => p.points), fills: old.flatMap((p) => p.fills) }
}

/** The sparklines of the runs `ids` (one request for a page of the run list). */
export const useRunSparklines = (ids: readonly number[]) =>
  useQuery({
    queryKey: ['runs', 'sparklines', ids.join(',')],
    enabled: ids.length > 0,
    queryFn: () => api.get<{ items: Sparkline[] }>(`/runs/sparklines${qs({ ids: ids.join(','), points: SPARK_POINTS })}`),
    placeholderData: keepPreviousData,
  })

/** One second past `ts`: bars are at least a minute apart, so an end just past a bar holds it. */
const past = (ts: string) => new Date(ms(ts) + 1000).toISOString()

/**
 * The candles of `[first, last]` given those `held` from `from` on: only the bars not held are
 * asked for (older than `from`, and from the last held bar on, which is asked again in case it
 * was stored after it was first read).
 */
export async function extendCandles(
  get: (start: string, end: string) => Promise<Candle[]>, held: { from: string; candles: Candle[] } | null, first: string, last: string,
): Promise<Candle[]> {
  const tail = held?.candles[held.candles.length - 1]?.ts
  if (!held || !tail || ms(tail) < ms(first) || ms(held.from) > ms(last)) return get(first, past(last))
  const older = ms(first) < ms(held.from) ? await get(first, held.from) : []
  const newer = await get(tail, past(last))
  const kept = held.candles.filter((c) => ms(c.ts) >= ms(first) && ms(c.ts) < ms(tail))
  return [...older, ...kept, ...newer]
}

/**
 * The candles of the loaded pages of a run's chart, `first` to `last` (under ['run', id],
 * refreshed by the run's events): a new last bar or an older page is a new key, and only the
 * bars this chart does not hold yet are asked for, so a long run's refreshes stay one small
 * request; windows left behind are dropped within seconds rather than cached.
 */
export function useRunCandles(runId: number | string, symbol: string, timeframe: string, first: string, last: string) {
  const held = useRef<{ series: string; from: string; candles: Candle[] } | null>(null)
  const series = `${symbol} ${timeframe}`
  return useQuery({
    queryKey: ['run', String(runId), 'candles', symbol, timeframe, first, last],
    queryFn: async () => {
      const h = held.current?.series === series ? held.current : null
      const candles = await extendCandles((s, e) => fetchCandleRange(symbol, timeframe, s, e), h, first, last)
      held.current = { series, from: first, candles }
      return candles
    },
    enabled: Boolean(symbol && first && last),
    placeholderData: keepPreviousData,
    // A running run makes a window per bar: one left behind is not kept.
    gcTime: 10_000,
  })
}
