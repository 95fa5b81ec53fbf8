//! The identity chain: one HTTP request followed to its fills. A paper run started with an
//! `X-Request-Id` and a W3C `traceparent` stores every event it causes (the run's creation and
//! status, its order intents, venue updates and fills) under that correlation and trace id, and
//! `GET /events?corr_id=` returns them in order, on both backends. The strategy's decisions are
//! in the chain too, and the decisions projection pages them at `GET /runs/{id}/decisions`;
//! each event names its cause: fill → `live.PlaceOrder` → `strategy.DecisionMade` → the run's
//! start (`run.StatusChanged`) → `run.Created`.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use weaver::app::{App, Config};

use super::runs::{run_body, settled, upload};
use super::{get, send};
use crate::testdata::goog_candles;
use crate::walle::support::{TestStore, contract};

const CORR: &str = "chain-7f2c1a";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn one_request_is_followed_to_its_fills(store: &TestStore) {
    store
        .walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::new(Config::for_tests(dir.path()), store.walle.clone()).expect("app");
    app.start().await.expect("start");
    let r = weaver::glados::router(app.state());
    upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    let created = send(
        &r,
        Request::post("/runs")
            .header("host", "localhost")
            .header("content-type", "application/json")
            .header("x-request-id", CORR)
            .header("traceparent", TRACEPARENT)
            .body(Body::from(run_body(
                "\"sma-cross\"",
                r#"{"fast": 5, "slow": 20}"#,
            )))
            .expect("request"),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let id = created.json()["id"].as_i64().expect("id");
    let done = settled(&r, id).await;
    assert_eq!(done["status"], "stopped", "{done}");
    app.idle().await;

    let mut chain = Vec::new();
    let mut after = String::new();
    loop {
        let uri = if after.is_empty() {
            format!("/events?corr_id={CORR}&limit=50")
        } else {
            format!("/events?corr_id={CORR}&limit=50&after={after}")
        };
        let page = send(&r, get(&uri)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.json());
        let page = page.json();
        let events = page["events"].as_array().cloned().unwrap_or_default();
        if events.is_empty() {
            break;
        }
        after = page["next"].as_str().expect("next").to_owned();
        chain.extend(events);
    }
    let types: Vec<&str> = chain
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect();
    for e in &chain {
        assert_eq!(e["corr_id"], CORR, "{e}");
        assert_eq!(e["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736", "{e}");
    }
    assert_eq!(types.first(), Some(&"run.Created"), "{types:?}");
    let first = |t: &str| types.iter().position(|x| *x == t);
    let intent = first("orders.Intent").expect("an order intent in the chain");
    let update = first("orders.Updated").expect("a venue update in the chain");
    let fill = first("orders.Filled.v2").expect("a fill in the chain");
    assert!(intent < update && update <= fill, "{types:?}");
    assert_eq!(
        types.iter().filter(|t| **t == "orders.Filled.v2").count(),
        send(&r, get(&format!("/orders?run={id}&limit=1000")))
            .await
            .json()["orders"]
            .as_array()
            .map_or(0, |o| o.iter().filter(|o| o["status"] == "filled").count()),
        "one fill event per filled order (market orders fill whole)"
    );
    assert!(
        types.contains(&"run.StatusChanged"),
        "the run's end is in the chain: {types:?}"
    );
    let ids: Vec<&str> = chain
        .iter()
        .map(|e| e["id"].as_str().unwrap_or(""))
        .collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no event twice");
    // Causation: fill → the order's `live.PlaceOrder` command → the decision that asked for it,
    // each cause stored before what it caused.
    let at = |id: &str| ids.iter().position(|x| *x == id);
    let cause_of = |i: usize| chain[i]["causation_id"].as_str().and_then(at);
    let mut followed = 0;
    for (i, t) in types.iter().enumerate() {
        if *t != "orders.Filled.v2" {
            continue;
        }
        let place = cause_of(i).expect("a fill names its order's command");
        assert_eq!(types[place], "live.PlaceOrder", "{}", chain[i]);
        assert_eq!(chain[place]["kind"], "cmd");
        let decision = cause_of(place).expect("a command names its decision");
        assert_eq!(types[decision], "strategy.DecisionMade", "{}", chain[place]);
        assert!(
            decision < place && place < i,
            "causes come first: {decision} {place} {i}"
        );
        followed += 1;
    }
    assert!(followed > 0, "{types:?}");
    // The rest of the chain: each decision on a replayed candle (no event of its own) names the
    // run's start, which names the run's creation: request → run.Created → run.StatusChanged
    // (running) → decision.
    let start = first("run.StatusChanged").expect("the run's start");
    assert_eq!(
        chain[start]["payload"]["status"], "running",
        "{}",
        chain[start]
    );
    assert_eq!(cause_of(start), Some(0), "the start names the creation");
    let mut decisions_seen = 0;
    for (i, t) in types.iter().enumerate() {
        if *t == "strategy.DecisionMade" {
            assert_eq!(cause_of(i), Some(start), "{}", chain[i]);
            decisions_seen += 1;
        }
    }
    assert!(decisions_seen > 0, "{types:?}");
    for (i, t) in types.iter().enumerate() {
        if *t == "orders.Intent" || *t == "orders.Updated" {
            let place = cause_of(i).expect("an order event names its command");
            assert_eq!(types[place], "live.PlaceOrder", "{}", chain[i]);
        }
    }
    // Every decision the strategy made is in the chain and, through the decisions projection,
    // at GET /runs/{id}/decisions.
    let made = types
        .iter()
        .filter(|t| **t == "strategy.DecisionMade")
        .count();
    assert!(made > 0, "{types:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let decisions = loop {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = send(
                &r,
                get(&format!("/runs/{id}/decisions?after={after}&limit=100")),
            )
            .await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.json());
            let page = page.json();
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                break;
            }
            after = page["next"].as_i64().expect("next");
            all.extend(items);
        }
        if all.len() == made {
            break all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {made} decisions projected",
            all.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let placing: usize = decisions
        .iter()
        .map(|d| {
            d["intents"].as_array().map_or(0, |i| {
                i.iter()
                    .filter(|x| x["intent"] == "place_order" || x["intent"] == "close_position")
                    .count()
            })
        })
        .sum();
    let orders = send(&r, get(&format!("/orders?run={id}&limit=1000")))
        .await
        .json()["orders"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(
        placing >= 1 && placing >= orders,
        "{placing} order intents decided, {orders} orders"
    );
    for d in &decisions {
        assert!(d["fuel"].as_i64().is_some_and(|f| f > 0), "{d}");
        assert!(d["bar_ts"].is_string(), "{d}");
    }
    let consumers = store.walle.consumers().await.expect("consumers");
    for c in ["decisions", "ui-feed"] {
        assert!(consumers.iter().any(|x| x == c), "{c} in {consumers:?}");
    }
    let missing = send(&r, get("/runs/999999/decisions")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Another request's events are not in it.
    let other = send(&r, get("/events?corr_id=nobody-sent-this"))
        .await
        .json();
    assert_eq!(other["events"], serde_json::json!([]));
    let bad = send(&r, get("/events?corr_id=")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "invalid_parameter");
    app.shutdown(std::time::Duration::from_secs(5)).await;
}

contract!(one_request_is_followed_to_its_fills);
