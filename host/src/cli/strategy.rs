//! `weaver strategy …`: work with strategy components from the command line.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::domain::{StrategyConfig, Timeframe};
use crate::marvin::{Marvin, MarvinConfig};

/// `weaver strategy` arguments.
#[derive(Debug, Args)]
pub struct StrategyArgs {
    /// What to do with a strategy.
    #[command(subcommand)]
    pub command: StrategyCommand,
}

/// `weaver strategy` subcommands.
#[derive(Debug, Subcommand)]
pub enum StrategyCommand {
    /// Validate and compile a component; print its sha256, world version, imports and exports.
    Check {
        /// The component (`.wasm`).
        file: PathBuf,
        /// Also instantiate it and run `init` with these parameters (`key=value`, repeatable).
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Symbols given to `init` when instantiating.
        #[arg(long, value_delimiter = ',', default_value = "SYMBOL")]
        symbols: Vec<String>,
        /// Timeframe given to `init` when instantiating.
        #[arg(long, default_value = "1Day")]
        timeframe: Timeframe,
    },
}

/// Runs `weaver strategy …`.
///
/// # Errors
/// The Marvin error (with its code) when the component is refused.
pub fn run(args: StrategyArgs) -> anyhow::Result<()> {
    match args.command {
        StrategyCommand::Check {
            file,
            params,
            symbols,
            timeframe,
        } => {
            let marvin =
                Marvin::new(MarvinConfig::default()).context("starting the strategy host")?;
            let loaded = marvin
                .load_file(&file)
                .map_err(|e| anyhow::anyhow!("{} refused ({}): {e}", file.display(), e.code()))?;
            let info = loaded.info();
            println!("file:          {}", file.display());
            println!("sha256:        {}", loaded.sha256());
            println!("world:         weaver:strategy@{}", info.world_version);
            println!(
                "imports:       {}",
                if info.imports.is_empty() {
                    "(none)".to_owned()
                } else {
                    info.imports.join(", ")
                }
            );
            println!("exports:       {}", info.exports.join(", "));
            println!(
                "compiled:      {} in {:.1} ms",
                if loaded.from_cache() {
                    "from cache"
                } else {
                    "fresh"
                },
                loaded.load_time().as_secs_f64() * 1e3
            );
            let params = params
                .iter()
                .map(|p| {
                    p.split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .ok_or_else(|| anyhow::anyhow!("--param {p:?}: expected KEY=VALUE"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let config = StrategyConfig {
                params,
                symbols,
                timeframe,
            };
            let sandbox = loaded
                .instantiate(&config)
                .map_err(|e| anyhow::anyhow!("init refused ({}): {e}", e.code()))?;
            let stats = sandbox.stats();
            println!(
                "init:          ok (instantiate {:.0} µs, init fuel {}, memory {} KiB)",
                stats.instantiate_time.as_secs_f64() * 1e6,
                stats.fuel_total,
                stats.peak_memory_bytes / 1024
            );
            Ok(())
        }
    }
}
