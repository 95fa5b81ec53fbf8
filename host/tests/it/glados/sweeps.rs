//! Sweeps through the API, on SQLite and PostgreSQL: a grid's points equal separate backtests
//! with the same parameters (and their reports and "open as backtest" too), a seeded random
//! sweep is reproducible, refusals name their reason and store nothing, a failed point is
//! recorded while the sweep finishes, cancel, constraints, paging and a resume after a restart.

use super::stores_and_workers;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use weaver::app::{App, Config};
use weaver::greta::synth;

use super::backtests::candles;
use super::{get, send};
use crate::support::{dist, post_json};
use crate::walle::support::{Kind, TestStore};

/// A test's scratch directory, and the `weaver worker` processes of a test run with external
/// workers (killed when it is dropped).
pub(super) struct Scratch {
    dir: tempfile::TempDir,
    _workers: Vec<super::workers::WorkerProc>,
}

impl Scratch {
    pub(super) fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// An app over a fresh store of `kind`, with `bars` synthetic 1-minute candles of `SYN` and
/// sma-cross uploaded and compiled. In the `workers` copies of a test
/// ([`super::stores_and_workers!`]) the app hands its jobs to two `weaver worker` processes.
pub(super) async fn app_on(kind: Kind, bars: usize) -> (Router, App, TestStore, Scratch) {
    let store = TestStore::new(kind).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    let mut workers = Vec::new();
    if super::external_workers() {
        config.external_workers = true;
        let url = store.pg_url().expect("workers run on PostgreSQL");
        for name in ["worker-1", "worker-2"] {
            workers.push(super::workers::WorkerProc::start(&url, dir.path(), name));
        }
    }
    let (router, app) = app_with(config, &store, bars).await;
    (
        router,
        app,
        store,
        Scratch {
            dir,
            _workers: workers,
        },
    )
}

/// An app with `config` over `store`, with `bars` synthetic 1-minute candles of `SYN` and
/// sma-cross uploaded and compiled.
pub(super) async fn app_with(config: Config, store: &TestStore, bars: usize) -> (Router, App) {
    let app = App::new(config, store.walle.clone()).expect("app");
    let router = weaver::glados::router(app.state());
    store
        .walle
        .upsert_candles(&candles("SYN", &synth::generate(bars, 7)), None)
        .await
        .expect("candles");
    let wasm = std::fs::read(dist("sma-cross.wasm")).expect("component");
    let up = Request::post("/strategies?name=sma-cross")
        .header("host", "localhost")
        .header("content-type", "application/wasm")
        .body(Body::from(wasm))
        .expect("request");
    assert_eq!(send(&router, up).await.status, StatusCode::ACCEPTED);
    idle(&app).await;
    (router, app)
}

/// Waits until the app's background work ends, and with external workers until no backtest,
/// sweep or walk-forward is left unfinished.
pub(super) async fn idle(app: &App) {
    let ended = tokio::time::timeout(Duration::from_secs(300), async {
        app.idle().await;
        if !super::external_workers() {
            return;
        }
        let w = app.walle();
        loop {
            let open = w.unfinished_backtests().await.expect("backtests").len()
                + w.unfinished_sweeps().await.expect("sweeps").len()
                + w.unfinished_walkforwards()
                    .await
                    .expect("walk-forwards")
                    .len();
            if open == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    if ended.is_err() {
        let w = app.walle();
        panic!(
            "background work did not end in 300 s: unfinished backtests {:?}, sweeps {:?}, \
             walk-forwards {:?}\n{}",
            w.unfinished_backtests().await,
            w.unfinished_sweeps().await,
            w.unfinished_walkforwards().await,
            super::worker_logs()
        );
    }
}

fn sweep(space: Value, method: Value, objective: Value) -> Value {
    json!({"strategy": "sma-cross", "symbols": ["SYN"], "timeframe": "1Min",
           "space": space, "method": method, "objective": objective})
}

pub(super) async fn post(r: &Router, body: &Value) -> Value {
    let resp = send(r, post_json("/sweeps", body)).await;
    assert_eq!(
        resp.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    resp.json()
}

async fn grid_points_equal_separate_backtests(kind: Kind) {
    let (r, app, store, _dir) = app_on(kind, 2_000).await;
    let body = sweep(
        json!({"fast": [5, 10], "slow": {"min": 20, "max": 30, "step": 10}}),
        json!({"kind": "grid"}),
        json!({"metric": "return_pct", "direction": "max"}),
    );
    let created = post(&r, &body).await;
    let id = created["id"].as_i64().expect("id");
    assert_eq!(
        created["progress"],
        json!({"done": 0, "failed": 0, "total": 4})
    );
    idle(&app).await;
    let s = send(&r, get(&format!("/sweeps/{id}"))).await.json();
    assert_eq!(s["status"], "done", "{s}");
    assert_eq!(s["progress"], json!({"done": 4, "failed": 0, "total": 4}));
    let results = s["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), 4);
    // Best first, and `best` is the first.
    let returns: Vec<f64> = results
        .iter()
        .map(|p| p["metrics"]["return_pct"].as_f64().expect("return"))
        .collect();
    assert!(returns.windows(2).all(|w| w[0] >= w[1]), "{returns:?}");
    assert_eq!(s["best"], results[0]);
    assert_eq!(
        results[0]["objective"].as_f64(),
        results[0]["metrics"]["return_pct"].as_f64()
    );

    // Each point equals a separate backtest with its parameters.
    for p in &results {
        let params = p["params"].clone();
        let b = send(
            &r,
            post_json(
                "/backtests",
                json!({"strategy": "sma-cross", "symbols": ["SYN"], "timeframe": "1Min", "params": params}),
            ),
        )
        .await
        .json();
        idle(&app).await;
        let b = send(&r, get(&format!("/backtests/{}", b["id"])))
            .await
            .json();
        assert_eq!(b["status"], "done", "{b}");
        let metrics = &b["report"]["metrics"];
        for (k, v) in p["metrics"].as_object().expect("summary") {
            if k != "return_over_drawdown" {
                // As numbers: the summary holds `trades` as a float, the report as an integer.
                assert_eq!(metrics[k].as_f64(), v.as_f64(), "{k} of point {params}");
            }
        }
    }

    // The report of a point, computed again, and "open as backtest" agree with the summary.
    let best = &results[0];
    let index = best["index"].as_i64().expect("index");
    let report = send(&r, get(&format!("/sweeps/{id}/points/{index}/report"))).await;
    assert_eq!(report.status, StatusCode::OK);
    let report = report.json();
    assert_eq!(
        report["metrics"]["sharpe"].as_f64(),
        best["metrics"]["sharpe"].as_f64()
    );
    assert_eq!(report["strategy"]["params"], best["params"]);
    assert!(report["trades"].as_array().is_some_and(|t| !t.is_empty()));
    let opened = send(
        &r,
        post_json(&format!("/sweeps/{id}/points/{index}/backtest"), ""),
    )
    .await;
    assert_eq!(opened.status, StatusCode::ACCEPTED);
    let bid = opened.json()["id"].as_i64().expect("backtest id");
    idle(&app).await;
    let b = send(&r, get(&format!("/backtests/{bid}"))).await.json();
    assert_eq!(
        b["report"]["metrics"]["equity_final"].as_f64(),
        best["metrics"]["equity_final"].as_f64()
    );
    assert_eq!(b["config"]["params"], best["params"]);
    let missing = send(&r, get(&format!("/sweeps/{id}/points/4/report"))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Paging: by a metric, both ways, and with offset.
    let page = |q: &str| {
        let r = r.clone();
        let q = q.to_owned();
        async move { send(&r, get(&format!("/sweeps/{id}?{q}"))).await.json() }
    };
    let trades = |v: &Value| -> Vec<i64> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["metrics"]["trades"].as_f64().unwrap() as i64)
            .collect()
    };
    let asc = trades(&page("sort=trades&order=asc").await);
    assert!(asc.windows(2).all(|w| w[0] <= w[1]), "{asc:?}");
    let first = page("limit=2&offset=0").await;
    let second = page("limit=2&offset=2").await;
    let mut seen: Vec<i64> = [first, second]
        .iter()
        .flat_map(|v| v["results"].as_array().unwrap().clone())
        .map(|p| p["index"].as_i64().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2, 3]);
    let bad_sort = send(&r, get(&format!("/sweeps/{id}?sort=sharp"))).await;
    assert_eq!(bad_sort.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_sort.error_code(), "unknown_metric");

    // Listed newest first; its events say queued, running, done.
    let list = send(&r, get("/sweeps")).await.json();
    assert_eq!(list[0]["id"].as_i64(), Some(id));
    // Committed events are held back while any transaction older than them is open (other
    // tests share the PostgreSQL server).
    crate::walle::support::settle(&store.walle).await;
    let events = store
        .walle
        .fetch_events(weaver::events::Cursor::default(), 100_000)
        .await
        .expect("events");
    let statuses: Vec<&str> = events
        .iter()
        .filter(|e| e.envelope.event_type == "backtest.SweepStatusChanged")
        .map(|e| e.envelope.payload["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["queued", "running", "done"]);
    drop(app);
    store.finish().await;
}

async fn random_is_reproducible_and_constraints_hold(kind: Kind) {
    let (r, app, store, _dir) = app_on(kind, 1_500).await;
    let space = json!({"fast": {"min": 2, "max": 15, "step": 1}, "slow": {"min": 16, "max": 60, "step": 1}});
    let method = json!({"kind": "random", "seed": 42, "count": 5});
    let objective = json!({"metric": "return_over_drawdown", "direction": "max"});
    let mut strict = sweep(space.clone(), method.clone(), objective.clone());
    strict["constraints"] = json!({"min_trades": 1_000_000});
    let a = post(&r, &strict).await["id"].as_i64().unwrap();
    let b = post(&r, &sweep(space.clone(), method, objective.clone())).await["id"]
        .as_i64()
        .unwrap();
    let c = post(
        &r,
        &sweep(
            space,
            json!({"kind": "random", "seed": 43, "count": 5}),
            objective,
        ),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    idle(&app).await;
    let by_index = |v: &Value| -> Vec<Value> {
        let mut pts = v["results"].as_array().unwrap().clone();
        pts.sort_by_key(|p| p["index"].as_i64());
        pts.iter().map(|p| p["params"].clone()).collect()
    };
    let sa = send(&r, get(&format!("/sweeps/{a}"))).await.json();
    let sb = send(&r, get(&format!("/sweeps/{b}"))).await.json();
    let sc = send(&r, get(&format!("/sweeps/{c}"))).await.json();
    assert_eq!(by_index(&sa).len(), 5);
    assert_eq!(by_index(&sa), by_index(&sb), "same seed, same points");
    assert_ne!(by_index(&sa), by_index(&sc), "another seed, other points");
    // Every point broke the constraint: kept, infeasible, never best.
    assert!(
        sa["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["feasible"] == false)
    );
    assert_eq!(sa["best"], Value::Null);
    assert_eq!(sb["best"]["feasible"], true);
    assert_eq!(
        sb["best"]["objective"].as_f64(),
        sb["best"]["metrics"]["return_over_drawdown"].as_f64()
    );
    drop(app);
    store.finish().await;
}

async fn refusals_name_their_reason_and_store_nothing(kind: Kind) {
    let (r, app, store, _dir) = app_on(kind, 200).await;
    let objective = json!({"metric": "sharpe", "direction": "max"});
    let refused = |body: Value| {
        let r = r.clone();
        async move {
            let resp = send(&r, post_json("/sweeps", body)).await;
            assert_eq!(
                resp.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}",
                String::from_utf8_lossy(&resp.body)
            );
            let code = resp.error_code();
            (code, resp.json()["details"].clone())
        }
    };
    let big = sweep(
        json!({"fast": {"min": 1, "max": 400, "step": 1}, "slow": {"min": 1, "max": 400, "step": 1}}),
        json!({"kind": "grid"}),
        objective.clone(),
    );
    let (code, details) = refused(big).await;
    assert_eq!(code, "sweep_too_large");
    assert_eq!(details, json!({"points": 160_000, "limit": 100_000}));
    let (code, details) = refused(sweep(
        json!({"fast": [5]}),
        json!({"kind": "grid"}),
        json!({"metric": "sharp", "direction": "max"}),
    ))
    .await;
    assert_eq!(code, "unknown_metric");
    assert!(
        details["accepted"]
            .as_array()
            .unwrap()
            .contains(&json!("sharpe"))
    );
    assert!(
        details["accepted"]
            .as_array()
            .unwrap()
            .contains(&json!("return_over_drawdown"))
    );
    let (code, _) = refused(sweep(
        json!({"fast": {"min": 5, "max": 1, "step": 1}}),
        json!({"kind": "grid"}),
        objective.clone(),
    ))
    .await;
    assert_eq!(code, "invalid_space");
    // Validated as POST /backtests is.
    let mut tf = sweep(
        json!({"fast": [5]}),
        json!({"kind": "grid"}),
        objective.clone(),
    );
    tf["timeframe"] = json!("7Parsecs");
    assert_eq!(refused(tf).await.0, "invalid_timeframe");
    let mut none = sweep(
        json!({"fast": [5]}),
        json!({"kind": "grid"}),
        objective.clone(),
    );
    none["symbols"] = json!(["NOPE"]);
    assert_eq!(refused(none).await.0, "no_candles");
    let mut limits = sweep(json!({"fast": [5]}), json!({"kind": "grid"}), objective);
    limits["limits"] = json!({"memory_mb": 1_000_000});
    assert_eq!(refused(limits).await.0, "limit_not_allowed");
    assert_eq!(send(&r, get("/sweeps")).await.json(), json!([]));
    drop(app);
    store.finish().await;
}

async fn a_failed_point_is_recorded_and_the_sweep_finishes(kind: Kind) {
    let (r, app, store, _dir) = app_on(kind, 500).await;
    // sma-cross refuses fast = 0 in `init`: that point fails, the other runs.
    let body = sweep(
        json!({"fast": [0, 5]}),
        json!({"kind": "grid"}),
        json!({"metric": "trades", "direction": "min"}),
    );
    let id = post(&r, &body).await["id"].as_i64().unwrap();
    idle(&app).await;
    let s = send(&r, get(&format!("/sweeps/{id}"))).await.json();
    assert_eq!(s["status"], "done");
    assert_eq!(s["progress"], json!({"done": 1, "failed": 1, "total": 2}));
    let failed = s["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["status"] == "failed")
        .expect("failed point")
        .clone();
    assert_eq!(failed["params"], json!({"fast": 0}));
    assert!(
        failed["error"].as_str().unwrap().contains("bad_param"),
        "{failed}"
    );
    assert_eq!(
        (failed["feasible"].clone(), failed["metrics"].clone()),
        (json!(false), Value::Null)
    );
    assert_eq!(s["best"]["params"], json!({"fast": 5}));
    let report = send(
        &r,
        get(&format!("/sweeps/{id}/points/{}/report", failed["index"])),
    )
    .await;
    assert_eq!(report.status, StatusCode::CONFLICT);
    assert_eq!(report.error_code(), "point_failed");
    drop(app);
    store.finish().await;
}

async fn cancel_stops_and_keeps_finished_points(kind: Kind) {
    let (r, app, store, _dir) = app_on(kind, 5_000).await;
    let body = sweep(
        json!({"fast": {"min": 2, "max": 40, "step": 1}, "slow": {"min": 41, "max": 90, "step": 1}}),
        json!({"kind": "grid"}),
        json!({"metric": "sharpe", "direction": "max"}),
    );
    let id = post(&r, &body).await["id"].as_i64().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let s = send(&r, get(&format!("/sweeps/{id}?limit=0"))).await.json();
        if s["progress"]["done"].as_i64().unwrap() >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no point finished: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cancelled = send(&r, post_json(&format!("/sweeps/{id}/cancel"), "")).await;
    assert_eq!(cancelled.status, StatusCode::OK);
    assert_eq!(cancelled.json()["status"], "cancelled");
    let stopped = std::time::Instant::now();
    idle(&app).await;
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopped.elapsed()
    );
    let s = send(&r, get(&format!("/sweeps/{id}?limit=0"))).await.json();
    assert_eq!(s["status"], "cancelled");
    let done = s["progress"]["done"].as_i64().unwrap();
    assert!((1..39 * 50).contains(&done), "{s}");
    let again = send(&r, post_json(&format!("/sweeps/{id}/cancel"), "")).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "sweep_finished");
    drop(app);
    store.finish().await;
}

async fn a_sweep_left_running_is_resumed_skipping_stored_points(kind: Kind) {
    let (r, app, store, dir) = app_on(kind, 500).await;
    let w = store.walle.clone();
    let strategy = send(&r, get("/strategies")).await.json()[0]["id"]
        .as_i64()
        .unwrap();
    // What an earlier process left: running, with point 1 stored (marked, so a re-run shows).
    let config = sweep(
        json!({"fast": [3, 5, 8]}),
        json!({"kind": "grid"}),
        json!({"metric": "sharpe", "direction": "max"}),
    );
    let s = w.insert_sweep(strategy, &config, 3).await.unwrap();
    w.set_sweep_status(s.id, weaver::walle::SweepStatus::Running, None)
        .await
        .unwrap();
    let marked = weaver::walle::NewSweepPoint {
        idx: 1,
        params: json!({"fast": 5}),
        status: weaver::walle::PointStatus::Done,
        error: None,
        metrics: Some(json!({"marker": true})),
        feasible: true,
        objective: Some(-1.0),
        returns: None,
    };
    w.insert_sweep_point(s.id, &marked).await.unwrap();
    drop(app);
    let restarted = App::new(Config::for_tests(dir.path()), w.clone()).expect("app");
    restarted.start().await.expect("start");
    idle(&restarted).await;
    let r = weaver::glados::router(restarted.state());
    let got = send(&r, get(&format!("/sweeps/{}", s.id))).await.json();
    assert_eq!(got["status"], "done", "{got}");
    assert_eq!(got["progress"], json!({"done": 3, "failed": 0, "total": 3}));
    let one = got["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["index"] == 1)
        .unwrap()
        .clone();
    assert_eq!(
        one["metrics"],
        json!({"marker": true}),
        "a stored point is not run again"
    );
    restarted.shutdown(Duration::from_secs(5)).await;
    store.finish().await;
}

/// Merged after the SDKs' `init` refuses an undeclared parameter with `unknown_param`: the
/// sweep's one `init` with its first point's parameters turns that into a refusal by name.
async fn an_undeclared_parameter_is_refused_by_name(kind: Kind) {
    let (r, app, store, _dir) = app_on(kind, 200).await;
    let body = sweep(
        json!({"fsat": [5, 10], "slow": [20]}),
        json!({"kind": "grid"}),
        json!({"metric": "sharpe", "direction": "max"}),
    );
    let resp = send(&r, post_json("/sweeps", body)).await;
    assert_eq!(
        resp.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    assert_eq!(resp.error_code(), "unknown_parameter");
    assert_eq!(resp.json()["details"], json!({"name": "fsat"}));
    assert_eq!(
        send(&r, get("/sweeps")).await.json(),
        json!([]),
        "nothing stored"
    );
    drop(app);
    store.finish().await;
}

stores_and_workers!(
    grid_points_equal_separate_backtests,
    random_is_reproducible_and_constraints_hold,
    refusals_name_their_reason_and_store_nothing,
    a_failed_point_is_recorded_and_the_sweep_finishes,
    cancel_stops_and_keeps_finished_points,
    a_sweep_left_running_is_resumed_skipping_stored_points,
    an_undeclared_parameter_is_refused_by_name,
);
