//! Paper runs' state through the API, on SQLite and PostgreSQL: the account (cash, equity, PnL,
//! positions, last trade) while running and after the end (also from a fresh process), the run
//! log (lifecycle, the strategy's log lines and stdout, errors) with its cursor, `GET /accounts`,
//! the starting cash, clock ticks and order updates reaching a subscribed strategy, heartbeats in
//! the event feed, the per-run metrics, and resuming runs after the process died.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use weaver::app::{App, Config};
use weaver::domain::Timeframe;
use weaver::walle::{NewRun, RunMode, RunStatus, StrategyStatus, Walle};

use super::runs::{orders_of, run_body, settled, strategy_row, upload};
use super::{get, send};
use crate::support::post_json;
use crate::testdata::goog_candles;
use crate::walle::support::{Kind, TestStore};

/// An app over `walle` with its data (components, compiled cache) in `dir`.
fn app_on(
    walle: Walle,
    dir: &std::path::Path,
    interval_ms: u64,
    heartbeat_ms: u64,
) -> (Router, App) {
    let mut config = Config::for_tests(dir);
    config.run_bar_interval_ms = interval_ms;
    config.run_heartbeat_ms = heartbeat_ms;
    let state = App::new(config, walle).expect("app");
    (weaver::glados::router(state.state()), state)
}

async fn start(r: &Router, body: &str) -> i64 {
    let c = send(r, post_json("/runs", body)).await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.json());
    c.json()["id"].as_i64().expect("id")
}

async fn all_logs(r: &Router, id: i64) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = send(r, get(&format!("/runs/{id}/logs?after={after}&limit=50"))).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.json());
        let page = page.json();
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            assert_eq!(page["next"], after, "next stays put on an empty page");
            assert_eq!(
                newest_first(r, id).await,
                out.iter().rev().cloned().collect::<Vec<_>>(),
                "newest first (memory, then the store) is the same log backwards"
            );
            return out;
        }
        for (i, item) in items.iter().enumerate() {
            let seq = item["seq"].as_i64().expect("seq");
            assert_eq!(seq, after + 1 + i as i64, "no gaps: {item}");
            for k in ["ts", "level", "message"] {
                assert!(item.get(k).is_some(), "log line lacks {k}: {item}");
            }
        }
        after = page["next"].as_i64().expect("next");
        out.extend(items);
    }
}

/// Run `id`'s log newest first, following `next_before` to the first line.
async fn newest_first(r: &Router, id: i64) -> Vec<serde_json::Value> {
    let (mut out, mut uri) = (Vec::new(), format!("/runs/{id}/logs?limit=7"));
    loop {
        let page = send(r, get(&uri)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.json());
        let page = page.json();
        out.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_before"].as_i64() {
            Some(before) => uri = format!("/runs/{id}/logs?limit=7&before={before}"),
            None => return out,
        }
    }
}

fn messages(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

async fn state_and_logs(kind: Kind) {
    let store = TestStore::new(kind).await;
    store
        .walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(store.walle.clone(), dir.path(), 0, 100);
    upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    upload(&r, &s, "hostile", "guests/hostile.wasm").await;

    let idle = send(&r, get("/accounts")).await;
    assert_eq!(idle.status, StatusCode::OK);
    assert_eq!(
        idle.json(),
        serde_json::json!([]),
        "no venue configured and no simulated run: no account"
    );
    // The starting cash is validated; refusals store nothing.
    for (cash, code) in [
        ("0", "invalid_cash"),
        ("-5", "invalid_cash"),
        ("1e13", "invalid_cash"),
        ("\"lots\"", "invalid_body"),
    ] {
        let body = run_body("\"sma-cross\"", "{}")
            .replace("\"params\"", &format!("\"cash\": {cash}, \"params\""));
        let resp = send(&r, post_json("/runs", &body)).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{cash}");
        assert_eq!(resp.error_code(), code, "{cash}");
    }
    assert_eq!(send(&r, get("/runs")).await.json(), serde_json::json!([]));

    let sma = start(
        &r,
        &run_body("\"sma-cross\"", r#"{"fast": 5, "slow": 20}"#)
            .replace("\"params\"", "\"cash\": 50000, \"params\""),
    )
    .await;
    let observer = start(&r, &run_body("\"hostile\"", r#"{"mode": "observe"}"#)).await;
    let trap = start(&r, &run_body("\"hostile\"", r#"{"mode": "unreachable"}"#)).await;

    let done = settled(&r, sma).await;
    assert_eq!(done["status"], "stopped", "{done}");
    assert_eq!(done["strategy_name"], "sma-cross");
    assert_eq!(done["starting_cash"], 50000.0);
    for k in ["created_at", "started_at", "stopped_at"] {
        assert!(done[k].is_string(), "{k}: {done}");
    }
    let equity = done["equity"].as_f64().expect("equity");
    let pnl = &done["pnl"];
    let total = pnl["total"].as_f64().expect("total");
    assert!(close(total, equity - 50000.0), "{done}");
    assert!(
        close(
            total,
            pnl["realized"].as_f64().expect("realized") + pnl["unrealized"].as_f64().expect("u")
        ),
        "{done}"
    );
    let positions = done["positions"].as_array().expect("positions");
    let unrealized: f64 = positions
        .iter()
        .map(|p| {
            for k in ["symbol", "qty", "avg_price", "last_price", "unrealized_pnl"] {
                assert!(p.get(k).is_some(), "position lacks {k}: {p}");
            }
            p["unrealized_pnl"].as_f64().expect("pnl")
        })
        .sum();
    assert!(
        close(unrealized, pnl["unrealized"].as_f64().expect("u")),
        "{done}"
    );
    let last = &done["last_trade"];
    assert_eq!(last["symbol"], "GOOG", "{done}");
    assert!(last["side"] == "buy" || last["side"] == "sell", "{done}");
    assert!(last["qty"].as_f64().unwrap_or(0.0) > 0.0, "{done}");
    assert!(last["price"].as_f64().unwrap_or(0.0) > 0.0, "{done}");
    assert!(last["ts"].is_string(), "{done}");
    // The account rebuilt from the stored orders agrees with the exchange's on cash and the last
    // fill (its marks are fill prices, hence equity may differ while a position is open).
    let orders: Vec<weaver::walle::Order> = {
        let page = store
            .walle
            .orders(&weaver::walle::OrderFilter {
                run_id: Some(sma),
                limit: 1000,
                ..Default::default()
            })
            .await
            .expect("orders");
        page.orders
    };
    assert!(orders.len() >= 4, "sma-cross 5/20 trades GOOG often");
    let rebuilt = weaver::runs::AccountState::from_orders(50000.0, &orders);
    assert!(
        close(rebuilt.cash, done["cash"].as_f64().expect("cash")),
        "{rebuilt:?} vs {done}"
    );
    assert_eq!(
        rebuilt.last_trade.as_ref().map(|t| t.price),
        last["price"].as_f64()
    );

    // The observer saw a clock tick per bar period and its own order's updates; its stdout and
    // log lines are in the run's log after the lifecycle lines.
    let seen = settled(&r, observer).await;
    assert_eq!(seen["status"], "stopped", "{seen}");
    let figures = &seen["figures"];
    let bars = figures["bars"].as_u64().expect("bars");
    assert!(bars >= 2_000, "{seen}");
    assert_eq!(
        figures["clock_ticks"].as_u64(),
        Some(bars),
        "daily bars: one tick each"
    );
    assert_eq!(seen["positions"][0]["qty"], 1.0, "{seen}");
    let lines = all_logs(&r, observer).await;
    let text = messages(&lines);
    assert!(
        text[0].starts_with("run started: strategy hostile"),
        "{text:?}"
    );
    assert!(
        text.contains(&"stdout: observer starts".to_owned()),
        "{text:?}"
    );
    assert_eq!(
        text.iter().filter(|m| m.starts_with("tick ")).count() as u64,
        bars,
        "one tick line per bar period"
    );
    let updates: Vec<&String> = text.iter().filter(|m| m.starts_with("order ")).collect();
    assert!(
        updates
            .iter()
            .any(|m| m.contains("Filled") && m.ends_with(" 1")),
        "the fill of its order reached the strategy: {updates:?}"
    );
    assert_eq!(text.last().map(String::as_str), Some("replay finished"));
    // It was told what a backtest tells: started and its account before its first bar, its
    // account again once its buy filled, stopping last (when the replay ended).
    let at = |line: &str| text.iter().position(|m| m == line);
    let started = at("lifecycle started").expect("told started");
    assert_eq!(at("account 0 0"), Some(started + 1), "{text:?}");
    assert!(
        started < at("stdout: observer starts").expect("first bar"),
        "{text:?}"
    );
    let fill = text
        .iter()
        .position(|m| m.starts_with("order ") && m.contains("Filled"))
        .expect("fill");
    assert_eq!(at("account 1 1"), Some(fill + 1), "{text:?}");
    assert_eq!(
        text.iter().filter(|m| m.starts_with("account ")).count(),
        2,
        "one snapshot at the start, one after the fill: {text:?}"
    );
    let stopping = at("lifecycle stopping").expect("told stopping");
    assert_eq!(
        stopping,
        text.len() - 2,
        "stopping is the guest's last event"
    );

    let failed = settled(&r, trap).await;
    assert_eq!(failed["error_code"], "strategy_trap", "{failed}");
    let text = messages(&all_logs(&r, trap).await);
    assert!(
        text.iter()
            .any(|m| m.starts_with("run failed (strategy_trap)")),
        "{text:?}"
    );
    let levels: Vec<serde_json::Value> = all_logs(&r, trap)
        .await
        .iter()
        .map(|l| l["level"].clone())
        .collect();
    assert!(levels.contains(&serde_json::json!("error")));

    // The log's cursor and its refusals.
    let page = send(&r, get(&format!("/runs/{observer}/logs?after=1&limit=2")))
        .await
        .json();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["items"][0]["seq"], 2);
    assert_eq!(page["next"], 3);
    for (uri, status) in [
        (
            format!("/runs/{observer}/logs?limit=0"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/runs/{observer}/logs?after=-1"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/runs/{observer}/logs?after=x"),
            StatusCode::BAD_REQUEST,
        ),
        ("/runs/4242/logs".to_owned(), StatusCode::NOT_FOUND),
    ] {
        let resp = send(&r, get(&uri)).await;
        assert_eq!(resp.status, status, "{uri}");
        resp.error_code();
    }

    // List items carry the same fields.
    let list = send(&r, get("/runs")).await.json();
    let item = list
        .as_array()
        .and_then(|l| l.iter().find(|v| v["id"] == sma))
        .cloned()
        .expect("listed");
    for k in [
        "strategy_name",
        "cash",
        "equity",
        "pnl",
        "positions",
        "last_trade",
    ] {
        assert_eq!(item[k], done[k], "{k}");
    }

    // Per-run metrics, under the names the dashboards use (`weaver_strategy_memory_bytes{run_id}`
    // only while the run runs: `glados::run_metrics`).
    let metrics = send(&r, get("/metrics")).await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    for needle in [
        "weaver_runs{status=\"stopped\"}",
        "weaver_runs{status=\"failed\"}",
        "weaver_strategy_fuel_total{strategy=\"sma-cross\"}",
        "weaver_strategy_call_duration_seconds_bucket{strategy=\"sma-cross\"",
        "weaver_strategy_traps_total{strategy=\"hostile\",code=\"strategy_trap\"}",
    ] {
        assert!(text.contains(needle), "{needle} missing from /metrics");
    }

    // A fresh process (nothing in memory) shows the same account, figures and log from the store.
    let (r2, _s2) = app_on(store.walle.clone(), dir.path(), 0, 100);
    let again = send(&r2, get(&format!("/runs/{sma}"))).await.json();
    for k in [
        "cash",
        "equity",
        "pnl",
        "positions",
        "last_trade",
        "starting_cash",
    ] {
        assert_eq!(again[k], done[k], "{k} from the stored snapshot");
    }
    assert_eq!(again["figures"], done["figures"], "figures from the store");
    assert!(again["figures"]["calls"].as_u64() > Some(0), "{again}");
    assert_eq!(
        messages(&all_logs(&r2, observer).await),
        messages(&all_logs(&r, observer).await),
        "the stored log is the whole log"
    );
    tokio::time::timeout(Duration::from_secs(30), s.idle())
        .await
        .expect("run tasks end");
    store.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_state_and_logs_sqlite() {
    state_and_logs(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_state_and_logs_postgres() {
    state_and_logs(Kind::Pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_runs_heartbeat_and_count_in_accounts() {
    let store = TestStore::new(Kind::Sqlite).await;
    store
        .walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let dir = tempfile::tempdir().expect("temp dir");
    // 20 ms a bar: the runs stay active for the whole test.
    let (r, s) = app_on(store.walle.clone(), dir.path(), 20, 100);
    upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    let a = start(
        &r,
        &run_body("\"sma-cross\"", "{}").replace("\"params\"", "\"cash\": 1000, \"params\""),
    )
    .await;
    let b = start(&r, &run_body("\"sma-cross\"", "{}")).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Each simulated run has its own paper account, `sim/<run id>`.
    let accounts = send(&r, get("/accounts")).await.json();
    let ids: Vec<&str> = accounts
        .as_array()
        .expect("accounts")
        .iter()
        .filter_map(|x| x["id"].as_str())
        .collect();
    assert_eq!(ids, [format!("sim/{a}"), format!("sim/{b}")], "{accounts}");
    let equity: f64 = accounts
        .as_array()
        .expect("accounts")
        .iter()
        .map(|x| x["equity"].as_f64().expect("equity"))
        .sum();
    assert!(equity > 10_000.0 && equity < 12_000.0, "{accounts}");
    let view = send(&r, get(&format!("/runs/{a}"))).await.json();
    assert_eq!(view["status"], "running");
    assert_eq!(view["starting_cash"], 1000.0);
    assert_eq!(view["stopped_at"], serde_json::Value::Null);

    let tail = send(&r, get("/events/tail?limit=1000")).await.json();
    let beats: Vec<&serde_json::Value> = tail["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "ui.run.Heartbeat")
        .collect();
    for id in [a, b] {
        let mine: Vec<_> = beats.iter().filter(|e| e["data"]["run_id"] == id).collect();
        assert!(
            mine.len() >= 3,
            "a beat every 100 ms for run {id}: {beats:?}"
        );
        let tag = serde_json::Value::String(id.to_string());
        assert!(mine.iter().all(|e| e["run_id"] == tag));
        assert!(
            mine.last()
                .is_some_and(|e| e["data"]["bars"].as_u64() > Some(0))
        );
    }
    tokio::time::timeout(Duration::from_secs(30), s.shutdown(Duration::from_secs(20)))
        .await
        .expect("shutdown in time");
    let idle = send(&r, get("/accounts")).await.json();
    assert_eq!(
        idle,
        serde_json::json!([]),
        "ended runs' accounts leave the list: {idle}"
    );
    store.finish().await;
}

#[test]
fn heartbeat_period_is_configurable() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let c = Config::from_vars(vars(&[("WEAVER_RUN_HEARTBEAT_MS", "250")])).expect("valid");
    assert_eq!(c.run_heartbeat_ms, 250);
    assert_eq!(
        Config::from_vars(vars(&[]))
            .expect("defaults")
            .run_heartbeat_ms,
        5_000
    );
    for bad in ["0", "soon", "99"] {
        let pairs: &'static [(&'static str, &'static str)] =
            Box::leak(Box::new([("WEAVER_RUN_HEARTBEAT_MS", bad)]));
        let e = Config::from_vars(vars(pairs)).expect_err(bad);
        assert!(e.to_string().contains("WEAVER_RUN_HEARTBEAT_MS"), "{e}");
    }
}

/// The orders of a run as comparable facts: (sequence, side, quantity, filled, average price).
fn facts(orders: &[serde_json::Value]) -> Vec<(String, String, String, String, String)> {
    orders
        .iter()
        .map(|o| {
            let cid = o["client_order_id"].as_str().unwrap_or_default();
            // `w-<prefix>-<sequence>-<digest>`: the sequence is the run-independent part.
            let seq = cid.rsplit('-').nth(1).unwrap_or_default().to_owned();
            let t = |k: &str| o[k].to_string();
            (
                seq,
                t("side"),
                t("quantity"),
                t("filled_quantity"),
                t("average_price"),
            )
        })
        .collect()
}

async fn resume_after_a_crash(kind: Kind) {
    let store = TestStore::new(kind).await;
    store
        .walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let dir = tempfile::tempdir().expect("temp dir");
    let params = r#"{"fast": 5, "slow": 20}"#;

    // First process: its own runtime, killed mid-run (tasks dropped where they stand, nothing
    // written on the way out), as a crash would.
    let walle = store.second_handle().await;
    let path = dir.path().to_owned();
    let id = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let id = rt.block_on(async {
            let (r, s) = app_on(walle, &path, 2, 100);
            upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
            let id = start(&r, &run_body("\"sma-cross\"", params)).await;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while orders_of(&r, id).await.len() < 3 {
                assert!(tokio::time::Instant::now() < deadline, "no orders in time");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Let a heartbeat record the progress.
            tokio::time::sleep(Duration::from_millis(250)).await;
            id
        });
        rt.shutdown_timeout(Duration::from_secs(10));
        id
    })
    .join()
    .expect("first process");
    let row = store.walle.run(id).await.expect("store").expect("row");
    assert_eq!(row.status, RunStatus::Running, "the crash left it running");
    let before = store
        .walle
        .run_account(id)
        .await
        .expect("store")
        .expect("account");
    assert!(before.bars > 0, "progress was recorded: {before:?}");

    // Second process on the same store: the run continues and ends.
    let (r, s) = app_on(store.walle.clone(), dir.path(), 2, 100);
    let resumed = s.runs().resume().await.expect("resume");
    assert_eq!(resumed.resumed, vec![id]);
    let done = settled(&r, id).await;
    assert_eq!(done["status"], "stopped", "{done}");
    assert!(done["figures"]["bars"].as_u64() >= Some(2_000), "{done}");
    let text = messages(&all_logs(&r, id).await);
    assert!(text[0].starts_with("run started"), "{text:?}");
    assert!(
        text.iter()
            .any(|m| m.starts_with("run resumed after a restart")),
        "{text:?}"
    );
    let resumed_orders = orders_of(&r, id).await;
    let mut ids: Vec<&str> = resumed_orders
        .iter()
        .filter_map(|o| o["client_order_id"].as_str())
        .collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "unique client order ids");

    // The same orders as a run that was never interrupted.
    let reference = start(&r, &run_body("\"sma-cross\"", params)).await;
    assert_eq!(settled(&r, reference).await["status"], "stopped");
    let reference_orders = orders_of(&r, reference).await;
    assert_eq!(facts(&resumed_orders), facts(&reference_orders));
    let statuses = |orders: &[serde_json::Value]| -> Vec<String> {
        orders.iter().map(|o| o["status"].to_string()).collect()
    };
    assert_eq!(statuses(&resumed_orders), statuses(&reference_orders));
    tokio::time::timeout(Duration::from_secs(30), s.idle())
        .await
        .expect("run tasks end");
    store.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_resume_after_a_crash_sqlite() {
    resume_after_a_crash(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_resume_after_a_crash_postgres() {
    resume_after_a_crash(Kind::Pg).await;
}

#[tokio::test]
async fn runs_that_cannot_resume_fail_with_a_code() {
    let store = TestStore::new(Kind::Sqlite).await;
    let w = &store.walle;
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(w.clone(), dir.path(), 0, 100);
    // A ready strategy whose component file is gone.
    let gone = strategy_row(w, "ef", "gone").await;
    w.update_strategy_status(gone.id, StrategyStatus::Ready, None, None)
        .await
        .expect("ready");
    let new = NewRun {
        strategy_id: gone.id,
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
    w.update_run_status(orphan.id, RunStatus::Running, None, None)
        .await
        .expect("running");
    let stopping = w.insert_run(&new, None).await.expect("run");
    w.update_run_status(stopping.id, RunStatus::Stopping, None, None)
        .await
        .expect("stopping");
    let live = w
        .insert_run(
            &NewRun {
                mode: RunMode::Live,
                venue: "alpaca".into(),
                ..new.clone()
            },
            None,
        )
        .await
        .expect("run");
    w.update_run_status(live.id, RunStatus::Running, None, None)
        .await
        .expect("running");

    let done = s.runs().resume().await.expect("resume");
    assert!(done.resumed.is_empty(), "{done:?}");
    assert_eq!(done.stopped, vec![stopping.id]);
    let got = send(&r, get(&format!("/runs/{}", orphan.id))).await.json();
    assert_eq!(got["status"], "failed");
    assert_eq!(got["error_code"], "strategy_unavailable");
    let text = messages(&all_logs(&r, orphan.id).await);
    assert!(
        text.iter()
            .any(|m| m.starts_with("not resumed after a restart (strategy_unavailable)")),
        "{text:?}"
    );
    // Alpaca is not configured in this process: its run cannot continue.
    let got = send(&r, get(&format!("/runs/{}", live.id))).await.json();
    assert_eq!(got["error_code"], "venue_unavailable");
    // Accounts of runs that never traded: the default cash, nothing else.
    assert_eq!(got["cash"], 10_000.0);
    assert_eq!(got["positions"], serde_json::json!([]));
    assert_eq!(got["last_trade"], serde_json::Value::Null);
    store.finish().await;
}

/// Hostile neighbours through the API (reliability.md §3.4): guests that flood WASI host calls
/// (printing until the output cap) or spin until their fuel runs out, started beside a healthy
/// run. Each fails alone with its code; the healthy run's per-bar loop keeps its pace (p99 of
/// the time between two bars). The strategy world has no Weaver host imports, so a slow Weaver
/// host call (case 9) has nothing to block on; a guest's long call is cut by fuel or the epoch
/// deadline on a worker of its own (`block_in_place`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_neighbours_leave_a_healthy_runs_pace_alone() {
    let store = TestStore::new(Kind::Sqlite).await;
    store
        .walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(store.walle.clone(), dir.path(), 0, 1_000);
    upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    upload(&r, &s, "hostile", "guests/hostile.wasm").await;
    let healthy = run_body("\"sma-cross\"", r#"{"fast": 5, "slow": 20}"#);

    let alone = start(&r, &healthy).await;
    let alone = settled(&r, alone).await;
    assert_eq!(alone["status"], "stopped", "{alone}");
    let alone_p99 = alone["figures"]["bar_gap_p99_us"].as_u64().expect("p99");
    assert!(alone_p99 > 0, "{alone}");

    let mut hostile = Vec::new();
    for mode in ["spin", "print", "spin", "print"] {
        let body = run_body("\"hostile\"", &format!(r#"{{"mode": "{mode}"}}"#));
        hostile.push((mode, start(&r, &body).await));
    }
    let beside = start(&r, &healthy).await;
    for (mode, id) in hostile {
        let v = settled(&r, id).await;
        let code = if mode == "spin" {
            "strategy_fuel_exhausted"
        } else {
            "strategy_output_too_large"
        };
        assert_eq!(v["status"], "failed", "{mode}: {v}");
        assert_eq!(v["error_code"], code, "{mode}: {v}");
    }
    let beside = settled(&r, beside).await;
    assert_eq!(beside["status"], "stopped", "{beside}");
    assert_eq!(beside["figures"]["bars"], alone["figures"]["bars"]);
    let beside_p99 = beside["figures"]["bar_gap_p99_us"].as_u64().expect("p99");
    println!(
        "healthy run's bar loop p99: alone {alone_p99} µs, beside hostile runs {beside_p99} µs"
    );
    assert!(
        beside_p99 <= (4 * alone_p99).max(alone_p99 + 10_000),
        "p99 alone {alone_p99} µs, beside hostile runs {beside_p99} µs"
    );
    let fresh_orders = orders_of(&r, beside["id"].as_i64().expect("id")).await;
    assert!(!fresh_orders.is_empty());
    tokio::time::timeout(Duration::from_secs(30), s.idle())
        .await
        .expect("run tasks end");
    store.finish().await;
}

/// The trading switch reaches paper runs: halted, a strategy's orders are refused before the
/// journal (nothing stored, the run goes on); active again, it trades.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trading_switch_reaches_paper_runs() {
    use weaver::veda::risk::TradingState;
    let store = TestStore::new(Kind::Sqlite).await;
    store
        .walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(store.walle.clone(), dir.path(), 0, 1_000);
    upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    let body = run_body("\"sma-cross\"", r#"{"fast": 5, "slow": 20}"#);

    s.runs().trading_switch().set_global(TradingState::Halted);
    let halted = start(&r, &body).await;
    let v = settled(&r, halted).await;
    assert_eq!(v["status"], "stopped", "{v}");
    assert!(v["figures"]["order_intents"].as_u64() > Some(0), "{v}");
    assert!(
        orders_of(&r, halted).await.is_empty(),
        "no order while halted"
    );
    assert_eq!(v["positions"], serde_json::json!([]));

    s.runs().trading_switch().set_global(TradingState::Active);
    let active = start(&r, &body).await;
    assert_eq!(settled(&r, active).await["status"], "stopped");
    assert!(!orders_of(&r, active).await.is_empty());
    tokio::time::timeout(Duration::from_secs(30), s.idle())
        .await
        .expect("run tasks end");
    store.finish().await;
}
