//! The fake's REST answers: the gateway (auth, rate limit, recording, faults) around every
//! route, and one handler per Alpaca endpoint the client uses.
//!
//! # Invariants
//! - Handlers answer in Alpaca's shapes and codes (see the parent module), never panicking on
//!   a request's content.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Path, Query, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use super::*;
use crate::domain::Timeframe;

pub(super) type Answer = (StatusCode, Value);

pub(super) fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(super) fn reply((code, body): Answer) -> Response {
    (code, axum::Json(body)).into_response()
}

pub(super) fn refusal((code, body): (u16, Value)) -> Response {
    reply((status(code), body))
}

/// Auth, rate limit, headers and recording around every REST route.
pub(super) async fn gateway(
    AxState(shared): AxState<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
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

pub(super) fn header_is(headers: &HeaderMap, name: &str, expected: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

pub(super) async fn account(AxState(shared): AxState<Arc<Shared>>) -> Response {
    reply((StatusCode::OK, shared.lock().book.account_json()))
}

pub(super) async fn create_order(
    AxState(shared): AxState<Arc<Shared>>,
    body: axum::body::Bytes,
) -> Response {
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
pub(super) struct OrdersQuery {
    status: Option<String>,
    limit: Option<String>,
    after: Option<String>,
    until: Option<String>,
    direction: Option<String>,
    symbols: Option<String>,
}

pub(super) fn parse_time(text: &Option<String>) -> Result<Option<DateTime<Utc>>, String> {
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

pub(super) async fn list_orders(
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

pub(super) fn not_found() -> Response {
    refusal((404, json!({"code": 40410000, "message": "order not found"})))
}

pub(super) async fn get_order(
    AxState(shared): AxState<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    match shared.lock().book.order(&id) {
        Some(o) => reply((StatusCode::OK, o.to_json())),
        None => not_found(),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct CidQuery {
    client_order_id: Option<String>,
}

pub(super) async fn order_by_cid(
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

pub(super) async fn cancel_order(
    AxState(shared): AxState<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    let result = shared.lock().book.cancel(&id, Utc::now());
    match result {
        Ok(events) => {
            shared.publish(events);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => refusal(r),
    }
}

pub(super) async fn cancel_all(AxState(shared): AxState<Arc<Shared>>) -> Response {
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

pub(super) async fn replace_order(
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

pub(super) async fn positions(AxState(shared): AxState<Arc<Shared>>) -> Response {
    let inner = shared.lock();
    let list: Vec<Value> = inner
        .book
        .positions
        .iter()
        .map(|(s, p)| inner.book.position_json(s, p))
        .collect();
    reply((StatusCode::OK, Value::Array(list)))
}

pub(super) async fn position(
    AxState(shared): AxState<Arc<Shared>>,
    Path(symbol): Path<String>,
) -> Response {
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

pub(super) fn asset_json(a: &FakeAsset) -> Value {
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
pub(super) struct AssetsQuery {
    asset_class: Option<String>,
    status: Option<String>,
}

pub(super) async fn assets(
    AxState(shared): AxState<Arc<Shared>>,
    Query(q): Query<AssetsQuery>,
) -> Response {
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

pub(super) async fn asset(
    AxState(shared): AxState<Arc<Shared>>,
    Path(symbol): Path<String>,
) -> Response {
    match shared.lock().book.asset(&symbol) {
        Some(a) => reply((StatusCode::OK, asset_json(a))),
        None => refusal((404, json!({"code": 40410000, "message": "asset not found"}))),
    }
}

pub(super) async fn clock(AxState(shared): AxState<Arc<Shared>>) -> Response {
    let now = shared.now();
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
pub(super) struct CalendarQuery {
    start: Option<String>,
    end: Option<String>,
}

pub(super) async fn calendar(Query(q): Query<CalendarQuery>) -> Response {
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
            json!({"date": d.date.to_string(), "open": d.open.format("%H:%M").to_string(),
                   "close": d.close.format("%H:%M").to_string(), "session_open": "0400",
                   "session_close": "2000", "settlement_date": market::next_weekday(d.date).to_string()})
        })
        .collect();
    reply((StatusCode::OK, Value::Array(days)))
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct BarsQuery {
    symbols: Option<String>,
    timeframe: Option<String>,
    start: Option<String>,
    end: Option<String>,
    limit: Option<String>,
    page_token: Option<String>,
    sort: Option<String>,
    adjustment: Option<String>,
}

pub(super) fn bad_request(message: &str) -> Response {
    refusal((400, json!({"message": message})))
}

pub(super) fn bars_answer(shared: &Shared, q: BarsQuery, crypto: bool) -> Response {
    // Alpaca's default is `raw`; crypto bars have no adjustment.
    let flags = match q.adjustment.as_deref() {
        None => (false, false),
        Some(a) => match market::adjustment_flags(a) {
            Some(f) if !crypto => f,
            Some(_) => (false, false),
            None => return bad_request("invalid adjustment: must be raw, split, dividend or all"),
        },
    };
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
        let actions = inner
            .actions
            .get(&asset.symbol)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let adjusted = market::adjust(stored, actions, flags);
        let mut bars = market::aggregate(&adjusted, timeframe, crypto);
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

/// A [`super::Fault::BarsRefused`] answer, if one is due.
fn bars_refusal(shared: &Shared) -> Option<Response> {
    let (status, message) = shared.lock().faults.take(|f| match f {
        super::Fault::BarsRefused {
            status, message, ..
        } => Some((*status, message.clone())),
        _ => None,
    })?;
    Some(refusal((status, json!({ "message": message }))))
}

pub(super) async fn stock_bars(
    AxState(shared): AxState<Arc<Shared>>,
    Query(q): Query<BarsQuery>,
) -> Response {
    bars_delay(&shared, &q).await;
    if let Some(r) = bars_refusal(&shared) {
        return r;
    }
    bars_answer(&shared, q, false)
}

/// Records the request (on arrival: a client killed while it waits is still seen asking), then
/// waits as long as [`super::FakeAlpaca::set_bars_delay`] asked (the lock is not held across it).
async fn bars_delay(shared: &Shared, q: &BarsQuery) {
    shared.lock().bars_requests.push(super::BarsRequestRecord {
        symbols: q.symbols.clone().unwrap_or_default(),
        page_token: q.page_token.clone(),
        adjustment: q.adjustment.clone(),
        start: q.start.clone(),
    });
    let delay = shared.lock().bars_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

pub(super) async fn crypto_bars(
    AxState(shared): AxState<Arc<Shared>>,
    Path(loc): Path<String>,
    Query(q): Query<BarsQuery>,
) -> Response {
    if loc != "us" {
        return bad_request("unsupported loc");
    }
    bars_delay(&shared, &q).await;
    if let Some(r) = bars_refusal(&shared) {
        return r;
    }
    bars_answer(&shared, q, true)
}

pub(super) fn latest_answer(shared: &Shared, symbols: Option<String>, crypto: bool) -> Response {
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
pub(super) struct LatestQuery {
    symbols: Option<String>,
}

pub(super) async fn stock_latest_bars(
    AxState(shared): AxState<Arc<Shared>>,
    Query(q): Query<LatestQuery>,
) -> Response {
    latest_answer(&shared, q.symbols, false)
}

pub(super) async fn crypto_latest_bars(
    AxState(shared): AxState<Arc<Shared>>,
    Path(loc): Path<String>,
    Query(q): Query<LatestQuery>,
) -> Response {
    if loc != "us" {
        return bad_request("unsupported loc");
    }
    latest_answer(&shared, q.symbols, true)
}
