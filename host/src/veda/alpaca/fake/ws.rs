//! The fake's websockets: `trade_updates` (binary frames, both auth message forms, one connection
//! per account) and market data (auth, subscribe, bars, error codes).
//!
//! # Invariants
//! - A connection's slot is released when its handler ends, whatever the reason (guard on drop);
//!   a silenced socket keeps it until reaped, so a hasty reconnect is refused as at Alpaca.
//! - Trade updates reach a connection only after it authenticated and listened.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State as AxState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::rest::header_is;
use super::{Shared, SocketCommand};

/// Frees a stream slot when dropped.
struct Slot {
    shared: Arc<Shared>,
    trade: Option<u64>,
    data: Option<String>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        if let Some(conn) = self.trade
            && inner.trade_slot == Some(conn)
        {
            inner.trade_slot = None;
        }
        if let Some(key) = &self.data {
            inner.data_slots.remove(key);
        }
    }
}

async fn recv_opt<T: Clone>(
    rx: &mut Option<broadcast::Receiver<T>>,
) -> Result<T, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// What a command from the test asks of a live socket; `true` means end the connection.
async fn obey(
    command: Result<SocketCommand, broadcast::error::RecvError>,
    shared: &Shared,
) -> bool {
    match command {
        Ok(SocketCommand::Drop) => true,
        Ok(SocketCommand::Silence) => {
            // Neither read nor write (so no pongs) until reaped.
            tokio::time::sleep(shared.config.stale_socket_after).await;
            true
        }
        Err(broadcast::error::RecvError::Lagged(_)) => false,
        Err(broadcast::error::RecvError::Closed) => true,
    }
}

/// `GET /stream`: the account's `trade_updates` stream.
pub(super) async fn trade_updates(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let conn = {
        let mut inner = shared.lock();
        if inner.trade_slot.is_some() {
            // One connection per account; the previous one has not gone (or been reaped) yet.
            return (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"message": "connection limit exceeded"})),
            )
                .into_response();
        }
        inner.next_conn += 1;
        let conn = inner.next_conn;
        inner.trade_slot = Some(conn);
        conn
    };
    let slot = Slot {
        shared: shared.clone(),
        trade: Some(conn),
        data: None,
    };
    let header_auth = header_is(&headers, "apca-api-key-id", &shared.config.key_id)
        && header_is(&headers, "apca-api-secret-key", &shared.config.secret_key);
    ws.on_upgrade(move |socket| async move {
        run_trade(&shared, socket, header_auth).await;
        drop(slot);
    })
}

fn binary(value: &Value) -> Message {
    Message::Binary(value.to_string().into_bytes().into())
}

fn authorization(status: &str, action: &str) -> Value {
    json!({"stream": "authorization", "data": {"status": status, "action": action}})
}

async fn run_trade(shared: &Shared, mut socket: WebSocket, mut authed: bool) {
    let mut commands = shared.sockets.subscribe();
    let mut events: Option<broadcast::Receiver<Value>> = None;
    loop {
        tokio::select! {
            command = commands.recv() => if obey(command, shared).await { return },
            frame = socket.recv() => {
                let bytes = match frame {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(Message::Text(text))) => text.as_str().as_bytes().to_vec(),
                    Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                    Some(Ok(_)) => continue,
                };
                let Ok(request) = serde_json::from_slice::<Value>(&bytes) else { continue };
                let action = request.get("action").and_then(Value::as_str).unwrap_or_default();
                let reply = match action {
                    "auth" | "authenticate" => {
                        // Current form: {"key","secret"}; documented form: {"data":{"key_id","secret_key"}}.
                        let (key, secret) = if action == "auth" {
                            (request.get("key"), request.get("secret"))
                        } else {
                            (request.pointer("/data/key_id"), request.pointer("/data/secret_key"))
                        };
                        let ok = key.and_then(Value::as_str) == Some(shared.config.key_id.as_str())
                            && secret.and_then(Value::as_str) == Some(shared.config.secret_key.as_str());
                        if !ok {
                            let _ = socket.send(binary(&authorization("unauthorized", "authenticate"))).await;
                            return;
                        }
                        authed = true;
                        authorization("authorized", "authenticate")
                    }
                    "listen" if !authed => authorization("unauthorized", "listen"),
                    "listen" => {
                        let streams: Vec<String> = request
                            .pointer("/data/streams")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                            .unwrap_or_default();
                        events = streams.iter().any(|s| s == "trade_updates").then(|| shared.trade_events.subscribe());
                        json!({"stream": "listening", "data": {"streams": streams}})
                    }
                    _ => continue,
                };
                if socket.send(binary(&reply)).await.is_err() {
                    return;
                }
            }
            event = recv_opt(&mut events) => match event {
                Ok(message) => if socket.send(binary(&message)).await.is_err() { return },
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// `GET /v2/{feed}` and `GET /v1beta3/crypto/{loc}`: market data.
pub(super) async fn market_data(
    AxState(shared): AxState<Arc<Shared>>,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    let endpoint = uri.path().to_owned();
    ws.on_upgrade(move |socket| async move { run_data(shared, socket, endpoint).await })
}

fn text(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

fn data_error(code: u16, msg: &str) -> Message {
    text(json!([{"T": "error", "code": code, "msg": msg}]))
}

async fn run_data(shared: Arc<Shared>, mut socket: WebSocket, endpoint: String) {
    let mut slot = Slot {
        shared: shared.clone(),
        trade: None,
        data: None,
    };
    let mut commands = shared.sockets.subscribe();
    let mut bars: Option<broadcast::Receiver<(String, Value)>> = None;
    let mut subscribed: BTreeSet<String> = BTreeSet::new();
    if socket
        .send(text(json!([{"T": "success", "msg": "connected"}])))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            command = commands.recv() => if obey(command, &shared).await { return },
            frame = socket.recv() => {
                let bytes = match frame {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(Message::Text(t))) => t.as_str().as_bytes().to_vec(),
                    Some(Ok(Message::Binary(b))) => b.to_vec(),
                    Some(Ok(_)) => continue,
                };
                let Ok(request) = serde_json::from_slice::<Value>(&bytes) else {
                    if socket.send(data_error(400, "invalid syntax")).await.is_err() { return }
                    continue;
                };
                let authed = slot.data.is_some();
                let reply = match request.get("action").and_then(Value::as_str) {
                    Some("auth") if authed => data_error(403, "already authenticated"),
                    Some("auth") => {
                        let ok = request.get("key").and_then(Value::as_str) == Some(shared.config.key_id.as_str())
                            && request.get("secret").and_then(Value::as_str) == Some(shared.config.secret_key.as_str());
                        if !ok {
                            let _ = socket.send(data_error(402, "auth failed")).await;
                            return;
                        }
                        let taken = !shared.lock().data_slots.insert(endpoint.clone());
                        if taken {
                            let _ = socket.send(data_error(406, "connection limit exceeded")).await;
                            return;
                        }
                        slot.data = Some(endpoint.clone());
                        bars = Some(shared.bar_events.subscribe());
                        text(json!([{"T": "success", "msg": "authenticated"}]))
                    }
                    Some("subscribe" | "unsubscribe") if !authed => data_error(401, "not authenticated"),
                    Some(action @ ("subscribe" | "unsubscribe")) => {
                        let list: Vec<String> = request
                            .get("bars")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_ascii_uppercase).collect())
                            .unwrap_or_default();
                        for symbol in list {
                            if action == "subscribe" { subscribed.insert(symbol); } else { subscribed.remove(&symbol); }
                        }
                        text(json!([{"T": "subscription", "trades": [], "quotes": [], "bars": subscribed,
                                     "updatedBars": [], "dailyBars": [], "statuses": [], "lulds": [],
                                     "corrections": [], "cancelErrors": []}]))
                    }
                    _ => data_error(400, "invalid syntax"),
                };
                if socket.send(reply).await.is_err() {
                    return;
                }
            }
            event = recv_opt(&mut bars) => match event {
                Ok((symbol, message)) => {
                    if (subscribed.contains(&symbol) || subscribed.contains("*"))
                        && socket.send(text(json!([message]))).await.is_err()
                    {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}
