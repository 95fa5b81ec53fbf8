//! HTTP plumbing: extractors that answer in the error model, and the middleware stack
//! (correlation ids, error bodies, Host allow-list, API key, metrics).
//!
//! # Invariants
//! - Every non-2xx response leaves here as `{code, message, details, correlation_id}` with the
//!   same id in the `x-request-id` header.
//! - The API key is compared in constant time (over sha256 digests, so lengths leak nothing).
//! - `/healthz` and the dashboard's static files need no key; every API route does when a key
//!   is configured.

use std::time::Instant;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderValue, StatusCode, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::config::strip_brackets;
use super::error::{ApiError, ErrorBody, PendingError};
use crate::events::{Correlation, correlation};

/// The correlation header.
pub const REQUEST_ID: &str = "x-request-id";
/// The API key header.
pub(crate) const API_KEY: &str = "x-api-key";

/// `Json<T>` whose rejections answer in the error model.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(AppJson(v)),
            Err(r) => Err(json_rejection(r)),
        }
    }
}

/// [`AppJson`] for a body that may be left out: an empty body or JSON `null` is `None`;
/// anything else must be JSON of `T`, with the same errors as [`AppJson`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| match r.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::MalformedJson(r.body_text()),
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if !json {
            return Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/json".into(),
            ));
        }
        match axum::Json::<Option<T>>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(OptionalJson(v)),
            Err(r) => Err(json_rejection(r)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => ApiError::InvalidBody(e.body_text()),
        JsonRejection::JsonSyntaxError(e) => ApiError::MalformedJson(e.body_text()),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedMediaType("expected Content-Type: application/json".into())
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        other => ApiError::MalformedJson(other.body_text()),
    }
}

/// `Query<T>` whose rejections answer in the error model.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(AppQuery(v)),
            Err(r) => Err(ApiError::InvalidParam(query_text(&r))),
        }
    }
}

fn query_text(r: &QueryRejection) -> String {
    r.body_text()
}

/// A numeric id in the path; anything else is an unknown id (404), never a 500.
#[derive(Debug, Clone, Copy)]
pub struct IdPath(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(raw)) => match raw.parse::<i64>() {
                Ok(id) if id > 0 => Ok(IdPath(id)),
                _ => Err(ApiError::NotFound {
                    entity: "resource",
                    id: truncate(&raw, 64),
                }),
            },
            Err(r) => Err(path_rejection(&r)),
        }
    }
}

fn path_rejection(r: &PathRejection) -> ApiError {
    ApiError::InvalidParam(r.body_text())
}

/// Cuts user text echoed back in errors.
pub(crate) fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The correlation id of a request: its `x-request-id` (set by `SetRequestId` when absent).
fn correlation_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(|s| truncate(s, 128))
        .unwrap_or_default()
}

/// Turns every error response into the error model and stamps the correlation id; records HTTP
/// metrics. Runs inside `SetRequestId`, so the id is always present.
pub(crate) async fn finish_errors(req: Request, next: Next) -> Response {
    let corr = correlation_id(&req);
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let started = Instant::now();
    // Every event the request causes, here or in work it starts, carries its id and trace id.
    let traceparent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let correlation = Correlation::new(corr.clone(), traceparent.as_deref());
    let resp = correlation::scope(Some(correlation), next.run(req)).await;
    let status = resp.status();
    metrics::counter!("weaver_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.as_u16().to_string()).increment(1);
    metrics::histogram!("weaver_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    if status.is_success() || status.is_redirection() || status.is_informational() {
        return resp;
    }
    let pending = match resp.extensions().get::<PendingError>() {
        Some(p) => p.clone(),
        None => {
            // An error produced outside the handlers (body limit, 405, a layer): map by status.
            let e = ApiError::for_status(status);
            PendingError {
                code: e.code(),
                message: e.to_string(),
                details: serde_json::Value::Null,
            }
        }
    };
    let body = ErrorBody {
        code: pending.code.to_owned(),
        message: pending.message,
        details: pending.details,
        correlation_id: corr.clone(),
    };
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&corr) {
        parts.headers.insert(REQUEST_ID, v);
    }
    let json = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(json))
}

/// Refuses Host headers outside the allow-list (DNS rebinding). A request without Host (HTTP/1.0)
/// cannot come from a rebinding browser and is let through.
pub(crate) async fn check_host(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(h) = req.headers().get(HOST) {
        let host = h.to_str().unwrap_or("").to_ascii_lowercase();
        let name = host_without_port(&host);
        if !state.inner.config.allowed_hosts.iter().any(|a| a == name) {
            return ApiError::HostNotAllowed.into_response();
        }
    }
    next.run(req).await
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [v6]:port
        let end = host.find(']').map_or(host.len(), |i| i + 1);
        return strip_brackets(&host[..end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) && !name.contains(':') => {
            name
        }
        _ => host,
    }
}

/// Requires `X-API-Key` on every API route but `/healthz` when a key is configured.
pub(crate) async fn check_api_key(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let Some(key) = &state.inner.config.api_key else {
        return next.run(req).await;
    };
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    // The dashboard's files are public (the app asks for the key itself); a request an API
    // route matched carries its MatchedPath and never takes this branch.
    if req.extensions().get::<MatchedPath>().is_none()
        && super::dashboard::is_public(req.method(), req.uri().path(), req.headers())
    {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(API_KEY)
        .map(|v| v.as_bytes())
        .unwrap_or(b"");
    let want = Sha256::digest(key.expose_secret().as_bytes());
    let got = Sha256::digest(given);
    if bool::from(want[..].ct_eq(&got[..])) && !given.is_empty() {
        next.run(req).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::host_without_port;

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_without_port("localhost:8080"), "localhost");
        assert_eq!(host_without_port("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_without_port("[::1]:8080"), "::1");
        assert_eq!(host_without_port("::1"), "::1");
        assert_eq!(host_without_port("evil.example:80"), "evil.example");
    }
}

/// The fields of a `multipart/form-data` body that a route reads, by name; other fields are
/// read and dropped.
#[derive(Debug, Default)]
pub struct MultipartFields {
    fields: std::collections::BTreeMap<&'static str, axum::body::Bytes>,
}

impl MultipartFields {
    /// Reads the whole body, keeping the fields named in `wanted` (the last one wins when a
    /// name repeats).
    ///
    /// # Errors
    /// [`ApiError::InvalidBody`] for a malformed body, [`ApiError::PayloadTooLarge`] past the
    /// body limit.
    pub async fn read(req: Request, wanted: &[&'static str]) -> Result<Self, ApiError> {
        let too_large_or = |status: StatusCode, text: String| {
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidBody(text)
            }
        };
        let mut mp = axum::extract::Multipart::from_request(req, &())
            .await
            .map_err(|r| ApiError::InvalidBody(r.body_text()))?;
        let mut fields = std::collections::BTreeMap::new();
        loop {
            let field = match mp.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Err(too_large_or(e.status(), e.body_text())),
            };
            let name = field.name().unwrap_or("").to_owned();
            let data = field
                .bytes()
                .await
                .map_err(|e| too_large_or(e.status(), e.body_text()))?;
            if let Some(key) = wanted.iter().find(|w| **w == name) {
                fields.insert(*key, data);
            }
        }
        Ok(MultipartFields { fields })
    }

    /// A field as UTF-8 text, when sent.
    ///
    /// # Errors
    /// [`ApiError::InvalidBody`] when it is not UTF-8.
    pub fn text(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        self.fields
            .remove(name)
            .map(|b| {
                String::from_utf8(b.to_vec())
                    .map_err(|_| ApiError::InvalidBody(format!("field `{name}` is not UTF-8")))
            })
            .transpose()
    }

    /// A field's bytes, which must have been sent.
    ///
    /// # Errors
    /// [`ApiError::InvalidBody`] naming the missing field.
    pub fn required(&mut self, name: &str) -> Result<axum::body::Bytes, ApiError> {
        self.fields
            .remove(name)
            .ok_or_else(|| ApiError::InvalidBody(format!("multipart field `{name}` is required")))
    }
}
