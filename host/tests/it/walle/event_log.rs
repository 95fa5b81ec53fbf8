//! The `EventLog` contract: what any log behind the consumers must do (order, at-least-once,
//! durable offsets, wake-ups, lag), run against WallE's outbox on PostgreSQL and on SQLite and
//! against the in-memory reference log. A log adapter added later (NATS JetStream, Kafka) joins
//! this list (`docs/adr/0007-event-log-interface.md`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weaver::events::Registry;
use weaver::walle::{Consumer, ConsumerOptions, EventLog, MemoryLog, StartFrom};

use super::support::{Kind, TestStore, notice, settle};

/// Runs each contract test on the three logs.
macro_rules! log_contract {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let store = TestStore::new(Kind::Pg).await;
                    super::$name(Log::of(&store)).await;
                    store.finish().await;
                }
            )*
            use super::*;
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let store = TestStore::new(Kind::Sqlite).await;
                    super::$name(Log::of(&store)).await;
                    store.finish().await;
                }
            )*
            use super::*;
        }
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(Log::memory()).await;
                }
            )*
            use super::*;
        }
    };
}

log_contract!(
    appends_from_many_writers_arrive_once_in_one_order,
    offsets_survive_a_reopened_consumer_and_uncommitted_events_come_again,
    a_doorbell_wakes_a_waiting_consumer_before_its_poll,
    lag_counts_what_a_consumer_has_not_passed,
    a_consumer_starting_at_latest_skips_what_was_there,
);

/// A log under test, and how to let it settle (PostgreSQL's horizon).
struct Log {
    log: Arc<dyn EventLog>,
    store: Option<weaver::walle::Walle>,
}

impl Log {
    fn of(store: &TestStore) -> Log {
        Log {
            log: Arc::new(store.walle.clone()),
            store: Some(store.walle.clone()),
        }
    }

    fn memory() -> Log {
        Log {
            log: Arc::new(MemoryLog::new(Registry::builtin())),
            store: None,
        }
    }

    async fn settle(&self) {
        if let Some(w) = &self.store {
            settle(w).await;
        }
    }
}

fn opts(poll_ms: u64, start: StartFrom) -> ConsumerOptions {
    ConsumerOptions {
        batch_size: 64,
        poll_interval: Duration::from_millis(poll_ms),
        start,
    }
}

async fn read(consumer: &mut Consumer, want: usize, commit: bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    while got.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out after {} of {want}", got.len());
        if let Some(b) = consumer.next_batch_within(left).await.expect("batch") {
            got.extend(b.events.iter().map(|e| {
                e.envelope.payload["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            }));
            if commit {
                consumer.commit(&b).await.expect("commit");
            }
        }
    }
    got
}

async fn appends_from_many_writers_arrive_once_in_one_order(l: Log) {
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let log = l.log.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    let batch = [notice(w * 1000 + i * 2), notice(w * 1000 + i * 2 + 1)];
                    log.append(&batch).await.expect("append");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    l.settle().await;
    let mut a = Consumer::open_on(l.log.clone(), "order-a", opts(50, StartFrom::Beginning))
        .await
        .expect("open");
    let mut b = Consumer::open_on(l.log.clone(), "order-b", opts(50, StartFrom::Beginning))
        .await
        .expect("open");
    let seen_a = read(&mut a, 400, true).await;
    let seen_b = read(&mut b, 400, true).await;
    assert_eq!(seen_a, seen_b, "every consumer sees one order");
    assert_eq!(
        seen_a.iter().collect::<HashSet<_>>().len(),
        400,
        "no duplicate"
    );
    // A batch appended together stays together and in order.
    for w in 0..4 {
        for i in 0..50 {
            let first = format!("event {}", w * 1000 + i * 2);
            let second = format!("event {}", w * 1000 + i * 2 + 1);
            let at = seen_a.iter().position(|m| *m == first).expect("first");
            assert_eq!(seen_a[at + 1], second, "a batch's events are adjacent");
        }
    }
}

async fn offsets_survive_a_reopened_consumer_and_uncommitted_events_come_again(l: Log) {
    let events: Vec<_> = (0..30).map(notice).collect();
    l.log.append(&events).await.expect("append");
    l.settle().await;
    let o = ConsumerOptions {
        batch_size: 10,
        ..opts(50, StartFrom::Beginning)
    };
    let mut c = Consumer::open_on(l.log.clone(), "resume", o)
        .await
        .expect("open");
    let first = c.next_batch().await.expect("batch");
    c.commit(&first).await.expect("commit");
    let uncommitted = c.next_batch().await.expect("batch");
    assert_eq!(uncommitted.events.len(), 10);
    drop(c);
    let mut again = Consumer::open_on(l.log.clone(), "resume", o)
        .await
        .expect("reopen");
    assert_eq!(again.committed(), first.end, "the committed offset is kept");
    let redelivered = again.next_batch().await.expect("batch");
    let ids =
        |b: &weaver::walle::Batch| -> Vec<_> { b.events.iter().map(|e| e.envelope.id).collect() };
    assert_eq!(
        ids(&redelivered),
        ids(&uncommitted),
        "uncommitted events come again, in order"
    );
}

async fn a_doorbell_wakes_a_waiting_consumer_before_its_poll(l: Log) {
    let mut c = Consumer::open_on(l.log.clone(), "bell", opts(30_000, StartFrom::Beginning))
        .await
        .expect("open");
    // Let the doorbell connect (PostgreSQL's LISTEN) before the append.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c.stats().listener_connected {
        assert!(Instant::now() < deadline, "doorbell never connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = l.log.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        log.append(&[notice(1)]).await.expect("append");
    });
    let t = Instant::now();
    let b = c
        .next_batch_within(Duration::from_secs(10))
        .await
        .expect("batch")
        .expect("woken before the timeout");
    assert_eq!(b.events.len(), 1);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "woken by the doorbell, not the 30 s poll: {:?}",
        t.elapsed()
    );
    writer.await.expect("writer");
}

async fn lag_counts_what_a_consumer_has_not_passed(l: Log) {
    let mut c = Consumer::open_on(l.log.clone(), "lag", opts(50, StartFrom::Beginning))
        .await
        .expect("open");
    assert_eq!(c.lag().await.expect("lag").events, 0);
    let events: Vec<_> = (0..12).map(notice).collect();
    l.log.append(&events).await.expect("append");
    l.settle().await;
    assert_eq!(c.lag().await.expect("lag").events, 12);
    read(&mut c, 12, true).await;
    assert_eq!(c.lag().await.expect("lag").events, 0);
    assert_eq!(
        l.log.lag("nobody").await.unwrap_err().code(),
        "not_found",
        "an unknown consumer has no lag"
    );
}

async fn a_consumer_starting_at_latest_skips_what_was_there(l: Log) {
    l.log.append(&[notice(1), notice(2)]).await.expect("append");
    l.settle().await;
    let mut c = Consumer::open_on(l.log.clone(), "latest", opts(50, StartFrom::Latest))
        .await
        .expect("open");
    l.log.append(&[notice(3)]).await.expect("append");
    l.settle().await;
    assert_eq!(read(&mut c, 1, true).await, vec!["event 3".to_owned()]);
    assert!(!l.log.name().is_empty());
}
