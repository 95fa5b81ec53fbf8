//! Outbox retention: how long events are kept, and the purge that deletes older ones without
//! ever passing a consumer.
//!
//! # Invariants
//! - A purge never deletes a row above any registered consumer's offset.
//! - Audit events (namespaces `orders`, `run`, `strategy`) are kept at least as long as other
//!   events: a configuration with a shorter audit age is refused.

use std::time::Duration;

use chrono::Utc;

use crate::walle::{Error, Result, Walle, exec};

/// How long events are kept. Audit events (the trading record: namespaces `orders`, `run`,
/// `strategy`) have their own, normally longer, age. Neither ever deletes an event above the
/// slowest consumer's offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Age after which other events may be deleted.
    pub events: Duration,
    /// Age after which audit events may be deleted.
    pub audit: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            events: Duration::from_secs(7 * 86_400),
            audit: Duration::from_secs(400 * 86_400),
        }
    }
}

impl Retention {
    /// Reads `WEAVER_EVENT_RETENTION_DAYS` (default 7) and `WEAVER_AUDIT_RETENTION_DAYS`
    /// (default 400). The audit age may not be shorter than the event age.
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
                    .map(|d| Duration::from_secs(d * 86_400))
                    .map_err(|_| {
                        Error::Config(format!("{name} must be a whole number of days, got {v:?}"))
                    }),
            }
        };
        let d = Retention::default();
        let r = Retention {
            events: days("WEAVER_EVENT_RETENTION_DAYS", d.events)?,
            audit: days("WEAVER_AUDIT_RETENTION_DAYS", d.audit)?,
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

const AUDIT: &str =
    "(o.event_type like 'orders.%' or o.event_type like 'run.%' or o.event_type like 'strategy.%')";

impl Walle {
    /// Deletes events older than the retention ages, in batches of `batch`, never one above the
    /// slowest registered consumer's offset. Returns how many were deleted.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn purge_events(&self, retention: Retention, batch: i64) -> Result<u64> {
        let now = Utc::now();
        let age =
            |d: Duration| now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
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
             and {behind} order by o.id limit $3)"
        );
        let mut total = 0;
        loop {
            let mut tx = self.begin().await?;
            let n = exec!(
                tx.conn(),
                sqlx::AssertSqlSafe(sql.clone()),
                events_cutoff,
                audit_cutoff,
                batch.max(1)
            )?;
            tx.commit().await?;
            total += n;
            if n < u64::try_from(batch.max(1)).unwrap_or(1) {
                return Ok(total);
            }
        }
    }

    /// Purges by `retention` every `every` until `stop` is cancelled (what `weaver serve` runs).
    /// A failed round is logged and retried at the next one.
    pub async fn run_retention(
        &self,
        retention: Retention,
        every: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            match self.purge_events(retention, 5_000).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "outbox retention purged events"),
                Err(e) => {
                    tracing::warn!(error = %e, "outbox retention failed; retrying next round")
                }
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
    }
}
