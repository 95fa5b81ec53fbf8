//! Background jobs the API started (today: downloads, `POST /candles/download`): `GET /jobs`
//! and `GET /jobs/{id}`, what the dashboard polls for progress.
//!
//! # Invariants
//! - A job's view is built from its stored row only, so it reads the same after a restart.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::http::{AppQuery, IdPath};
use crate::veda::download::Progress;
use crate::walle::{Job, JobStatus};

/// What a job did so far.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobProgressView {
    /// Bars fetched and stored.
    pub bars: u64,
    /// Pages fetched.
    pub pages: u64,
    /// Symbols finished.
    pub symbols_done: usize,
    /// Symbols asked for.
    pub symbols_total: usize,
    /// The symbol being fetched.
    pub symbol: Option<String>,
    /// Estimated seconds left (absent until there is a pace to go by).
    pub eta_seconds: Option<u64>,
}

/// A background job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// Job id.
    pub id: i64,
    /// What kind of work (`download`).
    pub kind: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// What was asked (for a download: `symbols`, `timeframe`, `start`, `end`, `feed`,
    /// `adjustment`, `page_limit`, `replace`).
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    /// Progress.
    pub progress: JobProgressView,
    /// Why it failed (`code: message`).
    pub error: Option<String>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Started running (UTC).
    pub started_at: Option<DateTime<Utc>>,
    /// Ended (UTC).
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Job> for JobView {
    fn from(j: Job) -> JobView {
        let p: Progress = serde_json::from_value(j.progress).unwrap_or_default();
        JobView {
            id: j.id,
            kind: j.kind,
            status: match j.status {
                JobStatus::Queued => "queued",
                JobStatus::Running => "running",
                JobStatus::Done => "done",
                JobStatus::Failed => "failed",
            }
            .to_owned(),
            spec: j.spec,
            progress: JobProgressView {
                bars: p.bars,
                pages: p.pages,
                symbols_done: p.symbols_done,
                symbols_total: p.symbols_total,
                symbol: p.symbol,
                eta_seconds: p.eta_seconds,
            },
            error: j.error,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }
}

/// Paging of `GET /jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobPage {
    /// Only ids below this (cursor: the last id of the previous page).
    pub before: Option<i64>,
    /// Page size (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Jobs, newest first; paged with `before` (the last id of the previous page) and `limit`.
#[utoipa::path(get, path = "/jobs", tag = "jobs", params(JobPage), responses(
    (status = 200, body = [JobView]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn list_jobs(
    State(state): State<AppState>,
    AppQuery(p): AppQuery<JobPage>,
) -> Result<axum::Json<Vec<JobView>>, ApiError> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::InvalidParam("limit must be 1–500".into()));
    }
    let jobs = state.inner.walle.jobs(p.before, limit).await?;
    Ok(axum::Json(jobs.into_iter().map(Into::into).collect()))
}

/// One job: status and progress (bars, pages, symbols, ETA).
#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs", params(("id" = i64, Path, description = "Job id")), responses(
    (status = 200, body = JobView), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn get_job(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<axum::Json<JobView>, ApiError> {
    let job = state.inner.walle.job(id).await?.ok_or(ApiError::NotFound {
        entity: "job",
        id: id.to_string(),
    })?;
    Ok(axum::Json(job.into()))
}
