//! Parsing between Alpaca's wire models and Veda's domain types, including symbol normalisation
//! (`BTCUSD` ↔ `BTC/USD`).
//!
//! # Invariants
//! - A field we cannot do without (an order's id, client order id or side) missing makes a
//!   [`Error::Decode`]; anything else missing takes a documented default.
//! - Crypto symbols leave here as `BASE/QUOTE`; equity symbols are trimmed and upper-cased (the
//!   docs' own position example has `"AAPL "`).

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;

use super::models;
use crate::domain::{Bar, OrderType, Side, TimeInForce};
use crate::veda::types::{
    Account, CalendarDay, MarketClock, OrderQuantity, OrderRequest, TradeEvent, TradeUpdate,
    VenueOrder, VenueOrderStatus, VenuePosition,
};
use crate::veda::{Error, Result};

/// Quote currencies Alpaca lists crypto pairs against, longest first so `USDT` wins over `USD`.
const CRYPTO_QUOTES: [&str; 5] = ["USDT", "USDC", "USD", "BTC", "EUR"];

/// Canonical form of a symbol. `asset_class` (`crypto`, `us_equity`) tells a crypto pair written
/// without a slash (`BTCUSD`, as Alpaca's positions report it) from an equity ticker.
pub fn normalize_symbol(raw: &str, asset_class: Option<&str>) -> String {
    let upper = raw.trim().to_ascii_uppercase();
    if upper.contains('/') {
        return upper;
    }
    if asset_class == Some("crypto") {
        for quote in CRYPTO_QUOTES {
            if let Some(base) = upper.strip_suffix(quote)
                && !base.is_empty()
            {
                return format!("{base}/{quote}");
            }
        }
    }
    upper
}

/// True when a canonical symbol is a crypto pair.
pub fn is_crypto(symbol: &str) -> bool {
    symbol.contains('/')
}

/// The symbol as a path segment for `/v2/positions/{symbol}` and `/v2/assets/{symbol}`, where
/// `BTC/USD` must be written `BTCUSD`.
pub fn path_symbol(symbol: &str) -> String {
    symbol.replace('/', "")
}

/// Parses an RFC 3339 timestamp with any offset and precision into UTC.
pub fn timestamp(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn side(text: Option<&str>) -> Option<Side> {
    match text? {
        "buy" => Some(Side::Buy),
        "sell" => Some(Side::Sell),
        _ => None,
    }
}

/// Alpaca's text for a side.
pub fn side_text(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

/// Alpaca's text for an order type.
pub(crate) fn order_type_text(order_type: OrderType) -> &'static str {
    match order_type {
        OrderType::Market => "market",
        OrderType::Limit => "limit",
        OrderType::Stop => "stop",
        OrderType::StopLimit => "stop_limit",
    }
}

/// Alpaca's text for a time in force.
pub(crate) fn time_in_force_text(tif: TimeInForce) -> &'static str {
    match tif {
        TimeInForce::Day => "day",
        TimeInForce::Gtc => "gtc",
        TimeInForce::Ioc => "ioc",
        TimeInForce::Fok => "fok",
    }
}

fn order_type(text: Option<&str>, limit: Option<Decimal>, stop: Option<Decimal>) -> OrderType {
    match text {
        Some("market") => OrderType::Market,
        Some("limit") => OrderType::Limit,
        // A trailing stop behaves as a stop once triggered; Weaver never sends one.
        Some("stop") | Some("trailing_stop") => OrderType::Stop,
        Some("stop_limit") => OrderType::StopLimit,
        // Absent or unknown: infer from the prices rather than fail.
        _ => match (limit, stop) {
            (Some(_), Some(_)) => OrderType::StopLimit,
            (Some(_), None) => OrderType::Limit,
            (None, Some(_)) => OrderType::Stop,
            (None, None) => OrderType::Market,
        },
    }
}

fn time_in_force(text: Option<&str>) -> TimeInForce {
    match text {
        Some("gtc") => TimeInForce::Gtc,
        Some("ioc") => TimeInForce::Ioc,
        Some("fok") => TimeInForce::Fok,
        // day, opg and cls all end with the session.
        _ => TimeInForce::Day,
    }
}

/// Converts an order object.
///
/// # Errors
/// [`Error::Decode`] when the id, client order id or side is missing or unknown.
pub fn order(wire: &models::Order) -> Result<VenueOrder> {
    let missing = |field: &str| Error::Decode {
        what: "order".into(),
        detail: format!("missing or invalid {field}"),
    };
    let id = wire
        .id
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("id"))?;
    let client_order_id = wire
        .client_order_id
        .clone()
        .ok_or_else(|| missing("client_order_id"))?;
    let side = side(wire.side.as_deref()).ok_or_else(|| missing("side"))?;
    let type_text = wire
        .order_type
        .as_deref()
        .or(wire.order_type_legacy.as_deref());
    Ok(VenueOrder {
        id,
        client_order_id,
        symbol: normalize_symbol(
            wire.symbol.as_deref().unwrap_or_default(),
            wire.asset_class.as_deref(),
        ),
        side,
        order_type: order_type(type_text, wire.limit_price, wire.stop_price),
        time_in_force: time_in_force(wire.time_in_force.as_deref()),
        quantity: wire.qty,
        notional: wire.notional,
        filled_quantity: wire.filled_qty.unwrap_or_default(),
        filled_avg_price: wire.filled_avg_price,
        limit_price: wire.limit_price,
        stop_price: wire.stop_price,
        status: wire
            .status
            .as_deref()
            .map_or(VenueOrderStatus::Unknown, VenueOrderStatus::parse),
        created_at: timestamp(wire.created_at.as_deref()),
        updated_at: timestamp(wire.updated_at.as_deref()),
        submitted_at: timestamp(wire.submitted_at.as_deref()),
        filled_at: timestamp(wire.filled_at.as_deref()),
        replaced_by: wire.replaced_by.clone(),
        replaces: wire.replaces.clone(),
    })
}

/// Builds the `POST /v2/orders` body.
pub fn new_order(request: &OrderRequest) -> models::NewOrder {
    let (qty, notional) = match request.quantity {
        OrderQuantity::Units(q) => (Some(q.normalize().to_string()), None),
        OrderQuantity::Notional(n) => (None, Some(n.normalize().to_string())),
    };
    models::NewOrder {
        symbol: request.symbol.clone(),
        qty,
        notional,
        side: side_text(request.side).to_owned(),
        order_type: order_type_text(request.order_type).to_owned(),
        time_in_force: time_in_force_text(request.time_in_force).to_owned(),
        limit_price: request.limit_price.map(|p| p.normalize().to_string()),
        stop_price: request.stop_price.map(|p| p.normalize().to_string()),
        extended_hours: request.extended_hours,
        client_order_id: request.client_order_id.clone(),
    }
}

/// Converts the account.
pub fn account(wire: &models::Account) -> Account {
    Account {
        id: wire.id.clone().unwrap_or_default(),
        number: wire.account_number.clone(),
        status: wire.status.clone().unwrap_or_default(),
        currency: wire.currency.clone().unwrap_or_else(|| "USD".to_owned()),
        cash: wire.cash.unwrap_or_default(),
        equity: wire.equity.or(wire.portfolio_value).unwrap_or_default(),
        buying_power: wire.buying_power.unwrap_or_default(),
        non_marginable_buying_power: wire.non_marginable_buying_power,
        // Fail closed: an account that does not say it can trade is treated as able to, but the
        // venue still refuses orders; blocks are only set when the venue says so.
        trading_blocked: wire.trading_blocked.unwrap_or(false),
        account_blocked: wire.account_blocked.unwrap_or(false),
        trade_suspended_by_user: wire.trade_suspended_by_user.unwrap_or(false),
    }
}

/// Converts a position; `qty` is made negative for shorts if the venue sent it unsigned.
///
/// # Errors
/// [`Error::Decode`] when the symbol or quantity is missing.
pub fn position(wire: &models::Position) -> Result<VenuePosition> {
    let missing = |field: &str| Error::Decode {
        what: "position".into(),
        detail: format!("missing {field}"),
    };
    let raw_symbol = wire.symbol.as_deref().ok_or_else(|| missing("symbol"))?;
    let mut quantity = wire.qty.ok_or_else(|| missing("qty"))?;
    if wire.side.as_deref() == Some("short") && quantity > Decimal::ZERO {
        quantity = -quantity;
    }
    Ok(VenuePosition {
        symbol: normalize_symbol(raw_symbol, wire.asset_class.as_deref()),
        quantity,
        avg_entry_price: wire.avg_entry_price.unwrap_or_default(),
        market_value: wire.market_value,
        current_price: wire.current_price,
        asset_class: wire.asset_class.clone(),
    })
}

/// Converts the clock.
///
/// # Errors
/// [`Error::Decode`] when a timestamp is missing or malformed.
pub fn clock(wire: &models::Clock) -> Result<MarketClock> {
    let ts = |name: &str, v: &Option<String>| {
        timestamp(v.as_deref()).ok_or_else(|| Error::Decode {
            what: "clock".into(),
            detail: format!("missing or invalid {name}"),
        })
    };
    Ok(MarketClock {
        timestamp: ts("timestamp", &wire.timestamp)?,
        is_open: wire.is_open.unwrap_or(false),
        next_open: ts("next_open", &wire.next_open)?,
        next_close: ts("next_close", &wire.next_close)?,
    })
}

/// Converts a calendar day (`"2018-01-03"`, `"09:30"`, `"16:00"`).
///
/// # Errors
/// [`Error::Decode`] when the date or a time is missing or malformed.
pub fn calendar_day(wire: &models::CalendarDay) -> Result<CalendarDay> {
    let bad = |field: &str| Error::Decode {
        what: "calendar".into(),
        detail: format!("missing or invalid {field}"),
    };
    let date = wire
        .date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| bad("date"))?;
    let time = |v: &Option<String>, name: &str| {
        v.as_deref()
            .and_then(|t| {
                NaiveTime::parse_from_str(t, "%H:%M")
                    .ok()
                    .or_else(|| NaiveTime::parse_from_str(t, "%H%M").ok())
            })
            .ok_or_else(|| bad(name))
    };
    Ok(CalendarDay {
        date,
        open: time(&wire.open, "open")?,
        close: time(&wire.close, "close")?,
    })
}

/// Converts a bar; `None` when its time or a price is missing (volume defaults to 0).
pub fn bar(wire: &models::Bar) -> Option<Bar> {
    let ts = timestamp(wire.t.as_deref())?.timestamp_millis();
    Some(Bar {
        ts,
        open: wire.o?,
        high: wire.h?,
        low: wire.l?,
        close: wire.c?,
        volume: wire.v.unwrap_or(0.0),
    })
}

/// Converts a stream bar message (`T: "b"`); `None` when it is not a complete bar.
pub fn stream_bar(wire: &models::DataMessage, crypto: bool) -> Option<(String, Bar)> {
    let symbol = normalize_symbol(wire.symbol.as_deref()?, crypto.then_some("crypto"));
    let ts = timestamp(wire.t.as_deref())?.timestamp_millis();
    Some((
        symbol,
        Bar {
            ts,
            open: wire.o?,
            high: wire.h?,
            low: wire.l?,
            close: wire.c?,
            volume: wire.v.unwrap_or(0.0),
        },
    ))
}

/// Converts a trade_updates event's `data`.
///
/// # Errors
/// [`Error::Decode`] when the event has no decodable order.
pub fn trade_update(wire: &models::TradeUpdateData) -> Result<TradeUpdate> {
    let order_wire = wire.order.as_ref().ok_or_else(|| Error::Decode {
        what: "trade update".into(),
        detail: "missing order".into(),
    })?;
    Ok(TradeUpdate {
        event: wire
            .event
            .as_deref()
            .map_or(TradeEvent::Unknown, TradeEvent::parse),
        order: order(order_wire)?,
        execution_id: wire.execution_id.clone(),
        price: wire.price,
        quantity: wire.qty,
        position_quantity: wire.position_qty,
        timestamp: timestamp(wire.timestamp.as_deref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_normalise_both_ways() {
        assert_eq!(normalize_symbol("BTCUSD", Some("crypto")), "BTC/USD");
        assert_eq!(normalize_symbol("btc/usd", None), "BTC/USD");
        assert_eq!(normalize_symbol("ETHUSDT", Some("crypto")), "ETH/USDT");
        assert_eq!(normalize_symbol("SOLUSD", Some("crypto")), "SOL/USD");
        assert_eq!(normalize_symbol("AAPL ", Some("us_equity")), "AAPL");
        // Without the asset class an equity ticker is never split.
        assert_eq!(normalize_symbol("BTCUSD", None), "BTCUSD");
        assert_eq!(normalize_symbol("USD", Some("crypto")), "USD");
        assert_eq!(path_symbol("BTC/USD"), "BTCUSD");
        assert!(is_crypto("BTC/USD") && !is_crypto("AAPL"));
    }

    #[test]
    fn timestamps_with_offsets_and_nanoseconds() {
        let t = timestamp(Some("2022-04-19T13:45:04.981350886-04:00")).unwrap();
        assert_eq!(t.to_rfc3339(), "2022-04-19T17:45:04.981350886+00:00");
        assert_eq!(timestamp(Some("yesterday")), None);
    }

    #[test]
    fn orders_missing_essentials_are_decode_errors() {
        let wire = models::Order {
            id: Some("x".into()),
            client_order_id: Some("c".into()),
            ..Default::default()
        };
        assert_eq!(order(&wire).unwrap_err().code(), "venue_decode_failed");
        let ok = models::Order {
            side: Some("sell".into()),
            ..wire
        };
        let parsed = order(&ok).unwrap();
        assert_eq!(parsed.order_type, OrderType::Market);
        assert_eq!(parsed.status, VenueOrderStatus::Unknown);
    }
}
