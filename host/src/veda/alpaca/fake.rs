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
mod orders;
mod rest;
mod state;
mod ws;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::get;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::dec;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use market::{CorporateAction, ny_offset};
pub use state::FakeOrder;

use crate::domain::Bar;
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
    /// Historical bars requests (stocks and crypto) answer `status` with `{"message": message}`
    /// (403 `subscription does not permit querying recent SIP data`, 422 for a symbol).
    BarsRefused {
        /// How many requests.
        requests: u32,
        /// The status.
        status: u16,
        /// Alpaca's message.
        message: String,
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

/// One historical bars request the fake answered (or refused), for tests that check what a
/// client fetched and what it did not fetch again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarsRequestRecord {
    /// `symbols` as sent.
    pub symbols: String,
    /// `page_token` as sent (`None` for a first page).
    pub page_token: Option<String>,
    /// `adjustment` as sent.
    pub adjustment: Option<String>,
    /// `start` as sent.
    pub start: Option<String>,
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
            | Fault::BarsRefused { requests, .. }
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
    /// Splits and dividends per canonical symbol (historical bars are adjusted for them).
    actions: std::collections::HashMap<String, Vec<CorporateAction>>,
    /// Every historical bars request.
    bars_requests: Vec<BarsRequestRecord>,
    /// How long each historical bars request waits before answering.
    bars_delay: Duration,
    /// The fake's clock minus the local one ([`FakeAlpaca::set_clock`]).
    clock_offset: chrono::TimeDelta,
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

    /// The fake's time (`GET /v2/clock`): the local clock, moved by [`FakeAlpaca::set_clock`].
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.lock().clock_offset
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
    pub(crate) fn start_on(listener: TcpListener, config: FakeConfig) -> std::io::Result<Self> {
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

    /// Declares a split or dividend of `symbol`: historical bars asked with `adjustment`
    /// `split`, `dividend` or `all` are adjusted for it; `raw` bars are as stored.
    pub fn declare_action(&self, symbol: &str, action: CorporateAction) {
        let mut inner = self.shared.lock();
        let canonical = inner
            .book
            .asset(symbol)
            .map_or_else(|| symbol.to_owned(), |a| a.symbol.clone());
        inner.actions.entry(canonical).or_default().push(action);
    }

    /// Every historical bars request so far (stocks and crypto), in arrival order.
    pub fn bars_requests(&self) -> Vec<BarsRequestRecord> {
        self.shared.lock().bars_requests.clone()
    }

    /// Makes every historical bars request wait `delay` before answering (a slow venue: a
    /// download is caught mid-way).
    pub fn set_bars_delay(&self, delay: Duration) {
        self.shared.lock().bars_delay = delay;
    }

    /// Stores a bar and pushes it to market-data subscribers.
    pub fn push_bar(&self, symbol: &str, bar: Bar) {
        self.push_message(symbol, bar, "b");
    }

    fn push_message(&self, symbol: &str, bar: Bar, kind: &str) {
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
            map.insert("T".into(), json!(kind));
            map.insert("S".into(), json!(canonical));
        }
        let _ = self.shared.bar_events.send((canonical, message));
    }

    /// Pushes a recomputed minute bar (`updatedBars`, `T: "u"`: a late trade changed it) to
    /// market-data subscribers and stores it in place of the earlier one.
    pub fn push_updated_bar(&self, symbol: &str, bar: Bar) {
        self.push_message(symbol, bar, "u");
    }

    /// Sets the fake's clock (`GET /v2/clock`) to `now`; it runs on from there.
    pub fn set_clock(&self, now: DateTime<Utc>) {
        self.shared.lock().clock_offset = now - Utc::now();
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
            actions: std::collections::HashMap::new(),
            bars_requests: Vec::new(),
            bars_delay: Duration::ZERO,
            clock_offset: chrono::TimeDelta::zero(),
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
    use rest::*;
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
