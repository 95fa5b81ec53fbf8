//! Orders reads and the UI event feed: tail pagination, and SSE resume on a real listener.

use axum::http::StatusCode;
use weaver::walle::Candle;

use super::{app, get, send};

fn candle(symbol: &str, minute: i64) -> Candle {
    Candle {
        symbol: symbol.into(),
        timeframe: "1Min".into(),
        ts: chrono::DateTime::from_timestamp(1_700_000_000 + minute * 60, 0).expect("ts"),
        open: 1.0,
        high: 2.0,
        low: 0.5,
        close: 1.5,
        volume: 10.0,
        source: "test".into(),
    }
}

#[tokio::test]
async fn orders_reads_answer_in_the_error_model() {
    let (r, _s, _d) = app(None).await;
    let page = send(&r, get("/orders?symbol=SPY&limit=10")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.json()["orders"], serde_json::json!([]));
    for (uri, status, code) in [
        ("/orders/1", StatusCode::NOT_FOUND, "not_found"),
        ("/orders/zz", StatusCode::NOT_FOUND, "not_found"),
        (
            "/orders?status=bogus",
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "/orders?limit=5000",
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "/orders?from=yesterday",
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
    ] {
        let resp = send(&r, get(uri)).await;
        assert_eq!(resp.status, status, "{uri}");
        assert_eq!(resp.error_code(), code, "{uri}");
    }
}

#[tokio::test]
async fn tail_pages_through_events_without_gaps() {
    let (r, s, _d) = app(None).await;
    for i in 0..5 {
        s.walle()
            .upsert_candles(&[candle(&format!("S{i}"), i)], None)
            .await
            .expect("stored");
    }
    let mut after = String::new();
    let mut seen = Vec::new();
    loop {
        let uri = if after.is_empty() {
            "/events/tail?limit=2".to_owned()
        } else {
            format!("/events/tail?limit=2&after={after}")
        };
        let page = send(&r, get(&uri)).await.json();
        let events = page["events"].as_array().expect("events").clone();
        if events.is_empty() {
            assert_eq!(
                page["next"].as_str(),
                Some(after.as_str())
                    .filter(|a| !a.is_empty())
                    .or(Some("0-0"))
            );
            break;
        }
        for e in &events {
            assert_eq!(e["type"], "ui.data.CandlesStored");
            seen.push(e["data"]["symbol"].as_str().expect("symbol").to_owned());
        }
        after = page["next"].as_str().expect("next").to_owned();
    }
    assert_eq!(seen, ["S0", "S1", "S2", "S3", "S4"]);
    let bad = send(&r, get("/events/tail?after=x-y")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "invalid_parameter");
}

#[tokio::test]
async fn sse_resumes_from_last_event_id_with_no_gaps() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (r, s, _d) = app(None).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, r).await });
    for i in 0..3 {
        s.walle()
            .upsert_candles(&[candle(&format!("A{i}"), i)], None)
            .await
            .expect("stored");
    }
    let c = reqwest::Client::new();
    let url = format!("http://{addr}/events/stream");
    let mut first = c
        .get(&url)
        .header("host", "localhost")
        .send()
        .await
        .expect("connect");
    assert_eq!(first.status(), 200);
    let got = crate::support::sse_events(&mut first, 2).await;
    assert_eq!(got[0].1["data"]["symbol"], "A0");
    assert_eq!(got[1].1["data"]["symbol"], "A1");
    drop(first);
    // Written while disconnected: must arrive after the resume, after A2, in order.
    for i in 3..5 {
        s.walle()
            .upsert_candles(&[candle(&format!("A{i}"), i)], None)
            .await
            .expect("stored");
    }
    let mut second = c
        .get(&url)
        .header("host", "localhost")
        .header("last-event-id", &got[1].0)
        .send()
        .await
        .expect("reconnect");
    let resumed = crate::support::sse_events(&mut second, 3).await;
    let symbols: Vec<_> = resumed
        .iter()
        .map(|(_, d)| d["data"]["symbol"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(symbols, ["A2", "A3", "A4"], "no gap, no duplicate");
    // Live delivery on the open stream.
    s.walle()
        .upsert_candles(&[candle("LIVE", 9)], None)
        .await
        .expect("stored");
    let live = crate::support::sse_events(&mut second, 1).await;
    assert_eq!(live[0].1["data"]["symbol"], "LIVE");
    assert_eq!(live[0].1["type"], "ui.data.CandlesStored");
    let bad = c
        .get(&url)
        .header("host", "localhost")
        .header("last-event-id", "nope")
        .send()
        .await
        .expect("req");
    assert_eq!(bad.status(), 400);
    server.abort();
}
