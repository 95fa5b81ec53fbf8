//! Strategies: uploaded components, versioned by content hash.
//!
//! # Invariants
//! - One row per sha256: uploading the same bytes again returns the stored row and appends nothing.
//! - Disabling keeps the compile status in the `status` column and sets `disabled_at`; every read
//!   reports `disabled` while it is set, so a compilation finishing later cannot re-enable it.
//! - A strategy is disabled only while no run of it is `created`, `running` or `stopping`, checked
//!   under the strategy row's lock; [`Walle::insert_run`] takes the same lock and refuses a
//!   disabled strategy, so the two cannot interleave.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::events::{Envelope, payloads};

use super::{Error, Result, Walle, fetch, text_of};

/// Where an upload is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyStatus {
    /// Stored, not yet compiled.
    Uploaded,
    /// Being compiled in the background.
    Compiling,
    /// Compiled and usable.
    Ready,
    /// Refused by validation or compilation (`error` says why).
    Rejected,
    /// Disabled by an operator: readable, but no new run or backtest may use it.
    Disabled,
}

/// A stored strategy component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Strategy {
    /// Row id.
    pub id: i64,
    /// Hex sha256 of the component bytes (unique).
    pub sha256: String,
    /// Name given at upload.
    pub name: String,
    /// Version given at upload.
    pub version: String,
    /// Source language (`rust`, `python`, `javascript`, …).
    pub language: String,
    /// Component size in bytes.
    pub size_bytes: i64,
    /// Status.
    #[sqlx(try_from = "String")]
    pub status: StrategyStatus,
    /// Why it was rejected.
    pub error: Option<String>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed (UTC).
    pub updated_at: DateTime<Utc>,
    /// When it was disabled (then `status` is [`StrategyStatus::Disabled`]).
    pub disabled_at: Option<DateTime<Utc>>,
}

/// How a request names a strategy: by id, by name (the newest ready version), or by name and
/// version label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StrategyRef {
    /// One stored strategy, whatever its status.
    Id(i64),
    /// The newest `ready` version of a name; when none is ready, the newest version (so the
    /// caller can say why it cannot be used).
    Name(String),
    /// One version of a name.
    Version {
        /// Name given at upload.
        name: String,
        /// Version label given at upload.
        version: String,
    },
}

/// A strategy to insert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewStrategy {
    /// Hex sha256 of the component bytes.
    pub sha256: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Source language.
    pub language: String,
    /// Size in bytes.
    pub size_bytes: i64,
}

const COLS: &str = "id, sha256, name, version, language, size_bytes, \
     case when disabled_at is null then status else 'disabled' end as status, error, created_at, \
     updated_at, disabled_at";

/// Run statuses that hold a strategy in use.
const ACTIVE_RUNS: &str = "('created', 'running', 'stopping')";

fn event(s: &Strategy, event_type: &str, cause: Option<&Envelope>) -> Result<Envelope> {
    let payload = payloads::StrategyChanged {
        strategy_id: s.id,
        sha256: s.sha256.clone(),
        status: text_of(&s.status),
    };
    let e = Envelope::new(event_type, "walle", payload)?;
    Ok(match cause {
        Some(c) => e.caused_by(c),
        None => e,
    })
}

impl Walle {
    /// Stores a new strategy as `uploaded` and appends `strategy.Uploaded`. The same sha256
    /// uploaded again returns the existing row and appends nothing. Returns `(row, created)`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty name or malformed hash, [`Error::Database`].
    pub async fn insert_strategy(
        &self,
        new: &NewStrategy,
        cause: Option<&Envelope>,
    ) -> Result<(Strategy, bool)> {
        if new.name.trim().is_empty() {
            return Err(Error::Invalid("strategy name is empty".into()));
        }
        if new.sha256.len() != 64 || !new.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::Invalid("sha256 must be 64 hex digits".into()));
        }
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let sql = format!(
            "insert into strategies (sha256, name, version, language, size_bytes, status, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, 'uploaded', $6, $6) on conflict (sha256) do nothing returning {COLS}"
        );
        let row = fetch!(
            fetch_optional,
            tx.conn(),
            Strategy,
            sqlx::AssertSqlSafe(sql.clone()),
            new.sha256.to_ascii_lowercase(),
            new.name.as_str(),
            new.version.as_str(),
            new.language.as_str(),
            new.size_bytes,
            now,
        )?;
        match row {
            Some(s) => {
                tx.append(&event(&s, "strategy.Uploaded", cause)?).await?;
                tx.commit().await?;
                Ok((s, true))
            }
            None => {
                drop(tx);
                let s = self
                    .strategy_by_sha256(&new.sha256.to_ascii_lowercase())
                    .await?
                    .ok_or_else(|| Error::NotFound {
                        entity: "strategy",
                        key: new.sha256.clone(),
                    })?;
                Ok((s, false))
            }
        }
    }

    /// One strategy by id.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn strategy(&self, id: i64) -> Result<Option<Strategy>> {
        let sql = format!("select {COLS} from strategies where id = $1");
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                Strategy,
                sqlx::AssertSqlSafe(sql.clone()),
                id
            )
        })
        .await
    }

    /// One strategy by content hash.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub(crate) async fn strategy_by_sha256(&self, sha256: &str) -> Result<Option<Strategy>> {
        let sql = format!("select {COLS} from strategies where sha256 = $1");
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                Strategy,
                sqlx::AssertSqlSafe(sql.clone()),
                sha256
            )
        })
        .await
    }

    /// All versions of a strategy name, oldest first.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn strategies_by_name(&self, name: &str) -> Result<Vec<Strategy>> {
        let sql = format!("select {COLS} from strategies where name = $1 order by created_at, id");
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                Strategy,
                sqlx::AssertSqlSafe(sql.clone()),
                name
            )
        })
        .await
    }

    /// All strategies, oldest first.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn strategies(&self) -> Result<Vec<Strategy>> {
        let sql = format!("select {COLS} from strategies order by id");
        self.read(async |c| fetch!(fetch_all, c, Strategy, sqlx::AssertSqlSafe(sql.clone())))
            .await
    }

    /// Sets a strategy's status (and error) and appends `strategy.StatusChanged`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Database`].
    pub async fn update_strategy_status(
        &self,
        id: i64,
        status: StrategyStatus,
        error: Option<&str>,
        cause: Option<&Envelope>,
    ) -> Result<Strategy> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "update strategies set status = $2, error = $3, updated_at = $4 where id = $1 returning {COLS}"
        );
        let s = fetch!(
            fetch_optional,
            tx.conn(),
            Strategy,
            sqlx::AssertSqlSafe(sql.clone()),
            id,
            text_of(&status),
            error,
            Utc::now(),
        )?
        .ok_or_else(|| Error::NotFound {
            entity: "strategy",
            key: id.to_string(),
        })?;
        tx.append(&event(&s, "strategy.StatusChanged", cause)?)
            .await?;
        tx.commit().await?;
        Ok(s)
    }

    /// Disables a strategy and appends `strategy.StatusChanged` (status `disabled`). Disabling
    /// a disabled strategy returns it unchanged and appends nothing.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Conflict`] `strategy_in_use` while a run of it is created,
    /// running or stopping, [`Error::Database`].
    pub async fn disable_strategy(&self, id: i64, cause: Option<&Envelope>) -> Result<Strategy> {
        let mut tx = self.begin().await?;
        // PostgreSQL: the row lock orders this against insert_run's share lock (SQLite's
        // BEGIN IMMEDIATE already serialises writers). Each later statement sees what committed
        // before the lock was granted.
        let lock = if self.is_pg() {
            format!("select {COLS} from strategies where id = $1 for update")
        } else {
            format!("select {COLS} from strategies where id = $1")
        };
        let current = fetch!(
            fetch_optional,
            tx.conn(),
            Strategy,
            sqlx::AssertSqlSafe(lock),
            id
        )?
        .ok_or_else(|| Error::NotFound {
            entity: "strategy",
            key: id.to_string(),
        })?;
        if current.disabled_at.is_some() {
            return Ok(current);
        }
        let active = format!(
            "select id from runs where strategy_id = $1 and status in {ACTIVE_RUNS} order by id limit 1"
        );
        let in_use = fetch!(
            fetch_optional,
            tx.conn(),
            (i64,),
            sqlx::AssertSqlSafe(active),
            id
        )?;
        if let Some((run,)) = in_use {
            return Err(Error::Conflict {
                code: "strategy_in_use",
                message: format!("strategy {id} is used by active run {run}; stop it first"),
            });
        }
        let now = Utc::now();
        let sql = format!(
            "update strategies set disabled_at = $2, updated_at = $2 where id = $1 returning {COLS}"
        );
        let s = fetch!(
            fetch_one,
            tx.conn(),
            Strategy,
            sqlx::AssertSqlSafe(sql),
            id,
            now
        )?;
        tx.append(&event(&s, "strategy.StatusChanged", cause)?)
            .await?;
        tx.commit().await?;
        Ok(s)
    }

    /// Checks, inside a write transaction, that strategy `id` exists and is not disabled, and
    /// (PostgreSQL) holds a share lock on its row until the transaction ends, so a concurrent
    /// [`Walle::disable_strategy`] waits for it and then sees what it wrote.
    pub(crate) async fn lock_usable_strategy(&self, tx: &mut super::Tx, id: i64) -> Result<()> {
        let sql = if self.is_pg() {
            "select disabled_at from strategies where id = $1 for share"
        } else {
            "select disabled_at from strategies where id = $1"
        };
        let row = fetch!(fetch_optional, tx.conn(), (Option<DateTime<Utc>>,), sql, id)?;
        match row {
            None => Err(Error::NotFound {
                entity: "strategy",
                key: id.to_string(),
            }),
            Some((Some(_),)) => Err(Error::Conflict {
                code: "strategy_disabled",
                message: format!("strategy {id} is disabled"),
            }),
            Some((None,)) => Ok(()),
        }
    }

    /// The strategy `r` names (see [`StrategyRef`]), the one resolver every caller uses.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn resolve_strategy(&self, r: &StrategyRef) -> Result<Option<Strategy>> {
        Ok(match r {
            StrategyRef::Id(id) => self.strategy(*id).await?,
            StrategyRef::Name(name) => {
                let versions = self.strategies_by_name(name).await?;
                let ready = versions
                    .iter()
                    .rposition(|s| s.status == StrategyStatus::Ready);
                let pick = ready.or_else(|| versions.len().checked_sub(1));
                pick.and_then(|i| versions.into_iter().nth(i))
            }
            StrategyRef::Version { name, version } => self
                .strategies_by_name(name)
                .await?
                .into_iter()
                .rev()
                .find(|s| &s.version == version),
        })
    }
}
