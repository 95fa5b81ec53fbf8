//! `GET /runs/{id}/logs`: a run's log read page by page, newest or oldest first, and searched
//! on the server by level and text over the whole log (stored lines and the ones still in
//! memory alike).
//!
//! # Invariants
//! - A search pages through the matching lines only: `next_before` and `next` are cursors over
//!   the matches, so a match a thousand pages back is one request away.
//! - A bad level or a search text over [`MAX_LOG_SEARCH`] characters is a 400
//!   `invalid_parameter`; nothing is read.

use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::http::{AppQuery, IdPath};
use super::orders::{self, ListOrder};
use super::runs;

/// Query of `GET /runs/{id}/logs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// `desc` (newest first, the default) or `asc` (oldest first; the default when only
    /// `after` is given).
    pub order: Option<ListOrder>,
    /// Only lines with `seq` above this (oldest first: the previous page's `next`; following
    /// a log: the newest `next` seen).
    pub after: Option<i64>,
    /// Only lines with `seq` below this (newest first: the previous page's `next_before`).
    pub before: Option<i64>,
    /// Page size (1–1000, default 100).
    pub limit: Option<i64>,
    /// Only lines at this level or a more severe one (`debug` keeps every line).
    pub level: Option<LogLevel>,
    /// Only lines whose message contains this text, ignoring case (1–200 characters; on
    /// SQLite the case of ASCII letters only). `%` and `_` are taken literally.
    pub q: Option<String>,
}

/// A level of a run's log line, from the least to the most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Detail for debugging a strategy.
    Debug,
    /// What happened.
    Info,
    /// Something to look at.
    Warn,
    /// Something failed.
    Error,
}

/// Longest `q` of `GET /runs/{id}/logs`, in characters.
const MAX_LOG_SEARCH: usize = 200;

impl LogQuery {
    /// The lines asked for.
    fn filter(&self) -> Result<crate::walle::LogFilter, ApiError> {
        let text = match self.q.as_deref() {
            None | Some("") => None,
            Some(t) if t.chars().count() > MAX_LOG_SEARCH => {
                return Err(ApiError::InvalidParam(format!(
                    "q is at most {MAX_LOG_SEARCH} characters"
                )));
            }
            Some(t) => Some(t.to_lowercase()),
        };
        Ok(crate::walle::LogFilter {
            min_level: self.level.map(|l| l as usize),
            text,
        })
    }
}

/// A run's log: lifecycle messages, the strategy's log lines and captured stdout/stderr, errors.
/// Newest first by default (follow `next_before` for older lines, ask `after=<next>` for newer
/// ones); `order=asc` (or `after` alone) reads it oldest first. `level` and `q` search the
/// whole log, stored and in memory; the cursors page through the matching lines.
#[utoipa::path(get, path = "/runs/{id}/logs", tag = "runs", params(("id" = i64, Path, description = "Run id"), LogQuery), responses(
    (status = 200, body = runs::LogPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn run_logs(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    AppQuery(q): AppQuery<LogQuery>,
) -> Result<axum::Json<runs::LogPage>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::InvalidParam("limit must be 1–1000".into()));
    }
    let newest = orders::newest_first(q.order, q.after, q.before)?;
    let after = q.after.unwrap_or(0);
    let filter = q.filter()?;
    if state.inner.walle.run(id).await?.is_none() {
        return Err(ApiError::NotFound {
            entity: "run",
            id: id.to_string(),
        });
    }
    let page = if newest {
        let before = q.before.unwrap_or(i64::MAX);
        state
            .inner
            .runs
            .logs_newest(id, after, before, limit as usize, &filter)
            .await?
    } else {
        if q.before.is_some() {
            return Err(ApiError::InvalidParam(
                "before pages a log newest first: leave out order=asc".into(),
            ));
        }
        state
            .inner
            .runs
            .logs(id, after, limit as usize, &filter)
            .await?
    };
    Ok(axum::Json(page.into()))
}
