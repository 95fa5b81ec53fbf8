// Shadow runs (`/runs/{id}/shadows`): hooks and types. Kept apart from queries.ts so the run
// page's shadow panel is one self-contained piece. Keys sit under ['run', id] so the events that
// refresh a run also refresh its shadows.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api } from './client'
import type { components } from './schema'

type S = components['schemas']
type Json = Record<string, unknown>

export type Shadow = Omit<S['ShadowView'], 'params'> & { params: Json }
/** One order intent as recorded (the document leaves it an untyped object). */
export type Intent = Json
export type BarDiff = Omit<S['BarDiffView'], 'run' | 'shadow'> & { run: Intent[]; shadow: Intent[] }
export type ShadowDiff = Omit<S['ShadowDiffView'], 'bars' | 'shadow'> & { bars: BarDiff[]; shadow: Shadow }
export type ShadowRequest = { strategy: S['StrategyRef']; params?: Json }

/** A running shadow's diff grows with every bar and no event says so: poll it meanwhile. */
const LIVE_MS = 5000

export const shadowsKey = (runId: number | string) => ['run', String(runId), 'shadows']

export const useShadows = (runId: number) =>
  useQuery({
    queryKey: shadowsKey(runId),
    queryFn: () => api.get<Shadow[]>(`/runs/${runId}/shadows`),
    refetchInterval: (q) => (q.state.data?.some((s) => s.status === 'running') ? LIVE_MS : false),
  })

export const useShadowDiff = (runId: number, shadow: Pick<Shadow, 'id' | 'status'>) =>
  useQuery({
    queryKey: [...shadowsKey(runId), shadow.id, 'diff'],
    queryFn: () => api.get<ShadowDiff>(`/runs/${runId}/shadows/${shadow.id}/diff`),
    refetchInterval: shadow.status === 'running' ? LIVE_MS : false,
  })

export function useStartShadow(runId: number) {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: (req: ShadowRequest) => api.post<Shadow>(`/runs/${runId}/shadows`, req),
    onSuccess: () => qc.invalidateQueries({ queryKey: shadowsKey(runId) }),
  })
}

export function useStopShadow(runId: number) {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: (sid: number) => api.del<Shadow>(`/runs/${runId}/shadows/${sid}`),
    onSettled: () => qc.invalidateQueries({ queryKey: shadowsKey(runId) }),
  })
}
