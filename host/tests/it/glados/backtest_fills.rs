//! `POST /backtests` fill models, checked against prices computed from the stored bars; both
//! spellings of `fill`; the Monte Carlo of a backtest's trades.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use weaver::domain::Bar;
use weaver::greta::synth;

use super::backtests::candles;
use super::{app, get, send};
use crate::support::{dist, post_json};

async fn upload(r: &axum::Router, s: &weaver::app::App) -> i64 {
    let wasm = std::fs::read(dist("sma-cross.wasm")).expect("component");
    let up = axum::http::Request::post("/strategies?name=sma-cross")
        .header("host", "localhost")
        .header("content-type", "application/wasm")
        .body(axum::body::Body::from(wasm))
        .expect("req");
    let up = send(r, up).await;
    assert_eq!(up.status, StatusCode::ACCEPTED);
    tokio::time::timeout(Duration::from_secs(120), s.idle())
        .await
        .expect("compiled");
    up.json()["id"].as_i64().expect("id")
}

/// Posts a backtest of sma-cross 5/20 over SYN with `extra` fields; its id and report.
async fn backtest(r: &axum::Router, s: &weaver::app::App, sid: i64, extra: Value) -> (i64, Value) {
    let mut body = json!({"strategy": sid, "symbols": ["SYN"], "timeframe": "1Min",
        "commission": 0.001, "params": {"fast": 5, "slow": 20}});
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let created = send(r, post_json("/backtests", &body)).await;
    assert_eq!(
        created.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let id = created.json()["id"].as_i64().expect("id");
    tokio::time::timeout(Duration::from_secs(120), s.idle())
        .await
        .expect("backtest ends");
    let done = send(r, get(&format!("/backtests/{id}"))).await.json();
    assert_eq!(done["status"], "done", "{done}");
    (id, done["report"].clone())
}

fn trades(report: &Value) -> &Vec<Value> {
    report["trades"].as_array().expect("trades")
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

fn bar_of<'a>(bars: &'a [Bar], trade: &Value, key: &str) -> &'a Bar {
    &bars[trade[key].as_u64().expect("bar index") as usize]
}

#[tokio::test]
async fn fill_models_change_fills_as_computed() {
    let (r, s, _dir) = app(None).await;
    let bars = synth::generate(3_000, 7);
    s.walle()
        .upsert_candles(&candles("SYN", &bars), None)
        .await
        .expect("candles stored");
    let sid = upload(&r, &s).await;

    // Both spellings of `fill` are the same setting; the report states the reference fills.
    let (_, reference) = backtest(&r, &s, sid, json!({"fill": "next_open"})).await;
    let (_, kebab) = backtest(&r, &s, sid, json!({"fill": "next-open"})).await;
    assert_eq!(reference["trades"], kebab["trades"]);
    assert_eq!(reference["config"]["broker"]["fill"], "next_open");
    assert_eq!(reference["config"]["fills"]["latency_bars"], 0);
    let first = &trades(&reference)[0];
    assert_eq!(
        f(&first["entry_price"]),
        bar_of(&bars, first, "entry_bar").open
    );

    // Latency: the same first signal reaches the market one bar later, at that bar's open.
    let (_, late) = backtest(&r, &s, sid, json!({"latency_bars": 1})).await;
    assert_eq!(late["config"]["fills"]["latency_bars"], 1);
    let t = &trades(&late)[0];
    assert_eq!(
        t["entry_bar"].as_u64(),
        first["entry_bar"].as_u64().map(|b| b + 1)
    );
    assert_eq!(f(&t["entry_price"]), bar_of(&bars, t, "entry_bar").open);

    // Spread: a tenth of the entry bar's range against the trader, at every entry and exit.
    let (_, spread) = backtest(&r, &s, sid, json!({"spread_hl": 0.1})).await;
    assert!(!trades(&spread).is_empty());
    for t in trades(&spread) {
        let dir = f(&t["size"]).signum();
        let entry = bar_of(&bars, t, "entry_bar");
        let exit = bar_of(&bars, t, "exit_bar");
        let want_entry = entry.open + dir * 0.1 * (entry.high - entry.low);
        let want_exit = exit.open - dir * 0.1 * (exit.high - exit.low);
        assert!((f(&t["entry_price"]) - want_entry).abs() < 1e-9, "{t}");
        assert!((f(&t["exit_price"]) - want_exit).abs() < 1e-9, "{t}");
    }

    // Volume share: the first entry takes the whole 2.5 % of its bar's volume (sma-cross asks
    // for far more), at open × (1 + 0.1 × 0.025²) for a buy; the rest enters over later bars.
    let (_, share) = backtest(&r, &s, sid, json!({"volume_share": true})).await;
    assert_eq!(share["config"]["fills"]["volume_share"]["limit"], 0.025);
    let t = &trades(&share)[0];
    let b = bar_of(&bars, t, "entry_bar");
    assert_eq!(f(&t["size"]).abs(), (0.025 * b.volume).floor(), "{t}");
    let dir = f(&t["size"]).signum();
    let want = b.open + dir * b.open * 0.1 * ((0.025 * b.volume).floor() / b.volume).powi(2);
    assert!((f(&t["entry_price"]) - want).abs() < 1e-9, "{t} vs {want}");
    assert!(trades(&share).len() > trades(&reference).len());

    // Alpaca: no commission; each trade pays the TAF of its sell, ⌈|size| × 0.000166⌉ cents
    // (the SEC rate is $0.00 today).
    let (_, alpaca) = backtest(&r, &s, sid, json!({"commission_model": "alpaca"})).await;
    for t in trades(&alpaca) {
        let taf = (f(&t["size"]).abs() * 0.000_166 * 100.0 - 1e-9).ceil() / 100.0;
        assert!((f(&t["commission"]) - taf).abs() < 1e-12, "{t}");
    }
}

#[tokio::test]
async fn fill_settings_are_refused_by_name_and_montecarlo_is_bounded() {
    let (r, s, _dir) = app(None).await;
    let bars = synth::generate(2_000, 11);
    s.walle()
        .upsert_candles(&candles("SYN", &bars), None)
        .await
        .expect("candles stored");
    let sid = upload(&r, &s).await;
    let refused = |extra: Value| {
        let mut body = json!({"strategy": sid, "symbols": ["SYN"], "timeframe": "1Min"});
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        post_json("/backtests", body)
    };
    let stray = send(&r, refused(json!({"volume_limit": 0.1}))).await;
    assert_eq!(stray.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stray.error_code(), "invalid_backtest");
    assert!(
        stray.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("volume_limit applies")
    );
    let big = send(
        &r,
        refused(json!({"volume_share": true, "volume_limit": 2})),
    )
    .await;
    assert_eq!(big.error_code(), "invalid_backtest");
    assert_eq!(
        big.json()["message"],
        "volume_limit 2 must be a number in (0, 1]"
    );
    let typo = send(&r, refused(json!({"fill": "next_close"}))).await;
    assert_eq!(typo.error_code(), "invalid_body");
    let bad_model = send(&r, refused(json!({"commission_model": "ibkr"}))).await;
    assert_eq!(bad_model.error_code(), "invalid_body");

    let (id, report) = backtest(&r, &s, sid, json!({})).await;
    let url = |q: &str| format!("/backtests/{id}/montecarlo{q}");
    let mc = send(&r, get(&url("?runs=500&seed=3"))).await;
    assert_eq!(
        mc.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&mc.body)
    );
    let mc = mc.json();
    let returns: Vec<f64> = trades(&report)
        .iter()
        .map(|t| f(&t["return_pct"]) / 100.0)
        .collect();
    assert_eq!(mc["trades"].as_u64(), Some(returns.len() as u64));
    assert_eq!(
        (mc["runs"].as_u64(), mc["seed"].as_u64()),
        (Some(500), Some(3))
    );
    let observed = returns.iter().fold(1.0, |e, r| e * (1.0 + r)) - 1.0;
    assert!((f(&mc["observed_return_pct"]) - observed * 100.0).abs() < 1e-9);
    // The percentiles are ordered, and the same seed gives the same answer.
    let p = &mc["return_pct"];
    assert!(f(&p["p5"]) <= f(&p["p25"]) && f(&p["p25"]) <= f(&p["p50"]));
    assert!(f(&p["p50"]) <= f(&p["p75"]) && f(&p["p75"]) <= f(&p["p95"]));
    assert!(f(&mc["max_drawdown_pct"]["p5"]) >= 0.0);
    let again = send(&r, get(&url("?runs=500&seed=3"))).await.json();
    assert_eq!(again, mc, "seeded");
    let other = send(&r, get(&url("?runs=500&seed=4"))).await.json();
    assert_ne!(other["return_pct"], mc["return_pct"]);

    let over = send(&r, get(&url("?runs=100001"))).await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(over.error_code(), "invalid_overfit_input");
    assert_eq!(over.json()["details"]["max_runs"], 100_000);
    assert_eq!(over.json()["details"]["input"], "runs");
    let zero = send(&r, get(&url("?runs=0"))).await;
    assert_eq!(zero.error_code(), "invalid_overfit_input");
    let missing = send(&r, get("/backtests/999999/montecarlo")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
