//! List routes page newest first by default with a `before` cursor, and oldest first with
//! `order=asc` and `after`: every row is reached once either way, on both stores.

use axum::http::StatusCode;
use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use weaver::app::{App, Config};
use weaver::domain::{OrderType, Side, TimeInForce, Timeframe};
use weaver::events::{Envelope, payloads};
use weaver::walle::{Candle, NewOrder, NewRun, NewStrategy, RunLogLine, RunMode, Walle};

use super::{get, send};
use crate::walle::support::{TestStore, contract};

contract!(lists_reach_every_row_newest_first_and_oldest_first);

pub(super) async fn new_run(w: &Walle, tag: &str) -> i64 {
    let (s, _) = w
        .insert_strategy(
            &NewStrategy {
                sha256: format!("{:0>64}", tag.len()),
                name: "lists".into(),
                version: "1".into(),
                language: "rust".into(),
                size_bytes: 1,
            },
            None,
        )
        .await
        .expect("strategy");
    w.insert_run(
        &NewRun {
            strategy_id: s.id,
            mode: RunMode::Paper,
            venue: "sim".into(),
            params: json!({}),
            symbols: vec!["AAPL".into()],
            timeframe: Timeframe::MINUTE,
            limits: None,
            risk: None,
            options: None,
        },
        None,
    )
    .await
    .expect("run")
    .id
}

async fn order(w: &Walle, coid: &str, run_id: i64) -> i64 {
    let event = Envelope::new(
        "orders.Intent",
        "test",
        payloads::OrderChanged {
            order_id: 0,
            client_order_id: coid.into(),
            symbol: "AAPL".into(),
            status: "pending_submit".into(),
        },
    )
    .expect("envelope");
    let new = NewOrder {
        client_order_id: coid.into(),
        run_id: Some(run_id),
        symbol: "AAPL".into(),
        side: Side::Buy,
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Day,
        quantity: Some(Decimal::ONE),
        notional: None,
        limit_price: None,
        stop_price: None,
    };
    w.insert_order_intent(&new, &[event], None)
        .await
        .expect("order")
        .0
        .id
}

/// Follows `cursor` (`next_before` or `next_after`) from `first` until it is null; the ids of
/// `key` (`orders` rows' `id`, log `items`' `seq`) in the order they came.
async fn walk(
    r: &axum::Router,
    first: &str,
    rows: &str,
    id: &str,
    cursor: &str,
    param: &str,
) -> Vec<i64> {
    let (mut seen, mut uri) = (Vec::new(), first.to_owned());
    for _ in 0..100 {
        let page = send(r, get(&uri)).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.json());
        let page = page.json();
        seen.extend(
            page[rows]
                .as_array()
                .expect("rows")
                .iter()
                .map(|o| o[id].as_i64().expect("id")),
        );
        match page[cursor].as_i64() {
            Some(c) => uri = format!("{first}&{param}={c}"),
            None => return seen,
        }
    }
    panic!("{first}: no end after 100 pages");
}

async fn lists_reach_every_row_newest_first_and_oldest_first(store: &TestStore) {
    let w = &store.walle;
    let (run, other) = (new_run(w, "a").await, new_run(w, "bb").await);
    let mut ids = Vec::new();
    for i in 0..23 {
        ids.push(order(w, &format!("lists-{i}"), run).await);
        if i % 5 == 0 {
            order(w, &format!("other-{i}"), other).await;
        }
    }
    let lines: Vec<RunLogLine> = (1..=23)
        .map(|seq| RunLogLine {
            seq,
            ts: Utc::now(),
            level: if seq % 4 == 0 { "warn" } else { "info" }.into(),
            message: format!("line {seq}"),
        })
        .collect();
    w.append_run_logs(run, &lines).await.expect("log");
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::new(Config::for_tests(dir.path()), w.clone()).expect("app");
    let r = weaver::glados::router(app.state());

    // Orders: newest first by default, every row once, then oldest first with order=asc.
    let newest: Vec<i64> = ids.iter().rev().copied().collect();
    let base = format!("/orders?run={run}&limit=5");
    assert_eq!(
        walk(&r, &base, "orders", "id", "next_before", "before").await,
        newest
    );
    let asc = format!("{base}&order=asc");
    assert_eq!(
        walk(&r, &asc, "orders", "id", "next_after", "after").await,
        ids
    );
    // `after` alone keeps the oldest-first walk of scripts written before the default changed.
    let page = send(&r, get(&format!("{base}&after={}", ids[2])))
        .await
        .json();
    assert_eq!(page["orders"][0]["id"], ids[3], "{page}");
    assert_eq!(page["next_after"], ids[7], "{page}");
    // Both cursors: the rows strictly between them, newest first.
    let between = send(
        &r,
        get(&format!(
            "{base}&after={}&before={}&order=desc",
            ids[2], ids[6]
        )),
    )
    .await
    .json();
    let got: Vec<i64> = between["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| o["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(got, vec![ids[5], ids[4], ids[3]]);
    assert_eq!(between["next_before"], Value::Null, "not a full page");
    let everyone = send(&r, get("/orders?limit=1000")).await.json();
    let all: Vec<i64> = everyone["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| o["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(all.len(), 28);
    assert!(all.windows(2).all(|p| p[0] > p[1]), "newest first: {all:?}");

    // Run log: newest first with `before`, and `next` the newest seq for following it.
    let logs = format!("/runs/{run}/logs?limit=4");
    let first = send(&r, get(&logs)).await.json();
    assert_eq!(first["items"][0]["seq"], 23, "{first}");
    assert_eq!(first["next"], 23, "{first}");
    assert_eq!(first["next_before"], 20, "{first}");
    let desc: Vec<i64> = (1..=23).rev().collect();
    assert_eq!(
        walk(&r, &logs, "items", "seq", "next_before", "before").await,
        desc
    );
    let follow = send(&r, get(&format!("{logs}&after=23"))).await.json();
    assert_eq!(follow["items"], json!([]), "nothing newer: {follow}");
    assert_eq!(follow["next"], 23, "{follow}");
    let asc_log = send(&r, get(&format!("{logs}&order=asc"))).await.json();
    assert_eq!(asc_log["items"][0]["seq"], 1, "{asc_log}");
    assert_eq!(asc_log["next"], 4, "{asc_log}");

    // Candles: the newest first, and `end` = the oldest bar seen pages back to the first one.
    let bars: Vec<Candle> = (0..25)
        .map(|i| Candle {
            symbol: "LST".into(),
            timeframe: "1Min".into(),
            ts: chrono::DateTime::from_timestamp(1_700_000_000 + i * 60, 0).expect("ts"),
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: i as f64,
            volume: 1.0,
            source: "test".into(),
        })
        .collect();
    w.upsert_candles(&bars, None).await.expect("candles");
    let closes = |v: &Value| -> Vec<i64> {
        v.as_array()
            .expect("bars")
            .iter()
            .map(|c| c["close"].as_f64().expect("close") as i64)
            .collect()
    };
    let (mut seen, mut uri) = (
        Vec::new(),
        "/candles?symbol=LST&timeframe=1Min&limit=7".to_owned(),
    );
    loop {
        let page = send(&r, get(&uri)).await.json();
        seen.extend(closes(&page));
        let Some(oldest) = page
            .as_array()
            .filter(|p| p.len() == 7)
            .and_then(|p| p.last())
        else {
            break;
        };
        let end = oldest["ts"].as_str().expect("ts").replace('+', "%2B");
        uri = format!("/candles?symbol=LST&timeframe=1Min&limit=7&end={end}");
    }
    assert_eq!(
        seen,
        (0..25).rev().collect::<Vec<i64>>(),
        "every bar once, newest first"
    );
    let oldest_first = send(
        &r,
        get("/candles?symbol=LST&timeframe=1Min&limit=3&order=asc"),
    )
    .await
    .json();
    assert_eq!(closes(&oldest_first), vec![0, 1, 2]);

    // Bad paging answers in the error model, naming what is accepted.
    for uri in [
        "/orders?order=sideways".to_owned(),
        "/orders?before=-1".to_owned(),
        format!("/runs/{run}/logs?order=asc&before=3"),
        format!("/runs/{run}/logs?before=x"),
    ] {
        let resp = send(&r, get(&uri)).await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(resp.error_code(), "invalid_parameter", "{uri}");
    }
    let typo = send(&r, get("/orders?status=canceled")).await;
    assert_eq!(typo.status, StatusCode::BAD_REQUEST);
    assert!(
        typo.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("`cancelled`")),
        "the accepted values are named: {}",
        typo.json()
    );
}
