//! `weaver data import <csv> --symbol S --timeframe T`: store CSV bars as candles in the
//! configured database (WallE), so backtests and the API can use them.
//!
//! # Invariants
//! - Parsing uses Greta's CSV loader (same formats and error messages as `weaver backtest`).
//! - Re-importing replaces bars (upsert per symbol, timeframe and time); nothing is duplicated.
//! - A malformed file stores nothing: the whole file is parsed before the first write.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use crate::domain::Timeframe;
use crate::events::Registry;
use crate::greta;
use crate::walle::{Candle, DbConfig, Walle};

/// Rows per transaction.
const CHUNK: usize = 5_000;

/// Arguments of `weaver data import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// OHLCV CSV file (the formats `weaver backtest --data` reads).
    pub csv: PathBuf,
    /// Symbol the bars belong to.
    #[arg(long)]
    pub symbol: String,
    /// Bar timeframe (`1Min`, `5Min`, `1Hour`, `1Day`, …).
    #[arg(long)]
    pub timeframe: String,
}

/// Runs `weaver data import`, reporting to `out`.
///
/// # Errors
/// A bad timeframe or symbol, an unreadable or malformed file, or a database error.
pub(super) fn run(a: ImportArgs, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let tf: Timeframe = a
        .timeframe
        .parse()
        .map_err(|e| anyhow::anyhow!("--timeframe: {e}"))?;
    let symbol = a.symbol.trim().to_owned();
    if symbol.is_empty() || symbol.len() > 32 {
        bail!("--symbol must be 1–32 characters");
    }
    let series = greta::csv::load(&a.csv, Some(&symbol))?;
    let source = format!(
        "csv:{}",
        a.csv.file_name().map_or_else(
            || a.csv.display().to_string(),
            |n| n.to_string_lossy().into_owned()
        )
    );
    let candles = series
        .bars
        .iter()
        .map(|sb| {
            let b = sb.bar;
            let ts = chrono::DateTime::from_timestamp_millis(b.ts)
                .with_context(|| format!("timestamp {} out of range", b.ts))?;
            Ok(Candle {
                symbol: symbol.clone(),
                timeframe: tf.to_string(),
                ts,
                open: b.open,
                high: b.high,
                low: b.low,
                close: b.close,
                volume: b.volume,
                source: source.clone(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config = DbConfig::from_env()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let written = runtime.block_on(async {
        let walle = Walle::connect_with_registry(&config, Registry::builtin()).await?;
        let mut written = 0;
        for chunk in candles.chunks(CHUNK) {
            written += walle.upsert_candles(chunk, None).await?;
        }
        walle.close().await;
        anyhow::Ok(written)
    })?;
    writeln!(
        out,
        "imported {written} {symbol} {tf} bars from {} ({})",
        a.csv.display(),
        config_backend(&config)
    )?;
    Ok(())
}

fn config_backend(c: &DbConfig) -> &'static str {
    match c.backend() {
        Ok(crate::walle::Backend::Postgres(_)) => "postgres",
        _ => "sqlite",
    }
}
