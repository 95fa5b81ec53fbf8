//! Consumer offsets and lag: where each named consumer stands in the outbox.
//!
//! # Invariants
//! - Offsets only move forward, except the explicit resets (restore recovery, `--reset-offsets`).
//! - Lag and head positions are counted below the same horizon as the fetch.
//! - A PostgreSQL offset naming a transaction id this cluster has not assigned yet (a restore into
//!   a new cluster) is replayed from the oldest retained event, never skipped ahead.

use chrono::{DateTime, Utc};

use crate::events::Cursor;
use crate::walle::{Db, Error, Result, Walle, exec, fetch};

use super::{LITE_HEAD, LITE_LAG, PG_HEAD, PG_LAG, StartFrom};

/// How much a consumer has left to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lag {
    /// Events after the consumer's offset that it could fetch now (below the horizon).
    pub events: i64,
    /// Age of the oldest of them, in seconds (0 when there are none).
    pub oldest_seconds: f64,
}

impl Walle {
    /// The stored offset of `consumer`, registering it on first use (`start` says where a new
    /// consumer begins). Registered consumers hold back retention.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn consumer_offset(&self, consumer: &str, start: StartFrom) -> Result<Cursor> {
        if consumer.is_empty() {
            return Err(Error::Invalid("consumer name is empty".into()));
        }
        if let Some(c) = self.stored_offset(consumer).await? {
            if self.is_pg() && c.xid >= self.next_xid().await? {
                // An xid this cluster has not handed out yet: the offset was written in another
                // cluster (a restore from a dump). Skipping ahead could lose events, so replay.
                tracing::warn!(
                    consumer,
                    stored_xid = c.xid,
                    "consumer offset is from another PostgreSQL cluster (restore?); replaying from the oldest retained event"
                );
                self.force_offset(consumer, Cursor::default()).await?;
                return Ok(Cursor::default());
            }
            return Ok(c);
        }
        let initial = match start {
            StartFrom::Beginning => Cursor::default(),
            StartFrom::Latest => self.outbox_head().await?,
        };
        let now = Utc::now();
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            if self.is_pg() {
                "insert into consumer_offsets (consumer, last_xid, last_id, created_at, updated_at) \
                 values ($1, $2::text::xid8, $3, $4, $4) on conflict (consumer) do nothing"
            } else {
                "insert into consumer_offsets (consumer, last_xid, last_id, created_at, updated_at) \
                 values ($1, cast($2 as integer), $3, $4, $4) on conflict (consumer) do nothing"
            },
            consumer,
            initial.xid.to_string(),
            initial.id,
            now,
        )?;
        tx.commit().await?;
        // Another process may have registered it first; its row wins.
        Ok(self.stored_offset(consumer).await?.unwrap_or(initial))
    }

    async fn stored_offset(&self, consumer: &str) -> Result<Option<Cursor>> {
        let sql = if self.is_pg() {
            "select last_xid::text::bigint, last_id from consumer_offsets where consumer = $1"
        } else {
            "select last_xid, last_id from consumer_offsets where consumer = $1"
        };
        let row: Option<(i64, i64)> = self
            .read(async |c| fetch!(fetch_optional, c, (i64, i64), sql, consumer))
            .await?;
        Ok(row.map(|(xid, id)| Cursor { xid, id }))
    }

    /// PostgreSQL: the next transaction id this cluster will assign.
    async fn next_xid(&self) -> Result<i64> {
        let (x,): (i64,) = self
            .read(async |c| {
                fetch!(
                    fetch_one,
                    c,
                    (i64,),
                    "select pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
                )
            })
            .await?;
        Ok(x)
    }

    /// Sets an offset unconditionally (restore recovery; normal commits only move forward).
    async fn force_offset(&self, consumer: &str, to: Cursor) -> Result<()> {
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            if self.is_pg() {
                "update consumer_offsets set last_xid = $2::text::xid8, last_id = $3, updated_at = $4 where consumer = $1"
            } else {
                "update consumer_offsets set last_xid = cast($2 as integer), last_id = $3, updated_at = $4 where consumer = $1"
            },
            consumer,
            to.xid.to_string(),
            to.id,
            Utc::now()
        )?;
        tx.commit().await
    }

    /// The newest event a consumer could fetch now (below the horizon): a cheap probe that the
    /// outbox answers.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn outbox_head(&self) -> Result<Cursor> {
        let row: Option<(i64, i64)> = if self.is_pg() {
            self.read(async |c| fetch!(fetch_optional, c, (i64, i64), PG_HEAD))
                .await?
        } else {
            self.read(async |c| fetch!(fetch_optional, c, (i64, i64), LITE_HEAD))
                .await?
        };
        Ok(row.map(|(xid, id)| Cursor { xid, id }).unwrap_or_default())
    }

    /// Moves `consumer`'s offset forward to `to` (never backwards).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unregistered consumer, [`Error::Database`].
    pub async fn commit_offset(&self, consumer: &str, to: Cursor) -> Result<()> {
        let now = Utc::now();
        // One autocommit statement on the relaxed pool: no fsync wait, and on SQLite no write
        // lock held across round trips.
        let n = match &self.inner.relaxed {
            Db::Pg(relaxed) => sqlx::query(
                "update consumer_offsets set last_xid = $2::text::xid8, last_id = $3, updated_at = $4 \
                 where consumer = $1 and (last_xid, last_id) <= ($2::text::xid8, $3)",
            )
            .bind(consumer)
            .bind(to.xid.to_string())
            .bind(to.id)
            .bind(now)
            .execute(relaxed)
            .await?
            .rows_affected(),
            Db::Lite(relaxed) => sqlx::query(
                "update consumer_offsets set last_xid = 0, last_id = $2, updated_at = $3 \
                 where consumer = $1 and last_id <= $2",
            )
            .bind(consumer)
            .bind(to.id)
            .bind(now)
            .execute(relaxed)
            .await?
            .rows_affected(),
        };
        if n == 0 && self.stored_offset(consumer).await?.is_none() {
            return Err(Error::NotFound {
                entity: "consumer",
                key: consumer.to_owned(),
            });
        }
        Ok(())
    }

    /// Removes a consumer's offset so it no longer holds back retention.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn drop_consumer(&self, consumer: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "delete from consumer_offsets where consumer = $1",
            consumer
        )?;
        tx.commit().await
    }

    /// Moves every registered consumer to the current head (after a restore into a new
    /// PostgreSQL cluster, see WallE's module docs on restores). Returns how many offsets moved.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn reset_offsets_to_head(&self) -> Result<u64> {
        let head = self.outbox_head().await?;
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let sql = if self.is_pg() {
            "update consumer_offsets set last_xid = $1::text::xid8, last_id = $2, updated_at = $3"
        } else {
            "update consumer_offsets set last_xid = 0, last_id = $2, updated_at = $3 where $1 = $1"
        };
        let n = exec!(tx.conn(), sql, head.xid.to_string(), head.id, now)?;
        tx.commit().await?;
        Ok(n)
    }

    /// The lag of one consumer, counted with the same horizon as its fetch.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown consumer, [`Error::Database`].
    pub async fn consumer_lag(&self, consumer: &str) -> Result<Lag> {
        let at = self.registered_offset(consumer).await?;
        let (events, oldest): (i64, Option<DateTime<Utc>>) = if self.is_pg() {
            self.read(async |c| {
                fetch!(
                    fetch_one,
                    c,
                    (i64, Option<DateTime<Utc>>),
                    PG_LAG,
                    at.xid.to_string(),
                    at.id,
                )
            })
            .await?
        } else {
            self.read(async |c| fetch!(fetch_one, c, (i64, Option<DateTime<Utc>>), LITE_LAG, at.id))
                .await?
        };
        let oldest_seconds = oldest
            .map(|t| (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        Ok(Lag {
            events,
            oldest_seconds,
        })
    }

    /// The correlations with the most events `consumer` has not passed yet, most first (at most
    /// `limit`): who is flooding it. Counted below the same horizon as its fetch; costs a scan of
    /// its backlog, so it is asked only while the consumer is behind.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown consumer, [`Error::Database`].
    pub async fn backlog_by_corr(&self, consumer: &str, limit: i64) -> Result<Vec<(String, i64)>> {
        let at = self.registered_offset(consumer).await?;
        if self.is_pg() {
            self.read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    (String, i64),
                    "select corr_id, count(*) from outbox \
                     where (transaction_id, id) > ($1::text::xid8, $2) \
                       and transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
                     group by corr_id order by count(*) desc, corr_id limit $3",
                    at.xid.to_string(),
                    at.id,
                    limit,
                )
            })
            .await
        } else {
            self.read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    (String, i64),
                    "select corr_id, count(*) from outbox where id > $1 \
                     group by corr_id order by count(*) desc, corr_id limit $2",
                    at.id,
                    limit,
                )
            })
            .await
        }
    }

    /// The stored offset of a registered consumer.
    async fn registered_offset(&self, consumer: &str) -> Result<Cursor> {
        self.stored_offset(consumer)
            .await?
            .ok_or_else(|| Error::NotFound {
                entity: "consumer",
                key: consumer.to_owned(),
            })
    }

    /// Names of all registered consumers.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn consumers(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = self
            .read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    (String,),
                    "select consumer from consumer_offsets order by consumer"
                )
            })
            .await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }
}
