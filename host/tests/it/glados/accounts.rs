//! Venue accounts through the API (`/accounts`, issue #19): an account's limits hold every run
//! on it together, its daily loss is measured on the broker's equity, its kill switch leaves the
//! broker flat (positions of ended runs and trades outside Weaver included) and a repeat sends
//! nothing; a position the records do not explain is said as `reconcile.PositionMismatch`; a
//! simulated run's account is `sim/<run id>`, with the run's limits.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use weaver::app::{App, Config};
use weaver::veda::alpaca::fake::{FakeAlpaca, FakeConfig};
use weaver::veda::desk::Desk;
use weaver::walle::Walle;

use super::manual::put_json;
use super::manual_alpaca::{open_at_broker, until_held};
use super::replay::create_run;
use super::replay_alpaca::{push, until_subscribed};
use super::runs::upload;
use super::{get, send};
use crate::support::post_json;
use crate::veda::{fake, venue};
use crate::walle::support::{TestStore, contract};

/// The fake's account, as `GET /accounts` names it.
const ACCOUNT: &str = "/accounts/alpaca/PA3FAKE0001";

/// The parts of a started app on a fake Alpaca account ([`alpaca_app`]).
type AlpacaApp = (
    FakeAlpaca,
    axum::Router,
    App,
    Vec<i64>,
    i64,
    tempfile::TempDir,
);

/// A started app on a fake Alpaca account holding `cash` and the positions `outside` (symbol,
/// quantity, price: bought outside Weaver), whose account watch turns every 100 ms, with `runs`
/// quiet sma-cross runs on AAPL subscribed to its bars.
async fn alpaca_app(cash: i64, outside: &[(&str, i64, i64)], runs: usize) -> AlpacaApp {
    let fake = fake(FakeConfig {
        initial_cash: Decimal::from(cash),
        market_open: Some(true),
        ..FakeConfig::default()
    })
    .await;
    for (symbol, qty, price) in outside {
        fake.set_position(symbol, Decimal::from(*qty), Decimal::from(*price));
        fake.set_price(symbol, Decimal::from(*price));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    config.run_heartbeat_ms = 100;
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
    for i in 0..runs {
        let created = send(&r, create_run(&quiet.to_string(), &format!("acct-{i}"))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
        ids.push(created.json()["id"].as_i64().expect("id"));
    }
    let mut ts = 1_700_000_000_000;
    if !ids.is_empty() {
        until_subscribed(&r, &fake, &ids, &mut ts).await;
    }
    (fake, r, s, ids, ts, dir)
}

async fn buy(r: &axum::Router, run: i64, qty: &str) -> super::Resp {
    send(
        r,
        post_json(
            &format!("/runs/{run}/orders"),
            json!({"symbol": "AAPL", "side": "buy", "quantity": qty}),
        ),
    )
    .await
}

/// Waits for a UI event of `kind` whose data `matches`.
async fn until_event(r: &axum::Router, kind: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let tail = send(r, get("/events/tail?limit=1000")).await.json();
        if let Some(e) = tail["events"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["type"] == format!("ui.{kind}") && matches(&e["data"]))
        {
            return e.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {kind} event: {tail}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_limit_holds_every_run_and_its_kill_switch_leaves_the_broker_flat() {
    let (fake, r, s, ids, mut ts, _dir) = alpaca_app(10_000_000, &[], 2).await;
    let (a, b) = (ids[0], ids[1]);

    // The account is listed with its stable id, no limits of its own, and active.
    let account = send(&r, get(ACCOUNT)).await;
    assert_eq!(account.status, StatusCode::OK, "{}", account.json());
    let account = account.json();
    assert_eq!(account["id"], "alpaca/PA3FAKE0001", "{account}");
    assert_eq!(account["runs"], 2, "{account}");
    assert_eq!(account["trading_state"], "active", "{account}");
    assert_eq!(account["risk"]["max_position_per_symbol"], Value::Null);
    assert_eq!(
        send(&r, get("/accounts/alpaca/NOT-MINE")).await.status,
        StatusCode::NOT_FOUND
    );

    // Bad limits are refused with the field named, and change nothing.
    for (bad, field) in [
        (
            json!({"max_position_per_symbol": "-1"}),
            "risk.max_position_per_symbol",
        ),
        (json!({"no_such_limit": 1}), "risk.no_such_limit"),
        (
            json!({"cooldown": {"losing_trades": 3, "window_minutes": 60, "pause_minutes": 30}}),
            "risk.cooldown",
        ),
    ] {
        let refused = send(&r, put_json(&format!("{ACCOUNT}/risk"), bad.clone())).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(
            refused.json()["details"]["field"],
            field,
            "{}",
            refused.json()
        );
    }
    // At most 6 AAPL on the account, whichever runs hold them.
    let set = send(
        &r,
        put_json(
            &format!("{ACCOUNT}/risk"),
            json!({"max_position_per_symbol": "6"}),
        ),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.json());
    assert_eq!(set.json()["risk"]["max_position_per_symbol"], "6");
    until_event(&r, "risk.AccountLimitsChanged", |d| {
        d["account"] == "alpaca/PA3FAKE0001" && d["new"]["max_position_per_symbol"] == "6"
    })
    .await;

    assert_eq!(buy(&r, a, "3").await.status, StatusCode::CREATED);
    until_held(&r, &fake, &mut ts, 3, &[(a, 3.0), (b, 0.0)]).await;
    // B's own limits allow 5; the account's do not (3 + 5 > 6): refused, naming the account.
    let denied = buy(&r, b, "5").await;
    assert_eq!(
        denied.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        denied.json()
    );
    assert_eq!(denied.error_code(), "max_position_per_symbol");
    assert!(
        denied.json()["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("account alpaca/PA3FAKE0001: ")),
        "{}",
        denied.json()
    );
    until_event(&r, "risk.OrderDenied", |d| {
        d["account"] == "alpaca/PA3FAKE0001" && d["rule"] == "max_position_per_symbol"
    })
    .await;
    assert_eq!(buy(&r, b, "3").await.status, StatusCode::CREATED);
    until_held(&r, &fake, &mut ts, 6, &[(a, 3.0), (b, 3.0)]).await;

    // A trade outside Weaver: the records do not explain it, and that is said with the figures.
    fake.set_position("MSFT", Decimal::from(4), Decimal::from(300));
    let mismatch = until_event(&r, "reconcile.PositionMismatch", |d| d["symbol"] == "MSFT").await;
    assert_eq!(mismatch["data"]["broker_qty"], "4", "{mismatch}");
    assert_eq!(mismatch["data"]["recorded_qty"], "0", "{mismatch}");
    assert_eq!(mismatch["data"]["difference"], "4", "{mismatch}");

    // A stops keeping its 3: they are no active run's now.
    let stop = send(
        &r,
        post_json(&format!("/runs/{a}/stop"), json!({"positions": "keep"})),
    )
    .await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.json());
    let want = json!({"symbol": "AAPL", "qty": 6.0, "runs": [{"run_id": b, "qty": 3.0}], "unattributed": 3.0});
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let account = send(&r, get(ACCOUNT)).await.json();
        let aapl = account["positions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["symbol"] == "AAPL")
            .cloned()
            .expect("AAPL held");
        if aapl == want {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{aapl} (want {want})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // B has a resting order; the account's kill switch cancels it, closes B's share through B,
    // and closes A's kept 3 and the outside MSFT through orders of the account.
    let rest = send(
        &r,
        post_json(
            &format!("/runs/{b}/orders"),
            json!({"symbol": "AAPL", "side": "sell", "type": "limit", "time_in_force": "gtc",
                   "quantity": "1", "limit_price": "10000"}),
        ),
    )
    .await;
    assert_eq!(rest.status, StatusCode::CREATED, "{}", rest.json());
    let kill = send(
        &r,
        put_json(
            &format!("{ACCOUNT}/trading-state"),
            json!({"state": "halted", "flatten": true}),
        ),
    )
    .await;
    assert_eq!(kill.status, StatusCode::OK, "{}", kill.json());
    let report = kill.json();
    assert_eq!(report["account"]["trading_state"], "halted", "{report}");
    let f = &report["flattened"];
    assert_eq!(f["runs"][0]["run_id"], b, "{report}");
    assert_eq!(
        f["runs"][0]["done"]["canceled"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    let mut closed: Vec<(String, String)> = f["closing"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            assert_eq!(c["status"], "accepted", "{c}");
            (
                c["symbol"].as_str().unwrap_or("").to_owned(),
                c["side"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    closed.sort();
    assert_eq!(
        closed,
        [
            ("AAPL".to_owned(), "sell".to_owned()),
            ("MSFT".to_owned(), "sell".to_owned())
        ],
        "{report}"
    );
    until_held(&r, &fake, &mut ts, 0, &[(b, 0.0)]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while fake.position("MSFT") != Decimal::ZERO {
        assert!(tokio::time::Instant::now() < deadline, "MSFT still held");
        push(&fake, "MSFT", ts, 300.0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(open_at_broker(&fake), 0, "no open order at the broker");

    // Halted: B may not open anything, the refusal naming the account.
    let halted = buy(&r, b, "1").await;
    assert_eq!(halted.error_code(), "trading_halted", "{}", halted.json());

    // A repeat changes nothing and sends nothing.
    let sent = fake.post_order_requests();
    let again = send(
        &r,
        put_json(
            &format!("{ACCOUNT}/trading-state"),
            json!({"state": "halted", "flatten": true}),
        ),
    )
    .await
    .json();
    assert_eq!(again["flattened"]["closing"], json!([]), "{again}");
    assert_eq!(again["flattened"]["canceled"], json!([]), "{again}");
    assert_eq!(
        fake.post_order_requests(),
        sent,
        "a second flatten sends nothing"
    );

    // Active again: B trades.
    let active = send(
        &r,
        put_json(
            &format!("{ACCOUNT}/trading-state"),
            json!({"state": "active"}),
        ),
    )
    .await;
    assert_eq!(active.json()["account"]["trading_state"], "active");
    assert_eq!(buy(&r, b, "1").await.status, StatusCode::CREATED);
    s.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_daily_loss_is_measured_on_the_brokers_equity_and_kept_across_a_restart() {
    // 500 MSFT at 100 held outside Weaver: the account's equity moves with MSFT.
    let (fake, r, s, ids, _ts, dir) = alpaca_app(100_000, &[("MSFT", 500, 100)], 1).await;
    let run = ids[0];
    let set = send(
        &r,
        put_json(&format!("{ACCOUNT}/risk"), json!({"daily_loss_pct": "10"})),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.json());
    // The session's first equity is recorded by the watch before the drop.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let a = send(&r, get(ACCOUNT)).await.json();
        if a["risk_state"]["session_equity"].is_string() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no session equity: {a}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // MSFT halves: 25,000 of 150,000 is a 16.7 % loss.
    fake.set_price("MSFT", Decimal::from(50));
    let breach = until_event(&r, "risk.AccountLimitBreached", |d| {
        d["rule"] == "daily_loss_pct"
    })
    .await;
    assert_eq!(breach["data"]["account"], "alpaca/PA3FAKE0001", "{breach}");
    assert_eq!(breach["data"]["limit"], "10", "{breach}");
    let state = send(&r, get(ACCOUNT)).await.json()["trading_state"].clone();
    assert_ne!(state, "active", "the breach holds the account");
    // The run's own limits allow the buy; the account's breach does not.
    let denied = buy(&r, run, "1").await;
    assert_eq!(
        denied.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        denied.json()
    );
    assert_eq!(denied.error_code(), "daily_loss_pct", "{}", denied.json());

    // A restart keeps the account's limits and its breach.
    s.shutdown(Duration::from_secs(10)).await;
    let mut config = Config::for_tests(dir.path());
    config.run_heartbeat_ms = 100;
    let walle = Walle::connect(&config.db).await.expect("sqlite store");
    let desk = Desk::new(Arc::new(venue(&fake)), walle.clone(), false);
    let s = App::with_desks(config, walle, vec![desk]).expect("app");
    s.start().await.expect("start");
    let r = weaver::glados::router(s.state());
    let again = send(&r, get(ACCOUNT)).await.json();
    assert_eq!(again["risk"]["daily_loss_pct"], "10", "{again}");
    assert_eq!(again["trading_state"], state, "{again}");
    assert!(again["risk_state"]["daily_loss"].is_object(), "{again}");
    s.shutdown(Duration::from_secs(10)).await;
}

async fn a_simulated_runs_account_is_its_own(store: &TestStore) {
    let (r, s, _dir) = super::manual::goog_app(store, 200).await;
    let sma = send(&r, get("/strategies")).await.json()[0]["id"].clone();
    let created = send(
        &r,
        create_run(
            &json!({"strategy": sma, "mode": "paper", "venue": "sim", "symbols": ["GOOG"],
                    "timeframe": "1Day", "cash": 10_000.0})
            .to_string(),
            "sim-account",
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let id = created.json()["id"].as_i64().expect("id");
    let listed = send(&r, get("/accounts")).await.json();
    let mine = listed
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["id"] == format!("sim/{id}"))
        .cloned()
        .unwrap_or_else(|| panic!("sim/{id} not listed: {listed}"));
    assert_eq!(
        (
            mine["venue"].clone(),
            mine["run_id"].clone(),
            mine["live"].clone()
        ),
        (json!("sim"), json!(id), json!(false))
    );
    // Its limits are the run's: set through the account, shown on the run.
    let set = send(
        &r,
        put_json(
            &format!("/accounts/sim/{id}/risk"),
            json!({"max_notional_per_order": "1"}),
        ),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.json());
    let run = send(&r, get(&format!("/runs/{id}"))).await.json();
    assert_eq!(
        run["risk"]["max_notional_per_order"], "1",
        "{}",
        run["risk"]
    );
    // Its state is the run's too.
    let halted = send(
        &r,
        put_json(
            &format!("/accounts/sim/{id}/trading-state"),
            json!({"state": "halted"}),
        ),
    )
    .await;
    assert_eq!(halted.status, StatusCode::OK, "{}", halted.json());
    assert_eq!(halted.json()["account"]["trading_state"], "halted");
    let run = send(&r, get(&format!("/runs/{id}"))).await.json();
    assert_eq!(run["trading_state"], "halted", "{run}");
    assert_eq!(
        send(&r, get("/accounts/sim/999999")).await.status,
        StatusCode::NOT_FOUND
    );
    s.shutdown(Duration::from_secs(10)).await;
}

contract!(a_simulated_runs_account_is_its_own);
