//! Repeats held back: a halted strategy is denied on every bar, and one notification per bar
//! would bury everything else (and run into the chat services' rate limits). An order denied
//! for the same run, rule and account as one notified less than [`QUIET`] earlier (by event
//! time) is counted instead of sent, and the next one notified after the quiet period says how
//! many were held back.
//!
//! # Invariants
//! - Only `order_denied` repeats; every other rule's events are rare by nature (a limit trips
//!   once, a mismatch is said when it changes) and always sent.
//! - In memory: a restart forgets the counts and at worst sends one more.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::rules::Rule;
use crate::events::Envelope;

/// How long repeats of one denial are held back after it was notified.
pub(super) const QUIET: TimeDelta = TimeDelta::minutes(10);

/// Above this many keys, those whose quiet period ended are forgotten.
const PRUNE_ABOVE: usize = 1024;

/// What to do with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admit {
    /// Send it; `held` repeats were held back since `since` (0: none).
    Send {
        /// Repeats held back before this one.
        held: u32,
        /// When the previous notified one happened.
        since: Option<DateTime<Utc>>,
    },
    /// A repeat within the quiet period: counted, not sent.
    Hold,
}

/// The repeats seen, by key.
#[derive(Debug, Default)]
pub(super) struct Quiet {
    /// Key → (time of the last notified one, repeats held since).
    seen: HashMap<String, (DateTime<Utc>, u32)>,
}

impl Quiet {
    /// Whether `event` (under `rule`) is sent or held back as a repeat.
    pub(super) fn admit(&mut self, rule: Rule, event: &Envelope) -> Admit {
        if rule != Rule::OrderDenied {
            return Admit::Send {
                held: 0,
                since: None,
            };
        }
        let p = &event.payload;
        let field = |k: &str| p.get(k).map(ToString::to_string).unwrap_or_default();
        let key = format!("{}/{}/{}", field("run_id"), field("rule"), field("account"));
        let at = event.ts;
        if self.seen.len() > PRUNE_ABOVE {
            self.seen.retain(|_, (last, _)| (at - *last).abs() < QUIET);
        }
        match self.seen.get_mut(&key) {
            Some((last, held)) if (at - *last).abs() < QUIET => {
                *held += 1;
                Admit::Hold
            }
            Some((last, held)) => {
                let admit = Admit::Send {
                    held: *held,
                    since: Some(*last),
                };
                (*last, *held) = (at, 0);
                admit
            }
            None => {
                self.seen.insert(key, (at, 0));
                Admit::Send {
                    held: 0,
                    since: None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn denied(run: i64, rule: &str, at: DateTime<Utc>) -> Envelope {
        Envelope::new(
            "risk.OrderDenied",
            "test",
            json!({"run_id": run, "rule": rule, "symbol": "GOOG"}),
        )
        .expect("envelope")
        .at(at)
    }

    #[test]
    fn repeats_of_a_denial_are_held_back_and_counted() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let mut q = Quiet::default();
        let send = |held, since| Admit::Send { held, since };
        assert_eq!(
            q.admit(Rule::OrderDenied, &denied(1, "trading_state", t0)),
            send(0, None)
        );
        for m in 1..=3 {
            let e = denied(1, "trading_state", t0 + TimeDelta::minutes(m));
            assert_eq!(q.admit(Rule::OrderDenied, &e), Admit::Hold);
        }
        // Another run or another rule is another key.
        assert_eq!(
            q.admit(Rule::OrderDenied, &denied(2, "trading_state", t0)),
            send(0, None)
        );
        assert_eq!(
            q.admit(Rule::OrderDenied, &denied(1, "max_notional", t0)),
            send(0, None)
        );
        // After the quiet period: sent, saying how many were held.
        let later = t0 + QUIET + TimeDelta::seconds(1);
        assert_eq!(
            q.admit(Rule::OrderDenied, &denied(1, "trading_state", later)),
            send(3, Some(t0))
        );
        assert_eq!(
            q.admit(Rule::OrderDenied, &denied(1, "trading_state", later)),
            Admit::Hold
        );
        // Other rules are never held.
        let failed =
            Envelope::new("run.StatusChanged", "test", json!({"run_id": 1})).expect("envelope");
        for _ in 0..3 {
            assert_eq!(q.admit(Rule::RunFailed, &failed), send(0, None));
        }
    }
}
