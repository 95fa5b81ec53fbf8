//! The process configuration from `WEAVER_*` variables, with defaults that work on a fresh
//! machine: what `weaver serve` listens on, its store, its venues and how runs are paced. Each
//! module gets its part ([`Config::http`], [`Config::runs`]).
//!
//! # Invariants
//! - Every problem is collected and reported at once, so an operator fixes the environment in
//!   one pass.
//! - Binding to a non-loopback address without `WEAVER_API_KEY` is a configuration error.
//! - A retention setting that is not a whole number of days (or an audit retention shorter
//!   than the event retention) stops `weaver serve` at start: the outbox must neither grow
//!   forever unnoticed nor lose the trading record early.
//! - The API key, the database URL and the notification channels' URLs and tokens are secrets: never logged, echoed in an error or returned.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::glados::config::{
    AllowedIps, DEFAULT_BIND, DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS, HttpConfig, MAX_HEADER_TIMEOUT, strip_brackets,
};
use crate::notify::NotifyConfig;
use crate::runs::{DEFAULT_HEARTBEAT_MS as DEFAULT_RUN_HEARTBEAT_MS, RunsConfig};
use crate::veda::alpaca::AlpacaConfig;
use crate::walle::feed::{DEFAULT_REPLAY_EVENTS, MAX_REPLAY_EVENTS};
use crate::walle::{DbConfig, HealthOptions, Retention};

/// Default period of the outbox retention purge.
pub const DEFAULT_RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// Default of `WEAVER_BACKTEST_CONCURRENCY`: the cores less one (live runs and the API keep
/// one), at least 1.
pub fn default_backtest_concurrency() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .max(1)
}

/// Default of `WEAVER_SHUTDOWN_GRACE`.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How the process runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// `WEAVER_BIND` (default `127.0.0.1:8080`).
    pub bind: SocketAddr,
    /// `WEAVER_API_KEY`: when set, every route except `/healthz` needs `X-API-Key`.
    pub api_key: Option<SecretString>,
    /// Host header values accepted (without port, lowercase). `WEAVER_ALLOWED_HOSTS`
    /// (comma-separated) adds to `localhost`, `127.0.0.1`, `::1` and the bind address.
    pub allowed_hosts: Vec<String>,
    /// Database (`WEAVER_DATABASE_URL`, `WEAVER_DATA_DIR`).
    pub db: DbConfig,
    /// `WEAVER_STRATEGIES_DIR` (default `strategies/dist`): components registered at start.
    pub strategies_dir: PathBuf,
    /// `WEAVER_MAX_BODY_BYTES` (default 50 MiB).
    pub max_body_bytes: usize,
    /// `WEAVER_ALLOWED_IPS` (comma-separated CIDR networks or addresses): when set, only these
    /// clients (and loopback) are served; others get 403 `ip_not_allowed`.
    pub allowed_ips: Option<AllowedIps>,
    /// `WEAVER_HEADER_TIMEOUT_MS` (default 10000, 100 to 30000): a connection whose request
    /// headers are not complete within this is closed.
    pub header_timeout: Duration,
    /// `WEAVER_MAX_CONNECTIONS` (default 1024): connections served at once.
    pub max_connections: usize,
    /// `WEAVER_SSE_REPLAY_EVENTS` (default 1000, 0 to 100000): the newest events an event
    /// stream without a cursor starts with, and the most one connection replays.
    pub sse_replay_events: usize,
    /// `WEAVER_SAMPLE_DATA` (`on` by default, `off`): load the bundled sample data on the first
    /// start of an empty database.
    pub sample_data: bool,
    /// Pace of paper runs on the simulated exchange: milliseconds between replayed bars
    /// (`WEAVER_RUN_BAR_INTERVAL_MS`); 0 replays as fast as the strategy goes.
    pub run_bar_interval_ms: u64,
    /// Milliseconds between a running run's heartbeats (`run.Heartbeat` event, account snapshot
    /// and log flush), `WEAVER_RUN_HEARTBEAT_MS` (default 5000).
    pub run_heartbeat_ms: u64,
    /// Alpaca, when `APCA_API_KEY_ID` or `APCA_API_SECRET_KEY` is set (see
    /// [`AlpacaConfig::from_lookup`]: keys, URLs, the live opt-in `WEAVER_ALPACA_LIVE`). `None`:
    /// runs on venue `alpaca` are refused with `venue_unavailable`.
    pub alpaca: Option<AlpacaConfig>,
    /// How long the outbox keeps events (`WEAVER_EVENT_RETENTION_DAYS`, default 7) and audit
    /// events (`WEAVER_AUDIT_RETENTION_DAYS`, default 400).
    pub retention: Retention,
    /// How often the retention purge runs, `WEAVER_RETENTION_INTERVAL_SECONDS` (default 3600).
    pub retention_interval: Duration,
    /// Backpressure thresholds: a critical outbox consumer this many seconds behind throttles
    /// simulated runs (`WEAVER_CONSUMER_THROTTLE_SECONDS`, default 30); any consumer this many
    /// seconds behind is reported stuck (`WEAVER_CONSUMER_STUCK_SECONDS`, default 120).
    pub consumer_health: HealthOptions,
    /// The `weaver` binary strategies are compiled with, in a child process
    /// ([`crate::marvin::MarvinConfig::compiler`]); `weaver serve` sets it to itself. `None`
    /// compiles in this process (tests, embedding).
    pub compiler: Option<PathBuf>,
    /// The operator's risk defaults for runs on Alpaca, a JSON patch over the built-in ones
    /// (`WEAVER_RISK_DEFAULTS`; see `runs::risk`), checked here.
    pub risk_defaults: Option<String>,
    /// How long a run waits for the store (a database outage, a full disk) to journal an order
    /// before it fails: `WEAVER_STORE_OUTAGE_LIMIT` in seconds (default 900).
    pub store_outage_limit: Duration,
    /// Backtests running at once, `WEAVER_BACKTEST_CONCURRENCY` (default: the cores less one,
    /// at least 1); the others wait `queued`.
    pub backtest_concurrency: usize,
    /// Memory the running backtests share, `WEAVER_BACKTEST_MEMORY_MB` (64 to 1048576; default
    /// half the machine's memory, [`crate::greta::budget::default_budget_mb`]); a backtest
    /// waits `queued` until its estimate fits.
    pub backtest_memory_mb: u64,
    /// Disk the bar cache may take under the data directory, MB, `WEAVER_BAR_CACHE_MB` (0 turns
    /// it off; default [`crate::greta::bar_cache::DEFAULT_MB`]).
    pub bar_cache_mb: u64,
    /// Most points one sweep may have, `WEAVER_SWEEP_MAX_POINTS` (1 to 100000000; default
    /// 100000); a larger space is refused with `sweep_too_large`.
    pub sweep_max_points: u64,
    /// Who runs sweeps, `WEAVER_WORKERS`: `embedded` (default: this process) or `external`
    /// (`weaver worker` processes on the same PostgreSQL database lease their points; ADR 0023).
    pub external_workers: bool,
    /// How long a shutdown (SIGTERM, Ctrl-C) may take, whatever the clients:
    /// `WEAVER_SHUTDOWN_GRACE` in seconds (default 10).
    pub shutdown_grace: Duration,
    /// Notifications: channels (secrets), rules and retries (the `WEAVER_NOTIFY_WEBHOOK_URL` family of variables, see
    /// [`crate::notify::NotifyConfig::from_vars`]).
    pub notify: NotifyConfig,
}

/// The configuration is unusable; holds every problem found.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

impl ConfigError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        "invalid_config"
    }
}

impl Config {
    /// The HTTP server's part.
    pub fn http(&self) -> HttpConfig {
        HttpConfig {
            bind: self.bind,
            api_key: self.api_key.clone(),
            allowed_hosts: self.allowed_hosts.clone(),
            max_body_bytes: self.max_body_bytes,
            allowed_ips: self.allowed_ips.clone(),
            header_timeout: self.header_timeout,
            max_connections: self.max_connections,
        }
    }

    /// How runs are paced and observed.
    pub fn runs(&self) -> RunsConfig {
        RunsConfig {
            bar_interval_ms: self.run_bar_interval_ms,
            heartbeat_ms: self.run_heartbeat_ms,
            store_patience: self.store_outage_limit,
        }
    }

    /// Reads the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] listing every unusable value.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Reads variables through `var` (tests pass a map).
    ///
    /// # Errors
    /// [`ConfigError`] listing every unusable value.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let mut problems = Vec::new();
        let bind_text = var("WEAVER_BIND").unwrap_or_else(|| DEFAULT_BIND.to_owned());
        let bind = match bind_text.trim().parse::<SocketAddr>() {
            Ok(b) => Some(b),
            Err(_) => {
                problems.push(format!(
                    "WEAVER_BIND must be an address like 127.0.0.1:8080, got {bind_text:?}"
                ));
                None
            }
        };
        let api_key = var("WEAVER_API_KEY").map(SecretString::from);
        if let Some(k) = &api_key
            && k.expose_secret().len() < 16
        {
            problems.push("WEAVER_API_KEY must be at least 16 characters".to_owned());
        }
        if let Some(b) = bind
            && !b.ip().is_loopback()
            && api_key.is_none()
        {
            problems.push(format!(
                "WEAVER_BIND {b} is not a loopback address: set WEAVER_API_KEY (refusing to serve an unauthenticated API on the network)"
            ));
        }
        let mut allowed_hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        if let Some(b) = bind
            && !b.ip().is_unspecified()
        {
            allowed_hosts.push(b.ip().to_string());
        }
        if let Some(list) = var("WEAVER_ALLOWED_HOSTS") {
            for h in list.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                if h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
                {
                    allowed_hosts.push(strip_brackets(&h.to_ascii_lowercase()).to_owned());
                } else {
                    problems.push(format!(
                        "WEAVER_ALLOWED_HOSTS entry {h:?} is not a host name"
                    ));
                }
            }
        }
        let mut db = DbConfig::default();
        if let Some(url) = var("WEAVER_DATABASE_URL") {
            db.url = Some(SecretString::from(url));
        }
        if let Some(dir) = var("WEAVER_DATA_DIR") {
            db.data_dir = PathBuf::from(dir);
        }
        if let Some(n) = var("WEAVER_DATABASE_MAX_CONNECTIONS") {
            match n.trim().parse::<u32>() {
                Ok(n) if n > 0 => db.max_connections = n,
                _ => problems.push(format!(
                    "WEAVER_DATABASE_MAX_CONNECTIONS must be a positive integer, got {n:?}"
                )),
            }
        }
        if let Err(e) = db.backend() {
            // walle's message never contains the URL.
            problems.push(e.to_string());
        }
        let strategies_dir =
            PathBuf::from(var("WEAVER_STRATEGIES_DIR").unwrap_or_else(|| "strategies/dist".into()));
        let mut max_body_bytes = DEFAULT_MAX_BODY_BYTES;
        if let Some(n) = var("WEAVER_MAX_BODY_BYTES") {
            match n.trim().parse::<usize>() {
                Ok(n) if n >= 1024 => max_body_bytes = n,
                _ => problems.push(format!(
                    "WEAVER_MAX_BODY_BYTES must be an integer of at least 1024, got {n:?}"
                )),
            }
        }
        let allowed_ips = var("WEAVER_ALLOWED_IPS").and_then(|list| {
            list.parse::<AllowedIps>()
                .map_err(|e| problems.push(e.to_string()))
                .ok()
        });
        let mut header_timeout = DEFAULT_HEADER_TIMEOUT;
        if let Some(n) = var("WEAVER_HEADER_TIMEOUT_MS") {
            let most = MAX_HEADER_TIMEOUT.as_millis();
            match n.trim().parse::<u64>() {
                Ok(ms) if (100..=most).contains(&u128::from(ms)) => {
                    header_timeout = Duration::from_millis(ms);
                }
                _ => problems.push(format!(
                    "WEAVER_HEADER_TIMEOUT_MS must be an integer from 100 to {most}, got {n:?}"
                )),
            }
        }
        let mut max_connections = DEFAULT_MAX_CONNECTIONS;
        if let Some(n) = var("WEAVER_MAX_CONNECTIONS") {
            match n.trim().parse::<usize>() {
                Ok(n) if (1..=1_000_000).contains(&n) => max_connections = n,
                _ => problems.push(format!(
                    "WEAVER_MAX_CONNECTIONS must be an integer from 1 to 1000000, got {n:?}"
                )),
            }
        }
        let mut sse_replay_events = DEFAULT_REPLAY_EVENTS;
        if let Some(n) = var("WEAVER_SSE_REPLAY_EVENTS") {
            match n.trim().parse::<usize>() {
                Ok(n) if n <= MAX_REPLAY_EVENTS => sse_replay_events = n,
                _ => problems.push(format!(
                    "WEAVER_SSE_REPLAY_EVENTS must be an integer from 0 to {MAX_REPLAY_EVENTS}, got {n:?}"
                )),
            }
        }
        let sample_data = match var("WEAVER_SAMPLE_DATA")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("on" | "true" | "1") => true,
            Some("off" | "false" | "0") => false,
            Some(other) => {
                problems.push(format!(
                    "WEAVER_SAMPLE_DATA must be on or off, got {other:?}"
                ));
                true
            }
        };
        let mut run_bar_interval_ms = 0;
        if let Some(n) = var("WEAVER_RUN_BAR_INTERVAL_MS") {
            match n.trim().parse::<u64>() {
                Ok(n) if n <= 3_600_000 => run_bar_interval_ms = n,
                _ => problems.push(format!(
                    "WEAVER_RUN_BAR_INTERVAL_MS must be an integer from 0 to 3600000, got {n:?}"
                )),
            }
        }
        let mut run_heartbeat_ms = DEFAULT_RUN_HEARTBEAT_MS;
        if let Some(n) = var("WEAVER_RUN_HEARTBEAT_MS") {
            match n.trim().parse::<u64>() {
                Ok(n) if (100..=3_600_000).contains(&n) => run_heartbeat_ms = n,
                _ => problems.push(format!(
                    "WEAVER_RUN_HEARTBEAT_MS must be an integer from 100 to 3600000, got {n:?}"
                )),
            }
        }
        let retention = match Retention::from_vars(var) {
            Ok(r) => r,
            Err(e) => {
                problems.push(e.to_string());
                Retention::default()
            }
        };
        let mut retention_interval = DEFAULT_RETENTION_INTERVAL;
        if let Some(n) = var("WEAVER_RETENTION_INTERVAL_SECONDS") {
            match n.trim().parse::<u64>() {
                Ok(n) if (1..=86_400).contains(&n) => retention_interval = Duration::from_secs(n),
                _ => problems.push(format!(
                    "WEAVER_RETENTION_INTERVAL_SECONDS must be an integer from 1 to 86400, got {n:?}"
                )),
            }
        }
        let mut consumer_health = HealthOptions::default();
        for (name, slot) in [
            (
                "WEAVER_CONSUMER_THROTTLE_SECONDS",
                &mut consumer_health.throttle_after,
            ),
            (
                "WEAVER_CONSUMER_STUCK_SECONDS",
                &mut consumer_health.stuck_after,
            ),
        ] {
            if let Some(n) = var(name) {
                match n.trim().parse::<u64>() {
                    Ok(n) if (1..=86_400).contains(&n) => *slot = Duration::from_secs(n),
                    _ => problems.push(format!(
                        "{name} must be an integer from 1 to 86400, got {n:?}"
                    )),
                }
            }
        }
        let mut store_outage_limit = crate::veda::live::DEFAULT_STORE_PATIENCE;
        if let Some(n) = var("WEAVER_STORE_OUTAGE_LIMIT") {
            match n.trim().parse::<u64>() {
                Ok(n) if (1..=86_400).contains(&n) => store_outage_limit = Duration::from_secs(n),
                _ => problems.push(format!(
                    "WEAVER_STORE_OUTAGE_LIMIT must be a number of seconds from 1 to 86400, got {n:?}"
                )),
            }
        }
        let mut backtest_concurrency = default_backtest_concurrency();
        if let Some(n) = var("WEAVER_BACKTEST_CONCURRENCY") {
            match n.trim().parse::<usize>() {
                Ok(n) if (1..=64).contains(&n) => backtest_concurrency = n,
                _ => problems.push(format!(
                    "WEAVER_BACKTEST_CONCURRENCY must be an integer from 1 to 64, got {n:?}"
                )),
            }
        }
        let mut sweep_max_points = crate::greta::sweep_jobs::DEFAULT_MAX_POINTS;
        if let Some(n) = var("WEAVER_SWEEP_MAX_POINTS") {
            match n.trim().parse::<u64>() {
                Ok(n) if (1..=100_000_000).contains(&n) => sweep_max_points = n,
                _ => problems.push(format!(
                    "WEAVER_SWEEP_MAX_POINTS must be an integer from 1 to 100000000, got {n:?}"
                )),
            }
        }
        let external_workers = match var("WEAVER_WORKERS").as_deref().map(str::trim) {
            None | Some("" | "embedded") => false,
            Some("external") if matches!(db.backend(), Ok(crate::walle::Backend::Postgres(_))) => {
                true
            }
            Some("external") => {
                problems.push(
                    "WEAVER_WORKERS=external needs PostgreSQL (WEAVER_DATABASE_URL=postgres://…): \
                     workers share the server's database"
                        .into(),
                );
                false
            }
            Some(other) => {
                problems.push(format!(
                    "WEAVER_WORKERS must be embedded or external, got {:?}",
                    other.chars().take(32).collect::<String>()
                ));
                false
            }
        };
        let mut backtest_memory_mb = crate::greta::budget::default_budget_mb();
        if let Some(n) = var("WEAVER_BACKTEST_MEMORY_MB") {
            let range = crate::greta::budget::BUDGET_RANGE_MB;
            match n.trim().parse::<u64>() {
                Ok(n) if range.contains(&n) => backtest_memory_mb = n,
                _ => problems.push(format!(
                    "WEAVER_BACKTEST_MEMORY_MB must be an integer from {} to {}, got {n:?}",
                    range.start(),
                    range.end()
                )),
            }
        }
        let mut bar_cache_mb = crate::greta::bar_cache::DEFAULT_MB;
        if let Some(n) = var("WEAVER_BAR_CACHE_MB") {
            match crate::greta::bar_cache::parse_mb(&n) {
                Ok(n) => bar_cache_mb = n,
                Err(e) => problems.push(e),
            }
        }
        let mut shutdown_grace = DEFAULT_SHUTDOWN_GRACE;
        if let Some(n) = var("WEAVER_SHUTDOWN_GRACE") {
            match n.trim().parse::<u64>() {
                Ok(n) if (1..=300).contains(&n) => shutdown_grace = Duration::from_secs(n),
                _ => problems.push(format!(
                    "WEAVER_SHUTDOWN_GRACE must be a number of seconds from 1 to 300, got {n:?}"
                )),
            }
        }
        let risk_defaults = var("WEAVER_RISK_DEFAULTS").filter(|v| !v.trim().is_empty());
        if let Some(text) = &risk_defaults
            && let Err(e) = crate::veda::risk::defaults_from_env(Some(text), &[])
        {
            problems.push(format!(
                "WEAVER_RISK_DEFAULTS: {}: {} (a JSON object of risk limits, e.g. {{\"daily_loss_pct\": 3}})",
                e.field, e.message
            ));
        }
        let notify = NotifyConfig::from_vars(var, &mut problems);
        // Alpaca is optional; once a key is given, a half or unsafe configuration (one key, a bad
        // URL, live trading without the opt-in) stops the server instead of trading elsewhere.
        let alpaca = if var("APCA_API_KEY_ID").is_some() || var("APCA_API_SECRET_KEY").is_some() {
            match AlpacaConfig::from_lookup(var) {
                Ok(c) => Some(c),
                Err(e) => {
                    problems.push(format!("Alpaca: {e}"));
                    None
                }
            }
        } else {
            None
        };
        match bind {
            Some(bind) if problems.is_empty() => Ok(Config {
                bind,
                api_key,
                allowed_hosts,
                db,
                strategies_dir,
                max_body_bytes,
                allowed_ips,
                header_timeout,
                max_connections,
                sse_replay_events,
                sample_data,
                run_bar_interval_ms,
                run_heartbeat_ms,
                retention,
                retention_interval,
                consumer_health,
                shutdown_grace,
                backtest_concurrency,
                backtest_memory_mb,
                bar_cache_mb,
                sweep_max_points,
                external_workers,
                store_outage_limit,
                alpaca,
                compiler: None,
                risk_defaults,
                notify,
            }),
            _ => Err(ConfigError(problems)),
        }
    }

    /// A loopback configuration on an embedded SQLite in `data_dir` (tests, examples).
    pub fn for_tests(data_dir: impl Into<PathBuf>) -> Config {
        let data_dir = data_dir.into();
        Config {
            bind: DEFAULT_BIND
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080))),
            api_key: None,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            strategies_dir: data_dir.join("strategies"),
            db: DbConfig::sqlite_in(data_dir),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            allowed_ips: None,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            sse_replay_events: DEFAULT_REPLAY_EVENTS,
            sample_data: false,
            run_bar_interval_ms: 0,
            run_heartbeat_ms: DEFAULT_RUN_HEARTBEAT_MS,
            retention: Retention::default(),
            retention_interval: DEFAULT_RETENTION_INTERVAL,
            consumer_health: HealthOptions::default(),
            alpaca: None,
            compiler: None,
            risk_defaults: None,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            backtest_concurrency: default_backtest_concurrency(),
            backtest_memory_mb: crate::greta::budget::default_budget_mb(),
            bar_cache_mb: crate::greta::bar_cache::DEFAULT_MB,
            sweep_max_points: crate::greta::sweep_jobs::DEFAULT_MAX_POINTS,
            external_workers: false,
            store_outage_limit: crate::veda::live::DEFAULT_STORE_PATIENCE,
            notify: NotifyConfig::default(),
        }
    }
}
