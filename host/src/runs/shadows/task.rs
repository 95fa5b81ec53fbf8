//! The task of one shadow: its sandbox behind a [`Recorder`] (every guest call becomes a
//! stored decision, with the shadow's and the run's equity after a bar), driven by its own
//! [`LiveRunner`] on its own simulated exchange over the run's bars ([`ShadowMarket`]), its
//! orders checked against the run's risk limits and the trading switch, journaled in memory
//! only: they never leave this process.
//!
//! # Invariants
//! - A shadow never reaches a venue: its exchange is a `sim-live` exchange over a market that
//!   takes no orders, its journal is in memory.
//! - The run never waits for a shadow, and a shadow's failure (a trap, a budget) ends that
//!   shadow only.
//! - A shutdown leaves a running shadow `running`, so it is resumed with its run; otherwise the
//!   end is stored once (`stopped` when the run ended or it was stopped, `failed` with a code).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::super::Runs;
use super::super::active::Live;
use super::super::metered::off_the_reactor;
use super::feed::{Equities, Hub, ShadowMarket};
use crate::domain::{
    self, Declaration, Intent, Strategy, StrategyError, StrategyEvent, StrategyPayload,
    Subscriptions, Timeframe,
};
use crate::events::correlation;
use crate::greta::broker::{BrokerConfig, Commission, FillModel};
use crate::marvin::Sandbox;
use crate::veda::Venue;
use crate::veda::journal::InMemoryJournal;
use crate::veda::live::{LiveError, LiveRunner};
use crate::veda::risk::RiskLimits;
use crate::veda::sim::SimVenue;
use crate::walle::{Shadow, ShadowDecision, Walle};

/// Decisions waiting that wake the flush early.
const FLUSH_AT: usize = 256;

/// A shadow's decisions on their way to WallE.
#[derive(Default)]
struct Book {
    pending: Mutex<Vec<ShadowDecision>>,
    /// The last sequence number given.
    seq: AtomicI64,
    wanted: Notify,
}

impl Book {
    fn push(&self, row: ShadowDecision) {
        let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        p.push(row);
        if p.len() >= FLUSH_AT {
            self.wanted.notify_one();
        }
    }

    /// Stores what is queued; on failure it goes back in front. Whether all is stored.
    async fn store(&self, walle: &Walle, id: i64) -> bool {
        let batch =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if batch.is_empty() {
            return true;
        }
        if let Err(e) = walle.append_shadow_decisions(id, &batch).await {
            tracing::warn!(
                shadow_id = id,
                code = e.code(),
                "shadow decisions not written yet: {e}"
            );
            let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let later = std::mem::replace(&mut *p, batch);
            p.extend(later);
            return false;
        }
        true
    }
}

/// The shadow's sandbox, each call recorded as a decision.
struct Recorder {
    sandbox: Sandbox,
    book: Arc<Book>,
    sim: SimVenue,
    equities: Equities,
}

impl Strategy for Recorder {
    fn subscriptions(&self) -> Subscriptions {
        domain::Strategy::subscriptions(&self.sandbox)
    }

    fn declaration(&self) -> Declaration {
        self.sandbox.declaration().clone()
    }

    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        let intents = off_the_reactor(|| self.sandbox.on_event(event))?;
        let ts = event.meta.ts;
        let (equity, run_equity) = if matches!(event.payload, StrategyPayload::Bars(_)) {
            let mut known = self.equities.lock().unwrap_or_else(PoisonError::into_inner);
            let run = known.get(&ts).copied();
            // Older bars are done with: the map stays a few entries long.
            *known = known.split_off(&ts);
            (Some(self.sim.account_snapshot().equity), run)
        } else {
            (None, None)
        };
        self.book.push(ShadowDecision {
            seq: self.book.seq.fetch_add(1, Ordering::Relaxed) + 1,
            bar_ts: DateTime::from_timestamp_millis(ts).unwrap_or_default(),
            event_type: event.meta.event_type.clone(),
            intents: Json(intents.clone()),
            equity,
            run_equity,
        });
        Ok(intents)
    }
}

/// A shadow ready to launch.
pub(crate) struct ShadowLaunch {
    pub(crate) shadow: Shadow,
    pub(crate) sandbox: Sandbox,
    pub(crate) symbols: Vec<String>,
    pub(crate) timeframe: Timeframe,
    /// The run's: its limits, starting cash.
    pub(crate) run: Arc<Live>,
    pub(crate) hub: Arc<Hub>,
    /// Decisions already stored (numbering continues after them).
    pub(crate) seq: i64,
}

/// Registers the shadow and spawns its task.
pub(crate) fn launch(runs: &Runs, l: ShadowLaunch) {
    let cancel = runs.inner.shutdown.child_token();
    runs.inner
        .shadows
        .active
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(l.shadow.id, (l.shadow.run_id, cancel.clone()));
    let (id, run_id) = (l.shadow.id, l.shadow.run_id);
    let runs2 = runs.clone();
    let span = tracing::info_span!("shadow", run_id, shadow_id = id);
    let corr = correlation::current()
        .unwrap_or_else(|| crate::events::Correlation::new(format!("run-{run_id}"), None));
    // In the strategy arena, as its run is (`runs::start`).
    runs.inner.tasks.spawn(crate::marvin::arena::scoped(
        tracing::Instrument::instrument(
            correlation::scope(Some(corr), async move {
                let outcome = execute(&runs2, l, cancel.clone()).await;
                finish(&runs2, id, outcome).await;
            }),
            span,
        ),
    ));
}

async fn execute(
    runs: &Runs,
    l: ShadowLaunch,
    cancel: CancellationToken,
) -> Result<(), (String, String)> {
    let id = l.shadow.id;
    let walle = runs.inner.walle.clone();
    let equities = Equities::default();
    let market = Arc::new(ShadowMarket {
        hub: l.hub.clone(),
        equities: equities.clone(),
        timeframe: l.timeframe,
    });
    let fail = |e: crate::veda::Error| (e.code().to_owned(), e.to_string());
    // The run's fills, as on `sim`, `sim-live` and in a backtest of the same bars.
    let sim = SimVenue::live(
        market,
        &l.symbols,
        BrokerConfig {
            cash: l.run.starting_cash,
            commission: Commission::default(),
            slippage_bps: 0.0,
            fill: FillModel::NextOpen,
            fractional: false,
        },
        Vec::new(),
        // The hub hands the shadow the run's own bars, already of the run's timeframe.
        None,
    )
    .map_err(fail)?
    .with_order_id_prefix(&format!("sim-r{}-s{id}-", l.shadow.run_id));
    let book = Arc::new(Book::default());
    book.seq.store(l.seq, Ordering::Relaxed);
    let recorder = Recorder {
        sandbox: l.sandbox,
        book: book.clone(),
        sim: sim.clone(),
        equities,
    };
    let venue: Arc<dyn Venue> = Arc::new(sim.clone());
    let updates = venue.order_updates(Utc::now()).await.map_err(fail)?;
    let bars = venue.bar_stream(&l.symbols).await.map_err(fail)?;
    let releaser = sim.clone();
    let mut runner = LiveRunner::new(
        &format!("{}-shadow-{id}", l.shadow.run_id),
        l.symbols.clone(),
        Box::new(recorder),
        venue.clone(),
        Arc::new(InMemoryJournal::new()),
        RiskLimits::default(),
    )
    .shared_limits(l.run.limits.clone())
    .with_switch(runs.inner.trading.switch())
    .timeframe(l.timeframe)
    .stored_candles(walle.clone())
    .after_each_bar(move || releaser.bar_done())
    .account_source(Arc::new(sim.clone()))
    .on_refused(move |sequence, order, e| {
        tracing::info!(
            shadow_id = id,
            "shadow order #{sequence} ({}) not placed ({}): {e}",
            order.symbol,
            e.code()
        );
    });
    let stop = CancellationToken::new();
    let flusher = {
        let (stop, book, walle) = (stop.clone(), book.clone(), walle.clone());
        runs.inner.tasks.spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    () = book.wanted.notified() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                book.store(&walle, id).await;
            }
        })
    };
    let outcome = tokio::select! {
        r = async {
            // The run's warm-up first, as the run was told it (its orders not placed).
            for (symbol, bar) in l.hub.warmup().await.iter() {
                runner.on_warmup(symbol, *bar).await?;
            }
            runner.run_with_updates(bars, updates).await
        } => r,
        () = cancel.cancelled() => Ok(()),
    };
    let outcome = match outcome {
        Err(LiveError::Strategy(e)) => Err(LiveError::Strategy(e)),
        other => {
            let stopped = runner.stop().await;
            other.and(stopped)
        }
    };
    stop.cancel();
    if flusher.await.is_err() {
        tracing::error!(shadow_id = id, "shadow flush task panicked");
    }
    // The last decisions, patiently: the diff reads them.
    for _ in 0..10 {
        if book.store(&walle, id).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    outcome.map_err(|e| match e {
        LiveError::Strategy(s) => (s.code.clone(), s.message),
        other => (other.code().to_owned(), other.to_string()),
    })
}

/// Stores how the shadow ended (unless the server is shutting down: then it stays `running`
/// and is resumed with its run) and forgets it.
async fn finish(runs: &Runs, id: i64, outcome: Result<(), (String, String)>) {
    runs.inner
        .shadows
        .active
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id);
    if runs.inner.shutdown.is_cancelled() {
        tracing::info!("shadow suspended with its run");
        return;
    }
    let ended = match &outcome {
        Ok(()) => runs.inner.walle.end_shadow(id, "stopped", None).await,
        Err((code, message)) => {
            tracing::warn!(code = code.as_str(), "shadow failed: {message}");
            runs.inner
                .walle
                .end_shadow(id, "failed", Some(code.as_str()))
                .await
        }
    };
    if let Err(e) = ended {
        tracing::error!(
            shadow_id = id,
            code = e.code(),
            "shadow end not stored: {e}"
        );
    }
}
