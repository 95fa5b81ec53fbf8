//! Control by hand, on the simulated exchange and both stores: an order attributed to a run,
//! cancelling one of its orders, closing its position while halted, the kill switch's flatten
//! (twice: the second finds nothing to do), and a stop with each of its choices, each checked in
//! the run's account and orders afterwards.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use weaver::app::{App, Config};

use super::runs::{orders_of, run_body, upload};
use super::{get, send};
use crate::support::post_json;
use crate::testdata::goog_candles;
use crate::walle::support::{TestStore, contract};

/// sma-cross with a slow average it never fills: a run that trades only by hand.
const QUIET: &str = r#"{"fast": 5, "slow": 100000}"#;

pub(super) fn put_json(uri: &str, body: Value) -> Request<Body> {
    Request::put(uri)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

/// A started app over `store` with GOOG's daily candles and sma-cross uploaded, whose paper
/// runs get one bar every `interval_ms` (0: as fast as they go).
pub(super) async fn goog_app(
    store: &TestStore,
    interval_ms: u64,
) -> (axum::Router, App, tempfile::TempDir) {
    store
        .walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    config.run_bar_interval_ms = interval_ms;
    let app = App::new(config, store.walle.clone()).expect("app");
    app.start().await.expect("start");
    let r = weaver::glados::router(app.state());
    upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    (r, app, dir)
}

/// Waits until run `id` has had `n` bars (a price to size and check orders against).
pub(super) async fn until_bars(r: &axum::Router, id: i64, n: u64) {
    until(r, id, "bars", |v| v["figures"]["bars"].as_u64() >= Some(n)).await;
}

async fn start_quiet(r: &axum::Router) -> i64 {
    let created = send(r, post_json("/runs", run_body("\"sma-cross\"", QUIET))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let id = created.json()["id"].as_i64().expect("id");
    // A price to size and check orders against: the first bars must have arrived.
    until(r, id, "two bars", |v| {
        v["figures"]["bars"].as_u64() >= Some(2)
    })
    .await;
    id
}

/// Polls `GET /runs/{id}` until `done` holds (bounded).
async fn until(r: &axum::Router, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let v = send(r, get(&format!("/runs/{id}"))).await.json();
        if done(&v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id}: no {what} after 30 s: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn held(v: &Value, symbol: &str) -> f64 {
    v["positions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["symbol"] == symbol)
        .map(|p| p["qty"].as_f64().unwrap_or(0.0))
        .sum()
}

async fn buy(r: &axum::Router, id: i64, body: Value) -> Value {
    let placed = send(r, post_json(&format!("/runs/{id}/orders"), body)).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.json());
    let placed = placed.json();
    assert_eq!(placed["status"], "accepted", "{placed}");
    placed
}

/// A limit far below the market: it stays working until cancelled.
fn resting() -> Value {
    json!({"symbol": "GOOG", "side": "buy", "type": "limit", "time_in_force": "gtc",
           "quantity": "1", "limit_price": "1"})
}

fn market(qty: &str) -> Value {
    json!({"symbol": "GOOG", "side": "buy", "quantity": qty})
}

/// The status of the run's order `cid` as `GET /orders` shows it.
async fn status_of(r: &axum::Router, id: i64, cid: &Value) -> String {
    orders_of(r, id)
        .await
        .into_iter()
        .find(|o| o["client_order_id"] == *cid)
        .and_then(|o| o["status"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Waits until the run's order `cid` is `status` (fills and cancels are recorded as the venue
/// reports them, a moment after the venue acted).
async fn until_order(r: &axum::Router, id: i64, cid: &Value, status: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = status_of(r, id, cid).await;
        if now == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "order {cid} of run {id} is {now}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn control_by_hand(store: &TestStore) {
    let (r, app, _dir) = goog_app(store, 25).await;
    let a = start_quiet(&r).await;

    // An order by hand is the run's: its first client order id, filled at the next bar.
    let first = buy(&r, a, market("10")).await;
    assert_eq!(first["sequence"], 1, "{first}");
    assert!(
        first["client_order_id"]
            .as_str()
            .is_some_and(|c| c.starts_with("w-"))
    );
    until(&r, a, "position of 10", |v| held(v, "GOOG") == 10.0).await;

    // Bad orders are refused with the field or rule named, and place nothing.
    for (body, code) in [
        (
            json!({"symbol": "MSFT", "side": "buy", "quantity": "1"}),
            "unknown_symbol",
        ),
        (
            json!({"symbol": "GOOG", "side": "buy", "quantity": "1", "notional": "5"}),
            "invalid_order",
        ),
        (
            json!({"symbol": "GOOG", "side": "buy", "quantity": "-1"}),
            "invalid_order",
        ),
    ] {
        let refused = send(&r, post_json(&format!("/runs/{a}/orders"), body.clone())).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            refused.json()
        );
        assert_eq!(refused.error_code(), code, "{}", refused.json());
    }
    let unknown_field = send(
        &r,
        post_json(
            &format!("/runs/{a}/orders"),
            json!({"symbol": "GOOG", "side": "buy", "qty": "1"}),
        ),
    )
    .await;
    assert!(
        unknown_field.status.is_client_error(),
        "{}",
        unknown_field.json()
    );

    // Cancel a working order; again, and it has nothing left to cancel.
    let rest = buy(&r, a, resting()).await["client_order_id"].clone();
    until_order(&r, a, &rest, "accepted").await;
    let order = orders_of(&r, a)
        .await
        .into_iter()
        .find(|o| o["client_order_id"] == rest)
        .and_then(|o| o["id"].as_i64())
        .expect("order id");
    let cancel = send(&r, post_json(&format!("/orders/{order}/cancel"), "")).await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.json());
    assert_eq!(cancel.json()["cancel_requested"], true);
    until_order(&r, a, &rest, "cancelled").await;
    let again = send(&r, post_json(&format!("/orders/{order}/cancel"), "")).await;
    assert_eq!(again.json()["cancel_requested"], false, "{}", again.json());
    assert_eq!(
        send(&r, post_json("/orders/999999/cancel", ""))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Halted: nothing new by hand either, but a position can still be closed.
    let halt = send(&r, put_json("/trading-state", json!({"state": "halted"}))).await;
    assert_eq!(halt.status, StatusCode::OK, "{}", halt.json());
    let refused = send(&r, post_json(&format!("/runs/{a}/orders"), market("1"))).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.json()
    );
    assert_eq!(refused.error_code(), "trading_halted");
    assert!(
        refused.json()["details"]["client_order_id"].is_string(),
        "{}",
        refused.json()
    );
    let close = send(
        &r,
        post_json(&format!("/runs/{a}/positions/GOOG/close"), ""),
    )
    .await;
    assert_eq!(close.status, StatusCode::CREATED, "{}", close.json());
    assert_eq!(close.json()["side"], "sell");
    until(&r, a, "a flat position", |v| held(v, "GOOG") == 0.0).await;
    let nothing = send(
        &r,
        post_json(&format!("/runs/{a}/positions/GOOG/close"), ""),
    )
    .await;
    assert_eq!(nothing.status, StatusCode::NO_CONTENT);

    // The kill switch with flatten: every run's working orders cancelled, positions closed;
    // the second time there is nothing left to do.
    send(&r, put_json("/trading-state", json!({"state": "active"}))).await;
    let b = start_quiet(&r).await;
    let mut rests = Vec::new();
    for id in [a, b] {
        buy(&r, id, market("5")).await;
        rests.push((id, buy(&r, id, resting()).await["client_order_id"].clone()));
    }
    for id in [a, b] {
        until(&r, id, "a position of 5", |v| held(v, "GOOG") == 5.0).await;
    }
    let kill = send(
        &r,
        put_json(
            "/trading-state",
            json!({"state": "halted", "flatten": true}),
        ),
    )
    .await;
    assert_eq!(kill.status, StatusCode::OK, "{}", kill.json());
    let kill = kill.json();
    assert_eq!(kill["state"], "halted");
    let done = kill["flattened"].as_array().expect("flattened");
    assert_eq!(done.len(), 2, "{kill}");
    for d in done {
        assert_eq!(
            d["done"]["canceled"].as_array().map(Vec::len),
            Some(1),
            "{d}"
        );
        let closing = d["done"]["closing"].as_array().expect("closing");
        assert_eq!(closing.len(), 1, "{d}");
        assert_eq!(closing[0]["status"], "accepted", "{d}");
    }
    for id in [a, b] {
        until(&r, id, "flat after the kill switch", |v| {
            held(v, "GOOG") == 0.0
        })
        .await;
    }
    for (id, rest) in &rests {
        until_order(&r, *id, rest, "cancelled").await;
    }
    let repeat = send(
        &r,
        put_json(
            "/trading-state",
            json!({"state": "halted", "flatten": true}),
        ),
    )
    .await
    .json();
    for d in repeat["flattened"].as_array().expect("flattened") {
        assert_eq!(d["done"]["canceled"], json!([]), "{d}");
        assert_eq!(d["done"]["closing"], json!([]), "{d}");
    }
    send(&r, put_json("/trading-state", json!({"state": "active"}))).await;

    // Stop, closing: the run ends flat, its working order cancelled.
    buy(&r, a, market("4")).await;
    until(&r, a, "a position of 4", |v| held(v, "GOOG") == 4.0).await;
    let rest = buy(&r, a, resting()).await["client_order_id"].clone();
    let stop = send(
        &r,
        post_json(
            &format!("/runs/{a}/stop"),
            json!({"orders": "cancel", "positions": "close"}),
        ),
    )
    .await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.json());
    let stop = stop.json();
    assert_eq!(stop["status"], "stopped", "{stop}");
    assert_eq!(
        stop["wind_down"]["canceled"].as_array().map(Vec::len),
        Some(1),
        "{stop}"
    );
    assert_eq!(
        stop["wind_down"]["closing"].as_array().map(Vec::len),
        Some(1),
        "{stop}"
    );
    assert_eq!(stop["held"], json!([]), "{stop}");
    until_order(&r, a, &rest, "cancelled").await;

    // Stop with no body: working orders cancelled, the position kept.
    buy(&r, b, market("3")).await;
    until(&r, b, "a position of 3", |v| held(v, "GOOG") == 3.0).await;
    buy(&r, b, resting()).await;
    let stop = send(&r, post_json(&format!("/runs/{b}/stop"), ""))
        .await
        .json();
    assert_eq!(stop["status"], "stopped", "{stop}");
    assert_eq!(
        stop["wind_down"]["canceled"].as_array().map(Vec::len),
        Some(1),
        "{stop}"
    );
    assert_eq!(stop["wind_down"]["closing"], json!([]), "{stop}");
    assert_eq!(
        stop["held"],
        json!([{"symbol": "GOOG", "qty": 3.0}]),
        "{stop}"
    );

    // Stop keeping orders: the working order is left as it was.
    let c = start_quiet(&r).await;
    let rest = buy(&r, c, resting()).await["client_order_id"].clone();
    until_order(&r, c, &rest, "accepted").await;
    let stop = send(
        &r,
        post_json(&format!("/runs/{c}/stop"), json!({"orders": "keep"})),
    )
    .await
    .json();
    assert_eq!(stop["wind_down"], Value::Null, "{stop}");
    assert_eq!(status_of(&r, c, &rest).await, "accepted", "kept working");
    // A JSON null body is no body (the defaults); a wrong choice is refused.
    let null_body = send(&r, post_json(&format!("/runs/{c}/stop"), "null")).await;
    assert_eq!(
        null_body.status,
        StatusCode::CONFLICT,
        "already stopped: {}",
        null_body.json()
    );
    let bad = send(
        &r,
        post_json(&format!("/runs/{c}/stop"), json!({"orders": "burn"})),
    )
    .await;
    assert!(bad.status.is_client_error(), "{}", bad.json());
    // By hand on a stopped run: a conflict, not a silent no-op.
    let late = send(&r, post_json(&format!("/runs/{c}/orders"), market("1"))).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.json());
    assert_eq!(late.error_code(), "run_not_active");
    app.shutdown(Duration::from_secs(5)).await;
}

contract!(control_by_hand);
