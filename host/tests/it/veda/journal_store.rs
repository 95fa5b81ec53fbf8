//! The WallE order journal on PostgreSQL and SQLite against the fake Alpaca: intents are rows
//! before the send, outcomes are recorded, and a restart mid-run (faults, a crash before and after
//! a send) resolves every in-flight order by `client_order_id` with no duplicate at the venue.

use std::collections::BTreeSet;
use std::time::Duration;

use rust_decimal::dec;
use serde_json::json;
use weaver::domain::Side;
use weaver::veda::alpaca::fake::{FakeConfig, Fault};
use weaver::veda::journal::store::WalleJournal;
use weaver::veda::journal::{EntryState, OrderJournal, place_order, resolve_pending};
use weaver::veda::risk::{Exposure, RiskLimits};
use weaver::veda::{Venue, VenueOrder, client_order_id};
use weaver::walle::OrderState;

use super::{client_config, fake, market, venue, venue_with};
use crate::walle::support::{TestStore, contract};

fn priced() -> Exposure {
    Exposure {
        reference_price: Some(dec!(190)),
        ..Exposure::default()
    }
}

async fn place(
    journal: &WalleJournal,
    venue: &dyn Venue,
    run: &str,
    seq: u64,
) -> weaver::veda::Result<VenueOrder> {
    place_order(
        journal,
        venue,
        run,
        seq,
        market("", "AAPL", Side::Buy, dec!(1)),
        &RiskLimits::default(),
        &priced(),
    )
    .await
}

async fn intent_row_then_outcome(store: &TestStore) {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    let journal = WalleJournal::new(store.walle.clone());
    let order = place(&journal, &venue, "run-s", 1).await.unwrap();
    let row = journal
        .order(&order.client_order_id)
        .await
        .unwrap()
        .expect("row stored");
    assert_eq!(row.status, OrderState::Accepted);
    assert_eq!(row.exchange_order_id.as_deref(), Some(order.id.as_str()));
    assert!(row.submitted_at.is_some());

    // A definitive venue rejection is stored as rejected and is not pending.
    let err = place_order(
        &journal,
        &venue,
        "run-s",
        2,
        market("", "SPY", Side::Buy, dec!(300)),
        &RiskLimits::default(),
        &priced(),
    )
    .await
    .unwrap_err();
    assert!(err.is_definitive_rejection(), "{err:?}");
    let row = journal
        .order(&client_order_id::derive("run-s", 2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, OrderState::Rejected);

    // A replayed intent returns the stored entry and writes no second row.
    let again = journal
        .record_intent(
            "run-s",
            1,
            &market(&order.client_order_id, "AAPL", Side::Buy, dec!(1)),
        )
        .await
        .unwrap()
        .expect("existing entry");
    assert_eq!(again.sequence, 1);
    assert_eq!(
        again.state,
        EntryState::Accepted {
            venue_order_id: order.id.clone()
        }
    );
    assert!(journal.pending().await.unwrap().is_empty());
}

async fn restart_mid_run_resolves_in_flight_orders(store: &TestStore) {
    let fake = fake(FakeConfig::default()).await;
    let healthy = venue(&fake);
    let run = "run-restart";
    {
        let journal = WalleJournal::new(store.walle.clone());
        for seq in 1..=4 {
            place(&journal, &healthy, run, seq).await.unwrap();
        }
        // Seq 5: accepted by the venue, but the answer and every lookup are lost.
        let mut config = client_config(&fake);
        config.request_timeout = Duration::from_millis(200);
        let flaky = venue_with(config);
        fake.inject(Fault::AcceptThenTimeout {
            requests: 1,
            delay: super::SLOW_ANSWER,
        });
        fake.inject(Fault::ReadServerError {
            requests: 5,
            status: 503,
        });
        let err = place(&journal, &flaky, run, 5).await.unwrap_err();
        assert!(err.is_outcome_unknown(), "{err:?}");
        let row = journal
            .order(&client_order_id::derive(run, 5))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.status,
            OrderState::Unknown,
            "kept for resolution, not resent"
        );
        let mut drained = false;
        for _ in 0..10 {
            if healthy.account().await.is_ok() {
                drained = true;
                break;
            }
        }
        assert!(drained, "the fake kept failing reads");
        for seq in 6..=8 {
            place(&journal, &healthy, run, seq).await.unwrap();
        }
        // Seq 9: a 5xx after the order was created; the client resolves it by id.
        fake.inject(Fault::AcceptThenServerError { requests: 1 });
        place(&journal, &healthy, run, 9).await.unwrap();
        // Seq 10: journaled, then the process died before sending.
        let cid10 = client_order_id::derive(run, 10);
        journal
            .record_intent(run, 10, &market(&cid10, "AAPL", Side::Buy, dec!(1)))
            .await
            .unwrap();
        // Seq 11: journaled and sent, then the process died before recording the answer.
        let cid11 = client_order_id::derive(run, 11);
        journal
            .record_intent(run, 11, &market(&cid11, "AAPL", Side::Buy, dec!(1)))
            .await
            .unwrap();
        fake.place_external_order(json!({"symbol": "AAPL", "qty": "1", "side": "buy",
            "type": "market", "time_in_force": "day", "client_order_id": cid11}))
            .unwrap();
    }
    assert_eq!(fake.orders().len(), 10);

    // Restart: a new store handle and journal; resolve before the run may trade again.
    let walle = store.second_handle().await;
    let journal = WalleJournal::new(walle.clone());
    let pending: BTreeSet<String> = journal
        .pending()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.request.client_order_id)
        .collect();
    let expected: BTreeSet<String> = [5, 10, 11]
        .into_iter()
        .map(|s| client_order_id::derive(run, s))
        .collect();
    assert_eq!(
        pending, expected,
        "exactly the in-flight intents are found again"
    );
    let resolution = resolve_pending(&journal, &healthy).await.unwrap();
    assert!(
        resolution.unresolved.is_empty(),
        "{:?}",
        resolution.unresolved
    );
    let accepted: BTreeSet<String> = resolution
        .accepted
        .iter()
        .map(|o| o.client_order_id.clone())
        .collect();
    assert_eq!(
        accepted,
        [5, 11]
            .into_iter()
            .map(|s| client_order_id::derive(run, s))
            .collect::<BTreeSet<_>>()
    );
    assert_eq!(resolution.not_received.len(), 1);
    assert_eq!(resolution.not_received[0].sequence, 10);
    assert!(
        journal.pending().await.unwrap().is_empty(),
        "100% of unknown outcomes resolved"
    );

    // The run replays all its intents: only the one never received is sent.
    let posts = fake.post_order_requests();
    for seq in 1..=11 {
        let order = place(&journal, &healthy, run, seq).await.unwrap();
        assert_eq!(order.client_order_id, client_order_id::derive(run, seq));
    }
    assert_eq!(
        fake.post_order_requests(),
        posts + 1,
        "only seq 10 was sent"
    );
    let at_venue: Vec<String> = fake
        .orders()
        .into_iter()
        .map(|o| o.client_order_id)
        .collect();
    let distinct: BTreeSet<&String> = at_venue.iter().collect();
    assert_eq!(at_venue.len(), 11);
    assert_eq!(
        distinct.len(),
        at_venue.len(),
        "0 duplicate orders at the venue"
    );
    for seq in 1..=11 {
        let row = journal
            .order(&client_order_id::derive(run, seq))
            .await
            .unwrap()
            .unwrap();
        assert!(
            row.exchange_order_id.is_some(),
            "seq {seq} has its venue id"
        );
        assert_ne!(row.status, OrderState::Unknown);
    }
    if store.is_pg() {
        walle.close().await;
    }
}

contract!(
    intent_row_then_outcome,
    restart_mid_run_resolves_in_flight_orders
);
