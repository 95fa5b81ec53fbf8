//! Lease contract (ADR 0023), on both stores: a sweep's chunks are leased one worker at a time,
//! renewed only by their holder, taken over once the lease runs out (the old holder then learns
//! it lost them), closed for good when done, and not handed out for a cancelled sweep; whole
//! jobs the same way; a component's bytes are stored once by sha256.

use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use weaver::walle::{JobKind, LeaseState, NewStrategy, SweepStatus, Walle};

use super::support::{TestStore, contract};

contract!(
    chunks_are_leased_once_renewed_by_their_holder_and_taken_over_when_the_lease_runs_out,
    jobs_are_leased_once_and_closed_for_good,
    components_are_stored_once_by_sha256,
    idle_workers_are_woken_when_work_is_handed_out_or_given_back,
    of_two_workers_finishing_the_last_chunks_at_once_exactly_one_ends_the_sweep
);

async fn sweep(w: &Walle, total: i64) -> i64 {
    let new = NewStrategy {
        sha256: "ab".repeat(32),
        name: "sma-cross".into(),
        version: "1".into(),
        language: "rust".into(),
        size_bytes: 10,
    };
    let sid = w.insert_strategy(&new, None).await.expect("strategy").0.id;
    w.insert_sweep(sid, &json!({}), total)
        .await
        .expect("sweep")
        .id
}

async fn chunks_are_leased_once_renewed_by_their_holder_and_taken_over_when_the_lease_runs_out(
    store: &TestStore,
) {
    let w = &store.walle;
    let id = sweep(w, 3).await;
    // Two workers starting it at once: one changes it (and tells it), the other finds it started.
    assert!(w.start_sweep(id).await.unwrap());
    assert!(!w.start_sweep(id).await.unwrap());
    assert_eq!(
        w.sweep(id).await.unwrap().unwrap().status,
        SweepStatus::Running
    );
    assert_eq!(w.insert_sweep_chunks(id, 3).await.unwrap(), 3);
    assert_eq!(w.insert_sweep_chunks(id, 3).await.unwrap(), 0, "repeatable");
    assert!(w.sweep_has_chunks(id).await.unwrap());
    let a = w
        .claim_sweep_chunk("a", 60)
        .await
        .unwrap()
        .expect("a's chunk");
    let b = w
        .claim_sweep_chunk("b", 60)
        .await
        .unwrap()
        .expect("b's chunk");
    assert_eq!((a.chunk, a.first_idx, a.end_idx, a.attempts), (0, 0, 1, 1));
    assert_eq!((b.chunk, b.first_idx, b.end_idx), (1, 1, 2));
    assert_eq!(
        w.renew_chunk_lease(&a, "a", 60).await.unwrap(),
        LeaseState::Held
    );
    assert_eq!(
        w.renew_chunk_lease(&a, "b", 60).await.unwrap(),
        LeaseState::Lost,
        "not b's"
    );
    assert!(
        !w.finish_chunk(&a, "a").await.unwrap(),
        "chunks 1 and 2 are open"
    );
    // A lease of 0 s runs out at once: the next claim takes the chunk over.
    let c = w
        .claim_sweep_chunk("c", 0)
        .await
        .unwrap()
        .expect("c's chunk");
    assert_eq!(c.chunk, 2);
    let d = w
        .claim_sweep_chunk("d", 60)
        .await
        .unwrap()
        .expect("c's chunk, ran out");
    assert_eq!((d.chunk, d.attempts), (2, 2));
    assert_eq!(
        w.renew_chunk_lease(&c, "c", 60).await.unwrap(),
        LeaseState::Lost
    );
    assert!(
        !w.finish_chunk(&c, "c").await.unwrap(),
        "c no longer holds it"
    );
    assert!(
        w.claim_sweep_chunk("e", 60).await.unwrap().is_none(),
        "nothing open"
    );
    let counts = w.sweep_chunk_counts(id).await.unwrap();
    assert_eq!(
        (counts.done, counts.leased, counts.retries),
        (1, 2, 1),
        "{counts:?}"
    );
    // A chunk given back is claimed again at once.
    w.release_chunk(&b, "b").await.unwrap();
    let again = w
        .claim_sweep_chunk("e", 60)
        .await
        .unwrap()
        .expect("b's chunk");
    assert_eq!(
        (again.chunk, again.attempts),
        (1, 1),
        "given back, not failed"
    );
    assert!(!w.finish_chunk(&again, "e").await.unwrap());
    assert!(
        w.finish_chunk(&d, "d").await.unwrap(),
        "the last chunk ends the sweep"
    );
    // A cancelled sweep's open chunks are not handed out, and their holders are told.
    let other = sweep(w, 2).await;
    w.insert_sweep_chunks(other, 2).await.unwrap();
    let held = w.claim_sweep_chunk("a", 60).await.unwrap().expect("chunk");
    assert_eq!(held.sweep_id, other);
    w.set_sweep_status(other, SweepStatus::Cancelled, None)
        .await
        .unwrap();
    assert!(w.claim_sweep_chunk("b", 60).await.unwrap().is_none());
    assert_eq!(
        w.renew_chunk_lease(&held, "a", 60).await.unwrap(),
        LeaseState::SweepEnded
    );
}

async fn jobs_are_leased_once_and_closed_for_good(store: &TestStore) {
    let w = &store.walle;
    w.insert_job_lease(JobKind::Backtest, 7).await.unwrap();
    w.insert_job_lease(JobKind::Backtest, 7).await.unwrap();
    let a = w.claim_job("a", 0).await.unwrap().expect("job");
    assert_eq!((a.kind, a.job_id, a.attempts), (JobKind::Backtest, 7, 1));
    let b = w
        .claim_job("b", 60)
        .await
        .unwrap()
        .expect("ran out: taken over");
    assert_eq!(b.attempts, 2);
    assert!(w.claim_job("c", 60).await.unwrap().is_none());
    // No backtest 7 exists: its status reads as ended, so its holder stops.
    assert_eq!(
        w.renew_job_lease(&b, "b", 60).await.unwrap(),
        LeaseState::SweepEnded
    );
    assert_eq!(
        w.renew_job_lease(&a, "a", 60).await.unwrap(),
        LeaseState::Lost
    );
    w.release_job(&b, "b").await.unwrap();
    let c = w.claim_job("c", 60).await.unwrap().expect("given back");
    assert_eq!(c.attempts, 2, "given back, not failed");
    w.close_job_lease(JobKind::Backtest, 7).await.unwrap();
    assert!(
        w.claim_job("d", 0).await.unwrap().is_none(),
        "closed for good"
    );
    assert_eq!(
        w.job_lease(JobKind::Backtest, 7).await.unwrap(),
        Some(("done".to_owned(), Some("c".to_owned()), 2))
    );
    assert_eq!(w.job_lease(JobKind::WalkForward, 7).await.unwrap(), None);
}

async fn components_are_stored_once_by_sha256(store: &TestStore) {
    let w = &store.walle;
    let bytes = b"\0asm component bytes".to_vec();
    let sha = hex::encode(Sha256::digest(&bytes));
    assert_eq!(w.component(&sha).await.unwrap(), None);
    assert!(w.put_component(&sha, &bytes).await.unwrap());
    assert!(!w.put_component(&sha, &bytes).await.unwrap(), "stored once");
    assert_eq!(w.component(&sha).await.unwrap(), Some(bytes));
    // Bytes that do not hash to their key are refused on read.
    let wrong = "00".repeat(32);
    w.put_component(&wrong, b"other").await.unwrap();
    let e = w.component(&wrong).await.expect_err("corrupt");
    assert_eq!(e.code(), "corrupt_row");
}

/// PostgreSQL's LISTEN/NOTIFY wakes idle workers at once (SQLite has no workers: no doorbell).
async fn idle_workers_are_woken_when_work_is_handed_out_or_given_back(store: &TestStore) {
    let w = &store.walle;
    let stop = CancellationToken::new();
    let Some(bell) = w.work_doorbell(stop.clone()) else {
        assert_eq!(
            w.backend_name(),
            "sqlite",
            "only SQLite has no work doorbell"
        );
        return;
    };
    let within = Duration::from_secs(10);
    // Rung once listening (the catch-up a worker does after every reconnect).
    timeout(within, bell.rung()).await.expect("listening");
    let id = sweep(w, 2).await;
    assert!(
        timeout(Duration::from_millis(300), bell.rung())
            .await
            .is_err(),
        "rung with no work handed out"
    );
    w.insert_sweep_chunks(id, 2).await.unwrap();
    timeout(within, bell.rung())
        .await
        .expect("rung for the new chunks");
    let lease = w.claim_sweep_chunk("a", 60).await.unwrap().unwrap();
    w.release_chunk(&lease, "a").await.unwrap();
    timeout(within, bell.rung())
        .await
        .expect("rung for the chunk given back");
    w.insert_job_lease(JobKind::Backtest, 1).await.unwrap();
    timeout(within, bell.rung())
        .await
        .expect("rung for the new job");
    stop.cancel();
}

/// The last two chunks finished at the same moment by two workers: one of them (never none,
/// never both) is told the sweep is complete and ends it. Repeated, since it is a race.
async fn of_two_workers_finishing_the_last_chunks_at_once_exactly_one_ends_the_sweep(
    store: &TestStore,
) {
    let w = &store.walle;
    for round in 0..40 {
        let id = sweep(w, 2).await;
        w.insert_sweep_chunks(id, 2).await.unwrap();
        let a = w
            .claim_sweep_chunk("a", 60)
            .await
            .unwrap()
            .expect("a's chunk");
        let b = w
            .claim_sweep_chunk("b", 60)
            .await
            .unwrap()
            .expect("b's chunk");
        let (ended_a, ended_b) = tokio::join!(w.finish_chunk(&a, "a"), w.finish_chunk(&b, "b"));
        let ended = [ended_a.unwrap(), ended_b.unwrap()];
        assert_eq!(
            ended.iter().filter(|e| **e).count(),
            1,
            "round {round}: who ends the sweep: {ended:?}"
        );
    }
}
