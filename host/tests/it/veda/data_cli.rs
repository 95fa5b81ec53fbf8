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
    assert!(stdout.contains("stored 540 1Min bars"), "{stdout}");
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
