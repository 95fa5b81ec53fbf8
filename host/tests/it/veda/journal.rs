//! The order journal seam with the real client: intent before send, outcomes recorded, pre-trade
//! refusals never reach the venue, and a restart mid-run resolves in-flight orders by
//! `client_order_id` without sending them twice.

use std::time::Duration;

use rust_decimal::dec;
use serde_json::json;
use weaver::domain::Side;
use weaver::veda::alpaca::fake::{FakeConfig, Fault};
use weaver::veda::journal::{
    EntryState, InMemoryJournal, OrderJournal, place_order, resolve_pending,
};
use weaver::veda::risk::{Exposure, RiskLimits, TradingState};
use weaver::veda::{Error, Venue, client_order_id};

use super::{client_config, fake, market, venue, venue_with};

fn priced() -> Exposure {
    Exposure {
        reference_price: Some(dec!(190)),
        ..Exposure::default()
    }
}

#[tokio::test]
async fn place_order_journals_before_sending_and_records_the_outcome() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    let journal = InMemoryJournal::new();
    let limits = RiskLimits {
        max_notional_per_order: Some(dec!(5000)),
        ..RiskLimits::default()
    };
    let order = place_order(
        &journal,
        &venue,
        "run-a",
        1,
        market("", "AAPL", Side::Buy, dec!(10)),
        &limits,
        &priced(),
    )
    .await
    .unwrap();
    let cid = client_order_id::derive("run-a", 1);
    assert_eq!(order.client_order_id, cid);
    assert_eq!(
        journal.get(&cid).unwrap().state,
        EntryState::Accepted {
            venue_order_id: order.id.clone()
        }
    );

    // Refused before the venue: nothing journaled, nothing sent.
    let err = place_order(
        &journal,
        &venue,
        "run-a",
        2,
        market("", "AAPL", Side::Buy, dec!(100)),
        &limits,
        &priced(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "pre_trade_rejected");
    assert!(journal.get(&client_order_id::derive("run-a", 2)).is_none());
    let halted = Exposure {
        state: TradingState::Halted,
        ..priced()
    };
    let err = place_order(
        &journal,
        &venue,
        "run-a",
        3,
        market("", "AAPL", Side::Buy, dec!(1)),
        &limits,
        &halted,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::PreTrade(_)));
    assert_eq!(fake.post_order_requests(), 1);

    // A venue rejection is recorded as such.
    let err = place_order(
        &journal,
        &venue,
        "run-a",
        4,
        market("", "SPY", Side::Buy, dec!(300)),
        &RiskLimits::default(),
        &priced(),
    )
    .await
    .unwrap_err();
    assert!(err.is_definitive_rejection());
    assert!(matches!(
        journal
            .get(&client_order_id::derive("run-a", 4))
            .unwrap()
            .state,
        EntryState::Rejected { .. }
    ));
}

#[tokio::test]
async fn unknown_outcome_stays_pending_then_resolves_after_restart() {
    let fake = fake(FakeConfig::default()).await;
    let journal = InMemoryJournal::new();
    // The venue accepts, but every answer and every lookup is lost: the outcome is unknown.
    let mut config = client_config(&fake);
    config.request_timeout = Duration::from_millis(200);
    fake.inject(Fault::AcceptThenTimeout {
        requests: 1,
        delay: super::SLOW_ANSWER,
    });
    fake.inject(Fault::ReadServerError {
        requests: 5,
        status: 503,
    });
    let flaky = venue_with(config);
    let err = place_order(
        &journal,
        &flaky,
        "run-b",
        7,
        market("", "AAPL", Side::Buy, dec!(1)),
        &RiskLimits::default(),
        &priced(),
    )
    .await
    .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err:?}");
    let cid = client_order_id::derive("run-b", 7);
    assert!(matches!(
        journal.get(&cid).unwrap().state,
        EntryState::Pending { detail: Some(_) }
    ));

    // A second intent was journaled, then the process died before sending it.
    let lost = market(
        &client_order_id::derive("run-b", 8),
        "MSFT",
        Side::Buy,
        dec!(1),
    );
    journal.record_intent("run-b", 8, &lost).await.unwrap();

    // Restart: the venue is reachable again; resolve before any run trades.
    let fake_alive = fake;
    drop(flaky);
    let venue = venue(&fake_alive);
    // Use up the remaining read faults (they apply to the fake's next GETs).
    let mut healthy = false;
    for _ in 0..10 {
        if venue.account().await.is_ok() {
            healthy = true;
            break;
        }
    }
    assert!(healthy, "the fake kept failing reads");
    let resolution = resolve_pending(&journal, &venue).await.unwrap();
    assert_eq!(resolution.accepted.len(), 1);
    assert_eq!(resolution.accepted[0].client_order_id, cid);
    assert_eq!(resolution.not_received.len(), 1);
    assert_eq!(
        resolution.not_received[0].request.client_order_id,
        lost.client_order_id
    );
    assert!(resolution.unresolved.is_empty());
    assert!(journal.pending().await.unwrap().is_empty());
    assert_eq!(fake_alive.orders().len(), 1, "nothing was sent twice");

    // Replaying intent 7 after the restart never sends it again.
    let replay = place_order(
        &journal,
        &venue,
        "run-b",
        7,
        market("", "AAPL", Side::Buy, dec!(1)),
        &RiskLimits::default(),
        &priced(),
    )
    .await
    .unwrap();
    assert_eq!(replay.client_order_id, cid);
    assert_eq!(fake_alive.orders().len(), 1);
}

#[tokio::test]
async fn an_order_sent_just_before_a_crash_is_found_not_resent() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    let journal = InMemoryJournal::new();
    let cid = client_order_id::derive("run-c", 1);
    journal
        .record_intent("run-c", 1, &market(&cid, "AAPL", Side::Buy, dec!(2)))
        .await
        .unwrap();
    // The HTTP call reached the venue, then the process died before recording the answer.
    fake.place_external_order(
        json!({"symbol": "AAPL", "qty": "2", "side": "buy", "type": "market",
                                     "time_in_force": "day", "client_order_id": cid}),
    )
    .unwrap();
    let before = fake.post_order_requests();
    let order = place_order(
        &journal,
        &venue,
        "run-c",
        1,
        market("", "AAPL", Side::Buy, dec!(2)),
        &RiskLimits::default(),
        &priced(),
    )
    .await
    .unwrap();
    assert_eq!(order.client_order_id, cid);
    assert_eq!(
        fake.post_order_requests(),
        before,
        "the replay asked the venue first and sent nothing"
    );
    assert_eq!(fake.orders().len(), 1);
}
