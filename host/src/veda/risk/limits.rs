//! The `risk` object of a run: which limits are on and at what values, how partial updates apply,
//! and the defaults a live venue starts from.
//!
//! # Invariants
//! - Every key is optional and `null` turns its rule off; [`RiskLimits::default`] is everything
//!   off (simulated-exchange runs), [`RiskLimits::alpaca_defaults`] what a live run starts from.
//! - Serialization writes every key, `null` where off, so a reader sees the full set of rules.
//! - Nothing builds a [`RiskLimits`] from JSON without validating it: [`RiskLimits::from_json`],
//!   `Deserialize` and [`RiskLimits::apply`] all refuse unknown keys, wrong types and bad values
//!   with a [`LimitError`] naming the field.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::TradingState;

/// A refused `risk` object or patch: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("risk limit {field}: {message}")]
pub struct LimitError {
    /// The key at fault (`cooldown.pause_minutes` inside the cooldown object, `risk` for the
    /// object as a whole).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl LimitError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What a daily-loss or drawdown breach does to the scope's trading state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreachAction {
    /// Only orders that reduce a position are accepted.
    ReduceOnly,
    /// No orders are accepted.
    Halted,
}

impl BreachAction {
    /// The trading state the action puts the scope in.
    pub fn state(self) -> TradingState {
        match self {
            BreachAction::ReduceOnly => TradingState::ReduceOnly,
            BreachAction::Halted => TradingState::Halted,
        }
    }
}

/// Pause after a run of losing trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cooldown {
    /// Losing trades that start a pause (at least 1).
    pub losing_trades: u32,
    /// Window the losing trades are counted in, in minutes (at least 1).
    pub window_minutes: u32,
    /// Length of the pause, in minutes (at least 1); the scope is reduce-only meanwhile.
    pub pause_minutes: u32,
}

/// Configured limits; `None` disables a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub struct RiskLimits {
    /// Largest notional (quantity × price) of a single order.
    pub max_notional_per_order: Option<Decimal>,
    /// Largest absolute position in one symbol, in units, counting working orders.
    pub max_position_per_symbol: Option<Decimal>,
    /// Largest gross exposure of the scope: the sum over symbols of |position × price|, counting
    /// working orders in the worst case.
    pub max_gross_exposure: Option<Decimal>,
    /// Most orders working at once (in this scope).
    pub max_open_orders: Option<usize>,
    /// Most orders placed in any 60-second window (in this scope).
    pub max_orders_per_minute: Option<u32>,
    /// Largest quantity of a single order, in units (fat-finger guard).
    pub max_order_quantity: Option<Decimal>,
    /// Largest relative distance of a limit or stop price from the reference price
    /// (`0.1` = 10 %).
    pub max_price_deviation: Option<Decimal>,
    /// Largest notional of a single order as a percentage of the current equity (0 < x ≤ 100).
    pub max_order_equity_pct: Option<Decimal>,
    /// Largest loss since the session start (realised and unrealised), as a percentage of the
    /// session-start equity (0 < x ≤ 100).
    pub daily_loss_pct: Option<Decimal>,
    /// Largest fall from the peak equity, as a percentage of the peak (0 < x ≤ 100).
    pub max_drawdown_pct: Option<Decimal>,
    /// Pause after a run of losing trades.
    pub cooldown: Option<Cooldown>,
    /// Symbols orders may open or grow positions in.
    pub allowed_symbols: Option<Vec<String>>,
    /// What a daily-loss breach does.
    pub daily_loss_action: BreachAction,
    /// What a drawdown breach does.
    pub drawdown_action: BreachAction,
    /// Whether a daily-loss breach clears at the next session start.
    pub reset_next_session: bool,
}

impl Default for RiskLimits {
    /// Every rule off.
    fn default() -> Self {
        Self {
            max_notional_per_order: None,
            max_position_per_symbol: None,
            max_gross_exposure: None,
            max_open_orders: None,
            max_orders_per_minute: None,
            max_order_quantity: None,
            max_price_deviation: None,
            max_order_equity_pct: None,
            daily_loss_pct: None,
            max_drawdown_pct: None,
            cooldown: None,
            allowed_symbols: None,
            daily_loss_action: BreachAction::ReduceOnly,
            drawdown_action: BreachAction::Halted,
            reset_next_session: false,
        }
    }
}

impl RiskLimits {
    /// What a live Alpaca run starts from: loss and drawdown limits, no order above the equity,
    /// sane order counts, and only the run's own symbols (no symbol list when it has none).
    pub fn alpaca_defaults(symbols: &[String]) -> Self {
        Self {
            daily_loss_pct: Some(Decimal::from(5)),
            max_drawdown_pct: Some(Decimal::from(20)),
            max_order_equity_pct: Some(Decimal::from(100)),
            max_open_orders: Some(50),
            max_orders_per_minute: Some(60),
            allowed_symbols: (!symbols.is_empty()).then(|| symbols.to_vec()),
            ..Self::default()
        }
    }

    /// Parses and validates a full `risk` object: absent keys are off, as are `null` ones.
    ///
    /// # Errors
    /// [`LimitError`] naming the first unknown key, wrongly typed value or bad value.
    pub fn from_json(value: &Value) -> Result<Self, LimitError> {
        Self::default().apply(&RiskLimitsPatch::from_json(value)?)
    }

    /// Checks every value is in its range.
    ///
    /// # Errors
    /// [`LimitError`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), LimitError> {
        for (field, value) in [
            ("max_notional_per_order", self.max_notional_per_order),
            ("max_position_per_symbol", self.max_position_per_symbol),
            ("max_gross_exposure", self.max_gross_exposure),
            ("max_order_quantity", self.max_order_quantity),
            ("max_price_deviation", self.max_price_deviation),
        ] {
            if let Some(v) = value
                && v <= Decimal::ZERO
            {
                return Err(LimitError::new(field, format!("must be positive, not {v}")));
            }
        }
        for (field, value) in [
            ("max_order_equity_pct", self.max_order_equity_pct),
            ("daily_loss_pct", self.daily_loss_pct),
            ("max_drawdown_pct", self.max_drawdown_pct),
        ] {
            if let Some(v) = value
                && (v <= Decimal::ZERO || v > Decimal::ONE_HUNDRED)
            {
                return Err(LimitError::new(
                    field,
                    format!("must be a percentage above 0 and at most 100, not {v}"),
                ));
            }
        }
        let counts = [
            ("max_open_orders", self.max_open_orders.map(|n| n as u64)),
            (
                "max_orders_per_minute",
                self.max_orders_per_minute.map(u64::from),
            ),
            (
                "cooldown.losing_trades",
                self.cooldown.map(|c| u64::from(c.losing_trades)),
            ),
            (
                "cooldown.window_minutes",
                self.cooldown.map(|c| u64::from(c.window_minutes)),
            ),
            (
                "cooldown.pause_minutes",
                self.cooldown.map(|c| u64::from(c.pause_minutes)),
            ),
        ];
        for (field, value) in counts {
            if value == Some(0) {
                return Err(LimitError::new(field, "must be at least 1"));
            }
        }
        if let Some(symbols) = &self.allowed_symbols {
            if symbols.is_empty() {
                return Err(LimitError::new(
                    "allowed_symbols",
                    "must list at least one symbol (null allows every symbol)",
                ));
            }
            if let Some(i) = symbols.iter().position(|s| s.trim().is_empty()) {
                return Err(LimitError::new(
                    "allowed_symbols",
                    format!("entry {i} is empty"),
                ));
            }
        }
        Ok(())
    }

    /// These limits with a patch applied, validated.
    ///
    /// # Errors
    /// [`LimitError`] naming the first field the result has out of range.
    pub fn apply(&self, patch: &RiskLimitsPatch) -> Result<Self, LimitError> {
        fn set<T: Clone>(target: &mut Option<T>, change: &Option<Option<T>>) {
            if let Some(value) = change {
                target.clone_from(value);
            }
        }
        let mut out = self.clone();
        let p = patch;
        set(&mut out.max_notional_per_order, &p.max_notional_per_order);
        set(&mut out.max_position_per_symbol, &p.max_position_per_symbol);
        set(&mut out.max_gross_exposure, &p.max_gross_exposure);
        set(&mut out.max_open_orders, &p.max_open_orders);
        set(&mut out.max_orders_per_minute, &p.max_orders_per_minute);
        set(&mut out.max_order_quantity, &p.max_order_quantity);
        set(&mut out.max_price_deviation, &p.max_price_deviation);
        set(&mut out.max_order_equity_pct, &p.max_order_equity_pct);
        set(&mut out.daily_loss_pct, &p.daily_loss_pct);
        set(&mut out.max_drawdown_pct, &p.max_drawdown_pct);
        set(&mut out.cooldown, &p.cooldown);
        set(&mut out.allowed_symbols, &p.allowed_symbols);
        // The behaviour keys cannot be off: null puts back their default.
        let defaults = Self::default();
        if let Some(action) = p.daily_loss_action {
            out.daily_loss_action = action.unwrap_or(defaults.daily_loss_action);
        }
        if let Some(action) = p.drawdown_action {
            out.drawdown_action = action.unwrap_or(defaults.drawdown_action);
        }
        if let Some(reset) = p.reset_next_session {
            out.reset_next_session = reset.unwrap_or(defaults.reset_next_session);
        }
        out.validate()?;
        Ok(out)
    }
}

impl TryFrom<Value> for RiskLimits {
    type Error = LimitError;

    fn try_from(value: Value) -> Result<Self, LimitError> {
        Self::from_json(&value)
    }
}

/// A partial update of [`RiskLimits`] (`PATCH /runs/{id}/risk`, `WEAVER_RISK_DEFAULTS`). Absent,
/// `null` and a value are three different requests, hence the nested options: `None` (absent)
/// leaves a key unchanged, `Some(None)` (`null`) turns it off (for the behaviour keys: puts back
/// the default), `Some(Some(v))` sets it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "Value")]
pub struct RiskLimitsPatch {
    /// See [`RiskLimits::max_notional_per_order`].
    pub max_notional_per_order: Option<Option<Decimal>>,
    /// See [`RiskLimits::max_position_per_symbol`].
    pub max_position_per_symbol: Option<Option<Decimal>>,
    /// See [`RiskLimits::max_gross_exposure`].
    pub max_gross_exposure: Option<Option<Decimal>>,
    /// See [`RiskLimits::max_open_orders`].
    pub max_open_orders: Option<Option<usize>>,
    /// See [`RiskLimits::max_orders_per_minute`].
    pub max_orders_per_minute: Option<Option<u32>>,
    /// See [`RiskLimits::max_order_quantity`].
    pub max_order_quantity: Option<Option<Decimal>>,
    /// See [`RiskLimits::max_price_deviation`].
    pub max_price_deviation: Option<Option<Decimal>>,
    /// See [`RiskLimits::max_order_equity_pct`].
    pub max_order_equity_pct: Option<Option<Decimal>>,
    /// See [`RiskLimits::daily_loss_pct`].
    pub daily_loss_pct: Option<Option<Decimal>>,
    /// See [`RiskLimits::max_drawdown_pct`].
    pub max_drawdown_pct: Option<Option<Decimal>>,
    /// See [`RiskLimits::cooldown`].
    pub cooldown: Option<Option<Cooldown>>,
    /// See [`RiskLimits::allowed_symbols`].
    pub allowed_symbols: Option<Option<Vec<String>>>,
    /// See [`RiskLimits::daily_loss_action`].
    pub daily_loss_action: Option<Option<BreachAction>>,
    /// See [`RiskLimits::drawdown_action`].
    pub drawdown_action: Option<Option<BreachAction>>,
    /// See [`RiskLimits::reset_next_session`].
    pub reset_next_session: Option<Option<bool>>,
}

impl RiskLimitsPatch {
    /// Parses a patch object. Values are type-checked here and range-checked by
    /// [`RiskLimits::apply`], on the result.
    ///
    /// # Errors
    /// [`LimitError`] naming the first unknown key or wrongly typed value.
    pub fn from_json(value: &Value) -> Result<Self, LimitError> {
        let object = value
            .as_object()
            .ok_or_else(|| LimitError::new("risk", "must be a JSON object"))?;
        let mut p = Self::default();
        for (key, v) in object {
            let k = key.as_str();
            match k {
                "max_notional_per_order" => p.max_notional_per_order = Some(decimal(k, v)?),
                "max_position_per_symbol" => p.max_position_per_symbol = Some(decimal(k, v)?),
                "max_gross_exposure" => p.max_gross_exposure = Some(decimal(k, v)?),
                "max_open_orders" => p.max_open_orders = Some(typed(k, v)?),
                "max_orders_per_minute" => p.max_orders_per_minute = Some(typed(k, v)?),
                "max_order_quantity" => p.max_order_quantity = Some(decimal(k, v)?),
                "max_price_deviation" => p.max_price_deviation = Some(decimal(k, v)?),
                "max_order_equity_pct" => p.max_order_equity_pct = Some(decimal(k, v)?),
                "daily_loss_pct" => p.daily_loss_pct = Some(decimal(k, v)?),
                "max_drawdown_pct" => p.max_drawdown_pct = Some(decimal(k, v)?),
                "cooldown" => p.cooldown = Some(cooldown(v)?),
                "allowed_symbols" => p.allowed_symbols = Some(typed(k, v)?),
                "daily_loss_action" => p.daily_loss_action = Some(typed(k, v)?),
                "drawdown_action" => p.drawdown_action = Some(typed(k, v)?),
                "reset_next_session" => p.reset_next_session = Some(typed(k, v)?),
                _ => return Err(LimitError::new(k, "unknown field")),
            }
        }
        Ok(p)
    }
}

impl TryFrom<Value> for RiskLimitsPatch {
    type Error = LimitError;

    fn try_from(value: Value) -> Result<Self, LimitError> {
        Self::from_json(&value)
    }
}

/// The limits a live run starts from: [`RiskLimits::alpaca_defaults`] for its symbols with the
/// operator's patch (`WEAVER_RISK_DEFAULTS`, a JSON object) applied. An unset or blank value
/// changes nothing.
///
/// # Errors
/// [`LimitError`] when the value is not a JSON object, has an unknown key or a bad value, or the
/// result is out of range.
pub fn defaults_from_env(
    value: Option<&str>,
    symbols: &[String],
) -> Result<RiskLimits, LimitError> {
    let defaults = RiskLimits::alpaca_defaults(symbols);
    let Some(text) = value.filter(|t| !t.trim().is_empty()) else {
        return Ok(defaults);
    };
    let json: Value = serde_json::from_str(text)
        .map_err(|e| LimitError::new("risk", format!("not valid JSON: {e}")))?;
    defaults.apply(&RiskLimitsPatch::from_json(&json)?)
}

/// A decimal from a JSON number or string (`Decimal` serializes as a string, so both must read
/// back); `null` is off. Numbers are read from their text, not through `f64`.
fn decimal(field: &str, v: &Value) -> Result<Option<Decimal>, LimitError> {
    let text = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        other => {
            return Err(LimitError::new(
                field,
                format!("expected a number, found {}", kind(other)),
            ));
        }
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map(Some)
        .map_err(|_| LimitError::new(field, format!("expected a number, found {text:?}")))
}

fn typed<T: serde::de::DeserializeOwned>(field: &str, v: &Value) -> Result<Option<T>, LimitError> {
    if v.is_null() {
        return Ok(None);
    }
    T::deserialize(v)
        .map(Some)
        .map_err(|e| LimitError::new(field, e.to_string()))
}

fn cooldown(v: &Value) -> Result<Option<Cooldown>, LimitError> {
    let object: &Map<String, Value> = match v {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        other => {
            return Err(LimitError::new(
                "cooldown",
                format!("expected an object, found {}", kind(other)),
            ));
        }
    };
    let mut counts = [None; 3];
    let names = ["losing_trades", "window_minutes", "pause_minutes"];
    for (key, value) in object {
        let field = format!("cooldown.{key}");
        let i = names
            .iter()
            .position(|n| n == key)
            .ok_or_else(|| LimitError::new(&field, "unknown field"))?;
        counts[i] = typed::<u32>(&field, value)?;
    }
    let mut get = |i: usize| {
        counts[i]
            .take()
            .ok_or_else(|| LimitError::new(format!("cooldown.{}", names[i]), "is required"))
    };
    Ok(Some(Cooldown {
        losing_trades: get(0)?,
        window_minutes: get(1)?,
        pause_minutes: get(2)?,
    }))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;
    use serde_json::json;

    fn field_of(value: Value) -> String {
        RiskLimits::from_json(&value).unwrap_err().field
    }

    #[test]
    fn default_is_everything_off_and_serializes_every_key() {
        let limits = RiskLimits::default();
        let json = serde_json::to_value(&limits).unwrap();
        let object = json.as_object().unwrap();
        assert_eq!(object.len(), 15);
        for key in [
            "max_notional_per_order",
            "max_position_per_symbol",
            "max_gross_exposure",
            "max_open_orders",
            "max_orders_per_minute",
            "max_order_quantity",
            "max_price_deviation",
            "max_order_equity_pct",
            "daily_loss_pct",
            "max_drawdown_pct",
            "cooldown",
            "allowed_symbols",
        ] {
            assert_eq!(object[key], Value::Null, "{key}");
        }
        assert_eq!(object["daily_loss_action"], json!("reduce_only"));
        assert_eq!(object["drawdown_action"], json!("halted"));
        assert_eq!(object["reset_next_session"], json!(false));
        assert_eq!(RiskLimits::from_json(&json!({})).unwrap(), limits);
    }

    #[test]
    fn a_full_object_parses_and_round_trips() {
        let value = json!({
            "max_notional_per_order": 10000,
            "max_position_per_symbol": "250.5",
            "max_gross_exposure": 50000.25,
            "max_open_orders": 10,
            "max_orders_per_minute": 30,
            "max_order_quantity": 1000,
            "max_price_deviation": 0.1,
            "max_order_equity_pct": 25,
            "daily_loss_pct": 2.5,
            "max_drawdown_pct": 100,
            "cooldown": {"losing_trades": 3, "window_minutes": 60, "pause_minutes": 30},
            "allowed_symbols": ["AAPL", "BTC/USD"],
            "daily_loss_action": "halted",
            "drawdown_action": "reduce_only",
            "reset_next_session": true
        });
        let limits = RiskLimits::from_json(&value).unwrap();
        assert_eq!(limits.max_gross_exposure, Some(dec!(50000.25)));
        assert_eq!(limits.max_price_deviation, Some(dec!(0.1)));
        assert_eq!(limits.daily_loss_action, BreachAction::Halted);
        assert_eq!(limits.drawdown_action, BreachAction::ReduceOnly);
        assert!(limits.reset_next_session);
        assert_eq!(
            limits.cooldown,
            Some(Cooldown {
                losing_trades: 3,
                window_minutes: 60,
                pause_minutes: 30
            })
        );
        let written = serde_json::to_string(&limits).unwrap();
        let back: RiskLimits = serde_json::from_str(&written).unwrap();
        assert_eq!(back, limits);
    }

    #[test]
    fn unknown_keys_are_named() {
        assert_eq!(field_of(json!({"max_notional": 5})), "max_notional");
        assert_eq!(
            field_of(json!({"cooldown": {"losing_trades": 1, "window_minutes": 1,
                "pause_minutes": 1, "pause": 2}})),
            "cooldown.pause"
        );
        // Deserialize refuses them too, with the field in the message.
        let err = serde_json::from_value::<RiskLimits>(json!({"max_loss": 1})).unwrap_err();
        assert!(err.to_string().contains("max_loss"), "{err}");
    }

    #[test]
    fn wrong_types_are_named() {
        for (key, value) in [
            ("max_notional_per_order", json!(true)),
            ("max_notional_per_order", json!("lots")),
            ("max_gross_exposure", json!([1])),
            ("max_open_orders", json!(2.5)),
            ("max_open_orders", json!("3")),
            ("max_orders_per_minute", json!(-1)),
            ("daily_loss_pct", json!({"pct": 5})),
            ("allowed_symbols", json!("AAPL")),
            ("allowed_symbols", json!([1, 2])),
            ("daily_loss_action", json!("active")),
            ("drawdown_action", json!(1)),
            ("reset_next_session", json!("yes")),
            ("cooldown", json!(3)),
        ] {
            assert_eq!(field_of(json!({ key: value })), key, "{key}: {value}");
        }
        assert_eq!(
            field_of(
                json!({"cooldown": {"losing_trades": "2", "window_minutes": 1,
                "pause_minutes": 1}})
            ),
            "cooldown.losing_trades"
        );
        assert_eq!(
            field_of(json!({"cooldown": {"losing_trades": 2, "window_minutes": 1}})),
            "cooldown.pause_minutes"
        );
        assert_eq!(field_of(json!([1])), "risk");
    }

    #[test]
    fn bad_values_are_named() {
        for key in [
            "max_notional_per_order",
            "max_position_per_symbol",
            "max_gross_exposure",
            "max_order_quantity",
            "max_price_deviation",
            "max_order_equity_pct",
            "daily_loss_pct",
            "max_drawdown_pct",
        ] {
            assert_eq!(field_of(json!({ key: -1 })), key, "{key} negative");
            assert_eq!(field_of(json!({ key: 0 })), key, "{key} zero");
            assert!(
                RiskLimits::from_json(&json!({ key: "0.5" })).is_ok(),
                "{key}"
            );
        }
        for key in ["max_order_equity_pct", "daily_loss_pct", "max_drawdown_pct"] {
            assert_eq!(field_of(json!({ key: 100.01 })), key, "{key} over 100");
            assert!(RiskLimits::from_json(&json!({ key: 100 })).is_ok(), "{key}");
        }
        // Over 100 % is fine where the value is not a percentage.
        assert!(RiskLimits::from_json(&json!({"max_gross_exposure": 1000})).is_ok());
        for key in ["max_open_orders", "max_orders_per_minute"] {
            assert_eq!(field_of(json!({ key: 0 })), key, "{key} zero");
            assert!(RiskLimits::from_json(&json!({ key: 1 })).is_ok(), "{key}");
        }
        for (i, key) in ["losing_trades", "window_minutes", "pause_minutes"]
            .into_iter()
            .enumerate()
        {
            let mut c = json!({"losing_trades": 1, "window_minutes": 1, "pause_minutes": 1});
            c[key] = json!(0);
            assert_eq!(
                field_of(json!({ "cooldown": c })),
                format!("cooldown.{key}"),
                "{i}"
            );
        }
        assert_eq!(field_of(json!({"allowed_symbols": []})), "allowed_symbols");
        assert_eq!(
            field_of(json!({"allowed_symbols": ["AAPL", " "]})),
            "allowed_symbols"
        );
        let err = RiskLimits::from_json(&json!({"daily_loss_pct": 101})).unwrap_err();
        assert_eq!(err.field, "daily_loss_pct");
        assert!(err.message.contains("101"), "{err}");
    }

    #[test]
    fn patch_absent_keeps_null_turns_off_value_sets() {
        let base = RiskLimits {
            max_open_orders: Some(5),
            daily_loss_pct: Some(dec!(3)),
            daily_loss_action: BreachAction::Halted,
            allowed_symbols: Some(vec!["AAPL".into()]),
            ..RiskLimits::default()
        };
        let patch = RiskLimitsPatch::from_json(&json!({
            "daily_loss_pct": null,
            "max_gross_exposure": "1000",
            "daily_loss_action": null,
            "reset_next_session": true
        }))
        .unwrap();
        let out = base.apply(&patch).unwrap();
        assert_eq!(out.max_open_orders, Some(5), "absent: unchanged");
        assert_eq!(
            out.allowed_symbols, base.allowed_symbols,
            "absent: unchanged"
        );
        assert_eq!(out.daily_loss_pct, None, "null: off");
        assert_eq!(
            out.daily_loss_action,
            BreachAction::ReduceOnly,
            "null: default"
        );
        assert_eq!(out.max_gross_exposure, Some(dec!(1000)), "value: set");
        assert!(out.reset_next_session);
        assert_eq!(base.apply(&RiskLimitsPatch::default()).unwrap(), base);
        // The result is validated.
        let bad = RiskLimitsPatch::from_json(&json!({"max_drawdown_pct": 0})).unwrap();
        assert_eq!(base.apply(&bad).unwrap_err().field, "max_drawdown_pct");
        let typed: RiskLimitsPatch = serde_json::from_value(json!({"cooldown": null})).unwrap();
        assert_eq!(typed.cooldown, Some(None));
        assert!(serde_json::from_value::<RiskLimitsPatch>(json!({"bogus": 1})).is_err());
    }

    #[test]
    fn alpaca_defaults_and_the_env_patch() {
        let symbols = vec!["AAPL".to_owned(), "MSFT".to_owned()];
        let defaults = RiskLimits::alpaca_defaults(&symbols);
        assert_eq!(
            defaults,
            RiskLimits {
                daily_loss_pct: Some(dec!(5)),
                max_drawdown_pct: Some(dec!(20)),
                max_order_equity_pct: Some(dec!(100)),
                max_open_orders: Some(50),
                max_orders_per_minute: Some(60),
                allowed_symbols: Some(symbols.clone()),
                ..RiskLimits::default()
            }
        );
        defaults.validate().unwrap();
        // Decimals are written as strings (exact), and read back from strings or numbers.
        let written = serde_json::to_value(&defaults).unwrap();
        assert_eq!(written["daily_loss_pct"], json!("5"));
        assert_eq!(written["max_open_orders"], json!(50));
        assert_eq!(RiskLimits::from_json(&written).unwrap(), defaults);
        assert_eq!(RiskLimits::alpaca_defaults(&[]).allowed_symbols, None);
        assert_eq!(defaults_from_env(None, &symbols).unwrap(), defaults);
        assert_eq!(defaults_from_env(Some("  "), &symbols).unwrap(), defaults);
        let patched = defaults_from_env(
            Some(r#"{"daily_loss_pct": 2, "max_drawdown_pct": null, "drawdown_action": "reduce_only"}"#),
            &symbols,
        )
        .unwrap();
        assert_eq!(patched.daily_loss_pct, Some(dec!(2)));
        assert_eq!(patched.max_drawdown_pct, None);
        assert_eq!(patched.drawdown_action, BreachAction::ReduceOnly);
        assert_eq!(patched.max_open_orders, Some(50));
        assert_eq!(patched.allowed_symbols, Some(symbols.clone()));
        assert_eq!(
            defaults_from_env(Some(r#"{"daily_loss_pct": 500}"#), &symbols)
                .unwrap_err()
                .field,
            "daily_loss_pct"
        );
        assert_eq!(
            defaults_from_env(Some(r#"{"max_open": 5}"#), &symbols)
                .unwrap_err()
                .field,
            "max_open"
        );
        assert_eq!(
            defaults_from_env(Some("daily_loss_pct=5"), &symbols)
                .unwrap_err()
                .field,
            "risk"
        );
    }

    #[test]
    fn breach_actions_map_to_states() {
        assert_eq!(BreachAction::ReduceOnly.state(), TradingState::ReduceOnly);
        assert_eq!(BreachAction::Halted.state(), TradingState::Halted);
    }
}
