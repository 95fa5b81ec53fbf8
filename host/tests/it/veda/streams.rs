//! Streams: trade updates in binary frames (both auth forms), reconnect after a dropped socket
//! with REST reconciliation, heartbeat timeout on a silent socket, one connection per account,
//! and the market-data bar stream.

use std::time::Duration;

use chrono::Utc;
use rust_decimal::dec;
use weaver::domain::{Bar, Side};
use weaver::veda::alpaca::AuthForm;
use weaver::veda::alpaca::fake::{FakeAlpaca, FakeConfig};
use weaver::veda::{BarEvent, OrderStreamEvent, StreamHandle, TradeEvent, Venue, VenueOrderStatus};

use super::{fake, fast_streams, limit, market, venue};

const WAIT: Duration = Duration::from_secs(10);

async fn next<T: std::fmt::Debug>(stream: &mut StreamHandle<T>) -> T {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("stream event in time")
        .expect("stream still running")
}

/// Skips events until `pick` accepts one.
async fn until<T: std::fmt::Debug, R>(
    stream: &mut StreamHandle<T>,
    mut pick: impl FnMut(&T) -> Option<R>,
) -> R {
    loop {
        let event = next(stream).await;
        if let Some(r) = pick(&event) {
            return r;
        }
    }
}

async fn wait_for_slot(fake: &FakeAlpaca) {
    for _ in 0..100 {
        if fake.trade_stream_connected() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the trade stream never connected");
}

async fn updates_flow(auth_form: AuthForm) {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake).with_stream_options(weaver::veda::alpaca::StreamOptions {
        auth_form,
        ..fast_streams()
    });
    let mut stream = venue.order_updates(Utc::now()).await.unwrap();
    assert_eq!(
        next(&mut stream).await,
        OrderStreamEvent::Connected { reconnect: false }
    );
    venue
        .submit_order(&market("s-1", "AAPL", Side::Buy, dec!(2)))
        .await
        .unwrap();
    let new = until(&mut stream, |e| match e {
        OrderStreamEvent::Update(u) if u.order.client_order_id == "s-1" => Some(u.clone()),
        _ => None,
    })
    .await;
    assert_eq!(new.event, TradeEvent::New);
    let fill = until(&mut stream, |e| match e {
        OrderStreamEvent::Update(u) if u.event == TradeEvent::Fill => Some(u.clone()),
        _ => None,
    })
    .await;
    assert_eq!(fill.order.client_order_id, "s-1");
    assert_eq!(fill.quantity, Some(dec!(2)));
    assert_eq!(fill.position_quantity, Some(dec!(2)));
    assert_eq!(fill.price, Some(dec!(190)));
    assert!(fill.execution_id.is_some());
}

#[tokio::test]
async fn trade_updates_arrive_with_the_current_auth_form() {
    updates_flow(AuthForm::Auth).await;
}

#[tokio::test]
async fn trade_updates_arrive_with_the_legacy_auth_form() {
    updates_flow(AuthForm::Authenticate).await;
}

#[tokio::test]
async fn dropped_socket_reconnects_and_reconciles_missed_fills_over_rest() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    // A GTC order from before the window: it can fill during a gap too.
    let old = venue
        .submit_order(&limit("s-old", "MSFT", Side::Buy, dec!(1), dec!(300)))
        .await
        .unwrap();
    let since = Utc::now();
    let mut stream = venue.order_updates(since).await.unwrap();
    assert_eq!(
        next(&mut stream).await,
        OrderStreamEvent::Connected { reconnect: false }
    );
    let order = venue
        .submit_order(&limit("s-gap", "AAPL", Side::Buy, dec!(3), dec!(189)))
        .await
        .unwrap();
    until(&mut stream, |e| {
        matches!(e, OrderStreamEvent::Update(u) if u.order.id == order.id).then_some(())
    })
    .await;

    fake.drop_streams();
    until(&mut stream, |e| {
        matches!(e, OrderStreamEvent::Disconnected { .. }).then_some(())
    })
    .await;
    // Filled while nobody listens: the venue does not replay it.
    assert!(fake.fill_order(&order.id, dec!(3), dec!(189)));
    let reconnect = until(&mut stream, |e| match e {
        OrderStreamEvent::Connected { reconnect } => Some(*reconnect),
        _ => None,
    })
    .await;
    assert!(reconnect);
    match next(&mut stream).await {
        OrderStreamEvent::Reconciled(orders) => {
            let missed = orders
                .iter()
                .find(|o| o.id == order.id)
                .expect("the order is in the reconciliation");
            assert_eq!(missed.status, VenueOrderStatus::Filled);
            assert_eq!(missed.filled_quantity, dec!(3));
            assert!(
                orders.iter().any(|o| o.id == old.id),
                "open orders from before `since` too"
            );
        }
        other => panic!("expected Reconciled right after the reconnect, got {other:?}"),
    }
    // Live updates resume on the new connection.
    venue
        .cancel_order(
            &venue
                .submit_order(&limit("s-after", "AAPL", Side::Buy, dec!(1), dec!(100)))
                .await
                .unwrap()
                .id,
        )
        .await
        .unwrap();
    until(&mut stream, |e| match e {
        OrderStreamEvent::Update(u)
            if u.order.client_order_id == "s-after" && u.event == TradeEvent::Canceled =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
}

#[tokio::test]
async fn silent_socket_is_detected_by_heartbeat_and_replaced_after_reaping() {
    let stale = Duration::from_millis(3000);
    let fake = fake(FakeConfig {
        stale_socket_after: stale,
        ..FakeConfig::default()
    })
    .await;
    let venue = venue(&fake);
    let mut stream = venue.order_updates(Utc::now()).await.unwrap();
    assert_eq!(
        next(&mut stream).await,
        OrderStreamEvent::Connected { reconnect: false }
    );
    let silenced_at = std::time::Instant::now();
    fake.silence_streams();
    let reason = until(&mut stream, |e| match e {
        OrderStreamEvent::Disconnected { reason } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(reason.contains("heartbeat"), "{reason}");
    assert!(
        silenced_at.elapsed() < stale,
        "detected by heartbeat before the venue reaped the socket"
    );
    // The stale socket holds the account's one slot: reconnects are refused until it is reaped.
    let reconnect = until(&mut stream, |e| match e {
        OrderStreamEvent::Connected { reconnect } => Some(*reconnect),
        _ => None,
    })
    .await;
    assert!(reconnect);
    assert!(
        silenced_at.elapsed() >= stale,
        "reconnected only after the stale socket was reaped"
    );
    assert!(matches!(
        next(&mut stream).await,
        OrderStreamEvent::Reconciled(_)
    ));
}

#[tokio::test]
async fn only_one_trade_stream_per_account() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    let mut stream = venue.order_updates(Utc::now()).await.unwrap();
    assert_eq!(
        next(&mut stream).await,
        OrderStreamEvent::Connected { reconnect: false }
    );
    wait_for_slot(&fake).await;
    let url = format!("ws://{}/stream", fake.addr());
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429)
        }
        Err(other) => panic!("expected HTTP 429 on the second upgrade, got {other}"),
        Ok(_) => panic!("a second trade_updates connection was accepted"),
    }
    drop(stream);
    for _ in 0..100 {
        if !fake.trade_stream_connected() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the slot was not released after the client went away");
}

#[tokio::test]
async fn bar_stream_subscribes_and_resubscribes_after_a_drop() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    let mut stream = venue
        .bar_stream(&["AAPL".into(), "BTC/USD".into()])
        .await
        .unwrap();
    for _ in 0..2 {
        assert!(matches!(
            next(&mut stream).await,
            BarEvent::Connected { reconnect: false }
        ));
    }
    let bar = |ts: i64, close: f64| Bar {
        ts,
        open: close,
        high: close + 1.0,
        low: close - 1.0,
        close,
        volume: 10.0,
    };
    let t0 = Utc::now().timestamp() / 60 * 60_000;
    fake.push_bar("MSFT", bar(t0, 400.0)); // not subscribed
    fake.push_bar("AAPL", bar(t0, 190.0));
    fake.push_bar("BTC/USD", bar(t0, 60000.5));
    let mut got = Vec::new();
    while got.len() < 2 {
        if let BarEvent::Bar { symbol, bar } = next(&mut stream).await {
            got.push((symbol, bar));
        }
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("AAPL".to_owned(), bar(t0, 190.0)),
            ("BTC/USD".to_owned(), bar(t0, 60000.5))
        ]
    );

    fake.drop_streams();
    let mut reconnected = 0;
    while reconnected < 2 {
        if let BarEvent::Connected { reconnect: true } = next(&mut stream).await {
            reconnected += 1;
        }
    }
    fake.push_bar("AAPL", bar(t0 + 60_000, 191.0));
    let (symbol, b) = until(&mut stream, |e| match e {
        BarEvent::Bar { symbol, bar } => Some((symbol.clone(), *bar)),
        _ => None,
    })
    .await;
    assert_eq!((symbol.as_str(), b.close), ("AAPL", 191.0));
}

#[tokio::test]
async fn second_market_data_connection_gets_406() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    let mut first = venue.bar_stream(&["AAPL".into()]).await.unwrap();
    assert!(matches!(
        next(&mut first).await,
        BarEvent::Connected { reconnect: false }
    ));
    // A second client on the same endpoint is told "connection limit exceeded" and retries.
    let mut second = venue.bar_stream(&["AAPL".into()]).await.unwrap();
    let reason = until(&mut second, |e| match e {
        BarEvent::Disconnected { reason } => Some(reason.clone()),
        BarEvent::Connected { .. } => panic!("the second connection was accepted"),
        _ => None,
    })
    .await;
    assert!(reason.contains("406"), "{reason}");
    drop(first);
    // Once the first is gone, the second gets in.
    until(&mut second, |e| {
        matches!(e, BarEvent::Connected { .. }).then_some(())
    })
    .await;
}
