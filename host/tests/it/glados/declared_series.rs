//! Declared series (contract 0.3) on Alpaca runs against the local fake: the `trend-filter`
//! example trading 5-minute bars filtered by its daily series makes the same decisions in the
//! run, in the run's replay from its tape (the daily windows it was served are on the tape) and
//! in a backtest over the same stored candles; a declared series with no stored candles is
//! fetched from the venue and stored, and a later window comes from the store.

use std::time::Duration;

use weaver::domain::{Bar, Intent, SeriesDecl, Side, SymbolBar, Timeframe};
use weaver::greta::broker::BrokerConfig;
use weaver::greta::csv::Series;
use weaver::greta::{Backtest, Commission, EngineConfig, FillModel};
use weaver::veda::live::tape::Input;
use weaver::walle::{Candle, Walle};

use super::live_timeframes::{
    a_fake, app_on, historical, minute, ny, push, stopped_and_replayed, tape, until_bar,
    until_told, utc,
};
use super::runs::upload;
use super::send;
use crate::support::post_json;

const PARAMS: [(&str, &str); 3] = [("fast", "2"), ("slow", "4"), ("trend", "3")];

fn body(strategy: i64, symbol: &str) -> String {
    serde_json::json!({
        "strategy": strategy, "mode": "paper", "venue": "alpaca", "symbols": [symbol],
        "timeframe": "5Min", "cash": 1_000_000.0, "warmup": 0,
        "params": {"fast": 2, "slow": 4, "trend": 3},
        // The backtest it is compared with has no risk limits; an Alpaca run starts from the
        // defaults, and its market fills (at whatever price the fake has when the order
        // arrives) could lose the 5 % of `daily_loss_pct` on one run in five and turn it
        // reduce-only, a divergence from the backtest that says nothing about declared series.
        "risk": {"daily_loss_pct": null, "max_drawdown_pct": null}
    })
    .to_string()
}

async fn start(r: &axum::Router, req: String) -> i64 {
    let created = send(r, post_json("/runs", req)).await;
    assert_eq!(
        created.status,
        axum::http::StatusCode::CREATED,
        "{}",
        created.json()
    );
    created.json()["id"].as_i64().expect("id")
}

async fn stored(walle: &Walle, symbol: &str, tf: &str) -> Vec<Bar> {
    walle
        .candles(
            symbol,
            tf,
            chrono::DateTime::UNIX_EPOCH,
            weaver::domain::far_future(),
            i64::MAX,
        )
        .await
        .expect("candles")
        .iter()
        .map(Candle::bar)
        .collect()
}

/// Polls `probe` until it gives a value (bounded).
async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The daily windows run `id` was served, from its tape (`None`: unchanged).
async fn windows(walle: &Walle, id: i64) -> Vec<(String, String, Option<Vec<Bar>>)> {
    tape(walle, id)
        .await
        .into_iter()
        .filter_map(|i| match i {
            Input::Window {
                symbol,
                timeframe,
                bars,
            } => Some((symbol, timeframe, bars)),
            _ => None,
        })
        .collect()
}

/// The order decisions of run `id`: (bar time, side); closes are sells (the strategy is long
/// only).
async fn orders_decided(walle: &Walle, id: i64) -> Vec<(i64, Side)> {
    walle
        .strategy_results(id, 0, 10_000)
        .await
        .expect("decisions")
        .into_iter()
        .flat_map(|d| {
            let ts = d.bar_ts.map_or(0, |t| t.timestamp_millis());
            d.intents.0.into_iter().filter_map(move |i| match i {
                Intent::PlaceOrder(o) => Some((ts, o.side)),
                Intent::ClosePosition { .. } => Some((ts, Side::Sell)),
                _ => None,
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trend_filter_decides_alike_live_in_its_replay_and_in_a_backtest() {
    let fake = a_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(&fake, dir.path()).await;
    let walle = s.walle().clone();
    let trend = upload(&r, &s, "trend-filter", "trend-filter.wasm").await;
    // The daily series, stored: a rising trend up to Tuesday the 24th.
    let days = [16, 17, 18, 19, 20, 23, 24];
    let daily: Vec<Candle> = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let close = 90.0 + 2.0 * i as f64;
            Candle {
                symbol: "AAPL".into(),
                timeframe: "1Day".into(),
                ts: utc(ny(*d, 0, 0)),
                open: close - 1.0,
                high: close + 1.0,
                low: close - 2.0,
                close,
                volume: 1e6,
                source: "download".into(),
            }
        })
        .collect();
    walle.upsert_candles(&daily, None).await.expect("daily");

    fake.set_clock(utc(ny(25, 9, 0)));
    let id = start(&r, body(trend, "AAPL")).await;
    until_told(&r, &fake, id, &["AAPL"], ny(24, 15, 59)).await;
    for (k, ts) in (ny(25, 9, 30)..ny(25, 16, 0)).step_by(60_000).enumerate() {
        push(&fake, "AAPL", minute(ts, k as i64));
        if k % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    until_bar(&r, &walle, id, "AAPL", ny(25, 15, 55)).await;
    // It asked for the daily window on the first bar of each UTC day: the 24th's and the 25th's.
    let served = windows(&walle, id).await;
    let want: Vec<Bar> = daily.iter().map(Candle::bar).collect();
    assert_eq!(
        served,
        vec![
            ("AAPL".into(), "1Day".into(), Some(want[3..6].to_vec())),
            ("AAPL".into(), "1Day".into(), Some(want[4..7].to_vec())),
        ],
        "only days closed by then"
    );
    let report = stopped_and_replayed(&r, id).await;
    let live = orders_decided(&walle, id).await;
    assert!(live.len() >= 2, "the example trades: {live:?} ({report})");

    // A backtest over the same stored candles: the 5-minute bars the run was told (stored by
    // the desk) and the daily series.
    // The desk stores the bars off the bar path.
    let five = eventually("the run's 5-minute bars stored", || async {
        let five = stored(&walle, "AAPL", "5Min").await;
        (five.len() == 1 + 78).then_some(five)
    })
    .await;
    let mut bt = Backtest::new(vec![Series {
        symbol: "AAPL".into(),
        path: "stored".into(),
        bars: five
            .iter()
            .map(|&bar| SymbolBar { symbol: 0, bar })
            .collect(),
    }])
    .expect("backtest");
    bt.add_stored_series(
        &SeriesDecl {
            symbol: "AAPL".into(),
            timeframe: Timeframe::DAY,
        },
        stored(&walle, "AAPL", "1Day").await,
    );
    let params: Vec<(String, String)> = PARAMS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (marvin, _cache) = crate::marvin::marvin();
    let mut strategy = marvin
        .load_file(&crate::support::dist("trend-filter.wasm"))
        .expect("loads")
        .instantiate(&bt.strategy_config(&params))
        .expect("init");
    let engine = EngineConfig {
        fills: Default::default(),
        broker: BrokerConfig {
            cash: 1_000_000.0,
            commission: Commission::default(),
            slippage_bps: 0.0,
            fill: FillModel::NextOpen,
            fractional: false,
        },
        finalize: false,
        warmup: Some(0),
        params,
    };
    let result = bt.run(&mut strategy, &engine, None).expect("runs");
    // Its buys are its orders; a close shows as the trade it ends, filled at the bar after the
    // one it was decided on. A close decided on the last bar fills nowhere: compared before it.
    let last = five.last().map_or(0, |b| b.ts);
    let mut backtest: Vec<(i64, Side)> = result
        .orders
        .iter()
        .map(|o| (o.ts, o.intent.side))
        .collect();
    for t in &result.trades {
        let decided = five
            .iter()
            .rev()
            .find(|b| b.ts < t.exit_ts)
            .expect("a bar before the exit");
        backtest.push((decided.ts, Side::Sell));
    }
    backtest.sort_by_key(|(ts, side)| (*ts, *side == Side::Sell));
    backtest.retain(|(ts, _)| *ts < last);
    let live: Vec<(i64, Side)> = live.into_iter().filter(|(ts, _)| *ts < last).collect();
    assert!(
        live.iter().any(|(_, s)| *s == Side::Sell),
        "it closes too: {live:?}"
    );
    assert_eq!(live, backtest, "the run decides as the backtest");
    s.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_series_not_stored_comes_from_the_venue_is_stored_then_read_from_the_store() {
    let fake = a_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (r, s) = app_on(&fake, dir.path()).await;
    let walle = s.walle().clone();
    let trend = upload(&r, &s, "trend-filter", "trend-filter.wasm").await;
    // The venue's history: a few minutes a day; nothing stored here.
    for (i, d) in [18, 19, 20, 23, 24].iter().enumerate() {
        for (k, ts) in (ny(*d, 10, 0)..ny(*d, 10, 5)).step_by(60_000).enumerate() {
            push(&fake, "MSFT", minute(ts, (i * 5 + k) as i64));
        }
    }
    assert!(stored(&walle, "MSFT", "1Day").await.is_empty());
    let asked = |fake: &weaver::veda::alpaca::fake::FakeAlpaca| {
        fake.bars_requests()
            .iter()
            .filter(|q| q.symbols == "MSFT")
            .count()
    };
    fake.set_clock(utc(ny(25, 9, 0)));

    let first = start(&r, body(trend, "MSFT")).await;
    // Its first bar (09:30) asks for the daily window: from the venue, which is stored.
    until_told(&r, &fake, first, &["MSFT"], ny(25, 9, 34)).await;
    let served = eventually("the first window taped", || async {
        let w = windows(&walle, first).await;
        (!w.is_empty()).then_some(w)
    })
    .await;
    let venue_days = historical(&fake, "MSFT", "1Day", ny(18, 0, 0), ny(25, 0, 0)).await;
    assert_eq!(venue_days.len(), 5);
    // Every day that closed by then is stored (the 25th's bar is still forming).
    assert_eq!(stored(&walle, "MSFT", "1Day").await, venue_days);
    let asked_first = asked(&fake);
    assert!(asked_first >= 1, "the venue was asked");
    assert_eq!(
        served,
        vec![("MSFT".into(), "1Day".into(), Some(venue_days[2..].to_vec()))]
    );
    let stop = send(&r, post_json(&format!("/runs/{first}/stop"), "{}")).await;
    assert!(stop.status.is_success(), "{}", stop.json());

    // A second run's window comes from the store: the venue is not asked again.
    let second = start(&r, body(trend, "MSFT")).await;
    until_told(&r, &fake, second, &["MSFT"], ny(25, 9, 39)).await;
    let served = eventually("the second window taped", || async {
        let w = windows(&walle, second).await;
        (!w.is_empty()).then_some(w)
    })
    .await;
    assert_eq!(
        served,
        vec![("MSFT".into(), "1Day".into(), Some(venue_days[2..].to_vec()))]
    );
    assert_eq!(asked(&fake), asked_first, "the window came from the store");
    s.shutdown(Duration::from_secs(10)).await;
}
