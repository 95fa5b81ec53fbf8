//! A run's decisions on their way to the outbox: every guest call that answered an event becomes
//! a `strategy.DecisionMade` event (the intents, the call's fuel and wall time), which the
//! decisions projection turns into `GET /runs/{id}/decisions`.
//!
//! Guest calls are synchronous (on a worker handed over with `block_in_place`), so a call only
//! queues its decision here; the run's side task appends the queue in one transaction per flush
//! (when [`FLUSH_AT`] are waiting, at every heartbeat, and when the run ends). The book is also
//! the runner task's [`Precursors`]: a decision that places an order is the cause of that order,
//! and the order journal writes the queued decisions in the order's own transaction, before it.
//! Clock ticks the run makes up for the guest are queued here too (`clock.Tick`), ahead of the
//! decision that answered them.
//!
//! A decision's cause (`causation_id`) is the stored event the guest answered: a live bar's
//! `market.Bar` (whose id the desk derives from the bar, [`crate::events::payloads::MarketBar`]),
//! a `clock.Tick`. Events the guest is told that are not stored (bars the simulated exchange
//! replays from candles, lifecycle and account cues) have the run's start as their cause, and so
//! do ticks: request → `run.Created` → `run.StatusChanged` → decision → order → fill.
//!
//! # Invariants
//! - A decision is queued before the run moves to the next event, and a failed append puts the
//!   batch back in front, so none is dropped while the run lives.
//! - A decision is in the outbox no later than the orders it caused (same transaction).
//! - Stored event `producer` strings stay `glados` (stored events are a contract).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::DateTime;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::domain::{EventMeta, Intent};
use crate::events::correlation::Precursors;
use crate::events::{Envelope, payloads::ClockTick, payloads::DecisionMade};
use crate::walle::Walle;

/// Queued decisions that wake the flush.
pub(crate) const FLUSH_AT: usize = 256;

/// A run's queued decisions.
#[derive(Debug, Default)]
pub(crate) struct DecisionBook {
    pending: Mutex<Vec<Envelope>>,
    /// The run's start event: the cause of decisions on events that are not stored themselves
    /// (bars the simulated exchange replays from candles, lifecycle cues) and of its ticks.
    start: Option<Uuid>,
    /// Woken when [`FLUSH_AT`] decisions are waiting.
    pub(crate) wanted: Notify,
}

impl DecisionBook {
    /// The book of a run started by event `start` (its `runs.start_event_id`; `None` for a run
    /// stored before start events were kept, whose decisions then name only stored causes).
    pub(crate) fn started_by(start: Option<&str>) -> DecisionBook {
        DecisionBook {
            start: start.and_then(|s| Uuid::parse_str(s).ok()),
            ..DecisionBook::default()
        }
    }

    /// Queues the decision of one guest call answering `cause`; its event id, the cause of
    /// what the run does next.
    pub(crate) fn push(
        &self,
        run_id: i64,
        cause: &EventMeta,
        intents: &[Intent],
        fuel: u64,
        latency: Duration,
    ) -> Option<Uuid> {
        // Ids the guest saw that are not events (bars replayed from candles) map to nil, and the
        // decision's cause is the run's start.
        let cause_event_id = Uuid::parse_str(&cause.id).unwrap_or_default();
        let causation = Some(cause_event_id)
            .filter(|id| !id.is_nil())
            .or(self.start);
        let payload = DecisionMade {
            run_id,
            cause_event_id,
            bar_ts: DateTime::from_timestamp_millis(cause.ts).unwrap_or_default(),
            intents: intents.iter().map(recorded).collect(),
            fuel,
            latency_us: u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        };
        match Envelope::new("strategy.DecisionMade", "glados", payload) {
            Ok(e) => {
                let mut e = e.for_run(run_id);
                e.causation_id = causation.map(|c| c.to_string());
                let id = e.id;
                self.queue(e);
                Some(id)
            }
            Err(e) => {
                tracing::error!(run_id, "decision not recorded: {e}");
                None
            }
        }
    }

    /// Queues the `clock.Tick` the run makes up at `ts` (UTC ms) and returns its event id, the
    /// id the guest sees.
    pub(crate) fn tick(&self, run_id: i64, ts: i64) -> Option<Uuid> {
        let at = DateTime::from_timestamp_millis(ts).unwrap_or_default();
        match Envelope::new("clock.Tick", "glados", ClockTick { ts: at }) {
            Ok(e) => {
                let mut e = e.for_run(run_id).at(at);
                // The run makes its ticks up: they follow from its start.
                e.causation_id = self.start.map(|c| c.to_string());
                let id = e.id;
                self.queue(e);
                Some(id)
            }
            Err(e) => {
                tracing::error!(run_id, "clock tick not recorded: {e}");
                None
            }
        }
    }

    /// Queues another event of the run for the outbox, stored with its decisions (in order, in
    /// the same flush or the next order's transaction): `risk.OrderDenied`.
    pub(crate) fn record(&self, e: Option<Envelope>) {
        if let Some(e) = e {
            self.queue(e);
        }
    }

    fn queue(&self, e: Envelope) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.push(e);
        if pending.len() >= FLUSH_AT {
            self.wanted.notify_one();
        }
    }

    /// Takes what is queued: the heartbeat appends several runs' decisions at once, an order's
    /// transaction stores them itself, a replay compares them with the recorded ones instead
    /// (`runs::replay`).
    pub(crate) fn take(&self) -> Vec<Envelope> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Appends what is queued, in one transaction; on failure the batch goes back in front and
    /// waits for the next flush. Whether everything queued is stored.
    pub(crate) async fn store(&self, walle: &Walle, run_id: i64) -> bool {
        let batch = self.take();
        if batch.is_empty() {
            return true;
        }
        if let Err(e) = walle.append_batch(&batch).await {
            tracing::warn!(
                run_id,
                code = e.code(),
                pending = batch.len(),
                "decisions not written yet: {e}"
            );
            self.put_back(batch);
            return false;
        }
        true
    }

    /// Puts a batch that could not be appended back in front of what was queued since.
    pub(crate) fn put_back(&self, batch: Vec<Envelope>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let later = std::mem::replace(&mut *pending, batch);
        pending.extend(later);
    }
}

impl Precursors for DecisionBook {
    fn take(&self) -> Vec<Envelope> {
        DecisionBook::take(self)
    }

    fn restore(&self, events: Vec<Envelope>) {
        self.put_back(events);
    }
}

/// An intent as a decision event records it: a log intent's text cut as the run's log cuts
/// it. A strategy logging 100 KB a bar put 100 KB a bar into the outbox (over 200 MB for one
/// run over 2,148 daily bars), which every consumer then read; the text is in the run's log.
/// A replay records through here too, so it compares like with like.
fn recorded(intent: &Intent) -> Intent {
    match intent {
        Intent::Log { level, message } if message.len() > super::log_book::MAX_LOG_MESSAGE => {
            let mut message = message.clone();
            super::log_book::clip_message(&mut message);
            Intent::Log {
                level: *level,
                message,
            }
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str, ts: i64) -> EventMeta {
        EventMeta {
            id: id.to_owned(),
            kind: crate::domain::EventKind::Evt,
            event_type: "market.Bar".to_owned(),
            version: 1,
            run_id: "7".to_owned(),
            corr_id: String::new(),
            causation_id: None,
            trace_id: None,
            ts,
            producer: "veda".to_owned(),
            headers: Vec::new(),
        }
    }

    #[test]
    fn a_decision_records_a_long_log_intent_cut_as_the_log_cuts_it() {
        use crate::domain::LogLevel;
        let book = DecisionBook::default();
        let long = "y".repeat(100_000);
        let order = Intent::ClosePosition {
            symbol: "GOOG".into(),
        };
        let intents = [
            Intent::Log {
                level: LogLevel::Info,
                message: long.clone(),
            },
            order.clone(),
            Intent::Log {
                level: LogLevel::Warn,
                message: "short".into(),
            },
        ];
        book.push(7, &meta("7-bar-1", 0), &intents, 1, Duration::ZERO);
        let pending = book.pending.lock().unwrap();
        let d: DecisionMade = serde_json::from_value(pending[0].payload.clone()).unwrap();
        let mut cut = long;
        super::super::log_book::clip_message(&mut cut);
        assert!(cut.len() < 5_000, "cut to the log's length");
        assert_eq!(
            d.intents,
            vec![
                Intent::Log {
                    level: LogLevel::Info,
                    message: cut,
                },
                order,
                Intent::Log {
                    level: LogLevel::Warn,
                    message: "short".into(),
                },
            ]
        );
    }

    #[test]
    fn a_decision_names_its_cause_time_and_cost() {
        let book = DecisionBook::default();
        let cause = Uuid::now_v7();
        book.push(
            7,
            &meta(&cause.to_string(), 1_700_000_000_000),
            &[],
            1234,
            Duration::from_micros(56),
        );
        book.push(7, &meta("7-bar-1", 0), &[], 1, Duration::ZERO);
        let pending = book.pending.lock().unwrap();
        let d: DecisionMade = serde_json::from_value(pending[0].payload.clone()).unwrap();
        assert_eq!(d.cause_event_id, cause);
        assert_eq!(d.bar_ts.timestamp_millis(), 1_700_000_000_000);
        assert_eq!((d.fuel, d.latency_us), (1234, 56));
        assert_eq!(pending[0].run_id.as_deref(), Some("7"));
        let tick: DecisionMade = serde_json::from_value(pending[1].payload.clone()).unwrap();
        assert_eq!(tick.cause_event_id, Uuid::nil(), "a made-up id maps to nil");
        assert_eq!(pending[1].causation_id, None, "no event, no causation");
        assert_eq!(pending[0].causation_id, Some(cause.to_string()));
    }

    #[test]
    fn a_decision_on_an_event_that_is_not_stored_names_the_run_start() {
        let start = Uuid::now_v7();
        let book = DecisionBook::started_by(Some(&start.to_string()));
        let bar = Uuid::now_v7();
        book.push(7, &meta("7-bar-1", 0), &[], 1, Duration::ZERO);
        book.push(7, &meta(&bar.to_string(), 0), &[], 1, Duration::ZERO);
        let tick = book.tick(7, 60_000).expect("tick");
        let queued = book.take();
        assert_eq!(queued[0].causation_id, Some(start.to_string()));
        let d: DecisionMade = serde_json::from_value(queued[0].payload.clone()).unwrap();
        assert_eq!(d.cause_event_id, Uuid::nil(), "the bar itself is no event");
        assert_eq!(
            queued[1].causation_id,
            Some(bar.to_string()),
            "a stored cause wins"
        );
        assert_eq!(queued[2].id, tick);
        assert_eq!(queued[2].causation_id, Some(start.to_string()));
        assert!(
            DecisionBook::started_by(Some("not-an-id")).start.is_none(),
            "an unreadable start is none"
        );
    }

    #[test]
    fn a_tick_is_recorded_ahead_of_the_decision_that_answered_it() {
        let book = DecisionBook::default();
        let tick = book.tick(7, 1_700_000_000_000).expect("tick queued");
        let decision = book
            .push(
                7,
                &meta(&tick.to_string(), 1_700_000_000_000),
                &[],
                1,
                Duration::ZERO,
            )
            .expect("decision queued");
        let queued = book.take();
        assert_eq!(queued.len(), 2);
        assert_eq!(queued[0].event_type, "clock.Tick");
        assert_eq!(
            queued[0].id, tick,
            "the id the guest saw is the stored event's"
        );
        assert_eq!(queued[0].ts.timestamp_millis(), 1_700_000_000_000);
        assert_eq!(queued[1].id, decision);
        assert_eq!(queued[1].causation_id, Some(tick.to_string()));
        assert!(book.take().is_empty(), "taken once");
        book.put_back(queued);
        assert_eq!(book.take().len(), 2, "restored in front");
    }
}
