//! The event feed's routes: `GET /events/tail` (polling) and `GET /events/stream` (Server-Sent
//! Events); what they serve is [`super::events`]'.
//!
//! # Invariants
//! - Both take the same cursor (`after=`, or `Last-Event-ID` for the stream) and refuse one
//!   retention has overtaken with 410 `cursor_expired`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::events::{self as feed, UiEvent};
use super::http::AppQuery;

/// Query of the event feed.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TailQuery {
    /// Resume after this cursor (`<xid>-<id>`). Without it the tail starts at the oldest
    /// retained event and the stream at the newest `WEAVER_SSE_REPLAY_EVENTS` (default 1000).
    pub after: Option<String>,
    /// Page size (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// A page of UI events.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(super) struct TailPage {
    /// Events in delivery order.
    pub events: Vec<UiEvent>,
    /// Pass as `after` for the next page (unchanged when there was nothing new).
    pub next: String,
}

/// UI events after a cursor, by polling (the same contract as the stream).
#[utoipa::path(get, path = "/events/tail", tag = "events", params(TailQuery), responses(
    (status = 200, body = TailPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 410, description = "`cursor_expired`: retention deleted events after the cursor", body = ErrorBody)))]
pub(super) async fn events_tail(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<TailQuery>,
) -> Result<axum::Json<TailPage>, ApiError> {
    let after = q
        .after
        .as_deref()
        .map(feed::parse_cursor)
        .transpose()?
        .unwrap_or_default();
    let limit = q.limit.unwrap_or(100);
    if !(1..=feed::MAX_PAGE).contains(&limit) {
        return Err(ApiError::InvalidParam("limit must be 1–1000".into()));
    }
    let events = feed::tail(&state, after, limit).await?;
    let next = events
        .last()
        .map_or_else(|| feed::cursor_text(after), |e| e.cursor.clone());
    Ok(axum::Json(TailPage { events, next }))
}

/// UI events as Server-Sent Events; reconnecting with `Last-Event-ID` (or `?after=`) resumes
/// with no gaps. Without a cursor the stream starts with the newest `WEAVER_SSE_REPLAY_EVENTS`
/// events (default 1000). A cursor more than that many behind when it connects gets
/// that many, then one `replay_truncated` event (`{code, message, details: {after, replay_events}}`,
/// no `id`) and the end of the stream; resume from `after`, page `GET /events/tail`, or
/// reconnect without a cursor.
#[utoipa::path(get, path = "/events/stream", tag = "events", params(TailQuery), responses(
    (status = 200, description = "text/event-stream of UiEvent, possibly ending with one `replay_truncated` event", content_type = "text/event-stream"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 410, description = "`cursor_expired`: retention deleted events after the cursor", body = ErrorBody)))]
pub(super) async fn events_stream(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<TailQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let after = last
        .or(q.after)
        .as_deref()
        .map(feed::parse_cursor)
        .transpose()?;
    if let Some(a) = after {
        feed::check_cursor(&state, a).await?;
    }
    Ok(feed::stream(state, after).await?.into_response())
}
