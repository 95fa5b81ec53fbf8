//! Control routes through `oneshot`: disabling strategies (`DELETE /strategies/{id}`), versions
//! by name, and the global trading state (`GET`/`PUT /trading-state`), which survives a restart.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use weaver::domain::Timeframe;
use weaver::walle::{NewRun, NewStrategy, RunMode, RunStatus, StrategyStatus, Walle};

use super::{app, get, send};

fn req(method: &str, uri: &str, body: Option<&str>) -> Request<Body> {
    let b = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "localhost");
    match body {
        Some(text) => b
            .header("content-type", "application/json")
            .body(Body::from(text.to_owned())),
        None => b.body(Body::empty()),
    }
    .expect("request")
}

/// A stored strategy row (no component needed for these routes), compiled `ready`.
async fn ready_strategy(w: &Walle, n: u8, name: &str) -> i64 {
    let (s, _) = w
        .insert_strategy(
            &NewStrategy {
                sha256: format!("{n:02x}").repeat(32),
                name: name.into(),
                version: format!("v{n}"),
                language: "rust".into(),
                size_bytes: 1,
            },
            None,
        )
        .await
        .expect("strategy");
    w.update_strategy_status(s.id, StrategyStatus::Ready, None, None)
        .await
        .expect("ready");
    s.id
}

#[tokio::test]
async fn disabling_a_strategy_is_refused_while_a_run_uses_it() {
    let (r, s, _d) = app(None).await;
    let w = s.walle();
    let first = ready_strategy(w, 1, "trend").await;
    let second = ready_strategy(w, 2, "trend").await;
    ready_strategy(w, 3, "other").await;

    // Versions by name, oldest first.
    let versions = send(&r, get("/strategies?name=trend")).await;
    assert_eq!(versions.status, StatusCode::OK);
    let ids: Vec<_> = versions
        .json()
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["id"].as_i64())
        .collect();
    assert_eq!(ids, [Some(first), Some(second)]);
    assert_eq!(
        send(&r, get("/strategies?name=none")).await.json(),
        json!([])
    );

    // Unknown ids.
    for uri in ["/strategies/999", "/strategies/x", "/strategies/-1"] {
        let resp = send(&r, req("DELETE", uri, None)).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(resp.error_code(), "not_found");
    }

    // In use while a run is created, running or stopping.
    let run = w
        .insert_run(
            &NewRun {
                strategy_id: first,
                mode: RunMode::Paper,
                venue: "sim".into(),
                params: json!({}),
                symbols: vec!["GOOG".into()],
                timeframe: Timeframe::DAY,
                limits: None,
                risk: None,
                options: None,
            },
            None,
        )
        .await
        .expect("run");
    for status in [RunStatus::Running, RunStatus::Stopping] {
        w.update_run_status(run.id, status, None, None)
            .await
            .expect("status");
        let busy = send(&r, req("DELETE", &format!("/strategies/{first}"), None)).await;
        assert_eq!(busy.status, StatusCode::CONFLICT);
        assert_eq!(busy.error_code(), "strategy_in_use");
    }
    w.update_run_status(run.id, RunStatus::Stopped, None, None)
        .await
        .expect("stopped");

    let gone = send(&r, req("DELETE", &format!("/strategies/{first}"), None)).await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.json());
    assert_eq!(gone.json()["status"], "disabled");
    assert!(gone.json()["disabled_at"].is_string());
    // Still readable, alone and among its versions; deleting again changes nothing.
    let read = send(&r, get(&format!("/strategies/{first}"))).await.json();
    assert_eq!(read["status"], "disabled");
    assert_eq!(read["disabled_at"], gone.json()["disabled_at"]);
    let again = send(&r, req("DELETE", &format!("/strategies/{first}"), None)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["disabled_at"], gone.json()["disabled_at"]);
    let versions = send(&r, get("/strategies?name=trend")).await.json();
    assert_eq!(versions[0]["status"], "disabled");
    assert_eq!(versions[1]["status"], "ready");

    // A disabled strategy starts no run and no backtest.
    let run_body = format!(
        r#"{{"strategy": {first}, "mode": "paper", "venue": "sim", "symbols": ["GOOG"], "timeframe": "1Day", "params": {{}}}}"#
    );
    let refused = send(&r, req("POST", "/runs", Some(&run_body))).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.error_code(), "strategy_disabled");
    let bt_body = format!(r#"{{"strategy": {first}, "symbols": ["GOOG"], "timeframe": "1Day"}}"#);
    let refused = send(&r, req("POST", "/backtests", Some(&bt_body))).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.error_code(), "strategy_disabled");
    assert_eq!(
        send(&r, get("/runs")).await.json().as_array().map(Vec::len),
        Some(1),
        "nothing stored"
    );
    assert_eq!(send(&r, get("/backtests")).await.json(), json!([]));

    // The change is on the event feed.
    let tail = send(&r, get("/events/tail?limit=1000")).await.json();
    assert!(
        tail["events"].as_array().expect("events").iter().any(|e| {
            e["type"] == "ui.strategy.StatusChanged" && e["data"]["status"] == "disabled"
        }),
        "{tail}"
    );
}

#[tokio::test]
async fn trading_state_is_set_validated_and_survives_a_restart() {
    let (r, s, dir) = app(None).await;
    let initial = send(&r, get("/trading-state")).await;
    assert_eq!(initial.status, StatusCode::OK);
    assert_eq!(
        initial.json(),
        json!({"state": "active", "updated_at": null})
    );

    for (body, status, code) in [
        (
            r#"{"state": "paused"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_trading_state",
        ),
        (
            r#"{"state": "HALTED"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_trading_state",
        ),
        (
            r#"{"state": 1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (r#"{}"#, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (
            r#"{"state": "halted", "why": "x"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        ("{nope", StatusCode::BAD_REQUEST, "malformed_json"),
    ] {
        let resp = send(&r, req("PUT", "/trading-state", Some(body))).await;
        assert_eq!(resp.status, status, "{body}");
        assert_eq!(resp.error_code(), code, "{body}");
    }
    let plain = Request::put("/trading-state")
        .header("host", "localhost")
        .body(Body::from(r#"{"state": "halted"}"#))
        .expect("req");
    let plain = send(&r, plain).await;
    assert_eq!(plain.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(plain.error_code(), "unsupported_media_type");
    assert_eq!(
        send(&r, get("/trading-state")).await.json()["state"],
        "active"
    );

    let reduce = send(
        &r,
        req("PUT", "/trading-state", Some(r#"{"state": "reduce_only"}"#)),
    )
    .await;
    assert_eq!(reduce.status, StatusCode::OK);
    assert_eq!(reduce.json()["state"], "reduce_only");
    let halted = send(
        &r,
        req("PUT", "/trading-state", Some(r#"{"state": "halted"}"#)),
    )
    .await;
    assert_eq!(halted.status, StatusCode::OK);
    let halted = halted.json();
    assert_eq!(halted["state"], "halted");
    let at = halted["updated_at"].as_str().expect("rfc 3339 time");
    chrono::DateTime::parse_from_rfc3339(at).expect("rfc 3339");
    assert_eq!(send(&r, get("/trading-state")).await.json(), halted);

    // Announced on the UI feed.
    let tail = send(&r, get("/events/tail?limit=1000")).await.json();
    let states: Vec<_> = tail["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "ui.TradingState")
        .map(|e| e["data"]["state"].clone())
        .collect();
    assert_eq!(states, [json!("reduce_only"), json!("halted")]);

    // A restarted server on the same data directory is still halted.
    s.shutdown(std::time::Duration::from_secs(5)).await;
    s.walle().close().await;
    drop(r);
    let config = weaver::app::Config::for_tests(dir.path());
    let walle = Walle::connect(&config.db).await.expect("reopen");
    let state = weaver::app::App::new(config, walle).expect("state");
    let r2 = weaver::glados::router(state.state());
    assert_eq!(send(&r2, get("/trading-state")).await.json(), halted);
}
