//! CLI: the `weaver` command line — argument parsing and one function per subcommand.
//!
//! # Invariants
//! - Bad input ends with a clear message and a non-zero exit code, never a panic.
//! - Progress bars are drawn only when stderr is a terminal.

pub mod strategy;

use clap::{Parser, Subcommand, ValueEnum};

pub mod backtest;
pub mod data;
mod data_download;
mod data_export;
mod data_import;
#[cfg(feature = "fake-alpaca")]
mod fake_alpaca;
pub mod log_sink;
mod migrate;
mod openapi;
mod runs;
mod serve;
mod worker;

/// Weaver: automated trading with sandboxed WebAssembly strategies.
#[derive(Debug, Parser)]
#[command(name = "weaver", version, about)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "WEAVER_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log format.
    #[arg(long, env = "WEAVER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a local fake of Alpaca (REST + websockets) for offline development and tests.
    #[cfg(feature = "fake-alpaca")]
    FakeAlpaca(fake_alpaca::FakeAlpacaArgs),
    /// Backtest a strategy over CSV bars (and sweep its parameters).
    Backtest(Box<backtest::BacktestArgs>),
    /// Market data utilities.
    Data(data::DataArgs),
    /// Work with strategy components (`weaver strategy check <file.wasm>`).
    Strategy(strategy::StrategyArgs),
    /// Print the API's OpenAPI document (as served at /openapi.json) to stdout.
    Openapi(openapi::OpenapiArgs),
    /// Work with stored runs (`weaver runs replay <id>`).
    Runs(runs::RunsArgs),
    /// Apply database migrations (WEAVER_DATABASE_URL) and exit.
    Migrate(migrate::MigrateArgs),
    /// Start Weaver: migrations, example strategies and the API on WEAVER_BIND.
    Serve(serve::ServeArgs),
    /// Run sweeps for a server started with WEAVER_WORKERS=external, from the same PostgreSQL
    /// database (WEAVER_DATABASE_URL), until SIGINT/SIGTERM.
    Worker(worker::WorkerArgs),
}

/// Installs the global tracing subscriber; logs go to stderr so stdout stays machine-readable.
/// A line stderr cannot take is dropped and counted, never fatal (`cli/log_sink.rs`).
pub fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(log_sink::Stderr)
        .log_internal_errors(false);
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Runs one parsed command line.
///
/// # Errors
/// Whatever the subcommand reports; `main` prints it and exits non-zero.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    // rayon's threads only ever do batch work (CSV parsing, sweeps, walk-forward windows), where
    // a thread cache pays for itself; the process otherwise runs without (`marvin::arena`).
    // Built before any command can use rayon; an error means a pool exists already.
    let _ = rayon::ThreadPoolBuilder::new()
        .start_handler(|_| crate::marvin::arena::keep_thread_cache())
        .build_global();
    // So is a one-off command's main thread (an import, an export, a backtest); the two
    // long-running ones are the servers the setting is for.
    if !matches!(cli.command, Command::Serve(_) | Command::Worker(_)) {
        crate::marvin::arena::keep_thread_cache();
    }
    match cli.command {
        #[cfg(feature = "fake-alpaca")]
        Command::FakeAlpaca(args) => fake_alpaca::run(args),
        Command::Backtest(args) => backtest::run(*args),
        Command::Data(args) => data::run(args),
        Command::Strategy(args) => strategy::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Runs(args) => runs::run(args),
        Command::Openapi(args) => openapi::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Worker(args) => worker::run(args),
    }
}
