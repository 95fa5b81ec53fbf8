//! Outbox contract: ordering under concurrent late commits and rollbacks (gap torture), crash
//! and resume, retention with a lagging consumer, and (PostgreSQL) listener kills and horizon
//! stalls.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Mutex;
use uuid::Uuid;
use weaver::events::Envelope;
use weaver::walle::{Consumer, ConsumerOptions, Dedup, Retention, StartFrom, Walle};

use super::support::{Kind, TestStore, contract, notice, settle};

contract!(
    consumer_sees_events_in_commit_safe_order,
    gap_torture_loses_nothing,
    consumer_killed_mid_batch_resumes_from_offset,
    retention_spares_a_lagging_consumer,
    retention_loop_runs_until_stopped,
    reset_offsets_moves_consumers_to_the_head,
    consumer_queries_stay_index_probes_on_a_large_outbox,
);

fn opts(batch: i64, poll_ms: u64) -> ConsumerOptions {
    ConsumerOptions {
        batch_size: batch,
        poll_interval: Duration::from_millis(poll_ms),
        start: StartFrom::Beginning,
    }
}

/// Reads until `want` distinct events arrived or `timeout` passed; commits every batch.
async fn drain(consumer: &mut Consumer, want: usize, timeout: Duration) -> Vec<Uuid> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut distinct = HashSet::new();
    while distinct.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out: {} of {want} events delivered",
            distinct.len()
        );
        if let Some(batch) = consumer.next_batch_within(left).await.expect("next batch") {
            for e in &batch.events {
                got.push(e.envelope.id);
                distinct.insert(e.envelope.id);
            }
            consumer.commit(&batch).await.expect("commit");
        }
    }
    got
}

async fn consumer_sees_events_in_commit_safe_order(store: &TestStore) {
    let w = &store.walle;
    let events: Vec<Envelope> = (0..50).map(notice).collect();
    w.append_batch(&events[..20]).await.unwrap();
    for e in &events[20..] {
        w.append(e).await.unwrap();
    }
    let reader = store.second_handle().await;
    let mut c = Consumer::open(&reader, "ordered", opts(7, 200))
        .await
        .unwrap();
    let got = drain(&mut c, 50, Duration::from_secs(10)).await;
    assert_eq!(
        got,
        events.iter().map(|e| e.id).collect::<Vec<_>>(),
        "same order, no gaps, no repeats"
    );
    settle(w).await;
    let stored = w.fetch_events(Default::default(), 1).await.unwrap();
    assert_eq!(
        stored[0].envelope, events[0],
        "the envelope round-trips unchanged"
    );
    assert_eq!(c.lag().await.unwrap().events, 0);

    // A reopened consumer starts at its stored offset; a Latest consumer only sees new events.
    drop(c);
    let mut again = Consumer::open(&reader, "ordered", opts(100, 50))
        .await
        .unwrap();
    assert!(
        again
            .next_batch_within(Duration::from_millis(200))
            .await
            .unwrap()
            .is_none()
    );
    let mut latest = Consumer::open(
        &reader,
        "latecomer",
        ConsumerOptions {
            start: StartFrom::Latest,
            ..opts(100, 50)
        },
    )
    .await
    .unwrap();
    let extra = notice(51);
    w.append(&extra).await.unwrap();
    let b = latest
        .next_batch_within(Duration::from_secs(5))
        .await
        .unwrap()
        .expect("new event");
    assert_eq!(
        b.events.iter().map(|e| e.envelope.id).collect::<Vec<_>>(),
        [extra.id]
    );
    let b = again
        .next_batch_within(Duration::from_secs(5))
        .await
        .unwrap()
        .expect("new event");
    assert_eq!(b.events[0].envelope.id, extra.id);
    // An unknown consumer has no lag to report.
    assert_eq!(
        w.consumer_lag("nobody").await.unwrap_err().code(),
        "not_found"
    );
    if store.is_pg() {
        reader.close().await;
    }
}

/// 8 writers, a random delay between insert and commit, 20% rollbacks, ≥ 20,000 committed events.
async fn gap_torture_loses_nothing(store: &TestStore) {
    const WRITERS: usize = 8;
    const TARGET: usize = 20_000;
    // SQLite serialises writers (BEGIN IMMEDIATE), so its in-transaction delay must be short to
    // keep the test bounded; PostgreSQL writers overlap and commit out of xid order.
    let max_delay_us: u64 = if store.is_pg() { 8_000 } else { 300 };
    let committed = Arc::new(Mutex::new(Vec::<Uuid>::new()));
    let rolled_back = Arc::new(Mutex::new(HashSet::<Uuid>::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));

    let reader = store.second_handle().await;
    let mut consumer = Consumer::open(&reader, "torture", opts(1000, 100))
        .await
        .unwrap();
    let started = Instant::now();
    let mut writers = Vec::new();
    for _ in 0..WRITERS {
        let (w, committed, rolled_back, next) = (
            store.walle.clone(),
            committed.clone(),
            rolled_back.clone(),
            next.clone(),
        );
        writers.push(tokio::spawn(async move {
            while next.load(std::sync::atomic::Ordering::Relaxed) < TARGET {
                let n: usize = fastrand::usize(1..=8);
                let events: Vec<Envelope> = (0..n).map(notice).collect();
                let mut tx = w.begin_events().await.expect("begin");
                for e in &events {
                    tx.append(e).await.expect("append");
                }
                let delay = fastrand::u64(0..=max_delay_us);
                tokio::time::sleep(Duration::from_micros(delay)).await;
                if fastrand::f64() < 0.2 {
                    tx.rollback().await.expect("rollback");
                    rolled_back.lock().await.extend(events.iter().map(|e| e.id));
                } else {
                    tx.commit().await.expect("commit");
                    next.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                    committed.lock().await.extend(events.iter().map(|e| e.id));
                }
            }
        }));
    }
    // Consume while the writers run, then until everything committed has arrived.
    let mut delivered = Vec::new();
    let mut last_cursor = Default::default();
    let all_written = futures::future::join_all(writers);
    tokio::pin!(all_written);
    let mut writers_done = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if writers_done && delivered.len() >= committed.lock().await.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "torture did not finish: {} delivered",
            delivered.len()
        );
        tokio::select! {
            results = &mut all_written, if !writers_done => {
                for r in results { r.expect("writer panicked"); }
                writers_done = true;
            }
            batch = consumer.next_batch_within(Duration::from_millis(500)) => {
                if let Some(batch) = batch.expect("next batch") {
                    for e in &batch.events {
                        assert!(e.cursor > last_cursor, "cursor went backwards");
                        last_cursor = e.cursor;
                        delivered.push(e.envelope.id);
                    }
                    consumer.commit(&batch).await.expect("commit");
                }
            }
        }
    }
    // A short extra wait: anything else that arrives now would be a rolled-back or duplicate event.
    if let Some(batch) = consumer
        .next_batch_within(Duration::from_millis(300))
        .await
        .unwrap()
    {
        delivered.extend(batch.events.iter().map(|e| e.envelope.id));
    }
    let committed = committed.lock().await;
    let rolled_back = rolled_back.lock().await;
    let mut dedup = Dedup::new(delivered.len());
    let unique: Vec<Uuid> = delivered
        .iter()
        .copied()
        .filter(|id| dedup.first_time(*id))
        .collect();
    let delivered_set: HashSet<Uuid> = unique.iter().copied().collect();
    let lost = committed
        .iter()
        .filter(|id| !delivered_set.contains(id))
        .count();
    let rolled_back_delivered = delivered_set.intersection(&rolled_back).count();
    let raw_duplicates = delivered.len() - unique.len();
    let unique_again: HashSet<Uuid> = unique.iter().copied().collect();
    println!(
        "gap torture ({:?}): committed {} rolled back {} delivered {} lost {lost} \
         rolled-back delivered {rolled_back_delivered} raw duplicates {raw_duplicates} in {:?}",
        store.kind,
        committed.len(),
        rolled_back.len(),
        delivered.len(),
        started.elapsed()
    );
    assert!(
        committed.len() >= TARGET,
        "only {} committed",
        committed.len()
    );
    assert!(
        !rolled_back.is_empty(),
        "the torture must roll some transactions back"
    );
    assert_eq!(lost, 0, "lost events");
    assert_eq!(rolled_back_delivered, 0, "rolled-back events delivered");
    assert_eq!(
        unique_again.len(),
        unique.len(),
        "duplicates after deduplication"
    );
    assert_eq!(unique.len(), committed.len());
    if store.is_pg() {
        reader.close().await;
    }
}

async fn consumer_killed_mid_batch_resumes_from_offset(store: &TestStore) {
    let w = &store.walle;
    let events: Vec<Envelope> = (0..1000).map(notice).collect();
    for chunk in events.chunks(100) {
        w.append_batch(chunk).await.unwrap();
    }
    // The consumer's effect is durable and keyed by event id (the dedup mechanism for consumers
    // with durable effects); it survives the crash, the consumer's memory does not.
    let mut effects: Vec<Uuid> = Vec::new();
    let mut applied: HashSet<Uuid> = HashSet::new();
    {
        let mut c = Consumer::open(w, "crashy", opts(100, 50)).await.unwrap();
        for _ in 0..3 {
            let b = c.next_batch().await.unwrap();
            for e in &b.events {
                if applied.insert(e.envelope.id) {
                    effects.push(e.envelope.id);
                }
            }
            c.commit(&b).await.unwrap();
        }
        let b = c.next_batch().await.unwrap();
        for e in &b.events[..50] {
            if applied.insert(e.envelope.id) {
                effects.push(e.envelope.id);
            }
        }
        // Killed here: half the batch applied, its offset never committed.
    }
    let mut c = Consumer::open(w, "crashy", opts(100, 50)).await.unwrap();
    let first = c.next_batch().await.unwrap();
    assert_eq!(
        first.events[0].envelope.id, events[300].id,
        "resumes right after the committed offset"
    );
    let mut redelivered = 0;
    let mut batch = first;
    // Other tests' transactions on the same cluster can hold the horizon for a moment, so wait
    // for the known total instead of for a quiet period.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for e in &batch.events {
            if applied.insert(e.envelope.id) {
                effects.push(e.envelope.id);
            } else {
                redelivered += 1;
            }
        }
        c.commit(&batch).await.unwrap();
        if applied.len() == events.len() {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        batch = c.next_batch_within(left).await.unwrap().unwrap_or_else(|| {
            panic!(
                "resume stalled at {} of {} events",
                applied.len(),
                events.len()
            )
        });
    }
    assert!(
        c.next_batch_within(Duration::from_millis(200))
            .await
            .unwrap()
            .is_none(),
        "nothing extra"
    );
    assert_eq!(
        redelivered, 50,
        "exactly the uncommitted half batch came again"
    );
    assert_eq!(
        effects,
        events.iter().map(|e| e.id).collect::<Vec<_>>(),
        "every event applied once, in order"
    );
    assert_eq!(c.lag().await.unwrap().events, 0);

    // A failed handler can rewind to the stored offset and get the uncommitted events again.
    let extra: Vec<Envelope> = (0..5).map(notice).collect();
    w.append_batch(&extra).await.unwrap();
    let b1 = c.next_batch().await.unwrap();
    c.rewind();
    let b2 = c.next_batch().await.unwrap();
    assert_eq!(
        b1.events.iter().map(|e| e.envelope.id).collect::<Vec<_>>(),
        b2.events.iter().map(|e| e.envelope.id).collect::<Vec<_>>()
    );
}

async fn retention_spares_a_lagging_consumer(store: &TestStore) {
    let w = &store.walle;
    let mut slow = Consumer::open(w, "slow", opts(2000, 50)).await.unwrap();
    let mut fast = Consumer::open(w, "fast", opts(5000, 50)).await.unwrap();
    let events: Vec<Envelope> = (0..12_000).map(notice).collect();
    for chunk in events.chunks(500) {
        w.append_batch(chunk).await.unwrap();
    }
    // Audit events (the trading record) have their own, longer retention.
    let audit = Envelope::new(
        "run.StatusChanged",
        "test",
        json!({"run_id": 1, "status": "running"}),
    )
    .unwrap();
    w.append(&audit).await.unwrap();
    drain(&mut fast, 12_001, Duration::from_secs(30)).await;
    let b = slow.next_batch().await.unwrap();
    assert_eq!(b.events.len(), 2000);
    slow.commit(&b).await.unwrap();
    settle(w).await;
    assert_eq!(
        slow.lag().await.unwrap().events,
        10_001,
        "slow is 10,000 events behind"
    );
    assert!(w.record_outbox_metrics().await.is_ok());

    tokio::time::sleep(Duration::from_millis(20)).await;
    let everything_old = Retention {
        events: Duration::ZERO,
        audit: Duration::from_secs(86_400),
        ..Retention::default()
    };
    assert_eq!(w.purge_horizon().await.unwrap(), 0, "nothing purged yet");
    let deleted = w.purge_events(everything_old, 700).await.unwrap();
    assert_eq!(
        deleted.count, 2000,
        "only what every consumer has committed"
    );
    assert_eq!(
        w.purge_horizon().await.unwrap(),
        b.end.id,
        "the horizon is the last deleted id: the slow consumer's committed offset"
    );
    assert_eq!(w.count_events().await.unwrap(), 10_001);

    // The slow consumer resumes with nothing lost.
    let rest = drain(&mut slow, 10_001, Duration::from_secs(30)).await;
    let expected: Vec<Uuid> = events[2000..]
        .iter()
        .map(|e| e.id)
        .chain([audit.id])
        .collect();
    assert_eq!(rest, expected);

    let deleted = w.purge_events(everything_old, 700).await.unwrap();
    assert_eq!(deleted.count, 10_000, "all but the audit event");
    let (first, last) = deleted.ids.expect("a range was deleted");
    assert!(first > b.end.id && last >= first + 9_999, "{first}..{last}");
    assert_eq!(w.purge_horizon().await.unwrap(), last);
    assert_eq!(w.count_events().await.unwrap(), 1, "table size is bounded");
    let all_old = Retention {
        events: Duration::ZERO,
        audit: Duration::ZERO,
        ..Retention::default()
    };
    // A consumer that was never advanced pins everything after its offset.
    let pinned = Consumer::open(w, "new-and-idle", opts(10, 50))
        .await
        .unwrap();
    assert_eq!(w.purge_events(all_old, 700).await.unwrap().count, 0);
    drop(pinned);
    w.drop_consumer("new-and-idle").await.unwrap();
    assert_eq!(w.purge_events(all_old, 700).await.unwrap().count, 1);
    assert_eq!(w.count_events().await.unwrap(), 0);
    // AUTOINCREMENT / identity: ids are never reused after the newest rows were deleted.
    let after = notice(0);
    w.append(&after).await.unwrap();
    let b = slow
        .next_batch_within(Duration::from_secs(5))
        .await
        .unwrap()
        .expect("new event after purge");
    assert_eq!(b.events[0].envelope.id, after.id);
}

async fn retention_loop_runs_until_stopped(store: &TestStore) {
    let w = &store.walle;
    let events: Vec<Envelope> = (0..10).map(notice).collect();
    w.append_batch(&events).await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let retention = Retention {
        events: Duration::ZERO,
        audit: Duration::from_secs(86_400),
        ..Retention::default()
    };
    let task = tokio::spawn({
        let (w, stop) = (w.clone(), stop.clone());
        async move {
            w.run_retention(retention, Duration::from_millis(20), stop)
                .await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while w.count_events().await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "the retention loop never purged");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("loop stops")
        .unwrap();
}

async fn reset_offsets_moves_consumers_to_the_head(store: &TestStore) {
    let w = &store.walle;
    let behind = Consumer::open(w, "behind", opts(100, 50)).await.unwrap();
    w.append_batch(&(0..30).map(notice).collect::<Vec<_>>())
        .await
        .unwrap();
    settle(w).await;
    assert_eq!(w.consumer_lag("behind").await.unwrap().events, 30);
    assert_eq!(w.reset_offsets_to_head().await.unwrap(), 1);
    drop(behind);
    let mut c = Consumer::open(w, "behind", opts(100, 50)).await.unwrap();
    assert_eq!(w.consumer_lag("behind").await.unwrap().events, 0);
    let fresh = notice(99);
    w.append(&fresh).await.unwrap();
    let b = c
        .next_batch_within(Duration::from_secs(5))
        .await
        .unwrap()
        .expect("new event");
    assert_eq!(
        b.events.iter().map(|e| e.envelope.id).collect::<Vec<_>>(),
        [fresh.id]
    );
}

/// PostgreSQL-only behaviour: the listener and the xid horizon.
mod postgres_only {
    use super::*;

    async fn store() -> TestStore {
        TestStore::new(Kind::Pg).await
    }

    async fn terminate_listeners(admin: &Walle) -> u64 {
        let pool = admin.pg_pool().expect("postgres");
        let (n,): (i64,) = sqlx::query_as(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity \
             where application_name = $1 and datname = current_database()",
        )
        .bind(weaver::walle::LISTENER_APPLICATION_NAME)
        .fetch_one(pool)
        .await
        .expect("terminate listeners");
        n as u64
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn listener_killed_repeatedly_misses_nothing() {
        let store = store().await;
        let reader = store.second_handle().await;
        // The poll is far longer than the test: only doorbells and the catch-up after each
        // re-LISTEN can deliver, so a listener that failed to recover would time the test out.
        let mut consumer = Consumer::open(&reader, "killed", opts(500, 600_000))
            .await
            .unwrap();
        let writer = store.walle.clone();
        let produced = tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..3000 {
                let e = notice(i);
                writer.append(&e).await.expect("append");
                ids.push(e.id);
                if i % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            ids
        });
        let killer_store = store.walle.clone();
        let killer = tokio::spawn(async move {
            let mut kills = 0;
            for _ in 0..25 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                kills += terminate_listeners(&killer_store).await;
            }
            kills
        });
        let mut delivered = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(produced.is_finished() && killer.is_finished()) || delivered.len() < 3000 {
            assert!(
                Instant::now() < deadline,
                "stuck after {} events",
                delivered.len()
            );
            if let Some(b) = consumer
                .next_batch_within(Duration::from_millis(200))
                .await
                .unwrap()
            {
                delivered.extend(b.events.iter().map(|e| e.envelope.id));
                consumer.commit(&b).await.unwrap();
            } else if produced.is_finished() && killer.is_finished() && delivered.len() < 3000 {
                // No poll will rescue it: give the doorbell path a bounded grace period only.
                let b = consumer
                    .next_batch_within(Duration::from_secs(10))
                    .await
                    .unwrap();
                let b = b.unwrap_or_else(|| {
                    panic!("missed events: {} of 3000 delivered", delivered.len())
                });
                delivered.extend(b.events.iter().map(|e| e.envelope.id));
                consumer.commit(&b).await.unwrap();
            }
        }
        let ids = produced.await.unwrap();
        let kills = killer.await.unwrap();
        let stats = consumer.stats();
        println!(
            "listener kill: kills {kills}, stats {stats:?}, delivered {}",
            delivered.len()
        );
        assert_eq!(delivered, ids, "0 missed, 0 duplicated, in order");
        assert!(kills >= 10, "the listener was killed only {kills} times");
        assert!(
            stats.listener_reconnects >= kills.min(10),
            "listener reconnects {stats:?}"
        );
        assert_eq!(
            stats.poll_wakeups, 0,
            "the backstop poll never fired: doorbells did the work"
        );
        drop(consumer);
        reader.close().await;
        store.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn an_offset_from_another_cluster_replays_instead_of_skipping() {
        let store = store().await;
        let w = &store.walle;
        let events: Vec<Envelope> = (0..20).map(notice).collect();
        w.append_batch(&events).await.unwrap();
        let mut c = Consumer::open(w, "restored", opts(100, 50)).await.unwrap();
        let b = c.next_batch().await.unwrap();
        c.commit(&b).await.unwrap();
        drop(c);
        // What a restore into a fresh cluster leaves behind: an offset with an xid from the
        // old cluster, far above anything this cluster has assigned.
        sqlx::query("update consumer_offsets set last_xid = '900000000000'::xid8 where consumer = 'restored'")
            .execute(w.pg_pool().expect("postgres"))
            .await
            .unwrap();
        let mut c = Consumer::open(w, "restored", opts(100, 50)).await.unwrap();
        assert_eq!(
            c.committed(),
            Default::default(),
            "rewound to the beginning"
        );
        let b = c.next_batch().await.unwrap();
        assert_eq!(
            b.events.iter().map(|e| e.envelope.id).collect::<Vec<_>>(),
            events.iter().map(|e| e.id).collect::<Vec<_>>(),
            "every event is delivered again, none skipped"
        );
        c.commit(&b).await.unwrap();
        drop(c);
        store.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn weaver_sessions_cannot_hold_the_horizon_forever() {
        let store = store().await;
        let pool = store.walle.pg_pool().expect("postgres");
        let (statement, idle, app): (String, String, String) = sqlx::query_as(
            "select current_setting('statement_timeout'), \
             current_setting('idle_in_transaction_session_timeout'), current_setting('application_name')",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(
            (statement.as_str(), idle.as_str(), app.as_str()),
            ("30s", "1min", "weaver")
        );
        store.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn late_commit_stalls_consumers_but_is_never_skipped() {
        let store = store().await;
        let w = &store.walle;
        let mut consumer = Consumer::open(w, "stalled", opts(100, 100)).await.unwrap();
        // T1 takes the lower xid and commits last.
        let early = notice(1);
        let mut t1 = w.begin_events().await.unwrap();
        t1.append(&early).await.unwrap();
        let late = notice(2);
        w.append(&late).await.unwrap();
        assert!(
            consumer
                .next_batch_within(Duration::from_millis(600))
                .await
                .unwrap()
                .is_none(),
            "the later commit must wait for the open older transaction"
        );
        let stall = w.horizon_stall_seconds().await.unwrap();
        assert!(stall > 0.5, "horizon stall gauge {stall}");
        assert_eq!(
            consumer.lag().await.unwrap().events,
            0,
            "nothing fetchable while stalled"
        );
        t1.commit().await.unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            let b = consumer
                .next_batch_within(Duration::from_secs(5))
                .await
                .unwrap()
                .expect("released");
            got.extend(b.events.iter().map(|e| e.envelope.id));
            consumer.commit(&b).await.unwrap();
        }
        assert_eq!(
            got,
            [early.id, late.id],
            "xid order: the early transaction first, none skipped"
        );

        // A long transaction that rolls back sends no doorbell; the consumer still moves on.
        let mut t3 = w.begin_events().await.unwrap();
        t3.append(&notice(3)).await.unwrap();
        let after = notice(4);
        w.append(&after).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        t3.rollback().await.unwrap();
        let b = consumer
            .next_batch_within(Duration::from_secs(5))
            .await
            .unwrap()
            .expect("after rollback");
        assert_eq!(
            b.events.iter().map(|e| e.envelope.id).collect::<Vec<_>>(),
            [after.id]
        );
        drop(consumer);
        store.finish().await;
    }
}

/// The queries a consumer runs on every wake-up must not scan the outbox: it holds a week of
/// events by default, and one sequential scan there stalls every consumer. (A bare `limit 1`
/// once made `has_events_after` a sequential scan that cost the outbox benchmark 50 ms at p99.)
async fn consumer_queries_stay_index_probes_on_a_large_outbox(store: &TestStore) {
    let w = &store.walle;
    let events: Vec<Envelope> = (0..20_000).map(notice).collect();
    for chunk in events.chunks(1000) {
        w.append_batch(chunk).await.unwrap();
    }
    if let Some(pool) = w.pg_pool() {
        // What autovacuum would have done by now in production: real row counts for the planner.
        sqlx::query("analyze outbox").execute(pool).await.unwrap();
    }
    let plans = w.query_plans().await.unwrap();
    let names: Vec<&str> = plans.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["fetch", "has_events_after", "head", "lag"]);
    for (name, plan) in &plans {
        if store.is_pg() {
            assert!(
                !plan.contains("Seq Scan") && plan.contains("outbox_cursor_idx"),
                "{name} must use the cursor index, got:\n{plan}"
            );
        } else {
            assert!(
                !plan.contains("TEMP B-TREE"),
                "{name} must not sort, got:\n{plan}"
            );
            if *name != "head" {
                assert!(
                    plan.contains("SEARCH outbox USING INTEGER PRIMARY KEY"),
                    "{name} must seek by id, got:\n{plan}"
                );
            }
        }
    }
}
