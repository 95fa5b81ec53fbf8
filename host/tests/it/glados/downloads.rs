//! `POST /candles/download` and `GET /jobs[/{id}]` against the fake Alpaca, on both stores: a
//! job reports progress and ends done with its series listed with its adjustment; a `weaver
//! serve` killed mid-download continues the job where it stopped at the next start, without
//! fetching completed pages again; bad input is refused naming the field; no Alpaca keys → 409.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use weaver::app::{App, Config};
use weaver::glados;
use weaver::veda::alpaca::fake::{FakeAlpaca, FakeConfig};

use super::{get, send};
use crate::support::{post_json, serve, weaver};
use crate::walle::support::{Kind, TestStore};

fn start_ms() -> i64 {
    Utc.with_ymd_and_hms(2024, 1, 3, 15, 0, 0)
        .unwrap()
        .timestamp_millis()
}

async fn fake_with(bars: &[(&str, usize)]) -> FakeAlpaca {
    let fake = crate::veda::fake(FakeConfig::default()).await;
    for (symbol, n) in bars {
        fake.insert_bars(symbol, &crate::veda::minute_bars(start_ms(), *n, 100.0));
    }
    fake
}

fn body(symbols: &[&str], page_limit: u32) -> Value {
    json!({
        "symbols": symbols, "timeframe": "1Min", "start": "2024-01-03", "end": "2024-01-03",
        "feed": "iex", "page_limit": page_limit
    })
}

async fn job_progress_and_series(kind: Kind) {
    let store = TestStore::new(kind).await;
    let fake = fake_with(&[("AAPL", 300), ("MSFT", 240)]).await;
    fake.set_bars_delay(Duration::from_millis(30));
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.alpaca = Some(crate::veda::client_config(&fake));
    let app = App::new(config, store.walle.clone()).expect("app");
    let router = glados::router(app.state());

    let started = send(
        &router,
        post_json("/candles/download", body(&["AAPL", "MSFT"], 50)),
    )
    .await;
    assert_eq!(started.status, 202, "{}", started.json());
    let job = started.json();
    assert_eq!(job["kind"], "download");
    assert!(
        ["queued", "running"].contains(&job["status"].as_str().unwrap()),
        "{job}"
    );
    assert_eq!(job["spec"]["adjustment"], "all", "all is the default");
    let id = job["id"].as_i64().unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen_midway = false;
    let done = loop {
        let j = send(&router, get(&format!("/jobs/{id}"))).await.json();
        let pages = j["progress"]["pages"].as_u64().unwrap();
        if j["status"] == "running" && pages > 0 && pages < 11 {
            seen_midway = true;
            assert!(j["progress"]["bars"].as_u64().unwrap() > 0, "{j}");
        }
        if j["status"] == "done" || j["status"] == "failed" {
            break j;
        }
        assert!(Instant::now() < deadline, "job not done in time: {j}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(done["status"], "done", "{done}");
    assert!(seen_midway, "progress was visible while running");
    let p = &done["progress"];
    assert_eq!(
        (p["bars"].as_u64(), p["pages"].as_u64()),
        (Some(540), Some(11)),
        "{done}"
    );
    assert_eq!(
        (p["symbols_done"].as_u64(), p["symbols_total"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(p["eta_seconds"], 0);
    assert!(
        done["finished_at"].is_string() && done["error"].is_null(),
        "{done}"
    );

    let series = send(&router, get("/candles/series")).await.json();
    for (symbol, count) in [("AAPL", 300), ("MSFT", 240)] {
        let s = series
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["symbol"] == symbol && s["timeframe"] == "1Min")
            .unwrap_or_else(|| panic!("{symbol} listed: {series}"));
        assert_eq!(
            (s["count"].as_i64(), &s["source"]),
            (Some(count), &json!("download"))
        );
        assert_eq!(s["adjustment"], "all", "{s}");
    }

    // A backtest on the downloaded bars says which adjustment they had.
    let wasm = std::fs::read(crate::support::dist("sma-cross.wasm")).expect("component");
    let up = axum::http::Request::post("/strategies?name=sma-cross")
        .header("host", "localhost")
        .header("content-type", "application/wasm")
        .body(axum::body::Body::from(wasm))
        .expect("req");
    let sid = send(&router, up).await.json()["id"]
        .as_i64()
        .expect("strategy id");
    tokio::time::timeout(Duration::from_secs(120), app.state().idle())
        .await
        .expect("compiled");
    let bt = json!({"strategy": sid, "symbols": ["AAPL"], "timeframe": "1Min", "params": {"fast": 5, "slow": 20}});
    let bt = send(&router, post_json("/backtests", bt)).await;
    assert_eq!(bt.status, 202, "{}", bt.json());
    tokio::time::timeout(Duration::from_secs(120), app.state().idle())
        .await
        .expect("backtest ends");
    let report = send(&router, get(&format!("/backtests/{}", bt.json()["id"])))
        .await
        .json();
    assert_eq!(report["status"], "done", "{report}");
    assert_eq!(
        report["report"]["data"][0]["adjustment"], "all",
        "{}",
        report["report"]["data"]
    );

    // A second job is listed first; `GET /jobs` pages by id.
    let second = send(
        &router,
        post_json("/candles/download", body(&["MSFT"], 1000)),
    )
    .await;
    assert_eq!(second.status, 202);
    let list = send(&router, get("/jobs?limit=1")).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], second.json()["id"]);
    let older = send(&router, get(&format!("/jobs?before={}", list[0]["id"])))
        .await
        .json();
    assert_eq!(older[0]["id"], id);
    // Another adjustment onto the `all` series is refused unless it replaces it.
    let mut raw = body(&["MSFT"], 1000);
    raw["adjustment"] = json!("raw");
    let refused = send(&router, post_json("/candles/download", raw.clone())).await;
    assert_eq!(
        (refused.status.as_u16(), refused.error_code().as_str()),
        (409, "adjustment_mismatch")
    );
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("replace")
    );
    app.state().idle().await;
    let missing = send(&router, get("/jobs/999999")).await;
    assert_eq!(missing.status, 404);
    store.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn job_reports_progress_and_lists_the_series_sqlite() {
    job_progress_and_series(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn job_reports_progress_and_lists_the_series_postgres() {
    job_progress_and_series(Kind::Pg).await;
}

/// `weaver serve` on `store` (its PostgreSQL database, or SQLite in `dir`) against `fake`.
fn serve_on(store: &TestStore, dir: &std::path::Path, fake: &FakeAlpaca) -> crate::support::Served {
    let url = format!("http://{}", fake.addr());
    let empty = dir.join("no-strategies");
    std::fs::create_dir_all(&empty).unwrap();
    let mut cmd = weaver();
    cmd.args(["serve"])
        .env("WEAVER_BIND", "127.0.0.1:0")
        .env("WEAVER_DATA_DIR", dir)
        .env("WEAVER_STRATEGIES_DIR", &empty)
        .env("WEAVER_SAMPLE_DATA", "off")
        .env("APCA_API_KEY_ID", "FAKEKEYID")
        .env("APCA_API_SECRET_KEY", "FAKESECRET")
        .env("APCA_API_BASE_URL", &url)
        .env("APCA_API_DATA_URL", &url);
    if let Some(pg) = store.pg_url() {
        cmd.env("WEAVER_DATABASE_URL", pg);
    }
    serve(&mut cmd)
}

async fn job_of(c: &reqwest::Client, addr: &str, id: i64) -> Value {
    c.get(format!("http://{addr}/jobs/{id}"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

async fn resumed_after_a_kill(kind: Kind) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = TestStore::new(kind).await;
    // 500 minutes from 15:00 UTC: all within the day asked for; 10 pages of 50.
    let fake = fake_with(&[("AAPL", 500)]).await;
    fake.set_bars_delay(Duration::from_millis(150));
    let dir = tempfile::tempdir().unwrap();
    let c = reqwest::Client::new();

    let first = serve_on(&store, dir.path(), &fake);
    let started: Value = c
        .post(format!("http://{}/candles/download", first.addr))
        .json(&body(&["AAPL"], 50))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let id = started["id"].as_i64().expect("job id");
    let deadline = Instant::now() + Duration::from_secs(60);
    let before_kill = loop {
        let j = job_of(&c, &first.addr, id).await;
        if j["progress"]["pages"].as_u64().unwrap() >= 4 {
            break j;
        }
        assert!(Instant::now() < deadline && j["status"] != "failed", "{j}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    drop(first); // SIGKILL mid-download: no chance to tidy up.
    assert_eq!(before_kill["status"], "running");
    let asked_before = fake.bars_requests().len();
    assert!(
        asked_before < 12,
        "killed mid-way: {asked_before} pages asked"
    );

    let second = serve_on(&store, dir.path(), &fake);
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let j = job_of(&c, &second.addr, id).await;
        if j["status"] == "done" || j["status"] == "failed" {
            break j;
        }
        assert!(Instant::now() < deadline, "{j}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["progress"]["bars"], 500, "{done}");
    assert_eq!(done["progress"]["pages"], 10, "{done}");
    let requests = fake.bars_requests();
    let after = &requests[asked_before..];
    assert!(
        after[0].page_token.is_some(),
        "the restarted job continued from its page token: {after:?}"
    );
    assert_eq!(
        requests.iter().filter(|r| r.page_token.is_none()).count(),
        1,
        "the first page was fetched once"
    );
    // 10 pages; at most the one in flight at the kill is asked twice.
    assert!(requests.len() <= 11, "{} requests", requests.len());
    let series: Value = c
        .get(format!("http://{}/candles/series", second.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(series[0]["count"], 500, "{series}");
    drop(second);
    store.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_download_continues_where_it_stopped_sqlite() {
    resumed_after_a_kill(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_download_continues_where_it_stopped_postgres() {
    resumed_after_a_kill(Kind::Pg).await;
}

#[tokio::test]
async fn bad_input_names_the_field_and_no_keys_is_a_conflict() {
    let (router, _app, _dir) = super::app(None).await;
    let cases = [
        (json!({"adjustment": "adjusted"}), "adjustment"),
        (json!({"start": "2024-02-01", "end": "2024-01-01"}), "end"),
        (
            json!({"symbols": (0..51).map(|i| format!("S{i}")).collect::<Vec<_>>()}),
            "symbols",
        ),
        (json!({"symbols": []}), "symbols"),
        (json!({"feed": "otc"}), "feed"),
        (json!({"start": "yesterday"}), "start"),
        (json!({"timeframe": "7Fortnights"}), "timeframe"),
    ];
    for (patch, field) in cases {
        let mut b = body(&["AAPL"], 1000);
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        let r = send(&router, post_json("/candles/download", b.clone())).await;
        assert_eq!(r.status, 422, "{b}: {}", r.json());
        assert_eq!(r.error_code(), "invalid_download");
        assert_eq!(r.json()["details"]["field"], field, "{b}: {}", r.json());
    }
    let r = send(
        &router,
        post_json("/candles/download", body(&["AAPL"], 1000)),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (409, "alpaca_not_configured")
    );
    let message = r.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("APCA_API_KEY_ID") && message.contains("APCA_API_SECRET_KEY"));
    let jobs = send(&router, get("/jobs")).await;
    assert_eq!(jobs.json(), json!([]), "nothing was queued");
}
