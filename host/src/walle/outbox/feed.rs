//! The realtime feed: one outbox consumer (`ui-feed`) read on behalf of every live reader
//! (the API's event stream). It wakes on `LISTEN` (PostgreSQL) or the in-process signal
//! (SQLite), with a slow safety re-check, and fans each batch out on a bounded broadcast.
//! It also holds the stream's replay policy: how many of the newest events a reader without a
//! cursor starts with, and how many catch-up reads of the outbox may run at once.
//!
//! # Invariants
//! - A reader's catch-up reads, serialises and sends a page only during a [`Feed::catch_up`]
//!   turn, so however many clients replay at once, at most [`CATCH_UP_TURNS`] of them hold a
//!   database connection or a core; a turn ends after [`MAX_TURN`] even if its client does not
//!   read, so a stalled client cannot hold up the others.
//! - A cached catch-up page ([`Feed::page`]) is a prefix of the events after its cursor, so it
//!   stays true; an empty read (the present) is never cached, so a reader only goes live on a
//!   read made after it subscribed.
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

use tokio::sync::{Semaphore, broadcast, oneshot, watch};
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

/// Catch-up pages in flight at once (read, serialised, being sent). Two leave most of the pool
/// (10 by default) to the API during a reconnect storm, and only two replaying clients compete
/// with its requests for the cores; a page is a short indexed read and a few milliseconds of
/// writing, so a waiting client waits little.
pub const CATCH_UP_TURNS: usize = 2;

/// The longest a catch-up turn is held (a client that stopped reading gives it up).
pub const MAX_TURN: Duration = Duration::from_secs(1);

// The (n+1)-th newest event below the horizon: everything after it is the newest n. `offset`
// walks the (transaction_id, id) index backwards, at most MAX_REPLAY_EVENTS entries.
const PG_REPLAY_START: &str = "select transaction_id::text::bigint as xid, id from outbox \
     where transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
     order by transaction_id desc, id desc limit 1 offset $1";
/// Catch-up pages kept for readers at the same position (a reconnect storm starts every client
/// without a cursor at the same one).
const CACHED_PAGES: usize = 8;

/// A cached catch-up page: its cursor and limit, and the events.
type Page = (Cursor, i64, Arc<[StoredEvent]>);

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
    /// The latest catch-up pages read, newest last.
    pages: Arc<std::sync::Mutex<std::collections::VecDeque<Page>>>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("subscribers", &self.subscribers())
            .finish_non_exhaustive()
    }
}

/// A catch-up turn ([`Feed::catch_up`]); given back when dropped, or after [`MAX_TURN`].
#[derive(Debug)]
pub struct Turn {
    _release: Option<oneshot::Sender<()>>,
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
            catch_up: Arc::new(Semaphore::new(CATCH_UP_TURNS)),
            opened: Arc::new(watch::channel(false).0),
            pages: Arc::default(),
        }
    }

    /// Up to `limit` events after `after` for a catch-up (call it during a [`Feed::catch_up`]
    /// turn): from the few pages other readers read last when one matches, else from the
    /// outbox. A page is a prefix of what follows `after`, so a cached one is never wrong, only
    /// maybe shorter than a fresh read; the reader's next read starts after it.
    ///
    /// # Errors
    /// [`crate::walle::Error::Database`], [`crate::walle::Error::Corrupt`].
    pub async fn page(&self, after: Cursor, limit: i64) -> Result<Arc<[StoredEvent]>> {
        let lock = || {
            self.pages
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((_, _, p)) = lock().iter().find(|(c, l, _)| *c == after && *l == limit) {
            return Ok(Arc::clone(p));
        }
        let events: Arc<[StoredEvent]> = self.walle.fetch_events(after, limit).await?.into();
        if !events.is_empty() {
            let mut pages = lock();
            if pages.len() >= CACHED_PAGES {
                pages.pop_front();
            }
            pages.push_back((after, limit, Arc::clone(&events)));
        }
        Ok(events)
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

    /// Waits for a catch-up turn: hold it while one page is read, serialised and sent, and drop
    /// it then. It ends by itself after [`MAX_TURN`]. (The semaphore is never closed; were it,
    /// turns would only stop being bounded, no event would be lost.)
    pub async fn catch_up(&self) -> Turn {
        let Ok(permit) = Arc::clone(&self.catch_up).acquire_owned().await else {
            return Turn { _release: None };
        };
        let (release, released) = oneshot::channel::<()>();
        tokio::spawn(async move {
            // Ends when the turn is dropped (the sender goes) or time is up.
            let _ = tokio::time::timeout(MAX_TURN, released).await;
            drop(permit);
        });
        Turn {
            _release: Some(release),
        }
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
