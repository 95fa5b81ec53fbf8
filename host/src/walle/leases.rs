//! Work shared between processes through the database (ADR 0023): the chunks of a sweep that
//! `weaver worker` processes lease, the whole jobs (backtests, walk-forward analyses) they lease,
//! and the strategy components they load, by sha256.
//!
//! A chunk is a run of consecutive point indexes of one sweep. A worker claims the first open
//! chunk (`pending`, or `leased` with its lease run out) of a sweep still `queued` or `running`,
//! renews its lease while it works, and marks it `done` once every point of it is stored.
//!
//! # Invariants
//! - Two claims never return the same chunk while its lease holds: on PostgreSQL the claim takes
//!   the row with `FOR UPDATE SKIP LOCKED` and re-checks it in the update; on SQLite every write
//!   is serialised by the one writer.
//! - Lease times come from one clock: PostgreSQL's `now()` (workers on other machines may drift),
//!   the process's on SQLite (one machine).
//! - Only the worker holding a lease renews it or marks its chunk done; a worker whose lease was
//!   taken over learns it at its next renewal ([`LeaseState::Lost`]).
//! - Exactly one worker is told a sweep is complete: finishers of one sweep take turns on its
//!   row, so the last one to finish sees every other chunk done.
//! - A component's bytes are stored once per sha256 and never changed.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::outbox::Doorbell;
use super::{Conn, Db, Error, Result, Walle, exec, fetch};

/// The PostgreSQL channel notified when work is handed to workers or given back, so idle
/// workers claim it at once instead of at their next poll.
pub const WORK_CHANNEL: &str = "weaver_work";

/// Points in a sweep's chunks: about [`CHUNKS_PER_SWEEP`] chunks a sweep, each at least one
/// point and at most [`MAX_CHUNK`].
const CHUNKS_PER_SWEEP: u64 = 256;

/// Most points in one chunk: what a worker that dies loses at most (it is redone).
const MAX_CHUNK: u64 = 1_024;

/// The chunk size of a sweep of `total` points.
pub fn chunk_size(total: u64) -> u64 {
    total.div_ceil(CHUNKS_PER_SWEEP).clamp(1, MAX_CHUNK)
}

/// A chunk leased by one worker.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChunkLease {
    /// The sweep.
    pub sweep_id: i64,
    /// The chunk's number within the sweep.
    pub chunk: i64,
    /// Its first point index.
    pub first_idx: i64,
    /// One past its last point index.
    pub end_idx: i64,
    /// Claims of this chunk so far, this one included (above 1: an earlier worker's lease ran
    /// out).
    pub attempts: i32,
}

/// What a lease renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Still this worker's, renewed.
    Held,
    /// Taken by another worker after it ran out, or already done: stop working on it.
    Lost,
    /// Still this worker's, but its sweep ended (cancelled or failed): stop working on it.
    SweepEnded,
}

/// Which kind of whole job a [`JobLease`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// A backtest (`backtests`).
    Backtest,
    /// A walk-forward analysis (`walkforwards`).
    WalkForward,
}

impl JobKind {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Backtest => "backtest",
            JobKind::WalkForward => "walkforward",
        }
    }

    fn parse(s: &str) -> Result<JobKind> {
        match s {
            "backtest" => Ok(JobKind::Backtest),
            "walkforward" => Ok(JobKind::WalkForward),
            other => Err(Error::Corrupt {
                column: "job_leases.kind",
                value: other.to_owned(),
            }),
        }
    }
}

/// A whole job (a backtest or a walk-forward) leased by one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLease {
    /// Its kind.
    pub kind: JobKind,
    /// The backtest's or walk-forward's id.
    pub job_id: i64,
    /// Claims so far, this one included.
    pub attempts: i32,
}

/// A sweep's chunks by state, for progress views and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkCounts {
    /// Not claimed yet.
    pub pending: i64,
    /// Leased now (some may have run out).
    pub leased: i64,
    /// Every point stored.
    pub done: i64,
    /// Distinct workers that claimed a chunk of it.
    pub workers: i64,
    /// Claims beyond each chunk's first (leases that ran out and were taken over).
    pub retries: i64,
}

impl Walle {
    /// A doorbell rung when work is handed to workers or given back ([`WORK_CHANNEL`]) and after
    /// each reconnect of its listener, until `stop`. `None` on SQLite, which has no workers.
    pub fn work_doorbell(&self, stop: CancellationToken) -> Option<Doorbell> {
        let opts = self.listen_options()?.clone();
        Some(Doorbell::listening(opts, WORK_CHANNEL, "worker", stop))
    }

    /// Tells listening workers there is work (PostgreSQL; nothing on SQLite). After the commit
    /// and on the relaxed pool, as the outbox's doorbell: a lost notification only delays the
    /// work to the workers' next poll.
    async fn notify_work(&self) {
        let Db::Pg(pool) = &self.inner.relaxed else {
            return;
        };
        if let Err(e) = super::pg_notify(pool, WORK_CHANNEL).await {
            tracing::warn!(error = %e, "workers not notified of new work; they find it at their next poll");
        }
    }

    /// Cuts sweep `sweep_id` of `total` points into chunks ([`chunk_size`]) for workers to
    /// lease. Chunks already there are kept, so calling it again (a restart) changes nothing.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_sweep_chunks(&self, sweep_id: i64, total: u64) -> Result<u64> {
        let size = chunk_size(total);
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let mut added = 0;
        let mut first = 0_u64;
        let mut chunk = 0_i64;
        while first < total {
            let end = first.saturating_add(size).min(total);
            added += exec!(
                tx.conn(),
                "insert into sweep_chunks (sweep_id, chunk, first_idx, end_idx, status, attempts, \
                 updated_at) values ($1, $2, $3, $4, 'pending', 0, $5) \
                 on conflict (sweep_id, chunk) do nothing",
                sweep_id,
                chunk,
                i64::try_from(first).unwrap_or(i64::MAX),
                i64::try_from(end).unwrap_or(i64::MAX),
                now,
            )?;
            first = end;
            chunk += 1;
        }
        tx.commit().await?;
        self.notify_work().await;
        Ok(added)
    }

    /// Whether sweep `sweep_id` was cut into chunks (it is run by workers, not by the server).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn sweep_has_chunks(&self, sweep_id: i64) -> Result<bool> {
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                (i64,),
                "select chunk from sweep_chunks where sweep_id = $1 limit 1",
                sweep_id
            )
        })
        .await
        .map(|r| r.is_some())
    }

    /// Leases the first open chunk of the oldest sweep still `queued` or `running` to `worker`
    /// for `lease_secs` seconds. `None`: nothing to do.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn claim_sweep_chunk(
        &self,
        worker: &str,
        lease_secs: u32,
    ) -> Result<Option<ChunkLease>> {
        const OPEN: &str = "k.status = 'pending' or (k.status = 'leased' and k.lease_until < ";
        let mut tx = self.begin().await?;
        let claimed = match tx.conn() {
            Conn::Pg(c) => {
                let sql = format!(
                    "update sweep_chunks set status = 'leased', worker = $1, \
                     lease_until = now() + make_interval(secs => $2), attempts = attempts + 1, \
                     updated_at = now() \
                     where (sweep_id, chunk) = (\
                       select k.sweep_id, k.chunk from sweep_chunks k join sweeps s on s.id = k.sweep_id \
                       where s.status in ('queued', 'running') and ({OPEN}now())) \
                       order by k.sweep_id, k.chunk limit 1 for update of k skip locked) \
                     returning sweep_id, chunk, first_idx, end_idx, attempts"
                );
                sqlx::query_as::<_, ChunkLease>(sqlx::AssertSqlSafe(sql))
                    .bind(worker)
                    .bind(f64::from(lease_secs))
                    .fetch_optional(&mut *c)
                    .await?
            }
            Conn::Lite(c) => {
                let now = Utc::now();
                let until = now + chrono::Duration::seconds(i64::from(lease_secs));
                let sql = format!(
                    "update sweep_chunks set status = 'leased', worker = $1, lease_until = $2, \
                     attempts = attempts + 1, updated_at = $3 \
                     where (sweep_id, chunk) = (\
                       select k.sweep_id, k.chunk from sweep_chunks k join sweeps s on s.id = k.sweep_id \
                       where s.status in ('queued', 'running') and ({OPEN}$3)) \
                       order by k.sweep_id, k.chunk limit 1) \
                     returning sweep_id, chunk, first_idx, end_idx, attempts"
                );
                sqlx::query_as::<_, ChunkLease>(sqlx::AssertSqlSafe(sql))
                    .bind(worker)
                    .bind(until)
                    .bind(now)
                    .fetch_optional(&mut *c)
                    .await?
            }
        };
        tx.commit().await?;
        Ok(claimed)
    }

    /// Renews `worker`'s lease of a chunk for `lease_secs` more seconds and says whether to go
    /// on ([`LeaseState`]).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn renew_chunk_lease(
        &self,
        lease: &ChunkLease,
        worker: &str,
        lease_secs: u32,
    ) -> Result<LeaseState> {
        let mut tx = self.begin().await?;
        let renewed =
            match tx.conn() {
                Conn::Pg(c) => sqlx::query_as::<_, (String,)>(
                    "update sweep_chunks k set lease_until = now() + make_interval(secs => $4), \
                     updated_at = now() from sweeps s \
                     where k.sweep_id = $1 and k.chunk = $2 and k.worker = $3 \
                     and k.status = 'leased' and s.id = k.sweep_id returning s.status",
                )
                .bind(lease.sweep_id)
                .bind(lease.chunk)
                .bind(worker)
                .bind(f64::from(lease_secs))
                .fetch_optional(&mut *c)
                .await?,
                Conn::Lite(c) => {
                    let now = Utc::now();
                    let until = now + chrono::Duration::seconds(i64::from(lease_secs));
                    sqlx::query_as::<_, (String,)>(
                        "update sweep_chunks set lease_until = $4, updated_at = $5 \
                     where sweep_id = $1 and chunk = $2 and worker = $3 and status = 'leased' \
                     returning (select status from sweeps where id = sweep_id)",
                    )
                    .bind(lease.sweep_id)
                    .bind(lease.chunk)
                    .bind(worker)
                    .bind(until)
                    .bind(now)
                    .fetch_optional(&mut *c)
                    .await?
                }
            };
        tx.commit().await?;
        Ok(match renewed {
            None => LeaseState::Lost,
            Some((s,)) if s == "queued" || s == "running" => LeaseState::Held,
            Some(_) => LeaseState::SweepEnded,
        })
    }

    /// Marks `worker`'s chunk done; whether every chunk of its sweep is done now (the caller
    /// then ends the sweep). `false` too when the lease was no longer `worker`'s: the worker
    /// that took it over finishes it.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn finish_chunk(&self, lease: &ChunkLease, worker: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        // Finishers of one sweep take turns on its row: two workers ending the last two chunks
        // at once would otherwise each count the other's chunk as open (neither commit is seen
        // by the other's count) and nobody would end the sweep. SQLite's one writer already
        // serialises them.
        if let Conn::Pg(c) = tx.conn() {
            sqlx::query("select id from sweeps where id = $1 for update")
                .bind(lease.sweep_id)
                .execute(&mut *c)
                .await?;
        }
        let marked = exec!(
            tx.conn(),
            "update sweep_chunks set status = 'done', lease_until = null, updated_at = $4 \
             where sweep_id = $1 and chunk = $2 and worker = $3 and status = 'leased'",
            lease.sweep_id,
            lease.chunk,
            worker,
            Utc::now(),
        )?;
        let open = fetch!(
            fetch_one,
            tx.conn(),
            (i64,),
            "select count(*) from sweep_chunks where sweep_id = $1 and status <> 'done'",
            lease.sweep_id
        )?;
        tx.commit().await?;
        Ok(marked > 0 && open.0 == 0)
    }

    /// Gives `worker`'s chunk back (a shutdown, or a store error mid-chunk) so the next claim
    /// takes it at once instead of after its lease runs out. A chunk given back does not count
    /// as a claim that failed (its `attempts` go back by one).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn release_chunk(&self, lease: &ChunkLease, worker: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "update sweep_chunks set status = 'pending', worker = null, lease_until = null, \
             attempts = attempts - 1, updated_at = $4 where sweep_id = $1 and chunk = $2 and worker = $3 \
             and status = 'leased'",
            lease.sweep_id,
            lease.chunk,
            worker,
            Utc::now(),
        )?;
        tx.commit().await?;
        self.notify_work().await;
        Ok(())
    }

    /// Sweep `sweep_id`'s chunks by state.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn sweep_chunk_counts(&self, sweep_id: i64) -> Result<ChunkCounts> {
        let row = self
            .read(async |c| {
                fetch!(
                    fetch_one,
                    c,
                    (i64, i64, i64, i64, i64),
                    "select \
                       coalesce(sum(case when status = 'pending' then 1 else 0 end), 0), \
                       coalesce(sum(case when status = 'leased' then 1 else 0 end), 0), \
                       coalesce(sum(case when status = 'done' then 1 else 0 end), 0), \
                       count(distinct worker), \
                       coalesce(sum(case when attempts > 1 then attempts - 1 else 0 end), 0) \
                     from sweep_chunks where sweep_id = $1",
                    sweep_id
                )
            })
            .await?;
        Ok(ChunkCounts {
            pending: row.0,
            leased: row.1,
            done: row.2,
            workers: row.3,
            retries: row.4,
        })
    }

    /// Indexes of the points of sweep `sweep_id` stored in `[first, end)`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn sweep_point_indexes_in(
        &self,
        sweep_id: i64,
        first: i64,
        end: i64,
    ) -> Result<Vec<i64>> {
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                (i64,),
                "select idx from sweep_points where sweep_id = $1 and idx >= $2 and idx < $3 \
                 order by idx",
                sweep_id,
                first,
                end
            )
        })
        .await
        .map(|rows| rows.into_iter().map(|(i,)| i).collect())
    }

    /// Queues job `job_id` of `kind` for the workers (a backtest or a walk-forward posted to a
    /// server with external workers). Repeatable.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_job_lease(&self, kind: JobKind, job_id: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "insert into job_leases (kind, job_id, status, attempts, updated_at) \
             values ($1, $2, 'pending', 0, $3) on conflict (kind, job_id) do nothing",
            kind.as_str(),
            job_id,
            Utc::now(),
        )?;
        tx.commit().await?;
        self.notify_work().await;
        Ok(())
    }

    /// Leases the oldest open job (pending, or leased with its lease run out) to `worker`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn claim_job(&self, worker: &str, lease_secs: u32) -> Result<Option<JobLease>> {
        const PICK: &str = "select k.kind, k.job_id from job_leases k where k.status = 'pending' \
                            or (k.status = 'leased' and k.lease_until < ";
        let mut tx = self.begin().await?;
        let row: Option<(String, i64, i32)> = match tx.conn() {
            Conn::Pg(c) => {
                let sql = format!(
                    "update job_leases set status = 'leased', worker = $1, \
                     lease_until = now() + make_interval(secs => $2), attempts = attempts + 1, \
                     updated_at = now() where (kind, job_id) = ({PICK}now()) \
                     order by k.job_id limit 1 for update of k skip locked) \
                     returning kind, job_id, attempts"
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(worker)
                    .bind(f64::from(lease_secs))
                    .fetch_optional(&mut *c)
                    .await?
            }
            Conn::Lite(c) => {
                let now = Utc::now();
                let until = now + chrono::Duration::seconds(i64::from(lease_secs));
                let sql = format!(
                    "update job_leases set status = 'leased', worker = $1, lease_until = $2, \
                     attempts = attempts + 1, updated_at = $3 where (kind, job_id) = \
                     ({PICK}$3) order by k.job_id limit 1) returning kind, job_id, attempts"
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(worker)
                    .bind(until)
                    .bind(now)
                    .fetch_optional(&mut *c)
                    .await?
            }
        };
        tx.commit().await?;
        row.map(|(kind, job_id, attempts)| {
            Ok(JobLease {
                kind: JobKind::parse(&kind)?,
                job_id,
                attempts,
            })
        })
        .transpose()
    }

    /// Renews `worker`'s lease of a job; [`LeaseState::SweepEnded`] when the job ended (a
    /// cancelled walk-forward).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn renew_job_lease(
        &self,
        lease: &JobLease,
        worker: &str,
        lease_secs: u32,
    ) -> Result<LeaseState> {
        let status = "case kind when 'backtest' then (select b.status from backtests b \
                      where b.id = job_id) else (select w.status from walkforwards w \
                      where w.id = job_id) end";
        let mut tx = self.begin().await?;
        let renewed: Option<(Option<String>,)> = match tx.conn() {
            Conn::Pg(c) => {
                let sql = format!(
                    "update job_leases set lease_until = now() + make_interval(secs => $4), \
                     updated_at = now() where kind = $1 and job_id = $2 and worker = $3 \
                     and status = 'leased' returning {status}"
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(lease.kind.as_str())
                    .bind(lease.job_id)
                    .bind(worker)
                    .bind(f64::from(lease_secs))
                    .fetch_optional(&mut *c)
                    .await?
            }
            Conn::Lite(c) => {
                let now = Utc::now();
                let until = now + chrono::Duration::seconds(i64::from(lease_secs));
                let sql = format!(
                    "update job_leases set lease_until = $4, updated_at = $5 where kind = $1 \
                     and job_id = $2 and worker = $3 and status = 'leased' returning {status}"
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(lease.kind.as_str())
                    .bind(lease.job_id)
                    .bind(worker)
                    .bind(until)
                    .bind(now)
                    .fetch_optional(&mut *c)
                    .await?
            }
        };
        tx.commit().await?;
        Ok(match renewed {
            None => LeaseState::Lost,
            Some((Some(s),)) if s == "queued" || s == "running" => LeaseState::Held,
            Some(_) => LeaseState::SweepEnded,
        })
    }

    /// Closes job `job_id`'s lease whoever holds it (the job ended, or was cancelled).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn close_job_lease(&self, kind: JobKind, job_id: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "update job_leases set status = 'done', lease_until = null, updated_at = $3 \
             where kind = $1 and job_id = $2",
            kind.as_str(),
            job_id,
            Utc::now(),
        )?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives `worker`'s job back (a shutdown) so the next claim takes it at once; not counted
    /// as a claim that failed.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn release_job(&self, lease: &JobLease, worker: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "update job_leases set status = 'pending', worker = null, lease_until = null, \
             attempts = attempts - 1, updated_at = $4 where kind = $1 and job_id = $2 and worker = $3 \
             and status = 'leased'",
            lease.kind.as_str(),
            lease.job_id,
            worker,
            Utc::now(),
        )?;
        tx.commit().await?;
        self.notify_work().await;
        Ok(())
    }

    /// Job `job_id`'s lease as stored: status, worker and claims (`None`: the server runs it).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn job_lease(
        &self,
        kind: JobKind,
        job_id: i64,
    ) -> Result<Option<(String, Option<String>, i32)>> {
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                (String, Option<String>, i32),
                "select status, worker, attempts from job_leases where kind = $1 and job_id = $2",
                kind.as_str(),
                job_id
            )
        })
        .await
    }

    /// Stores a component's bytes under their sha256 unless they are stored already; whether
    /// they were added.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn put_component(&self, sha256: &str, bytes: &[u8]) -> Result<bool> {
        if self.has_component(sha256).await? {
            return Ok(false);
        }
        let mut tx = self.begin().await?;
        let added = exec!(
            tx.conn(),
            "insert into component_blobs (sha256, bytes, created_at) values ($1, $2, $3) \
             on conflict (sha256) do nothing",
            sha256,
            bytes,
            Utc::now(),
        )?;
        tx.commit().await?;
        Ok(added > 0)
    }

    /// Whether a component's bytes are stored.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn has_component(&self, sha256: &str) -> Result<bool> {
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                (String,),
                "select sha256 from component_blobs where sha256 = $1",
                sha256
            )
        })
        .await
        .map(|r| r.is_some())
    }

    /// A component's bytes by sha256, checked against it; `None` when not stored.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Corrupt`] when the stored bytes do not hash to `sha256`.
    pub async fn component(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        let row = self
            .read(async |c| {
                fetch!(
                    fetch_optional,
                    c,
                    (Vec<u8>, DateTime<Utc>),
                    "select bytes, created_at from component_blobs where sha256 = $1",
                    sha256
                )
            })
            .await?;
        let Some((bytes, _)) = row else {
            return Ok(None);
        };
        if hex::encode(Sha256::digest(&bytes)) != sha256 {
            return Err(Error::Corrupt {
                column: "component_blobs.bytes",
                value: format!("bytes stored as {sha256} hash to something else"),
            });
        }
        Ok(Some(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_one_point_for_small_sweeps_and_bounded_for_large_ones() {
        assert_eq!(chunk_size(1), 1);
        assert_eq!(chunk_size(100), 1);
        assert_eq!(chunk_size(256), 1);
        assert_eq!(chunk_size(257), 2);
        assert_eq!(chunk_size(100_000), 391);
        assert_eq!(chunk_size(10_000_000), MAX_CHUNK);
    }
}
