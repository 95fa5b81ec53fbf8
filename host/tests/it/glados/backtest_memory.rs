//! Backtests bounded by memory (issue #20, finding M8): each job's memory estimate, the budget
//! they share (`WEAVER_BACKTEST_MEMORY_MB`), and the refusal of a job the budget can never hold.

use std::time::Duration;

use axum::http::StatusCode;
use weaver::greta::{budget, synth};

use super::{get, send};
use crate::support::{dist, post_json};

/// An app whose backtests may run three at once but share `budget_mb` of memory.
async fn app_with_budget(budget_mb: u64) -> (axum::Router, weaver::app::App, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = weaver::app::Config::for_tests(dir.path());
    config.backtest_concurrency = 3;
    config.backtest_memory_mb = budget_mb;
    let walle = weaver::walle::Walle::connect(&config.db)
        .await
        .expect("store");
    let s = weaver::app::App::new(config, walle).expect("app");
    (weaver::glados::router(s.state()), s, dir)
}

/// Stores `n` synthetic 1-minute bars of `symbol` and uploads sma-cross (waits until compiled).
async fn prepare(r: &axum::Router, s: &weaver::app::App, symbol: &str, n: usize) {
    let candles = super::backtests::candles(symbol, &synth::generate(n, 9));
    s.walle()
        .upsert_candles(&candles, None)
        .await
        .expect("candles stored");
    let wasm = std::fs::read(dist("sma-cross.wasm")).expect("component");
    let up = axum::http::Request::post("/strategies?name=sma-cross")
        .header("host", "localhost")
        .header("content-type", "application/wasm")
        .body(axum::body::Body::from(wasm))
        .expect("req");
    assert_eq!(send(r, up).await.status, StatusCode::ACCEPTED);
    tokio::time::timeout(Duration::from_secs(120), s.idle())
        .await
        .expect("compiled");
}

/// A request over `symbol` with the sandbox memory pinned to 32 MB, so the estimate is known.
fn request(symbol: &str) -> String {
    format!(
        r#"{{"strategy": "sma-cross", "symbols": ["{symbol}"], "timeframe": "1Min", "params": {{"fast": 5, "slow": 20}}, "limits": {{"memory_mb": 32}}}}"#
    )
}

/// With a budget that holds one backtest at a time (and three slots), four posted together run
/// one after another: never two `running` at once, the others `queued` waiting for `memory`
/// with their place in the queue, and all end `done`. Each shows its estimate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_for_one_backtest_runs_them_one_after_another() {
    let bars = 20_000;
    let estimate = budget::estimate_mb(bars, 32 << 20);
    // Room for one, not two.
    let (r, s, _dir) = app_with_budget(estimate + estimate / 2).await;
    prepare(&r, &s, "MEM", usize::try_from(bars).expect("bars")).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        let created = send(&r, post_json("/backtests", request("MEM"))).await;
        assert_eq!(
            created.status,
            StatusCode::ACCEPTED,
            "{}",
            String::from_utf8_lossy(&created.body)
        );
        let b = created.json();
        assert_eq!(b["memory_estimate_mb"].as_u64(), Some(estimate), "{b}");
        ids.push(b["id"].as_i64().expect("id"));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let (mut most, mut waited_for_memory) = (0, false);
    loop {
        let list = send(&r, get("/backtests?limit=10")).await.json();
        let rows = list.as_array().expect("list");
        assert_eq!(rows.len(), 4);
        let running = rows.iter().filter(|b| b["status"] == "running").count();
        most = most.max(running);
        for b in rows {
            assert_ne!(b["status"], "failed", "{b}");
            assert_eq!(b["memory_estimate_mb"].as_u64(), Some(estimate), "{b}");
            if b["status"] == "queued" && b["waiting_for"] == "memory" {
                assert!(b["queue_position"].as_u64().is_some_and(|p| p >= 1), "{b}");
                waited_for_memory = true;
            }
            if b["status"] != "queued" {
                assert!(
                    b["waiting_for"].is_null() && b["queue_position"].is_null(),
                    "{b}"
                );
            }
        }
        if rows.iter().all(|b| b["status"] == "done") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{list}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(most, 1, "never two running at once within the budget");
    assert!(waited_for_memory, "the others waited queued for memory");
    for id in ids {
        let b = send(&r, get(&format!("/backtests/{id}"))).await.json();
        assert_eq!(b["status"], "done", "{b}");
        assert_eq!(b["memory_estimate_mb"].as_u64(), Some(estimate), "{b}");
        assert!(
            b["report"]["equity"]
                .as_array()
                .is_some_and(|e| !e.is_empty())
        );
    }
    s.shutdown(Duration::from_secs(5)).await;
}

/// A backtest whose estimate alone is above the whole budget could never start: it is refused
/// at once with 422 `backtest_too_large`, its estimate and the budget in `details`, and nothing
/// is stored. One that fits the same budget is accepted.
#[tokio::test]
async fn a_backtest_larger_than_the_whole_budget_is_refused_and_nothing_stored() {
    let (r, s, _dir) = app_with_budget(100).await;
    prepare(&r, &s, "WIDE", 50_000).await;
    let bars = 50_000;
    let estimate = budget::estimate_mb(bars, 32 << 20);
    assert!(
        estimate > 100,
        "the request is larger than the budget: {estimate}"
    );
    let refused = send(&r, post_json("/backtests", request("WIDE"))).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.error_code(), "backtest_too_large");
    let body = refused.json();
    assert_eq!(
        body["details"]["estimate_mb"].as_u64(),
        Some(estimate),
        "{body}"
    );
    assert_eq!(body["details"]["budget_mb"].as_u64(), Some(100), "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("WEAVER_BACKTEST_MEMORY_MB")),
        "{body}"
    );
    assert_eq!(
        send(&r, get("/backtests")).await.json(),
        serde_json::json!([]),
        "nothing stored"
    );
    // The same symbol over a shorter range fits.
    let first = synth::generate(1, 9)[0].ts;
    let at = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .expect("ts")
            .to_rfc3339()
    };
    let (start, end) = (at(first), at(first + 1_000 * 60_000));
    let short = format!(
        r#"{{"strategy": "sma-cross", "symbols": ["WIDE"], "timeframe": "1Min", "start": "{start}", "end": "{end}", "limits": {{"memory_mb": 32}}}}"#
    );
    let ok = send(&r, post_json("/backtests", short)).await;
    assert_eq!(
        ok.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&ok.body)
    );
    assert_eq!(
        ok.json()["memory_estimate_mb"].as_u64(),
        Some(budget::estimate_mb(1_000, 32 << 20))
    );
    tokio::time::timeout(Duration::from_secs(120), s.idle())
        .await
        .expect("backtest ends");
    s.shutdown(Duration::from_secs(5)).await;
}

/// `WEAVER_BACKTEST_MEMORY_MB` is read and checked at start with the other variables; the
/// default is half the machine's memory.
#[test]
fn the_backtest_memory_budget_is_configured_and_checked() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let default = weaver::app::Config::from_vars(vars(&[])).expect("defaults");
    assert_eq!(default.backtest_memory_mb, budget::default_budget_mb());
    let set = weaver::app::Config::from_vars(vars(&[("WEAVER_BACKTEST_MEMORY_MB", "1024")]))
        .expect("valid");
    assert_eq!(set.backtest_memory_mb, 1024);
    for bad in ["63", "1048577", "lots", "-1"] {
        let pairs: &'static [(&'static str, &'static str)] =
            Box::leak(Box::new([("WEAVER_BACKTEST_MEMORY_MB", bad)]));
        let e = weaver::app::Config::from_vars(vars(pairs)).expect_err(bad);
        assert!(
            e.to_string()
                .contains("WEAVER_BACKTEST_MEMORY_MB must be an integer from 64 to 1048576"),
            "{e}"
        );
    }
}
