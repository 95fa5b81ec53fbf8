//! The registry of event types: name, version and payload check for every type Weaver accepts.
//!
//! # Invariants
//! - A type name is `namespace.Name` (version 1) or `namespace.Name.vN` (N ≥ 2) with a known
//!   namespace; versions of one name are separate types that live side by side.

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::{Envelope, Error};

/// The largest serialized payload the outbox accepts (thin events: keys and status, details come
/// from REST, `docs/architecture.md#events`).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// The namespaces an event type may live in.
pub const NAMESPACES: [&str; 11] = [
    "strategy",
    "live",
    "backtest",
    "data",
    "market",
    "orders",
    "run",
    "ui",
    "clock",
    "risk",
    "reconcile",
];

type Check = Arc<dyn Fn(&serde_json::Value) -> Result<(), String> + Send + Sync>;

/// One registered event type.
#[derive(Clone)]
pub struct EventSpec {
    /// Full type name, e.g. `orders.Filled.v2`.
    pub name: String,
    /// Its namespace, e.g. `orders`.
    pub namespace: String,
    /// Payload schema version (the `.vN` suffix, or 1).
    pub version: u32,
    check: Check,
}

impl std::fmt::Debug for EventSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSpec")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// The version a type name implies: `x.Y.vN` is N, anything else 1.
pub(crate) fn version_of(event_type: &str) -> u32 {
    event_type
        .rsplit_once(".v")
        .and_then(|(_, n)| n.parse::<u32>().ok())
        .filter(|n| *n >= 2)
        .unwrap_or(1)
}

/// Splits and checks `namespace.Name[.vN]`.
fn parse_name(event_type: &str) -> Result<(String, u32), Error> {
    let bad = |reason: &str| Error::InvalidTypeName {
        event_type: event_type.to_owned(),
        reason: reason.to_owned(),
    };
    let mut parts = event_type.split('.');
    let namespace = parts.next().unwrap_or_default();
    let name = parts.next().ok_or_else(|| bad("expected namespace.Name"))?;
    let suffix = parts.next();
    if parts.next().is_some() {
        return Err(bad(
            "too many dots; expected namespace.Name or namespace.Name.vN",
        ));
    }
    if !NAMESPACES.contains(&namespace) {
        return Err(bad(&format!(
            "unknown namespace; expected one of {}",
            NAMESPACES.join(", ")
        )));
    }
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(bad("the name must be ASCII letters and digits"));
    }
    let version = match suffix {
        None => 1,
        Some(s) => match s.strip_prefix('v').and_then(|n| n.parse::<u32>().ok()) {
            Some(n) if n >= 2 => n,
            _ => return Err(bad("a version suffix is .v2, .v3, …")),
        },
    };
    Ok((namespace.to_owned(), version))
}

/// Event types with their payload checks. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    types: HashMap<String, EventSpec>,
}

impl Registry {
    /// An empty registry.
    pub fn empty() -> Self {
        Registry::default()
    }

    /// Registers `event_type` whose payload must deserialize as `T`.
    ///
    /// # Errors
    /// [`Error::InvalidTypeName`] when the name is malformed or its namespace unknown.
    pub fn register<T: DeserializeOwned + 'static>(
        &mut self,
        event_type: &str,
    ) -> Result<(), Error> {
        let (namespace, version) = parse_name(event_type)?;
        let check: Check = Arc::new(|value: &serde_json::Value| {
            T::deserialize(value).map(|_| ()).map_err(|e| e.to_string())
        });
        self.types.insert(
            event_type.to_owned(),
            EventSpec {
                name: event_type.to_owned(),
                namespace,
                version,
                check,
            },
        );
        Ok(())
    }

    /// The spec of a registered type.
    pub fn get(&self, event_type: &str) -> Option<&EventSpec> {
        self.types.get(event_type)
    }

    /// All registered type names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.types.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Checks an envelope against its type: registered, same version, payload valid and within
    /// [`MAX_PAYLOAD_BYTES`], non-empty producer and correlation id.
    ///
    /// # Errors
    /// The matching [`Error`] variant; nothing is written by a caller that checks first.
    pub fn validate(&self, event: &Envelope) -> Result<(), Error> {
        let spec = self
            .types
            .get(&event.event_type)
            .ok_or_else(|| Error::UnknownType {
                event_type: event.event_type.clone(),
            })?;
        if event.version != spec.version {
            return Err(Error::VersionMismatch {
                event_type: event.event_type.clone(),
                expected: spec.version,
                got: event.version,
            });
        }
        if event.producer.trim().is_empty() {
            return Err(Error::InvalidEnvelope("producer is empty".into()));
        }
        if event.corr_id.trim().is_empty() {
            return Err(Error::InvalidEnvelope("corr_id is empty".into()));
        }
        let size = serde_json::to_vec(&event.payload)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_PAYLOAD_BYTES {
            return Err(Error::PayloadTooLarge {
                event_type: event.event_type.clone(),
                size,
                max: MAX_PAYLOAD_BYTES,
            });
        }
        (spec.check)(&event.payload).map_err(|reason| Error::InvalidPayload {
            event_type: event.event_type.clone(),
            reason,
        })
    }

    /// The registry of every event type Weaver itself produces.
    pub fn builtin() -> Self {
        use payloads::*;
        let mut r = Registry::empty();
        let results = [
            r.register::<StrategyChanged>("strategy.Uploaded"),
            r.register::<StrategyChanged>("strategy.StatusChanged"),
            r.register::<DecisionMade>("strategy.DecisionMade"),
            r.register::<RunChanged>("run.Created"),
            r.register::<RunChanged>("run.StatusChanged"),
            r.register::<OrderChanged>("orders.Intent"),
            r.register::<OrderChanged>("orders.Updated"),
            r.register::<OrderFilledV2>("orders.Filled.v2"),
            r.register::<PlaceOrder>("live.PlaceOrder"),
            r.register::<CancelOrder>("live.CancelOrder"),
            r.register::<BacktestOrder>("backtest.PlaceOrder"),
            r.register::<BacktestChanged>("backtest.StatusChanged"),
            r.register::<SweepChanged>("backtest.SweepStatusChanged"),
            r.register::<WalkForwardChanged>("backtest.WalkForwardStatusChanged"),
            r.register::<CandlesStored>("data.CandlesStored"),
            r.register::<MarketBar>("market.Bar"),
            r.register::<Notice>("ui.Notice"),
            r.register::<TradingStateChanged>("ui.TradingState"),
            r.register::<ClockTick>("clock.Tick"),
            r.register::<RunHeartbeat>("run.Heartbeat"),
            r.register::<VersionSwitched>("run.VersionSwitched"),
            r.register::<VersionSwitchFailed>("run.VersionSwitchFailed"),
            r.register::<LimitsChanged>("risk.LimitsChanged"),
            r.register::<OrderDenied>("risk.OrderDenied"),
            r.register::<LimitBreached>("risk.LimitBreached"),
            r.register::<RunTradingState>("risk.TradingStateChanged"),
            r.register::<AccountLimitsChanged>("risk.AccountLimitsChanged"),
            r.register::<AccountLimitBreached>("risk.AccountLimitBreached"),
            r.register::<AccountTradingState>("risk.AccountTradingStateChanged"),
            r.register::<PositionMismatch>("reconcile.PositionMismatch"),
        ];
        for result in results {
            // The names above are constants checked by a unit test; a failure here is a typo.
            if let Err(e) = result {
                tracing::error!(error = %e, "builtin event type refused");
            }
        }
        r
    }
}

/// Payload schemas of the built-in event types. Fields are additive: new optional fields may be
/// added to a version; removing or retyping one needs a new `.vN` type.
pub mod payloads {
    use chrono::{DateTime, Utc};
    use rust_decimal::Decimal;
    use serde::{Deserialize, Serialize};

    use crate::domain::{Intent, OrderType, Side, TimeInForce};

    /// A strategy upload changed state.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct StrategyChanged {
        /// Strategy row id.
        pub strategy_id: i64,
        /// Content hash (hex sha256).
        pub sha256: String,
        /// New status (`uploaded`, `compiling`, `ready`, `rejected`).
        pub status: String,
    }

    /// One decision of a run's strategy: what it returned for one event (a bar, an order
    /// update, …), with the call's cost.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct DecisionMade {
        /// Run id.
        pub run_id: i64,
        /// The event the strategy answered (its envelope id as the guest saw it).
        pub cause_event_id: uuid::Uuid,
        /// The time of that event (the bar time for bars).
        pub bar_ts: DateTime<Utc>,
        /// The intents, as validated by Marvin (empty: it decided to do nothing).
        pub intents: Vec<Intent>,
        /// Fuel the call used.
        pub fuel: u64,
        /// Wall time of the call, in µs.
        pub latency_us: u64,
    }

    /// A run was created or changed status.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct RunChanged {
        /// Run id.
        pub run_id: i64,
        /// New status.
        pub status: String,
        /// Error code when the run failed.
        #[serde(default)]
        pub error_code: Option<String>,
    }

    /// An order row was created or changed (thin: keys and status).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct OrderChanged {
        /// Order row id.
        pub order_id: i64,
        /// Client order id.
        pub client_order_id: String,
        /// Symbol.
        pub symbol: String,
        /// New status.
        pub status: String,
    }

    /// A fill (version 2: the venue's fill id and the fee were added to version 1, which nothing
    /// produces any more and is no longer registered).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct OrderFilledV2 {
        /// Client order id.
        pub client_order_id: String,
        /// The venue's id of this fill (the idempotency key of the fill row).
        pub venue_fill_id: String,
        /// Filled quantity of this fill.
        pub quantity: Decimal,
        /// Fill price.
        pub price: Decimal,
        /// Fee charged for this fill.
        pub fee: Decimal,
        /// When the venue filled it.
        pub filled_at: DateTime<Utc>,
    }

    /// A request to place an order on a venue (`live.PlaceOrder`).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct PlaceOrder {
        /// Client order id (deterministic from run and intent).
        pub client_order_id: String,
        /// Symbol.
        pub symbol: String,
        /// Side.
        pub side: Side,
        /// Order type.
        pub order_type: OrderType,
        /// Time in force.
        pub time_in_force: TimeInForce,
        /// Quantity, when sized in units.
        #[serde(default)]
        pub quantity: Option<Decimal>,
        /// Notional, when sized in currency.
        #[serde(default)]
        pub notional: Option<Decimal>,
        /// Limit price.
        #[serde(default)]
        pub limit_price: Option<Decimal>,
        /// Stop price.
        #[serde(default)]
        pub stop_price: Option<Decimal>,
    }

    /// An order a strategy placed in a backtest's simulated broker (`backtest.PlaceOrder`),
    /// written with the backtest's report.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct BacktestOrder {
        /// Backtest row id.
        pub backtest_id: i64,
        /// The id the simulated broker gave the order.
        pub client_order_id: String,
        /// The bar time it was placed at.
        pub bar_ts: DateTime<Utc>,
        /// What the strategy asked for.
        pub intent: crate::domain::OrderIntent,
        /// Whether the simulated broker accepted it.
        pub accepted: bool,
    }

    /// A request to cancel an order.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct CancelOrder {
        /// Client order id.
        pub client_order_id: String,
    }

    /// A backtest changed status.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct BacktestChanged {
        /// Backtest row id.
        pub backtest_id: i64,
        /// New status.
        pub status: String,
    }

    /// A parameter sweep changed status.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct SweepChanged {
        /// Sweep row id.
        pub sweep_id: i64,
        /// New status.
        pub status: String,
    }

    /// A walk-forward analysis changed status.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct WalkForwardChanged {
        /// Walk-forward row id.
        pub walkforward_id: i64,
        /// New status.
        pub status: String,
    }

    /// Candles were stored.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct CandlesStored {
        /// Symbol.
        pub symbol: String,
        /// Timeframe (`1Min`, `1Day`, …).
        pub timeframe: String,
        /// How many rows were written.
        pub count: u64,
    }

    /// A market bar.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct MarketBar {
        /// Symbol.
        pub symbol: String,
        /// Timeframe.
        pub timeframe: String,
        /// The bar.
        pub bar: crate::domain::Bar,
    }

    impl MarketBar {
        /// The id of this bar's event as venue `venue` streamed it: derived from the venue, the
        /// series and every field of the bar, so the run that is told the bar and the writer
        /// that stores it (each on its own task) name the same event, and a corrected bar
        /// (same time, other prices) is another event.
        pub fn event_id(&self, venue: &str) -> uuid::Uuid {
            let b = &self.bar;
            let name = format!(
                "{venue}/{}/{}/{}/{:x}/{:x}/{:x}/{:x}/{:x}",
                self.symbol,
                self.timeframe,
                b.ts,
                b.open.to_bits(),
                b.high.to_bits(),
                b.low.to_bits(),
                b.close.to_bits(),
                b.volume.to_bits()
            );
            uuid::Uuid::new_v5(&BAR_NAMESPACE, name.as_bytes())
        }
    }

    /// The namespace of [`MarketBar::event_id`] (a fixed, random v4 id: changing it would
    /// change every stored bar's id).
    const BAR_NAMESPACE: uuid::Uuid =
        uuid::Uuid::from_u128(0x6f1c_2a5e_93b4_4d0a_8e27_5c1f_d4a9_0b36);

    /// A message for the dashboard.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Notice {
        /// Severity (`info`, `warn`, `error`).
        pub level: String,
        /// The text.
        pub message: String,
    }

    /// The global trading state an operator set (`PUT /trading-state`).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct TradingStateChanged {
        /// `active`, `reduce_only` or `halted`.
        pub state: String,
        /// When it was set.
        pub updated_at: DateTime<Utc>,
    }

    /// A run's risk limits were changed (`PATCH /runs/{id}/risk`).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct LimitsChanged {
        /// Run id.
        pub run_id: i64,
        /// The limits before (`null`: none).
        pub old: serde_json::Value,
        /// The limits now.
        pub new: serde_json::Value,
    }

    /// The pre-trade checks refused an order of a run: nothing was journaled or sent.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct OrderDenied {
        /// Run id.
        pub run_id: i64,
        /// The client order id the order would have had (its sequence number is used up).
        pub client_order_id: String,
        /// Symbol.
        pub symbol: String,
        /// `buy` or `sell`.
        pub side: Side,
        /// The limit key or state that refused it (`max_notional_per_order`, `trading_state`, …).
        pub rule: String,
        /// Stable code of the refusal.
        pub code: String,
        /// The order's figure the rule measured, when it has one.
        pub figure: Option<Decimal>,
        /// The limit it was measured against, when it has one.
        pub limit: Option<Decimal>,
        /// In words.
        pub message: String,
        /// The venue account whose limits or state refused it (`alpaca/<number>`); absent when
        /// the run's own did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub account: Option<String>,
    }

    /// A rule a run's risk keeps over time tripped, and the run is in `state` while it holds.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct LimitBreached {
        /// Run id.
        pub run_id: i64,
        /// The limit key: `daily_loss_pct`, `max_drawdown_pct` or `cooldown`.
        pub rule: String,
        /// What it measured (percent, or the losing trades counted).
        pub figure: Decimal,
        /// The limit.
        pub limit: Decimal,
        /// `reduce_only` or `halted`.
        pub state: String,
        /// The bar time it tripped at.
        pub at: DateTime<Utc>,
        /// When it ends by itself (a cooldown's pause).
        pub until: Option<DateTime<Utc>>,
    }

    /// A run's own trading state was set by hand (`PUT /runs/{id}/trading-state`).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct RunTradingState {
        /// Run id.
        pub run_id: i64,
        /// `active`, `reduce_only` or `halted`.
        pub state: String,
    }

    /// A venue account's risk limits were set (`PUT /accounts/{venue}/{number}/risk`).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct AccountLimitsChanged {
        /// The account (`alpaca/<number>`).
        pub account: String,
        /// The limits before.
        pub old: serde_json::Value,
        /// The limits now.
        pub new: serde_json::Value,
    }

    /// A rule an account's risk keeps over time tripped: every run on the account is in `state`
    /// while it holds.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct AccountLimitBreached {
        /// The account (`alpaca/<number>`).
        pub account: String,
        /// The limit key: `daily_loss_pct` or `max_drawdown_pct`.
        pub rule: String,
        /// What it measured (percent).
        pub figure: Decimal,
        /// The limit.
        pub limit: Decimal,
        /// `reduce_only` or `halted`.
        pub state: String,
        /// When it tripped.
        pub at: DateTime<Utc>,
        /// When it ends by itself, if it does.
        pub until: Option<DateTime<Utc>>,
    }

    /// A venue account's own trading state was set by hand
    /// (`PUT /accounts/{venue}/{number}/trading-state`).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct AccountTradingState {
        /// The account (`alpaca/<number>`).
        pub account: String,
        /// `active`, `reduce_only` or `halted`.
        pub state: String,
    }

    /// The broker's position in a symbol differs from what Weaver's records of the account add
    /// up to (every run's fills, ended runs' too, and orders placed for the account itself):
    /// a trade outside Weaver, or a fill not recorded yet. Said when a difference appears or
    /// changes, not at every check.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct PositionMismatch {
        /// The account (`alpaca/<number>`).
        pub account: String,
        /// Symbol.
        pub symbol: String,
        /// The broker's signed quantity.
        pub broker_qty: Decimal,
        /// What Weaver's records add up to.
        pub recorded_qty: Decimal,
        /// `broker_qty − recorded_qty` (zero: the difference is gone).
        pub difference: Decimal,
    }

    /// A clock tick.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ClockTick {
        /// Tick time.
        pub ts: DateTime<Utc>,
    }

    /// A run switched its strategy version at a bar boundary (promotion, rollback, or an
    /// automatic rollback after the promoted version trapped or broke a risk rule).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct VersionSwitched {
        /// Run id.
        pub run_id: i64,
        /// The switch's row in the run's version history.
        pub seq: i64,
        /// The version it ran before.
        pub from_strategy_id: i64,
        /// The version it runs now.
        pub to_strategy_id: i64,
        /// `promote`, `rollback` or `auto_rollback`.
        pub reason: String,
        /// `replay` (state rebuilt from the run's envelopes) or `fresh` (a warm-up).
        pub state: String,
        /// The bar boundary of the switch (the first bar the new version decided on).
        pub at_bar: Option<DateTime<Utc>>,
        /// Envelopes told the new version before that bar (intents discarded).
        pub replayed: Option<u64>,
        /// For an automatic rollback: why (the trap's code, or `risk_rule_broken`).
        #[serde(default)]
        pub error_code: Option<String>,
    }

    /// A switch asked for could not be made: the run goes on with the version it ran.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct VersionSwitchFailed {
        /// Run id.
        pub run_id: i64,
        /// The switch's row in the run's version history.
        pub seq: i64,
        /// The version that was not switched to.
        pub strategy_id: i64,
        /// `promote` or `rollback`.
        pub reason: String,
        /// Why (the guest's code when its replay trapped, `run_ended`, …).
        pub error_code: String,
    }

    /// A running run is alive (GLaDOS writes one per run every `WEAVER_RUN_HEARTBEAT_MS`).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct RunHeartbeat {
        /// Run id.
        pub run_id: i64,
        /// Bars delivered to the strategy so far.
        pub bars: u64,
        /// Time of the latest bar replayed, if any.
        #[serde(default)]
        pub bar_ts: Option<DateTime<Utc>>,
        /// Account equity.
        pub equity: f64,
        /// Orders the strategy asked for so far.
        pub order_intents: u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_types_all_register() {
        let r = Registry::builtin();
        assert_eq!(r.names().len(), 30);
        assert!(r.get("orders.Filled").is_none(), "v1 is no longer produced");
        assert_eq!(r.get("orders.Filled.v2").map(|s| s.version), Some(2));
    }

    #[test]
    fn versions_of_one_name_live_side_by_side() {
        #[derive(serde::Deserialize)]
        struct V1 {
            #[allow(dead_code)]
            price: f64,
        }
        #[derive(serde::Deserialize)]
        struct V2 {
            #[allow(dead_code)]
            price: f64,
            #[allow(dead_code)]
            fee: f64,
        }
        let mut r = Registry::empty();
        r.register::<V1>("orders.Priced").unwrap();
        r.register::<V2>("orders.Priced.v2").unwrap();
        let v1 = Envelope::new("orders.Priced", "t", serde_json::json!({"price": 1.0})).unwrap();
        assert_eq!(v1.version, 1);
        r.validate(&v1).unwrap();
        let mut as_v2 = v1.clone();
        as_v2.event_type = "orders.Priced.v2".into();
        as_v2.version = 2;
        assert_eq!(
            r.validate(&as_v2).unwrap_err().code(),
            "invalid_event_payload"
        );
    }

    #[test]
    fn names_are_checked() {
        let mut r = Registry::empty();
        for bad in [
            "orders",
            "nope.Filled",
            "orders.Filled.v1",
            "orders.Fil-led",
            "orders.A.v2.x",
        ] {
            let e = r.register::<serde_json::Value>(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_event_type", "{bad}");
        }
        assert_eq!(version_of("orders.Filled.v3"), 3);
        assert_eq!(version_of("orders.Filled"), 1);
    }
}
