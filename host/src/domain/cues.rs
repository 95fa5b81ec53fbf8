//! What a strategy is told around its bars, in every mode: the lifecycle transitions and the
//! account snapshots. Greta's backtest engine and Veda's live runner both ask a [`Cues`] when to
//! tell them, so a strategy gets the same envelope sequence in a backtest, a paper run on the
//! simulated exchange and a run on a live venue:
//!
//! 1. before the run's first event: `Lifecycle(Started)`, then an `Account` snapshot;
//! 2. per bar time: that time's order updates, then (if one of them was a fill) an `Account`
//!    snapshot, then the bars;
//! 3. when the run stops (end of data, stop request, shutdown): `Lifecycle(Stopping)`, the last
//!    event (a run stopped before its first event is told `Started` and the snapshot first).
//!
//! A [`Cue`] only says *what* to tell; the engine builds the payload (an account snapshot comes
//! from Greta's broker in a backtest and on the simulated exchange, from the run's own fills on
//! a live venue) and delivers it through its own envelope.
//!
//! # Invariants
//! - Only cues the strategy subscribed to are returned; a cue returned is a promise the engine
//!   delivers it.
//! - `Started` is returned at most once and before anything else; `Stopping` at most once and
//!   after everything else; nothing is returned after `Stopping`.

use super::{Lifecycle, OrderUpdate, Subscriptions};

/// One thing to tell a strategy besides its bars and order updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    /// A lifecycle transition.
    Lifecycle(Lifecycle),
    /// An account snapshot, built by the engine now.
    Account,
}

/// The sequencing state of one run (see the module docs).
#[derive(Debug, Clone)]
pub struct Cues {
    subscriptions: Subscriptions,
    started: bool,
    stopped: bool,
    /// An order update since the last account snapshot was a fill.
    filled: bool,
}

impl Cues {
    /// The cues of a run whose strategy subscribed to `subscriptions`.
    pub fn new(subscriptions: Subscriptions) -> Cues {
        Cues {
            subscriptions,
            started: false,
            stopped: false,
            filled: false,
        }
    }

    /// Whether the start cues were handed out.
    pub fn started(&self) -> bool {
        self.started
    }

    /// The cues before the run's first event (`Started`, then a snapshot); empty once handed
    /// out, or after the stop.
    pub fn start(&mut self) -> Vec<Cue> {
        if self.started || self.stopped {
            return Vec::new();
        }
        self.started = true;
        self.wanted([Cue::Lifecycle(Lifecycle::Started), Cue::Account])
    }

    /// Notes an order update of the run; returns whether the strategy wants to be told of it.
    pub fn update(&mut self, update: &OrderUpdate) -> bool {
        if update.fill_quantity > 0.0 {
            self.filled = true;
        }
        self.subscriptions.order_updates && !self.stopped
    }

    /// The cue before a bar time's bars, after that time's order updates: a snapshot when one of
    /// the updates since the last snapshot was a fill.
    pub fn before_bars(&mut self) -> Option<Cue> {
        if !std::mem::take(&mut self.filled) || self.stopped {
            return None;
        }
        self.wanted([Cue::Account]).pop()
    }

    /// The cues when the run stops: `Stopping` (after the start cues if the run never
    /// started); empty after the first call.
    pub fn stop(&mut self) -> Vec<Cue> {
        if self.stopped {
            return Vec::new();
        }
        let mut out = self.start();
        self.stopped = true;
        out.extend(self.wanted([Cue::Lifecycle(Lifecycle::Stopping)]));
        out
    }

    fn wanted<const N: usize>(&self, cues: [Cue; N]) -> Vec<Cue> {
        cues.into_iter()
            .filter(|c| match c {
                Cue::Lifecycle(_) => self.subscriptions.lifecycle,
                Cue::Account => self.subscriptions.account,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderStatus, Side};

    fn update(fill: f64) -> OrderUpdate {
        OrderUpdate {
            client_order_id: "c".into(),
            symbol: "X".into(),
            side: Side::Buy,
            status: if fill > 0.0 {
                OrderStatus::Filled
            } else {
                OrderStatus::Accepted
            },
            fill_price: (fill > 0.0).then_some(1.0),
            fill_quantity: fill,
            filled_quantity: fill,
            fees: 0.0,
            reason: None,
            tag: None,
        }
    }

    #[test]
    fn a_run_is_started_once_snapshotted_after_fills_and_stopped_once() {
        let mut c = Cues::new(Subscriptions::ALL);
        assert_eq!(
            c.start(),
            [Cue::Lifecycle(Lifecycle::Started), Cue::Account]
        );
        assert!(c.start().is_empty(), "started once");
        assert_eq!(c.before_bars(), None, "nothing filled yet");
        assert!(c.update(&update(0.0)));
        assert_eq!(c.before_bars(), None, "an acknowledgement is not a fill");
        assert!(c.update(&update(2.0)));
        assert_eq!(c.before_bars(), Some(Cue::Account));
        assert_eq!(c.before_bars(), None, "one snapshot per fill batch");
        assert_eq!(c.stop(), [Cue::Lifecycle(Lifecycle::Stopping)]);
        assert!(c.stop().is_empty(), "stopped once");
        assert!(!c.update(&update(1.0)), "nothing after the stop");
        assert_eq!(c.before_bars(), None);
    }

    #[test]
    fn only_subscribed_cues_are_returned_and_an_unstarted_run_starts_before_it_stops() {
        let mut none = Cues::new(Subscriptions::NONE);
        assert!(none.start().is_empty());
        assert!(!none.update(&update(1.0)));
        assert_eq!(none.before_bars(), None);
        assert!(none.stop().is_empty());

        let lifecycle = Subscriptions {
            lifecycle: true,
            ..Subscriptions::NONE
        };
        let mut never_started = Cues::new(lifecycle);
        assert_eq!(
            never_started.stop(),
            [
                Cue::Lifecycle(Lifecycle::Started),
                Cue::Lifecycle(Lifecycle::Stopping)
            ]
        );
        assert!(never_started.start().is_empty(), "nothing after the stop");
    }
}
