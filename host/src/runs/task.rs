//! The task of one run: deliver bars (paced on the simulated exchange), drive the
//! [`LiveRunner`] (strategy → risk checks → journal → venue), record fills, store its log and
//! decisions when a queue fills (the heartbeat, `super::beat`, stores them every period), and
//! wrap up with the final status.
//!
//! # Invariants
//! - The final status is written only while the row is still `running`: a stop that already
//!   wrote `stopped` is never overwritten.
//! - Every fill that arrived before the end is recorded before the task ends.
//! - The pace only adds pauses between bar times (a new bar time at most once per interval,
//!   counted from the previous one's release); the replay stays in lockstep with the strategy,
//!   so a run is deterministic whatever the load.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use chrono::Utc;
use rust_decimal::prelude::ToPrimitive;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Runs;
use super::account::{AccountState, DeskAccount, Trade, side_text};
use super::active::Live;
use super::metered::{Figures, Metered};
use super::start::Exec;
use crate::domain::Timeframe;
use crate::events::correlation;
use crate::veda::Venue;
use crate::veda::journal::recover::record_trade_update_patiently;
use crate::veda::journal::store::WalleJournal;
use crate::veda::live::{LiveError, LiveRunner};
use crate::veda::risk::RiskLimits;
use crate::veda::sim::SimVenue;
use crate::veda::types::{BarEvent, OrderStreamEvent, StreamHandle, TradeEvent};
use crate::walle::{RunStatus, Walle};

/// Why a run ended `failed`: a stable code and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: String,
    pub(crate) message: String,
}

/// A launched run's parts, moved into its task.
pub(crate) struct RunTask {
    pub(crate) runs: Runs,
    pub(crate) id: i64,
    pub(crate) symbols: Vec<String>,
    pub(crate) strategy: Metered,
    pub(crate) exec: Exec,
    pub(crate) cancel: CancellationToken,
    pub(crate) live: Arc<Live>,
    /// Bars delivered without pauses first (a resumed replay catching up).
    pub(crate) resume_bars: u64,
    /// Orders and positions by hand (`super::control`).
    pub(crate) commands: tokio::sync::mpsc::Receiver<crate::veda::live::control::Command>,
}

impl RunTask {
    /// Executes the run, then wraps it up.
    pub(crate) async fn run(self) {
        let (runs, id, live) = (self.runs.clone(), self.id, self.live.clone());
        let outcome = execute(self).await;
        // Its shadows end with it (a shutdown leaves them to be resumed with it), and so does
        // a switch of version it did not get to make.
        runs.inner.shadows.run_ended(id);
        super::promote::run_ended(&runs, id, "run_ended").await;
        wrap_up(&runs, id, &live, outcome).await;
    }
}

fn pace(
    st: &Runs,
    mut source: StreamHandle<BarEvent>,
    pace: Duration,
    fast: u64,
    cancel: CancellationToken,
) -> StreamHandle<BarEvent> {
    if pace.is_zero() {
        return source;
    }
    let (tx, rx) = mpsc::channel(1);
    st.inner.tasks.spawn(async move {
        let (mut delivered, mut prev) = (0u64, None);
        // When the previous bar time was released: the next one follows `pace` after it, so
        // the time the run takes for a bar is part of the pause, not added to it (a run paced
        // at one bar a second gets one a second, not one every second plus its own work).
        let mut released = tokio::time::Instant::now();
        while let Some(event) = source.next().await {
            if let BarEvent::Bar { bar, .. } = &event {
                delivered += 1;
                let new_time = prev.is_none_or(|p| p != bar.ts);
                if delivered > fast && prev.is_some() && new_time {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep_until(released + pace) => {}
                    }
                }
                if new_time {
                    released = tokio::time::Instant::now();
                }
                prev = Some(bar.ts);
            }
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    StreamHandle::new(rx, CancellationToken::new())
}

/// Drives the run until the replay ends (simulated exchange) or the bar stream does, it is
/// cancelled, or it fails.
async fn execute(t: RunTask) -> Result<(), Failure> {
    let RunTask {
        runs: st,
        id,
        symbols,
        strategy,
        exec,
        cancel,
        live,
        resume_bars,
        commands,
    } = t;
    let st = &st;
    let live = &live;
    let run_symbols = symbols.clone();
    let (venue, sim): (Arc<dyn Venue>, Option<SimVenue>) = match &exec {
        Exec::Sim(sim) => (Arc::new(sim.clone()), Some(sim.clone())),
        Exec::Desk { desk, .. } => (desk.venue(), None),
    };
    let walle = st.inner.walle.clone();
    let fail = |e: crate::veda::Error| Failure {
        code: e.code().to_owned(),
        message: e.to_string(),
    };
    // On a live venue the desk records every order update once for all runs.
    let recorded = match &sim {
        Some(_) => Some(venue.order_updates(Utc::now()).await.map_err(fail)?),
        None => None,
    };
    let strategy_updates = venue.order_updates(Utc::now()).await.map_err(fail)?;
    let bars = venue.bar_stream(&symbols).await.map_err(fail)?;
    let bars = match &sim {
        Some(_) => {
            let every = Duration::from_millis(st.inner.config.bar_interval_ms);
            pace(st, bars, every, resume_bars, cancel.clone())
        }
        None => bars,
    };
    let timeframe = strategy.timeframe;
    // A run on a desk on a longer timeframe builds its bars from the minute stream.
    let builds = matches!(exec, Exec::Desk { .. }) && timeframe != Timeframe::MINUTE;
    // Each bar to the run's shadows first (`super::shadows`); the bars it builds, as built.
    let bars = super::shadows::tee(
        st,
        id,
        live.clone(),
        venue.clone(),
        sim.clone(),
        builds,
        bars,
    );
    let journal = Arc::new(WalleJournal::new(walle.clone()));
    let resumed = super::risk::stored_guard(&walle, id, matches!(exec, Exec::Desk { .. })).await;
    // Switches of version (`super::promote`) are made by the strategy the runner holds.
    let (strategy, board) = super::promote::switching(st, strategy, live.clone());
    let mut runner = LiveRunner::new(
        &id.to_string(),
        symbols,
        Box::new(strategy),
        venue.clone(),
        journal,
        RiskLimits::default(),
    )
    .shared_limits(live.limits.clone())
    .timeframe(timeframe)
    .stored_candles(walle.clone())
    .commands(commands)
    .guarded(resumed, {
        let (live, board) = (live.clone(), board.clone());
        move |breaches, state| {
            if !breaches.is_empty() {
                board.risk_broken();
            }
            super::risk::on_guard(&live, breaches, state);
        }
    })
    .with_switch(st.inner.trading.switch())
    .store_patience(st.inner.config.store_patience, {
        let live = live.clone();
        let (faults, patience) = (walle.faults().clone(), st.inner.config.store_patience);
        // When this wait began: a wait that ends after the whole patience gave up (the run
        // fails), which does not mean the store writes again.
        let began = std::sync::Mutex::new(None::<std::time::Instant>);
        move |error| {
            let who = crate::walle::faults::Writer::Run(id);
            let mut began = began.lock().unwrap_or_else(PoisonError::into_inner);
            match error {
                Some(e) => {
                    began.get_or_insert_with(std::time::Instant::now);
                    faults.failed(who, e);
                }
                None => match began.take() {
                    Some(t) if t.elapsed() >= patience => faults.left(who),
                    _ => faults.wrote(who),
                },
            }
            drop(began);
            let waiting = error.map(str::to_owned);
            let was = std::mem::replace(
                &mut live
                    .figures
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .waiting_for_store,
                waiting.clone(),
            );
            match (was.is_some(), waiting) {
                (false, Some(e)) => live.logs.push(
                    "warn",
                    format!("waiting for the store to journal an order (it goes on where it stopped): {e}"),
                ),
                (true, None) => live.logs.push("info", "the store is back: the run goes on"),
                _ => {}
            }
        }
    })
    .on_refused({
        let live = live.clone();
        move |sequence, order, e| {
            if let crate::veda::Error::PreTrade(v) = e {
                board.risk_broken();
                live.decisions.record(denied(id, order, v));
            }
            live.logs.push(
                "warn",
                format!(
                    "order #{sequence} ({} {} {}) not placed ({}): {e}",
                    side_text(order.side),
                    order.quantity,
                    order.symbol,
                    e.code()
                ),
            );
        }
    });
    let (mut offset_ms, mut warmup) = (0, 0);
    // Where the warm-up is read from: the run's venue, or a `sim-live` exchange's market.
    let mut warm_venue = venue.clone();
    match &exec {
        Exec::Sim(sim) => {
            let releaser = sim.clone();
            runner = runner
                .after_each_bar(move || releaser.bar_done())
                .account_source(Arc::new(sim.clone()));
            let (prepared, warm) =
                super::sim_live::prepare_runner(runner, sim, &walle, id, timeframe);
            runner = prepared;
            if let Some((market, bars, offset)) = warm {
                (warm_venue, warmup, offset_ms) = (market, bars, offset);
            }
        }
        Exec::Desk {
            desk,
            scope,
            journaled,
            options,
        } => {
            // The venue's clock, which the run's bars close on.
            offset_ms = super::warmup::venue_offset(venue.as_ref())
                .await
                .map_err(fail)?;
            if builds {
                let aggregator = super::warmup::bar_clock(
                    venue.as_ref(),
                    &run_symbols,
                    timeframe,
                    *options,
                    offset_ms,
                )
                .await
                .map_err(fail)?;
                let desk = desk.clone();
                let to_shadows = super::shadows::built_bars(st, id, live.clone());
                runner = runner.aggregate(aggregator, offset_ms).on_emitted(
                    move |symbol, bar, amended| {
                        to_shadows(symbol, bar, amended);
                        desk.store_bar(symbol, timeframe, bar);
                    },
                );
            }
            warmup = options.warmup.unwrap_or(0);
            let account = DeskAccount::new(walle.clone(), id, live.starting_cash);
            runner = runner
                .announced_bars(desk.name())
                .order_scope(scope)
                .resume_at(*journaled)
                .account_source(Arc::new(account))
                .tape(crate::veda::live::tape::WalleTape::start(walle.clone(), id));
            if let Some(cap) = rust_decimal::prelude::FromPrimitive::from_f64(live.starting_cash) {
                runner = runner.equity_cap(cap);
            }
            // The account's limits and state, over every run on it.
            let gate = st.gate_of(desk).await.map_err(|e| Failure {
                code: e.code().to_owned(),
                message: e.to_string(),
            })?;
            runner = runner.account_gate(gate);
        }
    }
    // Fills are recorded in WallE as they come, beside the runner.
    let side_stop = CancellationToken::new();
    let recorder = recorded.map(|mut updates| {
        let stop = side_stop.clone();
        let walle = walle.clone();
        let live = live.clone();
        st.inner
            .tasks
            .spawn(correlation::scope(correlation::current(), async move {
                loop {
                    let event = tokio::select! {
                        biased;
                        e = updates.events.recv() => e,
                        () = stop.cancelled() => None,
                    };
                    let Some(event) = event else { break };
                    record(&walle, id, &live, event).await;
                }
                // Whatever arrived before the stop is still recorded.
                while let Ok(event) = updates.events.try_recv() {
                    record(&walle, id, &live, event).await;
                }
            }))
    });
    // The heartbeat task (`super::beat`) stores the log and the decisions once per period;
    // this one stores them sooner when a burst fills a queue.
    let flusher = {
        let stop = side_stop.clone();
        let live = live.clone();
        let st = st.clone();
        let tasks = st.inner.tasks.clone();
        tasks.spawn(correlation::scope(correlation::current(), async move {
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    () = live.logs.wanted.notified() => {}
                    () = live.decisions.wanted.notified() => {}
                }
                let _one_writer = live.flush.lock().await;
                let _ = live.logs.store(&st.inner.walle, id).await;
                let _ = live.decisions.store(&st.inner.walle, id).await;
            }
        }))
    };
    let outcome = tokio::select! {
        r = async {
            let warm = super::warmup::warm_up(
                &walle, &warm_venue, &mut runner, live, &run_symbols, timeframe, warmup, offset_ms,
            )
            .await?;
            // The run's shadows are told the same warm-up before their first bar.
            st.inner.shadows.hub(id).warmed(warm);
            runner.run_with_updates(bars, strategy_updates).await
        } => r,
        () = cancel.cancelled() => Ok(()),
    };
    // A stop request or shutdown ends the run as the end of the replay does: the strategy is
    // told `Stopping` (once; the replay's end told it already). A failed sandbox is not called.
    let outcome = match outcome {
        Err(LiveError::Strategy(e)) => Err(LiveError::Strategy(e)),
        other => {
            let stopped = runner.stop().await;
            other.and(stopped)
        }
    };
    side_stop.cancel();
    if let Some(recorder) = recorder
        && recorder.await.is_err()
    {
        tracing::error!(run_id = id, "fill recorder panicked");
    }
    if flusher.await.is_err() {
        tracing::error!(run_id = id, "log and decision flush task panicked");
    }
    live.figures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .orders_placed = Some(runner.placed().iter().filter(|p| p.outcome.is_ok()).count() as u64);
    if cancel.is_cancelled() && outcome.is_ok() {
        live.logs.push("info", "run stopped");
    } else if outcome.is_ok()
        // A `sim-live` exchange's bars are the live venue's: its stream ending is not a replay's.
        && sim
            .as_ref()
            .is_some_and(|s| s.name() != crate::veda::sim::LIVE_VENUE)
    {
        live.logs.push("info", "replay finished");
    } else if outcome.is_ok() {
        live.logs.push("warn", "the venue's bar stream ended");
    }
    outcome.map_err(|e| match e {
        LiveError::Strategy(s) => Failure {
            code: s.code.clone(),
            message: s.message,
        },
        other => Failure {
            code: other.code().to_owned(),
            message: other.to_string(),
        },
    })
}

/// Stores the account snapshot and the figures; whether it could.
async fn snapshot(w: &Walle, id: i64, account: &AccountState, figures: &Figures) -> bool {
    let value = serde_json::to_value(account).unwrap_or_default();
    let figures_value = serde_json::to_value(figures).unwrap_or_default();
    let bars = i64::try_from(figures.bars).unwrap_or(i64::MAX);
    if let Err(e) = w.update_run_account(id, bars, &value, &figures_value).await {
        tracing::warn!(
            run_id = id,
            code = e.code(),
            "run snapshot not written: {e}"
        );
        return false;
    }
    true
}

async fn record(walle: &Walle, id: i64, live: &Live, event: OrderStreamEvent) {
    let OrderStreamEvent::Update(u) = event else {
        return;
    };
    if matches!(u.event, TradeEvent::Fill | TradeEvent::PartialFill)
        && let (Some(price), Some(qty)) = (u.price, u.quantity)
    {
        *live
            .last_trade
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Trade {
            symbol: u.order.symbol.clone(),
            side: side_text(u.order.side),
            qty: qty.to_f64().unwrap_or(0.0),
            price: price.to_f64().unwrap_or(0.0),
            ts: u.timestamp.unwrap_or_else(Utc::now),
        });
    }
    if let Err(e) = record_trade_update_patiently(walle, &u).await {
        tracing::error!(
            run_id = id,
            code = e.code(),
            "order update not recorded: {e}"
        );
    }
}

/// Logs the outcome, stores the final account, figures and log, writes the final status (unless
/// a stop already did), then forgets the run: from then on the API reads it from WallE.
/// When the final state could not all be stored, the run stays in memory so the API still
/// shows it as it ended.
async fn wrap_up(st: &Runs, id: i64, live: &Live, outcome: Result<(), Failure>) {
    if finish(st, id, live, outcome).await {
        st.inner.active.remove(id);
    } else {
        tracing::warn!(
            run_id = id,
            "run kept in memory: its final state is not all stored"
        );
    }
}

/// Whether the final account, figures, log and status are stored.
async fn finish(st: &Runs, id: i64, live: &Live, outcome: Result<(), Failure>) -> bool {
    let w = &st.inner.walle;
    if let Err(Failure { code, message }) = &outcome {
        live.logs
            .push("error", format!("run failed ({code}): {message}"));
    }
    let account = live.account().await;
    let snapshot_stored = snapshot(w, id, &account, &live.figures()).await;
    *live.ended.lock().unwrap_or_else(PoisonError::into_inner) = Some(account);
    // The venue (and its copy of the candles) is dropped with the run.
    live.venue
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let decisions_stored;
    let logs_stored;
    {
        // After any beat of the run in progress, so its last decisions follow the earlier ones.
        let _one_writer = live.flush.lock().await;
        decisions_stored = live.decisions.store(w, id).await;
        logs_stored = live.logs.store(w, id).await;
    }
    let stored = logs_stored && snapshot_stored && decisions_stored;
    match w.run(id).await {
        Ok(Some(r)) if r.status == RunStatus::Running => {}
        Ok(_) => return stored,
        Err(e) => {
            tracing::error!(run_id = id, code = e.code(), "cannot read run: {e}");
            return false;
        }
    }
    // The server is shutting down (SIGTERM, an upgrade) and nobody stopped the run: it is
    // suspended, and the next start resumes it. What ended it meanwhile (its streams closing
    // with the venue's desk) is the shutdown, not a fault of the run.
    let suspended = st.inner.shutdown.is_cancelled();
    let (status, code) = match &outcome {
        _ if suspended => {
            live.logs.push(
                "info",
                "suspended: the server is shutting down; the run resumes at its next start",
            );
            // Stored here: the flush above ran before this line was written.
            let _one_writer = live.flush.lock().await;
            live.logs.store(w, id).await;
            (RunStatus::Suspended, None)
        }
        Ok(()) => (RunStatus::Stopped, None),
        Err(Failure { code, message }) => {
            tracing::warn!(run_id = id, code = code.as_str(), "run failed: {message}");
            (RunStatus::Failed, Some(code.as_str()))
        }
    };
    if let Err(e) = w.update_run_status(id, status, code, None).await {
        tracing::error!(
            run_id = id,
            code = e.code(),
            "cannot record run outcome: {e}"
        );
        return false;
    }
    tracing::info!(status = ?status, "run finished");
    stored
}

/// The `risk.OrderDenied` event of `order`, refused by `v`, caused by the decision that asked
/// for it (the task's current cause) when there is one.
fn denied(
    run_id: i64,
    order: &crate::veda::types::OrderRequest,
    v: &crate::veda::risk::Violation,
) -> Option<crate::events::Envelope> {
    let payload = crate::events::payloads::OrderDenied {
        run_id,
        client_order_id: order.client_order_id.clone(),
        symbol: order.symbol.clone(),
        side: order.side,
        rule: v.rule().to_owned(),
        code: v.code().to_owned(),
        figure: v.figure(),
        limit: v.limit(),
        message: v.to_string(),
        account: v.account().map(str::to_owned),
    };
    let mut e = crate::events::Envelope::new("risk.OrderDenied", "veda", payload)
        .inspect_err(|e| tracing::error!(run_id, "order denial not recorded: {e}"))
        .ok()?
        .for_run(run_id);
    e.causation_id = correlation::cause();
    Some(e)
}
