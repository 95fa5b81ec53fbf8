//! Portfolio backtests through the API (issue #24), on SQLite and PostgreSQL: one backtest over
//! two symbols with one cash account reports `by_symbol`, one row per symbol whose net PnL adds
//! up to the closed trades' total and whose `total` is the report's own statistics; a report
//! stored before the section existed gets it computed from its stored trades on read.

use super::both_stores;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use weaver::app::{App, Config};
use weaver::glados::backtests::BySymbolView;
use weaver::greta::synth;
use weaver::walle::{BacktestReport, BacktestStatus, NewBacktest};

use super::backtests::candles;
use super::{get, send};
use crate::support::{dist, post_json};
use crate::walle::support::{Kind, TestStore};

async fn idle(app: &App) {
    tokio::time::timeout(Duration::from_secs(300), app.idle())
        .await
        .expect("background work ends");
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

async fn two_symbols_report_by_symbol_and_old_reports_get_it_on_read(kind: Kind) {
    let store = TestStore::new(kind).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::new(Config::for_tests(dir.path()), store.walle.clone()).expect("app");
    let r = weaver::glados::router(app.state());
    // Two random walks over the same minutes, the second starting later.
    let a = synth::generate(1_500, 21);
    let b: Vec<_> = synth::generate(1_500, 22).into_iter().skip(300).collect();
    for (symbol, bars) in [("PFA", &a), ("PFB", &b)] {
        store
            .walle
            .upsert_candles(&candles(symbol, bars), None)
            .await
            .expect("candles");
    }
    // A long-only breakout putting 40 % of equity in each signal: both symbols trade, and
    // their positions draw on the same cash.
    let up = Request::post("/strategies?name=donchian-breakout")
        .header("host", "localhost")
        .header("content-type", "application/wasm")
        .body(Body::from(
            std::fs::read(dist("donchian-breakout.wasm")).expect("component"),
        ))
        .expect("request");
    assert_eq!(send(&r, up).await.status, StatusCode::ACCEPTED);
    idle(&app).await;
    let body = json!({"strategy": "donchian-breakout", "symbols": ["PFA", "PFB"],
        "timeframe": "1Min", "cash": 10_000, "commission": 0.001,
        "params": {"entry": 20, "exit": 10, "fraction": 0.4}});
    let created = send(&r, post_json("/backtests", &body)).await;
    assert_eq!(
        created.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let id = created.json()["id"].as_i64().expect("id");
    idle(&app).await;
    let done = send(&r, get(&format!("/backtests/{id}"))).await.json();
    assert_eq!(done["status"], "done", "{done}");
    let report = &done["report"];
    let by = &report["by_symbol"];
    let rows = by["symbols"].as_array().expect("by_symbol.symbols");
    let names: Vec<&str> = rows.iter().filter_map(|r| r["symbol"].as_str()).collect();
    assert_eq!(names, ["PFA", "PFB"], "{by}");

    // Each row is its symbol's trades; the rows add up to the total, to the cent.
    let trades = report["trades"].as_array().expect("trades");
    let mut pnl_sum = 0.0;
    for row in rows {
        let symbol = row["symbol"].as_str().expect("symbol");
        let mine: Vec<&Value> = trades.iter().filter(|t| t["symbol"] == symbol).collect();
        assert!(!mine.is_empty(), "{symbol} never traded: {by}");
        assert_eq!(row["trades"].as_u64(), Some(mine.len() as u64), "{symbol}");
        let pnl: f64 = mine.iter().map(|t| f(&t["pnl"])).sum();
        assert!((f(&row["net_pnl"]) - pnl).abs() < 0.005, "{symbol}: {row}");
        let commissions: f64 = mine.iter().map(|t| f(&t["commission"])).sum();
        assert!((f(&row["commissions"]) - commissions).abs() < 0.005);
        assert!((f(&row["contribution_pct"]) - pnl / 100.0).abs() < 1e-9);
        pnl_sum += f(&row["net_pnl"]);
    }
    let total = &by["total"];
    let closed: f64 = trades.iter().map(|t| f(&t["pnl"])).sum();
    assert!((pnl_sum - f(&total["net_pnl"])).abs() < 0.005, "{by}");
    assert!((closed - f(&total["net_pnl"])).abs() < 0.005, "{by}");
    let shares: f64 = rows.iter().map(|r| f(&r["pnl_share_pct"])).sum();
    assert!(
        (shares - 100.0).abs() < 1e-6,
        "shares add up to 100 %: {by}"
    );
    // The total row is the report's statistics.
    let m = &report["metrics"];
    for key in [
        "trades",
        "win_rate_pct",
        "commissions",
        "best_trade_pct",
        "worst_trade_pct",
        "avg_trade_pct",
        "exposure_time_pct",
    ] {
        assert_eq!(total[key], m[key], "total.{key}");
    }
    // The OpenAPI view documents exactly the fields served.
    let view: BySymbolView = serde_json::from_value(by.clone()).expect("by_symbol as documented");
    assert_eq!(&serde_json::to_value(view).expect("json"), by);

    // A report stored before `by_symbol` existed: computed from its stored trades on read.
    let mut head = report.as_object().expect("report").clone();
    head.remove("by_symbol");
    let old_trades = head.remove("trades").expect("trades");
    let old_equity = head.remove("equity").expect("equity");
    let old = store
        .walle
        .insert_backtest(
            &NewBacktest {
                strategy_id: None,
                run_id: None,
                config: done["config"].clone(),
            },
            None,
        )
        .await
        .expect("insert");
    let stored = BacktestReport {
        metrics: Value::Object(head),
        trades: old_trades,
        equity: old_equity,
    };
    store
        .walle
        .update_backtest(old.id, BacktestStatus::Done, Some(&stored), None, None, &[])
        .await
        .expect("stored");
    let read = send(&r, get(&format!("/backtests/{}", old.id))).await;
    assert_eq!(read.status, StatusCode::OK);
    let read = read.json();
    let again = &read["report"]["by_symbol"];
    let again_rows = again["symbols"].as_array().expect("computed on read");
    assert_eq!(again_rows.len(), 2);
    for (x, y) in again_rows
        .iter()
        .chain([&again["total"]])
        .zip(rows.iter().chain([total]))
    {
        assert_eq!(x["symbol"], y["symbol"]);
        for key in ["trades", "open_trades", "exposure_time_pct", "win_rate_pct"] {
            assert_eq!(x[key], y[key], "{key} on read");
        }
        for key in [
            "net_pnl",
            "commissions",
            "contribution_pct",
            "avg_trade_pct",
        ] {
            assert!(
                (f(&x[key]) - f(&y[key])).abs() < 1e-6,
                "{key} on read: {x} {y}"
            );
        }
    }
    drop(app);
    store.finish().await;
}

both_stores!(two_symbols_report_by_symbol_and_old_reports_get_it_on_read);
