//! Parameter sweeps: the sweep row (request, status, number of points) and one row per finished
//! point (its parameters, outcome, metrics summary, feasibility and objective value).
//!
//! # Invariants
//! - Every status change of a sweep appends `backtest.SweepStatusChanged` in the same
//!   transaction.
//! - A point is stored once: a second write of the same `(sweep_id, idx)` changes nothing, so a
//!   sweep resumed after a restart cannot duplicate a result.
//! - Result pages are ordered by a total order (the key, then the point's index), so paging with
//!   `offset` neither skips nor repeats a point while no point is added.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::events::{Envelope, payloads};

use super::{Error, Result, Walle, exec, fetch, parse_text, text_of};

/// A sweep's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepStatus {
    /// Waiting for a backtest slot and its memory.
    Queued,
    /// Points are running.
    Running,
    /// Every point ran (some may have failed).
    Done,
    /// The sweep itself could not run (its data or strategy could not be loaded).
    Failed,
    /// Cancelled by the user; the points finished before are kept.
    Cancelled,
}

impl SweepStatus {
    /// Whether the sweep will not change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SweepStatus::Done | SweepStatus::Failed | SweepStatus::Cancelled
        )
    }
}

impl TryFrom<String> for SweepStatus {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        parse_text("SweepStatus", &s)
    }
}

/// How one point ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointStatus {
    /// It ran; its metrics are stored.
    Done,
    /// Its strategy failed (trap, budget, its own error); the error is stored.
    Failed,
}

impl TryFrom<String> for PointStatus {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        parse_text("PointStatus", &s)
    }
}

/// A stored sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Sweep {
    /// Row id.
    pub id: i64,
    /// The strategy swept (the version resolved when it was posted).
    pub strategy_id: Option<i64>,
    /// The request as posted.
    pub config: Json<serde_json::Value>,
    /// State.
    #[sqlx(try_from = "String")]
    pub status: SweepStatus,
    /// Number of points.
    pub total: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// The overfitting figures (`greta::overfitting::Figures`), stored when it ends.
    pub overfitting: Option<Json<serde_json::Value>>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// One finished point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct SweepPoint {
    /// The sweep.
    pub sweep_id: i64,
    /// Its index in the sweep's point list (0-based).
    pub idx: i64,
    /// The swept parameters of this point (`{"fast": 5, "slow": 20}`).
    pub params: Json<serde_json::Value>,
    /// How it ended.
    #[sqlx(try_from = "String")]
    pub status: PointStatus,
    /// Why it failed.
    pub error: Option<String>,
    /// The report's metrics (every numeric statistic) plus `return_over_drawdown`.
    pub metrics: Option<Json<serde_json::Value>>,
    /// Whether it met the sweep's constraints (never for a failed point).
    pub feasible: bool,
    /// Its objective value (`None`: failed, or the metric is undefined for it).
    pub objective: Option<f64>,
    /// Stored (UTC).
    pub created_at: DateTime<Utc>,
}

/// A point to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSweepPoint {
    /// Index in the sweep's point list.
    pub idx: i64,
    /// The swept parameters.
    pub params: serde_json::Value,
    /// How it ended.
    pub status: PointStatus,
    /// Why it failed.
    pub error: Option<String>,
    /// Metrics summary.
    pub metrics: Option<serde_json::Value>,
    /// Whether it met the constraints.
    pub feasible: bool,
    /// Objective value.
    pub objective: Option<f64>,
    /// Returns over the sweep's fixed blocks of bars (`greta::overfitting::block_returns`);
    /// `None` for a failed point.
    #[serde(default)]
    pub returns: Option<Vec<f64>>,
}

/// How a page of points is ordered.
#[derive(Debug, Clone, PartialEq)]
pub enum PointOrder {
    /// Feasible points first, then by objective (`descending` for `max`), undefined last.
    Objective {
        /// Largest first.
        descending: bool,
    },
    /// By one metric of the summary (a key the caller checked), undefined last.
    Metric {
        /// The metric key.
        key: String,
        /// Largest first.
        descending: bool,
    },
}

const COLS: &str =
    "id, strategy_id, config, status, total, error, overfitting, created_at, updated_at";
const POINT_COLS: &str =
    "sweep_id, idx, params, status, error, metrics, feasible, objective, created_at";

fn event(s: &Sweep) -> Result<Envelope> {
    let payload = payloads::SweepChanged {
        sweep_id: s.id,
        status: text_of(&s.status),
    };
    Ok(Envelope::new(
        "backtest.SweepStatusChanged",
        "walle",
        payload,
    )?)
}

impl Walle {
    /// Stores a queued sweep of `total` points and appends `backtest.SweepStatusChanged`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_sweep(
        &self,
        strategy_id: i64,
        config: &serde_json::Value,
        total: i64,
    ) -> Result<Sweep> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let sql = format!(
            "insert into sweeps (strategy_id, config, status, total, created_at, updated_at) \
             values ($1, $2, 'queued', $3, $4, $4) returning {COLS}"
        );
        let s = fetch!(
            fetch_one,
            tx.conn(),
            Sweep,
            sqlx::AssertSqlSafe(sql.clone()),
            strategy_id,
            Json(config),
            total,
            now,
        )?;
        tx.append(&event(&s)?).await?;
        tx.commit().await?;
        Ok(s)
    }

    /// One sweep.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn sweep(&self, id: i64) -> Result<Option<Sweep>> {
        let sql = format!("select {COLS} from sweeps where id = $1");
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                Sweep,
                sqlx::AssertSqlSafe(sql.clone()),
                id
            )
        })
        .await
    }

    /// Sweeps, newest first, with ids below `before_id` (`None` = from the newest).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn sweeps(&self, before_id: Option<i64>, limit: i64) -> Result<Vec<Sweep>> {
        let sql = format!("select {COLS} from sweeps where id < $1 order by id desc limit $2");
        let before = before_id.unwrap_or(i64::MAX);
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                Sweep,
                sqlx::AssertSqlSafe(sql.clone()),
                before,
                limit
            )
        })
        .await
    }

    /// Ids of the sweeps still `queued` or `running`, oldest first (at start-up: the ones an
    /// earlier process did not finish).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn unfinished_sweeps(&self) -> Result<Vec<i64>> {
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                (i64,),
                "select id from sweeps where status in ('queued', 'running') order by id"
            )
        })
        .await
        .map(|rows| rows.into_iter().map(|(id,)| id).collect())
    }

    /// Marks a `queued` sweep `running` with its `backtest.SweepStatusChanged`; whether it was
    /// queued. Workers that start the same sweep at once change it (and tell it) once.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn start_sweep(&self, id: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "update sweeps set status = 'running', updated_at = $2 \
             where id = $1 and status = 'queued' returning {COLS}"
        );
        let updated = fetch!(
            fetch_optional,
            tx.conn(),
            Sweep,
            sqlx::AssertSqlSafe(sql.clone()),
            id,
            Utc::now(),
        )?;
        let Some(s) = updated else {
            return Ok(false);
        };
        tx.append(&event(&s)?).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Sets a sweep's status (and error) and appends `backtest.SweepStatusChanged`, in one
    /// transaction. A sweep already final is left as it is (a cancel racing the last point
    /// cannot turn `done` into `cancelled` or back); the row as stored is returned.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`].
    pub async fn set_sweep_status(
        &self,
        id: i64,
        status: SweepStatus,
        error: Option<&str>,
    ) -> Result<Sweep> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "update sweeps set status = $2, error = $3, updated_at = $4 \
             where id = $1 and status in ('queued', 'running') returning {COLS}"
        );
        let updated = fetch!(
            fetch_optional,
            tx.conn(),
            Sweep,
            sqlx::AssertSqlSafe(sql.clone()),
            id,
            text_of(&status),
            error,
            Utc::now(),
        )?;
        let Some(s) = updated else {
            drop(tx);
            return self.sweep(id).await?.ok_or_else(|| Error::NotFound {
                entity: "sweep",
                key: id.to_string(),
            });
        };
        tx.append(&event(&s)?).await?;
        tx.commit().await?;
        Ok(s)
    }

    /// Stores one finished point; a point already stored is left as it is.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_sweep_point(&self, sweep_id: i64, p: &NewSweepPoint) -> Result<()> {
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "insert into sweep_points (sweep_id, idx, params, status, error, metrics, feasible, \
             objective, created_at, returns) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             on conflict (sweep_id, idx) do nothing",
            sweep_id,
            p.idx,
            Json(&p.params),
            text_of(&p.status),
            p.error.as_deref(),
            p.metrics.as_ref().map(Json),
            p.feasible,
            p.objective,
            Utc::now(),
            p.returns.as_ref().map(Json),
        )?;
        tx.commit().await?;
        Ok(())
    }

    /// The return series of a sweep's done points, by index (at most `limit`), and how many
    /// there are in all.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn sweep_returns(
        &self,
        sweep_id: i64,
        limit: i64,
    ) -> Result<(Vec<(i64, Vec<f64>)>, i64)> {
        let (total,) = self
            .read(async |c| {
                fetch!(
                    fetch_one,
                    c,
                    (i64,),
                    "select count(*) from sweep_points where sweep_id = $1 and returns is not null",
                    sweep_id
                )
            })
            .await?;
        let rows = self
            .read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    (i64, Json<Vec<f64>>),
                    "select idx, returns from sweep_points where sweep_id = $1 \
                     and returns is not null order by idx limit $2",
                    sweep_id,
                    limit
                )
            })
            .await?;
        Ok((rows.into_iter().map(|(i, r)| (i, r.0)).collect(), total))
    }

    /// Stores a sweep's overfitting figures.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn set_sweep_overfitting(
        &self,
        sweep_id: i64,
        figures: &serde_json::Value,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "update sweeps set overfitting = $2 where id = $1",
            sweep_id,
            Json(figures),
        )?;
        tx.commit().await?;
        Ok(())
    }

    /// `(done, failed)` points of a sweep.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn sweep_progress(&self, sweep_id: i64) -> Result<(i64, i64)> {
        let rows = self
            .read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    (String, i64),
                    "select status, count(*) from sweep_points where sweep_id = $1 group by status",
                    sweep_id
                )
            })
            .await?;
        let count = |s: &str| rows.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
        Ok((count("done"), count("failed")))
    }

    /// Indexes of the points of a sweep already stored (what a resumed sweep skips).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn sweep_point_indexes(&self, sweep_id: i64) -> Result<Vec<i64>> {
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                (i64,),
                "select idx from sweep_points where sweep_id = $1 order by idx",
                sweep_id
            )
        })
        .await
        .map(|rows| rows.into_iter().map(|(i,)| i).collect())
    }

    /// One stored point.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn sweep_point(&self, sweep_id: i64, idx: i64) -> Result<Option<SweepPoint>> {
        let sql = format!("select {POINT_COLS} from sweep_points where sweep_id = $1 and idx = $2");
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                SweepPoint,
                sqlx::AssertSqlSafe(sql.clone()),
                sweep_id,
                idx
            )
        })
        .await
    }

    /// A page of a sweep's stored points in `order`, `offset` points in.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn sweep_points(
        &self,
        sweep_id: i64,
        order: &PointOrder,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<SweepPoint>> {
        let dir = |descending: bool| if descending { "desc" } else { "asc" };
        // The metric key is bound, never spliced: only the shape of the expression differs.
        let (key_expr, key, prefix) = match order {
            PointOrder::Objective { descending } => (
                format!("objective {} nulls last", dir(*descending)),
                String::new(),
                "feasible desc, ",
            ),
            PointOrder::Metric { key, descending } => {
                let expr = if self.is_pg() {
                    "cast(metrics ->> $4 as double precision)"
                } else {
                    "cast(json_extract(metrics, '$.' || $4) as real)"
                };
                (
                    format!("{expr} {} nulls last", dir(*descending)),
                    key.clone(),
                    "",
                )
            }
        };
        // `$4` is always bound so both orders share one statement shape; the objective order
        // ignores it (`$4 = $4` keeps PostgreSQL able to infer its type).
        let sql = format!(
            "select {POINT_COLS} from sweep_points where sweep_id = $1 and ($4 = $4) \
             order by {prefix}{key_expr}, idx limit $2 offset $3"
        );
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                SweepPoint,
                sqlx::AssertSqlSafe(sql.clone()),
                sweep_id,
                limit,
                offset,
                key.clone()
            )
        })
        .await
    }
}
