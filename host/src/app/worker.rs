//! `weaver worker`: a process that runs sweeps for a server started with
//! `WEAVER_WORKERS=external`, on the same PostgreSQL database and nothing else (ADR 0023).
//!
//! It runs `threads` loops; each leases one piece of work at a time (`walle/leases.rs`): a
//! chunk of a sweep's points first, else a whole backtest or walk-forward analysis. It renews
//! the lease every third of its length while it works. A chunk's points not stored yet are run
//! and stored (`greta/sweep_chunks.rs`) and the chunk marked done; the loop that finishes a
//! sweep's last chunk ends the sweep. A backtest is run and its report stored; a walk-forward
//! runs its windows not stored yet, as the server would. Components come from the database by sha256 into the
//! worker's own data directory and are compiled once there (Marvin's cache). What a sweep's
//! points share (bars, compiled component) is loaded once per sweep and kept for its next
//! chunks. Idle loops poll every second and are woken at once by the server's notification
//! when it hands out work (`walle::WORK_CHANNEL`); a loop that claims work wakes another idle
//! loop, since there may be more.
//!
//! # Invariants
//! - A worker stores a point only while it holds the point's chunk; a renewal that finds the
//!   lease taken over or the sweep ended stops the chunk before its next point is stored.
//! - A worker killed at any moment loses no point: its lease runs out and the next claim takes
//!   the chunk, skipping the points stored. A shutdown (SIGTERM) gives its chunks back at once.
//! - A chunk whose leases ran out [`MAX_CHUNK_ATTEMPTS`] times has its remaining points stored
//!   `failed` (`worker_lost`) rather than killing worker after worker.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Error;
use crate::glados;
use crate::greta::bar_cache::BarCache;
use crate::greta::jobs::{Jobs, JobsParts};
use crate::greta::sweep_chunks::{LoadedSweep, MAX_CHUNK_ATTEMPTS};
use crate::greta::sweep_jobs::{SweepRequest, Sweeps};
use crate::greta::walkforward_jobs::WalkForwards;
use crate::marvin::{Catalogue, CatalogueParts, Marvin, MarvinConfig};
use crate::walle::{
    BacktestStatus, ChunkLease, DbConfig, Doorbell, JobKind, JobLease, LeaseState, SweepStatus,
    Walle,
};

/// Default lease of a chunk, seconds (`WEAVER_WORKER_LEASE_SECS`): how long a dead worker's
/// chunk waits before another worker takes it.
pub const DEFAULT_LEASE_SECS: u32 = 30;

/// How often an idle loop asks for work when no notification wakes it (a lost notification,
/// a dead worker's lease running out).
const POLL: Duration = Duration::from_secs(1);

/// Longest wait between claims while the database is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Sweeps whose loaded points a worker keeps (the newest).
const SWEEPS_KEPT: usize = 2;

/// What `weaver worker` is configured with.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The database (PostgreSQL) and the worker's data directory (components and their
    /// compiled form).
    pub db: DbConfig,
    /// Chunks run at once (one core each).
    pub threads: usize,
    /// Lease length, seconds (renewed every third of it).
    pub lease_secs: u32,
    /// Name stored with the chunks it leases (host, pid and a random suffix by default).
    pub name: String,
    /// Memory the loaded sweeps may take, MB (as `WEAVER_BACKTEST_MEMORY_MB`).
    pub memory_mb: u64,
    /// Disk its bar cache may take, MB (`WEAVER_BAR_CACHE_MB`; 0: off).
    pub bar_cache_mb: u64,
}

impl WorkerConfig {
    /// A unique default name: host name, process id and a random suffix.
    pub fn default_name() -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "worker".into());
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        format!("{host}-{}-{}", std::process::id(), &suffix[..6])
    }
}

type Loading = Arc<tokio::sync::OnceCell<Result<Arc<LoadedSweep>, String>>>;

/// A running worker.
struct Worker {
    walle: Walle,
    jobs: Jobs,
    sweeps: Sweeps,
    walkforwards: WalkForwards,
    catalogue: Catalogue,
    name: String,
    lease_secs: u32,
    /// Per sweep, what its points share, loaded by the first loop that needs it.
    loaded: Mutex<Vec<(i64, Loading)>>,
    /// Rung when the server hands out work (and by a loop that found some).
    bell: Doorbell,
}

/// Runs a worker until `shutdown` is cancelled (or SIGINT/SIGTERM when `signals`).
///
/// # Errors
/// [`Error`] when the database, the sandbox host or the data directory cannot be set up.
pub async fn run(config: WorkerConfig, shutdown: CancellationToken) -> Result<(), Error> {
    let walle = Walle::connect(&config.db).await?;
    if walle.backend_name() != "postgres" {
        return Err(Error::Config(super::ConfigError(vec![
            "weaver worker needs PostgreSQL (WEAVER_DATABASE_URL=postgres://…), the database the \
             server with WEAVER_WORKERS=external uses"
                .into(),
        ])));
    }
    let data_dir = config.db.data_dir.clone();
    let marvin = Marvin::new(MarvinConfig {
        cache_dir: data_dir.join("cache").join("compiled"),
        ..MarvinConfig::from_env()?
    })?;
    let dir = data_dir.join("components");
    create_dir(&dir)?;
    let tasks = TaskTracker::new();
    let catalogue = Catalogue::new(CatalogueParts {
        walle: walle.clone(),
        marvin: marvin.clone(),
        dir,
        tasks: tasks.clone(),
        shutdown: shutdown.clone(),
    });
    let threads = config.threads.max(1);
    let jobs = Jobs::new(JobsParts {
        walle: walle.clone(),
        marvin,
        catalogue: catalogue.clone(),
        tasks: tasks.clone(),
        shutdown: shutdown.clone(),
        concurrency: threads,
        memory_budget_mb: config.memory_mb,
        bar_cache: BarCache::new(data_dir.join("cache").join("bars"), config.bar_cache_mb),
    })
    .with_external_workers(true);
    let worker = Arc::new(Worker {
        walle: walle.clone(),
        sweeps: Sweeps::new(jobs.clone(), u64::MAX),
        walkforwards: WalkForwards::new(jobs.clone(), u64::MAX),
        jobs,
        catalogue,
        name: config.name.clone(),
        lease_secs: config.lease_secs.max(3),
        loaded: Mutex::default(),
        bell: walle.work_doorbell(shutdown.clone()).unwrap_or_default(),
    });
    tracing::info!(worker = %config.name, threads, lease_s = worker.lease_secs, "worker started");
    for n in 0..threads {
        let (w, stop) = (worker.clone(), shutdown.clone());
        tasks.spawn(async move { w.claim_loop(n, stop).await });
    }
    tasks.close();
    tasks.wait().await;
    walle.close().await;
    tracing::info!(worker = %config.name, "worker stopped");
    Ok(())
}

fn create_dir(dir: &PathBuf) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::DataDir {
        path: dir.display().to_string(),
        source,
    })
}

impl Worker {
    async fn claim_loop(self: Arc<Self>, n: usize, stop: CancellationToken) {
        let mut backoff = POLL;
        while !stop.is_cancelled() {
            let wait = match self
                .walle
                .claim_sweep_chunk(&self.name, self.lease_secs)
                .await
            {
                Ok(Some(lease)) => {
                    backoff = POLL;
                    self.bell.ring();
                    let span = tracing::info_span!(
                        "chunk",
                        loop_n = n,
                        sweep_id = lease.sweep_id,
                        chunk = lease.chunk
                    );
                    tracing::Instrument::instrument(self.work(&lease, &stop), span).await;
                    continue;
                }
                Ok(None) => match self.walle.claim_job(&self.name, self.lease_secs).await {
                    Ok(Some(lease)) => {
                        backoff = POLL;
                        self.bell.ring();
                        let span = tracing::info_span!(
                            "job",
                            loop_n = n,
                            kind = lease.kind.as_str(),
                            job_id = lease.job_id
                        );
                        tracing::Instrument::instrument(self.work_job(&lease, &stop), span).await;
                        continue;
                    }
                    Ok(None) => POLL,
                    Err(e) => {
                        tracing::warn!(code = e.code(), "cannot claim work: {e}");
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        backoff
                    }
                },
                Err(e) => {
                    tracing::warn!(code = e.code(), "cannot claim work: {e}");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                // Work handed out; after a store error the backoff holds.
                () = self.bell.rung(), if wait == POLL => {}
                () = stop.cancelled() => {}
            }
        }
    }

    /// Runs one leased chunk to its end, or until its lease is lost, its sweep ends or the
    /// worker stops.
    async fn work(&self, lease: &ChunkLease, stop: &CancellationToken) {
        // Renewed from the claim on: loading a large sweep's bars may outlast a short lease.
        let token = stop.child_token();
        let beat = tokio::spawn(heartbeat(
            self.walle.clone(),
            Leased::Chunk(lease.clone()),
            self.name.clone(),
            self.lease_secs,
            token.clone(),
        ));
        self.work_on(lease, stop, &token).await;
        token.cancel();
        let _ = beat.await;
    }

    async fn work_on(
        &self,
        lease: &ChunkLease,
        stop: &CancellationToken,
        token: &CancellationToken,
    ) {
        let id = lease.sweep_id;
        let req = match self.request(id).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                self.release(lease).await;
                return;
            }
            Err(why) => {
                self.fail(id, &why).await;
                return;
            }
        };
        let loaded = match self.load(id, &req).await {
            Ok(l) => l,
            Err(why) => {
                self.fail(id, &format!("cannot run on worker {}: {why}", self.name))
                    .await;
                return;
            }
        };
        let (first, end) = (lease.first_idx, lease.end_idx);
        let stored = match self.walle.sweep_point_indexes_in(id, first, end).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(code = e.code(), "cannot read stored points: {e}");
                self.release(lease).await;
                return;
            }
        };
        let todo: Vec<u64> = (first..end)
            .filter(|i| stored.binary_search(i).is_err())
            .filter_map(|i| u64::try_from(i).ok())
            .collect();
        if lease.attempts > MAX_CHUNK_ATTEMPTS {
            let why = format!(
                "the workers running this point stopped {} times (crash, kill or hang); it was not tried again",
                lease.attempts - 1
            );
            if let Err(e) = self
                .sweeps
                .give_up_points(id, &req, &loaded, &todo, &why)
                .await
            {
                tracing::warn!(code = e.code(), "cannot store given-up points: {e}");
                return;
            }
            self.finish(lease, &req).await;
            return;
        }
        let ran = self
            .sweeps
            .run_points(id, &req, &loaded, &todo, token)
            .await;
        let ended_early = token.is_cancelled();
        match ran {
            Ok(n) if !ended_early && n == todo.len() as u64 => self.finish(lease, &req).await,
            Ok(_) if stop.is_cancelled() => self.release(lease).await,
            // Lost or its sweep ended: nothing more to do with it.
            Ok(_) => {}
            Err(why) => {
                tracing::warn!("chunk stopped, given back: {why}");
                self.release(lease).await;
            }
        }
    }

    /// Runs one leased backtest or walk-forward to its end; closes its lease then, or gives it
    /// back when the worker stops first.
    async fn work_job(&self, lease: &JobLease, stop: &CancellationToken) {
        let token = stop.child_token();
        let beat = tokio::spawn(heartbeat(
            self.walle.clone(),
            Leased::Job(lease.clone()),
            self.name.clone(),
            self.lease_secs,
            token.clone(),
        ));
        match lease.kind {
            JobKind::Backtest => self.run_backtest(lease.job_id).await,
            JobKind::WalkForward => self.run_walkforward(lease.job_id, &token).await,
        }
        token.cancel();
        let _ = beat.await;
        let settled = if stop.is_cancelled() {
            self.walle.release_job(lease, &self.name).await
        } else {
            self.walle.close_job_lease(lease.kind, lease.job_id).await
        };
        if let Err(e) = settled {
            tracing::warn!(
                code = e.code(),
                "job lease not settled (it will run out): {e}"
            );
        }
    }

    /// Runs backtest `id` and stores its outcome (a deterministic run: a second worker taking
    /// it over after a lost lease writes the same report).
    async fn run_backtest(&self, id: i64) {
        let b = match self.walle.backtest(id).await {
            Ok(Some(b)) if matches!(b.status, BacktestStatus::Queued | BacktestStatus::Running) => {
                b
            }
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(code = e.code(), "cannot read backtest: {e}");
                return;
            }
        };
        let planned = match glados::backtests::stored_job(&b) {
            Ok(job) => {
                if let Some(strategy) = b.strategy_id
                    && let Err(why) = self.fetch_component(strategy).await
                {
                    Err(why)
                } else {
                    self.jobs
                        .plan(&job)
                        .await
                        .map(|(plan, _)| plan)
                        .map_err(|e| format!("{}: {e}", e.code()))
                }
            }
            Err(e) => Err(e.to_string()),
        };
        match planned {
            Ok(plan) => self.jobs.run_and_store(id, plan).await,
            Err(why) => {
                let why = format!("cannot run on worker {}: {why}", self.name);
                tracing::error!(backtest_id = id, "{why}");
                if let Err(e) = self
                    .walle
                    .update_backtest(id, BacktestStatus::Failed, None, Some(&why), None, &[])
                    .await
                {
                    tracing::error!(code = e.code(), "cannot mark the backtest failed: {e}");
                }
            }
        }
    }

    /// Runs walk-forward `id`'s windows not stored yet; stops them when `token` is cancelled
    /// (its lease lost, it was cancelled, or the worker stops).
    async fn run_walkforward(&self, id: i64, token: &CancellationToken) {
        let row = match self.walle.walkforward(id).await {
            Ok(Some(w)) if !w.status.is_final() => w,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(code = e.code(), "cannot read walk-forward: {e}");
                return;
            }
        };
        let fail = async |why: String| {
            tracing::error!(walkforward_id = id, "{why}");
            if let Err(e) = self
                .walle
                .set_walkforward_status(id, SweepStatus::Failed, Some(&why))
                .await
            {
                tracing::error!(code = e.code(), "cannot mark the walk-forward failed: {e}");
            }
        };
        let (req, planned) = match glados::walkforward::stored_request(&row) {
            Ok(r) => r,
            Err(e) => return fail(format!("cannot run on worker {}: {e}", self.name)).await,
        };
        if let Some(strategy) = row.strategy_id
            && let Err(why) = self.fetch_component(strategy).await
        {
            return fail(format!("cannot run on worker {}: {why}", self.name)).await;
        }
        let handle = match self.walkforwards.run_by_worker(id, req, planned).await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(code = e.code(), "walk-forward not started: {e}");
                return;
            }
        };
        let mut handle = std::pin::pin!(handle);
        tokio::select! {
            _ = &mut handle => return,
            () = token.cancelled() => self.walkforwards.stop_here(id),
        }
        let _ = handle.await;
    }

    /// Sweep `id`'s stored request; `None` when it no longer exists. `Err`: why it cannot run.
    async fn request(&self, id: i64) -> Result<Option<SweepRequest>, String> {
        let sweep = match self.walle.sweep(id).await {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::warn!(code = e.code(), "cannot read sweep: {e}");
                return Ok(None);
            }
        };
        if sweep.status == SweepStatus::Queued
            && let Err(e) = self.walle.start_sweep(id).await
        {
            tracing::warn!(code = e.code(), "cannot mark the sweep running: {e}");
        }
        let req = glados::sweeps::stored_request(&sweep).map_err(|e| e.to_string())?;
        if let Some(strategy) = sweep.strategy_id {
            self.fetch_component(strategy).await?;
        }
        Ok(Some(req))
    }

    /// Writes strategy `id`'s component from the database into the worker's components
    /// directory unless it is there.
    async fn fetch_component(&self, id: i64) -> Result<(), String> {
        let store = |e: crate::walle::Error| format!("{}: {e}", e.code());
        let strategy = self
            .walle
            .strategy(id)
            .await
            .map_err(store)?
            .ok_or_else(|| format!("not_found: strategy {id} is gone"))?;
        let path = self.catalogue.component_path(&strategy.sha256);
        if path.exists() {
            return Ok(());
        }
        let bytes = self
            .walle
            .component(&strategy.sha256)
            .await
            .map_err(store)?
            .ok_or_else(|| {
                format!(
                    "component_missing: the component of strategy {id} ({}) is not in the database",
                    strategy.sha256
                )
            })?;
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&tmp, &bytes)
            .await
            .map_err(|e| format!("io_error: write {}: {e}", tmp.display()))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| format!("io_error: rename {}: {e}", path.display()))?;
        tracing::info!(strategy_id = id, sha256 = %strategy.sha256, "component fetched from the database");
        Ok(())
    }

    /// What sweep `id`'s points share, loaded once however many loops ask at once.
    async fn load(&self, id: i64, req: &SweepRequest) -> Result<Arc<LoadedSweep>, String> {
        let cell = {
            let mut kept = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, cell)) = kept.iter().find(|(k, _)| *k == id) {
                cell.clone()
            } else {
                let cell = Loading::default();
                kept.push((id, cell.clone()));
                if kept.len() > SWEEPS_KEPT {
                    kept.remove(0);
                }
                cell
            }
        };
        let got = cell
            .get_or_init(|| async {
                let t = std::time::Instant::now();
                let loaded = self.sweeps.load_points(req).await.map(Arc::new);
                if loaded.is_ok() {
                    let ms = u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX);
                    tracing::info!(
                        sweep_id = id,
                        ms,
                        "sweep loaded (its bars and compiled component)"
                    );
                }
                loaded
            })
            .await
            .clone();
        if got.is_err() {
            // A later claim may find the store back: do not keep the failure.
            let mut kept = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
            kept.retain(|(k, _)| *k != id);
        }
        got
    }

    async fn finish(&self, lease: &ChunkLease, req: &SweepRequest) {
        match self.walle.finish_chunk(lease, &self.name).await {
            Ok(true) => {
                let t = std::time::Instant::now();
                if let Err(e) = self.sweeps.finish_by_worker(lease.sweep_id, req).await {
                    tracing::error!(code = e.code(), "cannot end the sweep: {e}");
                } else {
                    let figures_ms = u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX);
                    tracing::info!(sweep_id = lease.sweep_id, figures_ms, "sweep done");
                }
                self.forget(lease.sweep_id);
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(code = e.code(), "cannot mark the chunk done: {e}"),
        }
    }

    async fn fail(&self, id: i64, why: &str) {
        tracing::error!(sweep_id = id, "sweep cannot run: {why}");
        if let Err(e) = self.sweeps.fail_by_worker(id, why).await {
            tracing::error!(code = e.code(), "cannot mark the sweep failed: {e}");
        }
        self.forget(id);
    }

    async fn release(&self, lease: &ChunkLease) {
        if let Err(e) = self.walle.release_chunk(lease, &self.name).await {
            tracing::warn!(
                code = e.code(),
                "chunk not given back (its lease will run out): {e}"
            );
        }
    }

    fn forget(&self, id: i64) {
        let mut kept = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|(k, _)| *k != id);
    }
}

/// What a loop holds.
enum Leased {
    Chunk(ChunkLease),
    Job(JobLease),
}

/// Renews the lease every third of its length until `token` is cancelled; cancels `token` when
/// the lease is lost or its work ended. A store error is retried at the next beat (the lease
/// outlives two missed beats).
async fn heartbeat(
    walle: Walle,
    lease: Leased,
    name: String,
    lease_secs: u32,
    token: CancellationToken,
) {
    let every = Duration::from_secs(u64::from(lease_secs)) / 3;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = token.cancelled() => return,
        }
        let renewed = match &lease {
            Leased::Chunk(l) => walle.renew_chunk_lease(l, &name, lease_secs).await,
            Leased::Job(l) => walle.renew_job_lease(l, &name, lease_secs).await,
        };
        match renewed {
            Ok(LeaseState::Held) => {}
            Ok(state) => {
                tracing::info!(?state, "chunk stopped");
                token.cancel();
                return;
            }
            Err(e) => tracing::warn!(code = e.code(), "lease not renewed: {e}"),
        }
    }
}
