//! `weaver migrate`: apply the database migrations of the configured backend and exit.
//!
//! # Invariants
//! - Safe to run repeatedly and while Weaver runs (migrations take sqlx's lock).

use clap::Args;

use crate::events::Registry;
use crate::walle::{DbConfig, Walle};

/// Arguments of `weaver migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Also move every consumer offset to the newest event, so nothing older is delivered again
    /// (for example after restoring a PostgreSQL dump whose consumers had caught up; without it
    /// such consumers replay from the oldest retained event, see the `walle` docs).
    #[arg(long)]
    pub reset_offsets: bool,
}

/// Runs `weaver migrate`.
///
/// # Errors
/// A configuration, connection or migration error, printed by `main`.
pub(super) fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let config = DbConfig::from_env()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let walle = Walle::open(&config, Registry::builtin()).await?;
        walle.migrate().await?;
        println!("migrations applied ({})", walle.backend_name());
        if args.reset_offsets {
            let n = walle.reset_offsets_to_head().await?;
            println!("{n} consumer offsets moved to the newest event");
        }
        walle.close().await;
        anyhow::Ok(())
    })
}
