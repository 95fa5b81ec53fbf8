//! Notifications end to end, on both stores: a webhook receiver in the test (an axum server on
//! 127.0.0.1:0) gets signed notifications (the HMAC is verified here, independently of Weaver's
//! code) for a run that really failed and a limit a run really breached, once each, also when
//! the outbox delivers their events again; a notification is not lost when the receiver is
//! down across a restart; one that keeps failing lands in the dead letters and a retry from the
//! API delivers it; the settings, rules and test routes; and a down channel does not slow or
//! throttle simulated runs.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use hmac::{KeyInit, Mac};
use secrecy::SecretString;
use serde_json::{Value, json};
use weaver::app::{App, Config};
use weaver::notify::{Channels, NotifyConfig, Retry, Rules};
use weaver::walle::{HealthOptions, NOTIFY_CONSUMER};

use super::manual::put_json;
use super::runs::{run_body, settled, upload};
use super::{get, send};
use crate::support::post_json;
use crate::testdata::goog_candles;
use crate::walle::support::{TestStore, contract, settle};

const SECRET: &str = "notify-secret-0123456789";
const TOKEN: &str = "123456:telegram-token-abc";

/// One request the receiver answered 200.
#[derive(Debug, Clone)]
pub(crate) struct Got {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// The receiving end of every channel: answers 503 while `failing`, else records and says 200.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    failing: Arc<AtomicBool>,
    attempts: Arc<AtomicUsize>,
}

async fn receive(
    State(rx): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    rx.attempts.fetch_add(1, Ordering::SeqCst);
    if rx.failing.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    rx.got.lock().unwrap().push(Got {
        path: uri.path().to_owned(),
        headers,
        body: body.to_vec(),
    });
    StatusCode::OK
}

impl Receiver {
    /// Starts one; its base URL.
    pub(crate) async fn start() -> (Receiver, String) {
        let rx = Receiver::default();
        let app = axum::Router::new().fallback(receive).with_state(rx.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (rx, format!("http://{addr}"))
    }

    fn fail(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    fn at(&self, path_start: &str) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.path.starts_with(path_start))
            .cloned()
            .collect()
    }

    /// The webhook bodies received, each checked: signed with [`SECRET`] (verified here with
    /// the hmac crate) and naming its event id in `X-Weaver-Event-Id`.
    pub(crate) fn webhooks(&self) -> Vec<Value> {
        self.at("/hook")
            .into_iter()
            .map(|g| {
                let sig = g.headers["x-weaver-signature"].to_str().expect("ascii");
                let hex_sig = sig.strip_prefix("sha256=").expect("sha256= prefix");
                let mut mac = hmac::Hmac::<sha2_hmac::Sha256>::new_from_slice(SECRET.as_bytes())
                    .expect("key");
                mac.update(&g.body);
                mac.verify_slice(&hex::decode(hex_sig).expect("hex signature"))
                    .unwrap_or_else(|_| panic!("bad signature {sig} on {:?}", g.body));
                let body: Value = serde_json::from_slice(&g.body).expect("JSON body");
                assert_eq!(
                    g.headers["x-weaver-event-id"].to_str().expect("ascii"),
                    body["id"].as_str().expect("id"),
                    "{body}"
                );
                for k in [
                    "id", "type", "ts", "run_id", "account", "title", "text", "payload",
                ] {
                    assert!(body.get(k).is_some(), "{k} missing: {body}");
                }
                body
            })
            .collect()
    }
}

pub(crate) fn webhook_config(base: &str, retry: Retry) -> NotifyConfig {
    NotifyConfig {
        channels: Channels {
            webhook_url: Some(SecretString::from(format!("{base}/hook"))),
            webhook_secret: Some(SecretString::from(SECRET)),
            telegram_api: weaver::notify::channels::TELEGRAM_API.to_owned(),
            ..Channels::default()
        },
        rules: Rules::default(),
        retry,
    }
}

/// Retries every `ms` milliseconds, `attempts` times.
pub(crate) fn fast(attempts: u32, ms: u64) -> Retry {
    Retry {
        attempts,
        first: Duration::from_millis(ms),
        max: Duration::from_millis(ms),
    }
}

/// A started app over `store` notifying with `notify`, once its consumer is registered (a
/// first start notifies only what comes after that).
async fn notify_app(
    store: &TestStore,
    notify: NotifyConfig,
) -> (axum::Router, App, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    config.notify = notify;
    let app = App::new(config, store.walle.clone()).expect("app");
    app.start().await.expect("start");
    until("the notify consumer registered", || async {
        store
            .walle
            .consumers()
            .await
            .expect("consumers")
            .iter()
            .any(|c| c == NOTIFY_CONSUMER)
    })
    .await;
    (weaver::glados::router(app.state()), app, dir)
}

/// Polls `done` for up to 60 s.
pub(crate) async fn until<F: std::future::Future<Output = bool>>(what: &str, done: impl Fn() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within 60 s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the notifier has passed every event stored so far.
async fn drained(w: &weaver::walle::Walle) {
    // PostgreSQL: lag counts only events below the horizon; wait until every transaction that
    // committed so far is below it.
    settle(w).await;
    until("the notifier passed every event", || async {
        w.consumer_lag(NOTIFY_CONSUMER).await.expect("lag").events == 0
    })
    .await;
}

fn of_type(bodies: &[Value], t: &str) -> Vec<Value> {
    bodies.iter().filter(|b| b["type"] == t).cloned().collect()
}

fn assert_no_duplicates(bodies: &[Value]) {
    let mut ids: Vec<&str> = bodies
        .iter()
        .map(|b| b["id"].as_str().expect("id"))
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "an event was notified twice");
}

async fn a_failed_run_and_a_breached_limit_are_notified_signed_and_once(store: &TestStore) {
    let (rx, base) = Receiver::start().await;
    let w = &store.walle;
    w.upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let (r, app, _dir) = notify_app(store, webhook_config(&base, fast(3, 50))).await;
    upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    upload(&r, &app, "hostile", "guests/hostile.wasm").await;

    // A guest that traps: the run fails.
    let bad = send(
        &r,
        post_json(
            "/runs",
            run_body("\"hostile\"", r#"{"mode": "unreachable"}"#),
        ),
    )
    .await;
    assert_eq!(bad.status, StatusCode::CREATED, "{}", bad.json());
    let bad = bad.json()["id"].as_i64().expect("id");
    assert_eq!(settled(&r, bad).await["status"], "failed");
    // The all-in sma-cross over a 3 % drawdown limit: it trips (and is then denied entries).
    let body = json!({"strategy": "sma-cross", "mode": "paper", "venue": "sim",
        "symbols": ["GOOG"], "timeframe": "1Day", "params": {"fast": 5, "slow": 20},
        "risk": {"max_drawdown_pct": 3}});
    let dd = send(&r, post_json("/runs", body)).await;
    assert_eq!(dd.status, StatusCode::CREATED, "{}", dd.json());
    let dd = dd.json()["id"].as_i64().expect("id");
    assert_eq!(settled(&r, dd).await["status"], "stopped");

    until("the failure and the breach notified", || async {
        let got = rx.webhooks();
        !of_type(&got, "run.StatusChanged").is_empty()
            && !of_type(&got, "risk.LimitBreached").is_empty()
    })
    .await;
    let got = rx.webhooks();
    let failed = of_type(&got, "run.StatusChanged");
    assert_eq!(failed.len(), 1, "{failed:?}");
    let f = &failed[0];
    assert_eq!(f["run_id"], bad, "{f}");
    assert_eq!(f["payload"]["status"], "failed", "{f}");
    let code = f["payload"]["error_code"].as_str().expect("error code");
    assert_eq!(f["title"], format!("Run {bad} (hostile) failed"), "{f}");
    assert_eq!(
        f["text"],
        format!("Run {bad} (hostile) failed: {code}"),
        "{f}"
    );
    let breached = of_type(&got, "risk.LimitBreached");
    assert_eq!(breached.len(), 1, "{breached:?}");
    let b = &breached[0];
    assert_eq!(b["run_id"], dd, "{b}");
    let text = b["text"].as_str().expect("text");
    assert!(
        text.starts_with(&format!("Run {dd} (sma-cross) max_drawdown_pct tripped: "))
            && text.contains("% against 3% → halted"),
        "{text}"
    );
    // The entries refused after the trip (one per bar, all within seconds) are told once: the
    // repeats are held back for the quiet period.
    drained(w).await;
    let got = rx.webhooks();
    let denied = of_type(&got, "risk.OrderDenied");
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["run_id"], dd, "{}", denied[0]);
    assert!(
        denied[0]["text"]
            .as_str()
            .expect("text")
            .starts_with(&format!("Run {dd} (sma-cross) order denied: ")),
        "{}",
        denied[0]
    );
    assert_no_duplicates(&got);

    // The outbox delivers everything again (the offset moved back to the start, as after a
    // restore): the notifier recognises every event id it settled and sends nothing twice.
    app.shutdown(Duration::from_secs(10)).await;
    let before = rx.webhooks().len();
    reset_offset(store).await;
    let (r, app, _dir2) = notify_app(store, webhook_config(&base, fast(3, 50))).await;
    // A fresh event after the replayed ones: once it is notified, the replay is behind us.
    halt(&r, "halted").await;
    until("the marker notified", || async {
        !of_type(&rx.webhooks(), "ui.TradingState").is_empty()
    })
    .await;
    let after = rx.webhooks();
    assert_eq!(after.len(), before + 1, "only the new event was sent");
    assert_no_duplicates(&after);
    app.shutdown(Duration::from_secs(10)).await;
}

/// Moves the notifier's stored offset back to the beginning of the outbox.
async fn reset_offset(store: &TestStore) {
    let n = store
        .exec_sql(
            "update consumer_offsets set last_xid = '0', last_id = 0 where consumer = 'notify'",
        )
        .await;
    assert_eq!(n, 1, "the notify consumer's offset");
}

async fn halt(r: &axum::Router, state: &str) {
    let put = send(r, put_json("/trading-state", json!({"state": state}))).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.json());
}

async fn nothing_is_lost_when_the_receiver_is_down_across_a_restart(store: &TestStore) {
    let (rx, base) = Receiver::start().await;
    rx.fail(true);
    // Patient retries: the notification is still being retried when the server stops.
    let (r, app, _dir) = notify_app(store, webhook_config(&base, fast(1000, 50))).await;
    halt(&r, "halted").await;
    until("a few attempts", || async { rx.attempts() >= 3 }).await;
    app.shutdown(Duration::from_secs(10)).await;
    assert!(rx.webhooks().is_empty());
    let dead = store.walle.dead_letters(0, 10).await.expect("dead letters");
    assert!(dead.is_empty(), "not given up on: {dead:?}");

    rx.fail(false);
    let (_r, app, _dir2) = notify_app(store, webhook_config(&base, fast(1000, 50))).await;
    until("delivered after the restart", || async {
        !rx.webhooks().is_empty()
    })
    .await;
    // Settled: nothing more comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = rx.webhooks();
    assert_eq!(got.len(), 1, "delivered once: {got:?}");
    assert_eq!(got[0]["type"], "ui.TradingState", "{}", got[0]);
    assert_eq!(got[0]["payload"]["state"], "halted", "{}", got[0]);
    assert_eq!(
        got[0]["text"], "The global trading state was set to halted by hand",
        "{}",
        got[0]
    );
    app.shutdown(Duration::from_secs(10)).await;
}

async fn a_failing_receiver_ends_in_the_dead_letters_and_a_retry_delivers(store: &TestStore) {
    let (rx, base) = Receiver::start().await;
    let mut notify = webhook_config(&base, fast(3, 20));
    notify.channels.telegram_token = Some(SecretString::from(TOKEN));
    notify.channels.telegram_chat_id = Some("4242".into());
    notify.channels.telegram_api = format!("{base}/telegram");
    notify.channels.discord_url = Some(SecretString::from(format!("{base}/discord/hook")));
    // Only the webhook hears of the trading state; the rest goes everywhere.
    notify.rules = Rules::parse("trading_state=webhook").expect("rules");
    let (r, app, _dir) = notify_app(store, notify).await;

    // Settings: configured or not, never a secret.
    let settings = send(&r, get("/notifications/settings")).await;
    assert_eq!(settings.status, StatusCode::OK);
    let text = String::from_utf8_lossy(&settings.body).to_string();
    for secret in [SECRET, TOKEN, base.as_str(), "4242"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let v = settings.json();
    assert!(
        v["channels"]
            .as_array()
            .expect("channels")
            .iter()
            .all(|c| c["configured"] == true),
        "{v}"
    );
    let rule = |v: &Value, name: &str| {
        v["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .find(|r| r["rule"] == name)
            .cloned()
            .expect(name)
    };
    assert_eq!(rule(&v, "trading_state")["route"], "webhook");
    assert_eq!(rule(&v, "trading_state")["source"], "env");
    assert_eq!(rule(&v, "run_failed")["route"], "all");

    // A test send reaches every channel, in each one's own form.
    let test = send(&r, post_json("/notifications/test", "{}")).await;
    assert_eq!(test.status, StatusCode::OK, "{}", test.json());
    let results = test.json()["results"].clone();
    assert_eq!(results.as_array().map(Vec::len), Some(3), "{results}");
    assert!(
        results
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["delivered"] == true),
        "{results}"
    );
    assert_eq!(of_type(&rx.webhooks(), "notify.Test").len(), 1);
    let tg = rx.at("/telegram");
    assert_eq!(tg.len(), 1);
    assert_eq!(tg[0].path, format!("/telegram/bot{TOKEN}/sendMessage"));
    let tg: Value = serde_json::from_slice(&tg[0].body).expect("json");
    assert_eq!(tg["chat_id"], "4242", "{tg}");
    assert!(
        tg["text"]
            .as_str()
            .unwrap()
            .starts_with("Weaver test notification\n"),
        "{tg}"
    );
    let dc: Value = serde_json::from_slice(&rx.at("/discord")[0].body).expect("json");
    assert!(
        dc["content"]
            .as_str()
            .unwrap()
            .starts_with("**Weaver test notification**"),
        "{dc}"
    );
    // Refusals in the error model.
    let one = send(
        &r,
        post_json("/notifications/test", r#"{"channel": "email"}"#),
    )
    .await;
    assert_eq!(one.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(one.error_code(), "invalid_channel");
    let bad = send(
        &r,
        put_json("/notifications/rules", json!({"rules": {"nope": "off"}})),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_code(), "invalid_notify_rule");

    // A rule switched off through the API is not notified; back on, it is.
    let off = send(
        &r,
        put_json(
            "/notifications/rules",
            json!({"rules": {"trading_state": "off"}}),
        ),
    )
    .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.json());
    assert_eq!(rule(&off.json(), "trading_state")["source"], "api");
    // Another rule changed later keeps this one.
    let other = send(
        &r,
        put_json(
            "/notifications/rules",
            json!({"rules": {"warning": "discord"}}),
        ),
    )
    .await;
    assert_eq!(rule(&other.json(), "trading_state")["route"], "off");
    assert_eq!(rule(&other.json(), "warning")["route"], "discord");
    halt(&r, "reduce_only").await;
    // Rules apply when the notifier reads the event: let it pass this one before turning back.
    drained(&store.walle).await;
    let on = send(
        &r,
        put_json(
            "/notifications/rules",
            json!({"rules": {"trading_state": "inherit"}}),
        ),
    )
    .await;
    assert_eq!(rule(&on.json(), "trading_state")["route"], "webhook");

    // The webhook keeps failing: after its 3 attempts the notification is a dead letter.
    rx.fail(true);
    halt(&r, "halted").await;
    let w = &store.walle;
    until("dead-lettered", || async {
        !w.dead_letters(0, 10).await.expect("dead").is_empty()
    })
    .await;
    let page = send(&r, get("/notifications/dead-letters?limit=10")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.json());
    let items = page.json()["items"].as_array().cloned().expect("items");
    assert_eq!(items.len(), 1, "{items:?}");
    let d = &items[0];
    assert_eq!(d["channel"], "webhook", "{d}");
    assert_eq!(d["event_type"], "ui.TradingState", "{d}");
    assert_eq!(d["attempts"], 3, "{d}");
    assert_eq!(
        d["text"], "The global trading state was set to halted by hand",
        "{d}"
    );
    let err = d["last_error"].as_str().expect("error");
    assert!(err.contains("503") && !err.contains(&base), "{err}");
    assert!(
        rx.at("/telegram").len() == 1 && rx.at("/discord").len() == 1,
        "routed to the webhook only"
    );
    assert!(
        of_type(&rx.webhooks(), "ui.TradingState").is_empty(),
        "the reduce_only change was off, the halted one failed"
    );

    // Retried from the API once the receiver is back: delivered, signed, and off the list.
    rx.fail(false);
    let id = d["id"].as_i64().expect("id");
    let retry = send(
        &r,
        post_json(&format!("/notifications/dead-letters/{id}/retry"), ""),
    )
    .await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.json());
    assert_eq!(retry.json()["delivered"], true, "{}", retry.json());
    let got = of_type(&rx.webhooks(), "ui.TradingState");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["id"], d["event_id"]);
    assert_eq!(got[0]["payload"]["state"], "halted");
    let page = send(&r, get("/notifications/dead-letters")).await.json();
    assert_eq!(page["items"], json!([]), "{page}");
    let again = send(
        &r,
        post_json(&format!("/notifications/dead-letters/{id}/retry"), ""),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.error_code(), "not_found");
    app.shutdown(Duration::from_secs(10)).await;
}

async fn a_down_channel_neither_slows_nor_throttles_simulated_runs(store: &TestStore) {
    let (rx, base) = Receiver::start().await;
    rx.fail(true);
    let w = &store.walle;
    w.upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    // The notifier is stuck retrying its first notification for as long as the test lasts.
    let (r, app, _dir) = notify_app(store, webhook_config(&base, fast(100_000, 50))).await;
    upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    halt(&r, "active").await;
    until("the notifier retrying", || async { rx.attempts() >= 2 }).await;
    // A run with a tripping limit: a notification on nearly every bar, none delivered.
    let body = json!({"strategy": "sma-cross", "mode": "paper", "venue": "sim",
        "symbols": ["GOOG"], "timeframe": "1Day", "params": {"fast": 5, "slow": 20},
        "risk": {"max_drawdown_pct": 3}});
    let started = tokio::time::Instant::now();
    let run = send(&r, post_json("/runs", body)).await;
    assert_eq!(run.status, StatusCode::CREATED, "{}", run.json());
    let id = run.json()["id"].as_i64().expect("id");
    let done = settled(&r, id).await;
    assert_eq!(done["status"], "stopped", "{done}");
    let bars = done["figures"]["bars"].as_u64().expect("bars");
    let took = started.elapsed();
    assert!(bars > 2000, "the run went through GOOG's days: {bars}");
    // A throttled run gets one bar per second: it would have taken half an hour.
    assert!(took < Duration::from_secs(60), "{bars} bars took {took:?}");
    // Once the critical consumer caught up, the notifier's lag alone throttles nothing, even
    // at thresholds it is far beyond.
    settle(w).await;
    until("decisions caught up", || async {
        w.consumer_lag("decisions").await.expect("lag").events == 0
    })
    .await;
    let tight = HealthOptions {
        throttle_after: Duration::from_millis(1),
        stuck_after: Duration::from_millis(1),
    };
    for _ in 0..3 {
        w.check_consumers(tight).await.expect("check");
    }
    assert!(
        !w.backpressure().throttled(),
        "a best-effort consumer throttled runs"
    );
    let report = w.backpressure().report();
    let notify = report
        .iter()
        .find(|c| c.name == NOTIFY_CONSUMER)
        .expect("notify reported");
    assert_eq!(notify.class, weaver::walle::Class::BestEffort, "{notify:?}");
    assert!(notify.lag_events > 0 && notify.stuck, "{notify:?}");
    assert!(rx.webhooks().is_empty());
    app.shutdown(Duration::from_secs(10)).await;
}

async fn notifications_switched_off_no_longer_hold_back_retention(store: &TestStore) {
    let (_rx, base) = Receiver::start().await;
    let (_r, app, _dir) = notify_app(store, webhook_config(&base, fast(3, 20))).await;
    app.shutdown(Duration::from_secs(10)).await;
    // Started again without any channel: the notifier's offset, which nothing would advance
    // any more, is dropped so that retention is not held back by it.
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::new(Config::for_tests(dir.path()), store.walle.clone()).expect("app");
    app.start().await.expect("start");
    until("the notify consumer dropped", || async {
        !store
            .walle
            .consumers()
            .await
            .expect("consumers")
            .iter()
            .any(|c| c == NOTIFY_CONSUMER)
    })
    .await;
    app.shutdown(Duration::from_secs(10)).await;
}

contract!(
    a_failed_run_and_a_breached_limit_are_notified_signed_and_once,
    notifications_switched_off_no_longer_hold_back_retention,
    nothing_is_lost_when_the_receiver_is_down_across_a_restart,
    a_failing_receiver_ends_in_the_dead_letters_and_a_retry_delivers,
    a_down_channel_neither_slows_nor_throttles_simulated_runs,
);
