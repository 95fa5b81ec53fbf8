//! Runs through the API: read, stop, and creation (validated here, executed by
//! [`super::run_exec`] on the simulated exchange or a live venue's [`crate::veda::desk::Desk`]).
//!
//! # Invariants
//! - A refused creation stores nothing.
//! - Real money only on request: `live` needs a venue configured for live trading (Alpaca's
//!   live URL, which itself needs `WEAVER_ALPACA_LIVE=true`), and `paper` is refused on such a
//!   venue, since its orders would be real.
//! - Stopping is only valid for `created`/`running` runs; anything else is a 409.
//! - A run's account figures come from this process while it executes the run, else from the
//!   snapshot stored when it ended, else from its stored orders (see [`super::run_exec::account`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::backtests::StrategyRef;
use super::error::ApiError;
use super::run_exec::{AccountState, PnlView, PositionView, RunFigures, TradeView};
use crate::domain::Timeframe;
use crate::walle::{Run, RunAccount, RunStatus, StrategyStatus};

/// Largest starting cash of a paper account.
pub const MAX_CASH: f64 = 1e12;

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
    /// Starting cash of the paper account (default 10000; more than 0).
    #[serde(default)]
    pub cash: Option<f64>,
}

/// A run as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    /// Id.
    pub id: i64,
    /// Strategy id.
    pub strategy_id: i64,
    /// Strategy name.
    pub strategy_name: String,
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
    /// Orders and sandbox figures, for runs this server executed since it started.
    pub figures: Option<RunFigures>,
}

fn text<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn compose(r: Run, strategy_name: String, a: AccountState, figures: Option<RunFigures>) -> RunView {
    RunView {
        id: r.id,
        strategy_id: r.strategy_id,
        strategy_name,
        mode: text(&r.mode),
        venue: r.venue,
        symbols: r.symbols.0,
        timeframe: r.timeframe,
        status: text(&r.status),
        error_code: r.error_code,
        created_at: r.created_at,
        started_at: r.started_at,
        stopped_at: r.stopped_at,
        starting_cash: a.starting_cash,
        cash: a.cash,
        equity: a.equity,
        pnl: a.pnl,
        positions: a.positions,
        last_trade: a.last_trade,
        figures,
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
    let account = super::run_exec::account(state, &run, stored.as_ref()).await?;
    let figures = state.inner.runs.figures(run.id);
    Ok(compose(run, name, account, figures))
}

/// The views of a page of runs (one query for the strategies, one for the accounts).
///
/// # Errors
/// 5xx when the store fails.
pub async fn views(state: &AppState, runs: Vec<Run>) -> Result<Vec<RunView>, ApiError> {
    let w = &state.inner.walle;
    let names: std::collections::HashMap<i64, String> = w
        .strategies()
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let (lo, hi) = runs.iter().fold((i64::MAX, i64::MIN), |(lo, hi), r| {
        (lo.min(r.id), hi.max(r.id))
    });
    let accounts: std::collections::HashMap<i64, RunAccount> = if runs.is_empty() {
        Default::default()
    } else {
        w.run_accounts(lo, hi)
            .await?
            .into_iter()
            .map(|a| (a.run_id, a))
            .collect()
    };
    let mut out = Vec::with_capacity(runs.len());
    for r in runs {
        let account = super::run_exec::account(state, &r, accounts.get(&r.id)).await?;
        let name = names.get(&r.strategy_id).cloned().unwrap_or_default();
        let figures = state.inner.runs.figures(r.id);
        out.push(compose(r, name, account, figures));
    }
    Ok(out)
}

/// Validates a run request and starts it on the simulated exchange or a live venue (see
/// [`super::run_exec`]). Venue `alpaca` without configuration is refused with
/// `venue_unavailable` (nothing stored).
///
/// # Errors
/// 4xx with the first problem found; 503 `venue_unavailable` when a live venue cannot be
/// reached to recover and reconcile before the run starts.
pub async fn create(state: &AppState, req: RunRequest) -> Result<Run, ApiError> {
    let invalid = |code, message: String| ApiError::Invalid { code, message };
    let live = match req.mode.as_str() {
        "paper" => false,
        "live" => true,
        _ => return Err(invalid("invalid_mode", "mode must be paper or live".into())),
    };
    if !matches!(req.venue.as_str(), "sim" | "alpaca") {
        return Err(invalid(
            "invalid_venue",
            "venue must be sim or alpaca".into(),
        ));
    }
    let desk = state.inner.desks.get(&req.venue);
    match (live, req.venue.as_str(), desk) {
        (true, "sim", _) => {
            return Err(invalid(
                "invalid_mode",
                "the simulated exchange only runs paper runs; live runs need venue alpaca".into(),
            ));
        }
        (_, "sim", _) => {}
        (_, name, None) => {
            return Err(ApiError::Conflict {
                code: "venue_unavailable",
                message: format!(
                    "venue {name} is not configured: set APCA_API_KEY_ID and APCA_API_SECRET_KEY (see .env.example)"
                ),
            });
        }
        (true, name, Some(d)) if !d.is_live() => {
            return Err(ApiError::Conflict {
                code: "live_not_enabled",
                message: format!(
                    "venue {name} is configured for paper trading; live runs need APCA_API_BASE_URL at the live endpoint and WEAVER_ALPACA_LIVE=true"
                ),
            });
        }
        (false, name, Some(d)) if d.is_live() => {
            return Err(ApiError::Conflict {
                code: "venue_is_live",
                message: format!(
                    "venue {name} is configured for live trading (real money): start the run with mode live, or point APCA_API_BASE_URL at the paper endpoint"
                ),
            });
        }
        _ => {}
    }
    req.timeframe
        .parse::<Timeframe>()
        .map_err(|e| invalid("invalid_timeframe", e.to_string()))?;
    if req.symbols.is_empty() || req.symbols.len() > 32 {
        return Err(invalid("invalid_symbols", "give 1 to 32 symbols".into()));
    }
    if let Some(cash) = req.cash
        && !(cash.is_finite() && cash > 0.0 && cash <= MAX_CASH)
    {
        return Err(invalid(
            "invalid_cash",
            format!("cash must be more than 0 and at most {MAX_CASH}"),
        ));
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
    match desk {
        Some(d) => super::run_exec::start_on_desk(state, &strategy, req, d).await,
        None => super::run_exec::start(state, &strategy, req).await,
    }
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
