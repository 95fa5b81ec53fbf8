//! Operations: what an operator reads. `weaver serve --log-format json` writes one JSON object per
//! line, and the lines of a run carry its `run_id` and the `corr_id` of the request that started
//! it; `/metrics` exposes the outbox lag and horizon-stall gauges and the venue request budget.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use weaver::app::{App, Config};
use weaver::events::Envelope;
use weaver::glados;
use weaver::veda::rate_limit::RequestBudget;
use weaver::walle::StartFrom;

use crate::glados::send;
use crate::support::{serve, weaver};
use crate::walle::support::{Kind, TestStore};

/// The spans of a JSON log line (root first), as `name → fields`.
fn span<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line["spans"].as_array()?.iter().find(|s| s["name"] == name)
}

#[test]
fn json_log_lines_of_a_run_carry_run_id_and_the_request_corr_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let goog = crate::testdata::ohlcv("GOOG");
    assert!(
        goog.is_file(),
        "{} missing: run scripts/testdata.sh",
        goog.display()
    );
    let import = weaver()
        .args([
            "data",
            "import",
            goog.to_str().expect("UTF-8 path"),
            "--symbol",
            "GOOG",
            "--timeframe",
            "1Day",
        ])
        .env("WEAVER_DATA_DIR", dir.path())
        .output()
        .expect("runs");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let sma = crate::support::dist("sma-cross.wasm");
    // Only the one strategy the run needs, so start-up compiles nothing else.
    let strategies = dir.path().join("strategies");
    std::fs::create_dir_all(&strategies).expect("strategies dir");
    std::fs::copy(&sma, strategies.join("sma-cross.wasm")).expect("copy component");
    let served = serve(
        weaver()
            .args(["serve"])
            .env("WEAVER_LOG", "info,tower_http=debug")
            .env("WEAVER_BIND", "127.0.0.1:0")
            .env("WEAVER_DATA_DIR", dir.path())
            .env("WEAVER_STRATEGIES_DIR", &strategies),
    );
    let addr = served.addr.clone();

    let corr = "ops-corr-7c41e2";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    // reqwest is built without a default TLS provider (see host/Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let run_id = rt.block_on(async {
        let c = reqwest::Client::new();
        let base = format!("http://{addr}");
        // The example strategies are registered at start and compiled in the background.
        let ready_by = Instant::now() + Duration::from_secs(180);
        loop {
            let list: Value = c
                .get(format!("{base}/strategies?name=sma-cross"))
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            if list
                .as_array()
                .is_some_and(|l| l.iter().any(|s| s["status"] == "ready"))
            {
                break;
            }
            assert!(Instant::now() < ready_by, "sma-cross not compiled: {list}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let created = c
            .post(format!("{base}/runs"))
            .header("x-request-id", corr)
            .json(
                &json!({"strategy": "sma-cross", "mode": "paper", "venue": "sim",
                "symbols": ["GOOG"], "timeframe": "1Day", "params": {}}),
            )
            .send()
            .await
            .expect("create run");
        assert_eq!(created.status(), reqwest::StatusCode::CREATED);
        let id = created.json::<Value>().await.expect("json")["id"]
            .as_i64()
            .expect("run id");
        let done_by = Instant::now() + Duration::from_secs(120);
        loop {
            let run: Value = c
                .get(format!("{base}/runs/{id}"))
                .send()
                .await
                .expect("run")
                .json()
                .await
                .expect("json");
            if run["status"] != "running" {
                assert_eq!(run["status"], "stopped", "{run}");
                break;
            }
            assert!(Instant::now() < done_by, "run still running: {run}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        id
    });

    let (status, log) = served.terminate();
    assert!(
        status.success(),
        "clean exit: {status:?}\n{}",
        log.join("\n")
    );

    let lines: Vec<Value> = log
        .iter()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect();
    for l in &lines {
        for k in ["timestamp", "level", "target"] {
            assert!(l.get(k).is_some(), "log line without {k}: {l}");
        }
    }
    let of_run: Vec<&Value> = lines
        .iter()
        .filter(|l| span(l, "run").is_some_and(|s| s["run_id"] == run_id))
        .collect();
    let started = of_run
        .iter()
        .find(|l| l["message"] == "run started")
        .unwrap_or_else(|| {
            panic!(
                "no \"run started\" line with run_id {run_id}:\n{}",
                log.join("\n")
            )
        });
    assert_eq!(
        span(started, "http").map(|s| &s["corr_id"]),
        Some(&json!(corr)),
        "the run's lines carry the corr_id of the request that started it: {started}"
    );
    // Every line logged inside the run (runner, sandbox, strategy logs) carries both.
    for line in &of_run {
        assert_eq!(
            span(line, "http").map(|s| &s["corr_id"]),
            Some(&json!(corr)),
            "{line}"
        );
    }
    // The request's own lines (tower-http's, at debug) carry the same corr_id.
    assert!(
        lines
            .iter()
            .any(|l| span(l, "http").is_some_and(|s| s["corr_id"] == corr)
                && l["message"] == "finished processing request"),
        "{}",
        log.join("\n")
    );
}

/// The value of the first sample of `metric` whose labels contain `labels`.
fn sample(text: &str, metric: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with([' ', '{']) && rest.contains(labels))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn metrics_text(state: &App) -> String {
    let req = Request::get("/metrics")
        .header("host", "localhost")
        .body(Body::empty())
        .expect("request");
    let resp = send(&glados::router(state.state()), req).await;
    assert_eq!(resp.status, StatusCode::OK);
    String::from_utf8(resp.body).expect("text")
}

async fn metrics_show_outbox_and_venue_gauges(kind: Kind) {
    let store = TestStore::new(kind).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let state = App::new(Config::for_tests(dir.path()), store.walle.clone()).expect("app");
    let w = state.walle();
    let consumer = format!("ops-metrics-{kind:?}");
    w.consumer_offset(&consumer, StartFrom::Beginning)
        .await
        .expect("consumer registered");
    for i in 0..3 {
        let e = Envelope::new(
            "ui.Notice",
            "test",
            json!({"level": "info", "message": format!("n{i}")}),
        )
        .expect("envelope");
        w.append(&e).await.expect("append");
    }
    crate::walle::support::settle(w).await;

    let text = metrics_text(&state).await;
    let label = format!("consumer=\"{consumer}\"");
    assert_eq!(
        sample(&text, "weaver_outbox_lag_events", &label),
        Some(3.0),
        "{text}"
    );
    assert!(
        sample(&text, "weaver_outbox_lag_seconds", &label).is_some_and(|s| s >= 0.0),
        "{text}"
    );
    assert!(
        sample(&text, "weaver_outbox_horizon_stall_seconds", "").is_some(),
        "{text}"
    );
    let budget = RequestBudget::global();
    assert_eq!(
        sample(
            &text,
            "weaver_venue_rate_limit_capacity",
            "venue=\"alpaca\""
        ),
        Some(f64::from(budget.capacity())),
        "{text}"
    );
    let remaining = sample(
        &text,
        "weaver_venue_rate_limit_remaining",
        "venue=\"alpaca\"",
    )
    .unwrap_or_else(|| panic!("no venue budget gauge:\n{text}"));
    assert!(remaining <= f64::from(budget.capacity()), "{text}");

    // The allocator's own account, as `weaver serve`'s sampler sets it every few seconds.
    weaver::app::allocator::sample();
    let text = metrics_text(&state).await;
    let allocated = sample(&text, "weaver_allocator_bytes", "kind=\"allocated\"")
        .unwrap_or_else(|| panic!("no allocator gauge:\n{text}"));
    let resident = sample(&text, "weaver_allocator_bytes", "kind=\"resident\"")
        .unwrap_or_else(|| panic!("no allocator gauge:\n{text}"));
    assert!(allocated > 0.0 && resident >= allocated, "{text}");

    if kind == Kind::Pg {
        // A transaction that holds an xid stalls the horizon; the gauge shows its age.
        let pool = w.pg_pool().expect("pg pool");
        let mut tx = pool.begin().await.expect("begin");
        sqlx::query("select txid_current()")
            .execute(&mut *tx)
            .await
            .expect("xid");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // The gauge is process-wide and the SQLite variant may set it to 0 at the same moment:
        // a few reads make that race harmless.
        let mut stall = 0.0;
        for _ in 0..5 {
            let text = metrics_text(&state).await;
            stall = sample(&text, "weaver_outbox_horizon_stall_seconds", "")
                .unwrap_or_else(|| panic!("no horizon gauge:\n{text}"));
            if stall >= 1.0 {
                break;
            }
        }
        assert!(
            stall >= 1.0,
            "an open transaction of 1.5 s shows as a stall: {stall}"
        );
        tx.rollback().await.expect("rollback");
    }
    drop(state);
    store.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_outbox_lag_horizon_stall_and_venue_budget_on_postgres() {
    metrics_show_outbox_and_venue_gauges(Kind::Pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_outbox_lag_horizon_stall_and_venue_budget_on_sqlite() {
    metrics_show_outbox_and_venue_gauges(Kind::Sqlite).await;
}
