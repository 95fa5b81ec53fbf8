//! Hostile-guest cases through the API (the corpus of `marvin/hostile.rs`, continued): case 16, a storm of
//! concurrent compile-heavy uploads while `/healthz` must stay fast (real listener), and case 17,
//! strategies returning nonsense orders, refused before any venue with nothing stored.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use weaver::greta::synth;
use weaver::walle::Candle;

use super::{app, get, send};
use crate::support::{dist_bytes, post_json};

/// `component` with a custom section appended: the same code under another sha256, so every
/// upload is a distinct component that must be compiled on its own (no dedup, no cache hit).
fn variant(component: &[u8], n: usize) -> Vec<u8> {
    let name = b"weaver-test-nonce";
    let payload = format!("{n:08}");
    let mut body = vec![u8::try_from(name.len()).expect("short name")];
    body.extend_from_slice(name);
    body.extend_from_slice(payload.as_bytes());
    let mut out = component.to_vec();
    out.push(0); // custom section id
    out.push(u8::try_from(body.len()).expect("short section")); // LEB128 of a size < 128
    out.extend_from_slice(&body);
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Case 16: 50 concurrent uploads of distinct components queue on the compile semaphore; the
/// API answers `/healthz` quickly throughout and every upload ends `ready` or `rejected`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_storm_keeps_the_api_responsive() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (r, s, _d) = app(None).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, r).await });
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let component = dist_bytes("rsi-reversion.wasm");

    let uploads: Vec<_> = (0..50)
        .map(|n| {
            let c = client.clone();
            let url = format!("{base}/strategies?name=storm-{n}");
            let body = variant(&component, n);
            tokio::spawn(async move {
                let resp = c
                    .post(url)
                    .header("host", "localhost")
                    .header("content-type", "application/wasm")
                    .body(body)
                    .send()
                    .await
                    .expect("upload answered");
                let status = resp.status();
                (status, resp.text().await.unwrap_or_default())
            })
        })
        .collect();

    // Probe /healthz every 10 ms until every compilation has ended.
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut ids = Vec::new();
    let mut uploads = Some(uploads);
    loop {
        let t = Instant::now();
        let h = client
            .get(format!("{base}/healthz"))
            .header("host", "localhost")
            .send()
            .await
            .expect("healthz answered");
        latencies.push(t.elapsed());
        assert_eq!(h.status(), 200);
        if let Some(pending) =
            uploads.take_if(|u| u.iter().all(tokio::task::JoinHandle::is_finished))
        {
            for u in pending {
                let (status, body) = u.await.expect("upload task");
                assert_eq!(status, 202, "upload refused: {body}");
                let v: serde_json::Value = serde_json::from_str(&body).expect("json");
                ids.push(v["id"].as_i64().expect("id"));
            }
        }
        if uploads.is_none() {
            let list: serde_json::Value = client
                .get(format!("{base}/strategies"))
                .header("host", "localhost")
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            let list = list.as_array().expect("array");
            let ended = list
                .iter()
                .filter(|s| s["status"] == "ready" || s["status"] == "rejected")
                .count();
            if ended == 50 {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "compilations still running after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    assert_eq!(ids.len(), 50);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 50, "50 distinct components stored");
    latencies.sort_unstable();
    let p99 = percentile(&latencies, 0.99);
    println!(
        "case 16: 50 uploads compiled in {elapsed:?}; /healthz over {} probes: p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        percentile(&latencies, 0.5),
        p99,
        latencies.last().copied().unwrap_or_default()
    );
    assert!(
        latencies.len() >= 20,
        "the storm lasted long enough to measure"
    );
    assert!(
        p99 < Duration::from_millis(500),
        "healthz p99 {p99:?} during the storm"
    );
    let ready = send(&router_of(&s), get("/strategies")).await.json();
    assert!(
        ready
            .as_array()
            .expect("array")
            .iter()
            .all(|s| s["status"] == "ready"),
        "valid components compile: {ready}"
    );
    server.abort();
}

fn router_of(s: &weaver::app::App) -> axum::Router {
    weaver::glados::router(s.state())
}

/// Case 17: nonsense orders (negative quantity, NaN price, unknown symbol, NaN quantity, closing
/// an unknown symbol) end the run `failed` with `invalid_intent`; no order is stored or placed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonsense_orders_never_reach_the_venue() {
    let (r, s, _d) = app(None).await;
    let bars = synth::generate(50, 17);
    let candles: Vec<Candle> = bars
        .iter()
        .map(|b| Candle {
            symbol: "GOOG".into(),
            timeframe: "1Day".into(),
            ts: chrono::DateTime::from_timestamp_millis(b.ts).expect("ts"),
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
            source: "synth".into(),
        })
        .collect();
    s.walle()
        .upsert_candles(&candles, None)
        .await
        .expect("candles");
    let up = Request::post("/strategies?name=hostile")
        .header("host", "localhost")
        .header("content-type", "application/wasm")
        .body(Body::from(dist_bytes("guests/hostile.wasm")))
        .expect("req");
    let up = send(&r, up).await;
    assert_eq!(up.status, StatusCode::ACCEPTED);
    let id = up.json()["id"].as_i64().expect("id");
    tokio::time::timeout(Duration::from_secs(120), s.idle())
        .await
        .expect("compiled");

    // The field each refusal names is checked at the sandbox (tests/it/marvin/hostile.rs).
    for mode in [
        "negative-qty",
        "nan-price",
        "unknown-symbol-order",
        "nan",
        "unknown-symbol",
    ] {
        let body = format!(
            r#"{{"strategy": {id}, "mode": "paper", "venue": "sim", "symbols": ["GOOG"], "timeframe": "1Day", "params": {{"mode": "{mode}"}}}}"#
        );
        let created = send(&r, post_json("/runs", &body)).await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "{mode}: {}",
            created.json()
        );
        let run = created.json()["id"].as_i64().expect("id");
        let deadline = Instant::now() + Duration::from_secs(60);
        let done = loop {
            let v = send(&r, get(&format!("/runs/{run}"))).await.json();
            if v["status"] != "running" {
                break v;
            }
            assert!(Instant::now() < deadline, "{mode}: still running: {v}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(done["status"], "failed", "{mode}: {done}");
        assert_eq!(done["error_code"], "invalid_intent", "{mode}: {done}");
        assert_eq!(done["figures"]["orders_placed"], 0, "{mode}: {done}");
        let orders = send(&r, get(&format!("/orders?run={run}"))).await.json();
        assert_eq!(orders["orders"], serde_json::json!([]), "{mode}");
    }
    let all = send(&r, get("/orders")).await.json();
    assert_eq!(
        all["orders"],
        serde_json::json!([]),
        "no order reached the venue"
    );
    tokio::time::timeout(Duration::from_secs(30), s.idle())
        .await
        .expect("run tasks end");
}
