//! The dashboard fallback: `/` and client-side routes answer HTML without the API key, API
//! routes still need the key (even when a browser asks for HTML), and unknown API paths keep
//! the JSON 404. Runs whether or not `haro/dist` is built: both answers are checked.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};

use super::{KEY, app, send};

fn req(method: Method, uri: &str, accept: Option<&str>, key: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "localhost:8080");
    if let Some(a) = accept {
        b = b.header("accept", a);
    }
    if let Some(k) = key {
        b = b.header("x-api-key", k);
    }
    b.body(Body::empty()).expect("request")
}

const HTML: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

fn body_text(resp: &super::Resp) -> String {
    String::from_utf8_lossy(&resp.body).into_owned()
}

#[tokio::test]
async fn the_app_shell_needs_no_key_and_client_routes_survive_a_reload() {
    let (r, _s, _d) = app(Some(KEY)).await;
    for (uri, accept) in [
        ("/", None),
        ("/", Some(HTML)),
        ("/ui/runs/3", Some(HTML)),
        ("/ui/backtests/compare?a=1&b=2", Some(HTML)),
    ] {
        let resp = send(&r, req(Method::GET, uri, accept, None)).await;
        assert_eq!(resp.status, StatusCode::OK, "{uri}");
        let ctype = resp.headers["content-type"].to_str().expect("ascii");
        assert!(ctype.starts_with("text/html"), "{uri}: {ctype}");
        assert_eq!(resp.headers["cache-control"], "no-cache", "{uri}");
        let body = body_text(&resp);
        if weaver::glados::dashboard::is_built() {
            assert!(
                body.contains("<div id=\"root\">"),
                "{uri}: the app shell: {body}"
            );
        } else {
            assert!(
                body.contains("scripts/build-haro.sh"),
                "{uri}: how to build: {body}"
            );
        }
    }
    let head = send(&r, req(Method::HEAD, "/ui/settings", Some(HTML), None)).await;
    assert_eq!(head.status, StatusCode::OK);
}

#[tokio::test]
async fn api_routes_still_need_the_key_even_for_browsers() {
    let (r, _s, _d) = app(Some(KEY)).await;
    for uri in ["/runs", "/strategies", "/openapi.json", "/runs/1"] {
        let resp = send(&r, req(Method::GET, uri, Some(HTML), None)).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(resp.error_code(), "unauthorized", "{uri}");
    }
    let listed = send(&r, req(Method::GET, "/runs", Some(HTML), Some(KEY))).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(
        listed.json().is_array(),
        "an API route answers JSON, never the shell"
    );
}

#[tokio::test]
async fn unknown_api_paths_keep_the_json_404_and_the_key() {
    let (r, _s, _d) = app(Some(KEY)).await;
    for (method, uri) in [
        (Method::GET, "/no-such-route"),
        (Method::GET, "/runs/1/nope"),
        (Method::POST, "/ui/runs"),
        (Method::DELETE, "/"),
    ] {
        let with_key = send(
            &r,
            req(method.clone(), uri, Some("application/json"), Some(KEY)),
        )
        .await;
        assert_eq!(with_key.status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(with_key.error_code(), "route_not_found", "{method} {uri}");
        let without = send(&r, req(method.clone(), uri, None, None)).await;
        assert_eq!(
            without.status,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} without key"
        );
    }
    // A missing asset is a 404 even for a browser: only paths without a file are the shell.
    let (open, _s2, _d2) = app(None).await;
    let missing = send(&open, req(Method::GET, "/assets/missing.js", None, None)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "route_not_found");
}

#[tokio::test]
async fn built_assets_are_served_with_long_caching() {
    let (r, _s, _d) = app(Some(KEY)).await;
    let index = body_text(&send(&r, req(Method::GET, "/", Some(HTML), None)).await);
    if !weaver::glados::dashboard::is_built() {
        assert!(index.contains("not built"), "{index}");
        return;
    }
    let script = index
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("index.html references its script");
    assert!(script.starts_with("/assets/"), "{script}");
    let js = send(&r, req(Method::GET, script, None, None)).await;
    assert_eq!(js.status, StatusCode::OK, "{script} needs no key");
    assert!(
        js.headers["content-type"]
            .to_str()
            .expect("ascii")
            .contains("javascript"),
        "{:?}",
        js.headers["content-type"]
    );
    assert_eq!(
        js.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(!js.body.is_empty());
}
