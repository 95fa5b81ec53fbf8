//! Haro, the web dashboard, served from the `weaver` binary: the files of `haro/dist` (built by
//! `scripts/build-haro.sh`) at `/`, with a single-page-app fallback so client-side routes
//! (`/ui/runs/3`, …) survive a reload.
//!
//! Release builds embed the files (rust-embed); debug builds read them from `haro/dist` on disk,
//! so a `vite build` shows up without recompiling. Without a built dashboard the binary still
//! builds, and `/` answers a short page that says how to build it.
//!
//! The build writes a `.br` and a `.gz` beside every file (haro/vite.config.ts); a client that
//! accepts brotli or gzip gets that file as it is, with `Content-Encoding`, so nothing is
//! compressed per request (and the API's compression layer leaves such responses alone).
//!
//! # Invariants
//! - This is only the router's fallback: a path an API route matches never gets here, so the API
//!   and its JSON errors are unchanged. A request the dashboard does not serve (not a GET/HEAD,
//!   not a file, not asking for HTML) still answers the JSON `route_not_found`.
//! - [`is_public`] is exactly the set of requests [`serve`] answers with a file or the app shell;
//!   only those skip the API key (the app asks for the key itself), every API route still needs it.
//! - Hashed files under `assets/` are cached forever; `index.html` is never cached, so a new
//!   build is picked up on the next load.
//! - A precompressed variant is served only to a client whose `Accept-Encoding` accepts it
//!   (brotli first), always with `Vary: Accept-Encoding` and the original file's media type.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{
    ACCEPT, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

use super::error::ApiError;

/// The built dashboard (`haro/dist`).
#[derive(Embed)]
#[folder = "../haro/dist/"]
#[allow_missing = true]
struct Dist;

/// The app shell every client-side route is answered with.
const INDEX: &str = "index.html";

/// Shown at `/` when the binary was built (or, in debug, runs) without a built dashboard.
const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<link rel=\"icon\" href=\"data:,\"><title>Weaver</title></head><body>\
<h1>Weaver</h1><p>The API is running, but the dashboard (Haro) was not built.</p>\
<p>Build it with <code>scripts/build-haro.sh</code> (then rebuild a release binary), or start \
everything with <code>scripts/run.sh</code>.</p>\
<p>The API is documented at <a href=\"/openapi.json\">/openapi.json</a>.</p></body></html>";

/// What the fallback does with a request.
enum Answer {
    /// A file of the build (path inside `dist`).
    File(String),
    /// The app shell (or the how-to-build page when there is none).
    Shell,
    /// Not the dashboard's: the API's JSON 404.
    NotFound,
}

fn classify(method: &Method, path: &str, headers: &HeaderMap) -> Answer {
    if method != Method::GET && method != Method::HEAD {
        return Answer::NotFound;
    }
    let file = path.trim_start_matches('/');
    if !file.is_empty() && file != INDEX && Dist::get(file).is_some() {
        return Answer::File(file.to_owned());
    }
    if file.is_empty() || file == INDEX || accepts_html(headers) {
        return Answer::Shell;
    }
    Answer::NotFound
}

/// Browsers navigating send `Accept: text/html,…`; `fetch` and API clients do not.
fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

/// True when [`serve`] answers this request with a dashboard file or the app shell, which need
/// no API key. Only meaningful for requests no API route matched.
pub(crate) fn is_public(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    !matches!(classify(method, path, headers), Answer::NotFound)
}

/// True when this binary has a built dashboard to serve.
pub fn is_built() -> bool {
    Dist::get(INDEX).is_some()
}

/// The router's fallback: dashboard files, the app shell for client-side routes, or the API's
/// JSON 404.
pub(crate) async fn serve(req: Request) -> Response {
    let enc = accepted(req.headers());
    match classify(req.method(), req.uri().path(), req.headers()) {
        Answer::File(path) => file(&path, enc),
        Answer::Shell => shell(enc),
        Answer::NotFound => ApiError::RouteNotFound.into_response(),
    }
}

/// The encodings of the precompressed files, in order of preference: (token, file suffix).
const ENCODINGS: [(&str, &str); 2] = [("br", ".br"), ("gzip", ".gz")];

/// Which precompressed encodings the client accepts (`Accept-Encoding`, `q=0` refusing one).
fn accepted(headers: &HeaderMap) -> [bool; 2] {
    let mut ok = [false; 2];
    for v in headers.get_all(ACCEPT_ENCODING).iter() {
        let Ok(v) = v.to_str() else { continue };
        for item in v.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            for (i, (token, _)) in ENCODINGS.iter().enumerate() {
                if name == *token || name == "*" {
                    ok[i] = !refused;
                }
            }
        }
    }
    ok
}

/// A file of the build, or its precompressed variant when the client accepts one; its bytes
/// and the encoding they are in.
fn variant(path: &str, enc: [bool; 2]) -> Option<(Vec<u8>, Option<&'static str>)> {
    for (i, (token, suffix)) in ENCODINGS.iter().enumerate() {
        if enc[i]
            && let Some(f) = Dist::get(&format!("{path}{suffix}"))
        {
            return Some((f.data.into_owned(), Some(token)));
        }
    }
    Dist::get(path).map(|f| (f.data.into_owned(), None))
}

fn file(path: &str, enc: [bool; 2]) -> Response {
    let Some(f) = Dist::get(path) else {
        return ApiError::RouteNotFound.into_response();
    };
    let mime = f.metadata.mimetype().to_owned();
    // Vite puts a content hash in every name under assets/: such a file never changes.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let (data, encoding) = variant(path, enc).unwrap_or((f.data.into_owned(), None));
    encoded(with_headers(Body::from(data), &mime, cache), encoding)
}

fn shell(enc: [bool; 2]) -> Response {
    match variant(INDEX, enc) {
        Some((data, encoding)) => encoded(
            with_headers(Body::from(data), "text/html; charset=utf-8", "no-cache"),
            encoding,
        ),
        None => with_headers(
            Body::from(NOT_BUILT),
            "text/html; charset=utf-8",
            "no-cache",
        ),
    }
}

/// Marks a response as varying by `Accept-Encoding`, and encoded when it is.
fn encoded(mut resp: Response, encoding: Option<&'static str>) -> Response {
    let h = resp.headers_mut();
    h.insert(VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(e) = encoding {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static(e));
    }
    resp
}

fn with_headers(body: Body, mime: &str, cache: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime) {
        h.insert(CONTENT_TYPE, v);
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_static("text/html,*/*;q=0.8"));
        h
    }

    #[test]
    fn only_get_and_head_are_the_dashboards() {
        assert!(is_public(&Method::GET, "/", &HeaderMap::new()));
        assert!(is_public(&Method::HEAD, "/ui/runs/3", &html()));
        assert!(!is_public(&Method::POST, "/", &html()));
        assert!(!is_public(&Method::DELETE, "/ui/runs", &html()));
    }

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        let enc = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(ACCEPT_ENCODING, HeaderValue::from_str(v).expect("ascii"));
            accepted(&h)
        };
        assert_eq!(accepted(&HeaderMap::new()), [false, false]);
        assert_eq!(enc("gzip, deflate, br, zstd"), [true, true]);
        assert_eq!(enc("gzip"), [false, true]);
        assert_eq!(enc("br;q=1.0, gzip;q=0"), [true, false]);
        assert_eq!(enc("*"), [true, true]);
        assert_eq!(enc("identity"), [false, false]);
    }

    #[test]
    fn unknown_paths_are_the_shell_only_for_browsers() {
        assert!(is_public(&Method::GET, "/ui/backtests/1", &html()));
        assert!(!is_public(
            &Method::GET,
            "/no-such-route",
            &HeaderMap::new()
        ));
        let mut json = HeaderMap::new();
        json.insert(ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!is_public(&Method::GET, "/no-such-route", &json));
    }
}
