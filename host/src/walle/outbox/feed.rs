//! The realtime feed: one outbox consumer (`ui-feed`) read on behalf of every live reader
//! (the API's event stream). It wakes on `LISTEN` (PostgreSQL) or the in-process signal
//! (SQLite), with a slow safety re-check, and fans each batch out on a bounded broadcast.
//! It also holds the stream's replay policy: how many of the newest events a reader without a
//! cursor starts with, and how many catch-up reads of the outbox may run at once.
//!
//! # Invariants
//! - A reader's catch-up reads the outbox only under a [`Feed::catch_up`] permit, so however many
//!   clients replay at once, at most [`CATCH_UP_READS`] of them hold a database connection.
//! - A subscriber that waited for [`Feed::ready`] before its catch-up read misses nothing: the
//!   reader fans out every event committed after it opened, the catch-up reads the rest.
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

use tokio::sync::{Semaphore, SemaphorePermit, broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::{Consumer, ConsumerOptions, StartFrom};
use crate::events::{Cursor, StoredEvent};
use crate::walle::{Result, Walle, fetch};

/// The consumer name the feed commits its offset under.
pub const FEED_CONSUMER: &str = "ui-feed";

/// Events a subscriber may fall behind before it is dropped.
pub const FEED_BUFFER: usize = 4096;

/// The safety re-check when no wake-up came (the wake-ups carry the hot path).
const RECHECK: Duration = Duration::from_secs(2);

/// Default of `WEAVER_SSE_REPLAY_EVENTS`: the newest events a stream without a cursor starts
/// with, and the most a stream with one replays before it ends.
pub const DEFAULT_REPLAY_EVENTS: usize = 1000;

/// Largest accepted `WEAVER_SSE_REPLAY_EVENTS`.
pub const MAX_REPLAY_EVENTS: usize = 100_000;

/// Catch-up reads of the outbox at once. Two leave most of the pool (10 by default) to the API
/// during a reconnect storm; a page is a short indexed read, so a waiting client waits little.
pub const CATCH_UP_READS: usize = 2;

// The (n+1)-th newest event below the horizon: everything after it is the newest n. `offset`
// walks the (transaction_id, id) index backwards, at most MAX_REPLAY_EVENTS entries.
const PG_REPLAY_START: &str = "select transaction_id::text::bigint as xid, id from outbox \
     where transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
     order by transaction_id desc, id desc limit 1 offset $1";
const LITE_REPLAY_START: &str =
    "select 0 as xid, id from outbox order by id desc limit 1 offset $1";

/// The live fan-out. Cheap to clone.
#[derive(Clone)]
pub struct Feed {
    tx: broadcast::Sender<Arc<StoredEvent>>,
    walle: Walle,
    stop: CancellationToken,
    started: Arc<std::sync::atomic::AtomicBool>,
    replay_events: usize,
    catch_up: Arc<Semaphore>,
    /// `true` once the reader has its start position (see [`Feed::ready`]).
    opened: Arc<watch::Sender<bool>>,
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
            replay_events: DEFAULT_REPLAY_EVENTS,
            catch_up: Arc::new(Semaphore::new(CATCH_UP_READS)),
            opened: Arc::new(watch::channel(false).0),
        }
    }

    /// Waits until the reader has taken its start position (or the feed stopped). The reader
    /// opens at the head of the outbox, so an event committed before that is never fanned out:
    /// a subscriber must wait for this before its catch-up read, or such an event would fall
    /// between the two.
    pub async fn ready(&self) {
        let mut rx = self.opened.subscribe();
        tokio::select! {
            // The sender lives as long as the feed, so this only ends when it is open.
            _ = rx.wait_for(|open| *open) => {}
            () = self.stop.cancelled() => {}
        }
    }

    /// The same feed with another replay cap (`WEAVER_SSE_REPLAY_EVENTS`, validated by the
    /// configuration).
    #[must_use]
    pub fn with_replay_events(mut self, n: usize) -> Feed {
        self.replay_events = n;
        self
    }

    /// The replay cap: the newest events a reader without a cursor starts with, and the most a
    /// reader with one is replayed on one connection.
    pub fn replay_events(&self) -> usize {
        self.replay_events
    }

    /// Waits for a turn to read the outbox for a catch-up; hold it for one page only. The
    /// semaphore is never closed, so this is always `Some`; were it closed, the read would only
    /// go unbounded, never lose an event.
    pub async fn catch_up(&self) -> Option<SemaphorePermit<'_>> {
        self.catch_up.acquire().await.ok()
    }

    /// The cursor after which exactly the newest `n` events lie (below the horizon on
    /// PostgreSQL), or the start of the outbox when it holds `n` or fewer.
    ///
    /// # Errors
    /// [`crate::walle::Error::Database`].
    pub async fn replay_start(&self, n: usize) -> Result<Cursor> {
        let offset = i64::try_from(n).unwrap_or(i64::MAX);
        let walle = &self.walle;
        let row: Option<(i64, i64)> = if walle.is_pg() {
            walle
                .read(async |c| fetch!(fetch_optional, c, (i64, i64), PG_REPLAY_START, offset))
                .await?
        } else {
            walle
                .read(async |c| fetch!(fetch_optional, c, (i64, i64), LITE_REPLAY_START, offset))
                .await?
        };
        Ok(row.map_or_else(Cursor::default, |(xid, id)| Cursor { xid, id }))
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
    /// catch-up read (and wait for [`Feed::ready`]), then call [`Subscription::after`] with its
    /// last cursor.
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
                Ok(c) => {
                    self.opened.send_replace(true);
                    break c;
                }
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
