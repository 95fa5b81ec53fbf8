//! Candle writes in batches: a call larger than one statement, and a bar given twice in one
//! call, on both backends.

use chrono::{Duration, TimeZone, Utc};
use weaver::walle::Candle;

use super::support::{TestStore, contract};

contract!(large_upserts_span_statements_and_the_last_duplicate_wins,);

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
}
