//! Sweep jobs: parameter sweeps the server runs for the API. A [`SweepRequest`] is validated as
//! `POST /backtests` validates a backtest ([`Jobs::plan`], with the first point's parameters),
//! plus its space, method, objective and constraints, and one `init` of the strategy with the
//! first point's parameters; then it is stored and run as one job that holds one of the
//! backtests' concurrency slots and its memory estimate ([`Jobs::admit`]). The points run on
//! rayon's pool over one data load and one compiled component (one instance per point), as
//! `weaver backtest --sweep` does, and each finished point is stored at once.
//!
//! # Invariants
//! - A refused request stores nothing.
//! - A point's failure (trap, budget, the strategy's own error) is stored with the point and
//!   never stops the sweep; only a sweep whose data or strategy cannot be loaded is `failed`.
//! - A cancel stops every point within one strategy call (each instance checks the sweep's
//!   token before every call); points finished before are kept, interrupted ones are not
//!   stored, and the status is `cancelled`.
//! - A shutdown leaves a sweep `queued` or `running`; the next start resumes it and skips the
//!   points already stored, so no point is stored twice and none is lost.
//! - With external workers (`WEAVER_WORKERS=external`) a sweep is only stored, cut into chunks
//!   and its component's bytes kept in the database; `weaver worker` processes run it
//!   (`greta/sweep_chunks.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use rayon::prelude::*;
use tokio_util::sync::CancellationToken;

use super::budget;
use super::jobs::{self, JobRequest, Jobs, Plan};
use super::overfitting;
use super::sweeps::{self, Axes, Axis, Constraints, Invalid, Method, Objective};
use crate::domain::{
    BatchOutcome, Declaration, EventMeta, Intent, Strategy, StrategyError, StrategyEvent,
    Subscriptions, SymbolBar,
};
use crate::walle::{self, NewSweepPoint, PointStatus, Sweep, SweepStatus};

/// Default of `WEAVER_SWEEP_MAX_POINTS`.
pub const DEFAULT_MAX_POINTS: u64 = 100_000;

/// Bytes each point running beside the first holds per bar: its equity and timestamp columns,
/// the engine's per-bar views and the broker's marks (8 bytes each), with room. The shared data
/// load is counted once, by [`budget::estimate_mb`]. Estimated from the engine's columns, not
/// measured.
pub(crate) const POINT_BYTES_PER_BAR: u64 = 64;

/// Points finished but not yet stored, at most: the pool waits for the store beyond this.
const PENDING_WRITES: usize = 256;

/// Why a sweep was refused or cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Refused as `POST /backtests` refuses a backtest (strategy, timeframe, candles, limits,
    /// money amounts, memory).
    #[error(transparent)]
    Job(#[from] jobs::Error),
    /// The space, method, objective, constraints or size are unusable.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The strategy's `init` refused a parameter it does not declare (`unknown_param`).
    #[error("the strategy does not take parameter {name:?}: {message}")]
    UnknownParameter {
        /// The parameter.
        name: String,
        /// The strategy's message.
        message: String,
    },
    /// No such point in the sweep.
    #[error("sweep {sweep} has no point {index} (it has {total})")]
    NoPoint {
        /// Sweep id.
        sweep: i64,
        /// Index asked for.
        index: u64,
        /// Points it has.
        total: u64,
    },
    /// The sweep already ended.
    #[error("sweep {0} already ended")]
    Finished(i64),
    /// A point's report could not be computed (the point fails when run again).
    #[error("the point failed: {0}")]
    PointFailed(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] walle::Error),
}

impl Error {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Job(e) => e.code(),
            Error::Invalid(e) => e.code,
            Error::UnknownParameter { .. } => "unknown_parameter",
            Error::NoPoint { .. } => "not_found",
            Error::Finished(_) => "sweep_finished",
            Error::PointFailed(_) => "point_failed",
            Error::Store(e) => e.code(),
        }
    }
}

/// A sweep to run over stored candles.
#[derive(Debug, Clone)]
pub struct SweepRequest {
    /// The backtest every point is: `params` are the fixed parameters (a swept one wins),
    /// `config` the request as it is stored and shown.
    pub job: JobRequest,
    /// How the points are chosen.
    pub method: Method,
    /// The parameters swept.
    pub space: BTreeMap<String, Axis>,
    /// What ranks the points.
    pub objective: Objective,
    /// What a point must meet to be feasible.
    pub constraints: Constraints,
}

/// A request checked: its axes and number of points.
pub(crate) struct Checked {
    pub(crate) axes: Axes,
    pub(crate) total: u64,
}

/// The server's sweeps. Cheap to clone.
#[derive(Clone)]
pub struct Sweeps {
    pub(crate) jobs: Jobs,
    max_points: u64,
    /// Sweeps are cut into chunks for `weaver worker` processes instead of run here
    /// (`WEAVER_WORKERS=external`, `greta/sweep_chunks.rs`).
    external: bool,
    /// The token of each sweep this process runs or queues (a child of the shutdown token).
    active: Arc<Mutex<HashMap<i64, CancellationToken>>>,
}

impl std::fmt::Debug for Sweeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweeps")
            .field("max_points", &self.max_points)
            .finish_non_exhaustive()
    }
}

impl Sweeps {
    /// Sweeps sharing `jobs`' slots and memory budget, each of at most `max_points` points; run
    /// by `weaver worker` processes when `jobs` are ([`Jobs::with_external_workers`]).
    pub fn new(jobs: Jobs, max_points: u64) -> Sweeps {
        Sweeps {
            external: jobs.external(),
            jobs,
            max_points: max_points.max(1),
            active: Arc::default(),
        }
    }

    /// Whether `weaver worker` processes run these sweeps.
    pub fn external(&self) -> bool {
        self.external
    }

    /// Most points a sweep may have (`WEAVER_SWEEP_MAX_POINTS`).
    pub fn max_points(&self) -> u64 {
        self.max_points
    }

    pub(crate) fn check(&self, req: &SweepRequest) -> Result<Checked, Error> {
        sweeps::check_metric(&req.objective.metric)?;
        sweeps::check_constraints(&req.constraints)?;
        let axes = sweeps::axes(&req.space)?;
        let total = sweeps::point_count(&axes, &req.method)?;
        sweeps::check_size(total, self.max_points)?;
        Ok(Checked { axes, total })
    }

    /// Point `index`'s parameters: the fixed ones with the point's swept ones over them.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a request that does not check, [`Error::NoPoint`].
    pub fn point_params(
        &self,
        sweep: i64,
        req: &SweepRequest,
        index: u64,
    ) -> Result<Vec<(String, String)>, Error> {
        let c = self.check(req)?;
        if index >= c.total {
            return Err(Error::NoPoint {
                sweep,
                index,
                total: c.total,
            });
        }
        Ok(merged(
            &req.job,
            &sweeps::point(&c.axes, &req.method, index),
        ))
    }

    /// Validates, stores and queues a sweep.
    ///
    /// # Errors
    /// [`Error`] for a refused request (nothing stored) or a store failure.
    pub async fn create(&self, req: SweepRequest) -> Result<Sweep, Error> {
        let c = self.check(&req)?;
        let (plan, strategy_id, estimate_mb) = self.plan(&req, &c).await?;
        // One `init` with the first point's parameters: a name the strategy never reads refuses
        // the sweep by that name; any other refusal is left to the points, which record it.
        if let Err(e) = self.jobs.check_init(&plan).await {
            match unknown_parameter(e) {
                e @ Error::UnknownParameter { .. } => return Err(e),
                Error::Job(jobs::Error::Internal(m)) => return Err(jobs::Error::Internal(m).into()),
                _ => {}
            }
        }
        let total = i64::try_from(c.total).unwrap_or(i64::MAX);
        let sweep = self
            .jobs
            .parts()
            .walle
            .insert_sweep(strategy_id, &req.job.config, total)
            .await?;
        if self.external {
            self.hand_to_workers(sweep.id, &plan, c.total).await?;
        } else {
            self.spawn(sweep.id, req, c, plan, estimate_mb);
        }
        Ok(sweep)
    }

    /// Resumes sweep `id`, which an earlier process left `queued` or `running`, skipping its
    /// stored points; a request that no longer validates (strategy disabled, candles deleted)
    /// marks it `failed` with the reason.
    ///
    /// # Errors
    /// The store's.
    pub async fn resume(&self, id: i64, req: SweepRequest) -> Result<(), Error> {
        let planned = match self.check(&req) {
            Ok(c) => self.plan(&req, &c).await.map(|p| (c, p)),
            Err(e) => Err(e),
        };
        match planned {
            Ok((c, (plan, _, _))) if self.external => {
                self.hand_to_workers(id, &plan, c.total).await
            }
            Ok((c, (plan, _, estimate_mb))) => {
                self.spawn(id, req, c, plan, estimate_mb);
                Ok(())
            }
            Err(e) => {
                let why = format!("cannot resume after a restart: {}: {e}", e.code());
                self.jobs
                    .parts()
                    .walle
                    .set_sweep_status(id, SweepStatus::Failed, Some(&why))
                    .await?;
                Ok(())
            }
        }
    }

    /// Stops sweep `id`: its running points end within one strategy call, finished points
    /// stay, and it is `cancelled`.
    ///
    /// # Errors
    /// [`Error::Finished`] for a sweep already ended; the store's.
    pub async fn cancel(&self, id: i64) -> Result<Sweep, Error> {
        let w = &self.jobs.parts().walle;
        let Some(sweep) = w.sweep(id).await? else {
            return Err(Error::Store(walle::Error::NotFound {
                entity: "sweep",
                key: id.to_string(),
            }));
        };
        if sweep.status.is_final() {
            return Err(Error::Finished(id));
        }
        if let Some(token) = self.token(id) {
            token.cancel();
        }
        Ok(w.set_sweep_status(id, SweepStatus::Cancelled, None).await?)
    }

    /// The full report of point `index` (the `weaver backtest --report` JSON), computed by
    /// running the point again as a backtest (deterministic: the same bars, parameters and
    /// engine give the same report). Waits for a backtest slot and its memory like a backtest.
    ///
    /// # Errors
    /// [`Error::NoPoint`], [`Error::Job`] when the request no longer validates,
    /// [`Error::PointFailed`] when the point fails again.
    pub async fn point_report(
        &self,
        sweep: i64,
        req: &SweepRequest,
        index: u64,
    ) -> Result<serde_json::Value, Error> {
        let params = self.point_params(sweep, req, index)?;
        let mut job = req.job.clone();
        job.params = Some(super::report::params_json(&params));
        let (plan, _) = self.jobs.plan(&job).await?;
        let shutdown = self.jobs.parts().shutdown.clone();
        let Some(held) = self.jobs.admit(plan.estimate_mb, &shutdown).await else {
            return Err(Error::PointFailed("interrupted by shutdown".into()));
        };
        let (report, _) = self.jobs.execute(plan).await.map_err(Error::PointFailed)?;
        drop(held);
        let mut head = match report.metrics {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        head.insert("trades".into(), report.trades);
        head.insert("equity".into(), report.equity);
        Ok(serde_json::Value::Object(head))
    }

    /// Computes and stores sweep `id`'s overfitting figures over its stored points: the best
    /// feasible point (by the objective, `descending` for `max`) among every done point. No
    /// best point: nothing is stored (the view shows `null`).
    ///
    /// # Errors
    /// The store's, as `code: message` text.
    pub(crate) async fn store_figures(&self, id: i64, descending: bool) -> Result<(), String> {
        let store = |e: walle::Error| format!("{}: {e}", e.code());
        let w = &self.jobs.parts().walle;
        let best = w
            .sweep_points(id, &walle::PointOrder::Objective { descending }, 1, 0)
            .await
            .map_err(store)?
            .into_iter()
            .find(|p| p.feasible && p.objective.is_some());
        let Some(best) = best else { return Ok(()) };
        let cap = i64::try_from(overfitting::MAX_TRIALS).unwrap_or(i64::MAX);
        let (rows, total) = w
            .sweep_returns(id, cap.saturating_add(1))
            .await
            .map_err(store)?;
        let figures = if total > cap {
            overfitting::too_many(usize::try_from(total).unwrap_or(usize::MAX))
        } else {
            let Some(chosen) = rows.iter().position(|(i, _)| *i == best.idx) else {
                return Ok(());
            };
            let trials: Vec<Vec<f64>> = rows.into_iter().map(|(_, r)| r).collect();
            // Up to about a second of arithmetic: off the async workers.
            tokio::task::spawn_blocking(move || overfitting::figures(&trials, chosen))
                .await
                .map_err(|e| format!("internal_error: {e}"))?
        };
        let value = serde_json::to_value(&figures).map_err(|e| format!("internal_error: {e}"))?;
        w.set_sweep_overfitting(id, &value).await.map_err(store)
    }

    fn token(&self, id: i64) -> Option<CancellationToken> {
        let active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        active.get(&id).cloned()
    }

    /// The plan of the first point (validated as a backtest), its strategy id and the sweep's
    /// memory estimate.
    pub(crate) async fn plan(
        &self,
        req: &SweepRequest,
        c: &Checked,
    ) -> Result<(Plan, i64, u64), Error> {
        let mut job = req.job.clone();
        let first = merged(&req.job, &sweeps::point(&c.axes, &req.method, 0));
        job.params = Some(super::report::params_json(&first));
        let (plan, strategy_id) = self.jobs.plan(&job).await?;
        let threads = rayon::current_num_threads() as u64;
        let extra = threads
            .saturating_sub(1)
            .saturating_mul(
                plan.guest_memory
                    .saturating_add(plan.bars.saturating_mul(POINT_BYTES_PER_BAR)),
            )
            .div_ceil(1 << 20);
        let estimate_mb = budget::estimate_mb(plan.bars, plan.guest_memory).saturating_add(extra);
        let budget_mb = self.jobs.memory_budget_mb();
        if estimate_mb > budget_mb {
            return Err(jobs::Error::TooLarge {
                estimate_mb,
                budget_mb,
            }
            .into());
        }
        Ok((plan, strategy_id, estimate_mb))
    }

    fn spawn(&self, id: i64, req: SweepRequest, c: Checked, plan: Plan, estimate_mb: u64) {
        let parts = self.jobs.parts();
        let token = parts.shutdown.child_token();
        {
            let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
            active.insert(id, token.clone());
        }
        let this = self.clone();
        let corr = crate::events::correlation::current();
        parts
            .tasks
            .spawn(crate::events::correlation::scope(corr, async move {
                let outcome = this.run(id, &req, c, plan, estimate_mb, &token).await;
                let w = &this.jobs.parts().walle;
                let shutdown = this.jobs.parts().shutdown.is_cancelled();
                if !shutdown && (outcome.is_ok() || token.is_cancelled()) {
                    // Before the final status, so a client that sees `done` sees the figures.
                    let descending = req.objective.direction == sweeps::Direction::Max;
                    if let Err(e) = this.store_figures(id, descending).await {
                        tracing::error!(sweep_id = id, "overfitting figures not stored: {e}");
                    }
                }
                let written = match outcome {
                    // Left queued or running: the next start resumes it.
                    _ if shutdown => Ok(()),
                    _ if token.is_cancelled() => w
                        .set_sweep_status(id, SweepStatus::Cancelled, None)
                        .await
                        .map(drop),
                    Ok(()) => w
                        .set_sweep_status(id, SweepStatus::Done, None)
                        .await
                        .map(drop),
                    Err(why) => w
                        .set_sweep_status(id, SweepStatus::Failed, Some(&why))
                        .await
                        .map(drop),
                };
                if let Err(e) = written {
                    tracing::error!(
                        sweep_id = id,
                        code = e.code(),
                        "cannot record sweep end: {e}"
                    );
                }
                this.active
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
                crate::marvin::request_trim();
            }));
    }

    /// Admits, loads and runs the points not stored yet. `Err`: why the sweep failed.
    async fn run(
        &self,
        id: i64,
        req: &SweepRequest,
        c: Checked,
        plan: Plan,
        estimate_mb: u64,
        token: &CancellationToken,
    ) -> Result<(), String> {
        let w = self.jobs.parts().walle.clone();
        let Some(held) = self.jobs.admit(estimate_mb, token).await else {
            return Ok(());
        };
        let status = w
            .set_sweep_status(id, SweepStatus::Running, None)
            .await
            .map_err(|e| format!("{}: {e}", e.code()))?;
        if status.status != SweepStatus::Running {
            // Cancelled while it waited.
            return Ok(());
        }
        // The first point's instance only says which stored series to load; a first point
        // whose `init` fails is recorded like any other.
        let (cfg, source, bt, _first) = self.jobs.prepare(&plan.spec).await?;
        let stored: HashSet<i64> = w
            .sweep_point_indexes(id)
            .await
            .map_err(|e| format!("{}: {e}", e.code()))?
            .into_iter()
            .collect();
        let todo: Vec<u64> = (0..c.total)
            .filter(|i| !stored.contains(&i64::try_from(*i).unwrap_or(i64::MAX)))
            .collect();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<NewSweepPoint>(PENDING_WRITES);
        let writer = {
            let w = w.clone();
            tokio::spawn(async move {
                let mut lost = 0_u64;
                while let Some(p) = rx.recv().await {
                    if let Err(e) = w.insert_sweep_point(id, &p).await {
                        tracing::error!(
                            sweep_id = id,
                            idx = p.idx,
                            code = e.code(),
                            "point not stored: {e}"
                        );
                        lost += 1;
                    }
                }
                lost
            })
        };
        let job = req.job.clone();
        let (method, objective, constraints) = (
            req.method.clone(),
            req.objective.clone(),
            req.constraints.clone(),
        );
        let axes = c.axes;
        let token_for_pool = token.clone();
        let pool = tokio::task::spawn_blocking(move || {
            todo.par_iter().for_each(|&i| {
                if token_for_pool.is_cancelled() {
                    return;
                }
                let swept = sweeps::point(&axes, &method, i);
                let params = merged(&job, &swept);
                let point_cfg = super::EngineConfig {
                    params: params.clone(),
                    ..cfg.clone()
                };
                let outcome = (source.factory)(&bt.strategy_config(&params))
                    .map_err(super::Error::Strategy)
                    .and_then(|inner| {
                        let mut s = Cancellable {
                            inner,
                            token: &token_for_pool,
                        };
                        bt.run(&mut s, &point_cfg, None)
                    });
                if token_for_pool.is_cancelled() {
                    // Interrupted or not, a point racing the cancel is left out: a cancelled
                    // sweep keeps what finished before it.
                    return;
                }
                let point = judged(i, &swept, outcome, &objective, &constraints);
                let _ = tx.blocking_send(point);
            });
        });
        let pooled = pool.await;
        let lost = writer.await.unwrap_or(0);
        drop(held);
        pooled.map_err(|e| format!("internal_error: {e}"))?;
        if lost > 0 {
            return Err(format!("store_error: {lost} points could not be stored"));
        }
        Ok(())
    }
}

/// The fixed parameters with the swept ones over them (a swept key replaces a fixed one).
pub(crate) fn merged(job: &JobRequest, swept: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = crate::domain::text_params(job.params.as_ref())
        .into_iter()
        .filter(|(k, _)| !swept.iter().any(|(s, _)| s == k))
        .collect();
    out.extend(swept.iter().cloned());
    out
}

/// A finished point as stored: its summary, feasibility, objective and block returns, or its
/// error.
pub(crate) fn judged(
    i: u64,
    swept: &[(String, String)],
    outcome: Result<super::RunResult, super::Error>,
    objective: &Objective,
    constraints: &Constraints,
) -> NewSweepPoint {
    let idx = i64::try_from(i).unwrap_or(i64::MAX);
    let params = sweeps::params_json(swept);
    match outcome {
        Ok(r) => NewSweepPoint {
            idx,
            params,
            status: PointStatus::Done,
            error: None,
            metrics: Some(sweeps::summary(&r.metrics)),
            feasible: sweeps::feasible(&r.metrics, constraints),
            objective: sweeps::objective_value(&r.metrics, &objective.metric),
            returns: Some(overfitting::block_returns(
                &r.equity,
                overfitting::MAX_PERIODS,
            )),
        },
        Err(e) => NewSweepPoint {
            idx,
            params,
            status: PointStatus::Failed,
            error: Some(match &e {
                super::Error::Strategy(s) => format!("{}: {}", s.code, s.message),
                other => format!("{}: {other}", other.code()),
            }),
            metrics: None,
            feasible: false,
            objective: None,
            returns: None,
        },
    }
}

/// A strategy instance that stops at its next call once its sweep is cancelled.
pub(crate) struct Cancellable<'a> {
    pub(crate) inner: Box<dyn Strategy>,
    pub(crate) token: &'a CancellationToken,
}

impl Cancellable<'_> {
    fn check(&self) -> Result<(), StrategyError> {
        if self.token.is_cancelled() {
            return Err(StrategyError {
                code: "cancelled".into(),
                message: "the sweep was cancelled".into(),
            });
        }
        Ok(())
    }
}

impl Strategy for Cancellable<'_> {
    fn subscriptions(&self) -> Subscriptions {
        self.inner.subscriptions()
    }

    fn declaration(&self) -> Declaration {
        self.inner.declaration()
    }

    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        self.check()?;
        self.inner.on_event(event)
    }

    fn on_bars(
        &mut self,
        meta: &EventMeta,
        bars: &[SymbolBar],
    ) -> Result<BatchOutcome, StrategyError> {
        self.check()?;
        self.inner.on_bars(meta, bars)
    }
}

/// The SDKs' refusal of parameters `init` never read (`unknown_param: unknown parameter(s) a, b;
/// this strategy reads …`, inside Marvin's `invalid_params`) as [`Error::UnknownParameter`]
/// naming the first; any other refusal as it is.
pub(crate) fn unknown_parameter(e: jobs::Error) -> Error {
    const MARK: &str = "unknown_param: unknown parameter(s) ";
    if let jobs::Error::Invalid { message, .. } = &e
        && let Some(rest) = message.split_once(MARK).map(|(_, r)| r)
    {
        let names = rest.split(';').next().unwrap_or_default();
        let name = names
            .split(',')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        return Error::UnknownParameter {
            name,
            message: message.clone(),
        };
    }
    e.into()
}
