// A run's strategy versions (`/runs/{id}/versions`, `/promote`, `/rollback`): hooks and types.
// Kept apart from queries.ts like shadows.ts, so the Versions panel is one piece. Keys sit under
// ['run', id] so the run events (`run.VersionSwitched`, `run.VersionSwitchFailed`) refresh them.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api } from './client'
import type { components } from './schema'

type S = components['schemas']
type Json = Record<string, unknown>

/** Why a version became the run's. */
export type VersionReason = 'start' | 'promote' | 'rollback' | 'auto_rollback'
/** How its state was rebuilt: the run's recorded bars replayed into it, or a fresh warm-up. */
export type VersionState = 'replay' | 'fresh'
export type VersionStatus = 'pending' | 'active' | 'superseded' | 'failed'

/** One row of a run's version history (`VersionView`). */
export interface Version {
  seq: number
  strategy_id: number
  strategy_name: string
  strategy_version: string
  params: Json
  reason: VersionReason
  state: VersionState
  shadow_id: number | null
  status: VersionStatus
  requested_at: string
  switched_at: string | null
  /** The bar boundary the switch happened at. */
  at_bar: string | null
  /** Envelopes replayed into the new version. */
  replayed: number | null
  error_code: string | null
  auto_rollback_bars: number
}

/** `POST /runs/{id}/promote`: exactly one of `strategy` and `shadow_id`. */
export type PromoteRequest = ({ strategy: S['StrategyRef']; shadow_id?: never } | { shadow_id: number; strategy?: never }) & {
  params?: Json
  state?: VersionState
  /** Bars after the switch in which a trap or a risk breach rolls back (default 20, 0 = off). */
  auto_rollback_bars?: number
}

/** A pending switch happens at the next bar boundary, which no event announces until it is done
 * or failed; polled meanwhile (the events refresh it too). */
const PENDING_MS = 1000

export const versionsKey = (runId: number | string) => ['run', String(runId), 'versions']

export const useVersions = (runId: number) =>
  useQuery({
    queryKey: versionsKey(runId),
    queryFn: async () => (await api.get<{ items: Version[] }>(`/runs/${runId}/versions`)).items,
    refetchInterval: (q) => (q.state.data?.some((v) => v.status === 'pending') ? PENDING_MS : false),
  })

/** A switch changes the run itself (its strategy, params), its versions and its shadows' rows:
 * everything under ['run', id]. */
function useSwitch<T>(runId: number, fn: (body: T) => Promise<Version>) {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: fn,
    onSettled: () => qc.invalidateQueries({ queryKey: ['run', String(runId)] }),
  })
}

export const usePromote = (runId: number) =>
  useSwitch(runId, (req: PromoteRequest) => api.post<Version>(`/runs/${runId}/promote`, req))

export const useRollback = (runId: number) =>
  useSwitch<void>(runId, () => api.post<Version>(`/runs/${runId}/rollback`, {}))
