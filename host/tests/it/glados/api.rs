//! Routes through `oneshot`: success and error paths, error model, auth matrix, secrets.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};

use super::{KEY, app, get, send};
use crate::support::dist_bytes;

fn post_wasm(uri: &str, bytes: Vec<u8>) -> Request<Body> {
    Request::post(uri)
        .header("host", "localhost")
        .header("content-type", "application/wasm")
        .body(Body::from(bytes))
        .expect("request")
}

#[tokio::test]
async fn health_and_readiness() {
    let (r, _s, _d) = app(None).await;
    let h = send(&r, get("/healthz")).await;
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.json()["status"], "ok");
    assert!(
        h.headers.get("x-request-id").is_some(),
        "a request id is generated"
    );
    let ready = send(&r, get("/readyz")).await;
    assert_eq!(
        ready.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&ready.body)
    );
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_closed() {
    let (r, s, _d) = app(None).await;
    s.walle().close().await;
    let ready = send(&r, get("/readyz")).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.error_code(), "not_ready");
}

#[tokio::test]
async fn errors_carry_the_callers_request_id() {
    let (r, _s, _d) = app(None).await;
    let req = Request::get("/nope")
        .header("host", "localhost")
        .header("x-request-id", "corr-42")
        .body(Body::empty())
        .expect("request");
    let resp = send(&r, req).await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert_eq!(resp.error_code(), "route_not_found");
    assert_eq!(resp.json()["correlation_id"], "corr-42");
    let m = send(
        &r,
        Request::delete("/healthz")
            .header("host", "localhost")
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(m.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(m.error_code(), "method_not_allowed");
}

#[tokio::test]
async fn openapi_lists_the_routes() {
    let (r, _s, _d) = app(None).await;
    let doc = send(&r, get("/openapi.json")).await.json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    for p in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/strategies",
        "/strategies/{id}",
        "/backtests",
        "/backtests/{id}",
        "/candles",
        "/orders",
        "/orders/{id}",
        "/events/tail",
        "/events/stream",
        "/runs",
        "/runs/{id}",
        "/runs/{id}/stop",
    ] {
        assert!(
            doc["paths"].get(p).is_some(),
            "{p} missing from the OpenAPI document"
        );
    }
}

/// A schema combined with `allOf` cannot have a closed part (`additionalProperties: false`):
/// the closed part forbids the other parts' properties, so no body satisfies the whole (as
/// `POST /walkforward`'s body did when it was the sweep's closed object `allOf` `{windows}`;
/// schemathesis could not generate one).
#[tokio::test]
async fn no_schema_combines_a_closed_object_with_allof() {
    let (r, _s, _d) = app(None).await;
    let doc = send(&r, get("/openapi.json")).await.json();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let closed = |s: &serde_json::Value| -> bool {
        let s = match s["$ref"].as_str() {
            Some(r) => &schemas[r.trim_start_matches("#/components/schemas/")],
            None => s,
        };
        s["additionalProperties"] == serde_json::json!(false)
    };
    let mut conflicting = Vec::new();
    for (name, s) in schemas {
        if let Some(parts) = s["allOf"].as_array()
            && parts.len() > 1
            && parts.iter().any(closed)
        {
            conflicting.push(name.clone());
        }
    }
    assert_eq!(conflicting, Vec::<String>::new());
    let wf = &schemas["WalkForwardRequestView"];
    assert_eq!(wf["additionalProperties"], serde_json::json!(false), "{wf}");
    for field in ["windows", "space", "objective", "strategy"] {
        assert!(wf["properties"].get(field).is_some(), "{field}: {wf}");
        assert!(
            wf["required"]
                .as_array()
                .expect("required")
                .contains(&field.into()),
            "{field}: {wf}"
        );
    }
}

#[tokio::test]
async fn metrics_count_requests() {
    let (r, _s, _d) = app(None).await;
    send(&r, get("/healthz")).await;
    let m = send(&r, get("/metrics")).await;
    assert_eq!(m.status, StatusCode::OK);
    let text = String::from_utf8(m.body).expect("utf-8");
    assert!(text.contains("weaver_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/healthz\""), "{text}");
}

#[tokio::test]
async fn upload_compiles_in_the_background_and_is_idempotent() {
    let (r, s, _d) = app(None).await;
    let bytes = dist_bytes("sma-cross.wasm");
    let resp = send(&r, post_wasm("/strategies?name=sma-cross", bytes.clone())).await;
    assert_eq!(
        resp.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    let v = resp.json();
    assert_eq!(v["name"], "sma-cross");
    assert_eq!(v["status"], "compiling");
    assert_eq!(v["sha256"].as_str().map(str::len), Some(64));
    let id = v["id"].as_i64().expect("id");
    tokio::time::timeout(Duration::from_secs(120), s.idle())
        .await
        .expect("compiles in time");
    let got = send(&r, get(&format!("/strategies/{id}"))).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json()["status"], "ready", "{}", got.json());
    // Same bytes again: the stored row, nothing new.
    let again = send(&r, post_wasm("/strategies?name=sma-cross", bytes)).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.json()["id"].as_i64(), Some(id));
    // A second version of the same name via multipart.
    let other = dist_bytes("rsi-reversion.wasm");
    let boundary = "XBOUNDARYX";
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nsma-cross\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.wasm\"\r\nContent-Type: application/wasm\r\n\r\n").as_bytes());
    body.extend_from_slice(&other);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mp = Request::post("/strategies")
        .header("host", "localhost")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .expect("request");
    let mp = send(&r, mp).await;
    assert_eq!(
        mp.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&mp.body)
    );
    assert_ne!(mp.json()["id"].as_i64(), Some(id));
    let versions = send(&r, get("/strategies?name=sma-cross")).await.json();
    assert_eq!(versions.as_array().map(Vec::len), Some(2), "{versions}");
    let all = send(&r, get("/strategies")).await.json();
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    s.idle().await;
}

#[tokio::test]
async fn refused_uploads_store_nothing() {
    let (r, _s, _d) = app(None).await;
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            post_wasm("/strategies?name=junk", b"not wasm at all".to_vec()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
        ),
        (
            post_wasm("/strategies?name=bad%20name", dist_bytes("sma-cross.wasm")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
        ),
        (
            post_wasm("/strategies", dist_bytes("sma-cross.wasm")),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            post_wasm("/strategies?name=empty", Vec::new()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_component",
        ),
        (
            post_wasm("/strategies?name=big", vec![0u8; 2 << 20]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            Request::post("/strategies?name=x")
                .header("host", "localhost")
                .header("content-type", "text/plain")
                .body(Body::from("x"))
                .expect("req"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            Request::post("/strategies")
                .header("host", "localhost")
                .header("content-type", "multipart/form-data; boundary=B")
                .body(Body::from(
                    "--B\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx\r\n--B--\r\n",
                ))
                .expect("req"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ];
    for (req, status, code) in cases {
        let uri = req.uri().to_string();
        let resp = send(&r, req).await;
        assert_eq!(
            resp.status,
            status,
            "{uri}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        let got = resp.error_code();
        if code.is_empty() {
            assert!(
                ["not_a_component", "invalid_component"].contains(&got.as_str()),
                "{uri}: {got}"
            );
        } else {
            assert_eq!(got, code, "{uri}");
        }
    }
    let all = send(&r, get("/strategies")).await.json();
    assert_eq!(all, serde_json::json!([]), "nothing stored");
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404() {
    let (r, _s, _d) = app(None).await;
    for uri in [
        "/strategies/999",
        "/strategies/abc",
        "/strategies/-1",
        "/strategies/99999999999999999999999",
    ] {
        let resp = send(&r, get(uri)).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(resp.error_code(), "not_found", "{uri}");
    }
    let bad_query = send(&r, get("/strategies?name=a&name=b")).await;
    assert!(
        bad_query.status.is_client_error() || bad_query.status.is_success(),
        "never a 5xx"
    );
}

/// Every (path, method) of the generated document, with `{id}` replaced by 1.
async fn documented_routes(r: &axum::Router) -> Vec<(Method, String)> {
    let doc = send(r, get("/openapi.json")).await.json();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in ["get", "post", "put", "delete", "patch"] {
            if item.get(m).is_some() {
                out.push((
                    m.to_uppercase().parse().expect("method"),
                    path.replace("{id}", "1"),
                ));
            }
        }
    }
    assert!(out.len() >= 19, "{out:?}");
    out
}

#[tokio::test]
async fn auth_matrix_over_the_openapi_document() {
    let (open, _s0, _d0) = app(None).await;
    let routes = documented_routes(&open).await;
    let (r, _s, _d) = app(Some(KEY)).await;
    for (method, path) in routes {
        let req = |key: Option<&str>, host: &str| {
            let mut b = Request::builder()
                .method(method.clone())
                .uri(&path)
                .header("host", host);
            if let Some(k) = key {
                b = b.header("x-api-key", k);
            }
            b.body(Body::empty()).expect("request")
        };
        let none = send(&r, req(None, "localhost")).await;
        let wrong = send(&r, req(Some("wrong-key-0123456789abcdef"), "localhost")).await;
        let right = send(&r, req(Some(KEY), "localhost")).await;
        let foreign = send(&r, req(Some(KEY), "evil.example")).await;
        if path == "/healthz" {
            assert_eq!(none.status, StatusCode::OK);
        } else {
            assert_eq!(
                none.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} without key"
            );
            assert_eq!(none.error_code(), "unauthorized");
            assert_eq!(
                wrong.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} wrong key"
            );
        }
        assert_ne!(
            right.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} right key"
        );
        assert!(
            !right.status.is_server_error(),
            "{method} {path}: {}",
            right.status
        );
        assert_eq!(
            foreign.status,
            StatusCode::FORBIDDEN,
            "{method} {path} foreign host"
        );
        assert_eq!(foreign.error_code(), "host_not_allowed");
        for resp in [&none, &wrong, &right, &foreign] {
            let body = String::from_utf8_lossy(&resp.body);
            assert!(
                !body.contains(KEY),
                "{method} {path} leaks the key in its body"
            );
            for v in resp.headers.values() {
                assert!(
                    !String::from_utf8_lossy(v.as_bytes()).contains(KEY),
                    "{method} {path} leaks the key in a header"
                );
            }
        }
    }
}

#[tokio::test]
async fn config_collects_every_problem() {
    use weaver::app::Config;
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let ok = Config::from_vars(vars(&[])).expect("defaults work");
    assert_eq!(ok.bind.to_string(), "127.0.0.1:8080");
    assert!(ok.api_key.is_none());
    assert_eq!(
        ok.strategies_dir,
        std::path::PathBuf::from("strategies/dist")
    );
    let err = Config::from_vars(vars(&[
        ("WEAVER_BIND", "0.0.0.0:8080"),
        ("WEAVER_DATABASE_URL", "mysql://u:sentinel-db-pw@h/db"),
        ("WEAVER_MAX_BODY_BYTES", "lots"),
    ]))
    .expect_err("refused");
    assert_eq!(err.0.len(), 3, "{err}");
    let text = err.to_string();
    assert!(text.contains("WEAVER_API_KEY"), "{text}");
    assert!(
        !text.contains("sentinel-db-pw"),
        "the URL is a secret: {text}"
    );
    let short = Config::from_vars(vars(&[("WEAVER_API_KEY", "short")])).expect_err("short key");
    assert!(!short.to_string().contains("short\""), "{short}");
    let keyed = Config::from_vars(vars(&[
        ("WEAVER_BIND", "0.0.0.0:8080"),
        ("WEAVER_API_KEY", KEY),
    ]))
    .expect("non-loopback with a key is fine");
    assert!(
        format!("{keyed:?}").find(KEY).is_none(),
        "Debug never shows the key"
    );
}
