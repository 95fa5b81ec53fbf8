//! Control by hand on a shared broker account (the fake Alpaca): two runs trading the same
//! symbol each see and close their own share, the shares add up to the broker's position, and
//! the kill switch's flatten leaves no open order and no position at the broker, a second time
//! changing nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use weaver::app::{App, Config};
use weaver::veda::alpaca::fake::{FakeAlpaca, FakeConfig};
use weaver::veda::desk::Desk;
use weaver::walle::Walle;

use super::replay::create_run;
use super::replay_alpaca::{push, run_view, until_subscribed};
use super::runs::upload;
use super::send;
use crate::support::post_json;
use crate::veda::{fake, venue};

pub(super) fn held(v: &Value) -> f64 {
    v["positions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["symbol"] == "AAPL")
        .map(|p| p["qty"].as_f64().unwrap_or(0.0))
        .sum()
}

/// Waits until the broker and each run hold what `want` says, pushing bars meanwhile (fills
/// come with prices).
pub(super) async fn until_held(
    r: &axum::Router,
    fake: &FakeAlpaca,
    ts: &mut i64,
    broker: i64,
    want: &[(i64, f64)],
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut seen = Vec::new();
        for (id, _) in want {
            seen.push(held(&run_view(r, *id).await));
        }
        let at_broker = fake.position("AAPL");
        if at_broker == Decimal::from(broker) && want.iter().zip(&seen).all(|((_, w), s)| w == s) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "broker {at_broker} (want {broker}), runs {seen:?} (want {want:?})"
        );
        push(fake, "AAPL", *ts, 190.0);
        *ts += 60_000;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(super) fn open_at_broker(fake: &FakeAlpaca) -> usize {
    fake.orders().iter().filter(|o| o.is_open()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_on_one_account_each_control_their_share() {
    let fake = fake(FakeConfig {
        initial_cash: Decimal::from(10_000_000),
        market_open: Some(true),
        ..FakeConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::for_tests(dir.path());
    let walle = Walle::connect(&config.db).await.expect("sqlite store");
    let desk = Desk::new(Arc::new(venue(&fake)), walle.clone(), false);
    let s = App::with_desks(config, walle, vec![desk]).expect("app");
    s.start().await.expect("start");
    let r = weaver::glados::router(s.state());
    let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    let quiet = json!({
        "strategy": sma, "mode": "paper", "venue": "alpaca", "symbols": ["AAPL"],
        "timeframe": "1Min", "cash": 100_000.0, "params": {"fast": 5, "slow": 100000}
    });
    let mut ids = Vec::new();
    for corr in ["manual-a", "manual-b"] {
        let created = send(&r, create_run(&quiet.to_string(), corr)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
        ids.push(created.json()["id"].as_i64().expect("id"));
    }
    let (a, b) = (ids[0], ids[1]);
    // Runs on Alpaca start with the operator's defaults (here the built-in ones), on paper too.
    let risk = run_view(&r, a).await["risk"].clone();
    assert_eq!(risk["daily_loss_pct"], "5", "{risk}");
    assert_eq!(risk["max_drawdown_pct"], "20", "{risk}");
    assert_eq!(risk["max_order_equity_pct"], "100", "{risk}");
    assert_eq!(risk["max_open_orders"], 50, "{risk}");
    assert_eq!(risk["max_orders_per_minute"], 60, "{risk}");
    assert_eq!(risk["allowed_symbols"], json!(["AAPL"]), "{risk}");
    let mut ts = 1_700_000_000_000;
    until_subscribed(&r, &fake, &[a, b], &mut ts).await;

    // Each run buys by hand; each sees its own share, and the shares add up at the broker.
    for (id, qty) in [(a, "3"), (b, "5")] {
        let placed = send(
            &r,
            post_json(
                &format!("/runs/{id}/orders"),
                json!({"symbol": "AAPL", "side": "buy", "quantity": qty}),
            ),
        )
        .await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.json());
    }
    until_held(&r, &fake, &mut ts, 8, &[(a, 3.0), (b, 5.0)]).await;
    // The account shows the broker's position split by run, adding up.
    let accounts = send(&r, super::get("/accounts")).await.json();
    let alpaca = accounts
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["venue"] == "alpaca")
        .cloned()
        .expect("alpaca account");
    assert!(
        alpaca["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("alpaca/")),
        "{alpaca}"
    );
    assert_eq!(
        alpaca["positions"],
        json!([{"symbol": "AAPL", "qty": 8.0, "unattributed": 0.0,
                "runs": [{"run_id": a, "qty": 3.0}, {"run_id": b, "qty": 5.0}]}]),
        "{alpaca}"
    );

    // A closes its share: B's is untouched.
    let close = send(
        &r,
        post_json(&format!("/runs/{a}/positions/AAPL/close"), ""),
    )
    .await;
    assert_eq!(close.status, StatusCode::CREATED, "{}", close.json());
    assert_eq!(close.json()["side"], "sell");
    until_held(&r, &fake, &mut ts, 5, &[(a, 0.0), (b, 5.0)]).await;

    // B has a resting order too; the kill switch cancels it and closes B's share.
    let rest = send(
        &r,
        post_json(
            &format!("/runs/{b}/orders"),
            json!({"symbol": "AAPL", "side": "buy", "type": "limit", "time_in_force": "gtc",
                   "quantity": "1", "limit_price": "1"}),
        ),
    )
    .await;
    assert_eq!(rest.status, StatusCode::CREATED, "{}", rest.json());
    assert_eq!(open_at_broker(&fake), 1);
    let kill = send(
        &r,
        super::manual::put_json(
            "/trading-state",
            json!({"state": "halted", "flatten": true}),
        ),
    )
    .await;
    assert_eq!(kill.status, StatusCode::OK, "{}", kill.json());
    until_held(&r, &fake, &mut ts, 0, &[(a, 0.0), (b, 0.0)]).await;
    assert_eq!(open_at_broker(&fake), 0, "no open order at the broker");
    let sent = fake.post_order_requests();
    let again = send(
        &r,
        super::manual::put_json(
            "/trading-state",
            json!({"state": "halted", "flatten": true}),
        ),
    )
    .await
    .json();
    for d in again["flattened"].as_array().expect("flattened") {
        assert_eq!(d["done"]["canceled"], json!([]), "{d}");
        assert_eq!(d["done"]["closing"], json!([]), "{d}");
    }
    assert_eq!(
        fake.post_order_requests(),
        sent,
        "a second flatten sends nothing"
    );
    assert_eq!(fake.position("AAPL"), Decimal::ZERO);
    s.shutdown(Duration::from_secs(10)).await;
}
