//! Start-up recovery on WallE against the fake Alpaca: a missed fill is recorded, an extra open
//! order at the venue and a differing position refuse the affected runs (`venue_unreconciled`),
//! and runs on other symbols may start.

use rust_decimal::dec;
use serde_json::json;
use weaver::domain::Side;
use weaver::veda::alpaca::fake::FakeConfig;
use weaver::veda::journal::place_order;
use weaver::veda::journal::recover::{local_state, recover};
use weaver::veda::journal::store::WalleJournal;
use weaver::veda::risk::{Exposure, RiskLimits};
use weaver::walle::OrderState;

use super::{fake, market, venue};
use crate::walle::support::{TestStore, contract};

async fn recovery_records_missed_fills_and_blocks_unexplained_symbols(store: &TestStore) {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    let journal = WalleJournal::new(store.walle.clone());
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    let exposure = Exposure {
        reference_price: Some(dec!(190)),
        ..Exposure::default()
    };

    // Our order: the venue filled it, but the fill never reached us (stream lost, crash).
    let order = place_order(
        &journal,
        &venue,
        "run-r",
        1,
        market("", "AAPL", Side::Buy, dec!(3)),
        &RiskLimits::default(),
        &exposure,
    )
    .await
    .unwrap();
    let row = journal
        .order(&order.client_order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.filled_quantity, dec!(0), "the fill is not recorded yet");

    // Not ours: an open limit order on MSFT and a filled market order making a SPY position.
    let foreign = fake
        .place_external_order(json!({"symbol": "MSFT", "qty": "1", "side": "buy",
            "type": "limit", "limit_price": "1.00", "time_in_force": "gtc",
            "client_order_id": "manual-msft"}))
        .unwrap();
    fake.place_external_order(json!({"symbol": "SPY", "qty": "2", "side": "buy",
        "type": "market", "time_in_force": "day", "client_order_id": "manual-spy"}))
        .unwrap();

    let recovery = recover(&journal, &venue, since).await.unwrap();
    assert_eq!(recovery.recorded_fills, 1, "{:?}", recovery.report);
    let row = journal
        .order(&order.client_order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, OrderState::Filled);
    assert_eq!(row.filled_quantity, dec!(3));
    let fills = store.walle.fills(row.id).await.unwrap();
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].quantity, dec!(3));

    // AAPL is explained by the recorded fill: its run may start.
    recovery.report.check_run(&["AAPL".to_owned()]).unwrap();
    let err = recovery.report.check_run(&["MSFT".to_owned()]).unwrap_err();
    assert_eq!(err.code(), "venue_unreconciled");
    assert!(err.to_string().contains(&foreign.id), "{err}");
    let err = recovery
        .report
        .check_run(&["SPY".to_owned(), "AAPL".to_owned()])
        .unwrap_err();
    assert_eq!(err.code(), "venue_unreconciled");
    assert!(err.to_string().contains("SPY"), "{err}");

    // Recovery again: the fill is not recorded twice, the positions still agree.
    let again = recover(&journal, &venue, since).await.unwrap();
    assert_eq!(again.recorded_fills, 0);
    assert_eq!(store.walle.fills(row.id).await.unwrap().len(), 1);
    let local = local_state(&store.walle).await.unwrap();
    assert_eq!(local.positions.get("AAPL"), Some(&dec!(3)));
    again.report.check_run(&["AAPL".to_owned()]).unwrap();
}

contract!(recovery_records_missed_fills_and_blocks_unexplained_symbols);
