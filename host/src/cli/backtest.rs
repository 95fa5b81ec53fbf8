//! `weaver backtest`: run a strategy over CSV bars, print a summary (with a per-symbol table for
//! several symbols), optionally write a JSON report; `--sweep` runs a parameter grid on all cores
//! and prints a ranked table. The flags become a [`BacktestSpec`], the description
//! `POST /backtests` also runs on.
//!
//! # Invariants
//! - Every user mistake (strategy file, CSV, parameters, options) ends in an error message that
//!   names the culprit and a non-zero exit; nothing here panics on input.
//! - The progress bar is drawn only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crate::greta::report::{self, StrategyInfo};
use crate::greta::{
    self, Backtest, BacktestSpec, Commission, CommissionModel, DataFile, DataWindow, EngineConfig,
    FillModel, FillSettings, Remainder, StrategyBuilder, StrategySource, sweep,
};
use crate::marvin::{LimitRequest, Marvin, MarvinConfig};

/// Arguments of `weaver backtest`.
#[derive(Debug, Clone, Args)]
pub struct BacktestArgs {
    /// Strategy component (`.wasm`), or `native:sma-cross` for the built-in native strategy.
    #[arg(long)]
    pub strategy: String,
    /// OHLCV CSV file; repeat for several symbols (aligned by timestamp).
    #[arg(long, required = true)]
    pub data: Vec<PathBuf>,
    /// Symbol name of each `--data` file, in order (default: the file stem).
    #[arg(long)]
    pub symbol: Vec<String>,
    /// Starting cash.
    #[arg(long, default_value_t = 10_000.0)]
    pub cash: f64,
    /// Commission as a fraction of traded value, per side (0.002 = 0.2 %).
    #[arg(long, default_value_t = 0.002)]
    pub commission: f64,
    /// Commission per unit traded, per side.
    #[arg(long, default_value_t = 0.0)]
    pub commission_per_unit: f64,
    /// Fixed commission per fill.
    #[arg(long, default_value_t = 0.0)]
    pub commission_fixed: f64,
    /// Slippage on market and stop fills, in basis points.
    #[arg(long, default_value_t = 0.0)]
    pub slippage_bps: f64,
    /// Market-order fill price (`next-open` is read as `next_open`).
    #[arg(long, value_enum, default_value_t = Fill::NextOpen)]
    pub fill: Fill,
    /// Fill models beyond the reference's (volume share, spread, latency, Alpaca fees).
    #[command(flatten)]
    pub fills: FillArgs,
    /// Close trades still open at the end (at the last bar's open) so they count in the stats.
    #[arg(long)]
    pub finalize: bool,
    /// Allow fractional units (default: whole units, rounded down).
    #[arg(long)]
    pub fractional: bool,
    /// Indicator warm-up in bars: buy & hold is measured from this bar's close. Default: the
    /// warm-up the strategy declares in `init` (0 for a 0.2 component or native code).
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Strategy parameter `key=value`; repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Write the JSON report here (with `--sweep`: one entry per combination).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Sweep a parameter over `key=start:end:step` (inclusive); repeatable: the grid runs on
    /// all cores.
    #[arg(long, value_name = "KEY=START:END:STEP")]
    pub sweep: Vec<String>,
    /// Metric to rank sweep results by (a report metric key, e.g. sharpe, return_pct).
    #[arg(long, default_value = "sharpe")]
    pub rank_by: String,
    /// Rows of the sweep table to print.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Cache of compiled strategy components (default `$WEAVER_DATA_DIR/cache/compiled`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Sandbox fuel per guest call instead of the component tier's (at most
    /// `WEAVER_MAX_FUEL_PER_EVENT`).
    #[arg(long)]
    pub fuel_per_event: Option<u64>,
    /// Sandbox fuel per bar a call carries instead of the tier's (at most
    /// `WEAVER_MAX_FUEL_PER_BAR`).
    #[arg(long)]
    pub fuel_per_bar: Option<u64>,
    /// Sandbox memory in MiB instead of the tier's (at most `WEAVER_MAX_MEMORY_MB`).
    #[arg(long)]
    pub memory_mb: Option<u64>,
}

/// Market-order fill price. Values are spelt as in `POST /backtests`; the kebab-case spelling
/// of earlier versions is an alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Fill {
    /// The next bar's open.
    #[value(name = "next_open", alias = "next-open")]
    NextOpen,
    /// The signal bar's close.
    Close,
}

/// The fill-model flags of `weaver backtest`; each is the `POST /backtests` field of the same
/// name in snake_case (`--volume-limit` is `volume_limit`). Unset: the reference's fills.
#[derive(Debug, Clone, Default, Args)]
pub struct FillArgs {
    /// Volume-share slippage: an order takes at most `--volume-limit` of a bar's volume, and
    /// the price moves against it by `price × volume-impact × share²`.
    #[arg(long)]
    pub volume_share: bool,
    /// Share of a bar's volume an order may take (default 0.025); with `--volume-share`.
    #[arg(long)]
    pub volume_limit: Option<f64>,
    /// Price impact coefficient (default 0.1); with `--volume-share`.
    #[arg(long)]
    pub volume_impact: Option<f64>,
    /// The part of an order above the volume limit: `carry` to the next bars (default) or
    /// `cancel`; with `--volume-share`.
    #[arg(long, value_enum)]
    pub remainder: Option<RemainderArg>,
    /// Half-spread paid on market and stop fills, as a fraction of the bar's high − low.
    #[arg(long)]
    pub spread_hl: Option<f64>,
    /// Bars an order waits before it reaches the market.
    #[arg(long)]
    pub latency_bars: Option<u32>,
    /// Commission schedule: `flat` (`--commission` and friends, default) or `alpaca` (no
    /// commission, SEC fee and FINRA TAF on sells).
    #[arg(long, value_enum)]
    pub commission_model: Option<CommissionModelArg>,
}

/// `--remainder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RemainderArg {
    /// Fill the rest over the next bars.
    Carry,
    /// Cancel the rest.
    Cancel,
}

/// `--commission-model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CommissionModelArg {
    /// The flat commission.
    Flat,
    /// Alpaca's fee schedule.
    Alpaca,
}

impl FillArgs {
    /// The settings these flags give.
    pub fn settings(&self) -> FillSettings {
        FillSettings {
            volume_share: self.volume_share.then_some(true),
            volume_limit: self.volume_limit,
            volume_impact: self.volume_impact,
            remainder: self.remainder.map(|r| match r {
                RemainderArg::Carry => Remainder::Carry,
                RemainderArg::Cancel => Remainder::Cancel,
            }),
            spread_hl: self.spread_hl,
            latency_bars: self.latency_bars,
            commission_model: self.commission_model.map(|c| match c {
                CommissionModelArg::Flat => CommissionModel::Flat,
                CommissionModelArg::Alpaca => CommissionModel::Alpaca,
            }),
        }
    }
}

/// A refused setting named by its flag (`volume_limit` → `--volume-limit`).
fn flag_error(e: &greta::InvalidSetting) -> anyhow::Error {
    anyhow::anyhow!("--{} {}", e.setting.replace('_', "-"), e.problem)
}

/// The backtest `a` describes: its strategy source, data files, engine settings and parameters
/// (also used by tests). Settings are checked later, by [`BacktestSpec::engine_config`].
///
/// # Errors
/// A `--param` that is not `key=value`.
pub(crate) fn backtest_spec(a: &BacktestArgs) -> anyhow::Result<BacktestSpec> {
    let files = a
        .data
        .iter()
        .enumerate()
        .map(|(i, path)| DataFile {
            path: path.clone(),
            symbol: a.symbol.get(i).cloned(),
        })
        .collect();
    Ok(BacktestSpec {
        strategy: StrategySource::parse(&a.strategy),
        data: DataWindow::Files(files),
        cash: a.cash,
        commission: Commission {
            pct: a.commission,
            per_unit: a.commission_per_unit,
            fixed: a.commission_fixed,
        },
        fill: match a.fill {
            Fill::NextOpen => FillModel::NextOpen,
            Fill::Close => FillModel::Close,
        },
        slippage_bps: a.slippage_bps,
        fractional: a.fractional,
        finalize: a.finalize,
        warmup: a.warmup,
        params: parse_params(&a.params)?,
        limits: LimitRequest::new(a.fuel_per_event, a.fuel_per_bar, a.memory_mb),
        fills: a.fills.settings().resolve().map_err(|e| flag_error(&e))?,
    })
}

/// The engine configuration of `spec`, a refused setting named by its flag (`--cash`).
///
/// # Errors
/// Non-finite or negative money amounts, cash that is not positive, a commission of 1 or more.
pub fn engine_config(spec: &BacktestSpec) -> anyhow::Result<EngineConfig> {
    spec.engine_config().map_err(|e| flag_error(&e))
}

/// Resolves `--strategy`. A component is loaded into a Marvin sandbox started for this command
/// with the operator's ceilings and compile limits ([`MarvinConfig::from_env`]; compile cache
/// under `--cache-dir`, default `$WEAVER_DATA_DIR/cache/compiled`); every run gets its own
/// sandbox instance under `limits`. With `compiler` (the `weaver` binary) a component not in the cache
/// compiles in a child process under the compile limits, as `weaver serve` compiles uploads.
///
/// # Errors
/// An unknown native name, a missing or invalid component (`compile_limit_exceeded` past the
/// compile limits), limits above the operator's ceilings (`limit_not_allowed`) or asked for a
/// native strategy, a sandbox that cannot start.
pub(crate) fn load_strategy(
    source: &StrategySource,
    cache_dir: Option<&Path>,
    limits: &LimitRequest,
    compiler: Option<&Path>,
) -> anyhow::Result<StrategyBuilder> {
    // A sandbox only for a component that exists: native code needs none, and `load` reports a
    // missing file.
    let marvin = match source {
        StrategySource::Component(path) if path.is_file() => {
            Some(command_marvin(cache_dir.map(Path::to_path_buf), compiler)?)
        }
        _ => None,
    };
    Ok(source.load_with(marvin.as_ref(), limits)?)
}

/// The Marvin of one command: the operator's settings from the environment, the compile cache in
/// `cache_dir` when given, compiling in a `compiler` child when given.
///
/// # Errors
/// A malformed ceiling or compile-limit setting, a sandbox that cannot start.
pub fn command_marvin(
    cache_dir: Option<PathBuf>,
    compiler: Option<&Path>,
) -> anyhow::Result<Marvin> {
    let mut config = MarvinConfig::from_env()
        .map_err(|e| anyhow::anyhow!("cannot start the strategy sandbox: {e}"))?;
    if let Some(dir) = cache_dir {
        config.cache_dir = dir;
    }
    config.compiler = compiler.map(Path::to_path_buf);
    Marvin::new(config).map_err(|e| anyhow::anyhow!("cannot start the strategy sandbox: {e}"))
}

fn parse_params(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|p| {
            let (k, v) = p
                .split_once('=')
                .with_context(|| format!("--param {p:?}: expected key=value"))?;
            if k.trim().is_empty() {
                bail!("--param {p:?}: empty key");
            }
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// Loads every `--data` file of `spec` (built from `a`) and aligns them.
///
/// # Errors
/// The first unreadable or malformed file, or mismatched `--symbol` count.
pub(crate) fn load_data(a: &BacktestArgs, spec: &BacktestSpec) -> anyhow::Result<Backtest> {
    if !a.symbol.is_empty() && a.symbol.len() != a.data.len() {
        bail!(
            "{} --symbol names for {} --data files: give one per file or none",
            a.symbol.len(),
            a.data.len()
        );
    }
    Ok(spec.load_files()?)
}

/// Runs `weaver backtest`, printing to stdout; a component compiles in a child of this
/// executable under the compile limits, as on the server.
///
/// # Errors
/// Any bad input, or a strategy failure.
pub fn run(a: BacktestArgs) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let compiler = std::env::current_exe().ok();
    run_compiling_with(a, &mut stdout.lock(), compiler.as_deref())
}

/// Runs `weaver backtest`, writing the summary (or sweep table) to `out`, compiling in this
/// process (for callers that are not the `weaver` binary, such as tests).
///
/// # Errors
/// Any bad input, or a strategy failure.
pub fn run_with_output(a: BacktestArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    run_compiling_with(a, out, None)
}

/// Runs `weaver backtest`, writing to `out`; a component not in the cache compiles in a child
/// `compiler` (the `weaver` binary) when given, else in this process.
///
/// # Errors
/// Any bad input, or a strategy failure.
pub fn run_compiling_with(
    a: BacktestArgs,
    out: &mut dyn Write,
    compiler: Option<&Path>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let spec = backtest_spec(&a)?;
    let params = &spec.params;
    let cfg = engine_config(&spec)?;
    let source = load_strategy(
        &spec.strategy,
        a.cache_dir.as_deref(),
        &spec.limits,
        compiler,
    )?;
    let bt = load_data(&a, &spec)?;
    if !a.sweep.is_empty() {
        return run_sweep(&a, &bt, &cfg, &source, started, out);
    }
    let mut strategy = (source.factory)(&bt.strategy_config(params))
        .map_err(|e| anyhow::anyhow!("strategy {}: {e}", source.name))?;
    let bar = progress_bar(bt.len() as u64);
    let tick = |done: usize| {
        if let Some(b) = &bar {
            b.set_position(done as u64);
        }
    };
    let result = bt.run(strategy.as_mut(), &cfg, Some(&tick))?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let elapsed = started.elapsed();
    let info = StrategyInfo {
        name: source.name.clone(),
        sha256: source.sha256.clone(),
        params: report::params_json(params),
        limits: source.limits,
    };
    if let Some(path) = &a.report {
        write_json(path, &report::build(&bt, &cfg, info, &result))?;
    }
    write!(
        out,
        "{}",
        report::summary(&result.metrics, result.open_trades.len())
    )?;
    let source_of_warmup = if result.warmup_declared {
        "declared by the strategy"
    } else {
        "--warmup"
    };
    writeln!(
        out,
        "{:<28} {} ({source_of_warmup})",
        "warmup", result.warmup
    )?;
    writeln!(out, "{:<28} {}", "fills", cfg.fills.describe())?;
    if let Some(g) = result.bankrupt_at {
        writeln!(
            out,
            "{:<28} {}",
            "bankrupt_at",
            greta::synth::iso(result.ts[g])
        )?;
    }
    let bars: usize = bt.series.iter().map(|s| s.bars).sum();
    writeln!(
        out,
        "{:<28} {bars} bars in {:.3} s ({:.0} bars/s)",
        "elapsed",
        elapsed.as_secs_f64(),
        bars as f64 / elapsed.as_secs_f64().max(1e-9)
    )?;
    // The report's `by_symbol` rows (the same function builds both), after the totals; none for
    // one symbol, whose row would repeat them.
    if bt.series.len() > 1 {
        let by = report::breakdown(&bt.symbols(), &cfg, &result);
        write!(out, "\n{}", report::symbol_table(&by))?;
    }
    Ok(())
}

fn write_json<T: serde::Serialize>(path: &Path, doc: &T) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("cannot create report {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    serde_json::to_writer(&mut w, doc)
        .with_context(|| format!("cannot write report {}", path.display()))?;
    std::io::Write::flush(&mut w)
        .with_context(|| format!("cannot write report {}", path.display()))?;
    Ok(())
}

fn progress_bar(len: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || len < 200_000 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} bars {per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

fn run_sweep(
    a: &BacktestArgs,
    bt: &Backtest,
    cfg: &EngineConfig,
    source: &StrategyBuilder,
    started: Instant,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let ranges = a
        .sweep
        .iter()
        .map(|s| sweep::parse_range(s))
        .collect::<Result<Vec<_>, _>>()?;
    let combos = sweep::grid(&cfg.params, &ranges);
    let probe = greta::metrics::Metrics::get(&dummy_metrics(), &a.rank_by);
    if probe.is_none() {
        bail!(
            "--rank-by {:?} is not a metric key (e.g. sharpe, return_pct, sqn, max_drawdown_pct)",
            a.rank_by
        );
    }
    // Bad parameters fail once, up front, instead of once per combination.
    (source.factory)(&bt.strategy_config(&combos[0]))
        .map_err(|e| anyhow::anyhow!("strategy {}: {e}", source.name))?;
    let results = sweep::run(bt, cfg, &combos, source.factory.as_ref());
    let mut rows = Vec::with_capacity(results.len());
    let mut docs = Vec::new();
    for (params, result) in combos.iter().zip(results) {
        let result = result.with_context(|| format!("combination {params:?}"))?;
        let score = result.metrics.get(&a.rank_by).flatten();
        rows.push((
            params.clone(),
            score,
            result.metrics.return_pct,
            result.metrics.trades,
        ));
        if a.report.is_some() {
            let info = StrategyInfo {
                name: source.name.clone(),
                sha256: source.sha256.clone(),
                params: report::params_json(params),
                limits: source.limits,
            };
            let run_cfg = EngineConfig {
                params: params.clone(),
                ..cfg.clone()
            };
            docs.push(report::build(bt, &run_cfg, info, &result));
        }
    }
    rows.sort_by(|x, y| match (x.1, y.1) {
        (Some(a), Some(b)) => b.total_cmp(&a),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let keys: Vec<&String> = ranges.iter().map(|r| &r.key).collect();
    let mut header = String::from("rank");
    for k in &keys {
        header.push_str(&format!(" {k:>10}"));
    }
    writeln!(
        out,
        "{header} {:>14} {:>12} {:>7}",
        a.rank_by, "return_pct", "trades"
    )?;
    for (i, (params, score, ret, trades)) in rows.iter().take(a.top).enumerate() {
        let mut line = format!("{:>4}", i + 1);
        for k in &keys {
            let v = params
                .iter()
                .rev()
                .find(|(pk, _)| pk == *k)
                .map_or("", |(_, v)| v.as_str());
            line.push_str(&format!(" {v:>10}"));
        }
        let f = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.4}"));
        writeln!(out, "{line} {:>14} {:>12} {trades:>7}", f(*score), f(*ret))?;
    }
    if let Some(path) = &a.report {
        write_json(path, &docs)?;
    }
    writeln!(
        out,
        "{} combinations in {:.3} s",
        combos.len(),
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}

fn dummy_metrics() -> greta::metrics::Metrics {
    let ts = [0, 86_400_000];
    greta::metrics::compute(&greta::metrics::Inputs {
        equity: &[1.0, 1.0],
        ts: &ts,
        close: &[1.0, 1.0],
        trades: &[],
        warmup: 0,
    })
}
