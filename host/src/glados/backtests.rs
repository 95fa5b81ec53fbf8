//! Backtests through the API: the request and response views, and how a refused request
//! answers. The jobs themselves (validation, queueing, running over stored candles with the
//! shared Marvin) are [`crate::greta::jobs`].
//!
//! # Invariants
//! - The stored `config` is the request as it was posted, so `GET /backtests/{id}` shows what
//!   was asked for; the report is the `weaver backtest --report` JSON.
//! - `memory_estimate_mb`, `waiting_for` and `queue_position` come from the running server's
//!   jobs, not the store: a backtest queued by an earlier process shows none.
//! - Settings are spelt as `weaver backtest`'s flags in snake_case (`--volume-limit` is
//!   `volume_limit`), values in snake_case; `next-open` is read as `next_open`.
//! - A report's `by_symbol` section is documented by [`BySymbolView`] (the report itself is
//!   served as stored JSON); a report stored before the section existed gets it computed on read
//!   from its stored trades (`greta::by_symbol::fill_missing`), never written back.
//! - `GET /backtests/{id}/montecarlo` computes from the stored report on demand and stores
//!   nothing; its work is bounded by [`overfit::MAX_RUNS`] and [`overfit::MAX_DRAWS`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use axum::extract::State;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::http::{AppQuery, IdPath};
use super::runs::LimitsRequest;
use crate::greta::by_symbol::{BySymbol, SymbolStats};
use crate::greta::jobs::{self, JobRequest, report_of};
use crate::greta::{CommissionModel, FillModel, FillSettings, Remainder, overfit};
use crate::walle::Backtest;

/// A strategy by id, by name (the newest ready version), or by name and version label
/// (`{"name": "sma-cross", "version": "2"}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StrategyRef {
    /// Id.
    Id(i64),
    /// Name.
    Name(String),
    /// One version of a name.
    Version {
        /// Name given at upload.
        name: String,
        /// Version label given at upload.
        version: String,
    },
}

impl From<StrategyRef> for crate::walle::StrategyRef {
    fn from(r: StrategyRef) -> Self {
        match r {
            StrategyRef::Id(id) => crate::walle::StrategyRef::Id(id),
            StrategyRef::Name(n) => crate::walle::StrategyRef::Name(n),
            StrategyRef::Version { name, version } => {
                crate::walle::StrategyRef::Version { name, version }
            }
        }
    }
}

/// Market-order fill price (`next-open`, the CLI's former spelling, is read too).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum FillView {
    /// The next bar's open.
    #[default]
    #[serde(alias = "next-open")]
    NextOpen,
    /// The signal bar's close.
    Close,
}

/// What happens to the part of an order above the volume limit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemainderView {
    /// Filled over the next bars.
    Carry,
    /// Cancelled.
    Cancel,
}

/// The commission schedule.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommissionModelView {
    /// `commission` as a fraction of traded value per side.
    Flat,
    /// Alpaca's: no commission; SEC fee and FINRA TAF on sells.
    Alpaca,
}

/// `POST /backtests`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// Strategy id or name.
    pub strategy: StrategyRef,
    /// Symbols (candles must be stored for each).
    pub symbols: Vec<String>,
    /// Bar timeframe (`1Min`, `1Day`, …).
    pub timeframe: String,
    /// First bar time (inclusive, RFC 3339); default: the oldest stored.
    pub start: Option<DateTime<Utc>>,
    /// End (exclusive); default: after the newest stored.
    pub end: Option<DateTime<Utc>>,
    /// Starting cash (default 10000).
    pub cash: Option<f64>,
    /// Commission as a fraction of traded value per side (default 0.002).
    pub commission: Option<f64>,
    /// Market-order fill price (default `next_open`).
    pub fill: Option<FillView>,
    /// Indicator warm-up in bars (`weaver backtest --warmup`): buy & hold is measured from this
    /// bar's close. 0–1000000; default: the warm-up the strategy declares (contract 0.3; 0 for a
    /// 0.2 component), which the report's `warmup` names. Like the CLI, a warm-up past the last
    /// bar counts from the last bar.
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub warmup: Option<u64>,
    /// Strategy parameters.
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
    /// Sandbox limits instead of the strategy tier's (the report's `strategy.limits` shows the
    /// ones in force).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsRequest>,
    /// Volume-share slippage (`--volume-share`): an order takes at most `volume_limit` of a
    /// bar's volume and the price moves against it by `price × volume_impact × share²`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_share: Option<bool>,
    /// Share of a bar's volume an order may take, (0, 1] (default 0.025); with `volume_share`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_limit: Option<f64>,
    /// Price impact coefficient, 0–10 (default 0.1); with `volume_share`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_impact: Option<f64>,
    /// The part above the volume limit (default `carry`); with `volume_share`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remainder: Option<RemainderView>,
    /// Half-spread on market and stop fills as a fraction of the bar's high − low, 0–1
    /// (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread_hl: Option<f64>,
    /// Bars an order waits before it reaches the market, 0–10000 (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 10_000)]
    pub latency_bars: Option<u32>,
    /// Commission schedule (default `flat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_model: Option<CommissionModelView>,
}

impl BacktestRequest {
    /// The fill-model settings of the request.
    pub fn fill_settings(&self) -> FillSettings {
        FillSettings {
            volume_share: self.volume_share,
            volume_limit: self.volume_limit,
            volume_impact: self.volume_impact,
            remainder: self.remainder.map(|r| match r {
                RemainderView::Carry => Remainder::Carry,
                RemainderView::Cancel => Remainder::Cancel,
            }),
            spread_hl: self.spread_hl,
            latency_bars: self.latency_bars,
            commission_model: self.commission_model.map(|c| match c {
                CommissionModelView::Flat => CommissionModel::Flat,
                CommissionModelView::Alpaca => CommissionModel::Alpaca,
            }),
        }
    }
}

/// A backtest as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BacktestView {
    /// Id.
    pub id: i64,
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The `weaver backtest --report` JSON once done. Its `by_symbol` section is a
    /// `BySymbolView`: the closed trades' figures per symbol and their total (computed from the
    /// stored trades for a backtest stored before the section existed).
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
    /// The request.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// The memory it was estimated to need, MB, reserved from the backtests' budget
    /// (`WEAVER_BACKTEST_MEMORY_MB`) while it runs. `null` for one queued by an earlier process.
    #[serde(default)]
    pub memory_estimate_mb: Option<u64>,
    /// While `queued`: what it waits for, `slot` (one of `WEAVER_BACKTEST_CONCURRENCY`) or
    /// `memory` (its estimate, from what the running ones left of the budget).
    #[serde(default)]
    pub waiting_for: Option<String>,
    /// While `queued`: its place in the queue, 1 for the next to start.
    #[serde(default)]
    pub queue_position: Option<u64>,
}

/// One row of a report's `by_symbol`: the closed trades of one symbol (or of all, `total`) in
/// the backtest's one cash account. Open trades are in no PnL figure.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SymbolStatsView {
    /// The symbol; absent in `total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// Closed trades.
    pub trades: usize,
    /// Trades still open at the end.
    pub open_trades: usize,
    /// Share of closed trades with a positive net PnL, percent; null without trades.
    pub win_rate_pct: Option<f64>,
    /// Sum of the closed trades' PnL after commissions, in account currency. The rows add up to
    /// the total's (to the cent).
    pub net_pnl: f64,
    /// `net_pnl` as a share of the total's, percent (negative when it went the other way); null
    /// when the total is 0.
    pub pnl_share_pct: Option<f64>,
    /// `net_pnl` as a percentage of the starting cash (contribution to the return); null when
    /// the stored report has no starting cash.
    pub contribution_pct: Option<f64>,
    /// Entry and exit commissions of the closed trades.
    pub commissions: f64,
    /// Best closed trade's return, percent.
    pub best_trade_pct: Option<f64>,
    /// Worst closed trade's return, percent.
    pub worst_trade_pct: Option<f64>,
    /// Geometric mean of the closed trades' returns, percent.
    pub avg_trade_pct: Option<f64>,
    /// The backtest's bar times inside one of these trades, percent of all of them.
    pub exposure_time_pct: f64,
}

/// A report's `by_symbol` section. `total` equals the report's `metrics` (`trades`,
/// `win_rate_pct`, `commissions`, best, worst and average trade, `exposure_time_pct`); its
/// `net_pnl` is the closed trades' PnL, which differs from the equity's return by what open
/// trades hold at the end.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BySymbolView {
    /// One row per symbol, in the backtest's symbol order (one for a single symbol).
    pub symbols: Vec<SymbolStatsView>,
    /// Every closed trade together.
    pub total: SymbolStatsView,
}

impl From<SymbolStats> for SymbolStatsView {
    fn from(s: SymbolStats) -> Self {
        SymbolStatsView {
            symbol: s.symbol,
            trades: s.trades,
            open_trades: s.open_trades,
            win_rate_pct: s.win_rate_pct,
            net_pnl: s.net_pnl,
            pnl_share_pct: s.pnl_share_pct,
            contribution_pct: s.contribution_pct,
            commissions: s.commissions,
            best_trade_pct: s.best_trade_pct,
            worst_trade_pct: s.worst_trade_pct,
            avg_trade_pct: s.avg_trade_pct,
            exposure_time_pct: s.exposure_time_pct,
        }
    }
}

impl From<BySymbol> for BySymbolView {
    fn from(b: BySymbol) -> Self {
        BySymbolView {
            symbols: b.symbols.into_iter().map(Into::into).collect(),
            total: b.total.into(),
        }
    }
}

/// A backtest's view with what the server's jobs know of it (estimate, queue).
pub fn view(state: &AppState, b: Backtest) -> BacktestView {
    with_admission(state, BacktestView::from(b))
}

/// A list's view ([`BacktestView::summary`]) with what the server's jobs know of it.
pub fn summary(state: &AppState, b: Backtest) -> BacktestView {
    with_admission(state, BacktestView::summary(b))
}

fn with_admission(state: &AppState, mut v: BacktestView) -> BacktestView {
    if let Some(a) = state.inner.backtests.admission(v.id) {
        v.memory_estimate_mb = Some(a.estimate_mb);
        if let Some((waiting, place)) = a.waiting {
            v.waiting_for = Some(waiting.as_str().to_owned());
            v.queue_position = u64::try_from(place).ok();
        }
    }
    v
}

impl From<Backtest> for BacktestView {
    fn from(b: Backtest) -> Self {
        BacktestView {
            id: b.id,
            status: serde_json::to_value(b.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            error: b.error.clone(),
            report: report_of(&b),
            config: b.config.0.clone(),
            created_at: b.created_at,
            memory_estimate_mb: None,
            waiting_for: None,
            queue_position: None,
        }
    }
}

impl BacktestView {
    /// A list's view: the report's head (strategy, metrics), without its trades and equity
    /// curve, which grow with the test.
    pub fn summary(b: Backtest) -> Self {
        let mut v = BacktestView::from(b);
        if let Some(serde_json::Value::Object(report)) = v.report.as_mut() {
            report.remove("trades");
            report.remove("equity");
        }
        v
    }
}

impl From<FillView> for FillModel {
    fn from(f: FillView) -> Self {
        match f {
            FillView::NextOpen => FillModel::NextOpen,
            FillView::Close => FillModel::Close,
        }
    }
}

impl From<jobs::Error> for ApiError {
    fn from(e: jobs::Error) -> Self {
        let code = e.code();
        match e {
            jobs::Error::StrategyNotFound(id) => ApiError::NotFound {
                entity: "strategy",
                id,
            },
            e @ (jobs::Error::StrategyDisabled(_) | jobs::Error::StrategyNotReady { .. }) => {
                ApiError::Conflict {
                    code,
                    message: e.to_string(),
                }
            }
            jobs::Error::Invalid { code, message } => ApiError::Invalid { code, message },
            e @ jobs::Error::TooLarge {
                estimate_mb,
                budget_mb,
            } => ApiError::InvalidAt {
                code,
                message: e.to_string(),
                details: serde_json::json!({"estimate_mb": estimate_mb, "budget_mb": budget_mb}),
            },
            jobs::Error::Store(e) => e.into(),
            jobs::Error::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// Validates and queues a backtest.
///
/// # Errors
/// 4xx for a refused request (nothing stored), 5xx for store failures.
pub async fn create(state: &AppState, req: BacktestRequest) -> Result<Backtest, ApiError> {
    let config = serde_json::to_value(&req).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(state
        .inner
        .backtests
        .create(job_request(req, config))
        .await?)
}

/// A stored backtest's job, read back from its `config` (strategy pinned to the version it
/// resolved to when posted): what a worker runs.
///
/// # Errors
/// [`ApiError::Internal`] for a stored config that no longer parses.
pub fn stored_job(b: &crate::walle::Backtest) -> Result<JobRequest, ApiError> {
    let req: BacktestRequest = serde_json::from_value(b.config.0.clone())
        .map_err(|e| ApiError::Internal(format!("stored backtest {}: {e}", b.id)))?;
    let mut job = job_request(req, b.config.0.clone());
    if let Some(id) = b.strategy_id {
        job.strategy = crate::walle::StrategyRef::Id(id);
    }
    Ok(job)
}

/// The job a request asks for, stored and shown as `config` (sweeps build theirs here too).
pub(crate) fn job_request(req: BacktestRequest, config: serde_json::Value) -> JobRequest {
    let fills = req.fill_settings();
    JobRequest {
        strategy: req.strategy.into(),
        symbols: req.symbols,
        timeframe: req.timeframe,
        start: req.start,
        end: req.end,
        cash: req.cash,
        commission: req.commission,
        fill: req.fill.map(FillModel::from),
        warmup: req.warmup,
        params: req.params,
        limits: req.limits.map(Into::into).unwrap_or_default(),
        fills,
        config,
    }
}

/// Query of `GET /backtests/{id}/montecarlo`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonteCarloQuery {
    /// Resamplings, 1–100000 (default 1000); `runs × trades` may be at most 50,000,000.
    #[param(minimum = 1, maximum = 100_000)]
    pub runs: Option<usize>,
    /// Seed of the resampling (default 1): the same seed gives the same answer.
    pub seed: Option<u64>,
}

/// Five percentiles of a distribution.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PercentilesView {
    /// 5th percentile.
    pub p5: f64,
    /// 25th.
    pub p25: f64,
    /// Median.
    pub p50: f64,
    /// 75th.
    pub p75: f64,
    /// 95th.
    pub p95: f64,
}

/// The Monte Carlo distribution of a backtest's trade sequence.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MonteCarloView {
    /// The backtest.
    pub backtest_id: i64,
    /// Resamplings.
    pub runs: usize,
    /// Closed trades resampled (each resampling draws this many, with replacement).
    pub trades: usize,
    /// Seed.
    pub seed: u64,
    /// Total return of the trades in their real order, compounded, percent.
    pub observed_return_pct: f64,
    /// Maximum drawdown of the trades in their real order, percent.
    pub observed_max_drawdown_pct: f64,
    /// Total return of the resamplings, percent.
    pub return_pct: PercentilesView,
    /// Maximum drawdown of the resamplings over trade-by-trade equity, percent (positive).
    pub max_drawdown_pct: PercentilesView,
}

impl From<overfit::Percentiles> for PercentilesView {
    fn from(p: overfit::Percentiles) -> Self {
        PercentilesView {
            p5: p.p5,
            p25: p.p25,
            p50: p.p50,
            p75: p.p75,
            p95: p.p95,
        }
    }
}

/// Monte Carlo of a done backtest's trade sequence: its closed trades' returns resampled with
/// replacement (`runs` times, seeded), each resampling compounded as if every trade were taken
/// with the whole equity; the percentiles of total return and maximum drawdown. Computed on
/// demand, not stored.
#[utoipa::path(get, path = "/backtests/{id}/montecarlo", tag = "backtests",
    params(("id" = i64, Path, description = "Backtest id"), MonteCarloQuery), responses(
    (status = 200, body = MonteCarloView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 409, description = "`backtest_not_done`: the backtest has no report yet", body = ErrorBody),
    (status = 422, description = "`invalid_overfit_input` (details: `input`, `max_runs`, `max_draws`): `runs` out of 1–100000 or `runs × trades` above 50,000,000, or no closed trades", body = ErrorBody)))]
pub async fn backtest_montecarlo(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    AppQuery(q): AppQuery<MonteCarloQuery>,
) -> Result<axum::Json<MonteCarloView>, ApiError> {
    let (_, report) = super::exports::done(&state, id).await?;
    let returns: Vec<f64> = report["trades"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|row| row["return_pct"].as_f64())
                .map(|pct| pct / 100.0)
                .collect()
        })
        .unwrap_or_default();
    let (runs, seed) = (q.runs.unwrap_or(1000), q.seed.unwrap_or(1));
    // Up to 50M draws is about a second: off the async workers.
    let mc = tokio::task::spawn_blocking(move || overfit::monte_carlo(&returns, runs, seed))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::InvalidAt {
            code: e.code(),
            message: e.to_string(),
            details: serde_json::json!({
                "input": e.input,
                "max_runs": overfit::MAX_RUNS,
                "max_draws": overfit::MAX_DRAWS,
            }),
        })?;
    Ok(axum::Json(MonteCarloView {
        backtest_id: id,
        runs: mc.runs,
        trades: mc.trades,
        seed: mc.seed,
        observed_return_pct: mc.observed_return_pct,
        observed_max_drawdown_pct: mc.observed_max_drawdown_pct,
        return_pct: mc.return_pct.into(),
        max_drawdown_pct: mc.max_drawdown_pct.into(),
    }))
}
