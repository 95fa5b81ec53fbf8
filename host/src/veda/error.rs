//! Veda's one error type: what went wrong talking to a venue, and whether the outcome of an order
//! command is known.
//!
//! # Invariants
//! - `Display` and every field are safe to show a user: they never contain API keys (the client
//!   never puts keys anywhere but request headers, and error bodies come from the venue).
//! - [`Error::OutcomeUnknown`] is the only error after which an order may exist at the venue;
//!   every other order error means the venue did not accept it.

use std::time::Duration;

/// Veda's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a venue call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The venue definitively refused the request (validation, funds, not cancelable).
    #[error("venue rejected the request (HTTP {status}{}): {message}", code.map(|c| format!(", code {c}")).unwrap_or_default())]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The venue's own error code, when it sent one.
        code: Option<i64>,
        /// The venue's message.
        message: String,
    },
    /// The order, position or asset does not exist at the venue.
    #[error("not found at the venue: {message}")]
    NotFound {
        /// The venue's message.
        message: String,
    },
    /// The venue refused the credentials.
    #[error(
        "venue refused the credentials (HTTP {status}); check APCA_API_KEY_ID / APCA_API_SECRET_KEY and the base URL (paper keys only work on paper)"
    )]
    Unauthorized {
        /// HTTP status (401 or 403).
        status: u16,
    },
    /// The venue kept answering 429 longer than we are willing to wait.
    #[error("venue rate limit still exceeded after waiting {waited:?}")]
    RateLimited {
        /// How long we waited in total.
        waited: Duration,
    },
    /// An order was sent but whether the venue accepted it could not be established; the journal
    /// keeps it pending and reconciliation resolves it by `client_order_id`.
    #[error("outcome of order {client_order_id} is unknown: {detail}")]
    OutcomeUnknown {
        /// The order's client order id.
        client_order_id: String,
        /// What happened (timeout, 5xx, lost connection).
        detail: String,
    },
    /// A request failed in transport (timeout, connection, 5xx) for a call that changes nothing.
    #[error("venue unreachable: {detail}")]
    Transport {
        /// What happened.
        detail: String,
    },
    /// The venue answered something we could not decode.
    #[error("could not decode the venue's answer to {what}: {detail}")]
    Decode {
        /// Which call.
        what: String,
        /// The decoder's message.
        detail: String,
    },
    /// The order was refused by Weaver's pre-trade checks; nothing was sent.
    #[error("pre-trade check refused the order: {0}")]
    PreTrade(#[from] crate::veda::risk::Violation),
    /// Invalid configuration or request built by the caller.
    #[error("invalid venue configuration: {0}")]
    Config(String),
    /// A stream ended for good (bad credentials, unknown fatal error code).
    #[error("stream failed: {0}")]
    Stream(String),
    /// Reconciliation found differences nothing explains; the affected runs must not start.
    #[error("positions or orders differ from the venue: {0}")]
    Unreconciled(String),
    /// The order journal could not record the intent or outcome.
    #[error("order journal failed: {0}")]
    Journal(String),
}

impl Error {
    /// Stable snake_case code for APIs, logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Rejected { .. } => "venue_rejected",
            Error::NotFound { .. } => "venue_not_found",
            Error::Unauthorized { .. } => "venue_unauthorized",
            Error::RateLimited { .. } => "venue_rate_limited",
            Error::OutcomeUnknown { .. } => "order_outcome_unknown",
            Error::Transport { .. } => "venue_unreachable",
            Error::Decode { .. } => "venue_decode_failed",
            Error::PreTrade(_) => "pre_trade_rejected",
            Error::Config(_) => "venue_config_invalid",
            Error::Stream(_) => "venue_stream_failed",
            Error::Unreconciled(_) => "venue_unreconciled",
            Error::Journal(_) => "order_journal_failed",
        }
    }

    /// True when the venue (or Weaver before sending) definitively did not accept the order.
    pub fn is_definitive_rejection(&self) -> bool {
        matches!(
            self,
            Error::Rejected { .. }
                | Error::PreTrade(_)
                | Error::Unauthorized { .. }
                | Error::NotFound { .. }
        )
    }

    /// True when an order may or may not exist at the venue.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Error::OutcomeUnknown { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_outcomes_classified() {
        let rejected = Error::Rejected {
            status: 403,
            code: Some(40310000),
            message: "insufficient buying power".into(),
        };
        assert_eq!(rejected.code(), "venue_rejected");
        assert!(rejected.is_definitive_rejection());
        assert!(rejected.to_string().contains("code 40310000"));
        let unknown = Error::OutcomeUnknown {
            client_order_id: "w-1".into(),
            detail: "timeout".into(),
        };
        assert_eq!(unknown.code(), "order_outcome_unknown");
        assert!(unknown.is_outcome_unknown());
        assert!(!unknown.is_definitive_rejection());
    }
}
