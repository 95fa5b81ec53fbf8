//! Consumer health and backpressure. Every outbox consumer the process runs is either
//! **critical** (the system's own records: the decisions projection) or **best-effort** (the
//! realtime feed, notifications). A watch task reads each consumer's lag every few seconds:
//!
//! - a critical consumer more than `throttle_after` behind (at two checks in a row) throttles the
//!   producers Weaver paces itself (simulated runs wait before their next bar, see
//!   [`Backpressure::pause`]) until it is back under half of that, and a `ui.Notice` tells the
//!   user when the throttle starts and ends. The throttle is keyed by correlation id, as the
//!   architecture baseline asks: the correlations holding most of the consumer's backlog
//!   ([`FLOODING_SHARE`] or more of it; a run carries the `corr_id` of the request that started
//!   it) are slowed, the others keep their pace;
//! - a consumer whose oldest unconsumed event is older than `stuck_after` is reported stuck
//!   (`weaver_consumer_stuck{consumer}` and `GET /readyz` details); a best-effort one never slows
//!   anything.
//!
//! A run on a real venue is never throttled: the market does not wait, and its decisions are a
//! few per minute.
//!
//! # Invariants
//! - Only a critical consumer's lag throttles; a best-effort consumer's lag is reported, never
//!   waited for.
//! - The throttle has hysteresis (on above the threshold, off below half of it), so a consumer
//!   hovering at the threshold does not flap notices; the watch lifts only the throttle it set.
//! - A throttled producer is slowed, never stopped: [`Backpressure::pause`] waits at most
//!   [`MAX_PAUSE`] per bar.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Walle;
use super::feed::FEED_CONSUMER;
use crate::events::{Envelope, payloads::Notice};
use crate::walle::NOTIFY_CONSUMER;
use crate::walle::projections::DECISIONS_CONSUMER;

/// The longest a throttled producer waits before one bar.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(1);

/// How often the watch reads the consumers' lag.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Checks in a row a critical consumer must be over the threshold before runs are throttled.
const SUSTAINED_CHECKS: u32 = 2;

/// A correlation holding at least this share of a lagging critical consumer's backlog is
/// throttled.
pub(crate) const FLOODING_SHARE: f64 = 0.05;

/// How many of the largest correlations of the backlog the watch looks at.
const FLOODING_TOP: i64 = 50;

/// Whether a consumer's lag may slow trading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// The system's own records: its lag throttles the producers.
    Critical,
    /// Realtime views and notifications: reported, never waited for.
    BestEffort,
}

/// The class of a consumer by name: the built-in critical ones, best-effort otherwise.
pub(crate) fn class_of(consumer: &str) -> Class {
    match consumer {
        DECISIONS_CONSUMER => Class::Critical,
        FEED_CONSUMER | NOTIFY_CONSUMER => Class::BestEffort,
        _ => Class::BestEffort,
    }
}

/// One consumer as the watch last saw it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConsumerHealth {
    /// Consumer name.
    pub name: String,
    /// Critical or best-effort.
    pub class: Class,
    /// Events it has not passed yet.
    pub lag_events: i64,
    /// Age of the oldest of them, in seconds.
    pub lag_seconds: f64,
    /// Its oldest unconsumed event is older than the stuck threshold.
    pub stuck: bool,
}

/// The thresholds of the watch.
#[derive(Debug, Clone, Copy)]
pub struct HealthOptions {
    /// A critical consumer this far behind (age of its oldest unconsumed event) throttles.
    pub throttle_after: Duration,
    /// A consumer this far behind is reported stuck.
    pub stuck_after: Duration,
}

impl Default for HealthOptions {
    fn default() -> Self {
        HealthOptions {
            throttle_after: Duration::from_secs(30),
            stuck_after: Duration::from_secs(120),
        }
    }
}

/// The throttle producers consult, and the last health report. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Backpressure {
    inner: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Set by the watch (a critical consumer is behind).
    lagging: AtomicBool,
    /// Set by hand ([`Backpressure::set_throttled`]); the watch never lifts it.
    forced: AtomicBool,
    /// Consecutive checks that found a critical consumer over the threshold.
    over: AtomicU32,
    /// The correlations the watch's throttle applies to (empty: every one).
    flooding: Mutex<Vec<String>>,
    cleared: Notify,
    report: Mutex<Vec<ConsumerHealth>>,
}

impl Backpressure {
    /// Whether producers are throttled now (by the watch or by hand), for some correlations at
    /// least.
    pub fn throttled(&self) -> bool {
        self.inner.lagging.load(Ordering::Acquire) || self.inner.forced.load(Ordering::Acquire)
    }

    /// Whether the producer of correlation `corr_id` is throttled now: by hand, every one; by
    /// the watch, the correlations flooding the lagging consumer (every one when it could not
    /// tell). `None`: a producer outside any correlation.
    pub fn throttles(&self, corr_id: Option<&str>) -> bool {
        if self.inner.forced.load(Ordering::Acquire) {
            return true;
        }
        if !self.inner.lagging.load(Ordering::Acquire) {
            return false;
        }
        let flooding = self
            .inner
            .flooding
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        flooding.is_empty() || corr_id.is_some_and(|c| flooding.iter().any(|f| f == c))
    }

    /// The correlations the watch throttles (empty: all, or none when not throttled).
    pub fn flooding(&self) -> Vec<String> {
        self.inner
            .flooding
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_flooding(&self, corr_ids: Vec<String>) {
        *self
            .inner
            .flooding
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = corr_ids;
    }

    /// Turns a throttle by hand on or off (tests, operators' tools); the watch's own throttle
    /// is separate and the watch never lifts this one.
    pub fn set_throttled(&self, on: bool) {
        self.set(&self.inner.forced, on);
    }

    fn set_lagging(&self, on: bool) {
        self.set(&self.inner.lagging, on);
    }

    fn lagging(&self) -> bool {
        self.inner.lagging.load(Ordering::Acquire)
    }

    fn set(&self, flag: &AtomicBool, on: bool) {
        let before = self.throttled();
        flag.store(on, Ordering::Release);
        let after = self.throttled();
        metrics::gauge!("weaver_runs_throttled").set(if after { 1.0 } else { 0.0 });
        if before && !after {
            self.inner.cleared.notify_waiters();
        }
    }

    /// What a paced producer of correlation `corr_id` calls before its next bar: returns at once
    /// unless it is throttled, else when the throttle clears or after [`MAX_PAUSE`]; whether it
    /// waited.
    pub async fn pause(&self, corr_id: Option<&str>) -> bool {
        if !self.throttles(corr_id) {
            return false;
        }
        let cleared = self.inner.cleared.notified();
        if !self.throttles(corr_id) {
            return false;
        }
        metrics::counter!("weaver_run_throttle_pauses_total").increment(1);
        tokio::select! {
            () = cleared => {}
            () = tokio::time::sleep(MAX_PAUSE) => {}
        }
        true
    }

    /// The consumers as the watch last saw them.
    pub fn report(&self) -> Vec<ConsumerHealth> {
        self.inner
            .report
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_report(&self, report: Vec<ConsumerHealth>) {
        *self
            .inner
            .report
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = report;
    }
}

impl Walle {
    /// The process's backpressure: the throttle and the last consumer health report.
    pub fn backpressure(&self) -> &Backpressure {
        &self.inner.backpressure
    }

    /// Reads every registered consumer's lag once: classifies, reports stuck ones, and moves
    /// the throttle (with a `ui.Notice` when it turns on or off). The watch calls this every
    /// few seconds.
    ///
    /// # Errors
    /// [`crate::walle::Error::Database`]; the throttle is left as it was.
    pub async fn check_consumers(&self, opts: HealthOptions) -> crate::walle::Result<()> {
        let mut report = Vec::new();
        let mut worst_critical = 0.0f64;
        let mut behind = None;
        for name in self.consumers().await? {
            let lag = self.consumer_lag(&name).await?;
            let class = class_of(&name);
            let stuck = lag.oldest_seconds > opts.stuck_after.as_secs_f64();
            metrics::gauge!("weaver_consumer_stuck", "consumer" => name.clone()).set(if stuck {
                1.0
            } else {
                0.0
            });
            if class == Class::Critical && lag.oldest_seconds > worst_critical {
                worst_critical = lag.oldest_seconds;
                behind = Some(name.clone());
            }
            report.push(ConsumerHealth {
                name,
                class,
                lag_events: lag.events,
                lag_seconds: lag.oldest_seconds,
                stuck,
            });
        }
        let behind_events = behind
            .as_ref()
            .and_then(|b| report.iter().find(|c| &c.name == b))
            .map_or(0, |c| c.lag_events);
        self.backpressure().set_report(report);
        let limit = opts.throttle_after.as_secs_f64();
        let bp = self.backpressure();
        // Two checks in a row: a consumer that is merely starting up (a backlog it clears in a
        // moment, right after a restart) does not throttle or notify.
        let over = if worst_critical > limit {
            bp.inner.over.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            bp.inner.over.store(0, Ordering::Release);
            0
        };
        if over >= SUSTAINED_CHECKS
            && let Some(consumer) = &behind
        {
            // Who floods it, refreshed at every check while it lags.
            match self.backlog_by_corr(consumer, FLOODING_TOP).await {
                Ok(top) => {
                    let total = behind_events.max(1);
                    let flooding = top
                        .into_iter()
                        .filter(|(_, n)| *n as f64 >= FLOODING_SHARE * total as f64)
                        .map(|(c, _)| c)
                        .collect();
                    bp.set_flooding(flooding);
                }
                // Not knowing who: everyone is slowed rather than no one.
                Err(e) => {
                    tracing::warn!(code = e.code(), "backlog by correlation unknown: {e}");
                    bp.set_flooding(Vec::new());
                }
            }
        }
        if !bp.lagging() && over >= SUSTAINED_CHECKS {
            bp.set_lagging(true);
            let who = behind.unwrap_or_default();
            tracing::warn!(
                consumer = who,
                lag_seconds = worst_critical,
                "critical consumer behind; simulated runs are throttled"
            );
            self.notice(
                "warn",
                format!(
                    "The {who} consumer is {worst_critical:.0} s behind: simulated runs are slowed until it catches up."
                ),
            )
            .await;
        } else if bp.lagging() && worst_critical <= limit / 2.0 {
            bp.set_lagging(false);
            bp.set_flooding(Vec::new());
            tracing::info!("critical consumers caught up; runs are no longer throttled");
            self.notice(
                "info",
                "Critical consumers caught up: simulated runs run at full pace again.".to_owned(),
            )
            .await;
        }
        Ok(())
    }

    /// Watches the consumers every few seconds until `stop` (what `weaver serve` runs).
    pub async fn watch_consumers(&self, opts: HealthOptions, stop: CancellationToken) {
        // The first look comes one period after start, when the consumers had time to start.
        let mut every =
            tokio::time::interval_at(tokio::time::Instant::now() + WATCH_EVERY, WATCH_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = every.tick() => {}
            }
            if let Err(e) = self.check_consumers(opts).await {
                tracing::warn!(code = e.code(), "consumer health unknown: {e}");
            }
        }
    }

    /// Appends a `ui.Notice` (best effort: a notice that cannot be stored is logged).
    async fn notice(&self, level: &str, message: String) {
        let payload = Notice {
            level: level.to_owned(),
            message,
        };
        let appended = match Envelope::new("ui.Notice", "walle", payload) {
            Ok(e) => self.append(&e).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = appended {
            tracing::warn!(code = e.code(), "notice not stored: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_throttles_only_the_flooding_correlations() {
        let bp = Backpressure::default();
        assert!(!bp.throttles(Some("a")));
        bp.set_flooding(vec!["flood".to_owned()]);
        bp.set_lagging(true);
        assert!(bp.throttles(Some("flood")));
        assert!(!bp.throttles(Some("calm")), "others keep their pace");
        assert!(!bp.throttles(None));
        bp.set_flooding(Vec::new());
        assert!(bp.throttles(Some("calm")), "nobody named: everyone");
        bp.set_lagging(false);
        bp.set_throttled(true);
        assert!(bp.throttles(None), "by hand: everyone");
    }

    #[test]
    fn the_decisions_projection_is_critical_and_the_feed_is_not() {
        assert_eq!(class_of(DECISIONS_CONSUMER), Class::Critical);
        assert_eq!(class_of(FEED_CONSUMER), Class::BestEffort);
        assert_eq!(
            class_of(NOTIFY_CONSUMER),
            Class::BestEffort,
            "a down channel never throttles"
        );
        assert_eq!(class_of("someone-else"), Class::BestEffort);
    }

    #[tokio::test]
    async fn a_pause_waits_only_while_throttled_and_ends_when_cleared() {
        let bp = Backpressure::default();
        assert!(!bp.pause(None).await, "not throttled: no wait");
        bp.set_throttled(true);
        let waiter = {
            let bp = bp.clone();
            tokio::spawn(async move {
                let t = tokio::time::Instant::now();
                (bp.pause(Some("any")).await, t.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        bp.set_throttled(false);
        let (waited, took) = waiter.await.unwrap();
        assert!(waited);
        assert!(
            took < MAX_PAUSE,
            "cleared before the maximum pause: {took:?}"
        );
    }
}
