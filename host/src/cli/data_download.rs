//! `weaver data download`: historical bars from Alpaca's market data API (v2) into WallE's
//! candles, one symbol at a time, following every page, with the price adjustment asked for
//! (`--adjustment`, default `all`). The downloading itself is [`crate::veda::download`]'s, the
//! same function the API's background jobs run; this command waits for it. A progress bar is
//! drawn only when stderr is a terminal.
//!
//! # Invariants
//! - Bars are upserted by (symbol, timeframe, time): downloading a range twice stores it once.
//! - A series keeps one adjustment: another one is refused unless `--replace` is given.
//! - Credentials come from the environment (`APCA_*`) and are never printed.

use std::io::IsTerminal;

use anyhow::{Context, bail};
use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use clap::Args;

use crate::domain::Timeframe;
use crate::veda::alpaca::{AlpacaConfig, AlpacaVenue};
use crate::veda::download::{self, Adjustment, Cursor, DownloadSpec, Progress};
use crate::walle::{DbConfig, Walle};

/// Arguments of `weaver data download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// Comma-separated symbols (`AAPL,MSFT`, `BTC/USD`).
    #[arg(long, value_delimiter = ',', required = true)]
    pub symbols: Vec<String>,
    /// Bar timeframe (`1Min`, `15Min`, `1Hour`, `1Day`).
    #[arg(long)]
    pub timeframe: Timeframe,
    /// First day, inclusive (`2024-01-02`).
    #[arg(long)]
    pub start: NaiveDate,
    /// Last day, inclusive (`2024-06-28`).
    #[arg(long)]
    pub end: NaiveDate,
    /// Stock data feed (`iex` is free, `sip` needs a subscription); default `APCA_API_DATA_FEED`
    /// or `iex`.
    #[arg(long, value_parser = ["iex", "sip"])]
    pub feed: Option<String>,
    /// Bars per page asked of the API (1 to 10000).
    #[arg(long, default_value_t = 10_000)]
    pub page_limit: u32,
    /// Price adjustment: `raw`, `split`, `dividend` or `all` (split- and dividend-adjusted).
    #[arg(long, default_value = "all", value_parser = ["raw", "split", "dividend", "all"])]
    pub adjustment: String,
    /// Delete stored bars of the series that have another adjustment instead of refusing.
    #[arg(long)]
    pub replace: bool,
}

/// Runs `weaver data download`, reporting to `out`.
///
/// # Errors
/// Bad arguments, missing credentials, an unreachable API or database.
pub(super) fn run(args: DownloadArgs, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    if args.end < args.start {
        bail!("--end {} is before --start {}", args.end, args.start);
    }
    let adjustment: Adjustment = args.adjustment.parse()?;
    let config = AlpacaConfig::from_env().context("Alpaca settings")?;
    let venue = AlpacaVenue::new(config).context("Alpaca client")?;
    let db = DbConfig::from_env()?;
    let spec = DownloadSpec {
        symbols: args.symbols.clone(),
        timeframe: args.timeframe.to_string(),
        start: Utc.from_utc_datetime(&args.start.and_time(NaiveTime::MIN)),
        end: Utc.from_utc_datetime(
            &args
                .end
                .and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN)),
        ),
        feed: args.feed.clone(),
        adjustment,
        page_limit: args.page_limit,
        replace: args.replace,
    };
    spec.validate()
        .map_err(|e| anyhow::anyhow!("--{}: {e}", e_field(&e)))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let progress_bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(args.symbols.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    progress_bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} symbols  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let timeframe = spec.timeframe.clone();
    runtime.block_on(async {
        let walle = Walle::connect(&db).await.context("database")?;
        download::check_adjustments(&walle, &spec).await?;
        let mut progress = Progress::default();
        let mut cursor = Cursor::default();
        let mut reported = 0usize;
        let mut lines: Vec<String> = Vec::new();
        download::download(
            venue.http(),
            &walle,
            &spec,
            &mut progress,
            &mut cursor,
            None,
            |p: &Progress| {
                progress_bar.set_position(p.symbols_done as u64);
                progress_bar.set_message(format!(
                    "{} {} bars, {} pages",
                    p.symbol.as_deref().unwrap_or(""),
                    p.bars,
                    p.pages
                ));
                // A line per finished symbol, as before the download was shared with the API.
                while reported < p.symbols_done {
                    let symbol = &spec.symbols[reported];
                    let n = p.per_symbol.get(symbol).copied().unwrap_or(0);
                    lines.push(format!("{symbol}: {n} bars"));
                    reported += 1;
                }
            },
        )
        .await?;
        progress_bar.finish_and_clear();
        for line in lines {
            writeln!(out, "{line}")?;
        }
        writeln!(
            out,
            "stored {} {timeframe} bars ({}, adjustment {})",
            progress.bars,
            walle.backend_name(),
            spec.adjustment
        )?;
        walle.close().await;
        anyhow::Ok(())
    })
}

fn e_field(e: &download::Error) -> &'static str {
    match e {
        download::Error::Invalid { field, .. } => match *field {
            "page_limit" => "page-limit",
            f => f,
        },
        _ => "arguments",
    }
}
