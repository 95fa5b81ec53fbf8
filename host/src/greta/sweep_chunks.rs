//! Sweeps run in chunks by `weaver worker` processes (ADR 0023). With `WEAVER_WORKERS=external`
//! the server only stores a sweep ([`Sweeps::create`]), keeps its component's bytes in the
//! database and cuts it into chunks of consecutive points (`walle/leases.rs`); a worker leases
//! a chunk, loads the sweep's data and compiled component once ([`Sweeps::load_points`], kept
//! for the sweep's next chunks), runs the chunk's points not stored yet and stores each as it
//! ends ([`Sweeps::run_points`]); the worker finishing the last chunk ends the sweep
//! ([`Sweeps::finish_by_worker`]).
//!
//! # Invariants
//! - A point is computed the same way as in the server's own sweeps (`sweep_jobs.rs`: the same
//!   parameters, engine and judgement), so a sweep's results do not depend on who ran it.
//! - Each point is stored as it ends (`on conflict do nothing`): a worker killed mid-chunk loses
//!   at most the points it was running, and the worker that takes the chunk over skips the
//!   stored ones, so no point is lost or stored twice.
//! - A point is not stored once its token is cancelled (lease lost, sweep ended, shutdown).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::sweep_jobs::{Cancellable, Checked, Error, SweepRequest, Sweeps, judged, merged};
use super::sweeps::{self, Axes};
use crate::walle::{self, NewSweepPoint, SweepStatus};

/// What every point of one sweep shares, loaded once per worker: its axes, engine settings,
/// compiled component and bars.
pub struct LoadedSweep {
    axes: Axes,
    total: u64,
    cfg: super::EngineConfig,
    source: super::StrategyBuilder,
    bt: super::Backtest,
}

impl std::fmt::Debug for LoadedSweep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedSweep")
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl LoadedSweep {
    /// The sweep's number of points.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// Points a failed chunk is given up on after: its leases ran out this many times (each time
/// its worker died or hung), so the chunk's remaining points are stored `failed` instead of
/// killing a sixth worker.
pub const MAX_CHUNK_ATTEMPTS: i32 = 5;

impl Sweeps {
    /// Keeps sweep `id`'s component in the database and cuts the sweep into chunks for the
    /// workers. Repeatable (a restart calls it again for unfinished sweeps).
    ///
    /// # Errors
    /// [`Error::Store`]; [`Error::Job`] when the component cannot be kept in the database.
    pub(crate) async fn hand_to_workers(
        &self,
        id: i64,
        plan: &super::jobs::Plan,
        total: u64,
    ) -> Result<(), Error> {
        self.jobs.keep_component(plan).await?;
        let w = &self.jobs.parts().walle;
        w.insert_sweep_chunks(id, total).await?;
        Ok(())
    }

    /// Loads what sweep `id`'s points share (data, compiled component), as the server's own
    /// sweep does once per sweep.
    ///
    /// # Errors
    /// Why the sweep cannot run (`code: message`): its request no longer validates, its data
    /// or component cannot be loaded.
    pub async fn load_points(&self, req: &SweepRequest) -> Result<LoadedSweep, String> {
        let why = |e: Error| format!("{}: {e}", e.code());
        let Checked { axes, total } = self.check(req).map_err(why)?;
        let c = Checked {
            axes: axes.clone(),
            total,
        };
        let (plan, _, _) = self.plan(req, &c).await.map_err(why)?;
        let (cfg, source, bt, _first) = self.jobs.prepare(&plan.spec).await?;
        Ok(LoadedSweep {
            axes,
            total,
            cfg,
            source,
            bt,
        })
    }

    /// Runs the points `indexes` of sweep `id` one after the other and stores each as it ends;
    /// how many were stored. Stops early, storing nothing more, once `token` is cancelled.
    ///
    /// # Errors
    /// The store's, as `code: message` text.
    pub async fn run_points(
        &self,
        id: i64,
        req: &SweepRequest,
        loaded: &Arc<LoadedSweep>,
        indexes: &[u64],
        token: &CancellationToken,
    ) -> Result<u64, String> {
        let w = &self.jobs.parts().walle;
        let mut stored = 0;
        for &i in indexes {
            if token.is_cancelled() {
                break;
            }
            let (loaded, req, run_token) = (loaded.clone(), req.clone(), token.clone());
            let point = tokio::task::spawn_blocking(move || point(&loaded, &req, i, &run_token))
                .await
                .map_err(|e| format!("internal_error: {e}"))?;
            let Some(point) = point else { break };
            w.insert_sweep_point(id, &point)
                .await
                .map_err(|e| format!("{}: {e}", e.code()))?;
            stored += 1;
        }
        Ok(stored)
    }

    /// Stores `indexes` of sweep `id` as failed with `why` (a chunk given up on).
    ///
    /// # Errors
    /// The store's.
    pub async fn give_up_points(
        &self,
        id: i64,
        req: &SweepRequest,
        loaded: &LoadedSweep,
        indexes: &[u64],
        why: &str,
    ) -> Result<(), walle::Error> {
        let w = &self.jobs.parts().walle;
        for &i in indexes {
            let swept = sweeps::point(&loaded.axes, &req.method, i);
            let failed: Result<super::RunResult, super::Error> =
                Err(super::Error::Strategy(crate::domain::StrategyError {
                    code: "worker_lost".into(),
                    message: why.to_owned(),
                }));
            let p = judged(i, &swept, failed, &req.objective, &req.constraints);
            w.insert_sweep_point(id, &p).await?;
        }
        Ok(())
    }

    /// Ends sweep `id` once a worker stored its last chunk: its overfitting figures, then
    /// `done` (a sweep cancelled meanwhile stays `cancelled`).
    ///
    /// # Errors
    /// The store's.
    pub async fn finish_by_worker(&self, id: i64, req: &SweepRequest) -> Result<(), walle::Error> {
        let descending = req.objective.direction == sweeps::Direction::Max;
        if let Err(e) = self.store_figures(id, descending).await {
            tracing::error!(sweep_id = id, "overfitting figures not stored: {e}");
        }
        self.jobs
            .parts()
            .walle
            .set_sweep_status(id, SweepStatus::Done, None)
            .await
            .map(drop)
    }

    /// Marks sweep `id` failed with `why` (its data or strategy cannot be loaded any more).
    ///
    /// # Errors
    /// The store's.
    pub async fn fail_by_worker(&self, id: i64, why: &str) -> Result<(), walle::Error> {
        self.jobs
            .parts()
            .walle
            .set_sweep_status(id, SweepStatus::Failed, Some(why))
            .await
            .map(drop)
    }
}

/// Point `i` run and judged; `None` when `token` was cancelled during it (not stored).
fn point(
    loaded: &LoadedSweep,
    req: &SweepRequest,
    i: u64,
    token: &CancellationToken,
) -> Option<NewSweepPoint> {
    let swept = sweeps::point(&loaded.axes, &req.method, i);
    let params = merged(&req.job, &swept);
    let cfg = super::EngineConfig {
        params: params.clone(),
        ..loaded.cfg.clone()
    };
    let outcome = (loaded.source.factory)(&loaded.bt.strategy_config(&params))
        .map_err(super::Error::Strategy)
        .and_then(|inner| {
            let mut s = Cancellable { inner, token };
            loaded.bt.run(&mut s, &cfg, None)
        });
    if token.is_cancelled() {
        return None;
    }
    Some(judged(i, &swept, outcome, &req.objective, &req.constraints))
}
