//! The rules a run's risk keeps over time (daily loss, drawdown, cooldown: a [`RiskGuard`]),
//! fed by the runner before each bar: the run's equity marked at the bar's close, and the change
//! of its cash (realised profit and loss) as a closed trade. A rule that trips puts the run in
//! the state its limits say (reduce-only or halted) before the strategy sees the bar, so the
//! orders it answers with are checked in that state ("within one bar").
//!
//! # Invariants
//! - Time is the bar's, never the wall clock: a replay trips the same rule on the same bar.
//! - Nothing is read unless a rule over time is set: a run without them costs nothing here.
//! - The account is read through [`super::account::AccountSource::risk_figures`], which a replay's taped source
//!   does not answer (the guard then keeps its state), so the tape is never consumed for it.
//! - A cash drop between two bars counts as one losing trade (several closed in one bar count
//!   once); fees lower cash too, so they count as a loss when nothing else moved.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

use super::LiveRunner;
use crate::veda::risk::{Breach, GuardState, RiskGuard, RiskLimits, SessionClock};

/// Told after each bar's check: the rules that tripped on it (often none) and the guard's state
/// to keep (the runs layer stores it and turns breaches into events).
pub type GuardHook = dyn Fn(&[Breach], &GuardState) + Send + Sync;

/// A run's guard and what it compares between bars.
pub(super) struct Guarded {
    guard: RiskGuard,
    limits: RiskLimits,
    last_cash: Option<f64>,
    hook: Box<GuardHook>,
}

/// The session clock of a run on `symbols`: UTC for crypto pairs (`BTC/USD`), which trade around
/// the clock, else New York's day (US equities).
pub fn clock_of(symbols: &[String]) -> SessionClock {
    if !symbols.is_empty() && symbols.iter().all(|s| s.contains('/')) {
        SessionClock::Utc
    } else {
        SessionClock::NewYork
    }
}

impl LiveRunner {
    /// Keeps the rules over time of the run's limits, from `resumed` (a state stored before a
    /// restart) or fresh, telling `hook` after each bar.
    pub fn guarded(
        mut self,
        resumed: Option<GuardState>,
        hook: impl Fn(&[Breach], &GuardState) + Send + Sync + 'static,
    ) -> LiveRunner {
        let limits = self
            .limits
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let clock = clock_of(&self.symbols);
        let guard = match resumed {
            Some(state) => RiskGuard::resume(limits.clone(), clock, state),
            None => RiskGuard::new(limits.clone(), clock),
        };
        self.guard = Some(Guarded {
            guard,
            limits,
            last_cash: None,
            hook: Box::new(hook),
        });
        self
    }

    /// Feeds the guard the run's account at bar time `ts_ms` (see the module docs).
    pub(super) async fn watch_risk(&mut self, ts_ms: i64) {
        let limits = self
            .limits
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let Some(g) = self.guard.as_mut() else {
            return;
        };
        if limits != g.limits {
            g.guard.set_limits(limits.clone());
            g.limits = limits;
        }
        let l = &g.limits;
        if l.daily_loss_pct.is_none() && l.max_drawdown_pct.is_none() && l.cooldown.is_none() {
            return;
        }
        let Some(source) = self.account.clone() else {
            return;
        };
        let marks = self.marks();
        let account = match source.risk_figures(&marks).await {
            Ok(Some(a)) => a,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(run = %self.run_id, code = e.code(), "account unreadable; risk rules not fed this bar: {e}");
                return;
            }
        };
        let Some(g) = self.guard.as_mut() else {
            return;
        };
        let ts = DateTime::<Utc>::from_timestamp_millis(ts_ms).unwrap_or_default();
        let mut breaches = Vec::new();
        if let Some(prev) = g.last_cash.replace(account.cash)
            && account.cash != prev
            && let Some(pnl) = Decimal::from_f64(account.cash - prev)
        {
            breaches.extend(g.guard.on_trade_closed(ts, pnl));
        }
        if let Some(equity) = Decimal::from_f64(account.equity) {
            breaches.extend(g.guard.on_equity(ts, equity));
        }
        (g.hook)(&breaches, g.guard.snapshot());
    }

    /// The breach in force at bar time `ts_ms`, if any.
    pub(super) fn binding_breach(&self, ts_ms: i64) -> Option<Breach> {
        let ts = DateTime::<Utc>::from_timestamp_millis(ts_ms).unwrap_or_default();
        self.guard.as_ref()?.guard.binding(ts)
    }

    /// The run's own state set by hand ([`LiveRunner::set_guard_state`]).
    pub(super) fn own_state(&self) -> crate::veda::risk::TradingState {
        self.guard
            .as_ref()
            .map(|g| g.guard.snapshot().manual)
            .unwrap_or_default()
    }

    /// Sets the run's own state by hand (`PUT /runs/{id}/trading-state`): a manual `active`
    /// clears the breaches too.
    pub(super) fn set_guard_state(&mut self, state: crate::veda::risk::TradingState) {
        if let Some(g) = self.guard.as_mut() {
            g.guard.set_state(state);
            (g.hook)(&[], g.guard.snapshot());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crypto_pairs_use_utc_and_everything_else_new_york() {
        assert_eq!(
            clock_of(&["BTC/USD".into(), "ETH/USD".into()]),
            SessionClock::Utc
        );
        assert_eq!(clock_of(&["AAPL".into()]), SessionClock::NewYork);
        assert_eq!(
            clock_of(&["AAPL".into(), "BTC/USD".into()]),
            SessionClock::NewYork
        );
    }
}
