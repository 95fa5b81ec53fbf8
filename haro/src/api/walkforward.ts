// Walk-forward (`/walkforward`) and the overfitting figures sweeps and walk-forwards share: the
// hooks of the walk-forward views and their types. Typed by hand from the backend's contract
// (issue #24) until the generated schema has them; kept apart like sweeps.ts.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api } from './client'
import { fallbackInterval } from '../app/query-client'
import type { Report } from './types'
import type { SweepRequest } from './sweeps'

type Json = Record<string, unknown>

/** The deflated Sharpe ratio of the best of `trials` (Bailey & López de Prado 2014). */
export interface DeflatedSharpe {
  /** The best trial's Sharpe ratio, per period. */
  sharpe: number
  /** The probability (0–1) that its true Sharpe ratio is above what luck alone would give. */
  dsr: number
  /** The Sharpe ratio the best of `trials` unskilled trials is expected to show. */
  expected_max_sharpe: number
  [k: string]: unknown
}

/** The probability of backtest overfitting by CSCV. */
export interface Pbo {
  /** Share (0–1) of the in-sample/out-of-sample splits where the in-sample best ranks in the
   * bottom half out of sample. */
  pbo: number
  /** Blocks the periods were cut into. */
  partitions: number
  [k: string]: unknown
}

/** `overfitting` of a sweep or walk-forward: null until there is enough to compute it. */
export interface Overfitting {
  trials: number
  deflated_sharpe?: DeflatedSharpe | null
  pbo?: Pbo | null
  /** Why a figure is missing (too few trials or periods). */
  note?: string | null
}

export type WindowsKind = 'rolling' | 'anchored'
/** A window size: a number of bars, or a duration string (the server's format). */
export type Size = number | string
export interface WindowsSpec { kind: WindowsKind; in_sample: Size; out_of_sample: Size; step?: Size }

export type WalkForwardRequest = SweepRequest & { windows: WindowsSpec }

export type WalkForwardStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled'
export interface Span { start: string; end: string; bars: number }
/** A summary of a backtest report's metrics (`return_pct`, `sharpe`, `max_drawdown_pct`, …). */
export type Summary = Record<string, number | string | null>

export interface WalkForwardWindow {
  index: number
  in_sample: Span
  out_of_sample: Span
  status: string
  best_params?: Json | null
  in_sample_objective?: number | null
  /** The out-of-sample run's summary, null until it ran (or when it failed). */
  out_of_sample_metrics?: Summary | null
  error?: string | null
}

export interface Stability { values: unknown[]; distinct: number; cv: number | null }

export interface WalkForward {
  id: number
  status: WalkForwardStatus | string
  strategy_id?: number | null
  symbols: string[]
  timeframe: string
  objective: { metric: string; direction: 'max' | 'min' }
  windows_spec: WindowsSpec
  progress: { windows_done: number; windows_total: number; points_done: number; points_total: number }
  windows?: WalkForwardWindow[] | null
  stitched?: { equity: { ts: string; equity: number }[]; metrics: Summary } | null
  efficiency?: number | null
  stability?: Record<string, Stability> | null
  overfitting?: Overfitting | null
  error?: string | null
  created_at: string
  finished_at?: string | null
}

/** A walk-forward that can still change; its page polls while so. */
export const working = (w: Pick<WalkForward, 'status'> | undefined) => w?.status === 'queued' || w?.status === 'running'
/** Polled as often as a sweep's page (1.5 s) while it works. */
export const WALKFORWARD_POLL_MS = 1500

export const useWalkForwards = () =>
  useQuery({
    queryKey: ['walkforward'],
    queryFn: () => api.get<WalkForward[]>('/walkforward?limit=100'),
    refetchInterval: (q) => (q.state.data?.some(working) ? WALKFORWARD_POLL_MS : fallbackInterval()),
  })

export const useWalkForward = (id: string) =>
  useQuery({
    queryKey: ['walkforward', id],
    queryFn: () => api.get<WalkForward>(`/walkforward/${id}`),
    refetchInterval: (q) => (working(q.state.data) ? WALKFORWARD_POLL_MS : false),
  })

export function useCreateWalkForward() {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: (req: WalkForwardRequest) => api.post<WalkForward>('/walkforward', req),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['walkforward'] }),
  })
}

export function useCancelWalkForward(id: string) {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: () => api.post<WalkForward>(`/walkforward/${id}/cancel`),
    onSettled: () => qc.invalidateQueries({ queryKey: ['walkforward'] }),
  })
}

/** A window's report (its out-of-sample backtest), asked only when the user opens it. */
export const useWindowReport = (id: string, index: number | null) =>
  useQuery({
    queryKey: ['walkforward', id, 'report', index],
    queryFn: () => api.get<Report>(`/walkforward/${id}/windows/${index}/report`),
    enabled: index !== null,
    staleTime: Infinity,
  })
