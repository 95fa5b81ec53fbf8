//! Alpaca REST transport: trading API v2 and market data v2 over reqwest (rustls), with the
//! request budget, 429 handling and order-outcome resolution by `client_order_id`.
//!
//! # Invariants
//! - Every request first takes a token from the shared [`RequestBudget`].
//! - A 429 is retried only after `X-RateLimit-Reset` (or 1 s when absent), and never for longer
//!   than [`AlpacaConfig::max_rate_limit_wait`] in total.
//! - `POST /v2/orders` is never re-sent blindly. After a timeout, lost connection, 5xx or an
//!   unreadable 2xx, the order is looked up by `client_order_id`; only when the venue has no such
//!   order is it sent again, with the *same* id, which the venue refuses as a duplicate (422) if
//!   the first attempt landed after all. A 422 duplicate resolves to the existing order.
//! - Keys are sent only in the two auth headers, marked sensitive; they never appear in errors or
//!   logs, and never follow a redirect to another origin (`http/redirect.rs`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::config::AlpacaConfig;
use super::{models, parse};
use crate::veda::rate_limit::RequestBudget;
use crate::veda::types::{
    Account, CalendarDay, MarketClock, OrderQuery, OrderRequest, OrderStatusFilter, VenueOrder,
    VenuePosition,
};
use crate::veda::{Error, Result, client_order_id};

mod market_data;
mod redirect;

pub use market_data::{BarsPage, BarsPageRequest};

/// Which REST host a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    Trading,
    Data,
}

/// How hard to try to learn the outcome of a submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvePolicy {
    /// Lookups by `client_order_id` after an unknown outcome before concluding "not received".
    pub lookups: u32,
    /// Pause between lookups (the venue may still be processing the lost request).
    pub lookup_delay: Duration,
    /// Most `POST /v2/orders` attempts (all with the same id).
    pub submit_attempts: u32,
}

impl Default for ResolvePolicy {
    fn default() -> Self {
        Self {
            lookups: 2,
            lookup_delay: Duration::from_millis(300),
            submit_attempts: 3,
        }
    }
}

/// A raw answer: status, headers we care about, body.
struct Answer {
    status: StatusCode,
    body: bytes::Bytes,
}

/// The Alpaca REST client. Cheap to clone (shared connection pool and budget).
#[derive(Clone)]
pub struct AlpacaHttp {
    client: reqwest::Client,
    config: Arc<AlpacaConfig>,
    budget: RequestBudget,
    policy: ResolvePolicy,
}

impl std::fmt::Debug for AlpacaHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlpacaHttp")
            .field("config", &self.config)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Installs rustls' ring provider as the process default (idempotent), for reqwest and
/// tokio-tungstenite alike.
pub(crate) fn install_crypto_provider() {
    // Err means a provider is already installed, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl AlpacaHttp {
    /// Builds a client for `config` drawing on `budget`.
    ///
    /// # Errors
    /// [`Error::Config`] when the keys are not valid header values or the TLS stack fails.
    pub fn new(config: AlpacaConfig, budget: RequestBudget) -> Result<Self> {
        install_crypto_provider();
        let mut headers = HeaderMap::new();
        for (name, secret) in [
            ("APCA-API-KEY-ID", &config.key_id),
            ("APCA-API-SECRET-KEY", &config.secret_key),
        ] {
            let mut value = HeaderValue::from_str(secret.expose_secret()).map_err(|_| {
                Error::Config(format!(
                    "{name} contains characters not allowed in an HTTP header"
                ))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("weaver/", env!("CARGO_PKG_VERSION")))
            .redirect(redirect::same_origin_only())
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client,
            config: Arc::new(config),
            budget,
            policy: ResolvePolicy::default(),
        })
    }

    /// Replaces the resolution policy (tests shorten the delays).
    pub fn with_policy(mut self, policy: ResolvePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The configuration (secrets redacted in `Debug`).
    pub fn config(&self) -> &AlpacaConfig {
        &self.config
    }

    fn url(&self, host: Host, segments: &[&str]) -> Url {
        let mut url = match host {
            Host::Trading => self.config.trading_url.clone(),
            Host::Data => self.config.data_url.clone(),
        };
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Sends one request, waiting out 429s. Transport failures come back as `Err(detail)`.
    async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        host: Host,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> std::result::Result<Answer, CallError> {
        let url = self.url(host, segments);
        let mut waited = Duration::ZERO;
        loop {
            self.budget.acquire().await;
            let mut request = self
                .client
                .request(method.clone(), url.clone())
                .query(query);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| CallError::Transport(describe(&e)))?;
            let status = response.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                let wait = rate_limit_wait(response.headers(), Utc::now());
                if waited + wait > self.config.max_rate_limit_wait {
                    return Err(CallError::RateLimited(waited));
                }
                tracing::warn!(
                    path = url.path(),
                    wait_ms = wait.as_millis() as u64,
                    "alpaca rate limit hit, waiting for reset"
                );
                tokio::time::sleep(wait).await;
                waited += wait;
                continue;
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| CallError::Transport(describe(&e)))?;
            return Ok(Answer { status, body });
        }
    }

    /// A call that changes nothing: every failure maps straight to an error.
    async fn get<T: DeserializeOwned>(
        &self,
        host: Host,
        segments: &[&str],
        query: &[(&str, String)],
        what: &str,
    ) -> Result<T> {
        let answer = self
            .call::<()>(Method::GET, host, segments, query, None)
            .await
            .map_err(CallError::into_error)?;
        decode(answer, what)
    }

    /// `GET /v2/account`.
    ///
    /// # Errors
    /// Transport, authentication or decoding failures.
    pub async fn account(&self) -> Result<Account> {
        let wire: models::Account = self
            .get(Host::Trading, &["v2", "account"], &[], "account")
            .await?;
        Ok(parse::account(&wire))
    }

    /// `GET /v2/positions`.
    ///
    /// # Errors
    /// As [`AlpacaHttp::account`].
    pub async fn positions(&self) -> Result<Vec<VenuePosition>> {
        let wire: Vec<models::Position> = self
            .get(Host::Trading, &["v2", "positions"], &[], "positions")
            .await?;
        wire.iter().map(parse::position).collect()
    }

    /// `GET /v2/positions/{symbol}`; `None` when there is no position.
    ///
    /// # Errors
    /// As [`AlpacaHttp::account`].
    pub async fn position(&self, symbol: &str) -> Result<Option<VenuePosition>> {
        let path_symbol = parse::path_symbol(symbol);
        match self
            .get::<models::Position>(
                Host::Trading,
                &["v2", "positions", &path_symbol],
                &[],
                "position",
            )
            .await
        {
            Ok(wire) => parse::position(&wire).map(Some),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /v2/assets?asset_class=…&status=active`.
    ///
    /// # Errors
    /// As [`AlpacaHttp::account`].
    pub async fn assets(&self, asset_class: &str) -> Result<Vec<models::Asset>> {
        let query = [
            ("status", "active".to_owned()),
            ("asset_class", asset_class.to_owned()),
        ];
        self.get(Host::Trading, &["v2", "assets"], &query, "assets")
            .await
    }

    /// `GET /v2/assets/{symbol}`.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown symbol, else as [`AlpacaHttp::account`].
    pub async fn asset(&self, symbol: &str) -> Result<models::Asset> {
        let path_symbol = parse::path_symbol(symbol);
        self.get(Host::Trading, &["v2", "assets", &path_symbol], &[], "asset")
            .await
    }

    /// `GET /v2/clock`.
    ///
    /// # Errors
    /// As [`AlpacaHttp::account`].
    pub async fn clock(&self) -> Result<MarketClock> {
        let wire: models::Clock = self
            .get(Host::Trading, &["v2", "clock"], &[], "clock")
            .await?;
        parse::clock(&wire)
    }

    /// `GET /v2/calendar?start=&end=`.
    ///
    /// # Errors
    /// As [`AlpacaHttp::account`].
    pub async fn calendar(&self, start: NaiveDate, end: NaiveDate) -> Result<Vec<CalendarDay>> {
        let query = [("start", start.to_string()), ("end", end.to_string())];
        let wire: Vec<models::CalendarDay> = self
            .get(Host::Trading, &["v2", "calendar"], &query, "calendar")
            .await?;
        wire.iter().map(parse::calendar_day).collect()
    }

    /// `GET /v2/orders/{id}`.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown id, else as [`AlpacaHttp::account`].
    pub async fn order(&self, order_id: &str) -> Result<VenueOrder> {
        let wire: models::Order = self
            .get(Host::Trading, &["v2", "orders", order_id], &[], "order")
            .await?;
        parse::order(&wire)
    }

    /// `GET /v2/orders:by_client_order_id`; `None` when the venue has no such order.
    ///
    /// # Errors
    /// As [`AlpacaHttp::account`].
    pub async fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<VenueOrder>> {
        let query = [("client_order_id", client_order_id.to_owned())];
        match self
            .get::<models::Order>(
                Host::Trading,
                &["v2", "orders:by_client_order_id"],
                &query,
                "order",
            )
            .await
        {
            Ok(wire) => parse::order(&wire).map(Some),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /v2/orders`, following pages (500 per page, oldest first, by submission time).
    ///
    /// # Errors
    /// As [`AlpacaHttp::account`].
    pub async fn orders(&self, query: &OrderQuery) -> Result<Vec<VenueOrder>> {
        const PAGE: usize = 500;
        let status = match query.status {
            OrderStatusFilter::Open => "open",
            OrderStatusFilter::Closed => "closed",
            OrderStatusFilter::All => "all",
        };
        let mut out: Vec<VenueOrder> = Vec::new();
        let mut after = query.after;
        loop {
            let mut params = vec![
                ("status", status.to_owned()),
                ("limit", PAGE.to_string()),
                ("direction", "asc".to_owned()),
                ("nested", "false".to_owned()),
            ];
            if let Some(after) = after {
                params.push(("after", after.to_rfc3339_opts(SecondsFormat::Nanos, true)));
            }
            if !query.symbols.is_empty() {
                params.push(("symbols", query.symbols.join(",")));
            }
            let wire: Vec<models::Order> = self
                .get(Host::Trading, &["v2", "orders"], &params, "orders")
                .await?;
            let page_len = wire.len();
            let page: Vec<VenueOrder> = wire.iter().map(parse::order).collect::<Result<_>>()?;
            let last_submitted = page
                .iter()
                .filter_map(|o| o.submitted_at.or(o.created_at))
                .max();
            for order in page {
                if !out.iter().any(|o| o.id == order.id) {
                    out.push(order);
                }
            }
            match last_submitted {
                // A full page: continue after the newest order seen.
                Some(last) if page_len >= PAGE && Some(last) != after => after = Some(last),
                _ => return Ok(out),
            }
        }
    }

    /// `DELETE /v2/orders/{id}` (204 when the cancel request is accepted).
    ///
    /// # Errors
    /// [`Error::NotFound`], or [`Error::Rejected`] when the order is no longer cancelable.
    pub async fn cancel_order(&self, order_id: &str) -> Result<()> {
        let answer = self
            .call::<()>(
                Method::DELETE,
                Host::Trading,
                &["v2", "orders", order_id],
                &[],
                None,
            )
            .await
            .map_err(CallError::into_error)?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(status_error(&answer))
        }
    }

    /// `PATCH /v2/orders/{id}`: returns the *new* order (the old one becomes `replaced`).
    ///
    /// # Errors
    /// [`Error::Rejected`] when the venue refuses; a transport failure leaves the outcome to the
    /// stream and reconciliation (the caller looks up `replaced_by`).
    pub async fn replace_order(
        &self,
        order_id: &str,
        change: &models::ReplaceOrder,
    ) -> Result<VenueOrder> {
        let answer = self
            .call(
                Method::PATCH,
                Host::Trading,
                &["v2", "orders", order_id],
                &[],
                Some(change),
            )
            .await
            .map_err(CallError::into_error)?;
        let wire: models::Order = decode(answer, "replaced order")?;
        parse::order(&wire)
    }

    /// `POST /v2/orders`, resolving every unknown outcome by `client_order_id` (see the module
    /// invariants).
    ///
    /// # Errors
    /// [`Error::Rejected`] (definitive), [`Error::Unauthorized`], [`Error::OutcomeUnknown`].
    pub async fn submit_order(&self, request: &OrderRequest) -> Result<VenueOrder> {
        let cid = &request.client_order_id;
        if !client_order_id::is_valid(cid) {
            return Err(Error::Config(format!("invalid client_order_id {cid:?}")));
        }
        let body = parse::new_order(request);
        let mut last_detail = String::new();
        for attempt in 1..=self.policy.submit_attempts.max(1) {
            let result = self
                .call(
                    Method::POST,
                    Host::Trading,
                    &["v2", "orders"],
                    &[],
                    Some(&body),
                )
                .await;
            let detail = match result {
                Ok(answer) if answer.status.is_success() => {
                    match serde_json::from_slice::<models::Order>(&answer.body)
                        .map_err(|e| e.to_string())
                        .and_then(|w| parse::order(&w).map_err(|e| e.to_string()))
                    {
                        Ok(order) => return Ok(order),
                        Err(e) => format!("accepted but the answer was unreadable: {e}"),
                    }
                }
                Ok(answer) if is_duplicate_client_order_id(&answer) => {
                    // A previous attempt (ours) landed: the existing order is the answer.
                    tracing::info!(client_order_id = %cid, "duplicate client_order_id; resolving to the existing order");
                    return match self.order_by_client_id(cid).await {
                        Ok(Some(order)) => Ok(order),
                        Ok(None) => Err(Error::OutcomeUnknown {
                            client_order_id: cid.clone(),
                            detail: "venue reports a duplicate but has no order with this id"
                                .into(),
                        }),
                        Err(e) => Err(Error::OutcomeUnknown {
                            client_order_id: cid.clone(),
                            detail: e.to_string(),
                        }),
                    };
                }
                Ok(answer) if answer.status.is_server_error() => {
                    format!("HTTP {}", answer.status.as_u16())
                }
                Ok(answer) => return Err(status_error(&answer)),
                Err(CallError::Transport(detail)) => detail,
                Err(CallError::RateLimited(waited)) => format!("rate limited for {waited:?}"),
            };
            tracing::warn!(client_order_id = %cid, attempt, detail = %detail, "order submit outcome unknown; resolving by client_order_id");
            last_detail = detail;
            match self.lookup_after_unknown(cid).await {
                Ok(Some(order)) => return Ok(order),
                // The venue has no such order: sending again with the same id is safe.
                Ok(None) => continue,
                Err(e) => {
                    return Err(Error::OutcomeUnknown {
                        client_order_id: cid.clone(),
                        detail: format!("{last_detail}; lookup failed: {e}"),
                    });
                }
            }
        }
        Err(Error::OutcomeUnknown {
            client_order_id: cid.clone(),
            detail: last_detail,
        })
    }

    async fn lookup_after_unknown(&self, cid: &str) -> Result<Option<VenueOrder>> {
        for i in 0..self.policy.lookups.max(1) {
            if i > 0 {
                tokio::time::sleep(self.policy.lookup_delay).await;
            }
            if let Some(order) = self.order_by_client_id(cid).await? {
                return Ok(Some(order));
            }
        }
        Ok(None)
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Why a call produced no answer.
enum CallError {
    /// Timeout, connection refused or lost, unreadable body: the request may or may not have
    /// been processed.
    Transport(String),
    /// 429 for longer than allowed.
    RateLimited(Duration),
}

impl CallError {
    fn into_error(self) -> Error {
        match self {
            CallError::Transport(detail) => Error::Transport { detail },
            CallError::RateLimited(waited) => Error::RateLimited { waited },
        }
    }
}

/// A transport error in words, without the URL's query (which may hold a client order id only,
/// never keys, but stays short).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "response body failed"
    } else if e.is_request() {
        "request failed (connection lost?)"
    } else {
        "transport error"
    };
    let path = e.url().map(|u| u.path().to_owned()).unwrap_or_default();
    format!("{kind} on {path}")
}

/// How long to wait after a 429: until `X-RateLimit-Reset` (unix seconds), plus a small margin.
fn rate_limit_wait(headers: &HeaderMap, now: DateTime<Utc>) -> Duration {
    let reset = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok());
    match reset {
        Some(reset) => {
            let now_s = now.timestamp_millis() as f64 / 1000.0;
            let wait = (reset - now_s).clamp(0.0, 600.0);
            Duration::from_secs_f64(wait) + Duration::from_millis(50)
        }
        None => Duration::from_secs(1),
    }
}

fn api_error(body: &[u8]) -> models::ApiError {
    serde_json::from_slice(body).unwrap_or_default()
}

fn is_duplicate_client_order_id(answer: &Answer) -> bool {
    if answer.status != StatusCode::UNPROCESSABLE_ENTITY {
        return false;
    }
    // Code 40010001 is also used for other validation errors ("qty is required"): the message
    // decides. Alpaca has written it with and without underscores.
    let message = api_error(&answer.body)
        .message
        .unwrap_or_default()
        .to_ascii_lowercase();
    message.contains("must be unique")
        && (message.contains("client_order_id") || message.contains("client order id"))
}

/// Maps a non-success answer to an error.
fn status_error(answer: &Answer) -> Error {
    let body = api_error(&answer.body);
    let message = body.message.clone().unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&answer.body);
        text.chars().take(200).collect()
    });
    let status = answer.status.as_u16();
    match answer.status {
        StatusCode::UNAUTHORIZED => Error::Unauthorized { status },
        // 403 without an error code is an authorization problem; with one, a trading rejection.
        StatusCode::FORBIDDEN
            if body.code.is_none() && message.eq_ignore_ascii_case("forbidden") =>
        {
            Error::Unauthorized { status }
        }
        StatusCode::NOT_FOUND => Error::NotFound { message },
        s if s.is_server_error() => Error::Transport {
            detail: format!("HTTP {status}: {message}"),
        },
        _ => Error::Rejected {
            status,
            code: body.code,
            message,
        },
    }
}

fn decode<T: DeserializeOwned>(answer: Answer, what: &str) -> Result<T> {
    if !answer.status.is_success() {
        return Err(status_error(&answer));
    }
    serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
        what: what.to_owned(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_wait_follows_reset_header() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("1700000002"));
        let wait = rate_limit_wait(&headers, now);
        assert!(
            wait >= Duration::from_secs(2) && wait < Duration::from_millis(2100),
            "{wait:?}"
        );
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("1699999990"));
        assert!(rate_limit_wait(&headers, now) < Duration::from_millis(100));
        assert_eq!(
            rate_limit_wait(&HeaderMap::new(), now),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn duplicate_detection_reads_the_message_not_just_the_code() {
        let answer = |status: u16, body: &str| Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
        };
        assert!(is_duplicate_client_order_id(&answer(
            422,
            r#"{"code":40010001,"message":"client_order_id must be unique"}"#
        )));
        assert!(is_duplicate_client_order_id(&answer(
            422,
            r#"{"message":"client order id must be unique"}"#
        )));
        assert!(!is_duplicate_client_order_id(&answer(
            422,
            r#"{"code":40010001,"message":"qty is required"}"#
        )));
        assert!(!is_duplicate_client_order_id(&answer(
            403,
            r#"{"message":"client_order_id must be unique"}"#
        )));
    }

    #[test]
    fn status_mapping() {
        let answer = |status: u16, body: &str| Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
        };
        assert_eq!(
            status_error(&answer(401, r#"{"message":"unauthorized"}"#)).code(),
            "venue_unauthorized"
        );
        assert_eq!(
            status_error(&answer(
                403,
                r#"{"code":40310000,"message":"insufficient buying power"}"#
            ))
            .code(),
            "venue_rejected"
        );
        assert_eq!(
            status_error(&answer(
                404,
                r#"{"code":40410000,"message":"order not found"}"#
            ))
            .code(),
            "venue_not_found"
        );
        assert_eq!(
            status_error(&answer(503, "<html>")).code(),
            "venue_unreachable"
        );
    }
}
