//! Executes paper and live runs: the strategy's sandbox (Marvin) driven by a [`LiveRunner`],
//! every order journaled in WallE through [`WalleJournal`]. Per run, one tracked task drives the
//! runner and one writes heartbeats (`run.Heartbeat`, the account snapshot, the log).
//!
//! Two kinds of venue:
//! - `sim`: the run's own [`SimVenue`] replaying its stored candles (paper only); a second task
//!   records its fills ([`record_trade_update`]).
//! - a live venue (`alpaca`), through its [`Desk`]: shared by all runs on it (one order-update
//!   and one bar stream, fills recorded once by the desk), recovered and reconciled before the
//!   first run trades; runs see its live 1-minute bars. Their `client_order_id`s are derived
//!   from the run id *and* the database's installation id ([`order_scope`]), since the venue
//!   refuses an id forever and another database may reuse run ids. A run's account there is its
//!   own fills over a baseline (`cash`, default the venue account's equity at the start); the
//!   venue account itself is shared.
//!
//! # What a run sees
//! On a live venue: its symbols' live bars as they arrive, order updates of its own orders, the
//! same pre-trade checks. On `sim`:
//! - Bars in replay order, one per call; order updates of its own orders when it subscribed to
//!   them ([`LiveRunner::run_with_updates`]); a `clock.Tick` at the start of every bar period of
//!   the replay (before that period's bars) when it subscribed to clock ticks.
//! - Its orders pass the pre-trade checks against the server's trading switch
//!   ([`AppState::run_trading_switch`]), read at every order.
//! - The replay is in lockstep with the strategy (orders decided on bar `t` meet bar `t + 1`, as
//!   in a backtest); `WEAVER_RUN_BAR_INTERVAL_MS` only adds a pause before each new bar time.
//!   Hence a run is deterministic, which is what makes resuming it exact.
//!
//! # Resume after a restart
//! [`resume`] restarts every run a dead process left `running`. On a live venue the run simply
//! trades on from the next live bar once the venue is recovered (its strategy starts again from
//! `init`; intent numbers continue after the journaled ones, so no `client_order_id` repeats).
//! On the simulated exchange the component is loaded and
//! initialised again and the replay starts over from the first bar on a fresh simulated
//! exchange, without pauses up to where the run had got to (the account row's `bars`). Because
//! the run is deterministic, every intent gets the sequence number (hence the `client_order_id`)
//! it had before; [`crate::veda::journal::place_order`] finds those in the journal, and WallE keeps
//! order ids and fill ids unique, so nothing is stored twice and nothing is lost.
//!
//! # Invariants
//! - A run row is only inserted once the component loaded, `init` accepted the parameters and
//!   candles exist (`sim`) or the venue is recovered and the symbols cleared (live venue): a
//!   refused start stores nothing.
//! - Each run has its own sandbox and tasks (and on `sim` its own venue with its own order-id
//!   prefix): one failing run never touches another.
//! - No run trades on a live venue before its recovery succeeded, nor on a symbol its
//!   reconciliation could not explain (`venue_unreconciled`).
//! - A run ends `stopped` (replay finished, `POST /runs/{id}/stop`, or server shutdown) or
//!   `failed` with a stable code (the strategy's own code such as `strategy_fuel_exhausted`).
//!   The task only writes the final status while the row is still `running`, so a stop that
//!   already wrote `stopped` is never overwritten.
//! - The log is bounded: about [`LOG_RING`] stored lines kept in memory per run (unstored
//!   ones wait for the store, up to ten times that), at most [`MAX_LOG_LINES`] lines per run and
//!   process, messages cut at [`MAX_LOG_MESSAGE`] bytes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use utoipa::ToSchema;

use super::AppState;
use super::backtests::far_future;
use super::error::ApiError;
use super::runs::RunRequest;
use crate::domain::{
    EventMeta, Intent, LogLevel, Side, Strategy, StrategyConfig, StrategyError, StrategyEvent,
    StrategyPayload, Subscriptions, Timeframe,
};
use crate::events::{Envelope, payloads};
use crate::greta::broker::{BrokerConfig, Commission, FillModel};
use crate::marvin::Sandbox;
use crate::veda::Venue;
use crate::veda::desk::Desk;
use crate::veda::journal::recover::record_trade_update;
use crate::veda::journal::store::WalleJournal;
use crate::veda::live::{LiveError, LiveRunner};
use crate::veda::risk::RiskLimits;
use crate::veda::sim::{SimConfig, SimVenue, Speed};
use crate::veda::types::{BarEvent, OrderStreamEvent, StreamHandle, TradeEvent};
use crate::walle::{
    NewRun, Order, OrderFilter, Run, RunLogLine, RunMode, RunStatus, Strategy as StoredStrategy,
    StrategyStatus, Walle,
};

/// Default starting cash of a paper account.
pub const SIM_CASH: f64 = 10_000.0;
/// Log lines kept in memory per run.
pub const LOG_RING: usize = 1_000;
/// Log lines stored per run by one process; later lines are dropped (one line says so).
pub const MAX_LOG_LINES: u64 = 20_000;
/// Longest log message kept, in bytes.
pub const MAX_LOG_MESSAGE: usize = 4_096;
/// Unstored lines that make the heartbeat task store them before its next beat.
const FLUSH_AT: usize = 200;

/// Figures of one run, as `GET /runs/{id}` shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunFigures {
    /// Order intents (place or close) the strategy returned.
    pub order_intents: u64,
    /// Orders the venue accepted (known once the run ended).
    pub orders_placed: Option<u64>,
    /// Guest calls (init and events).
    pub calls: u64,
    /// Bars delivered to the guest.
    pub bars: u64,
    /// Clock ticks delivered to the guest.
    pub clock_ticks: u64,
    /// Fuel used by all calls.
    pub fuel_total: u64,
    /// Average fuel per guest call.
    pub fuel_per_event: f64,
    /// Most fuel used by one call.
    pub fuel_max: u64,
    /// Largest linear memory the guest reached, in bytes.
    pub peak_memory_bytes: u64,
    /// Traps and limit hits.
    pub traps: u64,
    /// 99th percentile of one guest call's wall time, in µs (power-of-two resolution).
    pub call_p99_us: u64,
    /// Longest guest call, in µs.
    pub call_max_us: u64,
    /// 99th percentile of the wall time between two bars reaching the strategy, in µs
    /// (power-of-two resolution): at pace 0, the run's whole per-bar loop (exchange, strategy,
    /// orders, journal); with a pace, that pause included.
    pub bar_gap_p99_us: u64,
    /// Longest time between two bars reaching the strategy, in µs.
    pub bar_gap_max_us: u64,
}

/// Durations in power-of-two buckets of microseconds: a bounded percentile source.
#[derive(Default)]
struct Hist {
    buckets: [u64; 32],
    n: u64,
    max_us: u64,
}

impl Hist {
    fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = (64 - us.leading_zeros()) as usize;
        self.buckets[i.min(self.buckets.len() - 1)] += 1;
        self.n += 1;
        self.max_us = self.max_us.max(us);
    }

    /// The upper bound of the bucket holding the 99th percentile (0 when empty).
    fn p99_us(&self) -> u64 {
        let want = self.n - self.n / 100;
        let mut seen = 0;
        for (i, c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= want && *c > 0 {
                return ((1u64 << i) - 1).min(self.max_us);
            }
        }
        self.max_us
    }
}

/// Profit and loss of a paper account (currency units).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PnlView {
    /// From closed quantities (average-cost), after fees.
    pub realized: f64,
    /// Open positions marked at their last price.
    pub unrealized: f64,
    /// `realized + unrealized` (= equity − starting cash).
    pub total: f64,
}

/// An open position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PositionView {
    /// Symbol.
    pub symbol: String,
    /// Signed quantity (negative: short).
    pub qty: f64,
    /// Average entry price.
    pub avg_price: f64,
    /// Latest price.
    pub last_price: f64,
    /// `qty × (last_price − avg_price)`.
    pub unrealized_pnl: f64,
}

/// A fill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TradeView {
    /// Symbol.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Quantity filled.
    pub qty: f64,
    /// Fill price.
    pub price: f64,
    /// When it filled (the replay's time).
    pub ts: DateTime<Utc>,
}

/// A paper run's account: what `GET /runs/{id}` shows and the snapshot WallE keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountState {
    /// Starting cash.
    pub starting_cash: f64,
    /// Cash now.
    pub cash: f64,
    /// Cash plus positions at their last price.
    pub equity: f64,
    /// Profit and loss.
    pub pnl: PnlView,
    /// Open positions.
    pub positions: Vec<PositionView>,
    /// The latest fill.
    pub last_trade: Option<TradeView>,
}

impl AccountState {
    /// An account that never traded.
    pub fn untouched(cash: f64) -> AccountState {
        AccountState {
            starting_cash: cash,
            cash,
            equity: cash,
            ..AccountState::default()
        }
    }

    /// Rebuilds an account from stored orders (oldest first): filled quantities at their
    /// average price, average-cost positions, each marked at its last fill price (the replay's
    /// later prices are not stored with the run). Fees are not stored per order and count as 0.
    pub fn from_orders(starting_cash: f64, orders: &[Order]) -> AccountState {
        use std::collections::BTreeMap;
        let f = |d: rust_decimal::Decimal| d.to_f64().unwrap_or(0.0);
        // symbol → (qty, avg price, last price)
        let mut book: BTreeMap<String, (f64, f64, f64)> = BTreeMap::new();
        let (mut cash, mut realized) = (starting_cash, 0.0);
        let mut last: Option<TradeView> = None;
        for o in orders {
            let (qty, Some(price)) = (f(o.filled_quantity), o.average_price.map(f)) else {
                continue;
            };
            if qty <= 0.0 {
                continue;
            }
            let signed = if o.side == Side::Buy { qty } else { -qty };
            cash -= signed * price;
            let e = book.entry(o.symbol.clone()).or_insert((0.0, 0.0, price));
            let (q, avg) = (e.0, e.1);
            if q == 0.0 || q.signum() == signed.signum() {
                e.1 = (q * avg + signed * price) / (q + signed);
            } else {
                let closed = signed.abs().min(q.abs());
                realized += closed * (price - avg) * q.signum();
                if signed.abs() > q.abs() {
                    e.1 = price;
                }
            }
            e.0 = q + signed;
            e.2 = price;
            let ts = o.filled_at.unwrap_or(o.updated_at);
            if last.as_ref().is_none_or(|l| ts >= l.ts) {
                last = Some(TradeView {
                    symbol: o.symbol.clone(),
                    side: side_text(o.side),
                    qty,
                    price,
                    ts,
                });
            }
        }
        let positions: Vec<PositionView> = book
            .into_iter()
            .filter(|(_, (q, _, _))| q.abs() > 1e-12)
            .map(|(symbol, (qty, avg_price, last_price))| PositionView {
                symbol,
                qty,
                avg_price,
                last_price,
                unrealized_pnl: qty * (last_price - avg_price),
            })
            .collect();
        let unrealized: f64 = positions.iter().map(|p| p.unrealized_pnl).sum();
        let equity = cash + positions.iter().map(|p| p.qty * p.last_price).sum::<f64>();
        AccountState {
            starting_cash,
            cash,
            equity,
            pnl: PnlView {
                realized,
                unrealized,
                total: realized + unrealized,
            },
            positions,
            last_trade: last,
        }
    }
}

fn side_text(s: Side) -> String {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
    .to_owned()
}

/// The account of a run on the simulated exchange, now.
async fn account_of(sim: &SimVenue, starting_cash: f64, last: Option<TradeView>) -> AccountState {
    let f = |d: rust_decimal::Decimal| d.to_f64().unwrap_or(0.0);
    let (Ok(account), Ok(positions)) = (sim.account().await, sim.positions().await) else {
        return AccountState::untouched(starting_cash);
    };
    let positions: Vec<PositionView> = positions
        .into_iter()
        .map(|p| {
            let qty = f(p.quantity);
            let avg_price = f(p.avg_entry_price);
            let last_price = p.current_price.map_or(avg_price, f);
            PositionView {
                symbol: p.symbol,
                qty,
                avg_price,
                last_price,
                unrealized_pnl: qty * (last_price - avg_price),
            }
        })
        .collect();
    let equity = f(account.equity);
    let unrealized: f64 = positions.iter().map(|p| p.unrealized_pnl).sum();
    let total = equity - starting_cash;
    // Greta's broker books positions on margin (its cash moves only by realized PnL and fees);
    // the account shows cash as money not tied up in positions, as a cash account would.
    let at_cost: f64 = positions.iter().map(|p| p.qty * p.avg_price).sum();
    AccountState {
        starting_cash,
        cash: f(account.cash) - at_cost,
        equity,
        pnl: PnlView {
            realized: total - unrealized,
            unrealized,
            total,
        },
        positions,
        last_trade: last,
    }
}

/// One line of a run's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogLine {
    /// Position in the run's log (from 1, no gaps).
    pub seq: i64,
    /// When it was written (UTC, wall clock).
    pub ts: DateTime<Utc>,
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The text.
    pub message: String,
}

impl From<RunLogLine> for LogLine {
    fn from(l: RunLogLine) -> Self {
        LogLine {
            seq: l.seq,
            ts: l.ts,
            level: l.level,
            message: l.message,
        }
    }
}

#[derive(Default)]
struct Ring {
    lines: VecDeque<LogLine>,
    next_seq: i64,
    /// Highest seq stored in WallE.
    stored: i64,
    written: u64,
    full: bool,
}

/// A run's log: a ring in memory, stored in WallE by the heartbeat task.
struct LogBook {
    ring: Mutex<Ring>,
    wanted: Notify,
}

impl LogBook {
    fn new(last_stored: i64) -> LogBook {
        LogBook {
            ring: Mutex::new(Ring {
                next_seq: last_stored + 1,
                stored: last_stored,
                ..Ring::default()
            }),
            wanted: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, level: &str, message: impl Into<String>) {
        let mut message: String = message.into();
        if message.len() > MAX_LOG_MESSAGE {
            let mut cut = MAX_LOG_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let mut r = self.lock();
        if r.full {
            return;
        }
        r.written += 1;
        if r.written >= MAX_LOG_LINES {
            r.full = true;
            message = format!("log limit of {MAX_LOG_LINES} lines reached; later lines dropped");
        }
        let seq = r.next_seq;
        r.next_seq += 1;
        r.lines.push_back(LogLine {
            seq,
            ts: Utc::now(),
            level: level.to_owned(),
            message,
        });
        // Lines leave memory once stored; unstored ones stay (up to a hard bound) so a burst
        // faster than the store keeps up with leaves no gap in the log.
        while r.lines.len() > LOG_RING && r.lines.front().is_some_and(|l| l.seq <= r.stored) {
            r.lines.pop_front();
        }
        if r.lines.len() > 10 * LOG_RING {
            r.lines.pop_front();
        }
        let unstored = (seq - r.stored) as usize;
        drop(r);
        if unstored >= FLUSH_AT {
            self.wanted.notify_one();
        }
    }

    fn unstored(&self) -> Vec<RunLogLine> {
        let r = self.lock();
        r.lines
            .iter()
            .filter(|l| l.seq > r.stored)
            .map(|l| RunLogLine {
                seq: l.seq,
                ts: l.ts,
                level: l.level.clone(),
                message: l.message.clone(),
            })
            .collect()
    }

    fn mark_stored(&self, seq: i64) {
        let mut r = self.lock();
        r.stored = r.stored.max(seq);
    }

    /// Lines after `after` still in memory, and whether memory covers everything after it.
    fn after(&self, after: i64, limit: usize) -> (Vec<LogLine>, bool) {
        let r = self.lock();
        let covers = r.lines.front().is_none_or(|l| l.seq <= after + 1);
        let lines = r
            .lines
            .iter()
            .filter(|l| l.seq > after)
            .take(limit)
            .cloned()
            .collect();
        (lines, covers)
    }

    async fn store(&self, walle: &Walle, run_id: i64) {
        let lines = self.unstored();
        let Some(last) = lines.last().map(|l| l.seq) else {
            return;
        };
        match walle.append_run_logs(run_id, &lines).await {
            Ok(()) => self.mark_stored(last),
            Err(e) => tracing::warn!(run_id, code = e.code(), "cannot store run log: {e}"),
        }
    }
}

/// Where a run trades.
#[derive(Clone)]
enum RunVenue {
    /// Its own simulated exchange, replaying stored candles.
    Sim(SimVenue),
    /// A live venue shared with other runs (a [`Desk`]): the run's account is what its own
    /// recorded orders add up to.
    Desk(Walle),
}

/// What the API reads of a run this process executes (or executed since it started).
struct Live {
    id: i64,
    strategy: String,
    starting_cash: f64,
    figures: Mutex<RunFigures>,
    logs: LogBook,
    /// The venue while the run is active; `None` once it ended (then `ended` holds the account).
    venue: Mutex<Option<RunVenue>>,
    ended: Mutex<Option<AccountState>>,
    last_trade: Mutex<Option<TradeView>>,
    /// Time of the latest bar delivered (ms), `i64::MIN` before the first.
    last_bar_ts: AtomicI64,
}

impl Live {
    fn figures(&self) -> RunFigures {
        self.figures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn account(&self) -> AccountState {
        let venue = self
            .venue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let last = self
            .last_trade
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match venue {
            Some(RunVenue::Sim(v)) => account_of(&v, self.starting_cash, last).await,
            Some(RunVenue::Desk(w)) => match run_orders(&w, self.id).await {
                Ok(orders) => AccountState::from_orders(self.starting_cash, &orders),
                Err(e) => {
                    tracing::warn!(
                        run_id = self.id,
                        code = e.code(),
                        "run orders unreadable: {e}"
                    );
                    AccountState::untouched(self.starting_cash)
                }
            },
            None => self
                .ended
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .unwrap_or_else(|| AccountState::untouched(self.starting_cash)),
        }
    }

    fn is_active_on_sim(&self) -> bool {
        matches!(
            *self.venue.lock().unwrap_or_else(PoisonError::into_inner),
            Some(RunVenue::Sim(_))
        )
    }

    fn is_active(&self) -> bool {
        self.venue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

struct Entry {
    cancel: CancellationToken,
    live: Arc<Live>,
    venue: String,
}

/// The runs this server started: their stop tokens, figures, accounts and logs.
#[derive(Default)]
pub(crate) struct Registry {
    runs: Mutex<std::collections::HashMap<i64, Entry>>,
}

/// An account per venue (`GET /accounts`): `sim` sums this process's paper runs, a live venue
/// (`alpaca`) is its account there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VenueAccountView {
    /// Venue (`sim`, `alpaca`).
    pub venue: String,
    /// Equity (`sim`: the sum over its active runs).
    pub equity: f64,
    /// Cash (`sim`: the sum over its active runs).
    pub cash: f64,
    /// Buying power (`sim`: the sum over its active runs).
    pub buying_power: f64,
    /// Active runs on this venue.
    pub runs: u64,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i64, Entry>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn live(&self, id: i64) -> Option<Arc<Live>> {
        self.lock().get(&id).map(|e| e.live.clone())
    }

    /// Asks run `id` to stop (no effect on runs this server is not executing).
    pub(crate) fn cancel(&self, id: i64) {
        if let Some(e) = self.lock().get(&id) {
            e.cancel.cancel();
        }
    }

    /// The figures of run `id`, if this server executed it since it started.
    pub(crate) fn figures(&self, id: i64) -> Option<RunFigures> {
        self.live(id).map(|l| l.figures())
    }

    /// The account of run `id`, if this server executed it since it started.
    pub(crate) async fn account(&self, id: i64) -> Option<AccountState> {
        match self.live(id) {
            Some(l) => Some(l.account().await),
            None => None,
        }
    }

    /// Log lines of run `id` after `after` held in memory, and whether they are complete (no
    /// older line after `after` has left the ring). `None` for runs this server did not execute.
    pub(crate) fn logs(&self, id: i64, after: i64, limit: usize) -> Option<(Vec<LogLine>, bool)> {
        self.live(id).map(|l| l.logs.after(after, limit))
    }

    /// Accounts per venue: `sim` (always listed) sums the paper accounts of the runs active in
    /// this process; each live venue in `desks` is its account at the venue (omitted, with a
    /// warning, when the venue cannot be asked).
    pub(crate) async fn accounts(
        &self,
        desks: &std::collections::BTreeMap<String, Desk>,
    ) -> Vec<VenueAccountView> {
        let mut active: Vec<Arc<Live>> = Vec::new();
        let mut on_desk: std::collections::HashMap<String, u64> = Default::default();
        for e in self.lock().values() {
            if e.live.is_active_on_sim() {
                active.push(e.live.clone());
            } else if e.live.is_active() {
                *on_desk.entry(e.venue.clone()).or_default() += 1;
            }
        }
        let mut sim = VenueAccountView {
            venue: "sim".into(),
            equity: 0.0,
            cash: 0.0,
            buying_power: 0.0,
            runs: 0,
        };
        for l in active {
            let a = l.account().await;
            sim.equity += a.equity;
            sim.cash += a.cash;
            // The simulated exchange lends nothing: buying power is equity, never negative.
            sim.buying_power += a.equity.max(0.0);
            sim.runs += 1;
        }
        let mut out = vec![sim];
        let f = |d: rust_decimal::Decimal| d.to_f64().unwrap_or(0.0);
        for (name, desk) in desks {
            match desk.venue().account().await {
                Ok(a) => out.push(VenueAccountView {
                    venue: name.clone(),
                    equity: f(a.equity),
                    cash: f(a.cash),
                    buying_power: f(a.buying_power),
                    runs: on_desk.get(name).copied().unwrap_or(0),
                }),
                Err(e) => {
                    tracing::warn!(venue = %name, code = e.code(), "venue account unavailable: {e}");
                }
            }
        }
        out
    }
}

/// The sandbox, publishing its figures, metrics and output after every call, and adding clock
/// ticks (the runner owns the strategy).
struct Metered {
    sandbox: Sandbox,
    live: Arc<Live>,
    run_id: String,
    timeframe: Timeframe,
    timeframe_ms: i64,
    clock: bool,
    last_tick: Option<i64>,
    /// Bytes of guest output already turned into log lines, and an unfinished line.
    output_seen: usize,
    partial: String,
    seen: SeenStats,
    calls: Hist,
    gaps: Hist,
    last_bar_at: Option<std::time::Instant>,
}

#[derive(Default)]
struct SeenStats {
    fuel: u64,
    time: Duration,
    traps: u64,
    calls: u64,
}

impl Metered {
    fn new(sandbox: Sandbox, live: Arc<Live>, run_id: i64, timeframe: Timeframe) -> Metered {
        let clock = sandbox.subscriptions().clock_ticks;
        // `init` counts towards fuel and traps, not towards the per-call latency.
        let init = sandbox.stats();
        let mut m = Metered {
            sandbox,
            live,
            run_id: run_id.to_string(),
            timeframe,
            timeframe_ms: timeframe.nominal_millis().max(1),
            clock,
            last_tick: None,
            output_seen: 0,
            partial: String::new(),
            seen: SeenStats {
                time: init.call_time_total,
                calls: init.calls,
                ..SeenStats::default()
            },
            calls: Hist::default(),
            gaps: Hist::default(),
            last_bar_at: None,
        };
        m.publish(&[]);
        m
    }

    /// After every guest call: figures, metrics, the guest's output and log intents.
    fn publish(&mut self, intents: &[Intent]) {
        let s = self.sandbox.stats();
        if s.calls > self.seen.calls {
            self.calls
                .record(s.call_time_total.saturating_sub(self.seen.time));
        }
        let strategy = self.live.strategy.clone();
        let orders = intents
            .iter()
            .filter(|i| matches!(i, Intent::PlaceOrder(_) | Intent::ClosePosition { .. }))
            .count() as u64;
        {
            let mut f = self
                .live
                .figures
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            f.order_intents += orders;
            f.calls = s.calls;
            f.bars = s.bars;
            f.fuel_total = s.fuel_total;
            f.fuel_per_event = s.fuel_per_call();
            f.fuel_max = s.fuel_max;
            f.peak_memory_bytes = s.peak_memory_bytes as u64;
            f.traps = s.traps;
            f.call_p99_us = self.calls.p99_us();
            f.call_max_us = self.calls.max_us;
            f.bar_gap_p99_us = self.gaps.p99_us();
            f.bar_gap_max_us = self.gaps.max_us;
        }
        metrics::counter!("weaver_strategy_fuel_total", "strategy" => strategy.clone())
            .increment(s.fuel_total.saturating_sub(self.seen.fuel));
        if s.call_time_total > self.seen.time {
            metrics::histogram!("weaver_strategy_call_duration_seconds", "strategy" => strategy.clone())
                .record((s.call_time_total - self.seen.time).as_secs_f64());
        }
        metrics::gauge!("weaver_strategy_memory_bytes", "run_id" => self.run_id.clone())
            .set(s.peak_memory_bytes as f64);
        if s.traps > self.seen.traps {
            let code = self.sandbox.failure().unwrap_or("strategy_failed");
            metrics::counter!("weaver_strategy_traps_total", "strategy" => strategy, "code" => code)
                .increment(s.traps - self.seen.traps);
        }
        self.seen = SeenStats {
            fuel: s.fuel_total,
            time: s.call_time_total,
            traps: s.traps,
            calls: s.calls,
        };
        for i in intents {
            if let Intent::Log { level, message } = i {
                let level = match level {
                    LogLevel::Debug => "debug",
                    LogLevel::Info => "info",
                    LogLevel::Warn => "warn",
                    LogLevel::Error => "error",
                };
                self.live.logs.push(level, message.clone());
            }
        }
        self.take_output(false);
    }

    /// Turns new guest output into `stdout:` log lines; `all` also flushes an unfinished line.
    fn take_output(&mut self, all: bool) {
        let out = self.sandbox.guest_output();
        if out.len() > self.output_seen {
            let new = out.get(self.output_seen..).unwrap_or_default();
            self.partial.push_str(new);
            self.output_seen = out.len();
        }
        while let Some(n) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=n).collect();
            self.live
                .logs
                .push("info", format!("stdout: {}", line.trim_end()));
        }
        if all && !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.live.logs.push("info", format!("stdout: {line}"));
        }
    }

    fn call(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        let out = off_the_reactor(|| self.sandbox.on_event(event));
        self.publish(out.as_deref().unwrap_or_default());
        out
    }

    /// A `clock.Tick` when `event` opens a new bar period (and the guest wants ticks).
    fn tick_for(&mut self, event: &StrategyEvent) -> Option<StrategyEvent> {
        if !self.clock {
            return None;
        }
        let StrategyPayload::Bars(bars) = &event.payload else {
            return None;
        };
        let ts = bars.first()?.bar.ts;
        let boundary = ts.div_euclid(self.timeframe_ms) * self.timeframe_ms;
        if self.last_tick.is_some_and(|t| boundary <= t) {
            return None;
        }
        self.last_tick = Some(boundary);
        let mut meta = event.meta.clone();
        meta.id = format!("{}-tick-{boundary}", self.run_id);
        meta.event_type = "clock.Tick".to_owned();
        meta.ts = boundary;
        meta.producer = "glados".to_owned();
        Some(StrategyEvent {
            meta,
            payload: StrategyPayload::ClockTick,
        })
    }
}

impl Strategy for Metered {
    fn subscriptions(&self) -> Subscriptions {
        self.sandbox.subscriptions()
    }

    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        if matches!(event.payload, StrategyPayload::Bars(_)) {
            let now = std::time::Instant::now();
            if let Some(prev) = self.last_bar_at.replace(now) {
                self.gaps.record(now - prev);
            }
        }
        let mut intents = Vec::new();
        if let Some(tick) = self.tick_for(event) {
            intents = self.call(&tick)?;
            self.live
                .figures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clock_ticks += 1;
        }
        if let StrategyPayload::Bars(bars) = &event.payload
            && let Some(b) = bars.first()
        {
            self.live.last_bar_ts.store(b.bar.ts, Ordering::Relaxed);
        }
        intents.extend(self.call(event)?);
        Ok(intents)
    }

    fn on_bars(
        &mut self,
        meta: &EventMeta,
        bars: &[crate::domain::SymbolBar],
    ) -> Result<crate::domain::BatchOutcome, StrategyError> {
        let out = off_the_reactor(|| self.sandbox.on_bars(meta, bars));
        self.publish(&[]);
        out
    }
}

/// Runs a guest call (synchronous, up to its fuel and time limits) without stalling the other
/// tasks of a worker thread: on the multi-threaded runtime the worker hands its queue over
/// first. Elsewhere (single-threaded test runtimes) it just calls.
fn off_the_reactor<T>(f: impl FnOnce() -> T) -> T {
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid {
        code,
        message: message.into(),
    }
}

/// What a run executes: the strategy, its parameters, symbols, timeframe and account.
struct Spec {
    params: Vec<(String, String)>,
    symbols: Vec<String>,
    timeframe: Timeframe,
    cash: f64,
}

/// Text parameters as the guest's `init` takes them.
fn text_params(
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

/// Loads and initialises the strategy; stores nothing.
async fn load_sandbox(
    state: &AppState,
    strategy: &StoredStrategy,
    spec: &Spec,
) -> Result<Sandbox, ApiError> {
    let config = StrategyConfig {
        params: spec.params.clone(),
        symbols: spec.symbols.clone(),
        timeframe: spec.timeframe,
    };
    let path = state
        .inner
        .components_dir
        .join(format!("{}.wasm", strategy.sha256));
    if !path.is_file() {
        return Err(invalid(
            "strategy_unavailable",
            format!("the component of strategy {} is missing", strategy.id),
        ));
    }
    let marvin = state.inner.marvin.clone();
    let sandbox = tokio::task::spawn_blocking(move || {
        marvin
            .load_file(&path)
            .and_then(|loaded| loaded.instantiate(&config))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("strategy loader: {e}")))?
    .map_err(|e| invalid(e.code(), e.to_string()))?;
    Ok(sandbox)
}

/// Loads and initialises the strategy and builds the simulated exchange over the stored
/// candles; stores nothing.
async fn prepare(
    state: &AppState,
    strategy: &StoredStrategy,
    spec: &Spec,
) -> Result<(Sandbox, SimVenue), ApiError> {
    let sandbox = load_sandbox(state, strategy, spec).await?;
    // Every symbol must have bars: a symbol without any would silently never trade.
    for s in &spec.symbols {
        if state
            .inner
            .walle
            .candles(
                s,
                &spec.timeframe.to_string(),
                DateTime::<Utc>::UNIX_EPOCH,
                far_future(),
                1,
            )
            .await?
            .is_empty()
        {
            return Err(invalid(
                "no_candles",
                format!(
                    "no {} candles stored for {} (weaver data import)",
                    spec.timeframe,
                    super::http::truncate(s, 32)
                ),
            ));
        }
    }
    let sim = SimVenue::from_walle(
        &state.inner.walle,
        &spec.symbols,
        spec.timeframe,
        DateTime::<Utc>::UNIX_EPOCH,
        far_future(),
        SimConfig {
            broker: BrokerConfig {
                cash: spec.cash,
                commission: Commission::default(),
                slippage_bps: 0.0,
                fill: FillModel::NextOpen,
                fractional: false,
            },
            // Always lockstep: the pace is added between bar times (see `pace`), so a run is
            // deterministic whatever the load.
            speed: Speed::Lockstep,
        },
    )
    .await
    .map_err(|e| invalid("no_candles", format!("{e} (weaver data import)")))?;
    Ok((sandbox, sim))
}

/// Loads and instantiates the strategy, builds the simulated exchange, stores the run as
/// `running` with its account and spawns its tasks. The request was validated by
/// [`super::runs::create`].
///
/// # Errors
/// 422 `invalid_params` / `strategy_*` when the guest refuses to start, 422 `no_candles` when
/// the store has nothing to replay, 5xx when the store fails.
pub(crate) async fn start(
    state: &AppState,
    strategy: &StoredStrategy,
    req: RunRequest,
) -> Result<Run, ApiError> {
    let timeframe: Timeframe = req
        .timeframe
        .parse()
        .map_err(|e| invalid("invalid_timeframe", format!("{e}")))?;
    let spec = Spec {
        params: text_params(req.params.as_ref()),
        symbols: req.symbols.clone(),
        timeframe,
        cash: req.cash.unwrap_or(SIM_CASH),
    };
    let (sandbox, sim) = prepare(state, strategy, &spec).await?;
    let run = store_running(state, strategy, &req, RunMode::Paper, &spec).await?;
    let first = format!(
        "run started: strategy {} ({}), {} on {}, cash {}",
        strategy.name,
        strategy.id,
        spec.symbols.join(","),
        spec.timeframe,
        spec.cash
    );
    launch(
        state,
        &run,
        strategy,
        sandbox,
        Exec::Sim(sim),
        &spec,
        (0, 0),
        first,
    )
    .await;
    Ok(run)
}

/// What a run executes on.
enum Exec {
    /// Its own simulated exchange.
    Sim(SimVenue),
    /// A live venue shared with other runs.
    Desk {
        desk: Desk,
        /// What the run's `client_order_id`s are derived from ([`order_scope`]).
        scope: String,
        /// Intents the run journaled before a restart (numbering continues after them).
        journaled: u64,
    },
}

/// The scope of run `id`'s `client_order_id`s on a live venue: the run id and this database's
/// installation id ([`Walle::installation_id`]), so a new database reusing run ids never reuses
/// an id the venue has seen (Alpaca refuses a `client_order_id` forever once used).
fn order_scope(id: i64, installation: &str) -> String {
    format!("{id}-{installation}")
}

/// Stores a started run as `running` with its account of `spec.cash`. A run whose account
/// cannot be stored is marked `failed` (`store_failed`): it could be neither resumed nor shown.
async fn store_running(
    state: &AppState,
    strategy: &StoredStrategy,
    req: &RunRequest,
    mode: RunMode,
    spec: &Spec,
) -> Result<Run, ApiError> {
    let w = &state.inner.walle;
    let run = w
        .insert_run(
            &NewRun {
                strategy_id: strategy.id,
                mode,
                venue: req.venue.clone(),
                params: serde_json::Value::Object(req.params.clone().unwrap_or_default()),
                symbols: req.symbols.clone(),
                timeframe: spec.timeframe,
            },
            None,
        )
        .await?;
    if let Err(e) = w.insert_run_account(run.id, spec.cash).await {
        let _ = w
            .update_run_status(run.id, RunStatus::Failed, Some("store_failed"), None)
            .await;
        return Err(e.into());
    }
    Ok(w.update_run_status(run.id, RunStatus::Running, None, None)
        .await?)
}

/// The highest intent sequence number run `id` journaled (0 when none).
async fn journaled_intents(walle: &Walle, id: i64) -> Result<u64, crate::walle::Error> {
    Ok(run_orders(walle, id)
        .await?
        .iter()
        .filter_map(|o| crate::veda::client_order_id::sequence(&o.client_order_id))
        .max()
        .unwrap_or(0))
}

/// Every stored order of run `id`, oldest first.
async fn run_orders(walle: &Walle, id: i64) -> Result<Vec<Order>, crate::walle::Error> {
    let mut orders = Vec::new();
    let mut filter = OrderFilter {
        run_id: Some(id),
        limit: 1000,
        ..OrderFilter::default()
    };
    loop {
        let page = walle.orders(&filter).await?;
        orders.extend(page.orders);
        match page.next_after {
            Some(after) => filter.after_id = Some(after),
            None => return Ok(orders),
        }
    }
}

fn venue_unavailable(desk: &Desk, e: &crate::veda::Error) -> ApiError {
    ApiError::Unavailable {
        code: "venue_unavailable",
        message: format!(
            "venue {} cannot be reached ({}): {e}; nothing was started",
            desk.name(),
            e.code()
        ),
    }
}

/// Starts a run on a live venue (`alpaca`): the strategy is loaded and initialised, the venue
/// recovered and reconciled ([`Desk::ready`]) and the run's symbols checked against the report,
/// then the run is stored as `running` and trades on the venue's live bars. Its account starts
/// from `cash` (default: the venue account's equity now) and is what its own fills add up to.
/// The request was validated by [`super::runs::create`] (mode against the venue's live flag).
///
/// # Errors
/// 422 `unsupported_timeframe` (the venue streams 1-minute bars) or the guest's refusal,
/// 503 `venue_unavailable`, 409 `venue_unreconciled` (a difference with the venue on one of the
/// run's symbols that could not be explained), 5xx when the store fails.
pub(crate) async fn start_on_desk(
    state: &AppState,
    strategy: &StoredStrategy,
    req: RunRequest,
    desk: &Desk,
) -> Result<Run, ApiError> {
    let timeframe: Timeframe = req
        .timeframe
        .parse()
        .map_err(|e| invalid("invalid_timeframe", format!("{e}")))?;
    if timeframe != Timeframe::MINUTE {
        return Err(invalid(
            "unsupported_timeframe",
            format!(
                "venue {} streams 1-minute bars: runs on it use timeframe 1Min",
                desk.name()
            ),
        ));
    }
    let mut spec = Spec {
        params: text_params(req.params.as_ref()),
        symbols: req.symbols.clone(),
        timeframe,
        cash: req.cash.unwrap_or(0.0),
    };
    let sandbox = load_sandbox(state, strategy, &spec).await?;
    let report = desk
        .ready()
        .await
        .map_err(|e| venue_unavailable(desk, &e))?;
    report
        .check_run(&spec.symbols)
        .map_err(|e| ApiError::Conflict {
            code: "venue_unreconciled",
            message: e.to_string(),
        })?;
    if req.cash.is_none() {
        let account = desk
            .venue()
            .account()
            .await
            .map_err(|e| venue_unavailable(desk, &e))?;
        spec.cash = account.equity.to_f64().unwrap_or(0.0);
    }
    let mode = if req.mode == "live" {
        RunMode::Live
    } else {
        RunMode::Paper
    };
    let installation = state.inner.walle.installation_id().await?;
    let run = store_running(state, strategy, &req, mode, &spec).await?;
    let first = format!(
        "run started: strategy {} ({}), {} on {} {} ({}), account baseline {}",
        strategy.name,
        strategy.id,
        spec.symbols.join(","),
        desk.name(),
        spec.timeframe,
        if desk.is_live() {
            "LIVE, real money"
        } else {
            "paper"
        },
        spec.cash
    );
    let exec = Exec::Desk {
        desk: desk.clone(),
        scope: order_scope(run.id, &installation),
        journaled: 0,
    };
    launch(state, &run, strategy, sandbox, exec, &spec, (0, 0), first).await;
    Ok(run)
}

/// Registers the run, logs `first` and spawns its tasks; `resume.0` bars are replayed without
/// pauses, the log continues after seq `resume.1`.
#[allow(clippy::too_many_arguments)] // one call site each for start and resume
async fn launch(
    state: &AppState,
    run: &Run,
    strategy: &StoredStrategy,
    sandbox: Sandbox,
    exec: Exec,
    spec: &Spec,
    (resume_bars, last_log_seq): (u64, i64),
    first: String,
) {
    let id = run.id;
    let exec = match exec {
        Exec::Sim(sim) => Exec::Sim(sim.with_order_id_prefix(&format!("sim-r{id}-"))),
        desk => desk,
    };
    let venue = match &exec {
        Exec::Sim(sim) => RunVenue::Sim(sim.clone()),
        Exec::Desk { .. } => RunVenue::Desk(state.inner.walle.clone()),
    };
    let live = Arc::new(Live {
        id,
        strategy: strategy.name.clone(),
        starting_cash: spec.cash,
        figures: Mutex::new(RunFigures::default()),
        logs: LogBook::new(last_log_seq),
        venue: Mutex::new(Some(venue)),
        ended: Mutex::new(None),
        last_trade: Mutex::new(None),
        last_bar_ts: AtomicI64::new(i64::MIN),
    });
    // First in the log, before the guest's own output can be.
    live.logs.push("info", first);
    let cancel = state.inner.shutdown.child_token();
    state.inner.runs.lock().insert(
        id,
        Entry {
            cancel: cancel.clone(),
            live: live.clone(),
            venue: run.venue.clone(),
        },
    );
    let metered = Metered::new(sandbox, live.clone(), id, spec.timeframe);
    let st = state.clone();
    let symbols = spec.symbols.clone();
    let l = live.clone();
    // Every log line of the run (the runner, the sandbox, the strategy's own logs) carries
    // run_id; started from a request, the span's parent is its `http` span, so they carry its
    // corr_id too.
    let span = tracing::info_span!("run", run_id = id);
    state.inner.tasks.spawn(
        async move {
            tracing::info!("run started");
            let outcome = execute(&st, id, symbols, metered, exec, cancel, &l, resume_bars).await;
            wrap_up(&st, id, &l, outcome).await;
        }
        .instrument(span),
    );
}

/// Delivers the sim's bars, pausing `pace` before each new bar time once `fast` bars went by.
fn pace(
    st: &AppState,
    mut source: StreamHandle<BarEvent>,
    pace: Duration,
    fast: u64,
    cancel: CancellationToken,
) -> StreamHandle<BarEvent> {
    if pace.is_zero() {
        return source;
    }
    let (tx, rx) = mpsc::channel(1);
    st.inner.tasks.spawn(async move {
        let (mut delivered, mut prev) = (0u64, None);
        while let Some(event) = source.next().await {
            if let BarEvent::Bar { bar, .. } = &event {
                delivered += 1;
                if delivered > fast && prev.is_some_and(|p| p != bar.ts) {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(pace) => {}
                    }
                }
                prev = Some(bar.ts);
            }
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    StreamHandle::new(rx, CancellationToken::new())
}

/// Drives the run until the replay ends (simulated exchange) or the bar stream does, it is
/// cancelled, or it fails.
#[allow(clippy::too_many_arguments)] // the run's parts, moved into its task
async fn execute(
    st: &AppState,
    id: i64,
    symbols: Vec<String>,
    strategy: Metered,
    exec: Exec,
    cancel: CancellationToken,
    live: &Arc<Live>,
    resume_bars: u64,
) -> Result<(), (String, String)> {
    let (venue, sim): (Arc<dyn Venue>, Option<SimVenue>) = match &exec {
        Exec::Sim(sim) => (Arc::new(sim.clone()), Some(sim.clone())),
        Exec::Desk { desk, .. } => (desk.venue(), None),
    };
    let walle = st.inner.walle.clone();
    let fail = |e: crate::veda::Error| (e.code().to_owned(), e.to_string());
    // On a live venue the desk records every order update once for all runs.
    let recorded = match &sim {
        Some(_) => Some(venue.order_updates(Utc::now()).await.map_err(fail)?),
        None => None,
    };
    let strategy_updates = venue.order_updates(Utc::now()).await.map_err(fail)?;
    let bars = venue.bar_stream(&symbols).await.map_err(fail)?;
    let bars = match &sim {
        Some(_) => {
            let every = Duration::from_millis(st.inner.config.run_bar_interval_ms);
            pace(st, bars, every, resume_bars, cancel.clone())
        }
        None => bars,
    };
    let journal = Arc::new(WalleJournal::new(walle.clone()));
    let timeframe = strategy.timeframe;
    let mut runner = LiveRunner::new(
        &id.to_string(),
        symbols,
        Box::new(strategy),
        venue.clone(),
        journal,
        RiskLimits::default(),
    )
    .timeframe(timeframe)
    .with_switch(st.run_trading_switch())
    .on_refused({
        let live = live.clone();
        move |sequence, order, e| {
            live.logs.push(
                "warn",
                format!(
                    "order #{sequence} ({} {} {}) not placed ({}): {e}",
                    side_text(order.side),
                    order.quantity,
                    order.symbol,
                    e.code()
                ),
            );
        }
    });
    match &exec {
        Exec::Sim(sim) => {
            let releaser = sim.clone();
            runner = runner.after_each_bar(move || releaser.bar_done());
        }
        Exec::Desk {
            scope, journaled, ..
        } => {
            runner = runner.order_scope(scope).resume_at(*journaled);
            if let Some(cap) = rust_decimal::prelude::FromPrimitive::from_f64(live.starting_cash) {
                runner = runner.equity_cap(cap);
            }
        }
    }
    // Fills are recorded in WallE as they come, beside the runner.
    let side_stop = CancellationToken::new();
    let recorder = recorded.map(|mut updates| {
        let stop = side_stop.clone();
        let walle = walle.clone();
        let live = live.clone();
        st.inner.tasks.spawn(async move {
            loop {
                let event = tokio::select! {
                    biased;
                    e = updates.events.recv() => e,
                    () = stop.cancelled() => None,
                };
                let Some(event) = event else { break };
                record(&walle, id, &live, event).await;
            }
            // Whatever arrived before the stop is still recorded.
            while let Ok(event) = updates.events.try_recv() {
                record(&walle, id, &live, event).await;
            }
        })
    });
    let heart = {
        let stop = side_stop.clone();
        let live = live.clone();
        let st = st.clone();
        let tasks = st.inner.tasks.clone();
        tasks.spawn(async move {
            let period = Duration::from_millis(st.inner.config.run_heartbeat_ms.max(1));
            let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    _ = beat.tick() => heartbeat(&st, id, &live).await,
                    () = live.logs.wanted.notified() => live.logs.store(&st.inner.walle, id).await,
                }
            }
        })
    };
    let outcome = tokio::select! {
        r = runner.run_with_updates(bars, strategy_updates) => r,
        () = cancel.cancelled() => Ok(()),
    };
    side_stop.cancel();
    if let Some(recorder) = recorder
        && recorder.await.is_err()
    {
        tracing::error!(run_id = id, "fill recorder panicked");
    }
    if heart.await.is_err() {
        tracing::error!(run_id = id, "heartbeat task panicked");
    }
    live.figures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .orders_placed = Some(runner.placed().iter().filter(|p| p.outcome.is_ok()).count() as u64);
    if cancel.is_cancelled() && outcome.is_ok() {
        live.logs.push("info", "run stopped");
    } else if outcome.is_ok() && sim.is_some() {
        live.logs.push("info", "replay finished");
    } else if outcome.is_ok() {
        live.logs.push("warn", "the venue's bar stream ended");
    }
    outcome.map_err(|e| match e {
        LiveError::Strategy(s) => (s.code.clone(), s.message),
        other => (other.code().to_owned(), other.to_string()),
    })
}

/// One heartbeat: the account snapshot and progress, the log, and a `run.Heartbeat` event.
async fn heartbeat(st: &AppState, id: i64, live: &Live) {
    let w = &st.inner.walle;
    live.logs.store(w, id).await;
    let account = live.account().await;
    let figures = live.figures();
    snapshot(w, id, &account, figures.bars).await;
    let ts = live.last_bar_ts.load(Ordering::Relaxed);
    let event = Envelope::new(
        "run.Heartbeat",
        "glados",
        payloads::RunHeartbeat {
            run_id: id,
            bars: figures.bars,
            bar_ts: (ts != i64::MIN)
                .then(|| DateTime::from_timestamp_millis(ts))
                .flatten(),
            equity: account.equity,
            order_intents: figures.order_intents,
        },
    )
    .map(|e| e.for_run(id));
    match event {
        Ok(e) => {
            if let Err(e) = w.append(&e).await {
                tracing::warn!(run_id = id, code = e.code(), "heartbeat not written: {e}");
            }
        }
        Err(e) => tracing::error!(run_id = id, "heartbeat refused: {e}"),
    }
}

async fn snapshot(w: &Walle, id: i64, account: &AccountState, bars: u64) {
    let value = serde_json::to_value(account).unwrap_or_default();
    if let Err(e) = w
        .update_run_account(id, i64::try_from(bars).unwrap_or(i64::MAX), &value)
        .await
    {
        tracing::warn!(
            run_id = id,
            code = e.code(),
            "run snapshot not written: {e}"
        );
    }
}

async fn record(walle: &Walle, id: i64, live: &Live, event: OrderStreamEvent) {
    let OrderStreamEvent::Update(u) = event else {
        return;
    };
    if matches!(u.event, TradeEvent::Fill | TradeEvent::PartialFill)
        && let (Some(price), Some(qty)) = (u.price, u.quantity)
    {
        *live
            .last_trade
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(TradeView {
            symbol: u.order.symbol.clone(),
            side: side_text(u.order.side),
            qty: qty.to_f64().unwrap_or(0.0),
            price: price.to_f64().unwrap_or(0.0),
            ts: u.timestamp.unwrap_or_else(Utc::now),
        });
    }
    if let Err(e) = record_trade_update(walle, &u).await {
        tracing::warn!(run_id = id, code = e.code(), "cannot record a fill: {e}");
    }
}

/// Logs the outcome, stores the final account and the log, then writes the final status
/// (unless a stop already did).
async fn wrap_up(st: &AppState, id: i64, live: &Live, outcome: Result<(), (String, String)>) {
    let w = &st.inner.walle;
    if let Err((code, message)) = &outcome {
        live.logs
            .push("error", format!("run failed ({code}): {message}"));
    }
    let account = live.account().await;
    snapshot(w, id, &account, live.figures().bars).await;
    *live.ended.lock().unwrap_or_else(PoisonError::into_inner) = Some(account);
    // The venue (and its copy of the candles) is dropped with the run.
    live.venue
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    live.logs.store(w, id).await;
    match w.run(id).await {
        Ok(Some(r)) if r.status == RunStatus::Running => {}
        Ok(_) => return,
        Err(e) => {
            tracing::error!(run_id = id, code = e.code(), "cannot read run: {e}");
            return;
        }
    }
    let (status, code) = match &outcome {
        Ok(()) => (RunStatus::Stopped, None),
        Err((code, message)) => {
            tracing::warn!(run_id = id, code = code.as_str(), "run failed: {message}");
            (RunStatus::Failed, Some(code.as_str()))
        }
    };
    if let Err(e) = w.update_run_status(id, status, code, None).await {
        tracing::error!(
            run_id = id,
            code = e.code(),
            "cannot record run outcome: {e}"
        );
        return;
    }
    tracing::info!(status = ?status, "run finished");
}

/// Marks runs left `running` or `stopping` by an earlier process `failed` (`interrupted`);
/// returns how many. For stores whose runs cannot be resumed; `weaver serve` calls [`resume`].
///
/// # Errors
/// When the store cannot be read or written.
pub async fn fail_orphans(walle: &Walle) -> Result<usize, crate::walle::Error> {
    let mut n = 0;
    for status in [RunStatus::Running, RunStatus::Stopping] {
        for run in walle.runs(Some(status), i64::from(i32::MAX)).await? {
            walle
                .update_run_status(run.id, RunStatus::Failed, Some("interrupted"), None)
                .await?;
            n += 1;
        }
    }
    Ok(n)
}

/// What [`resume`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resumed {
    /// Runs running again.
    pub resumed: Vec<i64>,
    /// Runs that could not be resumed, marked `failed` (run id, code).
    pub failed: Vec<(i64, String)>,
    /// Runs that were stopping, marked `stopped`.
    pub stopped: Vec<i64>,
}

/// Resumes the paper runs an earlier process left `running` (see the module docs). Runs left
/// `stopping` are marked `stopped`; runs that cannot be resumed are marked `failed` with
/// `strategy_unavailable` (the component is gone or no longer ready), `no_candles`,
/// `resume_failed` (the strategy refused to start again) or `interrupted` (not a paper run on
/// the simulated exchange). Call once at start-up, after migrations and before serving.
///
/// # Errors
/// When the store cannot be read or written.
pub async fn resume(state: &AppState) -> Result<Resumed, crate::walle::Error> {
    let w = &state.inner.walle;
    let mut done = Resumed::default();
    for run in w
        .runs(Some(RunStatus::Stopping), i64::from(i32::MAX))
        .await?
    {
        w.update_run_status(run.id, RunStatus::Stopped, None, None)
            .await?;
        done.stopped.push(run.id);
    }
    let mut runs = w
        .runs(Some(RunStatus::Running), i64::from(i32::MAX))
        .await?;
    runs.reverse();
    for run in runs {
        match resume_one(state, &run).await {
            Ok(()) => done.resumed.push(run.id),
            Err((code, message)) => {
                tracing::warn!(run_id = run.id, code, "run not resumed: {message}");
                let last = w.last_run_log_seq(run.id).await.unwrap_or(0);
                let line = RunLogLine {
                    seq: last + 1,
                    ts: Utc::now(),
                    level: "error".into(),
                    message: format!("not resumed after a restart ({code}): {message}"),
                };
                w.append_run_logs(run.id, &[line]).await?;
                w.update_run_status(run.id, RunStatus::Failed, Some(code), None)
                    .await?;
                done.failed.push((run.id, code.to_owned()));
            }
        }
    }
    Ok(done)
}

/// What a stored run executes: its strategy (still `ready`), its spec (cash from its account,
/// else `default_cash`) and its account row.
async fn stored_run(
    state: &AppState,
    run: &Run,
    default_cash: f64,
) -> Result<(StoredStrategy, Spec, Option<crate::walle::RunAccount>), (&'static str, String)> {
    let w = &state.inner.walle;
    let store = |e: crate::walle::Error| ("resume_failed", e.to_string());
    let strategy = w
        .strategy(run.strategy_id)
        .await
        .map_err(store)?
        .filter(|s| s.status == StrategyStatus::Ready)
        .ok_or((
            "strategy_unavailable",
            format!("strategy {} is gone or not ready", run.strategy_id),
        ))?;
    let account = w.run_account(run.id).await.map_err(store)?;
    let timeframe: Timeframe = run
        .timeframe
        .parse()
        .map_err(|e| ("resume_failed", format!("{e}")))?;
    let spec = Spec {
        params: text_params(run.params.0.as_object()),
        symbols: run.symbols.0.clone(),
        timeframe,
        cash: account.as_ref().map_or(default_cash, |a| a.cash),
    };
    Ok((strategy, spec, account))
}

async fn resume_one(state: &AppState, run: &Run) -> Result<(), (&'static str, String)> {
    if run.venue != "sim" {
        return resume_on_desk(state, run).await;
    }
    if run.mode != RunMode::Paper {
        return Err((
            "interrupted",
            "only paper runs on the simulated exchange are resumed".into(),
        ));
    }
    let w = &state.inner.walle;
    let store = |e: crate::walle::Error| ("resume_failed", e.to_string());
    let (strategy, spec, account) = stored_run(state, run, SIM_CASH).await?;
    let (sandbox, sim) = prepare(state, &strategy, &spec)
        .await
        .map_err(|e| match e.code() {
            "strategy_unavailable" => ("strategy_unavailable", e.to_string()),
            "no_candles" => ("no_candles", e.to_string()),
            _ => ("resume_failed", e.to_string()),
        })?;
    if account.is_none() {
        w.insert_run_account(run.id, spec.cash)
            .await
            .map_err(store)?;
    }
    let bars = account.map_or(0, |a| u64::try_from(a.bars).unwrap_or(0));
    let last_seq = w.last_run_log_seq(run.id).await.map_err(store)?;
    let first = format!("run resumed after a restart: replaying {bars} bars again without pauses");
    launch(
        state,
        run,
        &strategy,
        sandbox,
        Exec::Sim(sim),
        &spec,
        (bars, last_seq),
        first,
    )
    .await;
    Ok(())
}

/// Resumes a run on a live venue: the venue must still be configured in the same mode (paper or
/// live), recovery must have succeeded and cleared the run's symbols; the strategy starts again
/// from its `init` on the next live bar, and intent numbering continues after the journaled ones.
async fn resume_on_desk(state: &AppState, run: &Run) -> Result<(), (&'static str, String)> {
    let desk = state.inner.desks.get(&run.venue).ok_or((
        "venue_unavailable",
        format!("venue {} is not configured any more", run.venue),
    ))?;
    if (run.mode == RunMode::Live) != desk.is_live() {
        return Err((
            "venue_mode_changed",
            format!(
                "the run is {} but venue {} is now configured for {} trading",
                if run.mode == RunMode::Live {
                    "live"
                } else {
                    "paper"
                },
                run.venue,
                if desk.is_live() { "live" } else { "paper" }
            ),
        ));
    }
    let w = &state.inner.walle;
    let store = |e: crate::walle::Error| ("resume_failed", e.to_string());
    let (strategy, spec, account) = stored_run(state, run, 0.0).await?;
    let report = desk.ready().await.map_err(|e| {
        (
            "venue_unavailable",
            format!("venue {} could not be recovered: {e}", run.venue),
        )
    })?;
    report
        .check_run(&spec.symbols)
        .map_err(|e| ("venue_unreconciled", e.to_string()))?;
    let sandbox = load_sandbox(state, &strategy, &spec)
        .await
        .map_err(|e| match e.code() {
            "strategy_unavailable" => ("strategy_unavailable", e.to_string()),
            _ => ("resume_failed", e.to_string()),
        })?;
    if account.is_none() {
        w.insert_run_account(run.id, spec.cash)
            .await
            .map_err(store)?;
    }
    let journaled = journaled_intents(w, run.id).await.map_err(store)?;
    let scope = order_scope(run.id, &w.installation_id().await.map_err(store)?);
    let last_seq = w.last_run_log_seq(run.id).await.map_err(store)?;
    let first = format!(
        "run resumed after a restart: venue {} recovered, trading again from the next bar ({journaled} intents journaled before)",
        run.venue
    );
    let exec = Exec::Desk {
        desk: desk.clone(),
        scope,
        journaled,
    };
    launch(
        state,
        run,
        &strategy,
        sandbox,
        exec,
        &spec,
        (0, last_seq),
        first,
    )
    .await;
    Ok(())
}

/// A page of a run's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogPage {
    /// Lines in order.
    pub items: Vec<LogLine>,
    /// Pass as `after` for the next page (unchanged when there was nothing new).
    pub next: i64,
}

/// Run `id`'s log after `after`: from memory when it holds everything, else from WallE.
///
/// # Errors
/// 5xx when the store fails.
pub(crate) async fn logs(
    state: &AppState,
    id: i64,
    after: i64,
    limit: usize,
) -> Result<LogPage, ApiError> {
    let items = match state.inner.runs.logs(id, after, limit) {
        Some((lines, true)) => lines,
        Some((lines, false)) => {
            let mut stored: Vec<LogLine> = state
                .inner
                .walle
                .run_logs(id, after, limit as i64)
                .await?
                .into_iter()
                .map(LogLine::from)
                .collect();
            // Lines not stored yet follow the stored ones.
            let last = stored.last().map_or(after, |l| l.seq);
            stored.extend(lines.into_iter().filter(|l| l.seq > last));
            stored.truncate(limit);
            stored
        }
        None => state
            .inner
            .walle
            .run_logs(id, after, limit as i64)
            .await?
            .into_iter()
            .map(LogLine::from)
            .collect(),
    };
    let next = items.last().map_or(after, |l| l.seq);
    Ok(LogPage { items, next })
}

/// The account of `run`: from this process when it executes (or executed) the run, else the
/// snapshot stored when it ended, else rebuilt from its stored orders
/// ([`AccountState::from_orders`]).
///
/// # Errors
/// 5xx when the store fails.
pub(crate) async fn account(
    state: &AppState,
    run: &Run,
    stored: Option<&crate::walle::RunAccount>,
) -> Result<AccountState, ApiError> {
    if let Some(a) = state.inner.runs.account(run.id).await {
        return Ok(a);
    }
    let cash = stored.map_or(SIM_CASH, |a| a.cash);
    if let Some(snap) = stored.and_then(|a| a.snapshot.as_ref())
        && let Ok(a) = serde_json::from_value::<AccountState>(snap.0.clone())
    {
        return Ok(a);
    }
    if run.status == RunStatus::Created {
        return Ok(AccountState::untouched(cash));
    }
    let orders = run_orders(&state.inner.walle, run.id).await?;
    Ok(AccountState::from_orders(cash, &orders))
}

/// Sets `weaver_runs{status}` from the store (called when `/metrics` is scraped).
///
/// # Errors
/// When the store cannot be read.
pub(crate) async fn record_metrics(state: &AppState) -> Result<(), crate::walle::Error> {
    let counts = state.inner.walle.run_status_counts().await?;
    for status in ["created", "running", "stopping", "stopped", "failed"] {
        let n = counts
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!("weaver_runs", "status" => status).set(n as f64);
    }
    Ok(())
}
