//! What the HTTP server needs of the process configuration (which `crate::app` reads from
//! `WEAVER_*` variables): the listen address, the API key, the Host allow-list and the body
//! limit.
//!
//! # Invariants
//! - The API key is a secret: never logged, echoed in an error or returned.

use std::net::SocketAddr;

use secrecy::SecretString;

/// Default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Default largest accepted request body (strategy uploads; Python components are ~18 MB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 50 << 20;

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
}

/// `[::1]` → `::1`.
pub(crate) fn strip_brackets(h: &str) -> &str {
    h.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h)
}
