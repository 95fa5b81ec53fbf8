//! The gap report of `GET /candles/series`: an equity series missing a holiday (not a gap) and
//! two sessions (two gaps) by the venue's calendar, the same series against weekdays when no
//! venue is configured (the holiday counts), and a crypto series against every UTC day. The
//! list is kept between requests and computed again only for a series written since.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use serde_json::json;
use weaver::app::{App, Config};
use weaver::domain::Bar;
use weaver::greta::broker::{BrokerConfig, Commission, FillModel};
use weaver::veda::desk::Desk;
use weaver::veda::sim::{SimConfig, SimVenue, Speed};
use weaver::walle::{Candle, Walle};

use super::{get, send};

fn candle(symbol: &str, timeframe: &str, ts: chrono::DateTime<Utc>) -> Candle {
    Candle {
        symbol: symbol.into(),
        timeframe: timeframe.into(),
        ts,
        open: 1.0,
        high: 1.0,
        low: 1.0,
        close: 1.0,
        volume: 1.0,
        source: "test".into(),
    }
}

/// Midnight New York (summer) of 2024-07-`d`, as Alpaca stamps daily bars.
fn daily(d: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 7, d, 4, 0, 0)
        .single()
        .expect("time")
}

/// A venue whose trading calendar is July 2024's first two weeks without the 4th (a holiday).
fn calendar_venue() -> SimVenue {
    let bars = [1, 2, 3, 5, 8, 9, 10, 11, 12]
        .map(|d| Bar {
            ts: daily(d).timestamp_millis(),
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1.0,
        })
        .to_vec();
    let config = SimConfig {
        broker: BrokerConfig {
            cash: 1.0,
            commission: Commission::default(),
            slippage_bps: 0.0,
            fill: FillModel::NextOpen,
            fractional: false,
        },
        speed: Speed::Lockstep,
    };
    SimVenue::new(BTreeMap::from([("CAL".to_owned(), bars)]), config).expect("venue")
}

async fn series(r: &axum::Router) -> serde_json::Value {
    let resp = send(r, get("/candles/series")).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.json());
    resp.json()
}

fn gaps_of(all: &serde_json::Value, symbol: &str) -> serde_json::Value {
    all.as_array()
        .expect("series")
        .iter()
        .find(|s| s["symbol"] == symbol)
        .unwrap_or_else(|| panic!("no {symbol} in {all}"))["gaps"]
        .clone()
}

fn range(from: u32, to: u32, sessions: u64) -> serde_json::Value {
    let day = |d| {
        NaiveDate::from_ymd_opt(2024, 7, d)
            .expect("date")
            .to_string()
    };
    json!({"from": day(from), "to": day(to), "sessions": sessions})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gap_report_counts_missing_sessions_by_the_calendar_it_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::for_tests(dir.path());
    let walle = Walle::connect(&config.db).await.expect("sqlite store");
    // The equity misses the 3rd and the 10th (gaps) and the 4th (a holiday: not one).
    let mut rows: Vec<Candle> = [1, 2, 5, 8, 9, 11, 12]
        .map(|d| candle("GAPS", "1Day", daily(d)))
        .to_vec();
    // The crypto pair trades every hour of the 1st and the 3rd (UTC), none on the 2nd.
    let midnight = Utc
        .with_ymd_and_hms(2024, 7, 1, 0, 0, 0)
        .single()
        .expect("time");
    for h in (0..24).chain(48..72) {
        rows.push(candle("BTC/USD", "1Hour", midnight + Duration::hours(h)));
    }
    walle.upsert_candles(&rows, None).await.expect("upsert");

    let desk = Desk::new(Arc::new(calendar_venue()), walle.clone(), false);
    let app = App::with_desks(config, walle, vec![desk]).expect("state");
    let r = weaver::glados::router(app.state());
    let all = series(&r).await;
    assert_eq!(
        gaps_of(&all, "GAPS"),
        json!({"calendar": "sim", "missing": 2, "count": 2, "ranges": [range(3, 3, 1), range(10, 10, 1)]}),
        "{all}"
    );
    assert_eq!(
        gaps_of(&all, "BTC/USD"),
        json!({"calendar": "utc_days", "missing": 1, "count": 1, "ranges": [range(2, 2, 1)]}),
        "{all}"
    );
    // Asked again, from the cached calendar: the same.
    assert_eq!(series(&r).await, all);

    // No venue configured: weekdays, so the holiday is missing too (next to the 3rd: one run).
    let bare =
        App::with_desks(Config::for_tests(dir.path()), app.walle().clone(), vec![]).expect("state");
    let br = weaver::glados::router(bare.state());
    assert_eq!(
        gaps_of(&series(&br).await, "GAPS"),
        json!({"calendar": "weekdays", "missing": 3, "count": 2, "ranges": [range(3, 4, 2), range(10, 10, 1)]})
    );
}

fn count_of(all: &serde_json::Value, symbol: &str) -> Option<i64> {
    all.as_array()
        .expect("series")
        .iter()
        .find(|s| s["symbol"] == symbol)
        .map(|s| s["count"].as_i64().expect("count"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_series_list_is_computed_again_only_for_a_series_written_since() {
    use sqlx::Connection;

    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::for_tests(dir.path());
    let walle = Walle::connect(&config.db).await.expect("sqlite store");
    let rows: Vec<Candle> = [1, 2, 3]
        .map(|d| candle("KEPT", "1Day", daily(d)))
        .into_iter()
        .chain([1, 2].map(|d| candle("WRITTEN", "1Day", daily(d))))
        .collect();
    walle.upsert_candles(&rows, None).await.expect("upsert");
    let app = App::with_desks(config, walle.clone(), vec![]).expect("state");
    let r = weaver::glados::router(app.state());
    let first = series(&r).await;
    assert_eq!(count_of(&first, "KEPT"), Some(3), "{first}");
    assert_eq!(count_of(&first, "WRITTEN"), Some(2), "{first}");

    // A bar added to each series behind WallE's back (no new version token): only a kept list
    // answers as before, which shows the second request is the cache's.
    let url = format!("sqlite://{}", dir.path().join("weaver.db").display());
    let mut raw = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("connect");
    for symbol in ["KEPT", "WRITTEN"] {
        sqlx::query(
            "insert into candles (symbol, timeframe, ts, open, high, low, close, volume, source, \
             created_at, updated_at) values ($1, '1Day', $2, 1, 1, 1, 1, 1, 'test', $3, $3)",
        )
        .bind(symbol)
        .bind(daily(5))
        .bind(Utc::now())
        .execute(&mut raw)
        .await
        .expect("insert behind WallE");
    }
    assert_eq!(series(&r).await, first, "no series written: the kept list");

    // A write through WallE to one series: that series is read again (its own bar and the one
    // added behind WallE's back), the other is still the kept one.
    walle
        .upsert_candles(&[candle("WRITTEN", "1Day", daily(8))], None)
        .await
        .expect("upsert");
    let after = series(&r).await;
    assert_eq!(count_of(&after, "WRITTEN"), Some(4), "{after}");
    assert_eq!(count_of(&after, "KEPT"), Some(3), "{after}");
    assert_eq!(
        gaps_of(&after, "WRITTEN")["missing"],
        json!(2),
        "the gap report is computed again too (the 3rd and 4th missing): {after}"
    );

    // A series whose bars are all deleted is not listed.
    walle
        .delete_candle_series("WRITTEN", "1Day")
        .await
        .expect("delete");
    let last = series(&r).await;
    assert_eq!(count_of(&last, "WRITTEN"), None, "{last}");
    assert_eq!(count_of(&last, "KEPT"), Some(3), "{last}");
}
