// Names for the API's shapes. Everything the OpenAPI document describes comes from the generated
// schema.d.ts (`npm run gen:api`); the rest is declared here, narrowly:
//  - fields of endpoints other branches are adding (optional until the schema has them; once it
//    does, the intersection below simply agrees with it and can be trimmed),
//  - bodies the document types as a bare object (the backtest report, orders, event data).
import type { components } from './schema'

type S = components['schemas']

export type ErrorBody = S['ErrorBody']
export type Strategy = Omit<S['StrategyView'], 'status'> & {
  status: S['StrategyView']['status'] | 'disabled'
  /** Source language, when the server reports it. */
  language?: string | null
}
/** JSON objects the document leaves untyped (`params`, `config`, `report`, event `data`). */
type Json = Record<string, unknown>
export type Backtest = Omit<S['BacktestView'], 'report' | 'config'> & { report?: Json | null; config: Json }
export type BacktestRequest = Omit<S['BacktestRequest'], 'params'> & { params?: Json | null; warmup?: number | null }
/** A stored bar; `source` says where it came from (`sample` for the bundled sample data). */
export type Candle = S['CandleView']
export type UiEvent = Omit<S['UiEvent'], 'data'> & { data: unknown }
export type RunRequest = Omit<S['RunRequest'], 'params' | 'risk'> & { params?: Json | null; cash?: number | null; risk?: Partial<Record<keyof RiskLimits, unknown>> | null }
export type RunFigures = S['RunFigures']
export type Venue = S['VenueView']
/** The first decision where a replay differs; intents are the API's objects. */
export type ReplayMismatch = Omit<S['MismatchView'], 'recorded' | 'replayed'> & {
  recorded?: Json[] | null
  replayed?: Json[] | null
}
/** `POST /runs/{id}/replay`: the replay compared with the run's recorded decisions. */
export type ReplayReport = Omit<S['ReplayView'], 'first_mismatch'> & { first_mismatch?: ReplayMismatch | null }

export interface Position {
  symbol: string
  qty: number | string
  avg_price: number | string
  last_price?: number | string | null
  unrealized_pnl?: number | string | null
}

export interface LastTrade {
  symbol: string
  side: string
  qty: number | string
  price: number | string
  ts: string
}

/** A decimal as the API writes it (a string) or a number. */
type Dec = string | number
export type BreachAction = 'reduce_only' | 'halted'
export type RunTradingStateName = 'active' | 'reduce_only' | 'halted'

/** A run's risk limits (`GET /runs/{id}` shows every key, `null` where off; see the README's
 * "Risk limits"). The document types `risk` as a bare object. */
export interface RiskLimits {
  max_notional_per_order: Dec | null
  max_position_per_symbol: Dec | null
  max_gross_exposure: Dec | null
  max_open_orders: number | null
  max_orders_per_minute: number | null
  max_order_quantity: Dec | null
  max_price_deviation: Dec | null
  max_order_equity_pct: Dec | null
  daily_loss_pct: Dec | null
  max_drawdown_pct: Dec | null
  cooldown: { losing_trades: number; window_minutes: number; pause_minutes: number } | null
  allowed_symbols: string[] | null
  daily_loss_action: BreachAction
  drawdown_action: BreachAction
  reset_next_session: boolean
}

/** A rule kept over time that tripped, while it holds. */
export interface RiskBreach {
  rule: string
  figure: Dec
  limit: Dec
  state: string
  ts: string
  until: string | null
}

/** `risk_state`: what a run's rules over time remember as of its last bar. */
export interface RiskState {
  peak_equity: Dec | null
  last_equity: Dec | null
  session_start: string | null
  session_equity: Dec | null
  daily_loss: RiskBreach | null
  drawdown: RiskBreach | null
  cooldown: RiskBreach | null
  losses: string[]
  orders: string[]
  manual: string
}

/** `GET /runs/{id}`: the generated view plus the account figures being added server-side. */
export type Run = Omit<S['RunView'], 'risk' | 'risk_state' | 'trading_state' | 'params'> & {
  risk?: Partial<RiskLimits> | null
  risk_state?: RiskState | null
  trading_state?: RunTradingStateName | string | null
  strategy_name?: string | null
  /** The parameters of the version it runs now (the document types them as a bare object). */
  params?: Json | null
  created_at?: string | null
  started_at?: string | null
  stopped_at?: string | null
  cash?: number | string | null
  equity?: number | string | null
  pnl?: { realized: number | string; unrealized: number | string; total: number | string } | null
  positions?: Position[] | null
  last_trade?: LastTrade | null
}

/** One line of a run's log. */
export type RunLogLine = S['LogLine']
/** A page of a run's log: `next` is the newest seq so far (ask `after` it for what follows),
 * `next_before` the cursor of older lines (null once the first line is in). */
export type RunLogPage = S['LogPage']

/** One active run's share of an account's position: what its own fills add up to. */
export interface RunShare {
  run_id: number
  qty: number
}

/** One position of an account: the broker's quantity, each active run's share, and what no active
 * run accounts for (runs that ended keeping it, trades outside Weaver). */
export interface AccountPosition {
  symbol: string
  qty: number
  runs: RunShare[]
  unattributed: number
}

/**
 * `GET /accounts`, `GET /accounts/{venue}/{number}` (issue #19: one account, several strategies).
 * Hand-written until the generated schema has `AccountView`; then this can become
 * `S['AccountView']` narrowed like `Run`. Each simulated run has its own paper account
 * `sim/<run id>`; a broker account (`alpaca/<number>`) is shared by the runs on it.
 */
export interface Account {
  /** `venue/number`: `alpaca/PA3FAKE0001`, `sim/42`. */
  id: string
  venue: string
  /** The part of the id after the slash. */
  number: string
  /** A simulated account: the run whose paper account it is. */
  run_id: number | null
  /** Real money. */
  live: boolean
  equity: number | string | null
  cash: number | string | null
  buying_power: number | string | null
  /** Active runs on it. */
  runs: number
  positions: AccountPosition[]
  /** The account's own limits: every key of a run's `risk`, `null` where off. */
  risk: Partial<RiskLimits> | null
  /** The account's own state (set by hand, or by a breach of its daily-loss/drawdown limits). */
  trading_state: RunTradingStateName
  risk_state: RiskState | null
}

/** What a flatten or a close on an account did: each active run's own part (a run's flatten or
 * close, or why it could not), then what no active run accounts for (`canceled`, `closing`). */
export interface AccountFlattened {
  runs: RunFlattened[]
  canceled: string[]
  closing: Attempt[]
  errors: string[]
}

/** `PUT /accounts/{venue}/{number}/trading-state`: the account now, and what the flatten did. */
export interface AccountStateResult {
  account: Account
  flattened: AccountFlattened | null
}

export type TradingStateName = S['TradingStateView']
/** `GET`/`PUT /trading-state`; `flattened` only in the answer of a `PUT` with `flatten`. */
export type TradingState = S['TradingStateBody']

/** Control by hand (`POST /runs/{id}/orders`, `/stop`, `/flatten`, `/positions/{symbol}/close`,
 * `/orders/{id}/cancel`). */
export type Attempt = S['AttemptView']
export type FlattenResult = S['FlattenView']
export type RunFlattened = S['RunFlattenView']
export type StopResult = S['StopView']
export type CancelResult = S['CancelView']
export type HandOrder = S['ManualOrderRequest']
/** `PUT /runs/{id}/trading-state` answer: the run now, and what the flatten did. */
export type RunStateResult = Omit<S['RunStateView'], 'run'> & { run: Run }
export interface StopChoices {
  orders?: 'cancel' | 'keep'
  positions?: 'close' | 'keep'
}

/** An order row (`GET /orders`; decimals as strings). */
export interface Order {
  id: number
  client_order_id: string
  exchange_order_id: string | null
  run_id: number | null
  symbol: string
  side: string
  order_type: string
  time_in_force: string
  quantity: string | null
  notional: string | null
  limit_price: string | null
  stop_price: string | null
  status: string
  filled_quantity: string
  average_price: string | null
  created_at: string
  updated_at: string
}
export interface OrderPage {
  orders: Order[]
  next_after: number | null
  /** Newest first: the cursor of the next (older) page, null on the last one. */
  next_before?: number | null
}
/** The states `GET /orders?status=` accepts, as the OpenAPI document lists them. */
export type OrderStatus = S['OrderStatus']

/** One closed trade of a backtest report. */
export interface ReportTrade {
  symbol: string
  entry_bar: number
  exit_bar: number
  entry_time: string
  exit_time: string
  size: number
  entry_price: number
  exit_price: number
  pnl: number
  commission: number
  return_pct: number
}
export interface EquityPoint {
  ts: string
  equity: number
  drawdown_pct: number
}
/** A report's per-symbol breakdown (`by_symbol`): one row per symbol and their total. */
export type BySymbol = S['BySymbolView']
/** One row of `by_symbol`. */
export type SymbolStats = S['SymbolStatsView']
/** The `weaver backtest --report` JSON. */
export interface Report {
  strategy: { name: string; sha256?: string; params?: Record<string, unknown> }
  data?: { symbol: string; bars: number; start: string; end: string }[]
  config?: Record<string, unknown>
  metrics: Record<string, number | string | null>
  trades: ReportTrade[] | null
  open_trades?: { symbol: string; entry_time: string; size: number; entry_price: number }[]
  /** Absent in a list's summary of a report stored before the section existed. */
  by_symbol?: BySymbol | null
  equity: EquityPoint[] | null
  bankrupt_at?: string | null
}

/** Where stored candles came from (the `source` strings of `CandleView` and `SeriesView`). */
export type CandleSource = 'sample' | 'import' | 'download' | 'synth' | 'live' | 'other' | 'mixed'
/** One stored series (`GET /candles/series`; the answer of the import, synth and sample calls). */
export type CandleSeries = S['SeriesView']
/** `POST /candles/synth`. */
export type SynthRequest = S['SynthRequest']
