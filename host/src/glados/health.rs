//! Liveness and readiness: `GET /healthz` (the process answers) and `GET /readyz` (the
//! database answers, the migrations' tables are there, and how the outbox consumers are doing).
//! Both report the store fault in force (`store_fault`: an outage or a full disk, since when,
//! how many runs wait), as its patient writers reported it (`walle::faults`); on a `503` from
//! `/readyz` it is in the error's `details.store_fault`.
//!
//! # Invariants
//! - Readiness never scans a table: the outbox is probed through its head (an index probe).
//! - A stuck best-effort consumer is reported, never a reason to be unready.
//! - Liveness never touches the database: the fault is read from memory.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};

/// Liveness / readiness answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Readiness only: the outbox consumers as the health watch last saw them. A stuck
    /// best-effort consumer is reported here, never waited for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumers: Option<Vec<ConsumerView>>,
    /// Readiness only: simulated runs are slowed because a critical consumer is behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled: Option<bool>,
    /// The store cannot be written (absent when it can).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_fault: Option<StoreFaultView>,
}

/// A store fault in force: patient writers cannot write and wait.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StoreFaultView {
    /// Unique per fault (what its notifications are deduplicated by).
    pub id: String,
    /// `outage` (the database cannot be reached), `disk_full` or `error`.
    pub kind: String,
    /// When the first write failed (UTC).
    pub since: chrono::DateTime<chrono::Utc>,
    /// Seconds since then.
    pub seconds: f64,
    /// The store's latest error.
    pub error: String,
    /// Runs waiting for the store now.
    pub runs_waiting: usize,
    /// Other writers waiting (fill recorders, the trading switch).
    pub writers_waiting: usize,
}

fn store_fault(state: &AppState) -> Option<StoreFaultView> {
    state
        .inner
        .walle
        .faults()
        .current()
        .map(|f| StoreFaultView {
            seconds: (chrono::Utc::now() - f.since).num_milliseconds() as f64 / 1000.0,
            id: f.id,
            kind: f.kind.name().to_owned(),
            since: f.since,
            error: f.error,
            runs_waiting: f.runs_waiting,
            writers_waiting: f.writers_waiting,
        })
}

/// One outbox consumer in `GET /readyz`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsumerView {
    /// Consumer name (`decisions`, `ui-feed`, …).
    pub name: String,
    /// `critical` (its lag throttles simulated runs) or `best_effort`.
    pub class: String,
    /// Events it has not passed yet.
    pub lag_events: i64,
    /// Age of the oldest of them, in seconds.
    pub lag_seconds: f64,
    /// Behind by more than `WEAVER_CONSUMER_STUCK_SECONDS`.
    pub stuck: bool,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
pub(super) async fn healthz(State(state): State<AppState>) -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".into(),
        consumers: None,
        throttled: None,
        store_fault: store_fault(&state),
    })
}

/// Readiness: the database answers and the migrations' tables are there; with the outbox
/// consumers' health in the details.
#[utoipa::path(get, path = "/readyz", tag = "system", responses(
    (status = 200, body = Health), (status = 503, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Health>, ApiError> {
    let w = &state.inner.walle;
    let fault = store_fault(&state);
    let not_ready = |e: crate::walle::Error| {
        let details = fault.as_ref().map_or(
            serde_json::Value::Null,
            |f| serde_json::json!({"store_fault": f}),
        );
        ApiError::NotReady(e.to_string(), details)
    };
    // Touches the outbox and the newest tables: fails when unreachable or not migrated. The
    // outbox is probed through its head (an index probe), never counted.
    w.outbox_head().await.map_err(not_ready)?;
    w.backtest_summaries(None, 1).await.map_err(not_ready)?;
    w.runs(None, 1).await.map_err(not_ready)?;
    let bp = w.backpressure();
    let consumers = bp
        .report()
        .into_iter()
        .map(|c| ConsumerView {
            name: c.name,
            class: match c.class {
                crate::walle::Class::Critical => "critical",
                crate::walle::Class::BestEffort => "best_effort",
            }
            .to_owned(),
            lag_events: c.lag_events,
            lag_seconds: c.lag_seconds,
            stuck: c.stuck,
        })
        .collect();
    Ok(axum::Json(Health {
        status: "ok".into(),
        consumers: Some(consumers),
        throttled: Some(bp.throttled()),
        store_fault: fault,
    }))
}
