//! Risk rules: the last gate before an order reaches a venue, and the account-level rules that
//! decide whether a scope (a run, or an account) may trade at all.
//!
//! - [`limits`]: [`RiskLimits`], the `risk` JSON object of a run, its validation and its patches.
//! - [`check`]: [`check_order`], pure per-order checks over the order, the limits and an
//!   [`Exposure`] snapshot, with [`scope`] for the limits on activity and scope; refusals are
//!   [`Violation`]s ([`violation`]) carrying the rule, figure and limit.
//! - [`guard`]: [`RiskGuard`], the stateful rules of one scope (daily loss, drawdown, cooldown
//!   after losing trades, order rate), driven by event times only.
//! - Here: [`TradingState`] and the [`TradingSwitch`] the API sets.
//!
//! # Invariants
//! - Fail closed: when a check needs a price or the equity and none is known, the order is refused.
//! - [`TradingState::Halted`] refuses everything; [`TradingState::ReduceOnly`] accepts only orders
//!   that shrink the absolute position without flipping it, counting orders already working.
//! - Position, gross-exposure and open-order checks count working orders in the worst case (all of
//!   them fill).
//! - A pure reduction (an order that, with the working orders on its side, shrinks the position
//!   without flipping it) is never stopped by a limit on activity or scope: `allowed_symbols`,
//!   `max_orders_per_minute`, `max_open_orders`, `max_gross_exposure`, `max_order_equity_pct`,
//!   `max_position_per_symbol`, and a reduce-only state (manual, a breach's or a cooldown's).
//!   Someone flattening in a hurry, or unwinding a symbol since removed from the list, must get
//!   out; and a reduction's total is bounded by the position, so exempting it cannot run away.
//!   Limits on the order itself (sanity, `max_order_quantity`, `max_notional_per_order`,
//!   `max_price_deviation`) and a halt still apply: they are fat-finger guards, and a halt means
//!   nothing goes out.
//! - Nothing here reads the wall clock: every time is the event's, so backtests and replays
//!   decide exactly as live runs did.

pub mod check;
pub mod guard;
pub mod limits;
pub mod scope;
pub mod violation;

pub use check::{Exposure, check_order};
pub use guard::{Breach, GuardState, RiskGuard, RiskRule, SessionClock, session_start};
pub use limits::{
    BreachAction, Cooldown, LimitError, RiskLimits, RiskLimitsPatch, defaults_from_env,
};
pub use violation::Violation;

use serde::{Deserialize, Serialize};

/// Whether orders may be placed; set through the API (GLaDOS) per venue or run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradingState {
    /// Orders are accepted.
    #[default]
    Active,
    /// Only orders that reduce an existing position are accepted.
    ReduceOnly,
    /// No orders are accepted.
    Halted,
}

impl TradingState {
    fn severity(self) -> u8 {
        match self {
            TradingState::Active => 0,
            TradingState::ReduceOnly => 1,
            TradingState::Halted => 2,
        }
    }

    /// The stricter of two states.
    pub fn stricter(self, other: TradingState) -> TradingState {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// The state's wire name (`active`, `reduce_only`, `halted`).
    pub fn as_str(self) -> &'static str {
        match self {
            TradingState::Active => "active",
            TradingState::ReduceOnly => "reduce_only",
            TradingState::Halted => "halted",
        }
    }
}

impl std::fmt::Display for TradingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The trading states the API sets: one global switch plus per-run overrides. A run's effective
/// state is the stricter of the two, so halting globally halts every run whatever its own state.
#[derive(Debug, Default)]
pub struct TradingSwitch {
    global: std::sync::RwLock<TradingState>,
    runs: std::sync::RwLock<std::collections::HashMap<String, TradingState>>,
}

impl TradingSwitch {
    /// A switch with everything active.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the global state.
    pub fn set_global(&self, state: TradingState) {
        // A poisoned lock still holds a valid state (a plain value).
        *self
            .global
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = state;
    }

    /// Sets one run's own state (nothing in the API sets one yet; the checks already honour it).
    #[cfg(test)]
    fn set_run(&self, run_id: &str, state: TradingState) {
        self.runs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(run_id.to_owned(), state);
    }

    /// The global state.
    pub fn global(&self) -> TradingState {
        *self
            .global
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state in force for a run.
    pub fn effective(&self, run_id: &str) -> TradingState {
        let own = self
            .runs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(run_id)
            .copied()
            .unwrap_or_default();
        self.global().stricter(own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_applies_the_stricter_state() {
        let switch = TradingSwitch::new();
        assert_eq!(switch.effective("r1"), TradingState::Active);
        switch.set_run("r1", TradingState::ReduceOnly);
        assert_eq!(switch.effective("r1"), TradingState::ReduceOnly);
        assert_eq!(switch.effective("r2"), TradingState::Active);
        switch.set_global(TradingState::Halted);
        assert_eq!(switch.effective("r1"), TradingState::Halted);
        assert_eq!(switch.effective("r2"), TradingState::Halted);
        switch.set_global(TradingState::Active);
        assert_eq!(switch.effective("r1"), TradingState::ReduceOnly);
    }

    #[test]
    fn states_have_wire_names() {
        for state in [
            TradingState::Active,
            TradingState::ReduceOnly,
            TradingState::Halted,
        ] {
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::Value::from(state.as_str())
            );
            assert_eq!(state.to_string(), state.as_str());
        }
    }
}
