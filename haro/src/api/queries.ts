// One hook per API call (TanStack Query). Query keys are the contract with lib/events.ts:
// an event invalidates keys by prefix, e.g. ['run', '7'] refreshes a run and its logs.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, qs } from './client'
import { fallbackInterval } from '../app/query-client'
import type {
  Account, Backtest, BacktestRequest, Candle, CandleSeries, OrderPage, ReplayReport, Run, RunLogPage, RunRequest, Strategy,
  SynthRequest, TradingState, TradingStateName,
} from './types'

/** While something is being worked on server-side, check every second (as FreqUI does for a
 * running backtest); the finishing event usually arrives first. */
const WORKING_MS = 1000

export const useStrategies = (name?: string) =>
  useQuery({
    queryKey: ['strategies', name ?? null],
    queryFn: () => api.get<Strategy[]>(`/strategies${qs({ name })}`),
    refetchInterval: (q) =>
      q.state.data?.some((s) => s.status === 'uploaded' || s.status === 'compiling') ? WORKING_MS : fallbackInterval(),
  })

export function useUploadStrategy() {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: ({ file, name, version }: { file: File; name: string; version?: string }) => {
      const form = new FormData()
      form.set('name', name)
      if (version) form.set('version', version)
      form.set('file', file)
      return api.post<Strategy>('/strategies', form)
    },
    onSuccess: () => qc.invalidateQueries({ queryKey: ['strategies'] }),
  })
}

export function useDisableStrategy() {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: (id: number) => api.del<Strategy>(`/strategies/${id}`),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['strategies'] }),
  })
}

export const useRuns = () => useQuery({ queryKey: ['runs'], queryFn: () => api.get<Run[]>('/runs') })

export const useRun = (id: string | number) =>
  useQuery({ queryKey: ['run', String(id)], queryFn: () => api.get<Run>(`/runs/${id}`) })

export const useRunLogs = (id: string | number) =>
  useQuery({
    queryKey: ['run', String(id), 'logs'],
    queryFn: () => api.get<RunLogPage>(`/runs/${id}/logs${qs({ limit: 200 })}`),
  })

export function useCreateRun() {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: (req: RunRequest) => api.post<Run>('/runs', req),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['runs'] }),
  })
}

export function useStopRun() {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: (id: number) => api.post<Run>(`/runs/${id}/stop`),
    onSuccess: (run) => {
      qc.invalidateQueries({ queryKey: ['runs'] })
      qc.invalidateQueries({ queryKey: ['run', String(run.id)] })
    },
  })
}

/** Replays a run server-side (synchronous; writes nothing, so nothing to invalidate). */
export function useReplayRun() {
  return useMutation({
    mutationFn: (id: number) => api.post<ReplayReport>(`/runs/${id}/replay`),
  })
}

export interface OrderFilter {
  run?: string
  symbol?: string
  status?: string
  from?: string
  limit?: number
}

export const useOrders = (f: OrderFilter) =>
  useQuery({
    queryKey: ['orders', f],
    queryFn: () => api.get<OrderPage>(`/orders${qs({ ...f, limit: f.limit ?? 500 })}`),
    placeholderData: keepPreviousData,
  })

export const useBacktests = () =>
  useQuery({ queryKey: ['backtests'], queryFn: () => api.get<Backtest[]>('/backtests?limit=100') })

export const useBacktest = (id: string | number) =>
  useQuery({
    queryKey: ['backtests', String(id)],
    queryFn: () => api.get<Backtest>(`/backtests/${id}`),
    enabled: Boolean(id),
    refetchInterval: (q) => (q.state.data?.status === 'queued' || q.state.data?.status === 'running' ? WORKING_MS : fallbackInterval()),
  })

export function useCreateBacktest() {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: (req: BacktestRequest) => api.post<Backtest>('/backtests', req),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['backtests'] }),
  })
}

export const useCandles = (symbol: string, timeframe: string, range?: { start?: string; end?: string; limit?: number }) =>
  useQuery({
    queryKey: ['candles', symbol, timeframe, range ?? null],
    queryFn: () => api.get<Candle[]>(`/candles${qs({ symbol, timeframe, limit: 10000, ...range })}`),
    enabled: Boolean(symbol && timeframe),
  })

/** The stored series. Its key sits under ['candles'] so a `data.*` event refreshes it too. */
export const useCandleSeries = () =>
  useQuery({ queryKey: ['candles', '@series'], queryFn: () => api.get<CandleSeries[]>('/candles/series') })

/** After adding candles: the series list and any cached bars are stale. */
function useCandlesAdded() {
  const qc = useQueryClient()
  return () => qc.invalidateQueries({ queryKey: ['candles'] })
}

export function useImportCandles() {
  const added = useCandlesAdded()
  return useMutation({
    mutationFn: ({ file, symbol, timeframe }: { file: File; symbol: string; timeframe: string }) => {
      const form = new FormData()
      form.set('symbol', symbol)
      form.set('timeframe', timeframe)
      form.set('file', file)
      return api.post<CandleSeries>('/candles/import', form)
    },
    onSuccess: added,
  })
}

export function useSynthCandles() {
  const added = useCandlesAdded()
  return useMutation({
    mutationFn: (req: SynthRequest) => api.post<CandleSeries>('/candles/synth', req),
    onSuccess: added,
  })
}

export function useLoadSample() {
  const added = useCandlesAdded()
  return useMutation({
    mutationFn: () => api.post<CandleSeries[]>('/candles/sample'),
    onSuccess: added,
  })
}

export const useAccounts = () => useQuery({ queryKey: ['accounts'], queryFn: () => api.get<Account[]>('/accounts') })

export const useTradingState = () =>
  useQuery({ queryKey: ['trading-state'], queryFn: () => api.get<TradingState>('/trading-state') })

export function useSetTradingState() {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: (state: TradingStateName) => api.put<TradingState>('/trading-state', { state }),
    onSuccess: (s) => qc.setQueryData(['trading-state'], s),
  })
}
