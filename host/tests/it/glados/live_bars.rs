//! Live bars as WallE stores them (`Walle::store_live_bars`, what a desk's live-bar writer
//! calls): a bar is stored once as a `live` candle with one `market.Bar` event however often it
//! arrives, a correction replaces it and is announced again, a non-finite bar is refused
//! (both backends).

use weaver::domain::{Bar, Timeframe};
use weaver::walle::LiveBar;

use crate::walle::support::{TestStore, contract};

fn bar(ts: i64, close: f64) -> Bar {
    Bar {
        ts,
        open: close,
        high: close + 0.5,
        low: close - 0.25,
        close,
        volume: 100.0,
    }
}

async fn live_bars_are_stored_once_with_one_market_bar_event(store: &TestStore) {
    let w = &store.walle;
    let live = |symbol: &str, b: Bar| LiveBar {
        venue: "alpaca".to_owned(),
        symbol: symbol.to_owned(),
        timeframe: Timeframe::MINUTE,
        bar: b,
    };
    let t0 = 1_700_000_040_000;
    let first = [live("AAPL", bar(t0, 190.0)), live("MSFT", bar(t0, 400.0))];
    assert_eq!(w.store_live_bars(&first).await.expect("store"), 2);
    // The same bars again (a second run's copy, a redelivery): nothing changes.
    assert_eq!(w.store_live_bars(&first).await.expect("store"), 0);
    // A correction of one of them and a new bar: both stored and announced.
    let next = [
        live("AAPL", bar(t0, 190.5)),
        live("AAPL", bar(t0 + 60_000, 191.0)),
        live("AAPL", bar(t0 + 60_000, 191.0)),
    ];
    assert_eq!(w.store_live_bars(&next).await.expect("store"), 2);
    let from = chrono::DateTime::from_timestamp_millis(t0).expect("time");
    let to = chrono::DateTime::from_timestamp_millis(t0 + 120_000).expect("time");
    let aapl = w.candles("AAPL", "1Min", from, to, 10).await.expect("read");
    assert_eq!(aapl.len(), 2);
    assert!(aapl.iter().all(|c| c.source == "live"), "{aapl:?}");
    assert_eq!(aapl[0].close, 190.5, "the correction replaced the bar");
    crate::walle::support::settle(w).await;
    let events = w
        .fetch_events(Default::default(), 100)
        .await
        .expect("events");
    let bars: Vec<_> = events
        .iter()
        .filter(|e| e.envelope.event_type == "market.Bar")
        .collect();
    assert_eq!(bars.len(), 4, "one event per stored bar or correction");
    // Each event's id is derived from the venue and the bar, so a run told the bar names it.
    for e in &bars {
        let p: weaver::events::payloads::MarketBar =
            serde_json::from_value(e.envelope.payload.clone()).expect("payload");
        assert_eq!(e.envelope.id, p.event_id("alpaca"), "{:?}", e.envelope);
        assert_ne!(e.envelope.id, p.event_id("alpaca-paper"));
    }
    // Corrected back to the first values: the candle changes again, and its event is the
    // first one, already stored.
    let back = [live("AAPL", bar(t0, 190.0))];
    assert_eq!(w.store_live_bars(&back).await.expect("store"), 1);
    let again = w.candles("AAPL", "1Min", from, to, 10).await.expect("read");
    assert_eq!(
        again[0].close, 190.0,
        "the candle follows the last correction"
    );
    crate::walle::support::settle(w).await;
    let n = w
        .fetch_events(Default::default(), 100)
        .await
        .expect("events")
        .iter()
        .filter(|e| e.envelope.event_type == "market.Bar")
        .count();
    assert_eq!(n, 4, "no second event with the first one's id");
    let refused = w.store_live_bars(&[live("AAPL", bar(t0, f64::NAN))]).await;
    assert!(refused.is_err(), "a non-finite bar is refused");
}

contract!(live_bars_are_stored_once_with_one_market_bar_event);
