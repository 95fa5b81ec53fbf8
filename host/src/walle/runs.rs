//! Runs (a strategy in backtest, paper or live mode) and the intents each run produced.
//!
//! # Invariants
//! - `started_at` and `stopped_at` are stamped once, by the first transition that sets them.
//! - A strategy result is stored with the id of the event that caused it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::{Intent, Timeframe};
use crate::events::{Envelope, StoredEvent, payloads};

use super::{Error, Result, Tx, Walle, exec, fetch, text_of};

/// How a run trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// On historical data (Greta).
    Backtest,
    /// On a simulated or paper account.
    Paper,
    /// With real money.
    Live,
}

/// A run's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created, not started.
    Created,
    /// Running.
    Running,
    /// Asked to stop, draining.
    Stopping,
    /// Stopped cleanly.
    Stopped,
    /// Ended by an error (`error_code` says which).
    Failed,
    /// Paused by a shutdown of the server (SIGTERM, an upgrade): the next start resumes it.
    Suspended,
}

impl RunMode {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Backtest => "backtest",
            RunMode::Paper => "paper",
            RunMode::Live => "live",
        }
    }
}

impl RunStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Created,
        RunStatus::Running,
        RunStatus::Stopping,
        RunStatus::Stopped,
        RunStatus::Failed,
        RunStatus::Suspended,
    ];

    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Created => "created",
            RunStatus::Running => "running",
            RunStatus::Stopping => "stopping",
            RunStatus::Stopped => "stopped",
            RunStatus::Failed => "failed",
            RunStatus::Suspended => "suspended",
        }
    }
}

/// A run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Run {
    /// Row id.
    pub id: i64,
    /// The strategy it runs.
    pub strategy_id: i64,
    /// Backtest, paper or live.
    #[sqlx(try_from = "String")]
    pub mode: RunMode,
    /// Venue (`sim`, `alpaca`, `alpaca-paper`, `backtest`).
    pub venue: String,
    /// Strategy parameters.
    pub params: Json<serde_json::Value>,
    /// The sandbox limits the run asked for instead of its strategy tier's (the JSON of
    /// `marvin::LimitRequest`), `None` when it asked for nothing.
    pub limits: Option<Json<serde_json::Value>>,
    /// Its risk limits (the `risk` object, every key), `None` for none (runs stored before
    /// limits existed).
    pub risk: Option<Json<serde_json::Value>>,
    /// Its bar options on a live venue (`extended_hours`, `empty_bars`, `warmup`, as
    /// `runs::spec::LiveBarOptions` stores them), `None` for none (runs on `sim`, runs stored
    /// before options were kept).
    pub options: Option<Json<serde_json::Value>>,
    /// Symbols, in the order bars index them.
    pub symbols: Json<Vec<String>>,
    /// Bar timeframe (`1Min`, `1Day`, …).
    pub timeframe: String,
    /// Status.
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    /// Error code when failed.
    pub error_code: Option<String>,
    /// The id of the event that started it (`run.StatusChanged` to `running`): the cause of
    /// what it does on bars that are not events (candles the simulated exchange replays).
    pub start_event_id: Option<String>,
    /// When it started running.
    pub started_at: Option<DateTime<Utc>>,
    /// When it stopped or failed.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// A run to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    /// The strategy.
    pub strategy_id: i64,
    /// Mode.
    pub mode: RunMode,
    /// Venue.
    pub venue: String,
    /// Strategy parameters.
    pub params: serde_json::Value,
    /// Symbols.
    pub symbols: Vec<String>,
    /// Timeframe.
    pub timeframe: Timeframe,
    /// The sandbox limits it asks for (see [`Run::limits`]); `None` for none.
    #[serde(default)]
    pub limits: Option<serde_json::Value>,
    /// Its risk limits (see [`Run::risk`]).
    #[serde(default)]
    pub risk: Option<serde_json::Value>,
    /// Its bar options (see [`Run::options`]).
    #[serde(default)]
    pub options: Option<serde_json::Value>,
}

/// One decision of a run's strategy: the intents one event made it return (the projection of
/// `strategy.DecisionMade`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct StrategyResult {
    /// Row id.
    pub id: i64,
    /// The run.
    pub run_id: i64,
    /// The event the strategy was answering.
    pub cause_event_id: Uuid,
    /// The intents.
    pub intents: Json<Vec<Intent>>,
    /// The `strategy.DecisionMade` event this row projects.
    pub decision_event_id: Option<Uuid>,
    /// The time of the event answered (the bar time for bars).
    pub bar_ts: Option<DateTime<Utc>>,
    /// Fuel the call used.
    pub fuel: Option<i64>,
    /// Wall time of the call, in µs.
    pub latency_us: Option<i64>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

const RESULT_COLS: &str = "id, run_id, cause_event_id, intents, decision_event_id, bar_ts, fuel, \
    latency_us, created_at, updated_at";

const COLS: &str = "id, strategy_id, mode, venue, params, limits, risk, options, symbols, timeframe, status, error_code, \
    start_event_id, started_at, stopped_at, created_at, updated_at";

fn event(r: &Run, event_type: &str, cause: Option<&Envelope>) -> Result<Envelope> {
    let payload = payloads::RunChanged {
        run_id: r.id,
        status: text_of(&r.status),
        error_code: r.error_code.clone(),
    };
    let e = Envelope::new(event_type, "walle", payload)?.for_run(r.id);
    Ok(match cause {
        Some(c) => e.caused_by(c),
        None => e,
    })
}

impl Walle {
    /// Creates a run in `created` state and appends `run.Created`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for no symbols, [`Error::NotFound`] for an unknown strategy,
    /// [`Error::Conflict`] `strategy_disabled`, [`Error::Database`].
    pub async fn insert_run(&self, new: &NewRun, cause: Option<&Envelope>) -> Result<Run> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let run = self.insert_created(&mut tx, new, now).await?;
        tx.append(&event(&run, "run.Created", cause)?).await?;
        tx.commit().await?;
        Ok(run)
    }

    /// Inserts `new` in `created` state inside `tx`, after checking its symbols and locking its
    /// strategy as usable.
    async fn insert_created(&self, tx: &mut Tx, new: &NewRun, now: DateTime<Utc>) -> Result<Run> {
        if new.symbols.is_empty() || new.symbols.iter().any(|s| s.trim().is_empty()) {
            return Err(Error::Invalid(
                "a run needs at least one non-empty symbol".into(),
            ));
        }
        // A disabled strategy starts nothing, even when the disable raced the caller's checks.
        self.lock_usable_strategy(tx, new.strategy_id).await?;
        let sql = format!(
            "insert into runs (strategy_id, mode, venue, params, symbols, timeframe, limits, risk, options, status, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $9, $10, 'created', $8, $8) returning {COLS}"
        );
        Ok(fetch!(
            fetch_one,
            tx.conn(),
            Run,
            sqlx::AssertSqlSafe(sql),
            new.strategy_id,
            text_of(&new.mode),
            new.venue.as_str(),
            Json(&new.params),
            Json(&new.symbols),
            new.timeframe.to_string(),
            new.limits.as_ref().map(Json),
            now,
            new.risk.as_ref().map(Json),
            new.options.as_ref().map(Json),
        )?)
    }

    /// Stores a run that starts now, in one transaction: the row in `running` (stamped
    /// `started_at`), its account with `cash`, and the events of both steps (`run.Created`, then
    /// `run.StatusChanged`), as [`Walle::insert_run`], [`Walle::insert_run_account`] and
    /// [`Walle::update_run_status`] would one after the other, with one commit instead of three
    /// (on SQLite each commit is an fsync on the one writer every run shares). All or nothing.
    ///
    /// # Errors
    /// As [`Walle::insert_run`]; [`Error::Database`] for cash ≤ 0.
    pub async fn insert_running_run(&self, new: &NewRun, cash: f64) -> Result<Run> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let created = self.insert_created(&mut tx, new, now).await?;
        let announced = event(&created, "run.Created", None)?;
        tx.append(&announced).await?;
        exec!(
            tx.conn(),
            "insert into run_accounts (run_id, cash, bars, created_at, updated_at) \
             values ($1, $2, 0, $3, $3)",
            created.id,
            cash,
            now,
        )?;
        let start = Uuid::now_v7();
        let sql = format!(
            "update runs set status = 'running', updated_at = $2, started_at = $2, \
             start_event_id = $3 where id = $1 returning {COLS}"
        );
        let run = fetch!(
            fetch_one,
            tx.conn(),
            Run,
            sqlx::AssertSqlSafe(sql),
            created.id,
            now,
            start.to_string(),
        )?;
        let mut started = event(&run, "run.StatusChanged", Some(&announced))?;
        started.id = start;
        tx.append(&started).await?;
        tx.commit().await?;
        Ok(run)
    }

    /// Replaces run `id`'s risk limits with `risk` and appends `risk.LimitsChanged` (the old and
    /// new values), in one transaction. Returns the run as stored.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`].
    pub async fn set_run_risk(&self, id: i64, risk: &serde_json::Value) -> Result<Run> {
        let mut tx = self.begin().await?;
        let sql = format!("select {COLS} from runs where id = $1");
        let old = fetch!(fetch_optional, tx.conn(), Run, sqlx::AssertSqlSafe(sql), id)?
            .ok_or_else(|| Error::NotFound {
                entity: "run",
                key: id.to_string(),
            })?;
        let sql =
            format!("update runs set risk = $2, updated_at = $3 where id = $1 returning {COLS}");
        let run = fetch!(
            fetch_one,
            tx.conn(),
            Run,
            sqlx::AssertSqlSafe(sql),
            id,
            Json(risk),
            Utc::now()
        )?;
        let payload = payloads::LimitsChanged {
            run_id: id,
            old: old.risk.map(|j| j.0).unwrap_or(serde_json::Value::Null),
            new: risk.clone(),
        };
        tx.append(&Envelope::new("risk.LimitsChanged", "walle", payload)?.for_run(id))
            .await?;
        tx.commit().await?;
        Ok(run)
    }

    /// One run.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn run(&self, id: i64) -> Result<Option<Run>> {
        let sql = format!("select {COLS} from runs where id = $1");
        self.read(async |c| fetch!(fetch_optional, c, Run, sqlx::AssertSqlSafe(sql.clone()), id))
            .await
    }

    /// Runs, newest first, optionally only those in `status`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn runs(&self, status: Option<RunStatus>, limit: i64) -> Result<Vec<Run>> {
        self.runs_before(status, None, limit).await
    }

    /// Runs with an id below `before` (all when `None`), newest first, optionally only those in
    /// `status`: a page of the run list, the previous page's last id being the cursor (ids never
    /// change, so a page is stable while new runs are created).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn runs_before(
        &self,
        status: Option<RunStatus>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Run>> {
        let sql = format!(
            "select {COLS} from runs where ($1 is null or status = $1) and id < $2 \
             order by id desc limit $3"
        );
        let status = status.map(|s| text_of(&s));
        let before = before.unwrap_or(i64::MAX);
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                Run,
                sqlx::AssertSqlSafe(sql.clone()),
                status.clone(),
                before,
                limit
            )
        })
        .await
    }

    /// How many runs there are, optionally only those in `status`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn count_runs(&self, status: Option<RunStatus>) -> Result<i64> {
        #[derive(sqlx::FromRow)]
        struct Count {
            n: i64,
        }
        let status = status.map(|s| text_of(&s));
        let row = self
            .read(async |c| {
                fetch!(
                    fetch_one,
                    c,
                    Count,
                    "select count(*) as n from runs where ($1 is null or status = $1)",
                    status.clone(),
                )
            })
            .await?;
        Ok(row.n)
    }

    /// Moves a run to `status` (stamping `started_at` on `running`, `stopped_at` on `stopped` or
    /// `failed`) and appends `run.StatusChanged`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`].
    pub async fn update_run_status(
        &self,
        id: i64,
        status: RunStatus,
        error_code: Option<&str>,
        cause: Option<&Envelope>,
    ) -> Result<Run> {
        let now = Utc::now();
        let started = (status == RunStatus::Running).then_some(now);
        let stopped = matches!(status, RunStatus::Stopped | RunStatus::Failed).then_some(now);
        // The first move to `running` is the run's start: its event id is kept on the row.
        let event_id = Uuid::now_v7();
        let start = started.map(|_| event_id.to_string());
        let mut tx = self.begin().await?;
        let sql = format!(
            "update runs set status = $2, error_code = $3, updated_at = $4, \
             started_at = coalesce(started_at, $5), stopped_at = coalesce(stopped_at, $6), \
             start_event_id = coalesce(start_event_id, $7) where id = $1 returning {COLS}"
        );
        let run = fetch!(
            fetch_optional,
            tx.conn(),
            Run,
            sqlx::AssertSqlSafe(sql.clone()),
            id,
            text_of(&status),
            error_code,
            now,
            started,
            stopped,
            start,
        )?
        .ok_or_else(|| Error::NotFound {
            entity: "run",
            key: id.to_string(),
        })?;
        let mut changed = event(&run, "run.StatusChanged", cause)?;
        changed.id = event_id;
        tx.append(&changed).await?;
        tx.commit().await?;
        Ok(run)
    }

    /// Projects `strategy.DecisionMade` events into `strategy_results`, one row per decision,
    /// in one transaction. Idempotent: an event already projected is skipped (consumers
    /// deliver at least once). Other event types are ignored. Returns the rows written.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a decision whose payload does not read back, [`Error::Database`].
    pub async fn project_decisions(&self, events: &[StoredEvent]) -> Result<u64> {
        let decisions: Vec<(Uuid, payloads::DecisionMade)> = events
            .iter()
            .filter(|e| e.envelope.event_type == "strategy.DecisionMade")
            .map(|e| {
                serde_json::from_value(e.envelope.payload.clone())
                    .map(|d| (e.envelope.id, d))
                    .map_err(|err| Error::Corrupt {
                        column: "outbox.payload",
                        value: format!("strategy.DecisionMade {}: {err}", e.envelope.id),
                    })
            })
            .collect::<Result<_>>()?;
        if decisions.is_empty() {
            return Ok(0);
        }
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let mut written = 0;
        for (event_id, d) in &decisions {
            written += exec!(
                tx.conn(),
                "insert into strategy_results (run_id, cause_event_id, intents, decision_event_id, \
                 bar_ts, fuel, latency_us, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $8) on conflict (decision_event_id) do nothing",
                d.run_id,
                d.cause_event_id,
                Json(&d.intents),
                *event_id,
                d.bar_ts,
                i64::try_from(d.fuel).unwrap_or(i64::MAX),
                i64::try_from(d.latency_us).unwrap_or(i64::MAX),
                now,
            )?;
        }
        tx.commit().await?;
        Ok(written)
    }

    /// A run's decisions, oldest first, after row id `after_id`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn strategy_results(
        &self,
        run_id: i64,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<StrategyResult>> {
        let sql = format!(
            "select {RESULT_COLS} from strategy_results where run_id = $1 and id > $2 order by id limit $3"
        );
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                StrategyResult,
                sqlx::AssertSqlSafe(sql.clone()),
                run_id,
                after_id,
                limit,
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_stored_text() {
        for s in RunStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for m in [RunMode::Backtest, RunMode::Paper, RunMode::Live] {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
    }
}
