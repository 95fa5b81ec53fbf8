//! Risk limits of a run over the API, on both stores: set at `POST /runs`, shown with every key
//! in `GET /runs/{id}`, enforced on the run's orders (a refusal is a `risk.OrderDenied` event
//! naming the rule, the figure and the limit), changed while it runs with `PATCH /runs/{id}/risk`
//! (a `risk.LimitsChanged` event with the old and new values), and bad limits refused with the
//! field named.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use weaver::app::{App, Config};

use super::replay::chain;
use super::runs::upload;
use super::{get, send};
use crate::support::post_json;
use crate::testdata::goog_candles;
use crate::walle::support::{TestStore, contract};

const KEYS: [&str; 15] = [
    "max_notional_per_order",
    "max_position_per_symbol",
    "max_gross_exposure",
    "max_open_orders",
    "max_orders_per_minute",
    "daily_loss_pct",
    "max_drawdown_pct",
    "cooldown",
    "allowed_symbols",
    "max_order_quantity",
    "max_price_deviation",
    "max_order_equity_pct",
    "daily_loss_action",
    "drawdown_action",
    "reset_next_session",
];

fn body(risk: Option<Value>) -> Value {
    let mut b = json!({"strategy": "sma-cross", "mode": "paper", "venue": "sim",
        "symbols": ["GOOG"], "timeframe": "1Day", "params": {"fast": 5, "slow": 100000}});
    if let Some(r) = risk {
        b["risk"] = r;
    }
    b
}

fn patch(uri: &str, body: Value) -> Request<Body> {
    Request::patch(uri)
        .header("host", "localhost")
        .header("x-request-id", "risk-patch")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

async fn limits_are_set_enforced_and_changed(store: &TestStore) {
    let (r, app, _dir) = super::manual::goog_app(store, 25).await;

    // Bad limits: refused with the field named, nothing started.
    for (risk, field) in [
        (json!({"daily_loss_pct": 150}), "risk.daily_loss_pct"),
        (
            json!({"max_notional_per_order": "-5"}),
            "risk.max_notional_per_order",
        ),
        (json!({"max_open_orders": 0}), "risk.max_open_orders"),
        (json!({"no_such_limit": 1}), "risk.no_such_limit"),
        (
            json!({"cooldown": {"losing_trades": 0, "window_minutes": 5, "pause_minutes": 5}}),
            "risk.cooldown.losing_trades",
        ),
    ] {
        let refused = send(&r, post_json("/runs", body(Some(risk.clone())))).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{risk}: {}",
            refused.json()
        );
        assert_eq!(refused.error_code(), "invalid_risk");
        assert_eq!(
            refused.json()["details"]["field"],
            field,
            "{}",
            refused.json()
        );
    }
    assert_eq!(
        send(&r, get("/runs")).await.json().as_array().map(Vec::len),
        Some(0)
    );

    // A run on the simulated exchange has no limits unless given; every key is shown.
    let plain = send(&r, post_json("/runs", body(None))).await.json();
    for key in KEYS {
        assert!(
            plain["risk"].get(key).is_some(),
            "{key} missing: {}",
            plain["risk"]
        );
    }
    assert_eq!(plain["risk"]["max_notional_per_order"], Value::Null);
    assert_eq!(plain["risk"]["daily_loss_pct"], Value::Null);

    let created = send(
        &r,
        Request::post("/runs")
            .header("host", "localhost")
            .header("content-type", "application/json")
            .header("x-request-id", "risk-run")
            .body(Body::from(
                body(Some(json!({"max_notional_per_order": 1000}))).to_string(),
            ))
            .expect("request"),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let run = created.json();
    let id = run["id"].as_i64().expect("id");
    assert_eq!(
        run["risk"]["max_notional_per_order"], "1000",
        "{}",
        run["risk"]
    );
    super::manual::until_bars(&r, id, 2).await;

    // An order over the cap is denied, with the rule named, and recorded as risk.OrderDenied.
    let order = json!({"symbol": "GOOG", "side": "buy", "quantity": "1000"});
    let denied = send(&r, post_json(&format!("/runs/{id}/orders"), order.clone())).await;
    assert_eq!(
        denied.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        denied.json()
    );
    assert_eq!(denied.error_code(), "max_notional_per_order");
    let cid = denied.json()["details"]["client_order_id"].clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let event = loop {
        let found = chain(&r, "risk-run")
            .await
            .into_iter()
            .find(|e| e["type"] == "risk.OrderDenied");
        if let Some(e) = found {
            break e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no risk.OrderDenied stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let p = &event["payload"];
    assert_eq!(p["rule"], "max_notional_per_order", "{event}");
    assert_eq!(p["limit"], "1000", "{event}");
    assert_eq!(p["client_order_id"], cid, "{event}");
    let figure: f64 = p["figure"]
        .as_str()
        .and_then(|f| f.parse().ok())
        .expect("figure");
    assert!(figure > 1000.0, "{event}");

    // Bad patches change nothing.
    let bad = send(
        &r,
        patch(&format!("/runs/{id}/risk"), json!({"max_drawdown_pct": 0})),
    )
    .await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad.json()
    );
    assert_eq!(bad.json()["details"]["field"], "risk.max_drawdown_pct");
    // Lifted while it runs: the same order goes through; the change is an event.
    let lifted = send(
        &r,
        patch(
            &format!("/runs/{id}/risk"),
            json!({"max_notional_per_order": null, "max_open_orders": 5}),
        ),
    )
    .await;
    assert_eq!(lifted.status, StatusCode::OK, "{}", lifted.json());
    let lifted = lifted.json();
    assert_eq!(lifted["risk"]["max_notional_per_order"], Value::Null);
    assert_eq!(lifted["risk"]["max_open_orders"], 5);
    let placed = send(&r, post_json(&format!("/runs/{id}/orders"), order)).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.json());
    // The change is the PATCH request's: under its correlation id (readable once no earlier
    // transaction is still open, so polled).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let changed = loop {
        let found = chain(&r, "risk-patch")
            .await
            .into_iter()
            .find(|e| e["type"] == "risk.LimitsChanged");
        if let Some(e) = found {
            break e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no risk.LimitsChanged in the chain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        changed["payload"]["old"]["max_notional_per_order"], "1000",
        "{changed}"
    );
    assert_eq!(
        changed["payload"]["new"]["max_notional_per_order"],
        Value::Null,
        "{changed}"
    );
    assert_eq!(changed["payload"]["new"]["max_open_orders"], 5, "{changed}");

    // Stored: what GET /runs/{id} reads back is the patched object.
    let stored = store.walle.run(id).await.expect("read").expect("run");
    assert_eq!(stored.risk.expect("stored").0["max_open_orders"], 5);
    let stop = send(&r, post_json(&format!("/runs/{id}/stop"), "")).await;
    assert_eq!(stop.status, StatusCode::OK);
    let ended = send(
        &r,
        patch(&format!("/runs/{id}/risk"), json!({"max_open_orders": 6})),
    )
    .await;
    assert_eq!(ended.status, StatusCode::CONFLICT, "{}", ended.json());
    app.shutdown(Duration::from_secs(5)).await;
}

/// A strategy that subscribes to lifecycle events is told of its refused order, as a
/// `risk.OrderDenied` (a raw JSON payload in this contract version), and its run goes on.
async fn a_strategy_is_told_its_order_was_denied(store: &TestStore) {
    store
        .walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::new(Config::for_tests(dir.path()), store.walle.clone()).expect("app");
    app.start().await.expect("start");
    let r = weaver::glados::router(app.state());
    upload(&r, &app, "hostile", "guests/hostile.wasm").await;
    // The observer buys one unit on its first bar: over a notional cap of 1.
    let body = json!({"strategy": "hostile", "mode": "paper", "venue": "sim",
        "symbols": ["GOOG"], "timeframe": "1Day", "params": {"mode": "observe"},
        "risk": {"max_notional_per_order": 1}});
    let created = send(&r, post_json("/runs", body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let id = created.json()["id"].as_i64().expect("id");
    let done = super::runs::settled(&r, id).await;
    assert_eq!(
        done["status"], "stopped",
        "the refusal does not end the run: {done}"
    );
    let logs = send(&r, get(&format!("/runs/{id}/logs?limit=1000&order=asc")))
        .await
        .json();
    let told: Vec<&str> = logs["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["message"].as_str())
        .filter(|m| m.starts_with("raw application/json"))
        .collect();
    assert_eq!(told.len(), 1, "{logs}");
    let denial: Value =
        serde_json::from_str(told[0].trim_start_matches("raw application/json").trim())
            .expect("json");
    assert_eq!(denial["type"], "risk.OrderDenied", "{denial}");
    assert_eq!(denial["rule"], "max_notional_per_order", "{denial}");
    assert_eq!(denial["limit"], "1", "{denial}");
    assert_eq!(denial["symbol"], "GOOG", "{denial}");
    let orders = send(&r, get(&format!("/orders?run={id}"))).await.json();
    assert_eq!(orders["orders"], json!([]), "nothing journaled: {orders}");
    app.shutdown(Duration::from_secs(5)).await;
}

contract!(
    limits_are_set_enforced_and_changed,
    a_strategy_is_told_its_order_was_denied
);
