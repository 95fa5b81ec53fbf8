//! The composition root: what `weaver serve` builds, starts and stops, in one place to read.
//!
//! - [`App::build`] opens the store (migrations included) and creates the sandbox engine, the
//!   venues' desks, [`Runs`] and the API's [`AppState`] over them.
//! - [`App::start`] does everything that comes before the API accepts a request: the stored
//!   trading state, the example strategies, the sample data of a first start, the services
//!   that run as long as the process (the realtime feed, the decisions projection, the
//!   notifier, the outbox retention purge), resuming the downloads an earlier process left
//!   unfinished, venue recovery and reconciliation, resuming the runs a dead process left
//!   running.
//! - [`App::shutdown`] stops background work and waits for it, at most a grace period.
//! - [`serve`] is all of it around the listener: what `weaver serve` runs.
//!
//! # Invariants
//! - Fail closed: a server that cannot tell whether trading was halted does not start.
//! - No run trades before its venue was recovered and reconciled; resumed runs start only after
//!   that, and before the API accepts anything.
//! - The API, the runs and the background work share one task tracker and one cancellation
//!   token, so a shutdown waits for all of them.

pub mod allocator;
pub mod config;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::glados::{self, AppState};
use crate::greta::bar_cache::BarCache;
use crate::greta::jobs::{Jobs, JobsParts};
use crate::marvin::{Catalogue, CatalogueParts, Marvin, MarvinConfig};
use crate::notify::Notifier;
use crate::runs::{Runs, RunsParts};
use crate::veda::desk::Desk;
use crate::veda::download::{Downloads, DownloadsParts};
use crate::walle::{Feed, Walle};

pub use config::{Config, ConfigError};

/// Why `weaver serve` could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened or migrated, or failed during start-up.
    #[error("database: {0}")]
    Store(#[from] crate::walle::Error),
    /// The strategy host could not start.
    #[error("strategy host: {0}")]
    Marvin(#[from] crate::marvin::Error),
    /// A venue could not be set up.
    #[error("venue: {0}")]
    Venue(#[from] crate::veda::Error),
    /// The data directory cannot be used.
    #[error("cannot create {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The stored trading state cannot be read (the server refuses to start rather than trade
    /// when it may have been halted).
    #[error("cannot load the stored trading state: {0}")]
    TradingState(String),
    /// The listener could not bind or failed.
    #[error("listener on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
}

impl Error {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config(e) => e.code(),
            Error::Store(e) => e.code(),
            Error::Marvin(e) => e.code(),
            Error::Venue(e) => e.code(),
            Error::DataDir { .. } => "data_dir_unusable",
            Error::TradingState(_) => "trading_state_unreadable",
            Error::Listen { .. } => "listen_failed",
        }
    }
}

/// The built application: the store, the runs and the API state over them.
#[derive(Clone)]
pub struct App {
    config: Arc<Config>,
    walle: Walle,
    catalogue: Catalogue,
    runs: Runs,
    state: AppState,
    /// The realtime feed the API's event streams follow.
    feed: Feed,
    /// Notifications (the outbox consumer `notify`, best-effort).
    notifier: Notifier,
    /// Download jobs (resumed at start).
    downloads: Downloads,
    /// Work that ends (compilations, backtests, runs): what [`App::idle`] waits for.
    tasks: TaskTracker,
    /// Services that run as long as the process (retention, consumers).
    services: TaskTracker,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("bind", &self.config.bind)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Opens the store (running migrations) and builds everything over it.
    ///
    /// # Errors
    /// [`Error::Store`] when the database cannot be opened or migrated, else as [`App::new`].
    pub async fn build(config: Config) -> Result<App, Error> {
        let walle = Walle::connect(&config.db).await?;
        tracing::info!(
            backend = walle.backend_name(),
            "database ready, migrations applied"
        );
        App::new(config, walle)
    }

    /// Builds everything over an open (migrated) store, with the configured live venues.
    ///
    /// # Errors
    /// [`Error::Venue`] when a configured venue cannot be set up, else as [`App::with_desks`].
    pub fn new(config: Config, walle: Walle) -> Result<App, Error> {
        let mut desks = Vec::new();
        if let Some(alpaca) = &config.alpaca {
            let live = alpaca.is_live();
            let venue = crate::veda::alpaca::AlpacaVenue::new(alpaca.clone())?;
            desks.push(Desk::new(Arc::new(venue), walle.clone(), live));
        }
        App::with_desks(config, walle, desks)
    }

    /// Builds everything with these live venues instead of the configured ones (tests put a
    /// desk on the local Alpaca fake here).
    ///
    /// # Errors
    /// [`Error::Marvin`] when the strategy host cannot start, [`Error::DataDir`] when the
    /// components directory cannot be created.
    pub fn with_desks(config: Config, walle: Walle, desks: Vec<Desk>) -> Result<App, Error> {
        let data_dir = config.db.data_dir.clone();
        let marvin = Marvin::new(MarvinConfig {
            cache_dir: data_dir.join("cache").join("compiled"),
            compiler: config.compiler.clone(),
            ..MarvinConfig::from_env()?
        })?;
        let components_dir = data_dir.join("components");
        std::fs::create_dir_all(&components_dir).map_err(|source| Error::DataDir {
            path: components_dir.display().to_string(),
            source,
        })?;
        let tasks = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let catalogue = Catalogue::new(CatalogueParts {
            walle: walle.clone(),
            marvin: marvin.clone(),
            dir: components_dir.clone(),
            tasks: tasks.clone(),
            shutdown: shutdown.clone(),
        });
        let backtests = Jobs::new(JobsParts {
            walle: walle.clone(),
            marvin: marvin.clone(),
            catalogue: catalogue.clone(),
            tasks: tasks.clone(),
            shutdown: shutdown.clone(),
            concurrency: config.backtest_concurrency,
            memory_budget_mb: config.backtest_memory_mb,
            bar_cache: BarCache::new(data_dir.join("cache").join("bars"), config.bar_cache_mb),
        })
        .with_external_workers(config.external_workers);
        let sweeps =
            crate::greta::sweep_jobs::Sweeps::new(backtests.clone(), config.sweep_max_points);
        let walkforwards = crate::greta::walkforward_jobs::WalkForwards::new(
            backtests.clone(),
            config.sweep_max_points,
        );
        let runs = Runs::new(RunsParts {
            walle: walle.clone(),
            marvin,
            components_dir,
            desks,
            config: config.runs(),
            risk_defaults: config.risk_defaults.clone(),
            tasks: tasks.clone(),
            shutdown: shutdown.clone(),
        });
        let feed =
            Feed::new(walle.clone(), shutdown.clone()).with_replay_events(config.sse_replay_events);
        let notifier = Notifier::new(walle.clone(), config.notify.clone());
        let downloads = Downloads::new(DownloadsParts {
            walle: walle.clone(),
            alpaca: config.alpaca.clone(),
            tasks: tasks.clone(),
            shutdown: shutdown.clone(),
        })?;
        let state = AppState::new(glados::Parts {
            http: config.http(),
            walle: walle.clone(),
            catalogue: catalogue.clone(),
            backtests,
            sweeps,
            walkforwards,
            tasks: tasks.clone(),
            shutdown: shutdown.clone(),
            runs: runs.clone(),
            feed: feed.clone(),
            notifier: notifier.clone(),
            downloads: downloads.clone(),
        });
        Ok(App {
            config: Arc::new(config),
            walle,
            catalogue,
            runs,
            state,
            feed,
            notifier,
            downloads,
            tasks,
            services: TaskTracker::new(),
            shutdown,
        })
    }

    /// The API's state (give it to [`glados::router`]).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// The store.
    pub fn walle(&self) -> &Walle {
        &self.walle
    }

    /// The runs.
    pub fn runs(&self) -> &Runs {
        &self.runs
    }

    /// Everything that comes before the API accepts a request (see the module docs).
    ///
    /// # Errors
    /// [`Error::TradingState`] when the stored trading state cannot be read, [`Error::Store`]
    /// when the store fails while resuming runs or loading sample data.
    pub async fn start(&self) -> Result<(), Error> {
        let trading = self
            .runs
            .trading_state()
            .await
            .map_err(|e| Error::TradingState(format!("{e} ({})", e.code())))?;
        tracing::info!(state = ?trading.state, "global trading state loaded");
        let dir = &self.config.strategies_dir;
        let registered = self.catalogue.register_dir(dir).await;
        tracing::info!(count = registered, dir = %dir.display(), "example strategies registered");
        let sample = self.config.sample_data;
        if let Some(series) =
            crate::greta::stored::offer_sample_on_first_start(&self.walle, sample).await?
        {
            tracing::info!(
                series = series.len(),
                "first start: sample data loaded (symbol SAMPLE; WEAVER_SAMPLE_DATA=off skips it)"
            );
        }
        match self.state.inner.backtests.fail_interrupted().await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(
                    ?ids,
                    "backtests an earlier process did not finish marked failed (interrupted)"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!(code = e.code(), "unfinished backtests not marked: {e}"),
        }
        match glados::sweeps::resume(&self.state).await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(?ids, "sweeps an earlier process left unfinished resumed");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(code = e.code(), "unfinished sweeps not resumed: {e}"),
        }
        match glados::walkforward::resume(&self.state).await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(
                    ?ids,
                    "walk-forwards an earlier process left unfinished resumed"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!(code = e.code(), "unfinished walk-forwards not resumed: {e}"),
        }
        self.start_services();
        match self.downloads.resume().await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(?ids, "downloads an earlier process left unfinished resumed");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(code = e.code(), "unfinished downloads not resumed: {e}"),
        }
        self.recover_venues().await;
        let resumed = self.runs.resume().await?;
        if !resumed.resumed.is_empty() || !resumed.failed.is_empty() {
            tracing::warn!(
                resumed = resumed.resumed.len(),
                failed = resumed.failed.len(),
                "runs left running by an earlier process resumed"
            );
        }
        Ok(())
    }

    /// The services that run as long as the process: the realtime feed (the outbox consumer
    /// `ui-feed`, best-effort), the decisions projection (consumer `decisions`, critical), the
    /// notifier (consumer `notify`, best-effort), the consumer health watch (throttles simulated
    /// runs while a critical consumer lags), the
    /// outbox retention purge (now, then every `retention_interval`) and the allocator's gauges.
    fn start_services(&self) {
        self.feed.start();
        let (walle, stop) = (self.walle.clone(), self.shutdown.clone());
        self.services
            .spawn(async move { walle.run_decisions_projection(stop).await });
        let (notifier, stop) = (self.notifier.clone(), self.shutdown.clone());
        self.services.spawn(async move { notifier.run(stop).await });
        let (walle, stop) = (self.walle.clone(), self.shutdown.clone());
        let health = self.config.consumer_health;
        self.services
            .spawn(async move { walle.watch_consumers(health, stop).await });
        let (walle, stop) = (self.walle.clone(), self.shutdown.clone());
        let (retention, every) = (self.config.retention, self.config.retention_interval);
        tracing::info!(
            event_days = retention.events.as_secs() / 86_400,
            audit_days = retention.audit.as_secs() / 86_400,
            every_s = every.as_secs(),
            "outbox retention scheduled"
        );
        self.services
            .spawn(async move { walle.run_retention(retention, every, stop).await });
        let stop = self.shutdown.clone();
        self.services.spawn(allocator::run_sampler(stop));
    }

    /// Before any run may trade on a live venue: recovery and reconciliation with it. A venue
    /// that cannot be reached now is retried when a run asks for it; its resumed runs fail.
    async fn recover_venues(&self) {
        for desk in self.runs.desks() {
            match desk.ready().await {
                Ok(report) if report.blocked_symbols().is_empty() => {
                    tracing::info!(
                        venue = desk.name(),
                        live = desk.is_live(),
                        "venue reconciled"
                    );
                }
                Ok(report) => tracing::warn!(
                    venue = desk.name(),
                    blocked = ?report.blocked_symbols(),
                    "venue reconciled; runs on these symbols are refused until the difference is explained"
                ),
                Err(e) => tracing::error!(
                    venue = desk.name(),
                    code = e.code(),
                    "venue recovery failed: {e}"
                ),
            }
        }
    }

    /// The token that stops background work when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops background work (runs, compilations, backtests, the venues' streams) and waits
    /// for it, at most `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.shutdown.cancel();
        self.runs.shutdown_desks();
        self.tasks.close();
        self.services.close();
        let all = async {
            self.tasks.wait().await;
            self.services.wait().await;
        };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("background tasks still running after the grace period");
        }
    }

    /// Waits until no background task (compilations, backtests, runs) is running. For tests.
    pub async fn idle(&self) {
        self.state.idle().await;
    }
}

/// Heap arenas glibc may create in `weaver serve` (see [`cap_heap_arenas`]).
pub const HEAP_ARENAS: i32 = 2;

/// Caps glibc's malloc arenas at [`HEAP_ARENAS`], unless the operator set `MALLOC_ARENA_MAX`.
/// Call before any other thread starts.
///
/// Why: glibc gives threads that allocate at once arenas of their own, up to eight per core, and
/// each keeps what it freed; a server whose runs hop between runtime workers and blocking threads
/// ends up holding freed memory in every one of them, so its RSS grew with the runs it had ended
/// rather than with what it holds (figures in the README's "Sandbox limits"). Two arenas keep
/// allocation from contending on a 2-core machine while bounding that. The `weaver` binary built
/// with feature `jemalloc` (the default) does not allocate with glibc, and this changes nothing.
#[allow(unsafe_code)] // one FFI call setting a glibc tunable
pub fn cap_heap_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: `mallopt` only changes an allocator tunable; it is called before the runtime
        // starts other threads, and a refusal (return 0) leaves glibc's default.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, HEAP_ARENAS);
        }
    }
}

/// `weaver serve`: builds and starts the application, serves the API until SIGINT/SIGTERM (or
/// the shutdown token), then shuts down gracefully.
///
/// # Errors
/// [`Error`] for anything that prevents starting; the caller exits non-zero.
pub async fn serve(config: Config) -> Result<(), Error> {
    let bind = config.bind;
    let app = App::build(config).await?;
    app.start().await?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| Error::Listen {
            addr: bind.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| Error::Listen {
        addr: bind.to_string(),
        source,
    })?;
    tracing::info!(addr = %local, "weaver serving the API");
    let grace = app.config.shutdown_grace;
    let stop = app.shutdown_token();
    let signalled = stop.clone();
    // Header read timeout, connection cap and client addresses: glados/server.rs.
    let http = app.config.http();
    let server = glados::server::serve(listener, glados::router(app.state()), &http, async move {
        tokio::select! {
            () = shutdown_signal() => {}
            () = signalled.cancelled() => {}
        }
        // At once, not after the connections drain: event streams end on it (with the
        // connections they hold open) and runs are suspended while requests finish.
        signalled.cancel();
        tracing::info!("shutdown requested; finishing in-flight requests");
    });
    let mut server = std::pin::pin!(server);
    let deadline = tokio::select! {
        () = &mut server => tokio::time::Instant::now() + grace,
        () = stop.cancelled() => {
            let deadline = tokio::time::Instant::now() + grace;
            if tokio::time::timeout_at(deadline, &mut server).await.is_err() {
                tracing::warn!(grace_s = grace.as_secs(), "connections still open at the end of the grace period: closed");
            }
            deadline
        }
    };
    app.shutdown(deadline.saturating_duration_since(tokio::time::Instant::now()))
        .await;
    app.walle.close().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
