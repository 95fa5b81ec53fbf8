// A run's charts (`GET /runs/{id}/equity`) and the run list's sparklines (`GET /runs/sparklines`):
// hooks and types. The equity keys sit under ['run', id], so the events that refresh a run (its
// bars, fills, status) refresh its curve too; the sparklines sit under ['runs'], refreshed with
// the run list.
import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { api, qs } from './client'
import { fetchCandleRange } from './queries'
import type { components } from './schema'

type S = components['schemas']

export type EquityPage = S['EquityPageView']
export type BarFill = S['BarFillView']
export type Progress = S['RunProgressView']
export type Sparkline = S['SparklineView']

/** Bar times the run page loads at once. */
export const EQUITY_PAGE = 2000
/** Points of one sparkline. */
export const SPARK_POINTS = 40

/** A page of a run's equity curve with its fills: the newest bar times, or those before `before`. */
export const useRunEquity = (runId: number | string, before?: string | null) =>
  useQuery({
    queryKey: ['run', String(runId), 'equity', before ?? null],
    queryFn: () => api.get<EquityPage>(`/runs/${runId}/equity${qs({ before, limit: EQUITY_PAGE })}`),
    placeholderData: keepPreviousData,
  })

/** The sparklines of the runs `ids` (one request for a page of the run list). */
export const useRunSparklines = (ids: readonly number[]) =>
  useQuery({
    queryKey: ['runs', 'sparklines', ids.join(',')],
    enabled: ids.length > 0,
    queryFn: () => api.get<{ items: Sparkline[] }>(`/runs/sparklines${qs({ ids: ids.join(','), points: SPARK_POINTS })}`),
    placeholderData: keepPreviousData,
  })

/**
 * The candles of a page of a run's chart, `first` to `last` (under ['run', id], refreshed by the
 * run's events): a new last bar is a new key, fetched at once so the prices keep up with the
 * equity curve; windows left behind are dropped within seconds rather than cached.
 */
export const useRunCandles = (runId: number | string, symbol: string, timeframe: string, first: string, last: string) =>
  useQuery({
    queryKey: ['run', String(runId), 'candles', symbol, timeframe, first, last],
    // One second past the last bar: bars are at least a minute apart.
    queryFn: () => fetchCandleRange(symbol, timeframe, first, new Date(new Date(last).getTime() + 1000).toISOString()),
    enabled: Boolean(symbol && first && last),
    placeholderData: keepPreviousData,
    // A running run makes a window per bar: one left behind is not kept.
    gcTime: 10_000,
  })
