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

/** One row of a run's version history (`VersionView`; the document types the words as strings
 * and `params` as a bare object). `at_bar` is the bar boundary the switch happened at,
 * `replayed` the envelopes replayed into the new version. */
export type Version = Omit<S['VersionView'], 'params' | 'reason' | 'state' | 'status' | 'shadow_id' | 'switched_at' | 'at_bar' | 'replayed' | 'error_code'> & {
  params: Json
  reason: VersionReason
  state: VersionState
  status: VersionStatus
  shadow_id: number | null
  switched_at: string | null
  at_bar: string | null
  replayed: number | null
  error_code: string | null
}

/** `POST /runs/{id}/promote`: exactly one of `strategy` and `shadow_id` (else 400); without
 * `state` it replays, without `auto_rollback_bars` it watches 20 bars. */
export type PromoteRequest = Omit<S['PromoteRequest'], 'params' | 'strategy' | 'shadow_id'> & (
  { strategy: S['StrategyRef']; shadow_id?: never } | { shadow_id: number; strategy?: never }
) & { params?: Json }

/** A pending switch happens at the next bar boundary, which no event announces until it is done
 * or failed; polled meanwhile (the events refresh it too). */
const PENDING_MS = 1000

export const versionsKey = (runId: number | string) => ['run', String(runId), 'versions']

export const useVersions = (runId: number) =>
  useQuery({
    queryKey: versionsKey(runId),
    queryFn: async () => (await api.get<Omit<S['VersionList'], 'items'> & { items: Version[] }>(`/runs/${runId}/versions`)).items,
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
