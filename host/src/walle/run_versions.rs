//! The strategy versions a run has run (ADR 0019), as stored: one row of `run_versions` per
//! switch asked for (`POST /runs/{id}/promote`, `POST /runs/{id}/rollback`, an automatic
//! rollback), seq 1 being the version the run started with.
//!
//! # Invariants
//! - A switch that happens moves its row to `active`, the active one before it to
//!   `superseded`, the run's own `strategy_id` and `params` to the new version's, and appends
//!   `run.VersionSwitched`, all in one transaction: the run row always names the version its
//!   task runs, so a resume after a restart runs it.
//! - At most one row per run is `pending` ([`Walle::insert_run_version`] refuses another with
//!   `switch_pending`); a pending row only leaves `pending` once.
//! - The start row is written with the first switch asked for, from the run row as it is then
//!   (before any switch changed it); a run with no rows never switched.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use super::{Error, Result, Walle, exec, fetch};
use crate::events::{Envelope, payloads};

/// One version of a run's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct RunVersion {
    /// The run.
    pub run_id: i64,
    /// Position in the run's history, from 1 (the start).
    pub seq: i64,
    /// The strategy version.
    pub strategy_id: i64,
    /// Its parameters.
    pub params: Json<serde_json::Value>,
    /// `start`, `promote`, `rollback` or `auto_rollback`.
    pub reason: String,
    /// `replay` or `fresh`.
    pub state: String,
    /// The shadow it was promoted from, if any.
    pub shadow_id: Option<i64>,
    /// `pending`, `active`, `superseded` or `failed`.
    pub status: String,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// When the run switched to it.
    pub switched_at: Option<DateTime<Utc>>,
    /// The bar boundary of the switch: the first bar it decided on.
    pub at_bar: Option<DateTime<Utc>>,
    /// Envelopes told it before that bar, intents discarded.
    pub replayed: Option<i64>,
    /// Why the switch failed, or why an automatic rollback happened.
    pub error_code: Option<String>,
    /// Bars after the switch within which a trap or a broken risk rule rolls back (0: never).
    pub auto_rollback_bars: i64,
}

/// A switch to ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRunVersion {
    /// The strategy version.
    pub strategy_id: i64,
    /// Its parameters.
    pub params: serde_json::Value,
    /// `promote` or `rollback`.
    pub reason: &'static str,
    /// `replay` or `fresh`.
    pub state: &'static str,
    /// The shadow it comes from, if any.
    pub shadow_id: Option<i64>,
    /// See [`RunVersion::auto_rollback_bars`].
    pub auto_rollback_bars: u32,
}

/// What a switch that happened did.
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchMade {
    /// The bar boundary.
    pub at_bar: DateTime<Utc>,
    /// Envelopes replayed.
    pub replayed: u64,
    /// For an automatic rollback: why.
    pub error_code: Option<String>,
}

const COLS: &str = "run_id, seq, strategy_id, params, reason, state, shadow_id, status, requested_at, \
    switched_at, at_bar, replayed, error_code, auto_rollback_bars";

impl Walle {
    /// Run `run_id`'s versions, oldest first (none for a run that never switched).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn run_versions(&self, run_id: i64) -> Result<Vec<RunVersion>> {
        let sql = format!("select {COLS} from run_versions where run_id = $1 order by seq");
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                RunVersion,
                sqlx::AssertSqlSafe(sql.clone()),
                run_id
            )
        })
        .await
    }

    /// Stores a `pending` switch of run `run_id` (and, for its first, the start row).
    ///
    /// # Errors
    /// [`Error::Conflict`] `switch_pending` when one is pending already, [`Error::Database`].
    pub async fn insert_run_version(&self, run_id: i64, new: &NewRunVersion) -> Result<RunVersion> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "insert into run_versions (run_id, seq, strategy_id, params, reason, state, status, \
             requested_at, switched_at, auto_rollback_bars) \
             select id, 1, strategy_id, params, 'start', 'replay', 'active', \
             coalesce(started_at, created_at), coalesce(started_at, created_at), 0 from runs \
             where id = $1 and not exists (select 1 from run_versions where run_id = $1)",
            run_id,
        )?;
        #[derive(sqlx::FromRow)]
        struct Count {
            pending: i64,
            next: i64,
        }
        let c = fetch!(
            fetch_one,
            tx.conn(),
            Count,
            "select count(case when status = 'pending' then 1 end) as pending, \
             coalesce(max(seq), 0) + 1 as next from run_versions where run_id = $1",
            run_id,
        )?;
        if c.pending > 0 {
            return Err(Error::Conflict {
                code: "switch_pending",
                message: format!(
                    "run {run_id} has a switch pending already (it happens at the next bar)"
                ),
            });
        }
        let sql = format!(
            "insert into run_versions (run_id, seq, strategy_id, params, reason, state, shadow_id, \
             status, requested_at, auto_rollback_bars) \
             values ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9) returning {COLS}"
        );
        let row = fetch!(
            fetch_one,
            tx.conn(),
            RunVersion,
            sqlx::AssertSqlSafe(sql),
            run_id,
            c.next,
            new.strategy_id,
            Json(&new.params),
            new.reason,
            new.state,
            new.shadow_id,
            now,
            i64::from(new.auto_rollback_bars),
        )?;
        tx.commit().await?;
        Ok(row)
    }

    /// Records that run `run_id` switched to its pending version `seq` (see the module's
    /// invariants); `false` when that row is not pending (nothing written).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn activate_run_version(
        &self,
        run_id: i64,
        seq: i64,
        made: &SwitchMade,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let Some(row) = select_row(&mut tx, run_id, seq).await? else {
            return Ok(false);
        };
        if row.status != "pending" {
            return Ok(false);
        }
        let event = activate(&mut tx, &row, made).await?;
        tx.append(&event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records an automatic rollback of run `run_id` to `strategy_id` with `params`: a new row,
    /// active at once (see [`Walle::activate_run_version`]).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn record_auto_rollback(
        &self,
        run_id: i64,
        strategy_id: i64,
        params: &serde_json::Value,
        made: &SwitchMade,
    ) -> Result<RunVersion> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let sql = format!(
            "insert into run_versions (run_id, seq, strategy_id, params, reason, state, status, \
             requested_at, auto_rollback_bars) \
             select $1, coalesce(max(seq), 0) + 1, $2, $3, 'auto_rollback', 'replay', 'pending', \
             $4, 0 from run_versions where run_id = $1 returning {COLS}"
        );
        let row = fetch!(
            fetch_one,
            tx.conn(),
            RunVersion,
            sqlx::AssertSqlSafe(sql),
            run_id,
            strategy_id,
            Json(params),
            now,
        )?;
        let event = activate(&mut tx, &row, made).await?;
        tx.append(&event).await?;
        tx.commit().await?;
        select_row_read(self, run_id, row.seq).await
    }

    /// Records that run `run_id`'s pending version `seq` was not switched to (`code`), with
    /// `run.VersionSwitchFailed`; `false` when it is not pending.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn fail_run_version(&self, run_id: i64, seq: i64, code: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let Some(row) = select_row(&mut tx, run_id, seq).await? else {
            return Ok(false);
        };
        if row.status != "pending" {
            return Ok(false);
        }
        exec!(
            tx.conn(),
            "update run_versions set status = 'failed', error_code = $3 \
             where run_id = $1 and seq = $2",
            run_id,
            seq,
            code,
        )?;
        let payload = payloads::VersionSwitchFailed {
            run_id,
            seq,
            strategy_id: row.strategy_id,
            reason: row.reason.clone(),
            error_code: code.to_owned(),
        };
        tx.append(&Envelope::new("run.VersionSwitchFailed", "walle", payload)?.for_run(run_id))
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The sequence numbers of run `run_id`'s pending switches.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn pending_run_versions(&self, run_id: i64) -> Result<Vec<i64>> {
        Ok(self
            .run_versions(run_id)
            .await?
            .into_iter()
            .filter(|v| v.status == "pending")
            .map(|v| v.seq)
            .collect())
    }
}

async fn select_row(tx: &mut super::Tx, run_id: i64, seq: i64) -> Result<Option<RunVersion>> {
    let sql = format!("select {COLS} from run_versions where run_id = $1 and seq = $2");
    Ok(fetch!(
        fetch_optional,
        tx.conn(),
        RunVersion,
        sqlx::AssertSqlSafe(sql),
        run_id,
        seq
    )?)
}

async fn select_row_read(w: &Walle, run_id: i64, seq: i64) -> Result<RunVersion> {
    let sql = format!("select {COLS} from run_versions where run_id = $1 and seq = $2");
    w.read(async |c| {
        fetch!(
            fetch_one,
            c,
            RunVersion,
            sqlx::AssertSqlSafe(sql.clone()),
            run_id,
            seq
        )
    })
    .await
}

/// Makes `row` the run's active version in `tx`; returns the `run.VersionSwitched` to append.
async fn activate(tx: &mut super::Tx, row: &RunVersion, made: &SwitchMade) -> Result<Envelope> {
    #[derive(sqlx::FromRow)]
    struct Before {
        strategy_id: i64,
    }
    let from = fetch!(
        fetch_one,
        tx.conn(),
        Before,
        "select strategy_id from runs where id = $1",
        row.run_id,
    )?;
    let now = Utc::now();
    exec!(
        tx.conn(),
        "update run_versions set status = 'superseded' where run_id = $1 and status = 'active'",
        row.run_id,
    )?;
    exec!(
        tx.conn(),
        "update run_versions set status = 'active', switched_at = $3, at_bar = $4, replayed = $5, \
         error_code = $6 where run_id = $1 and seq = $2",
        row.run_id,
        row.seq,
        now,
        made.at_bar,
        i64::try_from(made.replayed).unwrap_or(i64::MAX),
        made.error_code.as_deref(),
    )?;
    exec!(
        tx.conn(),
        "update runs set strategy_id = $2, params = $3, updated_at = $4 where id = $1",
        row.run_id,
        row.strategy_id,
        Json(&row.params.0),
        now,
    )?;
    let payload = payloads::VersionSwitched {
        run_id: row.run_id,
        seq: row.seq,
        from_strategy_id: from.strategy_id,
        to_strategy_id: row.strategy_id,
        reason: row.reason.clone(),
        state: row.state.clone(),
        at_bar: Some(made.at_bar),
        replayed: Some(made.replayed),
        error_code: made.error_code.clone(),
    };
    Ok(Envelope::new("run.VersionSwitched", "walle", payload)?.for_run(row.run_id))
}
