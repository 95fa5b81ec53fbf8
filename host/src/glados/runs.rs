//! Runs through the API: the request and response views of `/runs`, `/runs/{id}/logs` and
//! `/accounts`, and how [`crate::runs::Error`] answers. The lifecycle itself is
//! [`crate::runs::Runs`].
//!
//! # Invariants
//! - Responses are views built from the domain types with `From`, so `runs` can change its
//!   internals without changing the API (and without depending on `utoipa`).
//! - A refused creation stores nothing (see [`crate::runs`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::backtests::StrategyRef;
use super::error::ApiError;
use crate::marvin::{LimitRequest, LimitsInForce};
use crate::runs::spec::LiveBarOptions;
use crate::runs::{self, RunSpec};
use crate::veda::live::aggregate::EmptyBars;
use crate::veda::periods::Hours;
use crate::walle::{Run, RunAccount};

/// Sandbox limits a run or a backtest asks for instead of its strategy tier's (see the README's
/// "Sandbox limits"); each at most the operator's maximum (`WEAVER_MAX_FUEL_PER_EVENT`,
/// `WEAVER_MAX_FUEL_PER_BAR`, `WEAVER_MAX_MEMORY_MB`), above it `limit_not_allowed`. An absent
/// field keeps the tier's value.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsRequest {
    /// Fuel (≈ wasm operators) of one guest call, before the per-bar part (more than 0).
    #[schema(minimum = 1)]
    pub fuel_per_event: Option<u64>,
    /// Extra fuel per bar a call carries (more than 0).
    #[schema(minimum = 1)]
    pub fuel_per_bar: Option<u64>,
    /// Total of the sandbox's linear memories, in MiB (more than 0).
    #[schema(minimum = 1)]
    pub memory_mb: Option<u64>,
}

impl From<LimitsRequest> for LimitRequest {
    fn from(r: LimitsRequest) -> LimitRequest {
        LimitRequest::new(r.fuel_per_event, r.fuel_per_bar, r.memory_mb)
    }
}

/// The limits in force in a run's or a backtest's sandbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LimitsView {
    /// Fuel of one guest call, before the per-bar part.
    pub fuel_per_event: u64,
    /// Extra fuel per bar a call carries.
    pub fuel_per_bar: u64,
    /// Fuel for instantiation plus `init`.
    pub fuel_for_init: u64,
    /// Cap on the total of the sandbox's linear memories, in bytes.
    pub max_memory_bytes: u64,
    /// Cap on the total elements of the sandbox's tables.
    pub max_table_elements: u64,
    /// Host budget: what the host may hold for the guest at once, in bytes.
    pub max_host_bytes: u64,
}

impl From<LimitsInForce> for LimitsView {
    fn from(l: LimitsInForce) -> LimitsView {
        LimitsView {
            fuel_per_event: l.fuel_per_event,
            fuel_per_bar: l.fuel_per_bar,
            fuel_for_init: l.fuel_for_init,
            max_memory_bytes: l.max_memory_bytes,
            max_table_elements: l.max_table_elements,
            max_host_bytes: l.max_host_bytes,
        }
    }
}

/// `POST /runs`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Strategy id or name.
    pub strategy: StrategyRef,
    /// `paper` or `live`.
    pub mode: String,
    /// `sim` (stored candles), `sim-live` (simulated fills on Alpaca's live bars, paper only,
    /// when Alpaca is configured) or `alpaca`; `GET /venues` lists this server's.
    pub venue: String,
    /// Symbols.
    pub symbols: Vec<String>,
    /// Bar timeframe. On `alpaca` one of `1Min`, `5Min`, `15Min`, `30Min`, `1Hour`, `4Hour`,
    /// `1Day`, `1Week`, `1Month`, built from the 1-minute stream as Alpaca's historical bars
    /// are (others: 422 `unsupported_timeframe`, the accepted list in `details.accepted`).
    pub timeframe: String,
    /// Strategy parameters.
    #[schema(value_type = Object)]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
    /// Starting cash of the paper account (default 10000; more than 0).
    #[serde(default)]
    pub cash: Option<f64>,
    /// Sandbox limits instead of the strategy tier's (kept when the run is resumed).
    #[serde(default)]
    pub limits: Option<LimitsRequest>,
    /// Risk limits over the venue's defaults (on Alpaca the operator's, on `sim` none): each key
    /// optional, `null` turns a default off. Keys: `max_notional_per_order`,
    /// `max_position_per_symbol`, `max_gross_exposure`, `max_open_orders`,
    /// `max_orders_per_minute`, `daily_loss_pct`, `max_drawdown_pct`, `cooldown`
    /// (`{losing_trades, window_minutes, pause_minutes}`), `allowed_symbols`,
    /// `max_order_quantity`, `max_price_deviation`, `max_order_equity_pct`,
    /// `daily_loss_action`, `drawdown_action`, `reset_next_session`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub risk: Option<serde_json::Value>,
    /// `alpaca` and `sim-live`, US equities: bars of pre-market and after-hours trading too
    /// (04:00–20:00 New York) instead of the regular session only (default false).
    #[serde(default)]
    pub extended_hours: bool,
    /// `alpaca` and `sim-live`, timeframes above `1Min`: a period in which nothing traded is
    /// skipped (`skip`, the default, as Alpaca's historical bars) or told as a flat bar at the
    /// last close with zero volume (`carry`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub empty_bars: Option<EmptyBars>,
    /// `alpaca` and `sim-live`: bars of lookback told before the first live bar, from the stored
    /// candles of the run's symbols and timeframe (the missing part downloaded from Alpaca
    /// first); orders asked for on them are not sent (default the strategy's declared warm-up,
    /// at most 10000).
    #[serde(default)]
    pub warmup: Option<u32>,
}

impl TryFrom<RunRequest> for RunSpec {
    type Error = runs::Error;

    fn try_from(r: RunRequest) -> Result<RunSpec, runs::Error> {
        RunSpec::parse(
            r.strategy.into(),
            &r.mode,
            &r.venue,
            r.symbols,
            &r.timeframe,
            r.params,
            r.cash,
        )
        .and_then(|spec| {
            spec.with_limits(r.limits.map(Into::into).unwrap_or_default())
                .with_risk(r.risk)
                .with_live(LiveBarOptions {
                    hours: if r.extended_hours {
                        Hours::Extended
                    } else {
                        Hours::Regular
                    },
                    empty_bars: r.empty_bars.unwrap_or_default(),
                    warmup: r.warmup,
                })
        })
    }
}

impl From<runs::Error> for ApiError {
    fn from(e: runs::Error) -> Self {
        use runs::Error as E;
        let code = e.code();
        match e {
            E::StrategyNotFound(id) => ApiError::NotFound {
                entity: "strategy",
                id,
            },
            E::RunNotFound(id) => ApiError::NotFound {
                entity: "run",
                id: id.to_string(),
            },
            E::OrderNotFound(id) => ApiError::NotFound {
                entity: "order",
                id: id.to_string(),
            },
            E::AccountNotFound(id) => ApiError::NotFound {
                entity: "account",
                id,
            },
            E::Store(e) => e.into(),
            E::InvalidRisk { field, message } => ApiError::InvalidAt {
                code,
                message: format!("risk.{field}: {message}"),
                details: serde_json::json!({ "field": format!("risk.{field}") }),
            },
            E::Timeframe {
                message, accepted, ..
            } => ApiError::InvalidAt {
                code,
                message,
                details: serde_json::json!({ "field": "timeframe", "accepted": accepted }),
            },
            E::Internal(m) => ApiError::Internal(m),
            E::VenueUnreachable(message) => ApiError::Unavailable { code, message },
            e @ (E::StrategyDisabled(_)
            | E::StrategyNotReady(_)
            | E::VenueNotConfigured(_)
            | E::LiveNotEnabled(_)
            | E::VenueIsLive(_)
            | E::VenueUnreconciled(_)
            | E::RunNotActive { .. }) => ApiError::Conflict {
                code,
                message: e.to_string(),
            },
            e @ (E::Invalid { .. } | E::StrategyUnavailable(_) | E::Guest(_) | E::NoCandles(_)) => {
                ApiError::Invalid {
                    code,
                    message: e.to_string(),
                }
            }
        }
    }
}

/// Figures of one run, as `GET /runs/{id}` shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunFigures {
    /// Order intents (place or close) the strategy returned.
    pub order_intents: u64,
    /// Orders the venue accepted (known once the run ended).
    pub orders_placed: Option<u64>,
    /// Guest calls (init and events).
    pub calls: u64,
    /// Bars delivered to the guest.
    pub bars: u64,
    /// Clock ticks delivered to the guest.
    pub clock_ticks: u64,
    /// Fuel used by all calls.
    pub fuel_total: u64,
    /// Average fuel per guest call.
    pub fuel_per_event: f64,
    /// Most fuel used by one call.
    pub fuel_max: u64,
    /// Largest linear memory the guest reached, in bytes.
    pub peak_memory_bytes: u64,
    /// Most the host held for the guest at once, in bytes (what the host budget counts).
    pub peak_host_bytes: u64,
    /// The sandbox's limits: its strategy tier's, or what the run asked for.
    pub limits: LimitsView,
    /// Traps and limit hits.
    pub traps: u64,
    /// 99th percentile of one guest call's wall time, in µs (power-of-two resolution).
    pub call_p99_us: u64,
    /// Longest guest call, in µs.
    pub call_max_us: u64,
    /// 99th percentile of the wall time between two bars reaching the strategy, in µs
    /// (power-of-two resolution): at pace 0, the run's whole per-bar loop (exchange, strategy,
    /// orders, journal); with a pace, that pause included.
    pub bar_gap_p99_us: u64,
    /// Longest time between two bars reaching the strategy, in µs.
    pub bar_gap_max_us: u64,
    /// The run is paused waiting for the store (a database outage or a full disk) to journal
    /// an order: the store's error; `null` while it can write. It goes on where it stopped once
    /// the store is back, and fails (`order_journal_failed`) only after
    /// `WEAVER_STORE_OUTAGE_LIMIT`.
    pub waiting_for_store: Option<String>,
}

impl From<runs::Figures> for RunFigures {
    fn from(f: runs::Figures) -> Self {
        RunFigures {
            order_intents: f.order_intents,
            orders_placed: f.orders_placed,
            calls: f.calls,
            bars: f.bars,
            clock_ticks: f.clock_ticks,
            fuel_total: f.fuel_total,
            fuel_per_event: f.fuel_per_event,
            fuel_max: f.fuel_max,
            peak_memory_bytes: f.peak_memory_bytes,
            peak_host_bytes: f.peak_host_bytes,
            limits: f.limits.into(),
            traps: f.traps,
            call_p99_us: f.call_p99_us,
            call_max_us: f.call_max_us,
            bar_gap_p99_us: f.bar_gap_p99_us,
            bar_gap_max_us: f.bar_gap_max_us,
            waiting_for_store: f.waiting_for_store,
        }
    }
}

/// Profit and loss of a paper account (currency units).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PnlView {
    /// From closed quantities (average-cost), after fees.
    pub realized: f64,
    /// Open positions marked at their last price.
    pub unrealized: f64,
    /// `realized + unrealized` (= equity − starting cash).
    pub total: f64,
}

/// An open position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PositionView {
    /// Symbol.
    pub symbol: String,
    /// Signed quantity (negative: short).
    pub qty: f64,
    /// Average entry price.
    pub avg_price: f64,
    /// Latest price.
    pub last_price: f64,
    /// `qty × (last_price − avg_price)`.
    pub unrealized_pnl: f64,
}

/// A fill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TradeView {
    /// Symbol.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Quantity filled.
    pub qty: f64,
    /// Fill price.
    pub price: f64,
    /// When it filled (the replay's time).
    pub ts: DateTime<Utc>,
}

impl From<runs::Trade> for TradeView {
    fn from(t: runs::Trade) -> Self {
        TradeView {
            symbol: t.symbol,
            side: t.side,
            qty: t.qty,
            price: t.price,
            ts: t.ts,
        }
    }
}

/// One line of a run's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogLine {
    /// Position in the run's log (from 1, no gaps).
    pub seq: i64,
    /// When it was written (UTC, wall clock).
    pub ts: DateTime<Utc>,
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The text.
    pub message: String,
}

/// A page of a run's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogPage {
    /// Lines in the page's order: newest first by default, oldest first with `order=asc`.
    pub items: Vec<LogLine>,
    /// The highest `seq` so far: pass as `after` for the lines that follow (unchanged when
    /// there was nothing new).
    pub next: i64,
    /// Newest first: pass as `before` for the older lines; null when this page reached the
    /// first line.
    pub next_before: Option<i64>,
}

impl From<runs::LogPage> for LogPage {
    fn from(p: runs::LogPage) -> Self {
        LogPage {
            items: p
                .items
                .into_iter()
                .map(|l| LogLine {
                    seq: l.seq,
                    ts: l.ts,
                    level: l.level,
                    message: l.message,
                })
                .collect(),
            next: p.next,
            next_before: p.next_before,
        }
    }
}

/// A run as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    /// Id.
    pub id: i64,
    /// Strategy id: the version it runs now (a promotion or a rollback changes it).
    pub strategy_id: i64,
    /// Strategy name.
    pub strategy_name: String,
    /// The parameters of the version it runs now.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// `backtest`, `paper` or `live`.
    pub mode: String,
    /// Venue.
    pub venue: String,
    /// Symbols.
    pub symbols: Vec<String>,
    /// Timeframe.
    pub timeframe: String,
    /// `created`, `running`, `stopping`, `stopped`, `failed` or `suspended` (by a shutdown of
    /// the server; the next start resumes it).
    pub status: String,
    /// Why it failed.
    pub error_code: Option<String>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Started running (UTC).
    pub started_at: Option<DateTime<Utc>>,
    /// Stopped or failed (UTC).
    pub stopped_at: Option<DateTime<Utc>>,
    /// Starting cash of the paper account.
    pub starting_cash: f64,
    /// Cash now (at the end for ended runs).
    pub cash: f64,
    /// Cash plus positions at their last price.
    pub equity: f64,
    /// Profit and loss.
    pub pnl: PnlView,
    /// Open positions.
    pub positions: Vec<PositionView>,
    /// The latest fill, if any.
    pub last_trade: Option<TradeView>,
    /// Orders and sandbox figures (with the limits in force), once the run stored them (at its
    /// first heartbeat) or while this server executes it.
    pub figures: Option<RunFigures>,
    /// The risk limits its orders are checked against, every key (`null` where off).
    #[schema(value_type = Object)]
    pub risk: serde_json::Value,
    /// Its own trading state (`active`, `reduce_only`, `halted`): the one set by hand
    /// (`PUT /runs/{id}/trading-state`) or the strictest a daily-loss or drawdown breach put it
    /// in; a cooldown in force is in `risk_state.cooldown` (its `until`). The global switch
    /// (`GET /trading-state`) applies on top.
    pub trading_state: String,
    /// What its risk rules over time remember as of its last bar (peak and session equity,
    /// breaches with figure, limit and time, the state set by hand); `null` before its first.
    #[schema(value_type = Option<Object>)]
    pub risk_state: Option<serde_json::Value>,
    /// Its bar options as given (`{extended_hours, empty_bars, warmup}`, `warmup` `null` for
    /// the strategy's declared one), kept across a restart; `null` on `sim` and for runs stored
    /// before options were kept.
    #[schema(value_type = Option<Object>)]
    pub options: Option<serde_json::Value>,
}

fn compose(
    r: Run,
    strategy_name: String,
    a: runs::AccountState,
    figures: Option<runs::Figures>,
) -> RunView {
    let risk = serde_json::to_value(runs::risk::of_run(&r)).unwrap_or_default();
    let guard = figures.as_ref().and_then(|f| f.risk_guard.clone());
    let trading_state = runs::risk::own_state(guard.as_ref()).as_str().to_owned();
    let risk_state = guard.map(|g| serde_json::to_value(g).unwrap_or_default());
    RunView {
        id: r.id,
        strategy_id: r.strategy_id,
        strategy_name,
        params: r.params.0,
        mode: r.mode.as_str().to_owned(),
        venue: r.venue,
        symbols: r.symbols.0,
        timeframe: r.timeframe,
        status: r.status.as_str().to_owned(),
        error_code: r.error_code,
        created_at: r.created_at,
        started_at: r.started_at,
        stopped_at: r.stopped_at,
        starting_cash: a.starting_cash,
        cash: a.cash,
        equity: a.equity,
        pnl: PnlView {
            realized: a.pnl.realized,
            unrealized: a.pnl.unrealized,
            total: a.pnl.total,
        },
        positions: a
            .positions
            .into_iter()
            .map(|p| PositionView {
                symbol: p.symbol,
                qty: p.qty,
                avg_price: p.avg_price,
                last_price: p.last_price,
                unrealized_pnl: p.unrealized_pnl,
            })
            .collect(),
        last_trade: a.last_trade.map(Into::into),
        figures: figures.map(Into::into),
        risk,
        trading_state,
        risk_state,
        options: r.options.map(|o| o.0),
    }
}

/// The view of one run.
///
/// # Errors
/// 5xx when the store fails.
pub async fn view(state: &AppState, run: Run) -> Result<RunView, ApiError> {
    let w = &state.inner.walle;
    let name = w
        .strategy(run.strategy_id)
        .await?
        .map(|s| s.name)
        .unwrap_or_default();
    let stored = w.run_account(run.id).await?;
    let runs = &state.inner.runs;
    let account = runs.account(&run, stored.as_ref()).await?;
    let figures = runs.figures(run.id, stored.as_ref());
    Ok(compose(run, name, account, figures))
}

/// The views of a page of runs (one query for the strategies, one for the accounts).
///
/// # Errors
/// 5xx when the store fails.
pub async fn views(state: &AppState, list: Vec<Run>) -> Result<Vec<RunView>, ApiError> {
    let w = &state.inner.walle;
    let names: std::collections::HashMap<i64, String> = w
        .strategies()
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let (lo, hi) = list.iter().fold((i64::MAX, i64::MIN), |(lo, hi), r| {
        (lo.min(r.id), hi.max(r.id))
    });
    let accounts: std::collections::HashMap<i64, RunAccount> = if list.is_empty() {
        Default::default()
    } else {
        w.run_accounts(lo, hi)
            .await?
            .into_iter()
            .map(|a| (a.run_id, a))
            .collect()
    };
    let runs = &state.inner.runs;
    let mut out = Vec::with_capacity(list.len());
    for r in list {
        let account = runs.account(&r, accounts.get(&r.id)).await?;
        let name = names.get(&r.strategy_id).cloned().unwrap_or_default();
        let figures = runs.figures(r.id, accounts.get(&r.id));
        out.push(compose(r, name, account, figures));
    }
    Ok(out)
}

/// Query of `GET /runs`: a page of runs, newest first.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Cursor: only runs with an id below this (the `before` of the previous page's
    /// `Link: rel="next"`).
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// Page size (1–1000, default 500).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Only runs in this status (`created`, `running`, `stopping`, `stopped`, `failed`,
    /// `suspended`).
    pub status: Option<String>,
}

/// Default page size of `GET /runs` (what it always listed at most).
pub const RUNS_PAGE: i64 = 500;

/// A page of `GET /runs`: the views, the cursor of the next page (`None` on the last one) and
/// how many runs match in all.
pub struct RunsPage {
    /// Newest first.
    pub views: Vec<RunView>,
    /// Pass as `before` for the next page.
    pub next_before: Option<i64>,
    /// Runs matching the status filter, every page together.
    pub total: i64,
}

/// A page of runs (see [`RunsQuery`]).
///
/// # Errors
/// 400 for a limit outside 1–1000, a cursor below 1 or an unknown status; 5xx when the store
/// fails.
pub async fn list(state: &AppState, q: RunsQuery) -> Result<RunsPage, ApiError> {
    let limit = q.limit.unwrap_or(RUNS_PAGE);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::InvalidParam("limit must be 1–1000".into()));
    }
    if q.before.is_some_and(|b| b < 1) {
        return Err(ApiError::InvalidParam("before must be 1 or more".into()));
    }
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(
            crate::walle::RunStatus::ALL
                .into_iter()
                .find(|st| st.as_str() == s)
                .ok_or_else(|| {
                    ApiError::InvalidParam(
                        "status must be created, running, stopping, stopped, failed or suspended"
                            .into(),
                    )
                })?,
        ),
    };
    let w = &state.inner.walle;
    // One more than asked: whether a next page exists without a second query.
    let mut rows = w.runs_before(status, q.before, limit + 1).await?;
    let next_before = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id)
    } else {
        None
    };
    let total = w.count_runs(status).await?;
    Ok(RunsPage {
        views: views(state, rows).await?,
        next_before,
        total,
    })
}

/// Validates a run request and starts it (see [`crate::runs::Runs::create`]).
///
/// # Errors
/// 4xx with the first problem found; 503 `venue_unavailable` when a live venue cannot be
/// reached to recover and reconcile before the run starts.
pub async fn create(state: &AppState, req: RunRequest) -> Result<Run, ApiError> {
    let spec = RunSpec::try_from(req)?;
    Ok(state.inner.runs.create(spec).await?)
}

/// Stops a run.
///
/// # Errors
/// 404 for an unknown run, 409 when it is not active.
pub async fn stop(state: &AppState, id: i64) -> Result<Run, ApiError> {
    Ok(state.inner.runs.stop(id).await?)
}
