//! Walk-forward jobs: a sweep's request plus windows, run as one job on the backtests' slots.
//! A request is validated as a sweep is ([`Jobs::plan`] with the first point's parameters,
//! space, method, objective, constraints, one `init`) plus its windows, planned over the data's
//! timestamps ([`super::walkforward::plan`]); then it is stored and run: per window, the
//! in-sample optimisation runs every point of the space on rayon over the window's bars (one
//! data load, one compiled component, as a sweep), and the best feasible point runs on the
//! following out-of-sample bars with its warm-up bars before them, so its indicators are
//! defined at the window's first bar. Each finished window is stored at once; when every window
//! ran, the stitched out-of-sample result and the overfitting figures are stored.
//!
//! # Invariants
//! - A refused request stores nothing.
//! - A window is stored once, whole (its choice, its out-of-sample summary, curve and report),
//!   or not at all: a resumed walk-forward skips the windows stored and runs the others again.
//! - The planned windows are stored as times; a resume maps them onto the bars it loads, so
//!   candles added since do not move them.
//! - A cancel stops the running window within one strategy call; windows finished before are
//!   kept and the result is stitched from them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::jobs::{self, Jobs, Plan};
use super::overfitting;
use super::report::{self, StrategyInfo};
use super::sweep_jobs::{self, Cancellable, SweepRequest, judged, merged, unknown_parameter};
use super::sweeps::{self, Axes, Direction, Invalid};
use super::walkforward::{self as wf, Bounds, Detail};
use super::{DataWindow, overfit};
use crate::domain::TsMillis;
use crate::walle::{self, NewWindow, PointStatus, SweepStatus, WalkForward};

/// Bars loaded per symbol to plan the windows at most (a backtest's own limit).
const MAX_BARS: i64 = 5_000_000;

/// Why a walk-forward was refused or cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Refused as a sweep is (backtest fields, space, method, objective, constraints, size,
    /// unknown parameter).
    #[error(transparent)]
    Sweep(#[from] sweep_jobs::Error),
    /// The windows do not fit the data (`invalid_windows`) or the whole is too large.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The walk-forward already ended.
    #[error("walk-forward {0} already ended")]
    Finished(i64),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] walle::Error),
}

impl Error {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Sweep(e) => e.code(),
            Error::Invalid(e) => e.code,
            Error::Finished(_) => "walkforward_finished",
            Error::Store(e) => e.code(),
        }
    }
}

impl From<jobs::Error> for Error {
    fn from(e: jobs::Error) -> Self {
        Error::Sweep(e.into())
    }
}

/// A walk-forward to run over stored candles.
#[derive(Debug, Clone)]
pub struct WalkForwardRequest {
    /// The sweep every in-sample window runs (its `start`/`end` bound the whole analysis).
    pub sweep: SweepRequest,
    /// The windows.
    pub windows: wf::Spec,
}

/// One planned window as stored: its bars when planned and its parts' first and last bar times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Planned {
    /// Bar indexes over the data as loaded when planned.
    pub bounds: Bounds,
    /// First in-sample bar.
    pub is_start: DateTime<Utc>,
    /// Last in-sample bar.
    pub is_end: DateTime<Utc>,
    /// First out-of-sample bar.
    pub oos_start: DateTime<Utc>,
    /// Last out-of-sample bar.
    pub oos_end: DateTime<Utc>,
}

/// One point of the stitched curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EquityPoint {
    /// Bar time.
    pub ts: DateTime<Utc>,
    /// Equity.
    pub equity: f64,
}

/// The stitched out-of-sample result as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stitched {
    /// At most [`wf::MAX_CURVE_POINTS`] points of the chained curve.
    pub equity: Vec<EquityPoint>,
    /// Its metrics summary (the keys of a sweep point's).
    pub metrics: serde_json::Value,
}

/// What runs a walk-forward holds in memory while it runs.
struct Active {
    token: CancellationToken,
    /// Points finished in the window running now.
    points: Arc<AtomicU64>,
}

/// The server's walk-forwards. Cheap to clone.
#[derive(Clone)]
pub struct WalkForwards {
    jobs: Jobs,
    max_points: u64,
    active: Arc<Mutex<HashMap<i64, Active>>>,
}

impl std::fmt::Debug for WalkForwards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalkForwards")
            .field("max_points", &self.max_points)
            .finish_non_exhaustive()
    }
}

/// A request checked: the space's axes and points per window.
struct Checked {
    axes: Axes,
    points: u64,
}

fn ms(t: TsMillis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t).unwrap_or_default()
}

impl WalkForwards {
    /// Walk-forwards sharing `jobs`' slots and memory, each of at most `max_points` points in
    /// all (points × windows; `WEAVER_SWEEP_MAX_POINTS`).
    pub fn new(jobs: Jobs, max_points: u64) -> WalkForwards {
        WalkForwards {
            jobs,
            max_points: max_points.max(1),
            active: Arc::default(),
        }
    }

    fn check(req: &SweepRequest) -> Result<Checked, Invalid> {
        sweeps::check_metric(&req.objective.metric)?;
        sweeps::check_constraints(&req.constraints)?;
        let axes = sweeps::axes(&req.space)?;
        let points = sweeps::point_count(&axes, &req.method)?;
        Ok(Checked { axes, points })
    }

    /// The plan of the first point (validated as a backtest), its strategy id and the memory
    /// estimate (a sweep's: the data once, a sandbox and a point's columns per further thread).
    async fn plan(&self, req: &SweepRequest, c: &Checked) -> Result<(Plan, i64, u64), Error> {
        let mut job = req.job.clone();
        let first = merged(&req.job, &sweeps::point(&c.axes, &req.method, 0));
        job.params = Some(report::params_json(&first));
        let (plan, strategy_id) = self.jobs.plan(&job).await?;
        let threads = rayon::current_num_threads() as u64;
        let extra = threads
            .saturating_sub(1)
            .saturating_mul(
                plan.guest_memory
                    .saturating_add(plan.bars.saturating_mul(sweep_jobs::POINT_BYTES_PER_BAR)),
            )
            .div_ceil(1 << 20);
        let estimate_mb =
            super::budget::estimate_mb(plan.bars, plan.guest_memory).saturating_add(extra);
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

    /// The aligned timestamps of a plan's stored candles.
    async fn timestamps(&self, plan: &Plan) -> Result<Vec<TsMillis>, Error> {
        let DataWindow::Stored(window) = &plan.spec.data else {
            return Ok(Vec::new());
        };
        let w = &self.jobs.parts().walle;
        let mut ts = Vec::new();
        for s in &window.symbols {
            let candles = w
                .candles(
                    s,
                    &window.timeframe.to_string(),
                    window.start,
                    window.end,
                    MAX_BARS,
                )
                .await?;
            ts.extend(candles.iter().map(|c| c.bar().ts));
        }
        ts.sort_unstable();
        ts.dedup();
        Ok(ts)
    }

    /// Validates, plans, stores and queues a walk-forward.
    ///
    /// # Errors
    /// [`Error`] for a refused request (nothing stored) or a store failure.
    pub async fn create(&self, req: WalkForwardRequest) -> Result<WalkForward, Error> {
        let c = Self::check(&req.sweep).map_err(sweep_jobs::Error::from)?;
        let (plan, strategy_id, estimate_mb) = self.plan(&req.sweep, &c).await?;
        let ts = self.timestamps(&plan).await?;
        let DataWindow::Stored(window) = &plan.spec.data else {
            return Err(
                jobs::Error::Internal("a walk-forward runs over stored candles".into()).into(),
            );
        };
        let bounds = wf::plan(&ts, window.timeframe.nominal_millis(), &req.windows)?;
        let total = c.points.saturating_mul(bounds.len() as u64);
        sweeps::check_size(total, self.max_points).map_err(|mut e| {
            e.message = format!(
                "{} ({} points × {} windows)",
                e.message,
                c.points,
                bounds.len()
            );
            e
        })?;
        if let Err(e) = self.jobs.check_init(&plan).await {
            match unknown_parameter(e) {
                e @ sweep_jobs::Error::UnknownParameter { .. } => return Err(e.into()),
                sweep_jobs::Error::Job(jobs::Error::Internal(m)) => {
                    return Err(jobs::Error::Internal(m).into());
                }
                _ => {}
            }
        }
        let planned: Vec<Planned> = bounds
            .iter()
            .map(|b| Planned {
                bounds: *b,
                is_start: ms(ts[b.is_from]),
                is_end: ms(ts[b.is_to - 1]),
                oos_start: ms(ts[b.is_to]),
                oos_end: ms(ts[b.oos_to - 1]),
            })
            .collect();
        let plan_json =
            serde_json::to_value(&planned).map_err(|e| jobs::Error::Internal(e.to_string()))?;
        let points = i64::try_from(c.points).unwrap_or(i64::MAX);
        let row = self
            .jobs
            .parts()
            .walle
            .insert_walkforward(strategy_id, &req.sweep.job.config, &plan_json, points)
            .await?;
        if self.jobs.external() {
            self.hand_to_workers(row.id, &plan).await?;
        } else {
            self.spawn(row.id, req, c, planned, plan, estimate_mb);
        }
        Ok(row)
    }

    /// Resumes walk-forward `id`, left `queued` or `running` by an earlier process, skipping
    /// its stored windows; one whose request no longer validates is marked `failed`.
    ///
    /// # Errors
    /// The store's.
    pub async fn resume(
        &self,
        id: i64,
        req: WalkForwardRequest,
        planned: Vec<Planned>,
    ) -> Result<(), Error> {
        let checked = match Self::check(&req.sweep) {
            Ok(c) => self.plan(&req.sweep, &c).await.map(|p| (c, p)),
            Err(e) => Err(sweep_jobs::Error::from(e).into()),
        };
        match checked {
            Ok((_, (plan, _, _))) if self.jobs.external() => self.hand_to_workers(id, &plan).await,
            Ok((c, (plan, _, estimate_mb))) => {
                self.spawn(id, req, c, planned, plan, estimate_mb);
                Ok(())
            }
            Err(e) => {
                let why = format!("cannot resume after a restart: {}: {e}", e.code());
                self.jobs
                    .parts()
                    .walle
                    .set_walkforward_status(id, SweepStatus::Failed, Some(&why))
                    .await?;
                Ok(())
            }
        }
    }

    /// Stops walk-forward `id`: its running window ends within one strategy call, finished
    /// windows stay (and are stitched), and it is `cancelled`.
    ///
    /// # Errors
    /// [`Error::Finished`] for one already ended; the store's.
    pub async fn cancel(&self, id: i64) -> Result<WalkForward, Error> {
        let w = &self.jobs.parts().walle;
        let Some(row) = w.walkforward(id).await? else {
            return Err(Error::Store(walle::Error::NotFound {
                entity: "walkforward",
                key: id.to_string(),
            }));
        };
        if row.status.is_final() {
            return Err(Error::Finished(id));
        }
        if let Some(token) = self.lock().get(&id).map(|a| a.token.clone()) {
            token.cancel();
        }
        Ok(w.set_walkforward_status(id, SweepStatus::Cancelled, None)
            .await?)
    }

    async fn hand_to_workers(&self, id: i64, plan: &Plan) -> Result<(), Error> {
        self.jobs.keep_component(plan).await?;
        let w = &self.jobs.parts().walle;
        Ok(w.insert_job_lease(walle::JobKind::WalkForward, id).await?)
    }

    /// Runs walk-forward `id` here for the worker that leased it, skipping its stored windows:
    /// the task to await, or `None` when its request no longer validates (it is `failed`).
    ///
    /// # Errors
    /// The store's.
    pub async fn run_by_worker(
        &self,
        id: i64,
        req: WalkForwardRequest,
        planned: Vec<Planned>,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, Error> {
        let checked = match Self::check(&req.sweep) {
            Ok(c) => self.plan(&req.sweep, &c).await.map(|p| (c, p)),
            Err(e) => Err(sweep_jobs::Error::from(e).into()),
        };
        match checked {
            Ok((c, (plan, _, estimate_mb))) => {
                Ok(Some(self.spawn(id, req, c, planned, plan, estimate_mb)))
            }
            Err(e) => {
                let why = format!("cannot run on a worker: {}: {e}", e.code());
                let w = &self.jobs.parts().walle;
                w.set_walkforward_status(id, SweepStatus::Failed, Some(&why))
                    .await?;
                Ok(None)
            }
        }
    }

    /// Stops walk-forward `id` where it runs here (its worker learned it was cancelled).
    pub fn stop_here(&self, id: i64) {
        if let Some(a) = self.lock().get(&id) {
            a.token.cancel();
        }
    }

    /// Points finished in the window walk-forward `id` runs now (0 when it runs nowhere).
    pub fn points_running(&self, id: i64) -> u64 {
        self.lock()
            .get(&id)
            .map_or(0, |a| a.points.load(Ordering::Relaxed))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Active>> {
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn spawn(
        &self,
        id: i64,
        req: WalkForwardRequest,
        c: Checked,
        planned: Vec<Planned>,
        plan: Plan,
        estimate_mb: u64,
    ) -> tokio::task::JoinHandle<()> {
        let parts = self.jobs.parts();
        let token = parts.shutdown.child_token();
        let points = Arc::new(AtomicU64::new(0));
        self.lock().insert(
            id,
            Active {
                token: token.clone(),
                points: points.clone(),
            },
        );
        let this = self.clone();
        let corr = crate::events::correlation::current();
        let per_window = c.points;
        parts
            .tasks
            .spawn(crate::events::correlation::scope(corr, async move {
                let run = Run {
                    id,
                    req: &req,
                    c,
                    planned: &planned,
                    token: &token,
                    points,
                };
                let outcome = this.run(run, plan, estimate_mb).await;
                let w = &this.jobs.parts().walle;
                let shutdown = this.jobs.parts().shutdown.is_cancelled();
                if !shutdown && (outcome.is_ok() || token.is_cancelled()) {
                    // Before the final status: a client that sees `done` sees the result.
                    if let Err(e) = this.store_results(id, per_window).await {
                        tracing::error!(walkforward_id = id, "results not stored: {e}");
                    }
                }
                let written = match outcome {
                    _ if shutdown => Ok(()),
                    _ if token.is_cancelled() => w
                        .set_walkforward_status(id, SweepStatus::Cancelled, None)
                        .await
                        .map(drop),
                    Ok(()) => w
                        .set_walkforward_status(id, SweepStatus::Done, None)
                        .await
                        .map(drop),
                    Err(why) => w
                        .set_walkforward_status(id, SweepStatus::Failed, Some(&why))
                        .await
                        .map(drop),
                };
                if let Err(e) = written {
                    tracing::error!(
                        walkforward_id = id,
                        code = e.code(),
                        "cannot record walk-forward end: {e}"
                    );
                }
                this.lock().remove(&id);
                crate::marvin::request_trim();
            }))
    }

    /// Admits, loads once and runs the windows not stored yet. `Err`: why it failed.
    async fn run(&self, r: Run<'_>, plan: Plan, estimate_mb: u64) -> Result<(), String> {
        let store = |e: walle::Error| format!("{}: {e}", e.code());
        let w = self.jobs.parts().walle.clone();
        let Some(held) = self.jobs.admit(estimate_mb, r.token).await else {
            return Ok(());
        };
        let status = w
            .set_walkforward_status(r.id, SweepStatus::Running, None)
            .await
            .map_err(store)?;
        if status.status != SweepStatus::Running {
            return Ok(());
        }
        let (cfg, source, bt, _first) = self.jobs.prepare(&plan.spec).await?;
        let done: HashSet<i64> = w
            .walkforward_windows(r.id)
            .await
            .map_err(store)?
            .iter()
            .map(|x| x.idx)
            .collect();
        let ctx = Arc::new(Context {
            cfg,
            source,
            bt,
            axes: r.c.axes.clone(),
            points: r.c.points,
            req: r.req.sweep.clone(),
            name: plan.name.clone(),
            sha256: plan.sha256.clone(),
        });
        let ts = ctx.bt.timestamps();
        for (k, p) in r.planned.iter().enumerate() {
            let idx = i64::try_from(k).unwrap_or(i64::MAX);
            if done.contains(&idx) {
                continue;
            }
            if r.token.is_cancelled() {
                break;
            }
            // The planned times onto the bars loaded now.
            let at = |t: DateTime<Utc>| ts.partition_point(|&x| x < t.timestamp_millis());
            let bounds = Bounds {
                is_from: at(p.is_start),
                is_to: at(p.oos_start),
                oos_to: ts.partition_point(|&x| x <= p.oos_end.timestamp_millis()),
            };
            r.points.store(0, Ordering::Relaxed);
            let (ctx2, token, points) = (ctx.clone(), r.token.clone(), r.points.clone());
            let window = tokio::task::spawn_blocking(move || {
                run_window(&ctx2, idx, bounds, &token, &points)
            })
            .await
            .map_err(|e| format!("internal_error: {e}"))?;
            if r.token.is_cancelled() {
                break;
            }
            w.insert_walkforward_window(r.id, &window)
                .await
                .map_err(store)?;
        }
        drop(held);
        Ok(())
    }

    /// Stitches the stored windows and stores the result with the overfitting figures.
    async fn store_results(&self, id: i64, points: u64) -> Result<(), String> {
        let store = |e: walle::Error| format!("{}: {e}", e.code());
        let w = &self.jobs.parts().walle;
        let details: Vec<Detail> = w
            .walkforward_details(id)
            .await
            .map_err(store)?
            .into_iter()
            .filter_map(|(_, d)| serde_json::from_value(d).ok())
            .collect();
        let variances: Vec<f64> = w
            .walkforward_windows(id)
            .await
            .map_err(store)?
            .iter()
            .filter_map(|x| x.trial_sharpe_variance)
            .collect();
        let (stitched, figures) = tokio::task::spawn_blocking(move || {
            let Some((s, m)) = wf::stitch(&details) else {
                return (None, None);
            };
            let equity = wf::thin(&s.ts, &s.equity, wf::MAX_CURVE_POINTS)
                .into_iter()
                .map(|(t, equity)| EquityPoint { ts: ms(t), equity })
                .collect();
            let figures = overfitting::stitched_figures(&s.equity, points, &variances);
            let stitched = Stitched {
                equity,
                metrics: sweeps::summary(&m),
            };
            (Some(stitched), Some(figures))
        })
        .await
        .map_err(|e| format!("internal_error: {e}"))?;
        let stitched = stitched.and_then(|s| serde_json::to_value(s).ok());
        let figures = figures.and_then(|f| serde_json::to_value(f).ok());
        w.set_walkforward_results(id, stitched.as_ref(), figures.as_ref())
            .await
            .map_err(store)
    }
}

/// A running walk-forward's borrowed parts.
struct Run<'a> {
    id: i64,
    req: &'a WalkForwardRequest,
    c: Checked,
    planned: &'a [Planned],
    token: &'a CancellationToken,
    points: Arc<AtomicU64>,
}

/// What every window shares: the one data load and compiled component.
struct Context {
    cfg: super::EngineConfig,
    source: super::StrategyBuilder,
    bt: super::Backtest,
    axes: Axes,
    points: u64,
    req: SweepRequest,
    name: String,
    sha256: String,
}

/// One window: every point in sample (on rayon), the best feasible one out of sample.
fn run_window(
    ctx: &Context,
    idx: i64,
    b: Bounds,
    token: &CancellationToken,
    points: &AtomicU64,
) -> NewWindow {
    let failed = |error: String, trials: i64, variance: Option<f64>| NewWindow {
        idx,
        status: PointStatus::Failed,
        error: Some(error),
        best_params: None,
        in_sample_objective: None,
        in_sample: None,
        out_of_sample: None,
        trials,
        trial_sharpe_variance: variance,
        detail: None,
        report: None,
    };
    if b.is_to <= b.is_from || b.oos_to <= b.is_to {
        return failed(
            "the window holds no bars in the data loaded now".into(),
            0,
            None,
        );
    }
    let req = &ctx.req;
    let is_bt = ctx.bt.slice(b.is_from, b.is_to);
    let results: Vec<(walle::NewSweepPoint, Option<f64>)> = (0..ctx.points)
        .into_par_iter()
        .filter_map(|i| {
            if token.is_cancelled() {
                return None;
            }
            let swept = sweeps::point(&ctx.axes, &req.method, i);
            let params = merged(&req.job, &swept);
            let cfg = super::EngineConfig {
                params: params.clone(),
                ..ctx.cfg.clone()
            };
            let outcome = (ctx.source.factory)(&is_bt.strategy_config(&params))
                .map_err(super::Error::Strategy)
                .and_then(|inner| {
                    let mut s = Cancellable { inner, token };
                    is_bt.run(&mut s, &cfg, None)
                });
            let sharpe = outcome.as_ref().ok().and_then(|r| {
                overfit::moments(&overfitting::block_returns(&r.equity, usize::MAX))
                    .ok()
                    .map(|m| m.sharpe)
            });
            let point = judged(i, &swept, outcome, &req.objective, &req.constraints);
            points.fetch_add(1, Ordering::Relaxed);
            Some((point, sharpe))
        })
        .collect();
    let sharpes: Vec<f64> = results.iter().filter_map(|(_, s)| *s).collect();
    let trials = i64::try_from(sharpes.len()).unwrap_or(i64::MAX);
    let variance = (sharpes.len() >= 2).then(|| overfit::sample_variance(&sharpes));
    let better = |a: f64, b: f64| match req.objective.direction {
        Direction::Max => a > b,
        Direction::Min => a < b,
    };
    let mut best: Option<&walle::NewSweepPoint> = None;
    for (p, _) in &results {
        let Some(v) = p.objective.filter(|_| p.feasible) else {
            continue;
        };
        let wins = best.is_none_or(|q| {
            let bv = q.objective.unwrap_or(f64::NAN);
            better(v, bv) || (v == bv && p.idx < q.idx)
        });
        if wins {
            best = Some(p);
        }
    }
    let Some(best) = best else {
        return failed(
            "no feasible point in sample (every point failed, broke a constraint or has no \
             objective value)"
                .into(),
            trials,
            variance,
        );
    };
    let swept: Vec<(String, String)> = best
        .params
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default();
    let params = merged(&req.job, &swept);
    match out_of_sample(ctx, &params, b, token) {
        Ok((detail, summary, report)) => NewWindow {
            idx,
            status: PointStatus::Done,
            error: None,
            best_params: Some(best.params.clone()),
            in_sample_objective: best.objective,
            in_sample: best.metrics.clone(),
            out_of_sample: Some(summary),
            trials,
            trial_sharpe_variance: variance,
            detail: serde_json::to_value(detail).ok(),
            report: Some(report),
        },
        Err(e) => failed(format!("out of sample: {e}"), trials, variance),
    }
}

/// The chosen point over the window's out-of-sample bars, started `warm-up` bars earlier (the
/// request's `warmup`, else the strategy's declared one): its curve and trades, summary and
/// report, all without the warm-up bars.
fn out_of_sample(
    ctx: &Context,
    params: &[(String, String)],
    b: Bounds,
    token: &CancellationToken,
) -> Result<(Detail, serde_json::Value, serde_json::Value), String> {
    let config = ctx.bt.strategy_config(params);
    let inner = (ctx.source.factory)(&config).map_err(|e| format!("{}: {}", e.code, e.message))?;
    let declared = inner.declaration().warmup as usize;
    let want = ctx.cfg.warmup.unwrap_or(declared);
    let from = b.is_to.saturating_sub(want);
    let warm = b.is_to - from;
    let slice = ctx.bt.slice(from, b.oos_to);
    let cfg = super::EngineConfig {
        params: params.to_vec(),
        warmup: Some(warm),
        ..ctx.cfg.clone()
    };
    let mut s = Cancellable { inner, token };
    let r = slice
        .run(&mut s, &cfg, None)
        .map_err(|e| format!("{}: {e}", e.code()))?;
    let (detail, metrics) = wf::out_of_sample(&r, &slice.benchmark_closes(), warm);
    let summary = sweeps::summary(&metrics);
    let trimmed = super::RunResult {
        equity: detail.equity.clone(),
        ts: detail.ts.clone(),
        trades: detail.trades.clone(),
        open_trades: r
            .open_trades
            .iter()
            .map(|t| super::broker::OpenTrade {
                entry_bar: t.entry_bar.saturating_sub(warm),
                ..t.clone()
            })
            .collect(),
        bankrupt_at: r.bankrupt_at.map(|g| g.saturating_sub(warm)),
        metrics,
        orders: Vec::new(),
        strategy_calls: r.strategy_calls,
        warmup: 0,
        warmup_declared: false,
    };
    let info = StrategyInfo {
        name: ctx.name.clone(),
        sha256: ctx.sha256.clone(),
        params: report::params_json(params),
        limits: ctx.source.limits,
    };
    let oos_bt = ctx.bt.slice(b.is_to, b.oos_to);
    let mut report = serde_json::to_value(report::build(&oos_bt, &cfg, info, &trimmed))
        .map_err(|e| format!("internal_error: {e}"))?;
    if let Some(m) = report.as_object_mut() {
        // The warm-up bars the run read before the window (not in its curve or statistics).
        m.insert("warmup_bars_before".into(), warm.into());
    }
    Ok((detail, summary, report))
}

/// Walk-forward efficiency and parameter stability of the stored windows of a walk-forward
/// of `total` windows (a window not stored, or without a choice, shows as null).
pub fn efficiency_and_stability(
    windows: &[walle::WalkForwardWindow],
    total: usize,
) -> (Option<f64>, BTreeMap<String, wf::Stability>) {
    let ann = |v: Option<&serde_json::Value>| v.and_then(|j| j["return_ann_pct"].as_f64());
    let pairs: Vec<(Option<f64>, Option<f64>)> = windows
        .iter()
        .filter(|x| x.status == PointStatus::Done)
        .map(|x| {
            (
                ann(x.in_sample.as_ref().map(|j| &j.0)),
                ann(x.out_of_sample.as_ref().map(|j| &j.0)),
            )
        })
        .collect();
    let mut best: Vec<Option<serde_json::Value>> = vec![None; total];
    for x in windows {
        if let Some(slot) = usize::try_from(x.idx).ok().and_then(|i| best.get_mut(i)) {
            *slot = x.best_params.as_ref().map(|j| j.0.clone());
        }
    }
    (wf::efficiency(&pairs), wf::stability(&best))
}
