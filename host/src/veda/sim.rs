//! The simulated exchange: a [`Venue`] with no keys and no network. It replays stored or
//! generated candles as a live bar stream and fills orders with Greta's broker
//! ([`crate::greta::broker::Broker`]), so a strategy trades on it exactly as in a backtest of the
//! same data, and the whole system works offline (it is meant as `weaver serve`'s default venue).
//!
//! # How time moves
//! The replay walks the dataset's timestamps in order. At each timestamp it first processes the
//! pending orders against that timestamp's bars (Greta's fill rules: market orders fill at the
//! open of the bar after the one they were decided on, limits/stops when traded through, …),
//! pushes the resulting trade updates, then publishes the bars on the bar stream.
//! - [`Speed::Lockstep`] ("as fast as possible", for tests and replays): after each bar the
//!   replay waits until the consumer calls [`SimVenue::bar_done`] (the [`crate::veda::live`]
//!   runner does after it submitted that bar's orders), so orders decided on bar `t` always meet
//!   bar `t + 1`, as in a backtest, however slow the consumer is.
//! - [`Speed::Interval`]: one timestamp every interval, whether or not the consumer keeps up
//!   (paper trading at a chosen pace); a late order simply meets a later bar.
//!
//! A replay over stored candles ([`SimVenue::from_walle`]) also waits before each timestamp
//! while WallE's backpressure throttles its correlation (a critical outbox consumer is behind
//! and this run's request floods it, [`crate::walle::Backpressure::pause`]): the replay is a
//! producer Weaver paces itself, so it slows down rather than outrun the system's own records.
//!
//! # Invariants
//! - One order per `client_order_id`: a resubmit with a known id returns the existing order.
//! - Fills, cash and positions come from Greta's broker only; this module only translates.
//! - The replay runs at most once per venue (one bar stream); bars already published are never
//!   published again.
//! - Exchanges replaying equal bars share one read-only copy of them (a process-wide table of
//!   tapes in use); each keeps its own account, orders and replay position.

mod live;
mod tape;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::domain::{self, Bar, OrderIntent, OrderSize, OrderStatus};
use crate::greta::broker::{BarView, Broker, BrokerConfig};
use crate::veda::types::{
    Account, BarEvent, BarsRequest, CalendarDay, MarketClock, OrderQuantity, OrderQuery,
    OrderRequest, OrderStatusFilter, OrderStreamEvent, StreamHandle, TradeEvent, TradeUpdate,
    VenueOrder, VenueOrderStatus, VenuePosition,
};
use crate::veda::{Error, Result, Venue};
pub use live::{Aggregation, BuiltHook, LIVE_VENUE, WarmUp};
use tape::Tape;

/// How fast the replay runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    /// As fast as the consumer goes: the next bar waits for [`SimVenue::bar_done`].
    Lockstep,
    /// One timestamp every interval, regardless of the consumer.
    Interval(Duration),
}

/// Settings of the simulated exchange.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    /// Greta's broker settings: cash, commission, slippage, fill model, fractional units.
    pub broker: BrokerConfig,
    /// Replay pace.
    pub speed: Speed,
}

/// One timestamp of the replay: (time ms, [(symbol index, bar index)]).
type Group = (i64, Vec<(usize, usize)>);

struct Slot {
    order: VenueOrder,
    greta_id: String,
}

struct State {
    broker: Broker,
    closes: Vec<f64>,
    last: Vec<Option<(Bar, usize)>>,
    orders: BTreeMap<String, Slot>,
    by_cid: HashMap<String, String>,
    by_greta: HashMap<String, String>,
    listeners: Vec<mpsc::Sender<OrderStreamEvent>>,
    /// Index of the next timestamp group to replay.
    cursor: usize,
    now: Option<DateTime<Utc>>,
    next_id: u64,
    replaying: bool,
}

/// What Greta's broker sees of `bar`, bar number `g`, after `prev` (the symbol's previous bar
/// and its number; the bar itself when it is the first).
fn bar_view(bar: Bar, g: usize, prev: Option<(Bar, usize)>) -> BarView {
    BarView {
        open: bar.open,
        high: bar.high,
        low: bar.low,
        close: bar.close,
        ts: bar.ts,
        bar: g,
        prev_close: prev.map_or(bar.open, |(b, _)| b.close),
        prev_bar: prev.map_or(g, |(_, pg)| pg),
        prev_ts: prev.map_or(bar.ts, |(b, _)| b.ts),
        volume: bar.volume,
    }
}

impl State {
    /// A fresh account over `symbols` symbols: no bar seen, no order.
    fn new(broker: BrokerConfig, symbols: usize) -> State {
        State {
            broker: Broker::new(broker, "sim"),
            closes: vec![0.0; symbols],
            last: vec![None; symbols],
            orders: BTreeMap::new(),
            by_cid: HashMap::new(),
            by_greta: HashMap::new(),
            listeners: Vec::new(),
            cursor: 0,
            now: None,
            next_id: 0,
            replaying: false,
        }
    }
}

/// The simulated exchange. Cheap to clone; clones share the account and the replay.
#[derive(Clone)]
pub struct SimVenue {
    symbols: Arc<Vec<String>>,
    data: Arc<Vec<Vec<Bar>>>,
    timeline: Arc<Vec<Group>>,
    config: SimConfig,
    state: Arc<Mutex<State>>,
    demand: Arc<Semaphore>,
    /// Prefix of the venue's order ids (`sim-` unless set with
    /// [`SimVenue::with_order_id_prefix`]).
    id_prefix: Arc<str>,
    /// Consulted before each timestamp of the replay (replays over stored candles), with the
    /// correlation id of the run it was made for.
    throttle: Option<(crate::walle::Backpressure, Option<String>)>,
    /// Where live bars come from instead of the tape (the `sim-live` venue, [`live`]).
    feed: Option<Arc<live::Feed>>,
}

impl std::fmt::Debug for SimVenue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimVenue")
            .field("symbols", &self.symbols)
            .finish_non_exhaustive()
    }
}

fn dec(v: f64) -> Decimal {
    Decimal::from_f64(v).unwrap_or_default().normalize()
}

fn ts_of(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

impl SimVenue {
    /// A simulated exchange replaying `data` (symbol → bars, any order; each symbol's bars are
    /// sorted by time and duplicates of a timestamp keep the last).
    ///
    /// # Errors
    /// [`Error::Config`] when no symbol has bars or a bar has a non-finite price.
    pub fn new(data: BTreeMap<String, Vec<Bar>>, config: SimConfig) -> Result<SimVenue> {
        let mut symbols = Vec::new();
        let mut series = Vec::new();
        for (symbol, mut bars) in data {
            if bars.iter().any(|b| {
                ![b.open, b.high, b.low, b.close]
                    .iter()
                    .all(|v| v.is_finite())
            }) {
                return Err(Error::Config(format!(
                    "non-finite price in the bars of {symbol}"
                )));
            }
            bars.sort_by_key(|b| b.ts);
            bars.dedup_by(|later, earlier| {
                let same = later.ts == earlier.ts;
                if same {
                    *earlier = *later;
                }
                same
            });
            symbols.push(symbol);
            series.push(bars);
        }
        if series.iter().all(Vec::is_empty) {
            return Err(Error::Config(
                "the simulated exchange needs bars to replay".into(),
            ));
        }
        let n = symbols.len();
        let tape = Tape::shared(symbols, series);
        Ok(SimVenue {
            symbols: tape.symbols,
            data: tape.data,
            timeline: tape.timeline,
            config,
            throttle: None,
            feed: None,
            state: Arc::new(Mutex::new(State::new(config.broker, n))),
            demand: Arc::new(Semaphore::new(0)),
            id_prefix: Arc::from("sim-"),
        })
    }

    /// A simulated exchange replaying WallE's candles of `symbols` with `from <= ts < to`.
    ///
    /// # Errors
    /// [`Error::Config`] when the store cannot be read or holds no such candles.
    pub async fn from_walle(
        walle: &crate::walle::Walle,
        symbols: &[String],
        timeframe: domain::Timeframe,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        config: SimConfig,
    ) -> Result<SimVenue> {
        let mut data = BTreeMap::new();
        for symbol in symbols {
            // `bars`, not `candles`: a long series would otherwise copy each row's symbol,
            // timeframe and source strings only to drop them (460k daily bars: 17.7 s → 9.3 s in a
            // test build, which `POST /runs` waits for).
            let bars = walle
                .bars(symbol, &timeframe.to_string(), from, to, i64::MAX)
                .await
                .map_err(|e| Error::Config(format!("reading candles of {symbol}: {e}")))?;
            data.insert(symbol.clone(), bars);
        }
        let mut venue = Self::new(data, config)?;
        let corr = crate::events::correlation::current().map(|c| c.corr_id);
        venue.throttle = Some((walle.backpressure().clone(), corr));
        Ok(venue)
    }

    /// A simulated exchange replaying Greta's deterministic random walk (1-minute bars):
    /// `bars` per symbol, symbol `i` seeded with `seed + i`. For demos and offline paper trading
    /// without any stored data.
    ///
    /// # Errors
    /// [`Error::Config`] when `symbols` is empty or `bars` is 0.
    pub fn generated(
        symbols: &[String],
        bars: usize,
        seed: u64,
        config: SimConfig,
    ) -> Result<SimVenue> {
        if symbols.is_empty() || bars == 0 {
            return Err(Error::Config(
                "generated data needs symbols and at least one bar".into(),
            ));
        }
        let data = symbols
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    s.clone(),
                    crate::greta::synth::generate(bars, seed.wrapping_add(i as u64)),
                )
            })
            .collect();
        Self::new(data, config)
    }

    /// Sets the prefix of this venue's order ids (and so of its fill ids). Several simulated
    /// exchanges writing to one store (one per paper run) need distinct prefixes: WallE keeps
    /// venue order ids and fill ids unique. Call it before cloning the venue.
    pub fn with_order_id_prefix(mut self, prefix: &str) -> SimVenue {
        self.id_prefix = Arc::from(prefix);
        self
    }

    /// Never waits for WallE's backpressure: for a replay that writes nothing (`runs::replay`),
    /// whose pace cannot hold back the system's records.
    pub fn unthrottled(mut self) -> SimVenue {
        self.throttle = None;
        self
    }

    /// The symbols being replayed.
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// Releases the next bar in [`Speed::Lockstep`] (no effect on the pace otherwise). Call it
    /// once per received bar, after that bar's orders were submitted.
    pub fn bar_done(&self) {
        if self.config.speed == Speed::Lockstep {
            self.demand.add_permits(1);
        }
    }

    /// The account as a strategy is told it: Greta's broker's snapshot at the latest closes,
    /// the very function a backtest tells it with.
    pub fn account_snapshot(&self) -> domain::AccountSnapshot {
        let st = self.lock();
        st.broker.snapshot(&st.closes, &self.symbols)
    }

    /// True once every bar has been published.
    pub fn finished(&self) -> bool {
        self.lock().cursor >= self.timeline.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every mutation keeps the state consistent between statements that can panic.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn symbol_index(&self, symbol: &str) -> Option<usize> {
        self.symbols.iter().position(|s| s == symbol)
    }

    /// Processes pending orders against timestamp group `g` and returns its bars.
    fn step(&self, g: usize) -> Vec<(String, Bar)> {
        let (ts, members) = &self.timeline[g];
        let mut st = self.lock();
        let mut views: Vec<Option<BarView>> = vec![None; self.symbols.len()];
        for &(s, i) in members {
            let bar = self.data[s][i];
            views[s] = Some(bar_view(bar, g, st.last[s]));
            st.closes[s] = bar.close;
            st.last[s] = Some((bar, g));
        }
        st.now = ts_of(*ts);
        st.cursor = g + 1;
        let mut updates = Vec::new();
        if st.broker.has_pending() {
            let closes = st.closes.clone();
            st.broker.process(&views, &closes, &mut updates);
        }
        for u in updates {
            apply_update(&mut st, &u);
        }
        members
            .iter()
            .map(|&(s, i)| (self.symbols[s].clone(), self.data[s][i]))
            .collect()
    }
}

fn apply_update(st: &mut State, u: &domain::OrderUpdate) {
    let Some(id) = st.by_greta.get(&u.client_order_id).cloned() else {
        return;
    };
    let now = st.now;
    let Some(slot) = st.orders.get_mut(&id) else {
        return;
    };
    let o = &mut slot.order;
    let event = match u.status {
        OrderStatus::Filled => {
            o.status = VenueOrderStatus::Filled;
            o.filled_quantity = dec(u.filled_quantity);
            o.filled_avg_price = u.fill_price.map(dec);
            o.filled_at = now;
            TradeEvent::Fill
        }
        OrderStatus::PartiallyFilled => {
            o.status = VenueOrderStatus::PartiallyFilled;
            o.filled_quantity = dec(u.filled_quantity);
            o.filled_avg_price = u.fill_price.map(dec);
            TradeEvent::PartialFill
        }
        OrderStatus::Cancelled => {
            o.status = VenueOrderStatus::Canceled;
            o.filled_quantity = dec(u.filled_quantity);
            TradeEvent::Canceled
        }
        OrderStatus::Rejected => {
            o.status = VenueOrderStatus::Rejected;
            TradeEvent::Rejected
        }
        OrderStatus::Accepted => return,
    };
    o.updated_at = now;
    let fill = matches!(event, TradeEvent::Fill | TradeEvent::PartialFill);
    let update = TradeUpdate {
        event,
        order: o.clone(),
        execution_id: fill.then(|| format!("{}-fill", o.id)),
        price: if fill { u.fill_price.map(dec) } else { None },
        quantity: fill.then(|| dec(u.fill_quantity)),
        position_quantity: None,
        timestamp: now,
    };
    broadcast(st, OrderStreamEvent::Update(Box::new(update)));
}

fn broadcast(st: &mut State, event: OrderStreamEvent) {
    st.listeners.retain(|tx| match tx.try_send(event.clone()) {
        Ok(()) => true,
        // A listener that cannot keep up with 4096 queued updates is dropped rather than
        // blocking the exchange; it reconciles through `orders` like after a disconnect.
        Err(_) => false,
    });
}

fn to_f64(d: Decimal, what: &str) -> Result<f64> {
    d.to_f64()
        .filter(|v| v.is_finite())
        .ok_or_else(|| Error::Rejected {
            status: 422,
            code: None,
            message: format!("{what} {d} is out of range"),
        })
}

#[async_trait]
impl Venue for SimVenue {
    fn name(&self) -> &str {
        if self.feed.is_some() {
            LIVE_VENUE
        } else {
            "sim"
        }
    }

    async fn account(&self) -> Result<Account> {
        let st = self.lock();
        let equity = st.broker.equity(&st.closes);
        Ok(Account {
            id: "sim".into(),
            number: None,
            status: "ACTIVE".into(),
            currency: "USD".into(),
            cash: dec(st.broker.cash()),
            equity: dec(equity),
            buying_power: dec(equity.max(0.0)),
            non_marginable_buying_power: None,
            trading_blocked: false,
            account_blocked: false,
            trade_suspended_by_user: false,
        })
    }

    async fn positions(&self) -> Result<Vec<VenuePosition>> {
        let st = self.lock();
        let mut by: BTreeMap<u32, (f64, f64)> = BTreeMap::new();
        for t in st.broker.open_trades() {
            let e = by.entry(t.symbol).or_default();
            e.0 += t.size;
            e.1 += t.size * t.entry_price;
        }
        Ok(by
            .into_iter()
            .filter(|(_, (q, _))| *q != 0.0)
            .map(|(s, (q, cost))| {
                let price = st.closes[s as usize];
                VenuePosition {
                    symbol: self.symbols[s as usize].clone(),
                    quantity: dec(q),
                    avg_entry_price: dec(cost / q),
                    market_value: Some(dec(q * price)),
                    current_price: Some(dec(price)),
                    asset_class: Some("us_equity".into()),
                }
            })
            .collect())
    }

    async fn submit_order(&self, request: &OrderRequest) -> Result<VenueOrder> {
        let reject = |message: String| Error::Rejected {
            status: 422,
            code: None,
            message,
        };
        let mut st = self.lock();
        if let Some(id) = st.by_cid.get(&request.client_order_id)
            && let Some(slot) = st.orders.get(id)
        {
            return Ok(slot.order.clone());
        }
        let s = self
            .symbol_index(&request.symbol)
            .ok_or_else(|| reject(format!("symbol {} is not traded here", request.symbol)))?;
        let size = match request.quantity {
            OrderQuantity::Units(u) => OrderSize::Units(to_f64(u, "quantity")?),
            OrderQuantity::Notional(n) => OrderSize::Notional(to_f64(n, "notional")?),
        };
        let intent = OrderIntent {
            symbol: request.symbol.clone(),
            side: request.side,
            order_type: request.order_type,
            time_in_force: request.time_in_force,
            limit_price: request
                .limit_price
                .map(|p| to_f64(p, "limit price"))
                .transpose()?,
            stop_price: request
                .stop_price
                .map(|p| to_f64(p, "stop price"))
                .transpose()?,
            size,
            tag: None,
        };
        let update = st.broker.place(s as u32, &intent);
        if update.status == OrderStatus::Rejected {
            return Err(reject(update.reason.unwrap_or_else(|| "rejected".into())));
        }
        st.next_id += 1;
        let id = format!("{}{:08}", self.id_prefix, st.next_id);
        let now = st.now;
        let (quantity, notional) = match request.quantity {
            OrderQuantity::Units(u) => (Some(u), None),
            OrderQuantity::Notional(n) => (None, Some(n)),
        };
        let order = VenueOrder {
            id: id.clone(),
            client_order_id: request.client_order_id.clone(),
            symbol: request.symbol.clone(),
            side: request.side,
            order_type: request.order_type,
            time_in_force: request.time_in_force,
            quantity,
            notional,
            filled_quantity: Decimal::ZERO,
            filled_avg_price: None,
            limit_price: request.limit_price,
            stop_price: request.stop_price,
            status: VenueOrderStatus::New,
            created_at: now,
            updated_at: now,
            submitted_at: now,
            filled_at: None,
            replaced_by: None,
            replaces: None,
        };
        st.by_cid
            .insert(request.client_order_id.clone(), id.clone());
        st.by_greta
            .insert(update.client_order_id.clone(), id.clone());
        st.orders.insert(
            id,
            Slot {
                order: order.clone(),
                greta_id: update.client_order_id,
            },
        );
        broadcast(
            &mut st,
            OrderStreamEvent::Update(Box::new(TradeUpdate {
                event: TradeEvent::New,
                order: order.clone(),
                execution_id: None,
                price: None,
                quantity: None,
                position_quantity: None,
                timestamp: now,
            })),
        );
        Ok(order)
    }

    async fn cancel_order(&self, order_id: &str) -> Result<()> {
        let mut st = self.lock();
        let greta_id = match st.orders.get(order_id) {
            Some(slot) => slot.greta_id.clone(),
            None => {
                return Err(Error::NotFound {
                    message: format!("order {order_id}"),
                });
            }
        };
        match st.broker.cancel(&greta_id, "cancelled on request") {
            Some(update) => {
                apply_update(&mut st, &update);
                Ok(())
            }
            None => Err(Error::Rejected {
                status: 422,
                code: None,
                message: format!("order {order_id} is no longer cancelable"),
            }),
        }
    }

    async fn order(&self, order_id: &str) -> Result<VenueOrder> {
        self.lock()
            .orders
            .get(order_id)
            .map(|s| s.order.clone())
            .ok_or_else(|| Error::NotFound {
                message: format!("order {order_id}"),
            })
    }

    async fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<VenueOrder>> {
        let st = self.lock();
        Ok(st
            .by_cid
            .get(client_order_id)
            .and_then(|id| st.orders.get(id))
            .map(|s| s.order.clone()))
    }

    async fn orders(&self, query: &OrderQuery) -> Result<Vec<VenueOrder>> {
        let st = self.lock();
        Ok(st
            .orders
            .values()
            .map(|s| &s.order)
            .filter(|o| match query.status {
                OrderStatusFilter::Open => !o.status.is_terminal(),
                OrderStatusFilter::Closed => o.status.is_terminal(),
                OrderStatusFilter::All => true,
            })
            .filter(|o| {
                query
                    .after
                    .is_none_or(|a| o.submitted_at.is_some_and(|s| s > a))
            })
            .filter(|o| query.symbols.is_empty() || query.symbols.contains(&o.symbol))
            .cloned()
            .collect())
    }

    async fn bars(&self, request: &BarsRequest) -> Result<BTreeMap<String, Vec<Bar>>> {
        if let Some(feed) = &self.feed {
            return feed.venue.bars(request).await;
        }
        let (from, to) = (
            request.start.timestamp_millis(),
            request.end.timestamp_millis(),
        );
        let mut out = BTreeMap::new();
        for symbol in &request.symbols {
            if let Some(s) = self.symbol_index(symbol) {
                let bars: Vec<Bar> = self.data[s]
                    .iter()
                    .filter(|b| b.ts >= from && b.ts <= to)
                    .copied()
                    .collect();
                if !bars.is_empty() {
                    out.insert(symbol.clone(), bars);
                }
            }
        }
        Ok(out)
    }

    async fn latest_bars(&self, symbols: &[String]) -> Result<BTreeMap<String, Bar>> {
        let st = self.lock();
        Ok(symbols
            .iter()
            .filter_map(|sym| {
                let s = self.symbol_index(sym)?;
                st.last[s].map(|(b, _)| (sym.clone(), b))
            })
            .collect())
    }

    async fn order_updates(&self, _since: DateTime<Utc>) -> Result<StreamHandle<OrderStreamEvent>> {
        let (tx, rx) = mpsc::channel(4096);
        let _ = tx.try_send(OrderStreamEvent::Connected { reconnect: false });
        self.lock().listeners.push(tx);
        Ok(StreamHandle::new(rx, CancellationToken::new()))
    }

    async fn bar_stream(&self, symbols: &[String]) -> Result<StreamHandle<BarEvent>> {
        if let Some(feed) = &self.feed {
            return live::bar_stream(self, feed, symbols).await;
        }
        {
            let mut st = self.lock();
            if st.replaying {
                return Err(Error::Config(
                    "the simulated exchange replays one bar stream".into(),
                ));
            }
            st.replaying = true;
        }
        let wanted: Vec<String> = symbols.to_vec();
        let (tx, rx) = mpsc::channel(1024);
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let me = self.clone();
        tokio::spawn(async move {
            if tx
                .send(BarEvent::Connected { reconnect: false })
                .await
                .is_err()
            {
                return;
            }
            let start = me.lock().cursor;
            for g in start..me.timeline.len() {
                if stop.is_cancelled() {
                    return;
                }
                if let Some((throttle, corr)) = &me.throttle {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = throttle.pause(corr.as_deref()) => {}
                    }
                }
                for (symbol, bar) in me.step(g) {
                    if !wanted.is_empty() && !wanted.contains(&symbol) {
                        continue;
                    }
                    if tx.send(BarEvent::Bar { symbol, bar }).await.is_err() {
                        return;
                    }
                    match me.config.speed {
                        Speed::Lockstep => {
                            let permit = tokio::select! {
                                _ = stop.cancelled() => return,
                                p = me.demand.acquire() => p,
                            };
                            match permit {
                                Ok(p) => p.forget(),
                                Err(_) => return,
                            }
                        }
                        Speed::Interval(_) => {}
                    }
                }
                if let Speed::Interval(every) = me.config.speed {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(every) => {}
                    }
                }
            }
            // The dataset is exhausted: the stream ends (the receiver sees `None`).
        });
        Ok(StreamHandle::new(rx, cancel))
    }

    async fn clock(&self) -> Result<MarketClock> {
        if let Some(feed) = &self.feed {
            return feed.venue.clock().await;
        }
        let now = self.lock().now.unwrap_or_else(Utc::now);
        Ok(MarketClock {
            timestamp: now,
            is_open: true,
            next_open: now,
            next_close: now,
        })
    }

    async fn calendar(&self, start: NaiveDate, end: NaiveDate) -> Result<Vec<CalendarDay>> {
        if let Some(feed) = &self.feed {
            return feed.venue.calendar(start, end).await;
        }
        let mut days: Vec<NaiveDate> = self
            .timeline
            .iter()
            .filter_map(|(ts, _)| ts_of(*ts).map(|t| t.date_naive()))
            .filter(|d| *d >= start && *d <= end)
            .collect();
        days.dedup();
        let open = NaiveTime::from_hms_opt(9, 30, 0).unwrap_or_default();
        let close = NaiveTime::from_hms_opt(16, 0, 0).unwrap_or_default();
        Ok(days
            .into_iter()
            .map(|date| CalendarDay { date, open, close })
            .collect())
    }
}
