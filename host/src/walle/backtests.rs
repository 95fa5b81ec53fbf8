//! Backtests: configuration, status and the JSON report (metrics, trades, equity curve).
//!
//! # Invariants
//! - Every status change appends `backtest.StatusChanged` in the same transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::events::{Envelope, payloads};

use super::{Error, Result, Walle, fetch, text_of};

/// A backtest's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BacktestStatus {
    /// Waiting to run.
    Queued,
    /// Running.
    Running,
    /// Finished; the report is stored.
    Done,
    /// Ended by an error.
    Failed,
    /// Cancelled by the user.
    Cancelled,
}

/// A stored backtest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Backtest {
    /// Row id.
    pub id: i64,
    /// The strategy tested.
    pub strategy_id: Option<i64>,
    /// The run that executed it.
    pub run_id: Option<i64>,
    /// The configuration (data, fill model, parameters).
    pub config: Json<serde_json::Value>,
    /// State.
    #[sqlx(try_from = "String")]
    pub status: BacktestStatus,
    /// Metrics (floats are fine here).
    pub metrics: Option<Json<serde_json::Value>>,
    /// Closed trades.
    pub trades: Option<Json<serde_json::Value>>,
    /// Equity curve.
    pub equity: Option<Json<serde_json::Value>>,
    /// Why it failed.
    pub error: Option<String>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// A backtest to queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewBacktest {
    /// The strategy.
    pub strategy_id: Option<i64>,
    /// The run, if one was created for it.
    pub run_id: Option<i64>,
    /// The configuration.
    pub config: serde_json::Value,
}

/// The results of a finished backtest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestReport {
    /// Metrics.
    pub metrics: serde_json::Value,
    /// Trades.
    pub trades: serde_json::Value,
    /// Equity curve.
    pub equity: serde_json::Value,
}

const COLS: &str = "id, strategy_id, run_id, config, status, metrics, trades, equity, error, created_at, updated_at";

fn event(b: &Backtest, cause: Option<&Envelope>) -> Result<Envelope> {
    let payload = payloads::BacktestChanged {
        backtest_id: b.id,
        status: text_of(&b.status),
    };
    let e = Envelope::new("backtest.StatusChanged", "walle", payload)?;
    let e = match b.run_id {
        Some(r) => e.for_run(r),
        None => e,
    };
    Ok(match cause {
        Some(c) => e.caused_by(c),
        None => e,
    })
}

impl Walle {
    /// Queues a backtest and appends `backtest.StatusChanged`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_backtest(
        &self,
        new: &NewBacktest,
        cause: Option<&Envelope>,
    ) -> Result<Backtest> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let sql = format!(
            "insert into backtests (strategy_id, run_id, config, status, created_at, updated_at) \
             values ($1, $2, $3, 'queued', $4, $4) returning {COLS}"
        );
        let b = fetch!(
            fetch_one,
            tx.conn(),
            Backtest,
            sqlx::AssertSqlSafe(sql.clone()),
            new.strategy_id,
            new.run_id,
            Json(&new.config),
            now,
        )?;
        tx.append(&event(&b, cause)?).await?;
        tx.commit().await?;
        Ok(b)
    }

    /// One backtest.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn backtest(&self, id: i64) -> Result<Option<Backtest>> {
        let sql = format!("select {COLS} from backtests where id = $1");
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                Backtest,
                sqlx::AssertSqlSafe(sql.clone()),
                id
            )
        })
        .await
    }

    /// Backtests, newest first, with ids below `before_id` (pagination; `None` = from the newest).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn backtests(&self, before_id: Option<i64>, limit: i64) -> Result<Vec<Backtest>> {
        let sql = format!("select {COLS} from backtests where id < $1 order by id desc limit $2");
        let before = before_id.unwrap_or(i64::MAX);
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                Backtest,
                sqlx::AssertSqlSafe(sql.clone()),
                before,
                limit
            )
        })
        .await
    }

    /// Like [`Walle::backtests`] without the parts that grow with the test (`trades`, `equity`
    /// are `None`): what a list shows, read without loading every report.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn backtest_summaries(
        &self,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Backtest>> {
        // `cast(null as jsonb)`: typed for PostgreSQL, a plain NULL for SQLite.
        let sql = "select id, strategy_id, run_id, config, status, metrics, \
                   cast(null as jsonb) as trades, cast(null as jsonb) as equity, error, \
                   created_at, updated_at from backtests where id < $1 order by id desc limit $2";
        let before = before_id.unwrap_or(i64::MAX);
        self.read(async |c| fetch!(fetch_all, c, Backtest, sql, before, limit))
            .await
    }

    /// Ids of the backtests still `queued` or `running`, oldest first (at start-up: the ones an
    /// earlier process did not finish).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn unfinished_backtests(&self) -> Result<Vec<i64>> {
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                (i64,),
                "select id from backtests where status in ('queued', 'running') order by id"
            )
        })
        .await
        .map(|rows| rows.into_iter().map(|(id,)| id).collect())
    }

    /// Sets a backtest's status, and its report or error, and appends `commands` (the orders
    /// its strategy placed, `backtest.PlaceOrder`) then `backtest.StatusChanged`, in one
    /// transaction.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Event`] for a refused command (nothing written),
    /// [`Error::Database`].
    pub async fn update_backtest(
        &self,
        id: i64,
        status: BacktestStatus,
        report: Option<&BacktestReport>,
        error: Option<&str>,
        cause: Option<&Envelope>,
        commands: &[Envelope],
    ) -> Result<Backtest> {
        for c in commands {
            self.registry().validate(c)?;
        }
        let mut tx = self.begin().await?;
        let sql = format!(
            "update backtests set status = $2, metrics = coalesce($3, metrics), \
             trades = coalesce($4, trades), equity = coalesce($5, equity), error = $6, updated_at = $7 \
             where id = $1 returning {COLS}"
        );
        let b = fetch!(
            fetch_optional,
            tx.conn(),
            Backtest,
            sqlx::AssertSqlSafe(sql.clone()),
            id,
            text_of(&status),
            report.map(|r| Json(&r.metrics)),
            report.map(|r| Json(&r.trades)),
            report.map(|r| Json(&r.equity)),
            error,
            Utc::now(),
        )?
        .ok_or_else(|| Error::NotFound {
            entity: "backtest",
            key: id.to_string(),
        })?;
        for c in commands {
            tx.append(c).await?;
        }
        tx.append(&event(&b, cause)?).await?;
        tx.commit().await?;
        Ok(b)
    }
}
