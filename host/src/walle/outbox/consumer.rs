//! A named outbox consumer: waits for events (doorbell or poll), hands them out in order, and
//! stores its offset when the caller commits.
//!
//! # Invariants
//! - A listener rings its consumer only after its `LISTEN` is in place, so the catch-up read that
//!   follows a reconnect cannot miss a doorbell.
//! - The position handed out only moves forward; `rewind` goes back to the stored offset only.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::events::{Cursor, StoredEvent};
use crate::walle::{Lag, Result, Walle};

use super::NOTIFY_CHANNEL;

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
    connected: AtomicBool,
    reconnects: AtomicU64,
    notify_wakeups: AtomicU64,
    poll_wakeups: AtomicU64,
    horizon_rechecks: AtomicU64,
}

enum Wake {
    Local(watch::Receiver<u64>),
    Doorbell(Arc<Notify>),
}

/// A named consumer of the outbox. Its committed offset survives restarts; events after it are
/// delivered again after a crash (at-least-once, see the outbox's module docs on deduplication).
pub struct Consumer {
    walle: Walle,
    name: String,
    opts: ConsumerOptions,
    /// Where the next fetch starts (advanced by `next_batch`).
    position: Cursor,
    /// The stored offset.
    committed: Cursor,
    wake: Wake,
    stats: Arc<Stats>,
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
    /// Opens (registering on first use) the consumer `name` at its stored offset. On PostgreSQL
    /// this starts its listener connection.
    ///
    /// # Errors
    /// [`Error::Database`](crate::walle::Error::Database) when the offset cannot be read.
    pub async fn open(walle: &Walle, name: &str, opts: ConsumerOptions) -> Result<Consumer> {
        let committed = walle.consumer_offset(name, opts.start).await?;
        let stats = Arc::new(Stats::default());
        let stop = walle.shutdown_token().child_token();
        let wake = match walle.listen_options() {
            Some(listen) => {
                let doorbell = Arc::new(Notify::new());
                tokio::spawn(listen_loop(
                    listen.clone(),
                    doorbell.clone(),
                    stats.clone(),
                    name.to_owned(),
                    stop.clone(),
                ));
                Wake::Doorbell(doorbell)
            }
            None => Wake::Local(walle.subscribe_local()),
        };
        Ok(Consumer {
            walle: walle.clone(),
            name: name.to_owned(),
            opts,
            position: committed,
            committed,
            wake,
            stats,
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
            let events = self
                .walle
                .fetch_events(self.position, self.opts.batch_size)
                .await?;
            if let Some(last) = events.last() {
                let end = last.cursor;
                self.position = end;
                return Ok(Batch { events, end });
            }
            // Nothing below the horizon. Committed rows may still be held back by an older open
            // transaction that will send no doorbell (it may roll back, or not be an outbox
            // writer at all), so look again soon, backing off up to the poll interval.
            let held = self.walle.backend_name() == "postgres"
                && self.walle.has_events_after(self.position).await?;
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
        self.walle.commit_offset(&self.name, cursor).await?;
        self.committed = self.committed.max(cursor);
        Ok(())
    }

    /// Moves the position back to the stored offset, so uncommitted events are handed out again
    /// (after a failed handler, for example).
    pub fn rewind(&mut self) {
        self.position = self.committed;
    }

    /// This consumer's lag.
    ///
    /// # Errors
    /// [`Error::Database`](crate::walle::Error::Database).
    pub async fn lag(&self) -> Result<Lag> {
        self.walle.consumer_lag(&self.name).await
    }

    /// The wake-up counters.
    pub fn stats(&self) -> ConsumerStats {
        ConsumerStats {
            listener_connected: self.stats.connected.load(Ordering::Relaxed),
            listener_reconnects: self.stats.reconnects.load(Ordering::Relaxed),
            notify_wakeups: self.stats.notify_wakeups.load(Ordering::Relaxed),
            poll_wakeups: self.stats.poll_wakeups.load(Ordering::Relaxed),
            horizon_rechecks: self.stats.horizon_rechecks.load(Ordering::Relaxed),
        }
    }

    /// Waits for a wake-up or `max`; true when woken (a doorbell), false on timeout.
    async fn wait(&mut self, max: Duration) -> bool {
        let woke = match &mut self.wake {
            Wake::Local(rx) => tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        // The store is gone; don't spin, the next fetch reports the error.
                        tokio::time::sleep(max).await;
                    }
                    true
                }
                _ = tokio::time::sleep(max) => false,
            },
            Wake::Doorbell(n) => tokio::select! {
                _ = n.notified() => true,
                _ = tokio::time::sleep(max) => false,
            },
        };
        if woke {
            self.stats.notify_wakeups.fetch_add(1, Ordering::Relaxed);
        }
        woke
    }
}

/// Keeps one listener connection alive: connect, `LISTEN`, ring the consumer (catch up), then
/// ring it on every notification. After any loss it listens again before it rings, so the
/// consumer's catch-up read always starts after the new `LISTEN` (no window for a lost doorbell).
async fn listen_loop(
    opts: PgConnectOptions,
    doorbell: Arc<Notify>,
    stats: Arc<Stats>,
    consumer: String,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(20);
    let mut first = true;
    loop {
        let connect = async {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(opts.clone())
                .await?;
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(NOTIFY_CHANNEL).await?;
            Ok::<_, sqlx::Error>((pool, listener))
        };
        let connected = tokio::select! {
            _ = stop.cancelled() => return,
            r = connect => r,
        };
        let (pool, mut listener) = match connected {
            Ok(c) => c,
            Err(e) => {
                stats.connected.store(false, Ordering::Relaxed);
                tracing::warn!(consumer, error = %e, "outbox listener cannot connect; polling meanwhile");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        stats.connected.store(true, Ordering::Relaxed);
        backoff = Duration::from_millis(20);
        if !first {
            stats.reconnects.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("weaver_listener_reconnects_total", "consumer" => consumer.clone())
                .increment(1);
        }
        first = false;
        // Listening now: whatever was missed while disconnected is found by this catch-up.
        doorbell.notify_one();
        loop {
            let received = tokio::select! {
                _ = stop.cancelled() => {
                    pool.close().await;
                    return;
                }
                r = listener.try_recv() => r,
            };
            match received {
                Ok(Some(_)) => doorbell.notify_one(),
                Ok(None) => {
                    // sqlx reconnected and re-issued LISTEN before returning: catch up now.
                    stats.reconnects.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("weaver_listener_reconnects_total", "consumer" => consumer.clone())
                        .increment(1);
                    doorbell.notify_one();
                }
                Err(e) => {
                    stats.connected.store(false, Ordering::Relaxed);
                    tracing::info!(consumer, error = %e, "outbox listener lost its connection; listening again");
                    break;
                }
            }
        }
        drop(listener);
        pool.close().await;
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
