//! The run loop: aligns symbols by timestamp, steps the broker and the strategy bar by bar, and
//! batches quiet stretches into single [`Strategy::on_bars`] calls.
//!
//! Per timestamp `t` (the reference engine's order, `docs/adr/0005-reference-exact-fills.md`):
//! 1. the broker processes pending orders against `t`'s bars, then equity is marked at `t`'s
//!    closes; equity `<= 0` liquidates everything at those closes and stops the run;
//! 2. the strategy is told about each order update of step 1 (then one account snapshot), and
//!    the intents it answers with are applied at once;
//! 3. the strategy sees `t`'s bars; its intents are applied (orders fill from `t+1`).
//!
//! When no order is pending, step 1 cannot do anything but mark equity, so the engine marks
//! equity ahead (stopping before any bankruptcy), hands the strategy that stretch as one batch,
//! and resumes after the bar whose group produced intents. The batch length adapts to how much
//! the strategy consumed last time, so look-ahead marking wasted on unconsumed bars stays a
//! constant factor.
//!
//! # Invariants
//! - The strategy never sees bar `t+1` before every update caused at `t+1` has been delivered.
//! - Events caused by one bar are bounded ([`MAX_EVENTS_PER_BAR`]): a strategy that answers
//!   every event with another fetch cannot loop forever.
//! - A data window is built when it is delivered, not when it is asked for: the run holds at
//!   most one built window at a time, however many are queued.
//! - A window of a declared series (`greta/series.rs`) holds only bars that closed at or before
//!   the close of the bar being processed: no look-ahead.

use std::collections::VecDeque;

use super::Error;
use super::broker::fills::FillOptions;
use super::broker::{BarView, Broker, BrokerConfig, ClosedTrade, OpenTrade};
use super::metrics::{self, Metrics};
use super::series::{self, DeclaredSeries, SeriesBars};
pub use super::timeline::Backtest;
use crate::domain::cues::{Cue, Cues};
use crate::domain::{
    Declaration, EventKind, EventMeta, Intent, Strategy, StrategyConfig, StrategyError,
    StrategyEvent, StrategyPayload, Subscriptions, SymbolBar, Timeframe, TsMillis,
};

/// Builds a strategy instance for a run (a Marvin sandbox, or native code).
pub type StrategyFactory =
    dyn Fn(&StrategyConfig) -> Result<Box<dyn Strategy>, StrategyError> + Send + Sync;

/// More events than this caused by one bar means the strategy is looping.
pub(crate) const MAX_EVENTS_PER_BAR: usize = 10_000;

/// Longest batch handed to `on_bars`, in timestamps.
const MAX_BATCH: usize = 1 << 16;
/// Shortest batch after a batch that stopped early.
const MIN_BATCH: usize = 16;

/// Run settings beyond the broker's.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EngineConfig {
    /// Broker: cash, commission, slippage, fill model, units.
    pub broker: BrokerConfig,
    /// Close trades still open after the last bar (at its open), so they count in the stats.
    pub finalize: bool,
    /// Bars of indicator warm-up: buy & hold is measured from this bar's close (the reference
    /// measures it from the first bar where its indicators are defined, e.g. 19 for SMA 20).
    /// `None`: the warm-up the strategy declared in `init` (0 for a 0.2 component).
    pub warmup: Option<usize>,
    /// Strategy parameters.
    pub params: Vec<(String, String)>,
    /// Fill models beyond the reference's (default: none).
    pub fills: FillOptions,
}

pub use super::timeline::SeriesInfo;

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Equity at each timestamp.
    pub equity: Vec<f64>,
    /// Timestamp of each equity point.
    pub ts: Vec<TsMillis>,
    /// Closed trades.
    pub trades: Vec<ClosedTrade>,
    /// Trades still open at the end.
    pub open_trades: Vec<OpenTrade>,
    /// Timestamp index at which equity reached zero, if it did.
    pub bankrupt_at: Option<usize>,
    /// Statistics.
    pub metrics: Metrics,
    /// Every order the strategy placed, in order (the backtest's `backtest.PlaceOrder` commands).
    pub orders: Vec<PlacedOrder>,
    /// Calls into the strategy (events plus batches), for diagnostics.
    pub strategy_calls: u64,
    /// The warm-up the statistics used: the given one, or the strategy's declared one.
    pub warmup: usize,
    /// Whether [`RunResult::warmup`] is the strategy's declared warm-up (`EngineConfig::warmup`
    /// was `None`).
    pub warmup_declared: bool,
}

impl Backtest {
    /// Runs one backtest. `progress` is called with the number of timestamps done, now and then.
    ///
    /// # Errors
    /// [`Error::Strategy`] when the strategy fails or loops.
    pub fn run(
        &self,
        strategy: &mut dyn Strategy,
        cfg: &EngineConfig,
        progress: Option<&(dyn Fn(usize) + Sync)>,
    ) -> Result<RunResult, Error> {
        // Whichever thread runs it (a job's, rayon's, the CLI's): the loop's churn goes to the
        // strategy arena, with a thread cache while it lasts (`marvin::arena`).
        let _arena = crate::marvin::arena::enter_batch();
        let declared = strategy.declaration().warmup as usize;
        let warmup = cfg.warmup.unwrap_or(declared);
        let mut run = Run::new(self, strategy, cfg);
        run.execute(progress)?;
        let Run {
            broker,
            equity,
            bankrupt_at,
            calls,
            orders,
            ..
        } = run;
        let ts: Vec<TsMillis> = self.group_start[..self.len()]
            .iter()
            .map(|&i| self.timeline[i].bar.ts)
            .collect();
        let bench = self.benchmark_closes();
        let trades = broker.closed_trades().to_vec();
        let open_trades = broker.open_trades().to_vec();
        let metrics = metrics::compute(&metrics::Inputs {
            equity: &equity,
            ts: &ts,
            close: &bench,
            trades: &trades,
            warmup,
        });
        Ok(RunResult {
            equity,
            ts,
            trades,
            open_trades,
            bankrupt_at,
            metrics,
            strategy_calls: calls,
            orders,
            warmup,
            warmup_declared: cfg.warmup.is_none(),
        })
    }
}

/// One order a strategy placed in a backtest.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedOrder {
    /// The bar time it was placed at.
    pub ts: TsMillis,
    /// The id the simulated broker gave it.
    pub client_order_id: String,
    /// What the strategy asked for.
    pub intent: crate::domain::OrderIntent,
    /// Whether the broker accepted it.
    pub accepted: bool,
}

/// Per-symbol position in the timeline.
#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    /// Timeline index of the symbol's latest bar.
    last: Option<usize>,
    /// Timestamp index of that bar.
    last_group: usize,
}

struct Run<'a> {
    bt: &'a Backtest,
    strategy: &'a mut dyn Strategy,
    cfg: &'a EngineConfig,
    broker: Broker,
    equity: Vec<f64>,
    closes: Vec<f64>,
    scratch_closes: Vec<f64>,
    cursors: Vec<Cursor>,
    views: Vec<Option<BarView>>,
    updates: Vec<crate::domain::OrderUpdate>,
    queue: VecDeque<Queued>,
    /// What the strategy wants told; other events are never built or queued.
    subscriptions: Subscriptions,
    /// When lifecycle transitions and account snapshots are told (shared with live runs).
    cues: Cues,
    meta: EventMeta,
    /// Reused for every single event, so delivering one allocates nothing for the envelope.
    event: StrategyEvent,
    seq: u64,
    calls: u64,
    bankrupt_at: Option<usize>,
    symbols: Vec<String>,
    orders: Vec<PlacedOrder>,
    /// What the strategy declared: the series its windows may come from.
    declaration: Declaration,
    /// Declared series not stored with the data, aggregated from the run's own bars.
    derived: DeclaredSeries,
}

/// A queued delivery. A data window waits as its request and is built when it is delivered, so
/// a strategy asking for many windows at once makes the engine hold one built window at a time.
enum Queued {
    Event(StrategyPayload),
    /// The last `lookback` bars of symbol `s` up to and including group `g`.
    Window {
        symbol: String,
        timeframe: Timeframe,
        s: usize,
        g: usize,
        lookback: usize,
    },
    /// The last `lookback` bars of a declared series that closed by the close of group `g`.
    Series {
        symbol: String,
        timeframe: Timeframe,
        g: usize,
        lookback: usize,
    },
}

impl<'a> Run<'a> {
    fn new(bt: &'a Backtest, strategy: &'a mut dyn Strategy, cfg: &'a EngineConfig) -> Run<'a> {
        let subscriptions = strategy.subscriptions();
        let declaration = strategy.declaration();
        let derived = derive_series(bt, &declaration);
        let n = bt.series.len();
        let run_id = "backtest".to_owned();
        Run {
            bt,
            strategy,
            cfg,
            broker: Broker::with_fills(cfg.broker, cfg.fills, "bt"),
            equity: vec![0.0; bt.len()],
            closes: vec![0.0; n],
            scratch_closes: vec![0.0; n],
            cursors: vec![Cursor::default(); n],
            views: vec![None; n],
            orders: Vec::new(),
            updates: Vec::new(),
            queue: VecDeque::new(),
            subscriptions,
            cues: Cues::new(subscriptions),
            meta: EventMeta {
                id: String::new(),
                kind: EventKind::Evt,
                event_type: "market.Bar".to_owned(),
                version: 1,
                run_id: run_id.clone(),
                corr_id: run_id,
                causation_id: None,
                trace_id: None,
                ts: 0,
                producer: "greta".to_owned(),
                headers: Vec::new(),
            },
            event: StrategyEvent {
                meta: EventMeta {
                    id: String::with_capacity(24),
                    kind: EventKind::Evt,
                    event_type: String::with_capacity(24),
                    version: 1,
                    run_id: "backtest".to_owned(),
                    corr_id: "backtest".to_owned(),
                    causation_id: None,
                    trace_id: None,
                    ts: 0,
                    producer: "greta".to_owned(),
                    headers: Vec::new(),
                },
                payload: StrategyPayload::ClockTick,
            },
            seq: 0,
            calls: 0,
            bankrupt_at: None,
            symbols: bt.symbols(),
            declaration,
            derived,
        }
    }

    fn group(&self, g: usize) -> &'a [SymbolBar] {
        &self.bt.timeline[self.bt.group_start[g]..self.bt.group_start[g + 1]]
    }

    fn ts(&self, g: usize) -> TsMillis {
        self.bt.timeline[self.bt.group_start[g]].bar.ts
    }

    /// Moves the symbols of group `g` forward (closes and cursors).
    fn advance(&mut self, g: usize) {
        let start = self.bt.group_start[g];
        for (k, sb) in self.group(g).iter().enumerate() {
            let s = sb.symbol as usize;
            self.closes[s] = sb.bar.close;
            self.cursors[s] = Cursor {
                last: Some(start + k),
                last_group: g,
            };
        }
    }

    /// Broker step for group `g`: fills, then equity and the bankruptcy check. Returns `false`
    /// when the run is bankrupt.
    fn broker_step(&mut self, g: usize) -> bool {
        if self.broker.has_pending() {
            for sb in self.group(g) {
                let s = sb.symbol as usize;
                let c = self.cursors[s];
                let prev = c.last.map(|i| self.bt.timeline[i].bar);
                self.views[s] = Some(BarView {
                    open: sb.bar.open,
                    high: sb.bar.high,
                    low: sb.bar.low,
                    close: sb.bar.close,
                    ts: sb.bar.ts,
                    bar: g,
                    // Before a symbol's first bar there is no previous close: use the open.
                    prev_close: prev.map_or(sb.bar.open, |b| b.close),
                    prev_bar: if prev.is_some() { c.last_group } else { g },
                    prev_ts: prev.map_or(sb.bar.ts, |b| b.ts),
                    volume: sb.bar.volume,
                });
            }
            self.advance(g);
            self.broker
                .process(&self.views, &self.closes, &mut self.updates);
            self.views.iter_mut().for_each(|v| *v = None);
        } else {
            self.advance(g);
        }
        let eq = self.broker.equity(&self.closes);
        self.equity[g] = eq;
        if eq <= 0.0 {
            self.broker.liquidate(&self.closes, g, self.ts(g));
            self.equity[g..].iter_mut().for_each(|e| *e = 0.0);
            self.bankrupt_at = Some(g);
            return false;
        }
        true
    }

    fn execute(&mut self, progress: Option<&(dyn Fn(usize) + Sync)>) -> Result<(), Error> {
        let n = self.bt.len();
        let first_ts = self.ts(0);
        let start = self.cues.start();
        self.enqueue_cues(start);
        self.drain(0, first_ts)?;
        let mut g = 0;
        let mut batch = MIN_BATCH;
        // Running mean of the stretch lengths the strategy consumed before producing intents.
        let mut mean_gap = MIN_BATCH as f64;
        let mut next_progress = 0;
        while g < n {
            if let Some(p) = progress
                && g >= next_progress
            {
                p(g);
                next_progress = g + (1 << 16);
            }
            if !self.broker_step(g) {
                break;
            }
            self.deliver_updates(g)?;
            if self.broker.has_pending() {
                let intents =
                    self.deliver(StrategyPayload::Bars(self.group(g).to_vec()), self.ts(g))?;
                self.apply(intents, g)?;
                g += 1;
                continue;
            }
            // Quiet stretch: mark equity ahead until the batch limit or a bankruptcy.
            let limit = (g + batch).min(n);
            let end = self.mark_ahead(g, limit);
            let s = self.bt.group_start[g];
            let e = self.bt.group_start[end];
            self.meta.ts = self.ts(g);
            self.calls += 1;
            let out = self.strategy.on_bars(&self.meta, &self.bt.timeline[s..e])?;
            let consumed_end = s + out.consumed;
            if out.consumed == 0 || consumed_end > e {
                return Err(bad_batch(out.consumed, e - s));
            }
            // Timestamp groups consumed: the group boundary at `consumed_end`.
            let k = self.bt.group_start[g..=end].partition_point(|&b| b < consumed_end);
            if self.bt.group_start[g + k] != consumed_end {
                return Err(bad_batch(out.consumed, e - s));
            }
            for h in g + 1..g + k {
                self.advance(h);
            }
            // Offering too many bars costs a copy per bar; too few, a whole extra call. About
            // 1.5× the typical stretch measured best with the sandbox (`benches/backtest.rs`);
            // grow fast through quiet periods.
            batch = if g + k == end {
                (batch * 2).min(MAX_BATCH)
            } else {
                mean_gap = 0.9 * mean_gap + 0.1 * k as f64;
                ((1.5 * mean_gap) as usize).clamp(MIN_BATCH, MAX_BATCH)
            };
            let last = g + k - 1;
            self.apply(out.intents, last)?;
            g += k;
        }
        if self.bankrupt_at.is_none() && self.cfg.finalize && n > 0 {
            self.finalize(n - 1)?;
        }
        if let Some(p) = progress {
            p(n);
        }
        let last_ts = self.ts(n - 1);
        let stop = self.cues.stop();
        self.enqueue_cues(stop);
        while let Some(queued) = self.queue.pop_front() {
            // The run is over: intents answering the last events can no longer act.
            let payload = self.built(queued);
            let _ = self.deliver(payload, last_ts)?;
        }
        Ok(())
    }

    /// Writes equity for groups `g+1 ..` up to `limit` (exclusive) assuming nothing fills, and
    /// returns the exclusive end of the batch: `limit`, or the first bankrupt group.
    fn mark_ahead(&mut self, g: usize, limit: usize) -> usize {
        let trades = self.broker.open_trades();
        if trades.is_empty() {
            let cash = self.broker.cash();
            self.equity[g + 1..limit].iter_mut().for_each(|e| *e = cash);
            return limit;
        }
        if self.bt.series.len() == 1 {
            // One symbol: equity = cash + Σ size·(close − entry), exactly as the broker computes.
            let cash = self.broker.cash();
            for h in g + 1..limit {
                let close = self.bt.timeline[h].bar.close;
                let mut pl = 0.0;
                for t in trades {
                    pl += t.size * (close - t.entry_price);
                }
                let eq = cash + pl;
                if eq <= 0.0 {
                    return h;
                }
                self.equity[h] = eq;
            }
            return limit;
        }
        self.scratch_closes.copy_from_slice(&self.closes);
        for h in g + 1..limit {
            for sb in &self.bt.timeline[self.bt.group_start[h]..self.bt.group_start[h + 1]] {
                self.scratch_closes[sb.symbol as usize] = sb.bar.close;
            }
            let eq = self.broker.equity(&self.scratch_closes);
            if eq <= 0.0 {
                return h;
            }
            self.equity[h] = eq;
        }
        limit
    }

    fn finalize(&mut self, last: usize) -> Result<(), Error> {
        self.broker.close_all(&self.symbols);
        if !self.broker.has_pending() {
            return Ok(());
        }
        // Re-run the broker on the last bar of each symbol (the reference's final pass).
        for (s, c) in self.cursors.iter().enumerate() {
            let Some(i) = c.last else { continue };
            let b = self.bt.timeline[i].bar;
            let prev_close = self.closes[s];
            self.views[s] = Some(BarView {
                open: b.open,
                high: b.high,
                low: b.low,
                close: b.close,
                ts: b.ts,
                bar: c.last_group,
                prev_close,
                prev_bar: c.last_group,
                prev_ts: b.ts,
                volume: b.volume,
            });
        }
        self.broker
            .process(&self.views, &self.closes, &mut self.updates);
        self.views.iter_mut().for_each(|v| *v = None);
        let eq = self.broker.equity(&self.closes);
        self.equity[last] = eq;
        if eq <= 0.0 {
            self.broker.liquidate(&self.closes, last, self.ts(last));
            self.equity[last] = 0.0;
            self.bankrupt_at = Some(last);
        }
        let ts = self.ts(last);
        let mut updates = std::mem::take(&mut self.updates);
        for u in updates.drain(..) {
            self.enqueue(StrategyPayload::OrderUpdate(u));
        }
        self.updates = updates;
        // Updates of the final pass are told, but their answers cannot trade any more.
        while let Some(queued) = self.queue.pop_front() {
            let payload = self.built(queued);
            let _ = self.deliver(payload, ts)?;
        }
        Ok(())
    }

    fn deliver_updates(&mut self, g: usize) -> Result<(), Error> {
        if self.updates.is_empty() {
            return Ok(());
        }
        let mut updates = std::mem::take(&mut self.updates);
        for u in updates.drain(..) {
            self.enqueue(StrategyPayload::OrderUpdate(u));
        }
        self.updates = updates;
        let cue = self.cues.before_bars();
        self.enqueue_cues(cue);
        self.drain(g, self.ts(g))
    }

    fn enqueue(&mut self, payload: StrategyPayload) {
        let wanted = match &payload {
            // Every order update goes through the cues, which note the fills among them.
            StrategyPayload::OrderUpdate(u) => self.cues.update(u),
            other => self.subscriptions.wants(other),
        };
        if wanted {
            self.queue.push_back(Queued::Event(payload));
        }
    }

    /// Queues what the cues say, building an account snapshot only when one is due (the cues
    /// only return what the strategy subscribed to).
    fn enqueue_cues(&mut self, cues: impl IntoIterator<Item = Cue>) {
        for cue in cues {
            let payload = match cue {
                Cue::Lifecycle(l) => StrategyPayload::Lifecycle(l),
                Cue::Account => {
                    StrategyPayload::Account(self.broker.snapshot(&self.closes, &self.symbols))
                }
            };
            self.queue.push_back(Queued::Event(payload));
        }
    }

    /// Delivers one event through the reused envelope.
    fn deliver(
        &mut self,
        payload: StrategyPayload,
        ts: TsMillis,
    ) -> Result<Vec<Intent>, StrategyError> {
        use std::fmt::Write as _;
        self.seq += 1;
        let meta = &mut self.event.meta;
        meta.id.clear();
        let _ = write!(meta.id, "bt-{}", self.seq);
        meta.event_type.clear();
        meta.event_type.push_str(payload.event_type());
        meta.ts = ts;
        self.event.payload = payload;
        self.calls += 1;
        self.strategy.on_event(&self.event)
    }

    /// Applies intents produced at group `g`, then delivers whatever they caused.
    fn apply(&mut self, intents: Vec<Intent>, g: usize) -> Result<(), Error> {
        if intents.is_empty() {
            return Ok(());
        }
        self.apply_one_batch(intents, g);
        self.drain(g, self.ts(g))
    }

    fn apply_one_batch(&mut self, intents: Vec<Intent>, g: usize) {
        for intent in intents {
            match intent {
                Intent::PlaceOrder(o) => {
                    let update = match self.symbols.iter().position(|s| *s == o.symbol) {
                        Some(s) => self.broker.place(s as u32, &o),
                        None => {
                            let mut u = self.broker.place(0, &o);
                            if u.status == crate::domain::OrderStatus::Accepted {
                                // Undo: the symbol is not part of this run.
                                let _ = self.broker.cancel(&u.client_order_id, "");
                            }
                            u.status = crate::domain::OrderStatus::Rejected;
                            u.reason = Some(format!(
                                "symbol {:?} is not one of this run's symbols",
                                o.symbol
                            ));
                            u
                        }
                    };
                    self.orders.push(PlacedOrder {
                        ts: self.ts(g),
                        client_order_id: update.client_order_id.clone(),
                        intent: o.clone(),
                        accepted: update.status != crate::domain::OrderStatus::Rejected,
                    });
                    // A market order resolves (fills or is cancelled) at its symbol's next bar,
                    // before the strategy sees that bar, so its `Accepted` step carries nothing
                    // the strategy could act on; orders that can rest are acknowledged so the
                    // strategy learns the id it may cancel them by.
                    let resting = o.order_type != crate::domain::OrderType::Market;
                    if resting || update.status != crate::domain::OrderStatus::Accepted {
                        self.enqueue(StrategyPayload::OrderUpdate(update));
                    }
                }
                Intent::ClosePosition { symbol } => {
                    if let Some(s) = self.symbols.iter().position(|n| *n == symbol) {
                        let name = self.symbols[s].clone();
                        self.broker.close_position(s as u32, &name);
                    } else {
                        tracing::warn!(target: "strategy", %symbol, "close_position for a symbol outside the run");
                    }
                }
                Intent::CancelOrder { client_order_id } => {
                    match self
                        .broker
                        .cancel(&client_order_id, "cancelled by the strategy")
                    {
                        Some(u) => self.enqueue(StrategyPayload::OrderUpdate(u)),
                        None => {
                            tracing::debug!(target: "strategy", %client_order_id, "cancel of an order that is not pending")
                        }
                    }
                }
                Intent::FetchWindow {
                    symbol,
                    timeframe,
                    lookback,
                } => match self.symbols.iter().position(|n| *n == symbol) {
                    Some(s) if timeframe == self.bt.timeframe => {
                        self.queue.push_back(Queued::Window {
                            symbol,
                            timeframe,
                            s,
                            g,
                            lookback: lookback as usize,
                        });
                    }
                    _ if self.declaration.declares(&symbol, timeframe) => {
                        self.queue.push_back(Queued::Series {
                            symbol,
                            timeframe,
                            g,
                            lookback: lookback as usize,
                        });
                    }
                    _ => {
                        tracing::warn!(target: "strategy", %symbol, %timeframe, "data window of a series the strategy did not declare in init: empty");
                        self.enqueue(StrategyPayload::DataWindow {
                            symbol,
                            timeframe,
                            bars: Vec::new(),
                        });
                    }
                },
                Intent::Log { level, message } => {
                    tracing::debug!(target: "strategy", ?level, "{message}");
                }
            }
        }
    }

    /// The payload of a queued delivery, building a data window now.
    fn built(&self, queued: Queued) -> StrategyPayload {
        match queued {
            Queued::Event(payload) => payload,
            Queued::Window {
                symbol,
                timeframe,
                s,
                g,
                lookback,
            } => StrategyPayload::DataWindow {
                symbol,
                timeframe,
                bars: self.window(s, g, lookback),
            },
            Queued::Series {
                symbol,
                timeframe,
                g,
                lookback,
            } => {
                let now = series::close_time(self.ts(g), self.bt.timeframe);
                let bars = self
                    .bt
                    .stored_series()
                    .get(&symbol, timeframe)
                    .or_else(|| self.derived.get(&symbol, timeframe))
                    .map(|s| s.window(now, lookback))
                    .unwrap_or_default();
                StrategyPayload::DataWindow {
                    symbol,
                    timeframe,
                    bars,
                }
            }
        }
    }

    /// The last `lookback` bars of symbol `s` up to and including group `g`.
    fn window(&self, s: usize, g: usize, lookback: usize) -> Vec<crate::domain::Bar> {
        let end = self.bt.group_start[g + 1];
        let mut out: Vec<crate::domain::Bar> = self.bt.timeline[..end]
            .iter()
            .rev()
            .filter(|sb| sb.symbol as usize == s)
            .take(lookback)
            .map(|sb| sb.bar)
            .collect();
        out.reverse();
        out
    }

    /// Delivers queued events one at a time, applying each answer before the next event.
    fn drain(&mut self, g: usize, ts: TsMillis) -> Result<(), Error> {
        let mut delivered = 0;
        while let Some(queued) = self.queue.pop_front() {
            delivered += 1;
            if delivered > MAX_EVENTS_PER_BAR {
                self.queue.clear();
                return Err(Error::Strategy(StrategyError {
                    code: "strategy_event_loop".to_owned(),
                    message: format!("more than {MAX_EVENTS_PER_BAR} events caused by one bar"),
                }));
            }
            let payload = self.built(queued);
            let intents = self.deliver(payload, ts)?;
            if !intents.is_empty() {
                self.apply_one_batch(intents, g);
            }
        }
        Ok(())
    }
}

/// The declared series the data does not carry, aggregated from the run's own bars where
/// `greta/series.rs` can; a series it cannot build is logged once and served empty.
fn derive_series(bt: &Backtest, declaration: &Declaration) -> DeclaredSeries {
    let mut out = DeclaredSeries::default();
    for decl in &declaration.series {
        if bt.stored_series().contains(&decl.symbol, decl.timeframe) {
            continue;
        }
        let Some(s) = bt.series.iter().position(|i| i.symbol == decl.symbol) else {
            tracing::warn!(target: "strategy", symbol = %decl.symbol, timeframe = %decl.timeframe, "declared series is not in this backtest's data and no candles are stored for it: its windows are empty");
            continue;
        };
        let own: Vec<crate::domain::Bar> = bt
            .timeline
            .iter()
            .filter(|sb| sb.symbol as usize == s)
            .map(|sb| sb.bar)
            .collect();
        match series::aggregate(&own, bt.timeframe, decl.timeframe) {
            Ok(bars) => out.insert(decl, SeriesBars::new(bars, decl.timeframe)),
            Err(why) => {
                tracing::warn!(target: "strategy", symbol = %decl.symbol, timeframe = %decl.timeframe, "declared series cannot be served: {why}");
            }
        }
    }
    out
}

fn bad_batch(consumed: usize, len: usize) -> Error {
    Error::Strategy(StrategyError {
        code: "strategy_bad_batch".to_owned(),
        message: format!(
            "on_bars consumed {consumed} of {len} bars, not a whole number of timestamps"
        ),
    })
}
