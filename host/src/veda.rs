//! Veda: live market data and order execution. One [`Venue`] trait for every exchange (Alpaca
//! first, a simulated exchange later), the pre-trade checks every order passes before it reaches a
//! venue, the deterministic `client_order_id`, the global request budget, and the order journal
//! seam through which intents are made durable before they are sent.
//!
//! # Layout
//! - [`types`]: venue-side domain types (orders, positions, account, clock, bars, trade updates);
//!   money and quantities are [`rust_decimal::Decimal`].
//! - [`error`]: [`Error`], with a stable `code()` and a split between *definitive* outcomes
//!   (rejected, not found) and *unknown* outcomes (timeout, 5xx, lost connection).
//! - [`client_order_id`]: `client_order_id` derived from run id and intent sequence.
//! - [`risk`]: pure pre-trade checks and the trading state (active / reduce-only / halted).
//! - [`rate_limit`]: one token bucket (200 requests/min by default) shared by all runs.
//! - [`journal`]: the [`journal::OrderJournal`] seam ([`journal::store::WalleJournal`] on WallE) and
//!   [`journal::place_order`], the only path by which an intent becomes a venue order.
//! - [`reconcile`]: orders, fills and positions compared with the venue; what to record and
//!   which symbols may not trade.
//!   [`journal::recover::recover`] runs it on start against WallE: pending intents resolved,
//!   missed fills and final states recorded, runs on unexplained symbols refused
//!   (`venue_unreconciled`).
//! - [`live`]: [`live::LiveRunner`], the loop bars → strategy → checks → journal → venue that a
//!   live or paper run executes (GLaDOS's run lifecycle drives it).
//! - [`sim`]: [`sim::SimVenue`], the simulated exchange: stored or generated candles replayed as
//!   a live bar stream, orders filled by Greta's broker; no keys, no network.
//! - [`desk`]: [`desk::Desk`], a live venue shared by all runs on it: one order-update and one
//!   bar stream fanned out, start-up recovery once before any run trades, one recorder.
//! - [`download`]: historical bars from Alpaca into candles, with their price adjustment, as
//!   the CLI's synchronous download and the API's resumable background jobs.
//! - [`periods`]: which bar of a timeframe a 1-minute bar belongs to and when it is complete
//!   (sessions, holidays, early closes, crypto in UTC), shared by live runs' aggregation
//!   ([`live::aggregate`]) and the fake Alpaca's historical bars.
//! - [`alpaca`]: the Alpaca client (REST + streams) and [`alpaca::fake`], a faithful local fake.
//!
//! # Invariants
//! - Nothing reaches a venue without passing [`risk::check_order`] first.
//! - An order intent is recorded in the [`journal::OrderJournal`] *before* the venue is called,
//!   under the `client_order_id` the venue will see, so a crash mid-call leaves a record that
//!   reconciliation resolves.
//! - A submit whose outcome is unknown is never blindly resent: it is resolved by
//!   `client_order_id`; resending is only done with the *same* id, which the venue deduplicates.
//! - Adding a venue means implementing [`Venue`]; GLaDOS, Marvin and Greta do not change.

pub mod alpaca;
pub mod client_order_id;
pub mod desk;
pub mod download;
pub mod error;
pub mod journal;
pub mod live;
pub mod periods;
pub mod rate_limit;
pub mod reconcile;
pub mod risk;
pub mod sim;
pub mod store_wait;
pub mod types;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

pub use error::{Error, Result};
pub use types::{
    Account, BarEvent, BarsRequest, CalendarDay, MarketClock, OrderQuantity, OrderQuery,
    OrderRequest, OrderStatusFilter, OrderStreamEvent, StreamHandle, TradeEvent, TradeUpdate,
    VenueOrder, VenueOrderStatus, VenuePosition,
};

use crate::domain::Bar;

/// An exchange Weaver can trade on: account, positions, orders, order updates, market data, clock.
///
/// Implementations are shared by all runs (`Arc<dyn Venue>`), so every method takes `&self`.
#[async_trait]
pub trait Venue: Send + Sync {
    /// Short stable name of the venue (`alpaca`, `sim`), used in logs and records.
    fn name(&self) -> &str;

    /// Returns the account (cash, equity, buying power, blocks).
    ///
    /// # Errors
    /// Transport, authentication or decoding failures.
    async fn account(&self) -> Result<Account>;

    /// Returns every open position, symbols in canonical form (`BTC/USD`).
    ///
    /// # Errors
    /// As [`Venue::account`].
    async fn positions(&self) -> Result<Vec<VenuePosition>>;

    /// Submits an order whose `client_order_id` was already recorded in the journal.
    ///
    /// Returns the venue's order once the outcome is known, including when the order turns out
    /// to have been accepted by an earlier attempt (duplicate id, timeout, 5xx).
    ///
    /// # Errors
    /// [`Error::Rejected`] when the venue definitively refused it; [`Error::OutcomeUnknown`] when
    /// the outcome could not be resolved (the journal keeps it for reconciliation).
    async fn submit_order(&self, request: &OrderRequest) -> Result<VenueOrder>;

    /// Requests cancellation of an open order; the final state arrives as a trade update.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown id, [`Error::Rejected`] if it is no longer cancelable.
    async fn cancel_order(&self, order_id: &str) -> Result<()>;

    /// Returns one order by the venue's id.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown id.
    async fn order(&self, order_id: &str) -> Result<VenueOrder>;

    /// Returns the order with this client order id, or `None` when the venue has none.
    ///
    /// # Errors
    /// Transport, authentication or decoding failures.
    async fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<VenueOrder>>;

    /// Lists orders matching `query`, following pagination.
    ///
    /// # Errors
    /// As [`Venue::account`].
    async fn orders(&self, query: &OrderQuery) -> Result<Vec<VenueOrder>>;

    /// Historical bars per symbol, oldest first, following every page.
    ///
    /// # Errors
    /// As [`Venue::account`].
    async fn bars(&self, request: &BarsRequest) -> Result<BTreeMap<String, Vec<Bar>>>;

    /// The latest bar of each symbol (symbols without data are omitted).
    ///
    /// # Errors
    /// As [`Venue::account`].
    async fn latest_bars(&self, symbols: &[String]) -> Result<BTreeMap<String, Bar>>;

    /// Starts the order-update stream. It reconnects on its own and, after every reconnect,
    /// delivers the orders submitted since `since` and all open orders (REST reconciliation)
    /// before live updates.
    ///
    /// # Errors
    /// Only configuration errors; connection problems are retried inside the stream.
    async fn order_updates(&self, since: DateTime<Utc>) -> Result<StreamHandle<OrderStreamEvent>>;

    /// Starts a live bar stream for `symbols` (one connection per venue endpoint).
    ///
    /// # Errors
    /// As [`Venue::order_updates`].
    async fn bar_stream(&self, symbols: &[String]) -> Result<StreamHandle<BarEvent>>;

    /// The market clock (is the market open, next open and close).
    ///
    /// # Errors
    /// As [`Venue::account`].
    async fn clock(&self) -> Result<MarketClock>;

    /// Trading days between `start` and `end`, inclusive.
    ///
    /// # Errors
    /// As [`Venue::account`].
    async fn calendar(&self, start: NaiveDate, end: NaiveDate) -> Result<Vec<CalendarDay>>;
}
