//! The Alpaca client and redirects: the keys travel only to the configured origin. A server
//! that answers 302 to another origin (another local port) must not receive the keys there.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header::LOCATION};
use axum::response::IntoResponse;
use weaver::veda::alpaca::{AlpacaConfig, AlpacaHttp};
use weaver::veda::rate_limit::RequestBudget;

/// Serves `router` on a local port; its address.
async fn serve(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

#[tokio::test]
async fn keys_do_not_follow_a_redirect_to_another_origin() {
    // The other origin records every request and the key headers it got.
    let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let record = seen.clone();
    let other = serve(
        Router::new().fallback(move |uri: axum::http::Uri, h: HeaderMap| {
            let record = record.clone();
            async move {
                let keyed =
                    h.contains_key("apca-api-key-id") || h.contains_key("apca-api-secret-key");
                record.lock().expect("lock").push((uri.to_string(), keyed));
                (StatusCode::OK, "{}")
            }
        }),
    )
    .await;
    // The configured origin redirects everything there; and, on one path, to itself.
    let configured = serve(Router::new().fallback(move |uri: axum::http::Uri, h: HeaderMap| async move {
        if uri.path() == "/v2/clock" {
            return (StatusCode::FOUND, [(LOCATION, "/v2/clock-here".to_owned())]).into_response();
        }
        if uri.path() == "/v2/clock-here" {
            let keyed = h.contains_key("apca-api-key-id");
            let body = format!(
                r#"{{"timestamp":"2026-01-05T15:00:00Z","is_open":{keyed},"next_open":"2026-01-06T14:30:00Z","next_close":"2026-01-05T21:00:00Z"}}"#
            );
            return (StatusCode::OK, body).into_response();
        }
        let to = format!("http://localhost:{}{}", other.port(), uri.path());
        (StatusCode::FOUND, [(LOCATION, to)]).into_response()
    }))
    .await;
    let config =
        AlpacaConfig::for_local(configured, "SENTINELKEYID", "sentinel-secret").expect("config");
    let client = AlpacaHttp::new(config, RequestBudget::per_second(1000, 1000)).expect("client");

    assert!(
        client.account().await.is_err(),
        "a cross-origin redirect is an error"
    );
    assert!(client.positions().await.is_err());
    let seen = seen.lock().expect("lock").clone();
    assert!(
        seen.is_empty(),
        "the other origin was reached (uri, got the keys): {seen:?}"
    );
    // A redirect within the configured origin is followed, keys included.
    let clock = client.clock().await.expect("same-origin redirect followed");
    assert!(
        clock.is_open,
        "the keys reached the configured origin after its own redirect"
    );
}
