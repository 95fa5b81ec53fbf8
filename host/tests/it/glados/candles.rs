//! Market data over the API: series, CSV import (errors name line and column, store nothing),
//! synthetic series, and the sample data offered on a database's first start.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use super::{app, get, send};
use crate::support::post_json;

/// The series list as the POST routes answer it (they carry no gap report).
fn without_gaps(mut listed: serde_json::Value) -> serde_json::Value {
    for s in listed.as_array_mut().into_iter().flatten() {
        s.as_object_mut().map(|o| o.remove("gaps"));
    }
    listed
}

fn multipart(fields: &[(&str, &str)]) -> Request<Body> {
    let mut body = String::new();
    for (name, value) in fields {
        let file = if *name == "file" {
            "; filename=\"bars.csv\"\r\nContent-Type: text/csv"
        } else {
            ""
        };
        body.push_str(&format!(
            "--B\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str("--B--\r\n");
    Request::post("/candles/import")
        .header("host", "localhost")
        .header("content-type", "multipart/form-data; boundary=B")
        .body(Body::from(body))
        .expect("request")
}

const CSV: &str = "timestamp,open,high,low,close,volume\n\
    2024-01-02T00:00:00Z,10,11,9.5,10.5,100\n\
    2024-01-03T00:00:00Z,10.5,12,10,11.5,200\n\
    2024-01-04T00:00:00Z,11.5,12,11,11.75,300\n";

#[tokio::test]
async fn import_stores_a_series_and_lists_it() {
    let (r, _s, _d) = app(None).await;
    let empty = send(&r, get("/candles/series")).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.json(), json!([]));

    let resp = send(
        &r,
        multipart(&[("symbol", "ACME"), ("timeframe", "1Day"), ("file", CSV)]),
    )
    .await;
    assert_eq!(
        resp.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    let series = resp.json();
    assert_eq!(series["symbol"], "ACME");
    assert_eq!(series["timeframe"], "1Day");
    assert_eq!(series["count"], 3);
    assert_eq!(series["source"], "import");
    assert_eq!(series["first"], "2024-01-02T00:00:00Z");
    assert_eq!(series["last"], "2024-01-04T00:00:00Z");

    let listed = send(&r, get("/candles/series")).await.json();
    // Three weekdays in a row: no session missing.
    assert_eq!(
        listed[0]["gaps"],
        json!({"calendar": "weekdays", "missing": 0, "count": 0, "ranges": []})
    );
    assert_eq!(without_gaps(listed), json!([series]));
    let bars = send(&r, get("/candles?symbol=ACME&timeframe=1Day&order=asc"))
        .await
        .json();
    assert_eq!(bars.as_array().map(Vec::len), Some(3), "{bars}");
    assert_eq!(bars[2]["close"], 11.75);
    assert_eq!(bars[0]["source"], "import");

    // Re-importing replaces bars: still three.
    let again = send(
        &r,
        multipart(&[("symbol", "ACME"), ("timeframe", "1D"), ("file", CSV)]),
    )
    .await
    .json();
    assert_eq!(again["count"], 3);
}

#[tokio::test]
async fn a_bad_file_names_line_and_column_and_stores_nothing() {
    let (r, _s, _d) = app(None).await;
    let bad = format!("{CSV}2024-01-05T00:00:00Z,11,12,10,abc,5\n");
    let resp = send(
        &r,
        multipart(&[("symbol", "ACME"), ("timeframe", "1Day"), ("file", &bad)]),
    )
    .await;
    assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(resp.error_code(), "invalid_csv");
    let body = resp.json();
    assert_eq!(
        body["details"],
        json!({"line": 5, "column": "close"}),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("line 5") && m.contains("close")),
        "{body}"
    );
    assert_eq!(send(&r, get("/candles/series")).await.json(), json!([]));

    let cases = [
        (
            multipart(&[("symbol", "ACME"), ("timeframe", "1Day")]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            multipart(&[
                ("symbol", "ACME"),
                ("timeframe", "9Fortnight"),
                ("file", CSV),
            ]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_timeframe",
        ),
        (
            multipart(&[("symbol", "AC ME;"), ("timeframe", "1Day"), ("file", CSV)]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_symbol",
        ),
        (
            multipart(&[
                ("symbol", "ACME"),
                ("timeframe", "1Day"),
                ("file", "when,price\n1,2\n"),
            ]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_csv",
        ),
        (
            post_json("/candles/import", json!({"symbol": "ACME"})),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
    ];
    for (req, status, code) in cases {
        let resp = send(&r, req).await;
        assert_eq!(
            resp.status,
            status,
            "{}",
            String::from_utf8_lossy(&resp.body)
        );
        assert_eq!(resp.error_code(), code);
    }
    assert_eq!(send(&r, get("/candles/series")).await.json(), json!([]));
}

#[tokio::test]
async fn synth_generates_a_deterministic_series() {
    let (r, _s, _d) = app(None).await;
    let body = json!({"symbol": "SYN", "timeframe": "1Hour", "bars": 500, "seed": 7});
    let resp = send(&r, post_json("/candles/synth", body.clone())).await;
    assert_eq!(
        resp.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    let series = resp.json();
    assert_eq!(series["count"], 500);
    assert_eq!(series["source"], "synth");
    assert_eq!(series["first"], "2020-01-01T00:00:00Z");
    assert_eq!(series["last"], "2020-01-21T19:00:00Z", "499 hours later");
    let first = send(&r, get("/candles?symbol=SYN&timeframe=1Hour&limit=10000"))
        .await
        .json();
    // The same request again gives the same bars.
    send(&r, post_json("/candles/synth", body)).await;
    let second = send(&r, get("/candles?symbol=SYN&timeframe=1Hour&limit=10000"))
        .await
        .json();
    assert_eq!(first, second);

    for (body, code) in [
        (
            json!({"symbol": "SYN", "timeframe": "1Day", "bars": 0}),
            "invalid_bars",
        ),
        (
            json!({"symbol": "SYN", "timeframe": "1Day", "bars": 2000000}),
            "invalid_bars",
        ),
        (
            json!({"symbol": "SYN", "timeframe": "1Day", "bars": 5, "extra": 1}),
            "invalid_body",
        ),
        (
            json!({"symbol": "", "timeframe": "1Day", "bars": 5}),
            "invalid_symbol",
        ),
    ] {
        let resp = send(&r, post_json("/candles/synth", body.clone())).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(resp.error_code(), code, "{body}");
    }
}

#[tokio::test]
async fn sample_data_is_offered_once_on_an_empty_database() {
    let (r, s, _d) = app(None).await;
    // Switched off: nothing is loaded and nothing is recorded.
    assert!(
        weaver::greta::stored::offer_sample_on_first_start(s.walle(), false)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(send(&r, get("/candles/series")).await.json(), json!([]));

    let loaded = weaver::greta::stored::offer_sample_on_first_start(s.walle(), true)
        .await
        .unwrap()
        .expect("an empty database gets the sample data");
    assert_eq!(loaded.len(), 2);
    let listed = send(&r, get("/candles/series")).await.json();
    let items = listed.as_array().expect("array");
    assert_eq!(items.len(), 2, "{listed}");
    // The sample's weekday daily bars and around-the-clock hourly bars miss no weekday.
    for item in items {
        assert_eq!(item["gaps"]["missing"], 0, "{item}");
    }
    let listed = without_gaps(listed.clone());
    for (item, tf) in items.iter().zip(["1Day", "1Hour"]) {
        assert_eq!(item["symbol"], "SAMPLE");
        assert_eq!(item["timeframe"], tf);
        assert_eq!(item["source"], "sample");
        assert!(item["count"].as_i64().is_some_and(|n| n >= 1000), "{item}");
    }
    let bars = send(&r, get("/candles?symbol=SAMPLE&timeframe=1Day&limit=5"))
        .await
        .json();
    assert_eq!(bars[0]["source"], "sample");

    // Offered once: a second start (even after the user replaced the data) loads nothing.
    assert!(
        weaver::greta::stored::offer_sample_on_first_start(s.walle(), true)
            .await
            .unwrap()
            .is_none()
    );
    // On demand it loads again, idempotently.
    let resp = send(&r, post_json("/candles/sample", json!(null))).await;
    assert_eq!(resp.status, StatusCode::CREATED);
    assert_eq!(resp.json(), listed);
}

#[tokio::test]
async fn a_database_with_data_is_not_given_sample_data() {
    let (r, s, _d) = app(None).await;
    send(
        &r,
        multipart(&[("symbol", "ACME"), ("timeframe", "1Day"), ("file", CSV)]),
    )
    .await;
    assert!(
        weaver::greta::stored::offer_sample_on_first_start(s.walle(), true)
            .await
            .unwrap()
            .is_none()
    );
    let listed = send(&r, get("/candles/series")).await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
}
