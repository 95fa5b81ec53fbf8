//! The event spine as `weaver serve` runs it (the composition root's `App::start`), on both
//! backends: the retention purge is scheduled, never passes a consumer, and a reader whose
//! cursor it overtook is told so (`cursor_expired`) instead of getting a silent gap.

use std::time::{Duration, Instant};

use weaver::app::{App, Config};
use weaver::events::Envelope;
use weaver::walle::{Consumer, ConsumerOptions, Retention, StartFrom};

use crate::glados::{get, send};
use crate::walle::support::{TestStore, contract, notice};

async fn wait_for_count(store: &TestStore, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = store.walle.count_events().await.expect("count");
        if n == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "outbox holds {n} events, want {want}: retention did not run"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// With a one-day retention, events older than a day go within one retention period of a
/// started app, but only those every consumer has passed; a cursor below the purge is refused
/// with 410 `cursor_expired`; no cursor reads from the oldest retained event.
async fn serve_purges_old_events_on_schedule_without_passing_a_consumer(store: &TestStore) {
    let w = &store.walle;
    let events: Vec<Envelope> = (0..20).map(notice).collect();
    w.append_batch(&events).await.expect("append");
    let mut slow = Consumer::open(
        w,
        "slow",
        ConsumerOptions {
            batch_size: 5,
            poll_interval: Duration::from_millis(50),
            start: StartFrom::Beginning,
        },
    )
    .await
    .expect("consumer");
    crate::walle::support::settle(w).await;
    let first5 = slow.next_batch().await.expect("batch");
    assert_eq!(first5.events.len(), 5);
    slow.commit(&first5).await.expect("commit");
    let cursors: Vec<_> = w
        .fetch_events(Default::default(), 100)
        .await
        .expect("fetch")
        .into_iter()
        .map(|e| e.cursor)
        .collect();
    assert_eq!(cursors.len(), 20);
    // The first ten are two days old; the rest are new.
    let aged = store
        .exec_sql(&format!(
            "update outbox set created_at = '2000-01-01T00:00:00Z' where id <= {}",
            cursors[9].id
        ))
        .await;
    assert_eq!(aged, 10);

    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    config.retention = Retention {
        events: Duration::from_secs(86_400),
        audit: Duration::from_secs(86_400),
        ..Retention::default()
    };
    config.retention_interval = Duration::from_millis(100);
    let app = App::new(config, w.clone()).expect("app");
    app.start().await.expect("start");
    let r = weaver::glados::router(app.state());

    // Only the five the consumer passed may go, although ten are old.
    wait_for_count(store, 15).await;
    assert_eq!(w.purge_horizon().await.expect("horizon"), cursors[4].id);
    let text = |c: weaver::events::Cursor| format!("{}-{}", c.xid, c.id);
    let expired = send(&r, get(&format!("/events/tail?after={}", text(cursors[1])))).await;
    assert_eq!(expired.status.as_u16(), 410, "{}", expired.json());
    assert_eq!(expired.error_code(), "cursor_expired");
    assert_eq!(
        expired.json()["details"]["purged_through_id"],
        cursors[4].id
    );
    let sse = send(
        &r,
        axum::http::Request::get("/events/stream")
            .header("host", "localhost")
            .header("last-event-id", text(cursors[0]))
            .body(axum::body::Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(sse.status.as_u16(), 410);
    assert_eq!(sse.error_code(), "cursor_expired");
    let at_horizon = send(&r, get(&format!("/events/tail?after={}", text(cursors[4])))).await;
    assert_eq!(at_horizon.status.as_u16(), 200);
    let oldest = send(&r, get("/events/tail?limit=1")).await.json();
    assert_eq!(
        oldest["events"][0]["data"]["message"], "event 5",
        "no cursor: from the oldest retained event"
    );

    // The consumer gets on: it loses nothing, and what it passed of the old events goes too.
    let mut rest = Vec::new();
    while rest.len() < 15 {
        let b = slow.next_batch().await.expect("batch");
        rest.extend(b.events.iter().map(|e| e.envelope.id));
        slow.commit(&b).await.expect("commit");
    }
    let expected: Vec<_> = events[5..].iter().map(|e| e.id).collect();
    assert_eq!(rest, expected, "every event after its offset, in order");
    wait_for_count(store, 10).await;
    app.shutdown(Duration::from_secs(5)).await;
}

/// A retention setting that is not a number of days stops `weaver serve` at start, naming the
/// variable, before anything is opened.
#[test]
fn serve_refuses_a_retention_that_is_not_days() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (var, value) in [
        ("WEAVER_EVENT_RETENTION_DAYS", "a week"),
        ("WEAVER_AUDIT_RETENTION_DAYS", "-1"),
        ("WEAVER_RETENTION_INTERVAL_SECONDS", "0"),
        // Not retention, but refused the same way: operator risk defaults that are not limits.
        ("WEAVER_RISK_DEFAULTS", r#"{"daily_loss_pct": 500}"#),
        ("WEAVER_RISK_DEFAULTS", "five percent"),
    ] {
        let out = crate::support::weaver_in(dir.path())
            .arg("serve")
            .env("WEAVER_BIND", "127.0.0.1:0")
            .env(var, value)
            .output()
            .expect("runs");
        assert!(!out.status.success(), "{var}={value} must refuse");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(var), "{var}: {err}");
        if value.contains("daily_loss_pct") {
            assert!(err.contains("daily_loss_pct"), "the key is named: {err}");
        }
    }
    assert!(
        !dir.path().join("weaver.db").exists(),
        "nothing opened before refusing"
    );
}

/// A started app reads the outbox once for every event stream: twenty clients get every new
/// event in order, promptly after its commit (woken by the database, well within the feed's
/// two-second safety re-check), and the feed's consumer offset advances and shows on /metrics.
async fn event_streams_share_one_feed_reader(store: &TestStore) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let w = &store.walle;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::new(Config::for_tests(dir.path()), w.clone()).expect("app");
    app.start().await.expect("start");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let r = weaver::glados::router(app.state());
    let server = tokio::spawn(async move { axum::serve(listener, r).await });
    let c = reqwest::Client::new();
    let mut clients = Vec::new();
    for _ in 0..20 {
        let resp = c
            .get(format!("http://{addr}/events/stream"))
            .send()
            .await
            .expect("connect");
        assert_eq!(resp.status().as_u16(), 200);
        clients.push(resp);
    }
    // Let every stream finish its catch-up read and join the fan-out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for round in 0..3 {
        let sent = Instant::now();
        let batch: Vec<Envelope> = (0..5).map(|i| notice(round * 5 + i)).collect();
        w.append_batch(&batch).await.expect("append");
        for client in &mut clients {
            let got: Vec<String> = crate::support::sse_events(client, 5)
                .await
                .into_iter()
                .map(|(_, d)| d["data"]["message"].as_str().unwrap_or("").to_owned())
                .collect();
            let want: Vec<String> = (0..5).map(|i| format!("event {}", round * 5 + i)).collect();
            assert_eq!(got, want);
        }
        let took = sent.elapsed();
        assert!(
            took < Duration::from_millis(1_500),
            "round {round}: 20 clients served in {took:?}: the feed waited for its re-check"
        );
    }
    assert!(
        w.consumers()
            .await
            .expect("consumers")
            .contains(&weaver::walle::feed::FEED_CONSUMER.to_owned()),
        "the feed's offset is stored"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while w
        .consumer_lag(weaver::walle::feed::FEED_CONSUMER)
        .await
        .expect("lag")
        .events
        > 0
    {
        assert!(
            Instant::now() < deadline,
            "the feed's offset never caught up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = c
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("weaver_outbox_lag_events{consumer=\"ui-feed\"}"),
        "{metrics}"
    );
    drop(clients);
    app.shutdown(Duration::from_secs(5)).await;
    server.abort();
}

/// A subscriber that stops reading is told it lagged once it is more than the feed's buffer
/// behind, instead of the feed holding everything for it.
async fn a_subscriber_that_falls_behind_is_told_it_lagged(store: &TestStore) {
    let w = &store.walle;
    let stop = tokio_util::sync::CancellationToken::new();
    let feed = weaver::walle::Feed::new(w.clone(), stop.clone());
    let mut idle = feed.subscribe();
    let mut reading = feed.subscribe();
    // The reader opens at the head: wait until it is up before appending.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !w
        .consumers()
        .await
        .expect("consumers")
        .contains(&weaver::walle::feed::FEED_CONSUMER.to_owned())
    {
        assert!(Instant::now() < deadline, "feed consumer never registered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let total = weaver::walle::feed::FEED_BUFFER + 500;
    let events: Vec<Envelope> = (0..total).map(notice).collect();
    let appender = {
        let w = w.clone();
        tokio::spawn(async move {
            for chunk in events.chunks(500) {
                w.append_batch(chunk).await.expect("append");
            }
        })
    };
    for i in 0..total {
        let e = tokio::time::timeout(Duration::from_secs(20), reading.next())
            .await
            .expect("in time")
            .expect("the reading subscriber keeps up");
        assert_eq!(e.envelope.payload["message"], format!("event {i}"));
    }
    appender.await.expect("appended");
    let mut got = 0;
    let end = loop {
        match idle.next().await {
            Ok(_) => got += 1,
            Err(gap) => break gap,
        }
    };
    assert_eq!(end, weaver::walle::feed::Gap::Lagged, "after {got} events");
    assert!(got <= weaver::walle::feed::FEED_BUFFER);
    stop.cancel();
}

contract!(
    serve_purges_old_events_on_schedule_without_passing_a_consumer,
    event_streams_share_one_feed_reader,
    a_subscriber_that_falls_behind_is_told_it_lagged
);
