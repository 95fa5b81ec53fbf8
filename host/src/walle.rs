//! WallE: the single write path to the database, on PostgreSQL (production) or an embedded SQLite
//! file (the default). Every table is read and written here through typed repository methods;
//! every business write appends its outbox event in the same transaction, and named
//! [`Consumer`]s read the outbox back in commit-safe order (`walle/outbox.rs` describes the
//! ordering, wake-ups and delivery). Read models kept from the outbox by a consumer of their own
//! live in [`projections`].
//!
//! The backend is chosen by `WEAVER_DATABASE_URL` ([`DbConfig`]). Both backends share one SQL
//! text for most statements (sqlx maps `$N` on SQLite too); the outbox, whose ordering rules
//! differ, has one statement per backend. Migrations live in `migrations/{postgres,sqlite}/` and
//! run on [`Walle::connect`] and on `weaver migrate`.
//!
//! # Invariants
//! - No other module writes a table; they call the methods here.
//! - A row and the event describing it commit together or not at all. An event the
//!   [`Registry`] refuses aborts its transaction (caller-supplied events are checked before it
//!   starts), so a bad event writes nothing.
//! - Writers ring the wake-up only after commit, and only when they appended an event; the
//!   doorbell never carries data (see [`Consumer`] and `walle/outbox.rs`).
//! - SQLite writes go through one writer connection and start with `BEGIN IMMEDIATE`: one writer
//!   at a time, so outbox ids commit in id order. `synchronous = FULL`: a commit survives a power
//!   cut. No code path holds the writer while it waits for another write connection.
//! - Money and quantities of orders and fills are exact decimals (`numeric` / decimal text).
//! - Timestamps are UTC and are written by WallE, never by column defaults, so both backends
//!   store the same instants.
//!
//! # Restores (PostgreSQL)
//! Transaction ids are per cluster. After a logical restore (`pg_dump`/`pg_restore`) into a new
//! cluster the restored outbox rows carry the restore's small xids while stored consumer offsets
//! still hold the old cluster's, so a consumer would silently skip everything until the new
//! cluster's xids caught up. WallE detects this when a consumer opens (its stored xid is one this
//! cluster has not assigned yet) and replays that consumer from the oldest retained event
//! (at-least-once: duplicates, never a loss). An operator who knows the consumers had caught up
//! can instead move every offset to the newest event with `weaver migrate --reset-offsets`.

mod backtests;
mod bar_copy;
mod config;
pub mod faults;
mod jobs;
mod leases;
mod market;
mod notifications;
mod orders;
mod outbox;
pub mod projections;
mod replay;
mod run_charts;
mod run_state;
mod run_versions;
mod runs;
mod settings;
mod shadows;
mod strategies;
mod sweeps;
mod types;
mod walkforward;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::events::{self, Envelope, Registry};

/// Page cache of each SQLite reader connection, in SQLite's `cache_size` notation (negative:
/// KiB): 256 KiB, an eighth of SQLite's default.
const READER_CACHE_SIZE: &str = "-256";

pub use backtests::{Backtest, BacktestReport, BacktestStatus, NewBacktest};
pub use config::{Backend, DbConfig};
pub use faults::{FaultKind, StoreFaults};
pub use jobs::{Job, JobStatus};
pub use leases::{
    ChunkCounts, ChunkLease, JobKind, JobLease, LeaseState, WORK_CHANNEL, chunk_size,
};
pub use market::{Candle, CandleSeries, LiveBar, source_kind};
pub use notifications::{NOTIFY_CONSUMER, NewNotification, Notification, NotificationStatus};
pub use orders::{Fill, NewFill, NewOrder, Order, OrderFilter, OrderPage, OrderState, VenueUpdate};
pub use outbox::{
    Backpressure, Batch, Class, Consumer, ConsumerHealth, ConsumerOptions, ConsumerStats, Dedup,
    Doorbell, EventLog, Feed, HealthOptions, LISTENER_APPLICATION_NAME, Lag, MemoryLog,
    NOTIFY_CHANNEL, Retention, StartFrom, feed,
};
pub use replay::{RecordedDecisions, RunInput};
pub use run_charts::{BarRange, RunFill};
pub use run_state::{LOG_LEVELS, LogFilter, RunAccount, RunBeat, RunLogLine};
pub use run_versions::{NewRunVersion, RunVersion, SwitchMade};
pub use runs::{NewRun, Run, RunMode, RunStatus, StrategyResult};
pub use settings::Setting;
pub use shadows::{Shadow, ShadowDecision};
pub use strategies::{NewStrategy, Strategy, StrategyRef, StrategyStatus};
pub use sweeps::{NewSweepPoint, PointOrder, PointStatus, Sweep, SweepPoint, SweepStatus};
pub use types::Num;
pub use walkforward::{NewWindow, WalkForward, WalkForwardWindow};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable (bad URL, unwritable data directory).
    #[error("database configuration: {0}")]
    Config(String),
    /// The database refused or failed a statement, or is unreachable.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// An event was refused by the registry (nothing was written).
    #[error(transparent)]
    Event(#[from] events::Error),
    /// A row the caller named does not exist.
    #[error("{entity} {key} not found")]
    NotFound {
        /// Table-level name (`order`, `run`, …).
        entity: &'static str,
        /// The key that was looked up.
        key: String,
    },
    /// The input is invalid (for example an order with both quantity and notional).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The write conflicts with the stored state (for example disabling a strategy in use).
    #[error("{message}")]
    Conflict {
        /// Stable code (`strategy_in_use`, `strategy_disabled`).
        code: &'static str,
        /// Human text.
        message: String,
    },
    /// A stored value could not be read back (a corrupt or foreign row).
    #[error("corrupt {column} value {value:?}")]
    Corrupt {
        /// Column name.
        column: &'static str,
        /// The stored text.
        value: String,
    },
}

impl Error {
    /// A stable snake_case code for API errors and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config(_) => "database_config",
            Error::Database(_) => "database_error",
            Error::Migrate(_) => "migration_failed",
            Error::Event(e) => e.code(),
            Error::NotFound { .. } => "not_found",
            Error::Invalid(_) => "invalid_input",
            Error::Conflict { code, .. } => code,
            Error::Corrupt { .. } => "corrupt_row",
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A borrowed connection of either backend; what the query macros run on.
pub(crate) enum Conn<'a> {
    Pg(&'a mut PgConnection),
    Lite(&'a mut SqliteConnection),
}

/// Runs `query_as::<$ty>` with the same SQL and binds on whichever backend `$conn` is.
/// `$method` is `fetch_one`, `fetch_optional` or `fetch_all`.
macro_rules! fetch {
    ($method:ident, $conn:expr, $ty:ty, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $conn {
            $crate::walle::Conn::Pg(c) => {
                sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.$method(&mut *c).await
            }
            $crate::walle::Conn::Lite(c) => {
                sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.$method(&mut *c).await
            }
        }
    };
}

/// Executes a statement on either backend; evaluates to `sqlx::Result<u64>` (rows affected).
macro_rules! exec {
    ($conn:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $conn {
            $crate::walle::Conn::Pg(c) => sqlx::query($sql)$(.bind($arg))*
                .execute(&mut *c).await.map(|r| r.rows_affected()),
            $crate::walle::Conn::Lite(c) => sqlx::query($sql)$(.bind($arg))*
                .execute(&mut *c).await.map(|r| r.rows_affected()),
        }
    };
}

pub(crate) use {exec, fetch};

#[derive(Clone)]
enum Db {
    Pg(PgPool),
    Lite(SqlitePool),
}

struct Inner {
    db: Db,
    registry: Registry,
    wakeup: Wakeup,
    /// Standalone appends, grouped into shared statements by the appender tasks.
    appender: tokio::sync::mpsc::Sender<outbox::AppendRequest>,
    /// PostgreSQL: how listener connections connect (`application_name = weaver-listener`).
    listen_options: Option<PgConnectOptions>,
    /// Where reads go: the same pool on PostgreSQL; on SQLite a pool of reader connections
    /// (WAL readers never wait for the writer).
    reads: Db,
    /// PostgreSQL: a small pool with `synchronous_commit = off` for writes whose loss in a server
    /// crash is harmless: doorbells, and consumer offsets (a lost offset means a redelivery,
    /// which at-least-once consumers handle). Business rows and events never use it. On SQLite
    /// this is the writer pool.
    relaxed: Db,
    shutdown: CancellationToken,
    /// The throttle and consumer health report ([`outbox::Backpressure`]).
    backpressure: outbox::Backpressure,
    /// Whether the store can be written, as its patient writers report it ([`faults`]).
    faults: StoreFaults,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The store. Cheap to clone; all clones share the pools.
#[derive(Clone)]
pub struct Walle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Walle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walle")
            .field("backend", &self.backend_name())
            .finish_non_exhaustive()
    }
}

/// The embedded migrations of one backend.
fn migrator(pg: bool) -> sqlx::migrate::Migrator {
    if pg {
        sqlx::migrate!("../migrations/postgres")
    } else {
        sqlx::migrate!("../migrations/sqlite")
    }
}

impl Walle {
    /// Connects with `config`, applies pending migrations and starts the wake-up machinery
    /// (background tasks: call it inside a tokio runtime). Uses the built-in event [`Registry`].
    ///
    /// # Errors
    /// [`Error::Config`] for an unusable configuration, [`Error::Database`] when the server is
    /// unreachable, [`Error::Migrate`] when a migration fails.
    pub async fn connect(config: &DbConfig) -> Result<Walle> {
        Self::connect_with_registry(config, Registry::builtin()).await
    }

    /// Like [`Walle::connect`] with a caller-supplied registry.
    ///
    /// # Errors
    /// As [`Walle::connect`].
    pub async fn connect_with_registry(config: &DbConfig, registry: Registry) -> Result<Walle> {
        let walle = Self::open(config, registry).await?;
        walle.migrate().await?;
        Ok(walle)
    }

    /// Connects without migrating (what `weaver migrate` uses before it migrates).
    ///
    /// # Errors
    /// As [`Walle::connect`].
    pub async fn open(config: &DbConfig, registry: Registry) -> Result<Walle> {
        let shutdown = CancellationToken::new();
        let doorbell = Arc::new(Notify::new());
        let (db, reads, listen_options, relaxed) = match config.backend()? {
            Backend::Postgres(url) => {
                let opts: PgConnectOptions = url
                    .parse()
                    .map_err(|e| Error::Config(format!("invalid WEAVER_DATABASE_URL: {e}")))?;
                // A long transaction anywhere stalls every outbox consumer (the horizon), so
                // Weaver's own sessions may not hold one open for long.
                let timeouts = [
                    (
                        "statement_timeout",
                        format!("{}ms", config.statement_timeout.as_millis()),
                    ),
                    (
                        "idle_in_transaction_session_timeout",
                        format!("{}ms", config.idle_in_transaction_timeout.as_millis()),
                    ),
                ];
                let pool_opts = opts
                    .clone()
                    .application_name("weaver")
                    .options(timeouts.clone());
                let pool = PgPoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(pool_opts)
                    .await?;
                let relaxed_opts = opts
                    .clone()
                    .application_name("weaver-relaxed")
                    .options(timeouts.clone())
                    .options([("synchronous_commit", "off")]);
                let relaxed = PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(relaxed_opts)
                    .await?;
                let listen = opts.application_name(outbox::LISTENER_APPLICATION_NAME);
                tokio::spawn(ring_doorbell(
                    relaxed.clone(),
                    doorbell.clone(),
                    shutdown.clone(),
                ));
                (
                    Db::Pg(pool.clone()),
                    Db::Pg(pool),
                    Some(listen),
                    Db::Pg(relaxed),
                )
            }
            Backend::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        Error::Config(format!(
                            "cannot create data directory {}: {e}",
                            dir.display()
                        ))
                    })?;
                }
                let opts = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a commit survives a power cut, not only a process crash (an order
                    // intent must be durable before it is sent; NORMAL in WAL mode is not).
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(config.busy_timeout)
                    .foreign_keys(true);
                // One writer connection: SQLite allows one writer anyway, and queueing in the
                // pool is fair and sleep-free, where contending connections would back off in
                // SQLite's busy handler (sleeps of up to 100 ms, the tail latency we measured).
                let writer = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(config.busy_timeout.max(Duration::from_secs(30)))
                    // A commit the disk refused (SQLITE_FULL) leaves the connection inside its
                    // transaction, and every later BEGIN on it failed until a restart: such a
                    // connection is closed (SQLite rolls it back) and the pool opens a fresh
                    // one, so writes recover once there is space again.
                    .after_release(|conn, _| {
                        Box::pin(async move {
                            use sqlx::Connection;
                            Ok(!conn.is_in_transaction())
                        })
                    })
                    .connect_with(opts.clone())
                    .await?;
                // Readers keep a small page cache each (SQLite's default is 2 MiB a connection):
                // with eight of them the caches filled up to ~16 MiB over a day of use and never
                // shrank, and a read that misses costs a copy from the OS's file cache, which
                // holds the database anyway.
                let readers = SqlitePoolOptions::new()
                    .max_connections(config.max_connections.clamp(1, 8))
                    .min_connections(1)
                    .idle_timeout(config.reader_idle_timeout)
                    .connect_with(opts.pragma("cache_size", READER_CACHE_SIZE))
                    .await?;
                // Offsets and doorbells share the writer: SQLite has no cheaper commit to offer
                // while the write lock is taken anyway.
                (
                    Db::Lite(writer.clone()),
                    Db::Lite(readers),
                    None,
                    Db::Lite(writer),
                )
            }
        };
        let (wake, _) = watch::channel(0);
        let wakeup = Wakeup {
            pg: matches!(db, Db::Pg(_)),
            doorbell,
            wake: Arc::new(wake),
        };
        let appender = outbox::spawn_appenders(db.clone(), wakeup.clone());
        Ok(Walle {
            inner: Arc::new(Inner {
                db,
                reads,
                registry,
                wakeup,
                appender,
                listen_options,
                relaxed,
                shutdown,
                backpressure: outbox::Backpressure::default(),
                faults: StoreFaults::default(),
            }),
        })
    }

    /// Applies pending migrations of this backend. Safe to run concurrently (sqlx takes a lock).
    ///
    /// # Errors
    /// [`Error::Migrate`] when a migration fails or the applied history diverges.
    pub async fn migrate(&self) -> Result<()> {
        match &self.inner.db {
            Db::Pg(p) => migrator(true).run(p).await?,
            Db::Lite(p) => migrator(false).run(p).await?,
        }
        Ok(())
    }

    /// The store-fault state its patient writers report to ([`faults`]).
    pub fn faults(&self) -> &StoreFaults {
        &self.inner.faults
    }

    /// `"postgres"` or `"sqlite"`.
    pub fn backend_name(&self) -> &'static str {
        match self.inner.db {
            Db::Pg(_) => "postgres",
            Db::Lite(_) => "sqlite",
        }
    }

    /// The event registry appends are checked against.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The PostgreSQL pool, for tests and benchmarks that need raw access (for example to
    /// terminate listener backends). `None` on SQLite.
    pub fn pg_pool(&self) -> Option<&PgPool> {
        match &self.inner.db {
            Db::Pg(p) => Some(p),
            Db::Lite(_) => None,
        }
    }

    /// SQLite: the pool of reader connections, for tests and benchmarks that watch it grow and
    /// shrink. `None` on PostgreSQL.
    pub fn sqlite_readers(&self) -> Option<&SqlitePool> {
        match &self.inner.reads {
            Db::Lite(p) => Some(p),
            Db::Pg(_) => None,
        }
    }

    /// Closes the pools and stops background tasks.
    pub async fn close(&self) {
        self.inner.shutdown.cancel();
        match &self.inner.db {
            Db::Pg(p) => p.close().await,
            Db::Lite(p) => p.close().await,
        }
        for db in [&self.inner.relaxed, &self.inner.reads] {
            match db {
                Db::Pg(p) => p.close().await,
                Db::Lite(p) => p.close().await,
            }
        }
    }

    pub(crate) fn listen_options(&self) -> Option<&PgConnectOptions> {
        self.inner.listen_options.as_ref()
    }

    pub(crate) fn subscribe_local(&self) -> watch::Receiver<u64> {
        self.inner.wakeup.wake.subscribe()
    }

    pub(crate) fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Starts a write transaction.
    pub(crate) async fn begin(&self) -> Result<Tx> {
        let inner = match &self.inner.db {
            Db::Pg(p) => TxInner::Pg(p.begin().await?),
            // IMMEDIATE takes the write lock now: writers queue on the busy timeout instead of
            // failing on a read-to-write upgrade, and ids commit in id order.
            Db::Lite(p) => TxInner::Lite(p.begin_with("BEGIN IMMEDIATE").await?),
        };
        Ok(Tx {
            inner,
            walle: self.clone(),
            appended: false,
        })
    }

    /// Runs `f` on a pooled connection (reads).
    pub(crate) async fn read<T>(
        &self,
        f: impl AsyncFnOnce(Conn<'_>) -> sqlx::Result<T>,
    ) -> Result<T> {
        Ok(match &self.inner.reads {
            Db::Pg(p) => {
                let mut c = p.acquire().await?;
                f(Conn::Pg(&mut c)).await?
            }
            Db::Lite(p) => {
                let mut c = p.acquire().await?;
                f(Conn::Lite(&mut c)).await?
            }
        })
    }

    fn ring(&self) {
        self.inner.wakeup.ring();
    }

    fn is_pg(&self) -> bool {
        matches!(self.inner.db, Db::Pg(_))
    }
}

/// Wakes consumers after a commit that appended events.
#[derive(Clone)]
struct Wakeup {
    pg: bool,
    /// PostgreSQL: rung after such a commit; one task turns bursts into one `pg_notify`.
    doorbell: Arc<Notify>,
    /// SQLite: bumped after such a commit; in-process consumers watch it.
    wake: Arc<watch::Sender<u64>>,
}

impl Wakeup {
    fn ring(&self) {
        if self.pg {
            self.doorbell.notify_one();
        } else {
            self.wake.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

/// Turns doorbell rings into `pg_notify` calls, outside any business transaction, so NOTIFY's
/// commit-time global lock never sits on the write path. A burst of rings becomes one notify.
/// `pool` is the relaxed pool: a doorbell needs no fsync (a lost one is covered by the poll).
async fn ring_doorbell(pool: PgPool, doorbell: Arc<Notify>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = doorbell.notified() => {}
        }
        if let Err(e) = pg_notify(&pool, outbox::NOTIFY_CHANNEL).await {
            // Consumers still find the events with their poll; say so once per failure.
            tracing::warn!(error = %e, "outbox doorbell failed; consumers fall back to polling");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Sends an empty notification on PostgreSQL `channel`.
async fn pg_notify(pool: &PgPool, channel: &str) -> sqlx::Result<()> {
    sqlx::query("select pg_notify($1, '')")
        .bind(channel)
        .execute(pool)
        .await
        .map(drop)
}

enum TxInner {
    Pg(sqlx::Transaction<'static, Postgres>),
    Lite(sqlx::Transaction<'static, Sqlite>),
}

/// A write transaction. Dropping it without [`Tx::commit`] rolls back.
pub(crate) struct Tx {
    inner: TxInner,
    walle: Walle,
    appended: bool,
}

impl Tx {
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match &mut self.inner {
            TxInner::Pg(t) => Conn::Pg(t),
            TxInner::Lite(t) => Conn::Lite(t),
        }
    }

    /// Appends a validated event to the outbox in this transaction.
    pub(crate) async fn append(&mut self, event: &Envelope) -> Result<()> {
        self.walle.inner.registry.validate(event)?;
        outbox::insert(self.conn(), event).await?;
        self.appended = true;
        Ok(())
    }

    /// Commits, then rings the consumers' wake-up if an event was appended.
    pub(crate) async fn commit(self) -> Result<()> {
        match self.inner {
            TxInner::Pg(t) => t.commit().await?,
            TxInner::Lite(t) => t.commit().await?,
        }
        if self.appended {
            self.walle.ring();
        }
        Ok(())
    }
}

/// A transaction that can only append events: for producers of pure events that need several
/// events to commit atomically, or to commit or roll back at a time of their choosing. Dropping
/// it without [`EventTx::commit`] rolls back.
pub struct EventTx(Tx);

impl std::fmt::Debug for EventTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventTx")
            .field("appended", &self.0.appended)
            .finish()
    }
}

impl EventTx {
    /// Appends an event in this transaction.
    ///
    /// # Errors
    /// [`Error::Event`] when the registry refuses it (the transaction stays usable; the event
    /// is not written), [`Error::Database`].
    pub async fn append(&mut self, event: &Envelope) -> Result<()> {
        self.0.append(event).await
    }

    /// Commits and wakes the consumers.
    ///
    /// # Errors
    /// [`Error::Database`]; then nothing was written.
    pub async fn commit(self) -> Result<()> {
        self.0.commit().await
    }

    /// Rolls back: none of its events are ever delivered.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn rollback(self) -> Result<()> {
        match self.0.inner {
            TxInner::Pg(t) => t.rollback().await?,
            TxInner::Lite(t) => t.rollback().await?,
        }
        Ok(())
    }
}

impl Walle {
    /// Starts an [`EventTx`].
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn begin_events(&self) -> Result<EventTx> {
        Ok(EventTx(self.begin().await?))
    }
}

/// Parses a stored enum text (snake_case, as serde writes it).
pub(crate) fn parse_text<T: serde::de::DeserializeOwned>(
    column: &'static str,
    s: &str,
) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| Error::Corrupt {
        column,
        value: s.to_owned(),
    })
}

/// The stored text of an enum (its serde snake_case name).
pub(crate) fn text_of<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        // Only unit-variant enums are stored as text; anything else is a programming error
        // that the contract tests catch, stored visibly rather than panicking.
        other => format!("{other:?}"),
    }
}
