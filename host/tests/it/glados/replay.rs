//! Replay (`POST /runs/{id}/replay`, `weaver runs replay`) and live-bar storage: a simulated
//! run of sma-cross over GOOG replays bit-identically, a recording altered through SQL is
//! reported at the altered decision, and the refusals have stable codes (both backends); the
//! CLI reads the same database without a server.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use weaver::app::{App, Config};
use weaver::walle::Walle;

use super::runs::{run_body, settled, upload};
use super::{Resp, get, send};
use crate::support::{post_json, weaver_in};
use crate::testdata::goog_candles;
use crate::walle::support::{TestStore, contract};

/// Pages `GET /events?corr_id=` to the end.
pub(super) async fn chain(r: &axum::Router, corr: &str) -> Vec<serde_json::Value> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let uri = if after.is_empty() {
            format!("/events?corr_id={corr}&limit=1000")
        } else {
            format!("/events?corr_id={corr}&limit=1000&after={after}")
        };
        let page = send(r, get(&uri)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.json());
        let page = page.json();
        let events = page["events"].as_array().cloned().unwrap_or_default();
        if events.is_empty() {
            return all;
        }
        after = page["next"].as_str().expect("next").to_owned();
        all.extend(events);
    }
}

/// Waits until every `strategy.DecisionMade` of the run started under `corr` is projected, and
/// returns the run's decisions.
pub(super) async fn projected(r: &axum::Router, id: i64, corr: &str) -> Vec<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let run = id.to_string();
    loop {
        let made = chain(r, corr)
            .await
            .iter()
            .filter(|e| {
                e["type"] == "strategy.DecisionMade" && e["run_id"].as_str() == Some(run.as_str())
            })
            .count();
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = send(
                r,
                get(&format!("/runs/{id}/decisions?after={after}&limit=1000")),
            )
            .await
            .json();
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                break;
            }
            after = page["next"].as_i64().expect("next");
            all.extend(items);
        }
        if made > 0 && all.len() == made {
            return all;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {made} decisions projected",
            all.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `POST /runs` with an `X-Request-Id`, so the run's events can be read back as one chain.
pub(super) fn create_run(body: &str, corr: &str) -> Request<Body> {
    Request::post("/runs")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("x-request-id", corr)
        .body(Body::from(body.to_owned()))
        .expect("request")
}

pub(super) async fn replay(r: &axum::Router, id: i64) -> Resp {
    send(r, post_json(&format!("/runs/{id}/replay"), "")).await
}

/// [`replay`] once the decisions projection has passed the run's decisions (a client is told
/// `replay_projection_behind` until then, and tries again).
pub(super) async fn replay_when_projected(r: &axum::Router, id: i64) -> Resp {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let resp = replay(r, id).await;
        if resp.status == StatusCode::OK
            || resp.json()["code"] != "replay_projection_behind"
            || tokio::time::Instant::now() > deadline
        {
            return resp;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Asserts an identical replay of every recorded decision.
pub(super) fn assert_identical(resp: &Resp, decisions: usize) {
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.json());
    let v = resp.json();
    assert_eq!(v["identical"], true, "{v}");
    assert_eq!(v["decisions_compared"], decisions, "{v}");
    assert_eq!(v["recorded"], decisions, "{v}");
    assert_eq!(v["replayed"], decisions, "{v}");
    assert!(v["first_mismatch"].is_null(), "{v}");
}

/// A finished simulated run, its decisions projected: (router, app, data dir, run id, decisions).
async fn finished_sim_run(
    walle: &Walle,
    corr: &str,
) -> (
    axum::Router,
    App,
    tempfile::TempDir,
    i64,
    Vec<serde_json::Value>,
) {
    walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::new(Config::for_tests(dir.path()), walle.clone()).expect("app");
    app.start().await.expect("start");
    let r = weaver::glados::router(app.state());
    upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    let body = run_body("\"sma-cross\"", r#"{"fast": 5, "slow": 20}"#);
    let created = send(&r, create_run(&body, corr)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let id = created.json()["id"].as_i64().expect("id");
    let done = settled(&r, id).await;
    assert_eq!(done["status"], "stopped", "{done}");
    app.idle().await;
    let decisions = projected(&r, id, corr).await;
    (r, app, dir, id, decisions)
}

/// The index and row of the first decision that placed an order.
fn first_order(decisions: &[serde_json::Value]) -> (usize, &serde_json::Value) {
    decisions
        .iter()
        .enumerate()
        .find(|(_, d)| d["intents"].as_array().is_some_and(|i| !i.is_empty()))
        .expect("sma-cross traded on GOOG")
}

async fn a_simulated_run_replays_identically_and_a_tampered_one_does_not(store: &TestStore) {
    let (r, app, dir, id, decisions) = finished_sim_run(&store.walle, "replay-sim-1").await;
    assert!(decisions.len() > 100, "{} decisions", decisions.len());
    assert_identical(&replay(&r, id).await, decisions.len());

    // One recorded decision altered: the replay names it, with both sides.
    let (index, altered) = first_order(&decisions);
    let row = altered["id"].as_i64().expect("row id");
    let changed = store
        .exec_sql(&format!(
            "update strategy_results set intents = '[]' where id = {row}"
        ))
        .await;
    assert_eq!(changed, 1);
    let tampered = replay(&r, id).await;
    assert_eq!(tampered.status, StatusCode::OK, "{}", tampered.json());
    let v = tampered.json();
    assert_eq!(v["identical"], false, "{v}");
    assert_eq!(v["decisions_compared"], decisions.len(), "{v}");
    let m = &v["first_mismatch"];
    assert_eq!(m["index"], index, "{v}");
    assert_eq!(m["recorded"], serde_json::json!([]), "{v}");
    assert_eq!(m["replayed"], altered["intents"], "{v}");
    let at = |t: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(t.as_str().expect("time")).expect("rfc 3339")
    };
    assert_eq!(at(&m["bar_ts"]), at(&altered["bar_ts"]), "{v}");
    assert!(m["replayed_bar_ts"].is_null(), "same time: {v}");

    // Refusals, each with its code.
    let unknown = replay(&r, 999_999).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), "not_found");
    store
        .exec_sql("delete from candles where symbol = 'GOOG'")
        .await;
    let gone = replay(&r, id).await;
    assert_eq!(
        gone.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        gone.json()
    );
    assert_eq!(gone.error_code(), "replay_candles_missing");
    for f in std::fs::read_dir(dir.path().join("components")).expect("components") {
        std::fs::remove_file(f.expect("entry").path()).expect("remove");
    }
    let no_component = replay(&r, id).await;
    assert_eq!(no_component.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_component.error_code(), "strategy_unavailable");
    store
        .exec_sql(&format!("delete from strategy_results where run_id = {id}"))
        .await;
    let nothing = replay(&r, id).await;
    assert_eq!(nothing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(nothing.error_code(), "replay_nothing_recorded");
    // With the projection stopped and its offset back at the start, the run's decisions are
    // not all projected: the replay says so instead of comparing a partial recording.
    app.shutdown(Duration::from_secs(10)).await;
    store
        .exec_sql(
            "update consumer_offsets set last_xid = '0', last_id = 0 where consumer = 'decisions'",
        )
        .await;
    let behind = replay(&r, id).await;
    assert_eq!(
        behind.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        behind.json()
    );
    assert_eq!(behind.error_code(), "replay_projection_behind");
}

contract!(a_simulated_run_replays_identically_and_a_tampered_one_does_not);

/// Empties the intents of decision row `row` in the SQLite database of `dir`.
async fn tamper_sqlite(dir: &std::path::Path, row: i64) {
    use sqlx::Connection;
    let url = format!("sqlite://{}", dir.join("weaver.db").display());
    let mut c = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("connect");
    let n = sqlx::query(sqlx::AssertSqlSafe(format!(
        "update strategy_results set intents = '[]' where id = {row}"
    )))
    .execute(&mut c)
    .await
    .expect("tamper")
    .rows_affected();
    assert_eq!(n, 1);
}

/// `weaver runs replay <id>` reads the database and components of `WEAVER_DATA_DIR` (no
/// server): exit 0 and "identical", `--json` the API's report; a difference exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_replays_a_run_from_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::for_tests(dir.path());
    let walle = Walle::connect(&config.db).await.expect("sqlite store");
    walle
        .upsert_candles(&goog_candles(), None)
        .await
        .expect("candles");
    let app = App::new(config, walle.clone()).expect("app");
    app.start().await.expect("start");
    let r = weaver::glados::router(app.state());
    upload(&r, &app, "sma-cross", "sma-cross.wasm").await;
    let body = run_body("\"sma-cross\"", r#"{"fast": 5, "slow": 20}"#);
    let created = send(&r, create_run(&body, "replay-cli-1")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let id = created.json()["id"].as_i64().expect("id");
    assert_eq!(settled(&r, id).await["status"], "stopped");
    app.idle().await;
    let decisions = projected(&r, id, "replay-cli-1").await;

    let out = weaver_in(dir.path())
        .args(["runs", "replay", &id.to_string()])
        .output()
        .expect("weaver runs replay");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with(&format!(
            "run {id}: identical ({n} decisions compared; {n} recorded, {n} replayed)",
            n = decisions.len()
        )),
        "{stdout}"
    );
    let (index, altered) = first_order(&decisions);
    tamper_sqlite(dir.path(), altered["id"].as_i64().expect("row id")).await;
    let out = weaver_in(dir.path())
        .args(["runs", "replay", &id.to_string(), "--json"])
        .output()
        .expect("weaver runs replay --json");
    assert!(!out.status.success(), "a difference exits non-zero");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["identical"], false, "{report}");
    assert_eq!(report["first_mismatch"]["index"], index, "{report}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("differs from the recording at decision {index}")),
        "{stderr}"
    );
    let out = weaver_in(dir.path())
        .args(["runs", "replay", "424242"])
        .output()
        .expect("weaver runs replay");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("run 424242 not found (not_found)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.shutdown(Duration::from_secs(10)).await;
}
