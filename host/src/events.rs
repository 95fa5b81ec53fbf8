//! Events: the vocabulary of the event log. The envelope every event travels in ([`Envelope`]),
//! its position in the outbox ([`Cursor`], [`StoredEvent`]), and the registry of event types and
//! their payload schemas ([`Registry`], [`payloads`]), and the ambient correlation of the
//! request or run events are produced for ([`correlation`]).
//!
//! This module does no I/O. Producers never write the outbox directly: every event is appended by
//! WallE in the same transaction as the business write it describes (`walle::Walle::append`, or a
//! typed repository method such as `Walle::insert_order_intent`), checked against the
//! [`Registry`] first. WallE's outbox also orders, wakes and delivers events to its named
//! consumers (`walle::Consumer`); its module docs (`walle/outbox.rs`) describe how.
//!
//! # Invariants
//! - An event that fails validation (unknown type, version mismatch, invalid or oversized payload)
//!   is refused with an [`Error`] and nothing is written: caller-supplied events are checked
//!   before their transaction starts, and a refused event aborts the transaction it was in.

pub mod correlation;
mod envelope;
mod registry;

pub use correlation::Correlation;
pub use envelope::{Cursor, Envelope, StoredEvent};
pub use registry::{EventSpec, MAX_PAYLOAD_BYTES, NAMESPACES, Registry, payloads};

/// Why an event was refused.
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
        }
    }
}
