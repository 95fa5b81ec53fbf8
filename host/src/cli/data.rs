//! `weaver data …`: market data utilities. `synth` writes a deterministic random walk for
//! benchmarks; other subcommands (import, download, export) join this enum.
//!
//! # Invariants
//! - Output files are written completely or the command fails with the path in the message.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::greta::synth;

/// Arguments of `weaver data`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// What to do with data.
    #[command(subcommand)]
    pub command: DataCommand,
}

/// `weaver data` subcommands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Write a deterministic geometric random walk of 1-minute bars (for benchmarks).
    Synth(SynthArgs),
    /// Download historical bars from Alpaca into the database (WEAVER_DATABASE_URL).
    Download(super::data_download::DownloadArgs),
    /// Export stored bars of one symbol and timeframe to CSV.
    Export(super::data_export::ExportArgs),
    /// Store CSV bars as candles in the database (`--symbol`, `--timeframe`).
    Import(super::data_import::ImportArgs),
}

/// Arguments of `weaver data synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Number of bars.
    #[arg(long)]
    pub bars: usize,
    /// Random seed.
    #[arg(long, default_value_t = 20_240_601)]
    pub seed: u64,
    /// Output CSV file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `weaver data …`.
///
/// # Errors
/// Bad arguments or an unwritable output file.
pub fn run(args: DataArgs) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    run_with_output(args, &mut stdout.lock())
}

/// Runs `weaver data …`, reporting to `out`.
///
/// # Errors
/// Bad arguments or an unwritable output file.
pub fn run_with_output(args: DataArgs, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    match args.command {
        DataCommand::Download(a) => super::data_download::run(a, out),
        DataCommand::Export(a) => super::data_export::run(a, out),
        DataCommand::Import(a) => super::data_import::run(a, out),
        DataCommand::Synth(a) => {
            if a.bars == 0 {
                bail!("--bars must be at least 1");
            }
            let bars = synth::generate(a.bars, a.seed);
            let file = std::fs::File::create(&a.out)
                .with_context(|| format!("cannot create {}", a.out.display()))?;
            synth::write_csv(&bars, file)
                .with_context(|| format!("cannot write {}", a.out.display()))?;
            writeln!(out, "wrote {} bars to {}", a.bars, a.out.display())?;
            Ok(())
        }
    }
}
