//! The fake's account: orders, positions, cash, prices and bars, with Alpaca's validation rules
//! and JSON shapes (money as strings, RFC 3339 timestamps with nanoseconds, `order_type` duplicating
//! `type`, positions named `BTCUSD`).
//!
//! # Invariants
//! - `client_order_id` is unique across every order ever created, as at Alpaca.
//! - Cash, positions and fills change only through [`Book::fill`], so they always agree.
//! - Every state change of an order pushes one trade update (to whoever listens).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::{Signed, ToPrimitive};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{FakeAsset, FakeConfig};
use crate::domain::Bar;
use crate::veda::alpaca::parse::normalize_symbol;

/// An HTTP error answer: status and Alpaca's error body.
pub(super) type Refusal = (u16, Value);

fn refuse(status: u16, code: i64, message: impl Into<String>) -> Refusal {
    (status, json!({"code": code, "message": message.into()}))
}

/// RFC 3339 with nanoseconds, `Z`.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn money(d: Decimal) -> String {
    d.normalize().to_string()
}

fn opt_money(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, |d| Value::String(money(d)))
}

fn opt_ts(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(ts(t)))
}

/// One order at the fake.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeOrder {
    /// Venue id (UUID).
    pub id: String,
    /// Client order id.
    pub client_order_id: String,
    /// Canonical symbol.
    pub symbol: String,
    /// Asset class.
    pub asset_class: String,
    /// Asset id.
    pub asset_id: String,
    /// `buy` / `sell`.
    pub side: String,
    /// Order type text.
    pub order_type: String,
    /// Time in force text.
    pub time_in_force: String,
    /// Units.
    pub qty: Option<Decimal>,
    /// Notional.
    pub notional: Option<Decimal>,
    /// Limit price.
    pub limit_price: Option<Decimal>,
    /// Stop price.
    pub stop_price: Option<Decimal>,
    /// Status text.
    pub status: String,
    /// Filled units.
    pub filled_qty: Decimal,
    /// Average fill price.
    pub filled_avg_price: Option<Decimal>,
    /// Extended hours flag.
    pub extended_hours: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Fill time.
    pub filled_at: Option<DateTime<Utc>>,
    /// Cancel time.
    pub canceled_at: Option<DateTime<Utc>>,
    /// Replace time.
    pub replaced_at: Option<DateTime<Utc>>,
    /// Replacement's id.
    pub replaced_by: Option<String>,
    /// Replaced order's id.
    pub replaces: Option<String>,
}

impl FakeOrder {
    /// True while the order can still fill or be cancelled.
    pub fn is_open(&self) -> bool {
        matches!(
            self.status.as_str(),
            "accepted" | "new" | "partially_filled" | "pending_new" | "held"
        )
    }

    /// Alpaca's JSON for this order.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": ts(self.created_at),
            "updated_at": ts(self.updated_at),
            "submitted_at": ts(self.created_at),
            "filled_at": opt_ts(self.filled_at),
            "expired_at": null,
            "canceled_at": opt_ts(self.canceled_at),
            "failed_at": null,
            "replaced_at": opt_ts(self.replaced_at),
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": self.asset_id,
            "symbol": self.symbol,
            "asset_class": self.asset_class,
            "notional": opt_money(self.notional),
            "qty": opt_money(self.qty),
            "filled_qty": money(self.filled_qty),
            "filled_avg_price": opt_money(self.filled_avg_price),
            "order_class": "",
            "order_type": self.order_type,
            "type": self.order_type,
            "side": self.side,
            "position_intent": match self.side.as_str() { "buy" => "buy_to_open", _ => "sell_to_close" },
            "time_in_force": self.time_in_force,
            "limit_price": opt_money(self.limit_price),
            "stop_price": opt_money(self.stop_price),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": null,
            "trail_percent": null,
            "trail_price": null,
            "hwm": null,
        })
    }
}

/// A position at the fake.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct FakePosition {
    /// Signed units.
    pub(super) qty: Decimal,
    /// Average entry price.
    pub(super) avg_entry_price: Decimal,
}

/// A trade update to push: the event name and extra fields.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Event {
    /// The `{"stream":"trade_updates","data":…}` message.
    pub(super) message: Value,
}

/// The fake's account book.
#[derive(Debug)]
pub(super) struct Book {
    /// Configuration (assets, cash).
    pub(super) assets: Vec<FakeAsset>,
    /// Cash.
    pub(super) cash: Decimal,
    /// Orders in creation order.
    pub(super) orders: Vec<FakeOrder>,
    index_by_id: HashMap<String, usize>,
    index_by_cid: HashMap<String, usize>,
    /// Positions by canonical symbol.
    pub(super) positions: BTreeMap<String, FakePosition>,
    /// Last price by canonical symbol.
    pub(super) prices: BTreeMap<String, Decimal>,
    /// 1-minute bars by canonical symbol, time-ordered.
    pub(super) bars: BTreeMap<String, Vec<Bar>>,
    /// Account id.
    pub(super) account_id: String,
    /// Account creation time.
    pub(super) created_at: DateTime<Utc>,
    /// Fill market orders on arrival.
    pub(super) fill_market_orders: bool,
}

impl Book {
    /// A book for `config`.
    pub(super) fn new(config: &FakeConfig) -> Self {
        let prices = config
            .assets
            .iter()
            .map(|a| (a.symbol.clone(), a.price))
            .collect();
        Self {
            assets: config.assets.clone(),
            cash: config.initial_cash,
            orders: Vec::new(),
            index_by_id: HashMap::new(),
            index_by_cid: HashMap::new(),
            positions: BTreeMap::new(),
            prices,
            bars: BTreeMap::new(),
            account_id: Uuid::new_v4().to_string(),
            created_at: Utc::now(),
            fill_market_orders: config.fill_market_orders,
        }
    }

    /// Finds an asset by symbol (any spelling) or id.
    pub(super) fn asset(&self, symbol_or_id: &str) -> Option<&FakeAsset> {
        let upper = symbol_or_id.trim().to_ascii_uppercase();
        self.assets.iter().find(|a| {
            a.symbol == upper
                || a.symbol.replace('/', "") == upper
                || a.id.eq_ignore_ascii_case(symbol_or_id)
        })
    }

    /// Order by venue id.
    pub(super) fn order(&self, id: &str) -> Option<&FakeOrder> {
        self.index_by_id.get(id).and_then(|i| self.orders.get(*i))
    }

    /// Order by client order id.
    pub(super) fn order_by_cid(&self, cid: &str) -> Option<&FakeOrder> {
        self.index_by_cid.get(cid).and_then(|i| self.orders.get(*i))
    }

    fn reserved_for_buys(&self) -> Decimal {
        self.orders
            .iter()
            .filter(|o| o.is_open() && o.side == "buy")
            .map(|o| {
                let price = o
                    .limit_price
                    .or(o.stop_price)
                    .or_else(|| self.prices.get(&o.symbol).copied())
                    .unwrap_or_default();
                match (o.qty, o.notional) {
                    (Some(q), _) => (q - o.filled_qty) * price,
                    (None, Some(n)) => n - o.filled_qty * o.filled_avg_price.unwrap_or_default(),
                    _ => Decimal::ZERO,
                }
            })
            .sum()
    }

    /// Cash not reserved for working buy orders (a cash account: no margin).
    pub(super) fn buying_power(&self) -> Decimal {
        (self.cash - self.reserved_for_buys()).max(Decimal::ZERO)
    }

    /// Market value of all positions.
    pub(super) fn positions_value(&self) -> (Decimal, Decimal) {
        let mut long = Decimal::ZERO;
        let mut short = Decimal::ZERO;
        for (symbol, p) in &self.positions {
            let value = p.qty
                * self
                    .prices
                    .get(symbol)
                    .copied()
                    .unwrap_or(p.avg_entry_price);
            if value >= Decimal::ZERO {
                long += value
            } else {
                short += value
            }
        }
        (long, short)
    }

    /// `GET /v2/account`.
    pub(super) fn account_json(&self) -> Value {
        let (long, short) = self.positions_value();
        let equity = self.cash + long + short;
        let bp = money(self.buying_power());
        json!({
            "id": self.account_id,
            "account_number": "PA3FAKE0001",
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "cash": money(self.cash),
            "portfolio_value": money(equity),
            "equity": money(equity),
            "last_equity": money(equity),
            "buying_power": bp,
            "regt_buying_power": bp,
            "non_marginable_buying_power": bp,
            "options_buying_power": "0",
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "long_market_value": money(long),
            "short_market_value": money(short),
            "multiplier": "1",
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "pending_transfer_out": "0",
            "intraday_adjustments": "0",
            "pending_reg_taf_fees": "0",
            "balance_asof": self.created_at.date_naive().to_string(),
            "created_at": ts(self.created_at),
            "trading_blocked": false,
            "transfers_blocked": false,
            "account_blocked": false,
            "trade_suspended_by_user": false,
            "shorting_enabled": false,
            "options_approved_level": 0,
            "options_trading_level": 0,
        })
    }

    /// A position's JSON (crypto symbols without the slash, as Alpaca reports them).
    pub(super) fn position_json(&self, symbol: &str, p: &FakePosition) -> Value {
        let asset = self.asset(symbol);
        let class = asset.map_or("us_equity", |a| a.class.as_str());
        let exchange = if class == "crypto" {
            String::new()
        } else {
            asset.map_or(String::new(), |a| a.exchange.clone())
        };
        let price = self
            .prices
            .get(symbol)
            .copied()
            .unwrap_or(p.avg_entry_price);
        let market_value = p.qty * price;
        let cost_basis = p.qty * p.avg_entry_price;
        let pl = market_value - cost_basis;
        let plpc = if cost_basis.is_zero() {
            Decimal::ZERO
        } else {
            (pl / cost_basis.abs()).round_dp(6)
        };
        let held: Decimal = self
            .orders
            .iter()
            .filter(|o| o.is_open() && o.symbol == symbol && o.side == "sell")
            .filter_map(|o| o.qty.map(|q| q - o.filled_qty))
            .sum();
        json!({
            "asset_id": asset.map_or_else(String::new, |a| a.id.clone()),
            "symbol": symbol.replace('/', ""),
            "exchange": exchange,
            "asset_class": class,
            "asset_marginable": class != "crypto",
            "avg_entry_price": money(p.avg_entry_price),
            "qty": money(p.qty),
            "qty_available": money((p.qty.abs() - held).max(Decimal::ZERO) * p.qty.signum()),
            "side": if p.qty >= Decimal::ZERO { "long" } else { "short" },
            "market_value": money(market_value),
            "cost_basis": money(cost_basis),
            "unrealized_pl": money(pl),
            "unrealized_plpc": money(plpc),
            "unrealized_intraday_pl": money(pl),
            "unrealized_intraday_plpc": money(plpc),
            "current_price": money(price),
            "lastday_price": money(price),
            "change_today": "0",
        })
    }

    /// `POST /v2/orders`: validates like Alpaca, creates the order, returns it and the events.
    ///
    /// # Errors
    /// Alpaca's status and body: 422 validation or duplicate id, 403 funds.
    pub(super) fn create_order(
        &mut self,
        body: &Value,
        now: DateTime<Utc>,
    ) -> Result<(FakeOrder, Vec<Event>), Refusal> {
        let now = self.next_creation_time(now);
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let dec = |k: &str| -> Result<Option<Decimal>, Refusal> {
            match body.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => crate::veda::alpaca::models::decimal_from_value(v)
                    .map(Some)
                    .ok_or_else(|| refuse(422, 40010000, format!("invalid {k}"))),
            }
        };
        let symbol_text =
            text("symbol").ok_or_else(|| refuse(422, 40010000, "symbol is required"))?;
        let asset = self
            .asset(&symbol_text)
            .cloned()
            .ok_or_else(|| refuse(422, 40010001, format!("asset \"{symbol_text}\" not found")))?;
        let side = text("side")
            .filter(|s| s == "buy" || s == "sell")
            .ok_or_else(|| refuse(422, 40010000, "invalid side"))?;
        let order_type = text("type")
            .filter(|t| ["market", "limit", "stop", "stop_limit"].contains(&t.as_str()))
            .ok_or_else(|| refuse(422, 40010000, "invalid order type"))?;
        let tif = text("time_in_force")
            .filter(|t| ["day", "gtc", "opg", "cls", "ioc", "fok"].contains(&t.as_str()))
            .ok_or_else(|| refuse(422, 40010000, "invalid time_in_force"))?;
        let crypto = asset.class == "crypto";
        if crypto && !["gtc", "ioc"].contains(&tif.as_str()) {
            return Err(refuse(422, 42210000, "invalid crypto time_in_force"));
        }
        if crypto && order_type == "stop" {
            return Err(refuse(422, 42210000, "invalid crypto order type"));
        }
        let qty = dec("qty")?;
        let notional = dec("notional")?;
        let limit_price = dec("limit_price")?;
        let stop_price = dec("stop_price")?;
        match (qty, notional) {
            (None, None) => return Err(refuse(422, 40010001, "qty or notional is required")),
            (Some(_), Some(_)) => {
                return Err(refuse(
                    422,
                    40010001,
                    "only one of qty or notional may be set",
                ));
            }
            _ => {}
        }
        let amount = qty.or(notional).unwrap_or_default();
        if amount <= Decimal::ZERO || amount.normalize().scale() > 9 {
            return Err(refuse(
                422,
                40010001,
                "qty must be > 0 with at most 9 decimals",
            ));
        }
        if !crypto {
            let fractional = qty.is_some_and(|q| q.fract() != Decimal::ZERO) || notional.is_some();
            if fractional && (order_type != "market" || tif != "day") {
                return Err(refuse(
                    422,
                    42210000,
                    "fractional orders must be DAY orders",
                ));
            }
            if fractional && !asset.fractionable {
                return Err(refuse(422, 42210000, "requested asset is not fractionable"));
            }
        }
        if matches!(order_type.as_str(), "limit" | "stop_limit") && limit_price.is_none() {
            return Err(refuse(422, 40010001, "limit_price is required"));
        }
        if matches!(order_type.as_str(), "stop" | "stop_limit") && stop_price.is_none() {
            return Err(refuse(422, 40010001, "stop_price is required"));
        }
        for (name, price) in [("limit_price", limit_price), ("stop_price", stop_price)] {
            if let Some(p) = price {
                if p <= Decimal::ZERO {
                    return Err(refuse(422, 40010001, format!("{name} must be > 0")));
                }
                let max_dp = if crypto {
                    9
                } else if p >= Decimal::ONE {
                    2
                } else {
                    4
                };
                if p.normalize().scale() > max_dp {
                    return Err(refuse(
                        422,
                        42210000,
                        format!(
                            "invalid {name} {p}. sub-penny increment does not fulfill minimum pricing criteria"
                        ),
                    ));
                }
            }
        }
        let cid = match text("client_order_id") {
            Some(cid) if cid.len() > 128 => {
                return Err(refuse(
                    422,
                    40010001,
                    "client_order_id must be no more than 128 characters",
                ));
            }
            Some(cid) if !cid.is_empty() => cid,
            _ => Uuid::new_v4().to_string(),
        };
        if self.index_by_cid.contains_key(&cid) {
            return Err(refuse(422, 40010001, "client_order_id must be unique"));
        }
        let price = limit_price
            .or(stop_price)
            .or_else(|| self.prices.get(&asset.symbol).copied())
            .unwrap_or_default();
        if side == "buy" {
            let cost = notional.unwrap_or_else(|| amount * price);
            if cost > self.buying_power() {
                return Err(refuse(403, 40310000, "insufficient buying power"));
            }
        } else if crypto {
            let held = self
                .positions
                .get(&asset.symbol)
                .map_or(Decimal::ZERO, |p| p.qty);
            let units = qty.unwrap_or_else(|| {
                if price.is_zero() {
                    Decimal::ZERO
                } else {
                    amount / price
                }
            });
            if units > held {
                let base = asset
                    .symbol
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                return Err(refuse(
                    403,
                    40310000,
                    format!(
                        "insufficient balance for {base} (requested: {units}, available: {held})"
                    ),
                ));
            }
        }
        let order = FakeOrder {
            id: Uuid::new_v4().to_string(),
            client_order_id: cid.clone(),
            symbol: asset.symbol.clone(),
            asset_class: asset.class.clone(),
            asset_id: asset.id.clone(),
            side,
            order_type,
            time_in_force: tif,
            qty,
            notional,
            limit_price,
            stop_price,
            status: "accepted".to_owned(),
            filled_qty: Decimal::ZERO,
            filled_avg_price: None,
            extended_hours: body
                .get("extended_hours")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            created_at: now,
            updated_at: now,
            filled_at: None,
            canceled_at: None,
            replaced_at: None,
            replaced_by: None,
            replaces: None,
        };
        let answer = order.clone();
        let index = self.orders.len();
        self.index_by_id.insert(order.id.clone(), index);
        self.index_by_cid.insert(cid, index);
        self.orders.push(order);
        let mut events = vec![self.set_status(index, "new", now)];
        if self.fill_market_orders && answer.order_type == "market" && !price.is_zero() {
            let units = answer.qty.unwrap_or_else(|| (amount / price).round_dp(9));
            events.extend(self.fill(index, units, price, now));
        }
        Ok((answer, events))
    }

    fn set_status(&mut self, index: usize, status: &str, now: DateTime<Utc>) -> Event {
        let order = &mut self.orders[index];
        order.status = status.to_owned();
        order.updated_at = now;
        let event = match status {
            "canceled" => {
                order.canceled_at = Some(now);
                "canceled"
            }
            "replaced" => {
                order.replaced_at = Some(now);
                "replaced"
            }
            other => other,
        };
        Event {
            message: json!({"stream": "trade_updates", "data": {"event": event, "timestamp": ts(now), "order": order.to_json()}}),
        }
    }

    /// Fills `units` of order `index` at `price` (capped at what is left); returns the events.
    pub(super) fn fill(
        &mut self,
        index: usize,
        units: Decimal,
        price: Decimal,
        now: DateTime<Utc>,
    ) -> Vec<Event> {
        let Some(order) = self.orders.get(index) else {
            return Vec::new();
        };
        if !order.is_open() {
            return Vec::new();
        }
        let total = order.qty.unwrap_or(units);
        let units = units.min(total - order.filled_qty);
        if units <= Decimal::ZERO {
            return Vec::new();
        }
        let signed = if order.side == "buy" { units } else { -units };
        let symbol = order.symbol.clone();
        let position = self.positions.entry(symbol.clone()).or_default();
        let new_qty = position.qty + signed;
        if position.qty.is_zero() || position.qty.signum() == signed.signum() {
            // Opening or adding: weighted average entry.
            position.avg_entry_price =
                (position.avg_entry_price * position.qty.abs() + price * units) / new_qty.abs();
        } else if new_qty.signum() != position.qty.signum() && !new_qty.is_zero() {
            // Flipped through zero: the remainder opened at this price.
            position.avg_entry_price = price;
        }
        position.qty = new_qty;
        let position_qty = new_qty;
        if new_qty.is_zero() {
            self.positions.remove(&symbol);
        }
        self.cash -= signed * price;
        self.prices.insert(symbol, price);
        let order = &mut self.orders[index];
        let filled_before = order.filled_qty;
        order.filled_avg_price = Some(
            (order.filled_avg_price.unwrap_or_default() * filled_before + price * units)
                / (filled_before + units),
        );
        order.filled_qty += units;
        let complete = order.qty.is_none_or(|q| order.filled_qty >= q);
        order.status = if complete {
            "filled"
        } else {
            "partially_filled"
        }
        .to_owned();
        order.updated_at = now;
        if complete {
            order.filled_at = Some(now);
        }
        vec![Event {
            message: json!({"stream": "trade_updates", "data": {
                "event": if complete { "fill" } else { "partial_fill" },
                "execution_id": Uuid::new_v4().to_string(),
                "order": order.to_json(),
                "timestamp": ts(now),
                "price": money(price),
                "qty": money(units),
                "position_qty": money(position_qty),
            }}),
        }]
    }

    /// Creation times strictly increase, so `after=` cursors over submission time never skip or
    /// repeat an order (the venue orders its book the same way).
    fn next_creation_time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.orders.last() {
            Some(last) if now <= last.created_at => {
                last.created_at + chrono::Duration::nanoseconds(1)
            }
            _ => now,
        }
    }

    /// Index of an order by id.
    pub(super) fn index_of(&self, id: &str) -> Option<usize> {
        self.index_by_id.get(id).copied()
    }

    /// `DELETE /v2/orders/{id}`.
    ///
    /// # Errors
    /// 404 unknown, 422 not cancelable.
    pub(super) fn cancel(&mut self, id: &str, now: DateTime<Utc>) -> Result<Vec<Event>, Refusal> {
        let index = self
            .index_of(id)
            .ok_or_else(|| refuse(404, 40410000, "order not found"))?;
        if !self.orders[index].is_open() {
            return Err(refuse(422, 42210000, "order is not cancelable"));
        }
        let pending = self.set_status(index, "pending_cancel", now);
        let done = self.set_status(index, "canceled", now);
        Ok(vec![pending, done])
    }

    /// `PATCH /v2/orders/{id}`: a new order replaces the old one.
    ///
    /// # Errors
    /// 404 unknown, 422 not replaceable or invalid, 403 nothing changed.
    pub(super) fn replace(
        &mut self,
        id: &str,
        body: &Value,
        now: DateTime<Utc>,
    ) -> Result<(FakeOrder, Vec<Event>), Refusal> {
        let now = self.next_creation_time(now);
        let index = self
            .index_of(id)
            .ok_or_else(|| refuse(404, 40410000, "order not found"))?;
        let old = self.orders[index].clone();
        if !old.is_open() || old.status == "accepted" {
            return Err(refuse(422, 42210000, "order is not replaceable"));
        }
        if old.notional.is_some() {
            return Err(refuse(422, 42210000, "notional orders cannot be replaced"));
        }
        let dec = |k: &str| {
            body.get(k)
                .and_then(crate::veda::alpaca::models::decimal_from_value)
        };
        let qty = dec("qty").or(old.qty);
        let limit_price = dec("limit_price").or(old.limit_price);
        let stop_price = dec("stop_price").or(old.stop_price);
        let tif = body
            .get("time_in_force")
            .and_then(Value::as_str)
            .map_or(old.time_in_force.clone(), str::to_owned);
        if qty == old.qty
            && limit_price == old.limit_price
            && stop_price == old.stop_price
            && tif == old.time_in_force
        {
            return Err(refuse(403, 40310000, "order parameters are not changed"));
        }
        let cid = match body.get("client_order_id").and_then(Value::as_str) {
            Some(c) if self.index_by_cid.contains_key(c) => {
                return Err(refuse(422, 40010001, "client_order_id must be unique"));
            }
            Some(c) if c.len() > 128 => {
                return Err(refuse(
                    422,
                    40010001,
                    "client_order_id must be no more than 128 characters",
                ));
            }
            Some(c) => c.to_owned(),
            None => Uuid::new_v4().to_string(),
        };
        let new = FakeOrder {
            id: Uuid::new_v4().to_string(),
            client_order_id: cid.clone(),
            qty,
            limit_price,
            stop_price,
            time_in_force: tif,
            status: "new".to_owned(),
            filled_qty: Decimal::ZERO,
            filled_avg_price: None,
            created_at: now,
            updated_at: now,
            filled_at: None,
            canceled_at: None,
            replaced_at: None,
            replaced_by: None,
            replaces: Some(old.id.clone()),
            ..old
        };
        self.orders[index].replaced_by = Some(new.id.clone());
        let replaced = self.set_status(index, "replaced", now);
        let new_index = self.orders.len();
        self.index_by_id.insert(new.id.clone(), new_index);
        self.index_by_cid.insert(cid, new_index);
        self.orders.push(new.clone());
        let created = self.set_status(new_index, "new", now);
        Ok((new, vec![replaced, created]))
    }

    /// Sets a position directly (tests: a position that differs from Weaver's records).
    pub(super) fn set_position(&mut self, symbol: &str, qty: Decimal, avg_entry_price: Decimal) {
        let symbol = self
            .asset(symbol)
            .map_or_else(|| normalize_symbol(symbol, None), |a| a.symbol.clone());
        if qty.is_zero() {
            self.positions.remove(&symbol);
        } else {
            self.positions.insert(
                symbol,
                FakePosition {
                    qty,
                    avg_entry_price,
                },
            );
        }
    }

    /// Last close of each symbol's bars, if any.
    pub(super) fn latest_bar(&self, symbol: &str) -> Option<Bar> {
        self.bars.get(symbol).and_then(|b| b.last().copied())
    }

    /// Stores bars (kept time-ordered, one per timestamp) and updates the last price.
    pub(super) fn insert_bars(&mut self, symbol: &str, bars: &[Bar]) {
        let symbol = self
            .asset(symbol)
            .map_or_else(|| normalize_symbol(symbol, None), |a| a.symbol.clone());
        let list = self.bars.entry(symbol.clone()).or_default();
        list.extend_from_slice(bars);
        list.sort_by_key(|b| b.ts);
        list.dedup_by_key(|b| b.ts);
        if let Some(last) = list.last()
            && let Some(price) = Decimal::from_f64_retain(last.close)
        {
            self.prices.insert(symbol, price.round_dp(6));
        }
    }

    /// A bar's JSON: stock volume is an integer, crypto volume a float.
    pub(super) fn bar_json(bar: &Bar, crypto: bool) -> Value {
        let t = DateTime::from_timestamp_millis(bar.ts)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
        let volume = if crypto {
            json!(bar.volume)
        } else {
            json!(bar.volume.round() as i64)
        };
        let vwap = (bar.open + bar.high + bar.low + bar.close) / 4.0;
        json!({"t": t, "o": bar.open, "h": bar.high, "l": bar.low, "c": bar.close, "v": volume,
               "n": (bar.volume / 100.0).ceil().to_i64().unwrap_or(0).max(1), "vw": vwap})
    }
}
