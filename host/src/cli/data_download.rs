//! `weaver data download`: historical bars from Alpaca's market data API (v2) into WallE's
//! candles, one symbol at a time, following every page. A progress bar is drawn only when stderr
//! is a terminal.
//!
//! # Invariants
//! - Bars are upserted by (symbol, timeframe, time): downloading a range twice stores it once.
//! - Credentials come from the environment (`APCA_*`) and are never printed.

use std::io::IsTerminal;

use anyhow::{Context, bail};
use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use clap::Args;

use crate::domain::Timeframe;
use crate::veda::alpaca::{AlpacaConfig, AlpacaVenue};
use crate::veda::{BarsRequest, Venue};
use crate::walle::{Candle, DbConfig, Walle};

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
}

/// Runs `weaver data download`, reporting to `out`.
///
/// # Errors
/// Bad arguments, missing credentials, an unreachable API or database.
pub(super) fn run(args: DownloadArgs, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    if args.end < args.start {
        bail!("--end {} is before --start {}", args.end, args.start);
    }
    if !(1..=10_000).contains(&args.page_limit) {
        bail!("--page-limit must be between 1 and 10000");
    }
    let mut config = AlpacaConfig::from_env().context("Alpaca settings")?;
    if let Some(feed) = &args.feed {
        config.feed.clone_from(feed);
    }
    let venue = AlpacaVenue::new(config).context("Alpaca client")?;
    let db = DbConfig::from_env()?;
    let start = Utc.from_utc_datetime(&args.start.and_time(NaiveTime::MIN));
    let end = Utc.from_utc_datetime(
        &args
            .end
            .and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN)),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let progress = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(args.symbols.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} symbols  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let timeframe = args.timeframe.to_string();
    runtime.block_on(async {
        let walle = Walle::connect(&db).await.context("database")?;
        let mut total = 0u64;
        for symbol in &args.symbols {
            progress.set_message(symbol.clone());
            let request = BarsRequest {
                symbols: vec![symbol.clone()],
                timeframe: args.timeframe,
                start,
                end,
                page_limit: Some(args.page_limit),
            };
            let bars = venue
                .bars(&request)
                .await
                .with_context(|| format!("downloading {symbol} bars"))?;
            let candles: Vec<Candle> = bars
                .into_values()
                .flatten()
                .filter_map(|b| {
                    Some(Candle {
                        symbol: symbol.clone(),
                        timeframe: timeframe.clone(),
                        ts: chrono::DateTime::from_timestamp_millis(b.ts)?,
                        open: b.open,
                        high: b.high,
                        low: b.low,
                        close: b.close,
                        volume: b.volume,
                        source: "alpaca".into(),
                    })
                })
                .collect();
            for chunk in candles.chunks(5_000) {
                walle
                    .upsert_candles(chunk, None)
                    .await
                    .with_context(|| format!("storing {symbol} bars"))?;
            }
            total += candles.len() as u64;
            progress.inc(1);
            progress.suspend(|| writeln!(out, "{symbol}: {} bars", candles.len()))?;
        }
        progress.finish_and_clear();
        writeln!(
            out,
            "stored {total} {timeframe} bars ({})",
            walle.backend_name()
        )?;
        walle.close().await;
        anyhow::Ok(())
    })
}
