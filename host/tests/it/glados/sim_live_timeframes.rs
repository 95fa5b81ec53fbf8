//! `sim-live` runs on timeframes longer than a minute, against the local fake: a 5-minute run's
//! bars, built by its exchange from the minute stream, are the fake's historical 5-minute bars
//! of the day, and its orders fill exactly as a `sim` run over those (stored) bars fills them; a
//! restarted crypto 5-minute run resumes from the stored minutes without placing or filling
//! anything twice, and trades on.

use std::time::Duration;

use axum::http::StatusCode;
use weaver::domain::Bar;
use weaver::walle::Walle;

use super::alpaca_runs::{log_of, rich_fake};
use super::live_timeframes::{
    a_fake, app_on, historical, logs, minute, ny, push, until_told, utc, view,
};
use super::runs::{orders_of, settled, upload};
use super::send;
use crate::support::post_json;

fn body(strategy: i64, venue: &str, symbol: &str, tf: &str, cash: f64) -> String {
    serde_json::json!({
        "strategy": strategy, "mode": "paper", "venue": venue, "symbols": [symbol],
        "timeframe": tf, "cash": cash, "params": {"fast": 1, "slow": 2}
    })
    .to_string()
}

async fn start(r: &axum::Router, req: String) -> i64 {
    let created = send(r, post_json("/runs", req)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    created.json()["id"].as_i64().expect("id")
}

/// The stored candles of `symbol` in `tf` from `from` on, oldest first.
async fn stored(walle: &Walle, symbol: &str, tf: &str, from: i64) -> Vec<Bar> {
    walle
        .candles(
            symbol,
            tf,
            utc(from),
            weaver::domain::far_future(),
            i64::MAX,
        )
        .await
        .expect("candles")
        .iter()
        .map(weaver::walle::Candle::bar)
        .collect()
}

/// Waits until `pred` holds for run `id`'s view (bounded).
async fn until_view(
    r: &axum::Router,
    id: i64,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let v = view(r, id).await;
        if pred(&v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id}, {what}: {v}\n{}",
            logs(r, id).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn bars_told(v: &serde_json::Value) -> u64 {
    v["figures"]["bars"].as_u64().unwrap_or(0)
}

/// The filled orders of run `id` in the order placed: (side, quantity, average price).
async fn fills(r: &axum::Router, id: i64) -> Vec<(String, String, f64)> {
    let mut orders = orders_of(r, id).await;
    orders.sort_by_key(|o| o["id"].as_i64());
    orders
        .iter()
        .filter(|o| o["status"] == "filled")
        .map(|o| {
            let price = &o["average_price"];
            let price = price
                .as_f64()
                .or_else(|| price.as_str().and_then(|p| p.parse().ok()))
                .expect("fill price");
            (o["side"].to_string(), o["quantity"].to_string(), price)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5min_sim_live_run_gets_alpacas_bars_and_fills_as_sim_on_them() {
    let fake = a_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(&fake, dir.path()).await;
    let walle = s.walle().clone();
    let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;

    // A timeframe Alpaca has no bars of is refused with the accepted list, as on Alpaca.
    let refused = send(
        &r,
        post_json("/runs", body(sma, "sim-live", "AAPL", "7Min", 1e6)),
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.json()
    );
    assert_eq!(refused.error_code(), "unsupported_timeframe");
    assert_eq!(
        refused.json()["details"]["accepted"]
            .as_array()
            .map(Vec::len),
        Some(9)
    );

    // Wednesday before Thanksgiving 2026, the venue's clock before the open: only the stream
    // moves the bars on.
    fake.set_clock(utc(ny(25, 9, 0)));
    let id = start(&r, body(sma, "sim-live", "AAPL", "5Min", 1e6)).await;
    until_told(&r, &fake, id, &["AAPL"], ny(24, 15, 59)).await;
    let minutes: Vec<i64> = (ny(25, 9, 30)..ny(25, 16, 0)).step_by(60_000).collect();
    for (k, ts) in minutes.iter().enumerate() {
        push(&fake, "AAPL", minute(*ts, k as i64));
        if k % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // The probe's bar and the day's 78.
    until_view(&r, id, "all bars told", |v| bars_told(v) == 79).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let got = loop {
        let got = stored(&walle, "AAPL", "5Min", ny(25, 0, 0)).await;
        if got.last().is_some_and(|b| b.ts == ny(25, 15, 55)) {
            break got;
        }
        assert!(tokio::time::Instant::now() < deadline, "{got:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let want = historical(&fake, "AAPL", "5Min", ny(25, 0, 0), ny(26, 0, 0)).await;
    assert_eq!(got.len(), 78);
    assert_eq!(got, want, "the bars built are Alpaca's historical bars");
    let stop = send(&r, post_json(&format!("/runs/{id}/stop"), "")).await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.json());
    let live_fills = fills(&r, id).await;
    assert!(live_fills.len() >= 2, "the run trades: {live_fills:?}");
    // Every fill is at the open of a built bar (market orders meet the next bar's open).
    for (_, _, price) in &live_fills {
        assert!(
            got.iter().any(|b| b.open == *price),
            "{price} is no built bar's open"
        );
    }
    assert_eq!(fake.post_order_requests(), 0, "nothing reached the broker");

    // A `sim` run over the stored 5-minute bars (the probe's and the day's) fills the same.
    let sim = start(&r, body(sma, "sim", "AAPL", "5Min", 1e6)).await;
    let done = settled(&r, sim).await;
    assert_eq!(done["status"], "stopped", "{done}");
    assert_eq!(fills(&r, sim).await, live_fills);
    s.shutdown(Duration::from_secs(10)).await;
}

/// Pushes one flat minute of `symbol` at `ts` (open = close).
fn flat(fake: &weaver::veda::alpaca::fake::FakeAlpaca, symbol: &str, ts: i64, close: f64) {
    super::alpaca_runs::push(fake, symbol, ts, close);
}

/// Pushes the first and the last minute of the 5-minute period starting at `*start` (one bar
/// at `close`), moves `*start` on and waits until run `id` was told it.
async fn period(
    r: &axum::Router,
    fake: &weaver::veda::alpaca::fake::FakeAlpaca,
    id: i64,
    start: &mut i64,
    close: f64,
) {
    let before = bars_told(&view(r, id).await);
    flat(fake, "BTC/USD", *start, close);
    flat(fake, "BTC/USD", *start + 4 * 60_000, close);
    *start += 5 * 60_000;
    until_view(r, id, "the bar", |v| bars_told(v) > before).await;
}

/// Pushes last minutes of periods until run `id` was told a bar: its subscription is live.
async fn until_subscribed(
    r: &axum::Router,
    fake: &weaver::veda::alpaca::fake::FakeAlpaca,
    id: i64,
    start: &mut i64,
    close: f64,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let before = bars_told(&view(r, id).await);
    loop {
        flat(fake, "BTC/USD", *start + 4 * 60_000, close);
        *start += 5 * 60_000;
        tokio::time::sleep(Duration::from_millis(50)).await;
        if bars_told(&view(r, id).await) > before {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "run {id}: no bar");
    }
}

async fn until_filled(r: &axum::Router, id: i64, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while fills(r, id).await.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id}: {:?}",
            orders_of(r, id).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_5min_sim_live_run_rebuilds_its_bars_and_fills_once() {
    let fake = rich_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    // Periods from the next 5-minute boundary on: minutes at or after the run's start, which
    // the resumed run reads back from the store.
    let now = chrono::Utc::now().timestamp_millis();
    let first = now - now.rem_euclid(300_000) + 300_000;
    let q = (100_000.0_f64 / 191.0).floor();
    let (id, mut next) = tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let rt = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .expect("runtime");
                    let out = rt.block_on(async {
                        let (r, s) = super::alpaca_runs::app_on(&fake, dir.path(), false).await;
                        let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
                        let id =
                            start(&r, body(sma, "sim-live", "BTC/USD", "5Min", 100_000.0)).await;
                        let mut next = first;
                        until_subscribed(&r, &fake, id, &mut next, 190.0).await;
                        // fast 1 / slow 2: a rise after a fall buys at 191, filled at the next
                        // bar's open (191).
                        for close in [189.0, 188.0, 191.0, 191.0] {
                            period(&r, &fake, id, &mut next, close).await;
                        }
                        until_filled(&r, id, 1).await;
                        // The minutes are stored (off the bar path) before the "crash".
                        let last = next - 60_000;
                        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
                        while stored(s.walle(), "BTC/USD", "1Min", first)
                            .await
                            .last()
                            .is_none_or(|b| b.ts != last)
                        {
                            assert!(tokio::time::Instant::now() < deadline, "minutes stored");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        (id, next)
                    });
                    rt.shutdown_timeout(Duration::from_secs(10));
                    out
                })
                .join()
                .expect("first process")
        })
    });

    let (r, s) = super::alpaca_runs::app_on(&fake, dir.path(), false).await;
    let done = s.runs().resume().await.expect("resume");
    assert_eq!(done.resumed, vec![id], "{done:?}");
    // The stored minutes, aggregated again, rebuilt its account: one buy, filled once, held.
    let v = until_view(&r, id, "its position back", |v| {
        v["positions"][0]["qty"].as_f64() == Some(q)
    })
    .await;
    assert_eq!(v["status"], "running", "{v}");
    assert_eq!(fills(&r, id).await.len(), 1, "nothing filled twice");
    assert_eq!(orders_of(&r, id).await.len(), 1, "nothing placed twice");
    let log = log_of(&r, id).await;
    assert!(
        log.iter()
            .any(|l| l.starts_with("run resumed after a restart: replaying the")),
        "{log:?}"
    );
    // It trades on from the live stream: a fall crosses down, closing and going short.
    until_subscribed(&r, &fake, id, &mut next, 191.0).await;
    for close in [192.0, 187.0, 186.0] {
        period(&r, &fake, id, &mut next, close).await;
    }
    until_filled(&r, id, 3).await;
    let sequences: Vec<u64> = {
        let mut s: Vec<u64> = orders_of(&r, id)
            .await
            .iter()
            .filter_map(|o| weaver::veda::client_order_id::sequence(o["client_order_id"].as_str()?))
            .collect();
        s.sort_unstable();
        s
    };
    assert_eq!(sequences, [1, 2, 3]);
    let v = view(&r, id).await;
    assert!(
        (v["pnl"]["realized"].as_f64().unwrap_or(0.0) - q * (186.0 - 191.0)).abs() < 1e-6,
        "{v}"
    );
    assert_eq!(fake.post_order_requests(), 0);
    let stop = send(&r, post_json(&format!("/runs/{id}/stop"), "")).await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.json());
    s.shutdown(Duration::from_secs(10)).await;
}
