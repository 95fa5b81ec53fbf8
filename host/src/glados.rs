//! GLaDOS: the only northbound API (REST + JSON, OpenAPI at `/openapi.json`, SSE). HTTP only:
//! routes, request and response views, the error model, auth, the event stream. What the
//! routes do lives in the service modules ([`crate::runs`], [`crate::greta::jobs`],
//! [`crate::marvin::Catalogue`]); [`crate::app`] builds
//! [`AppState`] and runs the server.
//!
//! # Layout
//! - [`config`]: what the HTTP server needs of the process configuration.
//! - [`decisions`]: a run's decisions (the decisions projection).
//! - [`replay`]: a run replayed and compared with its recorded decisions.
//! - [`dashboard`]: Haro, the web dashboard, served at `/` (the router's fallback).
//! - [`error`]: the error model `{code, message, details, correlation_id}`.
//! - `echo`: how much of a client's value an error may quote.
//! - [`http`]: extractors and middleware (correlation id, Host allow-list, API key, metrics).
//! - [`guard`]: cross-site (CSRF) refusal and the client IP allow-list.
//! - `security_headers`: CSP, frame and sniffing headers on every response.
//! - [`server`]: the accept loop (header read timeout, connection cap, client addresses).
//! - [`api`]: the routes and the OpenAPI document.
//! - [`backtests`]: the views of backtests (the jobs are [`crate::greta::jobs`]).
//! - [`exports`]: a done backtest's report and trades as downloads (JSON, CSV), and its
//!   tearsheet, which [`tearsheet`] renders (one printable HTML page).
//! - [`candles`]: stored candles and series, CSV import, synthetic and sample data, downloads.
//! - [`jobs`]: background jobs (downloads) and their progress.
//! - [`events`]: the `ui.*` event feed (polling and SSE).
//! - `exposition`: what `/metrics` renders; a run's series (labelled `run_id`) end with the run.
//! - [`runs`]: the views of runs, logs and accounts; how run errors answer.
//! - [`sweeps`]: the views of parameter sweeps (the jobs are [`crate::greta::sweep_jobs`]).
//! - [`overfitting`]: the overfitting figures of sweeps and walk-forwards, a point's Monte Carlo.
//! - [`walkforward`]: the views of walk-forward analyses (the jobs are
//!   [`crate::greta::walkforward_jobs`]).
//! - [`shadows`]: shadow runs beside a run, and their diff with it.
//! - [`promote`]: promotion and rollback of a running run's version, and its version history.
//! - [`strategies`]: how uploads answer (the catalogue is [`crate::marvin::Catalogue`]).
//! - [`trading`]: the views of the global trading state (kept by [`crate::runs::trading`]).
//!
//! # Invariants
//! - Handlers never panic on client input; every failure is an [`ApiError`].
//! - [`router`] is the whole HTTP surface; tests drive it with `oneshot` without a socket.
//! - Background work runs on the [`TaskTracker`] and stops on the [`CancellationToken`], so a
//!   shutdown waits for it (graceful) and loses nothing that was acknowledged.

pub mod accounts;
pub mod api;
pub mod backtests;
pub mod candles;
pub mod config;
pub mod control;
pub mod dashboard;
pub mod decisions;
mod echo;
pub mod error;
mod event_routes;
pub mod events;
pub mod exports;
mod exposition;
pub mod gaps;
pub mod guard;
pub mod health;
pub mod http;
pub mod jobs;
pub mod notify;
pub mod orders;
pub mod overfitting;
pub mod promote;
pub mod replay;
pub mod run_charts;
pub mod run_logs;
pub mod runs;
mod security_headers;
pub mod series_list;
pub mod server;
pub mod shadows;
pub mod strategies;
pub mod sweeps;
pub mod tearsheet;
pub mod trading;
pub mod venues;
pub mod walkforward;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::greta::jobs::Jobs;
use crate::greta::sweep_jobs::Sweeps;
use crate::greta::walkforward_jobs::WalkForwards;
use crate::marvin::Catalogue;
use crate::notify::Notifier;
use crate::runs::Runs;
use crate::veda::download::Downloads;
use crate::walle::{Feed, Walle};

pub use config::HttpConfig;
pub use error::{ApiError, ErrorBody};

/// Shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: HttpConfig,
    pub(crate) walle: Walle,
    pub(crate) metrics: exposition::Metrics,
    /// The strategies (uploads, compilation).
    pub(crate) catalogue: Catalogue,
    /// The backtest jobs.
    pub(crate) backtests: Jobs,
    /// The parameter sweeps (sharing the backtests' slots and memory).
    pub(crate) sweeps: Sweeps,
    /// The walk-forward analyses (sharing them too).
    pub(crate) walkforwards: WalkForwards,
    pub(crate) tasks: TaskTracker,
    pub(crate) shutdown: CancellationToken,
    /// The runs of this process (and the global trading state they share).
    pub(crate) runs: Runs,
    /// The realtime feed the event streams follow.
    pub(crate) feed: Feed,
    /// Notifications.
    pub(crate) notifier: Notifier,
    /// One permit: the replay running now (`POST /runs/{id}/replay`).
    pub(crate) replay: tokio::sync::Semaphore,
    /// Downloads from Alpaca (`POST /candles/download`).
    pub(crate) downloads: Downloads,
    /// The venue calendar the gap report of `GET /candles/series` counts sessions by.
    pub(crate) calendar: gaps::CalendarCache,
    /// The series list of `GET /candles/series`, kept between requests.
    pub(crate) series: series_list::SeriesCache,
}

/// What [`AppState`] is built from (by [`crate::app`]).
pub struct Parts {
    /// How the API is served.
    pub http: HttpConfig,
    /// The store.
    pub walle: Walle,
    /// The strategies.
    pub catalogue: Catalogue,
    /// The backtest jobs.
    pub backtests: Jobs,
    /// The parameter sweeps.
    pub sweeps: Sweeps,
    /// The walk-forward analyses.
    pub walkforwards: WalkForwards,
    /// Where background work is tracked (shared with `runs`).
    pub tasks: TaskTracker,
    /// Cancelled at shutdown (shared with `runs`).
    pub shutdown: CancellationToken,
    /// The runs.
    pub runs: Runs,
    /// The realtime feed (run by [`crate::app`]).
    pub feed: Feed,
    /// The notifier (`/notifications/*`).
    pub notifier: Notifier,
    /// The download jobs.
    pub downloads: Downloads,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("bind", &self.inner.config.bind)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state over its parts.
    pub fn new(p: Parts) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                config: p.http,
                walle: p.walle,
                metrics: prometheus(),
                catalogue: p.catalogue,
                backtests: p.backtests,
                sweeps: p.sweeps,
                walkforwards: p.walkforwards,
                tasks: p.tasks,
                shutdown: p.shutdown,
                runs: p.runs,
                feed: p.feed,
                notifier: p.notifier,
                replay: tokio::sync::Semaphore::new(1),
                downloads: p.downloads,
                calendar: gaps::CalendarCache::default(),
                series: series_list::SeriesCache::default(),
            }),
        }
    }

    /// The store.
    pub fn walle(&self) -> &Walle {
        &self.inner.walle
    }

    /// The runs.
    pub fn runs(&self) -> &Runs {
        &self.inner.runs
    }

    /// The notifier.
    pub fn notifier(&self) -> &Notifier {
        &self.inner.notifier
    }

    /// Waits until no background task (compilations, backtests, runs) is running. For tests.
    pub async fn idle(&self) {
        while !self.inner.tasks.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The process-wide Prometheus recorder (installed once; later calls share its handle), with a
/// run's series removed when the run ends (`glados/exposition.rs`).
fn prometheus() -> exposition::Metrics {
    static HANDLE: OnceLock<exposition::Metrics> = OnceLock::new();
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
            let recorder = exposition::RunScoped::new(builder.build_recorder());
            let metrics = recorder.metrics();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be sparse");
            } else {
                metrics.keep_up();
            }
            metrics
        })
        .clone()
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let limit = state.inner.config.max_body_bytes;
    // Layers run outermost-last-added: request id → trace → propagate → compression →
    // security headers → error model → client IP → Host → cross-site → key → body limit → route.
    api::routes()
        // Paths no API route matches: the dashboard's files and client-side routes, else the
        // JSON `route_not_found`.
        .fallback(dashboard::serve)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), http::check_api_key))
        .layer(axum::middleware::from_fn(guard::check_cross_site))
        .layer(axum::middleware::from_fn_with_state(state.clone(), http::check_host))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::check_client_ip))
        .layer(axum::middleware::from_fn(http::finish_errors))
        .layer(security_headers::layer())
        // gzip or brotli as the client accepts. Its default predicate leaves alone what must not
        // or need not be compressed: `text/event-stream` (compression buffers, and the stream
        // must flush each event), images, bodies under 32 bytes, and responses that already
        // carry a Content-Encoding (the dashboard's precompressed files).
        .layer(CompressionLayer::new())
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
