//! GLaDOS: the control plane and the only northbound API (REST + JSON, OpenAPI at
//! `/openapi.json`), and `weaver serve`'s start-up and shutdown.
//!
//! # Layout
//! - [`config`]: `WEAVER_*` settings, every problem reported at once.
//! - [`dashboard`]: Haro, the web dashboard, served at `/` (the router's fallback).
//! - [`error`]: the error model `{code, message, details, correlation_id}`.
//! - [`http`]: extractors and middleware (correlation id, Host allow-list, API key, metrics).
//! - [`api`]: the routes and the OpenAPI document.
//! - [`backtests`]: backtests over stored candles, run by Greta.
//! - [`candles`]: stored candles and series, CSV import, synthetic and sample data.
//! - [`events`]: the `ui.*` event feed (polling and SSE).
//! - [`runs`]: run reads, stop, and validated creation.
//! - [`strategies`]: upload, validation and background compilation of components.
//! - [`trading`]: the global trading switch (`active` / `reduce_only` / `halted`), persisted.
//!
//! # Invariants
//! - Handlers never panic on client input; every failure is an [`ApiError`].
//! - [`router`] is the whole HTTP surface; tests drive it with `oneshot` without a socket.
//! - Background work runs on the [`TaskTracker`] and stops on the [`CancellationToken`], so a
//!   shutdown waits for it (graceful) and loses nothing that was acknowledged.

pub mod api;
pub mod backtests;
pub mod candles;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod http;
pub mod run_exec;
pub mod runs;
pub mod strategies;
pub mod trading;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::marvin::{Marvin, MarvinConfig};
use crate::veda::desk::Desk;
use crate::walle::Walle;

pub use config::{Config, ConfigError};
pub use error::{ApiError, ErrorBody};

/// Start-up failures of `weaver serve`.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] crate::walle::Error),
    /// The strategy host could not start.
    #[error("strategy host: {0}")]
    Marvin(#[from] crate::marvin::Error),
    /// A venue could not be set up.
    #[error("venue: {0}")]
    Venue(#[from] crate::veda::Error),
    /// The listener could not bind or failed.
    #[error("listener on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
}

impl ServeError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ServeError::Config(e) => e.code(),
            ServeError::Store(e) => e.code(),
            ServeError::Marvin(e) => e.code(),
            ServeError::Venue(e) => e.code(),
            ServeError::Listen { .. } => "listen_failed",
        }
    }
}

/// Shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) walle: Walle,
    pub(crate) marvin: Marvin,
    pub(crate) metrics: PrometheusHandle,
    /// Where uploaded components are kept, by sha256.
    pub(crate) components_dir: PathBuf,
    /// Bounds concurrent compilations to Marvin's compile slots (each compile is a child process
    /// at a lower priority than the server, under time and address-space limits).
    pub(crate) compile_permits: Semaphore,
    pub(crate) tasks: TaskTracker,
    pub(crate) shutdown: CancellationToken,
    /// Paper runs this server executes.
    pub(crate) runs: run_exec::Registry,
    /// The global trading switch every run's orders are checked against.
    pub(crate) trading: trading::Trading,
    /// Live venues by name (`alpaca` when configured); `sim` is per run and not listed.
    pub(crate) desks: std::collections::BTreeMap<String, Desk>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("bind", &self.inner.config.bind)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state on an open (migrated) store.
    ///
    /// # Errors
    /// [`ServeError::Marvin`] when the strategy host cannot start, [`ServeError::Store`] when
    /// the components directory cannot be created.
    pub fn new(config: Config, walle: Walle) -> Result<AppState, ServeError> {
        let mut desks = Vec::new();
        if let Some(alpaca) = &config.alpaca {
            let live = alpaca.is_live();
            let venue = crate::veda::alpaca::AlpacaVenue::new(alpaca.clone())?;
            desks.push(Desk::new(Arc::new(venue), walle.clone(), live));
        }
        Self::with_desks(config, walle, desks)
    }

    /// Builds the state with these live venues instead of the configured ones (tests put a desk
    /// on the local Alpaca fake here).
    ///
    /// # Errors
    /// As [`AppState::new`].
    pub fn with_desks(
        config: Config,
        walle: Walle,
        desks: Vec<Desk>,
    ) -> Result<AppState, ServeError> {
        let data_dir = config.db.data_dir.clone();
        let marvin = Marvin::new(MarvinConfig {
            cache_dir: data_dir.join("cache").join("compiled"),
            compiler: config.compiler.clone(),
            ..MarvinConfig::from_env()?
        })?;
        let compile_slots = marvin.config().compile.slots;
        let components_dir = data_dir.join("components");
        std::fs::create_dir_all(&components_dir).map_err(|e| {
            crate::walle::Error::Config(format!("cannot create {}: {e}", components_dir.display()))
        })?;
        Ok(AppState {
            inner: Arc::new(Inner {
                config,
                walle,
                marvin,
                metrics: prometheus(),
                components_dir,
                compile_permits: Semaphore::new(compile_slots),
                tasks: TaskTracker::new(),
                shutdown: CancellationToken::new(),
                runs: run_exec::Registry::default(),
                trading: trading::Trading::default(),
                desks: desks
                    .into_iter()
                    .map(|d| (d.name().to_owned(), d))
                    .collect(),
            }),
        })
    }

    /// The store.
    pub fn walle(&self) -> &Walle {
        &self.inner.walle
    }

    /// The server's global trading switch (one per server), with the stored state loaded. Give
    /// it to every run's risk checks so `PUT /trading-state` reaches them.
    ///
    /// # Errors
    /// 5xx when the stored state cannot be read.
    pub async fn trading_switch(&self) -> Result<Arc<crate::veda::risk::TradingSwitch>, ApiError> {
        trading::switch(self).await
    }

    /// The trading switch every run's orders are checked against (active, reduce-only, halted;
    /// globally and per run id): the same one `PUT /trading-state` sets. `weaver serve` loads
    /// the stored state into it before any run starts.
    pub fn run_trading_switch(&self) -> Arc<crate::veda::risk::TradingSwitch> {
        self.inner.trading.shared_switch()
    }

    /// The shutdown token: cancel it to stop background work.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Stops background work and waits for it (at most `grace`).
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutdown.cancel();
        for desk in self.inner.desks.values() {
            desk.shutdown();
        }
        self.inner.tasks.close();
        if tokio::time::timeout(grace, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks still running after the grace period");
        }
    }

    /// Waits until no background task (compilations, backtests) is running. For tests.
    pub async fn idle(&self) {
        while !self.inner.tasks.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The process-wide Prometheus recorder (installed once; later calls share its handle).
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Strategy call times as a real histogram (buckets), for histogram_quantile.
            let buckets = [
                0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
            ];
            // Only empty buckets are refused; the fallback keeps /metrics up regardless.
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("weaver_strategy_call_duration_seconds".into()),
                    &buckets,
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be sparse");
            }
            handle
        })
        .clone()
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let limit = state.inner.config.max_body_bytes;
    // Layers run outermost-last-added: request id → trace → propagate → error model → Host →
    // key → body limit → route.
    api::routes()
        // Paths no API route matches: the dashboard's files and client-side routes, else the
        // JSON `route_not_found`.
        .fallback(dashboard::serve)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), http::check_api_key))
        .layer(axum::middleware::from_fn_with_state(state.clone(), http::check_host))
        .layer(axum::middleware::from_fn(http::finish_errors))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let corr = req
                .headers()
                .get(http::REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), corr_id = %corr)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Runs `weaver serve` until SIGINT/SIGTERM: migrations, strategy registration, the API.
///
/// # Errors
/// [`ServeError`] for anything that prevents starting; the caller exits non-zero.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let walle = Walle::connect(&config.db).await?;
    tracing::info!(
        backend = walle.backend_name(),
        "database ready, migrations applied"
    );
    let bind = config.bind;
    let strategies_dir = config.strategies_dir.clone();
    let sample_data = config.sample_data;
    let state = AppState::new(config, walle.clone())?;
    // Fail closed: a server that cannot tell whether trading was halted does not start.
    let trading = trading::get(&state).await.map_err(|e| {
        crate::walle::Error::Config(format!("cannot load the stored trading state: {e:?}"))
    })?;
    tracing::info!(state = ?trading.state, "global trading state loaded");
    let registered = strategies::register_dir(&state, &strategies_dir).await;
    tracing::info!(count = registered, dir = %strategies_dir.display(), "example strategies registered");
    if let Some(series) = candles::offer_sample_on_first_start(&walle, sample_data).await? {
        tracing::info!(
            series = series.len(),
            "first start: sample data loaded (symbol SAMPLE; WEAVER_SAMPLE_DATA=off skips it)"
        );
    }
    // Before any run may trade on a live venue: recovery and reconciliation with it. A venue
    // that cannot be reached now is retried when a run asks for it; its resumed runs fail.
    for desk in state.inner.desks.values() {
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
    // Before the API accepts anything: runs an earlier process left running continue.
    let resumed = run_exec::resume(&state).await?;
    if !resumed.resumed.is_empty() || !resumed.failed.is_empty() {
        tracing::warn!(
            resumed = resumed.resumed.len(),
            failed = resumed.failed.len(),
            "runs left running by an earlier process resumed"
        );
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| ServeError::Listen {
            addr: bind.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: bind.to_string(),
        source,
    })?;
    tracing::info!(addr = %local, "weaver serving the API");
    let token = state.shutdown_token();
    let stop = token.clone();
    let app = router(state.clone());
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        tokio::select! {
            () = shutdown_signal() => {}
            () = stop.cancelled() => {}
        }
        tracing::info!("shutdown requested; finishing in-flight requests");
    });
    let result = server.await.map_err(|source| ServeError::Listen {
        addr: local.to_string(),
        source,
    });
    state.shutdown(Duration::from_secs(30)).await;
    walle.close().await;
    tracing::info!("stopped cleanly");
    result
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
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
