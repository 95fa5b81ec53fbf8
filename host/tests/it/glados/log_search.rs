//! `GET /runs/{id}/logs?level=&q=` searches the whole stored log, not the page a reader holds:
//! a line a thousand pages back is found, the cursors page through the matches only, and the
//! text is taken literally (`%`, `_`, `\`) and without regard to case, on both stores.

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::Value;
use weaver::app::{App, Config};
use weaver::walle::RunLogLine;

use super::lists::new_run;
use super::{get, send};
use crate::walle::support::{TestStore, contract};

contract!(a_log_search_finds_matches_anywhere_in_the_stored_log_and_pages_through_them);

fn seqs(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items: {page}"))
        .iter()
        .map(|l| l["seq"].as_i64().expect("seq"))
        .collect()
}

async fn a_log_search_finds_matches_anywhere_in_the_stored_log_and_pages_through_them(
    store: &TestStore,
) {
    let w = &store.walle;
    let run = new_run(w, "search").await;
    // 3,000 lines: an error every 500th, a warning every 7th, and a few needles that a naive
    // `like` would misread.
    let lines: Vec<RunLogLine> = (1..=3000)
        .map(|seq| {
            let (level, message) = match seq {
                s if s % 500 == 0 => ("error", format!("Order REJECTED at bar {s}")),
                s if s % 7 == 0 => ("warn", format!("slow bar {s}")),
                17 => ("info", "fill 100% at 5_00".to_owned()),
                18 => ("info", "fill 1000 at 5x00".to_owned()),
                19 => ("info", r"path C:\data\bars".to_owned()),
                s => ("debug", format!("bar {s} seen")),
            };
            RunLogLine {
                seq,
                ts: Utc::now(),
                level: level.into(),
                message,
            }
        })
        .collect();
    for chunk in lines.chunks(1000) {
        w.append_run_logs(run, chunk).await.expect("log");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::new(Config::for_tests(dir.path()), w.clone()).expect("app");
    let r = weaver::glados::router(app.state());
    let page = async |query: &str| {
        let resp = send(&r, get(&format!("/runs/{run}/logs?{query}"))).await;
        assert_eq!(resp.status, StatusCode::OK, "{query}: {}", resp.json());
        resp.json()
    };

    // Errors only: the six, newest first, found although the newest page holds none.
    let errors = page("level=error&limit=100").await;
    assert_eq!(seqs(&errors), vec![3000, 2500, 2000, 1500, 1000, 500]);
    assert_eq!(errors["next_before"], Value::Null, "{errors}");

    // Text, any case, paged with `before` through the matches only.
    let first = page("q=rejected&limit=4").await;
    assert_eq!(seqs(&first), vec![3000, 2500, 2000, 1500]);
    assert_eq!(first["next_before"], 1500, "{first}");
    let rest = page("q=rejected&limit=4&before=1500").await;
    assert_eq!(seqs(&rest), vec![1000, 500]);
    // Oldest first with `after`, the same matches.
    let asc = page("q=REJECTED&order=asc&limit=4").await;
    assert_eq!(seqs(&asc), vec![500, 1000, 1500, 2000]);
    assert_eq!(asc["next"], 2000, "{asc}");
    let asc_rest = page("q=REJECTED&after=2000&limit=4").await;
    assert_eq!(seqs(&asc_rest), vec![2500, 3000]);

    // `warn` and above: warnings and errors, nothing else.
    let warn = page("level=warn&limit=1000").await;
    let expected: Vec<i64> = (1..=3000)
        .rev()
        .filter(|s| s % 500 == 0 || s % 7 == 0)
        .collect();
    assert_eq!(seqs(&warn), expected);
    // Both filters at once.
    assert_eq!(seqs(&page("level=warn&q=bar%2021&limit=10").await), {
        let mut v: Vec<i64> = (1..=3000)
            .rev()
            .filter(|s| (s % 500 == 0 || s % 7 == 0) && format!("bar {s}").contains("bar 21"))
            .collect();
        v.truncate(10);
        v
    });
    // `debug` is every line.
    assert_eq!(
        seqs(&page("level=debug&limit=3").await),
        vec![3000, 2999, 2998]
    );

    // Wildcards and the escape character are text: `100%` is not "100 and anything", `5_00`
    // is not `5x00`, a backslash is a backslash.
    assert_eq!(seqs(&page("q=100%25&limit=10").await), vec![17]);
    assert_eq!(seqs(&page("q=5_00&limit=10").await), vec![17]);
    assert_eq!(seqs(&page(r"q=C:%5Cdata&limit=10").await), vec![19]);
    assert_eq!(seqs(&page("q=no%20such%20text").await), Vec::<i64>::new());

    // Bad filters: the error model, never a raw deserializer message.
    let bad = send(&r, get(&format!("/runs/{run}/logs?level=loud"))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "invalid_parameter");
    let long = "x".repeat(201);
    let bad = send(&r, get(&format!("/runs/{run}/logs?q={long}"))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "invalid_parameter");
    assert!(
        bad.json()["message"]
            .as_str()
            .expect("message")
            .contains("200"),
        "{}",
        bad.json()
    );
}
