//! The `trend-filter` example (5-minute SMA cross, long only while the daily close is above its
//! SMA): the same decisions in Rust, Python and JavaScript over one backtest, and the same trades
//! in a backtest (`POST /backtests`) and a paper run on `sim` over the same stored candles.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use weaver::domain::{Bar, Side, Timeframe};
use weaver::greta::Backtest;
use weaver::walle::Candle;

use super::{MIN5, engine, series, shared_marvin};
use crate::glados::{get, send};
use crate::support::{dist, post_json};

/// `bars` as stored candles of `symbol` in `timeframe`.
pub(super) fn candles(symbol: &str, timeframe: Timeframe, bars: &[Bar]) -> Vec<Candle> {
    bars.iter()
        .map(|b| Candle {
            symbol: symbol.into(),
            timeframe: timeframe.to_string(),
            ts: chrono::DateTime::from_timestamp_millis(b.ts).expect("ts"),
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
            source: "synth".into(),
        })
        .collect()
}

/// 5-minute bars of the regular US session (14:30 to 21:00 UTC, 78 a day) on `days` weekdays
/// from 2020-01-06, a seeded random walk.
fn sessions(days: usize, seed: u64) -> Vec<Bar> {
    const DAY: i64 = 86_400_000;
    let monday = 1_578_268_800_000; // 2020-01-06T00:00:00Z
    let times = (0..)
        .map(|d: i64| monday + d * DAY)
        .filter(|t| (t / DAY + 4).rem_euclid(7) < 5) // 1970-01-01 was a Thursday
        .take(days)
        .flat_map(|day| (0..78).map(move |i| day + 52_200_000 + i * 300_000));
    weaver::greta::synth::generate_at(times, seed, 0.004)
}

const SEED: u64 = 21;

#[test]
fn trend_filter_decides_alike_in_rust_python_and_javascript() {
    let bars = sessions(40, SEED);
    let bt = Backtest::new(vec![series("SPY", &bars)]).expect("backtest");
    assert_eq!(bt.timeframe, MIN5);
    let marvin = shared_marvin();
    let mut outcomes = Vec::new();
    for name in ["trend-filter", "trend-filter-py", "trend-filter-js"] {
        let loaded = marvin
            .load_file(&dist(&format!("{name}.wasm")))
            .expect("loads");
        let mut strategy = loaded.instantiate(&bt.strategy_config(&[])).expect("init");
        let result = bt.run(&mut strategy, &engine(None), None).expect("runs");
        let orders: Vec<(i64, Side)> = result
            .orders
            .iter()
            .map(|o| (o.ts, o.intent.side))
            .collect();
        let trades: Vec<(usize, usize, u64, u64)> = result
            .trades
            .iter()
            .map(|t| {
                (
                    t.entry_bar,
                    t.exit_bar,
                    t.entry_price.to_bits(),
                    t.exit_price.to_bits(),
                )
            })
            .collect();
        outcomes.push((name, orders, trades, result.warmup));
    }
    let (_, orders, trades, warmup) = &outcomes[0];
    assert!(trades.len() >= 2, "the example trades: {orders:?}");
    assert_eq!(*warmup, 23, "declared: max(6, 24) - 1");
    for (name, o, t, w) in &outcomes[1..] {
        assert_eq!(o, orders, "{name} orders differ from Rust's");
        assert_eq!(t, trades, "{name} trades differ from Rust's");
        assert_eq!(w, warmup);
    }
}

/// Uploads a component and waits until it is compiled; its id.
async fn upload(r: &axum::Router, s: &weaver::app::App, name: &str) -> i64 {
    let wasm = std::fs::read(dist(&format!("{name}.wasm"))).expect("component");
    let up = Request::post(format!("/strategies?name={name}"))
        .header("host", "localhost")
        .header("content-type", "application/wasm")
        .body(Body::from(wasm))
        .expect("req");
    let up = send(r, up).await;
    assert_eq!(up.status, StatusCode::ACCEPTED, "{}", up.json());
    tokio::time::timeout(Duration::from_secs(120), s.idle())
        .await
        .expect("compiled");
    up.json()["id"].as_i64().expect("id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trend_filter_trades_alike_in_a_backtest_and_a_paper_run_on_sim() {
    let (r, s, _dir) = crate::glados::app(None).await;
    let bars = sessions(40, SEED);
    let daily = weaver::greta::series::aggregate(&bars, MIN5, Timeframe::DAY).expect("days");
    let w = s.walle();
    w.upsert_candles(&candles("SPY", MIN5, &bars), None)
        .await
        .expect("5-minute candles");
    w.upsert_candles(&candles("SPY", Timeframe::DAY, &daily), None)
        .await
        .expect("daily candles");
    let id = upload(&r, &s, "trend-filter").await;

    // Its contract version is shown with the strategy, and a 0.2 component's too.
    let view = send(&r, get(&format!("/strategies/{id}"))).await.json();
    assert_eq!(view["contract"], "0.3.0", "{view}");
    assert_eq!(
        view["supported_contracts"],
        "weaver:strategy@0.2.0 to @0.3.0"
    );
    let old = Request::post("/strategies?name=old")
        .header("host", "localhost")
        .header("content-type", "application/wasm")
        .body(Body::from(super::guest_0_2()))
        .expect("req");
    let old = send(&r, old).await;
    assert_eq!(old.status, StatusCode::ACCEPTED, "{}", old.json());
    assert_eq!(old.json()["contract"], "0.2.0");
    let versions = send(&r, get("/strategies?name=old")).await.json();
    assert_eq!(versions[0]["contract"], "0.2.0", "{versions}");

    let body = format!(r#"{{"strategy": {id}, "symbols": ["SPY"], "timeframe": "5Min"}}"#);
    let created = send(&r, post_json("/backtests", &body)).await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.json());
    let bid = created.json()["id"].as_i64().expect("id");
    tokio::time::timeout(Duration::from_secs(120), s.idle())
        .await
        .expect("backtest ends");
    let done = send(&r, get(&format!("/backtests/{bid}"))).await.json();
    assert_eq!(done["status"], "done", "{done}");
    let report = &done["report"];
    assert_eq!(
        report["warmup"],
        serde_json::json!({"bars": 23, "source": "declared"})
    );
    // Entries and exits, in order, with their fill prices.
    let mut expected: Vec<(String, f64)> = Vec::new();
    for t in report["trades"].as_array().expect("trades") {
        expected.push(("buy".into(), t["entry_price"].as_f64().unwrap()));
        expected.push(("sell".into(), t["exit_price"].as_f64().unwrap()));
    }
    for t in report["open_trades"].as_array().expect("open trades") {
        expected.push(("buy".into(), t["entry_price"].as_f64().unwrap()));
    }
    assert!(expected.len() >= 4, "the backtest trades: {report}");

    let run = format!(
        r#"{{"strategy": {id}, "mode": "paper", "venue": "sim", "symbols": ["SPY"], "timeframe": "5Min"}}"#
    );
    let run = send(&r, post_json("/runs", &run)).await;
    assert_eq!(run.status, StatusCode::CREATED, "{}", run.json());
    let run = run.json()["id"].as_i64().expect("id");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let settled = loop {
        let v = send(&r, get(&format!("/runs/{run}"))).await.json();
        if v["status"] != "running" {
            break v;
        }
        assert!(tokio::time::Instant::now() < deadline, "still running: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(settled["status"], "stopped", "{settled}");
    let orders = send(&r, get(&format!("/orders?run={run}&limit=1000")))
        .await
        .json();
    let mut orders: Vec<serde_json::Value> =
        orders["orders"].as_array().cloned().unwrap_or_default();
    orders.sort_by_key(|o| o["id"].as_i64());
    let got: Vec<(String, f64)> = orders
        .iter()
        .filter(|o| o["status"] == "filled")
        .map(|o| {
            let price = &o["average_price"];
            let price = price
                .as_f64()
                .or_else(|| price.as_str().and_then(|p| p.parse().ok()))
                .expect("fill price");
            (o["side"].as_str().unwrap_or_default().to_owned(), price)
        })
        .collect();
    assert_eq!(
        got.len(),
        expected.len(),
        "the paper run's fills {got:?} are the backtest's {expected:?}"
    );
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g.0, e.0);
        assert!(
            (g.1 - e.1).abs() <= 1e-6 * e.1.abs(),
            "{got:?} vs {expected:?}"
        );
    }
    tokio::time::timeout(Duration::from_secs(30), s.idle())
        .await
        .expect("idle");
}
