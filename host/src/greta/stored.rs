//! Bars stored as candles, for backtests and paper runs over stored data: CSV uploads, synthetic
//! series and the bundled sample set, which a new database is offered once on its first start.
//!
//! # Invariants
//! - Every write goes through [`Walle::upsert_candles`] (replace per symbol, timeframe and time,
//!   one `data.CandlesStored` event per series), as `weaver data import` does.
//! - Sample data is offered once per database: a user who deletes it or brings their own data
//!   first never gets it back unasked (`POST /candles/sample` loads it on demand).

use chrono::DateTime;

use super::sample;
use crate::domain::{Bar, Timeframe};
use crate::walle::{self, Candle, CandleSeries, Walle};

/// Rows per write transaction (as `weaver data import`).
const CHUNK: usize = 5_000;
/// The settings key that records that the sample data was offered.
const SAMPLE_OFFERED: &str = "sample_data_offered";

/// Stores the sample set and returns its series.
///
/// # Errors
/// [`walle::Error`] from the store.
pub async fn load_sample(walle: &Walle) -> Result<Vec<CandleSeries>, walle::Error> {
    let mut out = Vec::new();
    for s in sample::series() {
        out.push(store(walle, s.symbol, s.timeframe, &s.bars, sample::SOURCE).await?);
    }
    Ok(out)
}

/// On the first start of a database: loads the sample data when `enabled` and no candle is
/// stored yet, and records that it was offered either way.
///
/// # Errors
/// [`walle::Error`] from the store.
pub async fn offer_sample_on_first_start(
    walle: &Walle,
    enabled: bool,
) -> Result<Option<Vec<CandleSeries>>, walle::Error> {
    if !enabled || walle.setting(SAMPLE_OFFERED).await?.is_some() {
        return Ok(None);
    }
    let loaded = if walle.has_candles().await? {
        None
    } else {
        Some(load_sample(walle).await?)
    };
    let value = if loaded.is_some() {
        "loaded"
    } else {
        "skipped"
    };
    walle.put_setting(SAMPLE_OFFERED, value, None).await?;
    Ok(loaded)
}

/// Stores `bars` as the candles of `symbol` at `tf` (replacing what was stored for the same
/// times) in transactions of [`CHUNK`] rows; returns the series as stored.
///
/// # Errors
/// [`walle::Error`] from the store, or `Invalid` for a bar time out of range.
pub async fn store(
    walle: &Walle,
    symbol: &str,
    tf: Timeframe,
    bars: &[Bar],
    source: &str,
) -> Result<CandleSeries, walle::Error> {
    let timeframe = tf.to_string();
    for chunk in bars.chunks(CHUNK) {
        let candles = chunk
            .iter()
            .map(|b| {
                Ok(Candle {
                    symbol: symbol.to_owned(),
                    timeframe: timeframe.clone(),
                    ts: DateTime::from_timestamp_millis(b.ts).ok_or_else(|| {
                        walle::Error::Invalid(format!("bar time {} is out of range", b.ts))
                    })?,
                    open: b.open,
                    high: b.high,
                    low: b.low,
                    close: b.close,
                    volume: b.volume,
                    source: source.to_owned(),
                })
            })
            .collect::<Result<Vec<_>, walle::Error>>()?;
        walle.upsert_candles(&candles, None).await?;
    }
    walle
        .candle_series(symbol, &timeframe)
        .await?
        .ok_or_else(|| walle::Error::Invalid(format!("no {timeframe} bars stored for {symbol}")))
}
