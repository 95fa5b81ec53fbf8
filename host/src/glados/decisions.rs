//! A run's decisions through the API (`GET /runs/{id}/decisions`): what its strategy returned
//! for each event, read from the decisions projection (`walle::projections`).
//!
//! # Invariants
//! - Pages are in decision order and resume from the last row id (`after`), so a client pages
//!   through every decision exactly once.
//! - The projection runs behind the events by its consumer lag: a decision made a moment ago
//!   may appear a moment later, never twice.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::http::{AppQuery, IdPath};
use crate::walle::StrategyResult;

/// `GET /runs/{id}/decisions` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DecisionQuery {
    /// Rows after this id (default 0: from the first decision).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Page size (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// One decision of a run's strategy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecisionView {
    /// Row id (pass the last as `after`).
    pub id: i64,
    /// The event the strategy answered (its envelope id as the guest saw it).
    pub cause_event_id: String,
    /// The `strategy.DecisionMade` event.
    pub decision_event_id: Option<String>,
    /// The time of the event answered (the bar time for bars).
    pub bar_ts: Option<DateTime<Utc>>,
    /// The intents returned (empty: it did nothing).
    #[schema(value_type = Vec<Object>)]
    pub intents: serde_json::Value,
    /// Fuel the call used.
    pub fuel: Option<i64>,
    /// Wall time of the call, in µs.
    pub latency_us: Option<i64>,
}

impl From<StrategyResult> for DecisionView {
    fn from(r: StrategyResult) -> Self {
        DecisionView {
            id: r.id,
            cause_event_id: r.cause_event_id.to_string(),
            decision_event_id: r.decision_event_id.map(|u| u.to_string()),
            bar_ts: r.bar_ts,
            intents: serde_json::to_value(&r.intents.0).unwrap_or_default(),
            fuel: r.fuel,
            latency_us: r.latency_us,
        }
    }
}

/// A page of decisions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DecisionPage {
    /// Decisions in order.
    pub items: Vec<DecisionView>,
    /// Pass as `after` for the next page (unchanged when there was nothing more).
    pub next: i64,
}

/// A run's decisions, in order: for every event its strategy answered, the intents it returned
/// and the call's fuel and wall time.
#[utoipa::path(get, path = "/runs/{id}/decisions", tag = "runs", params(("id" = i64, Path, description = "Run id"), DecisionQuery), responses(
    (status = 200, body = DecisionPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn list_decisions(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    AppQuery(q): AppQuery<DecisionQuery>,
) -> Result<axum::Json<DecisionPage>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::InvalidParam("limit must be 1–1000".into()));
    }
    let after = q.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::InvalidParam("after must be 0 or more".into()));
    }
    let walle = &state.inner.walle;
    if walle.run(id).await?.is_none() {
        return Err(ApiError::NotFound {
            entity: "run",
            id: id.to_string(),
        });
    }
    let items: Vec<DecisionView> = walle
        .strategy_results(id, after, limit)
        .await?
        .into_iter()
        .map(DecisionView::from)
        .collect();
    let next = items.last().map_or(after, |d| d.id);
    Ok(axum::Json(DecisionPage { items, next }))
}
