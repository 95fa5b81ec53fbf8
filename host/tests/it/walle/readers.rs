//! SQLite reader connections come and go with the load (issue #20): a burst of reads opens up
//! to eight, each a thread with its own caches, and once the burst is over the pool closes all
//! but one after `reader_idle_timeout`. Before, they stayed open for sqlx's default ten minutes,
//! part of what a server that had finished 100 runs still held.

use std::time::{Duration, Instant};

use weaver::walle::{DbConfig, Walle};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sqlite_readers_beyond_the_first_are_closed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = DbConfig::sqlite_in(dir.path());
    config.reader_idle_timeout = Duration::from_millis(500);
    let walle = Walle::connect(&config).await.expect("connect");
    let readers = walle
        .sqlite_readers()
        .expect("a SQLite store has a reader pool")
        .clone();

    // A burst: five readers held at once.
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(readers.acquire().await.expect("acquire a reader"));
    }
    assert_eq!(readers.size(), 5, "the burst opened five readers");
    drop(held);

    let deadline = Instant::now() + Duration::from_secs(10);
    while readers.size() > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        readers.size(),
        1,
        "idle readers beyond the first were not closed within 10 s of a 0.5 s idle timeout"
    );
    // The one kept still answers.
    let n: i64 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&readers)
        .await
        .expect("read after the shrink");
    assert_eq!(n, 1);
    walle.close().await;
}
