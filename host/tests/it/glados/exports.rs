//! A done backtest's exports (`report.json`, `trades?format=csv|json`) and its tearsheet
//! (`report.html`): downloads with their names, the CSV columns, a page with no script and no
//! request whose strategy name cannot run as markup, 404 and 409 in the error model.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use weaver::walle::{BacktestReport, BacktestStatus, Candle, NewBacktest, Walle};

use super::{app, get, send};

/// A strategy name that would run if the page did not escape it.
const HOSTILE: &str = "<script>alert('x')</script>";

const T0: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z

fn iso(sec: i64) -> String {
    chrono::DateTime::from_timestamp(sec, 0)
        .expect("ts")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A done 1Day backtest over 70 days of SYN (so two months and more), stored as the jobs store
/// one, with stored candles for its buy & hold line; its id.
async fn done_backtest(w: &Walle) -> i64 {
    let day = 86_400;
    let closes: Vec<f64> = (0..70).map(|i| 100.0 + i as f64).collect();
    let candles: Vec<Candle> = closes
        .iter()
        .enumerate()
        .map(|(i, c)| Candle {
            symbol: "SYN".into(),
            timeframe: "1Day".into(),
            ts: chrono::DateTime::from_timestamp(T0 + i as i64 * day, 0).expect("ts"),
            open: *c,
            high: c + 1.0,
            low: c - 1.0,
            close: *c,
            volume: 1000.0,
            source: "test".into(),
        })
        .collect();
    w.upsert_candles(&candles, None).await.expect("candles");
    let equity: Vec<_> = (0..70)
        .map(|i| {
            let e = 10_000.0 + (i as f64 * 0.3).sin() * 200.0 + i as f64 * 5.0;
            json!({"ts": iso(T0 + i * day), "equity": e, "drawdown_pct": (i % 7) as f64})
        })
        .collect();
    let trades = json!([
        {"symbol": "SYN", "entry_bar": 2, "exit_bar": 9, "entry_time": iso(T0 + 2 * day),
         "exit_time": iso(T0 + 9 * day), "size": 10.0, "entry_price": 102.0, "exit_price": 109.0,
         "pnl": 69.5, "commission": 0.5, "return_pct": 6.8},
        {"symbol": "SYN", "entry_bar": 20, "exit_bar": 31, "entry_time": iso(T0 + 20 * day),
         "exit_time": iso(T0 + 31 * day), "size": -5.0, "entry_price": 120.0, "exit_price": 131.0,
         "pnl": -55.4, "commission": 0.4, "return_pct": -9.2}
    ]);
    let head = json!({
        "strategy": {"name": HOSTILE, "sha256": "ab", "params": {"fast": 5, "label": "<b>bold</b>"}},
        "data": [],
        "config": {"broker": {"cash": 10000.0, "commission": {"flat": 0.001}, "slippage_bps": 0.0,
                   "fill": "next_open", "fractional": false}, "finalize": true, "warmup": null,
                   "params": [["fast", "5"]], "fills": {"volume_share": null, "spread_hl": 0.0,
                   "latency_bars": 0, "commission_model": "flat"}},
        "warmup": {"bars": 3, "source": "declared"},
        "metrics": {"return_pct": 5.25, "buy_hold_return_pct": 66.0, "sharpe": 1.23,
                    "max_drawdown_pct": 6.0, "trades": 2, "win_rate_pct": 50.0,
                    "equity_final": 10345.0, "commissions": 0.9},
        "open_trades": [],
        "bankrupt_at": null
    });
    let config = json!({"strategy": 1, "symbols": ["SYN"], "timeframe": "1Day"});
    let b = w
        .insert_backtest(
            &NewBacktest {
                strategy_id: None,
                run_id: None,
                config,
            },
            None,
        )
        .await
        .expect("queued");
    let report = BacktestReport {
        metrics: head,
        trades,
        equity: json!(equity),
    };
    w.update_backtest(b.id, BacktestStatus::Done, Some(&report), None, None, &[])
        .await
        .expect("done");
    b.id
}

fn text(r: &super::Resp) -> String {
    String::from_utf8(r.body.clone()).expect("utf-8")
}

#[tokio::test]
async fn report_and_trades_download_as_json_and_csv() {
    let (r, s, _d) = app(None).await;
    let id = done_backtest(s.walle()).await;

    let whole = send(&r, get(&format!("/backtests/{id}/report.json"))).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.headers["content-type"], "application/json");
    assert_eq!(
        whole.headers["content-disposition"],
        format!("attachment; filename=\"backtest-{id}-report.json\"")
    );
    let shown = send(&r, get(&format!("/backtests/{id}"))).await.json();
    assert_eq!(
        whole.json(),
        shown["report"],
        "the same report as GET /backtests/{{id}}"
    );

    let csv = send(&r, get(&format!("/backtests/{id}/trades?format=csv"))).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        csv.headers["content-disposition"],
        format!("attachment; filename=\"backtest-{id}-trades.csv\"")
    );
    let body = text(&csv);
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines[0],
        "symbol,entry_time,exit_time,entry_bar,exit_bar,size,entry_price,exit_price,pnl,commission,return_pct"
    );
    assert_eq!(lines.len(), 3, "a header and two trades: {body}");
    assert_eq!(
        lines[2],
        "SYN,2024-01-21T00:00:00Z,2024-02-01T00:00:00Z,20,31,-5.0,120.0,131.0,-55.4,0.4,-9.2"
    );
    // CSV is the default.
    let default = send(&r, get(&format!("/backtests/{id}/trades"))).await;
    assert_eq!(default.body, csv.body);

    let js = send(&r, get(&format!("/backtests/{id}/trades?format=json"))).await;
    assert_eq!(js.status, StatusCode::OK);
    assert_eq!(js.json(), shown["report"]["trades"]);
    assert_eq!(
        js.headers["content-disposition"],
        format!("attachment; filename=\"backtest-{id}-trades.json\"")
    );

    let bad = send(&r, get(&format!("/backtests/{id}/trades?format=xlsx"))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "invalid_parameter");
}

#[tokio::test]
async fn the_tearsheet_is_one_self_contained_page_that_escapes_names() {
    let (r, s, _d) = app(None).await;
    let id = done_backtest(s.walle()).await;
    let page = send(&r, get(&format!("/backtests/{id}/report.html"))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(
        csp.starts_with("default-src 'none'") && !csp.contains("script-src"),
        "no script may run: {csp}"
    );
    let html = text(&page);
    // Escaped, never markup.
    assert!(!html.contains(HOSTILE), "the name is not raw markup");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(!html.contains("<b>bold</b>"));
    assert!(!html.to_ascii_lowercase().contains("<script"));
    // No request: nothing loads from anywhere.
    for needle in ["http:", "https:", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(needle), "the page references {needle}");
    }
    // What a tearsheet shows.
    for part in [
        "aria-label=\"Equity\"",
        "class=\"bh\"",
        "buy &amp; hold SYN",
        "aria-label=\"Drawdown\"",
        "-6%",
        "Monthly returns",
        "<th>Jan</th>",
        "<th>2024</th>",
        "Parameters",
        "broker.cash",
        "Broker &amp; fills",
        "Closed trades",
        "5.25%",
        "times in UTC",
        "2024-01-01 – 2024-03-10 UTC",
    ] {
        assert!(html.contains(part), "the page lacks {part}");
    }
    // A daily backtest shows dates without a clock.
    assert!(!html.contains("2024-01-01 00:00"));
}

#[tokio::test]
async fn exports_answer_404_and_409_in_the_error_model() {
    let (r, s, _d) = app(None).await;
    for path in ["report.json", "report.html", "trades?format=csv"] {
        let missing = send(&r, get(&format!("/backtests/999/{path}"))).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(missing.error_code(), "not_found");
    }
    let queued = s
        .walle()
        .insert_backtest(
            &NewBacktest {
                strategy_id: None,
                run_id: None,
                config: json!({"symbols": ["SYN"], "timeframe": "1Min"}),
            },
            None,
        )
        .await
        .expect("queued");
    for path in ["report.json", "report.html", "trades?format=json"] {
        let early = send(&r, get(&format!("/backtests/{}/{path}", queued.id))).await;
        assert_eq!(early.status, StatusCode::CONFLICT, "{path}");
        assert_eq!(early.error_code(), "backtest_not_done");
    }
    // The tearsheet of a backtest whose candles are gone still renders, without the line.
    let id = done_backtest(s.walle()).await;
    s.walle()
        .delete_candle_series("SYN", "1Day")
        .await
        .expect("deleted");
    let page = tokio::time::timeout(
        Duration::from_secs(30),
        send(&r, get(&format!("/backtests/{id}/report.html"))),
    )
    .await
    .expect("answers");
    assert_eq!(page.status, StatusCode::OK);
    let html = text(&page);
    assert!(html.contains("its candles are no longer stored"));
    assert!(!html.contains("class=\"bh\""));
}
