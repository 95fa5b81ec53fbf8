//! Backpressure: a critical outbox consumer that falls behind throttles the simulated runs of
//! the correlations flooding it and tells the user (`ui.Notice`); a best-effort one is only
//! reported (`GET /readyz` details).

use std::time::Duration;

use axum::http::StatusCode;
use weaver::app::{App, Config};
use weaver::walle::{Consumer, ConsumerOptions, HealthOptions, StartFrom, Walle};

use crate::glados::{get, send};
use crate::walle::support::{TestStore, contract, notice, settle};

const FAST: HealthOptions = HealthOptions {
    throttle_after: Duration::from_secs(1),
    stuck_after: Duration::from_secs(1),
};

async fn notices(w: &Walle) -> Vec<(String, String)> {
    settle(w).await;
    let events = w
        .fetch_events(weaver::events::Cursor::default(), 10_000)
        .await
        .expect("events");
    events
        .into_iter()
        .filter(|e| e.envelope.event_type == "ui.Notice" && e.envelope.producer == "walle")
        .map(|e| {
            let p = &e.envelope.payload;
            (
                p["level"].as_str().unwrap_or_default().to_owned(),
                p["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn a_lagging_critical_consumer_throttles_until_it_catches_up(store: &TestStore) {
    let w = &store.walle;
    let opts = ConsumerOptions {
        batch_size: 1000,
        poll_interval: Duration::from_millis(50),
        start: StartFrom::Beginning,
    };
    let mut decisions = Consumer::open(w, "decisions", opts).await.expect("open");
    // One correlation floods the projection; another one wrote a single event.
    let flood = weaver::events::Correlation::new("flood-1", None);
    let events: Vec<_> =
        weaver::events::correlation::scope(Some(flood), async { (0..40).map(notice).collect() })
            .await;
    w.append_batch(&events).await.expect("append");
    let calm = weaver::events::Correlation::new("calm-1", None);
    let one = weaver::events::correlation::scope(Some(calm), async { notice(99) }).await;
    w.append(&one).await.expect("append");
    settle(w).await;
    w.check_consumers(FAST).await.expect("check");
    assert!(!w.backpressure().throttled(), "not behind for a second yet");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    w.check_consumers(FAST).await.expect("check");
    assert!(
        !w.backpressure().throttled(),
        "one check over the threshold is not yet sustained"
    );
    w.check_consumers(FAST).await.expect("check");
    assert!(
        w.backpressure().throttled(),
        "behind at two checks: throttled"
    );
    // Keyed by correlation: the flooding request's producers are slowed, the others are not.
    let bp = w.backpressure();
    assert_eq!(bp.flooding(), vec!["flood-1".to_owned()]);
    assert!(bp.throttles(Some("flood-1")));
    assert!(
        !bp.throttles(Some("calm-1")),
        "1 of 41 events is not flooding"
    );
    let report = w.backpressure().report();
    let d = report
        .iter()
        .find(|c| c.name == "decisions")
        .expect("decisions in the report");
    assert_eq!(d.class, weaver::walle::Class::Critical);
    assert!(d.lag_events >= 41 && d.stuck, "{d:?}");
    let told = notices(w).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, "warn");
    assert!(told[0].1.contains("decisions"), "{told:?}");
    // Checking again while still behind says nothing new.
    w.check_consumers(FAST).await.expect("check");
    assert_eq!(notices(w).await.len(), 1);

    // The consumer catches up (the notice it caused included): the throttle ends, once.
    loop {
        let batch = decisions
            .next_batch_within(Duration::from_millis(300))
            .await
            .expect("batch");
        match batch {
            Some(b) => decisions.commit(&b).await.expect("commit"),
            None => break,
        }
    }
    w.check_consumers(FAST).await.expect("check");
    assert!(!w.backpressure().throttled(), "caught up: not throttled");
    assert!(w.backpressure().flooding().is_empty());
    let told = notices(w).await;
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!(told[1].0, "info");
}

async fn a_stuck_best_effort_consumer_is_reported_never_waited_for(store: &TestStore) {
    let w = &store.walle;
    let dir = tempfile::tempdir().expect("temp dir");
    // Not started: no projection or feed of its own runs, so the consumers are the test's.
    let app = App::new(Config::for_tests(dir.path()), w.clone()).expect("app");
    let r = weaver::glados::router(app.state());
    let opts = ConsumerOptions {
        start: StartFrom::Beginning,
        ..ConsumerOptions::default()
    };
    let _feed = Consumer::open(w, "ui-feed", opts).await.expect("open");
    w.append_batch(&[notice(1)]).await.expect("append");
    settle(w).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    w.check_consumers(FAST).await.expect("check");
    assert!(
        !w.backpressure().throttled(),
        "a best-effort consumer never throttles"
    );
    assert!(notices(w).await.is_empty(), "nor notifies");
    let ready = send(&r, get("/readyz")).await;
    assert_eq!(ready.status, StatusCode::OK, "not waited for: still ready");
    let body = ready.json();
    assert_eq!(body["throttled"], false, "{body}");
    let feed = body["consumers"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "ui-feed"))
        .cloned()
        .expect("ui-feed reported");
    assert_eq!(feed["class"], "best_effort", "{feed}");
    assert_eq!(feed["stuck"], true, "{feed}");
    assert!(
        feed["lag_events"].as_i64().is_some_and(|n| n >= 1),
        "{feed}"
    );
    app.shutdown(Duration::from_secs(5)).await;
}

contract!(
    a_lagging_critical_consumer_throttles_until_it_catches_up,
    a_stuck_best_effort_consumer_is_reported_never_waited_for,
);
