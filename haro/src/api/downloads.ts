// Downloads from Alpaca as background jobs: start one (`POST /candles/download`) and follow it
// (`GET /jobs/{id}`) until it is done or failed; then the stored series are stale.
import { useEffect } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api } from './client'
import type { components } from './schema'

type S = components['schemas']
export type Job = S['JobView']
export type DownloadRequest = S['DownloadRequest']

export const ADJUSTMENTS = ['all', 'split', 'dividend', 'raw'] as const
export const FEEDS = ['iex', 'sip'] as const
export const MAX_DOWNLOAD_SYMBOLS = 50

export const isFinished = (j: Pick<Job, 'status'> | undefined) => j?.status === 'done' || j?.status === 'failed'

export const useStartDownload = () =>
  useMutation({ mutationFn: (r: DownloadRequest) => api.post<Job>('/candles/download', r) })

/** A job, polled every `everyMs` until it ends; when it ends done, the series list refreshes. */
export function useJob(id: number | null, everyMs = 1000) {
  const qc = useQueryClient()
  const q = useQuery({
    queryKey: ['job', id],
    enabled: id != null,
    queryFn: () => api.get<Job>(`/jobs/${id}`),
    refetchInterval: (query) => (isFinished(query.state.data) ? false : everyMs),
  })
  const done = q.data?.status === 'done'
  useEffect(() => {
    if (done) void qc.invalidateQueries({ queryKey: ['candles'] })
  }, [done, qc])
  return q
}
