//! Executes paper runs: the strategy's sandbox (Marvin) driven by a [`LiveRunner`] over a
//! [`SimVenue`] replaying the run's stored candles, every order journaled in WallE through
//! [`WalleJournal`], fills recorded with [`record_trade_update`]. One tracked task per run.
//!
//! # Invariants
//! - A run row is only inserted once the component loaded, `init` accepted the parameters and
//!   candles exist: a refused start stores nothing.
//! - Each run has its own sandbox, venue and task: one failing run never touches another.
//! - A run ends `stopped` (replay finished, `POST /runs/{id}/stop`, or server shutdown) or
//!   `failed` with a stable code (the strategy's own code such as `strategy_fuel_exhausted`).
//!   The task only writes the final status while the row is still `running`, so a stop that
//!   already wrote `stopped` is never overwritten.
//! - Figures live in memory (lost on restart); the run row is the durable record.
//! - A run is only `running` while a task of this process drives it: at start-up,
//!   [`fail_orphans`] marks rows left `running`/`stopping` by an earlier process `failed` with
//!   `interrupted` (they are not resumed yet).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use utoipa::ToSchema;

use super::AppState;
use super::backtests::far_future;
use super::error::ApiError;
use super::runs::RunRequest;
use crate::domain::{
    EventMeta, Intent, Strategy, StrategyConfig, StrategyError, StrategyEvent, Subscriptions,
    Timeframe,
};
use crate::greta::broker::{BrokerConfig, Commission, FillModel};
use crate::marvin::Sandbox;
use crate::veda::Venue;
use crate::veda::journal::recover::record_trade_update;
use crate::veda::journal::store::WalleJournal;
use crate::veda::live::{LiveError, LiveRunner};
use crate::veda::risk::RiskLimits;
use crate::veda::sim::{SimConfig, SimVenue, Speed};
use crate::veda::types::OrderStreamEvent;
use crate::walle::{NewRun, Run, RunMode, RunStatus, Strategy as StoredStrategy};

/// Starting cash of a simulated paper account.
const SIM_CASH: f64 = 10_000.0;

/// Figures of one run, as `GET /runs/{id}` shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunFigures {
    /// Order intents (place or close) the strategy returned.
    pub order_intents: u64,
    /// Orders the venue accepted (known once the run ended).
    pub orders_placed: Option<u64>,
    /// Guest calls (init and events).
    pub calls: u64,
    /// Bars delivered to the guest.
    pub bars: u64,
    /// Fuel used by all calls.
    pub fuel_total: u64,
    /// Average fuel per guest call.
    pub fuel_per_event: f64,
    /// Most fuel used by one call.
    pub fuel_max: u64,
    /// Largest linear memory the guest reached, in bytes.
    pub peak_memory_bytes: u64,
    /// Traps and limit hits.
    pub traps: u64,
}

struct Entry {
    cancel: CancellationToken,
    figures: Arc<Mutex<RunFigures>>,
}

/// The runs this server started: their stop tokens and figures.
#[derive(Default)]
pub(crate) struct Registry {
    runs: Mutex<HashMap<i64, Entry>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Entry>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks run `id` to stop (no effect on runs this server is not executing).
    pub(crate) fn cancel(&self, id: i64) {
        if let Some(e) = self.lock().get(&id) {
            e.cancel.cancel();
        }
    }

    /// The figures of run `id`, if this server executed it since it started.
    pub(crate) fn figures(&self, id: i64) -> Option<RunFigures> {
        self.lock().get(&id).map(|e| {
            e.figures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
    }
}

/// The sandbox, publishing its figures after every call (the runner owns the strategy).
struct Metered {
    sandbox: Sandbox,
    figures: Arc<Mutex<RunFigures>>,
}

impl Metered {
    fn publish(&self, order_intents: u64) {
        let s = self.sandbox.stats();
        let mut f = self.figures.lock().unwrap_or_else(PoisonError::into_inner);
        f.order_intents += order_intents;
        f.calls = s.calls;
        f.bars = s.bars;
        f.fuel_total = s.fuel_total;
        f.fuel_per_event = s.fuel_per_call();
        f.fuel_max = s.fuel_max;
        f.peak_memory_bytes = s.peak_memory_bytes as u64;
        f.traps = s.traps;
    }
}

impl Strategy for Metered {
    fn subscriptions(&self) -> Subscriptions {
        self.sandbox.subscriptions()
    }

    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        let out = off_the_reactor(|| self.sandbox.on_event(event));
        let orders = out.as_ref().map_or(0, |intents| {
            intents
                .iter()
                .filter(|i| matches!(i, Intent::PlaceOrder(_) | Intent::ClosePosition { .. }))
                .count() as u64
        });
        self.publish(orders);
        out
    }

    fn on_bars(
        &mut self,
        meta: &EventMeta,
        bars: &[crate::domain::SymbolBar],
    ) -> Result<crate::domain::BatchOutcome, StrategyError> {
        let out = off_the_reactor(|| self.sandbox.on_bars(meta, bars));
        self.publish(0);
        out
    }
}

/// Runs a guest call (synchronous, up to its fuel and time limits) without stalling the other
/// tasks of a worker thread: on the multi-threaded runtime the worker hands its queue over
/// first. Elsewhere (single-threaded test runtimes) it just calls.
fn off_the_reactor<T>(f: impl FnOnce() -> T) -> T {
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid {
        code,
        message: message.into(),
    }
}

/// Text parameters as the guest's `init` takes them.
fn text_params(req: &RunRequest) -> Vec<(String, String)> {
    req.params
        .iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            )
        })
        .collect()
}

/// Loads and instantiates the strategy, builds the simulated exchange, stores the run as
/// `running` and spawns its task. The request was validated by [`super::runs::create`].
///
/// # Errors
/// 422 `invalid_params` / `strategy_*` when the guest refuses to start, 422 `no_candles` when
/// the store has nothing to replay, 5xx when the store fails.
pub(crate) async fn start(
    state: &AppState,
    strategy: &StoredStrategy,
    req: RunRequest,
) -> Result<Run, ApiError> {
    let timeframe: Timeframe = req
        .timeframe
        .parse()
        .map_err(|e| invalid("invalid_timeframe", format!("{e}")))?;
    let params = text_params(&req);
    let config = StrategyConfig {
        params,
        symbols: req.symbols.clone(),
        timeframe,
    };
    let path = state
        .inner
        .components_dir
        .join(format!("{}.wasm", strategy.sha256));
    let marvin = state.inner.marvin.clone();
    let sandbox = tokio::task::spawn_blocking(move || {
        marvin
            .load_file(&path)
            .and_then(|loaded| loaded.instantiate(&config))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("strategy loader: {e}")))?
    .map_err(|e| invalid(e.code(), e.to_string()))?;

    let speed = match state.inner.config.run_bar_interval_ms {
        0 => Speed::Lockstep,
        ms => Speed::Interval(Duration::from_millis(ms)),
    };
    let sim = SimVenue::from_walle(
        &state.inner.walle,
        &req.symbols,
        timeframe,
        DateTime::<Utc>::UNIX_EPOCH,
        far_future(),
        SimConfig {
            broker: BrokerConfig {
                cash: SIM_CASH,
                commission: Commission::default(),
                slippage_bps: 0.0,
                fill: FillModel::NextOpen,
                fractional: false,
            },
            speed,
        },
    )
    .await
    .map_err(|e| invalid("no_candles", format!("{e} (weaver data import)")))?;
    // Every symbol must have bars: a symbol without any would silently never trade.
    for s in &req.symbols {
        if state
            .inner
            .walle
            .candles(
                s,
                &timeframe.to_string(),
                DateTime::<Utc>::UNIX_EPOCH,
                far_future(),
                1,
            )
            .await?
            .is_empty()
        {
            return Err(invalid(
                "no_candles",
                format!(
                    "no {timeframe} candles stored for {} (weaver data import)",
                    super::http::truncate(s, 32)
                ),
            ));
        }
    }

    let w = &state.inner.walle;
    let run = w
        .insert_run(
            &NewRun {
                strategy_id: strategy.id,
                mode: RunMode::Paper,
                venue: req.venue.clone(),
                params: serde_json::Value::Object(req.params.clone().unwrap_or_default()),
                symbols: req.symbols.clone(),
                timeframe,
            },
            None,
        )
        .await?;
    let run = w
        .update_run_status(run.id, RunStatus::Running, None, None)
        .await?;
    let figures = Arc::new(Mutex::new(RunFigures::default()));
    let cancel = state.inner.shutdown.child_token();
    state.inner.runs.lock().insert(
        run.id,
        Entry {
            cancel: cancel.clone(),
            figures: figures.clone(),
        },
    );
    let strategy = Metered {
        sandbox,
        figures: figures.clone(),
    };
    strategy.publish(0);
    let st = state.clone();
    let id = run.id;
    let symbols = req.symbols;
    // Every log line of the run (the runner, the sandbox, the strategy's own logs) carries
    // run_id; the span's parent is the request's `http` span, so they carry its corr_id too.
    let span = tracing::info_span!("run", run_id = id);
    state.inner.tasks.spawn(
        async move {
            tracing::info!("run started");
            let outcome = execute(&st, id, symbols, Box::new(strategy), sim, cancel, figures).await;
            finish(&st, id, outcome).await;
        }
        .instrument(span),
    );
    Ok(run)
}

/// Drives the run until the replay ends, it is cancelled, or it fails.
async fn execute(
    st: &AppState,
    id: i64,
    symbols: Vec<String>,
    strategy: Box<dyn Strategy>,
    sim: SimVenue,
    cancel: CancellationToken,
    figures: Arc<Mutex<RunFigures>>,
) -> Result<(), (String, String)> {
    let venue: Arc<dyn Venue> = Arc::new(sim.clone());
    let walle = st.inner.walle.clone();
    let fail = |e: crate::veda::Error| (e.code().to_owned(), e.to_string());
    let mut updates = venue.order_updates(Utc::now()).await.map_err(fail)?;
    let bars = venue.bar_stream(&symbols).await.map_err(fail)?;
    let journal = Arc::new(WalleJournal::new(walle.clone()));
    let releaser = sim.clone();
    let mut runner = LiveRunner::new(
        &id.to_string(),
        symbols,
        strategy,
        venue.clone(),
        journal,
        RiskLimits::default(),
    )
    .after_each_bar(move || releaser.bar_done());
    // Fills are recorded in WallE as they come, beside the runner.
    let recorder_stop = CancellationToken::new();
    let recorder = {
        let stop = recorder_stop.clone();
        let walle = walle.clone();
        st.inner.tasks.spawn(async move {
            loop {
                let event = tokio::select! {
                    biased;
                    e = updates.events.recv() => e,
                    () = stop.cancelled() => None,
                };
                let Some(event) = event else { break };
                record(&walle, id, event).await;
            }
            // Whatever arrived before the stop is still recorded.
            while let Ok(event) = updates.events.try_recv() {
                record(&walle, id, event).await;
            }
        })
    };
    let outcome = tokio::select! {
        r = runner.run(bars) => r,
        () = cancel.cancelled() => Ok(()),
    };
    recorder_stop.cancel();
    if recorder.await.is_err() {
        tracing::error!(run_id = id, "fill recorder panicked");
    }
    figures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .orders_placed = Some(runner.placed().iter().filter(|p| p.outcome.is_ok()).count() as u64);
    outcome.map_err(|e| match e {
        LiveError::Strategy(s) => (s.code.clone(), s.message),
        other => (other.code().to_owned(), other.to_string()),
    })
}

/// Marks runs left `running` or `stopping` by an earlier process `failed` (`interrupted`);
/// returns how many. Call once at start-up, before any run starts.
///
/// # Errors
/// When the store cannot be read or written.
pub async fn fail_orphans(walle: &crate::walle::Walle) -> Result<usize, crate::walle::Error> {
    let mut n = 0;
    for status in [RunStatus::Running, RunStatus::Stopping] {
        for run in walle.runs(Some(status), i64::from(i32::MAX)).await? {
            walle
                .update_run_status(run.id, RunStatus::Failed, Some("interrupted"), None)
                .await?;
            n += 1;
        }
    }
    Ok(n)
}

async fn record(walle: &crate::walle::Walle, id: i64, event: OrderStreamEvent) {
    if let OrderStreamEvent::Update(u) = event
        && let Err(e) = record_trade_update(walle, &u).await
    {
        tracing::warn!(run_id = id, code = e.code(), "cannot record a fill: {e}");
    }
}

/// Writes the final status, unless a stop already did.
async fn finish(st: &AppState, id: i64, outcome: Result<(), (String, String)>) {
    let w = &st.inner.walle;
    match w.run(id).await {
        Ok(Some(r)) if r.status == RunStatus::Running => {}
        Ok(_) => return,
        Err(e) => {
            tracing::error!(run_id = id, code = e.code(), "cannot read run: {e}");
            return;
        }
    }
    let (status, code) = match &outcome {
        Ok(()) => (RunStatus::Stopped, None),
        Err((code, message)) => {
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
        return;
    }
    tracing::info!(status = ?status, "run finished");
}
