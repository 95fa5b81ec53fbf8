//! Outbox figures: appends/s (one event per transaction, and 100 per transaction) and
//! commit→consumer latency p50/p99 at a paced rate, on PostgreSQL (a fresh database on
//! `WEAVER_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`) and on SQLite
//! (a temp file). Run with `cargo bench --bench outbox`. Settings:
//! - `OUTBOX_BENCH_SECONDS`: length of the latency run (default 5);
//! - `OUTBOX_BENCH_RATE`: the paced rate in events/s (default 5,000);
//! - `OUTBOX_BENCH_BACKEND=postgres|sqlite`: one backend only;
//! - `OUTBOX_BENCH_POLL_MS`: the consumer's backstop poll (default 500 ms);
//! - `OUTBOX_BENCH_SAMPLE=1`: also report which backends held the snapshot horizon;
//! - `OUTBOX_BENCH_TIMELINE=1`: print every 100 ms window that had an event slower than 20 ms
//!   (a steady tail and one stall look the same in a percentile, not here).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::sync::Mutex;
use uuid::Uuid;
use weaver::events::Envelope;
use weaver::walle::{Consumer, ConsumerOptions, DbConfig, StartFrom, Walle};

const WRITERS: usize = 8;

fn notice(i: usize) -> Envelope {
    Envelope::new(
        "ui.Notice",
        "bench",
        serde_json::json!({"level": "info", "message": format!("event {i}")}),
    )
    .expect("envelope")
}

struct Target {
    name: &'static str,
    config: DbConfig,
    drop_pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

async fn postgres() -> Target {
    let admin = std::env::var("WEAVER_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {admin}: {e}\nStart it with \
             pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    });
    let name = format!("weaver_bench_{}", Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut conn)
        .await
        .expect("create bench database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    let config = DbConfig::with_url(&format!("{base}/{name}"));
    Target {
        name: "postgres",
        config,
        drop_pg: Some((admin, name)),
        _dir: None,
    }
}

fn sqlite() -> Target {
    let dir = tempfile::tempdir().expect("temp dir");
    Target {
        name: "sqlite",
        config: DbConfig::sqlite_in(dir.path()),
        drop_pg: None,
        _dir: Some(dir),
    }
}

/// `total` events appended by `WRITERS` tasks, `per_tx` events per transaction; events/s.
async fn appends(walle: &Walle, total: usize, per_tx: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let w = walle.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..total / WRITERS / per_tx {
                let batch: Vec<Envelope> = (0..per_tx).map(notice).collect();
                w.append_batch(&batch).await.expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// An open-loop load of `rate` events/s for `seconds` (one event per append, each append its own
/// task, as many independent producers would be), with a consumer on its own handle; returns
/// (achieved rate, sorted commit→consume latencies).
async fn latency(
    writer: &Walle,
    reader: &Walle,
    rate: usize,
    seconds: u64,
) -> (f64, Vec<Duration>) {
    let committed: Arc<Mutex<HashMap<Uuid, Instant>>> = Arc::default();
    let opts = ConsumerOptions {
        batch_size: 1000,
        poll_interval: Duration::from_millis(
            std::env::var("OUTBOX_BENCH_POLL_MS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(500),
        ),
        start: StartFrom::Latest,
    };
    let mut consumer = Consumer::open(reader, "bench-latency", opts)
        .await
        .expect("consumer");
    // Ticks of 1 ms, rate/1000 events each; at most 512 appends in flight.
    let per_tick = (rate / 1000).max(1);
    let total = per_tick * 1000 * seconds as usize;
    let in_flight = Arc::new(tokio::sync::Semaphore::new(512));
    let started = Instant::now();
    let (w, committed_w) = (writer.clone(), committed.clone());
    let producer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut tasks = Vec::with_capacity(total);
        for i in 0..total / per_tick {
            tick.tick().await;
            for j in 0..per_tick {
                let permit = in_flight.clone().acquire_owned().await.expect("semaphore");
                let (w, committed) = (w.clone(), committed_w.clone());
                tasks.push(tokio::spawn(async move {
                    let e = notice(i * per_tick + j);
                    w.append(&e).await.expect("append");
                    committed.lock().await.insert(e.id, Instant::now());
                    drop(permit);
                }));
            }
        }
        for t in tasks {
            t.await.expect("append task");
        }
    });
    // Who holds the horizon: with OUTBOX_BENCH_SAMPLE=1, sample the oldest xid-holding backend
    // of the cluster every 5 ms. Off by default: 200 queries/s on pg_stat_activity cost this
    // 2-core machine enough CPU to move the tail it is meant to explain.
    let sample = std::env::var("OUTBOX_BENCH_SAMPLE").is_ok_and(|v| v == "1");
    let sampler = reader.pg_pool().cloned().filter(|_| sample).map(|pool| {
        tokio::spawn(async move {
            let mut worst: HashMap<String, f64> = HashMap::new();
            let end = Instant::now() + Duration::from_secs(seconds);
            while Instant::now() < end {
                let row: Option<(String, f64)> = sqlx::query_as(
                    "select coalesce(nullif(application_name, ''), backend_type) || ' / ' || datname, \
                     extract(epoch from clock_timestamp() - xact_start)::float8 \
                     from pg_stat_activity where backend_xid is not null \
                     order by xact_start limit 1",
                )
                .fetch_optional(&pool)
                .await
                .ok()
                .flatten();
                if let Some((who, age)) = row {
                    let w = worst.entry(who).or_default();
                    *w = w.max(age);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            worst
        })
    });
    let mut received: Vec<(Uuid, Instant)> = Vec::with_capacity(total);
    let (mut batches, mut in_fetch, mut in_commit) = (0u32, Duration::ZERO, Duration::ZERO);
    while received.len() < total {
        let t = Instant::now();
        let batch = consumer
            .next_batch_within(Duration::from_secs(30))
            .await
            .expect("next batch")
            .expect("events stopped arriving");
        let now = Instant::now();
        in_fetch += now - t;
        received.extend(batch.events.iter().map(|e| (e.envelope.id, now)));
        consumer.commit(&batch).await.expect("commit");
        in_commit += now.elapsed();
        batches += 1;
    }
    println!(
        "  consumer: {batches} batches, mean wait+fetch {:.2} ms, mean offset commit {:.2} ms",
        in_fetch.as_secs_f64() * 1e3 / f64::from(batches.max(1)),
        in_commit.as_secs_f64() * 1e3 / f64::from(batches.max(1))
    );
    let elapsed = started.elapsed();
    producer.await.expect("producer");
    println!("  consumer wake-ups: {:?}", consumer.stats());
    if let Some(sampler) = sampler {
        let mut worst: Vec<(String, f64)> = sampler.await.expect("sampler").into_iter().collect();
        worst.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<String> = worst
            .iter()
            .take(4)
            .map(|(w, s)| format!("{w} {:.1} ms", s * 1e3))
            .collect();
        println!("  oldest xid holders seen (max age): {}", top.join("; "));
    }
    let committed = committed.lock().await;
    let mut lat: Vec<Duration> = received
        .iter()
        .filter_map(|(id, at)| committed.get(id).map(|c| at.saturating_duration_since(*c)))
        .collect();
    if std::env::var("OUTBOX_BENCH_TIMELINE").is_ok_and(|v| v == "1") {
        let mut tl: Vec<(Duration, Duration)> = received
            .iter()
            .filter_map(|(id, at)| {
                committed.get(id).map(|c| {
                    (
                        c.saturating_duration_since(started),
                        at.saturating_duration_since(*c),
                    )
                })
            })
            .collect();
        tl.sort();
        let window = |d: Duration| d.as_millis() / 100;
        for group in tl.chunk_by(|a, b| window(a.0) == window(b.0)) {
            let slow = group
                .iter()
                .filter(|(_, l)| *l > Duration::from_millis(20))
                .count();
            if slow > 0 {
                let max = group.iter().map(|(_, l)| *l).max().unwrap_or_default();
                println!(
                    "  t={:>5} ms: {slow} of {} events over 20 ms, max {:.1} ms",
                    window(group[0].0) * 100,
                    group.len(),
                    max.as_secs_f64() * 1e3
                );
            }
        }
    }
    lat.sort_unstable();
    (total as f64 / elapsed.as_secs_f64(), lat)
}

async fn bench(target: Target, seconds: u64) {
    let walle = Walle::connect(&target.config).await.expect("connect");
    // A second handle stands for another process: on PostgreSQL it is woken only by NOTIFY.
    let reader = if target.drop_pg.is_some() {
        Walle::connect(&target.config).await.expect("second handle")
    } else {
        walle.clone()
    };
    let single = appends(&walle, 16_000, 1).await;
    let batched = appends(&walle, 160_000, 100).await;
    let target_rate = std::env::var("OUTBOX_BENCH_RATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000);
    let (rate, lat) = latency(&walle, &reader, target_rate, seconds).await;
    println!(
        "outbox {:<8} appends/s: {single:>8.0} (1 event/tx, {WRITERS} writers)  {batched:>8.0} (100 events/tx)",
        target.name
    );
    println!(
        "outbox {:<8} open-loop {target_rate} ev/s (1 event per append) for {seconds} s: achieved {rate:.0} ev/s, commit->consumer p50 {:.2} ms p99 {:.2} ms max {:.2} ms ({} events)",
        target.name,
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        lat.len()
    );
    reader.close().await;
    walle.close().await;
    if let Some((admin, name)) = target.drop_pg {
        let mut conn = PgConnection::connect(&admin).await.expect("reconnect");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop database if exists {name} with (force)"
        )))
        .execute(&mut conn)
        .await
        .expect("drop bench database");
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let seconds = std::env::var("OUTBOX_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let only = std::env::var("OUTBOX_BENCH_BACKEND").unwrap_or_default();
        if only.is_empty() || only == "postgres" {
            bench(postgres().await, seconds).await;
        }
        if only.is_empty() || only == "sqlite" {
            bench(sqlite(), seconds).await;
        }
    });
}
