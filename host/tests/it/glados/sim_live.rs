//! Runs on `sim-live` (the simulated exchange on Alpaca's live bars) through `POST /runs`,
//! against the local fake: listed by `GET /venues` only when Alpaca is configured, paper only;
//! a sim-live run trades in its own simulated account without a single trading request reaching
//! the fake; beside an Alpaca paper run of the same strategy on the same stream it makes the same
//! decisions; a restart resumes it from the stored live bars without placing anything twice.

use std::time::Duration;

use axum::http::StatusCode;
use weaver::app::{App, Config};
use weaver::walle::Walle;

use super::alpaca_runs::{app_on, push, rich_fake, run_view};
use super::runs::{orders_of, upload};
use super::{get, send};
use crate::support::post_json;

fn body(
    strategy: i64,
    venue: &str,
    mode: &str,
    symbol: &str,
    tf: &str,
    cash: Option<f64>,
) -> String {
    let mut v = serde_json::json!({
        "strategy": strategy, "mode": mode, "venue": venue, "symbols": [symbol],
        "timeframe": tf, "params": {"fast": 1, "slow": 2}
    });
    if let Some(c) = cash {
        v["cash"] = serde_json::json!(c);
    }
    v.to_string()
}

async fn start(r: &axum::Router, req: String) -> i64 {
    let created = send(r, post_json("/runs", req)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    created.json()["id"].as_i64().expect("id")
}

fn bars_of(v: &serde_json::Value) -> u64 {
    v["figures"]["bars"].as_u64().unwrap_or(0)
}

/// Waits until `pred` holds for run `id`'s view.
async fn until_run(
    r: &axum::Router,
    id: i64,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v = run_view(r, id).await;
        if pred(&v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id}, {what}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pushes a bar of `symbol` and waits until every run in `ids` was told it.
async fn step(
    r: &axum::Router,
    fake: &weaver::veda::alpaca::fake::FakeAlpaca,
    ids: &[i64],
    symbol: &str,
    ts: &mut i64,
    close: f64,
) {
    let mut seen = Vec::new();
    for id in ids {
        seen.push(bars_of(&run_view(r, *id).await));
    }
    push(fake, symbol, *ts, close);
    *ts += 60_000;
    for (id, before) in ids.iter().zip(seen) {
        until_run(r, *id, "the bar", |v| bars_of(v) > before).await;
    }
}

/// Pushes flat bars (no signal) until every run in `ids` got one: their subscriptions are live.
async fn until_subscribed(
    r: &axum::Router,
    fake: &weaver::veda::alpaca::fake::FakeAlpaca,
    ids: &[i64],
    symbol: &str,
    ts: &mut i64,
    price: f64,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        push(fake, symbol, *ts, price);
        *ts += 60_000;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut all = true;
        for id in ids {
            all &= bars_of(&run_view(r, *id).await) > 0;
        }
        if all {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "runs {ids:?} never got a bar"
        );
    }
}

/// What a run decided, venue aside: (intent number, symbol, side, quantity) of each order.
async fn decided(r: &axum::Router, id: i64) -> Vec<(u64, String, String, String)> {
    let mut out: Vec<_> = orders_of(r, id)
        .await
        .iter()
        .map(|o| {
            (
                weaver::veda::client_order_id::sequence(
                    o["client_order_id"].as_str().unwrap_or(""),
                )
                .unwrap_or(0),
                o["symbol"].to_string(),
                o["side"].to_string(),
                o["quantity"].to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Starts a run under the correlation id `corr` (its events, decisions included, carry it).
async fn start_as(r: &axum::Router, corr: &str, req: String) -> i64 {
    let mut request = post_json("/runs", req);
    request
        .headers_mut()
        .insert("x-request-id", corr.parse().expect("header"));
    let created = send(r, request).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    created.json()["id"].as_i64().expect("id")
}

/// Waits until the run started under `corr` made `n` decisions with intents (its
/// `strategy.DecisionMade` events); returns them as (bar time, intents).
async fn until_decided(
    r: &axum::Router,
    corr: &str,
    n: usize,
) -> Vec<(serde_json::Value, serde_json::Value)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let page = send(r, get(&format!("/events?corr_id={corr}&limit=1000")))
            .await
            .json();
        let made: Vec<_> = page["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["type"] == "strategy.DecisionMade")
            .map(|e| {
                (
                    e["payload"]["bar_ts"].clone(),
                    e["payload"]["intents"].clone(),
                )
            })
            .filter(|(_, i)| i.as_array().is_some_and(|i| !i.is_empty()))
            .collect();
        if made.len() >= n {
            return made;
        }
        assert!(tokio::time::Instant::now() < deadline, "{corr}: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn filled(r: &axum::Router, id: i64) -> usize {
    orders_of(r, id)
        .await
        .iter()
        .filter(|o| o["status"] == "filled")
        .count()
}

async fn until_filled(r: &axum::Router, id: i64, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while filled(r, id).await < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id}: {:?}",
            orders_of(r, id).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Trading requests the fake answered (account, orders, positions).
fn trading_requests(fake: &weaver::veda::alpaca::fake::FakeAlpaca) -> Vec<String> {
    fake.responses()
        .iter()
        .map(|r| format!("{} {}", r.method, r.route))
        .filter(|r| {
            ["/v2/account", "/v2/orders", "/v2/positions"]
                .iter()
                .any(|p| r.contains(p))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_live_trades_its_own_account_on_live_bars_and_decides_as_alpaca() {
    // Without Alpaca: not listed, and refused before anything is looked up.
    let bare_dir = tempfile::tempdir().expect("temp dir");
    let config = Config::for_tests(bare_dir.path());
    let walle = Walle::connect(&config.db).await.expect("sqlite store");
    let bare = App::with_desks(config, walle, vec![]).expect("state");
    let br = weaver::glados::router(bare.state());
    let names = |v: serde_json::Value| -> Vec<String> {
        v.as_array()
            .expect("venues")
            .iter()
            .map(|x| x["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(names(send(&br, get("/venues")).await.json()), ["sim"]);
    let refused = send(
        &br,
        post_json("/runs", body(1, "sim-live", "paper", "AAPL", "1Min", None)),
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.json());
    assert_eq!(refused.error_code(), "venue_unavailable");

    let fake = rich_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(&fake, dir.path(), false).await;
    let venues = send(&r, get("/venues")).await.json();
    assert_eq!(
        names(venues.clone()),
        ["sim", "alpaca", "sim-live"],
        "{venues}"
    );
    assert_eq!(venues[2]["modes"], serde_json::json!(["paper"]), "{venues}");
    let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    for (req, code) in [
        (
            body(sma, "sim-live", "live", "AAPL", "1Min", None),
            "invalid_mode",
        ),
        (
            body(sma, "sim-live", "paper", "AAPL", "7Min", None),
            "unsupported_timeframe",
        ),
    ] {
        let resp = send(&r, post_json("/runs", &req)).await;
        assert_eq!(
            resp.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{req}: {}",
            resp.json()
        );
        assert_eq!(resp.error_code(), code, "{req}");
    }

    // Alone, a sim-live run buys and fills in its own account (default cash) on the live bars,
    // and the broker hears nothing of it: no account, order or position request at all.
    let c = start(&r, body(sma, "sim-live", "paper", "MSFT", "1Min", None)).await;
    let view = run_view(&r, c).await;
    assert_eq!(
        (view["venue"].as_str(), view["starting_cash"].as_f64()),
        (Some("sim-live"), Some(10_000.0)),
        "{view}"
    );
    let mut ts = 1_700_000_000_000;
    until_subscribed(&r, &fake, &[c], "MSFT", &mut ts, 400.0).await;
    // fast 1 / slow 2: a rise after a fall crosses up (buy at 402), filled at the next bar's
    // open (403) as on `sim`.
    for close in [399.0, 398.0, 402.0, 403.0] {
        step(&r, &fake, &[c], "MSFT", &mut ts, close).await;
    }
    until_filled(&r, c, 1).await;
    let orders = orders_of(&r, c).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(
        orders[0]["filled_quantity"], orders[0]["quantity"],
        "{orders:?}"
    );
    assert!(
        orders[0]["exchange_order_id"]
            .as_str()
            .unwrap_or("")
            .starts_with(&format!("sim-r{c}-")),
        "{orders:?}"
    );
    let qty = 24.0; // floor(10000 / 402)
    let v = until_run(&r, c, "its position", |v| {
        v["positions"][0]["qty"].as_f64() == Some(qty)
    })
    .await;
    assert_eq!(v["positions"][0]["symbol"], "MSFT", "{v}");
    let account = send(&r, get(&format!("/accounts/sim/{c}"))).await;
    assert_eq!(account.status, StatusCode::OK, "{}", account.json());
    let cash = account.json()["cash"].as_f64().expect("cash");
    assert!(
        (cash - (10_000.0 - qty * 403.0)).abs() < 1e-6,
        "{}",
        account.json()
    );
    assert_eq!(fake.post_order_requests(), 0);
    assert_eq!(trading_requests(&fake), Vec::<String>::new());
    // Listed among the accounts (listing them asks Alpaca for its own: after the check above).
    let listed = send(&r, get("/accounts")).await.json();
    assert!(
        listed
            .as_array()
            .expect("accounts")
            .iter()
            .any(|a| a["id"] == format!("sim/{c}") && a["run_id"] == c),
        "its own account is listed: {listed}"
    );

    // Beside an Alpaca paper run of the same strategy on the same symbol and stream: the same
    // decisions, the sim-live one's filled in its own account, none of its orders at the fake.
    let a = start_as(
        &r,
        "beside-alpaca",
        body(sma, "alpaca", "paper", "AAPL", "1Min", Some(1_000_000.0)),
    )
    .await;
    let b = start_as(
        &r,
        "beside-sim-live",
        body(sma, "sim-live", "paper", "AAPL", "1Min", Some(1_000_000.0)),
    )
    .await;
    until_subscribed(&r, &fake, &[a, b], "AAPL", &mut ts, 190.0).await;
    // The buy (all of its cash at 191) fills at the next open, 191 again: an open above the
    // close it was sized at would leave it short of cash, and Greta's broker cancels it then.
    for close in [189.0, 188.0, 191.0, 191.0] {
        step(&r, &fake, &[a, b], "AAPL", &mut ts, close).await;
    }
    until_filled(&r, b, 1).await;
    until_filled(&r, a, 1).await;
    // A rise, then a fall crosses down: both close what they hold and go short (sma-cross
    // reverses).
    for close in [192.0, 187.0, 186.0] {
        step(&r, &fake, &[a, b], "AAPL", &mut ts, close).await;
    }
    until_filled(&r, b, 3).await;
    let (da, db) = (
        until_decided(&r, "beside-alpaca", 2).await,
        until_decided(&r, "beside-sim-live", 2).await,
    );
    assert_eq!(da, db, "same decisions on the same bars");
    // Its orders are its own exchange's, none at the broker.
    let b_orders = orders_of(&r, b).await;
    for o in &b_orders {
        assert_eq!(o["filled_quantity"], o["quantity"], "{b_orders:?}");
        assert!(
            o["exchange_order_id"]
                .as_str()
                .unwrap_or("")
                .starts_with(&format!("sim-r{b}-")),
            "{o}"
        );
        let cid = o["client_order_id"].as_str().unwrap_or("");
        assert!(
            fake.orders().iter().all(|f| f.client_order_id != cid),
            "{cid} reached the broker"
        );
    }
    let a_orders = orders_of(&r, a).await;
    assert!(!a_orders.is_empty());
    assert!(
        fake.post_order_requests() <= a_orders.len() as u64,
        "only the alpaca run's orders"
    );
    for o in fake.orders() {
        assert!(
            a_orders
                .iter()
                .any(|a| a["client_order_id"] == o.client_order_id.as_str()),
            "{} is not the alpaca run's",
            o.client_order_id
        );
    }
    // Bought at 191 (the open after the buy), closed at 186 and short what its equity buys.
    let short: f64 = b_orders[2]["quantity"]
        .as_str()
        .and_then(|q| q.parse().ok())
        .expect("quantity");
    let v = until_run(&r, b, "short", |v| {
        v["positions"][0]["qty"].as_f64() == Some(-short)
    })
    .await;
    let q = (1_000_000.0_f64 / 191.0).floor();
    assert_eq!(
        b_orders[0]["quantity"].as_str(),
        Some(q.to_string().as_str()),
        "{b_orders:?}"
    );
    assert!(
        (v["pnl"]["realized"].as_f64().unwrap_or(0.0) - q * (186.0 - 191.0)).abs() < 1e-6,
        "{v}"
    );

    for run in [a, b, c] {
        let stop = send(&r, post_json(&format!("/runs/{run}/stop"), "")).await;
        assert_eq!(stop.status, StatusCode::OK, "{}", stop.json());
    }
    s.shutdown(Duration::from_secs(10)).await;
}

/// Waits until the store holds the live 1-minute bar of `symbol` at `last` (the desk stores
/// them off the bar path); returns how many it holds (a probe pushed before the desk subscribed
/// never reached it).
async fn until_stored(r: &axum::Router, symbol: &str, last: i64) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let want = chrono::DateTime::from_timestamp_millis(last)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    loop {
        let page = send(
            r,
            get(&format!(
                "/candles?symbol={symbol}&timeframe=1Min&limit=10000&order=asc"
            )),
        )
        .await
        .json();
        let bars = page.as_array().cloned().unwrap_or_default();
        if bars.last().is_some_and(|b| b["ts"] == want.as_str()) {
            return bars.len();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no bar at {want} stored: {page}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_sim_live_run_resumes_from_the_stored_live_bars() {
    let fake = rich_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    // Bars from the minute the run starts in: the resumed run replays those stored since then.
    let now = chrono::Utc::now().timestamp_millis();
    let first_ts = now - now.rem_euclid(60_000);
    // First process: its own runtime, dropped after the first fill, as a crash would.
    let (id, mut ts, stored) = tokio::task::block_in_place(|| {
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
                        let id = start(
                            &r,
                            body(sma, "sim-live", "paper", "AAPL", "1Min", Some(100_000.0)),
                        )
                        .await;
                        let mut ts = first_ts;
                        until_subscribed(&r, &fake, &[id], "AAPL", &mut ts, 190.0).await;
                        for close in [189.0, 188.0, 191.0, 191.0] {
                            step(&r, &fake, &[id], "AAPL", &mut ts, close).await;
                        }
                        until_filled(&r, id, 1).await;
                        let stored = until_stored(&r, "AAPL", ts - 60_000).await;
                        (id, ts, stored)
                    });
                    rt.shutdown_timeout(Duration::from_secs(10));
                    out
                })
                .join()
                .expect("first process")
        })
    });

    let (r, s) = app_on(&fake, dir.path(), false).await;
    let done = s.runs().resume().await.expect("resume");
    assert_eq!(done.resumed, vec![id], "{done:?}");
    // The replay rebuilt its account from the same bars: one buy, filled once, still held.
    let q = (100_000.0_f64 / 191.0).floor();
    let v = until_run(&r, id, "its position back", |v| {
        v["positions"][0]["qty"].as_f64() == Some(q)
    })
    .await;
    assert_eq!(v["status"], "running", "{v}");
    assert_eq!(orders_of(&r, id).await.len(), 1, "nothing placed twice");
    let log = super::alpaca_runs::log_of(&r, id).await;
    assert!(
        log.iter().any(|l| l.starts_with(&format!(
            "run resumed after a restart: replaying the {stored} live bars"
        ))),
        "{log:?}"
    );
    // It trades on from the live stream: a fall crosses down, the sell fills at the next open.
    until_subscribed(&r, &fake, &[id], "AAPL", &mut ts, 191.0).await;
    for close in [192.0, 187.0, 186.0] {
        step(&r, &fake, &[id], "AAPL", &mut ts, close).await;
    }
    until_filled(&r, id, 3).await;
    let orders = decided(&r, id).await;
    assert_eq!(
        orders.iter().map(|o| o.0).collect::<Vec<_>>(),
        [1, 2, 3],
        "{orders:?}"
    );
    let v = run_view(&r, id).await;
    assert!(
        (v["pnl"]["realized"].as_f64().unwrap_or(0.0) - q * (186.0 - 191.0)).abs() < 1e-6,
        "{v}"
    );
    assert_eq!(fake.post_order_requests(), 0);
    assert_eq!(trading_requests(&fake), Vec::<String>::new());
    let stop = send(&r, post_json(&format!("/runs/{id}/stop"), "")).await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.json());
    s.shutdown(Duration::from_secs(10)).await;
}
