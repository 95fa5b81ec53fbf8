//! Shadow runs through the API (`/runs/{id}/shadows`, ADR 0018): start one beside a running
//! run, list them, stop one, and read its diff with the run. The lifecycle is
//! [`crate::runs::shadows`].
//!
//! # Invariants
//! - Responses are views built from the service types with `From`, so `runs` never depends on
//!   `utoipa`.
//! - A refused start stores nothing: 404 for an unknown run or strategy, 409 `run_not_active`,
//!   422 with a stable code for the rest (`shadow_other_strategy`,
//!   `shadow_strategy_not_ready`, `shadow_limit`, `limit_not_allowed`, a contract or
//!   component the host cannot run).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::backtests::StrategyRef;
use super::error::{ApiError, ErrorBody};
use super::http::{AppJson, IdPath};
use crate::runs::shadows::{BarDiff, EquityPoint, ShadowDiff, ShadowStart};
use crate::walle::Shadow;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/runs/{id}/shadows", get(list_shadows).post(create_shadow))
        .route("/runs/{id}/shadows/{sid}", delete(stop_shadow))
        .route("/runs/{id}/shadows/{sid}/diff", get(shadow_diff))
}

/// `POST /runs/{id}/shadows`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowRequest {
    /// A ready version of the run's own strategy: its id, its name (the newest ready version),
    /// or `{name, version}`.
    pub strategy: StrategyRef,
    /// Its parameters (default: the run's).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A shadow of a run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShadowView {
    /// Id.
    pub id: i64,
    /// The run it shadows.
    pub run_id: i64,
    /// The strategy version it runs.
    pub strategy_id: i64,
    /// Its parameters.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// `running` (until the run ends, it is stopped or it fails), `stopped` or `failed`.
    pub status: String,
    /// Why it failed, when it did (a stable code such as `strategy_fuel_exhausted`).
    pub error_code: Option<String>,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When it ended.
    pub stopped_at: Option<DateTime<Utc>>,
}

impl From<Shadow> for ShadowView {
    fn from(s: Shadow) -> Self {
        ShadowView {
            id: s.id,
            run_id: s.run_id,
            strategy_id: s.strategy_id,
            params: s.params.0,
            status: s.status,
            error_code: s.error_code,
            created_at: s.created_at,
            stopped_at: s.stopped_at,
        }
    }
}

/// One bar time where the run or the shadow had order intents.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BarDiffView {
    /// The bar time.
    pub bar_ts: DateTime<Utc>,
    /// The run's intents at that bar time.
    #[schema(value_type = Vec<Object>)]
    pub run: serde_json::Value,
    /// The shadow's intents at that bar time.
    #[schema(value_type = Vec<Object>)]
    pub shadow: serde_json::Value,
    /// Whether their order intents differ (log intents are not compared).
    pub diverges: bool,
}

impl From<BarDiff> for BarDiffView {
    fn from(b: BarDiff) -> Self {
        BarDiffView {
            bar_ts: b.bar_ts,
            run: serde_json::to_value(&b.run).unwrap_or_default(),
            shadow: serde_json::to_value(&b.shadow).unwrap_or_default(),
            diverges: b.diverges,
        }
    }
}

/// One point of an equity curve.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct EquityPointView {
    /// The bar time.
    pub ts: DateTime<Utc>,
    /// Equity after that bar.
    pub equity: f64,
}

impl From<EquityPoint> for EquityPointView {
    fn from(p: EquityPoint) -> Self {
        EquityPointView {
            ts: p.ts,
            equity: p.equity,
        }
    }
}

/// A shadow beside its run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShadowDiffView {
    /// The shadow.
    pub shadow: ShadowView,
    /// Bar times are compared up to this one (the latest both sides recorded; the run's
    /// decisions reach the store a moment after it makes them).
    pub compared_until: Option<DateTime<Utc>>,
    /// The first bar time where their order intents differ; null when none does.
    pub first_divergence: Option<DateTime<Utc>>,
    /// How many bar times differ.
    pub divergences: usize,
    /// Bar times where either had order intents, side by side, oldest first (at most 2000).
    pub bars: Vec<BarDiffView>,
    /// Whether `bars` was cut at 2000.
    pub truncated: bool,
    /// `sim_account`: the run's equity is its simulated exchange's (exact); `venue_fills`: a
    /// run on a live venue, its own fills over its baseline marked at the latest closes. Read
    /// at each bar while the shadow listened.
    pub run_equity_source: String,
    /// The run's equity by bar (at most 2000 points, evenly thinned).
    pub run_equity: Vec<EquityPointView>,
    /// The shadow's simulated equity by bar (at most 2000 points).
    pub shadow_equity: Vec<EquityPointView>,
}

impl From<ShadowDiff> for ShadowDiffView {
    fn from(d: ShadowDiff) -> Self {
        ShadowDiffView {
            shadow: d.shadow.into(),
            compared_until: d.compared_until,
            first_divergence: d.first_divergence,
            divergences: d.divergences,
            bars: d.bars.into_iter().map(Into::into).collect(),
            truncated: d.truncated,
            run_equity_source: d.run_equity_source.to_owned(),
            run_equity: d.run_equity.into_iter().map(Into::into).collect(),
            shadow_equity: d.shadow_equity.into_iter().map(Into::into).collect(),
        }
    }
}

/// Both path ids, or 404 naming the one that is not an id.
fn ids(id: &str, sid: &str) -> Result<(i64, i64), ApiError> {
    let run = id.parse::<i64>().map_err(|_| ApiError::NotFound {
        entity: "run",
        id: id.chars().take(64).collect(),
    })?;
    let shadow = sid.parse::<i64>().map_err(|_| ApiError::NotFound {
        entity: "shadow",
        id: sid.chars().take(64).collect(),
    })?;
    Ok((run, shadow))
}

/// Starts a shadow beside a running run: a ready version of the run's strategy (optionally
/// with other parameters) fed exactly the run's bars, from the run's first, in its own
/// sandbox; its intents are recorded, checked against the run's risk limits and filled on its
/// own simulated exchange at next open, never sent to a venue. It ends with the run.
#[utoipa::path(post, path = "/runs/{id}/shadows", tag = "runs", params(("id" = i64, Path, description = "Run id")),
    request_body(content = ShadowRequest, example = json!({"strategy": {"name": "sma-cross", "version": "2"}, "params": {"fast": 5, "slow": 20}})),
    responses(
    (status = 201, body = ShadowView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
pub async fn create_shadow(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    AppJson(req): AppJson<ShadowRequest>,
) -> Result<(StatusCode, axum::Json<ShadowView>), ApiError> {
    let start = ShadowStart {
        strategy: req.strategy.into(),
        params: req.params,
    };
    let shadow = state.runs().start_shadow(id, start).await?;
    Ok((StatusCode::CREATED, axum::Json(shadow.into())))
}

/// A run's shadows, oldest first.
#[utoipa::path(get, path = "/runs/{id}/shadows", tag = "runs", params(("id" = i64, Path, description = "Run id")), responses(
    (status = 200, body = Vec<ShadowView>), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_shadows(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<axum::Json<Vec<ShadowView>>, ApiError> {
    let shadows = state.runs().shadows(id).await?;
    Ok(axum::Json(shadows.into_iter().map(Into::into).collect()))
}

/// Stops a shadow (its decisions stay, and its diff can still be read). Stopping one that
/// ended already changes nothing.
#[utoipa::path(delete, path = "/runs/{id}/shadows/{sid}", tag = "runs", params(
    ("id" = i64, Path, description = "Run id"), ("sid" = i64, Path, description = "Shadow id")), responses(
    (status = 200, body = ShadowView), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn stop_shadow(
    State(state): State<AppState>,
    Path((id, sid)): Path<(String, String)>,
) -> Result<axum::Json<ShadowView>, ApiError> {
    let (id, sid) = ids(&id, &sid)?;
    Ok(axum::Json(state.runs().stop_shadow(id, sid).await?.into()))
}

/// A shadow beside its run: the bar times where either had order intents with both sides'
/// intents, the first bar time where they differ (`first_divergence`, null when none), and
/// both equity curves.
#[utoipa::path(get, path = "/runs/{id}/shadows/{sid}/diff", tag = "runs", params(
    ("id" = i64, Path, description = "Run id"), ("sid" = i64, Path, description = "Shadow id")), responses(
    (status = 200, body = ShadowDiffView), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn shadow_diff(
    State(state): State<AppState>,
    Path((id, sid)): Path<(String, String)>,
) -> Result<axum::Json<ShadowDiffView>, ApiError> {
    let (id, sid) = ids(&id, &sid)?;
    Ok(axum::Json(state.runs().shadow_diff(id, sid).await?.into()))
}
