//! Promotion and rollback through the API (ADR 0019): `POST /runs/{id}/promote`,
//! `POST /runs/{id}/rollback` and the version history `GET /runs/{id}/versions`. The switch
//! itself is [`crate::runs::promote`].
//!
//! # Invariants
//! - Responses are views built from the service types with `From`, so `runs` never depends on
//!   `utoipa`.
//! - A refused request stores nothing: 400 for both or neither of `strategy` and `shadow_id`,
//!   404 for an unknown run or strategy (`shadow_not_found` for a shadow), 409 `run_not_active`,
//!   `switch_pending`, `no_previous_version`, 422 with a stable code for the rest
//!   (`promote_other_strategy`, `promote_strategy_not_ready`, `replay_unavailable`,
//!   `limit_not_allowed`, the guest's own code when it refuses the parameters).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::backtests::StrategyRef;
use super::error::{ApiError, ErrorBody};
use super::http::{AppJson, IdPath, OptionalJson};
use crate::runs;
use crate::runs::promote::{DEFAULT_AUTO_ROLLBACK_BARS, Promotion, Target, VersionEntry};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/runs/{id}/promote", post(promote))
        .route("/runs/{id}/rollback", post(rollback))
        .route("/runs/{id}/versions", get(versions))
}

/// How the new version's state is rebuilt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateMode {
    /// Every envelope the run's strategy answered so far is told it, intents discarded.
    #[default]
    Replay,
    /// It starts from `init`, warmed up on the last bars the run got (its declared warm-up).
    Fresh,
}

/// `POST /runs/{id}/promote`: exactly one of `strategy` and `shadow_id`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    /// A ready version of the run's own strategy: its id, its name (the newest ready version),
    /// or `{name, version}`.
    #[serde(default)]
    pub strategy: Option<StrategyRef>,
    /// One of the run's shadows: its version and parameters.
    #[serde(default)]
    pub shadow_id: Option<i64>,
    /// Its parameters (default: the shadow's, else the run's).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
    /// `replay` (default) or `fresh`.
    #[serde(default)]
    pub state: StateMode,
    /// Bars after the switch within which a trap or a broken risk rule of the new version
    /// rolls the run back (default 20; 0: never).
    #[serde(default)]
    pub auto_rollback_bars: Option<u32>,
}

/// One version in a run's history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionView {
    /// Position in the history, from 1 (the version the run started with).
    pub seq: i64,
    /// The strategy version.
    pub strategy_id: i64,
    /// Its name.
    pub strategy_name: String,
    /// Its version label (as `GET /strategies` shows it).
    pub strategy_version: String,
    /// Its parameters.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// `start`, `promote`, `rollback` or `auto_rollback`.
    pub reason: String,
    /// `replay` or `fresh`.
    pub state: String,
    /// The shadow it was promoted from.
    pub shadow_id: Option<i64>,
    /// `pending` (until the run's next bar), `active`, `superseded` or `failed`.
    pub status: String,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// When the run switched to it.
    pub switched_at: Option<DateTime<Utc>>,
    /// The bar boundary of the switch: the first bar it decided on.
    pub at_bar: Option<DateTime<Utc>>,
    /// Envelopes told it before that bar (intents discarded).
    pub replayed: Option<u64>,
    /// Why the switch failed (the guest's code, `run_ended`), or why an automatic rollback
    /// happened (the trap's code, `risk_rule_broken`).
    pub error_code: Option<String>,
    /// Bars after the switch watched for an automatic rollback (0: none).
    pub auto_rollback_bars: u32,
}

impl From<VersionEntry> for VersionView {
    fn from(e: VersionEntry) -> Self {
        let r = e.row;
        VersionView {
            seq: r.seq,
            strategy_id: r.strategy_id,
            strategy_name: e.strategy_name,
            strategy_version: e.strategy_version,
            params: r.params.0,
            reason: r.reason,
            state: r.state,
            shadow_id: r.shadow_id,
            status: r.status,
            requested_at: r.requested_at,
            switched_at: r.switched_at,
            at_bar: r.at_bar,
            replayed: r.replayed.and_then(|n| u64::try_from(n).ok()),
            error_code: r.error_code,
            auto_rollback_bars: u32::try_from(r.auto_rollback_bars).unwrap_or(u32::MAX),
        }
    }
}

/// `GET /runs/{id}/versions`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionList {
    /// Oldest first.
    pub items: Vec<VersionView>,
}

/// A switch refused because the shadow is not the run's answers 404 `shadow_not_found`.
fn answer(e: runs::Error) -> ApiError {
    match e {
        runs::Error::Store(crate::walle::Error::NotFound {
            entity: "shadow",
            key,
        }) => ApiError::Missing {
            code: "shadow_not_found",
            message: format!(
                "shadow {} not found beside this run",
                key.chars().take(64).collect::<String>()
            ),
        },
        e => e.into(),
    }
}

/// Switches a running run to another version of its strategy (or the same with other
/// parameters) at its next bar: the new version's state is rebuilt by replaying what the run's
/// strategy was told so far (`state: replay`) or by a warm-up on the last bars (`fresh`); the
/// run's orders and positions stay its own. Within `auto_rollback_bars` bars a trap or a
/// broken risk rule of the new version rolls the run back. Answers the pending switch.
#[utoipa::path(post, path = "/runs/{id}/promote", tag = "runs", params(("id" = i64, Path, description = "Run id")),
    request_body(content = PromoteRequest, example = json!({"strategy": {"name": "sma-cross", "version": "2"}, "params": {"fast": 5, "slow": 20}, "state": "replay", "auto_rollback_bars": 20})),
    responses(
    (status = 202, body = VersionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
pub async fn promote(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    AppJson(req): AppJson<PromoteRequest>,
) -> Result<(StatusCode, axum::Json<VersionView>), ApiError> {
    let target = match (req.strategy, req.shadow_id) {
        (Some(s), None) => Target::Strategy(s.into()),
        (None, Some(sid)) => Target::Shadow(sid),
        _ => {
            return Err(ApiError::InvalidParam(
                "give exactly one of strategy and shadow_id".into(),
            ));
        }
    };
    let promotion = Promotion {
        target,
        params: req.params,
        fresh: req.state == StateMode::Fresh,
        auto_rollback_bars: req.auto_rollback_bars.unwrap_or(DEFAULT_AUTO_ROLLBACK_BARS),
    };
    let v = state.runs().promote(id, promotion).await.map_err(answer)?;
    Ok((StatusCode::ACCEPTED, axum::Json(v.into())))
}

/// `POST /runs/{id}/rollback` (an empty object or no body).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {}

/// Switches a running run back to the version it ran before its current one, with that
/// version's parameters, at its next bar (its state replayed). Answers the pending switch.
#[utoipa::path(post, path = "/runs/{id}/rollback", tag = "runs", params(("id" = i64, Path, description = "Run id")),
    request_body(content = Option<RollbackRequest>, example = json!({})),
    responses(
    (status = 202, body = VersionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
pub async fn rollback(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    OptionalJson(_req): OptionalJson<RollbackRequest>,
) -> Result<(StatusCode, axum::Json<VersionView>), ApiError> {
    let v = state.runs().rollback(id).await.map_err(answer)?;
    Ok((StatusCode::ACCEPTED, axum::Json(v.into())))
}

/// A run's version history, oldest first: the version it started with, then every switch
/// asked for, with when and why it happened (or why not).
#[utoipa::path(get, path = "/runs/{id}/versions", tag = "runs", params(("id" = i64, Path, description = "Run id")), responses(
    (status = 200, body = VersionList), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<axum::Json<VersionList>, ApiError> {
    let items = state.runs().versions(id).await?;
    Ok(axum::Json(VersionList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}
