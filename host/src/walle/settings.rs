//! Settings: durable control-plane values by key (for example the global trading state), so a
//! restart comes back in the state an operator left.
//!
//! # Invariants
//! - One row per key; a write replaces the value and keeps `created_at`.
//! - A setting and the event announcing it commit together.

use chrono::{DateTime, Utc};

use crate::events::Envelope;

use super::{Result, Walle, exec, fetch};

/// A stored setting.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Setting {
    /// Key.
    pub key: String,
    /// Value (text; callers parse it).
    pub value: String,
    /// Last written (UTC).
    pub updated_at: DateTime<Utc>,
}

impl Walle {
    /// One setting.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn setting(&self, key: &str) -> Result<Option<Setting>> {
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                Setting,
                "select key, value, updated_at from settings where key = $1",
                key
            )
        })
        .await
    }

    /// Writes a setting (insert or replace) and appends `event`, when given, in the same
    /// transaction. Returns the stored row.
    ///
    /// # Errors
    /// [`super::Error::Event`] when the registry refuses `event` (nothing written),
    /// [`super::Error::Database`].
    pub async fn put_setting(
        &self,
        key: &str,
        value: &str,
        event: Option<&Envelope>,
    ) -> Result<Setting> {
        if let Some(e) = event {
            self.registry().validate(e)?;
        }
        let mut tx = self.begin().await?;
        let row = fetch!(
            fetch_one,
            tx.conn(),
            Setting,
            "insert into settings (key, value, created_at, updated_at) values ($1, $2, $3, $3) \
             on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at \
             returning key, value, updated_at",
            key,
            value,
            Utc::now(),
        )?;
        if let Some(e) = event {
            tx.append(e).await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    /// This database's installation id: a random UUID made the first time it is asked for and
    /// kept in `settings` (`installation_id`). Venue-side ids that must never repeat across
    /// databases (Alpaca `client_order_id`s) are scoped by it.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn installation_id(&self) -> Result<String> {
        const KEY: &str = "installation_id";
        if let Some(s) = self.setting(KEY).await? {
            return Ok(s.value);
        }
        let fresh = uuid::Uuid::new_v4().simple().to_string();
        // Two first callers race to insert; the row that landed wins for both.
        let mut tx = self.begin().await?;
        exec!(
            tx.conn(),
            "insert into settings (key, value, created_at, updated_at) values ($1, $2, $3, $3) \
             on conflict (key) do nothing",
            KEY,
            fresh.as_str(),
            Utc::now(),
        )?;
        tx.commit().await?;
        Ok(self.setting(KEY).await?.map_or(fresh, |s| s.value))
    }
}
