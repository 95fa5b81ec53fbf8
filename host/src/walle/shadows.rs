//! Shadow runs (ADR 0018) as stored: one row per shadow of a run (`run_shadows`) and the
//! decisions each made (`shadow_decisions`), which `GET /runs/{id}/shadows/{sid}/diff` sets
//! beside the run's own.
//!
//! # Invariants
//! - A shadow's status only leaves `running` once ([`Walle::end_shadow`] changes a running
//!   row only), so a stop that wrote `stopped` is never overwritten by its task's ending.
//! - A decision is stored at most once per `(shadow_id, seq)`: writing it again is a no-op, so a
//!   flush that is retried never duplicates one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::domain::Intent;

use super::{Result, Walle, exec, fetch};

/// A shadow of a run, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Shadow {
    /// Id.
    pub id: i64,
    /// The run it shadows.
    pub run_id: i64,
    /// The strategy version it runs (same name as the run's).
    pub strategy_id: i64,
    /// Its parameters (the run's unless given).
    pub params: Json<serde_json::Value>,
    /// `running`, `stopped` or `failed`.
    pub status: String,
    /// Why it failed (a stable code), when it did.
    pub error_code: Option<String>,
    /// When it ended.
    pub stopped_at: Option<DateTime<Utc>>,
    /// When it was started (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// One decision of a shadow's strategy: one guest call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ShadowDecision {
    /// Position among the shadow's calls, from 1.
    pub seq: i64,
    /// The time of the event answered (the bar time for bars).
    pub bar_ts: DateTime<Utc>,
    /// The event's type (`market.Bar`, `orders.Updated`, …).
    pub event_type: String,
    /// The intents returned.
    pub intents: Json<Vec<Intent>>,
    /// After a bar: the shadow's simulated equity.
    pub equity: Option<f64>,
    /// After a bar: the run's equity at the same bar, when known.
    pub run_equity: Option<f64>,
}

const COLS: &str =
    "id, run_id, strategy_id, params, status, error_code, stopped_at, created_at, updated_at";

impl Walle {
    /// Stores a new `running` shadow of run `run_id`.
    ///
    /// # Errors
    /// [`super::Error::Database`] (for example an unknown run or strategy).
    pub async fn insert_shadow(
        &self,
        run_id: i64,
        strategy_id: i64,
        params: &serde_json::Value,
    ) -> Result<Shadow> {
        let now = Utc::now();
        let sql = format!(
            "insert into run_shadows (run_id, strategy_id, params, status, created_at, updated_at) \
             values ($1, $2, $3, 'running', $4, $4) returning {COLS}"
        );
        let mut tx = self.begin().await?;
        let row = fetch!(
            fetch_one,
            tx.conn(),
            Shadow,
            sqlx::AssertSqlSafe(sql),
            run_id,
            strategy_id,
            Json(params),
            now,
        )?;
        tx.commit().await?;
        Ok(row)
    }

    /// Shadow `id`.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn shadow(&self, id: i64) -> Result<Option<Shadow>> {
        let sql = format!("select {COLS} from run_shadows where id = $1");
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                Shadow,
                sqlx::AssertSqlSafe(sql.clone()),
                id
            )
        })
        .await
    }

    /// The shadows of run `run_id`, oldest first.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn run_shadows(&self, run_id: i64) -> Result<Vec<Shadow>> {
        let sql = format!("select {COLS} from run_shadows where run_id = $1 order by id");
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                Shadow,
                sqlx::AssertSqlSafe(sql.clone()),
                run_id
            )
        })
        .await
    }

    /// Ends shadow `id` with `status` (`stopped` or `failed`, with `code`) if it is still
    /// `running`; whether it was.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn end_shadow(&self, id: i64, status: &str, code: Option<&str>) -> Result<bool> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let n = exec!(
            tx.conn(),
            "update run_shadows set status = $2, error_code = $3, stopped_at = $4, updated_at = $4 \
             where id = $1 and status = 'running'",
            id,
            status,
            code,
            now,
        )?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Stores decisions of shadow `id` (rows already stored are skipped).
    ///
    /// # Errors
    /// [`super::Error::Database`]; then none is stored.
    pub async fn append_shadow_decisions(&self, id: i64, rows: &[ShadowDecision]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for r in rows {
            exec!(
                tx.conn(),
                "insert into shadow_decisions \
                 (shadow_id, seq, bar_ts, event_type, intents, equity, run_equity) \
                 values ($1, $2, $3, $4, $5, $6, $7) on conflict (shadow_id, seq) do nothing",
                id,
                r.seq,
                r.bar_ts,
                r.event_type.as_str(),
                Json(&r.intents.0),
                r.equity,
                r.run_equity,
            )?;
        }
        tx.commit().await
    }

    /// Shadow `id`'s decisions with `seq > after`, in order.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn shadow_decisions(
        &self,
        id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ShadowDecision>> {
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                ShadowDecision,
                "select seq, bar_ts, event_type, intents, equity, run_equity from shadow_decisions \
                 where shadow_id = $1 and seq > $2 order by seq limit $3",
                id,
                after,
                limit,
            )
        })
        .await
    }

    /// Forgets shadow `id`'s decisions with `seq > after` (a shadow of a simulated run makes
    /// them again, identically, when it is resumed).
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn delete_shadow_decisions(&self, id: i64, after: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "delete from shadow_decisions where shadow_id = $1 and seq > $2",
            id,
            after,
        )?;
        tx.commit().await
    }

    /// The highest stored decision `seq` of shadow `id` (0 when none).
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn last_shadow_seq(&self, id: i64) -> Result<i64> {
        #[derive(sqlx::FromRow)]
        struct Max {
            seq: Option<i64>,
        }
        let row = self
            .read(async |c| {
                fetch!(
                    fetch_one,
                    c,
                    Max,
                    "select max(seq) as seq from shadow_decisions where shadow_id = $1",
                    id,
                )
            })
            .await?;
        Ok(row.seq.unwrap_or(0))
    }

    /// Every shadow still `running` (resumed with their runs after a restart).
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn running_shadows(&self) -> Result<Vec<Shadow>> {
        let sql = format!("select {COLS} from run_shadows where status = 'running' order by id");
        self.read(async |c| fetch!(fetch_all, c, Shadow, sqlx::AssertSqlSafe(sql.clone())))
            .await
    }
}
