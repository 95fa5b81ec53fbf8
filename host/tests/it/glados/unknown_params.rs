//! A parameter the strategy never reads is refused with the request: `POST /backtests` and
//! `POST /runs` with `fsat` (a typo of `fast`) on `sma-cross` answer 422 with the strategy's
//! `unknown_param` refusal naming it and the parameters the strategy reads, and nothing is
//! queued or started.

use axum::http::StatusCode;
use weaver::greta::synth;

use super::runs::upload;
use super::{app, get, send};
use crate::support::post_json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parameter_the_strategy_never_reads_is_refused_with_the_request() {
    let (r, s, _dir) = app(None).await;
    let bars = synth::generate(200, 3);
    let candles: Vec<weaver::walle::Candle> = bars
        .iter()
        .map(|b| weaver::walle::Candle {
            symbol: "SYN".into(),
            timeframe: "1Min".into(),
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
        .expect("candles stored");
    let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    let wanted = "unknown_param: unknown parameter(s) fsat; this strategy reads fast, slow";

    let body = serde_json::json!({
        "strategy": sma, "symbols": ["SYN"], "timeframe": "1Min", "params": {"fsat": 5}
    });
    let refused = send(&r, post_json("/backtests", body.to_string())).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.json()
    );
    assert_eq!(refused.error_code(), "invalid_params");
    let message = refused.json()["message"].as_str().unwrap_or("").to_owned();
    assert!(message.contains(wanted), "{message}");
    assert_eq!(
        send(&r, get("/backtests")).await.json(),
        serde_json::json!([]),
        "nothing queued"
    );
    // The parameters it reads are accepted.
    let body = serde_json::json!({
        "strategy": sma, "symbols": ["SYN"], "timeframe": "1Min", "params": {"fast": 5}
    });
    let accepted = send(&r, post_json("/backtests", body.to_string())).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.json());

    let run = serde_json::json!({
        "strategy": sma, "mode": "paper", "venue": "sim", "symbols": ["SYN"],
        "timeframe": "1Min", "params": {"fsat": 5}
    });
    let refused = send(&r, post_json("/runs", run.to_string())).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.json()
    );
    assert_eq!(refused.error_code(), "invalid_params");
    let message = refused.json()["message"].as_str().unwrap_or("").to_owned();
    assert!(message.contains(wanted), "{message}");
    assert_eq!(
        send(&r, get("/runs")).await.json(),
        serde_json::json!([]),
        "nothing started"
    );
    tokio::time::timeout(std::time::Duration::from_secs(120), s.idle())
        .await
        .expect("idle");
}
