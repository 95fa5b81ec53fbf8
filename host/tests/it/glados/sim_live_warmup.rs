//! What `sim-live` runs share with Alpaca runs since issue #21's last gaps, against the local
//! fake, on SQLite and PostgreSQL: a warm-up before the first live bar (from the stored candles,
//! the missing part downloaded from Alpaca; the strategy's declared one by default); a late
//! minute within the grace told as an `amended` bar, stored, its fills untouched; a replay of the
//! run (`POST /runs/{id}/replay`) identical to it, warm-up and amendments included, refused with
//! `replay_candles_missing` once a 1-minute bar it got is deleted; and a venue error during the
//! warm-up pausing the run with the venue's message.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use weaver::app::{App, Config};
use weaver::domain::Bar;
use weaver::veda::alpaca::fake::{FakeAlpaca, Fault};
use weaver::veda::desk::Desk;
use weaver::veda::live::tape::Input;
use weaver::walle::{Candle, Walle};

use super::live_timeframes::{
    a_fake, historical, logs, minute, ny, push, stopped_and_replayed, tape, told, until_told, utc,
    view,
};
use super::replay::replay;
use super::runs::{orders_of, upload};
use super::send;
use crate::support::post_json;
use crate::veda::venue;
use crate::walle::support::{Kind, TestStore};

/// An app on `walle` whose `alpaca` desk is on `fake`, with the decisions projection running
/// (the replays compare with it).
async fn app(fake: &FakeAlpaca, walle: Walle, dir: &std::path::Path) -> (axum::Router, App) {
    let desk = Desk::new(Arc::new(venue(fake)), walle.clone(), false);
    let state = App::with_desks(Config::for_tests(dir), walle, vec![desk]).expect("state");
    state.start().await.expect("start");
    (weaver::glados::router(state.state()), state)
}

fn body(strategy: i64, symbol: &str, tf: &str, extra: serde_json::Value) -> String {
    let mut v = serde_json::json!({
        "strategy": strategy, "mode": "paper", "venue": "sim-live", "symbols": [symbol],
        "timeframe": tf, "cash": 100_000.0
    });
    if let (Some(map), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        map.extend(more);
    }
    v.to_string()
}

async fn start(r: &axum::Router, req: String) -> i64 {
    let created = send(r, post_json("/runs", req)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    created.json()["id"].as_i64().expect("id")
}

/// Waits until run `id`'s log has a line containing `text` (bounded).
async fn until_logged(r: &axum::Router, id: i64, text: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !logs(r, id).await.contains(text) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} never logged {text:?}: {}",
            logs(r, id).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The warm-up bars run `id` taped, once it taped `n` (bounded).
async fn warm_up_of(walle: &Walle, id: i64, n: usize) -> Vec<Bar> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let warm: Vec<Bar> = tape(walle, id)
            .await
            .into_iter()
            .filter_map(|i| match i {
                Input::Warmup { bar, .. } => Some(bar),
                _ => None,
            })
            .collect();
        if warm.len() >= n {
            return warm;
        }
        assert!(tokio::time::Instant::now() < deadline, "{warm:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Minutes of `symbol` pushed until a run was told what they make: `bars` as streamed, then
/// `updated` as recomputed (`updatedBars`).
struct Probes<'a> {
    symbol: &'a str,
    bars: &'a [Bar],
    updated: &'a [Bar],
}

impl<'a> Probes<'a> {
    fn of(symbol: &'a str, bars: &'a [Bar]) -> Probes<'a> {
        Probes {
            symbol,
            bars,
            updated: &[],
        }
    }
}

/// Pushes the `probes`, in order, until run `id` was told (taped) a bar where `told_bar` holds
/// (bounded): its subscription is live, and a minute lost on the way (the fake's socket
/// reconnecting under load) is sent again; a repeated minute changes nothing.
async fn until_told_where(
    r: &axum::Router,
    walle: &Walle,
    fake: &FakeAlpaca,
    id: i64,
    probes: Probes<'_>,
    told_bar: impl Fn(&(Bar, bool)) -> bool,
) {
    let symbol = probes.symbol;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !told(walle, id, symbol).await.iter().any(&told_bar) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id}: {:?}\n{}",
            told(walle, id, symbol).await,
            logs(r, id).await
        );
        for probe in probes.bars {
            push(fake, symbol, *probe);
        }
        for probe in probes.updated {
            fake.push_updated_bar(symbol, *probe);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A 1Day `sim-live` run is told its warm-up from the store, the missing part downloaded, and
/// replays identically; a run without `warmup` gets the strategy's declared one from the store.
async fn warm_up_from_the_store_and_the_venue(
    r: &axum::Router,
    walle: &Walle,
    fake: &FakeAlpaca,
    sma: i64,
) {
    fake.set_clock(utc(ny(25, 9, 0)));
    // Two minutes a day on the venue from the 16th to the 24th; closes fall, then rise on the
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

    let params = serde_json::json!({"params": {"fast": 1, "slow": 2}, "warmup": 5});
    let id = start(r, body(sma, "SPY", "1Day", params)).await;
    until_logged(r, id, "warm-up 5 bars (given with the run)").await;
    until_logged(r, id, "warm-up: 5 1Day bars told before the first live bar").await;
    let warm = warm_up_of(walle, id, 5).await;
    assert_eq!(
        warm.iter().map(|b| b.ts).collect::<Vec<_>>(),
        [18, 19, 20, 23, 24].map(|d| ny(d, 0, 0))
    );
    // The 18th as stored (the venue's close is 10.5), the 23rd and 24th as downloaded.
    assert_eq!(warm[0].close, 10.75);
    let venue_days = historical(fake, "SPY", "1Day", ny(23, 0, 0), ny(25, 0, 0)).await;
    assert_eq!(warm[3..], venue_days[..]);
    // What was missing is stored now (the whole range the venue answered), a stored one kept.
    let now_stored = walle
        .candles("SPY", "1Day", utc(ny(1, 0, 0)), utc(ny(25, 0, 0)), 100)
        .await
        .expect("candles");
    assert_eq!(now_stored.len(), 7);
    assert_eq!(now_stored[2].close, 10.75, "a stored candle is kept");
    // The buy the last warm-up bar asked for (a close, then an order) was not placed.
    until_logged(r, id, "were not sent (2)").await;
    assert!(orders_of(r, id).await.is_empty());
    assert_eq!(view(r, id).await["trading_state"], "active");
    // Replayed, the warm-up is told again and its orders are again not placed.
    stopped_and_replayed(r, id).await;

    // No `warmup`: sma-cross declares max(fast, slow) - 1 = 3 bars, all in the store now.
    let params = serde_json::json!({"params": {"fast": 2, "slow": 4}});
    let declared = start(r, body(sma, "SPY", "1Day", params)).await;
    until_logged(r, declared, "warm-up 3 bars (declared by the strategy)").await;
    until_logged(
        r,
        declared,
        "warm-up: 3 1Day bars told before the first live bar (0 downloaded from alpaca)",
    )
    .await;
    let warm = warm_up_of(walle, declared, 3).await;
    assert_eq!(
        warm.iter().map(|b| b.ts).collect::<Vec<_>>(),
        [20, 23, 24].map(|d| ny(d, 0, 0))
    );
    let stop = send(r, post_json(&format!("/runs/{declared}/stop"), "{}")).await;
    assert!(stop.status.is_success(), "{}", stop.json());
}

/// A 5-minute `sim-live` run on QQQ is told its warm-up, then its bars; a minute of the
/// warm-up's last period on the stream is not told again; Alpaca recomputes a minute of a bar
/// already stepped: the strategy is told the bar again, amended, the stored candle becomes the
/// amended one, the exchange steps on; the replay is identical.
async fn amended_bars_are_told_and_replayed(
    r: &axum::Router,
    walle: &Walle,
    fake: &FakeAlpaca,
    hostile: i64,
) {
    // Two 5-minute bars on the venue before the run's day, for its warm-up.
    let before: Vec<Bar> = (0..10)
        .map(|k| minute(ny(24, 15, 50) + k * 60_000, k))
        .collect();
    fake.insert_bars("QQQ", &before);
    fake.set_clock(utc(ny(25, 9, 30)));
    // `mode: none` logs on every bar: a decision for each bar it is told, amended ones too.
    let params = serde_json::json!({"params": {"mode": "none"}, "warmup": 2});
    let id = start(r, body(hostile, "QQQ", "5Min", params)).await;
    // The stream reaches back into the warm-up's last period (a reconnect's repeat of its last
    // minute): the exchange builds and steps it, the run does not tell it again.
    until_told_where(
        r,
        walle,
        fake,
        id,
        Probes::of("QQQ", &[before[9]]),
        |(b, _)| b.ts == ny(24, 15, 55),
    )
    .await;
    until_told_where(
        r,
        walle,
        fake,
        id,
        Probes::of("QQQ", &[minute(ny(25, 9, 44), 3)]),
        |(b, _)| b.ts == ny(25, 9, 40),
    )
    .await;
    let day: Vec<Bar> = (ny(25, 9, 45)..ny(25, 9, 55))
        .step_by(60_000)
        .enumerate()
        .map(|(k, ts)| minute(ts, k as i64))
        .collect();
    until_told_where(r, walle, fake, id, Probes::of("QQQ", &day), |(b, _)| {
        b.ts == ny(25, 9, 50)
    })
    .await;
    // Alpaca recomputes the 09:53 minute (a late trade at a higher price), within the grace.
    let mut late = minute(ny(25, 9, 53), 8);
    late.high += 50.0;
    let updated = Probes {
        updated: &[late],
        ..Probes::of("QQQ", &[])
    };
    until_told_where(r, walle, fake, id, updated, |(_, amended)| *amended).await;
    // The exchange steps on after the amendment.
    let next: Vec<Bar> = (ny(25, 9, 55)..ny(25, 10, 0))
        .step_by(60_000)
        .enumerate()
        .map(|(k, ts)| minute(ts, k as i64 + 10))
        .collect();
    until_told_where(r, walle, fake, id, Probes::of("QQQ", &next), |(b, _)| {
        b.ts == ny(25, 9, 55)
    })
    .await;

    let inputs = tape(walle, id).await;
    let first_bar = inputs
        .iter()
        .position(|i| matches!(i, Input::Aggregated { .. }))
        .expect("a bar");
    let warm: Vec<i64> = inputs[..first_bar]
        .iter()
        .filter_map(|i| match i {
            Input::Warmup { bar, .. } => Some(bar.ts),
            _ => None,
        })
        .collect();
    assert_eq!(warm, [ny(24, 15, 50), ny(24, 15, 55)], "warm-up first");
    let qqq = told(walle, id, "QQQ").await;
    let at_0950: Vec<&(Bar, bool)> = qqq.iter().filter(|(b, _)| b.ts == ny(25, 9, 50)).collect();
    assert_eq!(at_0950.len(), 2, "{qqq:?}");
    let (first, amended) = (at_0950[0], at_0950[1]);
    assert!(!first.1 && amended.1, "{qqq:?}");
    assert!(
        first.0.high < late.high,
        "told first without the late trade"
    );
    let want = historical(fake, "QQQ", "5Min", ny(25, 9, 50), ny(25, 9, 55)).await;
    assert_eq!(amended.0, want[0], "the amended bar is Alpaca's");
    assert_eq!(qqq.iter().filter(|(_, a)| *a).count(), 1, "{qqq:?}");
    // The stored candle of the period is the amended bar (stored off the bar path).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let c = walle
            .candles("QQQ", "5Min", utc(ny(25, 9, 50)), utc(ny(25, 9, 51)), 1)
            .await
            .expect("candles");
        if c.first().is_some_and(|c| c.high == late.high) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{c:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing reached the broker; the replay is identical, the amended decision included.
    assert_eq!(fake.post_order_requests(), 0);
    let report = stopped_and_replayed(r, id).await;
    // Its answers to bars (`mode: none` logs "bar" on each; the account cues told at the same
    // time are answered with nothing), once the answer to its last bar is stored (the replay
    // above may have compared a run still storing its last decisions).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while answers_at(walle, id, ny(25, 9, 55)).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "{report}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        answers_at(walle, id, ny(25, 9, 50)).await,
        2,
        "the strategy answered the bar and its amendment: {report}"
    );
    assert_eq!(
        answers_at(walle, id, ny(24, 15, 55)).await,
        1,
        "the warm-up's last bar told once: {report}"
    );
}

/// How many of run `id`'s stored decisions at bar time `ts` answered a bar (asked for something).
async fn answers_at(walle: &Walle, id: i64, ts: i64) -> usize {
    walle
        .strategy_results(id, 0, 1000)
        .await
        .expect("decisions")
        .iter()
        .filter(|d| d.bar_ts == Some(utc(ts)) && !d.intents.0.is_empty())
        .count()
}

/// A 1-minute `sim-live` run's replay reads its bars back from the stored live candles, and is
/// refused with `replay_candles_missing` once they are gone.
async fn replay_refused_without_its_candles(
    r: &axum::Router,
    walle: &Walle,
    fake: &FakeAlpaca,
    hostile: i64,
) {
    let params = serde_json::json!({"params": {"mode": "none"}});
    let id = start(r, body(hostile, "IWM", "1Min", params)).await;
    until_told(r, fake, id, &["IWM"], ny(25, 11, 0)).await;
    for (k, ts) in (ny(25, 11, 1)..ny(25, 11, 6)).step_by(60_000).enumerate() {
        push(fake, "IWM", minute(ts, k as i64));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while view(r, id).await["figures"]["bars"].as_u64() < Some(6) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            view(r, id).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stopped_and_replayed(r, id).await;
    walle
        .delete_candle_series("IWM", "1Min")
        .await
        .expect("deleted");
    let gone = replay(r, id).await;
    assert_eq!(
        gone.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        gone.json()
    );
    assert_eq!(gone.error_code(), "replay_candles_missing");
    assert!(
        gone.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("1Min candle of IWM")),
        "{}",
        gone.json()
    );
}

/// A venue that refuses the warm-up's history pauses the run with its message.
async fn a_venue_error_pauses(r: &axum::Router, fake: &FakeAlpaca, sma: i64) {
    fake.set_clock(utc(ny(25, 9, 0)));
    fake.inject(Fault::BarsRefused {
        requests: 1,
        status: 403,
        message: "subscription does not permit querying recent SIP data".into(),
    });
    let params = serde_json::json!({"params": {"fast": 1, "slow": 2}, "warmup": 3});
    let paused = start(r, body(sma, "DIA", "1Day", params)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v = view(r, paused).await;
        if v["trading_state"] == "halted" {
            assert_eq!(v["status"], "running", "{v}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{v}\n{}",
            logs(r, paused).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = logs(r, paused).await;
    assert!(
        text.contains("subscription does not permit querying recent SIP data")
            && text.contains("warm-up failed, the run is paused")
            && text.contains("venue alpaca answered"),
        "{text}"
    );
    let stop = send(r, post_json(&format!("/runs/{paused}/stop"), "{}")).await;
    assert!(stop.status.is_success(), "{}", stop.json());
}

async fn sim_live_warm_up_amendments_and_replay(kind: Kind) {
    let store = TestStore::new(kind).await;
    let fake = a_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app(&fake, store.walle.clone(), dir.path()).await;
    let walle = store.walle.clone();
    let sma = upload(&r, &s, "sma-cross", "sma-cross.wasm").await;
    let hostile = upload(&r, &s, "hostile", "guests/hostile.wasm").await;
    warm_up_from_the_store_and_the_venue(&r, &walle, &fake, sma).await;
    amended_bars_are_told_and_replayed(&r, &walle, &fake, hostile).await;
    replay_refused_without_its_candles(&r, &walle, &fake, hostile).await;
    a_venue_error_pauses(&r, &fake, sma).await;
    s.shutdown(Duration::from_secs(10)).await;
    drop(r);
    store.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_live_warm_up_amendments_and_replay_sqlite() {
    sim_live_warm_up_amendments_and_replay(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_live_warm_up_amendments_and_replay_postgres() {
    sim_live_warm_up_amendments_and_replay(Kind::Pg).await;
}
