//! The outbox table: append, ordered fetch below the horizon, consumer offsets, retention, lag.
//!
//! # Invariants
//! - PostgreSQL fetches, lag counts and head positions use the same horizon,
//!   `transaction_id < pg_snapshot_xmin(pg_current_snapshot())`, inside one statement.
//! - Offsets only move forward, except the explicit resets (restore recovery, `--reset-offsets`).
//! - A purge never deletes a row above any registered consumer's offset.
//! - A grouped append reports success to a caller only after the statement holding its events
//!   committed.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::EventKind;
use crate::events::{Cursor, Envelope, StartFrom, StoredEvent};

use super::{Conn, Db, Error, Result, TxInner, Wakeup, Walle, exec, fetch, text_of};
use sqlx::{Postgres, Sqlite};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    xid: i64,
    event_id: Uuid,
    kind: String,
    event_type: String,
    version: i32,
    run_id: Option<String>,
    corr_id: String,
    causation_id: Option<String>,
    trace_id: Option<String>,
    ts: DateTime<Utc>,
    producer: String,
    headers: Json<BTreeMap<String, String>>,
    payload: Json<serde_json::Value>,
    created_at: DateTime<Utc>,
}

impl Row {
    fn into_event(self) -> Result<StoredEvent> {
        let kind = match self.kind.as_str() {
            "evt" => EventKind::Evt,
            "cmd" => EventKind::Cmd,
            _ => {
                return Err(Error::Corrupt {
                    column: "outbox.kind",
                    value: self.kind,
                });
            }
        };
        Ok(StoredEvent {
            cursor: Cursor {
                xid: self.xid,
                id: self.id,
            },
            stored_at: self.created_at,
            envelope: Envelope {
                id: self.event_id,
                kind,
                event_type: self.event_type,
                version: u32::try_from(self.version).unwrap_or_default(),
                run_id: self.run_id,
                corr_id: self.corr_id,
                causation_id: self.causation_id,
                trace_id: self.trace_id,
                ts: self.ts,
                producer: self.producer,
                headers: self.headers.0,
                payload: self.payload.0,
            },
        })
    }
}

/// Inserts one (already validated) event. On PostgreSQL `transaction_id` defaults to the
/// writing transaction's id.
pub(super) async fn insert(conn: Conn<'_>, e: &Envelope) -> sqlx::Result<u64> {
    let now = Utc::now();
    let version = i32::try_from(e.version).unwrap_or(i32::MAX);
    exec!(
        conn,
        "insert into outbox (event_id, kind, event_type, version, run_id, corr_id, causation_id, \
         trace_id, ts, producer, headers, payload, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
        e.id,
        text_of(&e.kind),
        e.event_type.as_str(),
        version,
        e.run_id.as_deref(),
        e.corr_id.as_str(),
        e.causation_id.as_deref(),
        e.trace_id.as_deref(),
        e.ts,
        e.producer.as_str(),
        Json(&e.headers),
        Json(&e.payload),
        now,
    )
}

/// Rows per multi-row insert: 13 parameters a row stays far below both backends' limits.
const MAX_ROWS_PER_INSERT: usize = 1000;

/// Inserts already validated events with one multi-row statement on `$exec`.
macro_rules! insert_many {
    ($db:ty, $exec:expr, $events:expr) => {{
        let now = Utc::now();
        let mut q = sqlx::QueryBuilder::<$db>::new(
            "insert into outbox (event_id, kind, event_type, version, run_id, corr_id, causation_id, \
             trace_id, ts, producer, headers, payload, created_at, updated_at) ",
        );
        q.push_values($events.iter(), |mut row, e| {
            row.push_bind(e.id)
                .push_bind(text_of(&e.kind))
                .push_bind(e.event_type.as_str())
                .push_bind(i32::try_from(e.version).unwrap_or(i32::MAX))
                .push_bind(e.run_id.as_deref())
                .push_bind(e.corr_id.as_str())
                .push_bind(e.causation_id.as_deref())
                .push_bind(e.trace_id.as_deref())
                .push_bind(e.ts)
                .push_bind(e.producer.as_str())
                .push_bind(Json(&e.headers))
                .push_bind(Json(&e.payload))
                .push_bind(now)
                .push_bind(now);
        });
        q.build().execute($exec).await?;
    }};
}

/// One caller's standalone append, waiting for its group's commit.
pub(super) struct AppendRequest {
    events: Vec<Envelope>,
    done: oneshot::Sender<Result<()>>,
}

/// How many appender tasks run statements in parallel (each groups what is queued).
const APPENDERS: usize = 4;

/// Starts the appender tasks; they end when the last sender (the store) is dropped.
pub(super) fn spawn_appenders(db: Db, wakeup: Wakeup) -> mpsc::Sender<AppendRequest> {
    let (tx, rx) = mpsc::channel::<AppendRequest>(4096);
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..APPENDERS {
        tokio::spawn(appender(db.clone(), wakeup.clone(), rx.clone()));
    }
    tx
}

async fn appender(db: Db, wakeup: Wakeup, rx: Arc<Mutex<mpsc::Receiver<AppendRequest>>>) {
    loop {
        let mut group = Vec::new();
        {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut rows = first.events.len();
            group.push(first);
            while rows < MAX_ROWS_PER_INSERT {
                match rx.try_recv() {
                    Ok(next) if rows + next.events.len() <= MAX_ROWS_PER_INSERT => {
                        rows += next.events.len();
                        group.push(next);
                    }
                    Ok(next) => {
                        // Too big to join this group: it gets a statement of its own below.
                        group.push(next);
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        let all: Vec<&Envelope> = group.iter().flat_map(|r| r.events.iter()).collect();
        let shared = insert_all(&db, &all).await;
        match shared {
            Ok(()) if all.len() <= MAX_ROWS_PER_INSERT => {
                wakeup.ring();
                for r in group {
                    let _ = r.done.send(Ok(()));
                }
            }
            _ => {
                // The shared statement failed (say, one caller's duplicate event id) or was too
                // big: give every caller its own statement and its own result.
                let mut any = false;
                for r in group {
                    let refs: Vec<&Envelope> = r.events.iter().collect();
                    let result = insert_all(&db, &refs).await;
                    any |= result.is_ok();
                    let _ = r.done.send(result);
                }
                if any {
                    wakeup.ring();
                }
            }
        }
    }
}

async fn insert_all(db: &Db, events: &[&Envelope]) -> Result<()> {
    if events.len() > MAX_ROWS_PER_INSERT {
        return Err(Error::Invalid("too many events for one statement".into()));
    }
    match db {
        Db::Pg(p) => insert_many!(Postgres, p, events),
        Db::Lite(p) => insert_many!(Sqlite, p, events),
    }
    Ok(())
}

/// How much a consumer has left to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lag {
    /// Events after the consumer's offset that it could fetch now (below the horizon).
    pub events: i64,
    /// Age of the oldest of them, in seconds (0 when there are none).
    pub oldest_seconds: f64,
}

/// How long events are kept. Audit events (the trading record: namespaces `orders`, `run`,
/// `strategy`) have their own, normally longer, age. Neither ever deletes an event above the
/// slowest consumer's offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Age after which other events may be deleted.
    pub events: Duration,
    /// Age after which audit events may be deleted.
    pub audit: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            events: Duration::from_secs(7 * 86_400),
            audit: Duration::from_secs(400 * 86_400),
        }
    }
}

impl Retention {
    /// Reads `WEAVER_EVENT_RETENTION_DAYS` (default 7) and `WEAVER_AUDIT_RETENTION_DAYS`
    /// (default 400). The audit age may not be shorter than the event age.
    ///
    /// # Errors
    /// [`Error::Config`] for a value that is not a whole number of days, or an audit retention
    /// shorter than the event retention.
    pub fn from_env() -> Result<Retention> {
        Retention::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Retention::from_env`] over any variable source.
    ///
    /// # Errors
    /// As [`Retention::from_env`].
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Retention> {
        let days = |name: &str, default: Duration| -> Result<Duration> {
            match var(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(|d| Duration::from_secs(d * 86_400))
                    .map_err(|_| {
                        Error::Config(format!("{name} must be a whole number of days, got {v:?}"))
                    }),
            }
        };
        let d = Retention::default();
        let r = Retention {
            events: days("WEAVER_EVENT_RETENTION_DAYS", d.events)?,
            audit: days("WEAVER_AUDIT_RETENTION_DAYS", d.audit)?,
        };
        if r.audit < r.events {
            return Err(Error::Config(
                "WEAVER_AUDIT_RETENTION_DAYS may not be shorter than WEAVER_EVENT_RETENTION_DAYS"
                    .into(),
            ));
        }
        Ok(r)
    }
}

// The consumer's queries. Each must stay an index probe whatever the outbox holds (a week of
// events by default): they run on every wake-up, and a sequential scan of a large outbox there
// stalls every consumer for tens of milliseconds. `query_plans` exposes their plans to the test
// that keeps it so.

const PG_FETCH: &str = "select id, transaction_id::text::bigint as xid, event_id, kind, event_type, \
     version, run_id, corr_id, causation_id, trace_id, ts, producer, headers, payload, created_at \
     from outbox where (transaction_id, id) > ($1::text::xid8, $2) \
       and transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
     order by transaction_id, id limit $3";
const LITE_FETCH: &str = "select id, 0 as xid, event_id, kind, event_type, version, run_id, \
     corr_id, causation_id, trace_id, ts, producer, headers, payload, created_at \
     from outbox where id > $1 order by id limit $2";
// The order by is what makes this an index probe: with a bare `limit 1` the planner picks a
// "cheap" sequential scan that, with the cursor near the head, reads the whole table first.
const PG_HAS_AFTER: &str = "select id from outbox where (transaction_id, id) > ($1::text::xid8, $2) \
     order by transaction_id, id limit 1";
const LITE_HAS_AFTER: &str = "select id from outbox where id > $1 order by id limit 1";
// `as xid`: unnamed, the cast would be an output column called `transaction_id`, the order by
// would sort by that text-to-bigint expression, and the index could not serve it.
const PG_HEAD: &str = "select transaction_id::text::bigint as xid, id from outbox \
     where transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
     order by transaction_id desc, id desc limit 1";
const LITE_HEAD: &str = "select 0, id from outbox order by id desc limit 1";
const PG_LAG: &str = "select count(*), min(created_at) from outbox \
     where (transaction_id, id) > ($1::text::xid8, $2) \
       and transaction_id < pg_snapshot_xmin(pg_current_snapshot())";
const LITE_LAG: &str = "select count(*), min(created_at) from outbox where id > $1";

/// One consumer query, for [`Walle::query_plans`].
struct Planned {
    name: &'static str,
    pg: &'static str,
    /// `PREPARE` parameter types and `EXECUTE` arguments for `pg` (values don't matter to a
    /// generic plan).
    pg_params: &'static str,
    pg_args: &'static str,
    lite: &'static str,
}

const PLANNED: [Planned; 4] = [
    Planned {
        name: "fetch",
        pg: PG_FETCH,
        pg_params: "(text, bigint, bigint)",
        pg_args: "('0', 0, 100)",
        lite: LITE_FETCH,
    },
    Planned {
        name: "has_events_after",
        pg: PG_HAS_AFTER,
        pg_params: "(text, bigint)",
        pg_args: "('0', 0)",
        lite: LITE_HAS_AFTER,
    },
    Planned {
        name: "head",
        pg: PG_HEAD,
        pg_params: "",
        pg_args: "",
        lite: LITE_HEAD,
    },
    Planned {
        name: "lag",
        pg: PG_LAG,
        pg_params: "(text, bigint)",
        pg_args: "('0', 0)",
        lite: LITE_LAG,
    },
];

const AUDIT: &str =
    "(o.event_type like 'orders.%' or o.event_type like 'run.%' or o.event_type like 'strategy.%')";

impl Walle {
    /// Appends a standalone event (no business row) in its own transaction.
    ///
    /// # Errors
    /// [`Error::Event`] when the registry refuses it (nothing written), [`Error::Database`].
    pub async fn append(&self, event: &Envelope) -> Result<()> {
        self.append_batch(std::slice::from_ref(event)).await
    }

    /// Appends several events atomically: all or none.
    ///
    /// # Errors
    /// As [`Walle::append`]; one bad event refuses the whole batch before anything is written.
    pub async fn append_batch(&self, events: &[Envelope]) -> Result<()> {
        for e in events {
            self.inner.registry.validate(e)?;
        }
        if events.is_empty() {
            return Ok(());
        }
        if events.len() <= MAX_ROWS_PER_INSERT {
            // Concurrent standalone appends share one multi-row statement (one statement is one
            // transaction): group commit, so a burst of single-event appends costs a few commits,
            // not one fsync each. Each caller still gets its own result.
            let (done, result) = oneshot::channel();
            self.inner
                .appender
                .send(AppendRequest {
                    events: events.to_vec(),
                    done,
                })
                .await
                .map_err(|_| Error::Config("the store is closed".into()))?;
            return result
                .await
                .map_err(|_| Error::Config("the store is closed".into()))?;
        }
        let mut tx = self.begin().await?;
        for chunk in events.chunks(MAX_ROWS_PER_INSERT) {
            match &mut tx.inner {
                TxInner::Pg(t) => insert_many!(Postgres, &mut **t, chunk),
                TxInner::Lite(t) => insert_many!(Sqlite, &mut **t, chunk),
            }
        }
        tx.appended = true;
        tx.commit().await
    }

    /// Up to `limit` events after `after`, in delivery order. On PostgreSQL only events whose
    /// writing transaction is below the snapshot horizon are returned, in one statement, so a
    /// still-open writer can delay but never be skipped.
    ///
    /// # Errors
    /// [`Error::Database`], or [`Error::Corrupt`] for an unreadable row.
    pub async fn fetch_events(&self, after: Cursor, limit: i64) -> Result<Vec<StoredEvent>> {
        let rows = if self.is_pg() {
            self.read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    Row,
                    PG_FETCH,
                    after.xid.to_string(),
                    after.id,
                    limit,
                )
            })
            .await?
        } else {
            self.read(async |c| fetch!(fetch_all, c, Row, LITE_FETCH, after.id, limit))
                .await?
        };
        rows.into_iter().map(Row::into_event).collect()
    }

    /// Whether any event after `after` exists at all, including ones still above the horizon
    /// (committed rows held back by an older open transaction).
    pub(crate) async fn has_events_after(&self, after: Cursor) -> Result<bool> {
        let found: Option<(i64,)> = if self.is_pg() {
            self.read(async |c| {
                fetch!(
                    fetch_optional,
                    c,
                    (i64,),
                    PG_HAS_AFTER,
                    after.xid.to_string(),
                    after.id,
                )
            })
            .await?
        } else {
            self.read(async |c| fetch!(fetch_optional, c, (i64,), LITE_HAS_AFTER, after.id))
                .await?
        };
        Ok(found.is_some())
    }

    /// Every event of the outbox, in delivery order, ignoring the horizon (tests, exports).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn count_events(&self) -> Result<i64> {
        let (n,): (i64,) = self
            .read(async |c| fetch!(fetch_one, c, (i64,), "select count(*) from outbox"))
            .await?;
        Ok(n)
    }

    /// The stored offset of `consumer`, registering it on first use (`start` says where a new
    /// consumer begins). Registered consumers hold back retention.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn consumer_offset(&self, consumer: &str, start: StartFrom) -> Result<Cursor> {
        if consumer.is_empty() {
            return Err(Error::Invalid("consumer name is empty".into()));
        }
        if let Some(c) = self.stored_offset(consumer).await? {
            if self.is_pg() && c.xid >= self.next_xid().await? {
                // An xid this cluster has not handed out yet: the offset was written in another
                // cluster (a restore from a dump). Skipping ahead could lose events, so replay.
                tracing::warn!(
                    consumer,
                    stored_xid = c.xid,
                    "consumer offset is from another PostgreSQL cluster (restore?); replaying from the oldest retained event"
                );
                self.force_offset(consumer, Cursor::default()).await?;
                return Ok(Cursor::default());
            }
            return Ok(c);
        }
        let initial = match start {
            StartFrom::Beginning => Cursor::default(),
            StartFrom::Latest => self.head().await?,
        };
        let now = Utc::now();
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            if self.is_pg() {
                "insert into consumer_offsets (consumer, last_xid, last_id, created_at, updated_at) \
                 values ($1, $2::text::xid8, $3, $4, $4) on conflict (consumer) do nothing"
            } else {
                "insert into consumer_offsets (consumer, last_xid, last_id, created_at, updated_at) \
                 values ($1, cast($2 as integer), $3, $4, $4) on conflict (consumer) do nothing"
            },
            consumer,
            initial.xid.to_string(),
            initial.id,
            now,
        )?;
        tx.commit().await?;
        // Another process may have registered it first; its row wins.
        Ok(self.stored_offset(consumer).await?.unwrap_or(initial))
    }

    async fn stored_offset(&self, consumer: &str) -> Result<Option<Cursor>> {
        let sql = if self.is_pg() {
            "select last_xid::text::bigint, last_id from consumer_offsets where consumer = $1"
        } else {
            "select last_xid, last_id from consumer_offsets where consumer = $1"
        };
        let row: Option<(i64, i64)> = self
            .read(async |c| fetch!(fetch_optional, c, (i64, i64), sql, consumer))
            .await?;
        Ok(row.map(|(xid, id)| Cursor { xid, id }))
    }

    /// PostgreSQL: the next transaction id this cluster will assign.
    async fn next_xid(&self) -> Result<i64> {
        let (x,): (i64,) = self
            .read(async |c| {
                fetch!(
                    fetch_one,
                    c,
                    (i64,),
                    "select pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
                )
            })
            .await?;
        Ok(x)
    }

    /// Sets an offset unconditionally (restore recovery; normal commits only move forward).
    async fn force_offset(&self, consumer: &str, to: Cursor) -> Result<()> {
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            if self.is_pg() {
                "update consumer_offsets set last_xid = $2::text::xid8, last_id = $3, updated_at = $4 where consumer = $1"
            } else {
                "update consumer_offsets set last_xid = cast($2 as integer), last_id = $3, updated_at = $4 where consumer = $1"
            },
            consumer,
            to.xid.to_string(),
            to.id,
            Utc::now()
        )?;
        tx.commit().await
    }

    /// The newest position a consumer could have reached now.
    async fn head(&self) -> Result<Cursor> {
        let row: Option<(i64, i64)> = if self.is_pg() {
            self.read(async |c| fetch!(fetch_optional, c, (i64, i64), PG_HEAD))
                .await?
        } else {
            self.read(async |c| fetch!(fetch_optional, c, (i64, i64), LITE_HEAD))
                .await?
        };
        Ok(row.map(|(xid, id)| Cursor { xid, id }).unwrap_or_default())
    }

    /// Moves `consumer`'s offset forward to `to` (never backwards).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unregistered consumer, [`Error::Database`].
    pub async fn commit_offset(&self, consumer: &str, to: Cursor) -> Result<()> {
        let now = Utc::now();
        // One autocommit statement on the relaxed pool: no fsync wait, and on SQLite no write
        // lock held across round trips.
        let n = match &self.inner.relaxed {
            Db::Pg(relaxed) => sqlx::query(
                "update consumer_offsets set last_xid = $2::text::xid8, last_id = $3, updated_at = $4 \
                 where consumer = $1 and (last_xid, last_id) <= ($2::text::xid8, $3)",
            )
            .bind(consumer)
            .bind(to.xid.to_string())
            .bind(to.id)
            .bind(now)
            .execute(relaxed)
            .await?
            .rows_affected(),
            Db::Lite(relaxed) => sqlx::query(
                "update consumer_offsets set last_xid = 0, last_id = $2, updated_at = $3 \
                 where consumer = $1 and last_id <= $2",
            )
            .bind(consumer)
            .bind(to.id)
            .bind(now)
            .execute(relaxed)
            .await?
            .rows_affected(),
        };
        if n == 0 && self.stored_offset(consumer).await?.is_none() {
            return Err(Error::NotFound {
                entity: "consumer",
                key: consumer.to_owned(),
            });
        }
        Ok(())
    }

    /// Removes a consumer's offset so it no longer holds back retention.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn drop_consumer(&self, consumer: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "delete from consumer_offsets where consumer = $1",
            consumer
        )?;
        tx.commit().await
    }

    /// Moves every registered consumer to the current head (after a restore into a new
    /// PostgreSQL cluster, see the module docs). Returns how many offsets moved.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn reset_offsets_to_head(&self) -> Result<u64> {
        let head = self.head().await?;
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let sql = if self.is_pg() {
            "update consumer_offsets set last_xid = $1::text::xid8, last_id = $2, updated_at = $3"
        } else {
            "update consumer_offsets set last_xid = 0, last_id = $2, updated_at = $3 where $1 = $1"
        };
        let n = exec!(tx.conn(), sql, head.xid.to_string(), head.id, now)?;
        tx.commit().await?;
        Ok(n)
    }

    /// Deletes events older than the retention ages, in batches of `batch`, never one above the
    /// slowest registered consumer's offset. Returns how many were deleted.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn purge_events(&self, retention: Retention, batch: i64) -> Result<u64> {
        let now = Utc::now();
        let age =
            |d: Duration| now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let (events_cutoff, audit_cutoff) = (age(retention.events), age(retention.audit));
        let behind = if self.is_pg() {
            "not exists (select 1 from consumer_offsets c \
             where (o.transaction_id, o.id) > (c.last_xid, c.last_id))"
        } else {
            "not exists (select 1 from consumer_offsets c where o.id > c.last_id)"
        };
        let sql = format!(
            "delete from outbox where id in (select o.id from outbox o \
             where ((not {AUDIT} and o.created_at < $1) or ({AUDIT} and o.created_at < $2)) \
             and {behind} order by o.id limit $3)"
        );
        let mut total = 0;
        loop {
            let mut tx = self.begin().await?;
            let n = exec!(
                tx.conn(),
                sqlx::AssertSqlSafe(sql.clone()),
                events_cutoff,
                audit_cutoff,
                batch.max(1)
            )?;
            tx.commit().await?;
            total += n;
            if n < u64::try_from(batch.max(1)).unwrap_or(1) {
                return Ok(total);
            }
        }
    }

    /// Purges by `retention` every `every` until `stop` is cancelled (what `weaver serve` runs).
    /// A failed round is logged and retried at the next one.
    pub async fn run_retention(
        &self,
        retention: Retention,
        every: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            match self.purge_events(retention, 5_000).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "outbox retention purged events"),
                Err(e) => {
                    tracing::warn!(error = %e, "outbox retention failed; retrying next round")
                }
            }
        }
    }

    /// The lag of one consumer, counted with the same horizon as its fetch.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown consumer, [`Error::Database`].
    pub async fn consumer_lag(&self, consumer: &str) -> Result<Lag> {
        let at = self
            .stored_offset(consumer)
            .await?
            .ok_or_else(|| Error::NotFound {
                entity: "consumer",
                key: consumer.to_owned(),
            })?;
        let (events, oldest): (i64, Option<DateTime<Utc>>) = if self.is_pg() {
            self.read(async |c| {
                fetch!(
                    fetch_one,
                    c,
                    (i64, Option<DateTime<Utc>>),
                    PG_LAG,
                    at.xid.to_string(),
                    at.id,
                )
            })
            .await?
        } else {
            self.read(async |c| fetch!(fetch_one, c, (i64, Option<DateTime<Utc>>), LITE_LAG, at.id))
                .await?
        };
        let oldest_seconds = oldest
            .map(|t| (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        Ok(Lag {
            events,
            oldest_seconds,
        })
    }

    /// The plan the database chooses for each of the consumer's queries, by name: on PostgreSQL
    /// the generic plan (what a prepared statement settles on after five runs, so what a
    /// long-lived consumer really executes), on SQLite `EXPLAIN QUERY PLAN`. Diagnostics, and
    /// the test that keeps these queries index probes.
    ///
    /// # Errors
    /// [`Error::Database`].
    #[doc(hidden)]
    pub async fn query_plans(&self) -> Result<Vec<(&'static str, String)>> {
        use sqlx::{Connection as _, Row as _};
        let mut plans = Vec::new();
        match &self.inner.db {
            Db::Pg(_) => {
                // A connection of its own: prepared statements are session state, and this one
                // is closed (with them) at the end instead of going back to the pool.
                let options = self.listen_options().cloned().ok_or_else(|| {
                    Error::Config("no PostgreSQL connect options for this store".into())
                })?;
                let mut conn = sqlx::PgConnection::connect_with(&options).await?;
                sqlx::raw_sql("set plan_cache_mode = force_generic_plan")
                    .execute(&mut conn)
                    .await?;
                for Planned {
                    name,
                    pg,
                    pg_params,
                    pg_args,
                    ..
                } in PLANNED
                {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "prepare weaver_plan_{name}{pg_params} as {pg}"
                    )))
                    .execute(&mut conn)
                    .await?;
                    let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "explain execute weaver_plan_{name}{pg_args}"
                    )))
                    .fetch_all(&mut conn)
                    .await?;
                    let lines: Vec<String> = rows
                        .iter()
                        .map(|r| r.try_get::<String, _>(0))
                        .collect::<sqlx::Result<_>>()?;
                    plans.push((name, lines.join("\n")));
                }
                conn.close().await?;
            }
            Db::Lite(pool) => {
                for Planned { name, lite, .. } in PLANNED {
                    let rows =
                        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("explain query plan {lite}")))
                            .fetch_all(pool)
                            .await?;
                    let lines: Vec<String> = rows
                        .iter()
                        .map(|r| r.try_get::<String, _>("detail"))
                        .collect::<sqlx::Result<_>>()?;
                    plans.push((name, lines.join("\n")));
                }
            }
        }
        Ok(plans)
    }

    /// Names of all registered consumers.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn consumers(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = self
            .read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    (String,),
                    "select consumer from consumer_offsets order by consumer"
                )
            })
            .await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    /// PostgreSQL: age in seconds of the oldest transaction in the cluster that holds an xid,
    /// i.e. how long the outbox horizon may have been stuck. Always 0 on SQLite.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn horizon_stall_seconds(&self) -> Result<f64> {
        if !self.is_pg() {
            return Ok(0.0);
        }
        let (s,): (f64,) = self
            .read(async |c| {
                fetch!(
                    fetch_one,
                    c,
                    (f64,),
                    "select coalesce(extract(epoch from max(clock_timestamp() - xact_start)), 0)::float8 \
                     from pg_stat_activity where backend_xid is not null"
                )
            })
            .await?;
        Ok(s)
    }

    /// Publishes the outbox gauges to the `metrics` recorder: `weaver_outbox_lag_events` and
    /// `weaver_outbox_lag_seconds` per consumer, `weaver_outbox_horizon_stall_seconds`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn record_outbox_metrics(&self) -> Result<()> {
        for name in self.consumers().await? {
            let lag = self.consumer_lag(&name).await?;
            metrics::gauge!("weaver_outbox_lag_events", "consumer" => name.clone())
                .set(lag.events as f64);
            metrics::gauge!("weaver_outbox_lag_seconds", "consumer" => name)
                .set(lag.oldest_seconds);
        }
        metrics::gauge!("weaver_outbox_horizon_stall_seconds")
            .set(self.horizon_stall_seconds().await?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_reads_days_and_refuses_a_short_audit_age() {
        let vars = |events: &'static str, audit: &'static str| {
            move |name: &str| match name {
                "WEAVER_EVENT_RETENTION_DAYS" => Some(events.to_owned()),
                "WEAVER_AUDIT_RETENTION_DAYS" => Some(audit.to_owned()),
                _ => None,
            }
        };
        let r = Retention::from_vars(vars("2", "30")).unwrap();
        assert_eq!(r.events, Duration::from_secs(2 * 86_400));
        assert_eq!(r.audit, Duration::from_secs(30 * 86_400));
        assert_eq!(
            Retention::from_vars(|_| None).unwrap(),
            Retention::default()
        );
        assert_eq!(
            Retention::from_vars(vars("30", "2")).unwrap_err().code(),
            "database_config"
        );
        assert_eq!(
            Retention::from_vars(vars("two", "30")).unwrap_err().code(),
            "database_config"
        );
    }
}
