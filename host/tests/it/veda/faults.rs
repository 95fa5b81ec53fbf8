//! Broker faults: every unknown outcome is resolved by `client_order_id` and no order is ever
//! duplicated at the venue.

use std::collections::HashSet;
use std::time::Duration;

use rust_decimal::dec;
use serde_json::json;
use weaver::domain::Side;
use weaver::veda::alpaca::fake::{FakeConfig, Fault};
use weaver::veda::{Error, Venue};

use super::{SLOW_ANSWER, client_config, fake, impatient_venue, market, venue, venue_with};

#[tokio::test]
async fn duplicate_client_order_id_resolves_to_the_existing_order() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    // The first attempt landed (e.g. before a crash); the retry must not create a second order.
    let existing = fake
        .place_external_order(
            json!({"symbol": "AAPL", "qty": "5", "side": "buy", "type": "market",
                                     "time_in_force": "day", "client_order_id": "t-dup-1"}),
        )
        .unwrap();
    let resolved = venue
        .submit_order(&market("t-dup-1", "AAPL", Side::Buy, dec!(5)))
        .await
        .unwrap();
    assert_eq!(resolved.id, existing.id);
    assert_eq!(fake.orders().len(), 1);
    let dup = fake
        .responses()
        .into_iter()
        .find(|r| r.route == "/v2/orders" && r.method == "POST")
        .unwrap();
    assert_eq!(dup.status, 422);
    assert_eq!(
        dup.body.unwrap(),
        json!({"code": 40010001, "message": "client_order_id must be unique"})
    );
}

#[tokio::test]
async fn accept_then_timeout_is_resolved_by_client_order_id() {
    let fake = fake(FakeConfig::default()).await;
    let venue = impatient_venue(&fake);
    fake.inject(Fault::AcceptThenTimeout {
        requests: 1,
        delay: SLOW_ANSWER,
    });
    let started = std::time::Instant::now();
    let order = venue
        .submit_order(&market("t-timeout-1", "AAPL", Side::Buy, dec!(1)))
        .await
        .unwrap();
    assert!(
        started.elapsed() < SLOW_ANSWER,
        "resolved without waiting for the slow answer"
    );
    assert_eq!(order.client_order_id, "t-timeout-1");
    assert_eq!(
        fake.post_order_requests(),
        1,
        "found by lookup, never re-sent"
    );
    assert_eq!(fake.orders().len(), 1);
    assert_eq!(fake.orders()[0].id, order.id);
}

#[tokio::test]
async fn server_error_before_acceptance_is_resent_with_the_same_id() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    fake.inject(Fault::ServerError {
        requests: 1,
        status: 503,
    });
    let order = venue
        .submit_order(&market("t-5xx-1", "MSFT", Side::Buy, dec!(1)))
        .await
        .unwrap();
    assert_eq!(fake.post_order_requests(), 2, "one refused, one accepted");
    assert_eq!(fake.orders().len(), 1);
    assert_eq!(fake.orders()[0].client_order_id, order.client_order_id);
}

#[tokio::test]
async fn server_error_after_acceptance_is_not_a_second_order() {
    let fake = fake(FakeConfig::default()).await;
    let venue = venue(&fake);
    fake.inject(Fault::AcceptThenServerError { requests: 1 });
    let order = venue
        .submit_order(&market("t-5xx-2", "MSFT", Side::Buy, dec!(1)))
        .await
        .unwrap();
    assert_eq!(fake.post_order_requests(), 1);
    assert_eq!(fake.orders().len(), 1);
    assert_eq!(fake.orders()[0].id, order.id);
}

#[tokio::test]
async fn an_unreachable_venue_leaves_the_outcome_unknown() {
    let fake = fake(FakeConfig::default()).await;
    let config = client_config(&fake);
    drop(fake);
    let venue = venue_with(config);
    let err = venue
        .submit_order(&market("t-gone", "AAPL", Side::Buy, dec!(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::OutcomeUnknown { client_order_id, .. } if client_order_id == "t-gone"),
        "{err:?}"
    );
    assert!(!err.is_definitive_rejection());
}

/// A storm of every fault kind over many intents: 100 % of outcomes resolved, 0 duplicates.
#[tokio::test]
async fn broker_fault_storm_resolves_everything_without_duplicates() {
    let fake = fake(FakeConfig::default()).await;
    let venue = impatient_venue(&fake);
    let mut expected = HashSet::new();
    let intents = 24;
    for i in 0..intents {
        match i % 6 {
            0 => fake.inject(Fault::AcceptThenTimeout {
                requests: 1,
                delay: SLOW_ANSWER,
            }),
            1 => fake.inject(Fault::ServerError {
                requests: 2,
                status: 502,
            }),
            2 => fake.inject(Fault::AcceptThenServerError { requests: 1 }),
            3 => fake.inject(Fault::RateLimitStorm {
                requests: 1,
                reset_after: Duration::from_millis(10),
            }),
            4 => {
                // The order already landed once (a retry after a crash).
                fake.place_external_order(json!({"symbol": "SPY", "qty": "1", "side": "buy", "type": "market",
                                                 "time_in_force": "day", "client_order_id": format!("t-storm-{i}")}))
                    .unwrap();
            }
            _ => {}
        }
        let cid = format!("t-storm-{i}");
        let order = venue
            .submit_order(&market(&cid, "SPY", Side::Buy, dec!(1)))
            .await
            .unwrap_or_else(|e| {
                panic!("intent {i} left unresolved: {e}");
            });
        assert_eq!(order.client_order_id, cid);
        expected.insert(cid);
    }
    let orders = fake.orders();
    let ids: HashSet<String> = orders.iter().map(|o| o.client_order_id.clone()).collect();
    assert_eq!(orders.len(), intents, "exactly one order per intent");
    assert_eq!(ids, expected);
    assert_eq!(
        fake.position("SPY"),
        rust_decimal::Decimal::from(intents as u64)
    );
}
