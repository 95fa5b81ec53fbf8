//! The sandbox as a run drives it: after every guest call its figures, metrics, log intents
//! and output are published and its decision queued (`strategy.DecisionMade`, see
//! [`super::decisions`]) and made the runner task's cause (so the orders it places name it),
//! and a `clock.Tick` is added (and recorded) at the start of each bar period for guests that
//! subscribe to ticks.
//!
//! # Invariants
//! - Figures and metrics only move forward; each guest call is counted once.
//! - Guest output becomes `stdout:` log lines line by line; an unfinished line waits for its end.
//! - A guest call never stalls the other tasks of a runtime worker ([`off_the_reactor`]).

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::active::Live;
use crate::domain::{
    EventMeta, Intent, LogLevel, Strategy, StrategyError, StrategyEvent, StrategyPayload,
    Subscriptions, Timeframe,
};
use crate::events::correlation::{self, Precursors};
use crate::marvin::{LimitsInForce, Sandbox, SandboxStats};

/// Longest a run waits after a guest call for its log backlog to be stored.
const LOG_ROOM_WAIT: Duration = Duration::from_secs(5);

/// Figures of one run (orders, guest calls, fuel, memory, latency, the limits in force). Stored
/// with the run's account snapshot (`run_accounts.figures`), so fields added later need a default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Figures {
    /// Order intents (place or close) the strategy returned.
    pub order_intents: u64,
    /// Orders the venue accepted (known once the run ended).
    pub orders_placed: Option<u64>,
    /// Guest calls (init and events).
    pub calls: u64,
    /// Bars delivered to the guest.
    pub bars: u64,
    /// Clock ticks delivered to the guest.
    pub clock_ticks: u64,
    /// Fuel used by all calls.
    pub fuel_total: u64,
    /// Average fuel per guest call.
    pub fuel_per_event: f64,
    /// Most fuel used by one call.
    pub fuel_max: u64,
    /// Largest linear memory the guest reached, in bytes.
    pub peak_memory_bytes: u64,
    /// Most the host held for the guest at once (intents, data windows, deliveries), in bytes:
    /// what counts against the host budget.
    pub peak_host_bytes: u64,
    /// The sandbox's limits: its tier's, or what the run asked for.
    pub limits: LimitsInForce,
    /// Traps and limit hits.
    pub traps: u64,
    /// What the run's risk rules over time remember (peak and session equity, breaches, the
    /// state set by hand), as of its last bar: stored with the figures so a restart resumes it.
    pub risk_guard: Option<crate::veda::risk::GuardState>,
    /// 99th percentile of one guest call's wall time, in µs (power-of-two resolution).
    pub call_p99_us: u64,
    /// Longest guest call, in µs.
    pub call_max_us: u64,
    /// 99th percentile of the wall time between two bars reaching the strategy, in µs
    /// (power-of-two resolution): at pace 0, the run's whole per-bar loop (exchange, strategy,
    /// orders, journal); with a pace, that pause included.
    pub bar_gap_p99_us: u64,
    /// Longest time between two bars reaching the strategy, in µs.
    pub bar_gap_max_us: u64,
    /// The run waits for the store (a database outage or a full disk) to journal an order: the
    /// store's error, `None` while it can write.
    pub waiting_for_store: Option<String>,
}

/// Durations in power-of-two buckets of microseconds: a bounded percentile source.
#[derive(Default)]
struct Hist {
    buckets: [u64; 32],
    n: u64,
    max_us: u64,
}

impl Hist {
    fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = (64 - us.leading_zeros()) as usize;
        self.buckets[i.min(self.buckets.len() - 1)] += 1;
        self.n += 1;
        self.max_us = self.max_us.max(us);
    }

    /// The upper bound of the bucket holding the 99th percentile (0 when empty).
    fn p99_us(&self) -> u64 {
        let want = self.n - self.n / 100;
        let mut seen = 0;
        for (i, c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= want && *c > 0 {
                return ((1u64 << i) - 1).min(self.max_us);
            }
        }
        self.max_us
    }
}

/// ticks (the runner owns the strategy).
pub(crate) struct Metered {
    sandbox: Sandbox,
    live: Arc<Live>,
    /// The run's decision book, as the runner task's precursors.
    precursors: Arc<dyn Precursors>,
    run_id: String,
    /// `weaver_strategy_memory_bytes{run_id}`, held for the life of the run: the series is
    /// exported while a handle to it lives and leaves `/metrics` when the run ends
    /// (`glados/exposition.rs`).
    memory_gauge: metrics::Gauge,
    pub(crate) timeframe: Timeframe,
    timeframe_ms: i64,
    clock: bool,
    last_tick: Option<i64>,
    /// Bytes of guest output already turned into log lines, and an unfinished line.
    output_seen: usize,
    partial: String,
    seen: SeenStats,
    calls: Hist,
    gaps: Hist,
    last_bar_at: Option<std::time::Instant>,
    /// Where every event the guest answered is kept for a later switch of version to replay
    /// (`super::promote`).
    history: Option<Arc<super::promote::History>>,
}

#[derive(Default)]
struct SeenStats {
    fuel: u64,
    time: Duration,
    traps: u64,
    calls: u64,
}

impl Metered {
    pub(crate) fn new(
        sandbox: Sandbox,
        live: Arc<Live>,
        run_id: i64,
        timeframe: Timeframe,
    ) -> Metered {
        let clock = sandbox.subscriptions().clock_ticks;
        // `init` counts towards fuel and traps, not towards the per-call latency.
        let init = sandbox.stats();
        let mut m = Metered {
            sandbox,
            precursors: Arc::new(RunDecisions(live.clone())),
            live,
            run_id: run_id.to_string(),
            memory_gauge: metrics::gauge!("weaver_strategy_memory_bytes", "run_id" => run_id.to_string()),
            timeframe,
            timeframe_ms: timeframe.nominal_millis().max(1),
            clock,
            last_tick: None,
            output_seen: 0,
            partial: String::new(),
            seen: SeenStats {
                time: init.call_time_total,
                calls: init.calls,
                ..SeenStats::default()
            },
            calls: Hist::default(),
            gaps: Hist::default(),
            last_bar_at: None,
            history: None,
        };
        let s = m.sandbox.stats();
        m.publish(&s, &[]);
        m
    }

    /// Keeps every event the guest answers in `history` (the run's, shared by the versions
    /// it switches between).
    pub(crate) fn recording(mut self, history: Arc<super::promote::History>) -> Metered {
        self.history = Some(history);
        self
    }

    /// After every guest call (`s`: the sandbox's stats now): figures, metrics, the guest's
    /// output and log intents.
    fn publish(&mut self, s: &SandboxStats, intents: &[Intent]) {
        if s.calls > self.seen.calls {
            self.calls
                .record(s.call_time_total.saturating_sub(self.seen.time));
        }
        let strategy = self.live.strategy.clone();
        let orders = intents
            .iter()
            .filter(|i| matches!(i, Intent::PlaceOrder(_) | Intent::ClosePosition { .. }))
            .count() as u64;
        {
            let mut f = self
                .live
                .figures
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            f.order_intents += orders;
            f.calls = s.calls;
            f.bars = s.bars;
            f.fuel_total = s.fuel_total;
            f.fuel_per_event = s.fuel_per_call();
            f.fuel_max = s.fuel_max;
            f.peak_memory_bytes = s.peak_memory_bytes as u64;
            f.peak_host_bytes = s.peak_host_bytes as u64;
            f.limits = LimitsInForce::from(&s.limits);
            f.traps = s.traps;
            f.call_p99_us = self.calls.p99_us();
            f.call_max_us = self.calls.max_us;
            f.bar_gap_p99_us = self.gaps.p99_us();
            f.bar_gap_max_us = self.gaps.max_us;
        }
        metrics::counter!("weaver_strategy_fuel_total", "strategy" => strategy.clone())
            .increment(s.fuel_total.saturating_sub(self.seen.fuel));
        if s.call_time_total > self.seen.time {
            metrics::histogram!("weaver_strategy_call_duration_seconds", "strategy" => strategy.clone())
                .record((s.call_time_total - self.seen.time).as_secs_f64());
        }
        self.memory_gauge.set(s.peak_memory_bytes as f64);
        if s.traps > self.seen.traps {
            let code = self.sandbox.failure().unwrap_or("strategy_failed");
            metrics::counter!("weaver_strategy_traps_total", "strategy" => strategy, "code" => code)
                .increment(s.traps - self.seen.traps);
        }
        self.seen = SeenStats {
            fuel: s.fuel_total,
            time: s.call_time_total,
            traps: s.traps,
            calls: s.calls,
        };
        for i in intents {
            if let Intent::Log { level, message } = i {
                let level = match level {
                    LogLevel::Debug => "debug",
                    LogLevel::Info => "info",
                    LogLevel::Warn => "warn",
                    LogLevel::Error => "error",
                };
                self.live.logs.push(level, message.clone());
            }
        }
        self.take_output(false);
    }

    /// Turns new guest output into `stdout:` log lines; `all` also flushes an unfinished line.
    fn take_output(&mut self, all: bool) {
        let out = self.sandbox.guest_output();
        if out.len() > self.output_seen {
            let new = out.get(self.output_seen..).unwrap_or_default();
            self.partial.push_str(new);
            self.output_seen = out.len();
        }
        while let Some(n) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=n).collect();
            self.live
                .logs
                .push("info", format!("stdout: {}", line.trim_end()));
        }
        if all && !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.live.logs.push("info", format!("stdout: {line}"));
        }
    }

    fn call(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        let out = off_the_reactor(|| self.sandbox.on_event(event));
        let s = self.sandbox.stats();
        if let Ok(intents) = &out {
            self.decided(&event.meta, intents, &s);
            if let Some(h) = &self.history {
                h.push(event);
            }
        }
        self.publish(&s, out.as_deref().unwrap_or_default());
        self.wait_for_log_room();
        out
    }

    /// Lets the store catch up with a guest that logs faster than it writes (see
    /// [`super::log_book`]): only on the multi-threaded runtime, where the run's thread can
    /// block while the flusher stores on another worker.
    fn wait_for_log_room(&self) {
        if on_multi_thread_runtime() && self.live.logs.backlogged() {
            tokio::task::block_in_place(|| self.live.logs.wait_for_room(LOG_ROOM_WAIT));
        }
    }

    /// Queues the decision of the call that just answered `cause`: its intents and what it
    /// cost (`s` less what was seen after the previous call, before [`Metered::publish`]
    /// moves it on).
    fn decided(&self, cause: &EventMeta, intents: &[Intent], s: &SandboxStats) {
        let id = self.live.decisions.push(
            self.live.id,
            cause,
            intents,
            s.fuel_total.saturating_sub(self.seen.fuel),
            s.call_time_total.saturating_sub(self.seen.time),
        );
        if let Some(id) = id {
            correlation::set_cause(id.to_string(), Some(self.precursors.clone()));
        }
    }

    /// A `clock.Tick` when `event` opens a new bar period (and the guest wants ticks).
    fn tick_for(&mut self, event: &StrategyEvent) -> Option<StrategyEvent> {
        if !self.clock {
            return None;
        }
        let StrategyPayload::Bars(bars) = &event.payload else {
            return None;
        };
        let ts = bars.first()?.bar.ts;
        let boundary = ts.div_euclid(self.timeframe_ms) * self.timeframe_ms;
        if self.last_tick.is_some_and(|t| boundary <= t) {
            return None;
        }
        self.last_tick = Some(boundary);
        let mut meta = event.meta.clone();
        meta.id = match self.live.decisions.tick(self.live.id, boundary) {
            Some(id) => id.to_string(),
            None => format!("{}-tick-{boundary}", self.run_id),
        };
        meta.event_type = "clock.Tick".to_owned();
        meta.ts = boundary;
        meta.producer = "glados".to_owned();
        Some(StrategyEvent {
            meta,
            payload: StrategyPayload::ClockTick,
        })
    }
}

impl Strategy for Metered {
    fn subscriptions(&self) -> Subscriptions {
        self.sandbox.subscriptions()
    }

    fn declaration(&self) -> crate::domain::Declaration {
        self.sandbox.declaration().clone()
    }

    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        if matches!(event.payload, StrategyPayload::Bars(_)) {
            let now = std::time::Instant::now();
            if let Some(prev) = self.last_bar_at.replace(now) {
                self.gaps.record(now - prev);
            }
        }
        let mut intents = Vec::new();
        if let Some(tick) = self.tick_for(event) {
            intents = self.call(&tick)?;
            self.live
                .figures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clock_ticks += 1;
        }
        if let StrategyPayload::Bars(bars) = &event.payload
            && let Some(b) = bars.first()
        {
            self.live.last_bar_ts.store(b.bar.ts, Ordering::Relaxed);
        }
        intents.extend(self.call(event)?);
        Ok(intents)
    }

    fn on_bars(
        &mut self,
        meta: &EventMeta,
        bars: &[crate::domain::SymbolBar],
    ) -> Result<crate::domain::BatchOutcome, StrategyError> {
        let out = off_the_reactor(|| self.sandbox.on_bars(meta, bars));
        let s = self.sandbox.stats();
        if let Ok(o) = &out
            && let Some(last) = bars.get(o.consumed.saturating_sub(1))
        {
            // One decision for the bars the call consumed, at the last one's time.
            let mut cause = meta.clone();
            cause.ts = last.bar.ts;
            self.decided(&cause, &o.intents, &s);
        }
        self.publish(&s, &[]);
        out
    }
}

/// A run's decision book as the runner task's precursors (the book lives in the run's shared
/// state).
struct RunDecisions(Arc<Live>);

impl Precursors for RunDecisions {
    fn take(&self) -> Vec<crate::events::Envelope> {
        self.0.decisions.take()
    }

    fn restore(&self, events: Vec<crate::events::Envelope>) {
        self.0.decisions.put_back(events);
    }

    fn gate(&self) -> Option<Arc<tokio::sync::Mutex<()>>> {
        // The heartbeat and the run's own flush hold it while they store decisions.
        Some(self.0.flush.clone())
    }
}

/// Whether this thread runs on tokio's multi-threaded runtime, where `block_in_place` may hand
/// the worker's queue over while the thread blocks.
fn on_multi_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// Runs a guest call (synchronous, up to its fuel and time limits) without stalling the other
/// tasks of a worker thread: on the multi-threaded runtime the worker hands its queue over
/// first. Elsewhere (single-threaded test runtimes) it just calls.
pub(crate) fn off_the_reactor<T>(f: impl FnOnce() -> T) -> T {
    if on_multi_thread_runtime() {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_the_upper_bound_of_its_power_of_two_bucket() {
        let mut h = Hist::default();
        assert_eq!(h.p99_us(), 0, "empty");
        for _ in 0..99 {
            h.record(Duration::from_micros(10));
        }
        h.record(Duration::from_micros(5_000));
        // 99 of 100 calls took 10 µs: bucket [8, 16) → 15.
        assert_eq!(h.p99_us(), 15);
        assert_eq!(h.max_us, 5_000);
        for _ in 0..10 {
            h.record(Duration::from_micros(5_000));
        }
        // Now more than 1% are slow: the p99 is their bucket's bound, capped at the max.
        assert_eq!(h.p99_us(), 5_000);
    }
}
