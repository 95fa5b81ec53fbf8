//! The transactional outbox: append and ordered fetch below the horizon (here), consumer offsets
//! and lag (`offsets.rs`), the [`EventLog`] interface consumers read it through with its
//! wake-ups (`log.rs`), the named [`Consumer`] (`consumer.rs`), consumer health and
//! backpressure (`health.rs`), and retention (`retention.rs`).
//!
//! Producers never write the outbox directly: every event is appended here in the same
//! transaction as the business write it describes ([`Walle::append`], or a typed repository
//! method such as `Walle::insert_order_intent`). A [`Consumer`] then reads the outbox in order from
//! its stored offset.
//!
//! # Ordering and the gap problem
//! - **PostgreSQL**: every outbox row carries the id of the transaction that wrote it
//!   (`transaction_id xid8 default pg_current_xact_id()`). Consumers read in `(transaction_id, id)`
//!   order and only rows whose transaction id is below `pg_snapshot_xmin(pg_current_snapshot())`,
//!   in one statement. Every transaction below that horizon has finished, so no row can later
//!   appear below a consumer's cursor: a late-committing writer stalls consumers, it is never
//!   skipped (`docs/adr/0003-transactional-outbox-xid8.md`).
//! - **SQLite**: one writer at a time (`BEGIN IMMEDIATE`), so `AUTOINCREMENT` ids commit in order.
//!
//! # Appends
//! A business write appends its event inside its own transaction. Standalone appends
//! ([`Walle::append`]) from concurrent callers are grouped into one multi-row statement by a few
//! appender tasks (group commit): each caller still gets its own result, and a group that fails
//! is retried caller by caller, so one caller's bad row never fails another.
//!
//! # Wake-ups
//! NOTIFY is a doorbell, never a delivery. On PostgreSQL a writer rings a coalescing doorbell task
//! after commit (outside the business transaction), which issues `pg_notify` on
//! [`NOTIFY_CHANNEL`]. Each consumer owns a listener connection (`application_name =
//! weaver-listener`, [`LISTENER_APPLICATION_NAME`]); after any reconnect it re-`LISTEN`s first
//! and then wakes its consumer to catch up. A poll timer is the backstop for lost doorbells (a
//! crash between commit and notify). While committed events are held back by an older open
//! transaction, which may end without a doorbell (a rollback, or a transaction that wrote no
//! event), the consumer re-checks with a short backoff (at most 20 ms). Consumers on PostgreSQL
//! are woken only through `LISTEN`, even in the writer's process, so that path is always the one
//! exercised. On SQLite the wake-up is an in-process `watch` channel.
//!
//! # Delivery and deduplication
//! Delivery is at-least-once. A consumer's offset is the `(transaction_id, id)` of the last event it
//! committed; events at or below it are never fetched again, so the only possible duplicates are
//! events after the offset that were handed out but not committed (a crash or a failed commit
//! mid-batch; on PostgreSQL offsets are written with `synchronous_commit = off`, so a server crash
//! may also forget the last fraction of a second of offset progress). Those are redelivered in
//! the same order, and a consumer removes them by event id: in-process consumers with [`Dedup`],
//! consumers with durable effects by keying the effect on the event id or on a natural
//! idempotency key (orders are idempotent by `client_order_id`, fills by venue fill id). The
//! contract tests count duplicates after this deduplication (0) for the gap torture and for a
//! consumer killed mid-batch.
//!
//! # Metrics
//! [`Walle::record_outbox_metrics`] sets `weaver_outbox_lag_events` and
//! `weaver_outbox_lag_seconds` per consumer (counted below the same horizon as the fetch) and
//! `weaver_outbox_horizon_stall_seconds` (age of the oldest transaction holding an xid);
//! consumers count `weaver_listener_reconnects_total` and `weaver_outbox_poll_wakeups_total`.
//!
//! # Invariants
//! - PostgreSQL fetches, lag counts and head positions use the same horizon,
//!   `transaction_id < pg_snapshot_xmin(pg_current_snapshot())`, inside one statement.
//! - A consumer's cursor only moves forward, and only over rows whose writers have finished.
//! - Offsets only move forward, except the explicit resets (restore recovery, `--reset-offsets`).
//! - Retention never deletes an event above the slowest registered consumer's offset.
//! - A grouped append reports success to a caller only after the statement holding its events
//!   committed.

mod consumer;
pub mod feed;
mod health;
mod log;
mod offsets;
mod retention;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Postgres, Sqlite};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use crate::domain::EventKind;
use crate::events::{Cursor, Envelope, StoredEvent};

use super::{Conn, Db, Error, Result, TxInner, Wakeup, Walle, exec, fetch, text_of};

pub use consumer::{Batch, Consumer, ConsumerOptions, ConsumerStats, Dedup, StartFrom};
pub use feed::Feed;
pub use health::{Backpressure, Class, ConsumerHealth, HealthOptions};
pub use log::{Doorbell, EventLog, MemoryLog};
pub use offsets::Lag;
pub use retention::Retention;

/// The PostgreSQL NOTIFY channel the outbox doorbell rings on.
pub const NOTIFY_CHANNEL: &str = "weaver_outbox";

/// The `application_name` of every outbox listener connection, so operators and tests can find
/// (and `pg_terminate_backend`) them.
pub const LISTENER_APPLICATION_NAME: &str = "weaver-listener";

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

/// Multi-row inserts of at most this many rows stay in the connection's statement cache.
const PREPARED_ROWS: usize = 4;

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
        // Each count of rows is its own SQL text, and a prepared statement of many rows is
        // large: cached (sqlx keeps 100 per connection) they held ~40 MB of SQLite's memory
        // for good once runs had appended groups of every size. Only the common small ones
        // are kept prepared.
        q.build()
            .persistent($events.len() <= PREPARED_ROWS)
            .execute($exec)
            .await?;
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
const PG_BY_CORR: &str = "select id, transaction_id::text::bigint as xid, event_id, kind, event_type, \
     version, run_id, corr_id, causation_id, trace_id, ts, producer, headers, payload, created_at \
     from outbox where corr_id = $1 and (transaction_id, id) > ($2::text::xid8, $3) \
       and transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
     order by transaction_id, id limit $4";
const LITE_BY_CORR: &str = "select id, 0 as xid, event_id, kind, event_type, version, run_id, \
     corr_id, causation_id, trace_id, ts, producer, headers, payload, created_at \
     from outbox where corr_id = $1 and id > $2 order by id limit $3";
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

    /// Up to `limit` events of the correlation `corr_id` after `after`, in delivery order: the
    /// chain of everything one request caused (served by the `outbox_corr_idx` index).
    ///
    /// # Errors
    /// [`Error::Database`], or [`Error::Corrupt`] for an unreadable row.
    pub async fn events_by_corr(
        &self,
        corr_id: &str,
        after: Cursor,
        limit: i64,
    ) -> Result<Vec<StoredEvent>> {
        let rows = if self.is_pg() {
            self.read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    Row,
                    PG_BY_CORR,
                    corr_id,
                    after.xid.to_string(),
                    after.id,
                    limit,
                )
            })
            .await?
        } else {
            self.read(async |c| fetch!(fetch_all, c, Row, LITE_BY_CORR, corr_id, after.id, limit))
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
