//! [`LiveRunner`]: drives one strategy on a live venue. Bars in → strategy → intents →
//! pre-trade checks → journal → venue orders, through [`crate::veda::journal::place_order`], the
//! only path to a venue. It works with any [`Venue`]: the simulated exchange
//! ([`crate::veda::sim`]) and Alpaca alike.
//!
//! # Use (what GLaDOS's run lifecycle calls)
//! 1. Before the run may trade: [`crate::veda::journal::resolve_pending`] and reconciliation.
//! 2. `LiveRunner::new(run_id, symbols, strategy, venue, journal, limits)`; after a restart pass
//!    the number of intents already journaled for the run to [`LiveRunner::resume_at`] so
//!    sequence numbers (hence `client_order_id`s) continue where they stopped.
//! 3. Feed bars with [`LiveRunner::on_bar`], or hand the venue's bar stream to
//!    [`LiveRunner::run`]. With the simulated exchange in lockstep, pass
//!    `move || sim.bar_done()` to [`LiveRunner::after_each_bar`].
//! 4. Read [`LiveRunner::placed`] (every order attempt and its outcome) and
//!    [`LiveRunner::trading_state`] / [`LiveRunner::set_trading_state`] for the kill switch.
//!
//! # Sizing and symbols
//! - `Units` and `Notional` sizes go to the venue as they are. `EquityFraction(f)` is resolved
//!   here, when the intent is made: whole units of `f` × the account's buying power at the
//!   latest close. (A backtest resolves it at fill time, so fraction-sized strategies can size
//!   differently live; unit- and notional-sized ones trade identically.)
//! - `ClosePosition` becomes a market order for the venue's whole position, opposite side.
//! - Each bar is delivered to the strategy as its own `Bars` event (one symbol per event).
//!   Order updates reach the strategy through
//!   [`LiveRunner::run_with_updates`] / [`LiveRunner::on_order_update`]; recording them in WallE
//!   is [`crate::veda::journal::recover::record_trade_update`].
//!
//! # What the strategy is told
//! The same envelope as in a backtest, sequenced by the same [`crate::domain::cues::Cues`]:
//! `Lifecycle(Started)` and an `Account` snapshot before the run's first event; the order
//! updates of the run's own orders as the venue reports them, then (after a fill) an `Account`
//! snapshot before the next bar; `Lifecycle(Stopping)` last, when the bar stream ends or the run
//! is stopped ([`LiveRunner::stop`]). Snapshots come from the [`account::AccountSource`] given
//! with [`LiveRunner::account_source`] (a runner given none tells none). Each event's type is
//! [`crate::domain::StrategyPayload::event_type`]. Answers to `Stopping` are not acted on, as in
//! a backtest. Data windows: [`windows`].
//!
//! # Replay
//! A runner given a [`tape`] ([`LiveRunner::tape`]) records every input it takes, in order: the
//! bars (by symbol and time), its own order updates, the account snapshots it tells and the
//! venue history of its data windows and its declared-series windows. Fed the same inputs (`runs::replay`: bars from the stored
//! candles, the rest from the tape), a runner over the same strategy version makes the same
//! guest calls.
//!
//! # Invariants
//! - One sequence number per order intent of the run, strictly increasing, also for intents the
//!   checks refuse, so a replay after a restart maps each intent to the same `client_order_id`.
//! - A journal failure stops the run (nothing can be sent safely); a refused or rejected order
//!   does not.

use std::collections::VecDeque;
use std::sync::Arc;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

pub mod account;
pub mod account_orders;
pub mod aggregate;
pub mod bars;
pub mod control;
pub mod gate;
pub mod guarded;
mod orders;
pub mod tape;
pub mod windows;

use crate::domain::cues::{Cue, Cues};
use crate::domain::{
    Bar, EventKind, EventMeta, Intent, OrderUpdate as DomainOrderUpdate, Strategy, StrategyError,
    StrategyEvent, StrategyPayload, SymbolBar, Timeframe,
};
use crate::events::payloads::MarketBar;
use crate::veda::journal::OrderJournal;
use crate::veda::risk::{RiskLimits, TradingState, TradingSwitch};
use crate::veda::types::{
    BarEvent, OrderRequest, OrderStreamEvent, StreamHandle, TradeUpdate, VenueOrder,
};
use crate::veda::{Error, Venue};
use account::AccountSource;
use tape::{Input, Tape};

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The strategy failed.
    #[error("strategy failed: {0}")]
    Strategy(#[from] StrategyError),
    /// A bar of a symbol the run does not trade.
    #[error("bar for {0}, which this run does not trade")]
    UnknownSymbol(String),
    /// The order journal failed; nothing more may be sent.
    #[error(transparent)]
    Journal(Error),
    /// The venue's bar stream gave up.
    #[error("bar stream failed: {0}")]
    Stream(Error),
}

impl LiveError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            LiveError::Strategy(_) => "strategy_failed",
            LiveError::UnknownSymbol(_) => "unknown_symbol",
            LiveError::Journal(e) | LiveError::Stream(e) => e.code(),
        }
    }
}

/// One order attempt of the run and its outcome.
#[derive(Debug)]
pub struct Placed {
    /// The intent's sequence number in the run.
    pub sequence: u64,
    /// The order as it was meant to be sent (the `client_order_id` is filled in).
    pub request: OrderRequest,
    /// The venue's order, or why it was not placed.
    pub outcome: Result<VenueOrder, Error>,
}

/// Most bars a data window holds (larger requests are cut to it) and most bars kept per
/// symbol to answer them.
pub const MAX_LOOKBACK: usize = 10_000;

/// Most data windows answered for one incoming event (bar or order update): a strategy that
/// asks again on every window fails with `strategy_event_loop` instead of spinning forever.
pub const MAX_WINDOWS_PER_EVENT: usize = 1_000;

/// What [`LiveRunner::on_refused`] calls: (sequence, order, why).
type RefusalHook = dyn Fn(u64, &OrderRequest, &Error) + Send + Sync;

/// What [`LiveRunner::on_store_wait`] calls: the store's error while the run waits for it,
/// `None` once it could write again.
type StoreWaitHook = dyn Fn(Option<&str>) + Send + Sync;

/// How long a run waits for the store by default before it fails (`order_journal_failed`).
pub const DEFAULT_STORE_PATIENCE: std::time::Duration = crate::veda::store_wait::STORE_PATIENCE;

/// Drives one strategy against a venue. See the module docs for how to use it.
pub struct LiveRunner {
    run_id: String,
    /// What `client_order_id`s are derived from (the run id unless [`LiveRunner::order_scope`]).
    scope: String,
    symbols: Vec<String>,
    /// In a mutex only so the runner is `Sync` and its futures `Send` (GLaDOS spawns them);
    /// it is only ever reached through `&mut self`.
    strategy: std::sync::Mutex<Box<dyn Strategy>>,
    venue: Arc<dyn Venue>,
    journal: Arc<dyn OrderJournal>,
    /// Shared with whoever may change them while the run trades ([`LiveRunner::shared_limits`]).
    limits: Arc<std::sync::RwLock<RiskLimits>>,
    /// Event times (ms) of the orders that passed the checks, for `max_orders_per_minute`.
    order_times: VecDeque<i64>,
    state: TradingState,
    /// The API's switch (global and per-run states), if the runner was given one.
    switch: Option<Arc<TradingSwitch>>,
    /// The limits and state of the venue account the run shares with others, if any.
    gate: Option<Arc<gate::AccountGate>>,
    next_sequence: u64,
    last_close: Vec<Option<f64>>,
    /// The run's bar timeframe: the only one data windows of the run's own symbols are served in.
    timeframe: Option<Timeframe>,
    /// What the strategy declared in `init`: its extra series are served too ([`windows`]).
    declaration: crate::domain::Declaration,
    /// Where declared series are read first ([`LiveRunner::stored_candles`]).
    candles: Option<crate::walle::Walle>,
    /// Declared-series windows taped, or served from a tape ([`windows`]).
    windows: windows::Windows,
    /// The venue whose desk stores the bars as `market.Bar` events
    /// ([`LiveRunner::announced_bars`]).
    bar_venue: Option<String>,
    /// Bars delivered so far, per symbol (newest last, at most [`MAX_LOOKBACK`]).
    seen: Vec<VecDeque<Bar>>,
    after_bar: Option<Box<dyn Fn() + Send + Sync>>,
    /// Told about every order attempt that did not reach the venue or was refused there.
    on_refused: Option<Box<RefusalHook>>,
    /// Told when the run starts and stops waiting for the store.
    on_store_wait: Option<Box<StoreWaitHook>>,
    /// How long an order waits for the store before the run fails.
    store_patience: std::time::Duration,
    /// Most buying power an `EquityFraction` is taken of (a run's share of a shared account).
    equity_cap: Option<Decimal>,
    placed: Vec<Placed>,
    /// Client order ids this run placed, with the strategy's tag (order updates of other runs
    /// are not delivered; the tag is echoed in the run's own).
    mine: std::collections::HashMap<String, Option<String>>,
    events: u64,
    /// The first sequence number this runner assigns (after [`LiveRunner::resume_at`], the
    /// ones before are the run's journaled orders).
    first_sequence: u64,
    /// Commands by hand ([`control`]), taken between events.
    commands: Option<tokio::sync::mpsc::Receiver<control::Command>>,
    /// A close by hand or a flatten is placing orders: halted eases to reduce-only.
    closing: bool,
    /// The rules over time ([`guarded`]), when the run keeps them.
    guard: Option<guarded::Guarded>,
    /// Orders the checks refused while acting on the current answer, to tell the strategy.
    denied: Vec<(OrderRequest, crate::veda::risk::Violation)>,
    /// When lifecycle transitions and account snapshots are told (shared with backtests).
    cues: Cues,
    /// Where account snapshots come from; none told without one.
    account: Option<Arc<dyn AccountSource>>,
    /// Time of the newest bar delivered (ms): `Stopping` carries it, as in a backtest.
    last_ts: Option<i64>,
    /// Where the inputs are taped for a replay, if anywhere ([`tape`]).
    tape: Option<Arc<dyn Tape>>,
    /// Whether the tape was told this session started, and that it stopped.
    taped_session: std::sync::atomic::AtomicBool,
    taped_stop: bool,
    /// The aggregation of the 1-minute stream into the run's timeframe ([`aggregate`]).
    clock: Option<Box<aggregate::BarClock>>,
    /// Told every bar the aggregation builds.
    on_emitted: Option<Box<EmittedHook>>,
    /// A warm-up bar is being told: only logs and data windows are acted on.
    warming: bool,
    /// Order intents not acted on during warm-up.
    warmup_dropped: u64,
    /// Bars come built by the venue (`sim-live`): taped whole ([`LiveRunner::tape_bars_whole`]).
    whole_bars: bool,
    /// Per symbol, the time of the last warm-up bar told (ms): the stream's bars up to it are not.
    warmed: Vec<Option<i64>>,
}

/// What [`LiveRunner::on_emitted`] calls: (symbol, bar, amended).
type EmittedHook = dyn Fn(&str, Bar, bool) + Send + Sync;

impl std::fmt::Debug for LiveRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveRunner")
            .field("run_id", &self.run_id)
            .field("symbols", &self.symbols)
            .field("next_sequence", &self.next_sequence)
            .finish_non_exhaustive()
    }
}

impl LiveRunner {
    /// A runner for run `run_id` trading `symbols` (the strategy's symbol indices refer to this
    /// list).
    pub fn new(
        run_id: &str,
        symbols: Vec<String>,
        strategy: Box<dyn Strategy>,
        venue: Arc<dyn Venue>,
        journal: Arc<dyn OrderJournal>,
        limits: RiskLimits,
    ) -> LiveRunner {
        let n = symbols.len();
        let cues = Cues::new(strategy.subscriptions());
        let declaration = strategy.declaration();
        LiveRunner {
            run_id: run_id.to_owned(),
            scope: run_id.to_owned(),
            symbols,
            strategy: std::sync::Mutex::new(strategy),
            venue,
            journal,
            limits: Arc::new(std::sync::RwLock::new(limits)),
            order_times: VecDeque::new(),
            state: TradingState::Active,
            switch: None,
            gate: None,
            next_sequence: 1,
            last_close: vec![None; n],
            timeframe: None,
            declaration,
            candles: None,
            windows: windows::Windows::default(),
            bar_venue: None,
            seen: vec![VecDeque::new(); n],
            after_bar: None,
            on_refused: None,
            on_store_wait: None,
            store_patience: DEFAULT_STORE_PATIENCE,
            equity_cap: None,
            placed: Vec::new(),
            mine: std::collections::HashMap::new(),
            events: 0,
            first_sequence: 1,
            commands: None,
            closing: false,
            guard: None,
            denied: Vec::new(),
            cues,
            account: None,
            last_ts: None,
            tape: None,
            taped_session: std::sync::atomic::AtomicBool::new(false),
            taped_stop: false,
            clock: None,
            on_emitted: None,
            warming: false,
            warmup_dropped: 0,
            whole_bars: false,
            warmed: vec![None; n],
        }
    }

    /// Continues numbering intents after `journaled` earlier ones (a restarted run).
    pub fn resume_at(mut self, journaled: u64) -> LiveRunner {
        self.next_sequence = journaled + 1;
        self.first_sequence = journaled + 1;
        self
    }

    /// Checks orders against `limits`, which their owner may change while the run trades (the
    /// next order is checked against the new ones).
    pub fn shared_limits(mut self, limits: Arc<std::sync::RwLock<RiskLimits>>) -> LiveRunner {
        self.limits = limits;
        self
    }

    /// Takes [`control::Command`]s (orders and positions by hand) from `commands`, between
    /// events, while [`LiveRunner::run_with_updates`] runs.
    pub fn commands(
        mut self,
        commands: tokio::sync::mpsc::Receiver<control::Command>,
    ) -> LiveRunner {
        self.commands = Some(commands);
        self
    }

    /// Derives `client_order_id`s from `scope` instead of the run id. Runs on a venue account
    /// that outlives one database (Alpaca) pass a scope unique to the installation and the run,
    /// so a run id reused by a new database never maps to an id the venue already saw.
    pub fn order_scope(mut self, scope: &str) -> LiveRunner {
        self.scope = scope.to_owned();
        self
    }

    /// Says that the bars come from venue `venue`'s desk, which stores each as a `market.Bar`
    /// event ([`crate::veda::live::bars`]): the strategy is told each bar under that event's id
    /// ([`MarketBar::event_id`], of the run's timeframe), which its decision then names as its
    /// cause. Without it a bar's id is the run's own (`<run>-bar-<n>`), not a stored event.
    pub fn announced_bars(mut self, venue: &str) -> LiveRunner {
        self.bar_venue = Some(venue.to_owned());
        self
    }

    /// The run's bar timeframe, so `FetchWindow` intents in it can be answered.
    pub fn timeframe(mut self, timeframe: Timeframe) -> LiveRunner {
        self.timeframe = Some(timeframe);
        self
    }

    /// Sizes `EquityFraction` intents from at most `cap` of buying power: a run's share of an
    /// account other runs trade too (without it, one run's `1.0` takes the whole account).
    pub fn equity_cap(mut self, cap: Decimal) -> LiveRunner {
        self.equity_cap = Some(cap);
        self
    }

    /// Calls `f(sequence, order, why)` for every order intent that was not placed (a pre-trade
    /// check, the venue's refusal, an unknown outcome), so the run's log can say why.
    pub fn on_refused(
        mut self,
        f: impl Fn(u64, &OrderRequest, &Error) + Send + Sync + 'static,
    ) -> LiveRunner {
        self.on_refused = Some(Box::new(f));
        self
    }

    /// Where the account snapshots told to the strategy come from: the run's own simulated
    /// exchange, or on a shared venue the run's own fills (see [`account`]).
    pub fn account_source(mut self, source: Arc<dyn AccountSource>) -> LiveRunner {
        self.account = Some(source);
        self
    }

    /// Calls `f` after every bar once its orders were submitted.
    pub fn after_each_bar(mut self, f: impl Fn() + Send + Sync + 'static) -> LiveRunner {
        self.after_bar = Some(Box::new(f));
        self
    }

    /// Checks new orders against `switch` too (the stricter of its state for this run and the
    /// runner's own wins), so the API's trading state reaches a running run at its next order.
    pub fn with_switch(mut self, switch: Arc<TradingSwitch>) -> LiveRunner {
        self.switch = Some(switch);
        self
    }

    /// How long an order waits for the store (a database outage) before the run fails, and who
    /// is told while it waits.
    pub fn store_patience(
        mut self,
        patience: std::time::Duration,
        on_wait: impl Fn(Option<&str>) + Send + Sync + 'static,
    ) -> LiveRunner {
        self.store_patience = patience;
        self.on_store_wait = Some(Box::new(on_wait));
        self
    }

    /// Checks new orders against the limits and state of the venue account the run trades on
    /// too (all runs on it together), after its own.
    pub fn account_gate(mut self, gate: Arc<gate::AccountGate>) -> LiveRunner {
        self.gate = Some(gate);
        self
    }

    /// The trading state new orders are checked against.
    pub fn trading_state(&self) -> TradingState {
        match &self.switch {
            Some(s) => s.effective(&self.run_id).stricter(self.state),
            None => self.state,
        }
    }

    /// Switches the trading state (active, reduce-only, halted).
    pub fn set_trading_state(&mut self, state: TradingState) {
        self.state = state;
    }

    /// Every order attempt so far, in order.
    pub fn placed(&self) -> &[Placed] {
        &self.placed
    }

    /// Runs until the stream ends (`Ok`) or fails, the strategy fails or the journal fails.
    ///
    /// # Errors
    /// See [`LiveError`].
    pub async fn run(&mut self, mut bars: StreamHandle<BarEvent>) -> Result<(), LiveError> {
        while let Some(event) = bars.next().await {
            match event {
                BarEvent::Bar { symbol, bar } => {
                    let outcome = self.on_bar(&symbol, bar).await;
                    if let Some(f) = &self.after_bar {
                        f();
                    }
                    outcome?;
                }
                BarEvent::Amended { symbol, bar } => {
                    self.take_amended(&symbol, bar).await?;
                }
                BarEvent::Failed(e) => return Err(LiveError::Stream(e)),
                // Without aggregation a recomputed minute is not told again.
                BarEvent::Updated { .. }
                | BarEvent::Connected { .. }
                | BarEvent::Disconnected { .. } => {}
            }
        }
        self.stop().await
    }

    /// Tells the strategy the run stops (`Lifecycle(Stopping)`, preceded by the start if it
    /// never started), once; what it answers is not acted on, as at the end of a backtest. The
    /// bar-stream loops call it when the stream ends; call it when stopping a run otherwise
    /// (a stop request, shutdown), not after the strategy failed.
    ///
    /// # Errors
    /// [`LiveError::Strategy`] when the strategy fails on it.
    pub async fn stop(&mut self) -> Result<(), LiveError> {
        if !std::mem::replace(&mut self.taped_stop, true) {
            self.note(|| Input::Stop);
        }
        let ts = self
            .last_ts
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        for cue in self.cues.stop() {
            if let Some(payload) = self.cue_payload(cue).await {
                self.tell("stop", payload, ts)?;
            }
        }
        Ok(())
    }

    /// The latest close of each of the run's symbols that has one (symbol, price): what
    /// account sources that know no prices mark positions at.
    fn marks(&self) -> Vec<(String, f64)> {
        self.symbols
            .iter()
            .zip(&self.last_close)
            .filter_map(|(s, c)| c.map(|c| (s.clone(), c)))
            .collect()
    }

    /// The payload of a cue; `None` when no account snapshot can be had.
    async fn cue_payload(&self, cue: Cue) -> Option<StrategyPayload> {
        match cue {
            Cue::Lifecycle(l) => Some(StrategyPayload::Lifecycle(l)),
            Cue::Account => {
                let source = self.account.as_ref()?;
                let marks = self.marks();
                let snapshot = source.snapshot(&marks).await;
                self.note(|| Input::Account {
                    snapshot: snapshot.as_ref().ok().cloned(),
                });
                match snapshot {
                    Ok(account) => Some(StrategyPayload::Account(account)),
                    Err(e) => {
                        tracing::warn!(run = %self.run_id, code = e.code(), "account snapshot unavailable; not told: {e}");
                        None
                    }
                }
            }
        }
    }

    /// Tells the strategy `cues` at `ts` and acts on its answers.
    async fn cue(&mut self, cues: Vec<Cue>, ts: i64) -> Result<usize, LiveError> {
        let mut placed = 0;
        for cue in cues {
            if let Some(payload) = self.cue_payload(cue).await {
                let intents = self.tell("cue", payload, ts)?;
                placed += self.handle(intents).await?;
            }
        }
        Ok(placed)
    }

    /// Delivers one event to the strategy.
    fn tell(
        &mut self,
        kind: &str,
        payload: StrategyPayload,
        ts: i64,
    ) -> Result<Vec<Intent>, StrategyError> {
        self.tell_as(None, kind, payload, ts, false)
    }

    /// [`LiveRunner::tell`] with the id of the stored event the guest is told, if it is one.
    fn tell_as(
        &mut self,
        id: Option<String>,
        kind: &str,
        payload: StrategyPayload,
        ts: i64,
        amended: bool,
    ) -> Result<Vec<Intent>, StrategyError> {
        self.events += 1;
        let mut meta = self.meta(kind, payload.event_type(), ts);
        if let Some(id) = id {
            meta.id = id;
        }
        if amended {
            // The bar was told before; a late minute changed it.
            meta.headers.push(("amended".to_owned(), "true".to_owned()));
        }
        let event = StrategyEvent { meta, payload };
        self.strategy
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .on_event(&event)
    }

    /// Delivers one bar to the strategy and places the orders it asks for. Returns how many
    /// order attempts the bar caused (see [`LiveRunner::placed`]).
    ///
    /// # Errors
    /// See [`LiveError`].
    pub async fn on_bar(&mut self, symbol: &str, bar: Bar) -> Result<usize, LiveError> {
        if !self.symbols.iter().any(|s| s == symbol) {
            return Err(LiveError::UnknownSymbol(symbol.to_owned()));
        }
        self.note_bar(symbol, bar);
        self.bar_told(symbol, bar, false, false).await
    }

    /// Tells the strategy one bar (`amended`: again, changed; `warmup`: its orders not placed).
    async fn bar_told(
        &mut self,
        symbol: &str,
        bar: Bar,
        amended: bool,
        warmup: bool,
    ) -> Result<usize, LiveError> {
        let index = self
            .symbols
            .iter()
            .position(|s| s == symbol)
            .ok_or_else(|| LiveError::UnknownSymbol(symbol.to_owned()))?;
        if self.told_in_warm_up(index, bar.ts, warmup) {
            return Ok(0);
        }
        self.last_close[index] = Some(bar.close);
        let seen = &mut self.seen[index];
        match seen.back_mut() {
            // An amended bar replaces the one told before in the data windows.
            Some(last) if amended && last.ts == bar.ts => *last = bar,
            _ => {
                if seen.len() == MAX_LOOKBACK {
                    seen.pop_front();
                }
                seen.push_back(bar);
            }
        }
        self.last_ts = Some(bar.ts);
        // The start before the first event; a snapshot after the fills told since the last bar.
        let start = self.cues.start();
        let mut placed = self.cue(start, bar.ts).await?;
        let before = self.cues.before_bars().into_iter().collect();
        placed += self.cue(before, bar.ts).await?;
        // The rules over time see the run's account at this bar's close before the strategy
        // does: a breach restricts what it answers with.
        self.watch_risk(bar.ts).await;
        // A bar the venue's desk stores as `market.Bar` is told under that event's id, so the
        // decision on it names it as its cause.
        let id = self.bar_venue.as_ref().map(|venue| {
            let event = MarketBar {
                symbol: symbol.to_owned(),
                timeframe: self.timeframe.unwrap_or(Timeframe::MINUTE).to_string(),
                bar,
            };
            event.event_id(venue).to_string()
        });
        let payload = StrategyPayload::Bars(vec![SymbolBar {
            symbol: index as u32,
            bar,
        }]);
        let intents = self.tell_as(id, "bar", payload, bar.ts, amended)?;
        self.warming = warmup;
        let acted = self.handle(intents).await;
        self.warming = false;
        Ok(placed + acted?)
    }

    /// Delivers a live order update of one of this run's orders to the strategy (if it
    /// subscribed to order updates) and places what it asks for. Updates of other runs' orders
    /// are ignored. Returns how many order attempts it caused.
    ///
    /// # Errors
    /// See [`LiveError`].
    pub async fn on_order_update(&mut self, update: &TradeUpdate) -> Result<usize, LiveError> {
        let o = &update.order;
        let Some(tag) = self.mine.get(&o.client_order_id).cloned() else {
            return Ok(0);
        };
        self.note(|| Input::OrderUpdate {
            update: Box::new(update.clone()),
        });
        if let Some(source) = &self.account {
            source.observe(update);
        }
        let ts = update.timestamp.map_or(0, |t| t.timestamp_millis());
        let start = self.cues.start();
        let mut placed = self.cue(start, ts).await?;
        let to_f64 = |d: Decimal| d.to_f64().unwrap_or(0.0);
        let domain_update = DomainOrderUpdate {
            client_order_id: o.client_order_id.clone(),
            symbol: o.symbol.clone(),
            side: o.side,
            status: o.status.to_domain(),
            fill_price: update.price.map(to_f64),
            fill_quantity: update.quantity.map_or(0.0, to_f64),
            filled_quantity: to_f64(o.filled_quantity),
            fees: 0.0,
            reason: None,
            tag,
        };
        // Noted even when not told: a fill makes the next bar's snapshot due.
        if !self.cues.update(&domain_update) {
            return Ok(placed);
        }
        let intents = self.tell("order", StrategyPayload::OrderUpdate(domain_update), ts)?;
        placed += self.handle(intents).await?;
        Ok(placed)
    }

    /// Like [`LiveRunner::run`], also delivering the venue's order updates to the strategy
    /// ([`LiveRunner::on_order_update`]). Ends when the bar stream ends.
    ///
    /// # Errors
    /// See [`LiveError`].
    pub async fn run_with_updates(
        &mut self,
        mut bars: StreamHandle<BarEvent>,
        mut updates: StreamHandle<OrderStreamEvent>,
    ) -> Result<(), LiveError> {
        let mut commands = self.commands.take();
        loop {
            let command = async {
                match commands.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let deadline = self.clock_deadline();
            let clock = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // Updates first: a fill that is already known is delivered before the next bar.
                biased;
                Some(event) = updates.next() => {
                    if let OrderStreamEvent::Update(u) = event {
                        self.on_order_update(&u).await?;
                    }
                }
                Some(command) = command => self.on_command(command).await?,
                () = clock => {
                    self.on_clock().await?;
                }
                event = bars.next() => match event {
                    // A minute bar recomputed by the venue: it amends an aggregated bar; a
                    // 1-minute run was told the bar already.
                    Some(BarEvent::Updated { symbol, bar }) if self.clock.is_some() => {
                        self.take_minute(&symbol, bar).await?;
                    }
                    Some(BarEvent::Bar { symbol, bar }) => {
                        let outcome = self.take_minute(&symbol, bar).await;
                        if let Some(f) = &self.after_bar {
                            f();
                        }
                        outcome?;
                    }
                    // Built and amended by the exchange (`sim-live`, a shadow's over the bars
                    // its run built): told again, then the exchange may step on, as after a bar.
                    Some(BarEvent::Amended { symbol, bar }) => {
                        self.take_amended(&symbol, bar).await?;
                    }
                    Some(BarEvent::Failed(e)) => return Err(LiveError::Stream(e)),
                    Some(_) => {}
                    None => return self.stop().await,
                },
            }
        }
    }

    /// Places what a strategy asked for and answers its data-window requests (delivering each
    /// window and acting on what the strategy returns for it); returns how many order attempts
    /// it made.
    async fn handle(&mut self, intents: Vec<Intent>) -> Result<usize, LiveError> {
        let before = self.placed.len();
        let mut windows = VecDeque::new();
        let intents = self.unless_warming(intents);
        self.act(intents, &mut windows).await?;
        let mut answered = 0;
        while let Some((symbol, timeframe, lookback)) = windows.pop_front() {
            if answered == MAX_WINDOWS_PER_EVENT {
                // As in a backtest: a strategy that never stops asking fails with a code.
                return Err(LiveError::Strategy(StrategyError {
                    code: "strategy_event_loop".to_owned(),
                    message: format!(
                        "more than {MAX_WINDOWS_PER_EVENT} data windows asked for one event"
                    ),
                }));
            }
            answered += 1;
            let bars = self.window(&symbol, timeframe, lookback).await;
            let ts = bars.last().map_or(0, |b| b.ts);
            let payload = StrategyPayload::DataWindow {
                symbol,
                timeframe,
                bars,
            };
            let intents = self.tell("data-window", payload, ts)?;
            let intents = self.unless_warming(intents);
            self.act(intents, &mut windows).await?;
        }
        self.tell_denied()?;
        Ok(self.placed.len() - before)
    }

    /// During warm-up only logs and data windows are acted on; the rest is counted.
    fn unless_warming(&mut self, intents: Vec<Intent>) -> Vec<Intent> {
        if !self.warming {
            return intents;
        }
        let before = intents.len();
        let kept: Vec<Intent> = intents
            .into_iter()
            .filter(|i| matches!(i, Intent::Log { .. } | Intent::FetchWindow { .. }))
            .collect();
        self.warmup_dropped += (before - kept.len()) as u64;
        kept
    }

    fn meta(&self, kind: &str, event_type: &str, ts: i64) -> EventMeta {
        EventMeta {
            id: format!("{}-{kind}-{}", self.run_id, self.events),
            kind: EventKind::Evt,
            event_type: event_type.to_owned(),
            version: 1,
            run_id: self.run_id.clone(),
            corr_id: self.run_id.clone(),
            causation_id: None,
            trace_id: None,
            ts,
            producer: "veda".to_owned(),
            headers: Vec::new(),
        }
    }
}
