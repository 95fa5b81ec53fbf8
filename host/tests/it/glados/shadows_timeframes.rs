//! A shadow of a run on the fake Alpaca that builds 5-minute bars from the minute stream: it
//! is handed the bars the run built (not the minutes), the run's warm-up before them and the
//! run's amended bar, so a shadow of the same version and parameters decides exactly as the
//! run does, from the warm-up's first signal on; a shadow with other parameters diverges. The
//! same holds for a `sim-live` run over the fake, whose exchange builds the bars and amends
//! them (`BarEvent::Amended`).

use std::time::Duration;

use axum::http::StatusCode;
use weaver::domain::Bar;

use super::live_timeframes::{a_fake, app_on, logs, ny, push, told, until_bar, utc};
use super::replay::{create_run, projected};
use super::runs::upload;
use super::send;
use super::shadows::{diff, shadow, shadows_ended, ts};
use crate::support::post_json;

/// Five minutes from `start`, flat at `close` but for the first's open.
fn period(start: i64, close: f64) -> Vec<Bar> {
    (0..5)
        .map(|i| Bar {
            ts: start + i * 60_000,
            open: close,
            high: close + 0.5,
            low: close - 0.5,
            close,
            volume: 100.0,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_of_a_5min_alpaca_run_decides_as_the_run() {
    decides_as_the_run("alpaca").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_of_a_5min_sim_live_run_decides_as_the_run() {
    decides_as_the_run("sim-live").await;
}

/// A 5-minute run on `venue` with a warm-up and an amended bar, and two shadows of it.
async fn decides_as_the_run(venue: &str) {
    let fake = a_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, app) = app_on(&fake, dir.path()).await;
    let walle = app.walle().clone();
    let sma = upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    // The venue's history: a falling morning on the 24th, the run's warm-up.
    let history: Vec<Bar> = (0..5)
        .flat_map(|p| period(ny(24, 9, 30) + p * 300_000, 110.0 - p as f64))
        .collect();
    fake.insert_bars("AAPL", &history);
    fake.set_clock(utc(ny(25, 9, 0)));
    let corr = format!("shadow-5min-{venue}");
    let body = serde_json::json!({"strategy": sma, "mode": "paper", "venue": venue,
        "symbols": ["AAPL"], "timeframe": "5Min", "params": {"fast": 1, "slow": 2},
        "warmup": 5, "cash": 1_000_000.0});
    let created = send(&r, create_run(&body.to_string(), &corr)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let run = created.json()["id"].as_i64().expect("id");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !logs(&r, run).await.contains("warm-up: 5 5Min bars") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            logs(&r, run).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let same = shadow(&r, run, serde_json::json!({"strategy": sma})).await;
    assert_eq!(same.status, StatusCode::CREATED, "{}", same.json());
    let same = same.json()["id"].as_i64().expect("id");
    let other = shadow(
        &r,
        run,
        serde_json::json!({"strategy": sma, "params": {"fast": 2, "slow": 4}}),
    )
    .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.json());
    let other = other.json()["id"].as_i64().expect("id");

    // The 25th: the first bar rises above the warm-up's last two (fast 1 crosses slow 2: a
    // buy only a strategy told the warm-up makes), then up and down.
    let closes = [120.0, 118.0, 121.0, 117.0, 119.0, 122.0, 116.0, 118.0];
    let starts: Vec<i64> = (0..closes.len() as i64)
        .map(|p| ny(25, 9, 30) + p * 300_000)
        .collect();
    // Until the run's subscription is live, the first period's minutes are sent again (the
    // aggregator takes each minute once).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        for m in period(starts[0], closes[0]) {
            push(&fake, "AAPL", m);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if told(&walle, run, "AAPL")
            .await
            .iter()
            .any(|(b, _)| b.ts == starts[0])
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            logs(&r, run).await
        );
    }
    for (i, (start, close)) in starts.iter().zip(closes).enumerate().skip(1) {
        for m in period(*start, close) {
            push(&fake, "AAPL", m);
        }
        if i == 1 {
            // Alpaca recomputes the last minute of the 09:35 bar just told: a late trade lower
            // down amends it.
            let mut late = period(starts[1], closes[1])[4];
            late.close = 115.0;
            late.low = 114.0;
            fake.push_updated_bar("AAPL", late);
        }
    }
    let last = *starts.last().expect("bars");
    until_bar(&r, &walle, run, "AAPL", last).await;
    let amended: Vec<(Bar, bool)> = told(&walle, run, "AAPL")
        .await
        .into_iter()
        .filter(|(_, a)| *a)
        .collect();
    assert_eq!(amended.len(), 1, "{amended:?}");
    assert_eq!(amended[0].0.ts, starts[1]);
    // Until both shadows took the last bar.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let a = diff(&r, run, same).await;
        let b = diff(&r, run, other).await;
        let at = |d: &serde_json::Value| {
            d["shadow_equity"]
                .as_array()
                .and_then(|c| c.last())
                .map(|p| ts(&p["ts"]).timestamp_millis())
        };
        if at(&a) == Some(last) && at(&b) == Some(last) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{a}\n{b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stop = send(&r, post_json(&format!("/runs/{run}/stop"), "")).await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.json());
    let ended = shadows_ended(&r, run).await;
    assert!(ended.iter().all(|s| s["status"] == "stopped"), "{ended:?}");
    projected(&r, run, &corr).await;
    assert!(
        fake.orders()
            .iter()
            .all(|o| !o.client_order_id.contains("shadow")),
        "{:?}",
        fake.orders()
    );

    // The same version decides as the run on every built bar, the first live one (a buy
    // from the warm-up's state) included.
    let d = diff(&r, run, same).await;
    assert!(d["first_divergence"].is_null(), "{d}");
    assert_eq!(ts(&d["compared_until"]).timestamp_millis(), last, "{d}");
    let traded: Vec<i64> = d["bars"]
        .as_array()
        .expect("bars")
        .iter()
        .map(|b| ts(&b["bar_ts"]).timestamp_millis())
        .collect();
    assert_eq!(traded.first(), Some(&starts[0]), "{d}");
    assert!(traded.len() > 2, "{d}");
    // Its bars are the run's: the warm-up's five, the eight built, the amended one again.
    let decided = walle
        .shadow_decisions(same, 0, 10_000)
        .await
        .expect("shadow decisions");
    let bars: Vec<i64> = decided
        .iter()
        .filter(|x| x.event_type == "market.Bar")
        .map(|x| x.bar_ts.timestamp_millis())
        .collect();
    let mut want: Vec<i64> = (0..5).map(|p| ny(24, 9, 30) + p * 300_000).collect();
    want.extend(&starts[..2]);
    want.push(starts[1]);
    want.extend(&starts[2..]);
    assert_eq!(bars, want);
    // Other parameters diverge.
    let d = diff(&r, run, other).await;
    assert!(!d["first_divergence"].is_null(), "{d}");
    app.shutdown(Duration::from_secs(10)).await;
}
