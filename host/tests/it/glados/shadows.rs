//! Shadow runs (`/runs/{id}/shadows`, ADR 0018), on SQLite and PostgreSQL: a paper run of
//! sma-cross on `sim` over GOOG with two shadows, one of the same version and parameters
//! (identical decisions, `first_divergence: null`, the same equity) and one with `fast` 10
//! instead of 5 (diverging at the first bar where backtests of the two settings decide
//! differently); the refusals with their codes; a stop; shadows resumed with their run after a
//! restart. And on the fake Alpaca: a shadow of the same version decides as the run.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Utc};
use weaver::app::{App, Config};
use weaver::walle::Walle;

use super::replay::{create_run, projected};
use super::runs::{run_body, settled, upload};
use super::{Resp, get, send};
use crate::support::post_json;
use crate::testdata::goog_candles;
use crate::walle::support::{TestStore, contract};

fn app_on(walle: Walle, dir: &std::path::Path) -> (axum::Router, App) {
    let mut config = Config::for_tests(dir);
    // Paced: the run is still trading when shadows join, and when the server shuts down.
    config.run_bar_interval_ms = 2;
    config.run_heartbeat_ms = 100;
    let app = App::new(config, walle).expect("app");
    (weaver::glados::router(app.state()), app)
}

pub(super) async fn shadow(r: &axum::Router, run: i64, body: serde_json::Value) -> Resp {
    send(r, post_json(&format!("/runs/{run}/shadows"), body)).await
}

pub(super) async fn diff(r: &axum::Router, run: i64, sid: i64) -> serde_json::Value {
    let d = send(r, get(&format!("/runs/{run}/shadows/{sid}/diff"))).await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.json());
    d.json()
}

pub(super) fn ts(v: &serde_json::Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

/// Waits until every shadow of `run` ended; returns them.
pub(super) async fn shadows_ended(r: &axum::Router, run: i64) -> Vec<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let list = send(r, get(&format!("/runs/{run}/shadows"))).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.json());
        let list = list.json().as_array().cloned().expect("array");
        if list.iter().all(|s| s["status"] != "running") {
            return list;
        }
        assert!(tokio::time::Instant::now() < deadline, "{list:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// sma-cross with a custom section appended: the same code, another sha256, so another version
/// (the examples are registered at start, and an upload of the same bytes is the same version).
fn other_version() -> Vec<u8> {
    let mut wasm = crate::support::dist_bytes("sma-cross.wasm");
    // A custom section (id 0) of 7 bytes: the name's length, the name "weave", one byte.
    wasm.extend_from_slice(&[0x00, 0x07, 0x05, b'w', b'e', b'a', b'v', b'e', 0x01]);
    wasm
}

/// Run `id`'s decisions once the projection has the last GOOG bar's (a resumed run's
/// decisions carry another correlation id than its start's).
async fn all_decisions(r: &axum::Router, id: i64) -> Vec<serde_json::Value> {
    let last = goog_candles().last().expect("candles").ts;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = send(
                r,
                get(&format!("/runs/{id}/decisions?after={after}&limit=1000")),
            )
            .await
            .json();
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                break;
            }
            after = page["next"].as_i64().expect("next");
            all.extend(items);
        }
        if all.last().is_some_and(|d| ts(&d["bar_ts"]) == last) {
            return all;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} decisions",
            all.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The bar times where a backtest of sma-cross (`fast`, slow 20) over GOOG decided to trade:
/// the bar before each fill (market orders fill at the next open), with the side.
async fn backtest_signals(
    r: &axum::Router,
    app: &App,
    strategy: i64,
    fast: u32,
) -> BTreeSet<(DateTime<Utc>, bool)> {
    let body = serde_json::json!({"strategy": strategy, "symbols": ["GOOG"], "timeframe": "1Day",
        "warmup": 0, "params": {"fast": fast, "slow": 20}});
    let created = send(r, post_json("/backtests", body)).await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.json());
    let id = created.json()["id"].as_i64().expect("id");
    tokio::time::timeout(Duration::from_secs(120), app.idle())
        .await
        .expect("backtest ends");
    let done = send(r, get(&format!("/backtests/{id}"))).await.json();
    assert_eq!(done["status"], "done", "{done}");
    let times: Vec<i64> = goog_candles()
        .iter()
        .map(|c| c.ts.timestamp_millis())
        .collect();
    let before = |t: &serde_json::Value| {
        let t = ts(t).timestamp_millis();
        let i = times.iter().position(|x| *x == t).expect("a GOOG bar time");
        DateTime::from_timestamp_millis(times[i - 1]).expect("time")
    };
    let mut signals = BTreeSet::new();
    for t in done["report"]["trades"].as_array().expect("trades") {
        let long = t["size"].as_f64().expect("size") > 0.0;
        signals.insert((before(&t["entry_time"]), long));
        // Every signal reverses the position: an exit is the opposite entry.
        signals.insert((before(&t["exit_time"]), !long));
    }
    signals
}

async fn shadows_follow_a_sim_run_and_the_diff_names_the_first_divergence(store: &TestStore) {
    store
        .walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, app) = app_on(store.walle.clone(), dir.path());
    app.start().await.expect("start");
    let sma = upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    let hostile = upload(&r, &app, "hostile", "guests/hostile.wasm").await;
    // Another version of sma-cross that is not ready (still compiling).
    let broken = Request::post("/strategies?name=sma-cross&version=compiling")
        .header("host", "localhost")
        .header("content-type", "application/wasm")
        .body(Body::from(other_version()))
        .expect("request");
    let broken = send(&r, broken).await;
    assert!(broken.status.is_success(), "{}", broken.json());
    let broken = broken.json()["id"].as_i64().expect("id");
    tokio::time::timeout(Duration::from_secs(120), app.idle())
        .await
        .expect("compiled in time");
    let changed = store
        .exec_sql(&format!(
            "update strategies set status = 'compiling' where id = {broken}"
        ))
        .await;
    assert_eq!(changed, 1);
    let corr = "shadows-sim-1";
    let created = send(
        &r,
        create_run(
            &run_body("\"sma-cross\"", r#"{"fast": 5, "slow": 20}"#),
            corr,
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let run = created.json()["id"].as_i64().expect("id");

    let same = shadow(&r, run, serde_json::json!({"strategy": sma})).await;
    assert_eq!(same.status, StatusCode::CREATED, "{}", same.json());
    assert_eq!(same.json()["status"], "running");
    assert_eq!(
        same.json()["params"],
        serde_json::json!({"fast": 5, "slow": 20})
    );
    let same = same.json()["id"].as_i64().expect("id");
    // By name and version label this time.
    let version = send(&r, get(&format!("/strategies/{sma}"))).await.json()["version"].clone();
    let other = shadow(
        &r,
        run,
        serde_json::json!({"strategy": {"name": "sma-cross", "version": version}, "params": {"fast": 10, "slow": 20}}),
    )
    .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.json());
    assert_eq!(other.json()["strategy_id"], sma);
    let other = other.json()["id"].as_i64().expect("id");
    // A third, stopped at once: it ends `stopped`, the run goes on.
    let third = shadow(&r, run, serde_json::json!({"strategy": "sma-cross"})).await;
    assert_eq!(third.status, StatusCode::CREATED, "{}", third.json());
    let third = third.json()["id"].as_i64().expect("id");
    let stop = Request::delete(format!("/runs/{run}/shadows/{third}"))
        .header("host", "localhost")
        .body(Body::empty())
        .expect("request");
    let stopped = send(&r, stop).await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.json());
    assert_eq!(stopped.json()["status"], "stopped");

    // Refusals, each with its code; nothing stored.
    let foreign = shadow(&r, run, serde_json::json!({"strategy": hostile})).await;
    assert_eq!(
        foreign.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        foreign.json()
    );
    assert_eq!(foreign.error_code(), "shadow_other_strategy");
    let not_ready = shadow(&r, run, serde_json::json!({"strategy": broken})).await;
    assert_eq!(
        not_ready.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        not_ready.json()
    );
    assert_eq!(not_ready.error_code(), "shadow_strategy_not_ready");
    let unknown = shadow(&r, 999_999, serde_json::json!({"strategy": sma})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let no_strategy = shadow(&r, run, serde_json::json!({"strategy": 999_999})).await;
    assert_eq!(no_strategy.status, StatusCode::NOT_FOUND);
    let bad = shadow(&r, run, serde_json::json!({"strategy": sma, "extra": 1})).await;
    assert!(bad.status.is_client_error(), "{}", bad.json());

    let done = settled(&r, run).await;
    assert_eq!(done["status"], "stopped", "{done}");
    let ended = shadows_ended(&r, run).await;
    assert_eq!(ended.len(), 3, "{ended:?}");
    let late = shadow(&r, run, serde_json::json!({"strategy": sma})).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.json());
    assert_eq!(late.error_code(), "run_not_active");
    assert_eq!(
        send(&r, get(&format!("/runs/{run}/shadows")))
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(3),
        "refusals store nothing"
    );
    let decisions = projected(&r, run, corr).await;
    assert!(decisions.len() > 2000, "{} decisions", decisions.len());

    // The same version and parameters: the very same decisions, bar after bar.
    let d = diff(&r, run, same).await;
    assert!(d["first_divergence"].is_null(), "{d}");
    assert_eq!(d["divergences"], 0, "{d}");
    let bars = d["bars"].as_array().expect("bars");
    assert!(bars.len() > 10, "sma-cross traded: {d}");
    assert!(bars.iter().all(|b| b["run"] == b["shadow"]), "{d}");
    assert_eq!(d["run_equity_source"], "sim_account");
    let last_bar = ts(&decisions.last().expect("decisions")["bar_ts"]);
    assert_eq!(ts(&d["compared_until"]), last_bar, "{d}");
    let (run_curve, shadow_curve) = (
        d["run_equity"].as_array().expect("curve"),
        d["shadow_equity"].as_array().expect("curve"),
    );
    assert!(shadow_curve.len() > 1000, "{} points", shadow_curve.len());
    assert!(run_curve.len() > 100, "{} points", run_curve.len());
    let mut compared = 0;
    for p in run_curve {
        if let Some(q) = shadow_curve.iter().find(|q| q["ts"] == p["ts"]) {
            let (a, b) = (p["equity"].as_f64().unwrap(), q["equity"].as_f64().unwrap());
            assert!(
                (a - b).abs() < 1e-6,
                "equity at {}: run {a}, shadow {b}",
                p["ts"]
            );
            compared += 1;
        }
    }
    assert!(compared > 100, "{compared} equity points compared");

    // fast 10 instead of 5: the first divergence is the first bar where backtests of the two
    // settings decide differently.
    let fast5 = backtest_signals(&r, &app, sma, 5).await;
    let fast10 = backtest_signals(&r, &app, sma, 10).await;
    let expected = fast5
        .symmetric_difference(&fast10)
        .map(|(t, _)| *t)
        .min()
        .expect("the settings differ");
    let d = diff(&r, run, other).await;
    assert_eq!(ts(&d["first_divergence"]), expected, "{d}");
    assert!(d["divergences"].as_u64().unwrap() > 1, "{d}");
    let at = d["bars"]
        .as_array()
        .expect("bars")
        .iter()
        .find(|b| b["diverges"] == true)
        .expect("a divergent bar");
    assert_eq!(ts(&at["bar_ts"]), expected);
    assert_ne!(at["run"], at["shadow"], "{at}");
    // The run's own decisions at that bar are what the diff shows on its side.
    let recorded: Vec<serde_json::Value> = decisions
        .iter()
        .filter(|x| ts(&x["bar_ts"]) == expected)
        .flat_map(|x| x["intents"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(at["run"], serde_json::Value::Array(recorded), "{at}");
    app.shutdown(Duration::from_secs(10)).await;
}

async fn shadows_are_resumed_with_their_run_after_a_restart(store: &TestStore) {
    store
        .walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, app) = app_on(store.walle.clone(), dir.path());
    app.start().await.expect("start");
    let sma = upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    let created = send(
        &r,
        create_run(
            &run_body("\"sma-cross\"", r#"{"fast": 5, "slow": 20}"#),
            "shadows-restart",
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let run = created.json()["id"].as_i64().expect("id");
    let same = shadow(&r, run, serde_json::json!({"strategy": sma})).await;
    assert_eq!(same.status, StatusCode::CREATED, "{}", same.json());
    let same = same.json()["id"].as_i64().expect("id");
    let other = shadow(
        &r,
        run,
        serde_json::json!({"strategy": sma, "params": {"fast": 10, "slow": 20}}),
    )
    .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.json());
    let other = other.json()["id"].as_i64().expect("id");
    // Some decisions of both stored, then the shutdown.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while store.walle.last_shadow_seq(same).await.expect("seq") < 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no shadow decisions in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.shutdown(Duration::from_secs(10)).await;
    for sid in [same, other] {
        let s = store.walle.shadow(sid).await.expect("store").expect("row");
        assert_eq!(
            s.status, "running",
            "a shutdown leaves shadows to resume: {s:?}"
        );
    }

    // The same data directory: the components are where the first app kept them.
    let mut config = Config::for_tests(dir.path());
    config.run_heartbeat_ms = 100;
    let again = App::new(config, store.walle.clone()).expect("app");
    again.start().await.expect("start");
    let r = weaver::glados::router(again.state());
    let done = settled(&r, run).await;
    assert_eq!(done["status"], "stopped", "{done}");
    let ended = shadows_ended(&r, run).await;
    assert!(ended.iter().all(|s| s["status"] == "stopped"), "{ended:?}");
    let decisions = all_decisions(&r, run).await;
    let d = diff(&r, run, same).await;
    assert!(d["first_divergence"].is_null(), "{d}");
    assert_eq!(
        ts(&d["compared_until"]),
        ts(&decisions.last().expect("decisions")["bar_ts"]),
        "{d}"
    );
    assert!(d["bars"].as_array().map_or(0, Vec::len) > 10, "{d}");
    let d = diff(&r, run, other).await;
    assert!(!d["first_divergence"].is_null(), "{d}");
    again.shutdown(Duration::from_secs(10)).await;
}

contract!(
    shadows_follow_a_sim_run_and_the_diff_names_the_first_divergence,
    shadows_are_resumed_with_their_run_after_a_restart
);

/// On the fake Alpaca (sma-cross fast 1 / slow 2, no warm-up): a shadow of the same version
/// decides as the run, bar for bar, its orders never reaching the venue; one with fast 3 / slow
/// 5 does not buy where the run buys, and the diff names that bar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadows_follow_a_run_on_the_fake_alpaca() {
    use super::alpaca_runs::{app_on, push, rich_fake, run_view};
    let fake = rich_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, app) = app_on(&fake, dir.path(), false).await;
    // The consumers: the decisions projection the diff reads.
    app.start().await.expect("start");
    let sma = upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    let corr = "shadows-alpaca-1";
    let body = serde_json::json!({"strategy": sma, "mode": "paper", "venue": "alpaca",
        "symbols": ["AAPL"], "timeframe": "1Min", "params": {"fast": 1, "slow": 2},
        "warmup": 0, "cash": 1_000_000.0});
    let created = send(&r, create_run(&body.to_string(), corr)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let run = created.json()["id"].as_i64().expect("id");
    // Flat bars (no signal) until the run's subscription is live.
    let mut t = 1_700_000_000_000_i64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        push(&fake, "AAPL", t, 190.0);
        t += 60_000;
        tokio::time::sleep(Duration::from_millis(50)).await;
        if run_view(&r, run).await["figures"]["bars"]
            .as_u64()
            .unwrap_or(0)
            > 0
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run never got a bar"
        );
    }
    // Started after the run's first bars: they catch up from the hub.
    let same = shadow(&r, run, serde_json::json!({"strategy": sma})).await;
    assert_eq!(same.status, StatusCode::CREATED, "{}", same.json());
    let same = same.json()["id"].as_i64().expect("id");
    let other = shadow(
        &r,
        run,
        serde_json::json!({"strategy": sma, "params": {"fast": 3, "slow": 5}}),
    )
    .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.json());
    let other = other.json()["id"].as_i64().expect("id");
    // A fall then a rise: fast 1 crosses above slow 2 on the rise (a buy); fast 3 stays under
    // slow 5 there.
    let rise = t + 2 * 60_000;
    for close in [189.0, 188.0, 191.0, 191.5, 192.0] {
        push(&fake, "AAPL", t, close);
        t += 60_000;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !fake.orders().iter().any(|o| o.symbol == "AAPL") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run never bought"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Until both shadows took the last bar.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let a = diff(&r, run, same).await;
        let b = diff(&r, run, other).await;
        let last = |d: &serde_json::Value| {
            d["shadow_equity"]
                .as_array()
                .and_then(|c| c.last())
                .map(|p| ts(&p["ts"]).timestamp_millis())
        };
        if last(&a) == Some(t - 60_000) && last(&b) == Some(t - 60_000) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{a}\n{b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stop = send(&r, post_json(&format!("/runs/{run}/stop"), "")).await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.json());
    let ended = shadows_ended(&r, run).await;
    assert!(ended.iter().all(|s| s["status"] == "stopped"), "{ended:?}");
    projected(&r, run, corr).await;
    // Only the run's orders reached the venue.
    assert!(
        fake.orders()
            .iter()
            .all(|o| !o.client_order_id.contains("shadow")),
        "{:?}",
        fake.orders()
    );
    let rise = DateTime::from_timestamp_millis(rise).expect("time");
    let d = diff(&r, run, same).await;
    assert!(d["first_divergence"].is_null(), "{d}");
    assert_eq!(d["run_equity_source"], "venue_fills");
    let bars = d["bars"].as_array().expect("bars");
    assert_eq!(bars.len(), 1, "{d}");
    assert_eq!(ts(&bars[0]["bar_ts"]), rise, "{d}");
    assert!(
        !d["run_equity"].as_array().expect("curve").is_empty(),
        "{d}"
    );
    let d = diff(&r, run, other).await;
    assert_eq!(ts(&d["first_divergence"]), rise, "{d}");
    assert_eq!(d["bars"][0]["shadow"], serde_json::json!([]), "{d}");
    app.shutdown(Duration::from_secs(10)).await;
}
