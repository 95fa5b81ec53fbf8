//! `weaver worker`: run sweeps for a server started with `WEAVER_WORKERS=external`, from the
//! same PostgreSQL database, until SIGINT/SIGTERM. The logic lives in [`crate::app::worker`];
//! this is argument glue.
//!
//! # Invariants
//! - An unusable configuration (no PostgreSQL URL, a bad number) exits non-zero with the
//!   problem named, before any work is claimed.

use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::app::worker::{self, DEFAULT_LEASE_SECS, WorkerConfig};
use crate::walle::DbConfig;

/// Arguments of `weaver worker` (the database comes from `WEAVER_DATABASE_URL`).
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Points run at once, one core each (default: the machine's cores).
    #[arg(long, env = "WEAVER_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Seconds a leased chunk stays this worker's without a renewal; a killed worker's chunks
    /// are taken over after it.
    #[arg(long, env = "WEAVER_WORKER_LEASE_SECS", default_value_t = DEFAULT_LEASE_SECS,
          value_parser = clap::value_parser!(u32).range(3..=3600))]
    pub lease_secs: u32,
    /// Name stored with the chunks this worker leases (default: host, pid, random suffix).
    #[arg(long, env = "WEAVER_WORKER_NAME")]
    pub name: Option<String>,
    /// Disk the cache of loaded bars may take under the data directory, MB (0: off); the next
    /// sweep over the same series and window reads it instead of the database.
    #[arg(long, env = "WEAVER_BAR_CACHE_MB", default_value_t = crate::greta::bar_cache::DEFAULT_MB,
          value_parser = clap::value_parser!(u64).range(0..=1 << 20))]
    pub bar_cache_mb: u64,
}

/// Runs `weaver worker`.
///
/// # Errors
/// A configuration or database error, printed by `main`.
pub(super) fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let db = DbConfig::from_env()?;
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        usize::from,
    );
    let config = WorkerConfig {
        db,
        threads,
        lease_secs: args.lease_secs,
        name: args
            .name
            .filter(|n| !n.trim().is_empty())
            .map_or_else(WorkerConfig::default_name, |n| {
                n.chars().take(128).collect()
            }),
        memory_mb: crate::greta::budget::default_budget_mb(),
        bar_cache_mb: args.bar_cache_mb,
    };
    crate::app::cap_heap_arenas();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let stop = CancellationToken::new();
    let signalled = stop.clone();
    runtime.spawn(async move {
        crate::app::shutdown_signal().await;
        tracing::info!("shutdown requested; giving back the chunks in progress");
        signalled.cancel();
    });
    let ran = runtime.block_on(worker::run(config, stop));
    // A point running on a blocking thread stops at its next strategy call; it is not stored.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    ran?;
    Ok(())
}
