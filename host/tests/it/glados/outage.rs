//! A database outage under a paced run (issue #20): PostgreSQL becomes unreachable for 60 s —
//! a TCP proxy in the test drops every connection and refuses new ones, so the other tests'
//! databases are not disturbed — and the run pauses instead of failing, shows that it waits
//! for the store, and goes on where it stopped: it ends `stopped` with exactly the orders and
//! fills of an undisturbed run over the same candles.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use weaver::app::{App, Config};
use weaver::walle::{DbConfig, Walle};

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
    tokio::time::sleep(Duration::from_secs(60)).await;
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
    let logs = send(&r, get(&format!("/runs/{id}/logs?limit=1000")))
        .await
        .json()
        .to_string();
    assert!(logs.contains("waiting for the store"), "{logs}");
    assert!(logs.contains("the store is back"), "{logs}");
    app.shutdown(Duration::from_secs(10)).await;
    store.finish().await;
}

/// The same outage for a run on the (fake) Alpaca account: a fill the broker reports while the
/// store is unreachable is recorded once it is back (it was lost: the order stayed `accepted`),
/// and the run does not fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alpaca_run_loses_no_fill_to_a_database_outage() {
    use rust_decimal::Decimal;
    use weaver::veda::alpaca::fake::FakeConfig;
    use weaver::veda::desk::Desk;

    let store = TestStore::new(Kind::Pg).await;
    let (proxy, db) = Proxy::to_store(&store).await;
    let fake = crate::veda::fake(FakeConfig {
        initial_cash: Decimal::from(10_000_000),
        market_open: Some(true),
        ..FakeConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    config.db = db;
    config.run_heartbeat_ms = 200;
    let walle = Walle::connect(&config.db).await.expect("through the proxy");
    let desk = Desk::new(Arc::new(crate::veda::venue(&fake)), walle.clone(), false);
    let app = App::with_desks(config, walle, vec![desk]).expect("app");
    app.start().await.expect("start");
    let r = weaver::glados::router(app.state());
    let sma = upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    let body = serde_json::json!({
        "strategy": sma, "mode": "paper", "venue": "alpaca", "symbols": ["AAPL"],
        "timeframe": "1Min", "cash": 100_000.0, "params": {"fast": 5, "slow": 100000}
    });
    let created = send(
        &r,
        super::replay::create_run(&body.to_string(), "outage-alpaca"),
    )
    .await;
    let id = created.json()["id"].as_i64().expect("id");
    let mut ts = 1_700_000_000_000;
    super::replay_alpaca::until_subscribed(&r, &fake, &[id], &mut ts).await;
    // A resting order, accepted before the outage.
    let resting = send(
        &r,
        post_json(
            &format!("/runs/{id}/orders"),
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

    proxy.cut().await;
    // The broker fills it while the store is away.
    assert!(fake.fill_order(&venue_id, Decimal::from(5), Decimal::from(150)));
    tokio::time::sleep(Duration::from_secs(30)).await;
    proxy.restore();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let stored = orders_of(&r, id).await;
        let filled = stored.iter().any(|o| {
            o["status"] == "filled"
                && o["filled_quantity"]
                    .as_str()
                    .and_then(|q| q.parse::<Decimal>().ok())
                    == Some(Decimal::from(5))
        });
        if filled {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fill made during the outage was not recorded: {stored:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let view = send(&r, get(&format!("/runs/{id}"))).await.json();
    assert_eq!(
        view["status"], "running",
        "no run fails for an outage: {view}"
    );
    assert_eq!(super::manual_alpaca::held(&view), 5.0, "{view}");
    app.shutdown(Duration::from_secs(10)).await;
    store.finish().await;
}
