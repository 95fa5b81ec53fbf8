//! A run's labelled series (`weaver_strategy_memory_bytes{run_id}`) leave `/metrics` when the
//! run ends, while a running run's stay. Measured in a process of its own: the recorder is
//! process-wide, and other tests' runs (on their own databases) reuse the same run ids.

use std::process::Command;
use std::time::Duration;

use axum::http::StatusCode;
use weaver::app::{App, Config};
use weaver::walle::Walle;

use super::runs::{run_body, settled, upload};
use super::{get, send};
use crate::support::post_json;
use crate::testdata::goog_candles;

/// Set in the child process that runs the scenario.
const CHILD: &str = "WEAVER_TEST_RUN_METRICS_CHILD";

fn series(text: &str, run: i64) -> bool {
    text.contains(&format!("weaver_strategy_memory_bytes{{run_id=\"{run}\"}}"))
}

async fn metrics_text(r: &axum::Router) -> String {
    let m = send(r, get("/metrics")).await;
    assert_eq!(m.status, StatusCode::OK);
    String::from_utf8_lossy(&m.body).into_owned()
}

async fn scenario() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    // Slow enough that the long run is still running when the short one has failed.
    config.run_bar_interval_ms = 20;
    let walle = Walle::connect(&config.db).await.expect("sqlite store");
    walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let app = App::new(config, walle).expect("app");
    let r = weaver::glados::router(app.state());
    upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    upload(&r, &app, "hostile", "guests/hostile.wasm").await;
    let start = |body: String| {
        let r = r.clone();
        async move {
            let c = send(&r, post_json("/runs", body)).await;
            assert_eq!(c.status, StatusCode::CREATED, "{}", c.json());
            c.json()["id"].as_i64().expect("id")
        }
    };
    let long = start(run_body("\"sma-cross\"", r#"{"fast": 5, "slow": 20}"#)).await;
    let short = start(run_body("\"hostile\"", r#"{"mode": "unreachable"}"#)).await;

    let failed = settled(&r, short).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let text = metrics_text(&r).await;
    assert!(
        series(&text, long),
        "the running run's series is missing:\n{text}"
    );
    assert!(
        !series(&text, short),
        "the ended run {short} still has a series:\n{text}"
    );
    let running = send(&r, get(&format!("/runs/{long}"))).await.json();
    assert_eq!(running["status"], "running", "{running}");

    let stop = send(&r, post_json(&format!("/runs/{long}/stop"), "{}")).await;
    assert!(stop.status.is_success(), "{}", stop.json());
    settled(&r, long).await;
    // A stop writes the status before the run's task has let go of its sandbox: allow it that.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = metrics_text(&r).await;
        if !series(&text, long) {
            assert!(!text.contains("weaver_strategy_memory_bytes{"), "{text}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stopped run {long} still has a series after 10 s:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs itself again in a child process (this test, alone, with [`CHILD`] set), where the
/// scenario runs.
#[test]
fn an_ended_runs_series_leaves_metrics_and_a_running_runs_stays() {
    if std::env::var_os(CHILD).is_some() {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(scenario());
        return;
    }
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "glados::run_metrics::an_ended_runs_series_leaves_metrics_and_a_running_runs_stays",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .expect("child test runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test:\n{stdout}"
    );
}
