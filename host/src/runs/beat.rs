//! The heartbeat of every active run, beaten by one task for the whole process: each run's log,
//! queued decisions, account snapshot and figures, and a `run.Heartbeat` event, once per period
//! (`WEAVER_RUN_HEARTBEAT_MS`).
//!
//! A task and a timer per run, each writing its run in transactions of its own, made the store's
//! work grow with the number of runs: on SQLite every commit is an fsync on the one writer
//! connection, and a few thousand runs beating every five seconds kept it busy enough that starts
//! and order journaling queued behind the beats. Here the runs are spread over the period in
//! slices (by id) and a slice's runs are written together, so the commits per period stay a
//! handful whatever the number of runs, and the work is even over the period.
//!
//! # Invariants
//! - Each active run beats about once per period; a run that ended is no longer beaten (its task
//!   stores its final state).
//! - A run's log and decisions have one writer at a time (its `flush` lock: this task, the run's
//!   own flush when its queue fills, and its wrap-up), so its decisions reach the outbox in
//!   order.
//! - A failed write loses nothing: log lines stay unstored and decisions go back in front of
//!   the queue, both retried at the next beat; only that beat's `run.Heartbeat` is dropped.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::DateTime;

use super::active::Live;
use super::{Inner, Runs};
use crate::events::{Envelope, payloads};
use crate::walle::RunBeat;

/// Slices of the period: runs with `id % SLICES == k` beat at the `k`-th tick.
const SLICES: u64 = 10;
/// Runs written per transaction.
const CHUNK: usize = 250;

/// Starts the heartbeat task of `runs` unless it runs. Call after adding a run to the active
/// registry. The task ends when no run is active (so an idle process has no task left), at
/// shutdown, or when the last handle on `runs` is gone.
pub(crate) fn ensure(runs: &Runs) {
    let inner = &runs.inner;
    if inner
        .beating
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let weak = Arc::downgrade(inner);
    let shutdown = inner.shutdown.clone();
    let period = Duration::from_millis(inner.config.heartbeat_ms.max(1));
    inner.tasks.spawn(async move {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = beat_loop(weak, period) => {}
        }
    });
}

async fn beat_loop(weak: Weak<Inner>, period: Duration) {
    let tick = (period / SLICES as u32).max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut slice = 0u64;
    loop {
        ticks.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        let runs = Runs { inner };
        let lives: Vec<Arc<Live>> = runs
            .inner
            .active
            .lock()
            .values()
            .filter(|e| e.live.id.rem_euclid(SLICES as i64) as u64 == slice)
            .map(|e| e.live.clone())
            .collect();
        slice = (slice + 1) % SLICES;
        for chunk in lives.chunks(CHUNK) {
            beat(&runs, chunk).await;
        }
        if runs.inner.active.lock().is_empty() {
            let beating = &runs.inner.beating;
            beating.store(false, Ordering::Release);
            // A run launched meanwhile found the flag still set and started no task: carry on
            // for it, unless its `ensure` already started a new one.
            if runs.inner.active.lock().is_empty()
                || beating
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                return;
            }
        }
    }
}

/// One beat of `lives`: their logs and snapshots in one transaction, their decisions and
/// heartbeats in one append.
async fn beat(runs: &Runs, lives: &[Arc<Live>]) {
    let w = &runs.inner.walle;
    let mut held = Vec::with_capacity(lives.len());
    let mut beats = Vec::with_capacity(lives.len());
    let mut taken = Vec::with_capacity(lives.len());
    let mut beat_events = Vec::with_capacity(lives.len());
    for live in lives {
        // Busy: the run is flushing or wrapping up itself; it beats next period.
        let Ok(guard) = live.flush.try_lock() else {
            continue;
        };
        if !live.is_active() {
            continue;
        }
        let account = live.account().await;
        let figures = live.figures();
        let logs = live.logs.unstored();
        let ts = live.last_bar_ts.load(Ordering::Relaxed);
        let event = Envelope::new(
            "run.Heartbeat",
            "glados",
            payloads::RunHeartbeat {
                run_id: live.id,
                bars: figures.bars,
                bar_ts: (ts != i64::MIN)
                    .then(|| DateTime::from_timestamp_millis(ts))
                    .flatten(),
                equity: account.equity,
                order_intents: figures.order_intents,
            },
        )
        .map(|e| e.for_run(live.id));
        match event {
            Ok(e) => beat_events.push(e),
            Err(e) => tracing::error!(run_id = live.id, "heartbeat refused: {e}"),
        }
        beats.push(RunBeat {
            run_id: live.id,
            bars: i64::try_from(figures.bars).unwrap_or(i64::MAX),
            snapshot: serde_json::to_value(&account).unwrap_or_default(),
            figures: serde_json::to_value(&figures).unwrap_or_default(),
            logs,
        });
        taken.push((live, live.decisions.take()));
        held.push(guard);
    }
    match w.store_beats(&beats).await {
        Ok(()) => {
            for (b, (live, _)) in beats.iter().zip(&taken) {
                if let Some(last) = b.logs.last() {
                    live.logs.mark_stored(last.seq);
                }
            }
        }
        Err(e) => {
            tracing::warn!(
                code = e.code(),
                runs = beats.len(),
                "run snapshots and logs not written: {e}"
            );
            for (live, _) in &taken {
                live.logs.mark_failing();
            }
        }
    }
    // Each run's decisions in order, then the heartbeats: one append for the slice.
    let counts: Vec<usize> = taken.iter().map(|(_, d)| d.len()).collect();
    let mut events: Vec<Envelope> = Vec::with_capacity(counts.iter().sum::<usize>() + beats.len());
    let lives_taken: Vec<&Arc<Live>> = taken.iter().map(|(l, _)| *l).collect();
    for (_, decisions) in taken {
        events.extend(decisions);
    }
    events.extend(beat_events);
    if let Err(e) = w.append_batch(&events).await {
        tracing::warn!(
            code = e.code(),
            events = events.len(),
            "decisions and heartbeats not written yet: {e}"
        );
        // One run's bad event must not hold back the others: each run appends its own.
        let mut rest = events.into_iter();
        for (live, n) in lives_taken.into_iter().zip(counts) {
            let decisions: Vec<Envelope> = rest.by_ref().take(n).collect();
            if let Err(e) = w.append_batch(&decisions).await {
                tracing::warn!(
                    run_id = live.id,
                    code = e.code(),
                    "decisions not written yet: {e}"
                );
                live.decisions.put_back(decisions);
            }
        }
    }
    drop(held);
}
