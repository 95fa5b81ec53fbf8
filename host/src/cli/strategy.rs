//! `weaver strategy …`: work with strategy components from the command line.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::domain::{StrategyConfig, Timeframe};

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
        /// Compile cache directory (default `$WEAVER_DATA_DIR/cache/compiled`).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
    /// Internal: compile the component on stdin and write the artifact to stdout (what
    /// `weaver serve` runs in a child process; see `MarvinConfig::compiler`).
    #[command(hide = true)]
    Precompile,
}

/// Runs `weaver strategy …`; `check` compiles in a child of this executable under the compile
/// limits (`MarvinConfig::from_lookup`), as `weaver serve` compiles uploads.
///
/// # Errors
/// The Marvin error (with its code) when the component is refused.
pub fn run(args: StrategyArgs) -> anyhow::Result<()> {
    let compiler = std::env::current_exe().ok();
    run_compiling_with(args, &mut std::io::stdout().lock(), compiler.as_deref())
}

/// [`run`], writing the report to `out` and compiling in this process (tests use a buffer).
///
/// # Errors
/// As [`run`], or a write error.
pub fn run_to(args: StrategyArgs, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    run_compiling_with(args, out, None)
}

/// [`run`], writing the report to `out`; a component not in the cache compiles in a child
/// `compiler` (the `weaver` binary) when given, else in this process.
///
/// # Errors
/// As [`run`], or a write error.
pub fn run_compiling_with(
    args: StrategyArgs,
    out: &mut dyn std::io::Write,
    compiler: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    match args.command {
        StrategyCommand::Precompile => precompile(),
        StrategyCommand::Check {
            file,
            params,
            symbols,
            timeframe,
            cache_dir,
        } => {
            let marvin = super::backtest::command_marvin(cache_dir, compiler)
                .context("starting the strategy host")?;
            let loaded = marvin
                .load_file(&file)
                .map_err(|e| anyhow::anyhow!("{} refused ({}): {e}", file.display(), e.code()))?;
            let info = loaded.info();
            writeln!(out, "file:          {}", file.display())?;
            writeln!(out, "sha256:        {}", loaded.sha256())?;
            writeln!(out, "world:         weaver:strategy@{}", info.world_version)?;
            writeln!(
                out,
                "imports:       {}",
                if info.imports.is_empty() {
                    "(none)".to_owned()
                } else {
                    info.imports.join(", ")
                }
            )?;
            writeln!(out, "exports:       {}", info.exports.join(", "))?;
            let limits = loaded.limits();
            writeln!(
                out,
                "runtime:       {} ({} tier: {} MiB memory, {} fuel per call + {} per bar)",
                info.language.as_str(),
                if info.language.is_heavy() {
                    "heavy"
                } else {
                    "light"
                },
                limits.max_memory_bytes >> 20,
                limits.fuel_per_event,
                limits.fuel_per_bar
            )?;
            writeln!(
                out,
                "compiled:      {} in {:.1} ms",
                if loaded.from_cache() {
                    "from cache"
                } else {
                    "fresh"
                },
                loaded.load_time().as_secs_f64() * 1e3
            )?;
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
            writeln!(
                out,
                "init:          ok (instantiate {:.0} µs, init fuel {}, memory {} KiB)",
                stats.instantiate_time.as_secs_f64() * 1e6,
                stats.fuel_total,
                stats.peak_memory_bytes / 1024
            )?;
            Ok(())
        }
    }
}

/// `weaver strategy precompile`: stdin → artifact on stdout. A refused component prints
/// `compile_failed: <message>` on stderr (the parent reads it) and exits non-zero.
fn precompile() -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .context("reading the component from stdin")?;
    match crate::marvin::precompile(&bytes) {
        Ok(artifact) => {
            let mut out = std::io::stdout().lock();
            out.write_all(&artifact).context("writing the artifact")?;
            out.flush().context("writing the artifact")?;
            Ok(())
        }
        Err(crate::marvin::Error::CompileFailed(message)) => {
            eprintln!("compile_failed: {message}");
            std::process::exit(3);
        }
        Err(e) => {
            eprintln!("{}: {e}", e.code());
            std::process::exit(4);
        }
    }
}
