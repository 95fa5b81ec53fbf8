//! What the notifier (`crate::notify`) did with each event per channel: delivered, or given up
//! on after its retries (the dead-letter list the API shows and retries).
//!
//! # Invariants
//! - One row per event and channel: a notification delivered or dead-lettered once is never
//!   sent again by the consumer, whatever number of times the outbox delivers its event.
//! - A dead letter only ever becomes delivered (a retry that got through), never the reverse.

use chrono::{DateTime, Utc};

use super::{Result, Walle, exec, fetch};

/// The outbox consumer name of the notifier; best-effort (its lag never throttles trading).
pub const NOTIFY_CONSUMER: &str = "notify";

/// What happened to one notification on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// The channel took it.
    Delivered,
    /// Every attempt failed; it waits in the dead-letter list.
    DeadLetter,
}

/// A notification's outcome to store.
#[derive(Debug, Clone)]
pub struct NewNotification<'a> {
    /// The event it tells of (the deduplication key, with the channel).
    pub event_id: &'a str,
    /// The event's type.
    pub event_type: &'a str,
    /// The channel (`webhook`, `telegram`, `discord`).
    pub channel: &'a str,
    /// Delivered or dead-lettered.
    pub status: NotificationStatus,
    /// Attempts made.
    pub attempts: i32,
    /// The last failure, when there was one (never a URL or secret).
    pub last_error: Option<&'a str>,
    /// The notification as JSON text.
    pub body: &'a str,
}

/// A stored notification outcome.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Notification {
    /// Row id (the dead letter's id in the API).
    pub id: i64,
    /// The event it tells of.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The channel.
    pub channel: String,
    /// `delivered` or `dead_letter`.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// The last failure.
    pub last_error: Option<String>,
    /// The notification as JSON text.
    pub body: String,
    /// First stored.
    pub created_at: DateTime<Utc>,
    /// Last changed (a retry).
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, event_id, event_type, channel, status, attempts, last_error, body, created_at, updated_at";

impl Walle {
    /// The stored outcome of event `event_id` on `channel`, if any.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn notification(
        &self,
        event_id: &str,
        channel: &str,
    ) -> Result<Option<Notification>> {
        let sql =
            format!("select {COLUMNS} from notifications where event_id = $1 and channel = $2");
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                Notification,
                sqlx::AssertSqlSafe(sql.clone()),
                event_id,
                channel
            )
        })
        .await
    }

    /// Stores an outcome; an outcome already stored for the event and channel is kept (the
    /// first one wins: a duplicate delivery changes nothing).
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn record_notification(&self, n: &NewNotification<'_>) -> Result<()> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "insert into notifications (event_id, event_type, channel, status, attempts, \
             last_error, body, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
             on conflict (event_id, channel) do nothing",
            n.event_id,
            n.event_type,
            n.channel,
            super::text_of(&n.status),
            n.attempts,
            n.last_error,
            n.body,
            now,
        )?;
        tx.commit().await
    }

    /// Dead letters with an id above `after`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn dead_letters(&self, after: i64, limit: i64) -> Result<Vec<Notification>> {
        let sql = format!(
            "select {COLUMNS} from notifications where status = 'dead_letter' and id > $1 \
             order by id limit $2"
        );
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                Notification,
                sqlx::AssertSqlSafe(sql.clone()),
                after,
                limit
            )
        })
        .await
    }

    /// Dead letter `id` (`None`: no such row, or it is no longer a dead letter).
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn dead_letter(&self, id: i64) -> Result<Option<Notification>> {
        let sql =
            format!("select {COLUMNS} from notifications where status = 'dead_letter' and id = $1");
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                Notification,
                sqlx::AssertSqlSafe(sql.clone()),
                id
            )
        })
        .await
    }

    /// Records one more attempt at dead letter `id`: delivered (it leaves the list) or failed
    /// again with `error`. Returns false when it was no longer a dead letter.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn retried_dead_letter(&self, id: i64, error: Option<&str>) -> Result<bool> {
        let status = if error.is_none() {
            NotificationStatus::Delivered
        } else {
            NotificationStatus::DeadLetter
        };
        let mut tx = self.begin().await?;
        let changed = exec!(
            tx.conn(),
            "update notifications set status = $2, attempts = attempts + 1, \
             last_error = coalesce($3, last_error), updated_at = $4 \
             where id = $1 and status = 'dead_letter'",
            id,
            super::text_of(&status),
            error,
            Utc::now(),
        )?;
        tx.commit().await?;
        Ok(changed == 1)
    }
}
