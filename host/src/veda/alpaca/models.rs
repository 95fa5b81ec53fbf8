//! Alpaca's wire format: the JSON objects of the trading API v2, market data v2 and both streams,
//! decoded tolerantly, and the request bodies we send.
//!
//! # Invariants
//! - Every response field is optional and unknown fields are ignored: Alpaca removes and adds
//!   fields without notice (the 2026-07-06 account change broke strict SDKs).
//! - Decimals are accepted as JSON strings *or* numbers; a value that is neither (or does not
//!   parse) decodes as absent rather than failing the whole object.
//! - Request bodies send decimals as strings, as Alpaca recommends.
//!
//! Wire structs carry Alpaca's own field names (meanings: `docs/architecture.md#alpaca`);
//! their fields are exempt from per-field docs because the name *is* the documentation.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

/// Decodes a decimal from a string or a number; anything else (null, bad text) is `None`.
pub(crate) fn lenient_decimal<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Decimal>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(decimal_from_value(&value))
}

/// Converts a JSON string or number to a decimal.
pub fn decimal_from_value(value: &serde_json::Value) -> Option<Decimal> {
    match value {
        serde_json::Value::String(s) => parse_decimal_text(s.trim()),
        serde_json::Value::Number(n) => {
            // Via the number's text keeps every digit the venue sent (no f64 round trip).
            parse_decimal_text(&n.to_string())
        }
        _ => None,
    }
}

fn parse_decimal_text(text: &str) -> Option<Decimal> {
    text.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(text).ok())
}

/// Decodes a string from a string, number or bool; null and other shapes are `None`.
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(match value {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// Decodes a bool from a bool or the strings `"true"`/`"false"`.
pub(crate) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(match value {
        serde_json::Value::Bool(b) => Some(b),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Decodes an f64 from a number or numeric string.
pub(crate) fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Alpaca's error body: `{"code": 40010001, "message": "…"}`; `code` is sometimes absent.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct ApiError {
    /// Eight-digit error code (not always the HTTP status).
    #[serde(deserialize_with = "lenient_i64")]
    pub code: Option<i64>,
    /// Message.
    #[serde(deserialize_with = "lenient_string")]
    pub message: Option<String>,
}

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(match value {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// An order object (`GET /v2/orders/{id}`, `POST /v2/orders`, stream `data.order`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct Order {
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub client_order_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub created_at: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub updated_at: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub submitted_at: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub filled_at: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub replaced_by: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub replaces: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub symbol: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub asset_class: Option<String>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub notional: Option<Decimal>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub qty: Option<Decimal>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub filled_qty: Option<Decimal>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub filled_avg_price: Option<Decimal>,
    #[serde(rename = "type", deserialize_with = "lenient_string")]
    pub order_type: Option<String>,
    /// Deprecated duplicate of `type`, used when `type` is absent.
    #[serde(rename = "order_type", deserialize_with = "lenient_string")]
    pub order_type_legacy: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub side: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub time_in_force: Option<String>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub limit_price: Option<Decimal>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub stop_price: Option<Decimal>,
    #[serde(deserialize_with = "lenient_string")]
    pub status: Option<String>,
}

/// `GET /v2/account`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct Account {
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub account_number: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub status: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub currency: Option<String>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub cash: Option<Decimal>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub equity: Option<Decimal>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub portfolio_value: Option<Decimal>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub buying_power: Option<Decimal>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub non_marginable_buying_power: Option<Decimal>,
    #[serde(deserialize_with = "lenient_bool")]
    pub trading_blocked: Option<bool>,
    #[serde(deserialize_with = "lenient_bool")]
    pub account_blocked: Option<bool>,
    #[serde(deserialize_with = "lenient_bool")]
    pub trade_suspended_by_user: Option<bool>,
}

/// `GET /v2/positions` item.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct Position {
    #[serde(deserialize_with = "lenient_string")]
    pub symbol: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub asset_class: Option<String>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub qty: Option<Decimal>,
    #[serde(deserialize_with = "lenient_string")]
    pub side: Option<String>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub avg_entry_price: Option<Decimal>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub market_value: Option<Decimal>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub current_price: Option<Decimal>,
}

/// `GET /v2/assets` item.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct Asset {
    #[serde(deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(rename = "class", deserialize_with = "lenient_string")]
    pub asset_class: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub symbol: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub status: Option<String>,
    #[serde(deserialize_with = "lenient_bool")]
    pub tradable: Option<bool>,
    #[serde(deserialize_with = "lenient_bool")]
    pub fractionable: Option<bool>,
    #[serde(deserialize_with = "lenient_bool")]
    pub shortable: Option<bool>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub min_order_size: Option<Decimal>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub min_trade_increment: Option<Decimal>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub price_increment: Option<Decimal>,
}

/// `GET /v2/clock`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct Clock {
    #[serde(deserialize_with = "lenient_string")]
    pub timestamp: Option<String>,
    #[serde(deserialize_with = "lenient_bool")]
    pub is_open: Option<bool>,
    #[serde(deserialize_with = "lenient_string")]
    pub next_open: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub next_close: Option<String>,
}

/// `GET /v2/calendar` item (times are New York local, no zone).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct CalendarDay {
    #[serde(deserialize_with = "lenient_string")]
    pub date: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub open: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub close: Option<String>,
}

/// One bar, REST or stream (`T`/`S` only on the stream).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct Bar {
    #[serde(rename = "T", deserialize_with = "lenient_string")]
    pub kind: Option<String>,
    #[serde(rename = "S", deserialize_with = "lenient_string")]
    pub symbol: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub t: Option<String>,
    #[serde(deserialize_with = "lenient_f64")]
    pub o: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub h: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub l: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub c: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub v: Option<f64>,
}

/// A bars page: `bars` is a map for multi-symbol routes and a list for single-symbol routes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct BarsPage {
    pub bars: Option<BarsField>,
    #[serde(deserialize_with = "lenient_string")]
    pub symbol: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub next_page_token: Option<String>,
}

/// The `bars` field of a bars page.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum BarsField {
    /// Multi-symbol: symbol → bars.
    Map(BTreeMap<String, Vec<Bar>>),
    /// Single symbol.
    List(Vec<Bar>),
}

/// Latest bars: `{"bars": {symbol: bar}}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct LatestBars {
    pub bars: BTreeMap<String, Bar>,
}

/// A quote (latest quote, stream `T: "q"`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct Quote {
    #[serde(rename = "S", deserialize_with = "lenient_string")]
    pub symbol: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub t: Option<String>,
    #[serde(deserialize_with = "lenient_f64")]
    pub bp: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub bs: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub ap: Option<f64>,
    #[serde(rename = "as", deserialize_with = "lenient_f64")]
    pub ask_size: Option<f64>,
}

/// A trade (latest trade, stream `T: "t"`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct Trade {
    #[serde(rename = "S", deserialize_with = "lenient_string")]
    pub symbol: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub t: Option<String>,
    #[serde(deserialize_with = "lenient_f64")]
    pub p: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub s: Option<f64>,
    #[serde(deserialize_with = "lenient_string")]
    pub i: Option<String>,
}

/// A trade_updates stream message: `{"stream": "...", "data": {...}}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct StreamMessage {
    #[serde(deserialize_with = "lenient_string")]
    pub stream: Option<String>,
    pub data: Option<serde_json::Value>,
}

/// `data` of a trade_updates event.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct TradeUpdateData {
    #[serde(deserialize_with = "lenient_string")]
    pub event: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub execution_id: Option<String>,
    pub order: Option<Order>,
    #[serde(deserialize_with = "lenient_string")]
    pub timestamp: Option<String>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub price: Option<Decimal>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub qty: Option<Decimal>,
    #[serde(deserialize_with = "lenient_decimal")]
    pub position_qty: Option<Decimal>,
}

/// One element of a market data stream frame (a JSON array of these).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct DataMessage {
    #[serde(rename = "T", deserialize_with = "lenient_string")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub msg: Option<String>,
    #[serde(deserialize_with = "lenient_i64")]
    pub code: Option<i64>,
    #[serde(rename = "S", deserialize_with = "lenient_string")]
    pub symbol: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub t: Option<String>,
    #[serde(deserialize_with = "lenient_f64")]
    pub o: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub h: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub l: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub c: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub v: Option<f64>,
}

/// `POST /v2/orders` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct NewOrder {
    pub symbol: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub notional: Option<String>,
    pub side: String,
    #[serde(rename = "type")]
    pub order_type: String,
    pub time_in_force: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stop_price: Option<String>,
    #[serde(default)]
    pub extended_hours: bool,
    pub client_order_id: String,
}

/// `PATCH /v2/orders/{id}` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ReplaceOrder {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time_in_force: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stop_price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_order_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn decimals_as_string_or_number_and_junk_is_absent() {
        let o: Order = serde_json::from_str(
            r#"{"qty": 3, "filled_qty": "1.5", "limit_price": 101.25, "stop_price": "abc",
                "notional": null, "brand_new_field": {"x": 1}, "filled_avg_price": "1e2"}"#,
        )
        .unwrap();
        assert_eq!(o.qty, Some(dec!(3)));
        assert_eq!(o.filled_qty, Some(dec!(1.5)));
        assert_eq!(o.limit_price, Some(dec!(101.25)));
        assert_eq!(o.stop_price, None);
        assert_eq!(o.notional, None);
        assert_eq!(o.filled_avg_price, Some(dec!(100)));
        let empty: Order = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, Order::default());
    }

    #[test]
    fn error_bodies_with_and_without_code() {
        let e: ApiError =
            serde_json::from_str(r#"{"code":40010001,"message":"client_order_id must be unique"}"#)
                .unwrap();
        assert_eq!(e.code, Some(40010001));
        let e: ApiError = serde_json::from_str(r#"{"message":"unauthorized"}"#).unwrap();
        assert_eq!((e.code, e.message.as_deref()), (None, Some("unauthorized")));
    }

    #[test]
    fn new_order_sends_decimals_as_strings() {
        let body = NewOrder {
            symbol: "BTC/USD".into(),
            qty: Some("0.001".into()),
            notional: None,
            side: "buy".into(),
            order_type: "limit".into(),
            time_in_force: "gtc".into(),
            limit_price: Some("50000.5".into()),
            stop_price: None,
            extended_hours: false,
            client_order_id: "w-1".into(),
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["qty"], "0.001");
        assert_eq!(json["type"], "limit");
        assert!(json.get("notional").is_none());
    }
}
