//! Runs: reads, stop, and creation refused (nothing stored) while no venue executes runs.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use weaver::domain::Timeframe;
use weaver::walle::{NewRun, NewStrategy, RunMode, StrategyStatus};

use super::{app, get, send};

fn post_json(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

#[tokio::test]
async fn runs_lifecycle_and_refusals() {
    let (r, s, _d) = app(None).await;
    let w = s.walle();
    let (strategy, _) = w
        .insert_strategy(
            &NewStrategy {
                sha256: "ab".repeat(32),
                name: "demo".into(),
                version: "1".into(),
                language: "rust".into(),
                size_bytes: 1,
            },
            None,
        )
        .await
        .expect("strategy");
    let req = |strategy: &str, mode: &str| {
        format!(
            r#"{{"strategy": {strategy}, "mode": "{mode}", "venue": "sim", "symbols": ["SPY"], "timeframe": "1Min", "params": {{}}}}"#
        )
    };
    let sid = strategy.id.to_string();
    for (body, status, code) in [
        (
            req(&sid, "paper"),
            StatusCode::CONFLICT,
            "strategy_not_ready",
        ),
        (req("999", "paper"), StatusCode::NOT_FOUND, "not_found"),
        (
            req(&sid, "yolo"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_mode",
        ),
        (req(&sid, "live"), StatusCode::CONFLICT, "live_not_enabled"),
        ("{".to_owned(), StatusCode::BAD_REQUEST, "malformed_json"),
        (
            r#"{"strategy": 1}"#.to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ] {
        let resp = send(&r, post_json("/runs", &body)).await;
        assert_eq!(resp.status, status, "{body}");
        assert_eq!(resp.error_code(), code, "{body}");
    }
    w.update_strategy_status(strategy.id, StrategyStatus::Ready, None, None)
        .await
        .expect("ready");
    let refused = send(&r, post_json("/runs", &req(&sid, "paper"))).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.error_code(), "venue_unavailable");
    assert_eq!(
        send(&r, get("/runs")).await.json(),
        serde_json::json!([]),
        "nothing stored"
    );

    let run = w
        .insert_run(
            &NewRun {
                strategy_id: strategy.id,
                mode: RunMode::Paper,
                venue: "sim".into(),
                params: serde_json::json!({}),
                symbols: vec!["SPY".into()],
                timeframe: "1Min".parse::<Timeframe>().expect("valid timeframe"),
            },
            None,
        )
        .await
        .expect("run");
    let got = send(&r, get(&format!("/runs/{}", run.id))).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json()["status"], "created");
    let stop = |id: i64| {
        Request::post(format!("/runs/{id}/stop"))
            .header("host", "localhost")
            .body(Body::empty())
            .expect("req")
    };
    let stopped = send(&r, stop(run.id)).await;
    assert_eq!(stopped.status, StatusCode::OK);
    assert_eq!(stopped.json()["status"], "stopped");
    let again = send(&r, stop(run.id)).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "run_not_active");
    let unknown = send(&r, stop(4242)).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(send(&r, get("/runs/4242")).await.error_code(), "not_found");
    assert_eq!(
        send(&r, get("/runs")).await.json().as_array().map(Vec::len),
        Some(1)
    );
}
