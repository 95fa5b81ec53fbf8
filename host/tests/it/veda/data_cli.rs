//! `weaver data download` (Alpaca market data → WallE candles, against the fake) and
//! `weaver data export` (WallE candles → the reference CSV layout), through the real binary.

use std::process::Command;

use crate::support::weaver_in;
use chrono::{TimeZone, Utc};
use weaver::veda::alpaca::fake::FakeConfig;
use weaver::walle::{Candle, DbConfig, Walle};

fn run_ok(c: &mut Command) -> String {
    let out = c.output().expect("run weaver");
    assert!(
        out.status.success(),
        "weaver failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn export_writes_the_reference_layout_and_round_trips() {
    let source = crate::testdata::ohlcv("GOOG");
    assert!(
        source.exists(),
        "reference data missing at {}",
        source.display()
    );
    let series = weaver::greta::csv::load(&source, Some("GOOG")).expect("GOOG.csv loads");
    let dir = tempfile::tempdir().unwrap();
    let walle = Walle::connect(&DbConfig::sqlite_in(dir.path()))
        .await
        .unwrap();
    let candles: Vec<Candle> = series
        .bars
        .iter()
        .map(|sb| Candle {
            symbol: "GOOG".into(),
            timeframe: "1Day".into(),
            ts: Utc.timestamp_millis_opt(sb.bar.ts).unwrap(),
            open: sb.bar.open,
            high: sb.bar.high,
            low: sb.bar.low,
            close: sb.bar.close,
            volume: sb.bar.volume,
            source: "csv:GOOG.csv".into(),
        })
        .collect();
    walle.upsert_candles(&candles, None).await.unwrap();
    walle.close().await;

    let out = dir.path().join("goog.csv");
    let said = run_ok(
        weaver_in(dir.path())
            .args([
                "data",
                "export",
                "--symbol",
                "GOOG",
                "--timeframe",
                "1Day",
                "--out",
            ])
            .arg(&out),
    );
    assert!(
        said.contains(&format!("wrote {} bars", candles.len())),
        "{said}"
    );
    let written = std::fs::read_to_string(&out).unwrap();
    let reference = std::fs::read_to_string(source).unwrap();
    assert_eq!(
        written.lines().next(),
        Some("timestamp,open,high,low,close,volume")
    );
    assert_eq!(
        written.lines().collect::<Vec<_>>(),
        reference.lines().collect::<Vec<_>>(),
        "the export equals the reference file it was imported from"
    );

    // A sub-range, and an empty selection is an error.
    let part = dir.path().join("part.csv");
    run_ok(
        weaver_in(dir.path())
            .args([
                "data",
                "export",
                "--symbol",
                "GOOG",
                "--timeframe",
                "1Day",
                "--start",
                "2005-01-01",
                "--end",
                "2005-01-31",
                "--out",
            ])
            .arg(&part),
    );
    let rows: Vec<String> = std::fs::read_to_string(&part)
        .unwrap()
        .lines()
        .skip(1)
        .map(String::from)
        .collect();
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r.starts_with("2005-01-")),
        "{rows:?}"
    );
    let missing = weaver_in(dir.path())
        .args([
            "data",
            "export",
            "--symbol",
            "NOPE",
            "--timeframe",
            "1Day",
            "--out",
        ])
        .arg(dir.path().join("nope.csv"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no NOPE 1Day candles"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_follows_pages_into_the_database() {
    let fake = super::fake(FakeConfig {
        key_id: "DLKEY".into(),
        secret_key: "DLSENTINELSECRET".into(),
        ..FakeConfig::default()
    })
    .await;
    let start_ms = Utc
        .with_ymd_and_hms(2024, 1, 3, 15, 0, 0)
        .unwrap()
        .timestamp_millis();
    let aapl = super::minute_bars(start_ms, 300, 190.0);
    let msft = super::minute_bars(start_ms, 240, 370.0);
    fake.insert_bars("AAPL", &aapl);
    fake.insert_bars("MSFT", &msft);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}", fake.addr());
    let out = weaver_in(dir.path())
        .args([
            "data",
            "download",
            "--symbols",
            "AAPL,MSFT",
            "--timeframe",
            "1Min",
            "--start",
            "2024-01-03",
            "--end",
            "2024-01-03",
            "--feed",
            "iex",
            "--page-limit",
            "50",
        ])
        .env("APCA_API_KEY_ID", "DLKEY")
        .env("APCA_API_SECRET_KEY", "DLSENTINELSECRET")
        .env("APCA_API_BASE_URL", &url)
        .env("APCA_API_DATA_URL", &url)
        .output()
        .expect("run weaver data download");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains("DLSENTINELSECRET") && !stderr.contains("DLSENTINELSECRET"));
    assert!(
        stdout.contains("stored 540 1Min bars (sqlite, adjustment all)"),
        "{stdout}"
    );
    // No progress bar drawing when stderr is not a terminal.
    assert!(!stderr.contains("symbols"), "{stderr}");

    let walle = Walle::connect(&DbConfig::sqlite_in(dir.path()))
        .await
        .unwrap();
    let (from, to) = (Utc.timestamp_millis_opt(0).unwrap(), Utc::now());
    for (symbol, bars) in [("AAPL", &aapl), ("MSFT", &msft)] {
        let stored = walle
            .candles(symbol, "1Min", from, to, 10_000)
            .await
            .unwrap();
        assert_eq!(stored.len(), bars.len(), "{symbol}: every page stored");
        for (c, b) in stored.iter().zip(bars.iter()) {
            assert_eq!(c.ts.timestamp_millis(), b.ts);
            assert_eq!(
                (c.open, c.high, c.low, c.close, c.volume),
                (b.open, b.high, b.low, b.close, b.volume)
            );
            assert_eq!(c.source, "alpaca");
        }
    }
    walle.close().await;
    // Paged: at least 300 / 50 requests for AAPL alone reached the fake.
    let bar_requests = fake
        .responses()
        .iter()
        .filter(|r| r.route.contains("/bars"))
        .count();
    assert!(bar_requests >= 11, "{bar_requests} bar requests");
}

/// One 1-minute bar a day at 15:00 UTC over ten weekdays of January 2024 (2–5 and 8–12, plus
/// the 15th), priced around 400 before 2024-01-08 and around 100 from then on: a 4:1 split.
fn split_days() -> (Vec<weaver::domain::Bar>, i64) {
    let days = [2, 3, 4, 5, 8, 9, 10, 11, 12, 15];
    let split_at = Utc
        .with_ymd_and_hms(2024, 1, 8, 5, 0, 0)
        .unwrap()
        .timestamp_millis();
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let ts = Utc
                .with_ymd_and_hms(2024, 1, *d, 15, 0, 0)
                .unwrap()
                .timestamp_millis();
            let p = if ts < split_at { 400.0 } else { 100.0 } + i as f64 * 0.25;
            weaver::domain::Bar {
                ts,
                open: p,
                high: p + 1.0,
                low: p - 1.0,
                close: p + 0.5,
                volume: 1000.0,
            }
        })
        .collect();
    (bars, split_at)
}

/// The largest ratio between consecutive closes of the stored AAPL 1Day series.
async fn largest_step(dir: &std::path::Path) -> (f64, usize, Option<String>) {
    let walle = Walle::connect(&DbConfig::sqlite_in(dir)).await.unwrap();
    let (from, to) = (Utc.timestamp_millis_opt(0).unwrap(), Utc::now());
    let stored = walle.candles("AAPL", "1Day", from, to, 100).await.unwrap();
    let series = walle
        .candle_series("AAPL", "1Day")
        .await
        .unwrap()
        .expect("AAPL 1Day stored");
    walle.close().await;
    let step = stored
        .windows(2)
        .map(|w| (w[1].close / w[0].close).max(w[0].close / w[1].close))
        .fold(1.0, f64::max);
    (step, stored.len(), series.adjustment)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adjusted_download_across_a_split_is_continuous_and_raw_shows_the_jump() {
    let fake = super::fake(FakeConfig::default()).await;
    let (bars, split_at) = split_days();
    fake.insert_bars("AAPL", &bars);
    fake.declare_action(
        "AAPL",
        weaver::veda::alpaca::fake::CorporateAction::Split {
            at_ms: split_at,
            ratio: 4.0,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}", fake.addr());
    let download = |extra: &[&str]| {
        let mut c = weaver_in(dir.path());
        c.args([
            "data",
            "download",
            "--symbols",
            "AAPL",
            "--timeframe",
            "1Day",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-31",
            "--page-limit",
            "3",
        ])
        .args(extra)
        .env("APCA_API_KEY_ID", "FAKEKEYID")
        .env("APCA_API_SECRET_KEY", "FAKESECRET")
        .env("APCA_API_BASE_URL", &url)
        .env("APCA_API_DATA_URL", &url);
        c.output().expect("run weaver data download")
    };

    let raw = download(&["--adjustment", "raw"]);
    assert!(raw.status.success(), "{raw:?}");
    let said = String::from_utf8_lossy(&raw.stdout);
    assert!(
        said.contains("stored 10 1Day bars (sqlite, adjustment raw)"),
        "{said}"
    );
    let (step, n, adjustment) = largest_step(dir.path()).await;
    assert_eq!((n, adjustment.as_deref()), (10, Some("raw")));
    assert!(step > 3.5, "raw prices jump at the split: {step}");

    // Another adjustment onto a raw series is refused, naming both.
    let mixed = download(&[]);
    assert!(!mixed.status.success());
    let err = String::from_utf8_lossy(&mixed.stderr);
    assert!(
        err.contains("stored with adjustment raw") && err.contains("adjustment all"),
        "{err}"
    );

    // The default (`all`), replacing the raw series: continuous prices.
    let all = download(&["--replace"]);
    assert!(all.status.success(), "{all:?}");
    let (step, n, adjustment) = largest_step(dir.path()).await;
    assert_eq!((n, adjustment.as_deref()), (10, Some("all")));
    assert!(step < 1.05, "adjusted prices are continuous: {step}");
    // Every request asked for the adjustment given (Alpaca's default would be raw).
    let asked: Vec<Option<String>> = fake
        .bars_requests()
        .into_iter()
        .map(|r| r.adjustment)
        .collect();
    assert!(asked.contains(&Some("raw".into())) && asked.contains(&Some("all".into())));
    assert!(asked.iter().all(Option::is_some), "{asked:?}");

    let bad = weaver_in(dir.path())
        .args([
            "data",
            "download",
            "--symbols",
            "AAPL",
            "--timeframe",
            "1Day",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-31",
            "--adjustment",
            "adjusted",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--adjustment"));
}
