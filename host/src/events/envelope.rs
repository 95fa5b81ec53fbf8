//! The event envelope (`docs/architecture.md#events`) and its position in the outbox.
//!
//! # Invariants
//! - Event times are UTC, kept to the microsecond, so an envelope reads back equal on both
//!   backends.

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{EventKind, EventMeta};

use super::Error;
use super::registry::version_of;

/// One event: immutable, replayable, identified by `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique event id (UUIDv7, so ids sort roughly by creation time); the deduplication key.
    pub id: Uuid,
    /// A fact (`evt`) or a request (`cmd`).
    pub kind: EventKind,
    /// Registered event type, e.g. `orders.Filled` or `orders.Filled.v2`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Payload schema version; must equal the registered version of `event_type`.
    pub version: u32,
    /// The run the event belongs to, if any.
    pub run_id: Option<String>,
    /// Correlation id: everything one request caused shares it.
    pub corr_id: String,
    /// Id of the event that caused this one.
    pub causation_id: Option<String>,
    /// Trace id for distributed tracing.
    pub trace_id: Option<String>,
    /// When the event happened (UTC; the bar time in a backtest). Stored to the microsecond.
    pub ts: DateTime<Utc>,
    /// The component that produced it (`glados`, `veda`, …).
    pub producer: String,
    /// Free-form headers.
    pub headers: BTreeMap<String, String>,
    /// The type's payload, checked against the registry before it is stored.
    pub payload: serde_json::Value,
}

impl Envelope {
    /// Builds a fact of `event_type` produced by `producer`, with a fresh id, the current time, the
    /// version implied by the type name (`.vN` suffix, else 1) and the ambient correlation
    /// ([`super::correlation::current`]: the request's id and trace id), or outside any a
    /// correlation id equal to its own id.
    ///
    /// # Errors
    /// [`Error::InvalidPayload`] when `payload` cannot be serialized to JSON.
    pub fn new(
        event_type: &str,
        producer: &str,
        payload: impl Serialize,
    ) -> Result<Envelope, Error> {
        let payload = serde_json::to_value(payload).map_err(|e| Error::InvalidPayload {
            event_type: event_type.to_owned(),
            reason: e.to_string(),
        })?;
        let id = Uuid::now_v7();
        let (corr_id, trace_id) = match super::correlation::current() {
            Some(c) => (c.corr_id, c.trace_id),
            None => (id.to_string(), None),
        };
        Ok(Envelope {
            id,
            kind: EventKind::Evt,
            event_type: event_type.to_owned(),
            version: version_of(event_type),
            run_id: None,
            corr_id,
            causation_id: None,
            trace_id,
            ts: Utc::now().trunc_subsecs(6),
            producer: producer.to_owned(),
            headers: BTreeMap::new(),
            payload,
        })
    }

    /// Marks the event as a command (`cmd`).
    pub fn command(mut self) -> Self {
        self.kind = EventKind::Cmd;
        self
    }

    /// Attaches the event to a run.
    pub fn for_run(mut self, run_id: impl ToString) -> Self {
        self.run_id = Some(run_id.to_string());
        self
    }

    /// Records `cause` as the cause: same correlation and trace id, causation id = its id.
    pub fn caused_by(mut self, cause: &Envelope) -> Self {
        self.corr_id.clone_from(&cause.corr_id);
        self.causation_id = Some(cause.id.to_string());
        self.trace_id.clone_from(&cause.trace_id);
        if self.run_id.is_none() {
            self.run_id.clone_from(&cause.run_id);
        }
        self
    }

    /// Sets the event time (kept to the microsecond, the precision both backends store).
    pub fn at(mut self, ts: DateTime<Utc>) -> Self {
        self.ts = ts.trunc_subsecs(6);
        self
    }

    /// The shared-vocabulary view of the envelope fields (without the payload).
    pub fn meta(&self) -> EventMeta {
        EventMeta {
            id: self.id.to_string(),
            kind: self.kind,
            event_type: self.event_type.clone(),
            version: self.version,
            run_id: self.run_id.clone().unwrap_or_default(),
            corr_id: self.corr_id.clone(),
            causation_id: self.causation_id.clone(),
            trace_id: self.trace_id.clone(),
            ts: self.ts.timestamp_millis(),
            producer: self.producer.clone(),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

/// A position in the outbox: `(transaction id, row id)` on PostgreSQL, `(0, row id)` on SQLite.
/// Cursors compare in delivery order.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Cursor {
    /// The writer's transaction id (`xid8`); always 0 on SQLite.
    pub xid: i64,
    /// The outbox row id.
    pub id: i64,
}

/// An event read back from the outbox, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Where the event sits in delivery order.
    pub cursor: Cursor,
    /// When the row was written (retention works on this).
    pub stored_at: DateTime<Utc>,
    /// The event.
    pub envelope: Envelope,
}
