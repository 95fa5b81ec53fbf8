//! Compressed responses: API JSON in gzip or brotli as the client accepts, the dashboard's files
//! from their precompressed variants, and the event stream never compressed (it must deliver
//! each event as it happens).

use std::io::Read as _;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use weaver::walle::Candle;

use super::{app, send};

fn with_encoding(uri: &str, accept_encoding: &str) -> Request<Body> {
    Request::get(uri)
        .header("host", "localhost:8080")
        .header("accept-encoding", accept_encoding)
        .body(Body::empty())
        .expect("request")
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

fn unbrotli(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(b, 4096)
        .read_to_end(&mut out)
        .expect("brotli");
    out
}

#[tokio::test]
async fn api_json_is_compressed_as_the_client_accepts() {
    let (r, _s, _d) = app(None).await;
    let plain = send(&r, super::get("/openapi.json")).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(plain.headers.get("content-encoding").is_none());

    let gz = send(&r, with_encoding("/openapi.json", "gzip")).await;
    assert_eq!(gz.headers["content-encoding"], "gzip");
    assert_eq!(gz.headers["content-type"], "application/json");
    assert!(gz.body.len() * 3 < plain.body.len(), "gzip shrinks JSON");
    assert_eq!(gunzip(&gz.body), plain.body);

    let br = send(&r, with_encoding("/openapi.json", "gzip, deflate, br")).await;
    assert_eq!(br.headers["content-encoding"], "br");
    assert_eq!(unbrotli(&br.body), plain.body);

    // Errors too, and the error model survives.
    let missing = send(&r, with_encoding("/backtests/424242", "gzip")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.headers["content-encoding"], "gzip");
    let v: serde_json::Value = serde_json::from_slice(&gunzip(&missing.body)).expect("json");
    assert_eq!(v["code"], "not_found");
}

#[tokio::test]
async fn dashboard_files_are_served_from_their_precompressed_variants() {
    if !weaver::glados::dashboard::is_built() {
        // scripts/test.sh builds haro/dist before the Rust tests; without it there is no file.
        eprintln!("haro/dist is not built: nothing to serve");
        return;
    }
    let (r, _s, _d) = app(None).await;
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../haro/dist");
    for (enc, suffix) in [("br", "br"), ("gzip", "gz")] {
        let resp = send(&r, with_encoding("/", enc)).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.headers["content-encoding"], enc);
        assert_eq!(resp.headers["vary"], "accept-encoding");
        assert_eq!(resp.headers["content-type"], "text/html; charset=utf-8");
        let file = std::fs::read(dist.join(format!("index.html.{suffix}"))).expect("variant");
        assert_eq!(resp.body, file, "the precompressed file as it is");
    }
    // A hashed asset: its .br as it is, with the original's media type.
    let asset = std::fs::read_dir(dist.join("assets"))
        .expect("assets")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".js"))
        .expect("a script");
    let resp = send(&r, with_encoding(&format!("/assets/{asset}"), "gzip, br")).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.headers["content-encoding"], "br");
    assert!(
        resp.headers["content-type"]
            .to_str()
            .expect("ascii")
            .contains("javascript")
    );
    let br = std::fs::read(dist.join(format!("assets/{asset}.br"))).expect("variant");
    assert_eq!(resp.body, br);
    let js = std::fs::read(dist.join(format!("assets/{asset}"))).expect("asset");
    assert_eq!(unbrotli(&resp.body), js);
    // No Accept-Encoding: the file itself.
    let raw = send(&r, super::get(&format!("/assets/{asset}"))).await;
    assert!(raw.headers.get("content-encoding").is_none());
    assert_eq!(raw.body, js);
}

#[tokio::test]
async fn the_event_stream_is_never_compressed_and_delivers_at_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (r, s, _d) = app(None).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, r).await });
    let c = reqwest::Client::new();
    let mut stream = c
        .get(format!("http://{addr}/events/stream"))
        .header("host", "localhost")
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .expect("connect");
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers().get("content-encoding").is_none(),
        "compression buffers: the stream must stay plain"
    );
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream")
    );
    let started = std::time::Instant::now();
    let candle = Candle {
        symbol: "LIVE".into(),
        timeframe: "1Min".into(),
        ts: chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("ts"),
        open: 1.0,
        high: 2.0,
        low: 0.5,
        close: 1.5,
        volume: 10.0,
        source: "test".into(),
    };
    s.walle()
        .upsert_candles(&[candle], None)
        .await
        .expect("stored");
    let got = crate::support::sse_events(&mut stream, 1).await;
    assert_eq!(got[0].1["data"]["symbol"], "LIVE");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "delivered promptly: {:?}",
        started.elapsed()
    );
    server.abort();
}
