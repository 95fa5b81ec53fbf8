//! The fake's order entry: `POST /v2/orders` and `PATCH /v2/orders/{id}` validated as Alpaca
//! validates them (sizes, sub-penny prices, crypto time in force, buying power, unique
//! `client_order_id`s), on the account book of [`super::state`].
//!
//! # Invariants
//! - A refused order changes nothing in the book.
//! - A `client_order_id` is refused forever once used, as at Alpaca.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use super::state::{Book, Event, FakeOrder, Refusal, refuse};

impl Book {
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
}
