//! A run's account: cash, average-cost positions marked at their last price, profit and loss.
//! On the simulated exchange it is read from the run's own venue; on a shared live venue it is
//! what the run's own recorded fills add up to ([`AccountState::from_orders`]). What the run's
//! strategy is told of it ([`crate::domain::AccountSnapshot`]) comes from the simulated
//! exchange itself on `sim` ([`crate::veda::sim::SimVenue`] is an
//! [`AccountSource`]) and from [`DeskAccount`] on a shared venue.
//!
//! # Invariants
//! - `equity = cash + Σ qty × last_price` and `pnl.total = pnl.realized + pnl.unrealized`.
//! - Positions are average-cost: adding to a position moves its average, reducing it realises
//!   `closed × (price − avg)`, crossing zero opens the rest at the fill price.
//! - The serialised form is stored as the run's snapshot: renaming a field breaks old rows.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use crate::domain::{AccountSnapshot, Side};
use crate::veda::Venue;
use crate::veda::live::account::AccountSource;
use crate::veda::sim::SimVenue;
use crate::veda::types::TradeUpdate;
use crate::walle::{Order, Walle};

/// Profit and loss of a paper account (currency units).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pnl {
    /// From closed quantities (average-cost), after fees.
    pub realized: f64,
    /// Open positions marked at their last price.
    pub unrealized: f64,
    /// `realized + unrealized` (= equity − starting cash).
    pub total: f64,
}

/// An open position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
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

/// A run's account: what the API shows and the snapshot WallE keeps (its JSON is stored:
/// field names are a contract).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    /// Starting cash.
    pub starting_cash: f64,
    /// Cash now.
    pub cash: f64,
    /// Cash plus positions at their last price.
    pub equity: f64,
    /// Profit and loss.
    pub pnl: Pnl,
    /// Open positions.
    pub positions: Vec<Position>,
    /// The latest fill.
    pub last_trade: Option<Trade>,
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
        let mut last: Option<Trade> = None;
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
                last = Some(Trade {
                    symbol: o.symbol.clone(),
                    side: side_text(o.side),
                    qty,
                    price,
                    ts,
                });
            }
        }
        let positions: Vec<Position> = book
            .into_iter()
            .filter(|(_, (q, _, _))| q.abs() > 1e-12)
            .map(|(symbol, (qty, avg_price, last_price))| Position {
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
            pnl: Pnl {
                realized,
                unrealized,
                total: realized + unrealized,
            },
            positions,
            last_trade: last,
        }
    }
}

impl AccountState {
    /// The account as the strategy is told it (the domain's definition: positions on margin,
    /// so cash is the starting cash plus realised profit and loss), positions marked at
    /// `marks` where given, at their last fill price otherwise.
    pub fn strategy_snapshot(&self, marks: &[(String, f64)]) -> AccountSnapshot {
        let cash = self.starting_cash + self.pnl.realized;
        let (mut open, mut gross) = (0.0, 0.0);
        let positions = self
            .positions
            .iter()
            .map(|p| {
                let mark = marks
                    .iter()
                    .find(|(s, _)| *s == p.symbol)
                    .map_or(p.last_price, |(_, c)| *c);
                open += p.qty * (mark - p.avg_price);
                gross += p.qty.abs() * mark;
                crate::domain::Position {
                    symbol: p.symbol.clone(),
                    quantity: p.qty,
                    avg_price: p.avg_price,
                }
            })
            .collect();
        let equity = cash + open;
        AccountSnapshot {
            cash,
            equity,
            buying_power: (equity - gross).max(0.0),
            positions,
        }
    }
}

/// The account a run on a shared live venue tells its strategy: its stored orders' fills over
/// its baseline ([`AccountState::from_orders`], as the API shows it), with the fills the runner
/// has just seen laid over them — the desk records updates beside the runner, so the store may
/// not hold the fill a snapshot follows yet.
pub(crate) struct DeskAccount {
    walle: Walle,
    run_id: i64,
    starting_cash: f64,
    /// client_order_id → (filled quantity, average fill price) as the latest update said.
    seen: Mutex<HashMap<String, (Decimal, Option<Decimal>)>>,
}

impl DeskAccount {
    pub(crate) fn new(walle: Walle, run_id: i64, starting_cash: f64) -> DeskAccount {
        DeskAccount {
            walle,
            run_id,
            starting_cash,
            seen: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl AccountSource for DeskAccount {
    fn observe(&self, update: &TradeUpdate) {
        let o = &update.order;
        if o.filled_quantity > Decimal::ZERO {
            self.seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(
                    o.client_order_id.clone(),
                    (o.filled_quantity, o.filled_avg_price),
                );
        }
    }

    async fn snapshot(&self, marks: &[(String, f64)]) -> crate::veda::Result<AccountSnapshot> {
        let mut orders = super::start::run_orders(&self.walle, self.run_id)
            .await
            .map_err(|e| crate::veda::Error::Journal(format!("run orders unreadable: {e}")))?;
        {
            let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            for o in &mut orders {
                if let Some((qty, avg)) = seen.get(&o.client_order_id)
                    && *qty > o.filled_quantity
                {
                    o.filled_quantity = *qty;
                    o.average_price = avg.or(o.average_price);
                }
            }
        }
        Ok(AccountState::from_orders(self.starting_cash, &orders).strategy_snapshot(marks))
    }

    async fn risk_figures(
        &self,
        marks: &[(String, f64)],
    ) -> crate::veda::Result<Option<AccountSnapshot>> {
        self.snapshot(marks).await.map(Some)
    }

    async fn own_share(
        &self,
        marks: &[(String, f64)],
    ) -> crate::veda::Result<Option<AccountSnapshot>> {
        self.snapshot(marks).await.map(Some)
    }
}

pub(crate) fn side_text(s: Side) -> String {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
    .to_owned()
}

/// The account of a run on the simulated exchange, now.
pub(crate) async fn account_of(
    sim: &SimVenue,
    starting_cash: f64,
    last: Option<Trade>,
) -> AccountState {
    let f = |d: rust_decimal::Decimal| d.to_f64().unwrap_or(0.0);
    let (Ok(account), Ok(positions)) = (sim.account().await, sim.positions().await) else {
        return AccountState::untouched(starting_cash);
    };
    let positions: Vec<Position> = positions
        .into_iter()
        .map(|p| {
            let qty = f(p.quantity);
            let avg_price = f(p.avg_entry_price);
            let last_price = p.current_price.map_or(avg_price, f);
            Position {
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
        pnl: Pnl {
            realized: total - unrealized,
            unrealized,
            total,
        },
        positions,
        last_trade: last,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderType, TimeInForce};
    use crate::walle::OrderState;
    use rust_decimal::Decimal;

    fn fill(id: i64, side: Side, qty: i64, price: i64) -> Order {
        let at = DateTime::from_timestamp(1_700_000_000 + id, 0).unwrap();
        Order {
            id,
            client_order_id: format!("c{id}"),
            exchange_order_id: None,
            run_id: Some(1),
            symbol: "ACME".into(),
            side,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Day,
            quantity: Some(Decimal::from(qty)),
            notional: None,
            limit_price: None,
            stop_price: None,
            status: OrderState::Filled,
            filled_quantity: Decimal::from(qty),
            average_price: Some(Decimal::from(price)),
            submitted_at: Some(at),
            filled_at: Some(at),
            canceled_at: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn average_cost_positions_and_pnl_from_fills() {
        // Buy 10 @ 100, buy 10 @ 110 (avg 105), sell 5 @ 120 (realise 5 × 15 = 75).
        let orders = [
            fill(1, Side::Buy, 10, 100),
            fill(2, Side::Buy, 10, 110),
            fill(3, Side::Sell, 5, 120),
        ];
        let a = AccountState::from_orders(10_000.0, &orders);
        assert_eq!(a.cash, 10_000.0 - 1000.0 - 1100.0 + 600.0);
        assert_eq!(a.positions.len(), 1);
        let p = &a.positions[0];
        assert_eq!((p.qty, p.avg_price, p.last_price), (15.0, 105.0, 120.0));
        assert_eq!(a.pnl.realized, 75.0);
        assert_eq!(a.pnl.unrealized, 15.0 * 15.0);
        assert_eq!(a.pnl.total, a.pnl.realized + a.pnl.unrealized);
        assert_eq!(a.equity, a.cash + 15.0 * 120.0);
        assert_eq!(a.equity - a.starting_cash, a.pnl.total);
        let last = a.last_trade.expect("a last trade");
        assert_eq!(
            (last.side.as_str(), last.qty, last.price),
            ("sell", 5.0, 120.0)
        );
    }

    #[test]
    fn the_strategy_is_told_the_account_on_margin_marked_at_the_latest_closes() {
        // Buy 10 @ 100, sell 5 @ 120: realised 100, 5 left at avg 100, marked at 130.
        let orders = [fill(1, Side::Buy, 10, 100), fill(2, Side::Sell, 5, 120)];
        let a = AccountState::from_orders(10_000.0, &orders);
        let s = a.strategy_snapshot(&[("ACME".into(), 130.0)]);
        assert_eq!(s.cash, 10_100.0, "starting cash plus realised PnL");
        assert_eq!(s.equity, 10_100.0 + 5.0 * 30.0);
        assert_eq!(s.buying_power, s.equity - 5.0 * 130.0);
        assert_eq!(s.positions.len(), 1);
        assert_eq!(
            (s.positions[0].quantity, s.positions[0].avg_price),
            (5.0, 100.0)
        );
        // Without a mark, positions are marked at their last fill (as the API shows them).
        assert_eq!(a.strategy_snapshot(&[]).equity, a.equity);
    }

    #[test]
    fn crossing_zero_opens_the_rest_at_the_fill_price() {
        let orders = [fill(1, Side::Buy, 10, 100), fill(2, Side::Sell, 15, 90)];
        let a = AccountState::from_orders(1_000.0, &orders);
        let p = &a.positions[0];
        assert_eq!((p.qty, p.avg_price), (-5.0, 90.0));
        assert_eq!(a.pnl.realized, -100.0);
        // Flat again: no position left, nothing unrealised.
        let flat = AccountState::from_orders(
            1_000.0,
            &[fill(1, Side::Buy, 10, 100), fill(2, Side::Sell, 10, 100)],
        );
        assert!(flat.positions.is_empty());
        assert_eq!(flat.equity, 1_000.0);
        assert_eq!(AccountState::untouched(5.0).equity, 5.0);
    }
}
