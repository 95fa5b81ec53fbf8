//! Promotion and rollback (`/runs/{id}/promote`, `/runs/{id}/rollback`, `/runs/{id}/versions`,
//! ADR 0019), on SQLite and PostgreSQL: a paper run of sma-cross on `sim` promoted mid-run
//! from fast 5 to fast 10 decides from the switch on as a run of fast 10 from the start does,
//! and rolled back decides again as a run of fast 5 that never switched; its orders stay its
//! own. A hostile version whose replay traps fails the switch and the run goes on; one that
//! traps after a fresh switch is rolled back automatically and notified. The refusals with their
//! codes. And on the fake Alpaca: a promotion keeps the run's position and the next bars are
//! decided by the new version; a rollback trades again as the old one.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use weaver::app::{App, Config};
use weaver::walle::{NewRunVersion, Walle};

use super::notify::{Receiver, fast, until, webhook_config};
use super::replay::create_run;
use super::runs::{orders_of, run_body, settled, upload};
use super::{Resp, get, send};
use crate::support::post_json;
use crate::testdata::goog_candles;
use crate::walle::support::{TestStore, contract};

fn app_on(walle: Walle, dir: &std::path::Path, notify: Option<String>) -> (axum::Router, App) {
    let mut config = Config::for_tests(dir);
    // Paced: the runs are still trading when they are promoted and rolled back.
    config.run_bar_interval_ms = 3;
    config.run_heartbeat_ms = 100;
    if let Some(base) = notify {
        config.notify = webhook_config(&base, fast(3, 50));
    }
    let app = App::new(config, walle).expect("app");
    (weaver::glados::router(app.state()), app)
}

async fn promote(r: &axum::Router, run: i64, body: Value) -> Resp {
    send(r, post_json(&format!("/runs/{run}/promote"), body)).await
}

async fn rollback(r: &axum::Router, run: i64) -> Resp {
    send(r, post_json(&format!("/runs/{run}/rollback"), "{}")).await
}

async fn versions(r: &axum::Router, run: i64) -> Vec<Value> {
    let v = send(r, get(&format!("/runs/{run}/versions"))).await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.json());
    v.json()["items"].as_array().cloned().expect("items")
}

/// Waits until version `seq` of `run` left `pending`; returns it.
async fn switched(r: &axum::Router, run: i64, seq: i64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let list = versions(r, run).await;
        if let Some(v) = list
            .iter()
            .find(|v| v["seq"] == seq && v["status"] != "pending")
        {
            return v.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{list:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn bars_of(r: &axum::Router, run: i64) -> u64 {
    send(r, get(&format!("/runs/{run}"))).await.json()["figures"]["bars"]
        .as_u64()
        .unwrap_or(0)
}

/// Waits until `run` got more than `n` bars.
async fn past(r: &axum::Router, run: i64, n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while bars_of(r, run).await <= n {
        assert!(tokio::time::Instant::now() < deadline, "run {run} stalled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn ts(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

/// Run `id`'s intents by bar time, once the projection has its decision on the last GOOG bar.
async fn decisions(r: &axum::Router, id: i64) -> BTreeMap<DateTime<Utc>, Vec<Value>> {
    let last = goog_candles().last().expect("candles").ts;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut all: BTreeMap<DateTime<Utc>, Vec<Value>> = BTreeMap::new();
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
            for d in items {
                let at = ts(&d["bar_ts"]);
                all.entry(at)
                    .or_default()
                    .extend(d["intents"].as_array().cloned().unwrap_or_default());
            }
        }
        if all.keys().last() == Some(&last) {
            return all;
        }
        assert!(tokio::time::Instant::now() < deadline, "{} bars", all.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start(r: &axum::Router, strategy: &str, params: &str, corr: &str) -> i64 {
    let created = send(r, create_run(&run_body(strategy, params), corr)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    created.json()["id"].as_i64().expect("id")
}

fn slice(
    d: &BTreeMap<DateTime<Utc>, Vec<Value>>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Vec<(DateTime<Utc>, Vec<Value>)> {
    d.iter()
        .filter(|(t, _)| from.is_none_or(|f| **t >= f) && to.is_none_or(|e| **t < e))
        .map(|(t, i)| (*t, i.clone()))
        .collect()
}

async fn a_promoted_run_decides_as_the_new_version_and_a_rollback_as_the_old(store: &TestStore) {
    store
        .walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, app) = app_on(store.walle.clone(), dir.path(), None);
    app.start().await.expect("start");
    let sma = upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    let hostile = upload(&r, &app, "hostile", "guests/hostile.wasm").await;
    let run = start(
        &r,
        "\"sma-cross\"",
        r#"{"fast": 5, "slow": 20}"#,
        "promote-1",
    )
    .await;
    // The references: the two settings, never switched.
    let five = start(
        &r,
        "\"sma-cross\"",
        r#"{"fast": 5, "slow": 20}"#,
        "promote-2",
    )
    .await;
    let ten = start(
        &r,
        "\"sma-cross\"",
        r#"{"fast": 10, "slow": 20}"#,
        "promote-3",
    )
    .await;

    // The run's task is under way (its switchboard with it).
    past(&r, run, 10).await;
    // Before any switch: the start only, read off the run.
    let start_row = versions(&r, run).await;
    assert_eq!(start_row.len(), 1, "{start_row:?}");
    assert_eq!(start_row[0]["reason"], "start");
    assert_eq!(start_row[0]["status"], "active");
    assert_eq!(start_row[0]["strategy_id"], sma);
    assert_eq!(start_row[0]["strategy_name"], "sma-cross");
    let view = send(&r, get(&format!("/runs/{run}"))).await.json();
    assert_eq!(view["params"], json!({"fast": 5, "slow": 20}), "{view}");

    // Refusals, each with its code; nothing stored.
    let none = rollback(&r, run).await;
    assert_eq!(none.status, StatusCode::CONFLICT, "{}", none.json());
    assert_eq!(none.error_code(), "no_previous_version");
    let foreign = promote(&r, run, json!({"strategy": hostile})).await;
    assert_eq!(foreign.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(foreign.error_code(), "promote_other_strategy");
    let both = promote(&r, run, json!({"strategy": sma, "shadow_id": 1})).await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST, "{}", both.json());
    let neither = promote(&r, run, json!({"params": {"fast": 3}})).await;
    assert_eq!(
        neither.status,
        StatusCode::BAD_REQUEST,
        "{}",
        neither.json()
    );
    let ghost = promote(&r, run, json!({"shadow_id": 999_999})).await;
    assert_eq!(ghost.status, StatusCode::NOT_FOUND, "{}", ghost.json());
    assert_eq!(ghost.error_code(), "shadow_not_found");
    let bad_params = promote(&r, run, json!({"strategy": sma, "params": {"nope": 1}})).await;
    assert_eq!(bad_params.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = promote(&r, 999_999, json!({"strategy": sma})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bad_state = promote(&r, run, json!({"strategy": sma, "state": "warm"})).await;
    assert!(bad_state.status.is_client_error(), "{}", bad_state.json());
    assert_eq!(versions(&r, run).await.len(), 1, "refusals store nothing");

    past(&r, run, 300).await;
    let asked = promote(
        &r,
        run,
        json!({"strategy": {"name": "sma-cross", "version": start_row[0]["strategy_version"]},
            "params": {"fast": 10, "slow": 20}}),
    )
    .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.json());
    let asked = asked.json();
    assert_eq!(asked["seq"], 2, "{asked}");
    assert_eq!(asked["reason"], "promote");
    assert_eq!(asked["state"], "replay");
    assert_eq!(asked["auto_rollback_bars"], 20);
    let promoted = switched(&r, run, 2).await;
    assert_eq!(promoted["status"], "active", "{promoted}");
    assert!(promoted["replayed"].as_u64().unwrap() > 300, "{promoted}");
    let t1 = ts(&promoted["at_bar"]);
    let view = send(&r, get(&format!("/runs/{run}"))).await.json();
    assert_eq!(view["params"], json!({"fast": 10, "slow": 20}), "{view}");
    assert_eq!(view["strategy_id"], sma);

    past(&r, run, bars_of(&r, run).await + 600).await;
    let back = rollback(&r, run).await;
    assert_eq!(back.status, StatusCode::ACCEPTED, "{}", back.json());
    assert_eq!(back.json()["reason"], "rollback");
    assert_eq!(back.json()["params"], json!({"fast": 5, "slow": 20}));
    let back = switched(&r, run, 3).await;
    assert_eq!(back["status"], "active", "{back}");
    let t2 = ts(&back["at_bar"]);
    assert!(t2 > t1);
    let history = versions(&r, run).await;
    let statuses: Vec<&str> = history
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["superseded", "superseded", "active"],
        "{history:?}"
    );

    for id in [run, five, ten] {
        assert_eq!(settled(&r, id).await["status"], "stopped");
    }
    let (ours, fives, tens) = (
        decisions(&r, run).await,
        decisions(&r, five).await,
        decisions(&r, ten).await,
    );
    let traded =
        |s: &[(DateTime<Utc>, Vec<Value>)]| s.iter().filter(|(_, i)| !i.is_empty()).count();
    // Before the promotion: fast 5's; from it: fast 10's, as if it had run from the start;
    // from the rollback: fast 5's again, as a run that never switched.
    assert_eq!(slice(&ours, None, Some(t1)), slice(&fives, None, Some(t1)));
    let middle = slice(&ours, Some(t1), Some(t2));
    assert_eq!(middle, slice(&tens, Some(t1), Some(t2)));
    assert_ne!(
        middle,
        slice(&fives, Some(t1), Some(t2)),
        "the settings differ there"
    );
    let last = slice(&ours, Some(t2), None);
    assert_eq!(last, slice(&fives, Some(t2), None));
    assert!(traded(&middle) > 0 && traded(&last) > 0, "sma-cross traded");
    // The orders before the switch are still the run's, and it placed more after.
    let orders = orders_of(&r, run).await;
    let switched_at = ts(&promoted["switched_at"]);
    let before = orders
        .iter()
        .filter(|o| ts(&o["created_at"]) < switched_at)
        .count();
    assert!(
        before > 0 && before < orders.len(),
        "{before} of {}",
        orders.len()
    );
    assert!(orders.iter().all(|o| o["run_id"] == run), "{orders:?}");
    let late = rollback(&r, run).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.error_code(), "run_not_active");
    // One pending switch at a time.
    let one = NewRunVersion {
        strategy_id: sma,
        params: json!({"fast": 5, "slow": 20}),
        reason: "promote",
        state: "replay",
        shadow_id: None,
        auto_rollback_bars: 0,
    };
    store
        .walle
        .insert_run_version(five, &one)
        .await
        .expect("pending");
    let again = store
        .walle
        .insert_run_version(five, &one)
        .await
        .unwrap_err();
    assert_eq!(again.code(), "switch_pending");
    app.shutdown(Duration::from_secs(10)).await;
}

async fn a_trap_fails_the_switch_or_rolls_back_and_notifies(store: &TestStore) {
    store
        .walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let (rx, base) = Receiver::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, app) = app_on(store.walle.clone(), dir.path(), Some(base));
    app.start().await.expect("start");
    until("the notify consumer registered", || async {
        store
            .walle
            .consumers()
            .await
            .expect("consumers")
            .iter()
            .any(|c| c == weaver::walle::NOTIFY_CONSUMER)
    })
    .await;
    upload(&r, &app, "hostile", "guests/hostile.wasm").await;
    let run = start(&r, "\"hostile\"", r#"{"mode": "none"}"#, "promote-trap").await;
    past(&r, run, 50).await;
    // Its replay traps on the first bar: the switch fails, the run goes on.
    let asked = promote(
        &r,
        run,
        json!({"strategy": "hostile", "params": {"mode": "unreachable"}}),
    )
    .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.json());
    let failed = switched(&r, run, 2).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error_code"]
            .as_str()
            .is_some_and(|c| c.starts_with("strategy_")),
        "{failed}"
    );
    assert_eq!(
        send(&r, get(&format!("/runs/{run}"))).await.json()["status"],
        "running"
    );
    // Fresh: no replay, so it traps on its first bar, and the run goes back.
    let asked = promote(
        &r,
        run,
        json!({"strategy": "hostile", "params": {"mode": "unreachable"}, "state": "fresh", "auto_rollback_bars": 5}),
    )
    .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.json());
    // Made (and, a bar later at most, superseded by the rollback).
    let fresh = switched(&r, run, 3).await;
    assert_ne!(fresh["status"], "failed", "{fresh}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let rolled = loop {
        let list = versions(&r, run).await;
        if let Some(v) = list.iter().find(|v| v["seq"] == 4) {
            break v.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{list:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(rolled["reason"], "auto_rollback", "{rolled}");
    let fresh = versions(&r, run).await[2].clone();
    assert_eq!(fresh["status"], "superseded", "{fresh}");
    assert_eq!(fresh["state"], "fresh");
    assert_eq!(rolled["status"], "active");
    assert_eq!(rolled["params"], json!({"mode": "none"}));
    assert_eq!(
        rolled["at_bar"], fresh["at_bar"],
        "rolled back on the bar it trapped on"
    );
    assert!(
        rolled["error_code"]
            .as_str()
            .is_some_and(|c| c.starts_with("strategy_"))
    );
    let done = settled(&r, run).await;
    assert_eq!(done["status"], "stopped", "{done}");
    assert_eq!(done["params"], json!({"mode": "none"}));
    until("the rollback notified", || async {
        rx.webhooks().iter().any(|b| {
            b["type"] == "run.VersionSwitched" && b["payload"]["reason"] == "auto_rollback"
        })
    })
    .await;
    let switches: Vec<Value> = rx
        .webhooks()
        .into_iter()
        .filter(|b| b["type"] == "run.VersionSwitched")
        .collect();
    assert_eq!(
        switches.len(),
        1,
        "a promotion itself is not notified: {switches:?}"
    );
    app.shutdown(Duration::from_secs(10)).await;
}

contract!(
    a_promoted_run_decides_as_the_new_version_and_a_rollback_as_the_old,
    a_trap_fails_the_switch_or_rolls_back_and_notifies
);

/// On the fake Alpaca (sma-cross fast 1 / slow 2, no warm-up): the run buys on a rise; promoted
/// to fast 3 / slow 5 it keeps that position and does not trade where fast 1 / slow 2 would
/// (fast 3 stays above slow 5 there); rolled back it trades again as fast 1 / slow 2 does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_the_fake_alpaca_is_promoted_and_rolled_back() {
    use super::alpaca_runs::{app_on, push, rich_fake, run_view};
    let fake = rich_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, app) = app_on(&fake, dir.path(), false).await;
    app.start().await.expect("start");
    let sma = upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    let body = json!({"strategy": sma, "mode": "paper", "venue": "alpaca",
        "symbols": ["AAPL"], "timeframe": "1Min", "params": {"fast": 1, "slow": 2},
        "warmup": 0, "cash": 1_000_000.0});
    let created = send(&r, create_run(&body.to_string(), "promote-alpaca")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let run = created.json()["id"].as_i64().expect("id");
    let mut t = 1_700_000_000_000_i64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        push(&fake, "AAPL", t, 190.0);
        t += 60_000;
        tokio::time::sleep(Duration::from_millis(50)).await;
        if bars_of(&r, run).await > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run never got a bar"
        );
    }
    let mut told = bars_of(&r, run).await;
    let mut bars = |closes: &[f64]| {
        for close in closes {
            push(&fake, "AAPL", t, *close);
            t += 60_000;
        }
        told += closes.len() as u64;
        told
    };
    let aapl = || fake.orders().iter().filter(|o| o.symbol == "AAPL").count();
    // Flat, then a fall and a rise: fast 1 crosses above slow 2 at 191 (a buy).
    let n = bars(&[
        190.0, 190.0, 190.0, 190.0, 190.0, 189.0, 188.0, 191.0, 192.0, 193.0, 194.0, 195.0,
    ]);
    past(&r, run, n - 1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while run_view(&r, run).await["positions"]
        .as_array()
        .map_or(0, Vec::len)
        == 0
    {
        assert!(tokio::time::Instant::now() < deadline, "no position");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let qty = |v: Value| {
        v["positions"]
            .as_array()
            .map(|p| {
                p.iter()
                    .map(|p| (p["symbol"].clone(), p["qty"].clone()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let position = qty(run_view(&r, run).await);
    let placed = aapl();
    assert!(placed > 0);

    let asked = promote(
        &r,
        run,
        json!({"strategy": sma, "params": {"fast": 3, "slow": 5}}),
    )
    .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.json());
    bars(&[195.0]);
    let promoted = switched(&r, run, 2).await;
    assert_eq!(promoted["status"], "active", "{promoted}");
    assert!(promoted["replayed"].as_u64().unwrap() > 12, "{promoted}");
    // fast 1 / slow 2 buys again at 195.5; fast 3 / slow 5 does not trade.
    let n = bars(&[194.5, 195.5, 196.0]);
    past(&r, run, n - 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(aapl(), placed, "{:?}", fake.orders());
    assert_eq!(
        qty(run_view(&r, run).await),
        position,
        "the position stays the run's"
    );

    let back = rollback(&r, run).await;
    assert_eq!(back.status, StatusCode::ACCEPTED, "{}", back.json());
    bars(&[196.0]);
    assert_eq!(switched(&r, run, 3).await["status"], "active");
    // fast 1 / slow 2 again: it buys at 196.5.
    bars(&[195.0, 196.5]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while aapl() == placed {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            fake.orders()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let view = run_view(&r, run).await;
    assert_eq!(view["params"], json!({"fast": 1, "slow": 2}), "{view}");
    let stop = send(&r, post_json(&format!("/runs/{run}/stop"), "")).await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.json());
    app.shutdown(Duration::from_secs(10)).await;
}
