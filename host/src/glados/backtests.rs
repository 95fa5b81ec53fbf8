//! Backtests through the API: the request and response views, and how a refused request
//! answers. The jobs themselves (validation, queueing, running over stored candles with the
//! shared Marvin) are [`crate::greta::jobs`].
//!
//! # Invariants
//! - The stored `config` is the request as it was posted, so `GET /backtests/{id}` shows what
//!   was asked for; the report is the `weaver backtest --report` JSON.
//! - `memory_estimate_mb`, `waiting_for` and `queue_position` come from the running server's
//!   jobs, not the store: a backtest queued by an earlier process shows none.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::runs::LimitsRequest;
use crate::greta::FillModel;
use crate::greta::jobs::{self, JobRequest, report_of};
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

/// Market-order fill price.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum FillView {
    /// The next bar's open.
    #[default]
    NextOpen,
    /// The signal bar's close.
    Close,
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
    /// The `weaver backtest --report` JSON once done.
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

/// The job a request asks for, stored and shown as `config` (sweeps build theirs here too).
pub(crate) fn job_request(req: BacktestRequest, config: serde_json::Value) -> JobRequest {
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
        config,
    }
}
