//! Jobs: background work the API started and the user follows (`GET /jobs/{id}`), today
//! downloads of historical bars. A job's `spec` (what to do), `progress` (what it did) and
//! `cursor` (where to continue) are JSON owned by the module that runs it
//! (`crate::veda::download`); this one only stores them.
//!
//! # Invariants
//! - Status moves `queued → running → done | failed`; a job `queued` or `running` when the
//!   process stopped is still so at the next start, which resumes it from its `cursor`.
//! - Progress and cursor are written together, after the bars they describe were stored, so a
//!   resumed job never skips data (it may at most fetch one page again).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use super::{Error, Result, Walle, fetch};

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting to start.
    Queued,
    /// Working.
    Running,
    /// Finished.
    Done,
    /// Ended by an error (`error` says which).
    Failed,
}

impl JobStatus {
    fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> JobStatus {
        match s {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "done" => JobStatus::Done,
            // The column's check constraint allows nothing else.
            _ => JobStatus::Failed,
        }
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Row id.
    pub id: i64,
    /// What kind of work (`download`).
    pub kind: String,
    /// State.
    pub status: JobStatus,
    /// What to do.
    pub spec: serde_json::Value,
    /// What was done so far.
    pub progress: serde_json::Value,
    /// Where to continue after a restart.
    pub cursor: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it started running (UTC).
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended (UTC).
    pub finished_at: Option<DateTime<Utc>>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    kind: String,
    status: String,
    spec: Json<serde_json::Value>,
    progress: Json<serde_json::Value>,
    cursor: Option<Json<serde_json::Value>>,
    error: Option<String>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<JobRow> for Job {
    fn from(r: JobRow) -> Job {
        Job {
            id: r.id,
            kind: r.kind,
            status: JobStatus::parse(&r.status),
            spec: r.spec.0,
            progress: r.progress.0,
            cursor: r.cursor.map(|c| c.0),
            error: r.error,
            started_at: r.started_at,
            finished_at: r.finished_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLS: &str = "id, kind, status, spec, progress, cursor, error, started_at, finished_at, created_at, updated_at";

impl Walle {
    /// Stores a new `queued` job.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_job(
        &self,
        kind: &str,
        spec: &serde_json::Value,
        progress: &serde_json::Value,
    ) -> Result<Job> {
        let now = Utc::now();
        let sql = format!(
            "insert into jobs (kind, status, spec, progress, created_at, updated_at) \
             values ($1, 'queued', $2, $3, $4, $4) returning {COLS}"
        );
        let mut tx = self.begin().await?;
        let row = fetch!(
            fetch_one,
            tx.conn(),
            JobRow,
            sqlx::AssertSqlSafe(sql.clone()),
            kind,
            Json(spec),
            Json(progress),
            now,
        )?;
        tx.commit().await?;
        Ok(row.into())
    }

    /// One job.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn job(&self, id: i64) -> Result<Option<Job>> {
        let sql = format!("select {COLS} from jobs where id = $1");
        let row = self
            .read(async |c| {
                fetch!(
                    fetch_optional,
                    c,
                    JobRow,
                    sqlx::AssertSqlSafe(sql.clone()),
                    id
                )
            })
            .await?;
        Ok(row.map(Into::into))
    }

    /// Jobs, newest first, with ids below `before_id` (`None`: from the newest).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn jobs(&self, before_id: Option<i64>, limit: i64) -> Result<Vec<Job>> {
        let sql = format!("select {COLS} from jobs where id < $1 order by id desc limit $2");
        let before = before_id.unwrap_or(i64::MAX);
        let rows = self
            .read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    JobRow,
                    sqlx::AssertSqlSafe(sql.clone()),
                    before,
                    limit
                )
            })
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Jobs of `kind` still `queued` or `running`, oldest first: at start-up, the ones an
    /// earlier process did not finish.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn unfinished_jobs(&self, kind: &str) -> Result<Vec<Job>> {
        let sql = format!(
            "select {COLS} from jobs where kind = $1 and status in ('queued', 'running') order by id"
        );
        let rows = self
            .read(async |c| fetch!(fetch_all, c, JobRow, sqlx::AssertSqlSafe(sql.clone()), kind))
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Sets a job's status, progress, cursor and error (`started_at` set on the first move to
    /// `running`, `finished_at` on `done` or `failed`).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`].
    pub async fn update_job(
        &self,
        id: i64,
        status: JobStatus,
        progress: &serde_json::Value,
        cursor: Option<&serde_json::Value>,
        error: Option<&str>,
    ) -> Result<Job> {
        let now = Utc::now();
        let ended = matches!(status, JobStatus::Done | JobStatus::Failed);
        let sql = format!(
            "update jobs set status = $2, progress = $3, cursor = $4, error = $5, \
             started_at = coalesce(started_at, $6), finished_at = $7, updated_at = $6 \
             where id = $1 returning {COLS}"
        );
        let mut tx = self.begin().await?;
        let row = fetch!(
            fetch_optional,
            tx.conn(),
            JobRow,
            sqlx::AssertSqlSafe(sql.clone()),
            id,
            status.as_str(),
            Json(progress),
            cursor.map(Json),
            error,
            now,
            ended.then_some(now),
        )?
        .ok_or_else(|| Error::NotFound {
            entity: "job",
            key: id.to_string(),
        })?;
        tx.commit().await?;
        Ok(row.into())
    }
}
