//! The event log every appender and consumer reaches the outbox through: [`EventLog`]. WallE's
//! outbox (PostgreSQL or SQLite) is one implementation (`impl EventLog for Walle`); [`MemoryLog`]
//! is a second, in memory, that runs the same consumer contract tests and shows what any other
//! log (NATS JetStream, Kafka) must provide: `docs/adr/0007-event-log-interface.md`.
//!
//! What a log guarantees, whatever is behind it:
//! - **Order**: `fetch` hands events out in one total order, the same for every consumer, and
//!   never hands out an event that an earlier-ordered, still-unfinished append could precede
//!   (PostgreSQL: the xid horizon; SQLite: one writer; memory: one lock).
//! - **At-least-once**: an appended event stays fetchable after every offset that precedes it
//!   until retention removes it past the slowest consumer.
//! - **Offsets**: per consumer name, durable as the log is, only moving forward.
//! - **Wake-ups**: a [`Doorbell`] rung after appends; a hint only (consumers also poll), rung
//!   again after any reconnect so a catch-up read follows.
//!
//! # Invariants
//! - A PostgreSQL listener rings its consumer only after its `LISTEN` is in place, so the
//!   catch-up read that follows a reconnect cannot miss a doorbell.
//! - `append` is all or none, and checks every event against the registry first.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{NOTIFY_CHANNEL, StartFrom};
use crate::events::{Cursor, Envelope, Registry, StoredEvent};
use crate::walle::{Error, Lag, Result, Walle};

/// An ordered, durable event log with named consumer offsets and wake-ups.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Which log this is (`postgres`, `sqlite`, `memory`, …).
    fn name(&self) -> &'static str;

    /// Appends `events` atomically (all or none), after checking each against the registry.
    ///
    /// # Errors
    /// [`Error::Event`] for a refused event (nothing written), or the log's own failure.
    async fn append(&self, events: &[Envelope]) -> Result<()>;

    /// Up to `limit` events after `after`, in delivery order.
    ///
    /// # Errors
    /// The log's failure; retrying is safe.
    async fn fetch(&self, after: Cursor, limit: i64) -> Result<Vec<StoredEvent>>;

    /// Whether events after `after` exist that `fetch` cannot hand out yet (held back behind an
    /// unfinished earlier append); the consumer then looks again soon instead of waiting for a
    /// doorbell that such a writer may never ring.
    ///
    /// # Errors
    /// The log's failure.
    async fn held_back(&self, after: Cursor) -> Result<bool>;

    /// The stored offset of `consumer`, registering it at `start` on first use.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty name, or the log's failure.
    async fn offset(&self, consumer: &str, start: StartFrom) -> Result<Cursor>;

    /// Moves `consumer`'s offset forward to `to` (never backwards).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unregistered consumer, or the log's failure.
    async fn commit(&self, consumer: &str, to: Cursor) -> Result<()>;

    /// How far `consumer` is behind.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unregistered consumer, or the log's failure.
    async fn lag(&self, consumer: &str) -> Result<Lag>;

    /// A doorbell for `consumer`, rung after appends (and after any reconnect) until `stop`.
    fn doorbell(&self, consumer: &str, stop: CancellationToken) -> Doorbell;
}

/// Counters of a doorbell's connection (PostgreSQL's listener).
#[derive(Debug, Default)]
pub(crate) struct BellStats {
    connected: AtomicBool,
    reconnects: AtomicU64,
}

/// One consumer's wake-ups.
#[derive(Debug, Clone)]
pub struct Doorbell {
    bell: Arc<Notify>,
    stats: Arc<BellStats>,
}

impl Doorbell {
    /// A doorbell nothing rings yet, and a handle to ring it.
    pub fn new() -> Doorbell {
        Doorbell {
            bell: Arc::new(Notify::new()),
            stats: Arc::default(),
        }
    }

    /// A doorbell rung by notifications on PostgreSQL `channel` (and after each reconnect, to
    /// catch up), through its own listener connection kept until `stop`.
    pub(crate) fn listening(
        opts: PgConnectOptions,
        channel: &'static str,
        consumer: &str,
        stop: CancellationToken,
    ) -> Doorbell {
        let bell = Doorbell::new();
        tokio::spawn(listen_loop(
            opts,
            channel,
            bell.bell.clone(),
            bell.stats.clone(),
            consumer.to_owned(),
            stop,
        ));
        bell
    }

    /// Rings it: the consumer's current or next wait ends at once.
    pub fn ring(&self) {
        self.bell.notify_one();
    }

    /// Waits until it is rung (a ring while nobody waits is kept for the next wait).
    pub async fn rung(&self) {
        self.bell.notified().await;
    }

    /// Whether its connection is up (true for logs that need none).
    pub fn connected(&self) -> bool {
        self.stats.connected.load(Ordering::Relaxed)
    }

    /// How often its connection was lost and made again.
    pub fn reconnects(&self) -> u64 {
        self.stats.reconnects.load(Ordering::Relaxed)
    }
}

impl Default for Doorbell {
    fn default() -> Self {
        Doorbell::new()
    }
}

#[async_trait]
impl EventLog for Walle {
    fn name(&self) -> &'static str {
        self.backend_name()
    }

    async fn append(&self, events: &[Envelope]) -> Result<()> {
        self.append_batch(events).await
    }

    async fn fetch(&self, after: Cursor, limit: i64) -> Result<Vec<StoredEvent>> {
        self.fetch_events(after, limit).await
    }

    async fn held_back(&self, after: Cursor) -> Result<bool> {
        // SQLite commits in id order (one writer): nothing is ever held back.
        Ok(self.is_pg() && self.has_events_after(after).await?)
    }

    async fn offset(&self, consumer: &str, start: StartFrom) -> Result<Cursor> {
        self.consumer_offset(consumer, start).await
    }

    async fn commit(&self, consumer: &str, to: Cursor) -> Result<()> {
        self.commit_offset(consumer, to).await
    }

    async fn lag(&self, consumer: &str) -> Result<Lag> {
        self.consumer_lag(consumer).await
    }

    fn doorbell(&self, consumer: &str, stop: CancellationToken) -> Doorbell {
        // Consumers on PostgreSQL are woken only through LISTEN, even in the writer's process,
        // so that path is always the one exercised.
        if let Some(listen) = self.listen_options() {
            return Doorbell::listening(listen.clone(), NOTIFY_CHANNEL, consumer, stop);
        }
        let bell = Doorbell::new();
        bell.stats.connected.store(true, Ordering::Relaxed);
        let mut rx = self.subscribe_local();
        let ring = bell.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    changed = rx.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        ring.ring();
                    }
                }
            }
        });
        bell
    }
}

/// Keeps one listener connection on `channel` alive: connect, `LISTEN`, ring the consumer
/// (catch up), then ring it on every notification. After any loss it listens again before it
/// rings, so the consumer's catch-up read always starts after the new `LISTEN` (no window for a
/// lost doorbell). `consumer` names it in logs and metrics.
async fn listen_loop(
    opts: PgConnectOptions,
    channel: &'static str,
    doorbell: Arc<Notify>,
    stats: Arc<BellStats>,
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
            listener.listen(channel).await?;
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
                tracing::warn!(consumer, channel, error = %e, "listener cannot connect; polling meanwhile");
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
                    tracing::info!(consumer, channel, error = %e, "listener lost its connection; listening again");
                    break;
                }
            }
        }
        drop(listener);
        pool.close().await;
    }
}

/// An event log in memory: the reference implementation of [`EventLog`] beside WallE's outbox,
/// run through the same consumer contract tests. Lost on restart by nature; for tests and as
/// the model an adapter to another log follows.
#[derive(Debug, Clone)]
pub struct MemoryLog {
    inner: Arc<MemoryInner>,
}

#[derive(Debug)]
struct MemoryInner {
    registry: Registry,
    state: Mutex<MemoryState>,
    /// Every doorbell handed out, rung after each append.
    bells: Mutex<Vec<Doorbell>>,
}

#[derive(Debug, Default)]
struct MemoryState {
    events: Vec<StoredEvent>,
    offsets: BTreeMap<String, Cursor>,
}

impl MemoryLog {
    /// An empty log checking appends against `registry`.
    pub fn new(registry: Registry) -> MemoryLog {
        MemoryLog {
            inner: Arc::new(MemoryInner {
                registry,
                state: Mutex::default(),
                bells: Mutex::default(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn head(state: &MemoryState) -> Cursor {
        state.events.last().map(|e| e.cursor).unwrap_or_default()
    }
}

#[async_trait]
impl EventLog for MemoryLog {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn append(&self, events: &[Envelope]) -> Result<()> {
        for e in events {
            self.inner.registry.validate(e)?;
        }
        {
            let mut state = self.state();
            if let Some(dup) = events
                .iter()
                .find(|e| state.events.iter().any(|s| s.envelope.id == e.id))
            {
                return Err(Error::Invalid(format!(
                    "event {} was appended before",
                    dup.id
                )));
            }
            let now = Utc::now();
            for e in events {
                let id = MemoryLog::head(&state).id + 1;
                state.events.push(StoredEvent {
                    cursor: Cursor { xid: 0, id },
                    stored_at: now,
                    envelope: e.clone(),
                });
            }
        }
        for bell in self
            .inner
            .bells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            bell.ring();
        }
        Ok(())
    }

    async fn fetch(&self, after: Cursor, limit: i64) -> Result<Vec<StoredEvent>> {
        let state = self.state();
        let start = state.events.partition_point(|e| e.cursor <= after);
        let n = usize::try_from(limit.max(0)).unwrap_or(usize::MAX);
        Ok(state.events.iter().skip(start).take(n).cloned().collect())
    }

    async fn held_back(&self, _after: Cursor) -> Result<bool> {
        // One lock orders every append: nothing is ever held back.
        Ok(false)
    }

    async fn offset(&self, consumer: &str, start: StartFrom) -> Result<Cursor> {
        if consumer.is_empty() {
            return Err(Error::Invalid("consumer name is empty".into()));
        }
        let mut state = self.state();
        let head = MemoryLog::head(&state);
        Ok(*state
            .offsets
            .entry(consumer.to_owned())
            .or_insert(match start {
                StartFrom::Beginning => Cursor::default(),
                StartFrom::Latest => head,
            }))
    }

    async fn commit(&self, consumer: &str, to: Cursor) -> Result<()> {
        let mut state = self.state();
        let at = state
            .offsets
            .get_mut(consumer)
            .ok_or_else(|| Error::NotFound {
                entity: "consumer",
                key: consumer.to_owned(),
            })?;
        *at = (*at).max(to);
        Ok(())
    }

    async fn lag(&self, consumer: &str) -> Result<Lag> {
        let state = self.state();
        let at = *state.offsets.get(consumer).ok_or_else(|| Error::NotFound {
            entity: "consumer",
            key: consumer.to_owned(),
        })?;
        let start = state.events.partition_point(|e| e.cursor <= at);
        let behind = &state.events[start..];
        Ok(Lag {
            events: i64::try_from(behind.len()).unwrap_or(i64::MAX),
            oldest_seconds: behind.first().map_or(0.0, |e| {
                (Utc::now() - e.stored_at).num_milliseconds().max(0) as f64 / 1000.0
            }),
        })
    }

    fn doorbell(&self, _consumer: &str, _stop: CancellationToken) -> Doorbell {
        let bell = Doorbell::new();
        bell.stats.connected.store(true, Ordering::Relaxed);
        self.inner
            .bells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(bell.clone());
        bell
    }
}
