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

pub(super) fn refuse(status: u16, code: i64, message: impl Into<String>) -> Refusal {
    (status, json!({"code": code, "message": message.into()}))
}

/// RFC 3339 with nanoseconds, `Z`.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(super) fn money(d: Decimal) -> String {
    d.normalize().to_string()
}

pub(super) fn opt_money(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, |d| Value::String(money(d)))
}

pub(super) fn opt_ts(t: Option<DateTime<Utc>>) -> Value {
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
    pub(super) index_by_id: HashMap<String, usize>,
    pub(super) index_by_cid: HashMap<String, usize>,
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

    pub(super) fn reserved_for_buys(&self) -> Decimal {
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

    pub(super) fn set_status(&mut self, index: usize, status: &str, now: DateTime<Utc>) -> Event {
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
    pub(super) fn next_creation_time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
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
        // A bar at a time already stored replaces it (a recomputed minute bar).
        if !list.is_empty() {
            let new: std::collections::HashSet<i64> = bars.iter().map(|b| b.ts).collect();
            list.retain(|b| !new.contains(&b.ts));
        }
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
