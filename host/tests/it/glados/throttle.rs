//! A throttled simulated run waits before its bars: while WallE's backpressure is on (a
//! critical outbox consumer is behind), a paper run on the simulated exchange delivers at most
//! one timestamp per `MAX_PAUSE` (1 s), and it runs at full speed again once the throttle clears.

use std::time::Duration;

use axum::http::StatusCode;
use weaver::app::{App, Config};

use super::runs::{run_body, settled, upload};
use super::{get, send};
use crate::support::post_json;
use crate::testdata::goog_candles;
use crate::walle::support::{TestStore, contract};

async fn a_throttled_run_waits_and_resumes_when_it_clears(store: &TestStore) {
    let w = &store.walle;
    w.upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::new(Config::for_tests(dir.path()), w.clone()).expect("app");
    app.start().await.expect("start");
    let r = weaver::glados::router(app.state());
    upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    // Throttled by hand before the run starts (the watch, seeing nothing behind, leaves a
    // throttle set by hand alone).
    w.backpressure().set_throttled(true);
    let created = send(
        &r,
        post_json(
            "/runs",
            run_body("\"sma-cross\"", r#"{"fast": 5, "slow": 20}"#),
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let id = created.json()["id"].as_i64().expect("id");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let slow = send(&r, get(&format!("/runs/{id}"))).await.json();
    assert_eq!(slow["status"], "running", "{slow}");
    let bars = slow["figures"]["bars"].as_u64().expect("bars");
    assert!(
        bars <= 4,
        "at most one bar per second while throttled: {bars} in 2.5 s"
    );
    w.backpressure().set_throttled(false);
    let done = settled(&r, id).await;
    assert_eq!(done["status"], "stopped", "{done}");
    let all = done["figures"]["bars"].as_u64().expect("bars");
    assert!(
        all > 100,
        "the run went on at full speed once cleared: {all} bars"
    );
    app.shutdown(Duration::from_secs(5)).await;
}

contract!(a_throttled_run_waits_and_resumes_when_it_clears);
