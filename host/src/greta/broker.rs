//! The simulated broker: pending orders, open trades, fills, commissions, cash.
//!
//! Fill rules (the defaults reproduce backtesting.py 0.6.6, see
//! `docs/adr/0005-reference-exact-fills.md`):
//! - Orders placed while the strategy handles bar `t` are processed at the next bar of their
//!   symbol, in queue order; position closes go to the front of the queue.
//! - Market orders fill at that bar's open ([`FillModel::NextOpen`]) or at the signal bar's close
//!   ([`FillModel::Close`], recorded on the signal bar).
//! - Stop orders trigger when the bar trades through the stop (`high >= stop` for buys,
//!   `low <= stop` for sells) and fill at the stop, or at the open when the bar gaps past it.
//!   Limit orders fill when `low <= limit` (buys) / `high >= limit` (sells) at the limit, or at
//!   the open when it is better. Stop-limit orders become limit orders once the stop trades; if
//!   the limit is on the far side of the stop within the same bar we pessimistically assume the
//!   limit traded before the stop, so the order waits for the next bar.
//! - Slippage (basis points) worsens market and stop fills in the direction of the order.
//! - Commission = fixed per order + percentage of traded value + per unit; charged at entry and
//!   again at exit.
//! - An [`OrderSize::EquityFraction`] is resolved at fill time from the margin available then
//!   (equity marked at the current bar's close, minus open positions' value), net of commission,
//!   rounded down to whole units unless fractional units are on. A fraction of 1 means
//!   `1 − f64::EPSILON`, exactly as the reference.
//! - Without hedging, an order first closes opposite trades FIFO; what remains opens a new trade
//!   if the cash covers it, otherwise the order is cancelled with the reason in its update.
//! - Time in force: `day` orders expire when a bar of a later UTC day arrives before they filled;
//!   `ioc`/`fok` orders that cannot fill at their first bar are cancelled; `gtc` orders wait.
//!
//! - Fill models beyond the reference (volume share, spread, latency, Alpaca fees) are
//!   [`fills`]; off by default.
//! - One deliberate difference from the reference: with [`FillModel::Close`] position closes
//!   also fill at the signal bar's close (backtesting.py fills them at the next open even with
//!   `trade_on_close`), so a reversal exits and enters at the same price.
//!
//! # Invariants
//! - Per-bar cost is O(pending orders + open trades); closed trades are append-only.
//! - Cash and trade arithmetic follow the reference's operation order, so reference runs match
//!   to the last bit where the reference's own arithmetic allows.

pub mod fills;
mod sizing;

use fills::{BarFacts, FillOptions, FillState};

use crate::domain::{
    AccountSnapshot, OrderIntent, OrderSize, OrderStatus, OrderType, OrderUpdate, Position, Side,
    TimeInForce, TsMillis,
};

/// Where market orders fill. Spelt `next_open`/`close` everywhere; `next-open` is read too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillModel {
    /// At the open of the bar after the signal (the reference default).
    #[default]
    #[serde(alias = "next-open")]
    NextOpen,
    /// At the close of the signal bar.
    Close,
}

/// Commission charged on every fill: `fixed + |units|·price·pct + |units|·per_unit`.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Commission {
    /// Fraction of traded value (0.002 = 0.2 %).
    pub pct: f64,
    /// Per unit traded.
    pub per_unit: f64,
    /// Fixed amount per fill.
    pub fixed: f64,
}

impl Commission {
    /// The charge for trading `units` at `price`.
    pub fn charge(&self, units: f64, price: f64) -> f64 {
        // Operation order as the reference's `fixed + abs(size) * price * rate`.
        self.fixed + units.abs() * price * self.pct + units.abs() * self.per_unit
    }
}

/// Broker settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BrokerConfig {
    /// Starting cash.
    pub cash: f64,
    /// Commission model.
    pub commission: Commission,
    /// Slippage in basis points on market and stop fills.
    pub slippage_bps: f64,
    /// Market-order fill price.
    pub fill: FillModel,
    /// Allow fractional units (default: whole units, rounded down).
    pub fractional: bool,
}

/// A trade still open.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenTrade {
    /// Symbol index.
    pub symbol: u32,
    /// Signed units (negative = short).
    pub size: f64,
    /// Entry price (after slippage).
    pub entry_price: f64,
    /// Entry bar (index of the run's timestamp).
    pub entry_bar: usize,
    /// Entry time.
    pub entry_ts: TsMillis,
}

/// A finished round trip (read back by walk-forwards, which store each window's trades).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClosedTrade {
    /// Symbol index.
    pub symbol: u32,
    /// Entry bar index.
    pub entry_bar: usize,
    /// Exit bar index.
    pub exit_bar: usize,
    /// Entry time.
    pub entry_ts: TsMillis,
    /// Exit time.
    pub exit_ts: TsMillis,
    /// Signed units.
    pub size: f64,
    /// Entry price.
    pub entry_price: f64,
    /// Exit price.
    pub exit_price: f64,
    /// Profit after both commissions.
    pub pnl: f64,
    /// Entry plus exit commission.
    pub commission: f64,
    /// Return as a fraction of the entry value, net of commission.
    pub return_frac: f64,
}

/// What an order does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Place {
        size: OrderSize,
    },
    /// Close every open trade of the symbol.
    Close,
}

/// An order waiting for a bar.
#[derive(Debug, Clone)]
struct Pending {
    client_order_id: String,
    symbol: u32,
    symbol_name: String,
    side: Side,
    kind: Kind,
    tif: TimeInForce,
    limit: Option<f64>,
    /// Cleared once the stop has traded.
    stop: Option<f64>,
    tag: Option<String>,
    /// UTC day of the first bar the order could fill at (`day` orders expire after it).
    first_day: Option<i64>,
    /// Bars of its symbol it still waits before reaching the market (latency).
    delay: u32,
    /// Units filled so far (volume-share partial fills).
    filled: f64,
}

/// The bar an order is processed against.
#[derive(Debug, Clone, Copy)]
pub struct BarView {
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Bar time.
    pub ts: TsMillis,
    /// Index of this bar's timestamp in the run.
    pub bar: usize,
    /// Close of this symbol's previous bar (for [`FillModel::Close`]).
    pub prev_close: f64,
    /// Run index and time of this symbol's previous bar.
    pub prev_bar: usize,
    /// Time of this symbol's previous bar.
    pub prev_ts: TsMillis,
    /// Volume (for volume-share fills).
    pub volume: f64,
}

/// Why an intent was refused before it became an order.
pub type Rejection = String;

/// The simulated account.
#[derive(Debug)]
pub struct Broker {
    cfg: BrokerConfig,
    cash: f64,
    trades: Vec<OpenTrade>,
    closed: Vec<ClosedTrade>,
    orders: Vec<Pending>,
    next_id: u64,
    run_tag: String,
    fills: FillState,
}

impl Broker {
    /// A fresh account with the reference's fills.
    pub fn new(cfg: BrokerConfig, run_tag: &str) -> Broker {
        Broker::with_fills(cfg, FillOptions::default(), run_tag)
    }

    /// A fresh account with these fill models.
    pub fn with_fills(cfg: BrokerConfig, fills: FillOptions, run_tag: &str) -> Broker {
        Broker {
            cfg,
            cash: cfg.cash,
            trades: Vec::new(),
            closed: Vec::new(),
            orders: Vec::new(),
            next_id: 0,
            run_tag: run_tag.to_owned(),
            fills: FillState::new(fills),
        }
    }

    /// Cash balance.
    pub fn cash(&self) -> f64 {
        self.cash
    }

    /// Open trades, oldest first.
    pub fn open_trades(&self) -> &[OpenTrade] {
        &self.trades
    }

    /// Closed trades in closing order.
    pub fn closed_trades(&self) -> &[ClosedTrade] {
        &self.closed
    }

    /// Whether any order is waiting.
    pub fn has_pending(&self) -> bool {
        !self.orders.is_empty()
    }

    /// Cash plus open trades marked at `closes` (indexed by symbol).
    pub fn equity(&self, closes: &[f64]) -> f64 {
        let mut pl = 0.0;
        for t in &self.trades {
            pl += t.size * (closes[t.symbol as usize] - t.entry_price);
        }
        self.cash + pl
    }

    /// The account as a strategy is told it, marked at `closes` (`symbols` names the indices):
    /// one position per symbol, its trades' sizes summed at their average entry price. The
    /// backtest and the simulated exchange both tell this, so the two agree to the bit.
    pub fn snapshot(&self, closes: &[f64], symbols: &[String]) -> AccountSnapshot {
        let mut positions: Vec<Position> = Vec::new();
        for t in &self.trades {
            let name = symbols.get(t.symbol as usize).map_or("", String::as_str);
            match positions.iter_mut().find(|p| p.symbol == name) {
                Some(p) => {
                    let q = p.quantity + t.size;
                    p.avg_price = if q != 0.0 {
                        (p.avg_price * p.quantity + t.entry_price * t.size) / q
                    } else {
                        0.0
                    };
                    p.quantity = q;
                }
                None => positions.push(Position {
                    symbol: name.to_owned(),
                    quantity: t.size,
                    avg_price: t.entry_price,
                }),
            }
        }
        AccountSnapshot {
            cash: self.cash,
            equity: self.equity(closes),
            buying_power: self.margin_available(closes),
            positions,
        }
    }

    fn margin_available(&self, closes: &[f64]) -> f64 {
        let mut used = 0.0;
        for t in &self.trades {
            used += t.size.abs() * closes[t.symbol as usize];
        }
        (self.equity(closes) - used).max(0.0)
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}-{}", self.run_tag, self.next_id)
    }

    /// Turns a validated order intent into a pending order; returns its `Accepted` update, or a
    /// `Rejected` update saying why it cannot be an order.
    pub fn place(&mut self, symbol: u32, intent: &OrderIntent) -> OrderUpdate {
        let id = self.new_id();
        let mut update = OrderUpdate {
            client_order_id: id.clone(),
            symbol: intent.symbol.clone(),
            side: intent.side,
            status: OrderStatus::Accepted,
            fill_price: None,
            fill_quantity: 0.0,
            filled_quantity: 0.0,
            fees: 0.0,
            reason: None,
            tag: intent.tag.clone(),
        };
        if let Err(reason) = self.validate(intent) {
            update.status = OrderStatus::Rejected;
            update.reason = Some(reason);
            return update;
        }
        self.orders.push(Pending {
            client_order_id: id,
            symbol,
            symbol_name: intent.symbol.clone(),
            side: intent.side,
            kind: Kind::Place { size: intent.size },
            tif: intent.time_in_force,
            // The order type decides which prices apply; stray ones are ignored.
            limit: intent
                .limit_price
                .filter(|_| matches!(intent.order_type, OrderType::Limit | OrderType::StopLimit)),
            stop: intent
                .stop_price
                .filter(|_| matches!(intent.order_type, OrderType::Stop | OrderType::StopLimit)),
            tag: intent.tag.clone(),
            first_day: None,
            delay: self.latency(),
            filled: 0.0,
        });
        update
    }

    fn validate(&self, o: &OrderIntent) -> Result<(), Rejection> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        match o.size {
            OrderSize::Units(u) if !positive(u) => {
                return Err(format!("size {u} units must be a positive number"));
            }
            OrderSize::Units(u) if !self.cfg.fractional && u < 1.0 => {
                return Err(format!(
                    "size {u} units is below one whole unit (fractional units are off)"
                ));
            }
            OrderSize::Notional(n) if !positive(n) => {
                return Err(format!("notional {n} must be a positive number"));
            }
            OrderSize::EquityFraction(f) if !(positive(f) && f <= 1.0) => {
                return Err(format!("equity fraction {f} must be in (0, 1]"));
            }
            _ => {}
        }
        let needs_limit = matches!(o.order_type, OrderType::Limit | OrderType::StopLimit);
        let needs_stop = matches!(o.order_type, OrderType::Stop | OrderType::StopLimit);
        match (needs_limit, o.limit_price) {
            (true, None) => return Err("limit order without a limit price".to_owned()),
            (true, Some(p)) if !positive(p) => {
                return Err(format!("limit price {p} must be a positive number"));
            }
            _ => {}
        }
        match (needs_stop, o.stop_price) {
            (true, None) => return Err("stop order without a stop price".to_owned()),
            (true, Some(p)) if !positive(p) => {
                return Err(format!("stop price {p} must be a positive number"));
            }
            _ => {}
        }
        Ok(())
    }

    /// Queues a close of every open trade in `symbol` at the front of the queue. Returns `false`
    /// (and queues nothing) when there is no position.
    pub fn close_position(&mut self, symbol: u32, symbol_name: &str) -> bool {
        let Some(t) = self.trades.iter().find(|t| t.symbol == symbol) else {
            return false;
        };
        let side = if t.size > 0.0 { Side::Sell } else { Side::Buy };
        let id = self.new_id();
        self.orders.insert(
            0,
            Pending {
                client_order_id: id,
                symbol,
                symbol_name: symbol_name.to_owned(),
                side,
                kind: Kind::Close,
                tif: TimeInForce::Gtc,
                limit: None,
                stop: None,
                tag: None,
                first_day: None,
                delay: self.latency(),
                filled: 0.0,
            },
        );
        true
    }

    /// Queues closes of all open trades at the front of the queue (end-of-run finalisation).
    pub fn close_all(&mut self, names: &[String]) {
        let mut symbols: Vec<u32> = Vec::new();
        for t in &self.trades {
            if !symbols.contains(&t.symbol) {
                symbols.push(t.symbol);
            }
        }
        for &s in symbols.iter().rev() {
            self.close_position(s, &names[s as usize]);
        }
        // The end of the run closes on the last bar whatever the latency.
        self.orders.iter_mut().for_each(|o| o.delay = 0);
    }

    /// Cancels a pending order by id; returns its `Cancelled` update, if it was pending.
    pub fn cancel(&mut self, client_order_id: &str, reason: &str) -> Option<OrderUpdate> {
        let pos = self
            .orders
            .iter()
            .position(|o| o.client_order_id == client_order_id)?;
        let o = self.orders.remove(pos);
        Some(cancelled(&o, 0.0, reason.to_owned()))
    }

    /// Processes the pending orders of the symbols that have a bar now. `bars[s]` is `Some` for
    /// every symbol with a bar at this timestamp; `closes` are the latest closes of all symbols
    /// (this bar's where present). Updates are appended to `out`.
    pub fn process(
        &mut self,
        bars: &[Option<BarView>],
        closes: &[f64],
        out: &mut Vec<OrderUpdate>,
    ) {
        let mut i = 0;
        while i < self.orders.len() {
            let sym = self.orders[i].symbol as usize;
            let Some(b) = bars.get(sym).copied().flatten() else {
                i += 1;
                continue;
            };
            if self.orders[i].delay > 0 {
                self.orders[i].delay -= 1;
                i += 1;
                continue;
            }
            match self.try_fill(i, &b, closes) {
                Step::Keep => i += 1,
                Step::Partial(update) => {
                    out.push(update);
                    i += 1;
                }
                Step::Done(update) => {
                    self.orders.remove(i);
                    if let Some(u) = update {
                        out.push(u);
                    }
                }
                Step::Removed(update) => out.push(update),
            }
        }
    }

    fn try_fill(&mut self, i: usize, b: &BarView, closes: &[f64]) -> Step {
        let day = b.ts.div_euclid(86_400_000);
        let o = &mut self.orders[i];
        let first_bar = o.first_day.is_none();
        let first_day = *o.first_day.get_or_insert(day);
        if o.tif == TimeInForce::Day && day > first_day {
            return Step::Done(Some(cancelled(
                o,
                0.0,
                "day order expired unfilled".to_owned(),
            )));
        }
        let buy = o.side == Side::Buy;
        let slip = self.cfg.slippage_bps / 10_000.0;
        // Field access, not a method: `o` still borrows the queue.
        let half = self.fills.opts.spread_hl * (b.high - b.low);
        let slipped = |p: f64| {
            let p = if slip == 0.0 {
                p
            } else if buy {
                p * (1.0 + slip)
            } else {
                p * (1.0 - slip)
            };
            if half == 0.0 {
                p
            } else if buy {
                p + half
            } else {
                p - half
            }
        };
        let size = match o.kind {
            Kind::Close => None,
            Kind::Place { size, .. } => Some(size),
        };
        let ioc = matches!(o.tif, TimeInForce::Ioc | TimeInForce::Fok);
        let not_filled = |o: &Pending| {
            if ioc && first_bar {
                Step::Done(Some(cancelled(
                    o,
                    0.0,
                    "immediate-or-cancel order could not fill at its first bar".to_owned(),
                )))
            } else {
                Step::Keep
            }
        };
        let mut stop_hit_now = None;
        if let Some(stop) = o.stop {
            let hit = if buy { b.high >= stop } else { b.low <= stop };
            if !hit {
                return not_filled(o);
            }
            o.stop = None;
            stop_hit_now = Some(stop);
        }
        let on_close = self.cfg.fill == FillModel::Close;
        let (price, bar, ts) = if let Some(limit) = o.limit {
            let hit = if buy { b.low <= limit } else { b.high >= limit };
            let limit_before_stop =
                hit && stop_hit_now.is_some_and(|s| if buy { limit <= s } else { limit >= s });
            if !hit || limit_before_stop {
                return not_filled(o);
            }
            let reference = stop_hit_now.unwrap_or(b.open);
            (
                if buy {
                    reference.min(limit)
                } else {
                    reference.max(limit)
                },
                b.bar,
                b.ts,
            )
        } else if let Some(stop) = stop_hit_now {
            (
                slipped(if buy {
                    b.open.max(stop)
                } else {
                    b.open.min(stop)
                }),
                b.bar,
                b.ts,
            )
        } else if on_close {
            (slipped(b.prev_close), b.prev_bar, b.prev_ts)
        } else {
            (slipped(b.open), b.bar, b.ts)
        };
        if let Some(v) = self.fills.opts.volume_share {
            let facts = BarFacts {
                volume: b.volume,
                bar: b.bar,
            };
            return self.fill_share(i, v, price, (bar, ts), facts, closes);
        }
        let o = self.orders.remove(i);
        match size {
            None => Step::Removed(self.fill_close(&o, price, bar, ts)),
            Some(size) => Step::Removed(self.fill_place(&o, size, price, bar, ts, closes)),
        }
    }

    fn fill_close(&mut self, o: &Pending, price: f64, bar: usize, ts: TsMillis) -> OrderUpdate {
        let mut qty = 0.0;
        let mut fees = 0.0;
        let mut k = 0;
        while k < self.trades.len() {
            if self.trades[k].symbol == o.symbol {
                let t = self.trades.remove(k);
                qty += t.size.abs();
                fees += self.close_trade(t, price, bar, ts);
            } else {
                k += 1;
            }
        }
        if qty == 0.0 {
            return cancelled(o, 0.0, "no open position to close".to_owned());
        }
        filled(o, price, qty, fees)
    }

    /// Books the exit of `t`; returns the exit commission.
    fn close_trade(&mut self, t: OpenTrade, price: f64, bar: usize, ts: TsMillis) -> f64 {
        let exit_commission = self.fee(-t.size, price);
        self.cash += t.size * (price - t.entry_price) - exit_commission;
        let commission = exit_commission + self.fee(t.size, t.entry_price);
        let gross = t.size * (price - t.entry_price);
        let return_frac = 1f64.copysign(t.size) * (price / t.entry_price - 1.0)
            - commission / (t.size.abs() * t.entry_price);
        self.closed.push(ClosedTrade {
            symbol: t.symbol,
            entry_bar: t.entry_bar,
            exit_bar: bar,
            entry_ts: t.entry_ts,
            exit_ts: ts,
            size: t.size,
            entry_price: t.entry_price,
            exit_price: price,
            pnl: gross - commission,
            commission,
            return_frac,
        });
        exit_commission
    }

    fn fill_place(
        &mut self,
        o: &Pending,
        size: OrderSize,
        price: f64,
        bar: usize,
        ts: TsMillis,
        closes: &[f64],
    ) -> OrderUpdate {
        let c = self.cfg.commission;
        let dir = if o.side == Side::Buy { 1.0 } else { -1.0 };
        let units = match self.units_for(o, size, price, closes) {
            Ok(u) => u,
            Err(update) => return *update,
        };
        let mut need = dir * units;
        let mut fees = 0.0;
        let mut closed_qty = 0.0;
        // FIFO netting against opposite trades.
        let mut k = 0;
        while k < self.trades.len() && need != 0.0 {
            let t = &self.trades[k];
            if t.symbol != o.symbol || (t.size > 0.0) == (need > 0.0) {
                k += 1;
                continue;
            }
            if need.abs() >= t.size.abs() {
                let t = self.trades.remove(k);
                need += t.size;
                closed_qty += t.size.abs();
                fees += self.close_trade(t, price, bar, ts);
            } else {
                // Partial reduction: close a copy of the reduced part, keep the rest open.
                let part = OpenTrade {
                    size: -need,
                    ..self.trades[k].clone()
                };
                self.trades[k].size += need;
                closed_qty += need.abs();
                fees += self.close_trade(part, price, bar, ts);
                need = 0.0;
            }
        }
        let per_unit_cost = price + c.pct * price + c.per_unit;
        if need.abs() * per_unit_cost + if need != 0.0 { c.fixed } else { 0.0 }
            > self.margin_available(closes)
        {
            let budget = self.margin_available(closes);
            return cancelled(o, closed_qty, insufficient(need.abs(), price, budget));
        }
        if need != 0.0 {
            let entry_commission = self.fee(need, price);
            self.cash -= entry_commission;
            fees += entry_commission;
            self.trades.push(OpenTrade {
                symbol: o.symbol,
                size: need,
                entry_price: price,
                entry_bar: bar,
                entry_ts: ts,
            });
        }
        filled(o, price, closed_qty + need.abs(), fees)
    }

    /// Bankruptcy: closes every trade at its symbol's close, zeroes cash.
    pub fn liquidate(&mut self, closes: &[f64], bar: usize, ts: TsMillis) {
        for t in std::mem::take(&mut self.trades) {
            let price = closes[t.symbol as usize];
            self.close_trade(t, price, bar, ts);
        }
        self.cash = 0.0;
        self.orders.clear();
    }
}

enum Step {
    /// Still pending.
    Keep,
    /// Finished; remove it from the queue.
    Done(Option<OrderUpdate>),
    /// Finished and already removed from the queue.
    Removed(OrderUpdate),
    /// Partly filled; the rest stays at its place in the queue.
    Partial(OrderUpdate),
}

fn insufficient(units: f64, price: f64, budget: f64) -> String {
    format!("insufficient cash: {units} units at {price} need more than the {budget:.2} available")
}

fn filled(o: &Pending, price: f64, qty: f64, fees: f64) -> OrderUpdate {
    OrderUpdate {
        client_order_id: o.client_order_id.clone(),
        symbol: o.symbol_name.clone(),
        side: o.side,
        status: OrderStatus::Filled,
        fill_price: Some(price),
        fill_quantity: qty,
        filled_quantity: qty,
        fees,
        reason: None,
        tag: o.tag.clone(),
    }
}

fn cancelled(o: &Pending, filled_qty: f64, reason: String) -> OrderUpdate {
    OrderUpdate {
        client_order_id: o.client_order_id.clone(),
        symbol: o.symbol_name.clone(),
        side: o.side,
        status: OrderStatus::Cancelled,
        fill_price: None,
        fill_quantity: filled_qty,
        filled_quantity: filled_qty,
        fees: 0.0,
        reason: Some(reason),
        tag: o.tag.clone(),
    }
}
