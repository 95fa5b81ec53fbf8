//! Events: the event envelope, the registry of event types and their payload schemas, and the
//! consumer side of the transactional outbox (offsets, wake-ups, lag).
//!
//! Producers never write the outbox directly: every event is appended by WallE in the same
//! transaction as the business write it describes (`walle::Walle::append`, or a typed repository
//! method such as `Walle::insert_order_intent`). A [`Consumer`] then reads the outbox in order from
//! its stored offset.
//!
//! # Ordering and the gap problem
//! - **PostgreSQL**: every outbox row carries the id of the transaction that wrote it
//!   (`transaction_id xid8 default pg_current_xact_id()`). Consumers read in `(transaction_id, id)`
//!   order and only rows whose transaction id is below `pg_snapshot_xmin(pg_current_snapshot())`,
//!   in one statement. Every transaction below that horizon has finished, so no row can later
//!   appear below a consumer's cursor: a late-committing writer stalls consumers, it is never
//!   skipped (`docs/adr/0003-transactional-outbox-xid8.md`).
//! - **SQLite**: one writer at a time (`BEGIN IMMEDIATE`), so `AUTOINCREMENT` ids commit in order.
//!
//! # Appends
//! A business write appends its event inside its own transaction. Standalone appends
//! ([`crate::walle::Walle::append`]) from concurrent callers are grouped into one multi-row
//! statement by a few appender tasks (group commit): each caller still gets its own result, and
//! a group that fails is retried caller by caller, so one caller's bad row never fails another.
//!
//! # Wake-ups
//! NOTIFY is a doorbell, never a delivery. On PostgreSQL a writer rings a coalescing doorbell task
//! after commit (outside the business transaction), which issues `pg_notify`. Each consumer owns a
//! listener connection (`application_name = weaver-listener`); after any reconnect it re-`LISTEN`s
//! first and then wakes its consumer to catch up. A poll timer is the backstop for lost doorbells
//! (a crash between commit and notify). While committed events are held back by an older open
//! transaction, which may end without a doorbell (a rollback, or a transaction that wrote no
//! event), the consumer re-checks with a short backoff (at most 20 ms). Consumers on PostgreSQL
//! are woken only through `LISTEN`, even in the writer's process, so that path is always the one
//! exercised. On SQLite the wake-up is an in-process `watch` channel.
//!
//! # Delivery and deduplication
//! Delivery is at-least-once. A consumer's offset is the `(transaction_id, id)` of the last event it
//! committed; events at or below it are never fetched again, so the only possible duplicates are
//! events after the offset that were handed out but not committed (a crash or a failed commit
//! mid-batch; on PostgreSQL offsets are written with `synchronous_commit = off`, so a server crash
//! may also forget the last fraction of a second of offset progress). Those are redelivered in
//! the same order, and a consumer removes them by event id: in-process consumers with [`Dedup`],
//! consumers with durable effects by keying the effect on the event id or on a natural
//! idempotency key (orders are idempotent by `client_order_id`, fills by venue fill id). The
//! contract tests count duplicates after this deduplication (0) for the gap torture and for a
//! consumer killed mid-batch.
//!
//! # Metrics
//! [`crate::walle::Walle::record_outbox_metrics`] sets `weaver_outbox_lag_events` and
//! `weaver_outbox_lag_seconds` per consumer (counted below the same horizon as the fetch) and
//! `weaver_outbox_horizon_stall_seconds` (age of the oldest transaction holding an xid);
//! consumers count `weaver_listener_reconnects_total` and `weaver_outbox_poll_wakeups_total`.
//!
//! # Invariants
//! - An event that fails validation (unknown type, version mismatch, invalid or oversized payload)
//!   is refused with an [`Error`] and nothing is written: caller-supplied events are checked
//!   before their transaction starts, and a refused event aborts the transaction it was in.
//! - A consumer's cursor only moves forward, and only over rows whose writers have finished.
//! - Retention never deletes an event above the slowest registered consumer's offset.

mod consumer;
mod envelope;
mod registry;

pub use consumer::{Batch, Consumer, ConsumerOptions, ConsumerStats, Dedup, StartFrom};
pub use envelope::{Cursor, Envelope, StoredEvent};
pub use registry::{EventSpec, MAX_PAYLOAD_BYTES, NAMESPACES, Registry, payloads};

/// The PostgreSQL NOTIFY channel the outbox doorbell rings on.
pub const NOTIFY_CHANNEL: &str = "weaver_outbox";

/// The `application_name` of every outbox listener connection, so operators and tests can find
/// (and `pg_terminate_backend`) them.
pub const LISTENER_APPLICATION_NAME: &str = "weaver-listener";

/// Why an event was refused or could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The event type is not registered.
    #[error("unknown event type {event_type:?}")]
    UnknownType {
        /// The type that was given.
        event_type: String,
    },
    /// The event type name is not `namespace.Name` or `namespace.Name.vN` with a known namespace.
    #[error("invalid event type name {event_type:?}: {reason}")]
    InvalidTypeName {
        /// The name that was given.
        event_type: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The envelope's version is not the registered version of its type.
    #[error("event type {event_type:?} is version {expected}, the envelope says {got}")]
    VersionMismatch {
        /// The event type.
        event_type: String,
        /// The registered version.
        expected: u32,
        /// The version in the envelope.
        got: u32,
    },
    /// The payload does not match the type's schema.
    #[error("invalid payload for {event_type:?}: {reason}")]
    InvalidPayload {
        /// The event type.
        event_type: String,
        /// What the schema check said.
        reason: String,
    },
    /// The serialized payload is larger than [`MAX_PAYLOAD_BYTES`].
    #[error("payload of {event_type:?} is {size} bytes, the limit is {max}")]
    PayloadTooLarge {
        /// The event type.
        event_type: String,
        /// Serialized size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The envelope itself is malformed (for example an empty producer or correlation id).
    #[error("invalid envelope: {0}")]
    InvalidEnvelope(String),
    /// The store failed while reading or committing offsets.
    #[error("event store error: {0}")]
    Store(#[from] Box<crate::walle::Error>),
}

impl Error {
    /// A stable snake_case code for API errors and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownType { .. } => "unknown_event_type",
            Error::InvalidTypeName { .. } => "invalid_event_type",
            Error::VersionMismatch { .. } => "event_version_mismatch",
            Error::InvalidPayload { .. } => "invalid_event_payload",
            Error::PayloadTooLarge { .. } => "event_payload_too_large",
            Error::InvalidEnvelope(_) => "invalid_event_envelope",
            Error::Store(_) => "event_store_error",
        }
    }
}

impl From<crate::walle::Error> for Error {
    fn from(e: crate::walle::Error) -> Self {
        Error::Store(Box::new(e))
    }
}
