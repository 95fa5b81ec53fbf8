//! Walk-forward analyses: the walk-forward row (request, planned windows, status, the stitched
//! result and overfitting figures stored when it ends) and one row per finished window (the
//! in-sample optimisation's best point and its out-of-sample run).
//!
//! # Invariants
//! - Every status change appends `backtest.WalkForwardStatusChanged` in the same transaction;
//!   a final status is never changed again (a late cancel leaves `done` as it is).
//! - A window is stored once: a second write of the same `(walkforward_id, idx)` changes
//!   nothing, so a walk-forward resumed after a restart cannot duplicate a window.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::events::{Envelope, payloads};

use super::{Error, PointStatus, Result, SweepStatus, Walle, exec, fetch, text_of};

/// A stored walk-forward (its states are a sweep's: `queued`, `running`, `done`, `failed`,
/// `cancelled`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct WalkForward {
    /// Row id.
    pub id: i64,
    /// The strategy (the version resolved when it was posted).
    pub strategy_id: Option<i64>,
    /// The request as posted.
    pub config: Json<serde_json::Value>,
    /// State.
    #[sqlx(try_from = "String")]
    pub status: SweepStatus,
    /// The windows planned over the data (`greta::walkforward::Bounds` with their times).
    pub plan: Json<serde_json::Value>,
    /// Points of each window's in-sample optimisation.
    pub points: i64,
    /// The stitched out-of-sample result, stored when it ends.
    pub stitched: Option<Json<serde_json::Value>>,
    /// The overfitting figures, stored when it ends.
    pub overfitting: Option<Json<serde_json::Value>>,
    /// Why it failed.
    pub error: Option<String>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed (UTC).
    pub updated_at: DateTime<Utc>,
    /// Ended (UTC).
    pub finished_at: Option<DateTime<Utc>>,
}

/// One finished window (without its curve and report, which are read on their own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct WalkForwardWindow {
    /// The walk-forward.
    pub walkforward_id: i64,
    /// Its index in the plan.
    pub idx: i64,
    /// `done`, or `failed` (no feasible point, or the out-of-sample run failed).
    #[sqlx(try_from = "String")]
    pub status: PointStatus,
    /// Why it failed.
    pub error: Option<String>,
    /// The chosen point's swept parameters.
    pub best_params: Option<Json<serde_json::Value>>,
    /// Its in-sample objective value.
    pub in_sample_objective: Option<f64>,
    /// Its in-sample metrics summary.
    pub in_sample: Option<Json<serde_json::Value>>,
    /// The out-of-sample run's metrics summary.
    pub out_of_sample: Option<Json<serde_json::Value>>,
    /// Points that ran in sample.
    pub trials: i64,
    /// Sample variance of their per-bar Sharpe ratios.
    pub trial_sharpe_variance: Option<f64>,
    /// Stored (UTC).
    pub created_at: DateTime<Utc>,
}

/// A window to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewWindow {
    /// Index in the plan.
    pub idx: i64,
    /// How it ended.
    pub status: PointStatus,
    /// Why it failed.
    pub error: Option<String>,
    /// The chosen point's swept parameters.
    pub best_params: Option<serde_json::Value>,
    /// Its in-sample objective value.
    pub in_sample_objective: Option<f64>,
    /// Its in-sample summary.
    pub in_sample: Option<serde_json::Value>,
    /// The out-of-sample summary.
    pub out_of_sample: Option<serde_json::Value>,
    /// Points that ran in sample.
    pub trials: i64,
    /// Variance of their per-bar Sharpe ratios.
    pub trial_sharpe_variance: Option<f64>,
    /// The out-of-sample curve and trades (`greta::walkforward::Detail`).
    pub detail: Option<serde_json::Value>,
    /// The out-of-sample report.
    pub report: Option<serde_json::Value>,
}

const COLS: &str = "id, strategy_id, config, status, plan, points, stitched, overfitting, \
                    error, created_at, updated_at, finished_at";
const WINDOW_COLS: &str = "walkforward_id, idx, status, error, best_params, \
     in_sample_objective, in_sample, out_of_sample, trials, trial_sharpe_variance, created_at";

fn event(w: &WalkForward) -> Result<Envelope> {
    let payload = payloads::WalkForwardChanged {
        walkforward_id: w.id,
        status: text_of(&w.status),
    };
    Ok(Envelope::new(
        "backtest.WalkForwardStatusChanged",
        "walle",
        payload,
    )?)
}

impl Walle {
    /// Stores a queued walk-forward and appends `backtest.WalkForwardStatusChanged`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_walkforward(
        &self,
        strategy_id: i64,
        config: &serde_json::Value,
        plan: &serde_json::Value,
        points: i64,
    ) -> Result<WalkForward> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let sql = format!(
            "insert into walkforwards (strategy_id, config, status, plan, points, created_at, \
             updated_at) values ($1, $2, 'queued', $3, $4, $5, $5) returning {COLS}"
        );
        let w = fetch!(
            fetch_one,
            tx.conn(),
            WalkForward,
            sqlx::AssertSqlSafe(sql.clone()),
            strategy_id,
            Json(config),
            Json(plan),
            points,
            now,
        )?;
        tx.append(&event(&w)?).await?;
        tx.commit().await?;
        Ok(w)
    }

    /// One walk-forward.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn walkforward(&self, id: i64) -> Result<Option<WalkForward>> {
        let sql = format!("select {COLS} from walkforwards where id = $1");
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                WalkForward,
                sqlx::AssertSqlSafe(sql.clone()),
                id
            )
        })
        .await
    }

    /// Walk-forwards, newest first, with ids below `before_id` (`None` = from the newest).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn walkforwards(
        &self,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WalkForward>> {
        let sql =
            format!("select {COLS} from walkforwards where id < $1 order by id desc limit $2");
        let before = before_id.unwrap_or(i64::MAX);
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                WalkForward,
                sqlx::AssertSqlSafe(sql.clone()),
                before,
                limit
            )
        })
        .await
    }

    /// Ids of the walk-forwards still `queued` or `running`, oldest first.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn unfinished_walkforwards(&self) -> Result<Vec<i64>> {
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                (i64,),
                "select id from walkforwards where status in ('queued', 'running') order by id"
            )
        })
        .await
        .map(|rows| rows.into_iter().map(|(id,)| id).collect())
    }

    /// Sets a walk-forward's status (and error; `finished_at` on a final one) and appends
    /// `backtest.WalkForwardStatusChanged`, in one transaction. One already final is left as
    /// it is; the row as stored is returned.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`].
    pub async fn set_walkforward_status(
        &self,
        id: i64,
        status: SweepStatus,
        error: Option<&str>,
    ) -> Result<WalkForward> {
        let mut tx = self.begin().await?;
        let now = Utc::now();
        let finished = status.is_final().then_some(now);
        let sql = format!(
            "update walkforwards set status = $2, error = $3, updated_at = $4, finished_at = $5 \
             where id = $1 and status in ('queued', 'running') returning {COLS}"
        );
        let updated = fetch!(
            fetch_optional,
            tx.conn(),
            WalkForward,
            sqlx::AssertSqlSafe(sql.clone()),
            id,
            text_of(&status),
            error,
            now,
            finished,
        )?;
        let Some(w) = updated else {
            drop(tx);
            return self.walkforward(id).await?.ok_or_else(|| Error::NotFound {
                entity: "walkforward",
                key: id.to_string(),
            });
        };
        tx.append(&event(&w)?).await?;
        tx.commit().await?;
        Ok(w)
    }

    /// Stores what a walk-forward's windows add up to (the stitched result, the figures).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn set_walkforward_results(
        &self,
        id: i64,
        stitched: Option<&serde_json::Value>,
        overfitting: Option<&serde_json::Value>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "update walkforwards set stitched = $2, overfitting = $3 where id = $1",
            id,
            stitched.map(Json),
            overfitting.map(Json),
        )?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores one finished window; a window already stored is left as it is.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_walkforward_window(&self, id: i64, w: &NewWindow) -> Result<()> {
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "insert into walkforward_windows (walkforward_id, idx, status, error, best_params, \
             in_sample_objective, in_sample, out_of_sample, trials, trial_sharpe_variance, \
             detail, report, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             on conflict (walkforward_id, idx) do nothing",
            id,
            w.idx,
            text_of(&w.status),
            w.error.as_deref(),
            w.best_params.as_ref().map(Json),
            w.in_sample_objective,
            w.in_sample.as_ref().map(Json),
            w.out_of_sample.as_ref().map(Json),
            w.trials,
            w.trial_sharpe_variance,
            w.detail.as_ref().map(Json),
            w.report.as_ref().map(Json),
            Utc::now(),
        )?;
        tx.commit().await?;
        Ok(())
    }

    /// A walk-forward's stored windows, by index.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn walkforward_windows(&self, id: i64) -> Result<Vec<WalkForwardWindow>> {
        let sql = format!(
            "select {WINDOW_COLS} from walkforward_windows where walkforward_id = $1 order by idx"
        );
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                WalkForwardWindow,
                sqlx::AssertSqlSafe(sql.clone()),
                id
            )
        })
        .await
    }

    /// The out-of-sample curves and trades of a walk-forward's done windows, by index.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn walkforward_details(&self, id: i64) -> Result<Vec<(i64, serde_json::Value)>> {
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                (i64, Json<serde_json::Value>),
                "select idx, detail from walkforward_windows where walkforward_id = $1 \
                 and detail is not null order by idx",
                id
            )
        })
        .await
        .map(|rows| rows.into_iter().map(|(i, d)| (i, d.0)).collect())
    }

    /// Window `idx`'s out-of-sample report: `None` when the window is not stored, `Some(None)`
    /// when it has none (it failed).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn walkforward_report(
        &self,
        id: i64,
        idx: i64,
    ) -> Result<Option<Option<serde_json::Value>>> {
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                (Option<Json<serde_json::Value>>,),
                "select report from walkforward_windows where walkforward_id = $1 and idx = $2",
                id,
                idx
            )
        })
        .await
        .map(|row| row.map(|(r,)| r.map(|j| j.0)))
    }
}
