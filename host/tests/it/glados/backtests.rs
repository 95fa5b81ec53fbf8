//! Backtests and candles through the API, the report checked against `weaver backtest --report`
//! over the same bars; `weaver data import` into the same database.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use weaver::greta::synth;
use weaver::walle::Candle;

use super::{app, get, send};
use crate::support::{dist, post_json, weaver_in};

/// `bars` as stored 1-minute candles of `symbol`.
pub(super) fn candles(symbol: &str, bars: &[weaver::domain::Bar]) -> Vec<Candle> {
    bars.iter()
        .map(|b| Candle {
            symbol: symbol.into(),
            timeframe: "1Min".into(),
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

/// Uploads `strategies/dist/sma-cross.wasm` as `sma-cross`, waits until it compiled; its id.
async fn upload_sma_cross(r: &axum::Router, s: &weaver::app::App) -> i64 {
    let wasm = std::fs::read(dist("sma-cross.wasm")).expect("component");
    let up = Request::post("/strategies?name=sma-cross")
        .header("host", "localhost")
        .header("content-type", "application/wasm")
        .body(Body::from(wasm))
        .expect("req");
    let up = send(r, up).await;
    assert_eq!(up.status, StatusCode::ACCEPTED);
    let sid = up.json()["id"].as_i64().expect("id");
    tokio::time::timeout(Duration::from_secs(120), s.idle())
        .await
        .expect("compiled");
    sid
}

#[tokio::test]
async fn backtest_report_matches_the_cli() {
    let (r, s, dir) = app(None).await;
    let bars = synth::generate(3_000, 7);
    s.walle()
        .upsert_candles(&candles("SYN", &bars), None)
        .await
        .expect("candles stored");
    // Candles route.
    let c = send(
        &r,
        get("/candles?symbol=SYN&timeframe=1Min&limit=5&order=asc"),
    )
    .await;
    assert_eq!(c.status, StatusCode::OK);
    let first = c.json();
    assert_eq!(first.as_array().map(Vec::len), Some(5));
    assert_eq!(first[0]["close"].as_f64(), Some(bars[0].close));
    let bad = send(&r, get("/candles?symbol=SYN&timeframe=7Parsecs")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_code(), "invalid_timeframe");
    let missing = send(&r, get("/candles?timeframe=1Min")).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.error_code(), "invalid_parameter");

    // Strategy. Not ready yet or ready: a backtest by id waits for ready.
    let sid = upload_sma_cross(&r, &s).await;

    let too_long = format!(
        r#"{{"strategy": {sid}, "symbols": ["SYN"], "timeframe": "1Min", "warmup": 1000001}}"#
    );
    let too_long = send(&r, post_json("/backtests", &too_long)).await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_long.error_code(), "invalid_warmup");
    let negative =
        format!(r#"{{"strategy": {sid}, "symbols": ["SYN"], "timeframe": "1Min", "warmup": -1}}"#);
    let negative = send(&r, post_json("/backtests", &negative)).await;
    assert_eq!(negative.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(negative.error_code(), "invalid_body");

    // Without `warmup`, the API and `weaver backtest` both use the warm-up sma-cross declares
    // (max(fast, slow) - 1 = 19): compared with the CLI below.
    let body = format!(
        r#"{{"strategy": {sid}, "symbols": ["SYN"], "timeframe": "1Min", "cash": 10000, "commission": 0.001, "params": {{"fast": 5, "slow": 20}}}}"#
    );
    let created = send(&r, post_json("/backtests", &body)).await;
    assert_eq!(
        created.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let bid = created.json()["id"].as_i64().expect("id");
    assert_eq!(created.json()["status"], "queued");
    tokio::time::timeout(Duration::from_secs(120), s.idle())
        .await
        .expect("backtest ends");
    let done = send(&r, get(&format!("/backtests/{bid}"))).await.json();
    assert_eq!(done["status"], "done", "{done}");
    let report = &done["report"];
    // The strategy's orders were routed to the backtest's broker as `backtest.PlaceOrder`
    // commands, stored with the report, before the status that says it is done.
    // Committed events are held back while any transaction older than them is open (other
    // tests share the PostgreSQL server).
    crate::walle::support::settle(s.walle()).await;
    let events = s
        .walle()
        .fetch_events(weaver::events::Cursor::default(), 100_000)
        .await
        .expect("events");
    let placed: Vec<_> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.envelope.event_type == "backtest.PlaceOrder")
        .collect();
    let trades = report["trades"].as_array().map_or(0, Vec::len);
    assert!(
        trades > 0 && placed.len() >= trades,
        "{} orders for {trades} trades",
        placed.len()
    );
    let finished = events
        .iter()
        .position(|e| {
            e.envelope.event_type == "backtest.StatusChanged"
                && e.envelope.payload["status"] == "done"
        })
        .expect("done event");
    for (i, e) in &placed {
        assert_eq!(e.envelope.payload["backtest_id"].as_i64(), Some(bid));
        assert_eq!(e.envelope.kind, weaver::domain::EventKind::Cmd);
        assert!(
            *i < finished,
            "commands before the status that ends the backtest"
        );
    }
    let list = send(&r, get("/backtests")).await.json();
    assert_eq!(list[0]["id"].as_i64(), Some(bid));

    // The same backtest again reads its bars from the server's bar cache (the copy the first
    // one kept under the data directory) and reports the same.
    let kept: Vec<_> = std::fs::read_dir(dir.path().join("cache").join("bars"))
        .expect("the bar cache directory")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bars"))
        .collect();
    assert_eq!(kept.len(), 1, "one window kept");
    let again = send(&r, post_json("/backtests", &body)).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    let again_id = again.json()["id"].as_i64().expect("id");
    tokio::time::timeout(Duration::from_secs(120), s.idle())
        .await
        .expect("backtest ends");
    let again = send(&r, get(&format!("/backtests/{again_id}")))
        .await
        .json();
    assert_eq!(again["status"], "done", "{again}");
    for key in ["metrics", "trades", "equity"] {
        assert_eq!(
            again["report"][key], report[key],
            "report.{key} from cached bars"
        );
    }
    let metrics = String::from_utf8_lossy(&send(&r, get("/metrics")).await.body).into_owned();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("weaver_bar_cache_total{outcome=\"hit\"}")),
        "a cache hit counted: {}",
        metrics
            .lines()
            .filter(|l| l.contains("bar_cache"))
            .collect::<Vec<_>>()
            .join("; ")
    );

    // The CLI over the same bars.
    let csv = dir.path().join("SYN.csv");
    synth::write_csv(&bars, std::fs::File::create(&csv).expect("csv")).expect("write csv");
    let out = dir.path().join("report.json");
    let args = weaver::cli::backtest::BacktestArgs {
        strategy: dist("sma-cross.wasm").display().to_string(),
        data: vec![csv],
        symbol: vec!["SYN".into()],
        cash: 10_000.0,
        commission: 0.001,
        commission_per_unit: 0.0,
        commission_fixed: 0.0,
        slippage_bps: 0.0,
        fill: weaver::cli::backtest::Fill::NextOpen,
        fills: Default::default(),
        finalize: false,
        fractional: false,
        warmup: None,
        params: vec!["fast=5".into(), "slow=20".into()],
        report: Some(out.clone()),
        sweep: Vec::new(),
        rank_by: "sharpe".into(),
        top: 20,
        cache_dir: Some(dir.path().join("cli-cache")),
        fuel_per_event: None,
        fuel_per_bar: None,
        memory_mb: None,
    };
    weaver::cli::backtest::run_with_output(args, &mut Vec::new()).expect("cli backtest");
    let cli: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("report")).expect("json");
    for key in [
        "metrics",
        "trades",
        "open_trades",
        "by_symbol",
        "equity",
        "config",
        "bankrupt_at",
        "warmup",
    ] {
        assert_eq!(report[key], cli[key], "report.{key} differs from the CLI's");
    }
    assert_eq!(
        report["warmup"],
        serde_json::json!({"bars": 19, "source": "declared"})
    );
    assert_eq!(report["strategy"]["sha256"], cli["strategy"]["sha256"]);
    assert_eq!(report["strategy"]["params"], cli["strategy"]["params"]);
    assert_eq!(report["strategy"]["limits"], cli["strategy"]["limits"]);
    assert_eq!(
        report["strategy"]["limits"]["fuel_per_event"], 20_000_000,
        "the light tier's limits are in force: {report}"
    );
    assert!(
        cli["trades"].as_array().is_some_and(|t| !t.is_empty()),
        "the comparison covers trades"
    );
}

#[tokio::test]
async fn a_backtest_by_name_stores_the_resolved_strategy_id() {
    let (r, s, _dir) = app(None).await;
    let bars = synth::generate(500, 11);
    s.walle()
        .upsert_candles(&candles("NAMED", &bars), None)
        .await
        .expect("candles stored");
    let sid = upload_sma_cross(&r, &s).await;
    let mut ids = Vec::new();
    for strategy in ["\"sma-cross\"".to_owned(), sid.to_string()] {
        let body = format!(
            r#"{{"strategy": {strategy}, "symbols": ["NAMED"], "timeframe": "1Min", "params": {{"fast": 5, "slow": 20}}}}"#
        );
        let created = send(&r, post_json("/backtests", &body)).await;
        assert_eq!(
            created.status,
            StatusCode::ACCEPTED,
            "{}",
            String::from_utf8_lossy(&created.body)
        );
        ids.push(created.json()["id"].as_i64().expect("id"));
    }
    tokio::time::timeout(Duration::from_secs(120), s.idle())
        .await
        .expect("backtests end");
    for bid in ids {
        let stored = s
            .walle()
            .backtest(bid)
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(stored.strategy_id, Some(sid), "backtest {bid}");
        let done = send(&r, get(&format!("/backtests/{bid}"))).await.json();
        assert_eq!(done["status"], "done", "{done}");
    }
}

#[tokio::test]
async fn refused_backtests_store_nothing() {
    let (r, _s, _d) = app(None).await;
    let cases = [
        ("{not json", StatusCode::BAD_REQUEST, "malformed_json"),
        (
            r#"{"strategy": 1, "symbols": "SYN", "timeframe": "1Min"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            r#"{"strategy": 1, "symbols": ["SYN"], "timeframe": "1Min", "extra": 1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            r#"{"strategy": 999, "symbols": ["SYN"], "timeframe": "1Min"}"#,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            r#"{"strategy": "nope", "symbols": ["SYN"], "timeframe": "1Min"}"#,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (body, status, code) in cases {
        let resp = send(&r, post_json("/backtests", body)).await;
        assert_eq!(
            resp.status,
            status,
            "{body}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        assert_eq!(resp.error_code(), code, "{body}");
    }
    let plain = Request::post("/backtests")
        .header("host", "localhost")
        .body(Body::from("{}"))
        .expect("req");
    let plain = send(&r, plain).await;
    assert_eq!(plain.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(plain.error_code(), "unsupported_media_type");
    let huge = format!(r#"{{"strategy": "{}"}}"#, "x".repeat(2 << 20));
    let huge = send(&r, post_json("/backtests", &huge)).await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.error_code(), "payload_too_large");
    for uri in ["/backtests/1", "/backtests/x"] {
        let resp = send(&r, get(uri)).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(resp.error_code(), "not_found");
    }
    assert_eq!(
        send(&r, get("/backtests?limit=0")).await.error_code(),
        "invalid_parameter"
    );
    assert_eq!(
        send(&r, get("/backtests")).await.json(),
        serde_json::json!([])
    );
}

#[test]
fn data_import_stores_candles_in_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("bars.csv");
    let bars = synth::generate(250, 3);
    synth::write_csv(&bars, std::fs::File::create(&csv).expect("csv")).expect("write");
    let run = || {
        weaver_in(dir.path())
            .args(["data", "import"])
            .arg(&csv)
            .args(["--symbol", "IMP", "--timeframe", "1Min"])
            .output()
            .expect("runs")
    };
    for _ in 0..2 {
        let out = run();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("imported 250 IMP 1Min bars"));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let stored = rt.block_on(async {
        let w = weaver::walle::Walle::connect(&weaver::walle::DbConfig::sqlite_in(dir.path()))
            .await
            .expect("db");
        let c = w
            .candles(
                "IMP",
                "1Min",
                chrono::DateTime::UNIX_EPOCH,
                chrono::DateTime::from_timestamp(4_000_000_000, 0).expect("ts"),
                10_000,
            )
            .await
            .expect("candles");
        w.close().await;
        c
    });
    assert_eq!(stored.len(), 250, "re-import replaces, never duplicates");
    assert_eq!(stored[10].close, bars[10].close);
    let bad = weaver_in(dir.path())
        .args([
            "data",
            "import",
            "/nonexistent.csv",
            "--symbol",
            "X",
            "--timeframe",
            "1Min",
        ])
        .output()
        .expect("runs");
    assert!(!bad.status.success());
}

/// Backtests an earlier process left `queued` or `running` (it was stopped or died while they
/// ran) are marked `failed` with an `interrupted` error at the next start (issue #20), not left
/// `running` forever; finished ones are untouched.
#[tokio::test]
async fn backtests_left_unfinished_by_an_earlier_process_fail_as_interrupted_at_start() {
    use weaver::walle::{BacktestStatus, NewBacktest};
    let (r, s, dir) = app(None).await;
    let sid = upload_sma_cross(&r, &s).await;
    let w = s.walle();
    let mut ids = Vec::new();
    for status in [
        BacktestStatus::Queued,
        BacktestStatus::Running,
        BacktestStatus::Failed,
    ] {
        let b = w
            .insert_backtest(
                &NewBacktest {
                    strategy_id: Some(sid),
                    run_id: None,
                    config: serde_json::json!({"symbols": ["X"]}),
                },
                None,
            )
            .await
            .expect("insert");
        if status != BacktestStatus::Queued {
            w.update_backtest(b.id, status, None, Some("earlier"), None, &[])
                .await
                .expect("status");
        }
        ids.push(b.id);
    }
    s.shutdown(Duration::from_secs(5)).await;

    let config = weaver::app::Config::for_tests(dir.path());
    let walle = weaver::walle::Walle::connect(&config.db)
        .await
        .expect("store");
    let again = weaver::app::App::new(config, walle).expect("app");
    again.start().await.expect("start");
    let r = weaver::glados::router(again.state());
    for id in &ids[..2] {
        let b = send(&r, get(&format!("/backtests/{id}"))).await.json();
        assert_eq!(b["status"], "failed", "{b}");
        assert!(
            b["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("interrupted")),
            "{b}"
        );
    }
    let untouched = send(&r, get(&format!("/backtests/{}", ids[2])))
        .await
        .json();
    assert_eq!(untouched["error"], "earlier", "{untouched}");
    again.shutdown(Duration::from_secs(5)).await;
}

/// `GET /backtests` lists summaries: a report's strategy and metrics but not its trades or
/// equity curve, so the dashboard's list stays small however large the reports (issue #20: it
/// returned every full report); `GET /backtests/{id}` has the whole report.
#[tokio::test]
async fn the_backtest_list_is_summaries_and_stays_small() {
    use weaver::walle::{BacktestReport, BacktestStatus, NewBacktest};
    let (r, s, _dir) = app(None).await;
    let sid = upload_sma_cross(&r, &s).await;
    let w = s.walle();
    // 20 reports of ~1 MB each.
    let trades: Vec<serde_json::Value> = (0..10_000)
        .map(|i| serde_json::json!({"symbol": "BIG", "qty": i, "price": 100.5, "pnl": 1.25, "note": "x".repeat(40)}))
        .collect();
    for _ in 0..20 {
        let b = w
            .insert_backtest(
                &NewBacktest {
                    strategy_id: Some(sid),
                    run_id: None,
                    config: serde_json::json!({"symbols": ["BIG"], "timeframe": "1Min"}),
                },
                None,
            )
            .await
            .expect("insert");
        let report = BacktestReport {
            metrics: serde_json::json!({"strategy": {"name": "sma-cross"}, "metrics": {"return_pct": 1.5, "trades": 10_000}}),
            trades: serde_json::Value::Array(trades.clone()),
            equity: serde_json::json!([[0, 10000.0], [1, 10150.0]]),
        };
        w.update_backtest(b.id, BacktestStatus::Done, Some(&report), None, None, &[])
            .await
            .expect("done");
    }
    let list = send(&r, get("/backtests?limit=100")).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.len() < 1 << 20, "{} bytes", list.body.len());
    let list = list.json();
    let rows = list.as_array().expect("list");
    assert_eq!(rows.len(), 20);
    for b in rows {
        assert_eq!(b["report"]["metrics"]["return_pct"], 1.5, "{b}");
        assert_eq!(b["report"]["strategy"]["name"], "sma-cross", "{b}");
        assert!(b["report"].get("trades").is_none(), "no trades in a list");
    }
    let one = send(&r, get(&format!("/backtests/{}", rows[0]["id"])))
        .await
        .json();
    assert_eq!(
        one["report"]["trades"].as_array().map(Vec::len),
        Some(10_000)
    );
    // Paged: `before` the last id.
    let last = rows[9]["id"].as_i64().expect("id");
    let next = send(&r, get(&format!("/backtests?limit=10&before={last}")))
        .await
        .json();
    assert_eq!(next.as_array().map(Vec::len), Some(10));
    assert!(next[0]["id"].as_i64() < Some(last));
}

/// `WEAVER_BACKTEST_CONCURRENCY` bounds the backtests running at once: the others wait
/// `queued` and all finish (issue #20: twenty at once ran together and ran out of memory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtests_beyond_the_concurrency_wait_queued() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = weaver::app::Config::for_tests(dir.path());
    config.backtest_concurrency = 1;
    let walle = weaver::walle::Walle::connect(&config.db)
        .await
        .expect("store");
    let s = weaver::app::App::new(config, walle).expect("app");
    let r = weaver::glados::router(s.state());
    s.walle()
        .upsert_candles(&candles("QUEUE", &synth::generate(20_000, 5)), None)
        .await
        .expect("candles");
    upload_sma_cross(&r, &s).await;
    let body = r#"{"strategy": "sma-cross", "symbols": ["QUEUE"], "timeframe": "1Min", "params": {"fast": 5, "slow": 20}}"#;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let created = send(&r, post_json("/backtests", body)).await;
        assert_eq!(created.status, StatusCode::ACCEPTED);
        ids.push(created.json()["id"].as_i64().expect("id"));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let (mut most, mut saw_queued) = (0, false);
    loop {
        let list = send(&r, get("/backtests?limit=10")).await.json();
        let statuses: Vec<String> = list
            .as_array()
            .expect("list")
            .iter()
            .map(|b| b["status"].as_str().unwrap_or("").to_owned())
            .collect();
        let running = statuses.iter().filter(|s| *s == "running").count();
        most = most.max(running);
        saw_queued |= statuses.iter().any(|s| s == "queued") && running == 1;
        if statuses.iter().all(|s| s == "done") {
            break;
        }
        assert!(statuses.iter().all(|s| s != "failed"), "{list}");
        assert!(tokio::time::Instant::now() < deadline, "{statuses:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(most, 1, "never more than one running");
    assert!(saw_queued, "the others waited queued");
    assert_eq!(ids.len(), 3);
}
