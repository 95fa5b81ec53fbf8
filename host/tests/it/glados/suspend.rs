//! A shutdown of the server (SIGTERM, an upgrade) suspends the runs nobody stopped, and the next
//! start resumes them (issue #20): only an explicit stop stops a run. On SQLite and PostgreSQL.

use std::time::Duration;

use axum::Router;
use weaver::app::{App, Config};
use weaver::walle::{RunStatus, Walle};

use super::runs::{orders_of, run_body, settled, upload};
use super::{get, send};
use crate::support::post_json;
use crate::testdata::goog_candles;
use crate::walle::support::{TestStore, contract};

fn app_on(walle: Walle, dir: &std::path::Path) -> (Router, App) {
    let mut config = Config::for_tests(dir);
    // Paced: the run is still trading when the server shuts down.
    config.run_bar_interval_ms = 2;
    config.run_heartbeat_ms = 100;
    let app = App::new(config, walle).expect("app");
    (weaver::glados::router(app.state()), app)
}

async fn a_shutdown_suspends_runs_and_the_next_start_resumes_them(store: &TestStore) {
    store
        .walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(store.walle.clone(), dir.path());
    s.start().await.expect("start");
    upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    let trading = send(
        &r,
        post_json(
            "/runs",
            run_body("\"sma-cross\"", r#"{"fast": 5, "slow": 20}"#),
        ),
    )
    .await;
    let trading = trading.json()["id"].as_i64().expect("id");
    let stopped = send(
        &r,
        post_json(
            "/runs",
            run_body("\"sma-cross\"", r#"{"fast": 5, "slow": 20}"#),
        ),
    )
    .await;
    let stopped = stopped.json()["id"].as_i64().expect("id");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while orders_of(&r, trading).await.len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no orders in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stop = send(&r, post_json(&format!("/runs/{stopped}/stop"), "")).await;
    assert_eq!(stop.json()["status"], "stopped", "{}", stop.json());

    // The graceful shutdown a SIGTERM starts.
    s.shutdown(Duration::from_secs(10)).await;
    let row = store.walle.run(trading).await.expect("store").expect("row");
    assert_eq!(
        row.status,
        RunStatus::Suspended,
        "a shutdown suspends, it does not stop"
    );
    assert_eq!(row.stopped_at, None, "{row:?}");
    let row = store.walle.run(stopped).await.expect("store").expect("row");
    assert_eq!(
        row.status,
        RunStatus::Stopped,
        "an explicit stop stays a stop"
    );
    let view = send(&r, get(&format!("/runs/{trading}"))).await.json();
    assert_eq!(view["status"], "suspended", "{view}");
    let tail = send(&r, get("/events/tail?limit=1000")).await.json();
    assert!(
        tail["events"].as_array().expect("events").iter().any(|e| {
            e["type"] == "ui.run.StatusChanged"
                && e["data"]["run_id"] == trading
                && e["data"]["status"] == "suspended"
        }),
        "no run.StatusChanged to suspended"
    );

    // The next start resumes it; it trades on to its end, with no order twice.
    let (r, s) = app_on(store.walle.clone(), dir.path());
    s.start().await.expect("start again");
    let done = settled(&r, trading).await;
    assert_eq!(done["status"], "stopped", "{done}");
    assert!(done["figures"]["bars"].as_u64() >= Some(2_000), "{done}");
    let logs = send(
        &r,
        get(&format!("/runs/{trading}/logs?limit=1000&order=asc")),
    )
    .await
    .json();
    let text: Vec<&str> = logs["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["message"].as_str())
        .collect();
    assert!(
        text.iter()
            .any(|m| m.starts_with("suspended: the server is shutting down")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|m| m.starts_with("run resumed after a restart")),
        "{text:?}"
    );
    let orders = orders_of(&r, trading).await;
    let mut ids: Vec<&str> = orders
        .iter()
        .filter_map(|o| o["client_order_id"].as_str())
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "unique client order ids");
    let row = store.walle.run(stopped).await.expect("store").expect("row");
    assert_eq!(
        row.status,
        RunStatus::Stopped,
        "a stopped run is not resumed"
    );
    s.shutdown(Duration::from_secs(10)).await;
}

contract!(a_shutdown_suspends_runs_and_the_next_start_resumes_them);
