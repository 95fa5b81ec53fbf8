//! Database configuration from `WEAVER_*` variables, with defaults that work on a fresh machine.
//!
//! # Invariants
//! - The database URL is a secret (it may carry a password): it is never logged, echoed in an
//!   error or returned.
//! - Unset means the embedded SQLite file `weaver.db` in `WEAVER_DATA_DIR` (`./weaver-data`).

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::{Error, Result};

/// Which database to use and how to talk to it.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `WEAVER_DATABASE_URL`: `postgres://…` or `sqlite://path`. Unset means the SQLite file
    /// `weaver.db` in [`DbConfig::data_dir`]. Kept secret: it may hold a password.
    pub url: Option<SecretString>,
    /// `WEAVER_DATA_DIR` (default `./weaver-data`): where the embedded database lives.
    pub data_dir: PathBuf,
    /// Pool size (`WEAVER_DATABASE_MAX_CONNECTIONS`, default 10; SQLite caps it at 8).
    pub max_connections: u32,
    /// PostgreSQL `statement_timeout` of Weaver's sessions (default 30 s).
    pub statement_timeout: Duration,
    /// PostgreSQL `idle_in_transaction_session_timeout` (default 60 s): an abandoned transaction
    /// would otherwise hold the outbox horizon and stall every consumer.
    pub idle_in_transaction_timeout: Duration,
    /// SQLite busy timeout: how long a writer waits for the write lock (default 10 s).
    pub busy_timeout: Duration,
    /// SQLite: how long a reader connection beyond the first may stay idle before it is closed
    /// (default 10 s). Each reader is a thread with its own page and statement caches; a burst
    /// of reads opened up to eight, and without this they stayed open for sqlx's default ten
    /// minutes, a few MB the server no longer needed (issue #20).
    pub reader_idle_timeout: Duration,
}

/// The resolved backend.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A PostgreSQL URL.
    Postgres(String),
    /// A SQLite database file.
    Sqlite(PathBuf),
}

impl Default for DbConfig {
    fn default() -> Self {
        DbConfig {
            url: None,
            data_dir: PathBuf::from("./weaver-data"),
            max_connections: 10,
            statement_timeout: Duration::from_secs(30),
            idle_in_transaction_timeout: Duration::from_secs(60),
            busy_timeout: Duration::from_secs(10),
            reader_idle_timeout: Duration::from_secs(10),
        }
    }
}

impl DbConfig {
    /// Reads `WEAVER_DATABASE_URL`, `WEAVER_DATA_DIR` and `WEAVER_DATABASE_MAX_CONNECTIONS`.
    ///
    /// # Errors
    /// [`Error::Config`] when a value is present but unusable.
    pub fn from_env() -> Result<DbConfig> {
        let mut config = DbConfig::default();
        if let Ok(url) = std::env::var("WEAVER_DATABASE_URL")
            && !url.trim().is_empty()
        {
            config.url = Some(SecretString::from(url));
        }
        if let Ok(dir) = std::env::var("WEAVER_DATA_DIR")
            && !dir.trim().is_empty()
        {
            config.data_dir = PathBuf::from(dir);
        }
        if let Ok(n) = std::env::var("WEAVER_DATABASE_MAX_CONNECTIONS") {
            config.max_connections = n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::Config(format!(
                    "WEAVER_DATABASE_MAX_CONNECTIONS must be a positive integer, got {n:?}"
                ))
            })?;
        }
        config.backend()?;
        Ok(config)
    }

    /// A configuration for `url` with the other defaults.
    pub fn with_url(url: &str) -> DbConfig {
        DbConfig {
            url: Some(SecretString::from(url.to_owned())),
            ..DbConfig::default()
        }
    }

    /// A configuration for the SQLite file `weaver.db` in `data_dir`.
    pub fn sqlite_in(data_dir: impl Into<PathBuf>) -> DbConfig {
        DbConfig {
            data_dir: data_dir.into(),
            ..DbConfig::default()
        }
    }

    /// Resolves the URL into a backend.
    ///
    /// # Errors
    /// [`Error::Config`] for a scheme other than `postgres://`, `postgresql://` or `sqlite:`.
    pub fn backend(&self) -> Result<Backend> {
        let Some(url) = &self.url else {
            return Ok(Backend::Sqlite(self.data_dir.join("weaver.db")));
        };
        let url = url.expose_secret();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres(url.to_owned()));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            // `sqlite://path`, `sqlite:path`; query options are not supported (WallE sets them).
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(Error::Config(
                    "WEAVER_DATABASE_URL sqlite:// needs a file path (in-memory databases lose the event log)".into(),
                ));
            }
            return Ok(Backend::Sqlite(PathBuf::from(path)));
        }
        // Never echo the URL: it may carry a password.
        Err(Error::Config(
            "WEAVER_DATABASE_URL must start with postgres://, postgresql:// or sqlite://".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_backends() {
        let d = DbConfig::sqlite_in("/tmp/x");
        assert!(
            matches!(d.backend(), Ok(Backend::Sqlite(p)) if p == std::path::Path::new("/tmp/x/weaver.db"))
        );
        let s = DbConfig::with_url("sqlite://data/w.db");
        assert!(
            matches!(s.backend(), Ok(Backend::Sqlite(p)) if p == std::path::Path::new("data/w.db"))
        );
        let p = DbConfig::with_url("postgres://u:secretpw@h/db");
        assert!(matches!(p.backend(), Ok(Backend::Postgres(_))));
        let bad = DbConfig::with_url("mysql://u:secretpw@h/db");
        let msg = bad.backend().unwrap_err().to_string();
        assert!(!msg.contains("secretpw"), "{msg}");
        assert!(DbConfig::with_url("sqlite::memory:").backend().is_err());
    }
}
