//! Bar-to-order latency: a bar pushed on the fake Alpaca's market-data websocket → the live
//! runner (strategy, pre-trade checks, the WallE journal on PostgreSQL, the Alpaca client) → the
//! order received by the fake. Prints p50, p99 and max over `WEAVER_BENCH_BARS` bars (default
//! 300). Goal (issue 6): p99 ≤ 5 ms.
//!
//! Needs PostgreSQL at `WEAVER_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! a fresh database is created and dropped. Run: `cargo bench --bench veda_latency`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use weaver::domain::{
    Bar, Intent, OrderIntent, OrderSize, OrderType, Side, Strategy, StrategyError, StrategyEvent,
    StrategyPayload, TimeInForce,
};
use weaver::veda::alpaca::AlpacaVenue;
use weaver::veda::alpaca::fake::{FakeAlpaca, FakeConfig};
use weaver::veda::journal::store::WalleJournal;
use weaver::veda::live::LiveRunner;
use weaver::veda::rate_limit::RequestBudget;
use weaver::veda::risk::RiskLimits;
use weaver::veda::{BarEvent, Venue};
use weaver::walle::{DbConfig, Walle};

/// Orders one unit on every bar, alternating sides so the account stays flat.
struct EveryBar(u64);

impl Strategy for EveryBar {
    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        let StrategyPayload::Bars(_) = &event.payload else {
            return Ok(vec![]);
        };
        self.0 += 1;
        Ok(vec![Intent::PlaceOrder(OrderIntent {
            symbol: "AAPL".into(),
            side: if self.0 % 2 == 1 {
                Side::Buy
            } else {
                Side::Sell
            },
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Day,
            limit_price: None,
            stop_price: None,
            size: OrderSize::Units(1.0),
            tag: None,
        })])
    }
}

fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin, String::new()),
    };
    let cut = base
        .rfind('/')
        .filter(|i| *i > "postgres://".len())
        .unwrap_or(base.len());
    format!("{}/{name}{query}", &base[..cut])
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let n: usize = std::env::var("WEAVER_BENCH_BARS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let admin = std::env::var("WEAVER_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is not reachable at {admin}: {e}; set WEAVER_TEST_PG_URL")
    });
    let name = format!("weaver_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut conn)
        .await
        .expect("create bench database");
    let walle = Walle::connect(&DbConfig::with_url(&with_database(&admin, &name)))
        .await
        .expect("connect");

    let fake = FakeAlpaca::start(FakeConfig {
        record_responses: false,
        ..FakeConfig::default()
    })
    .await
    .expect("fake");
    let config = fake.client_config().expect("config");
    let venue: Arc<dyn Venue> = Arc::new(
        AlpacaVenue::with_budget(config, RequestBudget::per_second(100_000, 100_000))
            .expect("client"),
    );
    let mut runner = LiveRunner::new(
        "latency-bench",
        vec!["AAPL".into()],
        Box::new(EveryBar(0)),
        venue.clone(),
        Arc::new(WalleJournal::new(walle.clone())),
        RiskLimits::default(),
    );
    let mut stream = venue
        .bar_stream(&["AAPL".to_owned()])
        .await
        .expect("bar stream");
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = stream.next().await {
            if let BarEvent::Bar { symbol, bar } = event {
                let placed = runner.on_bar(&symbol, bar).await;
                let _ = done_tx.send(placed.map_err(|e| e.to_string()));
            }
        }
    });

    let bar = |i: usize| Bar {
        ts: 1_704_301_200_000 + i as i64 * 60_000,
        open: 190.0,
        high: 190.5,
        low: 189.5,
        close: 190.1,
        volume: 100.0,
    };
    // Warm up until the subscription delivers (the first pushes may precede it).
    let mut i = 0;
    loop {
        fake.push_bar("AAPL", bar(i));
        i += 1;
        if tokio::time::timeout(Duration::from_millis(200), done_rx.recv())
            .await
            .is_ok()
        {
            break;
        }
        assert!(i < 100, "the bar stream never delivered");
    }
    let mut samples = Vec::with_capacity(n);
    // Woken by the fake when the order arrives: no busy polling competing for the 2 cores.
    let mut arrivals = fake.order_requests();
    for _ in 0..n + 20 {
        let before = fake.post_order_requests();
        let t0 = Instant::now();
        fake.push_bar("AAPL", bar(i));
        i += 1;
        tokio::time::timeout(
            Duration::from_secs(5),
            arrivals.wait_for(|seen| *seen > before),
        )
        .await
        .expect("an order arrived within 5 s")
        .expect("the fake is running");
        samples.push(t0.elapsed());
        // Let the runner record the outcome before the next bar.
        match done_rx.recv().await {
            Some(Ok(1)) => {}
            other => panic!("the runner did not place exactly one order: {other:?}"),
        }
    }
    let mut measured = samples.split_off(20); // the first 20 warm caches and connections
    measured.sort();
    println!(
        "veda bar→order latency (fake Alpaca stream → runner → WallE/PostgreSQL journal → fake), \
         {} bars: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (goal p99 ≤ 5 ms)",
        measured.len(),
        percentile(&measured, 0.50).as_secs_f64() * 1e3,
        percentile(&measured, 0.99).as_secs_f64() * 1e3,
        measured.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
    walle.close().await;
    fake.shutdown();
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "drop database if exists {name} with (force)"
    )))
    .execute(&mut conn)
    .await;
}
