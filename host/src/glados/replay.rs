//! `POST /runs/{id}/replay`: replays a run from what was stored and compares its intents with
//! the recorded decisions ([`crate::runs::replay`]).
//!
//! The request is synchronous and bounded: a run with more than [`MAX_DECISIONS`] recorded
//! decisions is refused with `replay_too_large` (the CLI, `weaver runs replay <id>`, has no
//! bound), and one replay runs at a time per server (`replay_busy` otherwise), since a replay
//! is guest CPU time that would otherwise compete with the running runs without limit.
//!
//! # Invariants
//! - A replay writes nothing; the response is the comparison report or an error with a stable
//!   code (`not_found`, `replay_projection_behind`, `replay_nothing_recorded`,
//!   `replay_candles_missing`, `strategy_unavailable`, `replay_unsupported`, `replay_too_large`,
//!   `replay_busy`).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::http::IdPath;
use crate::runs::{Mismatch, ReplayReport};

/// Most recorded decisions a replay over the API compares (about a minute of guest time for a
/// light strategy on this class of machine).
pub const MAX_DECISIONS: u64 = 200_000;

/// What a replay found.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayView {
    /// Every recorded decision was replayed with bit-identical intents at the same time, and
    /// the replay made no other.
    pub identical: bool,
    /// Decisions compared (the shorter of the two sequences).
    pub decisions_compared: u64,
    /// Decisions recorded for the run.
    pub recorded: u64,
    /// Decisions the replay made (a run still active is replayed only as far as it recorded).
    pub replayed: u64,
    /// The first difference, or null.
    pub first_mismatch: Option<MismatchView>,
}

/// The first decision where the replay differs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MismatchView {
    /// Position in the run's decisions, from 0.
    pub index: u64,
    /// Time of the event the recorded decision answered (the replayed one's when none was
    /// recorded there).
    pub bar_ts: Option<DateTime<Utc>>,
    /// Time of the event the replayed decision answered, when it differs.
    pub replayed_bar_ts: Option<DateTime<Utc>>,
    /// The recorded intents (null: no decision recorded there).
    #[schema(value_type = Option<Vec<Object>>)]
    pub recorded: Option<serde_json::Value>,
    /// The replayed intents (null: the replay made no decision there).
    #[schema(value_type = Option<Vec<Object>>)]
    pub replayed: Option<serde_json::Value>,
}

impl From<Mismatch> for MismatchView {
    fn from(m: Mismatch) -> Self {
        let json = |i: Vec<crate::domain::Intent>| serde_json::to_value(i).unwrap_or_default();
        MismatchView {
            index: m.index,
            bar_ts: m.bar_ts,
            replayed_bar_ts: m.replayed_bar_ts,
            recorded: m.recorded.map(json),
            replayed: m.replayed.map(json),
        }
    }
}

impl From<ReplayReport> for ReplayView {
    fn from(r: ReplayReport) -> Self {
        ReplayView {
            identical: r.identical,
            decisions_compared: r.decisions_compared,
            recorded: r.recorded,
            replayed: r.replayed,
            first_mismatch: r.first_mismatch.map(Into::into),
        }
    }
}

/// Replays a run: the same strategy version, parameters and limits fed the same events (the
/// stored candles; on a live venue also the run's taped order updates, account snapshots and
/// venue history; on `sim-live` its taped bars, amendments and warm-up, filled by a fresh
/// simulated exchange), its intents compared decision by decision with the recorded ones. Writes
/// nothing. Synchronous, for runs of up to 200,000 recorded decisions (`weaver runs replay`
/// has no bound); one replay at a time.
#[utoipa::path(post, path = "/runs/{id}/replay", tag = "runs", params(("id" = i64, Path, description = "Run id")), responses(
    (status = 200, body = ReplayView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn replay_run(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<axum::Json<ReplayView>, ApiError> {
    let _one = state
        .inner
        .replay
        .try_acquire()
        .map_err(|_| ApiError::Conflict {
            code: "replay_busy",
            message: "another replay is running; try again when it is done".into(),
        })?;
    let report = state.inner.runs.replay(id, Some(MAX_DECISIONS)).await?;
    Ok(axum::Json(report.into()))
}
