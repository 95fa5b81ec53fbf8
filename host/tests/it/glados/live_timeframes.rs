//! Live and paper runs on Alpaca on every timeframe, through `POST /runs` against the local
//! fake: bars built from the 1-minute stream equal the fake's historical bars of the same day
//! (Thanksgiving week 2026: a holiday and an early close) for a daily and a 5-minute run; a
//! crypto 1-hour run across midnight UTC; empty periods skipped or carried; an amended bar;
//! warm-up from the store with the missing part downloaded, and paused on a venue error; an
//! unsupported timeframe refused with the accepted list; bar options and warm-up kept across a
//! restart, the warm-up defaulting to the strategy's declared one.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use weaver::app::{App, Config};
use weaver::domain::{Bar, Timeframe};
use weaver::veda::Venue;
use weaver::veda::alpaca::fake::{FakeAlpaca, FakeAsset, FakeConfig, Fault};
use weaver::veda::desk::Desk;
use weaver::veda::live::tape::Input;
use weaver::veda::periods::new_york_ms;
use weaver::veda::types::BarsRequest;
use weaver::walle::{Candle, Walle};

use super::replay::replay;
use super::runs::upload;
use super::{get, send};
use crate::support::post_json;
use crate::veda::{fake, venue};

pub(super) async fn app_on(fake: &FakeAlpaca, dir: &std::path::Path) -> (axum::Router, App) {
    let config = Config::for_tests(dir);
    let walle = Walle::connect(&config.db).await.expect("sqlite store");
    let desk = Desk::new(Arc::new(venue(fake)), walle.clone(), false);
    let state = App::with_desks(config, walle, vec![desk]).expect("state");
    // The decisions projection runs, as in `weaver serve` (the replays compare with it).
    state.start().await.expect("start");
    (weaver::glados::router(state.state()), state)
}

pub(super) async fn a_fake() -> FakeAlpaca {
    let mut config = FakeConfig {
        initial_cash: Decimal::from(10_000_000),
        stale_socket_after: Duration::from_secs(2),
        ..FakeConfig::default()
    };
    for s in ["QQQ", "IWM", "DIA"] {
        config
            .assets
            .push(FakeAsset::new(s, "us_equity", "ARCA", Decimal::from(300)));
    }
    fake(config).await
}

/// New York `day` November 2026 at `h:m`, UTC ms.
pub(super) fn ny(day: u32, h: u32, m: u32) -> i64 {
    new_york_ms(
        NaiveDate::from_ymd_opt(2026, 11, day).expect("date"),
        NaiveTime::from_hms_opt(h, m, 0).expect("time"),
    )
}

pub(super) fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("time")
}

/// A minute bar whose prices follow `k`.
pub(super) fn minute(ts: i64, k: i64) -> Bar {
    let close = 100.0 + ((k * 7919) % 97) as f64 / 10.0;
    Bar {
        ts,
        open: close - 0.3,
        high: close + 0.6,
        low: close - 0.7,
        close,
        volume: 100.0 + (k % 13) as f64,
    }
}

pub(super) fn push(fake: &FakeAlpaca, symbol: &str, bar: Bar) {
    fake.set_price(symbol, Decimal::from_f64(bar.close).expect("price"));
    fake.push_bar(symbol, bar);
}

fn run_body(strategy: i64, symbols: &[&str], timeframe: &str, extra: serde_json::Value) -> String {
    let mut v = serde_json::json!({
        "strategy": strategy, "mode": "paper", "venue": "alpaca", "symbols": symbols,
        "timeframe": timeframe, "cash": 1_000_000.0
    });
    if let (Some(map), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        map.extend(more);
    }
    v.to_string()
}

async fn start(r: &axum::Router, body: String) -> i64 {
    let resp = send(r, post_json("/runs", body)).await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.json());
    resp.json()["id"].as_i64().expect("id")
}

pub(super) async fn view(r: &axum::Router, id: i64) -> serde_json::Value {
    send(r, get(&format!("/runs/{id}"))).await.json()
}

/// Stops run `id`, then replays it until the replay is identical (the tape and the decisions
/// projection catch up after the stop), bounded; returns the report. Only a replay of the
/// ended run counts: one of a run still stopping compares what it recorded so far, and the
/// decisions projection may not hold the rest yet.
pub(super) async fn stopped_and_replayed(r: &axum::Router, id: i64) -> serde_json::Value {
    let stop = send(r, post_json(&format!("/runs/{id}/stop"), "{}")).await;
    assert!(stop.status.is_success(), "{}", stop.json());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ended = !matches!(
            view(r, id).await["status"].as_str(),
            Some("running" | "stopping")
        );
        let resp = replay(r, id).await;
        let v = resp.json();
        if ended && resp.status == StatusCode::OK && v["identical"] == true {
            assert!(v["replayed"].as_u64().unwrap_or(0) > 0, "{v}");
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "run {id}: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(super) async fn logs(r: &axum::Router, id: i64) -> String {
    send(r, get(&format!("/runs/{id}/logs?limit=1000")))
        .await
        .json()
        .to_string()
}

/// Pushes `probe` minutes of `symbols` until run `id` was told a bar: its subscription is live.
pub(super) async fn until_told(
    r: &axum::Router,
    fake: &FakeAlpaca,
    id: i64,
    symbols: &[&str],
    probe: i64,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        for s in symbols {
            push(fake, s, minute(probe, 1));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let v = view(r, id).await;
        assert_eq!(v["status"], "running", "{v}\n{}", logs(r, id).await);
        if v["figures"]["bars"].as_u64().unwrap_or(0) > 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} never got a bar: {v}\n{}",
            logs(r, id).await
        );
    }
}

/// The inputs run `id` taped so far.
pub(super) async fn tape(walle: &Walle, id: i64) -> Vec<Input> {
    walle
        .run_inputs(id, 0, 100_000)
        .await
        .expect("tape")
        .into_iter()
        .map(|i| serde_json::from_str(&i.body).expect("taped input"))
        .collect()
}

/// The aggregated bars of `symbol` run `id` was told: (bar, amended).
pub(super) async fn told(walle: &Walle, id: i64, symbol: &str) -> Vec<(Bar, bool)> {
    tape(walle, id)
        .await
        .into_iter()
        .filter_map(|i| match i {
            Input::Aggregated {
                symbol: s,
                bar,
                amended,
            } if s == symbol => Some((bar, amended)),
            _ => None,
        })
        .collect()
}

/// Waits until run `id` was told a bar of `symbol` at `ts` (bounded).
pub(super) async fn until_bar(r: &axum::Router, walle: &Walle, id: i64, symbol: &str, ts: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !told(walle, id, symbol)
        .await
        .iter()
        .any(|(b, _)| b.ts == ts)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} was never told {symbol} at {}: {:?}\n{}",
            utc(ts),
            told(walle, id, symbol).await.last(),
            logs(r, id).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The fake's historical bars of `symbol` in `[from, to)`.
pub(super) async fn historical(
    fake: &FakeAlpaca,
    symbol: &str,
    tf: &str,
    from: i64,
    to: i64,
) -> Vec<Bar> {
    let mut got = venue(fake)
        .bars(&BarsRequest {
            symbols: vec![symbol.to_owned()],
            timeframe: tf.parse::<Timeframe>().expect("timeframe"),
            start: utc(from),
            end: utc(to - 1),
            page_limit: None,
        })
        .await
        .expect("historical bars");
    got.remove(symbol).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_timeframes_build_alpacas_bars_from_the_minute_stream() {
    let fake = a_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(&fake, dir.path()).await;
    let walle = s.walle().clone();
    let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    let hostile = upload(&r, &s, "hostile", "guests/hostile.wasm").await;
    let sma_params = serde_json::json!({"params": {"fast": 1, "slow": 2}});

    // Refusal: a timeframe Alpaca has no bars of, with the accepted list; nothing stored.
    let refused = send(
        &r,
        post_json(
            "/runs",
            run_body(sma, &["AAPL"], "7Min", sma_params.clone()),
        ),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.error_code(), "unsupported_timeframe");
    let details = &refused.json()["details"];
    assert_eq!(details["field"], "timeframe");
    assert_eq!(
        details["accepted"],
        serde_json::json!([
            "1Min", "5Min", "15Min", "30Min", "1Hour", "4Hour", "1Day", "1Week", "1Month"
        ])
    );
    let junk = send(
        &r,
        post_json(
            "/runs",
            run_body(sma, &["AAPL"], "7Fortnights", sma_params.clone()),
        ),
    )
    .await;
    assert_eq!(junk.error_code(), "invalid_timeframe");
    assert_eq!(
        junk.json()["details"]["accepted"].as_array().map(Vec::len),
        Some(9)
    );
    assert_eq!(
        send(&r, get("/runs")).await.json().as_array().map(Vec::len),
        Some(0)
    );

    // Thanksgiving week: Wednesday full, Thursday closed, Friday closing at 13:00. The venue's
    // clock stands before it all, so only the stream moves the bars on.
    fake.set_clock(utc(ny(25, 9, 0)));
    let five = start(&r, run_body(sma, &["AAPL"], "5Min", sma_params.clone())).await;
    let daily = start(&r, run_body(sma, &["MSFT"], "1Day", sma_params.clone())).await;
    until_told(&r, &fake, five, &["AAPL"], ny(24, 15, 59)).await;
    until_told(&r, &fake, daily, &["MSFT"], ny(24, 15, 59)).await;
    let mut minutes: Vec<i64> = (ny(25, 9, 0)..ny(25, 16, 30)).step_by(60_000).collect();
    // Trades reported on the holiday and after Friday's close belong to no regular bar.
    minutes.extend((ny(26, 10, 0)..ny(26, 10, 5)).step_by(60_000));
    minutes.extend((ny(27, 9, 30)..ny(27, 13, 30)).step_by(60_000));
    for (k, ts) in minutes.iter().enumerate() {
        let k = k as i64;
        push(&fake, "AAPL", minute(*ts, k));
        push(&fake, "MSFT", minute(*ts, k + 5));
        if k % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    until_bar(&r, &walle, five, "AAPL", ny(27, 12, 55)).await;
    until_bar(&r, &walle, daily, "MSFT", ny(27, 0, 0)).await;

    let in_session = |ts: i64| {
        (ny(25, 9, 30) <= ts && ts < ny(25, 16, 0)) || (ny(27, 9, 30) <= ts && ts < ny(27, 13, 0))
    };
    let want: Vec<Bar> = historical(&fake, "AAPL", "5Min", ny(25, 0, 0), ny(28, 0, 0))
        .await
        .into_iter()
        .filter(|b| in_session(b.ts))
        .collect();
    let got: Vec<Bar> = told(&walle, five, "AAPL")
        .await
        .into_iter()
        .filter(|(b, _)| b.ts >= ny(25, 0, 0))
        .map(|(b, amended)| {
            assert!(!amended, "nothing came late");
            b
        })
        .collect();
    // 78 bars on Wednesday, 42 on Friday.
    assert_eq!(got.len(), 120);
    assert_eq!(got, want);
    let want = historical(&fake, "MSFT", "1Day", ny(25, 0, 0), ny(28, 0, 0)).await;
    let got: Vec<Bar> = told(&walle, daily, "MSFT")
        .await
        .into_iter()
        .filter(|(b, _)| b.ts >= ny(25, 0, 0))
        .map(|(b, _)| b)
        .collect();
    assert_eq!(
        got.iter().map(|b| b.ts).collect::<Vec<_>>(),
        [ny(25, 0, 0), ny(27, 0, 0)]
    );
    assert_eq!(got, want);
    // Both still trade; the built bars are stored as candles of their timeframe.
    assert_eq!(view(&r, five).await["status"], "running");
    let stored = send(
        &r,
        get(
            "/candles?symbol=MSFT&timeframe=1Day&from=2026-11-25T00:00:00Z&to=2026-11-28T00:00:00Z",
        ),
    )
    .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.json());

    // Empty periods and a late minute: two runs on the same symbols, skipping and carrying.
    fake.set_clock(utc(ny(25, 9, 30)));
    let hostile_params = serde_json::json!({"params": {"mode": "none"}});
    let skip = start(
        &r,
        run_body(hostile, &["QQQ", "IWM"], "5Min", hostile_params.clone()),
    )
    .await;
    let mut carry_params = hostile_params.clone();
    carry_params["empty_bars"] = serde_json::json!("carry");
    let carry = start(&r, run_body(hostile, &["QQQ", "IWM"], "5Min", carry_params)).await;
    until_told(&r, &fake, skip, &["QQQ", "IWM"], ny(25, 9, 44)).await;
    until_told(&r, &fake, carry, &["QQQ", "IWM"], ny(25, 9, 44)).await;
    for (k, ts) in (ny(25, 9, 45)..ny(25, 9, 55)).step_by(60_000).enumerate() {
        push(&fake, "QQQ", minute(ts, k as i64));
        push(&fake, "IWM", minute(ts, k as i64));
    }
    // Alpaca recomputes the 09:53 minute (a late trade at a higher price).
    let mut late = minute(ny(25, 9, 53), 8);
    late.high += 50.0;
    fake.push_updated_bar("QQQ", late);
    // QQQ goes quiet; IWM trades on past 10:00, which ends QQQ's empty 09:55 period.
    for (k, ts) in (ny(25, 9, 55)..=ny(25, 10, 0)).step_by(60_000).enumerate() {
        push(&fake, "IWM", minute(ts, k as i64));
    }
    until_bar(&r, &walle, carry, "QQQ", ny(25, 9, 55)).await;
    until_bar(&r, &walle, skip, "IWM", ny(25, 9, 55)).await;
    let want_amended = historical(&fake, "QQQ", "5Min", ny(25, 9, 50), ny(25, 9, 55)).await;
    for id in [skip, carry] {
        let qqq = told(&walle, id, "QQQ").await;
        let amended: Vec<&(Bar, bool)> = qqq.iter().filter(|(_, a)| *a).collect();
        assert_eq!(amended.len(), 1, "{qqq:?}");
        assert_eq!(amended[0].0, want_amended[0]);
        assert_eq!(amended[0].0.high, late.high);
        let first = qqq
            .iter()
            .find(|(b, _)| b.ts == ny(25, 9, 50))
            .expect("09:50");
        assert!(
            first.0.high < late.high,
            "told first without the late trade"
        );
    }
    let skipped = told(&walle, skip, "QQQ").await;
    assert!(
        !skipped.iter().any(|(b, _)| b.ts == ny(25, 9, 55)),
        "{skipped:?}"
    );
    let carried = told(&walle, carry, "QQQ").await;
    let flat = carried
        .iter()
        .find(|(b, _)| b.ts == ny(25, 9, 55))
        .expect("carried")
        .0;
    let last_close = want_amended[0].close;
    assert_eq!(
        (flat.open, flat.high, flat.low, flat.close, flat.volume),
        (last_close, last_close, last_close, last_close, 0.0)
    );
    // The replay gives the strategy the same bars from the tape, amended ones included.
    stopped_and_replayed(&r, skip).await;

    // Crypto, one hour at a time, across midnight UTC.
    let t = |d: u32, h: u32, m: u32| {
        Utc.with_ymd_and_hms(2026, 11, d, h, m, 0)
            .single()
            .expect("time")
            .timestamp_millis()
    };
    fake.set_clock(utc(t(26, 21, 0)));
    let btc = start(&r, run_body(hostile, &["BTC/USD"], "1Hour", hostile_params)).await;
    until_told(&r, &fake, btc, &["BTC/USD"], t(26, 21, 59)).await;
    let mut ts: Vec<i64> = (t(26, 22, 0)..t(27, 2, 0)).step_by(7 * 60_000).collect();
    ts.push(t(27, 1, 59));
    for (k, ts) in ts.iter().enumerate() {
        push(&fake, "BTC/USD", minute(*ts, k as i64));
    }
    until_bar(&r, &walle, btc, "BTC/USD", t(27, 1, 0)).await;
    let got: Vec<Bar> = told(&walle, btc, "BTC/USD")
        .await
        .into_iter()
        .filter(|(b, _)| b.ts >= t(26, 22, 0))
        .map(|(b, _)| b)
        .collect();
    let want = historical(&fake, "BTC/USD", "1Hour", t(26, 22, 0), t(27, 2, 0)).await;
    assert_eq!(
        got.iter().map(|b| b.ts).collect::<Vec<_>>(),
        [t(26, 22, 0), t(26, 23, 0), t(27, 0, 0), t(27, 1, 0)]
    );
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_up_comes_from_the_store_then_the_venue_and_a_venue_error_pauses() {
    let fake = a_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(&fake, dir.path()).await;
    let walle = s.walle().clone();
    let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    fake.set_clock(utc(ny(25, 9, 0)));
    // The venue has two minutes a day from the 16th to the 24th; closes fall, then rise on the
    // 24th: fast 1 / slow 2 crosses up on the last warm-up bar, and would buy.
    let days = [16, 17, 18, 19, 20, 23, 24];
    let closes = [12.0, 11.0, 10.5, 10.2, 10.0, 9.0, 12.0];
    let mut minutes = Vec::new();
    for (day, close) in days.iter().zip(closes) {
        for (h, m) in [(10, 0), (15, 59)] {
            minutes.push(Bar {
                ts: ny(*day, h, m),
                open: close,
                high: close + 0.5,
                low: close - 0.5,
                close,
                volume: 50.0,
            });
        }
    }
    fake.insert_bars("SPY", &minutes);
    // The store has the 18th to the 20th already, the 18th unlike the venue's.
    let stored: Vec<Candle> = [(18, 10.75), (19, 10.2), (20, 10.0)]
        .into_iter()
        .map(|(day, close)| Candle {
            symbol: "SPY".into(),
            timeframe: "1Day".into(),
            ts: utc(ny(day, 0, 0)),
            open: close,
            high: close + 0.5,
            low: close - 0.5,
            close,
            volume: 100.0,
            source: "alpaca".into(),
        })
        .collect();
    walle.upsert_candles(&stored, None).await.expect("stored");

    let body = run_body(
        sma,
        &["SPY"],
        "1Day",
        serde_json::json!({"params": {"fast": 1, "slow": 2}, "warmup": 5}),
    );
    let id = start(&r, body).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !logs(&r, id).await.contains("warm-up: 5 1Day bars") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            logs(&r, id).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The tape is stored by the run's heartbeat, a moment after the log line.
    let warm: Vec<Bar> = loop {
        let warm: Vec<Bar> = tape(&walle, id)
            .await
            .into_iter()
            .filter_map(|i| match i {
                Input::Warmup { bar, .. } => Some(bar),
                _ => None,
            })
            .collect();
        if warm.len() >= 5 || tokio::time::Instant::now() >= deadline {
            break warm;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        warm.iter().map(|b| b.ts).collect::<Vec<_>>(),
        [18, 19, 20, 23, 24].map(|d| ny(d, 0, 0))
    );
    // The 18th as stored (the venue's close is 10.5), the 23rd and 24th as downloaded.
    assert_eq!(warm[0].close, 10.75);
    let venue_days = historical(&fake, "SPY", "1Day", ny(23, 0, 0), ny(25, 0, 0)).await;
    assert_eq!(warm[3..], venue_days[..]);
    // What was missing is stored now (the whole range the venue answered).
    let now_stored = walle
        .candles("SPY", "1Day", utc(ny(1, 0, 0)), utc(ny(25, 0, 0)), 100)
        .await
        .expect("candles");
    assert_eq!(now_stored.len(), 7);
    assert_eq!(now_stored[2].close, 10.75, "a stored candle is kept");
    // The buy the last warm-up bar asked for (sma-cross reverses: a close, then an order)
    // was not sent.
    assert!(
        logs(&r, id).await.contains("were not sent (2)"),
        "{}",
        logs(&r, id).await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(fake.orders().is_empty(), "{:?}", fake.orders());
    assert_eq!(view(&r, id).await["trading_state"], "active");
    // Replayed, the warm-up is told again and its orders are again not placed.
    stopped_and_replayed(&r, id).await;

    // A venue that refuses the history pauses the run with its message.
    fake.inject(Fault::BarsRefused {
        requests: 1,
        status: 403,
        message: "subscription does not permit querying recent SIP data".into(),
    });
    let body = run_body(
        sma,
        &["DIA"],
        "1Day",
        serde_json::json!({"params": {"fast": 1, "slow": 2}, "warmup": 3}),
    );
    let paused = start(&r, body).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v = view(&r, paused).await;
        if v["trading_state"] == "halted" {
            assert_eq!(v["status"], "running", "{v}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{v}\n{}",
            logs(&r, paused).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = logs(&r, paused).await;
    assert!(
        text.contains("subscription does not permit querying recent SIP data")
            && text.contains("paused"),
        "{text}"
    );
}

/// Waits until run `id`'s log has a line containing `text` (bounded).
async fn until_logged(r: &axum::Router, id: i64, text: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !logs(r, id).await.contains(text) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} never logged {text:?}: {}",
            logs(r, id).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Pushes `probe` minutes of `symbol` until run `id` was told the bar at `bar_ts` (bounded).
async fn until_told_bar(
    r: &axum::Router,
    walle: &Walle,
    fake: &FakeAlpaca,
    id: i64,
    symbol: &str,
    probe: i64,
    bar_ts: i64,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !told(walle, id, symbol)
        .await
        .iter()
        .any(|(b, _)| b.ts == bar_ts)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} was never told {symbol} at {}\n{}",
            utc(bar_ts),
            logs(r, id).await
        );
        push(fake, symbol, minute(probe, 3));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bar_options_survive_a_restart_and_the_warmup_defaults_to_the_declared_one() {
    let fake = a_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(&fake, dir.path()).await;
    let walle = s.walle().clone();
    let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    fake.set_clock(utc(ny(25, 9, 0)));
    // Five trading days of SPY on the venue, for the declared warm-up to download.
    let days: Vec<Bar> = [18, 19, 20, 23, 24]
        .iter()
        .enumerate()
        .map(|(k, day)| minute(ny(*day, 10, 0), k as i64))
        .collect();
    fake.insert_bars("SPY", &days);

    // No `warmup` given: sma-cross declares max(fast, slow) - 1 = 3 bars.
    let declared = start(
        &r,
        run_body(
            sma,
            &["SPY"],
            "1Day",
            serde_json::json!({"params": {"fast": 2, "slow": 4}}),
        ),
    )
    .await;
    until_logged(&r, declared, "warm-up 3 bars (declared by the strategy)").await;
    until_logged(&r, declared, "warm-up: 3 1Day bars told").await;
    assert_eq!(
        view(&r, declared).await["options"],
        serde_json::json!({"extended_hours": false, "empty_bars": "skip", "warmup": null})
    );

    // Non-default options: extended hours (a 19:55 New York bar exists only with them), empty
    // periods carried, a warm-up given.
    let options = serde_json::json!({"extended_hours": true, "empty_bars": "carry", "warmup": 2});
    let mut extra = options.clone();
    extra["params"] = serde_json::json!({"fast": 2, "slow": 4});
    let given = start(&r, run_body(sma, &["QQQ"], "5Min", extra)).await;
    until_logged(&r, given, "warm-up 2 bars (given with the run)").await;
    until_told_bar(
        &r,
        &walle,
        &fake,
        given,
        "QQQ",
        ny(24, 18, 59),
        ny(24, 18, 55),
    )
    .await;
    assert_eq!(view(&r, given).await["options"], options);

    // A shutdown (SIGTERM) suspends both; the next start resumes them with what they were
    // given.
    s.shutdown(Duration::from_secs(10)).await;
    drop(r);
    let (r, s) = app_on(&fake, dir.path()).await;
    let walle = s.walle().clone();
    for id in [declared, given] {
        assert_eq!(view(&r, id).await["status"], "running");
    }
    assert_eq!(view(&r, given).await["options"], options);
    until_logged(
        &r,
        given,
        "run resumed after a restart: venue alpaca recovered",
    )
    .await;
    until_logged(&r, given, "warm-up 2 bars (given with the run)").await;
    until_logged(&r, declared, "warm-up 3 bars (declared by the strategy)").await;
    // Still extended hours: the pre-close-of-the-evening bar is built.
    until_told_bar(
        &r,
        &walle,
        &fake,
        given,
        "QQQ",
        ny(24, 19, 59),
        ny(24, 19, 55),
    )
    .await;
    for id in [declared, given] {
        let stop = send(&r, post_json(&format!("/runs/{id}/stop"), "{}")).await;
        assert!(stop.status.is_success(), "{}", stop.json());
    }
    s.shutdown(Duration::from_secs(10)).await;
}
