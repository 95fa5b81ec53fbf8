//! `weaver backtest`: run a strategy over CSV bars, print a summary, optionally write a JSON
//! report; `--sweep` runs a parameter grid on all cores and prints a ranked table.
//!
//! # Invariants
//! - Every user mistake (strategy file, CSV, parameters, options) ends in an error message that
//!   names the culprit and a non-zero exit; nothing here panics on input.
//! - The progress bar is drawn only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crate::domain::{Strategy, StrategyConfig, StrategyError};
use crate::greta::broker::BrokerConfig;
use crate::greta::report::{self, StrategyInfo};
use crate::greta::{self, Backtest, Commission, EngineConfig, FillModel, StrategyFactory, sweep};

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
    /// Market-order fill price.
    #[arg(long, value_enum, default_value_t = Fill::NextOpen)]
    pub fill: Fill,
    /// Close trades still open at the end (at the last bar's open) so they count in the stats.
    #[arg(long)]
    pub finalize: bool,
    /// Allow fractional units (default: whole units, rounded down).
    #[arg(long)]
    pub fractional: bool,
    /// Indicator warm-up in bars: buy & hold is measured from this bar's close.
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
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
}

/// Market-order fill price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Fill {
    /// The next bar's open.
    NextOpen,
    /// The signal bar's close.
    Close,
}

/// A strategy source: how to build instances, and what to call it in reports.
pub struct StrategySource {
    /// Builds one instance per run.
    pub factory: Arc<StrategyFactory>,
    /// Report name.
    pub name: String,
    /// SHA-256 of the component (empty for native code).
    pub sha256: String,
}

/// Resolves `--strategy`.
///
/// # Errors
/// An unreadable or invalid strategy file, or an unknown native name.
pub fn strategy_source(spec: &str, cache_dir: Option<&Path>) -> anyhow::Result<StrategySource> {
    if let Some(name) = spec.strip_prefix("native:") {
        return match name {
            "sma-cross" => Ok(StrategySource {
                factory: Arc::new(
                    |cfg: &StrategyConfig| -> Result<Box<dyn Strategy>, StrategyError> {
                        Ok(Box::new(greta::native::SmaCross::new(cfg)?))
                    },
                ),
                name: spec.to_owned(),
                sha256: String::new(),
            }),
            other => bail!("unknown native strategy {other:?} (available: native:sma-cross)"),
        };
    }
    wasm_source(Path::new(spec), cache_dir)
}

/// Loads a `.wasm` strategy component into the Marvin sandbox (compile cache under
/// `$WEAVER_DATA_DIR/cache/compiled`); every run gets its own sandbox instance.
fn wasm_source(path: &Path, cache_dir: Option<&Path>) -> anyhow::Result<StrategySource> {
    if !path.is_file() {
        bail!(
            "strategy file {} does not exist or is not a file",
            path.display()
        );
    }
    let mut config = crate::marvin::MarvinConfig::default();
    if let Some(dir) = cache_dir {
        config.cache_dir = dir.to_path_buf();
    }
    let marvin = crate::marvin::Marvin::new(config)
        .map_err(|e| anyhow::anyhow!("cannot start the strategy sandbox: {e}"))?;
    let loaded = marvin
        .load_file(path)
        .map_err(|e| anyhow::anyhow!("strategy {}: {e} ({})", path.display(), e.code()))?;
    let sha256 = loaded.sha256().to_owned();
    let name = path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    Ok(StrategySource {
        factory: Arc::new(
            move |cfg: &StrategyConfig| -> Result<Box<dyn Strategy>, StrategyError> {
                Ok(Box::new(loaded.instantiate(cfg)?))
            },
        ),
        name,
        sha256,
    })
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

/// Builds the engine configuration from the options (also used by tests).
///
/// # Errors
/// Non-finite or negative money amounts.
pub fn engine_config(
    a: &BacktestArgs,
    params: Vec<(String, String)>,
) -> anyhow::Result<EngineConfig> {
    for (name, v) in [
        ("--cash", a.cash),
        ("--commission", a.commission),
        ("--commission-per-unit", a.commission_per_unit),
        ("--commission-fixed", a.commission_fixed),
        ("--slippage-bps", a.slippage_bps),
    ] {
        if !v.is_finite() || v < 0.0 {
            bail!("{name} {v} must be a non-negative number");
        }
    }
    if a.cash <= 0.0 {
        bail!("--cash must be positive");
    }
    if a.commission >= 1.0 {
        bail!(
            "--commission {} is a fraction of traded value and must be below 1 (0.002 = 0.2 %)",
            a.commission
        );
    }
    Ok(EngineConfig {
        broker: BrokerConfig {
            cash: a.cash,
            commission: Commission {
                pct: a.commission,
                per_unit: a.commission_per_unit,
                fixed: a.commission_fixed,
            },
            slippage_bps: a.slippage_bps,
            fill: match a.fill {
                Fill::NextOpen => FillModel::NextOpen,
                Fill::Close => FillModel::Close,
            },
            fractional: a.fractional,
        },
        finalize: a.finalize,
        warmup: a.warmup,
        params,
    })
}

/// Loads every `--data` file (in parallel) and aligns them.
///
/// # Errors
/// The first unreadable or malformed file, or mismatched `--symbol` count.
pub fn load_data(a: &BacktestArgs) -> anyhow::Result<Backtest> {
    if !a.symbol.is_empty() && a.symbol.len() != a.data.len() {
        bail!(
            "{} --symbol names for {} --data files: give one per file or none",
            a.symbol.len(),
            a.data.len()
        );
    }
    let series = a
        .data
        .iter()
        .enumerate()
        .map(|(i, p)| greta::csv::load(p, a.symbol.get(i).map(String::as_str)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Backtest::new(series)?)
}

/// Runs `weaver backtest`, printing to stdout.
///
/// # Errors
/// Any bad input, or a strategy failure.
pub fn run(a: BacktestArgs) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    run_with_output(a, &mut stdout.lock())
}

/// Runs `weaver backtest`, writing the summary (or sweep table) to `out`.
///
/// # Errors
/// Any bad input, or a strategy failure.
pub fn run_with_output(a: BacktestArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let started = Instant::now();
    let params = parse_params(&a.params)?;
    let cfg = engine_config(&a, params.clone())?;
    let source = strategy_source(&a.strategy, a.cache_dir.as_deref())?;
    let bt = load_data(&a)?;
    if !a.sweep.is_empty() {
        return run_sweep(&a, &bt, &cfg, &source, started, out);
    }
    let mut strategy = (source.factory)(&bt.strategy_config(&params))
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
        params: report::params_json(&params),
    };
    if let Some(path) = &a.report {
        write_json(path, &report::build(&bt, &cfg, info, &result))?;
    }
    write!(
        out,
        "{}",
        report::summary(&result.metrics, result.open_trades.len())
    )?;
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
    source: &StrategySource,
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
