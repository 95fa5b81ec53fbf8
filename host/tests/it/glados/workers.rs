//! Sweeps run by `weaver worker` processes (ADR 0023) on PostgreSQL: a server with
//! `WEAVER_WORKERS=external` only stores a sweep and cuts it into chunks; two workers finish it
//! with every point run once and the same results as the server's own sweep; a worker killed
//! with SIGKILL mid-chunk loses no point (its lease runs out and another worker takes the chunk
//! over); a cancel stops the workers; backtests and walk-forward analyses are run by a worker
//! (a walk-forward whose worker was killed is finished by another, skipping its stored
//! windows); a worker refuses to start without PostgreSQL.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use serde_json::{Value, json};
use weaver::app::{App, Config};
use weaver::walle::JobKind;

use super::sweeps::{app_on, app_with, idle};
use super::{get, send};
use crate::support::{post_json, weaver};
use crate::walle::support::{Kind, TestStore};

/// Bars of the test series: enough that a point takes a noticeable part of a second in a debug
/// build, so workers overlap and a kill lands mid-chunk.
const BARS: usize = 20_000;

/// A server app with external workers over a fresh PostgreSQL database, with `BARS` candles of
/// `SYN` and sma-cross uploaded and compiled.
async fn external_app() -> (Router, App, TestStore, tempfile::TempDir) {
    let store = TestStore::new(Kind::Pg).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    config.external_workers = true;
    let (router, app) = app_with(config, &store, BARS).await;
    (router, app, store, dir)
}

/// A `weaver worker` process on `url` with its own data directory; killed (SIGKILL) when
/// dropped. Its log is kept in the directory for a failing test's message.
pub(super) struct WorkerProc {
    child: Child,
    name: String,
    log: std::path::PathBuf,
}

impl WorkerProc {
    pub(super) fn start(url: &str, dir: &Path, name: &str) -> WorkerProc {
        let data = dir.join(name);
        std::fs::create_dir_all(&data).expect("worker dir");
        let log = data.join("worker.log");
        let child = weaver()
            .args([
                "worker",
                "--threads",
                "1",
                "--lease-secs",
                "3",
                "--name",
                name,
            ])
            .env("WEAVER_DATABASE_URL", url)
            .env("WEAVER_DATA_DIR", &data)
            .env("WEAVER_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start weaver worker");
        super::keep_worker_log(&log);
        WorkerProc {
            child,
            name: name.to_owned(),
            log,
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn grid(fast: &[i64]) -> Value {
    json!({"strategy": "sma-cross", "symbols": ["SYN"], "timeframe": "1Min",
           "space": {"fast": fast, "slow": [30, 40, 60]},
           "method": {"kind": "grid"},
           "objective": {"metric": "sharpe", "direction": "max"}})
}

async fn post_sweep(r: &Router, body: &Value) -> i64 {
    super::sweeps::post(r, body).await["id"]
        .as_i64()
        .expect("id")
}

/// Polls sweep `id` until `done(view)` or `limit`, failing with the workers' logs.
async fn wait_for(
    r: &Router,
    id: i64,
    limit: Duration,
    workers: &[&WorkerProc],
    done: impl Fn(&Value) -> bool,
) -> Value {
    wait_until(r, &format!("/sweeps/{id}?limit=1000"), limit, workers, done).await
}

/// Polls `uri` until `done(view)` or `limit`, failing with the workers' logs.
async fn wait_until(
    r: &Router,
    uri: &str,
    limit: Duration,
    workers: &[&WorkerProc],
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let v = send(r, get(uri)).await.json();
        if done(&v) {
            return v;
        }
        if start.elapsed() > limit {
            let logs: Vec<String> = workers
                .iter()
                .map(|w| format!("--- {} ---\n{}", w.name, w.log()))
                .collect();
            panic!("{uri} still {v} after {limit:?}\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Each result by index: (index, status, objective, trades).
fn results(v: &Value) -> Vec<(i64, String, Option<f64>, Option<f64>)> {
    let mut out: Vec<_> = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|p| {
            (
                p["index"].as_i64().expect("index"),
                p["status"].as_str().unwrap_or_default().to_owned(),
                p["objective"].as_f64(),
                p["metrics"]["trades"].as_f64(),
            )
        })
        .collect();
    out.sort_by_key(|p| p.0);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_finish_a_sweep_with_each_point_run_once_and_the_servers_results() {
    let (r, app, store, dir) = external_app().await;
    let url = store.pg_url().expect("postgres");
    let body = grid(&[5, 8, 10, 12, 15, 20]);
    let id = post_sweep(&r, &body).await;
    // The server only stores it: with no worker, nothing runs.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let v = send(&r, get(&format!("/sweeps/{id}"))).await.json();
    assert_eq!(v["status"], "queued", "{v}");
    assert_eq!(v["progress"]["done"], 0, "{v}");
    let a = WorkerProc::start(&url, dir.path(), "worker-a");
    let b = WorkerProc::start(&url, dir.path(), "worker-b");
    let v = wait_for(&r, id, Duration::from_secs(240), &[&a, &b], |v| {
        v["status"] == "done"
    })
    .await;
    assert_eq!(
        v["progress"],
        json!({"done": 18, "failed": 0, "total": 18}),
        "{v}"
    );
    let counts = store.walle.sweep_chunk_counts(id).await.expect("chunks");
    assert_eq!(
        (counts.done, counts.pending, counts.leased),
        (18, 0, 0),
        "{counts:?}"
    );
    assert_eq!(counts.workers, 2, "both workers ran points: {counts:?}");
    assert_eq!(counts.retries, 0, "no chunk ran twice: {counts:?}");
    assert!(
        !v["overfitting"].is_null(),
        "the worker ending it stored the overfitting figures: {v}"
    );
    // The same sweep run by a server itself gives the same results.
    let (embedded_r, embedded_app, embedded_store, _d) = app_on(Kind::Sqlite, BARS).await;
    let embedded = post_sweep(&embedded_r, &body).await;
    idle(&embedded_app).await;
    let e = send(&embedded_r, get(&format!("/sweeps/{embedded}?limit=1000")))
        .await
        .json();
    assert_eq!(e["status"], "done", "{e}");
    assert_eq!(results(&v), results(&e));
    assert!(results(&v).iter().any(|p| p.3.unwrap_or(0.0) > 0.0));
    drop((a, b));
    embedded_store.finish().await;
    drop(app);
    store.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_chunk_loses_no_point_and_its_chunk_is_taken_over() {
    let (r, app, store, dir) = external_app().await;
    let url = store.pg_url().expect("postgres");
    let id = post_sweep(&r, &grid(&[5, 6, 8, 10, 12, 14, 15, 18, 20, 25])).await;
    // Kill worker A while it holds a chunk with points of the sweep stored. A kill that lands
    // between two chunks proves nothing, so it is tried again with a fresh worker.
    let mut taken_over = Vec::new();
    for attempt in 0..5 {
        let mut a = WorkerProc::start(&url, dir.path(), &format!("doomed-{attempt}"));
        let before = store.walle.sweep_progress(id).await.expect("progress").0;
        let start = Instant::now();
        while store.walle.sweep_progress(id).await.expect("progress").0 < before + 2 {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "worker ran no point\n{}",
                a.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        a.kill();
        taken_over = store
            .exec_rows(&format!(
                "select chunk from sweep_chunks where sweep_id = {id} and status = 'leased' \
                 and worker = '{}'",
                a.name
            ))
            .await;
        if !taken_over.is_empty() {
            break;
        }
    }
    assert!(
        !taken_over.is_empty(),
        "no kill landed mid-chunk in 5 tries"
    );
    let b = WorkerProc::start(&url, dir.path(), "survivor");
    let v = wait_for(&r, id, Duration::from_secs(240), &[&b], |v| {
        v["status"] == "done"
    })
    .await;
    assert_eq!(
        v["progress"],
        json!({"done": 30, "failed": 0, "total": 30}),
        "{v}"
    );
    let stored = store
        .exec_rows(&format!(
            "select idx from sweep_points where sweep_id = {id} order by idx"
        ))
        .await;
    let expected: Vec<String> = (0..30).map(|i| i.to_string()).collect();
    assert_eq!(stored, expected, "every point stored once");
    for chunk in &taken_over {
        let row = store
            .exec_rows(&format!(
                "select worker || ' ' || attempts from sweep_chunks \
                 where sweep_id = {id} and chunk = {chunk} and status = 'done'"
            ))
            .await;
        assert_eq!(row, vec!["survivor 2".to_owned()], "chunk {chunk}");
    }
    drop(b);
    drop(app);
    store.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stops_the_workers_and_keeps_the_points_finished() {
    let (r, app, store, dir) = external_app().await;
    let url = store.pg_url().expect("postgres");
    let id = post_sweep(&r, &grid(&[5, 6, 8, 10, 12, 14, 15, 18, 20, 25])).await;
    let w = WorkerProc::start(&url, dir.path(), "worker");
    wait_for(&r, id, Duration::from_secs(120), &[&w], |v| {
        v["progress"]["done"].as_i64().unwrap_or(0) >= 2
    })
    .await;
    let resp = send(&r, post_json(&format!("/sweeps/{id}/cancel"), "{}")).await;
    assert_eq!(
        resp.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    // The worker learns it at its next lease renewal (every second with a 3 s lease).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let settled = store.walle.sweep_progress(id).await.expect("progress").0;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = store.walle.sweep_progress(id).await.expect("progress").0;
    assert_eq!(
        settled,
        later,
        "no point stored after the cancel settled\n{}",
        w.log()
    );
    assert!(later < 30, "the sweep stopped early: {later}");
    let v = send(&r, get(&format!("/sweeps/{id}"))).await.json();
    assert_eq!(v["status"], "cancelled", "{v}");
    drop(w);
    drop(app);
    store.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_gives_a_workers_chunks_back_at_once() {
    let (r, app, store, dir) = external_app().await;
    let url = store.pg_url().expect("postgres");
    let id = post_sweep(&r, &grid(&[5, 6, 8, 10, 12, 14, 15, 18, 20, 25])).await;
    let mut w = WorkerProc::start(&url, dir.path(), "leaving");
    wait_for(&r, id, Duration::from_secs(120), &[&w], |v| {
        v["progress"]["done"].as_i64().unwrap_or(0) >= 1
    })
    .await;
    let pid = w.child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(sent.success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = w.child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM\n{}",
            w.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}\n{}", w.log());
    let held = store
        .exec_rows(&format!(
            "select chunk from sweep_chunks where sweep_id = {id} and status = 'leased'"
        ))
        .await;
    assert!(
        held.is_empty(),
        "chunks still leased: {held:?}\n{}",
        w.log()
    );
    // Another worker takes over at once, without waiting for a lease to run out.
    let next = WorkerProc::start(&url, dir.path(), "next");
    let v = wait_for(&r, id, Duration::from_secs(240), &[&next], |v| {
        v["status"] == "done"
    })
    .await;
    assert_eq!(v["progress"]["done"], 30, "{v}");
    assert_eq!(v["workers"]["retries"], 0, "given back, not run out: {v}");
    drop(next);
    drop(app);
    store.finish().await;
}

/// Polls `uri` until its `status` is `want`, failing with the workers' logs.
async fn wait_status(r: &Router, uri: &str, want: &str, workers: &[&WorkerProc]) -> Value {
    wait_until(r, uri, Duration::from_secs(240), workers, |v| {
        v["status"] == want
    })
    .await
}

/// Two metric objects with the same keys and values (PostgreSQL's jsonb writes a large float
/// such as -3.5e18 as an integer: numbers are compared as numbers).
fn same_numbers(a: &Value, b: &Value) {
    let (a, b) = (
        a.as_object().expect("object"),
        b.as_object().expect("object"),
    );
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, x) in a {
        assert_eq!(x.as_f64(), b[k].as_f64(), "{k}: {x} vs {}", b[k]);
    }
}

fn walk_forward() -> Value {
    json!({"strategy": "sma-cross", "symbols": ["SYN"], "timeframe": "1Min",
           "space": {"fast": [5, 8, 10, 12], "slow": [30, 40, 60]}, "method": {"kind": "grid"},
           "objective": {"metric": "return_pct", "direction": "max"},
           "windows": {"kind": "rolling", "in_sample": 6000, "out_of_sample": 2000}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_runs_backtests_and_walk_forwards_with_the_servers_results() {
    let (r, app, store, dir) = external_app().await;
    let url = store.pg_url().expect("postgres");
    let backtest = json!({"strategy": "sma-cross", "symbols": ["SYN"], "timeframe": "1Min",
                          "params": {"fast": 10, "slow": 40}});
    let created = send(&r, post_json("/backtests", &backtest)).await;
    assert_eq!(
        created.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let bid = created.json()["id"].as_i64().expect("id");
    let created = send(&r, post_json("/walkforward", walk_forward())).await;
    assert_eq!(
        created.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let wid = created.json()["id"].as_i64().expect("id");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let b = send(&r, get(&format!("/backtests/{bid}"))).await.json();
    assert_eq!(b["status"], "queued", "the server does not run it: {b}");
    let w = WorkerProc::start(&url, dir.path(), "worker");
    let b = wait_status(&r, &format!("/backtests/{bid}"), "done", &[&w]).await;
    let wf = wait_status(&r, &format!("/walkforward/{wid}"), "done", &[&w]).await;
    assert_eq!(
        wf["progress"]["windows_done"], wf["progress"]["windows_total"],
        "{wf}"
    );
    for (kind, id) in [(JobKind::Backtest, bid), (JobKind::WalkForward, wid)] {
        let lease = store.walle.job_lease(kind, id).await.expect("lease");
        assert_eq!(
            lease,
            Some(("done".into(), Some("worker".into()), 1)),
            "{kind:?}"
        );
    }
    // The server itself gives the same report and the same walk-forward.
    let (er, eapp, estore, _d) = app_on(Kind::Sqlite, BARS).await;
    let eb = send(&er, post_json("/backtests", &backtest)).await.json()["id"]
        .as_i64()
        .expect("id");
    let ew = send(&er, post_json("/walkforward", walk_forward()))
        .await
        .json()["id"]
        .as_i64()
        .expect("id");
    idle(&eapp).await;
    let e = send(&er, get(&format!("/backtests/{eb}"))).await.json();
    assert_eq!(e["status"], "done", "{e}");
    same_numbers(&b["report"]["metrics"], &e["report"]["metrics"]);
    assert!(
        b["report"]["metrics"]["trades"].as_f64().unwrap_or(0.0) > 0.0,
        "{b}"
    );
    let ewf = send(&er, get(&format!("/walkforward/{ew}"))).await.json();
    same_numbers(&wf["stitched"]["metrics"], &ewf["stitched"]["metrics"]);
    assert_eq!(wf["efficiency"], ewf["efficiency"]);
    drop(w);
    estore.finish().await;
    drop(app);
    store.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_forward_whose_worker_was_killed_is_finished_by_another() {
    let (r, app, store, dir) = external_app().await;
    let url = store.pg_url().expect("postgres");
    let created = send(&r, post_json("/walkforward", walk_forward())).await;
    assert_eq!(
        created.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let wid = created.json()["id"].as_i64().expect("id");
    let total = created.json()["progress"]["windows_total"]
        .as_i64()
        .expect("windows");
    assert!(total >= 3, "{total}");
    let mut doomed = WorkerProc::start(&url, dir.path(), "doomed");
    let start = Instant::now();
    loop {
        let v = send(&r, get(&format!("/walkforward/{wid}"))).await.json();
        if v["progress"]["windows_done"].as_i64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "no window\n{}",
            doomed.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    doomed.kill();
    let v = send(&r, get(&format!("/walkforward/{wid}"))).await.json();
    let stored_before = v["progress"]["windows_done"].as_i64().expect("done");
    assert!(stored_before < total, "killed before the end: {v}");
    let survivor = WorkerProc::start(&url, dir.path(), "survivor");
    let v = wait_status(&r, &format!("/walkforward/{wid}"), "done", &[&survivor]).await;
    assert_eq!(v["progress"]["windows_done"], total, "{v}");
    let indexes = store
        .exec_rows(&format!(
            "select idx from walkforward_windows where walkforward_id = {wid} order by idx"
        ))
        .await;
    let expected: Vec<String> = (0..total).map(|i| i.to_string()).collect();
    assert_eq!(indexes, expected, "every window stored once");
    let lease = store
        .walle
        .job_lease(JobKind::WalkForward, wid)
        .await
        .expect("lease");
    assert_eq!(lease, Some(("done".into(), Some("survivor".into()), 2)));
    drop(survivor);
    drop(app);
    store.finish().await;
}

#[test]
fn a_worker_needs_postgresql() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = weaver()
        .args(["worker", "--threads", "1"])
        .env("WEAVER_DATA_DIR", dir.path())
        .output()
        .expect("run weaver worker");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("weaver worker needs PostgreSQL"), "{err}");
}

#[test]
fn external_workers_are_refused_on_sqlite() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let e = Config::from_vars(vars(&[("WEAVER_WORKERS", "external")])).expect_err("sqlite");
    assert!(
        e.to_string()
            .contains("WEAVER_WORKERS=external needs PostgreSQL"),
        "{e}"
    );
    let e = Config::from_vars(vars(&[("WEAVER_WORKERS", "elsewhere")])).expect_err("bad");
    assert!(
        e.to_string()
            .contains("WEAVER_WORKERS must be embedded or external"),
        "{e}"
    );
    let pg = Config::from_vars(vars(&[
        ("WEAVER_WORKERS", "external"),
        ("WEAVER_DATABASE_URL", "postgres://127.0.0.1/weaver"),
    ]))
    .expect("postgres");
    assert!(pg.external_workers);
    assert!(
        !Config::from_vars(vars(&[]))
            .expect("default")
            .external_workers
    );
}
