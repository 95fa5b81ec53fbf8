//! What the HTTP server needs of the process configuration (which `crate::app` reads from
//! `WEAVER_*` variables): the listen address, the API key, the Host allow-list, the body
//! limit, the client IP allow-list, the header read timeout and the connection cap.
//!
//! # Invariants
//! - The API key is a secret: never logged, echoed in an error or returned.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

pub use super::guard::AllowedIps;

/// Default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Default largest accepted request body (strategy uploads; Python components are ~18 MB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 50 << 20;
/// Default longest wait for a request's headers (`WEAVER_HEADER_TIMEOUT_MS`).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest header read timeout an operator may set: a half-sent request is never held longer.
pub const MAX_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Default most connections served at once (`WEAVER_MAX_CONNECTIONS`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// How the API is served.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Listen address.
    pub bind: SocketAddr,
    /// When set, every route except `/healthz` needs `X-API-Key`.
    pub api_key: Option<SecretString>,
    /// Host header values accepted (without port, lowercase).
    pub allowed_hosts: Vec<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// When set, only these client addresses (and loopback) are served (`WEAVER_ALLOWED_IPS`).
    pub allowed_ips: Option<AllowedIps>,
    /// A connection whose request headers are not complete within this is closed.
    pub header_timeout: Duration,
    /// Connections served at once; past it new ones wait in the listen backlog.
    pub max_connections: usize,
}

/// `[::1]` → `::1`.
pub(crate) fn strip_brackets(h: &str) -> &str {
    h.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h)
}
