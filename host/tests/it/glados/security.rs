//! The holes the security audit found, each reproduced and refused: cross-site requests without
//! a key (CSRF), framing, unbounded echo of bad values, backtest amounts out of range, the client
//! IP allow-list, half-sent headers and the connection cap, live trading behind a trailing dot.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use weaver::app::{App, Config};
use weaver::glados;
use weaver::walle::Walle;

use super::{KEY, app, get, send};
use crate::support::{dist, post_json, weaver};

/// A state-changing request as a browser sends it, with these extra headers.
fn browser_post(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::post(uri)
        .header("host", "127.0.0.1:8080")
        .header("content-type", "text/plain");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Body::from("x")).expect("request")
}

#[tokio::test]
async fn cross_site_state_changes_are_refused_with_or_without_a_key() {
    for key in [None, Some(KEY)] {
        let (r, _s, _d) = app(key).await;
        let with_key = |mut h: Vec<(&'static str, &'static str)>| {
            if key.is_some() {
                h.push(("x-api-key", KEY));
            }
            h
        };
        // What the audit sent: a foreign page's form posts (no preflight needed).
        for headers in [
            vec![("origin", "https://evil.example")],
            vec![("origin", "null")],
            vec![("sec-fetch-site", "cross-site")],
            vec![
                ("sec-fetch-site", "same-site"),
                ("origin", "http://127.0.0.1:3000"),
            ],
            vec![("origin", "http://127.0.0.1:3000")],
        ] {
            for uri in ["/runs/1/stop", "/strategies?name=csrf", "/trading-state"] {
                let resp = send(&r, browser_post(uri, &with_key(headers.clone()))).await;
                assert_eq!(resp.status, StatusCode::FORBIDDEN, "{uri} {headers:?}");
                assert_eq!(resp.error_code(), "cross_site_refused", "{uri} {headers:?}");
            }
        }
        let mut delete = Request::delete("/strategies/1")
            .header("host", "127.0.0.1:8080")
            .header("origin", "https://evil.example");
        if key.is_some() {
            delete = delete.header("x-api-key", KEY);
        }
        let delete = send(&r, delete.body(Body::empty()).expect("request")).await;
        assert_eq!(delete.status, StatusCode::FORBIDDEN);
        assert_eq!(delete.error_code(), "cross_site_refused");

        // The dashboard's own requests, and requests that are not a browser's, pass the check
        // (and meet the route, which refuses the text body or the unknown run).
        for headers in [
            vec![],
            vec![
                ("sec-fetch-site", "same-origin"),
                ("origin", "http://127.0.0.1:8080"),
            ],
            vec![("sec-fetch-site", "none")],
            vec![("origin", "http://127.0.0.1:8080")],
        ] {
            let resp = send(&r, browser_post("/runs/1/stop", &with_key(headers.clone()))).await;
            assert_ne!(resp.status, StatusCode::FORBIDDEN, "{headers:?}");
            assert!(
                resp.status.is_client_error(),
                "{headers:?}: {}",
                resp.status
            );
        }
        // Reads are never refused as cross-site.
        let mut read = Request::get("/strategies")
            .header("host", "127.0.0.1:8080")
            .header("sec-fetch-site", "cross-site")
            .header("origin", "https://evil.example");
        if key.is_some() {
            read = read.header("x-api-key", KEY);
        }
        let read = send(&r, read.body(Body::empty()).expect("request")).await;
        assert_eq!(read.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn every_response_forbids_framing_and_sniffing() {
    let (r, _s, _d) = app(None).await;
    let shell = Request::get("/")
        .header("host", "localhost:8080")
        .header("accept", "text/html")
        .body(Body::empty())
        .expect("request");
    for resp in [
        send(&r, shell).await,
        send(&r, get("/healthz")).await,
        send(&r, get("/no-such-route")).await,
    ] {
        let h = |name: &str| {
            resp.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(h("x-frame-options"), "DENY");
        assert_eq!(h("x-content-type-options"), "nosniff");
        let csp = h("content-security-policy");
        for part in [
            "frame-ancestors 'none'",
            "default-src 'self'",
            "script-src 'self'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(part), "{part} missing from {csp:?}");
        }
        let script = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap_or_default();
        assert!(!script.contains("unsafe"), "{csp}");
    }
}

#[tokio::test]
async fn errors_quote_a_bounded_prefix_of_a_bad_value() {
    let (r, _s, _d) = app(None).await;
    let long = "Z".repeat(500_000);
    // A parser's message (`invalid timeframe "…"`), serde's (unknown variant `…`) and a query.
    let cases = [
        post_json(
            "/candles/synth",
            format!(r#"{{"symbol": "SYN", "timeframe": "{long}", "bars": 10}}"#),
        ),
        post_json(
            "/backtests",
            format!(
                r#"{{"strategy": 1, "symbols": ["S"], "timeframe": "1Min", "fill": "{long}"}}"#
            ),
        ),
        post_json(
            "/backtests",
            format!(r#"{{"strategy": 1, "symbols": ["S"], "timeframe": "1Min", "{long}": 1}}"#),
        ),
        get(&format!(
            "/candles?symbol=SYN&timeframe={}",
            &long[..20_000]
        )),
    ];
    for req in cases {
        let uri = req.uri().path().to_owned();
        let resp = send(&r, req).await;
        assert!(resp.status.is_client_error(), "{uri}: {}", resp.status);
        resp.error_code();
        assert!(
            resp.body.len() < 2_000,
            "{uri}: a {} byte error body",
            resp.body.len()
        );
        let text = String::from_utf8_lossy(&resp.body);
        assert!(!text.contains(&"Z".repeat(101)), "{uri}: {text}");
        assert!(
            text.contains(&"Z".repeat(100)),
            "{uri}: quotes a prefix: {text}"
        );
        assert!(
            text.contains("chars)"),
            "{uri}: says how long it was: {text}"
        );
    }
}

#[tokio::test]
async fn backtest_amounts_out_of_range_are_refused_naming_the_field() {
    let (r, s, _d) = app(None).await;
    let sample = Request::post("/candles/sample")
        .header("host", "localhost")
        .body(Body::empty())
        .expect("request");
    assert!(send(&r, sample).await.status.is_success());
    let wasm = std::fs::read(dist("sma-cross.wasm")).expect("component");
    let up = Request::post("/strategies?name=sma-cross")
        .header("host", "localhost")
        .header("content-type", "application/wasm")
        .body(Body::from(wasm))
        .expect("request");
    assert_eq!(send(&r, up).await.status, StatusCode::ACCEPTED);
    tokio::time::timeout(Duration::from_secs(120), s.idle())
        .await
        .expect("compiled");
    let body = |extra: &str| {
        format!(
            r#"{{"strategy": "sma-cross", "symbols": ["SAMPLE"], "timeframe": "1Day", {extra}}}"#
        )
    };
    for (extra, field) in [
        (r#""cash": 1e308"#, "cash"),
        (r#""cash": 1e13"#, "cash"),
        (r#""cash": -5"#, "cash"),
        (r#""cash": 0"#, "cash"),
        (r#""commission": 1.5"#, "commission"),
        (r#""commission": -0.1"#, "commission"),
    ] {
        let resp = send(&r, post_json("/backtests", body(extra))).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{extra}");
        assert_eq!(resp.error_code(), "invalid_backtest", "{extra}");
        let message = resp.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.starts_with(field), "{extra}: {message}");
    }
    // In range: accepted.
    let ok = send(&r, post_json("/backtests", body(r#""cash": 1e12"#))).await;
    assert!(
        ok.status.is_success(),
        "{}",
        String::from_utf8_lossy(&ok.body)
    );
    assert_eq!(
        send(&r, get("/backtests"))
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(1),
        "refused backtests store nothing"
    );
}

/// An app serving only `10.0.0.0/8` and `2001:db8::/32`.
async fn app_with_ip_list() -> (axum::Router, App, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    config.allowed_ips = Some("10.0.0.0/8, 2001:db8::/32".parse().expect("list"));
    let walle = Walle::connect(&config.db).await.expect("sqlite store");
    let app = App::new(config, walle).expect("app");
    (glados::router(app.state()), app, dir)
}

fn from(peer: Option<&str>, uri: &str) -> Request<Body> {
    let mut req = get(uri);
    if let Some(p) = peer {
        let addr: SocketAddr = p.parse().expect("socket address");
        req.extensions_mut().insert(ConnectInfo(addr));
    }
    req
}

#[tokio::test]
async fn clients_outside_the_ip_allow_list_are_refused_and_counted() {
    let (r, _s, _d) = app_with_ip_list().await;
    for peer in [
        "10.1.2.3:5000",
        "[2001:db8::7]:5000",
        "127.0.0.1:5000",
        "[::ffff:10.9.9.9]:1",
    ] {
        let resp = send(&r, from(Some(peer), "/strategies")).await;
        assert_eq!(resp.status, StatusCode::OK, "{peer}");
    }
    for peer in [Some("192.168.1.20:5000"), Some("[2001:db9::1]:5000"), None] {
        for uri in ["/healthz", "/strategies", "/"] {
            let resp = send(&r, from(peer, uri)).await;
            assert_eq!(resp.status, StatusCode::FORBIDDEN, "{peer:?} {uri}");
            assert_eq!(resp.error_code(), "ip_not_allowed", "{peer:?} {uri}");
        }
    }
    let metrics = send(&r, from(Some("10.0.0.1:1"), "/metrics")).await;
    let text = String::from_utf8_lossy(&metrics.body);
    let refused = text
        .lines()
        .find(|l| {
            l.starts_with("weaver_http_refused_total") && l.contains("code=\"ip_not_allowed\"")
        })
        .unwrap_or_else(|| panic!("no refusal counter in /metrics:\n{text}"));
    let count: f64 = refused
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number");
    assert!(count >= 9.0, "{refused}");
}

/// `glados::server::serve` on a local port with `timeout` and `cap`; returns the address.
async fn serve_local(timeout: Duration, cap: usize) -> (SocketAddr, tempfile::TempDir) {
    let (r, s, dir) = app(None).await;
    let mut http = Config::for_tests(dir.path()).http();
    http.header_timeout = timeout;
    http.max_connections = cap;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _app = s;
        glados::server::serve(listener, r, &http, std::future::pending()).await;
    });
    (addr, dir)
}

/// Reads until the server closes the connection or `limit` passes; true when it closed.
fn closed_within(conn: &mut TcpStream, limit: Duration) -> bool {
    conn.set_read_timeout(Some(limit)).expect("timeout");
    let mut buf = [0u8; 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {} // a 408 first is fine
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_headers_are_dropped_after_the_header_timeout() {
    let (addr, _d) = serve_local(Duration::from_millis(500), 64).await;
    let closed = tokio::task::spawn_blocking(move || {
        let mut conn = TcpStream::connect(addr).expect("connect");
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .expect("write");
        let started = Instant::now();
        let closed = closed_within(&mut conn, Duration::from_secs(10));
        (closed, started.elapsed())
    })
    .await
    .expect("reader");
    assert!(closed.0, "a half-sent request is still held after 10 s");
    assert!(
        closed.1 < Duration::from_secs(5),
        "closed only after {:?}",
        closed.1
    );
    // A whole request on a fresh connection is answered.
    let ok = tokio::task::spawn_blocking(move || {
        let mut conn = TcpStream::connect(addr).expect("connect");
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut text = String::new();
        let _ = conn.read_to_string(&mut text);
        text
    })
    .await
    .expect("client");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_for_a_free_one() {
    let (addr, _d) = serve_local(Duration::from_secs(2), 1).await;
    let answered = tokio::task::spawn_blocking(move || {
        // The one connection allowed, holding its slot with a half-sent request.
        let mut first = TcpStream::connect(addr).expect("connect");
        first
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .expect("write");
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        let mut second = TcpStream::connect(addr).expect("connect (backlog)");
        second
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut text = String::new();
        second
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let _ = second.read_to_string(&mut text);
        (text, started.elapsed())
    })
    .await
    .expect("client");
    assert!(answered.0.starts_with("HTTP/1.1 200"), "{}", answered.0);
    // Served only once the first connection's header timeout freed the slot.
    assert!(
        answered.1 >= Duration::from_millis(1_500),
        "answered after {:?}: the cap did not hold",
        answered.1
    );
}

#[test]
fn live_trading_behind_a_trailing_dot_still_needs_the_opt_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    for url in [
        "https://api.alpaca.markets.",
        "https://API.ALPACA.MARKETS",
        "https://api.alpaca.markets:443",
        "https://user@api.alpaca.markets",
    ] {
        let mut child = weaver()
            .args(["serve"])
            .env("WEAVER_BIND", "127.0.0.1:0")
            .env("WEAVER_DATA_DIR", dir.path())
            .env("WEAVER_SAMPLE_DATA", "off")
            .env("APCA_API_KEY_ID", "k")
            .env("APCA_API_SECRET_KEY", "s")
            .env("APCA_API_BASE_URL", url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runs");
        // A refused configuration exits at once; a server that took it keeps running.
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().expect("status").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{url}: weaver serve started without the live opt-in");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("output");
        assert!(
            !out.status.success(),
            "{url}: served without the live opt-in"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("WEAVER_ALPACA_LIVE"), "{url}: {err}");
    }
}

#[test]
fn network_settings_parse_and_bad_ones_are_all_reported() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let defaults = Config::from_vars(vars(&[])).expect("defaults");
    assert_eq!(defaults.header_timeout, Duration::from_secs(10));
    assert_eq!(defaults.max_connections, 1024);
    assert!(defaults.allowed_ips.is_none());
    let set = Config::from_vars(vars(&[
        (
            "WEAVER_ALLOWED_IPS",
            "10.0.0.0/8, 2001:db8::/32,192.168.1.7",
        ),
        ("WEAVER_HEADER_TIMEOUT_MS", "500"),
        ("WEAVER_MAX_CONNECTIONS", "8"),
    ]))
    .expect("valid");
    let http = set.http();
    assert_eq!(http.header_timeout, Duration::from_millis(500));
    assert_eq!(http.max_connections, 8);
    let ips = http.allowed_ips.expect("a list");
    assert!(ips.allows("10.9.8.7".parse().expect("ip")));
    assert!(!ips.allows("192.168.1.8".parse().expect("ip")));
    let err = Config::from_vars(vars(&[
        ("WEAVER_ALLOWED_IPS", "10.0.0.0/33"),
        ("WEAVER_HEADER_TIMEOUT_MS", "40000"),
        ("WEAVER_MAX_CONNECTIONS", "0"),
    ]))
    .expect_err("refused");
    assert_eq!(err.0.len(), 3, "{err}");
    for name in [
        "WEAVER_ALLOWED_IPS",
        "WEAVER_HEADER_TIMEOUT_MS",
        "WEAVER_MAX_CONNECTIONS",
    ] {
        assert!(err.to_string().contains(name), "{err}");
    }
}
