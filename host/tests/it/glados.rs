//! GLaDOS: the API through `router(state).oneshot` (every route, success and error paths, the
//! error model, the auth matrix over the OpenAPI document, secrets) and `weaver serve` as a
//! process (refused bind, graceful SIGTERM), and the dashboard fallback.

mod accounts;
mod alpaca_runs;
mod api;
mod backtest_fills;
mod backtest_memory;
mod backtests;
mod candles;
mod chain;
mod compression;
mod control;
mod dashboard;
mod declared_series;
mod downloads;
mod events;
mod exports;
mod gaps;
mod hostile;
mod limits;
mod lists;
mod live_bars;
mod live_timeframes;
mod log_search;
mod log_sink;
mod manual;
mod manual_alpaca;
pub(crate) mod notify;
mod openapi;
pub(crate) mod outage;
mod portfolio;
mod promote;
mod replay;
mod replay_alpaca;
mod risk;
mod risk_rules;
mod run_charts;
mod run_metrics;
mod run_state;
mod runs;
mod security;
mod serve;
mod shadows;
mod shadows_timeframes;
mod sim_live;
mod sim_live_timeframes;
mod sim_live_warmup;
mod sse_replay;
mod suspend;
mod sweeps;
mod throttle;
mod unknown_params;
mod walkforward;
mod workers;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use secrecy::SecretString;
use tower::ServiceExt;
use weaver::app::{App, Config};
use weaver::glados;
use weaver::walle::Walle;

/// A test API key (long enough for the config check).
pub(crate) const KEY: &str = "test-key-0123456789abcdef";

/// An app on a fresh SQLite in a temp dir; `key` sets WEAVER_API_KEY.
pub(crate) async fn app(key: Option<&str>) -> (Router, App, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    config.api_key = key.map(|k| SecretString::from(k.to_owned()));
    config.max_body_bytes = 1 << 20;
    let walle = Walle::connect(&config.db).await.expect("sqlite store");
    let state = App::new(config, walle).expect("app");
    (glados::router(state.state()), state, dir)
}

/// A response, collected.
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Resp {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the error model and returns the code.
    pub(crate) fn error_code(&self) -> String {
        let v = self.json();
        for k in ["code", "message", "details", "correlation_id"] {
            assert!(v.get(k).is_some(), "error body lacks {k}: {v}");
        }
        let corr = v["correlation_id"]
            .as_str()
            .expect("correlation id is text");
        assert!(!corr.is_empty(), "empty correlation id: {v}");
        assert_eq!(
            self.headers
                .get("x-request-id")
                .and_then(|h| h.to_str().ok()),
            Some(corr),
            "the header echoes the body's correlation id"
        );
        v["code"].as_str().expect("code is text").to_owned()
    }
}

pub(crate) async fn send(router: &Router, req: Request<Body>) -> Resp {
    let resp = router
        .clone()
        .oneshot(req)
        .await
        .expect("infallible router");
    let status = resp.status();
    let headers = resp.headers().clone();
    let streaming = headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    // An event stream never ends: only its head is checked here (see glados/events.rs).
    let body = if streaming {
        Vec::new()
    } else {
        resp.into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec()
    };
    Resp {
        status,
        headers,
        body,
    }
}

pub(crate) fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header("host", "localhost:8080")
        .body(Body::empty())
        .expect("request")
}

/// Runs each `async fn name(kind: Kind)` of the calling module as two tokio tests,
/// `sqlite::name` and `postgres::name` (four worker threads, as a server has).
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(crate::walle::support::Kind::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(crate::walle::support::Kind::Pg).await;
                }
            )*
        }
    };
}
pub(crate) use both_stores;

/// The log files of the `weaver worker` processes a test started.
type WorkerLogs = std::sync::Arc<std::sync::Mutex<Vec<std::path::PathBuf>>>;

tokio::task_local! {
    /// Set for the `workers` copies of [`stores_and_workers!`]: the app hands its jobs to
    /// `weaver worker` processes, whose logs a failing wait prints.
    static EXTERNAL_WORKERS: WorkerLogs;
}

/// Whether the running test asked for external workers ([`stores_and_workers!`]).
pub(crate) fn external_workers() -> bool {
    EXTERNAL_WORKERS.try_with(|_| ()).is_ok()
}

/// Remembers a worker's log for [`worker_logs`].
pub(crate) fn keep_worker_log(path: &std::path::Path) {
    let _ = EXTERNAL_WORKERS.try_with(|logs| {
        logs.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(path.to_owned());
    });
}

/// The last lines of every worker log of the running test, for a failure's message.
pub(crate) fn worker_logs() -> String {
    let paths = EXTERNAL_WORKERS
        .try_with(|logs| {
            logs.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        })
        .unwrap_or_default();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            format!("--- {} ---\n{tail}", p.display())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// [`both_stores!`] plus `workers::name`: on PostgreSQL with `WEAVER_WORKERS=external` and two
/// `weaver worker` processes running the jobs (ADR 0023).
macro_rules! stores_and_workers {
    ($($name:ident),* $(,)?) => {
        super::both_stores!($($name),*);
        mod workers {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::glados::run_with_workers(super::$name(crate::walle::support::Kind::Pg))
                        .await;
                }
            )*
        }
    };
}
pub(crate) use stores_and_workers;

/// Runs `test` with [`external_workers`] set.
pub(crate) async fn run_with_workers(test: impl std::future::Future<Output = ()>) {
    EXTERNAL_WORKERS.scope(WorkerLogs::default(), test).await;
}
