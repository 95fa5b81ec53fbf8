//! Runs on Alpaca through `POST /runs`, against the local fake: two runs trade at once over the
//! desk's one order-update and one market-data connection (the fake allows one each per
//! account), orders journaled under the run with installation-scoped `client_order_id`s, fills
//! recorded once, the run's account built from them; a guest told its lifecycle and its own
//! account as on `sim` and in a backtest; the mode and venue refusals (nothing
//! stored); recovery before trading (a position the store cannot explain refuses runs on that
//! symbol only); a restart resuming the run with intent numbers continuing and no order sent
//! twice.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use weaver::app::{App, Config};
use weaver::domain::Bar;
use weaver::veda::alpaca::fake::{FakeAlpaca, FakeConfig};
use weaver::veda::desk::Desk;
use weaver::walle::Walle;

use super::runs::upload;
use super::{get, send};
use crate::support::post_json;
use crate::veda::{fake, venue};

/// An app on `dir` whose `alpaca` venue is a desk on `fake` (`live`: configured for real money).
pub(super) async fn app_on(
    fake: &FakeAlpaca,
    dir: &std::path::Path,
    live: bool,
) -> (axum::Router, App) {
    let config = Config::for_tests(dir);
    let walle = Walle::connect(&config.db).await.expect("sqlite store");
    let desk = Desk::new(Arc::new(venue(fake)), walle.clone(), live);
    let state = App::with_desks(config, walle, vec![desk]).expect("state");
    (weaver::glados::router(state.state()), state)
}

pub(super) async fn rich_fake() -> FakeAlpaca {
    fake(FakeConfig {
        initial_cash: Decimal::from(10_000_000),
        market_open: Some(true),
        // A killed process's socket must not hold the account's one stream slot for long.
        stale_socket_after: Duration::from_secs(2),
        ..FakeConfig::default()
    })
    .await
}

fn body(strategy: i64, mode: &str, symbols: &[&str], timeframe: &str) -> String {
    serde_json::json!({
        "strategy": strategy, "mode": mode, "venue": "alpaca", "symbols": symbols,
        "timeframe": timeframe, "params": {"fast": 1, "slow": 2}
    })
    .to_string()
}

/// `body` with a `cash` share of the account: the run sizes its orders from it.
fn body_with_cash(strategy: i64, symbols: &[&str], cash: f64) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&body(strategy, "paper", symbols, "1Min")).expect("json");
    v["cash"] = serde_json::json!(cash);
    v.to_string()
}

fn bar(ts: i64, close: f64) -> Bar {
    Bar {
        ts,
        open: close,
        high: close + 0.5,
        low: close - 0.5,
        close,
        volume: 1000.0,
    }
}

/// Pushes a bar of `symbol` at `close`, the fake's fill price following it.
pub(super) fn push(fake: &FakeAlpaca, symbol: &str, ts: i64, close: f64) {
    fake.set_price(symbol, Decimal::from_f64(close).expect("price"));
    fake.push_bar(symbol, bar(ts, close));
}

pub(super) async fn run_view(r: &axum::Router, id: i64) -> serde_json::Value {
    let v = send(r, get(&format!("/runs/{id}"))).await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.json());
    v.json()
}

/// Pushes probe bars (flat, so no signal) until run `id` has received one: then its bar
/// subscription is live and later bars reach it.
async fn until_subscribed(
    r: &axum::Router,
    fake: &FakeAlpaca,
    id: i64,
    symbol: &str,
    ts: &mut i64,
    price: f64,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        push(fake, symbol, *ts, price);
        *ts += 60_000;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let v = run_view(r, id).await;
        assert_eq!(v["status"], "running", "{v}");
        if v["figures"]["bars"].as_u64().unwrap_or(0) > 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} never got a bar: {v}"
        );
    }
}

/// Waits until `pred` holds for the fake's orders; on failure shows the runs and their logs.
pub(super) async fn until_orders(
    r: &axum::Router,
    fake: &FakeAlpaca,
    what: &str,
    pred: impl Fn(&[weaver::veda::alpaca::fake::FakeOrder]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !pred(&fake.orders()) {
        if tokio::time::Instant::now() >= deadline {
            let runs = send(r, get("/runs")).await.json();
            let mut logs = Vec::new();
            for run in runs.as_array().into_iter().flatten() {
                let id = run["id"].as_i64().unwrap_or(0);
                logs.push(
                    send(r, get(&format!("/runs/{id}/logs?limit=1000&order=asc")))
                        .await
                        .json(),
                );
            }
            panic!(
                "{what}: the fake has {:?}\nruns: {runs}\nlogs: {logs:?}",
                fake.orders()
                    .iter()
                    .map(|o| (&o.client_order_id, &o.symbol, &o.side, &o.status))
                    .collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_alpaca_runs_trade_over_one_connection_each() {
    let fake = rich_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(&fake, dir.path(), false).await;
    let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;

    // Each run's orders are sized from its own share of the account (an equity fraction of 1.0
    // would otherwise spend the whole account on the first run's buy).
    let a = send(
        &r,
        post_json("/runs", body_with_cash(sma, &["AAPL"], 1_000_000.0)),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    let m = send(
        &r,
        post_json("/runs", body_with_cash(sma, &["MSFT"], 2_000_000.0)),
    )
    .await;
    assert_eq!(m.status, StatusCode::CREATED, "{}", m.json());
    let (a, m) = (
        a.json()["id"].as_i64().expect("id"),
        m.json()["id"].as_i64().expect("id"),
    );
    assert_eq!(run_view(&r, a).await["venue"], "alpaca");
    assert_eq!(run_view(&r, a).await["starting_cash"], 1_000_000.0);

    let mut ts = 1_700_000_000_000;
    until_subscribed(&r, &fake, a, "AAPL", &mut ts, 190.0).await;
    until_subscribed(&r, &fake, m, "MSFT", &mut ts, 400.0).await;
    // fast 1 / slow 2: a rise after a fall crosses up (buy), the fall after it crosses down.
    for (aapl, msft) in [(189.0, 399.0), (188.0, 398.0), (191.0, 402.0)] {
        push(&fake, "AAPL", ts, aapl);
        push(&fake, "MSFT", ts, msft);
        ts += 60_000;
    }
    until_orders(&r, &fake, "a buy from each run", |orders| {
        ["AAPL", "MSFT"].iter().all(|s| {
            orders
                .iter()
                .any(|o| o.symbol == *s && o.filled_qty > Decimal::ZERO)
        })
    })
    .await;

    // One order-update connection for both runs (a second would be refused by the fake).
    assert!(fake.trade_stream_connected());
    let installation = s.walle().installation_id().await.expect("installation id");
    let prefix: String = format!("{a}{installation}").chars().take(16).collect();
    for (run, symbol) in [(a, "AAPL"), (m, "MSFT")] {
        // Fills arrive on the shared stream and are recorded once by the desk.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let orders = loop {
            let orders = super::runs::orders_of(&r, run).await;
            if orders.iter().any(|o| o["status"] == "filled") {
                break orders;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {run}: {orders:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(orders.iter().all(|o| o["symbol"] == symbol), "{orders:?}");
        let cid = orders[0]["client_order_id"].as_str().expect("cid");
        assert_eq!(
            weaver::veda::client_order_id::sequence(cid),
            Some(1),
            "{cid}"
        );
        if run == a {
            assert!(
                cid.starts_with(&format!("w-{prefix}-1-")),
                "{cid} is scoped by the installation"
            );
        }
        let v = run_view(&r, run).await;
        let positions = v["positions"].as_array().expect("positions");
        assert_eq!(positions.len(), 1, "{v}");
        assert_eq!(positions[0]["symbol"], symbol);
        assert!(positions[0]["qty"].as_f64().expect("qty") > 0.0, "{v}");
    }
    // Every order the fake holds was journaled first, under one of the two runs.
    let stored = send(&r, get("/orders?limit=1000")).await.json();
    let stored = stored["orders"].as_array().expect("orders");
    for o in fake.orders() {
        let row = stored
            .iter()
            .find(|s| s["client_order_id"] == o.client_order_id.as_str())
            .unwrap_or_else(|| panic!("{} was sent without a journal entry", o.client_order_id));
        assert!(row["run_id"] == a || row["run_id"] == m, "{row}");
    }
    let accounts = send(&r, get("/accounts")).await.json();
    let alpaca = accounts
        .as_array()
        .expect("accounts")
        .iter()
        .find(|a| a["venue"] == "alpaca")
        .cloned()
        .unwrap_or_else(|| panic!("no alpaca account in {accounts}"));
    assert_eq!(alpaca["runs"], 2, "{alpaca}");

    for run in [a, m] {
        let stop = send(&r, post_json(&format!("/runs/{run}/stop"), "")).await;
        assert_eq!(stop.status, StatusCode::OK, "{}", stop.json());
    }
    s.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_venue_and_reachability_refusals_store_nothing() {
    let fake = rich_fake().await;
    let paper_dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(&fake, paper_dir.path(), false).await;
    let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    for (req, status, code) in [
        (
            body(sma, "live", &["AAPL"], "1Min"),
            StatusCode::CONFLICT,
            "live_not_enabled",
        ),
        (
            // Alpaca has no 2-day bars (live runs take its nine timeframes).
            body(sma, "paper", &["AAPL"], "2Day"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_timeframe",
        ),
        (
            body(sma, "live", &["AAPL"], "1Min").replace("\"alpaca\"", "\"sim\""),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_mode",
        ),
    ] {
        let resp = send(&r, post_json("/runs", &req)).await;
        assert_eq!(resp.status, status, "{req}: {}", resp.json());
        assert_eq!(resp.error_code(), code, "{req}");
    }

    let live_dir = tempfile::tempdir().expect("temp dir");
    let (lr, ls) = app_on(&fake, live_dir.path(), true).await;
    let lsma = upload(&lr, &ls, "sma-cross", "sma-cross.wasm").await;
    let paper_on_live = send(
        &lr,
        post_json("/runs", body(lsma, "paper", &["AAPL"], "1Min")),
    )
    .await;
    assert_eq!(paper_on_live.status, StatusCode::CONFLICT);
    assert_eq!(paper_on_live.error_code(), "venue_is_live");

    // A venue that cannot be reached: 503, and nothing is stored.
    let gone = {
        let f = rich_fake().await;
        let cfg = crate::veda::client_config(&f);
        f.shutdown();
        drop(f);
        cfg
    };
    let dead_dir = tempfile::tempdir().expect("temp dir");
    let config = Config::for_tests(dead_dir.path());
    let walle = Walle::connect(&config.db).await.expect("sqlite store");
    let desk = Desk::new(
        Arc::new(crate::veda::venue_with(gone)),
        walle.clone(),
        false,
    );
    let ds = App::with_desks(config, walle, vec![desk]).expect("state");
    let dr = weaver::glados::router(ds.state());
    let dsma = upload(&dr, &ds, "sma-cross", "sma-cross.wasm").await;
    let unreachable = send(
        &dr,
        post_json("/runs", body(dsma, "paper", &["AAPL"], "1Min")),
    )
    .await;
    assert_eq!(
        unreachable.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        unreachable.json()
    );
    assert_eq!(unreachable.error_code(), "venue_unavailable");

    for router in [&r, &lr, &dr] {
        assert_eq!(
            send(router, get("/runs")).await.json(),
            serde_json::json!([]),
            "nothing stored"
        );
    }
    // Without Alpaca configured at all.
    let (plain, _ps, _pd) = super::app(None).await;
    let none = send(
        &plain,
        post_json("/runs", body(1, "paper", &["AAPL"], "1Min")),
    )
    .await;
    assert_eq!(none.status, StatusCode::CONFLICT);
    assert_eq!(none.error_code(), "venue_unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unexplained_position_refuses_runs_on_that_symbol_only() {
    let fake = rich_fake().await;
    // Someone else bought MSFT on this account: the store knows nothing of it.
    fake.set_position("MSFT", Decimal::from(7), Decimal::from(400));
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(&fake, dir.path(), false).await;
    let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;

    // A paper run on the simulated exchange bought 3 AAPL and left an intent pending: neither is
    // Alpaca's business (its recovery must not resolve the intent there nor expect the position).
    let w = s.walle();
    let sim_run = w
        .insert_run(
            &weaver::walle::NewRun {
                strategy_id: sma,
                mode: weaver::walle::RunMode::Paper,
                venue: "sim".into(),
                params: serde_json::json!({}),
                symbols: vec!["AAPL".into()],
                timeframe: weaver::domain::Timeframe::MINUTE,
                limits: None,
                risk: None,
                options: None,
            },
            None,
        )
        .await
        .expect("sim run");
    let elsewhere = rich_fake().await;
    let other = venue(&elsewhere);
    let journal = weaver::veda::journal::store::WalleJournal::new(w.clone());
    let exposure = weaver::veda::risk::Exposure {
        reference_price: Some(Decimal::from(190)),
        ..weaver::veda::risk::Exposure::default()
    };
    let sim_id = sim_run.id.to_string();
    weaver::veda::journal::place_order(
        &journal,
        &other,
        &sim_id,
        1,
        crate::veda::market("", "AAPL", weaver::domain::Side::Buy, Decimal::from(3)),
        &weaver::veda::risk::RiskLimits::default(),
        &exposure,
    )
    .await
    .expect("filled elsewhere");
    weaver::veda::journal::recover::recover(
        &journal,
        &other,
        chrono::Utc::now() - chrono::Duration::hours(1),
    )
    .await
    .expect("the fill is recorded");
    let pending = weaver::veda::client_order_id::derive(&sim_id, 2);
    let intent = crate::veda::market(
        &pending,
        "AAPL",
        weaver::domain::Side::Sell,
        Decimal::from(3),
    );
    weaver::veda::journal::OrderJournal::record_intent(&journal, &sim_id, 2, &intent)
        .await
        .expect("journaled");

    let refused = send(
        &r,
        post_json("/runs", body(sma, "paper", &["AAPL", "MSFT"], "1Min")),
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.json());
    assert_eq!(refused.error_code(), "venue_unreconciled");
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains("MSFT"),
        "{}",
        refused.json()
    );
    let fine = send(
        &r,
        post_json("/runs", body(sma, "paper", &["AAPL"], "1Min")),
    )
    .await;
    assert_eq!(fine.status, StatusCode::CREATED, "{}", fine.json());
    // No explicit cash: the account's equity at the start (cash and the 7 MSFT at 410) is the
    // run's baseline.
    let id = fine.json()["id"].as_i64().expect("id");
    assert_eq!(run_view(&r, id).await["starting_cash"], 10_002_870.0);
    let still = journal.order(&pending).await.expect("store").expect("row");
    assert_eq!(
        still.status,
        weaver::walle::OrderState::PendingSubmit,
        "the simulated run's intent was left alone"
    );
    s.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_alpaca_run_resumes_without_sending_anything_twice() {
    let fake = rich_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    // First process: its own runtime, killed after the first order (tasks dropped where they
    // stand, nothing written on the way out), as a crash would.
    let (id, mut ts) = tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let rt = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .expect("runtime");
                    let out = rt.block_on(async {
                        let (r, s) = app_on(&fake, dir.path(), false).await;
                        let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
                        let created = send(
                            &r,
                            post_json("/runs", body(sma, "paper", &["AAPL"], "1Min")),
                        )
                        .await;
                        assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
                        let id = created.json()["id"].as_i64().expect("id");
                        let mut ts = 1_700_000_000_000;
                        until_subscribed(&r, &fake, id, "AAPL", &mut ts, 190.0).await;
                        for close in [189.0, 188.0, 191.0] {
                            push(&fake, "AAPL", ts, close);
                            ts += 60_000;
                        }
                        until_orders(&r, &fake, "a first order", |o| !o.is_empty()).await;
                        (id, ts)
                    });
                    rt.shutdown_timeout(Duration::from_secs(10));
                    out
                })
                .join()
                .expect("first process")
        })
    });

    let before = fake.orders().len();
    let (r, s) = app_on(&fake, dir.path(), false).await;
    assert_eq!(
        run_view(&r, id).await["status"],
        "running",
        "the crash left it running"
    );
    let done = s.runs().resume().await.expect("resume");
    assert_eq!(done.resumed, vec![id], "{done:?}");
    until_subscribed(&r, &fake, id, "AAPL", &mut ts, 191.0).await;
    // A fresh strategy needs two bars again; then a rise and a fall cross both ways.
    for close in [192.0, 193.0, 187.0] {
        push(&fake, "AAPL", ts, close);
        ts += 60_000;
    }
    until_orders(&r, &fake, "orders after the restart", |o| o.len() > before).await;
    let orders = fake.orders();
    let mut cids: Vec<&str> = orders.iter().map(|o| o.client_order_id.as_str()).collect();
    let sequences: Vec<u64> = cids
        .iter()
        .map(|c| weaver::veda::client_order_id::sequence(c).expect("derived id"))
        .collect();
    assert_eq!(sequences[0], 1, "{cids:?}");
    let first_life = sequences[..before].iter().max().copied().unwrap_or(0);
    assert!(
        sequences[before..].iter().all(|s| *s > first_life),
        "numbering continues after the journaled intents: {cids:?}"
    );
    cids.sort_unstable();
    cids.dedup();
    assert_eq!(cids.len(), orders.len(), "no id sent twice");
    let logs = send(&r, get(&format!("/runs/{id}/logs?limit=1000&order=asc")))
        .await
        .json();
    assert!(
        logs["items"]
            .as_array()
            .expect("log lines")
            .iter()
            .any(|l| l["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("run resumed after a restart: venue alpaca recovered")),
        "{logs}"
    );
    let stop = send(&r, post_json(&format!("/runs/{id}/stop"), "")).await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.json());
    s.shutdown(Duration::from_secs(10)).await;
}

/// The messages of run `id`'s log so far.
pub(super) async fn log_of(r: &axum::Router, id: i64) -> Vec<String> {
    let page = send(r, get(&format!("/runs/{id}/logs?limit=1000&order=asc")))
        .await
        .json();
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["message"].as_str().map(str::to_owned))
        .collect()
}

/// A guest on Alpaca is told what it is told on `sim` and in a backtest: `started` and its
/// account before its first bar, its account again before the first bar after its buy filled,
/// and `stopping` when the run is stopped. The account is the run's own (its fills over its
/// baseline), told from the fill the runner just saw even if the desk has not recorded it yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_on_alpaca_is_told_its_lifecycle_and_its_own_account() {
    let fake = rich_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(&fake, dir.path(), false).await;
    let hostile = upload(&r, &s, "hostile", "guests/hostile.wasm").await;
    let body = serde_json::json!({
        "strategy": hostile, "mode": "paper", "venue": "alpaca", "symbols": ["AAPL"],
        "timeframe": "1Min", "cash": 100_000.0, "params": {"mode": "observe"}
    });
    let created = send(&r, post_json("/runs", body.to_string())).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let id = created.json()["id"].as_i64().expect("id");

    // The observer buys 1 on its first bar; the fake fills it at once.
    let mut ts = 1_700_000_000_000;
    until_subscribed(&r, &fake, id, "AAPL", &mut ts, 190.0).await;
    until_orders(&r, &fake, "the observer's buy filled", |orders| {
        orders.iter().any(|o| o.filled_qty > Decimal::ZERO)
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !log_of(&r, id).await.iter().any(|m| m == "account 1 1") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no snapshot with the fill: {:?}",
            log_of(&r, id).await
        );
        push(&fake, "AAPL", ts, 190.0);
        ts += 60_000;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stop = send(&r, post_json(&format!("/runs/{id}/stop"), "")).await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.json());
    // The status is `stopped` as soon as the stop is asked for; the task logs "run stopped" once
    // it told the strategy and ended.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = log_of(&r, id).await;
        if text.iter().any(|m| m == "run stopped") {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run task did not end: {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
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
        .expect("the fill was told");
    let snapshot = at("account 1 1").expect("snapshot with the fill");
    assert!(fill < snapshot, "{text:?}");
    assert_eq!(
        text.iter().filter(|m| m.starts_with("account ")).count(),
        2,
        "one snapshot at the start, one after the fill: {text:?}"
    );
    let stopping = at("lifecycle stopping").expect("told stopping");
    let guest = |m: &String| {
        ["tick ", "order ", "account ", "lifecycle "]
            .iter()
            .any(|p| m.starts_with(p))
    };
    assert!(
        !text[stopping + 1..].iter().any(guest),
        "stopping is the guest's last event: {text:?}"
    );
    s.shutdown(Duration::from_secs(10)).await;
}
