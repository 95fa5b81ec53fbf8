//! Outbox retention: how long events are kept, and the purge that deletes older ones without
//! ever passing a consumer.
//!
//! # Invariants
//! - A purge never deletes a row above any registered consumer's offset.
//! - Audit events (namespaces `orders`, `run`, `strategy`) are kept at least as long as other
//!   events: a configuration with a shorter audit age is refused.
//! - The purge horizon (the highest outbox id ever deleted, setting `outbox_purged_through`)
//!   is written in the same transaction as the delete that moves it, so a reader that resumes
//!   from an older cursor can always be told its events may be gone ([`Walle::purge_horizon`]).
//! - A run's log is deleted only once the run has ended (`stopped` or `failed`) longer ago than
//!   the log retention: an active or suspended run never loses a line.

use std::time::Duration;

use chrono::Utc;

use crate::walle::{Error, Result, Walle, exec, fetch};

/// How long events are kept. Audit events (the trading record: namespaces `orders`, `run`,
/// `strategy`) have their own, normally longer, age. Neither ever deletes an event above the
/// slowest consumer's offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Age after which other events may be deleted.
    pub events: Duration,
    /// Age after which audit events may be deleted.
    pub audit: Duration,
    /// How long the log of an ended run is kept after it ended.
    pub run_logs: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            events: Duration::from_secs(7 * 86_400),
            audit: Duration::from_secs(400 * 86_400),
            run_logs: Duration::from_secs(90 * 86_400),
        }
    }
}

impl Retention {
    /// Reads `WEAVER_EVENT_RETENTION_DAYS` (default 7), `WEAVER_AUDIT_RETENTION_DAYS`
    /// (default 400) and `WEAVER_RUN_LOG_RETENTION_DAYS` (default 90). The audit age may not be
    /// shorter than the event age.
    ///
    /// # Errors
    /// [`Error::Config`] for a value that is not a whole number of days, or an audit retention
    /// shorter than the event retention.
    pub fn from_env() -> Result<Retention> {
        Retention::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Retention::from_env`] over any variable source.
    ///
    /// # Errors
    /// As [`Retention::from_env`].
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Retention> {
        let days = |name: &str, default: Duration| -> Result<Duration> {
            match var(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|d| *d <= MAX_DAYS)
                    .map(|d| Duration::from_secs(d * 86_400))
                    .ok_or_else(|| {
                        Error::Config(format!(
                            "{name} must be a whole number of days from 0 to {MAX_DAYS}, got {v:?}"
                        ))
                    }),
            }
        };
        let d = Retention::default();
        let r = Retention {
            events: days("WEAVER_EVENT_RETENTION_DAYS", d.events)?,
            audit: days("WEAVER_AUDIT_RETENTION_DAYS", d.audit)?,
            run_logs: days("WEAVER_RUN_LOG_RETENTION_DAYS", d.run_logs)?,
        };
        if r.audit < r.events {
            return Err(Error::Config(
                "WEAVER_AUDIT_RETENTION_DAYS may not be shorter than WEAVER_EVENT_RETENTION_DAYS"
                    .into(),
            ));
        }
        Ok(r)
    }
}

/// Longest retention (about 270 years): a cutoff that far back is still a date, where an
/// unbounded one overflowed the clock arithmetic of the purge.
const MAX_DAYS: u64 = 100_000;

/// The settings key of the purge horizon.
const HORIZON_KEY: &str = "outbox_purged_through";

/// What one purge deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purged {
    /// Rows deleted.
    pub count: u64,
    /// Lowest and highest outbox id deleted (`None` when nothing was).
    pub ids: Option<(i64, i64)>,
}

const AUDIT: &str =
    "(o.event_type like 'orders.%' or o.event_type like 'run.%' or o.event_type like 'strategy.%')";

impl Walle {
    /// Deletes events older than the retention ages, in batches of `batch` (one short
    /// transaction each, walking the primary key), never one above the slowest registered
    /// consumer's offset. Moves the purge horizon with each batch.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn purge_events(&self, retention: Retention, batch: i64) -> Result<Purged> {
        let now = Utc::now();
        let age = |d: Duration| {
            chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| now.checked_sub_signed(d))
                .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC)
        };
        let (events_cutoff, audit_cutoff) = (age(retention.events), age(retention.audit));
        let behind = if self.is_pg() {
            "not exists (select 1 from consumer_offsets c \
             where (o.transaction_id, o.id) > (c.last_xid, c.last_id))"
        } else {
            "not exists (select 1 from consumer_offsets c where o.id > c.last_id)"
        };
        let sql = format!(
            "delete from outbox where id in (select o.id from outbox o \
             where ((not {AUDIT} and o.created_at < $1) or ({AUDIT} and o.created_at < $2)) \
             and {behind} order by o.id limit $3) returning id"
        );
        let mut purged = Purged::default();
        loop {
            let mut tx = self.begin().await?;
            let ids: Vec<(i64,)> = fetch!(
                fetch_all,
                tx.conn(),
                (i64,),
                sqlx::AssertSqlSafe(sql.clone()),
                events_cutoff,
                audit_cutoff,
                batch.max(1)
            )?;
            let (Some(lo), Some(hi)) =
                (ids.iter().map(|r| r.0).min(), ids.iter().map(|r| r.0).max())
            else {
                return Ok(purged);
            };
            let horizon = self.horizon_in(&mut tx).await?.max(hi);
            exec!(
                tx.conn(),
                "insert into settings (key, value, created_at, updated_at) values ($1, $2, $3, $3) \
                 on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at",
                HORIZON_KEY,
                horizon.to_string(),
                Utc::now()
            )?;
            tx.commit().await?;
            purged.count += ids.len() as u64;
            purged.ids = Some(match purged.ids {
                Some((a, b)) => (a.min(lo), b.max(hi)),
                None => (lo, hi),
            });
            if (ids.len() as i64) < batch.max(1) {
                return Ok(purged);
            }
        }
    }

    async fn horizon_in(&self, tx: &mut crate::walle::Tx) -> Result<i64> {
        let row: Option<(String,)> = fetch!(
            fetch_optional,
            tx.conn(),
            (String,),
            "select value from settings where key = $1",
            HORIZON_KEY
        )?;
        Ok(row.and_then(|r| r.0.parse().ok()).unwrap_or(0))
    }

    /// The highest outbox id a purge has deleted (0: none ever). A reader resuming from a
    /// cursor below it may have missed deleted events.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn purge_horizon(&self) -> Result<i64> {
        Ok(self
            .setting(HORIZON_KEY)
            .await?
            .and_then(|s| s.value.parse().ok())
            .unwrap_or(0))
    }

    /// Deletes the log lines of runs that ended (`stopped` or `failed`) longer ago than
    /// `retention.run_logs`, in batches of `batch` rows (one short transaction each). Returns
    /// how many lines were deleted.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn purge_run_logs(&self, retention: Retention, batch: i64) -> Result<u64> {
        let cutoff = chrono::Duration::from_std(retention.run_logs)
            .ok()
            .and_then(|d| Utc::now().checked_sub_signed(d))
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
        let mut deleted = 0;
        loop {
            let mut tx = self.begin().await?;
            let n = exec!(
                tx.conn(),
                "delete from run_logs where id in (select l.id from run_logs l \
                 join runs r on r.id = l.run_id \
                 where r.status in ('stopped', 'failed') and r.stopped_at is not null \
                 and r.stopped_at < $1 order by l.id limit $2)",
                cutoff,
                batch.max(1)
            )?;
            tx.commit().await?;
            deleted += n;
            if (n as i64) < batch.max(1) {
                return Ok(deleted);
            }
        }
    }

    /// Purges by `retention` now and then every `every` until `stop` is cancelled (what
    /// `weaver serve` runs). Each purge that deleted something is logged with its id range and
    /// counted in `weaver_outbox_retention_deleted_total`; a failed round is logged and retried
    /// at the next one.
    pub async fn run_retention(
        &self,
        retention: Retention,
        every: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            match self.purge_events(retention, 5_000).await {
                Ok(Purged { count: 0, .. }) => {}
                Ok(Purged { count, ids }) => {
                    metrics::counter!("weaver_outbox_retention_deleted_total").increment(count);
                    let (first, last) = ids.unwrap_or_default();
                    tracing::info!(
                        deleted = count,
                        first_id = first,
                        last_id = last,
                        "outbox retention deleted events"
                    );
                }
                Err(e) => {
                    metrics::counter!("weaver_outbox_retention_failures_total").increment(1);
                    tracing::warn!(
                        code = e.code(),
                        "outbox retention failed; retrying next round: {e}"
                    )
                }
            }
            match self.purge_run_logs(retention, 5_000).await {
                Ok(0) => {}
                Ok(count) => {
                    metrics::counter!("weaver_run_log_retention_deleted_total").increment(count);
                    tracing::info!(
                        deleted = count,
                        "run log retention deleted lines of ended runs"
                    );
                }
                Err(e) => {
                    metrics::counter!("weaver_outbox_retention_failures_total").increment(1);
                    tracing::warn!(
                        code = e.code(),
                        "run log retention failed; retrying next round: {e}"
                    )
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_reads_days_and_refuses_a_short_audit_age() {
        let vars = |events: &'static str, audit: &'static str| {
            move |name: &str| match name {
                "WEAVER_EVENT_RETENTION_DAYS" => Some(events.to_owned()),
                "WEAVER_AUDIT_RETENTION_DAYS" => Some(audit.to_owned()),
                _ => None,
            }
        };
        let r = Retention::from_vars(vars("2", "30")).unwrap();
        assert_eq!(r.events, Duration::from_secs(2 * 86_400));
        assert_eq!(r.audit, Duration::from_secs(30 * 86_400));
        assert_eq!(
            Retention::from_vars(|_| None).unwrap(),
            Retention::default()
        );
        assert_eq!(
            Retention::from_vars(vars("30", "2")).unwrap_err().code(),
            "database_config"
        );
        assert_eq!(
            Retention::from_vars(vars("two", "30")).unwrap_err().code(),
            "database_config"
        );
        // A count of days that overflows seconds is refused, not wrapped.
        assert_eq!(
            Retention::from_vars(vars("30", "213503982334601"))
                .unwrap_err()
                .code(),
            "database_config"
        );
    }

    #[test]
    fn run_log_retention_reads_days() {
        let r = Retention::from_vars(|name| {
            (name == "WEAVER_RUN_LOG_RETENTION_DAYS").then(|| "3".to_owned())
        })
        .unwrap();
        assert_eq!(r.run_logs, Duration::from_secs(3 * 86_400));
        assert_eq!(
            Retention::default().run_logs,
            Duration::from_secs(90 * 86_400)
        );
        assert!(
            Retention::from_vars(|name| {
                (name == "WEAVER_RUN_LOG_RETENTION_DAYS").then(|| "-1".to_owned())
            })
            .is_err()
        );
    }
}
