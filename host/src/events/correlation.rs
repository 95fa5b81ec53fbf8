//! The identity chain's ambient part: the correlation (and trace) id of the request or run an
//! event is produced for. GLaDOS opens a scope per request (its `X-Request-Id`, and the trace id
//! of a W3C `traceparent`); work a request starts in the background (a run's tasks, a backtest,
//! a compilation) captures [`current`] when it is started and runs inside [`scope`] with it, so
//! every event it produces carries the request's `corr_id` ([`super::Envelope::new`] reads it).
//!
//! # Invariants
//! - Outside any scope an event is its own correlation (`corr_id` = its id), as before.
//! - An explicit cause ([`super::Envelope::caused_by`]) wins over the ambient scope.

use std::future::Future;

tokio::task_local! {
    static CURRENT: Correlation;
}

/// The ids every event produced inside a scope carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlation {
    /// The correlation id (a request's `X-Request-Id`).
    pub corr_id: String,
    /// The W3C trace id, when the request carried a `traceparent`.
    pub trace_id: Option<String>,
}

impl Correlation {
    /// A correlation for `corr_id`, with the trace id of `traceparent` when it is a valid W3C
    /// header (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, trace id not all zero).
    pub fn new(corr_id: impl Into<String>, traceparent: Option<&str>) -> Correlation {
        Correlation {
            corr_id: corr_id.into(),
            trace_id: traceparent.and_then(trace_id_of),
        }
    }
}

fn trace_id_of(header: &str) -> Option<String> {
    let mut parts = header.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let ok = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && hex(flags, 2);
    ok.then(|| trace.to_ascii_lowercase())
}

/// The correlation of the current task, if it runs inside a [`scope`].
pub fn current() -> Option<Correlation> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `fut` with `correlation` as the ambient one (`None`: as it is).
pub async fn scope<F: Future>(correlation: Option<Correlation>, fut: F) -> F::Output {
    match correlation {
        Some(c) => CURRENT.scope(c, fut).await,
        None => fut.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_gives_its_trace_id() {
        let c = Correlation::new(
            "req-1",
            Some("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
        );
        assert_eq!(
            c.trace_id.as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",
        ] {
            assert_eq!(Correlation::new("r", Some(bad)).trace_id, None, "{bad}");
        }
    }

    #[tokio::test]
    async fn the_scope_reaches_nested_code_and_ends_with_it() {
        assert_eq!(current(), None);
        let c = Correlation::new("req-7", None);
        let seen = scope(Some(c.clone()), async { current() }).await;
        assert_eq!(seen, Some(c));
        assert_eq!(current(), None);
    }
}
