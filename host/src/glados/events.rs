//! The UI event feed: thin `ui.*` events projected from the outbox, by polling
//! (`GET /events/tail`) or as Server-Sent Events (`GET /events/stream`).
//!
//! # Invariants
//! - Both read the outbox in delivery order from a cursor (`<xid>-<id>`), so a client that
//!   resumes from its last cursor (`after=` or `Last-Event-ID`) sees every later event exactly
//!   once and in order: no gaps, no duplicates.
//! - Events are thin: type, time, run and the stored payload (ids and states, never secrets;
//!   payloads are the registry's typed event bodies).
//! - A stream without a cursor starts with the newest `WEAVER_SSE_REPLAY_EVENTS` events (default
//!   1000), never the whole retained outbox; the tail without `after` pages from the oldest
//!   retained event (it is the way to read everything, a bounded page per request).
//! - A stream whose cursor is more than `WEAVER_SSE_REPLAY_EVENTS` events behind when it
//!   connects is replayed that many, then sent one `replay_truncated` event (no `id`, so the
//!   client's `Last-Event-ID` stays on the last event sent) and ends: resuming from that cursor
//!   still gives no gap and no duplicate, but no connection is an unbounded replay. A cursor
//!   within the cap is replayed and followed live like one without a cursor.
//! - A catch-up page is read, serialised and sent during one of the feed's few turns
//!   ([`crate::walle::Feed::catch_up`], at most 1 s each), so replaying clients wait for each
//!   other, not the API for them.
//! - A stream ends when the server shuts down, and when its client falls more than the feed's
//!   buffer behind (it resumes from its cursor rather than being buffered without bound).
//! - One database reader serves every stream once they caught up (`walle::Feed`); an idle
//!   stream costs a keep-alive comment every 15 s and no read.
//! - A cursor from before the retention purge's horizon is refused with 410 `cursor_expired`
//!   (events after it may be gone), never answered with a silent gap.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::events::{Cursor, StoredEvent};
use crate::walle::feed::{Gap, Subscription, Turn};

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
                "events after cursor {} may have been deleted by retention; start again without a cursor",
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

/// The SSE event that ends a stream whose catch-up reached the replay cap before the present.
pub const REPLAY_TRUNCATED: &str = "replay_truncated";

/// Events per catch-up read.
const CATCH_UP_PAGE: usize = 500;

/// The SSE stream from `after`, or from the newest `WEAVER_SSE_REPLAY_EVENTS` events without a
/// cursor (found before the response, so whatever is written after the client sees the headers
/// reaches it): a catch-up read of the outbox up to now, then the live fan-out of the server's
/// one feed reader ([`crate::walle::Feed`]), woken by the database and not by a timer. A client
/// that falls too far behind is disconnected and resumes from its last cursor
/// (`Last-Event-ID`); one whose catch-up reaches the cap is sent [`REPLAY_TRUNCATED`] and the
/// stream ends.
///
/// # Errors
/// Store failures while finding the start.
pub async fn stream(
    state: AppState,
    after: Option<Cursor>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let token = state.inner.shutdown.clone();
    // Subscribed before the catch-up, so nothing committed after it can be missed.
    let sub = state.inner.feed.subscribe();
    let feed = &state.inner.feed;
    feed.ready().await;
    let cap = feed.replay_events();
    // Where the newest `cap` events begin decides both the start without a cursor and whether
    // a cursor is further behind than the cap (then its replay is bounded by a budget).
    let (cursor, budget) = {
        let _turn = feed.catch_up().await;
        let newest = feed.replay_start(cap).await?;
        match after {
            None => (newest, None),
            Some(c) if c < newest => (c, Some(cap)),
            Some(c) => (c, None),
        }
    };
    let start = Reader {
        state,
        cursor,
        budget,
        buffer: VecDeque::new(),
        turn: None,
        truncated: false,
        ended: false,
        live: None,
        pending: Some(sub),
    };
    let s = futures::stream::unfold(start, move |mut r| {
        let token = token.clone();
        async move {
            let ev = tokio::select! {
                ev = r.next() => ev?,
                () = token.cancelled() => return None,
            };
            Some((Ok(ev), r))
        }
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn sse(ev: &UiEvent) -> Event {
    Event::default()
        .id(ev.cursor.clone())
        .event(ev.event_type.clone())
        .json_data(ev)
        .unwrap_or_else(|_| Event::default().comment("unserialisable event"))
}

/// One SSE client's position: catching up from the outbox, then following the fan-out.
struct Reader {
    state: AppState,
    /// The last event queued for the client (its resume point).
    cursor: Cursor,
    /// Events the catch-up may still replay (`None`: the start was within the cap).
    budget: Option<usize>,
    /// Events read and serialised, not yet sent.
    buffer: VecDeque<Event>,
    /// The catch-up turn the buffered page was read in, held until it is sent.
    turn: Option<Turn>,
    /// The catch-up reached the cap: after the buffer, [`REPLAY_TRUNCATED`] and the end.
    truncated: bool,
    /// [`REPLAY_TRUNCATED`] was sent.
    ended: bool,
    /// The fan-out, once the catch-up reached the present.
    live: Option<Subscription>,
    /// The subscription taken at connect, until the catch-up ends.
    pending: Option<Subscription>,
}

impl Reader {
    /// The next SSE event, or `None` when the stream should end (lagged, truncated, or shut
    /// down; the client resumes from its last cursor).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.buffer.pop_front() {
                return Some(ev);
            }
            // The page is sent: the next replaying client's turn.
            self.turn = None;
            if self.truncated {
                // Sent once: the call after it ends the stream.
                self.truncated = false;
                self.ended = true;
                return Some(self.truncation());
            }
            if self.ended {
                return None;
            }
            if let Some(live) = self.live.as_mut() {
                return match live.next().await {
                    Ok(e) => Some(sse(&project(StoredEvent::clone(&e)))),
                    Err(Gap::Lagged | Gap::Closed) => None,
                };
            }
            match self.catch_up().await {
                Ok(true) => {}
                Ok(false) => {
                    let mut sub = self.pending.take()?;
                    sub.after(self.cursor);
                    self.live = Some(sub);
                }
                Err(e) => {
                    tracing::warn!(code = e.code(), "event stream read failed: {e}");
                    return None;
                }
            }
        }
    }

    /// Reads and serialises one page of the catch-up in a turn of the feed (so a storm of
    /// replaying clients cannot take every database connection or core from the API; clients
    /// at the same position share the page read, [`crate::walle::Feed::page`]).
    /// `Ok(false)`: the catch-up reached the present.
    async fn catch_up(&mut self) -> Result<bool, crate::walle::Error> {
        let feed = &self.state.inner.feed;
        let turn = feed.catch_up().await;
        // One more than the budget tells "exactly at the cap" from "beyond it".
        let want = self
            .budget
            .map_or(CATCH_UP_PAGE, |b| CATCH_UP_PAGE.min(b.saturating_add(1)));
        let limit = i64::try_from(want).unwrap_or(i64::MAX);
        let page = feed.page(self.cursor, limit).await?;
        let mut events = &page[..];
        if events.is_empty() {
            return Ok(false);
        }
        if let Some(budget) = self.budget.as_mut() {
            if events.len() > *budget {
                events = &events[..*budget];
                self.truncated = true;
            }
            *budget -= events.len();
        }
        if let Some(last) = events.last() {
            self.cursor = last.cursor;
        }
        self.buffer
            .extend(events.iter().map(|e| sse(&project(e.clone()))));
        // Kept until the page is sent (see `next`).
        self.turn = Some(turn);
        Ok(true)
    }

    /// The final event of a truncated replay: no `id`, so the client's `Last-Event-ID` stays
    /// on the last event it was sent.
    fn truncation(&self) -> Event {
        let cap = self.state.inner.feed.replay_events();
        let after = cursor_text(self.cursor);
        let body = serde_json::json!({
            "code": REPLAY_TRUNCATED,
            "message": format!(
                "more than {cap} events to replay: reconnect with Last-Event-ID {after} to go on, page GET /events/tail?after={after}, or reconnect without a cursor for the newest {cap}"
            ),
            "details": {"after": after, "replay_events": cap},
        });
        Event::default()
            .event(REPLAY_TRUNCATED)
            .json_data(body)
            .unwrap_or_else(|_| Event::default().event(REPLAY_TRUNCATED))
    }
}

/// `GET /events` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChainQuery {
    /// The correlation id: a request's `X-Request-Id` (echoed in every response and error
    /// body), or `run-<id>` for a run resumed by a new process.
    pub corr_id: String,
    /// Resume after this cursor (`<xid>-<id>`).
    pub after: Option<String>,
    /// Page size (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// One stored event with its whole envelope.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// Resume cursor.
    pub cursor: String,
    /// Event id.
    pub id: String,
    /// `evt` or `cmd`.
    pub kind: String,
    /// Registered event type (for example `orders.Filled.v2`).
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it happened (UTC).
    pub ts: DateTime<Utc>,
    /// The run it belongs to.
    pub run_id: Option<String>,
    /// Everything one request caused shares it.
    pub corr_id: String,
    /// The event that caused this one.
    pub causation_id: Option<String>,
    /// W3C trace id, when the request carried a `traceparent`.
    pub trace_id: Option<String>,
    /// The module that produced it.
    pub producer: String,
    /// The event body.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// A page of a correlation's events.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChainPage {
    /// Events in delivery order.
    pub events: Vec<EventView>,
    /// Pass as `after` for the next page (unchanged when there was nothing more).
    pub next: String,
}

impl From<StoredEvent> for EventView {
    fn from(e: StoredEvent) -> Self {
        let v = e.envelope;
        EventView {
            cursor: cursor_text(e.cursor),
            id: v.id.to_string(),
            kind: serde_json::to_value(v.kind)
                .ok()
                .and_then(|k| k.as_str().map(str::to_owned))
                .unwrap_or_default(),
            event_type: v.event_type,
            ts: v.ts,
            run_id: v.run_id,
            corr_id: v.corr_id,
            causation_id: v.causation_id,
            trace_id: v.trace_id,
            producer: v.producer,
            payload: v.payload,
        }
    }
}

/// Every event one request caused, in order (`corr_id` is the request's `X-Request-Id`): for a
/// run started over the API, from `run.Created` to its orders and fills.
#[utoipa::path(get, path = "/events", tag = "events", params(ChainQuery), responses(
    (status = 200, body = ChainPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn list_chain(
    axum::extract::State(state): axum::extract::State<AppState>,
    super::http::AppQuery(q): super::http::AppQuery<ChainQuery>,
) -> Result<axum::Json<ChainPage>, ApiError> {
    if q.corr_id.is_empty() || q.corr_id.len() > 128 {
        return Err(ApiError::InvalidParam(
            "corr_id must be 1–128 characters".into(),
        ));
    }
    let after = q
        .after
        .as_deref()
        .map(parse_cursor)
        .transpose()?
        .unwrap_or_default();
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::InvalidParam("limit must be 1–1000".into()));
    }
    let events: Vec<EventView> = state
        .inner
        .walle
        .events_by_corr(&q.corr_id, after, limit)
        .await?
        .into_iter()
        .map(EventView::from)
        .collect();
    let next = events
        .last()
        .map_or_else(|| cursor_text(after), |e| e.cursor.clone());
    Ok(axum::Json(ChainPage { events, next }))
}
