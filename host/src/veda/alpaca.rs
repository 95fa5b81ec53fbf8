//! Alpaca: the first [`Venue`]. Cut as nautilus cuts its adapters: [`config`] (keys and URLs),
//! [`models`] (wire format, tolerant), [`parse`] (wire ↔ domain, symbol normalisation), [`http`]
//! (REST transport and order-outcome resolution), [`stream`] (websockets), and [`AlpacaVenue`]
//! tying them to the [`Venue`] trait. [`fake`] is a faithful local Alpaca for tests and offline use.
//!
//! # Invariants
//! - All REST traffic of all runs shares one [`RequestBudget`] (unless a test injects one).
//! - The venue never sees an order whose `client_order_id` was not journaled first; that is
//!   [`crate::veda::journal::place_order`]'s job, this module only sends.

pub mod config;
#[cfg(feature = "fake-alpaca")]
pub mod fake;
pub mod http;
pub mod models;
pub mod parse;
pub mod stream;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

pub use config::AlpacaConfig;
pub use http::{AlpacaHttp, ResolvePolicy};
pub use stream::{AuthForm, StreamOptions};

use crate::domain::Bar;
use crate::veda::rate_limit::RequestBudget;
use crate::veda::types::{
    Account, BarEvent, BarsRequest, CalendarDay, MarketClock, OrderQuery, OrderRequest,
    OrderStreamEvent, StreamHandle, VenueOrder, VenuePosition,
};
use crate::veda::{Result, Venue};

/// Alpaca as a [`Venue`].
#[derive(Debug, Clone)]
pub struct AlpacaVenue {
    http: AlpacaHttp,
    stream_options: StreamOptions,
}

impl AlpacaVenue {
    /// A venue for `config` on the process-wide request budget.
    ///
    /// # Errors
    /// [`crate::veda::Error::Config`] when the HTTP client cannot be built.
    pub fn new(config: AlpacaConfig) -> Result<Self> {
        Self::with_budget(config, RequestBudget::global())
    }

    /// A venue drawing on `budget` (tests use their own bucket).
    ///
    /// # Errors
    /// As [`AlpacaVenue::new`].
    pub fn with_budget(config: AlpacaConfig, budget: RequestBudget) -> Result<Self> {
        Ok(Self {
            http: AlpacaHttp::new(config, budget)?,
            stream_options: StreamOptions::default(),
        })
    }

    /// Replaces the stream timing (heartbeat, backoff, auth form).
    pub fn with_stream_options(mut self, options: StreamOptions) -> Self {
        self.stream_options = options;
        self
    }

    /// Replaces the submit-resolution policy.
    pub fn with_resolve_policy(mut self, policy: ResolvePolicy) -> Self {
        self.http = self.http.with_policy(policy);
        self
    }

    /// The REST client, for Alpaca-only calls (assets, replace).
    pub fn http(&self) -> &AlpacaHttp {
        &self.http
    }
}

#[async_trait]
impl Venue for AlpacaVenue {
    fn name(&self) -> &str {
        "alpaca"
    }

    async fn account(&self) -> Result<Account> {
        self.http.account().await
    }

    async fn positions(&self) -> Result<Vec<VenuePosition>> {
        self.http.positions().await
    }

    async fn submit_order(&self, request: &OrderRequest) -> Result<VenueOrder> {
        self.http.submit_order(request).await
    }

    async fn cancel_order(&self, order_id: &str) -> Result<()> {
        self.http.cancel_order(order_id).await
    }

    async fn order(&self, order_id: &str) -> Result<VenueOrder> {
        self.http.order(order_id).await
    }

    async fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<VenueOrder>> {
        self.http.order_by_client_id(client_order_id).await
    }

    async fn orders(&self, query: &OrderQuery) -> Result<Vec<VenueOrder>> {
        self.http.orders(query).await
    }

    async fn bars(&self, request: &BarsRequest) -> Result<BTreeMap<String, Vec<Bar>>> {
        self.http.bars(request).await
    }

    async fn latest_bars(&self, symbols: &[String]) -> Result<BTreeMap<String, Bar>> {
        self.http.latest_bars(symbols).await
    }

    async fn order_updates(&self, since: DateTime<Utc>) -> Result<StreamHandle<OrderStreamEvent>> {
        Ok(stream::trade_updates(
            self.http.clone(),
            self.stream_options,
            since,
        ))
    }

    async fn bar_stream(&self, symbols: &[String]) -> Result<StreamHandle<BarEvent>> {
        Ok(stream::bars(
            self.http.config().clone(),
            self.stream_options,
            symbols.to_vec(),
        ))
    }

    async fn clock(&self) -> Result<MarketClock> {
        self.http.clock().await
    }

    async fn calendar(&self, start: NaiveDate, end: NaiveDate) -> Result<Vec<CalendarDay>> {
        self.http.calendar(start, end).await
    }
}
