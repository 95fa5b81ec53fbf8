//! `weaver serve`: start everything (migrations, example strategies, the API) and run until
//! SIGINT/SIGTERM. The logic lives in [`crate::app`]; this is argument glue.
//!
//! # Invariants
//! - An unusable configuration (including a non-loopback bind without `WEAVER_API_KEY`) exits
//!   non-zero with every problem listed, before anything is opened.

use clap::Args;

use crate::app::{self, Config};

/// Arguments of `weaver serve` (everything else comes from `WEAVER_*` variables).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen address; overrides `WEAVER_BIND` (default `127.0.0.1:8080`).
    #[arg(long)]
    pub bind: Option<String>,
}

/// Runs `weaver serve`.
///
/// # Errors
/// A configuration, database or listener error, printed by `main`.
pub(super) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::from_vars(|k| {
        if k == "WEAVER_BIND"
            && let Some(b) = &args.bind
        {
            return Some(b.clone());
        }
        std::env::var(k).ok()
    })?;
    // Strategies compile in a child `weaver` (this binary): the compiler's memory and any crash
    // of it stay out of the long-running server.
    config.compiler = std::env::current_exe().ok();
    app::cap_heap_arenas();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = runtime.block_on(app::serve(config));
    // The shutdown already had its grace period: what still runs on a blocking thread (a
    // compilation waiting on its child, a backtest) is not waited for. A compilation left
    // `compiling` is redone at the next start; a backtest left `running` is marked failed
    // (`interrupted`) then.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    served?;
    Ok(())
}
