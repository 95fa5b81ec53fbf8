//! Who may change state through the API: browsers only from the server's own origin (a foreign
//! web page cannot stop runs or upload strategies through the user's browser), and, when
//! `WEAVER_ALLOWED_IPS` is set, only clients whose address is in the list.
//!
//! A state-changing request (any method but GET, HEAD and OPTIONS) is cross-site when the browser
//! says so (`Sec-Fetch-Site: cross-site` or `same-site`) or, from a browser that sends no
//! `Sec-Fetch-Site`, when its `Origin` is not the origin the request was sent to (its `Host`).
//! Requests with neither header are not browser requests (curl, scripts, the CLI) and pass; so
//! do the dashboard's own (`same-origin`, or a matching `Origin`). The check applies with and
//! without an API key: a page cannot make a browser send `X-API-Key` cross-site, so it costs
//! nothing with a key and is the only defence without one.
//!
//! # Invariants
//! - A refused request answers 403 in the error model (`cross_site_refused`,
//!   `ip_not_allowed`) before any handler runs, and is counted in
//!   `weaver_http_refused_total{code}`.
//! - GET, HEAD and OPTIONS are never refused as cross-site: they change nothing.
//! - With an allow-list, a request whose peer address is unknown is refused (fail closed);
//!   loopback clients (this machine: health checks, a local proxy) are always served.
//! - `Origin: null` and an unparsable `Origin` count as foreign.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use super::AppState;
use super::error::ApiError;

/// The Fetch Metadata header browsers send with every request.
const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// `WEAVER_ALLOWED_IPS`: the client networks the API serves (besides loopback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedIps(Vec<IpNet>);

/// A `WEAVER_ALLOWED_IPS` entry that is neither an address nor a CIDR network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "WEAVER_ALLOWED_IPS entry {0:?} is not an IP address or CIDR network (e.g. 10.0.0.0/8, 2001:db8::/32, 192.168.1.7)"
)]
pub struct AllowedIpsError(pub String);

impl FromStr for AllowedIps {
    type Err = AllowedIpsError;

    /// A comma-separated list of networks (`10.0.0.0/8`) and single addresses (`192.168.1.7`,
    /// `::1`); IPv4 and IPv6.
    fn from_str(list: &str) -> Result<AllowedIps, AllowedIpsError> {
        let mut nets = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| AllowedIpsError(entry.chars().take(64).collect()))?;
            nets.push(net.trunc());
        }
        if nets.is_empty() {
            return Err(AllowedIpsError(list.chars().take(64).collect()));
        }
        Ok(AllowedIps(nets))
    }
}

impl AllowedIps {
    /// True when `ip` may use the API: loopback, or inside one of the networks. An IPv4 client
    /// seen on an IPv6 socket (`::ffff:10.1.2.3`) counts as its IPv4 address.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_loopback() || self.0.iter().any(|n| n.contains(&ip))
    }

    /// The networks, as configured (normalised).
    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }
}

fn refuse(e: ApiError) -> Response {
    metrics::counter!("weaver_http_refused_total", "code" => e.code()).increment(1);
    e.into_response()
}

/// Serves only clients in `WEAVER_ALLOWED_IPS` (when set); others get 403 `ip_not_allowed`.
pub(crate) async fn check_client_ip(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let Some(allowed) = &state.inner.config.allowed_ips else {
        return next.run(req).await;
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match peer {
        Some(ip) if allowed.allows(ip) => next.run(req).await,
        _ => refuse(ApiError::IpNotAllowed),
    }
}

/// Refuses state-changing requests a browser sends from another site (see the module docs).
pub(crate) async fn check_cross_site(req: Request, next: Next) -> Response {
    if is_cross_site(req.method(), req.headers()) {
        return refuse(ApiError::CrossSiteRefused);
    }
    next.run(req).await
}

/// True when a browser sent this state-changing request from a page of another origin.
pub(crate) fn is_cross_site(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let text = |name| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("\u{0}").trim().to_ascii_lowercase())
    };
    match text(SEC_FETCH_SITE).as_deref() {
        Some("same-origin" | "none") => return false,
        Some("cross-site" | "same-site") => return true,
        // Absent or a value this server does not know: the Origin decides.
        _ => {}
    }
    match text(ORIGIN.as_str()) {
        None => false,
        Some(origin) => !same_origin(&origin, text(HOST.as_str()).as_deref()),
    }
}

/// True when `origin` (`scheme://host[:port]`) is the origin a request with this `Host` was
/// sent to. A `Host` without a port (a proxy such as nginx's `$host` drops it) is compared by
/// name only; with a port, the port must be the origin's (its scheme's default when absent).
fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else {
        // Every browser sends Host; an Origin without one is nobody's own page.
        return false;
    };
    let Ok(url) = url::Url::parse(origin) else {
        return false; // `null` (sandboxed frames, some redirects) and garbage
    };
    let Some(origin_host) = url.host_str() else {
        return false;
    };
    let (host_name, host_port) = split_host(host);
    if normal_name(origin_host) != normal_name(host_name) {
        return false;
    }
    match host_port {
        None => true,
        Some(port) => url.port_or_known_default() == Some(port),
    }
}

/// `name[:port]` or `[v6][:port]` → (name, port). An unparsable port keeps it in the name, so
/// the comparison fails.
fn split_host(host: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host.strip_prefix('[') {
        let Some((name, after)) = rest.split_once(']') else {
            return (host, None);
        };
        return match after.strip_prefix(':') {
            Some(p) => match p.parse() {
                Ok(port) => (name, Some(port)),
                Err(_) => (host, None),
            },
            None if after.is_empty() => (name, None),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, p)) if !name.contains(':') => match p.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => (host, None),
        },
        _ => (host, None),
    }
}

/// Lowercase, without IPv6 brackets and one trailing dot.
fn normal_name(name: &str) -> String {
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn fetch_metadata_decides_first() {
        let post = Method::POST;
        for site in ["cross-site", "same-site", "Cross-Site"] {
            let h = headers(&[("sec-fetch-site", site), ("host", "127.0.0.1:8080")]);
            assert!(is_cross_site(&post, &h), "{site}");
        }
        for site in ["same-origin", "none"] {
            // Even with an Origin that does not match: the browser's own word counts.
            let h = headers(&[
                ("sec-fetch-site", site),
                ("origin", "http://localhost:5173"),
                ("host", "localhost:8080"),
            ]);
            assert!(!is_cross_site(&post, &h), "{site}");
        }
    }

    #[test]
    fn origin_is_compared_with_host_when_there_is_no_fetch_metadata() {
        let cases = [
            ("http://127.0.0.1:8080", "127.0.0.1:8080", false),
            ("http://LOCALHOST:8080", "localhost:8080", false),
            ("http://[::1]:8080", "[::1]:8080", false),
            ("https://weaver.example", "weaver.example", false),
            ("https://weaver.example", "weaver.example:443", false),
            ("http://weaver.example:8081", "weaver.example", false),
            ("https://evil.example", "127.0.0.1:8080", true),
            ("http://localhost:3000", "localhost:8080", true),
            ("http://127.0.0.1", "127.0.0.1:8080", true),
            ("null", "127.0.0.1:8080", true),
            ("not a url", "127.0.0.1:8080", true),
        ];
        for (origin, host, cross) in cases {
            let mut h = HeaderMap::new();
            h.insert("origin", HeaderValue::from_str(origin).unwrap());
            h.insert("host", HeaderValue::from_str(host).unwrap());
            assert_eq!(
                is_cross_site(&Method::POST, &h),
                cross,
                "{origin} to {host}"
            );
        }
        // An Origin without a Host.
        assert!(is_cross_site(
            &Method::DELETE,
            &headers(&[("origin", "http://127.0.0.1:8080")])
        ));
    }

    #[test]
    fn reads_and_non_browser_requests_pass() {
        let foreign = headers(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
        ]);
        for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(!is_cross_site(&m, &foreign), "{m}");
        }
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(!is_cross_site(&m, &headers(&[("host", "127.0.0.1:8080")])));
            assert!(is_cross_site(&m, &foreign), "{m}");
        }
    }

    #[test]
    fn allow_lists_parse_and_match_v4_v6_and_mapped_addresses() {
        let list: AllowedIps = " 10.0.0.0/8, 192.168.1.7 ,2001:db8::/32".parse().unwrap();
        assert_eq!(list.networks().len(), 3);
        let ok = |s: &str| list.allows(s.parse().unwrap());
        assert!(ok("10.20.30.40"));
        assert!(ok("192.168.1.7"));
        assert!(!ok("192.168.1.8"));
        assert!(ok("2001:db8::1"));
        assert!(!ok("2001:db9::1"));
        assert!(ok("::ffff:10.1.2.3"), "IPv4 on an IPv6 socket");
        assert!(!ok("::ffff:11.1.2.3"));
        assert!(ok("127.0.0.1") && ok("::1"), "loopback is always served");
        for bad in ["", " , ", "10.0.0.0/33", "example.com", "10.0.0.1/8x"] {
            assert!(bad.parse::<AllowedIps>().is_err(), "{bad:?}");
        }
    }
}
