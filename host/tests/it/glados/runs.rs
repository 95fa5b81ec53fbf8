//! Runs: validation and refusals (nothing stored), reads, stop; paper runs on the simulated
//! exchange over GOOG's stored daily candles: orders journaled, the run ending `stopped`, a
//! hostile guest failing with its own code beside a healthy run, stop and shutdown.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use weaver::domain::Timeframe;
use weaver::walle::{NewRun, NewStrategy, RunMode, StrategyStatus};

use super::{app, get, send};
use crate::support::{dist, post_json};

/// A strategy row whose component file does not exist (for lifecycle tests that never run it).
pub(super) async fn strategy_row(
    w: &weaver::walle::Walle,
    sha_byte: &str,
    name: &str,
) -> weaver::walle::Strategy {
    let new = NewStrategy {
        sha256: sha_byte.repeat(32),
        name: name.into(),
        version: "1".into(),
        language: "rust".into(),
        size_bytes: 1,
    };
    w.insert_strategy(&new, None).await.expect("strategy").0
}

#[tokio::test]
async fn runs_lifecycle_and_refusals() {
    let (r, s, _d) = app(None).await;
    let w = s.walle();
    let strategy = strategy_row(w, "ab", "demo").await;
    let req = |strategy: &str, mode: &str| {
        format!(
            r#"{{"strategy": {strategy}, "mode": "{mode}", "venue": "sim", "symbols": ["SPY"], "timeframe": "1Min", "params": {{}}}}"#
        )
    };
    let sid = strategy.id.to_string();
    for (body, status, code) in [
        (
            req(&sid, "paper"),
            StatusCode::CONFLICT,
            "strategy_not_ready",
        ),
        (req("999", "paper"), StatusCode::NOT_FOUND, "not_found"),
        (
            req(&sid, "yolo"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_mode",
        ),
        // The simulated exchange never trades real money.
        (
            req(&sid, "live"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_mode",
        ),
        ("{".to_owned(), StatusCode::BAD_REQUEST, "malformed_json"),
        (
            r#"{"strategy": 1}"#.to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ] {
        let resp = send(&r, post_json("/runs", &body)).await;
        assert_eq!(resp.status, status, "{body}");
        assert_eq!(resp.error_code(), code, "{body}");
    }
    w.update_strategy_status(strategy.id, StrategyStatus::Ready, None, None)
        .await
        .expect("ready");
    let refused = send(
        &r,
        post_json("/runs", req(&sid, "paper").replace("\"sim\"", "\"alpaca\"")),
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.error_code(), "venue_unavailable");
    // A "ready" row whose component file is missing cannot start: refused, nothing stored.
    let broken = send(&r, post_json("/runs", req(&sid, "paper"))).await;
    assert_eq!(
        broken.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        broken.json()
    );
    broken.error_code();
    assert_eq!(
        send(&r, get("/runs")).await.json(),
        serde_json::json!([]),
        "nothing stored"
    );

    let run = w
        .insert_run(
            &NewRun {
                strategy_id: strategy.id,
                mode: RunMode::Paper,
                venue: "sim".into(),
                params: serde_json::json!({}),
                symbols: vec!["SPY".into()],
                timeframe: "1Min".parse::<Timeframe>().expect("valid timeframe"),
                limits: None,
                risk: None,
                options: None,
            },
            None,
        )
        .await
        .expect("run");
    let got = send(&r, get(&format!("/runs/{}", run.id))).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json()["status"], "created");
    let stop = |id: i64| {
        Request::post(format!("/runs/{id}/stop"))
            .header("host", "localhost")
            .body(Body::empty())
            .expect("req")
    };
    let stopped = send(&r, stop(run.id)).await;
    assert_eq!(stopped.status, StatusCode::OK);
    assert_eq!(stopped.json()["status"], "stopped");
    let again = send(&r, stop(run.id)).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "run_not_active");
    let unknown = send(&r, stop(4242)).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(send(&r, get("/runs/4242")).await.error_code(), "not_found");
    assert_eq!(
        send(&r, get("/runs")).await.json().as_array().map(Vec::len),
        Some(1)
    );
}

/// An app whose paper runs replay one bar every `interval_ms` (0: as fast as possible), with
/// GOOG's daily candles stored.
async fn app_with_goog(interval_ms: u64) -> (axum::Router, weaver::app::App, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = weaver::app::Config::for_tests(dir.path());
    config.run_bar_interval_ms = interval_ms;
    let walle = weaver::walle::Walle::connect(&config.db)
        .await
        .expect("sqlite store");
    let state = weaver::app::App::new(config, walle).expect("state");
    let candles = crate::testdata::goog_candles();
    state
        .walle()
        .upsert_candles(&candles, None)
        .await
        .expect("candles stored");
    (weaver::glados::router(state.state()), state, dir)
}

/// Uploads a component and waits until it is compiled; returns its id.
pub(super) async fn upload(r: &axum::Router, s: &weaver::app::App, name: &str, file: &str) -> i64 {
    let wasm = std::fs::read(dist(file)).expect("component readable");
    let up = Request::post(format!("/strategies?name={name}"))
        .header("host", "localhost")
        .header("content-type", "application/wasm")
        .body(Body::from(wasm))
        .expect("req");
    let up = send(r, up).await;
    assert_eq!(up.status, StatusCode::ACCEPTED, "{}", up.json());
    let id = up.json()["id"].as_i64().expect("id");
    tokio::time::timeout(Duration::from_secs(120), s.idle())
        .await
        .expect("compiled in time");
    let got = send(r, get(&format!("/strategies/{id}"))).await.json();
    assert_eq!(got["status"], "ready", "{got}");
    id
}

pub(super) fn run_body(strategy: &str, params: &str) -> String {
    format!(
        r#"{{"strategy": {strategy}, "mode": "paper", "venue": "sim", "symbols": ["GOOG"], "timeframe": "1Day", "params": {params}}}"#
    )
}

/// Polls `GET /runs/{id}` until it is no longer running (bounded).
pub(super) async fn settled(r: &axum::Router, id: i64) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let v = send(r, get(&format!("/runs/{id}"))).await.json();
        if v["status"] != "running" {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} still running after 120 s: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(super) async fn orders_of(r: &axum::Router, id: i64) -> Vec<serde_json::Value> {
    let page = send(r, get(&format!("/orders?run={id}&limit=1000&order=asc"))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.json());
    page.json()["orders"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paper_runs_trade_and_a_hostile_one_fails_alone() {
    let (r, s, _d) = app_with_goog(0).await;
    let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    let hostile = upload(&r, &s, "hostile", "guests/hostile.wasm").await;

    let unknown = send(&r, post_json("/runs", run_body("\"no-such\"", "{}"))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), "not_found");
    let no_data = send(
        &r,
        post_json(
            "/runs",
            run_body(&sma.to_string(), "{}").replace("GOOG", "NOPE"),
        ),
    )
    .await;
    assert_eq!(no_data.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_data.error_code(), "no_candles");
    assert_eq!(send(&r, get("/runs")).await.json(), serde_json::json!([]));

    // Both at once: the healthy one by name, the hostile one spinning on its first bar.
    let good = send(
        &r,
        post_json(
            "/runs",
            run_body("\"sma-cross\"", r#"{"fast": 10, "slow": 30}"#),
        ),
    )
    .await;
    assert_eq!(good.status, StatusCode::CREATED, "{}", good.json());
    assert_eq!(good.json()["status"], "running");
    let good = good.json()["id"].as_i64().expect("id");
    let bad = send(
        &r,
        post_json(
            "/runs",
            run_body(&hostile.to_string(), r#"{"mode": "spin"}"#),
        ),
    )
    .await;
    assert_eq!(bad.status, StatusCode::CREATED, "{}", bad.json());
    let bad = bad.json()["id"].as_i64().expect("id");
    let trap = send(
        &r,
        post_json(
            "/runs",
            run_body(&hostile.to_string(), r#"{"mode": "unreachable"}"#),
        ),
    )
    .await;
    assert_eq!(trap.status, StatusCode::CREATED, "{}", trap.json());
    let trap = trap.json()["id"].as_i64().expect("id");

    let failed = settled(&r, bad).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error_code"], "strategy_fuel_exhausted", "{failed}");
    assert_eq!(failed["figures"]["traps"], 1, "{failed}");
    assert!(orders_of(&r, bad).await.is_empty());
    let trapped = settled(&r, trap).await;
    assert_eq!(trapped["status"], "failed", "{trapped}");
    assert_eq!(trapped["error_code"], "strategy_trap", "{trapped}");

    let done = settled(&r, good).await;
    assert_eq!(done["status"], "stopped", "{done}");
    assert_eq!(done["error_code"], serde_json::Value::Null);
    let figures = &done["figures"];
    assert_eq!(figures["traps"], 0, "{done}");
    assert!(
        figures["bars"].as_u64().unwrap_or(0) >= 2_000,
        "every bar delivered: {done}"
    );
    assert!(
        figures["fuel_per_event"].as_f64().unwrap_or(0.0) > 0.0,
        "{done}"
    );
    assert!(
        figures["peak_memory_bytes"].as_u64().unwrap_or(0) > 0,
        "{done}"
    );
    let orders = orders_of(&r, good).await;
    assert!(
        orders.len() >= 2,
        "a crossover strategy trades GOOG: {done}"
    );
    assert_eq!(figures["orders_placed"].as_u64(), Some(orders.len() as u64));
    assert!(
        orders.iter().all(|o| o["run_id"].as_i64() == Some(good)),
        "orders carry their run"
    );
    assert!(
        orders.iter().any(|o| o["status"] == "filled"),
        "fills were recorded: {:?}",
        orders.first()
    );
    tokio::time::timeout(Duration::from_secs(30), s.idle())
        .await
        .expect("run tasks end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_and_shutdown_end_paced_runs() {
    // 50 ms a bar: GOOG's ~2100 bars would take minutes, so only a stop ends these runs.
    let (r, s, _d) = app_with_goog(50).await;
    let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    let start = || async {
        let c = send(&r, post_json("/runs", run_body(&sma.to_string(), "{}"))).await;
        assert_eq!(c.status, StatusCode::CREATED, "{}", c.json());
        c.json()["id"].as_i64().expect("id")
    };
    let a = start().await;
    let b = start().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stop = Request::post(format!("/runs/{a}/stop"))
        .header("host", "localhost")
        .body(Body::empty())
        .expect("req");
    let stopped = send(&r, stop).await;
    assert_eq!(stopped.status, StatusCode::OK);
    assert_eq!(stopped.json()["status"], "stopped");
    let still = send(&r, get(&format!("/runs/{b}"))).await.json();
    assert_eq!(
        still["status"], "running",
        "stopping one run leaves the other: {still}"
    );
    let bars_a = settled(&r, a).await["figures"]["bars"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        bars_a < 2_000,
        "the stopped run did not replay everything: {bars_a}"
    );

    // Shutdown (what SIGTERM does) ends the other run in time, suspended for the next start;
    // the stopped one stays stopped.
    tokio::time::timeout(Duration::from_secs(30), s.shutdown(Duration::from_secs(20)))
        .await
        .expect("shutdown in time");
    let after = send(&r, get(&format!("/runs/{b}"))).await.json();
    assert_eq!(after["status"], "suspended", "{after}");
    let first = send(&r, get(&format!("/runs/{a}"))).await.json();
    assert_eq!(first["status"], "stopped", "{first}");
}

#[test]
fn run_pace_is_configurable() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let paced = weaver::app::Config::from_vars(vars(&[("WEAVER_RUN_BAR_INTERVAL_MS", "250")]))
        .expect("valid pace");
    assert_eq!(paced.run_bar_interval_ms, 250);
    let default = weaver::app::Config::from_vars(vars(&[])).expect("defaults");
    assert_eq!(default.run_bar_interval_ms, 0, "fast replay by default");
    let bad = weaver::app::Config::from_vars(vars(&[("WEAVER_RUN_BAR_INTERVAL_MS", "soon")]))
        .expect_err("not a number");
    assert!(
        bad.to_string().contains("WEAVER_RUN_BAR_INTERVAL_MS"),
        "{bad}"
    );
}

#[tokio::test]
async fn runs_left_running_by_a_dead_process_whose_strategy_is_gone_are_marked_failed() {
    let (_r, s, _d) = app(None).await;
    let w = s.walle();
    // A strategy row whose component was never stored: the run cannot be resumed.
    let strategy = strategy_row(w, "cd", "orphan").await;
    let new = NewRun {
        strategy_id: strategy.id,
        mode: RunMode::Paper,
        venue: "sim".into(),
        params: serde_json::json!({}),
        symbols: vec!["GOOG".into()],
        timeframe: Timeframe::DAY,
        limits: None,
        risk: None,
        options: None,
    };
    let orphan = w.insert_run(&new, None).await.expect("run");
    w.update_run_status(orphan.id, weaver::walle::RunStatus::Running, None, None)
        .await
        .expect("running");
    let done = w.insert_run(&new, None).await.expect("run");
    w.update_run_status(done.id, weaver::walle::RunStatus::Stopped, None, None)
        .await
        .expect("stopped");
    let resumed = s.runs().resume().await.expect("store");
    assert!(resumed.resumed.is_empty(), "{resumed:?}");
    assert_eq!(resumed.failed.len(), 1, "{resumed:?}");
    let orphan = w.run(orphan.id).await.expect("store").expect("row");
    assert_eq!(orphan.status, weaver::walle::RunStatus::Failed);
    assert_eq!(orphan.error_code.as_deref(), Some("strategy_unavailable"));
    let done = w.run(done.id).await.expect("store").expect("row");
    assert_eq!(
        done.status,
        weaver::walle::RunStatus::Stopped,
        "finished runs untouched"
    );
}

/// The `Link: rel="next"` target of a `GET /runs` answer, if any.
fn next_link(resp: &super::Resp) -> Option<String> {
    let link = resp.headers.get("link")?.to_str().expect("ascii link");
    let start = link.find('<')? + 1;
    let end = link.find(">; rel=\"next\"")?;
    Some(link[start..end].to_owned())
}

#[tokio::test]
async fn the_run_list_pages_newest_first_with_a_cursor_and_a_total() {
    let (r, s, _d) = app(None).await;
    let w = s.walle();
    let strategy = strategy_row(w, "cd", "pager").await;
    let mut ids = Vec::new();
    for _ in 0..7 {
        let run = w
            .insert_run(
                &NewRun {
                    strategy_id: strategy.id,
                    mode: RunMode::Paper,
                    venue: "sim".into(),
                    params: serde_json::json!({}),
                    symbols: vec!["SPY".into()],
                    timeframe: Timeframe::MINUTE,
                    limits: None,
                    risk: None,
                    options: None,
                },
                None,
            )
            .await
            .expect("run");
        ids.push(run.id);
    }
    for id in [ids[1], ids[4]] {
        w.update_run_status(id, weaver::walle::RunStatus::Stopped, None, None)
            .await
            .expect("stopped");
    }
    let newest_first: Vec<i64> = ids.iter().rev().copied().collect();
    let listed = |resp: &super::Resp| -> Vec<i64> {
        resp.json()
            .as_array()
            .expect("an array, as before paging")
            .iter()
            .map(|v| v["id"].as_i64().expect("id"))
            .collect()
    };
    let total = |resp: &super::Resp| -> i64 {
        resp.headers["x-total-count"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("a count")
    };

    // Without a limit: every run (up to 500), no next page.
    let all = send(&r, get("/runs")).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(listed(&all), newest_first);
    assert_eq!(total(&all), 7);
    assert_eq!(next_link(&all), None);

    // Pages of 3 following the links: 3 + 3 + 1, each run once, newest first.
    let (mut seen, mut sizes, mut next) =
        (Vec::new(), Vec::new(), Some("/runs?limit=3".to_owned()));
    while let Some(uri) = next {
        let page = send(&r, get(&uri)).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}");
        assert_eq!(total(&page), 7, "the total counts every page: {uri}");
        sizes.push(listed(&page).len());
        seen.extend(listed(&page));
        next = next_link(&page);
    }
    assert_eq!(sizes, vec![3, 3, 1]);
    assert_eq!(seen, newest_first);
    // A run created meanwhile does not shift a page already begun.
    let second = send(
        &r,
        get(&format!("/runs?limit=3&before={}", newest_first[2])),
    )
    .await;
    assert_eq!(listed(&second), newest_first[3..6].to_vec());

    // The status filter pages too, and its links keep it.
    let stopped = send(&r, get("/runs?status=stopped&limit=1")).await;
    assert_eq!(listed(&stopped), vec![ids[4]]);
    assert_eq!(total(&stopped), 2);
    let link = next_link(&stopped).expect("a second stopped run");
    assert!(link.contains("status=stopped"), "{link}");
    let rest = send(&r, get(&link)).await;
    assert_eq!(listed(&rest), vec![ids[1]]);
    assert_eq!(next_link(&rest), None);
    assert_eq!(total(&send(&r, get("/runs?status=failed")).await), 0);

    for bad in [
        "/runs?limit=0",
        "/runs?limit=1001",
        "/runs?before=0",
        "/runs?status=sleeping",
    ] {
        let resp = send(&r, get(bad)).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{bad}");
        resp.error_code();
    }
}
