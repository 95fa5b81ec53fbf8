//! The rules a run's risk keeps over time, on the simulated exchange and both stores: a drawdown
//! past its limit halts the all-in sma-cross and it can only reduce after it, a daily loss moves
//! it to reduce-only within the bar, a cooldown pauses it after a losing trade for exactly its
//! pause; each trip is one `risk.LimitBreached`, and the orders refused after it name the rule.
//! A run's own trading state set by hand refuses and then admits orders again.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use super::replay::chain;
use super::runs::settled;
use super::{get, send};
use crate::support::post_json;
use crate::walle::support::{TestStore, contract};

fn create(risk: Value, corr: &str, params: &str) -> Request<Body> {
    let body = json!({"strategy": "sma-cross", "mode": "paper", "venue": "sim",
        "symbols": ["GOOG"], "timeframe": "1Day",
        "params": serde_json::from_str::<Value>(params).expect("params"), "risk": risk});
    Request::post("/runs")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("x-request-id", corr)
        .body(Body::from(body.to_string()))
        .expect("request")
}

/// Runs the all-in sma-cross over GOOG's days with `risk` to its end; its id and its chain.
async fn run_to_end(r: &axum::Router, risk: Value, corr: &str) -> (i64, Vec<Value>) {
    let created = send(r, create(risk, corr, r#"{"fast": 5, "slow": 20}"#)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let id = created.json()["id"].as_i64().expect("id");
    let done = settled(r, id).await;
    assert_eq!(done["status"], "stopped", "{done}");
    // Its last events are stored with its wrap-up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let events = chain(r, corr).await;
        if events
            .iter()
            .any(|e| e["type"] == "run.StatusChanged" && e["payload"]["status"] == "stopped")
        {
            return (id, events);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no end in the chain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

async fn rules_over_time_trip_once_and_restrict_the_run(store: &TestStore) {
    let (r, app, _dir) = super::manual::goog_app(store, 0).await;

    // Without limits the all-in strategy trades to the end: the reference.
    let (free, events) = run_to_end(&r, json!({}), "rules-free").await;
    assert!(of_type(&events, "risk.LimitBreached").is_empty());
    let free_orders = send(&r, get(&format!("/orders?run={free}&limit=1000")))
        .await
        .json()["orders"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(free_orders > 4, "{free_orders} orders");

    for (risk, corr, rule, state) in [
        (
            json!({"max_drawdown_pct": 3}),
            "rules-dd",
            "max_drawdown_pct",
            "halted",
        ),
        (
            json!({"daily_loss_pct": 1}),
            "rules-daily",
            "daily_loss_pct",
            "reduce_only",
        ),
    ] {
        let (id, events) = run_to_end(&r, risk, corr).await;
        let breached = of_type(&events, "risk.LimitBreached");
        assert_eq!(breached.len(), 1, "{corr}: trips once: {breached:?}");
        let b = &breached[0]["payload"];
        assert_eq!(b["rule"], rule, "{b}");
        assert_eq!(b["state"], state, "{b}");
        let figure: f64 = b["figure"]
            .as_str()
            .and_then(|f| f.parse().ok())
            .expect("figure");
        let limit: f64 = b["limit"]
            .as_str()
            .and_then(|f| f.parse().ok())
            .expect("limit");
        assert!(figure >= limit, "{b}");
        // After the trip the strategy's entries are refused, naming the rule; the decision
        // that asked for each is its cause.
        let at = events
            .iter()
            .position(|e| e["type"] == "risk.LimitBreached")
            .expect("at");
        let denied: Vec<&Value> = events[at..]
            .iter()
            .filter(|e| e["type"] == "risk.OrderDenied")
            .collect();
        assert!(!denied.is_empty(), "{corr}: entries refused after the trip");
        for d in &denied {
            assert_eq!(d["payload"]["rule"], rule, "{d}");
            assert!(d["causation_id"].is_string(), "{d}");
        }
        // Whatever it still placed after the trip only reduced its position: closes.
        let view = send(&r, get(&format!("/runs/{id}"))).await.json();
        assert_eq!(view["trading_state"], state, "{view}");
        assert!(
            !view["risk_state"][if rule == "daily_loss_pct" {
                "daily_loss"
            } else {
                "drawdown"
            }]
            .is_null(),
            "{view}"
        );
        let orders = send(&r, get(&format!("/orders?run={id}&limit=1000")))
            .await
            .json()["orders"]
            .as_array()
            .map_or(0, Vec::len);
        assert!(
            orders < free_orders,
            "{corr}: {orders} orders, {free_orders} without limits"
        );
        // Replayed, the rule trips on the same bar and the run decides the same.
        let replayed = super::replay::replay_when_projected(&r, id).await;
        assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.json());
        assert_eq!(
            replayed.json()["identical"],
            true,
            "{corr}: {}",
            replayed.json()
        );
        let logged = send(&r, get(&format!("/runs/{id}/logs?limit=1000&order=asc")))
            .await
            .json();
        assert!(
            logged["items"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|l| l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(&format!("risk: {rule} tripped")))),
            "{logged}"
        );
    }

    // A cooldown after one losing trade pauses for exactly its pause (two days), reduce-only.
    let (_, events) = run_to_end(
        &r,
        json!({"cooldown": {"losing_trades": 1, "window_minutes": 100000, "pause_minutes": 2880}}),
        "rules-cool",
    )
    .await;
    let cool = of_type(&events, "risk.LimitBreached");
    assert!(!cool.is_empty(), "a loss started a pause");
    for c in &cool {
        let p = &c["payload"];
        assert_eq!(p["rule"], "cooldown", "{p}");
        assert_eq!(p["state"], "reduce_only", "{p}");
        let at = chrono::DateTime::parse_from_rfc3339(p["at"].as_str().expect("at")).expect("at");
        let until = chrono::DateTime::parse_from_rfc3339(p["until"].as_str().expect("until"))
            .expect("until");
        assert_eq!(until - at, chrono::Duration::minutes(2880), "{p}");
    }

    app.shutdown(Duration::from_secs(5)).await;
}

async fn a_runs_own_state_is_set_by_hand(store: &TestStore) {
    let (r, app, _dir) = super::manual::goog_app(store, 25).await;
    let created = send(
        &r,
        create(json!({}), "own-state", r#"{"fast": 5, "slow": 100000}"#),
    )
    .await;
    let id = created.json()["id"].as_i64().expect("id");
    super::manual::until_bars(&r, id, 2).await;
    let put = |body: Value| {
        Request::put(format!("/runs/{id}/trading-state"))
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    let buy = json!({"symbol": "GOOG", "side": "buy", "quantity": "2"});
    let placed = send(&r, post_json(&format!("/runs/{id}/orders"), buy.clone())).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.json());
    let halted = send(&r, put(json!({"state": "halted", "flatten": true}))).await;
    assert_eq!(halted.status, StatusCode::OK, "{}", halted.json());
    let halted = halted.json();
    assert_eq!(halted["run"]["trading_state"], "halted", "{halted}");
    assert!(halted["flattened"].is_object(), "{halted}");
    let refused = send(&r, post_json(&format!("/runs/{id}/orders"), buy.clone())).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.json()
    );
    assert_eq!(refused.error_code(), "trading_halted");
    let bad = send(&r, put(json!({"state": "paused"}))).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_code(), "invalid_trading_state");
    let active = send(&r, put(json!({"state": "active"}))).await.json();
    assert_eq!(active["run"]["trading_state"], "active", "{active}");
    let again = send(&r, post_json(&format!("/runs/{id}/orders"), buy)).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.json());
    app.shutdown(Duration::from_secs(5)).await;
}

contract!(
    rules_over_time_trip_once_and_restrict_the_run,
    a_runs_own_state_is_set_by_hand
);
