//! Per-run sandbox limits through the API: `POST /runs` and `POST /backtests` take `limits`
//! within the operator's ceilings (above them `limit_not_allowed`, nothing stored), a guest that
//! needs more fuel than its tier passes with them and fails without, figures and reports show the
//! limits in force, an ended run's figures come from the store (also in a fresh process), and a
//! resumed run keeps the limits it asked for.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use weaver::app::{App, Config};
use weaver::domain::Timeframe;
use weaver::walle::{NewRun, RunMode, RunStatus, Walle};

use super::runs::{run_body, settled, upload};
use super::{get, send};
use crate::support::post_json;

/// The first `n` daily candles of GOOG: few bars, so a guest burning tens of millions of fuel
/// per bar still ends quickly.
fn goog(n: usize) -> Vec<weaver::walle::Candle> {
    crate::testdata::goog_candles()
        .into_iter()
        .take(n)
        .collect()
}

/// An app over the SQLite store in `dir` (a second call on the same `dir` is a fresh process
/// on the same data).
async fn app_in(dir: &std::path::Path) -> (Router, App) {
    let config = Config::for_tests(dir);
    let walle = Walle::connect(&config.db).await.expect("sqlite store");
    let app = App::new(config, walle).expect("app");
    (weaver::glados::router(app.state()), app)
}

/// `body` (a JSON object) with `"limits": limits` added.
fn with_limits(body: &str, limits: &str) -> String {
    let object = body.trim_end();
    let open = object.strip_suffix('}').expect("a JSON object");
    format!("{open}, \"limits\": {limits}}}")
}

async fn created(r: &Router, uri: &str, body: &str) -> i64 {
    let c = send(r, post_json(uri, body)).await;
    assert!(c.status.is_success(), "{body}: {}", c.json());
    c.json()["id"].as_i64().expect("id")
}

/// Polls `GET /backtests/{id}` until it is done or failed (bounded).
async fn finished(r: &Router, id: i64) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let v = send(r, get(&format!("/backtests/{id}"))).await.json();
        if v["status"] == "done" || v["status"] == "failed" {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "backtest {id}: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_and_backtests_take_limits_within_the_ceilings_and_show_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let (r, s) = app_in(dir.path()).await;
    s.walle()
        .upsert_candles(&goog(30), None)
        .await
        .expect("candles");
    let hostile = upload(&r, &s, "hostile", "guests/hostile.wasm").await;
    // ~30 M fuel per bar: over the light tier's 21 M for a one-bar call, within 40 M + 1 M.
    let iters = crate::marvin::burn_iters_for(30e6);
    let burn = run_body(
        &hostile.to_string(),
        &format!(r#"{{"mode": "burn", "iters": "{iters}"}}"#),
    );

    // Refused before anything is loaded or stored, naming the field and the ceiling.
    for (limits, named) in [
        (
            r#"{"fuel_per_event": 3000000000}"#,
            "fuel_per_event 3000000000 is above the operator's maximum 2000000000 (WEAVER_MAX_FUEL_PER_EVENT)",
        ),
        (
            r#"{"fuel_per_bar": 20000001}"#,
            "fuel_per_bar 20000001 is above the operator's maximum 20000000 (WEAVER_MAX_FUEL_PER_BAR)",
        ),
        (
            r#"{"memory_mb": 512}"#,
            "memory_mb 512 is above the operator's maximum 256 (WEAVER_MAX_MEMORY_MB)",
        ),
        (r#"{"memory_mb": 0}"#, "memory_mb must be greater than 0"),
    ] {
        let resp = send(&r, post_json("/runs", with_limits(&burn, limits))).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{limits}");
        assert_eq!(resp.error_code(), "limit_not_allowed", "{limits}");
        let message = resp.json()["message"].as_str().unwrap_or("").to_owned();
        assert!(message.contains(named), "{limits}: {message}");
    }
    let unknown = send(&r, post_json("/runs", with_limits(&burn, r#"{"fuel": 1}"#))).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.error_code(), "invalid_body");
    assert_eq!(send(&r, get("/runs")).await.json(), serde_json::json!([]));

    // The tier's limits: the guest runs out of fuel at its first bar.
    let tier = created(&r, "/runs", &burn).await;
    let failed = settled(&r, tier).await;
    assert_eq!(failed["error_code"], "strategy_fuel_exhausted", "{failed}");
    let limits = &failed["figures"]["limits"];
    assert_eq!(limits["fuel_per_event"], 20_000_000, "{failed}");
    assert_eq!(limits["fuel_per_bar"], 1_000_000, "{failed}");
    assert_eq!(limits["max_memory_bytes"], 32 << 20, "{failed}");
    assert_eq!(limits["max_host_bytes"], 64 << 20, "{failed}");

    // Asking for more: every bar passes, and the figures show what was asked for.
    let asked_for = r#"{"fuel_per_event": 40000000, "memory_mb": 48}"#;
    let asked = created(&r, "/runs", &with_limits(&burn, asked_for)).await;
    let done = settled(&r, asked).await;
    assert_eq!(done["status"], "stopped", "{done}");
    let figures = &done["figures"];
    assert_eq!(figures["bars"], 30, "{done}");
    assert_eq!(figures["traps"], 0, "{done}");
    assert_eq!(figures["limits"]["fuel_per_event"], 40_000_000, "{done}");
    assert_eq!(figures["limits"]["max_memory_bytes"], 48 << 20, "{done}");
    assert!(
        figures["fuel_max"].as_u64().unwrap_or(0) > 21_000_000,
        "the guest needed more than the tier: {done}"
    );
    assert!(
        figures["peak_host_bytes"].as_u64().is_some(),
        "the host budget's peak is shown: {done}"
    );
    let row = s.walle().run(asked).await.expect("store").expect("row");
    assert_eq!(
        row.limits.map(|l| l.0),
        Some(
            serde_json::json!({"fuel_per_event": 40_000_000, "fuel_per_bar": null, "max_memory_bytes": 48 << 20})
        ),
        "stored with the run"
    );
    assert_eq!(
        s.walle()
            .run(tier)
            .await
            .expect("store")
            .expect("row")
            .limits,
        None
    );

    // Backtests: ~15 M fuel per bar fits a one-bar call but not a batch of bars (20 M + 1 M per
    // bar), so the tier fails and more fuel per bar passes.
    let iters = crate::marvin::burn_iters_for(15e6);
    let bt = format!(
        r#"{{"strategy": {hostile}, "symbols": ["GOOG"], "timeframe": "1Day", "params": {{"mode": "burn", "iters": "{iters}"}}}}"#
    );
    let over = send(
        &r,
        post_json(
            "/backtests",
            with_limits(&bt, r#"{"fuel_per_bar": 20000001}"#),
        ),
    )
    .await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(over.error_code(), "limit_not_allowed");
    assert!(
        over.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("fuel_per_bar") && m.contains("WEAVER_MAX_FUEL_PER_BAR")),
        "{}",
        over.json()
    );
    assert_eq!(
        send(&r, get("/backtests")).await.json(),
        serde_json::json!([]),
        "nothing stored"
    );
    let plain = finished(&r, created(&r, "/backtests", &bt).await).await;
    assert_eq!(plain["status"], "failed", "{plain}");
    assert!(
        plain["error"]
            .as_str()
            .is_some_and(|e| e.contains("strategy_fuel_exhausted")),
        "{plain}"
    );
    let more = with_limits(&bt, r#"{"fuel_per_bar": 20000000}"#);
    let more = finished(&r, created(&r, "/backtests", &more).await).await;
    assert_eq!(more["status"], "done", "{more}");
    let limits = &more["report"]["strategy"]["limits"];
    assert_eq!(limits["fuel_per_bar"], 20_000_000, "{more}");
    assert_eq!(limits["fuel_per_event"], 20_000_000, "{more}");
    assert_eq!(limits["max_host_bytes"], 64 << 20, "{more}");
    assert_eq!(
        more["config"]["limits"],
        serde_json::json!({"fuel_per_bar": 20_000_000, "fuel_per_event": null, "memory_mb": null}),
        "the request as posted"
    );
    tokio::time::timeout(Duration::from_secs(30), s.idle())
        .await
        .expect("tasks end");

    // Ended runs are read from the store: a fresh process shows the same figures.
    let before = send(&r, get(&format!("/runs/{asked}"))).await.json();
    drop((r, s));
    let (r, _s) = app_in(dir.path()).await;
    let after = send(&r, get(&format!("/runs/{asked}"))).await.json();
    assert_eq!(after["figures"], before["figures"], "{after}");
    let logs = send(&r, get(&format!("/runs/{asked}/logs?after=0&limit=1000"))).await;
    assert!(
        logs.json()["items"]
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l["message"] == "replay finished")),
        "{}",
        logs.json()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_keeps_the_limits_it_asked_for() {
    let dir = tempfile::tempdir().expect("tmp");
    let (r, s) = app_in(dir.path()).await;
    let w = s.walle();
    w.upsert_candles(&goog(20), None).await.expect("candles");
    let hostile = upload(&r, &s, "hostile", "guests/hostile.wasm").await;
    let iters = crate::marvin::burn_iters_for(30e6).to_string();
    // Two runs a dead process left running: one that asked for more fuel, one that did not.
    let new = NewRun {
        strategy_id: hostile,
        mode: RunMode::Paper,
        venue: "sim".into(),
        params: serde_json::json!({"mode": "burn", "iters": iters}),
        symbols: vec!["GOOG".into()],
        timeframe: Timeframe::DAY,
        limits: Some(serde_json::json!({"fuel_per_event": 40_000_000})),
        risk: None,
        options: None,
    };
    let mut ids = Vec::new();
    for new in [
        new.clone(),
        NewRun {
            limits: None,
            ..new
        },
    ] {
        let run = w.insert_run(&new, None).await.expect("run");
        w.update_run_status(run.id, RunStatus::Running, None, None)
            .await
            .expect("running");
        ids.push(run.id);
    }
    let resumed = s.runs().resume().await.expect("resume");
    assert_eq!(resumed.resumed, ids, "{resumed:?}");
    let asked = settled(&r, ids[0]).await;
    assert_eq!(asked["status"], "stopped", "{asked}");
    assert_eq!(asked["figures"]["limits"]["fuel_per_event"], 40_000_000);
    assert_eq!(asked["figures"]["bars"], 20, "{asked}");
    let tier = settled(&r, ids[1]).await;
    assert_eq!(tier["error_code"], "strategy_fuel_exhausted", "{tier}");
    assert_eq!(tier["figures"]["limits"]["fuel_per_event"], 20_000_000);
    tokio::time::timeout(Duration::from_secs(30), s.idle())
        .await
        .expect("run tasks end");
}
