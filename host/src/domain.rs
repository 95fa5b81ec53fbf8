//! Domain: the trading vocabulary every module shares — bars, timeframes, orders, the events a
//! strategy receives and the intents it returns, and the [`Strategy`] seam that backtests and live
//! runs drive.
//!
//! # Invariants
//! - Every timestamp is `i64` milliseconds since the Unix epoch, UTC ([`TsMillis`]).
//! - Values in an [`Intent`] come from untrusted guest code; nothing acts on one before
//!   `marvin` has validated it.
//! - A bar inside a run names its symbol by index into the run's symbol list, so the per-bar hot
//!   path never clones or hashes strings; intents name symbols by text.

pub mod cues;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
pub type TsMillis = i64;

/// One OHLCV bar.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Bar open time (UTC milliseconds).
    pub ts: TsMillis,
    /// First traded price of the bar.
    pub open: f64,
    /// Highest traded price of the bar.
    pub high: f64,
    /// Lowest traded price of the bar.
    pub low: f64,
    /// Last traded price of the bar.
    pub close: f64,
    /// Traded volume of the bar.
    pub volume: f64,
}

/// A bar of one of the run's symbols.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SymbolBar {
    /// Index into the run's symbol list (the order given when the run was created).
    pub symbol: u32,
    /// The bar itself.
    pub bar: Bar,
}

/// The open end of a time range: 9999-12-31, which both database backends store and compare
/// correctly (chrono's `MAX_UTC` is beyond PostgreSQL's range and sorts wrong as SQLite text).
pub fn far_future() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(253_402_214_400, 0).unwrap_or(chrono::DateTime::UNIX_EPOCH)
}

/// Text parameters as the guest's `init` takes them: strings as they are, other JSON values as
/// their JSON text.
pub fn text_params(
    params: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Vec<(String, String)> {
    params
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            )
        })
        .collect()
}

/// Unit of a [`Timeframe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TimeUnit {
    /// Minutes (`Min`).
    Minute,
    /// Hours (`Hour`).
    Hour,
    /// Calendar days (`Day`).
    Day,
    /// Weeks (`Week`).
    Week,
    /// Calendar months (`Month`).
    Month,
}

/// A bar timeframe in Alpaca's notation: `1Min`, `5Min`, `1Hour`, `1Day`, `1Week`, `1Month`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timeframe {
    /// How many units one bar spans (≥ 1).
    pub amount: u32,
    /// The unit.
    pub unit: TimeUnit,
}

impl Timeframe {
    /// One-minute bars.
    pub const MINUTE: Timeframe = Timeframe {
        amount: 1,
        unit: TimeUnit::Minute,
    };
    /// Daily bars.
    pub const DAY: Timeframe = Timeframe {
        amount: 1,
        unit: TimeUnit::Day,
    };

    /// Nominal length of one bar in milliseconds (a month counts as 30 days).
    pub fn nominal_millis(self) -> i64 {
        let unit: i64 = match self.unit {
            TimeUnit::Minute => 60_000,
            TimeUnit::Hour => 3_600_000,
            TimeUnit::Day => 86_400_000,
            TimeUnit::Week => 7 * 86_400_000,
            TimeUnit::Month => 30 * 86_400_000,
        };
        unit * i64::from(self.amount)
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            TimeUnit::Minute => "Min",
            TimeUnit::Hour => "Hour",
            TimeUnit::Day => "Day",
            TimeUnit::Week => "Week",
            TimeUnit::Month => "Month",
        };
        write!(f, "{}{unit}", self.amount)
    }
}

/// Why a timeframe string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid timeframe {input:?}: expected <n><unit> with unit Min, Hour, Day, Week or Month (e.g. 1Min, 15Min, 1Day)"
)]
pub struct TimeframeError {
    /// The text that was refused.
    pub input: String,
}

impl FromStr for Timeframe {
    type Err = TimeframeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TimeframeError {
            input: s.to_owned(),
        };
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (digits, unit) = s.split_at(split);
        let amount: u32 = if digits.is_empty() {
            1
        } else {
            digits.parse().map_err(|_| err())?
        };
        if amount == 0 {
            return Err(err());
        }
        let unit = match unit.to_ascii_lowercase().as_str() {
            "min" | "m" | "t" => TimeUnit::Minute,
            "hour" | "h" => TimeUnit::Hour,
            "day" | "d" => TimeUnit::Day,
            "week" | "w" => TimeUnit::Week,
            "month" | "mo" => TimeUnit::Month,
            _ => return Err(err()),
        };
        Ok(Timeframe { amount, unit })
    }
}

impl Serialize for Timeframe {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timeframe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Order side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Buy (go or add long, or cover a short).
    Buy,
    /// Sell (reduce or close a long, or go short).
    Sell,
}

/// Order type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    /// Fill at the next available price.
    Market,
    /// Fill at the limit price or better.
    Limit,
    /// Becomes a market order once the stop price trades.
    Stop,
    /// Becomes a limit order once the stop price trades.
    StopLimit,
}

/// Time in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Cancelled at the end of the trading day (of the bar's day in a backtest).
    Day,
    /// Good until cancelled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

/// How large an order is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum OrderSize {
    /// A number of units (shares, coins, lots).
    Units(f64),
    /// An amount of account currency.
    Notional(f64),
    /// A fraction (0, 1] of the available equity, resolved at fill time.
    EquityFraction(f64),
}

/// An order a strategy wants placed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderIntent {
    /// Symbol, one of the run's symbols.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Market, limit, stop or stop-limit.
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Limit price (limit and stop-limit orders).
    pub limit_price: Option<f64>,
    /// Stop (trigger) price (stop and stop-limit orders).
    pub stop_price: Option<f64>,
    /// Size of the order.
    pub size: OrderSize,
    /// Free text the strategy attaches; echoed back in order updates.
    pub tag: Option<String>,
}

/// Severity of a strategy log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Diagnostic detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected but handled.
    Warn,
    /// A failure the strategy noticed.
    Error,
}

/// What a strategy asks the host to do in answer to an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "intent")]
pub enum Intent {
    /// Deliver the last `lookback` bars of a symbol as a `DataWindow` event.
    FetchWindow {
        /// Symbol, one of the run's symbols.
        symbol: String,
        /// Timeframe of the requested bars.
        timeframe: Timeframe,
        /// Number of bars wanted.
        lookback: u32,
    },
    /// Place an order.
    PlaceOrder(OrderIntent),
    /// Cancel an open order, named by the `client_order_id` seen in its order updates.
    CancelOrder {
        /// The order's client order id.
        client_order_id: String,
    },
    /// Close the whole position in a symbol at market.
    ClosePosition {
        /// Symbol, one of the run's symbols.
        symbol: String,
    },
    /// A log line for the run's log.
    Log {
        /// Severity.
        level: LogLevel,
        /// The text.
        message: String,
    },
}

/// State of an order as reported to a strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Accepted by the venue, not yet filled.
    Accepted,
    /// Partly filled; more may follow.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled (by the strategy, the venue, or for lack of cash).
    Cancelled,
    /// Refused by pre-trade checks or the venue.
    Rejected,
}

/// A change in one of the run's orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderUpdate {
    /// The order's client order id (deterministic from run and intent).
    pub client_order_id: String,
    /// Symbol of the order.
    pub symbol: String,
    /// Side of the order.
    pub side: Side,
    /// New status.
    pub status: OrderStatus,
    /// Price of this fill, when the update is a fill.
    pub fill_price: Option<f64>,
    /// Quantity of this fill (0 when not a fill).
    pub fill_quantity: f64,
    /// Total quantity filled so far.
    pub filled_quantity: f64,
    /// Fees charged for this fill.
    pub fees: f64,
    /// Why the order was cancelled or rejected.
    pub reason: Option<String>,
    /// The tag the strategy attached.
    pub tag: Option<String>,
}

/// One open position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Symbol.
    pub symbol: String,
    /// Signed quantity (negative = short).
    pub quantity: f64,
    /// Average entry price.
    pub avg_price: f64,
}

/// The account as the strategy sees it, the same in every mode ([`cues`] says when it is told).
/// Positions are booked on margin, as Greta's broker books them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    /// Starting cash plus realised profit and loss, less fees (buying a position does not move
    /// it).
    pub cash: f64,
    /// Cash plus the marked-to-market value of open positions.
    pub equity: f64,
    /// What can be spent on new orders: equity less the gross market value of open positions,
    /// never below 0.
    pub buying_power: f64,
    /// Open positions.
    pub positions: Vec<Position>,
}

/// A run's lifecycle transitions, as told to its strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// The run has started; events follow.
    Started,
    /// The run is stopping; this is the last event.
    Stopping,
}

/// `evt` (a fact) or `cmd` (a request), as in the event envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Something that happened.
    Evt,
    /// Something asked for.
    Cmd,
}

/// The envelope fields every event carries (`docs/architecture.md#events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMeta {
    /// Unique event id.
    pub id: String,
    /// Fact or request.
    pub kind: EventKind,
    /// Event type, e.g. `market.Bar` or `orders.Filled`.
    pub event_type: String,
    /// Version of the event type's payload schema.
    pub version: u32,
    /// The run the event belongs to.
    pub run_id: String,
    /// Correlation id: ties together everything one request caused.
    pub corr_id: String,
    /// Id of the event that caused this one.
    pub causation_id: Option<String>,
    /// Trace id for distributed tracing.
    pub trace_id: Option<String>,
    /// When the event happened (UTC milliseconds; the bar time in a backtest).
    pub ts: TsMillis,
    /// Which component produced it.
    pub producer: String,
    /// Free-form headers.
    pub headers: Vec<(String, String)>,
}

/// The typed payload of an event delivered to a strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "payload", content = "data")]
pub enum StrategyPayload {
    /// New bars for one or several of the run's symbols, all with the same timestamp.
    Bars(Vec<SymbolBar>),
    /// The window of bars a `FetchWindow` intent asked for (oldest first).
    DataWindow {
        /// Symbol of the window.
        symbol: String,
        /// Timeframe of the bars.
        timeframe: Timeframe,
        /// The bars, oldest first.
        bars: Vec<Bar>,
    },
    /// A clock tick at the run's bar boundary.
    ClockTick,
    /// A change in one of the run's orders.
    OrderUpdate(OrderUpdate),
    /// The account and positions.
    Account(AccountSnapshot),
    /// A run lifecycle transition.
    Lifecycle(Lifecycle),
    /// An event type this contract version has no typed variant for.
    Raw {
        /// Media type of `bytes`, e.g. `application/json`.
        content_type: String,
        /// The payload bytes.
        bytes: Vec<u8>,
    },
}

impl StrategyPayload {
    /// The envelope's event type for this payload, the same in every mode.
    pub fn event_type(&self) -> &'static str {
        match self {
            StrategyPayload::Bars(_) => "market.Bar",
            StrategyPayload::DataWindow { .. } => "market.DataWindow",
            StrategyPayload::ClockTick => "clock.Tick",
            StrategyPayload::OrderUpdate(_) => "orders.Updated",
            StrategyPayload::Account(_) => "account.Snapshot",
            StrategyPayload::Lifecycle(_) => "run.Lifecycle",
            StrategyPayload::Raw { .. } => "raw",
        }
    }
}

/// One event as delivered to a strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyEvent {
    /// Envelope fields.
    pub meta: EventMeta,
    /// Typed payload.
    pub payload: StrategyPayload,
}

/// What a run tells its strategy when it is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyConfig {
    /// Strategy parameters as text key/values (`fast=10`).
    pub params: Vec<(String, String)>,
    /// The run's symbols; [`SymbolBar::symbol`] indexes this list.
    pub symbols: Vec<String>,
    /// The run's bar timeframe.
    pub timeframe: Timeframe,
}

/// A series of bars a strategy reads besides its run's own: one symbol in one timeframe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SeriesDecl {
    /// The symbol (one of the run's or another).
    pub symbol: String,
    /// Its timeframe.
    pub timeframe: Timeframe,
}

/// What a strategy declared after `init` (contract 0.3; a 0.2 component declares no series and
/// warm-up 0): the optional events it wants, the extra series it reads with `FetchWindow`, and
/// how many bars of the run's timeframe it needs before its indicators are defined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    /// The optional event kinds it wants.
    pub subscriptions: Subscriptions,
    /// Extra series, in the order declared, without duplicates.
    pub series: Vec<SeriesDecl>,
    /// Warm-up in bars of the run's timeframe.
    pub warmup: u32,
}

impl Declaration {
    /// Whether `symbol` in `timeframe` is one of the declared series.
    pub fn declares(&self, symbol: &str, timeframe: Timeframe) -> bool {
        self.series
            .iter()
            .any(|s| s.symbol == symbol && s.timeframe == timeframe)
    }
}

/// The outcome of delivering a batch of bars.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchOutcome {
    /// Intents produced by the last consumed timestamp group (empty if none produced any).
    pub intents: Vec<Intent>,
    /// How many bars of the batch were consumed: the whole batch, or every bar up to and including
    /// the timestamp group whose bars produced intents.
    pub consumed: usize,
}

/// Why a strategy call failed. `code` is a stable snake_case code (`strategy_fuel_exhausted`,
/// `strategy_timeout`, `strategy_trap`, `invalid_params`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct StrategyError {
    /// Stable machine-readable code.
    pub code: String,
    /// Human-readable detail, safe to show a user.
    pub message: String,
}

/// The optional event kinds a strategy wants (its answer to `init`). Bars, the data windows it
/// asked for and raw events are always delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscriptions {
    /// Order updates (accepted, fills, cancels, rejects).
    pub order_updates: bool,
    /// Account and position snapshots.
    pub account: bool,
    /// Clock ticks at the run's bar boundaries.
    pub clock_ticks: bool,
    /// Run lifecycle transitions.
    pub lifecycle: bool,
}

impl Subscriptions {
    /// Every event kind.
    pub const ALL: Subscriptions = Subscriptions {
        order_updates: true,
        account: true,
        clock_ticks: true,
        lifecycle: true,
    };
    /// Only what is always delivered: bars, requested data windows, raw events.
    pub const NONE: Subscriptions = Subscriptions {
        order_updates: false,
        account: false,
        clock_ticks: false,
        lifecycle: false,
    };

    /// Whether an event with this payload should reach the strategy.
    pub fn wants(self, payload: &StrategyPayload) -> bool {
        match payload {
            StrategyPayload::Bars(_)
            | StrategyPayload::DataWindow { .. }
            | StrategyPayload::Raw { .. } => true,
            StrategyPayload::OrderUpdate(_) => self.order_updates,
            StrategyPayload::Account(_) => self.account,
            StrategyPayload::ClockTick => self.clock_ticks,
            StrategyPayload::Lifecycle(_) => self.lifecycle,
        }
    }
}

/// A strategy instance as the engines drive it: a WebAssembly sandbox (`marvin`) or, for
/// benchmarks and tests, native code. One instance belongs to one run.
pub trait Strategy: Send {
    /// The optional event kinds this instance wants. An engine may skip building events the
    /// strategy does not want; [`Strategy::on_event`] ignores them either way.
    fn subscriptions(&self) -> Subscriptions {
        Subscriptions::ALL
    }

    /// What this instance declared in `init`: by default its subscriptions, no extra series and
    /// no warm-up (a native strategy or a contract 0.2 component).
    fn declaration(&self) -> Declaration {
        Declaration {
            subscriptions: self.subscriptions(),
            series: Vec::new(),
            warmup: 0,
        }
    }

    /// Delivers one event and returns the strategy's (not yet validated) intents.
    ///
    /// # Errors
    /// The strategy's own error, or a sandbox failure (trap, budget exhausted); after a sandbox
    /// failure the instance is unusable.
    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError>;

    /// Delivers consecutive bars in time order as if each timestamp group were its own `Bars`
    /// event, stopping after the first group that produces intents. Semantically identical to
    /// one `on_event` per timestamp; a sandbox implements it with one guest call per batch.
    ///
    /// `meta` is the envelope template of the batch; per-group ids are derived from it.
    ///
    /// # Errors
    /// As [`Strategy::on_event`].
    fn on_bars(
        &mut self,
        meta: &EventMeta,
        bars: &[SymbolBar],
    ) -> Result<BatchOutcome, StrategyError> {
        let mut start = 0;
        while start < bars.len() {
            let ts = bars[start].bar.ts;
            let end = start + bars[start..].iter().take_while(|b| b.bar.ts == ts).count();
            let event = StrategyEvent {
                meta: EventMeta { ts, ..meta.clone() },
                payload: StrategyPayload::Bars(bars[start..end].to_vec()),
            };
            let intents = self.on_event(&event)?;
            if !intents.is_empty() {
                return Ok(BatchOutcome {
                    intents,
                    consumed: end,
                });
            }
            start = end;
        }
        Ok(BatchOutcome {
            intents: Vec::new(),
            consumed: bars.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeframe_round_trips_alpaca_notation() {
        for text in ["1Min", "15Min", "1Hour", "4Hour", "1Day", "1Week", "1Month"] {
            let tf: Timeframe = text.parse().unwrap();
            assert_eq!(tf.to_string(), text);
        }
        assert_eq!(
            "5min".parse::<Timeframe>().unwrap(),
            Timeframe {
                amount: 5,
                unit: TimeUnit::Minute
            }
        );
        assert_eq!(Timeframe::DAY.nominal_millis(), 86_400_000);
        for bad in ["", "0Min", "Min5", "1Fortnight", "99999999999Min"] {
            assert!(bad.parse::<Timeframe>().is_err(), "{bad} should be refused");
        }
    }

    /// A strategy that emits an intent on the bar whose close is 3.
    struct EmitOnThree;
    impl Strategy for EmitOnThree {
        fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
            let StrategyPayload::Bars(bars) = &event.payload else {
                return Ok(vec![]);
            };
            Ok(bars
                .iter()
                .filter(|b| b.bar.close == 3.0)
                .map(|_| Intent::ClosePosition { symbol: "X".into() })
                .collect())
        }
    }

    #[test]
    fn default_on_bars_stops_after_the_group_that_produced_intents() {
        let bar = |ts, close| SymbolBar {
            symbol: 0,
            bar: Bar {
                ts,
                open: 1.0,
                high: 1.0,
                low: 1.0,
                close,
                volume: 0.0,
            },
        };
        // Two symbols per timestamp; the intent comes from the second group.
        let bars = [
            bar(1, 1.0),
            bar(1, 2.0),
            bar(2, 3.0),
            bar(2, 4.0),
            bar(3, 5.0),
        ];
        let meta = EventMeta {
            id: "e".into(),
            kind: EventKind::Evt,
            event_type: "market.Bar".into(),
            version: 1,
            run_id: "r".into(),
            corr_id: "c".into(),
            causation_id: None,
            trace_id: None,
            ts: 0,
            producer: "test".into(),
            headers: vec![],
        };
        let out = EmitOnThree.on_bars(&meta, &bars).unwrap();
        assert_eq!(out.consumed, 4);
        assert_eq!(out.intents.len(), 1);
        let rest = EmitOnThree.on_bars(&meta, &bars[4..]).unwrap();
        assert_eq!(
            rest,
            BatchOutcome {
                intents: vec![],
                consumed: 1
            }
        );
    }
}
