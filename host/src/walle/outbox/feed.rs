//! The realtime feed: one outbox consumer (`ui-feed`) read on behalf of every live reader
//! (the API's event stream). It wakes on `LISTEN` (PostgreSQL) or the in-process signal
//! (SQLite), with a slow safety re-check, and fans each batch out on a bounded broadcast.
//!
//! # Invariants
//! - One database reader however many subscribers: a subscriber costs a broadcast slot, not a
//!   query per event.
//! - A subscriber that falls more than [`FEED_BUFFER`] events behind is told it lagged
//!   ([`Gap::Lagged`]) and should end; it resumes from its own last cursor through the outbox
//!   (never buffered without bound, never silently skipped).
//! - [`Subscription::after`] joins a reader that caught up from the outbox to the live fan-out
//!   without a gap or a repeat: it subscribes before the catch-up ends and drops what it has
//!   already seen by cursor (cursors compare in delivery order).
//! - The feed's offset is committed after each batch is fanned out, so `consumer_offsets` shows
//!   how far it got and its lag appears among the outbox gauges.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{Consumer, ConsumerOptions, StartFrom};
use crate::events::{Cursor, StoredEvent};
use crate::walle::Walle;

/// The consumer name the feed commits its offset under.
pub const FEED_CONSUMER: &str = "ui-feed";

/// Events a subscriber may fall behind before it is dropped.
pub const FEED_BUFFER: usize = 4096;

/// The safety re-check when no wake-up came (the wake-ups carry the hot path).
const RECHECK: Duration = Duration::from_secs(2);

/// The live fan-out. Cheap to clone.
#[derive(Clone)]
pub struct Feed {
    tx: broadcast::Sender<Arc<StoredEvent>>,
    walle: Walle,
    stop: CancellationToken,
    started: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("subscribers", &self.subscribers())
            .finish_non_exhaustive()
    }
}

/// Why a subscription cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gap {
    /// The subscriber fell too far behind; resume from its last cursor.
    Lagged,
    /// The feed stopped (shutdown).
    Closed,
}

/// One reader's view of the fan-out.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Arc<StoredEvent>>,
    seen: Cursor,
}

impl Subscription {
    /// Declares that the reader has seen everything up to `cursor` (from its catch-up read), so
    /// fanned-out events at or before it are skipped.
    pub fn after(&mut self, cursor: Cursor) {
        self.seen = self.seen.max(cursor);
    }

    /// The next event after everything seen.
    ///
    /// # Errors
    /// [`Gap`] when the reader lagged or the feed stopped.
    pub async fn next(&mut self) -> Result<Arc<StoredEvent>, Gap> {
        loop {
            match self.rx.recv().await {
                Ok(e) if e.cursor <= self.seen => {}
                Ok(e) => {
                    self.seen = e.cursor;
                    return Ok(e);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    metrics::counter!("weaver_feed_lagged_subscribers_total").increment(1);
                    tracing::debug!(
                        missed = n,
                        "feed subscriber lagged; it resumes from its cursor"
                    );
                    return Err(Gap::Lagged);
                }
                Err(broadcast::error::RecvError::Closed) => return Err(Gap::Closed),
            }
        }
    }
}

impl Feed {
    /// The feed over `walle`, reading until `stop`. Nothing runs until [`Feed::start`] or the
    /// first subscription.
    pub fn new(walle: Walle, stop: CancellationToken) -> Feed {
        Feed {
            tx: broadcast::channel(FEED_BUFFER).0,
            walle,
            stop,
            started: Arc::default(),
        }
    }

    /// Starts the reader task once (later calls do nothing). Needs a Tokio runtime.
    pub fn start(&self) {
        if self.started.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move { this.run().await });
    }

    /// A new subscription (starting the reader if it is not running). Subscribe *before* the
    /// catch-up read, then call [`Subscription::after`] with its last cursor.
    pub fn subscribe(&self) -> Subscription {
        self.start();
        Subscription {
            rx: self.tx.subscribe(),
            seen: Cursor::default(),
        }
    }

    /// Subscribers now.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Reads the outbox as [`FEED_CONSUMER`] and fans it out until `stop`. A database failure
    /// is logged and retried after a pause; nothing is lost, since subscribers resume from the
    /// outbox.
    async fn run(&self) {
        let (walle, stop) = (&self.walle, &self.stop);
        let opts = ConsumerOptions {
            batch_size: 500,
            poll_interval: RECHECK,
            start: StartFrom::Latest,
        };
        let mut consumer = loop {
            match Consumer::open(walle, FEED_CONSUMER, opts).await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::warn!(code = e.code(), "realtime feed cannot start; retrying: {e}");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(RECHECK) => {}
                    }
                }
            }
        };
        loop {
            let batch = tokio::select! {
                () = stop.cancelled() => return,
                b = consumer.next_batch() => b,
            };
            match batch {
                Ok(mut batch) => {
                    for e in std::mem::take(&mut batch.events) {
                        // No subscriber is not an error: the events stay in the outbox.
                        let _ = self.tx.send(Arc::new(e));
                    }
                    metrics::gauge!("weaver_feed_subscribers").set(self.subscribers() as f64);
                    if let Err(e) = consumer.commit(&batch).await {
                        tracing::warn!(code = e.code(), "realtime feed offset not stored: {e}");
                    }
                }
                Err(e) => {
                    tracing::warn!(code = e.code(), "realtime feed read failed; retrying: {e}");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(RECHECK) => {}
                    }
                }
            }
        }
    }
}
