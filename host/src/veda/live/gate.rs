//! [`AccountGate`]: the risk limits and trading state of one venue account, shared by every run
//! trading on it. A run's order passes its own checks, then the account's, over what the broker
//! holds for all runs together: its positions, every working order on the account and its
//! equity. The rules over time (daily loss, drawdown) are fed the broker's equity by the runs
//! layer's account watch, not by a run.
//!
//! # Invariants
//! - An account is live: its time is the wall clock. Replays of a run never pass through a gate
//!   (they reproduce what the run decided, not what the account allowed).
//! - A refusal names the account ([`Violation::Account`]), so an `risk.OrderDenied` says whose
//!   limit it was.
//! - The same exemptions as a run's apply ([`check_order`]): a pure reduction is never stopped by
//!   a limit on activity or scope, nor by reduce-only; a halt stops everything.
//! - Cooldown is not an account rule (it counts one strategy's losing trades): a gate never
//!   holds one.

use std::sync::{Mutex, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::Side;
use crate::veda::risk::{
    Breach, Exposure, GuardState, RiskGuard, RiskLimits, SessionClock, TradingState, Violation,
    check_order,
};
use crate::veda::types::{OrderRequest, VenueOrder, VenuePosition};

/// What the broker holds for the whole account, as one answer's orders see it.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    /// The broker's positions.
    pub positions: Vec<VenuePosition>,
    /// Every working order on the account (all runs', and any other).
    pub open: Vec<VenueOrder>,
    /// The account's equity, when a limit needs it.
    pub equity: Option<Decimal>,
}

impl Holdings {
    fn position(&self, symbol: &str) -> Decimal {
        self.positions
            .iter()
            .find(|p| p.symbol == symbol)
            .map_or(Decimal::ZERO, |p| p.quantity)
    }

    fn working(&self, symbol: &str, side: Side) -> Decimal {
        self.open
            .iter()
            .filter(|o| o.symbol == symbol && o.side == side && !o.status.is_terminal())
            .filter_map(|o| o.quantity.map(|q| q - o.filled_quantity))
            .sum()
    }

    /// Σ over symbols of the worst case of position and working orders, at `price(symbol)`, the
    /// broker's current price or the position's entry price; a symbol with none of these is
    /// not counted.
    fn gross(&self, price: impl Fn(&str) -> Option<Decimal>) -> Decimal {
        let mut symbols: std::collections::BTreeSet<&str> =
            self.positions.iter().map(|p| p.symbol.as_str()).collect();
        symbols.extend(
            self.open
                .iter()
                .filter(|o| !o.status.is_terminal())
                .map(|o| o.symbol.as_str()),
        );
        symbols
            .into_iter()
            .filter_map(|symbol| {
                let held = self.positions.iter().find(|p| p.symbol == symbol);
                let p = price(symbol)
                    .or_else(|| held.and_then(|h| h.current_price))
                    .or_else(|| held.map(|h| h.avg_entry_price))?;
                let pos = self.position(symbol);
                let worst = (pos + self.working(symbol, Side::Buy))
                    .abs()
                    .max((pos - self.working(symbol, Side::Sell)).abs());
                Some(worst * p)
            })
            .sum()
    }
}

/// The limits and state of one venue account.
#[derive(Debug)]
pub struct AccountGate {
    id: String,
    limits: RwLock<RiskLimits>,
    guard: Mutex<RiskGuard>,
}

impl AccountGate {
    /// The gate of account `id` (`alpaca/<number>`) with `limits`, going on from `resumed` (the
    /// state stored before a restart) or fresh.
    pub fn new(
        id: impl Into<String>,
        limits: RiskLimits,
        clock: SessionClock,
        resumed: Option<GuardState>,
    ) -> AccountGate {
        let guard = match resumed {
            Some(state) => RiskGuard::resume(limits.clone(), clock, state),
            None => RiskGuard::new(limits.clone(), clock),
        };
        AccountGate {
            id: id.into(),
            limits: RwLock::new(limits),
            guard: Mutex::new(guard),
        }
    }

    /// The account's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its limits now.
    pub fn limits(&self) -> RiskLimits {
        self.limits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets its limits (checked by the caller); the next order and the next equity use them.
    pub fn set_limits(&self, limits: RiskLimits) {
        self.guard_mut().set_limits(limits.clone());
        *self.limits.write().unwrap_or_else(PoisonError::into_inner) = limits;
    }

    fn guard_mut(&self) -> std::sync::MutexGuard<'_, RiskGuard> {
        self.guard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What its rules over time remember (to store and show).
    pub fn guard_state(&self) -> GuardState {
        self.guard_mut().snapshot().clone()
    }

    /// Its state in force at `ts`: the one set by hand, made stricter by a breach that holds.
    pub fn state_at(&self, ts: DateTime<Utc>) -> TradingState {
        let g = self.guard_mut();
        g.snapshot().manual.stricter(g.state(ts))
    }

    /// Sets its state by hand; a manual `active` clears its breaches too.
    pub fn set_state(&self, state: TradingState) {
        self.guard_mut().set_state(state);
    }

    /// Feeds the broker's equity at `ts`; the rules that tripped on it.
    pub fn on_equity(&self, ts: DateTime<Utc>, equity: Decimal) -> Vec<Breach> {
        self.guard_mut().on_equity(ts, equity)
    }

    /// Counts an order sent on the account (for `max_orders_per_minute`).
    pub fn on_order_placed(&self, ts: DateTime<Utc>) {
        self.guard_mut().on_order_placed(ts);
    }

    /// Checks `order` against the account's limits and state over `held`; `reference_price` is
    /// the placing run's latest close of the symbol. `closing` (a close by hand or a flatten)
    /// eases a halt to reduce-only: getting out is always allowed.
    ///
    /// # Errors
    /// The refusal, as [`Violation::Account`].
    pub fn check(
        &self,
        order: &OrderRequest,
        held: &Holdings,
        reference_price: Option<Decimal>,
        ts: DateTime<Utc>,
        closing: bool,
    ) -> Result<(), Violation> {
        let limits = self.limits();
        let (mut state, mut breach, orders_last_minute) = {
            let g = self.guard_mut();
            (g.snapshot().manual, g.binding(ts), g.orders_last_minute(ts))
        };
        if closing {
            let ease = |s: TradingState| match s {
                TradingState::Halted => TradingState::ReduceOnly,
                other => other,
            };
            state = ease(state);
            if let Some(b) = breach.as_mut() {
                b.state = ease(b.state);
            }
        }
        let exposure = Exposure {
            state,
            breach,
            reference_price,
            position: held.position(&order.symbol),
            open_buy_quantity: held.working(&order.symbol, Side::Buy),
            open_sell_quantity: held.working(&order.symbol, Side::Sell),
            open_orders: held.open.iter().filter(|o| !o.status.is_terminal()).count(),
            equity: held.equity,
            gross_exposure: held
                .gross(|s| (s == order.symbol).then_some(reference_price).flatten()),
            orders_last_minute,
        };
        check_order(order, &limits, &exposure).map_err(|v| v.for_account(&self.id))
    }

    /// Whether a check needs the account's equity (a limit on a share of it).
    pub fn wants_equity(&self) -> bool {
        self.limits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .max_order_equity_pct
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderType, TimeInForce};
    use crate::veda::types::{OrderQuantity, VenueOrderStatus};

    fn buy(symbol: &str, qty: i64) -> OrderRequest {
        OrderRequest {
            client_order_id: "c".into(),
            symbol: symbol.into(),
            side: Side::Buy,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Day,
            quantity: OrderQuantity::Units(Decimal::from(qty)),
            limit_price: None,
            stop_price: None,
            extended_hours: false,
        }
    }

    fn held(symbol: &str, qty: i64) -> VenuePosition {
        VenuePosition {
            symbol: symbol.into(),
            quantity: Decimal::from(qty),
            avg_entry_price: Decimal::from(100),
            market_value: None,
            current_price: Some(Decimal::from(100)),
            asset_class: None,
        }
    }

    fn working(symbol: &str, side: Side, qty: i64) -> VenueOrder {
        VenueOrder {
            id: "v".into(),
            client_order_id: "other-run".into(),
            symbol: symbol.into(),
            side,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Day,
            quantity: Some(Decimal::from(qty)),
            notional: None,
            filled_quantity: Decimal::ZERO,
            filled_avg_price: None,
            limit_price: None,
            stop_price: None,
            status: VenueOrderStatus::New,
            created_at: None,
            updated_at: None,
            submitted_at: None,
            filled_at: None,
            replaced_by: None,
            replaces: None,
        }
    }

    fn gate(limits: RiskLimits) -> AccountGate {
        AccountGate::new("alpaca/PA1", limits, SessionClock::NewYork, None)
    }

    #[test]
    fn the_account_position_counts_every_runs_holding_and_working_orders() {
        let g = gate(RiskLimits {
            max_position_per_symbol: Some(Decimal::from(10)),
            ..RiskLimits::default()
        });
        let now = Utc::now();
        let price = Some(Decimal::from(100));
        // 6 held (another run's) + 3 working: 2 more would make 11 at the account.
        let h = Holdings {
            positions: vec![held("AAPL", 6)],
            open: vec![working("AAPL", Side::Buy, 3)],
            equity: None,
        };
        let v = g.check(&buy("AAPL", 2), &h, price, now, false).unwrap_err();
        assert_eq!(v.account(), Some("alpaca/PA1"));
        assert_eq!(v.rule(), "max_position_per_symbol");
        assert!(v.to_string().starts_with("account alpaca/PA1: "), "{v}");
        g.check(&buy("AAPL", 1), &h, price, now, false)
            .expect("10 in all is within the limit");
        // Another symbol is its own.
        g.check(&buy("MSFT", 9), &h, price, now, false)
            .expect("MSFT holds nothing");
    }

    #[test]
    fn a_halted_account_refuses_and_active_clears_it() {
        let g = gate(RiskLimits::default());
        let (now, price, h) = (Utc::now(), Some(Decimal::from(100)), Holdings::default());
        g.set_state(TradingState::Halted);
        assert_eq!(g.state_at(now), TradingState::Halted);
        let v = g.check(&buy("AAPL", 1), &h, price, now, false).unwrap_err();
        assert_eq!(
            (v.code(), v.account()),
            ("trading_halted", Some("alpaca/PA1"))
        );
        g.set_state(TradingState::Active);
        g.check(&buy("AAPL", 1), &h, price, now, false)
            .expect("active again");
    }

    #[test]
    fn a_daily_loss_of_the_account_trips_on_the_brokers_equity() {
        let g = gate(RiskLimits {
            daily_loss_pct: Some(Decimal::from(5)),
            ..RiskLimits::default()
        });
        let t0 = DateTime::parse_from_rfc3339("2026-12-01T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(g.on_equity(t0, Decimal::from(100_000)).is_empty());
        let tripped = g.on_equity(t0 + chrono::Duration::minutes(5), Decimal::from(94_000));
        assert_eq!(tripped.len(), 1, "6% down against a 5% limit");
        let later = t0 + chrono::Duration::minutes(6);
        assert_ne!(g.state_at(later), TradingState::Active);
        let v = g
            .check(
                &buy("AAPL", 1),
                &Holdings::default(),
                Some(Decimal::ONE),
                later,
                false,
            )
            .unwrap_err();
        assert_eq!(v.rule(), "daily_loss_pct");
    }

    #[test]
    fn orders_per_minute_count_across_runs() {
        let g = gate(RiskLimits {
            max_orders_per_minute: Some(2),
            ..RiskLimits::default()
        });
        let now = Utc::now();
        g.on_order_placed(now);
        g.on_order_placed(now);
        let v = g
            .check(
                &buy("AAPL", 1),
                &Holdings::default(),
                Some(Decimal::ONE),
                now,
                false,
            )
            .unwrap_err();
        assert_eq!(v.rule(), "max_orders_per_minute");
    }
}
