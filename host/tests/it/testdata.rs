//! Where the tests find their fixtures: `testdata/` in the repository, and
//! `testdata/generated/`, which `scripts/testdata.sh` makes (backtesting.py's bundled OHLCV
//! data, its reference results, Alpaca's OpenAPI documents; see `testdata/README.md`).

use std::path::PathBuf;

/// `testdata/generated/`; panics with the command that makes it when it is missing.
pub(crate) fn generated() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/generated"
    ));
    assert!(
        dir.join("ohlcv").is_dir() && dir.join("reference").is_dir(),
        "test fixtures missing at {}: run scripts/testdata.sh (scripts/test.sh runs it)",
        dir.display()
    );
    dir
}

/// `testdata/generated/ohlcv/<name>.csv` (GOOG daily, EURUSD hourly, BTCUSD monthly).
pub(crate) fn ohlcv(name: &str) -> PathBuf {
    generated().join("ohlcv").join(format!("{name}.csv"))
}

/// `testdata/generated/reference/<name>` (a backtesting.py result or its equity CSV).
pub(crate) fn reference(name: &str) -> PathBuf {
    generated().join("reference").join(name)
}

/// GOOG's daily bars (`ohlcv("GOOG")`) as stored candles, source `csv:GOOG.csv`.
pub(crate) fn goog_candles() -> Vec<weaver::walle::Candle> {
    let path = ohlcv("GOOG");
    let series = weaver::greta::csv::load(&path, Some("GOOG")).unwrap_or_else(|e| {
        panic!(
            "{} unreadable ({e}): run scripts/testdata.sh",
            path.display()
        )
    });
    series
        .bars
        .iter()
        .map(|b| weaver::walle::Candle {
            symbol: "GOOG".into(),
            timeframe: weaver::domain::Timeframe::DAY.to_string(),
            ts: chrono::DateTime::from_timestamp_millis(b.bar.ts).expect("ts"),
            open: b.bar.open,
            high: b.bar.high,
            low: b.bar.low,
            close: b.bar.close,
            volume: b.bar.volume,
            source: "csv:GOOG.csv".into(),
        })
        .collect()
}
