// One hook per API call (TanStack Query). Query keys are the contract with lib/events.ts:
// an event invalidates keys by prefix, e.g. ['run', '7'] refreshes a run and its logs.
import { keepPreviousData, useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, qs } from './client'
import { fallbackInterval } from '../app/query-client'
import { accountId, accountSegments } from '../lib/accounts'
import type {
  Account, AccountFlattened, AccountStateResult, Attempt, Backtest, BacktestRequest, Candle, CandleSeries, CancelResult, FlattenResult, HandOrder, OrderPage,
  ReplayReport, RiskLimits, Run, RunLogPage, RunRequest, RunStateResult, RunTradingStateName, StopChoices, StopResult, Strategy, SynthRequest, TradingState, TradingStateName, Venue,
} from './types'

/** While something is being worked on server-side, check every second (as FreqUI does for a
 * running backtest); the finishing event usually arrives first. */
const WORKING_MS = 1000

/** `enabled: false` loads nothing until needed (the feed names versions only once it has a switch). */
export const useStrategies = (name?: string, enabled = true) =>
  useQuery({
    queryKey: ['strategies', name ?? null],
    enabled,
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

/** A page of a run's log: newest first from `before` (the newest lines without it), or, with
 * `after`, the lines that follow it oldest first (what following a log fetches). */
/** A page of a run's log; `level` and `q` search the whole log on the server. */
export const fetchRunLogs = (
  id: string | number,
  page: { before?: number; after?: number; limit: number; level?: string; q?: string },
) => api.get<RunLogPage>(`/runs/${id}/logs${qs({ ...page, order: page.after !== undefined ? 'asc' : 'desc' })}`)

export function useCreateRun() {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: (req: RunRequest) => api.post<Run>('/runs', req),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['runs'] }),
  })
}

/** After anything that may move a run's orders, positions or account: its views are stale. */
function useRunChanged() {
  const qc = useQueryClient()
  return (id?: number | null) => {
    qc.invalidateQueries({ queryKey: ['runs'] })
    if (id !== undefined && id !== null) qc.invalidateQueries({ queryKey: ['run', String(id)] })
    qc.invalidateQueries({ queryKey: ['orders'] })
    qc.invalidateQueries({ queryKey: ['accounts'] })
    // Any account page open: the run's share of its positions moved.
    qc.invalidateQueries({ queryKey: ['account'] })
  }
}

/** Stops a run with a choice for its working orders and positions (the server's defaults:
 * cancel the orders, keep the positions). */
export function useStopRun() {
  const changed = useRunChanged()
  return useMutation({
    mutationFn: ({ id, choices }: { id: number; choices?: StopChoices }) => api.post<StopResult>(`/runs/${id}/stop`, choices ?? {}),
    onSuccess: (_r, { id }) => changed(id),
  })
}

/** An order by hand, attributed to a running run. A refusal is a 422 ApiError whose `code` names
 * the rule and whose `details` carry the order's `client_order_id`. */
export function usePlaceOrder(runId: number) {
  const changed = useRunChanged()
  return useMutation({
    mutationFn: (order: HandOrder) => api.post<Attempt>(`/runs/${runId}/orders`, order),
    // A refused order was journaled too: refresh either way.
    onSettled: () => changed(runId),
  })
}

export function useCancelOrder() {
  const changed = useRunChanged()
  return useMutation({
    mutationFn: ({ id }: { id: number; runId?: number | null }) => api.post<CancelResult>(`/orders/${id}/cancel`),
    onSuccess: (_r, { runId }) => changed(runId),
  })
}

/** Closes the run's position in a symbol: the closing order, or `undefined` (204) when it held none. */
export function useClosePosition(runId: number) {
  const changed = useRunChanged()
  return useMutation({
    mutationFn: (symbol: string) =>
      api.post<Attempt | undefined>(`/runs/${runId}/positions/${encodeURIComponent(symbol)}/close`),
    onSettled: () => changed(runId),
  })
}

export function useFlattenRun(runId: number) {
  const changed = useRunChanged()
  return useMutation({
    mutationFn: () => api.post<FlattenResult>(`/runs/${runId}/flatten`),
    onSettled: () => changed(runId),
  })
}

/** Changes a running run's risk limits: only the keys given (`null` turns one off). Answers the
 * run; a bad value is a 422 `invalid_risk` whose `details.field` names the key. */
export function usePatchRisk(runId: number) {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: (patch: Partial<Record<keyof RiskLimits, unknown>>) => api.patch<Run>(`/runs/${runId}/risk`, patch),
    onSuccess: (run) => qc.setQueryData(['run', String(runId)], run),
    onSettled: () => qc.invalidateQueries({ queryKey: ['run', String(runId)] }),
  })
}

/** Sets a run's own trading state, optionally flattening it; answers the run and what the
 * flatten did. */
export function useSetRunState(runId: number) {
  const changed = useRunChanged()
  return useMutation({
    mutationFn: (body: { state: RunTradingStateName; flatten?: boolean }) => api.put<RunStateResult>(`/runs/${runId}/trading-state`, body),
    onSettled: () => changed(runId),
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
  /** Newest first from this id down (a page's `next_before`); the newest orders without it. */
  before?: number
  limit?: number
}

/** One page of orders, newest first (the API's default order). */
export const useOrders = (f: OrderFilter) =>
  useQuery({
    queryKey: ['orders', f],
    queryFn: () => api.get<OrderPage>(`/orders${qs({ ...f, limit: f.limit ?? 100 })}`),
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

/** Most bars one `GET /candles` answers. */
export const CANDLE_PAGE = 10_000
/** Most bars a chart loads for one range (a run's page of bar times): 20 pages. */
export const MAX_RANGE_BARS = 200_000

/** Every bar of `[start, end)`, oldest first, page after page (up to [`MAX_RANGE_BARS`]). */
export async function fetchCandleRange(symbol: string, timeframe: string, start?: string, end?: string): Promise<Candle[]> {
  const out: Candle[] = []
  let from = start
  while (out.length < MAX_RANGE_BARS) {
    const page = await api.get<Candle[]>(`/candles${qs({ symbol, timeframe, start: from, end, order: 'asc', limit: CANDLE_PAGE })}`)
    out.push(...page)
    if (page.length < CANDLE_PAGE) break
    // Bars are at least a minute apart: the next page starts just after the newest one seen.
    from = new Date(new Date(page[page.length - 1].ts).getTime() + 1000).toISOString()
  }
  return out
}

/** Bars the backtest page's trade chart loads at a time: the newest of its range first, older
 * ones as it is scrolled left (all 100,000 bars of a long backtest took 23–56 s to arrive). */
export const TRADE_CHART_PAGE = 5_000

/**
 * A series, or its range `[start, end)`, a window at a time for a chart that loads older bars as it
 * is scrolled left: the first page is the newest `limit` bars, each next one the `limit` bars
 * before the oldest loaded (its `ts` as `end`). Pages come newest first, each oldest first (as
 * the chart wants it); `joinPages` makes one series of them. A page shorter than `limit` is the
 * first bar's: nothing is older.
 */
export const useCandlePages = (symbol: string, timeframe: string, range: { start?: string; end?: string } = {}, limit = CANDLE_PAGE) =>
  useInfiniteQuery({
    queryKey: ['candles', symbol, timeframe, '@pages', range.start ?? null, range.end ?? null, limit],
    queryFn: async ({ pageParam }) =>
      (await api.get<Candle[]>(`/candles${qs({ symbol, timeframe, start: range.start, end: pageParam ?? range.end, limit })}`)).reverse(),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last: Candle[]) => (last.length < limit ? undefined : last[0].ts),
    enabled: Boolean(symbol && timeframe),
  })

/** The pages of `useCandlePages` as one series, oldest first. */
export const joinPages = (pages: readonly Candle[][]): Candle[] => pages.slice().reverse().flat()

/** What a chart calls when it is scrolled near its first bar: the next older page, unless one is
 * on its way (a second `fetchNextPage` would cancel and restart it) or there is none. */
export const olderLoader = (q: { hasNextPage: boolean; isFetchingNextPage: boolean; fetchNextPage: () => Promise<unknown> }) => () =>
  (q.hasNextPage && !q.isFetchingNextPage ? q.fetchNextPage() : undefined)

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

/** Where runs can trade on this server (`sim`; with Alpaca configured `alpaca` and `sim-live`). */
export const useVenues = () => useQuery({ queryKey: ['venues'], queryFn: () => api.get<Venue[]>('/venues'), staleTime: 60_000 })
export const useAccounts = () => useQuery({ queryKey: ['accounts'], queryFn: () => api.get<Account[]>('/accounts') })

/** One account by its id's parts. Its key `['account', 'venue/number']` is what account events
 * invalidate (lib/events.ts). */
export const useAccount = (venue: string, number: string) =>
  useQuery({
    queryKey: ['account', accountId(venue, number)],
    queryFn: () => api.get<Account>(`/accounts/${accountSegments({ venue, number })}`),
    enabled: Boolean(venue && number),
  })

/** After anything that may move an account's orders, positions, limits or state: the account,
 * the list, and the runs on it (their shares and orders) are stale. */
function useAccountChanged() {
  const qc = useQueryClient()
  return (a: Pick<Account, 'venue' | 'number'>, answer?: Account) => {
    if (answer) qc.setQueryData(['account', accountId(a.venue, a.number)], answer)
    for (const key of [['account', accountId(a.venue, a.number)], ['accounts'], ['runs'], ['run'], ['orders']])
      qc.invalidateQueries({ queryKey: key })
  }
}

/** Replaces an account's limits with `risk` (keys absent are off; unlike `usePatchRisk`, which
 * merges). For `sim/<run id>` this sets that run's limits. A bad value is a 422 `invalid_risk`
 * whose `details.field` names the key. */
export function usePutAccountRisk(a: Pick<Account, 'venue' | 'number'>) {
  const changed = useAccountChanged()
  return useMutation({
    mutationFn: (risk: Partial<Record<keyof RiskLimits, unknown>>) => api.put<Account>(`/accounts/${accountSegments(a)}/risk`, risk),
    onSuccess: (acc) => changed(a, acc),
  })
}

/** Sets an account's own trading state, optionally flattening it (every run's share and what no
 * run holds); answers the account and what the flatten did. */
export function useSetAccountState(a: Pick<Account, 'venue' | 'number'>) {
  const changed = useAccountChanged()
  return useMutation({
    mutationFn: (body: { state: RunTradingStateName; flatten?: boolean }) =>
      api.put<AccountStateResult>(`/accounts/${accountSegments(a)}/trading-state`, body),
    onSuccess: (r) => changed(a, r.account),
    onError: () => changed(a),
  })
}

/** Closes a position of an account: all of it (every active run's share and the unattributed
 * rest), or with `runId` only that run's share. */
export function useCloseAccountPosition(a: Pick<Account, 'venue' | 'number'>) {
  const changed = useAccountChanged()
  return useMutation({
    mutationFn: ({ symbol, runId }: { symbol: string; runId?: number }) =>
      api.post<AccountFlattened>(`/positions/${accountSegments(a)}/${encodeURIComponent(symbol)}/close`, runId === undefined ? undefined : { run_id: runId }),
    // A refused close may have closed some shares: refresh either way.
    onSettled: () => changed(a),
  })
}

export const useTradingState = () =>
  useQuery({ queryKey: ['trading-state'], queryFn: () => api.get<TradingState>('/trading-state') })

export function useSetTradingState() {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: (state: TradingStateName) => api.put<TradingState>('/trading-state', { state }),
    onSuccess: (s) => qc.setQueryData(['trading-state'], s),
  })
}

/** The kill switch: halt, then have every running run cancel its working orders and close its
 * positions. The answer says what each run did (`flattened`). */
export function useHaltAndFlatten() {
  const qc = useQueryClient()
  return useMutation({
    mutationFn: () => api.put<TradingState>('/trading-state', { state: 'halted', flatten: true }),
    onSuccess: ({ flattened: _, ...s }) => qc.setQueryData(['trading-state'], s),
    onSettled: () => {
      qc.invalidateQueries({ queryKey: ['trading-state'] })
      for (const key of [['runs'], ['run'], ['orders'], ['accounts'], ['account']]) qc.invalidateQueries({ queryKey: key })
    },
  })
}
