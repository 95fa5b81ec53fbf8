//! A named consumer of an [`EventLog`]: waits for events (doorbell or poll), hands them out in
//! order, and stores its offset when the caller commits. It knows the log only through the
//! trait, so the same consumer runs on PostgreSQL, SQLite or any other log behind it.
//!
//! # Invariants
//! - The position handed out only moves forward; `rewind` goes back to the stored offset only.
//! - A doorbell is a hint, never a delivery: every wait also ends on the poll interval.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::events::{Cursor, StoredEvent};
use crate::walle::{Lag, Result, Walle};

use super::log::{Doorbell, EventLog};

/// The longest pause between re-checks while committed events are held back by an older open
/// transaction. Such a blocker may end without any doorbell (a rollback, or a transaction that
/// wrote no event), so this bounds the extra latency it can cause.
const HELD_RECHECK_MAX: Duration = Duration::from_millis(20);

/// Where a consumer that has no stored offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// At the oldest retained event (replay everything).
    #[default]
    Beginning,
    /// After the newest event committed now (only new events).
    Latest,
}

/// How a consumer fetches and waits.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerOptions {
    /// Most events per batch.
    pub batch_size: i64,
    /// The backstop poll: the longest a consumer waits without a wake-up before it looks again.
    pub poll_interval: Duration,
    /// Where a new consumer starts.
    pub start: StartFrom,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            batch_size: 500,
            poll_interval: Duration::from_millis(500),
            start: StartFrom::Beginning,
        }
    }
}

/// Events handed out by [`Consumer::next_batch`], in delivery order, never empty.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The events.
    pub events: Vec<StoredEvent>,
    /// The cursor of the last event; committing the batch stores it.
    pub end: Cursor,
}

/// Counters of one consumer's wake-up machinery (also exported through `metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    /// PostgreSQL: the listener connection is up and listening.
    pub listener_connected: bool,
    /// PostgreSQL: how often the listener lost its connection and listened again.
    pub listener_reconnects: u64,
    /// Waits ended by a doorbell.
    pub notify_wakeups: u64,
    /// Waits ended by the poll timer (the backstop found work, or nothing).
    pub poll_wakeups: u64,
    /// PostgreSQL: short re-checks while committed events were held back by an older open
    /// transaction (the horizon).
    pub horizon_rechecks: u64,
}

#[derive(Default)]
struct Stats {
    notify_wakeups: AtomicU64,
    poll_wakeups: AtomicU64,
    horizon_rechecks: AtomicU64,
}

/// A named consumer of the outbox. Its committed offset survives restarts; events after it are
/// delivered again after a crash (at-least-once, see the outbox's module docs on deduplication).
pub struct Consumer {
    log: Arc<dyn EventLog>,
    name: String,
    opts: ConsumerOptions,
    /// Where the next fetch starts (advanced by `next_batch`).
    position: Cursor,
    /// The stored offset.
    committed: Cursor,
    wake: Doorbell,
    stats: Stats,
    stop: CancellationToken,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("name", &self.name)
            .field("position", &self.position)
            .field("committed", &self.committed)
            .finish_non_exhaustive()
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Consumer {
    /// Opens (registering on first use) the consumer `name` of WallE's outbox at its stored
    /// offset. On PostgreSQL this starts its listener connection.
    ///
    /// # Errors
    /// [`Error::Database`](crate::walle::Error::Database) when the offset cannot be read.
    pub async fn open(walle: &Walle, name: &str, opts: ConsumerOptions) -> Result<Consumer> {
        let stop = walle.shutdown_token().child_token();
        Consumer::open_with(Arc::new(walle.clone()), name, opts, stop).await
    }

    /// Opens the consumer `name` of any [`EventLog`] at its stored offset.
    ///
    /// # Errors
    /// As the log's [`EventLog::offset`].
    pub async fn open_on(
        log: Arc<dyn EventLog>,
        name: &str,
        opts: ConsumerOptions,
    ) -> Result<Consumer> {
        Consumer::open_with(log, name, opts, CancellationToken::new()).await
    }

    async fn open_with(
        log: Arc<dyn EventLog>,
        name: &str,
        opts: ConsumerOptions,
        stop: CancellationToken,
    ) -> Result<Consumer> {
        let committed = log.offset(name, opts.start).await?;
        let wake = log.doorbell(name, stop.clone());
        Ok(Consumer {
            log,
            name: name.to_owned(),
            opts,
            position: committed,
            committed,
            wake,
            stats: Stats::default(),
            stop,
        })
    }

    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stored offset.
    pub fn committed(&self) -> Cursor {
        self.committed
    }

    /// Waits until events after the current position are available and returns the next batch,
    /// advancing the position (not the stored offset: call [`Consumer::commit`]).
    ///
    /// # Errors
    /// [`Error::Database`](crate::walle::Error::Database) when the database fails; the position
    /// is unchanged, so retrying is safe.
    pub async fn next_batch(&mut self) -> Result<Batch> {
        let mut backoff = Duration::from_millis(1);
        loop {
            let events = self.log.fetch(self.position, self.opts.batch_size).await?;
            if let Some(last) = events.last() {
                let end = last.cursor;
                self.position = end;
                metrics::gauge!("weaver_outbox_in_flight_events", "consumer" => self.name.clone())
                    .increment(events.len() as f64);
                return Ok(Batch { events, end });
            }
            // Nothing below the horizon. Committed rows may still be held back by an older open
            // transaction that will send no doorbell (it may roll back, or not be an outbox
            // writer at all), so look again soon, backing off up to the poll interval.
            let held = self.log.held_back(self.position).await?;
            if held {
                let recheck = backoff;
                backoff = (backoff * 2).min(self.opts.poll_interval.min(HELD_RECHECK_MAX));
                if !self.wait(recheck).await {
                    self.stats.horizon_rechecks.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                backoff = Duration::from_millis(1);
                if !self.wait(self.opts.poll_interval).await {
                    self.stats.poll_wakeups.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("weaver_outbox_poll_wakeups_total", "consumer" => self.name.clone())
                        .increment(1);
                }
            }
        }
    }

    /// Like [`Consumer::next_batch`] but gives up after `timeout` and returns `None`.
    ///
    /// # Errors
    /// As [`Consumer::next_batch`].
    pub async fn next_batch_within(&mut self, timeout: Duration) -> Result<Option<Batch>> {
        match tokio::time::timeout(timeout, self.next_batch()).await {
            Ok(r) => r.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Stores the offset at the end of `batch`: its events will not be delivered again.
    ///
    /// # Errors
    /// [`Error::Database`](crate::walle::Error::Database); the batch may then be delivered again
    /// after a restart.
    pub async fn commit(&mut self, batch: &Batch) -> Result<()> {
        self.commit_through(batch.end).await
    }

    /// Stores the offset at `cursor` (for a consumer that processed part of a batch).
    ///
    /// # Errors
    /// [`Error::Database`](crate::walle::Error::Database).
    pub(crate) async fn commit_through(&mut self, cursor: Cursor) -> Result<()> {
        self.log.commit(&self.name, cursor).await?;
        self.committed = self.committed.max(cursor);
        if self.committed >= self.position {
            metrics::gauge!("weaver_outbox_in_flight_events", "consumer" => self.name.clone())
                .set(0.0);
        }
        Ok(())
    }

    /// Moves the position back to the stored offset, so uncommitted events are handed out again
    /// (after a failed handler, for example).
    pub fn rewind(&mut self) {
        self.position = self.committed;
        metrics::gauge!("weaver_outbox_in_flight_events", "consumer" => self.name.clone()).set(0.0);
    }

    /// This consumer's lag.
    ///
    /// # Errors
    /// [`Error::Database`](crate::walle::Error::Database).
    pub async fn lag(&self) -> Result<Lag> {
        self.log.lag(&self.name).await
    }

    /// The wake-up counters.
    pub fn stats(&self) -> ConsumerStats {
        ConsumerStats {
            listener_connected: self.wake.connected(),
            listener_reconnects: self.wake.reconnects(),
            notify_wakeups: self.stats.notify_wakeups.load(Ordering::Relaxed),
            poll_wakeups: self.stats.poll_wakeups.load(Ordering::Relaxed),
            horizon_rechecks: self.stats.horizon_rechecks.load(Ordering::Relaxed),
        }
    }

    /// Waits for a wake-up or `max`; true when woken (a doorbell), false on timeout.
    async fn wait(&mut self, max: Duration) -> bool {
        let woke = tokio::select! {
            () = self.wake.rung() => true,
            () = tokio::time::sleep(max) => false,
        };
        if woke {
            self.stats.notify_wakeups.fetch_add(1, Ordering::Relaxed);
        }
        woke
    }
}

/// Remembers the last `capacity` event ids a consumer processed, to drop redelivered events
/// (at-least-once delivery) in an in-process consumer.
#[derive(Debug, Clone)]
pub struct Dedup {
    seen: HashSet<Uuid>,
    order: VecDeque<Uuid>,
    capacity: usize,
}

impl Dedup {
    /// Keeps up to `capacity` ids (at least one batch's worth).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Dedup {
            seen: HashSet::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// True the first time `id` is seen, false for a duplicate.
    pub fn first_time(&mut self, id: Uuid) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}
