//! Live bars and replay on Alpaca, against the local fake: two paper runs on one symbol share
//! the desk's bar stream; each bar is stored once as a `live` candle with one `market.Bar`
//! event (not one per run), and both runs replay bit-identically from their input tapes — one
//! of them a guest told its lifecycle, its own order updates and account snapshots, which the
//! replay can only give it from the tape.

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

use super::replay::{assert_identical, chain, create_run, projected, replay};
use super::runs::upload;
use super::{get, send};
use crate::support::post_json;
use crate::veda::{fake, venue};

/// Pushes a bar of `symbol` at `close`; the fake fills at it.
pub(super) fn push(fake: &FakeAlpaca, symbol: &str, ts: i64, close: f64) {
    fake.set_price(symbol, Decimal::from_f64(close).expect("price"));
    fake.push_bar(
        symbol,
        Bar {
            ts,
            open: close,
            high: close + 0.5,
            low: close - 0.5,
            close,
            volume: 1000.0,
        },
    );
}

pub(super) async fn run_view(r: &axum::Router, id: i64) -> serde_json::Value {
    send(r, get(&format!("/runs/{id}"))).await.json()
}

async fn log_of(r: &axum::Router, id: i64) -> Vec<String> {
    send(r, get(&format!("/runs/{id}/logs?limit=1000&order=asc")))
        .await
        .json()["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["message"].as_str().map(str::to_owned))
        .collect()
}

/// Pushes flat probe bars until every run in `ids` has received one.
pub(super) async fn until_subscribed(
    r: &axum::Router,
    fake: &FakeAlpaca,
    ids: &[i64],
    ts: &mut i64,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        push(fake, "AAPL", *ts, 190.0);
        *ts += 60_000;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut all = true;
        for id in ids {
            let v = run_view(r, *id).await;
            assert_eq!(v["status"], "running", "{v}");
            all &= v["figures"]["bars"].as_u64().unwrap_or(0) > 0;
        }
        if all {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a run never got a bar"
        );
    }
}

async fn until_log(r: &axum::Router, id: i64, line: &str, mut nudge: impl FnMut()) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !log_of(r, id).await.iter().any(|m| m == line) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {line:?} in run {id}'s log: {:?}",
            log_of(r, id).await
        );
        nudge();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `statement` on the SQLite database of `dir`; the first column of each row, as text.
async fn sql(dir: &std::path::Path, statement: &str) -> Vec<String> {
    use sqlx::{Connection, Row};
    let url = format!("sqlite://{}", dir.join("weaver.db").display());
    let mut c = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
        .fetch_all(&mut c)
        .await
        .expect("statement")
        .iter()
        .filter_map(|row| row.try_get::<String, _>(0).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpaca_runs_store_their_bars_once_and_replay_identically() {
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
    // The decisions projection runs, as in `weaver serve`.
    s.start().await.expect("start");
    let r = weaver::glados::router(s.state());
    let hostile = upload(&r, &s, "hostile", "guests/hostile.wasm").await;
    let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    let observer = serde_json::json!({
        "strategy": hostile, "mode": "paper", "venue": "alpaca", "symbols": ["AAPL"],
        "timeframe": "1Min", "cash": 100_000.0, "params": {"mode": "observe"}
    });
    let crossing = serde_json::json!({
        "strategy": sma, "mode": "paper", "venue": "alpaca", "symbols": ["AAPL"],
        "timeframe": "1Min", "cash": 1_000_000.0, "params": {"fast": 1, "slow": 2}
    });
    let mut ids = Vec::new();
    for (body, corr) in [
        (&observer, "replay-alpaca-obs"),
        (&crossing, "replay-alpaca-sma"),
    ] {
        let created = send(&r, create_run(&body.to_string(), corr)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
        ids.push((created.json()["id"].as_i64().expect("id"), corr));
    }
    let (obs, sma_run) = (ids[0].0, ids[1].0);

    let mut ts = 1_700_000_000_000;
    until_subscribed(&r, &fake, &[obs, sma_run], &mut ts).await;
    // fast 1 / slow 2: a rise after a fall crosses up (sma-cross buys), then down (it sells).
    for close in [189.0, 188.0, 191.0, 192.0, 187.0] {
        push(&fake, "AAPL", ts, close);
        ts += 60_000;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The observer's buy filled and it was told its account with the fill.
    until_log(&r, obs, "account 1 1", || {
        push(&fake, "AAPL", ts, 187.0);
        ts += 60_000;
    })
    .await;
    for (id, _) in &ids {
        let stop = send(&r, post_json(&format!("/runs/{id}/stop"), "")).await;
        assert_eq!(stop.status, StatusCode::OK, "{}", stop.json());
        until_log(&r, *id, "run stopped", || {}).await;
    }
    s.idle().await;
    let got = run_view(&r, obs).await["figures"]["bars"]
        .as_u64()
        .expect("bars");
    assert!(got >= 6, "the observer got {got} bars");

    // Every bar the runs got is a `live` candle, announced once although two runs got it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let candles = loop {
        let page = send(&r, get("/candles?symbol=AAPL&timeframe=1Min&limit=10000")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.json());
        let candles = page.json().as_array().cloned().unwrap_or_default();
        if candles.len() as u64 >= got {
            break candles;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} candles stored, the observer got {got} bars",
            candles.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(candles.iter().all(|c| c["source"] == "live"), "{candles:?}");
    let bars: Vec<serde_json::Value> = chain(&r, "market-alpaca")
        .await
        .into_iter()
        .filter(|e| e["type"] == "market.Bar")
        .collect();
    assert_eq!(bars.len(), candles.len(), "one market.Bar per stored bar");
    assert!(
        bars.iter()
            .all(|e| e["payload"]["symbol"] == "AAPL" && e["payload"]["timeframe"] == "1Min"),
        "{bars:?}"
    );

    // Each decision on a bar names that bar's `market.Bar` (stored once for both runs, under
    // the venue's correlation); every other decision names the run's start.
    let bar_ids: std::collections::HashSet<&str> =
        bars.iter().filter_map(|e| e["id"].as_str()).collect();
    for (id, corr) in &ids {
        let events = chain(&r, corr).await;
        let start = events
            .iter()
            .find(|e| e["type"] == "run.StatusChanged" && e["payload"]["status"] == "running")
            .and_then(|e| e["id"].as_str())
            .expect("the run's start in its chain");
        let ticks: std::collections::HashSet<&str> = events
            .iter()
            .filter(|e| e["type"] == "clock.Tick")
            .filter_map(|e| e["id"].as_str())
            .collect();
        let mut on_bars = 0;
        for d in events
            .iter()
            .filter(|e| e["type"] == "strategy.DecisionMade")
        {
            let cause = d["causation_id"]
                .as_str()
                .expect("a decision names a cause");
            if bar_ids.contains(cause) {
                on_bars += 1;
            } else if !ticks.contains(cause) {
                assert_eq!(cause, start, "{d}");
            }
        }
        let told = run_view(&r, *id).await["figures"]["bars"]
            .as_u64()
            .expect("bars");
        assert_eq!(
            on_bars, told,
            "run {id}: one decision per bar, each naming it"
        );
    }
    for (id, corr) in &ids {
        let decisions = projected(&r, *id, corr).await;
        assert_identical(&replay(&r, *id).await, decisions.len());
    }
    // The observer heard of its order and its account: what only the tape can give back.
    let text = log_of(&r, obs).await;
    assert!(text.iter().any(|m| m.starts_with("order ")), "{text:?}");
    let kinds = sql(
        dir.path(),
        &format!("select kind from run_inputs where run_id = {obs} order by seq"),
    )
    .await;
    for kind in ["session", "bar", "order_update", "account", "stop"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} taped: {kinds:?}");
    }
    // Without its order updates the observer's replay differs where it was told the first one.
    sql(
        dir.path(),
        &format!("delete from run_inputs where run_id = {obs} and kind = 'order_update'"),
    )
    .await;
    let without = replay(&r, obs).await.json();
    assert_eq!(without["identical"], false, "{without}");
    let index = without["first_mismatch"]["index"].as_u64().expect("index") as usize;
    let told = projected(&r, obs, "replay-alpaca-obs").await;
    let logged = told[index]["intents"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(logged.starts_with("order "), "{without} vs {}", told[index]);
    s.shutdown(Duration::from_secs(10)).await;
}
