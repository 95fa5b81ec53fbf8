//! A run's charts (`GET /runs/{id}/equity`, `GET /runs/sparklines`), on SQLite and PostgreSQL:
//! a paper run of sma-cross on `sim` over GOOG's daily candles has a point at every bar, each
//! the equity its own orders and that bar's close make, the last one the run's own equity (its
//! simulated account); its fills are at bar times (candle times, its orders' fill times); its
//! progress is every stored bar; pages walk the whole curve once; a sparkline samples it with
//! both ends; a run without bars has none; and bad parameters are refused with their codes.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use weaver::app::{App, Config};
use weaver::walle::{NewRun, RunMode};

use super::replay::create_run;
use super::runs::{orders_of, run_body, settled, strategy_row, upload};
use super::{get, send};
use crate::testdata::goog_candles;
use crate::walle::support::{TestStore, contract};

async fn json_ok(r: &axum::Router, uri: &str) -> Value {
    let resp = send(r, get(uri)).await;
    assert_eq!(resp.status, StatusCode::OK, "{uri}: {}", resp.json());
    resp.json()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// The run's equity page once the decisions projection has its last bar.
async fn whole_curve(r: &axum::Router, id: i64, last: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let page = json_ok(r, &format!("/runs/{id}/equity?limit=10000")).await;
        if page["last_bar"].as_str() == Some(last) {
            return page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "projection behind: {}",
            page["last_bar"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A stamp as the API writes it, for comparing with the candles' times.
fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

async fn a_sim_run_has_a_point_per_bar_from_its_orders_and_its_fills_at_bar_times(
    store: &TestStore,
) {
    let candles = goog_candles();
    store
        .walle
        .upsert_candles(&candles, None)
        .await
        .expect("candles");
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::new(Config::for_tests(dir.path()), store.walle.clone()).expect("app");
    app.start().await.expect("start");
    let r = weaver::glados::router(app.state());
    upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    let params = r#"{"fast": 5, "slow": 20}"#;
    let created = send(
        &r,
        create_run(&run_body("\"sma-cross\"", params), "charts-1"),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let id = created.json()["id"].as_i64().expect("id");
    let run = settled(&r, id).await;
    assert_eq!(run["status"], "stopped", "{run}");
    app.idle().await;

    let times: Vec<String> = candles.iter().map(|c| stamp(c.ts)).collect();
    let page = whole_curve(&r, id, times.last().expect("bars")).await;
    let points = page["points"].as_array().expect("points");
    let at: Vec<&str> = points.iter().filter_map(|p| p["ts"].as_str()).collect();
    assert_eq!(at, times, "one point per bar, at the bar times");
    assert_eq!(
        page["first_bar"].as_str(),
        times.first().map(String::as_str)
    );
    assert!(page["next_before"].is_null(), "the whole run in one page");
    assert_eq!(f(&page["starting_cash"]), 10_000.0);
    let n = candles.len() as u64;
    assert_eq!(
        page["progress"],
        json!({"bars_done": n, "bars_total": n}),
        "a finished sim run delivered every stored bar"
    );
    let last = f(&points.last().expect("points")["equity"]);
    assert!(
        close(last, f(&run["equity"])),
        "{last} vs the run's {}",
        run["equity"]
    );

    // Every point against the run's own orders, read another way (`GET /orders`: filled
    // quantity at the average price, at its fill time) and GOOG's closes: the starting cash
    // moved by what filled up to that bar, the position at that bar's close.
    let filled: Vec<Value> = orders_of(&r, id)
        .await
        .into_iter()
        .filter(|o| o["status"] == "filled")
        .collect();
    let num = |v: &Value| -> f64 {
        v.as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| f(v))
    };
    for (p, c) in points.iter().zip(&candles) {
        let at = stamp(c.ts);
        let (mut cash, mut qty) = (10_000.0, 0.0);
        for o in filled
            .iter()
            .filter(|o| o["filled_at"].as_str().is_some_and(|t| t <= at.as_str()))
        {
            let q = num(&o["filled_quantity"]) * if o["side"] == "buy" { 1.0 } else { -1.0 };
            cash -= q * num(&o["average_price"]);
            qty += q;
        }
        let expected = cash + qty * c.close;
        assert!(
            close(f(&p["equity"]), expected),
            "at {at}: {} but its orders and the close make {expected}",
            p["equity"]
        );
    }
    let moved = points
        .iter()
        .filter(|p| f(&p["equity"]) != 10_000.0)
        .count();
    assert!(
        moved > points.len() / 2,
        "the curve moves with the trades: {moved}"
    );

    // Fills at bar times: each at a candle's time, its order's fill time, in order.
    let fills = page["fills"].as_array().expect("fills");
    assert!(fills.len() >= 2, "sma-cross trades GOOG");
    assert_eq!(fills.len(), filled.len());
    for fill in fills {
        let bar = fill["bar_ts"].as_str().expect("bar_ts");
        assert!(times.iter().any(|t| t == bar), "{bar} is a bar time");
        assert_eq!(
            fill["filled_at"], fill["bar_ts"],
            "sim fills at a bar's open"
        );
        let order = filled
            .iter()
            .find(|o| o["id"] == fill["order_id"])
            .expect("its order");
        assert_eq!(order["symbol"], "GOOG");
        assert_eq!(order["side"], fill["side"]);
    }
    let bars: Vec<&str> = fills.iter().filter_map(|x| x["bar_ts"].as_str()).collect();
    assert!(bars.windows(2).all(|w| w[0] <= w[1]), "oldest first");

    // Pages of 500 bar times, newest first, walk the same curve and fills once.
    let (mut walked, mut walked_fills, mut before) = (Vec::new(), Vec::new(), None::<String>);
    loop {
        let uri = match &before {
            Some(b) => format!(
                "/runs/{id}/equity?limit=500&before={}",
                b.replace('+', "%2B")
            ),
            None => format!("/runs/{id}/equity?limit=500"),
        };
        let p = json_ok(&r, &uri).await;
        let pts = p["points"].as_array().expect("points");
        assert!(pts.len() <= 500);
        walked.splice(0..0, pts.iter().cloned());
        walked_fills.splice(0..0, p["fills"].as_array().expect("fills").iter().cloned());
        match p["next_before"].as_str() {
            Some(b) => before = Some(b.to_owned()),
            None => break,
        }
    }
    assert_eq!(&walked, points);
    assert_eq!(&walked_fills, fills);

    // Sparklines: one request, unknown and repeated ids left out, both ends kept.
    let s = json_ok(
        &r,
        &format!("/runs/sparklines?ids={id},987654,{id}&points=40"),
    )
    .await;
    let items = s["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{s}");
    assert_eq!(items[0]["run_id"], id);
    assert_eq!(items[0]["progress"], page["progress"]);
    let spark = items[0]["points"].as_array().expect("points");
    assert_eq!(spark.len(), 40);
    assert_eq!(spark.first(), points.first());
    assert_eq!(spark.last(), points.last());
    assert!(
        spark.iter().all(|p| points.contains(p)),
        "samples of the curve"
    );

    // A run that never got a bar: no points, nothing done yet.
    let idle = strategy_row(&store.walle, "cd", "idle").await;
    let fresh = store
        .walle
        .insert_run(
            &NewRun {
                strategy_id: idle.id,
                mode: RunMode::Paper,
                venue: "sim".into(),
                params: json!({}),
                symbols: vec!["GOOG".into()],
                timeframe: "1Day".parse().expect("timeframe"),
                limits: None,
                risk: None,
                options: None,
            },
            None,
        )
        .await
        .expect("run");
    let empty = json_ok(&r, &format!("/runs/{}/equity", fresh.id)).await;
    assert_eq!(empty["points"], json!([]));
    assert_eq!(empty["fills"], json!([]));
    assert!(empty["first_bar"].is_null());
    assert_eq!(empty["progress"], json!({"bars_done": 0, "bars_total": n}));
    let both = json_ok(&r, &format!("/runs/sparklines?ids={},{id}", fresh.id)).await;
    let ids: Vec<&Value> = both["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| &i["run_id"])
        .collect();
    assert_eq!(
        ids,
        vec![&json!(fresh.id), &json!(id)],
        "in the order asked"
    );

    // Refusals.
    for (uri, status, code) in [
        (
            "/runs/987654/equity".to_owned(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            format!("/runs/{id}/equity?limit=0"),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            format!("/runs/{id}/equity?limit=10001"),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            format!("/runs/{id}/equity?before=yesterday"),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            format!("/runs/{id}/equity?after=1"),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "/runs/sparklines".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "/runs/sparklines?ids=1,x".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "/runs/sparklines?ids=0".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "/runs/sparklines?ids=1&points=1".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "/runs/sparklines?ids=1&points=201".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
    ] {
        let resp = send(&r, get(&uri)).await;
        assert_eq!(resp.status, status, "{uri}: {}", resp.json());
        assert_eq!(resp.error_code(), code, "{uri}");
    }
    let many = (1..=501)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let resp = send(&r, get(&format!("/runs/sparklines?ids={many}"))).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    app.shutdown(Duration::from_secs(10)).await;
}

contract!(a_sim_run_has_a_point_per_bar_from_its_orders_and_its_fills_at_bar_times);
