//! The identity chain's ambient part: the correlation (and trace) id of the request or run an
//! event is produced for. GLaDOS opens a scope per request (its `X-Request-Id`, and the trace id
//! of a W3C `traceparent`); work a request starts in the background (a run's tasks, a backtest,
//! a compilation) captures [`current`] when it is started and runs inside [`scope`] with it, so
//! every event it produces carries the request's `corr_id` ([`super::Envelope::new`] reads it).
//!
//! A scope also carries the task's **cause**: the event that the task's next business write
//! follows from, and the events produced before it that must reach the outbox no later than that
//! write ([`Precursors`]). A run sets its latest decision there ([`set_cause`]), so the order
//! journal records the decision as the cause of the order it places and writes the queued
//! decisions in the order's own transaction ([`take_precursors`]): run → decision → intent.
//!
//! # Invariants
//! - Outside any scope an event is its own correlation (`corr_id` = its id), as before.
//! - An explicit cause ([`super::Envelope::caused_by`]) wins over the ambient scope.
//! - The cause is task state: set by the task's own code, never seen by another task.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

use super::Envelope;

tokio::task_local! {
    static CURRENT: Correlation;
    static CAUSE: RefCell<Cause>;
}

/// Events a task produced but has not written yet, which must reach the outbox no later than the
/// business write they caused (a run's queued decisions).
pub trait Precursors: Send + Sync {
    /// Takes every queued event, oldest first.
    fn take(&self) -> Vec<Envelope>;
    /// Puts events taken by [`Precursors::take`] back in front (their write failed).
    fn restore(&self, events: Vec<Envelope>);
    /// The lock every writer of the queue holds from its take to its commit, so that events
    /// taken earlier are never committed after events taken later (none: no other writer).
    fn gate(&self) -> Option<Arc<tokio::sync::Mutex<()>>> {
        None
    }
}

#[derive(Default)]
struct Cause {
    id: Option<String>,
    precursors: Option<Arc<dyn Precursors>>,
}

/// Records `id` as the event the task's next business writes follow from, and where the events
/// written before them wait.
pub fn set_cause(id: impl Into<String>, precursors: Option<Arc<dyn Precursors>>) {
    let _ = CAUSE.try_with(|c| {
        let mut c = c.borrow_mut();
        c.id = Some(id.into());
        c.precursors = precursors;
    });
}

/// The task's current cause (see [`set_cause`]), if any.
pub fn cause() -> Option<String> {
    CAUSE.try_with(|c| c.borrow().id.clone()).ok().flatten()
}

/// The gate of the task's precursor queue ([`Precursors::gate`]): hold it from
/// [`take_precursors`] until the write that stores them committed.
pub async fn precursor_gate() -> Option<tokio::sync::OwnedMutexGuard<()>> {
    let gate = CAUSE
        .try_with(|c| c.borrow().precursors.as_ref().and_then(|q| q.gate()))
        .ok()
        .flatten();
    match gate {
        Some(g) => Some(g.lock_owned().await),
        None => None,
    }
}

/// The events that must be written with (before) the task's next business write, taken from the
/// queue; give them back with [`restore_precursors`] if that write fails.
pub fn take_precursors() -> Vec<Envelope> {
    let queue = CAUSE
        .try_with(|c| c.borrow().precursors.clone())
        .ok()
        .flatten();
    queue.map(|q| q.take()).unwrap_or_default()
}

/// Puts precursors back after a failed write, so the next write (or the queue's own flush)
/// stores them.
pub fn restore_precursors(events: Vec<Envelope>) {
    if events.is_empty() {
        return;
    }
    let queue = CAUSE
        .try_with(|c| c.borrow().precursors.clone())
        .ok()
        .flatten();
    if let Some(q) = queue {
        q.restore(events);
    }
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

/// Runs `fut` with `correlation` as the ambient one (`None`: as it is), with a cause of its own
/// (none yet).
pub async fn scope<F: Future>(correlation: Option<Correlation>, fut: F) -> F::Output {
    let fut = CAUSE.scope(RefCell::new(Cause::default()), fut);
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

    #[derive(Default)]
    struct Queue(std::sync::Mutex<Vec<Envelope>>);

    impl Precursors for Queue {
        fn take(&self) -> Vec<Envelope> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
        fn restore(&self, events: Vec<Envelope>) {
            let mut q = self.0.lock().unwrap();
            let later = std::mem::replace(&mut *q, events);
            q.extend(later);
        }
    }

    #[tokio::test]
    async fn a_cause_and_its_precursors_stay_in_their_task() {
        let queue = Arc::new(Queue::default());
        let e = Envelope::new(
            "ui.Notice",
            "test",
            serde_json::json!({"level": "info", "message": "m"}),
        )
        .unwrap();
        queue.0.lock().unwrap().push(e.clone());
        let q = queue.clone();
        let (inside, other, taken, again) = scope(None, async move {
            set_cause("decision-1", Some(q));
            let other = tokio::spawn(scope(None, async { cause() })).await.unwrap();
            let taken = take_precursors();
            restore_precursors(taken.clone());
            (cause(), other, taken, take_precursors())
        })
        .await;
        assert_eq!(inside.as_deref(), Some("decision-1"));
        assert_eq!(other, None, "another task has its own cause");
        assert_eq!(taken.len(), 1);
        assert_eq!(again.len(), 1, "restored precursors are taken again");
        assert_eq!(cause(), None, "outside the scope there is no cause");
        assert!(take_precursors().is_empty());
    }
}
