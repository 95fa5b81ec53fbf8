//! [`RiskGuard`]: the stateful rules of one scope (a run, or an account). It follows the equity,
//! the closed trades and the placed orders, trips the daily-loss, drawdown and cooldown rules, and
//! says which [`TradingState`] they leave the scope in.
//!
//! # Invariants
//! - Deterministic: every method takes the event time; nothing reads the wall clock, so a
//!   backtest or a replay trips exactly where the live run did.
//! - A breach is reported once, on the transition; later events while it holds report nothing.
//! - A daily-loss breach clears at the next session start only when `reset_next_session` is set;
//!   a drawdown breach never clears by itself. Only a manual `active` ([`RiskGuard::set_state`])
//!   or turning the rule off ([`RiskGuard::set_limits`]) clears a breach.
//! - A manual `active` re-bases the peak and the session-start equity on the last equity seen:
//!   the operator has accepted the loss so far, and the rules guard what follows (otherwise the
//!   next equity would trip them again at once).
//! - Memory is bounded: losing trades are kept for one window at most, placed orders for 60 s and
//!   at most [`ORDER_MEMORY`] (or the configured rate, if higher).
//! - [`GuardState`] is everything the guard remembers; storing it and calling
//!   [`RiskGuard::resume`] continues exactly where the guard was.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, LocalResult, NaiveTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::TradingState;
use super::limits::RiskLimits;
use super::violation::pct_ceil;

/// Placed orders remembered for the rate limit when no higher limit is configured.
pub const ORDER_MEMORY: usize = 1024;

/// Where a trading day starts, for the daily-loss rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionClock {
    /// Midnight UTC (crypto, which trades around the clock).
    #[default]
    Utc,
    /// Midnight in America/New_York, daylight saving included (US equities).
    NewYork,
}

/// The start of the session `ts` falls in.
pub fn session_start(ts: DateTime<Utc>, clock: SessionClock) -> DateTime<Utc> {
    match clock {
        SessionClock::Utc => ts.date_naive().and_time(NaiveTime::MIN).and_utc(),
        SessionClock::NewYork => {
            let tz = chrono_tz::America::New_York;
            let midnight = ts.with_timezone(&tz).date_naive().and_time(NaiveTime::MIN);
            match tz.from_local_datetime(&midnight) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
                // New York changes its clocks at 02:00, so midnight always exists; were it
                // skipped, the day would start when the gap ends, within the hour.
                LocalResult::None => tz
                    .from_local_datetime(&(midnight + Duration::hours(1)))
                    .earliest()
                    .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc)),
            }
        }
    }
}

/// A rule of the guard, named by its key in the `risk` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RiskRule {
    /// `daily_loss_pct`.
    #[serde(rename = "daily_loss_pct")]
    DailyLoss,
    /// `max_drawdown_pct`.
    #[serde(rename = "max_drawdown_pct")]
    Drawdown,
    /// `cooldown`.
    #[serde(rename = "cooldown")]
    Cooldown,
}

impl RiskRule {
    /// The key in the `risk` object.
    pub fn key(self) -> &'static str {
        match self {
            RiskRule::DailyLoss => "daily_loss_pct",
            RiskRule::Drawdown => "max_drawdown_pct",
            RiskRule::Cooldown => "cooldown",
        }
    }
}

/// A rule tripping: what it measured, against which limit, and the state it put the scope in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    /// The rule.
    pub rule: RiskRule,
    /// The loss or drawdown in percent (rounded up to 4 places), or the losing trades counted.
    pub figure: Decimal,
    /// The configured limit, in the same unit.
    pub limit: Decimal,
    /// The state the scope is in while the breach holds.
    pub state: TradingState,
    /// When it tripped.
    pub ts: DateTime<Utc>,
    /// When it ends by itself (a cooldown); `None` until cleared.
    pub until: Option<DateTime<Utc>>,
}

/// Everything a [`RiskGuard`] remembers; store it to resume the guard after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GuardState {
    /// Highest equity seen (re-based by a manual `active`).
    pub peak_equity: Option<Decimal>,
    /// Last equity seen.
    pub last_equity: Option<Decimal>,
    /// Start of the current session.
    pub session_start: Option<DateTime<Utc>>,
    /// First equity seen in the current session.
    pub session_equity: Option<Decimal>,
    /// The daily-loss breach, while it holds.
    pub daily_loss: Option<Breach>,
    /// The drawdown breach, while it holds.
    pub drawdown: Option<Breach>,
    /// The last cooldown started (in force until its `until`).
    pub cooldown: Option<Breach>,
    /// Times of the losing trades counted towards the next cooldown, oldest first.
    pub losses: VecDeque<DateTime<Utc>>,
    /// Times of the orders placed in the last 60 s, oldest first.
    pub orders: VecDeque<DateTime<Utc>>,
    /// The state set by hand ([`RiskGuard::set_state`]).
    pub manual: TradingState,
}

/// The stateful risk rules of one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskGuard {
    limits: RiskLimits,
    clock: SessionClock,
    state: GuardState,
}

impl RiskGuard {
    /// A guard that has seen nothing yet.
    pub fn new(limits: RiskLimits, clock: SessionClock) -> Self {
        Self::resume(limits, clock, GuardState::default())
    }

    /// A guard continuing from a stored [`GuardState`].
    pub fn resume(limits: RiskLimits, clock: SessionClock, state: GuardState) -> Self {
        Self {
            limits,
            clock,
            state,
        }
    }

    /// What the guard remembers, to store.
    pub fn snapshot(&self) -> &GuardState {
        &self.state
    }

    /// The limits in force.
    pub fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    /// The session clock.
    pub fn clock(&self) -> SessionClock {
        self.clock
    }

    /// Replaces the limits, keeping what the guard has seen. A breach whose rule is now off
    /// clears (the operator has removed the rule); one whose rule stays on keeps holding, in the
    /// state its possibly new action says.
    pub fn set_limits(&mut self, limits: RiskLimits) {
        let s = &mut self.state;
        match limits.daily_loss_pct {
            None => s.daily_loss = None,
            Some(_) => {
                if let Some(b) = &mut s.daily_loss {
                    b.state = limits.daily_loss_action.state();
                }
            }
        }
        match limits.max_drawdown_pct {
            None => s.drawdown = None,
            Some(_) => {
                if let Some(b) = &mut s.drawdown {
                    b.state = limits.drawdown_action.state();
                }
            }
        }
        if limits.cooldown.is_none() {
            s.cooldown = None;
            s.losses.clear();
        }
        self.limits = limits;
    }

    /// Sets the state by hand. `active` also clears every breach, the cooldown and the losing
    /// streak, and re-bases the peak and session-start equity on the last equity seen.
    pub fn set_state(&mut self, state: TradingState) {
        let s = &mut self.state;
        s.manual = state;
        if state == TradingState::Active {
            s.daily_loss = None;
            s.drawdown = None;
            s.cooldown = None;
            s.losses.clear();
            if let Some(equity) = s.last_equity {
                s.peak_equity = Some(equity);
                s.session_equity = Some(equity);
            }
        }
    }

    /// Follows the equity: the session start, the peak, and the daily-loss and drawdown rules.
    /// Returns the breaches this equity trips (none while they already hold).
    pub fn on_equity(&mut self, ts: DateTime<Utc>, equity: Decimal) -> Vec<Breach> {
        let session = session_start(ts, self.clock);
        let s = &mut self.state;
        if s.session_start.is_none_or(|current| session > current) {
            s.session_start = Some(session);
            // The equity at the session's start is the last one seen before it (the previous
            // close): a bar that opens the session with a gap already counts its loss. Only
            // the very first equity starts from itself.
            s.session_equity = Some(s.last_equity.unwrap_or(equity));
            if self.limits.reset_next_session {
                s.daily_loss = None;
            }
        }
        s.last_equity = Some(equity);
        let peak = s.peak_equity.map_or(equity, |p| p.max(equity));
        s.peak_equity = Some(peak);

        let mut tripped = Vec::new();
        if let (Some(limit), Some(start), None) =
            (self.limits.daily_loss_pct, s.session_equity, s.daily_loss)
            && let Some(figure) = fall(start, equity, limit)
        {
            let b = Breach {
                rule: RiskRule::DailyLoss,
                figure,
                limit,
                state: self.limits.daily_loss_action.state(),
                ts,
                until: None,
            };
            s.daily_loss = Some(b);
            tripped.push(b);
        }
        if let (Some(limit), None) = (self.limits.max_drawdown_pct, s.drawdown)
            && let Some(figure) = fall(peak, equity, limit)
        {
            let b = Breach {
                rule: RiskRule::Drawdown,
                figure,
                limit,
                state: self.limits.drawdown_action.state(),
                ts,
                until: None,
            };
            s.drawdown = Some(b);
            tripped.push(b);
        }
        tripped
    }

    /// Counts a closed trade towards the cooldown: reaching `losing_trades` losses within
    /// `window_minutes` starts a pause of `pause_minutes`, reduce-only. Losses during a pause are
    /// not counted (they are mostly the unwinding the pause allows), and a pause starts the count
    /// afresh.
    pub fn on_trade_closed(&mut self, ts: DateTime<Utc>, realised_pnl: Decimal) -> Vec<Breach> {
        let s = &mut self.state;
        let Some(rule) = self.limits.cooldown else {
            s.losses.clear();
            return Vec::new();
        };
        if realised_pnl >= Decimal::ZERO || s.cooldown.is_some_and(|c| in_force(&c, ts)) {
            return Vec::new();
        }
        let window_start = ts - Duration::minutes(i64::from(rule.window_minutes));
        s.losses.retain(|t| *t > window_start);
        s.losses.push_back(ts);
        let counted = s.losses.len();
        if counted < rule.losing_trades as usize {
            return Vec::new();
        }
        s.losses.clear();
        let b = Breach {
            rule: RiskRule::Cooldown,
            figure: Decimal::from(counted),
            limit: Decimal::from(rule.losing_trades),
            state: TradingState::ReduceOnly,
            ts,
            until: Some(ts + Duration::minutes(i64::from(rule.pause_minutes))),
        };
        s.cooldown = Some(b);
        vec![b]
    }

    /// Records an order sent to the venue, for the rate limit.
    pub fn on_order_placed(&mut self, ts: DateTime<Utc>) {
        let cap = self
            .limits
            .max_orders_per_minute
            .map_or(0, |n| n as usize)
            .max(ORDER_MEMORY);
        let orders = &mut self.state.orders;
        let window_start = ts - Duration::seconds(60);
        while orders.front().is_some_and(|t| *t <= window_start) {
            orders.pop_front();
        }
        orders.push_back(ts);
        while orders.len() > cap {
            orders.pop_front();
        }
    }

    /// Orders placed in the 60 seconds up to `ts` (an order placed at `t` counts until `t + 60 s`,
    /// exclusive).
    pub fn orders_last_minute(&self, ts: DateTime<Utc>) -> u32 {
        let window_start = ts - Duration::seconds(60);
        let n = self
            .state
            .orders
            .iter()
            .filter(|t| **t > window_start && **t <= ts)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The breaches holding at `ts`, the cooldown included while it lasts.
    pub fn breaches(&self, ts: DateTime<Utc>) -> Vec<Breach> {
        let s = &self.state;
        let daily = s.daily_loss.filter(|b| {
            // A new session clears the breach even before its first equity arrives.
            !(self.limits.reset_next_session
                && session_start(b.ts, self.clock) < session_start(ts, self.clock))
        });
        let cooldown = s.cooldown.filter(|c| in_force(c, ts));
        [s.drawdown, daily, cooldown]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The strictest breach holding at `ts`, which explains [`RiskGuard::state`] unless the
    /// manual state is stricter; put it in [`super::Exposure::breach`].
    pub fn binding(&self, ts: DateTime<Utc>) -> Option<Breach> {
        self.breaches(ts).into_iter().reduce(|a, b| {
            if b.state.stricter(a.state) != a.state {
                b
            } else {
                a
            }
        })
    }

    /// The state in force at `ts`: the stricter of the manual state and every breach holding.
    pub fn state(&self, ts: DateTime<Utc>) -> TradingState {
        self.breaches(ts)
            .iter()
            .fold(self.state.manual, |acc, b| acc.stricter(b.state))
    }
}

fn in_force(cooldown: &Breach, ts: DateTime<Utc>) -> bool {
    cooldown.until.is_some_and(|until| ts < until)
}

/// The fall from `from` to `to` in percent (rounded up) when it reaches `limit` percent.
fn fall(from: Decimal, to: Decimal, limit: Decimal) -> Option<Decimal> {
    // Compared without dividing, so the decision is exact; only the reported figure rounds.
    (from > Decimal::ZERO && (from - to) * Decimal::ONE_HUNDRED >= limit * from)
        .then(|| pct_ceil(from - to, from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::veda::risk::limits::{BreachAction, Cooldown};
    use rust_decimal::dec;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn daily(action: BreachAction, reset: bool) -> RiskLimits {
        RiskLimits {
            daily_loss_pct: Some(dec!(5)),
            daily_loss_action: action,
            reset_next_session: reset,
            ..RiskLimits::default()
        }
    }

    fn cooldown_limits(losing_trades: u32) -> RiskLimits {
        RiskLimits {
            cooldown: Some(Cooldown {
                losing_trades,
                window_minutes: 60,
                pause_minutes: 30,
            }),
            ..RiskLimits::default()
        }
    }

    #[test]
    fn sessions_start_at_new_york_midnight_across_dst() {
        let ny = SessionClock::NewYork;
        // 2026-03-08 is the spring change (EST, UTC-5, to EDT, UTC-4); 2026-11-01 the autumn one.
        for (ts, start) in [
            (at(2026, 3, 7, 3, 0), at(2026, 3, 6, 5, 0)),
            (at(2026, 3, 7, 5, 0), at(2026, 3, 7, 5, 0)),
            (at(2026, 3, 8, 12, 0), at(2026, 3, 8, 5, 0)),
            (at(2026, 3, 9, 3, 59), at(2026, 3, 8, 5, 0)),
            (at(2026, 3, 9, 4, 0), at(2026, 3, 9, 4, 0)),
            (at(2026, 11, 1, 4, 0), at(2026, 11, 1, 4, 0)),
            (at(2026, 11, 2, 4, 30), at(2026, 11, 1, 4, 0)),
            (at(2026, 11, 2, 5, 0), at(2026, 11, 2, 5, 0)),
        ] {
            assert_eq!(session_start(ts, ny), start, "{ts}");
        }
        assert_eq!(
            session_start(at(2026, 3, 7, 3, 0), SessionClock::Utc),
            at(2026, 3, 7, 0, 0)
        );
        assert_eq!(
            session_start(at(2026, 3, 7, 0, 0), SessionClock::Utc),
            at(2026, 3, 7, 0, 0)
        );
    }

    #[test]
    fn a_daily_loss_trips_exactly_once_in_the_configured_state() {
        for action in [BreachAction::ReduceOnly, BreachAction::Halted] {
            let mut g = RiskGuard::new(daily(action, false), SessionClock::NewYork);
            let t = |m| at(2026, 3, 6, 15, m);
            assert!(g.on_equity(t(0), dec!(10000)).is_empty());
            assert!(
                g.on_equity(t(1), dec!(9500.01)).is_empty(),
                "just under 5 %"
            );
            assert_eq!(g.state(t(1)), TradingState::Active);
            let tripped = g.on_equity(t(2), dec!(9500));
            assert_eq!(
                tripped,
                vec![Breach {
                    rule: RiskRule::DailyLoss,
                    figure: dec!(5),
                    limit: dec!(5),
                    state: action.state(),
                    ts: t(2),
                    until: None,
                }]
            );
            assert!(g.on_equity(t(3), dec!(9000)).is_empty());
            assert!(g.on_equity(t(4), dec!(10500)).is_empty());
            assert_eq!(g.state(t(5)), action.state(), "recovering does not clear");
            assert_eq!(g.binding(t(5)), Some(tripped[0]));
        }
    }

    #[test]
    fn the_daily_loss_figure_counts_from_the_last_equity_before_the_session() {
        let mut g = RiskGuard::new(daily(BreachAction::ReduceOnly, true), SessionClock::Utc);
        assert!(g.on_equity(at(2026, 3, 6, 12, 0), dec!(10000)).is_empty());
        assert!(g.on_equity(at(2026, 3, 6, 23, 0), dec!(10200)).is_empty());
        // The new UTC day starts from the last equity before it (10200), not from its own first
        // (a gap at the open is a loss of the day) nor the day before's first (10000).
        assert!(g.on_equity(at(2026, 3, 7, 1, 0), dec!(9800)).is_empty());
        let tripped = g.on_equity(at(2026, 3, 7, 2, 0), dec!(9690));
        assert_eq!(tripped.len(), 1);
        assert_eq!(tripped[0].figure, dec!(5));
    }

    #[test]
    fn daily_bars_measure_each_day_from_the_close_before() {
        let mut g = RiskGuard::new(daily(BreachAction::Halted, false), SessionClock::NewYork);
        // One equity a day (daily bars at 05:00 UTC, midnight in New York).
        assert!(g.on_equity(at(2026, 3, 2, 5, 0), dec!(10000)).is_empty());
        assert!(
            g.on_equity(at(2026, 3, 3, 5, 0), dec!(9700)).is_empty(),
            "3 %"
        );
        let tripped = g.on_equity(at(2026, 3, 4, 5, 0), dec!(9200));
        assert_eq!(tripped.len(), 1, "5.15 % from the day before's 9700");
        assert_eq!(tripped[0].state, TradingState::Halted);
    }

    /// Breaches on Friday afternoon in New York; what holds at later times, by `reset`.
    fn breached_friday(reset: bool) -> RiskGuard {
        let mut g = RiskGuard::new(
            daily(BreachAction::ReduceOnly, reset),
            SessionClock::NewYork,
        );
        g.on_equity(at(2026, 3, 6, 15, 0), dec!(10000));
        assert_eq!(g.on_equity(at(2026, 3, 6, 20, 0), dec!(9400)).len(), 1);
        g
    }

    #[test]
    fn a_daily_loss_resets_at_the_next_new_york_session_only_when_configured() {
        for reset in [false, true] {
            let mut g = breached_friday(reset);
            // Past midnight UTC, still Friday evening in New York: the same session.
            assert!(g.on_equity(at(2026, 3, 7, 2, 0), dec!(9400)).is_empty());
            assert_eq!(g.state(at(2026, 3, 7, 4, 59)), TradingState::ReduceOnly);
            // Saturday 00:00 EST: the state clears before any equity arrives, if configured.
            let next = at(2026, 3, 7, 5, 0);
            let expected = if reset {
                TradingState::Active
            } else {
                TradingState::ReduceOnly
            };
            assert_eq!(g.state(next), expected, "reset {reset}");
            assert!(g.on_equity(next, dec!(9400)).is_empty());
            assert_eq!(g.state(next), expected, "reset {reset}");
            assert_eq!(g.snapshot().daily_loss.is_none(), reset);
            // The new session counts from its first equity and can trip again, once.
            let again = g.on_equity(at(2026, 3, 7, 15, 0), dec!(8930));
            assert_eq!(again.len(), usize::from(reset), "reset {reset}");
        }
    }

    #[test]
    fn a_daily_loss_reset_follows_daylight_saving() {
        for (breach_at, before, after) in [
            // Spring: the session after Sunday 8 March starts at 04:00 UTC (midnight EDT).
            (
                at(2026, 3, 8, 14, 0),
                at(2026, 3, 9, 3, 59),
                at(2026, 3, 9, 4, 0),
            ),
            // Autumn: the session after Sunday 1 November starts at 05:00 UTC (midnight EST).
            (
                at(2026, 11, 1, 14, 0),
                at(2026, 11, 2, 4, 59),
                at(2026, 11, 2, 5, 0),
            ),
        ] {
            let mut g = RiskGuard::new(daily(BreachAction::Halted, true), SessionClock::NewYork);
            g.on_equity(breach_at - Duration::hours(1), dec!(100));
            assert_eq!(g.on_equity(breach_at, dec!(90)).len(), 1);
            assert!(g.on_equity(before, dec!(90)).is_empty());
            assert_eq!(g.state(before), TradingState::Halted, "{before}");
            assert!(g.on_equity(after, dec!(90)).is_empty());
            assert_eq!(g.state(after), TradingState::Active, "{after}");
        }
    }

    #[test]
    fn a_drawdown_halts_and_stays_until_a_manual_active() {
        let limits = RiskLimits {
            max_drawdown_pct: Some(dec!(20)),
            reset_next_session: true,
            ..RiskLimits::default()
        };
        let mut g = RiskGuard::new(limits, SessionClock::NewYork);
        g.on_equity(at(2026, 3, 6, 15, 0), dec!(10000));
        g.on_equity(at(2026, 3, 6, 16, 0), dec!(12000));
        assert!(g.on_equity(at(2026, 3, 6, 17, 0), dec!(9600.01)).is_empty());
        let tripped = g.on_equity(at(2026, 3, 6, 18, 0), dec!(9600));
        assert_eq!(tripped.len(), 1);
        assert_eq!(
            (tripped[0].rule, tripped[0].figure, tripped[0].limit),
            (RiskRule::Drawdown, dec!(20), dec!(20))
        );
        assert_eq!(tripped[0].state, TradingState::Halted);
        // Days later, recovered past the peak: still halted, nothing new reported.
        assert!(g.on_equity(at(2026, 3, 10, 15, 0), dec!(13000)).is_empty());
        assert_eq!(g.state(at(2026, 3, 11, 15, 0)), TradingState::Halted);
        g.set_state(TradingState::Active);
        assert_eq!(g.state(at(2026, 3, 11, 15, 0)), TradingState::Active);
        // Re-based on the last equity (13000): 20 % below it trips again.
        assert!(
            g.on_equity(at(2026, 3, 11, 15, 1), dec!(10400.01))
                .is_empty()
        );
        assert_eq!(g.on_equity(at(2026, 3, 11, 15, 2), dec!(10400)).len(), 1);
    }

    #[test]
    fn one_equity_can_trip_both_rules_and_the_strictest_binds() {
        let limits = RiskLimits {
            max_drawdown_pct: Some(dec!(10)),
            ..daily(BreachAction::ReduceOnly, false)
        };
        let mut g = RiskGuard::new(limits, SessionClock::Utc);
        g.on_equity(at(2026, 3, 6, 15, 0), dec!(100));
        let tripped = g.on_equity(at(2026, 3, 6, 15, 1), dec!(89));
        let rules: Vec<_> = tripped.iter().map(|b| b.rule).collect();
        assert_eq!(rules, vec![RiskRule::DailyLoss, RiskRule::Drawdown]);
        let now = at(2026, 3, 6, 15, 2);
        assert_eq!(g.binding(now).map(|b| b.rule), Some(RiskRule::Drawdown));
        assert_eq!(g.state(now), TradingState::Halted);
        assert_eq!(g.breaches(now).len(), 2);
    }

    #[test]
    fn a_cooldown_holds_for_exactly_pause_minutes() {
        let mut g = RiskGuard::new(cooldown_limits(3), SessionClock::Utc);
        let t0 = at(2026, 3, 6, 15, 0);
        let min = |m| t0 + Duration::minutes(m);
        assert!(g.on_trade_closed(t0, dec!(-10)).is_empty());
        assert!(
            g.on_trade_closed(min(10), dec!(50)).is_empty(),
            "wins do not count"
        );
        assert!(g.on_trade_closed(min(20), dec!(-10)).is_empty());
        assert!(
            g.on_trade_closed(min(30), dec!(0)).is_empty(),
            "flat is no loss"
        );
        // The first loss has left the 60-minute window: two losses only.
        assert!(g.on_trade_closed(min(60), dec!(-10)).is_empty());
        let start = min(70);
        let tripped = g.on_trade_closed(start, dec!(-1));
        let end = start + Duration::minutes(30);
        assert_eq!(
            tripped,
            vec![Breach {
                rule: RiskRule::Cooldown,
                figure: dec!(3),
                limit: dec!(3),
                state: TradingState::ReduceOnly,
                ts: start,
                until: Some(end),
            }]
        );
        assert_eq!(g.state(start), TradingState::ReduceOnly);
        assert_eq!(g.binding(start), Some(tripped[0]));
        // Losses while paused are not counted and do not extend the pause.
        assert!(
            g.on_trade_closed(start + Duration::minutes(5), dec!(-1))
                .is_empty()
        );
        assert_eq!(
            g.state(end - Duration::seconds(1)),
            TradingState::ReduceOnly
        );
        assert_eq!(g.state(end), TradingState::Active);
        assert_eq!(g.binding(end), None);
        // The count starts afresh after a pause.
        assert!(g.on_trade_closed(end, dec!(-1)).is_empty());
        assert!(
            g.on_trade_closed(end + Duration::minutes(1), dec!(-1))
                .is_empty()
        );
        assert_eq!(
            g.on_trade_closed(end + Duration::minutes(2), dec!(-1))
                .len(),
            1
        );
    }

    #[test]
    fn the_order_rate_slides_over_60_seconds_with_bounded_memory() {
        let mut g = RiskGuard::new(RiskLimits::default(), SessionClock::Utc);
        let t0 = at(2026, 3, 6, 15, 0);
        let s = |n| t0 + Duration::seconds(n);
        for n in [0, 10, 59] {
            g.on_order_placed(s(n));
        }
        assert_eq!(g.orders_last_minute(s(59)), 3);
        assert_eq!(g.orders_last_minute(s(60)), 2, "an order counts for 60 s");
        assert_eq!(g.orders_last_minute(s(69)), 2);
        assert_eq!(g.orders_last_minute(s(70)), 1);
        assert_eq!(g.orders_last_minute(s(119)), 0);
        g.on_order_placed(s(200));
        assert_eq!(g.snapshot().orders.len(), 1, "old orders are dropped");

        for _ in 0..5000 {
            g.on_order_placed(s(300));
        }
        assert_eq!(g.snapshot().orders.len(), ORDER_MEMORY);
        let mut fast = RiskGuard::new(
            RiskLimits {
                max_orders_per_minute: Some(2000),
                ..RiskLimits::default()
            },
            SessionClock::Utc,
        );
        for _ in 0..5000 {
            fast.on_order_placed(s(300));
        }
        assert_eq!(fast.orders_last_minute(s(300)), 2000);
    }

    #[test]
    fn manual_states_combine_with_breaches() {
        let mut g = RiskGuard::new(daily(BreachAction::ReduceOnly, false), SessionClock::Utc);
        let now = at(2026, 3, 6, 15, 0);
        g.set_state(TradingState::Halted);
        assert_eq!(g.state(now), TradingState::Halted);
        g.set_state(TradingState::Active);
        g.on_equity(now, dec!(100));
        g.on_equity(now, dec!(90));
        assert_eq!(g.state(now), TradingState::ReduceOnly);
        g.set_state(TradingState::ReduceOnly);
        assert_eq!(g.state(now), TradingState::ReduceOnly);
        assert!(g.snapshot().daily_loss.is_some(), "only active clears");
        g.set_state(TradingState::Active);
        assert_eq!(g.state(now), TradingState::Active);
        assert!(g.breaches(now).is_empty());
    }

    #[test]
    fn set_limits_keeps_history_and_drops_breaches_of_rules_turned_off() {
        let mut g = RiskGuard::new(
            RiskLimits {
                max_orders_per_minute: Some(10),
                ..cooldown_limits(3)
            },
            SessionClock::Utc,
        );
        let now = at(2026, 3, 6, 15, 0);
        g.on_trade_closed(now, dec!(-1));
        g.on_trade_closed(now, dec!(-1));
        g.on_order_placed(now);
        g.set_limits(cooldown_limits(3));
        assert_eq!(g.orders_last_minute(now), 1);
        // Lowered to 2: the two losses seen already count, so the next loss pauses.
        g.set_limits(cooldown_limits(2));
        assert_eq!(g.on_trade_closed(now, dec!(-1)).len(), 1);
        g.set_limits(RiskLimits::default());
        assert_eq!(g.state(now), TradingState::Active, "cooldown turned off");

        g.set_limits(daily(BreachAction::ReduceOnly, false));
        g.on_equity(now, dec!(100));
        g.on_equity(now, dec!(94));
        assert_eq!(g.state(now), TradingState::ReduceOnly);
        g.set_limits(daily(BreachAction::Halted, false));
        assert_eq!(g.state(now), TradingState::Halted, "the new action applies");
        g.set_limits(RiskLimits {
            daily_loss_pct: Some(dec!(10)),
            ..daily(BreachAction::Halted, false)
        });
        assert_eq!(
            g.state(now),
            TradingState::Halted,
            "a raised limit stays latched"
        );
        g.set_limits(RiskLimits::default());
        assert_eq!(g.state(now), TradingState::Active, "the rule turned off");
        assert_eq!(g.snapshot().peak_equity, Some(dec!(100)));
    }

    #[test]
    fn guard_state_round_trips_through_serde_json() {
        let limits = RiskLimits {
            max_drawdown_pct: Some(dec!(10)),
            ..cooldown_limits(2)
        };
        let mut g = RiskGuard::new(limits.clone(), SessionClock::NewYork);
        let now = at(2026, 3, 6, 15, 0);
        g.on_equity(now, dec!(1000.5));
        g.on_equity(now, dec!(880));
        g.on_trade_closed(now, dec!(-3));
        g.on_trade_closed(now, dec!(-3));
        g.on_trade_closed(now + Duration::minutes(40), dec!(-3));
        g.on_order_placed(now);
        g.set_state(TradingState::ReduceOnly);

        let json = serde_json::to_string(g.snapshot()).unwrap();
        let back: GuardState = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, g.snapshot());
        let mut resumed = RiskGuard::resume(limits, SessionClock::NewYork, back);
        assert_eq!(resumed, g);
        let whole: RiskGuard = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
        assert_eq!(whole, g);
        // The resumed guard goes on exactly as the original.
        let later = now + Duration::minutes(41);
        assert_eq!(resumed.state(later), g.state(later));
        assert_eq!(
            resumed.on_trade_closed(later, dec!(-1)),
            g.on_trade_closed(later, dec!(-1))
        );
        assert_eq!(resumed.orders_last_minute(now), 1);
        // An older, smaller state reads with defaults.
        let sparse: GuardState = serde_json::from_str(r#"{"peak_equity": "5"}"#).unwrap();
        assert_eq!(sparse.peak_equity, Some(dec!(5)));
        assert_eq!(sparse.manual, TradingState::Active);
    }
}
