//! Venue-side domain types: what Veda hands to the rest of Weaver, independent of any venue's wire
//! format. Money and quantities are [`Decimal`]; bars stay [`crate::domain::Bar`] (strategies
//! consume them as `f64`).
//!
//! # Invariants
//! - Symbols are canonical: crypto pairs are `BASE/QUOTE` (`BTC/USD`), equities upper case
//!   (`AAPL`), whatever spelling the venue used.
//! - Timestamps are UTC.
//! - A position's quantity is signed: negative means short.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::domain::{self, Bar, OrderType, Side, TimeInForce, Timeframe};

/// How large an order is, in the venue's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum OrderQuantity {
    /// A number of units (shares, coins).
    Units(Decimal),
    /// An amount of account currency.
    Notional(Decimal),
}

impl std::fmt::Display for OrderQuantity {
    /// `12` units or `$250.5` notional.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderQuantity::Units(u) => write!(f, "{}", u.normalize()),
            OrderQuantity::Notional(n) => write!(f, "${}", n.normalize()),
        }
    }
}

/// An order ready to be sent: sizes resolved, symbol canonical, `client_order_id` derived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// Deterministic id from run and intent ([`crate::veda::client_order_id`]).
    pub client_order_id: String,
    /// Canonical symbol.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Market, limit, stop or stop-limit.
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Units or notional.
    pub quantity: OrderQuantity,
    /// Limit price (limit, stop-limit).
    pub limit_price: Option<Decimal>,
    /// Stop price (stop, stop-limit).
    pub stop_price: Option<Decimal>,
    /// Allow execution in extended hours (limit orders only).
    pub extended_hours: bool,
}

/// Status of an order at the venue (Alpaca's vocabulary, which covers the common ground).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VenueOrderStatus {
    /// Received, not yet routed (outside hours).
    Accepted,
    /// Routed, waiting for acknowledgement.
    PendingNew,
    /// Live at the venue.
    New,
    /// Partly filled, still working.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Done for the day; may resume tomorrow.
    DoneForDay,
    /// Cancelled.
    Canceled,
    /// Expired (time in force ran out).
    Expired,
    /// Replaced by another order.
    Replaced,
    /// A cancel was requested and is pending.
    PendingCancel,
    /// A replace was requested and is pending.
    PendingReplace,
    /// Rejected by the venue.
    Rejected,
    /// Suspended by the venue.
    Suspended,
    /// Stopped (guaranteed a price, not yet filled).
    Stopped,
    /// Calculated (end-of-day bookkeeping).
    Calculated,
    /// Held (a bracket leg waiting for its parent).
    Held,
    /// A status this version does not know; treated as open so nothing is forgotten.
    Unknown,
}

impl VenueOrderStatus {
    /// Parses the venue's status text; unknown values map to [`VenueOrderStatus::Unknown`].
    pub fn parse(text: &str) -> Self {
        match text {
            "accepted" | "accepted_for_bidding" => Self::Accepted,
            "pending_new" => Self::PendingNew,
            "new" => Self::New,
            "partially_filled" => Self::PartiallyFilled,
            "filled" => Self::Filled,
            "done_for_day" => Self::DoneForDay,
            "canceled" | "cancelled" => Self::Canceled,
            "expired" => Self::Expired,
            "replaced" => Self::Replaced,
            "pending_cancel" => Self::PendingCancel,
            "pending_replace" => Self::PendingReplace,
            "rejected" => Self::Rejected,
            "suspended" => Self::Suspended,
            "stopped" => Self::Stopped,
            "calculated" => Self::Calculated,
            "held" => Self::Held,
            _ => Self::Unknown,
        }
    }

    /// The venue's text for this status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::PendingNew => "pending_new",
            Self::New => "new",
            Self::PartiallyFilled => "partially_filled",
            Self::Filled => "filled",
            Self::DoneForDay => "done_for_day",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::Replaced => "replaced",
            Self::PendingCancel => "pending_cancel",
            Self::PendingReplace => "pending_replace",
            Self::Rejected => "rejected",
            Self::Suspended => "suspended",
            Self::Stopped => "stopped",
            Self::Calculated => "calculated",
            Self::Held => "held",
            Self::Unknown => "unknown",
        }
    }

    /// True once nothing more can happen to the order.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Canceled | Self::Expired | Self::Replaced | Self::Rejected
        )
    }

    /// The status as a strategy sees it.
    pub fn to_domain(self) -> domain::OrderStatus {
        match self {
            Self::PartiallyFilled => domain::OrderStatus::PartiallyFilled,
            Self::Filled => domain::OrderStatus::Filled,
            Self::Canceled | Self::Expired | Self::Replaced | Self::DoneForDay => {
                domain::OrderStatus::Cancelled
            }
            Self::Rejected | Self::Suspended => domain::OrderStatus::Rejected,
            _ => domain::OrderStatus::Accepted,
        }
    }
}

/// An order as the venue reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueOrder {
    /// The venue's order id.
    pub id: String,
    /// Our client order id.
    pub client_order_id: String,
    /// Canonical symbol.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Order type.
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Ordered units, when sized by units.
    pub quantity: Option<Decimal>,
    /// Ordered notional, when sized by notional.
    pub notional: Option<Decimal>,
    /// Units filled so far.
    pub filled_quantity: Decimal,
    /// Average fill price so far.
    pub filled_avg_price: Option<Decimal>,
    /// Limit price.
    pub limit_price: Option<Decimal>,
    /// Stop price.
    pub stop_price: Option<Decimal>,
    /// Current status.
    pub status: VenueOrderStatus,
    /// When the venue created it.
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// When it was submitted.
    pub submitted_at: Option<DateTime<Utc>>,
    /// When it was completely filled.
    pub filled_at: Option<DateTime<Utc>>,
    /// The order that replaced this one.
    pub replaced_by: Option<String>,
    /// The order this one replaced.
    pub replaces: Option<String>,
}

/// The account at the venue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The venue's account id.
    pub id: String,
    /// The account number people read (Alpaca's `account_number`), when the venue has one.
    pub number: Option<String>,
    /// Account status text (`ACTIVE`).
    pub status: String,
    /// Account currency.
    pub currency: String,
    /// Cash balance.
    pub cash: Decimal,
    /// Cash plus the value of positions.
    pub equity: Decimal,
    /// What can be spent on new orders.
    pub buying_power: Decimal,
    /// Buying power for non-marginable assets (crypto).
    pub non_marginable_buying_power: Option<Decimal>,
    /// Trading is blocked on the account.
    pub trading_blocked: bool,
    /// The whole account is blocked.
    pub account_blocked: bool,
    /// The user suspended trading.
    pub trade_suspended_by_user: bool,
}

/// One open position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenuePosition {
    /// Canonical symbol.
    pub symbol: String,
    /// Signed quantity (negative = short).
    pub quantity: Decimal,
    /// Average entry price.
    pub avg_entry_price: Decimal,
    /// Current market value (signed).
    pub market_value: Option<Decimal>,
    /// Last price.
    pub current_price: Option<Decimal>,
    /// Asset class text (`us_equity`, `crypto`).
    pub asset_class: Option<String>,
}

/// The market clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketClock {
    /// The venue's current time.
    pub timestamp: DateTime<Utc>,
    /// The regular session is open.
    pub is_open: bool,
    /// Next open.
    pub next_open: DateTime<Utc>,
    /// Next close.
    pub next_close: DateTime<Utc>,
}

/// One trading day. Times are **New York local** (the venue sends them without a zone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarDay {
    /// The trading date.
    pub date: NaiveDate,
    /// Regular open, New York time.
    pub open: NaiveTime,
    /// Regular close, New York time.
    pub close: NaiveTime,
}

/// Which orders to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatusFilter {
    /// Open orders only.
    #[default]
    Open,
    /// Closed orders only.
    Closed,
    /// All orders.
    All,
}

/// A query for [`crate::veda::Venue::orders`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderQuery {
    /// Open, closed or all.
    pub status: OrderStatusFilter,
    /// Only orders submitted strictly after this time.
    pub after: Option<DateTime<Utc>>,
    /// Only these symbols (canonical); empty = all.
    pub symbols: Vec<String>,
}

/// A historical bars request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarsRequest {
    /// Canonical symbols; crypto and equities may not be mixed in one request.
    pub symbols: Vec<String>,
    /// Bar timeframe.
    pub timeframe: Timeframe,
    /// First bar time, inclusive.
    pub start: DateTime<Utc>,
    /// Last bar time, inclusive.
    pub end: DateTime<Utc>,
    /// Page size asked of the venue (it may return fewer); `None` = venue default.
    pub page_limit: Option<u32>,
}

/// What happened to an order, as pushed by a venue stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeEvent {
    /// Accepted and routed.
    New,
    /// Completely filled.
    Fill,
    /// Partly filled.
    PartialFill,
    /// Cancelled.
    Canceled,
    /// Expired.
    Expired,
    /// Done for the day.
    DoneForDay,
    /// Replaced.
    Replaced,
    /// Rejected.
    Rejected,
    /// Pending new.
    PendingNew,
    /// Stopped.
    Stopped,
    /// Cancel pending.
    PendingCancel,
    /// Replace pending.
    PendingReplace,
    /// Calculated.
    Calculated,
    /// Suspended.
    Suspended,
    /// A replace request was rejected.
    OrderReplaceRejected,
    /// A cancel request was rejected.
    OrderCancelRejected,
    /// Accepted (outside hours).
    Accepted,
    /// Restated.
    Restated,
    /// An event this version does not know.
    Unknown,
}

impl TradeEvent {
    /// Parses the venue's event text; unknown values map to [`TradeEvent::Unknown`].
    pub fn parse(text: &str) -> Self {
        match text {
            "new" => Self::New,
            "fill" => Self::Fill,
            "partial_fill" => Self::PartialFill,
            "canceled" => Self::Canceled,
            "expired" => Self::Expired,
            "done_for_day" => Self::DoneForDay,
            "replaced" => Self::Replaced,
            "rejected" => Self::Rejected,
            "pending_new" => Self::PendingNew,
            "stopped" => Self::Stopped,
            "pending_cancel" => Self::PendingCancel,
            "pending_replace" => Self::PendingReplace,
            "calculated" => Self::Calculated,
            "suspended" => Self::Suspended,
            "order_replace_rejected" => Self::OrderReplaceRejected,
            "order_cancel_rejected" => Self::OrderCancelRejected,
            "accepted" => Self::Accepted,
            "restated" => Self::Restated,
            _ => Self::Unknown,
        }
    }
}

/// One order event from a venue stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeUpdate {
    /// What happened.
    pub event: TradeEvent,
    /// The order after the event.
    pub order: VenueOrder,
    /// Venue's execution id (fills), used to deduplicate fills.
    pub execution_id: Option<String>,
    /// Price of this fill.
    pub price: Option<Decimal>,
    /// Quantity of this fill.
    pub quantity: Option<Decimal>,
    /// Position quantity after this fill.
    pub position_quantity: Option<Decimal>,
    /// When it happened.
    pub timestamp: Option<DateTime<Utc>>,
}

/// What the order-update stream delivers.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderStreamEvent {
    /// The stream is (re)connected and listening; `reconnect` is false for the first connection.
    Connected {
        /// True after the first connection.
        reconnect: bool,
    },
    /// After a reconnect: every order submitted since the stream's `since` plus every open order,
    /// fetched over REST, so events lost while disconnected are recovered. Delivered before live
    /// updates resume.
    Reconciled(Vec<VenueOrder>),
    /// A live order event (boxed: it is much larger than the other variants).
    Update(Box<TradeUpdate>),
    /// The connection was lost (dropped, or silent past the heartbeat timeout); a reconnect with
    /// backoff follows.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// The stream gave up (bad credentials or a fatal venue error); nothing follows.
    Failed(crate::veda::Error),
}

/// One live bar.
#[derive(Debug, Clone, PartialEq)]
pub enum BarEvent {
    /// A completed bar of a symbol.
    Bar {
        /// Canonical symbol.
        symbol: String,
        /// The bar.
        bar: Bar,
    },
    /// A minute bar the venue recomputed after sending it (Alpaca's `updatedBars`: a late
    /// trade); same symbol and time as the bar it replaces.
    Updated {
        /// Canonical symbol.
        symbol: String,
        /// The bar.
        bar: Bar,
    },
    /// A bar built from the minutes outside the runner (a `sim-live` exchange,
    /// `crate::veda::sim::live`) and told before, amended by a late minute: the runner tells it
    /// again with the header `amended: true`; the exchange does not step it again.
    Amended {
        /// Canonical symbol.
        symbol: String,
        /// The bar as amended.
        bar: Bar,
    },
    /// The stream (re)connected and resubscribed.
    Connected {
        /// True after the first connection.
        reconnect: bool,
    },
    /// The connection was lost; a reconnect with backoff follows.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// The stream gave up; nothing follows.
    Failed(crate::veda::Error),
}

/// A running stream: receive events from `events`; dropping the handle stops the stream.
#[derive(Debug)]
pub struct StreamHandle<T> {
    /// Events in order.
    pub events: mpsc::Receiver<T>,
    cancel: CancellationToken,
}

impl<T> StreamHandle<T> {
    /// Wraps a receiver and the token that stops the producing task.
    pub fn new(events: mpsc::Receiver<T>, cancel: CancellationToken) -> Self {
        Self { events, cancel }
    }

    /// Receives the next event, `None` once the stream has stopped.
    pub async fn next(&mut self) -> Option<T> {
        self.events.recv().await
    }

    /// Stops the stream.
    pub fn stop(&self) {
        self.cancel.cancel();
    }
}

impl<T> Drop for StreamHandle<T> {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
