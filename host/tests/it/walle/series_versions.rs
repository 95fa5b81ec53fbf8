//! Candle series versions (migration 0021) and the bar cache built on them
//! (`greta/bar_cache.rs`), on both backends: every write that changes a series' candles gives it
//! a new version (imports, live bars, deletes; a repeated identical live bar does not), and a
//! cached copy of a window answers only while its series keeps the version it was made under.

use chrono::{Duration, TimeZone, Utc};
use weaver::domain::{Bar, Timeframe};
use weaver::greta::bar_cache::BarCache;
use weaver::walle::{Candle, LiveBar};

use super::support::{TestStore, contract};

contract!(
    every_candle_write_gives_its_series_a_new_version,
    a_cached_window_is_used_only_while_its_series_is_unchanged,
);

fn candles(symbol: &str, n: i64, close: f64) -> Vec<Candle> {
    let t0 = Utc
        .with_ymd_and_hms(2024, 3, 4, 14, 30, 0)
        .single()
        .expect("time");
    (0..n)
        .map(|i| Candle {
            symbol: symbol.into(),
            timeframe: "1Min".into(),
            ts: t0 + Duration::minutes(i),
            open: close,
            high: close + 1.0,
            low: close - 1.0,
            close: close + i as f64,
            volume: 10.0,
            source: "test".into(),
        })
        .collect()
}

async fn every_candle_write_gives_its_series_a_new_version(store: &TestStore) {
    let w = &store.walle;
    let version = async |s: &str| w.candle_series_version(s, "1Min").await.expect("version");
    assert_eq!(version("SPY").await, None, "no candles, no version");
    w.upsert_candles(&candles("SPY", 5, 100.0), None)
        .await
        .expect("upsert");
    w.upsert_candles(&candles("QQQ", 5, 300.0), None)
        .await
        .expect("upsert");
    let spy1 = version("SPY").await.expect("a version once written");
    let qqq1 = version("QQQ").await.expect("a version once written");
    w.upsert_candles(&candles("SPY", 5, 100.0), None)
        .await
        .expect("upsert");
    let spy2 = version("SPY").await.expect("version");
    assert_ne!(spy1, spy2, "a re-import is a write");
    assert_eq!(
        version("QQQ").await,
        Some(qqq1),
        "another series keeps its version"
    );

    let live = |close: f64| {
        [LiveBar {
            venue: "alpaca".into(),
            symbol: "SPY".into(),
            timeframe: Timeframe::MINUTE,
            bar: Bar {
                ts: 1_800_000_000_000,
                open: close,
                high: close,
                low: close,
                close,
                volume: 1.0,
            },
        }]
    };
    assert_eq!(w.store_live_bars(&live(101.0)).await.expect("live"), 1);
    let spy3 = version("SPY").await.expect("version");
    assert_ne!(spy3, spy2, "a live bar is a write");
    assert_eq!(w.store_live_bars(&live(101.0)).await.expect("live"), 0);
    assert_eq!(
        version("SPY").await,
        Some(spy3),
        "the same bar again changes nothing"
    );
    assert_eq!(w.store_live_bars(&live(102.0)).await.expect("live"), 1);
    let spy4 = version("SPY").await.expect("version");
    assert_ne!(spy4, spy3, "a corrected bar is a write");

    // The list of every series is these tokens (`GET /candles/series` keeps its entries by
    // them): by symbol, with the token each write left.
    let listed = w.candle_series_versions().await.expect("versions");
    assert_eq!(
        listed,
        vec![
            ("QQQ".to_owned(), "1Min".to_owned(), qqq1),
            ("SPY".to_owned(), "1Min".to_owned(), spy4)
        ]
    );
    let summary = w
        .candle_series("SPY", "1Min")
        .await
        .expect("summary")
        .expect("SPY has bars");
    assert_eq!((summary.count, summary.source), (6, "mixed"));

    w.delete_candle_series("SPY", "1Min").await.expect("delete");
    assert_ne!(version("SPY").await, Some(spy4), "a delete is a write");
    assert_eq!(version("QQQ").await, Some(qqq1));
    assert_eq!(
        w.candle_series("SPY", "1Min").await.expect("summary"),
        None,
        "an emptied series has no summary, though it keeps a token"
    );
    assert_eq!(w.candle_series_versions().await.expect("versions").len(), 2);
}

async fn a_cached_window_is_used_only_while_its_series_is_unchanged(store: &TestStore) {
    let w = &store.walle;
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = BarCache::new(dir.path().to_path_buf(), 16);
    let (from, to) = (
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .single()
            .expect("time"),
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
            .single()
            .expect("time"),
    );
    w.upsert_candles(&candles("IWM", 500, 200.0), None)
        .await
        .expect("upsert");
    let stored = w.bars("IWM", "1Min", from, to, 10_000).await.expect("bars");
    let first = cache
        .bars(w, "IWM", "1Min", from, to, 10_000)
        .await
        .expect("first load");
    assert_eq!(first, stored);
    let files = || {
        std::fs::read_dir(dir.path())
            .expect("cache dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".bars"))
            .count()
    };
    assert_eq!(files(), 1, "the first load keeps a copy");

    // Rows changed behind WallE's back (no new version): only a copy answers with the old bars,
    // which shows the second load is the cache's.
    store
        .exec_sql("update candles set close = -1 where symbol = 'IWM'")
        .await;
    let second = cache
        .bars(w, "IWM", "1Min", from, to, 10_000)
        .await
        .expect("second load");
    assert_eq!(
        second, stored,
        "the same window at the same version: the copy"
    );
    // Another window of the same series is its own copy.
    let part = cache
        .bars(w, "IWM", "1Min", from, to, 100)
        .await
        .expect("another window");
    assert_eq!(part.len(), 100);
    assert!(part.iter().all(|b| b.close == -1.0), "read from the store");
    assert_eq!(files(), 2);

    // A write through WallE replaces the version: the copy is not used any more.
    w.upsert_candles(&candles("IWM", 3, 500.0), None)
        .await
        .expect("upsert");
    let after = cache
        .bars(w, "IWM", "1Min", from, to, 10_000)
        .await
        .expect("load after a write");
    assert_eq!(
        after,
        w.bars("IWM", "1Min", from, to, 10_000).await.expect("bars")
    );
    assert_eq!(after[0].close, 500.0);
    assert_eq!(after[10].close, -1.0);

    // A corrupt copy is a miss, not an error, and is replaced.
    for e in std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
    {
        std::fs::write(e.path(), b"WVBARS01 not bars").expect("corrupt");
    }
    let again = cache
        .bars(w, "IWM", "1Min", from, to, 10_000)
        .await
        .expect("load over a corrupt copy");
    assert_eq!(again, after);

    // Off: nothing is written.
    let off_dir = tempfile::tempdir().expect("temp dir");
    let off = BarCache::new(off_dir.path().to_path_buf(), 0);
    assert_eq!(
        off.bars(w, "IWM", "1Min", from, to, 10_000)
            .await
            .expect("load"),
        after
    );
    assert_eq!(std::fs::read_dir(off_dir.path()).expect("dir").count(), 0);
}
