//! Runs through the API: read, stop, and creation (validated here, executed by
//! [`super::run_exec`] on the simulated exchange; `alpaca` is refused until wired).
//!
//! # Invariants
//! - A refused creation stores nothing.
//! - `live` needs an explicit opt-in that does not exist yet, so it is always refused.
//! - Stopping is only valid for `created`/`running` runs; anything else is a 409.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::backtests::StrategyRef;
use super::error::ApiError;
use crate::domain::Timeframe;
use crate::walle::{Run, RunStatus, StrategyStatus};

/// `POST /runs`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Strategy id or name.
    pub strategy: StrategyRef,
    /// `paper` or `live`.
    pub mode: String,
    /// `sim` or `alpaca`.
    pub venue: String,
    /// Symbols.
    pub symbols: Vec<String>,
    /// Bar timeframe.
    pub timeframe: String,
    /// Strategy parameters.
    #[schema(value_type = Object)]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A run as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    /// Id.
    pub id: i64,
    /// Strategy id.
    pub strategy_id: i64,
    /// `backtest`, `paper` or `live`.
    pub mode: String,
    /// Venue.
    pub venue: String,
    /// Symbols.
    pub symbols: Vec<String>,
    /// Timeframe.
    pub timeframe: String,
    /// `created`, `running`, `stopping`, `stopped` or `failed`.
    pub status: String,
    /// Why it failed.
    pub error_code: Option<String>,
    /// Orders and sandbox figures, for runs this server executed since it started.
    pub figures: Option<super::run_exec::RunFigures>,
}

fn text<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl From<Run> for RunView {
    fn from(r: Run) -> Self {
        RunView {
            id: r.id,
            strategy_id: r.strategy_id,
            mode: text(&r.mode),
            venue: r.venue,
            symbols: r.symbols.0,
            timeframe: r.timeframe,
            status: text(&r.status),
            error_code: r.error_code,
            figures: None,
        }
    }
}

/// Validates a run request and starts it on the simulated exchange (see [`super::run_exec`]).
/// Venue `alpaca` is refused with `venue_unavailable` (nothing stored).
///
/// # Errors
/// 4xx with the first problem found.
pub async fn create(state: &AppState, req: RunRequest) -> Result<Run, ApiError> {
    let invalid = |code, message: String| ApiError::Invalid { code, message };
    match req.mode.as_str() {
        "paper" => {}
        "live" => {
            return Err(ApiError::Conflict {
                code: "live_not_enabled",
                message: "live trading needs an explicit opt-in setting and live keys".into(),
            });
        }
        _ => return Err(invalid("invalid_mode", "mode must be paper or live".into())),
    }
    if !matches!(req.venue.as_str(), "sim" | "alpaca") {
        return Err(invalid(
            "invalid_venue",
            "venue must be sim or alpaca".into(),
        ));
    }
    req.timeframe
        .parse::<Timeframe>()
        .map_err(|e| invalid("invalid_timeframe", e.to_string()))?;
    if req.symbols.is_empty() || req.symbols.len() > 32 {
        return Err(invalid("invalid_symbols", "give 1 to 32 symbols".into()));
    }
    let w = &state.inner.walle;
    let strategy = match &req.strategy {
        StrategyRef::Id(id) => w.strategy(*id).await?,
        StrategyRef::Name(n) => w.strategies_by_name(n).await?.into_iter().next_back(),
    }
    .ok_or(ApiError::NotFound {
        entity: "strategy",
        id: "requested".into(),
    })?;
    if strategy.status == StrategyStatus::Disabled {
        return Err(ApiError::Conflict {
            code: "strategy_disabled",
            message: format!("strategy {} is disabled", strategy.id),
        });
    }
    if strategy.status != StrategyStatus::Ready {
        return Err(ApiError::Conflict {
            code: "strategy_not_ready",
            message: format!("strategy {} is not ready", strategy.id),
        });
    }
    if req.venue != "sim" {
        return Err(ApiError::Conflict {
            code: "venue_unavailable",
            message: format!("venue {} cannot execute runs in this build yet", req.venue),
        });
    }
    super::run_exec::start(state, &strategy, req).await
}

/// Stops a run.
///
/// # Errors
/// 404 for an unknown run, 409 when it is not active.
pub async fn stop(state: &AppState, id: i64) -> Result<Run, ApiError> {
    let w = &state.inner.walle;
    let run = w.run(id).await?.ok_or(ApiError::NotFound {
        entity: "run",
        id: id.to_string(),
    })?;
    if !matches!(run.status, RunStatus::Created | RunStatus::Running) {
        return Err(ApiError::Conflict {
            code: "run_not_active",
            message: format!("run {id} is {}", text(&run.status)),
        });
    }
    let stopped = w
        .update_run_status(id, RunStatus::Stopped, None, None)
        .await?;
    state.inner.runs.cancel(id);
    Ok(stopped)
}
