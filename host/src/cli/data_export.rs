//! `weaver data export`: one symbol and timeframe of WallE's candles to a CSV file with the
//! reference layout (`timestamp,open,high,low,close,volume`, ISO-8601 UTC times with `Z`).
//!
//! # Invariants
//! - Rows are oldest first; the file is complete or the command fails naming the path.
//! - Prices print in Rust's shortest round-trip form, so an export re-imports to the same values.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};
use clap::Args;

use crate::domain::Timeframe;
use crate::walle::{DbConfig, Walle};

/// Arguments of `weaver data export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Symbol.
    #[arg(long)]
    pub symbol: String,
    /// Timeframe (`1Min`, `1Day`, …).
    #[arg(long)]
    pub timeframe: Timeframe,
    /// Output CSV file.
    #[arg(long)]
    pub out: PathBuf,
    /// First day, inclusive (default: the first stored bar).
    #[arg(long)]
    pub start: Option<NaiveDate>,
    /// Last day, inclusive (default: the last stored bar).
    #[arg(long)]
    pub end: Option<NaiveDate>,
}

const PAGE: i64 = 50_000;

/// Runs `weaver data export`, reporting to `out`.
///
/// # Errors
/// An unreachable database or an unwritable file.
pub(super) fn run(args: ExportArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let day = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN));
    // Bounds inside years 1..=9999: SQLite compares stored times as text, and the extreme
    // chrono instants print with a sign that sorts wrongly.
    let earliest = NaiveDate::from_ymd_opt(1, 1, 1)
        .map(day)
        .context("date range")?;
    let latest = NaiveDate::from_ymd_opt(9999, 12, 31)
        .map(day)
        .context("date range")?;
    let from = args.start.map_or(earliest, day);
    let to = match args.end {
        Some(d) => day(d.succ_opt().context("--end is out of range")?),
        None => latest,
    };
    if to <= from {
        bail!("--end is before --start");
    }
    let db = DbConfig::from_env()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let timeframe = args.timeframe.to_string();
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let written = runtime.block_on(async {
        let walle = Walle::connect(&db).await.context("database")?;
        writeln!(w, "timestamp,open,high,low,close,volume")?;
        let mut next = from;
        let mut written = 0u64;
        loop {
            let page = walle
                .candles(&args.symbol, &timeframe, next, to, PAGE)
                .await?;
            for c in &page {
                writeln!(
                    w,
                    "{},{},{},{},{},{}",
                    c.ts.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    c.open,
                    c.high,
                    c.low,
                    c.close,
                    c.volume
                )?;
            }
            written += page.len() as u64;
            match page.last() {
                Some(last) if page.len() as i64 == PAGE => {
                    next = last.ts + chrono::Duration::microseconds(1);
                }
                _ => break,
            }
        }
        walle.close().await;
        anyhow::Ok(written)
    });
    let written = written.with_context(|| format!("exporting to {}", args.out.display()))?;
    w.flush()
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    if written == 0 {
        bail!(
            "no {} {} candles stored in that range",
            args.symbol,
            timeframe
        );
    }
    writeln!(out, "wrote {written} bars to {}", args.out.display())?;
    Ok(())
}
