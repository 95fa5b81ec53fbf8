//! Alpaca websockets: the `trade_updates` order stream and the market-data bar stream, each a task
//! that connects, authenticates, subscribes, reconnects with exponential backoff, and detects a
//! silent socket by heartbeat.
//!
//! # Invariants
//! - Frames may be text or binary (paper sends JSON in binary frames); both are decoded the same.
//! - A connection that delivers nothing (not even a pong) for `heartbeat_timeout` is dropped and
//!   replaced: a socket can stay open while the venue has stopped sending.
//! - After every *re*connect of the order stream, orders are fetched over REST and delivered as
//!   [`OrderStreamEvent::Reconciled`] before live updates resume: the venue does not replay
//!   events missed while disconnected.
//! - Bad credentials end the stream with a `Failed` event; everything else is retried with
//!   backoff (a too-fast reconnect is refused by the venue while the stale socket lingers).
//! - Keys go only into the auth message; they are never logged.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use super::config::AlpacaConfig;
use super::http::AlpacaHttp;
use super::{models, parse};
use crate::veda::Error;
use crate::veda::types::{
    BarEvent, OrderQuery, OrderStatusFilter, OrderStreamEvent, StreamHandle, VenueOrder,
};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Which auth message the `trade_updates` stream sends; Alpaca accepts both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthForm {
    /// `{"action":"auth","key":…,"secret":…}` (current).
    #[default]
    Auth,
    /// `{"action":"authenticate","data":{"key_id":…,"secret_key":…}}` (documented legacy form).
    Authenticate,
}

/// Timing of the stream tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// How often a ping is sent (and silence checked).
    pub heartbeat_interval: Duration,
    /// Silence longer than this drops the connection.
    pub heartbeat_timeout: Duration,
    /// First reconnect delay; doubles per failed attempt.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Deadline for connect + auth + subscribe.
    pub handshake_timeout: Duration,
    /// Auth message form for `trade_updates`.
    pub auth_form: AuthForm,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(10),
            heartbeat_timeout: Duration::from_secs(30),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            auth_form: AuthForm::Auth,
        }
    }
}

impl StreamOptions {
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(16));
        self.backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// Why a connection attempt or a live connection ended.
enum End {
    /// Try again after backoff.
    Retry(String),
    /// Give up (bad credentials, fatal error).
    Fatal(Error),
    /// The consumer is gone or the stream was stopped.
    Stop,
}

/// Starts the `trade_updates` stream. `http` serves the REST reconciliation after reconnects,
/// which lists every order submitted after `since`.
pub fn trade_updates(
    http: AlpacaHttp,
    options: StreamOptions,
    since: DateTime<Utc>,
) -> StreamHandle<OrderStreamEvent> {
    let (tx, rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let task_cancel = cancel.clone();
    tokio::spawn(async move {
        let config = http.config().clone();
        let mut tries = Tries::default();
        loop {
            let end = tokio::select! {
                _ = task_cancel.cancelled() => End::Stop,
                end = trade_session(&config, &http, &options, since, &tx, &mut tries) => end,
            };
            match end {
                End::Stop => return,
                End::Fatal(err) => {
                    let _ = tx.send(OrderStreamEvent::Failed(err)).await;
                    return;
                }
                End::Retry(reason) => {
                    tracing::warn!(reason = %reason, attempt = tries.attempt, "trade_updates stream down; reconnecting");
                    if tx
                        .send(OrderStreamEvent::Disconnected { reason })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
            let delay = options.backoff(tries.attempt);
            tries.attempt = tries.attempt.saturating_add(1);
            tokio::select! {
                _ = task_cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    });
    StreamHandle::new(rx, cancel)
}

async fn trade_session(
    config: &AlpacaConfig,
    http: &AlpacaHttp,
    options: &StreamOptions,
    since: DateTime<Utc>,
    tx: &mpsc::Sender<OrderStreamEvent>,
    tries: &mut Tries,
) -> End {
    let handshake = async {
        let mut ws = connect(config.trading_stream_url.as_str()).await?;
        let auth = match options.auth_form {
            AuthForm::Auth => {
                json!({"action": "auth", "key": config.key_id.expose_secret(), "secret": config.secret_key.expose_secret()})
            }
            AuthForm::Authenticate => {
                json!({"action": "authenticate", "data": {"key_id": config.key_id.expose_secret(), "secret_key": config.secret_key.expose_secret()}})
            }
        };
        send_json(&mut ws, &auth).await?;
        loop {
            let msg: models::StreamMessage =
                serde_json::from_value(next_json(&mut ws).await?).unwrap_or_default();
            if msg.stream.as_deref() == Some("authorization") {
                let status = msg
                    .data
                    .as_ref()
                    .and_then(|d| d.get("status"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if status == "authorized" {
                    break;
                }
                return Err(End::Fatal(Error::Unauthorized { status: 401 }));
            }
        }
        send_json(
            &mut ws,
            &json!({"action": "listen", "data": {"streams": ["trade_updates"]}}),
        )
        .await?;
        loop {
            let msg: models::StreamMessage =
                serde_json::from_value(next_json(&mut ws).await?).unwrap_or_default();
            if msg.stream.as_deref() == Some("listening") {
                return Ok(ws);
            }
        }
    };
    let mut ws = match timeout(options.handshake_timeout, handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(end)) => return end,
        Err(_) => return End::Retry("handshake timed out".into()),
    };
    let reconnect = tries.connected_before;
    tries.connected_before = true;
    tries.attempt = 0;
    if tx
        .send(OrderStreamEvent::Connected { reconnect })
        .await
        .is_err()
    {
        return End::Stop;
    }
    if reconnect {
        // Events during the gap are lost: recover them over REST before resuming live updates.
        match reconcile_orders(http, since).await {
            Ok(orders) => {
                if tx.send(OrderStreamEvent::Reconciled(orders)).await.is_err() {
                    return End::Stop;
                }
            }
            Err(e) => return End::Retry(format!("reconciliation after reconnect failed: {e}")),
        }
    }
    pump(
        &mut ws,
        options,
        |value| {
            let msg: models::StreamMessage = serde_json::from_value(value).unwrap_or_default();
            if msg.stream.as_deref() != Some("trade_updates") {
                return Ok(Vec::new());
            }
            // `{"stream":"trade_updates","data":null}` has been seen in the wild: skip it.
            let Some(data) = msg.data.filter(|d| !d.is_null()) else {
                return Ok(Vec::new());
            };
            match serde_json::from_value::<models::TradeUpdateData>(data)
                .map_err(|e| Error::Decode {
                    what: "trade update".into(),
                    detail: e.to_string(),
                })
                .and_then(|d| parse::trade_update(&d))
            {
                Ok(update) => Ok(vec![OrderStreamEvent::Update(Box::new(update))]),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping undecodable trade update");
                    Ok(Vec::new())
                }
            }
        },
        tx,
    )
    .await
}

/// Every order submitted after `since`, plus every order still open whenever it was submitted
/// (a GTC order from before `since` can fill during the gap too).
async fn reconcile_orders(
    http: &AlpacaHttp,
    since: DateTime<Utc>,
) -> crate::veda::Result<Vec<VenueOrder>> {
    let recent = OrderQuery {
        status: OrderStatusFilter::All,
        after: Some(since),
        symbols: Vec::new(),
    };
    let mut orders = http.orders(&recent).await?;
    for open in http.orders(&OrderQuery::default()).await? {
        if !orders.iter().any(|o| o.id == open.id) {
            orders.push(open);
        }
    }
    Ok(orders)
}

/// Starts a bar stream for `symbols`; crypto and stock symbols each get their own connection.
pub fn bars(
    config: AlpacaConfig,
    options: StreamOptions,
    symbols: Vec<String>,
) -> StreamHandle<BarEvent> {
    let (tx, rx) = mpsc::channel(4096);
    let cancel = CancellationToken::new();
    let (crypto, stocks): (Vec<String>, Vec<String>) =
        symbols.into_iter().partition(|s| parse::is_crypto(s));
    for (symbols, is_crypto) in [(stocks, false), (crypto, true)] {
        if symbols.is_empty() {
            continue;
        }
        let mut url = config.data_stream_url.clone();
        let path = if is_crypto {
            "/v1beta3/crypto/us".to_owned()
        } else {
            format!("/v2/{}", config.feed)
        };
        url.set_path(&(url.path().trim_end_matches('/').to_owned() + &path));
        let feed = BarFeed {
            config: config.clone(),
            url: url.to_string(),
            symbols,
            is_crypto,
            options,
            tx: tx.clone(),
        };
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let mut tries = Tries::default();
            loop {
                let end = tokio::select! {
                    _ = cancel.cancelled() => End::Stop,
                    end = bar_session(&feed, &mut tries) => end,
                };
                match end {
                    End::Stop => return,
                    End::Fatal(err) => {
                        let _ = feed.tx.send(BarEvent::Failed(err)).await;
                        return;
                    }
                    End::Retry(reason) => {
                        tracing::warn!(reason = %reason, attempt = tries.attempt, "market data stream down; reconnecting");
                        if feed
                            .tx
                            .send(BarEvent::Disconnected { reason })
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                let delay = feed.options.backoff(tries.attempt);
                tries.attempt = tries.attempt.saturating_add(1);
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        });
    }
    StreamHandle::new(rx, cancel)
}

/// One bar-stream connection (stocks or crypto) and where its events go.
struct BarFeed {
    config: AlpacaConfig,
    url: String,
    symbols: Vec<String>,
    is_crypto: bool,
    options: StreamOptions,
    tx: mpsc::Sender<BarEvent>,
}

/// Where a feed's reconnections stand: whether it was ever connected (the next connection is
/// a reconnect) and the failed attempts since the last success (the backoff's exponent).
#[derive(Debug, Default)]
struct Tries {
    connected_before: bool,
    attempt: u32,
}

async fn bar_session(feed: &BarFeed, tries: &mut Tries) -> End {
    let BarFeed {
        config,
        url,
        symbols,
        is_crypto,
        options,
        tx,
    } = feed;
    let is_crypto = *is_crypto;
    let handshake = async {
        let mut ws = connect(url).await?;
        expect_data(&mut ws, "success", "connected").await?;
        let auth = json!({"action": "auth", "key": config.key_id.expose_secret(), "secret": config.secret_key.expose_secret()});
        send_json(&mut ws, &auth).await?;
        expect_data(&mut ws, "success", "authenticated").await?;
        // Recomputed minute bars (late trades) too: they amend the bars runs build from them.
        send_json(
            &mut ws,
            &json!({"action": "subscribe", "bars": symbols, "updatedBars": symbols}),
        )
        .await?;
        expect_data(&mut ws, "subscription", "").await?;
        Ok::<_, End>(ws)
    };
    let mut ws = match timeout(options.handshake_timeout, handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(end)) => return end,
        Err(_) => return End::Retry("handshake timed out".into()),
    };
    let reconnect = tries.connected_before;
    tries.connected_before = true;
    tries.attempt = 0;
    if tx.send(BarEvent::Connected { reconnect }).await.is_err() {
        return End::Stop;
    }
    pump(
        &mut ws,
        options,
        |value| {
            let items: Vec<models::DataMessage> = match value {
                Value::Array(items) => items
                    .into_iter()
                    .filter_map(|v| serde_json::from_value(v).ok())
                    .collect(),
                other => serde_json::from_value(other).ok().into_iter().collect(),
            };
            let mut out = Vec::new();
            for item in items {
                match item.kind.as_deref() {
                    Some("b") => {
                        if let Some((symbol, bar)) = parse::stream_bar(&item, is_crypto) {
                            out.push(BarEvent::Bar { symbol, bar });
                        }
                    }
                    Some("u") => {
                        if let Some((symbol, bar)) = parse::stream_bar(&item, is_crypto) {
                            out.push(BarEvent::Updated { symbol, bar });
                        }
                    }
                    Some("error") => return Err(data_error(&item)),
                    _ => {}
                }
            }
            Ok(out)
        },
        tx,
    )
    .await
}

/// Maps a market-data `{"T":"error"}` to retry or give up.
fn data_error(item: &models::DataMessage) -> End {
    let code = item.code.unwrap_or(0);
    let msg = item.msg.clone().unwrap_or_default();
    match code {
        401 | 402 => End::Fatal(Error::Unauthorized { status: 401 }),
        // Connection limit, slow client, internal error: the venue may accept us again later.
        406 | 407 | 500 => End::Retry(format!("venue error {code}: {msg}")),
        _ => End::Fatal(Error::Stream(format!("market data error {code}: {msg}"))),
    }
}

/// Reads data-stream frames until one holds `{"T": kind}` (and `msg` when non-empty).
async fn expect_data(ws: &mut Socket, kind: &str, msg: &str) -> std::result::Result<(), End> {
    loop {
        let items: Vec<models::DataMessage> = match next_json(ws).await? {
            Value::Array(items) => items
                .into_iter()
                .filter_map(|v| serde_json::from_value(v).ok())
                .collect(),
            other => serde_json::from_value(other).ok().into_iter().collect(),
        };
        for item in items {
            if item.kind.as_deref() == Some("error") {
                return Err(data_error(&item));
            }
            if item.kind.as_deref() == Some(kind)
                && (msg.is_empty() || item.msg.as_deref() == Some(msg))
            {
                return Ok(());
            }
        }
    }
}

async fn connect(url: &str) -> std::result::Result<Socket, End> {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(response)) => {
            let status = response.status().as_u16();
            if status == 401 || status == 403 {
                Err(End::Fatal(Error::Unauthorized { status }))
            } else {
                // 429 here means the previous connection has not been reaped yet.
                Err(End::Retry(format!("upgrade refused with HTTP {status}")))
            }
        }
        Err(e) => Err(End::Retry(format!("connect failed: {e}"))),
    }
}

async fn send_json(ws: &mut Socket, value: &Value) -> std::result::Result<(), End> {
    ws.send(Message::text(value.to_string()))
        .await
        .map_err(|e| End::Retry(format!("send failed: {e}")))
}

/// The next JSON document from text or binary frames (pings are answered by the library).
async fn next_json(ws: &mut Socket) -> std::result::Result<Value, End> {
    loop {
        match ws.next().await {
            None => return Err(End::Retry("connection closed".into())),
            Some(Err(e)) => return Err(End::Retry(format!("read failed: {e}"))),
            Some(Ok(Message::Text(text))) => {
                if let Ok(v) = serde_json::from_str(text.as_str()) {
                    return Ok(v);
                }
            }
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(v) = serde_json::from_slice(&bytes) {
                    return Ok(v);
                }
            }
            Some(Ok(Message::Close(_))) => return Err(End::Retry("closed by the venue".into())),
            Some(Ok(_)) => {}
        }
    }
}

/// Runs a live connection: decodes frames with `handle`, forwards what it returns, pings every
/// heartbeat interval and gives up on silence.
async fn pump<T, F>(
    ws: &mut Socket,
    options: &StreamOptions,
    mut handle: F,
    tx: &mpsc::Sender<T>,
) -> End
where
    F: FnMut(Value) -> std::result::Result<Vec<T>, End>,
{
    let mut heartbeat = tokio::time::interval(options.heartbeat_interval);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_seen = Instant::now();
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                if last_seen.elapsed() > options.heartbeat_timeout {
                    return End::Retry(format!("silent for {:?} (heartbeat timeout)", last_seen.elapsed()));
                }
                if let Err(e) = ws.send(Message::Ping(bytes::Bytes::from_static(b"weaver"))).await {
                    return End::Retry(format!("ping failed: {e}"));
                }
            }
            frame = ws.next() => {
                let value = match frame {
                    None => return End::Retry("connection closed".into()),
                    Some(Err(e)) => return End::Retry(format!("read failed: {e}")),
                    Some(Ok(Message::Close(_))) => return End::Retry("closed by the venue".into()),
                    Some(Ok(Message::Text(text))) => serde_json::from_str::<Value>(text.as_str()).ok(),
                    Some(Ok(Message::Binary(bytes))) => serde_json::from_slice::<Value>(&bytes).ok(),
                    Some(Ok(_)) => None,
                };
                last_seen = Instant::now();
                if let Some(value) = value {
                    let items = match handle(value) {
                        Ok(items) => items,
                        Err(end) => return end,
                    };
                    for item in items {
                        if tx.send(item).await.is_err() {
                            return End::Stop;
                        }
                    }
                }
            }
        }
    }
}
