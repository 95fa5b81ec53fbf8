//! The UI event feed: thin `ui.*` events projected from the outbox, by polling
//! (`GET /events/tail`) or as Server-Sent Events (`GET /events/stream`).
//!
//! # Invariants
//! - Both read the outbox in delivery order from a cursor (`<xid>-<id>`), so a client that
//!   resumes from its last cursor (`after=` or `Last-Event-ID`) sees every later event exactly
//!   once and in order: no gaps, no duplicates.
//! - Events are thin: type, time, run and the stored payload (ids and states, never secrets;
//!   payloads are the registry's typed event bodies).
//! - A stream ends when the server shuts down.
//! - A cursor from before the retention purge's horizon is refused with 410 `cursor_expired`
//!   (events after it may be gone), never answered with a silent gap; no cursor means "from the
//!   oldest retained event".

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use crate::events::{Cursor, StoredEvent};

/// Largest page of `GET /events/tail`.
pub const MAX_PAGE: i64 = 1000;

/// One UI event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UiEvent {
    /// Resume cursor (`<xid>-<id>`); the SSE `id`.
    pub cursor: String,
    /// `ui.` + the source event type (for example `ui.strategy.StatusChanged`).
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it happened (UTC).
    pub ts: DateTime<Utc>,
    /// The run it belongs to.
    pub run_id: Option<String>,
    /// The event body.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Renders a cursor.
pub fn cursor_text(c: Cursor) -> String {
    format!("{}-{}", c.xid, c.id)
}

/// Parses a cursor (`<xid>-<id>`, or a bare `<id>` on SQLite).
///
/// # Errors
/// [`ApiError::InvalidParam`] for anything else.
pub fn parse_cursor(s: &str) -> Result<Cursor, ApiError> {
    let bad = || ApiError::InvalidParam("cursor must look like <xid>-<id>".into());
    let (xid, id) = match s.split_once('-') {
        Some((x, i)) => (x.parse().map_err(|_| bad())?, i.parse().map_err(|_| bad())?),
        None => (0, s.parse().map_err(|_| bad())?),
    };
    if xid < 0 || id < 0 {
        return Err(bad());
    }
    Ok(Cursor { xid, id })
}

fn project(e: StoredEvent) -> UiEvent {
    let t = &e.envelope.event_type;
    UiEvent {
        cursor: cursor_text(e.cursor),
        event_type: if t.starts_with("ui.") {
            t.clone()
        } else {
            format!("ui.{t}")
        },
        ts: e.envelope.ts,
        run_id: e.envelope.run_id.clone(),
        data: e.envelope.payload,
    }
}

/// Refuses a cursor that retention has overtaken: events after it may have been deleted.
///
/// # Errors
/// 410 `cursor_expired`; 5xx when the horizon cannot be read.
pub async fn check_cursor(state: &AppState, after: Cursor) -> Result<(), ApiError> {
    if after == Cursor::default() {
        return Ok(());
    }
    let horizon = state.inner.walle.purge_horizon().await?;
    if after.id < horizon {
        return Err(ApiError::Gone {
            code: "cursor_expired",
            message: format!(
                "events after cursor {} may have been deleted by retention; start again without a cursor (from the oldest retained event)",
                cursor_text(after)
            ),
            details: serde_json::json!({"purged_through_id": horizon}),
        });
    }
    Ok(())
}

/// A page of events after `after`.
///
/// # Errors
/// Store failures.
pub async fn tail(state: &AppState, after: Cursor, limit: i64) -> Result<Vec<UiEvent>, ApiError> {
    check_cursor(state, after).await?;
    Ok(state
        .inner
        .walle
        .fetch_events(after, limit)
        .await?
        .into_iter()
        .map(project)
        .collect())
}

/// The SSE stream from `after`.
pub fn stream(
    state: AppState,
    after: Cursor,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut wake = state.inner.walle.subscribe_local();
    wake.borrow_and_update();
    let token = state.inner.shutdown.clone();
    let s = futures::stream::unfold(
        (
            state,
            after,
            std::collections::VecDeque::<UiEvent>::new(),
            wake,
        ),
        move |(state, mut cursor, mut buffer, mut wake)| {
            let token = token.clone();
            async move {
                loop {
                    if let Some(ev) = buffer.pop_front() {
                        let sse = Event::default()
                            .id(ev.cursor.clone())
                            .event(ev.event_type.clone())
                            .json_data(&ev)
                            .unwrap_or_else(|_| Event::default().comment("unserialisable event"));
                        return Some((Ok(sse), (state, cursor, buffer, wake)));
                    }
                    if token.is_cancelled() {
                        return None;
                    }
                    match state.inner.walle.fetch_events(cursor, 500).await {
                        Ok(events) if !events.is_empty() => {
                            if let Some(last) = events.last() {
                                cursor = last.cursor;
                            }
                            buffer.extend(events.into_iter().map(project));
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(code = e.code(), "event stream read failed: {e}"),
                    }
                    tokio::select! {
                        _ = wake.changed() => {}
                        () = tokio::time::sleep(Duration::from_millis(250)) => {}
                        () = token.cancelled() => return None,
                    }
                }
            }
        },
    );
    Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
