//! Reconciliation against the fake: an extra open order at the venue, a missed fill, a position
//! that differs from the records.

use chrono::Utc;
use rust_decimal::dec;
use serde_json::json;
use weaver::domain::Side;
use weaver::veda::Venue;
use weaver::veda::alpaca::fake::FakeConfig;
use weaver::veda::reconcile::{KnownOrder, LocalState, fetch_and_reconcile};

use super::{fake, limit, venue};

#[tokio::test]
async fn an_extra_open_order_at_the_venue_blocks_its_symbol_only() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    let since = Utc::now() - chrono::Duration::minutes(1);
    let external = fake
        .place_external_order(json!({"symbol": "MSFT", "qty": "1", "side": "buy", "type": "limit",
                                     "limit_price": "300", "time_in_force": "gtc", "client_order_id": "web-ui-1"}))
        .unwrap();
    let report = fetch_and_reconcile(&venue, &LocalState::default(), since)
        .await
        .unwrap();
    assert_eq!(report.unknown_open_orders.len(), 1);
    assert_eq!(report.unknown_open_orders[0].id, external.id);
    let err = report.check_run(&["MSFT".into()]).unwrap_err();
    assert_eq!(err.code(), "venue_unreconciled");
    assert!(err.to_string().contains("web-ui-1"), "{err}");
    report
        .check_run(&["AAPL".into(), "BTC/USD".into()])
        .unwrap();
}

#[tokio::test]
async fn a_missed_fill_is_found_and_explains_the_position() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    let since = Utc::now() - chrono::Duration::minutes(1);
    let order = venue
        .submit_order(&limit("w-run-1-1", "AAPL", Side::Buy, dec!(5), dec!(189)))
        .await
        .unwrap();
    // Filled while Weaver was down: its records still say "open, nothing filled, flat".
    assert!(fake.fill_order(&order.id, dec!(3), dec!(189)));
    let local = LocalState {
        open_orders: vec![KnownOrder {
            client_order_id: "w-run-1-1".into(),
            symbol: "AAPL".into(),
            side: Side::Buy,
            filled_quantity: dec!(0),
        }],
        positions: Default::default(),
    };
    let report = fetch_and_reconcile(&venue, &local, since).await.unwrap();
    assert_eq!(report.missed_fills.len(), 1);
    assert_eq!(report.missed_fills[0].quantity, dec!(3));
    assert_eq!(report.missed_fills[0].order.id, order.id);
    assert!(
        report.unexplained_positions.is_empty(),
        "{:?}",
        report.unexplained_positions
    );
    report.check_run(&["AAPL".into()]).unwrap();
}

#[tokio::test]
async fn a_position_nothing_explains_refuses_the_run() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    fake.set_position("AAPL", dec!(7), dec!(150));
    fake.set_position("BTC/USD", dec!(0.5), dec!(60000));
    let local = LocalState {
        open_orders: vec![],
        positions: [
            ("AAPL".to_owned(), dec!(5)),
            ("BTC/USD".to_owned(), dec!(0.5)),
        ]
        .into(),
    };
    let report = fetch_and_reconcile(&venue, &local, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        report.unexplained_positions.len(),
        1,
        "BTCUSD from the venue matches BTC/USD in the records"
    );
    let diff = &report.unexplained_positions[0];
    assert_eq!(
        (diff.symbol.as_str(), diff.expected, diff.venue),
        ("AAPL", dec!(5), dec!(7))
    );
    let err = report.check_run(&["AAPL".into()]).unwrap_err();
    assert!(
        err.to_string()
            .contains("AAPL: venue position 7 differs from the recorded 5"),
        "{err}"
    );
    report.check_run(&["BTC/USD".into()]).unwrap();
}
