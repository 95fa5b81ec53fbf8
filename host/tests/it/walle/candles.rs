//! Candle writes in batches: a call larger than one statement, and a bar given twice in one
//! call, on both backends; the days a series has bars on, as the gap report reads them.

use chrono::{Duration, TimeZone, Utc};
use weaver::walle::Candle;

use super::support::{TestStore, contract};

contract!(
    large_upserts_span_statements_and_the_last_duplicate_wins,
    candle_days_are_session_dates_in_new_york_or_utc,
);

async fn large_upserts_span_statements_and_the_last_duplicate_wins(store: &TestStore) {
    let w = &store.walle;
    let t0 = Utc
        .with_ymd_and_hms(2024, 3, 4, 14, 30, 0)
        .single()
        .expect("time");
    let bar = |i: i64, close: f64| Candle {
        symbol: "QQQ".into(),
        timeframe: "1Min".into(),
        ts: t0 + Duration::minutes(i),
        open: 400.0,
        high: 401.0,
        low: 399.0,
        close,
        volume: i as f64,
        source: "test".into(),
    };
    // 1,001 bars (several statements, the last one short), bar 7 twice: the later one counts,
    // as it did when each bar was its own statement.
    let mut batch: Vec<Candle> = (0..1000).map(|i| bar(i, 400.0 + i as f64)).collect();
    batch.push(bar(7, -1.0));
    assert_eq!(w.upsert_candles(&batch, None).await.expect("upsert"), 1000);
    let all = w
        .candles("QQQ", "1Min", t0, t0 + Duration::days(2), 10_000)
        .await
        .expect("read");
    assert_eq!(all.len(), 1000);
    assert_eq!(all[7].close, -1.0, "the last of a duplicate wins");
    assert_eq!(all[999].close, 1399.0);
    assert_eq!(all[999].volume, 999.0);
    assert!(all.windows(2).all(|p| p[0].ts < p[1].ts));
    assert!(all.iter().all(|c| c.source == "test" && c.high == 401.0));
    // What a backtest loads: the same rows as bars, in the same order, and the same window.
    let bars = w
        .bars("QQQ", "1Min", t0, t0 + Duration::days(2), 10_000)
        .await
        .expect("bars");
    assert_eq!(bars, all.iter().map(Candle::bar).collect::<Vec<_>>());
    let some = w
        .bars("QQQ", "1Min", all[10].ts, all[20].ts, 5)
        .await
        .expect("bars");
    assert_eq!(
        some,
        all[10..15].iter().map(Candle::bar).collect::<Vec<_>>()
    );
    let none = w
        .bars("QQQ", "1Min", t0 - Duration::days(1), t0, 10)
        .await
        .expect("bars");
    assert!(none.is_empty(), "an empty window: {none:?}");
    // PostgreSQL reads bars with binary COPY, which takes no bind parameters: a symbol with
    // quotes and a backslash is still only a value, and times before 2000 (PostgreSQL's epoch)
    // and between milliseconds come back as the query reads them.
    let odd = "O'B\\'); drop table candles; --";
    let before = Utc
        .with_ymd_and_hms(1999, 12, 31, 23, 59, 59)
        .single()
        .expect("time")
        + Duration::microseconds(999_500);
    let odd_bars: Vec<Candle> = (0..3)
        .map(|i| Candle {
            symbol: odd.into(),
            ts: before + Duration::minutes(i),
            ..bar(i, 1.0 + i as f64)
        })
        .collect();
    w.upsert_candles(&odd_bars, None).await.expect("upsert");
    let read = w
        .candles(odd, "1Min", before, before + Duration::days(1), 10)
        .await
        .expect("read");
    assert_eq!(read.len(), 3);
    let got = w
        .bars(odd, "1Min", before, before + Duration::days(1), 10)
        .await
        .expect("bars");
    assert_eq!(got, read.iter().map(Candle::bar).collect::<Vec<_>>());
    assert_eq!(got[0].ts, before.timestamp_millis());
    assert_eq!(
        w.bars("QQQ", "1Min", t0, t0 + Duration::days(2), 10_000)
            .await
            .expect("bars")
            .len(),
        1000,
        "the other series is untouched"
    );
}

async fn candle_days_are_session_dates_in_new_york_or_utc(store: &TestStore) {
    let w = &store.walle;
    let at = |d: u32, h: u32, m: u32| {
        Utc.with_ymd_and_hms(2024, 7, d, h, m, 0)
            .single()
            .expect("time")
    };
    let bar = |ts| Candle {
        symbol: "INTRA".into(),
        timeframe: "1Min".into(),
        ts,
        open: 1.0,
        high: 1.0,
        low: 1.0,
        close: 1.0,
        volume: 1.0,
        source: "test".into(),
    };
    // The 1st's open (13:30Z), the 2nd's after-hours (19:59 New York = 23:59Z) and the 5th's
    // pre-market (04:00 New York = 08:00Z): each its New York session's date, not the next UTC day.
    let bars = [at(1, 13, 30), at(2, 23, 59), at(5, 8, 0), at(5, 8, 1)].map(bar);
    w.upsert_candles(&bars, None).await.expect("upsert");
    let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2024, 7, d).expect("date");
    assert_eq!(
        w.candle_days("INTRA", "1Min", -4).await.expect("days"),
        [day(1), day(2), day(5)]
    );
    assert_eq!(
        w.candle_days("INTRA", "1Min", 0).await.expect("days"),
        [day(1), day(2), day(5)],
        "23:59Z is still the 2nd in UTC"
    );
    let late = [bar(at(2, 23, 59) + Duration::minutes(2))];
    w.upsert_candles(&late, None).await.expect("upsert");
    assert_eq!(
        w.candle_days("INTRA", "1Min", 0).await.expect("days"),
        [day(1), day(2), day(3), day(5)]
    );
    assert_eq!(
        w.candle_days("INTRA", "1Min", -4).await.expect("days"),
        [day(1), day(2), day(5)]
    );
    assert!(
        w.candle_days("NONE", "1Min", -4)
            .await
            .expect("days")
            .is_empty()
    );
}
