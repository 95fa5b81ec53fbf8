// Walk-forward (`/walkforward`) and the overfitting figures sweeps and walk-forwards share: the
// hooks of the walk-forward views and their types, named from the generated schema (`npm run
// gen:api`; issue #24); kept apart like sweeps.ts.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api } from './client'
import { fallbackInterval } from '../app/query-client'
import type { components } from './schema'
import type { Report } from './types'
import type { SweepRequest } from './sweeps'

type S = components['schemas']
type Json = Record<string, unknown>

/** The deflated Sharpe ratio of the best of `trials` (Bailey & López de Prado 2014). */
export type DeflatedSharpe = S['DeflatedSharpeView']
/** The probability of backtest overfitting by CSCV. */
export type Pbo = S['PboView']
/** `overfitting` of a sweep or walk-forward: null until there is enough to compute it. */
export type Overfitting = S['OverfittingView']

export type WindowsKind = S['WindowKindView']
/** A window size: a number of bars, or a duration string (`90d`, `12w`, `6M`). */
export type Size = S['WindowSizeView']
export type WindowsSpec = S['WindowsSpecView']

export type WalkForwardRequest = SweepRequest & { windows: WindowsSpec }

export type WalkForwardStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled'
export type Span = S['SpanView']
/** A summary of a backtest report's metrics (`return_pct`, `sharpe`, `max_drawdown_pct`, …). */
export type Summary = Record<string, number | string | null>

/** A window: the generated type has `best_params`/`out_of_sample_metrics` as bare objects. */
export type WalkForwardWindow = Omit<S['WindowView'], 'best_params' | 'out_of_sample_metrics'> & {
  best_params?: Json | null
  /** The out-of-sample run's summary, null until it ran (or when it failed). */
  out_of_sample_metrics?: Summary | null
}

/** The generated type has `values` as bare objects (they are any JSON value). */
export type Stability = Omit<S['StabilityView'], 'values' | 'cv'> & { values: unknown[]; cv?: number | null }

/** A walk-forward; the fields the document leaves as bare objects typed as the server fills them. */
export type WalkForward = Omit<S['WalkForwardView'], 'status' | 'objective' | 'windows_spec' | 'windows' | 'stitched' | 'stability'> & {
  status: WalkForwardStatus | string
  objective: { metric: string; direction: 'max' | 'min' }
  windows_spec: WindowsSpec
  windows?: WalkForwardWindow[] | null
  stitched?: { equity: S['EquityPointView'][]; metrics: Summary } | null
  stability?: Record<string, Stability> | null
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
