//! Backtest jobs: backtests the server runs for the API. A [`JobRequest`] is validated at once
//! into a [`BacktestSpec`] over candles stored in WallE (as `weaver backtest`'s flags are over
//! files), queued as a WallE row, and run on a blocking thread with the strategy loaded through
//! the server's shared Marvin. The report is the `weaver backtest --report` JSON, built by the
//! same code (`BacktestSpec::engine_config`, [`super::report::build`]).
//!
//! # Invariants
//! - A refused request (limits above the operator's ceilings, unknown or unready strategy, bad
//!   timeframe, no candles, bad money amounts) stores nothing.
//! - Every accepted backtest ends `done` (report stored) or `failed` (error stored); a stop
//!   marks the ones still running `failed` with `interrupted by shutdown`.
//! - The stored report is split into `metrics` (everything but trades and equity), `trades` and
//!   `equity`; [`report_of`] puts it back together.
//! - A job runs only with one of the `concurrency` slots and its memory estimate reserved from
//!   the shared budget ([`super::budget`]); a request whose estimate alone is above the budget is
//!   refused (`backtest_too_large`) and stores nothing.
//! - At most [`LOADS_AT_ONCE`] jobs read candles at once, so the store's readers stay free for
//!   the API however many jobs start together.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::budget::{self, MemoryBudget};
use super::report::{self, StrategyInfo};
use super::{BacktestSpec, DataWindow, FillModel, StoredWindow, StrategySource};
use crate::domain::Timeframe;
use crate::events::{Envelope, correlation, payloads};
use crate::marvin::{Catalogue, LimitRequest, Marvin};
use crate::walle::{
    self, Backtest, BacktestReport, BacktestStatus, NewBacktest, StrategyRef, StrategyStatus, Walle,
};

/// Most bars one backtest loads per symbol.
pub(super) const MAX_BARS: i64 = 5_000_000;

/// Largest `warmup` accepted.
const MAX_WARMUP: u64 = 1_000_000;

/// Jobs reading their candles at once. A 500,000-bar read holds one of the store's readers for
/// seconds; with every job reading at once (the concurrency may be up to 64) the API's own
/// reads waited for a reader past the pool's 30 s timeout and `POST /backtests` answered 500
/// (finding M8). SQLite has 8 readers and PostgreSQL a shared pool of 10 by default: two
/// leave the rest to the API.
pub const LOADS_AT_ONCE: usize = 2;

/// Estimates kept for `GET /backtests/{id}` (the newest; older ones are forgotten, and an earlier
/// process's are not known).
const ESTIMATES_KEPT: usize = 10_000;

/// Why a backtest was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is unusable (`limit_not_allowed`, `invalid_timeframe`, `invalid_symbols`,
    /// `invalid_warmup`, `invalid_range`, `no_candles`, `invalid_backtest`).
    #[error("{message}")]
    Invalid {
        /// Stable code.
        code: &'static str,
        /// Human text.
        message: String,
    },
    /// No strategy by that reference (the reference as text).
    #[error("strategy {0} not found")]
    StrategyNotFound(String),
    /// The strategy is disabled.
    #[error("strategy {0} is disabled")]
    StrategyDisabled(i64),
    /// The strategy is still compiling or was rejected.
    #[error("strategy {id} is not ready (status {status:?})")]
    StrategyNotReady {
        /// The strategy.
        id: i64,
        /// Its status.
        status: StrategyStatus,
    },
    /// The backtest's memory estimate alone is above the whole budget
    /// (`WEAVER_BACKTEST_MEMORY_MB`): it could never start.
    #[error(
        "backtest too large: it needs an estimated {estimate_mb} MB and the backtest memory budget is {budget_mb} MB (shorten the range, fewer symbols, or raise WEAVER_BACKTEST_MEMORY_MB)"
    )]
    TooLarge {
        /// The estimate, MB.
        estimate_mb: u64,
        /// The whole budget, MB.
        budget_mb: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] walle::Error),
    /// The request could not be kept as JSON.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { code, .. } => code,
            Error::StrategyNotFound(_) => "not_found",
            Error::StrategyDisabled(_) => "strategy_disabled",
            Error::StrategyNotReady { .. } => "strategy_not_ready",
            Error::TooLarge { .. } => "backtest_too_large",
            Error::Store(e) => e.code(),
            Error::Internal(_) => "internal_error",
        }
    }
}

fn invalid(code: &'static str, message: impl Into<String>) -> Error {
    Error::Invalid {
        code,
        message: message.into(),
    }
}

fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Loads the component and calls its `init` with the request's parameters, symbols and
/// timeframe, so a strategy that refuses them (a typo: the SDKs' `unknown_param`) is refused
/// with the request (422) instead of queuing a job that fails.
///
/// # Errors
/// [`Error::Invalid`] with Marvin's code (`invalid_params`: the strategy's own code and
/// message follow in the message).
async fn init_check(marvin: &Marvin, spec: &BacktestSpec) -> Result<(), Error> {
    let (StrategySource::Component(path), DataWindow::Stored(window)) =
        (&spec.strategy, &spec.data)
    else {
        return Ok(());
    };
    let (path, marvin) = (path.clone(), marvin.clone());
    let config = crate::domain::StrategyConfig {
        params: spec.params.clone(),
        symbols: window.symbols.clone(),
        timeframe: window.timeframe,
    };
    let limits = spec.limits;
    let checked = tokio::task::spawn_blocking(move || {
        marvin
            .load_file(&path)?
            .instantiate_with(&config, &limits)
            .map(drop)
    })
    .await
    .map_err(|e| Error::Internal(format!("init check: {e}")))?;
    checked.map_err(|e| match e {
        crate::marvin::Error::Io(_) | crate::marvin::Error::Internal(_) => {
            Error::Internal(e.to_string())
        }
        e => invalid(e.code(), e.to_string()),
    })
}

/// A backtest to run over stored candles. Defaults are `weaver backtest`'s.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// The strategy by id, name (newest ready version) or name and version.
    pub strategy: StrategyRef,
    /// Symbols (candles must be stored for each).
    pub symbols: Vec<String>,
    /// Bar timeframe text (`1Min`, `1Day`, …).
    pub timeframe: String,
    /// First bar time (inclusive); default: the oldest stored.
    pub start: Option<DateTime<Utc>>,
    /// End (exclusive); default: after the newest stored.
    pub end: Option<DateTime<Utc>>,
    /// Starting cash.
    pub cash: Option<f64>,
    /// Commission as a fraction of traded value per side.
    pub commission: Option<f64>,
    /// Market-order fill price.
    pub fill: Option<FillModel>,
    /// Indicator warm-up in bars; `None`: the strategy's declared one.
    pub warmup: Option<u64>,
    /// Strategy parameters.
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
    /// Sandbox limits instead of the strategy tier's, within the operator's ceilings.
    pub limits: LimitRequest,
    /// Fill models beyond the reference's (default: none).
    pub fills: super::FillSettings,
    /// The request as the caller wants it stored and shown (the API's JSON body).
    pub config: serde_json::Value,
}

/// What [`Jobs`] is built from.
pub struct JobsParts {
    /// The store.
    pub walle: Walle,
    /// The sandbox host (shared engine and compiled-component cache).
    pub marvin: Marvin,
    /// Where the strategies' components are.
    pub catalogue: Catalogue,
    /// Where jobs are tracked (the process's, so a shutdown waits for them).
    pub tasks: TaskTracker,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
    /// Backtests running at once (at least 1); the others wait `queued`
    /// (`WEAVER_BACKTEST_CONCURRENCY`).
    pub concurrency: usize,
    /// Memory the running backtests share, MB (`WEAVER_BACKTEST_MEMORY_MB`).
    pub memory_budget_mb: u64,
    /// Where loaded bars are kept between jobs (`WEAVER_BAR_CACHE_MB`).
    pub bar_cache: super::bar_cache::BarCache,
}

/// What a queued backtest waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// One of the `concurrency` slots.
    Slot,
    /// Its memory estimate, from what the running backtests left of the budget.
    Memory,
}

impl Waiting {
    /// Stable snake_case name (`slot`, `memory`).
    pub fn as_str(self) -> &'static str {
        match self {
            Waiting::Slot => "slot",
            Waiting::Memory => "memory",
        }
    }
}

/// What the server knows of a backtest's admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// The memory estimate, MB.
    pub estimate_mb: u64,
    /// While queued: what it waits for and its place in the queue (1 = next).
    pub waiting: Option<(Waiting, usize)>,
}

/// Estimates and waits, by backtest id.
#[derive(Debug, Default)]
struct Ledger {
    estimates: BTreeMap<i64, u64>,
    waiting: HashMap<i64, Waiting>,
}

/// The server's backtest jobs. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    pub(super) inner: Arc<JobsParts>,
    /// One per backtest allowed to run at once.
    permits: Arc<tokio::sync::Semaphore>,
    /// The memory the running ones share.
    budget: MemoryBudget,
    /// One per job reading candles at once ([`LOADS_AT_ONCE`]).
    pub(super) loads: Arc<tokio::sync::Semaphore>,
    ledger: Arc<Mutex<Ledger>>,
    /// Backtests are queued for `weaver worker` processes instead of run here
    /// (`WEAVER_WORKERS=external`; in a worker: it runs them for the server).
    external: bool,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs").finish_non_exhaustive()
    }
}

/// Everything a job needs, resolved at request time (sweeps, `greta/sweep_jobs.rs`, plan theirs
/// the same way).
#[derive(Clone)]
pub(crate) struct Plan {
    /// The backtest; its data is a [`DataWindow::Stored`] window.
    pub(crate) spec: BacktestSpec,
    /// Its name and hash, for the report.
    pub(crate) name: String,
    pub(crate) sha256: String,
    /// Its memory estimate, MB.
    pub(crate) estimate_mb: u64,
    /// Bars it loads (every symbol's together) and the memory its sandbox may grow to.
    pub(crate) bars: u64,
    pub(crate) guest_memory: u64,
}

impl Jobs {
    /// The jobs over these parts.
    pub fn new(p: JobsParts) -> Jobs {
        let permits = Arc::new(tokio::sync::Semaphore::new(p.concurrency.max(1)));
        let budget = MemoryBudget::new(p.memory_budget_mb);
        tracing::info!(
            concurrency = p.concurrency.max(1),
            memory_budget_mb = budget.total_mb(),
            "backtest limits"
        );
        Jobs {
            inner: Arc::new(p),
            permits,
            budget,
            loads: Arc::new(tokio::sync::Semaphore::new(LOADS_AT_ONCE)),
            ledger: Arc::default(),
            external: false,
        }
    }

    /// These jobs with external workers (`WEAVER_WORKERS=external`): the server stores and
    /// queues backtests for `weaver worker` processes; a worker runs them.
    #[must_use]
    pub fn with_external_workers(mut self, external: bool) -> Jobs {
        self.external = external;
        self
    }

    /// Whether `weaver worker` processes run these jobs.
    pub fn external(&self) -> bool {
        self.external
    }

    /// The whole memory budget, MB.
    pub fn memory_budget_mb(&self) -> u64 {
        self.budget.total_mb()
    }

    /// Backtest `id`'s estimate and, while it is queued, what it waits for; `None` for one this
    /// process did not queue (or forgot, [`ESTIMATES_KEPT`]).
    pub fn admission(&self, id: i64) -> Option<Admission> {
        let l = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        let estimate_mb = *l.estimates.get(&id)?;
        let waiting = l.waiting.get(&id).map(|w| {
            // Queues are first come, first served, and ids grow with arrival.
            let ahead = l.waiting.keys().filter(|other| **other < id).count();
            (*w, ahead + 1)
        });
        Some(Admission {
            estimate_mb,
            waiting,
        })
    }

    fn note(&self, id: i64, waiting: Option<Waiting>) {
        let mut l = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        match waiting {
            Some(w) => l.waiting.insert(id, w),
            None => l.waiting.remove(&id),
        };
    }

    /// Marks the backtests an earlier process left `queued` or `running` (it stopped or died
    /// while they ran) `failed` with an `interrupted` error, each with its
    /// `backtest.StatusChanged`. Call once at start-up, before any backtest is queued. The ids
    /// marked.
    ///
    /// # Errors
    /// The store's.
    pub async fn fail_interrupted(&self) -> Result<Vec<i64>, Error> {
        let w = &self.inner.walle;
        let ids = w.unfinished_backtests().await?;
        if self.external {
            // The workers run them: a worker that died is replaced by the next one's claim.
            for id in &ids {
                w.insert_job_lease(walle::JobKind::Backtest, *id).await?;
            }
            return Ok(Vec::new());
        }
        for id in &ids {
            w.update_backtest(
                *id,
                BacktestStatus::Failed,
                None,
                Some("interrupted: the server stopped while it ran; start it again"),
                None,
                &[],
            )
            .await?;
        }
        Ok(ids)
    }

    /// Calls the strategy's `init` with a plan's parameters, symbols and timeframe
    /// ([`init_check`]): backtests are refused with it, sweeps only on an unknown parameter.
    ///
    /// # Errors
    /// [`Error::Invalid`] with Marvin's code.
    pub(crate) async fn check_init(&self, plan: &Plan) -> Result<(), Error> {
        init_check(&self.inner.marvin, &plan.spec).await
    }

    /// Validates and queues a backtest; the stored row keeps the resolved strategy id.
    ///
    /// # Errors
    /// [`Error`] for a refused request (nothing stored) or a store failure.
    pub async fn create(&self, req: JobRequest) -> Result<Backtest, Error> {
        let (plan, strategy_id) = self.plan(&req).await?;
        self.check_init(&plan).await?;
        if !self.budget.fits(plan.estimate_mb) {
            return Err(Error::TooLarge {
                estimate_mb: plan.estimate_mb,
                budget_mb: self.budget.total_mb(),
            });
        }
        let b = self
            .inner
            .walle
            .insert_backtest(
                &NewBacktest {
                    strategy_id: Some(strategy_id),
                    run_id: None,
                    config: req.config,
                },
                None,
            )
            .await?;
        if self.external {
            self.keep_component(&plan).await?;
            self.inner
                .walle
                .insert_job_lease(walle::JobKind::Backtest, b.id)
                .await?;
            return Ok(b);
        }
        {
            let mut l = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
            l.estimates.insert(b.id, plan.estimate_mb);
            while l.estimates.len() > ESTIMATES_KEPT {
                l.estimates.pop_first();
            }
            l.waiting.insert(b.id, Waiting::Slot);
        }
        self.spawn(b.id, plan);
        Ok(b)
    }

    /// The store, the sandbox host and the process's task tracker and shutdown token.
    pub(crate) fn parts(&self) -> &JobsParts {
        &self.inner
    }

    /// Waits for one of the concurrency slots, then for `estimate_mb` of the memory budget, as a
    /// backtest does; both are held until the pair is dropped. `None` when `cancel` fires first.
    pub(crate) async fn admit(
        &self,
        estimate_mb: u64,
        cancel: &CancellationToken,
    ) -> Option<(
        tokio::sync::OwnedSemaphorePermit,
        tokio::sync::OwnedSemaphorePermit,
    )> {
        let slot = tokio::select! {
            p = self.permits.clone().acquire_owned() => p.ok()?,
            () = cancel.cancelled() => return None,
        };
        let memory = tokio::select! {
            m = self.budget.reserve(estimate_mb) => m?,
            () = cancel.cancelled() => return None,
        };
        Some((slot, memory))
    }

    /// Validates a request into a plan (nothing stored); the resolved strategy id with it.
    ///
    /// # Errors
    /// [`Error`] for a refused request.
    pub(crate) async fn plan(&self, req: &JobRequest) -> Result<(Plan, i64), Error> {
        // Limits first, as for runs: a request the operator does not allow is refused whatever
        // else is wrong with it.
        req.limits
            .check(&self.inner.marvin.config().ceilings)
            .map_err(|e| invalid(e.code(), e.to_string()))?;
        let w = &self.inner.walle;
        let strategy = w.resolve_strategy(&req.strategy).await?.ok_or_else(|| {
            Error::StrategyNotFound(match &req.strategy {
                StrategyRef::Id(i) => i.to_string(),
                StrategyRef::Name(n) | StrategyRef::Version { name: n, .. } => clip(n, 64),
            })
        })?;
        match strategy.status {
            StrategyStatus::Ready => {}
            StrategyStatus::Disabled => return Err(Error::StrategyDisabled(strategy.id)),
            status => {
                return Err(Error::StrategyNotReady {
                    id: strategy.id,
                    status,
                });
            }
        }
        let tf: Timeframe = req
            .timeframe
            .parse()
            .map_err(|e| invalid("invalid_timeframe", format!("{e}")))?;
        if req.symbols.is_empty() || req.symbols.len() > 32 {
            return Err(invalid("invalid_symbols", "give 1 to 32 symbols"));
        }
        let warmup = req.warmup;
        if warmup.is_some_and(|w| w > MAX_WARMUP) {
            return Err(invalid(
                "invalid_warmup",
                format!("warmup must be 0–{MAX_WARMUP} bars"),
            ));
        }
        let start = req.start.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        let end = req.end.unwrap_or_else(crate::domain::far_future);
        if start >= end {
            return Err(invalid("invalid_range", "start must be before end"));
        }
        let mut bars = 0_u64;
        for s in &req.symbols {
            let n = w.count_candles(s, &tf.to_string(), start, end).await?;
            // A job loads at most MAX_BARS of each symbol.
            bars = bars.saturating_add(u64::try_from(n.min(MAX_BARS)).unwrap_or(0));
            if n == 0 {
                return Err(invalid(
                    "no_candles",
                    format!(
                        "no {tf} candles stored for {} in the range (weaver data import)",
                        clip(s, 32)
                    ),
                ));
            }
        }
        let path = self.inner.catalogue.component_path(&strategy.sha256);
        let mut spec = BacktestSpec::new(
            StrategySource::Component(path.clone()),
            DataWindow::Stored(StoredWindow {
                symbols: req.symbols.clone(),
                timeframe: tf,
                start,
                end,
            }),
        );
        spec.cash = req.cash.unwrap_or(spec.cash);
        spec.commission.pct = req.commission.unwrap_or(spec.commission.pct);
        spec.fill = req.fill.unwrap_or(FillModel::NextOpen);
        spec.warmup = warmup.map(|w| usize::try_from(w).unwrap_or(usize::MAX));
        spec.params = crate::domain::text_params(req.params.as_ref());
        spec.limits = req.limits;
        spec.fills = req
            .fills
            .resolve()
            .map_err(|e| invalid("invalid_backtest", e.to_string()))?;
        spec.engine_config()
            .map_err(|e| invalid("invalid_backtest", e.to_string()))?;
        // The sandbox may grow its memory to its limit: the one asked for, else its tier's
        // (the heavier tier's when unsure; the two differ by 32 MiB).
        let marvin = self.inner.marvin.config();
        let guest_memory = req.limits.max_memory_bytes.unwrap_or(
            marvin
                .limits
                .max_memory_bytes
                .max(marvin.heavy_limits.max_memory_bytes),
        );
        let estimate_mb =
            budget::estimate_mb(bars, u64::try_from(guest_memory).unwrap_or(u64::MAX));
        let plan = Plan {
            spec,
            name: strategy.name,
            sha256: strategy.sha256,
            estimate_mb,
            bars,
            guest_memory: u64::try_from(guest_memory).unwrap_or(u64::MAX),
        };
        Ok((plan, strategy.id))
    }

    fn spawn(&self, id: i64, plan: Plan) {
        let this = self.clone();
        let corr = correlation::current();
        self.inner.tasks.spawn(correlation::scope(corr, async move {
            // Queued until a permit is free; a shutdown meanwhile leaves it `queued`, which the
            // next start reports as interrupted.
            let permit = tokio::select! {
                p = this.permits.clone().acquire_owned() => p,
                () = this.inner.shutdown.cancelled() => return,
            };
            let Ok(_permit) = permit else { return };
            // Then its memory, held until its outcome is stored (the report is the largest part).
            this.note(id, Some(Waiting::Memory));
            let memory = tokio::select! {
                m = this.budget.reserve(plan.estimate_mb) => m,
                () = this.inner.shutdown.cancelled() => return,
            };
            let Some(memory) = memory else { return };
            this.note(id, None);
            this.run_and_store(id, plan).await;
            drop(memory);
            // The report's JSON tree was millions of small allocations freed on other threads'
            // arenas, which glibc keeps: a trim a little later (after the store's worker has
            // freed its copy too) hands them back. Measured (dev build): with a trim right after
            // the job, RSS stayed at 450 MB after one 500,000-bar job; with this one it is 92 MB
            // (heap 46 MB) after twenty (fresh: 50 MB; scripts/bench-backtests-memory.sh).
            crate::marvin::request_trim();
        }));
    }

    /// Runs a planned backtest: its report (split as stored) and the orders its strategy placed.
    ///
    /// # Errors
    /// The failure as `code: message` text.
    pub(crate) async fn execute(
        &self,
        plan: Plan,
    ) -> Result<(BacktestReport, Vec<super::engine::PlacedOrder>), String> {
        let (cfg, source, bt, strategy) = self.prepare(&plan.spec).await?;
        let mut strategy = strategy?;
        let DataWindow::Stored(window) = &plan.spec.data else {
            return Err("internal_error: a backtest job runs over stored candles".into());
        };
        let timeframe = window.timeframe.to_string();
        type Done = (serde_json::Value, Vec<super::engine::PlacedOrder>);
        let job = tokio::task::spawn_blocking(move || -> Result<Done, String> {
            // The engine's loop takes its own guard; this one also covers building the report
            // (`marvin::arena`).
            let _arena = crate::marvin::arena::enter_batch();
            let spec = &plan.spec;
            let result = bt
                .run(strategy.as_mut(), &cfg, None)
                .map_err(|e| format!("{}: {e}", e.code()))?;
            let info = StrategyInfo {
                name: plan.name,
                sha256: plan.sha256,
                params: report::params_json(&spec.params),
                limits: source.limits,
            };
            let value = serde_json::to_value(report::build(&bt, &cfg, info, &result))
                .map_err(|e| e.to_string())?;
            Ok((value, result.orders))
        });
        let (value, orders) = tokio::select! {
            r = job => r.map_err(|e| format!("internal_error: {e}"))??,
            () = self.inner.shutdown.cancelled() => return Err("interrupted by shutdown".into()),
        };
        let serde_json::Value::Object(mut head) = value else {
            return Err("internal_error: report is not an object".into());
        };
        // Which price adjustment each symbol's bars had (`all` for a split- and
        // dividend-adjusted download, null when unknown), so a report says what it tested on.
        if let Some(serde_json::Value::Array(data)) = head.get_mut("data") {
            for entry in data.iter_mut() {
                let Some(symbol) = entry.get("symbol").and_then(|s| s.as_str()) else {
                    continue;
                };
                let series = self
                    .inner
                    .walle
                    .candle_series(symbol, &timeframe)
                    .await
                    .map_err(|e| format!("{}: {e}", e.code()))?;
                let adjustment = series.and_then(|s| s.adjustment);
                if let serde_json::Value::Object(map) = entry {
                    map.insert("adjustment".into(), adjustment.into());
                }
            }
        }
        let trades = head.remove("trades").unwrap_or_default();
        let equity = head.remove("equity").unwrap_or_default();
        Ok((
            BacktestReport {
                metrics: serde_json::Value::Object(head),
                trades,
                equity,
            },
            orders,
        ))
    }
}

/// The `backtest.PlaceOrder` commands of backtest `id`'s orders (the strategy's intents routed to
/// the simulated broker), written with its report.
pub(super) fn commands(
    id: i64,
    orders: &[super::engine::PlacedOrder],
) -> Result<Vec<Envelope>, walle::Error> {
    orders
        .iter()
        .map(|o| {
            let bar_ts = DateTime::from_timestamp_millis(o.ts).unwrap_or_default();
            let payload = payloads::BacktestOrder {
                backtest_id: id,
                client_order_id: o.client_order_id.clone(),
                bar_ts,
                intent: o.intent.clone(),
                accepted: o.accepted,
            };
            Ok(Envelope::new("backtest.PlaceOrder", "greta", payload)?
                .command()
                .at(bar_ts))
        })
        .collect()
}

/// Reassembles a stored report (`None` until the backtest is done). One stored before the
/// report had `by_symbol` gets it computed on read from its stored trades
/// ([`super::by_symbol::fill_missing`]); nothing is written back.
pub fn report_of(b: &Backtest) -> Option<serde_json::Value> {
    let mut head = b.metrics.as_ref()?.0.as_object()?.clone();
    for (key, part) in [("trades", &b.trades), ("equity", &b.equity)] {
        head.insert(
            key.into(),
            part.as_ref()
                .map_or(serde_json::Value::Null, |t| t.0.clone()),
        );
    }
    super::by_symbol::fill_missing(&mut head);
    Some(serde_json::Value::Object(head))
}
