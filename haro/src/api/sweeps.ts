// Sweeps (`/sweeps`): the hooks of the sweep views. Kept apart from queries.ts so the sweep views
// and their tests read one small file.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, qs } from './client'
import { fallbackInterval } from '../app/query-client'
import type { components } from './schema'
import type { Backtest, Report } from './types'

type S = components['schemas']
type Json = Record<string, unknown>

/** A sweep point: the generated type has `params`/`metrics` as bare objects. */
export type SweepPoint = Omit<S['PointView'], 'params' | 'metrics'> & { params: Json; metrics?: Record<string, number | null> | null }
/** The generated type has `config` as a bare object; `overfitting` is null until the sweep ends. */
export type Sweep = Omit<S['SweepView'], 'best' | 'results' | 'config'> & {
  best?: SweepPoint | null; results?: SweepPoint[] | null; config: Json
}
export type Axis = (number | string | boolean)[] | { min: number; max: number; step?: number; log?: boolean; count?: number }
export type SweepRequest = Omit<S['SweepRequestView'], 'space' | 'params' | 'strategy'> & {
  strategy: number | string
  space: Record<string, Axis>
  params?: Json | null
}
export type SortOrder = 'asc' | 'desc'
/** A page of results: `sort` a metric key (none: by the objective), paged by `offset`. */
export interface ResultsQuery { sort?: string; order?: SortOrder; offset: number; limit: number }

/** A sweep that can still change; its page polls while so. */
export const working = (s: Pick<Sweep, 'status'> | undefined) => s?.status === 'queued' || s?.status === 'running'
/** How often a working sweep is asked again: the brief's 1–2 s, without leaning on the event stream. */
export const SWEEP_POLL_MS = 1500

export const useSweeps = () =>
  useQuery({
    queryKey: ['sweeps'],
    queryFn: () => api.get<Sweep[]>('/sweeps?limit=100'),
    refetchInterval: (q) => (q.state.data?.some(working) ? SWEEP_POLL_MS : fallbackInterval()),
  })

export const useSweep = (id: string, page: ResultsQuery) =>
  useQuery({
    queryKey: ['sweeps', id, page],
    queryFn: () => api.get<Sweep>(`/sweeps/${id}${qs({ limit: page.limit, offset: page.offset, sort: page.sort, order: page.order })}`),
    // Keeps the table while a new sort or page loads, so it does not flash empty.
    placeholderData: keepPreviousData,
    refetchInterval: (q) => (working(q.state.data) ? SWEEP_POLL_MS : false),
  })

export function useCreateSweep() {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: (req: SweepRequest) => api.post<Sweep>('/sweeps', req),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['sweeps'] }),
  })
}

export function useCancelSweep(id: string) {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: () => api.post<Sweep>(`/sweeps/${id}/cancel`),
    onSettled: () => qc.invalidateQueries({ queryKey: ['sweeps'] }),
  })
}

/** A point's report: the server runs the point again, so it is asked only when the user wants it. */
export const usePointReport = (id: string, index: number | null) =>
  useQuery({
    queryKey: ['sweeps', id, 'report', index],
    queryFn: () => api.get<Report>(`/sweeps/${id}/points/${index}/report`),
    enabled: index !== null,
    staleTime: Infinity,
  })

export function useOpenAsBacktest(id: string) {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: (index: number) => api.post<Backtest>(`/sweeps/${id}/points/${index}/backtest`),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['backtests'] }),
  })
}
