//! A faithful local fake of Alpaca: trading REST v2, market data v2, the `trade_updates` stream and
//! the market-data stream, shaped by the official OpenAPI specs and `docs/architecture.md#alpaca`,
//! with fault injection for tests. Also served by `weaver fake-alpaca --bind 127.0.0.1:PORT`.
//!
//! What it does like Alpaca: both auth headers required (401 `{"message":"unauthorized"}`),
//! money as strings, RFC 3339 timestamps with nanoseconds, 422 `40010001 client_order_id must be
//! unique` (forever, also after cancel), 403 `40310000 insufficient buying power`, 404
//! `40410000`, sub-penny and crypto time-in-force validation, replace creating a new order,
//! cancel → 204 then `pending_cancel`/`canceled` events, `X-RateLimit-*` headers on every answer
//! and an optional 200/min limit answering 429, positions named `BTCUSD`, bars keyed by symbol
//! with `limit` across symbols and `next_page_token`, daily bars at New York midnight, stock
//! volume integer / crypto volume float, `trade_updates` in **binary** frames with both auth
//! message forms and **one connection per account** (a second upgrade gets 429 until the first
//! is gone or reaped), market-data auth/subscribe with error codes 401/402/406.
//!
//! Faults ([`Fault`]): 429 storms, 5xx before acceptance, acceptance followed by a 5xx or by a
//! response slower than the client's timeout, dropped sockets and silent sockets (which keep
//! their connection slot until reaped, as Alpaca's do).
//!
//! # Invariants
//! - All state sits behind one mutex never held across an `.await`.
//! - Every REST answer (with its route template) is recorded when recording is on, so a test can
//!   check each one against the spec.

mod market;
mod state;
mod ws;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Path, Query, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::dec;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use market::ny_offset;
pub use state::FakeOrder;

use crate::domain::{Bar, Timeframe};
use state::{Book, Event};

/// An instrument the fake trades.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeAsset {
    /// Asset id (UUID).
    pub id: String,
    /// Canonical symbol (`AAPL`, `BTC/USD`).
    pub symbol: String,
    /// `us_equity` or `crypto`.
    pub class: String,
    /// Exchange (`NASDAQ`; `CRYPTO` for crypto, as Alpaca answers though the spec's enum lacks it).
    pub exchange: String,
    /// Name.
    pub name: String,
    /// Starting price (market orders fill here until bars or fills move it).
    pub price: Decimal,
    /// Fractional orders allowed.
    pub fractionable: bool,
}

impl FakeAsset {
    /// An asset with a deterministic id derived from its symbol.
    pub fn new(symbol: &str, class: &str, exchange: &str, price: Decimal) -> Self {
        Self {
            id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, symbol.as_bytes()).to_string(),
            symbol: symbol.to_owned(),
            class: class.to_owned(),
            exchange: exchange.to_owned(),
            name: format!("{symbol} (fake)"),
            price,
            fractionable: true,
        }
    }
}

/// How the fake behaves. `Debug` hides the keys (they may come from the environment).
#[derive(Clone)]
pub struct FakeConfig {
    /// Key id clients must send.
    pub key_id: String,
    /// Secret clients must send.
    pub secret_key: String,
    /// Starting cash.
    pub initial_cash: Decimal,
    /// Tradable assets.
    pub assets: Vec<FakeAsset>,
    /// Requests per minute before 429 (`None`: unlimited; Alpaca: 200).
    pub rate_limit_per_minute: Option<u32>,
    /// Market orders fill at the last price on arrival.
    pub fill_market_orders: bool,
    /// How long a silent (or abandoned) `trade_updates` socket keeps its slot.
    pub stale_socket_after: Duration,
    /// Force the clock open or closed (`None`: weekdays 09:30–16:00 New York).
    pub market_open: Option<bool>,
    /// Synthetic 1-minute bars per asset, ending now (for `weaver fake-alpaca`).
    pub seed_minutes: u32,
    /// Record every REST answer for [`FakeAlpaca::responses`].
    pub record_responses: bool,
}

impl std::fmt::Debug for FakeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeConfig")
            .field("key_id", &"[REDACTED]")
            .field("secret_key", &"[REDACTED]")
            .field("initial_cash", &self.initial_cash)
            .field("assets", &self.assets.len())
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("fill_market_orders", &self.fill_market_orders)
            .field("stale_socket_after", &self.stale_socket_after)
            .finish_non_exhaustive()
    }
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            key_id: "FAKEKEYID".to_owned(),
            secret_key: "FAKESECRET".to_owned(),
            initial_cash: dec!(100000),
            assets: vec![
                FakeAsset::new("AAPL", "us_equity", "NASDAQ", dec!(190)),
                FakeAsset::new("MSFT", "us_equity", "NASDAQ", dec!(410)),
                FakeAsset::new("SPY", "us_equity", "ARCA", dec!(500)),
                FakeAsset::new("BTC/USD", "crypto", "CRYPTO", dec!(60000)),
                FakeAsset::new("ETH/USD", "crypto", "CRYPTO", dec!(3000)),
            ],
            rate_limit_per_minute: None,
            fill_market_orders: true,
            stale_socket_after: Duration::from_secs(90),
            market_open: None,
            seed_minutes: 0,
            record_responses: true,
        }
    }
}

/// A fault to inject; each applies to the next `requests` matching requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Every REST request answers 429 with `X-RateLimit-Reset` `reset_after` from now.
    RateLimitStorm {
        /// How many requests.
        requests: u32,
        /// When the limit resets.
        reset_after: Duration,
    },
    /// `POST /v2/orders` answers this 5xx without creating the order.
    ServerError {
        /// How many requests.
        requests: u32,
        /// The status (500, 502, 503, 504).
        status: u16,
    },
    /// Every `GET` answers this 5xx (reads, including lookups by client order id, fail).
    ReadServerError {
        /// How many requests.
        requests: u32,
        /// The status (500, 502, 503, 504).
        status: u16,
    },
    /// `POST /v2/orders` creates the order, then answers 500 (a gateway failing after the fact).
    AcceptThenServerError {
        /// How many requests.
        requests: u32,
    },
    /// `POST /v2/orders` creates the order, then answers only after `delay` (beyond the
    /// client's timeout).
    AcceptThenTimeout {
        /// How many requests.
        requests: u32,
        /// Delay before answering.
        delay: Duration,
    },
}

/// One recorded REST answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedResponse {
    /// Method.
    pub method: String,
    /// Route template (`/v2/orders/{order_id}`).
    pub route: String,
    /// Status.
    pub status: u16,
    /// `X-RateLimit-*` headers present and integer.
    pub rate_limit_headers: bool,
    /// The JSON body (`None` when empty).
    pub body: Option<Value>,
    /// When the request arrived.
    pub at: DateTime<Utc>,
    /// The `X-RateLimit-Reset` header sent (unix seconds).
    pub rate_limit_reset: Option<i64>,
}

/// Commands to live sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SocketCommand {
    /// Close the TCP connection now, without a close frame.
    Drop,
    /// Stop reading and writing; keep the slot until reaped.
    Silence,
}

struct Faults {
    list: Vec<Fault>,
}

impl Faults {
    /// Takes one use of the first fault matching `pick`.
    fn take<T>(&mut self, mut pick: impl FnMut(&Fault) -> Option<T>) -> Option<T> {
        let pos = self.list.iter().position(|f| pick(f).is_some())?;
        let out = pick(&self.list[pos]);
        let remove = match &mut self.list[pos] {
            Fault::RateLimitStorm { requests, .. }
            | Fault::ServerError { requests, .. }
            | Fault::ReadServerError { requests, .. }
            | Fault::AcceptThenServerError { requests }
            | Fault::AcceptThenTimeout { requests, .. } => {
                *requests = requests.saturating_sub(1);
                *requests == 0
            }
        };
        if remove {
            self.list.remove(pos);
        }
        out
    }
}

struct Inner {
    book: Book,
    faults: Faults,
    window_start: DateTime<Utc>,
    window_count: u32,
    post_order_requests: u64,
    recorded: Vec<RecordedResponse>,
    trade_slot: Option<u64>,
    data_slots: std::collections::HashSet<String>,
    next_conn: u64,
}

/// Shared state of a running fake.
pub(crate) struct Shared {
    config: FakeConfig,
    inner: Mutex<Inner>,
    trade_events: broadcast::Sender<Value>,
    bar_events: broadcast::Sender<(String, Value)>,
    sockets: broadcast::Sender<SocketCommand>,
    /// `POST /v2/orders` requests so far, for waiters ([`FakeAlpaca::order_requests`]).
    order_requests: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the book consistent, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, events: Vec<Event>) {
        for event in events {
            // No listener is fine: Alpaca does not buffer events for absent clients either.
            let _ = self.trade_events.send(event.message);
        }
    }
}

/// A running fake Alpaca on a local port. Dropping it stops the server.
pub struct FakeAlpaca {
    shared: Arc<Shared>,
    addr: SocketAddr,
    cancel: CancellationToken,
}

impl std::fmt::Debug for FakeAlpaca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAlpaca")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeAlpaca {
    /// Starts a fake on `127.0.0.1` with a free port.
    ///
    /// # Errors
    /// When no local port can be bound.
    pub async fn start(config: FakeConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        Self::start_on(listener, config)
    }

    /// Starts a fake on an already bound listener.
    ///
    /// # Errors
    /// When the listener's address cannot be read.
    pub fn start_on(listener: TcpListener, config: FakeConfig) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let shared = new_shared(config);
        let cancel = CancellationToken::new();
        let app = router(shared.clone());
        let stop = cancel.clone();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "fake alpaca server failed");
            }
        });
        Ok(Self {
            shared,
            addr,
            cancel,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A client configuration pointing at this fake with its keys.
    ///
    /// # Errors
    /// Never in practice (a bound address always forms a URL).
    pub fn client_config(&self) -> crate::veda::Result<crate::veda::alpaca::AlpacaConfig> {
        crate::veda::alpaca::AlpacaConfig::for_local(
            self.addr,
            &self.shared.config.key_id,
            &self.shared.config.secret_key,
        )
    }

    /// Injects a fault.
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.list.push(fault);
    }

    /// How many `POST /v2/orders` requests arrived (including refused ones).
    pub fn post_order_requests(&self) -> u64 {
        self.shared.lock().post_order_requests
    }

    /// Watches the number of `POST /v2/orders` requests: wait for an order to arrive without
    /// polling (benchmarks measure the moment it does).
    pub fn order_requests(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.order_requests.subscribe()
    }

    /// Every order, in creation order.
    pub fn orders(&self) -> Vec<FakeOrder> {
        self.shared.lock().book.orders.clone()
    }

    /// Cash balance.
    pub fn cash(&self) -> Decimal {
        self.shared.lock().book.cash
    }

    /// Signed position in a symbol (zero when flat).
    pub fn position(&self, symbol: &str) -> Decimal {
        let inner = self.shared.lock();
        let canonical = inner
            .book
            .asset(symbol)
            .map_or_else(|| symbol.to_owned(), |a| a.symbol.clone());
        inner
            .book
            .positions
            .get(&canonical)
            .map_or(Decimal::ZERO, |p| p.qty)
    }

    /// Sets a position directly, as if traded outside Weaver.
    pub fn set_position(&self, symbol: &str, qty: Decimal, avg_entry_price: Decimal) {
        self.shared
            .lock()
            .book
            .set_position(symbol, qty, avg_entry_price);
    }

    /// Sets the last price of a symbol.
    pub fn set_price(&self, symbol: &str, price: Decimal) {
        let mut inner = self.shared.lock();
        let canonical = inner
            .book
            .asset(symbol)
            .map_or_else(|| symbol.to_owned(), |a| a.symbol.clone());
        inner.book.prices.insert(canonical, price);
    }

    /// Fills `qty` of an open order at `price`, pushing the trade update.
    ///
    /// Returns false when the order is unknown or not open.
    pub fn fill_order(&self, order_id: &str, qty: Decimal, price: Decimal) -> bool {
        let events = {
            let mut inner = self.shared.lock();
            let Some(index) = inner.book.index_of(order_id) else {
                return false;
            };
            inner.book.fill(index, qty, price, Utc::now())
        };
        let filled = !events.is_empty();
        self.shared.publish(events);
        filled
    }

    /// Creates an order as if placed outside Weaver (the web UI, another bot).
    ///
    /// # Errors
    /// Alpaca's refusal (status, body).
    pub fn place_external_order(&self, body: Value) -> Result<FakeOrder, (u16, Value)> {
        let (order, events) = self.shared.lock().book.create_order(&body, Utc::now())?;
        self.shared.publish(events);
        Ok(order)
    }

    /// Stores historical 1-minute bars for a symbol.
    pub fn insert_bars(&self, symbol: &str, bars: &[Bar]) {
        self.shared.lock().book.insert_bars(symbol, bars);
    }

    /// Stores a bar and pushes it to market-data subscribers.
    pub fn push_bar(&self, symbol: &str, bar: Bar) {
        let (canonical, crypto) = {
            let mut inner = self.shared.lock();
            inner.book.insert_bars(symbol, &[bar]);
            let asset = inner.book.asset(symbol);
            (
                asset.map_or_else(|| symbol.to_owned(), |a| a.symbol.clone()),
                asset.is_some_and(|a| a.class == "crypto"),
            )
        };
        let mut message = Book::bar_json(&bar, crypto);
        if let Value::Object(map) = &mut message {
            map.insert("T".into(), json!("b"));
            map.insert("S".into(), json!(canonical));
        }
        let _ = self.shared.bar_events.send((canonical, message));
    }

    /// Closes every live websocket abruptly (no close frame).
    pub fn drop_streams(&self) {
        let _ = self.shared.sockets.send(SocketCommand::Drop);
    }

    /// Makes every live websocket silent: nothing is read or sent (not even pongs) until the
    /// socket is reaped after `stale_socket_after`.
    pub fn silence_streams(&self) {
        let _ = self.shared.sockets.send(SocketCommand::Silence);
    }

    /// True while a `trade_updates` connection holds the account's slot.
    pub fn trade_stream_connected(&self) -> bool {
        self.shared.lock().trade_slot.is_some()
    }

    /// Every REST answer recorded so far.
    pub fn responses(&self) -> Vec<RecordedResponse> {
        self.shared.lock().recorded.clone()
    }

    /// Stops the server.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

impl Drop for FakeAlpaca {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn new_shared(config: FakeConfig) -> Arc<Shared> {
    let mut book = Book::new(&config);
    if config.seed_minutes > 0 {
        seed_bars(&mut book, &config);
    }
    let (trade_events, _) = broadcast::channel(4096);
    let (bar_events, _) = broadcast::channel(4096);
    let (sockets, _) = broadcast::channel(16);
    Arc::new(Shared {
        inner: Mutex::new(Inner {
            book,
            faults: Faults { list: Vec::new() },
            window_start: Utc::now(),
            window_count: 0,
            post_order_requests: 0,
            recorded: Vec::new(),
            trade_slot: None,
            data_slots: std::collections::HashSet::new(),
            next_conn: 0,
        }),
        config,
        trade_events,
        bar_events,
        order_requests: tokio::sync::watch::Sender::new(0),
        sockets,
    })
}

/// Deterministic random-walk minute bars per asset, ending at the current minute.
fn seed_bars(book: &mut Book, config: &FakeConfig) {
    let end = Utc::now().timestamp_millis() / 60_000 * 60_000;
    for (i, asset) in config.assets.iter().enumerate() {
        let mut price = asset.price.to_string().parse::<f64>().unwrap_or(100.0);
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1);
        let n = i64::from(config.seed_minutes);
        let bars: Vec<Bar> = (0..n)
            .map(|k| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let step = ((state % 2001) as f64 - 1000.0) / 1000.0 * 0.001;
                let open = price;
                price *= 1.0 + step;
                let ts = end - (n - 1 - k) * 60_000;
                Bar {
                    ts,
                    open,
                    high: open.max(price) * 1.0005,
                    low: open.min(price) * 0.9995,
                    close: price,
                    volume: 100.0 + (state % 900) as f64,
                }
            })
            .collect();
        book.insert_bars(&asset.symbol, &bars);
    }
}

/// The fake's routes: REST behind auth, rate limiting and recording; websockets beside them.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let rest = Router::new()
        .route("/v2/account", get(account))
        .route(
            "/v2/orders",
            get(list_orders).post(create_order).delete(cancel_all),
        )
        .route("/v2/orders:by_client_order_id", get(order_by_cid))
        .route(
            "/v2/orders/{order_id}",
            get(get_order).patch(replace_order).delete(cancel_order),
        )
        .route("/v2/positions", get(positions))
        .route("/v2/positions/{symbol_or_asset_id}", get(position))
        .route("/v2/assets", get(assets))
        .route("/v2/assets/{symbol_or_asset_id}", get(asset))
        .route("/v2/clock", get(clock))
        .route("/v2/calendar", get(calendar))
        .route("/v2/stocks/bars", get(stock_bars))
        .route("/v2/stocks/bars/latest", get(stock_latest_bars))
        .route("/v1beta3/crypto/{loc}/bars", get(crypto_bars))
        .route("/v1beta3/crypto/{loc}/latest/bars", get(crypto_latest_bars))
        .route_layer(middleware::from_fn_with_state(shared.clone(), gateway))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"code": 40410000, "message": "endpoint not found"})),
            )
        });
    let streams = Router::new()
        .route("/stream", get(ws::trade_updates))
        .route("/v2/{feed}", get(ws::market_data))
        .route("/v1beta3/crypto/{loc}", get(ws::market_data));
    streams.merge(rest).with_state(shared)
}

/// Serves a fake until `shutdown` resolves (the `weaver fake-alpaca` command).
///
/// # Errors
/// When serving fails.
pub async fn serve(
    listener: TcpListener,
    config: FakeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(new_shared(config));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

type Answer = (StatusCode, Value);

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn reply((code, body): Answer) -> Response {
    (code, axum::Json(body)).into_response()
}

fn refusal((code, body): (u16, Value)) -> Response {
    reply((status(code), body))
}

/// Auth, rate limit, headers and recording around every REST route.
async fn gateway(AxState(shared): AxState<Arc<Shared>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |p| p.as_str().to_owned());
    let method = request.method().clone();
    let headers = request.headers();
    let authorized = header_is(headers, "apca-api-key-id", &shared.config.key_id)
        && header_is(headers, "apca-api-secret-key", &shared.config.secret_key);
    let now = Utc::now();
    let limit = shared.config.rate_limit_per_minute.unwrap_or(200);
    let (limited, remaining, reset, read_error) = {
        let mut inner = shared.lock();
        let read_error = if method == axum::http::Method::GET {
            inner.faults.take(|f| match f {
                Fault::ReadServerError { status, .. } => Some(*status),
                _ => None,
            })
        } else {
            None
        };
        if (now - inner.window_start).num_seconds() >= 60 {
            inner.window_start = now;
            inner.window_count = 0;
        }
        inner.window_count += 1;
        let window_reset = inner.window_start.timestamp() + 60;
        let storm = inner.faults.take(|f| match f {
            Fault::RateLimitStorm { reset_after, .. } => Some(*reset_after),
            _ => None,
        });
        let over = shared
            .config
            .rate_limit_per_minute
            .is_some_and(|l| inner.window_count > l);
        match storm {
            Some(after) => {
                let reset_at = now + chrono::Duration::from_std(after).unwrap_or_default();
                // Round up: the header has whole seconds and must not promise an early reset.
                let secs = reset_at.timestamp() + i64::from(reset_at.timestamp_subsec_nanos() > 0);
                (true, 0, secs, read_error)
            }
            None => (
                over,
                limit.saturating_sub(inner.window_count),
                window_reset,
                read_error,
            ),
        }
    };
    let mut response = if !authorized {
        reply((StatusCode::UNAUTHORIZED, json!({"message": "unauthorized"})))
    } else if limited {
        reply((
            StatusCode::TOO_MANY_REQUESTS,
            json!({"message": "too many requests"}),
        ))
    } else if let Some(code) = read_error {
        reply((
            status(code),
            json!({"code": u32::from(code) * 100_000, "message": "internal server error"}),
        ))
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    if !shared.config.record_responses {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let json = if bytes.is_empty() {
        None
    } else {
        serde_json::from_slice(&bytes).ok()
    };
    let rate_limit_headers = [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ]
    .iter()
    .all(|h| {
        parts
            .headers
            .get(*h)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.parse::<i64>().is_ok())
    });
    shared.lock().recorded.push(RecordedResponse {
        method: method.to_string(),
        route,
        status: parts.status.as_u16(),
        rate_limit_headers,
        body: json,
        at: now,
        rate_limit_reset: parts
            .headers
            .get("x-ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
    });
    Response::from_parts(parts, Body::from(bytes))
}

fn header_is(headers: &HeaderMap, name: &str, expected: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

async fn account(AxState(shared): AxState<Arc<Shared>>) -> Response {
    reply((StatusCode::OK, shared.lock().book.account_json()))
}

async fn create_order(AxState(shared): AxState<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    enum After {
        Answer,
        ServerError,
        Delay(Duration),
    }
    let (result, after) = {
        let mut inner = shared.lock();
        inner.post_order_requests += 1;
        shared
            .order_requests
            .send_replace(inner.post_order_requests);
        if let Some(code) = inner.faults.take(|f| match f {
            Fault::ServerError { status, .. } => Some(*status),
            _ => None,
        }) {
            return reply((
                status(code),
                json!({"code": u32::from(code) * 100_000, "message": "internal server error"}),
            ));
        }
        let Ok(body) = serde_json::from_slice::<Value>(&body) else {
            return refusal((
                422,
                json!({"code": 40010000, "message": "request body format is invalid"}),
            ));
        };
        let after = inner
            .faults
            .take(|f| match f {
                Fault::AcceptThenServerError { .. } => Some(After::ServerError),
                Fault::AcceptThenTimeout { delay, .. } => Some(After::Delay(*delay)),
                _ => None,
            })
            .unwrap_or(After::Answer);
        (inner.book.create_order(&body, Utc::now()), after)
    };
    match result {
        Err(refused) => refusal(refused),
        Ok((order, events)) => {
            shared.publish(events);
            match after {
                After::Answer => reply((StatusCode::OK, order.to_json())),
                After::ServerError => reply((
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"code": 50010000, "message": "internal server error"}),
                )),
                After::Delay(delay) => {
                    tokio::time::sleep(delay).await;
                    reply((StatusCode::OK, order.to_json()))
                }
            }
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct OrdersQuery {
    status: Option<String>,
    limit: Option<String>,
    after: Option<String>,
    until: Option<String>,
    direction: Option<String>,
    symbols: Option<String>,
}

fn parse_time(text: &Option<String>) -> Result<Option<DateTime<Utc>>, String> {
    match text.as_deref() {
        None | Some("") => Ok(None),
        Some(t) => crate::veda::alpaca::parse::timestamp(Some(t))
            .or_else(|| {
                NaiveDate::parse_from_str(t, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|d| d.and_utc())
            })
            .map(Some)
            .ok_or_else(|| format!("invalid timestamp {t}")),
    }
}

async fn list_orders(
    AxState(shared): AxState<Arc<Shared>>,
    Query(q): Query<OrdersQuery>,
) -> Response {
    let limit = match q.limit.as_deref().map(str::parse::<usize>) {
        None => 50,
        Some(Ok(l)) if (1..=500).contains(&l) => l,
        Some(_) => {
            return refusal((
                422,
                json!({"code": 40010001, "message": "limit must be between 1 and 500"}),
            ));
        }
    };
    let (after, until) = match (parse_time(&q.after), parse_time(&q.until)) {
        (Ok(a), Ok(u)) => (a, u),
        (Err(message), _) | (_, Err(message)) => {
            return refusal((422, json!({"code": 40010001, "message": message})));
        }
    };
    let symbols: Vec<String> = q
        .symbols
        .as_deref()
        .map(|s| {
            s.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.trim().to_ascii_uppercase().replace('/', ""))
                .collect()
        })
        .unwrap_or_default();
    let inner = shared.lock();
    let mut orders: Vec<&FakeOrder> = inner
        .book
        .orders
        .iter()
        .filter(|o| match q.status.as_deref().unwrap_or("open") {
            "open" => o.is_open(),
            "closed" => !o.is_open(),
            _ => true,
        })
        .filter(|o| {
            after.is_none_or(|a| o.created_at > a) && until.is_none_or(|u| o.created_at < u)
        })
        .filter(|o| symbols.is_empty() || symbols.contains(&o.symbol.replace('/', "")))
        .collect();
    if q.direction.as_deref() != Some("asc") {
        orders.reverse();
    }
    let list: Vec<Value> = orders
        .into_iter()
        .take(limit)
        .map(FakeOrder::to_json)
        .collect();
    reply((StatusCode::OK, Value::Array(list)))
}

fn not_found() -> Response {
    refusal((404, json!({"code": 40410000, "message": "order not found"})))
}

async fn get_order(AxState(shared): AxState<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match shared.lock().book.order(&id) {
        Some(o) => reply((StatusCode::OK, o.to_json())),
        None => not_found(),
    }
}

#[derive(serde::Deserialize)]
struct CidQuery {
    client_order_id: Option<String>,
}

async fn order_by_cid(
    AxState(shared): AxState<Arc<Shared>>,
    Query(q): Query<CidQuery>,
) -> Response {
    let Some(cid) = q.client_order_id else {
        return refusal((
            422,
            json!({"code": 40010001, "message": "client_order_id is required"}),
        ));
    };
    match shared.lock().book.order_by_cid(&cid) {
        Some(o) => reply((StatusCode::OK, o.to_json())),
        None => not_found(),
    }
}

async fn cancel_order(AxState(shared): AxState<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let result = shared.lock().book.cancel(&id, Utc::now());
    match result {
        Ok(events) => {
            shared.publish(events);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => refusal(r),
    }
}

async fn cancel_all(AxState(shared): AxState<Arc<Shared>>) -> Response {
    let (results, events) = {
        let mut inner = shared.lock();
        let ids: Vec<String> = inner
            .book
            .orders
            .iter()
            .filter(|o| o.is_open())
            .map(|o| o.id.clone())
            .collect();
        let mut results = Vec::new();
        let mut events = Vec::new();
        for id in ids {
            match inner.book.cancel(&id, Utc::now()) {
                Ok(e) => {
                    events.extend(e);
                    results.push(json!({"id": id, "status": 200}));
                }
                Err((code, body)) => results.push(json!({"id": id, "status": code, "body": body})),
            }
        }
        (results, events)
    };
    shared.publish(events);
    reply((StatusCode::MULTI_STATUS, Value::Array(results)))
}

async fn replace_order(
    AxState(shared): AxState<Arc<Shared>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return refusal((
            422,
            json!({"code": 40010000, "message": "request body format is invalid"}),
        ));
    };
    let result = shared.lock().book.replace(&id, &body, Utc::now());
    match result {
        Ok((order, events)) => {
            shared.publish(events);
            reply((StatusCode::OK, order.to_json()))
        }
        Err(r) => refusal(r),
    }
}

async fn positions(AxState(shared): AxState<Arc<Shared>>) -> Response {
    let inner = shared.lock();
    let list: Vec<Value> = inner
        .book
        .positions
        .iter()
        .map(|(s, p)| inner.book.position_json(s, p))
        .collect();
    reply((StatusCode::OK, Value::Array(list)))
}

async fn position(AxState(shared): AxState<Arc<Shared>>, Path(symbol): Path<String>) -> Response {
    let inner = shared.lock();
    // `BTC/USD` never reaches here (two path segments); `BTC%2FUSD` decodes to it and, as at
    // Alpaca, positions are found by `BTCUSD` or asset id only.
    let found = if symbol.contains('/') {
        None
    } else {
        inner.book.asset(&symbol).and_then(|a| {
            inner
                .book
                .positions
                .get(&a.symbol)
                .map(|p| (a.symbol.clone(), *p))
        })
    };
    match found {
        Some((s, p)) => reply((StatusCode::OK, inner.book.position_json(&s, &p))),
        None => refusal((
            404,
            json!({"code": 40410000, "message": "position does not exist"}),
        )),
    }
}

fn asset_json(a: &FakeAsset) -> Value {
    let mut v = json!({
        "id": a.id, "class": a.class, "exchange": a.exchange, "symbol": a.symbol, "name": a.name,
        "status": "active", "tradable": true, "marginable": a.class != "crypto", "shortable": a.class != "crypto",
        "easy_to_borrow": a.class != "crypto", "fractionable": a.fractionable, "attributes": [],
    });
    if a.class == "crypto"
        && let Value::Object(map) = &mut v
    {
        map.insert("min_order_size".into(), json!("0.0001"));
        map.insert("min_trade_increment".into(), json!("0.000000001"));
        map.insert("price_increment".into(), json!("0.01"));
    }
    v
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct AssetsQuery {
    asset_class: Option<String>,
    status: Option<String>,
}

async fn assets(AxState(shared): AxState<Arc<Shared>>, Query(q): Query<AssetsQuery>) -> Response {
    let class = q.asset_class.unwrap_or_else(|| "us_equity".to_owned());
    let inactive_only = q.status.as_deref() == Some("inactive");
    let inner = shared.lock();
    let list: Vec<Value> = inner
        .book
        .assets
        .iter()
        .filter(|a| !inactive_only && (class == "all" || a.class == class))
        .map(asset_json)
        .collect();
    reply((StatusCode::OK, Value::Array(list)))
}

async fn asset(AxState(shared): AxState<Arc<Shared>>, Path(symbol): Path<String>) -> Response {
    match shared.lock().book.asset(&symbol) {
        Some(a) => reply((StatusCode::OK, asset_json(a))),
        None => refusal((404, json!({"code": 40410000, "message": "asset not found"}))),
    }
}

async fn clock(AxState(shared): AxState<Arc<Shared>>) -> Response {
    let now = Utc::now();
    let (is_open, next_open, next_close) = market::clock(now, shared.config.market_open);
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&ny_offset(t))
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
    };
    reply((
        StatusCode::OK,
        json!({"timestamp": local(now), "is_open": is_open, "next_open": local(next_open), "next_close": local(next_close)}),
    ))
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct CalendarQuery {
    start: Option<String>,
    end: Option<String>,
}

async fn calendar(Query(q): Query<CalendarQuery>) -> Response {
    let today = Utc::now().date_naive();
    let parse = |t: &Option<String>, default: NaiveDate| match t.as_deref() {
        None | Some("") => Some(default),
        Some(t) => NaiveDate::parse_from_str(t, "%Y-%m-%d").ok(),
    };
    let (Some(start), Some(end)) = (
        parse(&q.start, today),
        parse(&q.end, today + chrono::Duration::days(30)),
    ) else {
        return refusal((
            400,
            json!({"code": 40010001, "message": "invalid date; expected YYYY-MM-DD"}),
        ));
    };
    let days: Vec<Value> = market::calendar(start, end)
        .into_iter()
        .map(|d| {
            json!({"date": d.to_string(), "open": "09:30", "close": "16:00", "session_open": "0400",
                   "session_close": "2000", "settlement_date": market::next_weekday(d).to_string()})
        })
        .collect();
    reply((StatusCode::OK, Value::Array(days)))
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct BarsQuery {
    symbols: Option<String>,
    timeframe: Option<String>,
    start: Option<String>,
    end: Option<String>,
    limit: Option<String>,
    page_token: Option<String>,
    sort: Option<String>,
}

fn bad_request(message: &str) -> Response {
    refusal((400, json!({"message": message})))
}

fn bars_answer(shared: &Shared, q: BarsQuery, crypto: bool) -> Response {
    let Some(timeframe) = q
        .timeframe
        .as_deref()
        .and_then(|t| t.parse::<Timeframe>().ok())
    else {
        return bad_request("invalid timeframe");
    };
    let limit = match q.limit.as_deref().map(str::parse::<usize>) {
        None => 1000,
        Some(Ok(l)) if (1..=10_000).contains(&l) => l,
        Some(_) => return bad_request("invalid limit: must be between 1 and 10000"),
    };
    let now = Utc::now();
    let start = match parse_time(&q.start) {
        Ok(t) => t.unwrap_or_else(|| {
            now.date_naive()
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc()
        }),
        Err(_) => return bad_request("invalid start"),
    };
    let end = match parse_time(&q.end) {
        Ok(t) => t.unwrap_or(now),
        Err(_) => return bad_request("invalid end"),
    };
    let token = match q.page_token.as_deref() {
        None | Some("") => None,
        Some(t) => match market::decode_token(t) {
            Some(t) => Some(t),
            None => return bad_request("invalid page_token"),
        },
    };
    let Some(symbols) = q.symbols.filter(|s| !s.trim().is_empty()) else {
        return bad_request("symbols is required");
    };
    let inner = shared.lock();
    let mut all = std::collections::BTreeMap::new();
    for raw in symbols.split(',') {
        let Some(asset) = inner.book.asset(raw) else {
            continue;
        };
        if (asset.class == "crypto") != crypto {
            continue;
        }
        let Some(stored) = inner.book.bars.get(&asset.symbol) else {
            continue;
        };
        let mut bars = market::aggregate(stored, timeframe);
        bars.retain(|b| b.ts >= start.timestamp_millis() && b.ts <= end.timestamp_millis());
        if q.sort.as_deref() == Some("desc") {
            bars.reverse();
        }
        if !bars.is_empty() {
            all.insert(asset.symbol.clone(), bars);
        }
    }
    let page = market::page(&all, limit, token);
    let bars: serde_json::Map<String, Value> = page
        .bars
        .iter()
        .map(|(s, list)| {
            (
                s.clone(),
                Value::Array(list.iter().map(|b| Book::bar_json(b, crypto)).collect()),
            )
        })
        .collect();
    let mut body = json!({"bars": bars, "next_page_token": page.next_page_token});
    if !crypto && let Value::Object(map) = &mut body {
        map.insert("currency".into(), json!("USD"));
    }
    reply((StatusCode::OK, body))
}

async fn stock_bars(AxState(shared): AxState<Arc<Shared>>, Query(q): Query<BarsQuery>) -> Response {
    bars_answer(&shared, q, false)
}

async fn crypto_bars(
    AxState(shared): AxState<Arc<Shared>>,
    Path(loc): Path<String>,
    Query(q): Query<BarsQuery>,
) -> Response {
    if loc != "us" {
        return bad_request("unsupported loc");
    }
    bars_answer(&shared, q, true)
}

fn latest_answer(shared: &Shared, symbols: Option<String>, crypto: bool) -> Response {
    let Some(symbols) = symbols.filter(|s| !s.trim().is_empty()) else {
        return bad_request("symbols is required");
    };
    let inner = shared.lock();
    let mut bars = serde_json::Map::new();
    for raw in symbols.split(',') {
        let Some(asset) = inner.book.asset(raw) else {
            continue;
        };
        if (asset.class == "crypto") != crypto {
            continue;
        }
        if let Some(bar) = inner.book.latest_bar(&asset.symbol) {
            bars.insert(asset.symbol.clone(), Book::bar_json(&bar, crypto));
        }
    }
    let mut body = json!({"bars": bars});
    if !crypto && let Value::Object(map) = &mut body {
        map.insert("currency".into(), json!("USD"));
    }
    reply((StatusCode::OK, body))
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct LatestQuery {
    symbols: Option<String>,
}

async fn stock_latest_bars(
    AxState(shared): AxState<Arc<Shared>>,
    Query(q): Query<LatestQuery>,
) -> Response {
    latest_answer(&shared, q.symbols, false)
}

async fn crypto_latest_bars(
    AxState(shared): AxState<Arc<Shared>>,
    Path(loc): Path<String>,
    Query(q): Query<LatestQuery>,
) -> Response {
    if loc != "us" {
        return bad_request("unsupported loc");
    }
    latest_answer(&shared, q.symbols, true)
}
