//! A database outage under a paced run (issue #20): PostgreSQL becomes unreachable for 60 s —
//! a TCP proxy in the test drops every connection and refuses new ones, so the other tests'
//! databases are not disturbed — and the run pauses instead of failing, shows that it waits
//! for the store, and goes on where it stopped: it ends `stopped` with exactly the orders and
//! fills of an undisturbed run over the same candles. While the store is away the user is
//! told: a `store_fault` notification reaches a webhook receiver **during** the cut (sent
//! directly: the outbox is in the store), `/readyz` and `/healthz` report the fault, and once
//! the store is back `ui.Notice`s about it are in the event feed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use weaver::app::{App, Config};
use weaver::walle::{DbConfig, Walle};

use super::notify::{Receiver, fast, until, webhook_config};
use super::runs::{orders_of, run_body, settled, upload};
use super::{get, send};
use crate::support::post_json;
use crate::testdata::goog_candles;
use crate::walle::support::{Kind, TestStore};

/// A TCP proxy to PostgreSQL that can be cut: every open connection dropped and new ones
/// refused until it is restored.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// A proxy to `store`'s PostgreSQL server, and the store's configuration through it.
    async fn to_store(store: &TestStore) -> (Proxy, DbConfig) {
        let url = store.pg_url().expect("a PostgreSQL store");
        let (scheme, rest) = url.split_once("://").expect("url");
        let (authority, path) = rest.split_once('/').expect("path");
        let (user, server) = match authority.rsplit_once('@') {
            Some((user, server)) => (format!("{user}@"), server),
            None => (String::new(), authority),
        };
        let proxy = Proxy::start(server.to_owned()).await;
        let through = format!("{scheme}://{user}127.0.0.1:{}/{path}", proxy.port);
        (proxy, DbConfig::with_url(&through))
    }

    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (flag, held) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                held.lock().await.push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Proxy { port, up, links }
    }

    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// (side, quantity, status, filled quantity, average price) of each order, in order.
fn trades(orders: &[serde_json::Value]) -> Vec<String> {
    orders
        .iter()
        .map(|o| {
            format!(
                "{} {} {} {} {}",
                o["side"], o["quantity"], o["status"], o["filled_quantity"], o["average_price"]
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_run_waits_out_a_database_outage_and_ends_as_an_undisturbed_one() {
    let store = TestStore::new(Kind::Pg).await;
    let (proxy, db) = Proxy::to_store(&store).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    config.db = db;
    config.run_bar_interval_ms = 5;
    config.run_heartbeat_ms = 200;
    let (rx, base) = Receiver::start().await;
    config.notify = webhook_config(&base, fast(3, 50));
    let walle = Walle::connect(&config.db).await.expect("through the proxy");
    walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let app = App::new(config, walle).expect("app");
    app.start().await.expect("start");
    let r = weaver::glados::router(app.state());
    upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    let params = r#"{"fast": 5, "slow": 20}"#;

    // The reference: the same strategy over the same candles, undisturbed.
    let reference = send(&r, post_json("/runs", run_body("\"sma-cross\"", params))).await;
    let reference = reference.json()["id"].as_i64().expect("id");
    let reference = settled(&r, reference).await;
    assert_eq!(reference["status"], "stopped", "{reference}");
    let reference = trades(&orders_of(&r, reference["id"].as_i64().expect("id")).await);
    assert!(reference.len() > 10, "{reference:?}");

    let run = send(&r, post_json("/runs", run_body("\"sma-cross\"", params))).await;
    let id = run.json()["id"].as_i64().expect("id");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while orders_of(&r, id).await.len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no orders in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.cut().await;
    let cut_at = tokio::time::Instant::now();
    // Told while it lasts, after the debounce: directly, since the outbox is in the store.
    until("a store_fault notification during the cut", || async {
        rx.webhooks().iter().any(|b| b["type"] == "store.Fault")
    })
    .await;
    let told = rx
        .webhooks()
        .into_iter()
        .find(|b| b["type"] == "store.Fault")
        .expect("told");
    assert!(
        cut_at.elapsed() < Duration::from_secs(30),
        "told during the cut"
    );
    assert_eq!(told["payload"]["kind"], "outage", "{told}");
    assert!(
        told["text"]
            .as_str()
            .is_some_and(|t| t.contains("cannot write")),
        "{told}"
    );
    let fault_id = told["payload"]["fault_id"].as_str().expect("id").to_owned();
    let ready = send(&r, get("/readyz")).await;
    assert_eq!(ready.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
    let fault = &ready.json()["details"]["store_fault"];
    assert_eq!(fault["kind"], "outage", "{}", ready.json());
    assert_eq!(fault["id"], fault_id.as_str(), "{fault}");
    assert!(fault["runs_waiting"].as_u64() >= Some(1), "{fault}");
    assert!(fault["since"].is_string(), "{fault}");
    let live = send(&r, get("/healthz")).await;
    assert_eq!(live.status, axum::http::StatusCode::OK);
    assert_eq!(live.json()["store_fault"]["id"], fault_id.as_str());
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(cut_at.elapsed())).await;
    // Paused: it waits for the store to journal its next order, and says so.
    let waiting = app
        .runs()
        .figures(id, None)
        .and_then(|f| f.waiting_for_store);
    assert!(waiting.is_some(), "the run says it waits for the store");
    proxy.restore();

    let done = settled(&r, id).await;
    assert_eq!(
        done["status"], "stopped",
        "no run fails for an outage: {done}"
    );
    assert!(done["figures"]["waiting_for_store"].is_null(), "{done}");
    let orders = orders_of(&r, id).await;
    assert_eq!(
        trades(&orders),
        reference,
        "the same orders and fills as the undisturbed run"
    );
    let logs = send(&r, get(&format!("/runs/{id}/logs?limit=1000&order=asc")))
        .await
        .json()
        .to_string();
    assert!(logs.contains("waiting for the store"), "{logs}");
    assert!(logs.contains("the store is back"), "{logs}");

    // Once back: the fault and its end are notices in the feed, the end is notified, and the
    // fault is not notified again on the channel told directly.
    let notices = store_notices(&r).await;
    let levels: Vec<&str> = notices
        .iter()
        .filter(|n| n["fault_id"] == fault_id.as_str())
        .filter_map(|n| n["level"].as_str())
        .collect();
    assert_eq!(levels, ["error", "info"], "{notices:?}");
    let back = notices.iter().find(|n| n["level"] == "info").expect("back");
    assert!(back["seconds"].as_i64() >= Some(55), "{back}");
    assert!(back["runs_waited"].as_i64() >= Some(1), "{back}");
    until("the end of the fault notified", || async {
        rx.webhooks().iter().any(|b| {
            b["payload"]["fault_id"] == fault_id.as_str() && b["payload"]["level"] == "info"
        })
    })
    .await;
    let again = rx
        .webhooks()
        .into_iter()
        .filter(|b| b["payload"]["fault_id"] == fault_id.as_str())
        .count();
    assert_eq!(
        again,
        2,
        "told once during, once at the end: {:?}",
        rx.webhooks()
    );
    let ready = send(&r, get("/readyz")).await;
    assert_eq!(ready.status, axum::http::StatusCode::OK);
    assert!(
        ready.json().get("store_fault").is_none(),
        "{}",
        ready.json()
    );
    app.shutdown(Duration::from_secs(10)).await;
    store.finish().await;
}

/// The payloads of the `ui.Notice`s about store faults in the event feed, oldest first (waits
/// up to 60 s for at least two).
pub(crate) async fn store_notices(r: &axum::Router) -> Vec<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut after = String::new();
        let mut found = Vec::new();
        loop {
            let page = send(r, get(&format!("/events/tail?limit=1000{after}")))
                .await
                .json();
            let events = page["events"].as_array().cloned().unwrap_or_default();
            if events.is_empty() {
                break;
            }
            found.extend(
                events
                    .into_iter()
                    .filter(|e| e["type"] == "ui.Notice")
                    .map(|e| e["data"].clone())
                    .filter(|d| d["source"] == "store_fault"),
            );
            after = format!("&after={}", page["next"].as_str().expect("next"));
        }
        if found.len() >= 2 || tokio::time::Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// (position, side, quantity, status, filled quantity) of each order, in order: what must be the
/// same for a run disturbed by an outage and an undisturbed one on the same market (the price
/// may differ: the broker fills a delayed order at the price it has then).
fn placed(orders: &[serde_json::Value]) -> Vec<String> {
    orders
        .iter()
        .enumerate()
        .map(|(i, o)| {
            format!(
                "#{i} {} {} {} {}",
                o["side"], o["quantity"], o["status"], o["filled_quantity"]
            )
        })
        .collect()
}

/// Whether an order's state is final.
fn done(o: &serde_json::Value) -> bool {
    matches!(
        o["status"].as_str(),
        Some("filled" | "canceled" | "cancelled" | "rejected" | "expired")
    )
}

/// One app trading on its own fake Alpaca account.
struct AlpacaSide {
    fake: weaver::veda::alpaca::fake::FakeAlpaca,
    app: App,
    r: axum::Router,
    strategy: i64,
    run: i64,
    _dir: tempfile::TempDir,
}

impl AlpacaSide {
    /// An app over `db` (`None`: SQLite in its own directory) on a fresh fake Alpaca, running
    /// sma-cross fast 1 / slow 2 on AAPL (it buys when the price turns up, sells when it turns
    /// down).
    async fn start(db: Option<DbConfig>, corr: &str) -> AlpacaSide {
        use rust_decimal::Decimal;
        use weaver::veda::alpaca::fake::FakeConfig;
        use weaver::veda::desk::Desk;

        let fake = crate::veda::fake(FakeConfig {
            initial_cash: Decimal::from(10_000_000),
            market_open: Some(true),
            ..FakeConfig::default()
        })
        .await;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_tests(dir.path());
        if let Some(db) = db {
            config.db = db;
        }
        config.run_heartbeat_ms = 200;
        let walle = Walle::connect(&config.db).await.expect("store");
        let desk = Desk::new(Arc::new(crate::veda::venue(&fake)), walle.clone(), false);
        let app = App::with_desks(config, walle, vec![desk]).expect("app");
        app.start().await.expect("start");
        let r = weaver::glados::router(app.state());
        let sma = upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
        let body = serde_json::json!({
            "strategy": sma, "mode": "paper", "venue": "alpaca", "symbols": ["AAPL"],
            "timeframe": "1Min", "cash": 100_000.0, "params": {"fast": 1, "slow": 2}
        });
        let created = send(&r, super::replay::create_run(&body.to_string(), corr)).await;
        assert_eq!(
            created.status,
            axum::http::StatusCode::CREATED,
            "{}",
            created.json()
        );
        let run = created.json()["id"].as_i64().expect("id");
        let mut ts = 1_700_000_000_000;
        super::replay_alpaca::until_subscribed(&r, &fake, &[run], &mut ts).await;
        // Fills come on the trade stream: it must be up before the first order.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !fake.trade_stream_connected() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "trade stream never connected"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        AlpacaSide {
            fake,
            app,
            r,
            strategy: sma,
            run,
            _dir: dir,
        }
    }

    async fn orders(&self) -> Vec<serde_json::Value> {
        orders_of(&self.r, self.run).await
    }

    /// Waits (up to `secs`) until the run has `n` orders, each in a final state.
    async fn until_orders(&self, n: usize, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let orders = self.orders().await;
            if orders.len() == n && orders.iter().all(done) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let logs = send(&self.r, get(&format!("/runs/{}/logs?limit=30", self.run)))
                    .await
                    .json();
                panic!(
                    "run {} has not {n} settled orders: {:?}; log: {logs}",
                    self.run,
                    placed(&orders)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the run's orders are all final and no new one came for 1.5 s; their number.
    async fn settle(&self) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut last = (usize::MAX, tokio::time::Instant::now());
        loop {
            let orders = self.orders().await;
            let n = orders.len();
            if n != last.0 || !orders.iter().all(done) {
                last = (n, tokio::time::Instant::now());
            } else if last.1.elapsed() > Duration::from_millis(1500) {
                return n;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {} never settled: {:?}",
                self.run,
                placed(&orders)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The issue's figure on the (fake) Alpaca: PostgreSQL cut for 60 s under a run on the fake
/// Alpaca, next to an undisturbed run of the same strategy on the same bars (its own fake
/// account and SQLite store, running at the same time). The cut comes just before a bar that
/// makes the strategy buy: the disturbed run waits for the store to journal that order, sends
/// it once the store is back, and ends with the same orders (sequence, side, quantity, status,
/// filled quantity) as the undisturbed one; neither fails. A fill the broker reports during the
/// cut (a resting order of a second run) is recorded once the store is back, not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alpaca_run_waits_out_a_60_s_outage_and_orders_as_an_undisturbed_one() {
    use rust_decimal::Decimal;

    let store = TestStore::new(Kind::Pg).await;
    let (proxy, db) = Proxy::to_store(&store).await;
    let (hit, calm) = tokio::join!(
        AlpacaSide::start(Some(db), "outage-alpaca-hit"),
        AlpacaSide::start(None, "outage-alpaca-calm")
    );
    // A second run on the disturbed account with an order resting at the broker.
    let observer = {
        let body = serde_json::json!({
            "strategy": hit.strategy, "mode": "paper", "venue": "alpaca", "symbols": ["AAPL"],
            "timeframe": "1Min", "cash": 100_000.0, "params": {"fast": 5, "slow": 100000}
        });
        let created = send(
            &hit.r,
            super::replay::create_run(&body.to_string(), "outage-alpaca-obs"),
        )
        .await;
        let id = created.json()["id"].as_i64().expect("id");
        // Flat bars (no turn: the strategies do nothing) until it is subscribed too.
        let mut ts = 1_750_000_000_000;
        super::replay_alpaca::until_subscribed(&hit.r, &hit.fake, &[id], &mut ts).await;
        id
    };
    let resting = send(
        &hit.r,
        post_json(
            &format!("/runs/{observer}/orders"),
            serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "limit",
                               "time_in_force": "gtc", "quantity": "5", "limit_price": "150"}),
        ),
    )
    .await;
    assert_eq!(
        resting.status,
        axum::http::StatusCode::CREATED,
        "{}",
        resting.json()
    );
    let venue_id = resting.json()["venue_order_id"]
        .as_str()
        .expect("venue order id")
        .to_owned();

    // One bar at a time, each handled by both before the next: the disturbed run must decide
    // on what the undisturbed one decided on. Down, up (buy), up, down (sell and go short):
    // profitable, so every all-in order passes the pre-trade checks.
    let mut minute = 0;
    let mut step_at = |close: f64| {
        minute += 1;
        let ts = 1_800_000_000_000 + minute * 60_000;
        for side in [&hit, &calm] {
            super::replay_alpaca::push(&side.fake, "AAPL", ts, close);
        }
    };
    for close in [189.0, 188.0, 191.0, 199.0, 197.0] {
        step_at(close);
        let n = calm.settle().await;
        hit.until_orders(n, 30).await;
    }
    let before = calm.orders().await.len();
    assert!(before >= 2, "{:?}", placed(&calm.orders().await));
    let sent_before = hit.fake.orders().len();

    proxy.cut().await;
    let cut_at = tokio::time::Instant::now();
    // The broker fills the resting order while the store is away.
    assert!(
        hit.fake
            .fill_order(&venue_id, Decimal::from(5), Decimal::from(150))
    );
    // The price turns up: both decide to cover and buy; the disturbed run waits for the store
    // to journal its order, the undisturbed one trades at once.
    step_at(200.0);
    let due = calm.settle().await;
    assert!(
        due > before,
        "the bar after the cut makes an order: {:?}; log: {}",
        placed(&calm.orders().await),
        send(&calm.r, get(&format!("/runs/{}/logs?limit=30", calm.run)))
            .await
            .json()
    );
    assert_eq!(
        hit.fake.orders().len(),
        sent_before,
        "nothing is sent before it is journaled"
    );
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(cut_at.elapsed())).await;
    let waiting = hit
        .app
        .runs()
        .figures(hit.run, None)
        .and_then(|f| f.waiting_for_store);
    assert!(waiting.is_some(), "the run says it waits for the store");
    assert_eq!(hit.fake.orders().len(), sent_before, "still nothing sent");
    proxy.restore();

    // Back: the delayed orders go out and fill at the price the broker still has; then more
    // turns, each handled by both.
    hit.until_orders(due, 90).await;
    for close in [210.0, 205.0, 212.0] {
        step_at(close);
        let n = calm.settle().await;
        hit.until_orders(n, 30).await;
    }
    let (disturbed, undisturbed) = (placed(&hit.orders().await), placed(&calm.orders().await));
    assert!(undisturbed.len() > due, "{undisturbed:?}");
    assert_eq!(
        disturbed, undisturbed,
        "the same orders as the undisturbed run"
    );
    // The fill made during the cut was recorded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let stored = orders_of(&hit.r, observer).await;
        if stored.iter().any(|o| {
            o["status"] == "filled"
                && o["filled_quantity"]
                    .as_str()
                    .and_then(|q| q.parse::<Decimal>().ok())
                    == Some(Decimal::from(5))
        }) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fill made during the outage was not recorded: {stored:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (r, id) in [(&hit.r, hit.run), (&hit.r, observer), (&calm.r, calm.run)] {
        let view = send(r, get(&format!("/runs/{id}"))).await.json();
        assert_eq!(
            view["status"], "running",
            "no run fails for an outage: {view}"
        );
    }
    hit.app.shutdown(Duration::from_secs(10)).await;
    calm.app.shutdown(Duration::from_secs(10)).await;
    store.finish().await;
}
