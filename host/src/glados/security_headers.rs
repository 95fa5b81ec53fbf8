//! Response headers that keep the dashboard out of other sites' frames and pin down what its
//! pages may load: `Content-Security-Policy` ([`CSP`]), `X-Frame-Options: DENY`,
//! `X-Content-Type-Options: nosniff` and `Referrer-Policy: same-origin`, on every response
//! (the dashboard's files and the API's JSON alike; on JSON they change nothing).
//!
//! The policy fits the built dashboard (Vite): one module script and stylesheets under
//! `/assets/`, no inline script or `<style>` element, the `data:` favicon, requests and the
//! event stream to the same origin. The charts (lightweight-charts) set `style` attributes, which
//! need `'unsafe-inline'` in `style-src`; `style-src-elem` still refuses inline `<style>`
//! elements where browsers know the directive, but for the one the charts add for TradingView's
//! attribution logo, allowed by its hash (lightweight-charts 5.2.1; a new version with another
//! style fails the dashboard's browser test with a CSP error in the console). `haro/nginx.conf` sends the
//! same policy when nginx serves the files.
//!
//! # Invariants
//! - `frame-ancestors 'none'` and `X-Frame-Options: DENY`: no page of any origin can frame Weaver.
//! - No `'unsafe-inline'` or `'unsafe-eval'` for scripts; `'unsafe-inline'` for style
//!   attributes only.
//! - A header a handler set itself is kept (`if_not_present`).

use axum::http::{HeaderName, HeaderValue};
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower_http::set_header::SetResponseHeaderLayer;

/// The dashboard's Content Security Policy.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; style-src-elem 'self' 'sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY='; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One of the headers, set on responses that lack it.
type SetHeader = SetResponseHeaderLayer<HeaderValue>;

/// The layer that sets the headers above on every response.
pub(crate) type Layer = ServiceBuilder<
    Stack<SetHeader, Stack<SetHeader, Stack<SetHeader, Stack<SetHeader, Identity>>>>,
>;

/// The headers above, as one layer for the router.
pub(crate) fn layer() -> Layer {
    let set = |name: &'static str, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        )
    };
    ServiceBuilder::new()
        .layer(set("content-security-policy", CSP))
        .layer(set("x-frame-options", "DENY"))
        .layer(set("x-content-type-options", "nosniff"))
        .layer(set("referrer-policy", "same-origin"))
}
