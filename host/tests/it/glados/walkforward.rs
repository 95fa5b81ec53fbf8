//! Walk-forward analyses and overfitting figures through the API, on SQLite and PostgreSQL: a
//! small rolling walk-forward finishes with its windows' out-of-sample runs chained into one
//! continuous curve, its in-sample choice equals a sweep over the same bars, anchored windows
//! grow from the first bar, refusals name their reason and store nothing, cancel, a resume
//! after a restart skips stored windows, and a done sweep carries its DSR and PBO.

use super::stores_and_workers;
use serde_json::{Value, json};
use weaver::app::{App, Config};
use weaver::greta::synth;

use super::sweeps::{app_on, idle};
use super::{get, send};
use crate::support::post_json;
use crate::walle::support::Kind;
use axum::Router;
use axum::http::StatusCode;

const MIN: i64 = 60_000;

fn body(windows: Value) -> Value {
    json!({"strategy": "sma-cross", "symbols": ["SYN"], "timeframe": "1Min",
           "space": {"fast": [5, 10], "slow": [20, 30]}, "method": {"kind": "grid"},
           "objective": {"metric": "return_pct", "direction": "max"}, "windows": windows})
}

async fn post(r: &Router, body: &Value) -> Value {
    let resp = send(r, post_json("/walkforward", body)).await;
    assert_eq!(
        resp.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    resp.json()
}

fn ms(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().expect("time"))
        .expect("rfc3339")
        .timestamp_millis()
}

async fn rolling_windows_chain_their_out_of_sample_runs(kind: Kind) {
    let (r, app, store, _dir) = app_on(kind, 1_000).await;
    let created = post(
        &r,
        &body(json!({"kind": "rolling", "in_sample": 400, "out_of_sample": 200})),
    )
    .await;
    let id = created["id"].as_i64().expect("id");
    assert_eq!(created["status"], "queued");
    assert_eq!(created["progress"]["windows_total"], 3);
    assert_eq!(created["progress"]["points_total"], 12);
    idle(&app).await;
    let w = send(&r, get(&format!("/walkforward/{id}"))).await.json();
    assert_eq!(w["status"], "done", "{w}");
    assert_eq!(
        w["progress"],
        json!({"windows_done": 3, "windows_total": 3, "points_done": 12, "points_total": 12})
    );
    let windows = w["windows"].as_array().expect("windows").clone();
    let t0 = synth::START_MS;
    for (k, win) in windows.iter().enumerate() {
        let k = k as i64;
        assert_eq!(win["status"], "done", "{win}");
        // Rolling by the out-of-sample size: in sample bars 200k..200k+400, then 200 out.
        assert_eq!(ms(&win["in_sample"]["start"]), t0 + 200 * k * MIN);
        assert_eq!(ms(&win["in_sample"]["end"]), t0 + (200 * k + 399) * MIN);
        assert_eq!(
            ms(&win["out_of_sample"]["start"]),
            t0 + (200 * k + 400) * MIN
        );
        assert_eq!(ms(&win["out_of_sample"]["end"]), t0 + (200 * k + 599) * MIN);
        assert_eq!(
            (
                win["in_sample"]["bars"].clone(),
                win["out_of_sample"]["bars"].clone()
            ),
            (json!(400), json!(200))
        );
        assert!(win["best_params"]["fast"].is_number(), "{win}");
        assert!(win["out_of_sample_metrics"]["return_pct"].is_number());
    }
    // Each window's report: its out-of-sample bars only, read after its warm-up.
    let mut reports = Vec::new();
    for (k, win) in windows.iter().enumerate() {
        let rep = send(&r, get(&format!("/walkforward/{id}/windows/{k}/report"))).await;
        assert_eq!(rep.status, StatusCode::OK);
        let rep = rep.json();
        let equity = rep["equity"].as_array().expect("equity").clone();
        assert_eq!(equity.len(), 200);
        assert_eq!(ms(&equity[0]["ts"]), ms(&win["out_of_sample"]["start"]));
        let p = &win["best_params"];
        let declared = p["fast"].as_i64().unwrap().max(p["slow"].as_i64().unwrap()) - 1;
        assert_eq!(rep["warmup_bars_before"], declared, "{p}");
        assert_eq!(rep["strategy"]["params"]["fast"], p["fast"]);
        assert_eq!(
            rep["metrics"]["return_pct"].as_f64(),
            win["out_of_sample_metrics"]["return_pct"].as_f64()
        );
        reports.push(equity);
    }
    // The stitched curve chains them: each window starts where the previous one ended.
    let stitched = w["stitched"]["equity"]
        .as_array()
        .expect("stitched")
        .clone();
    assert_eq!(stitched.len(), 600);
    let mut level = 1.0;
    for (k, eq) in reports.iter().enumerate() {
        let first = eq[0]["equity"].as_f64().unwrap();
        let scale = if k == 0 { 1.0 } else { level / first };
        for (j, p) in eq.iter().enumerate() {
            let got = stitched[200 * k + j]["equity"].as_f64().unwrap();
            let want = p["equity"].as_f64().unwrap() * scale;
            assert!(
                (got - want).abs() < 1e-6 * want.abs(),
                "bar {j} of window {k}"
            );
            assert_eq!(ms(&stitched[200 * k + j]["ts"]), ms(&p["ts"]));
        }
        level = eq[199]["equity"].as_f64().unwrap() * scale;
    }
    let fin = w["stitched"]["metrics"]["equity_final"].as_f64().unwrap();
    assert!((fin - level).abs() < 1e-6 * level, "{fin} {level}");
    // Stability is read off the windows' choices; efficiency from their summaries.
    let fast: Vec<Value> = windows
        .iter()
        .map(|x| x["best_params"]["fast"].clone())
        .collect();
    assert_eq!(w["stability"]["fast"]["values"], json!(fast));
    let mut distinct: Vec<String> = fast.iter().map(Value::to_string).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(w["stability"]["fast"]["distinct"], distinct.len());
    assert!(w["efficiency"].is_number() || w["efficiency"].is_null());
    let o = &w["overfitting"];
    assert_eq!(o["trials"], 4, "{o}");
    assert!(o["deflated_sharpe"]["dsr"].is_number(), "{o}");
    assert_eq!(o["deflated_sharpe"]["observations"], 599);
    assert!(o["pbo"].is_null() && o["note"].is_string());
    assert!(w["finished_at"].is_string());

    // Window 0's choice is a sweep's best over the same in-sample bars.
    let mut sweep = body(Value::Null);
    sweep.as_object_mut().unwrap().remove("windows");
    sweep["start"] = windows[0]["in_sample"]["start"].clone();
    sweep["end"] = json!(chrono::DateTime::from_timestamp_millis(t0 + 400 * MIN).unwrap());
    let s = send(&r, post_json("/sweeps", &sweep)).await.json();
    idle(&app).await;
    let s = send(&r, get(&format!("/sweeps/{}", s["id"]))).await.json();
    assert_eq!(s["best"]["params"], windows[0]["best_params"], "{s}");
    assert_eq!(
        s["best"]["objective"].as_f64(),
        send(&r, get(&format!("/walkforward/{id}"))).await.json()["windows"][0]
            ["in_sample_objective"]
            .as_f64()
    );

    // Listed newest first; events queued, running, done.
    let list = send(&r, get("/walkforward")).await.json();
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
        .filter(|e| e.envelope.event_type == "backtest.WalkForwardStatusChanged")
        .map(|e| e.envelope.payload["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["queued", "running", "done"]);
    let missing = send(&r, get(&format!("/walkforward/{id}/windows/3/report"))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    drop(app);
    store.finish().await;
}

async fn anchored_windows_grow_from_the_first_bar(kind: Kind) {
    let (r, app, store, _dir) = app_on(kind, 600).await;
    let b = body(json!({"kind": "anchored", "in_sample": 200, "out_of_sample": 150}));
    let id = post(&r, &b).await["id"].as_i64().unwrap();
    idle(&app).await;
    let w = send(&r, get(&format!("/walkforward/{id}"))).await.json();
    assert_eq!(w["status"], "done", "{w}");
    let windows = w["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 2);
    for (k, win) in windows.iter().enumerate() {
        assert_eq!(ms(&win["in_sample"]["start"]), synth::START_MS);
        assert_eq!(win["in_sample"]["bars"], 200 + 150 * k);
        assert_eq!(win["out_of_sample"]["bars"], 150);
    }
    assert_eq!(w["windows_spec"]["kind"], "anchored");
    drop(app);
    store.finish().await;
}

async fn refusals_name_their_reason_and_store_nothing(kind: Kind) {
    let (r, app, store, _dir) = app_on(kind, 300).await;
    let refused = |b: Value| {
        let r = r.clone();
        async move {
            let resp = send(&r, post_json("/walkforward", b)).await;
            assert_eq!(
                resp.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}",
                String::from_utf8_lossy(&resp.body)
            );
            (resp.error_code(), resp.json()["details"].clone())
        }
    };
    let (code, details) = refused(body(
        json!({"kind": "rolling", "in_sample": 250, "out_of_sample": 100}),
    ))
    .await;
    assert_eq!(code, "invalid_windows");
    assert_eq!(
        details,
        json!({"field": "windows", "bars": 300, "needed": 350})
    );
    let (code, details) = refused(body(
        json!({"kind": "rolling", "in_sample": "6m", "out_of_sample": 10}),
    ))
    .await;
    assert_eq!(code, "invalid_windows");
    assert_eq!(details["field"], "windows.in_sample");
    let (code, details) = refused(body(
        json!({"kind": "rolling", "in_sample": "30d", "out_of_sample": "1w"}),
    ))
    .await;
    assert_eq!(
        (code.as_str(), details["field"].clone()),
        ("invalid_windows", json!("windows"))
    );
    let mut big = body(json!({"kind": "rolling", "in_sample": 20, "out_of_sample": 10}));
    big["space"] = json!({"fast": {"min": 1, "max": 400, "step": 1}, "slow": {"min": 1, "max": 20, "step": 1}});
    let (code, details) = refused(big).await;
    assert_eq!(code, "sweep_too_large");
    // 8000 points × 28 windows.
    assert_eq!(details, json!({"points": 224_000, "limit": 100_000}));
    let mut metric = body(json!({"kind": "rolling", "in_sample": 100, "out_of_sample": 50}));
    metric["objective"]["metric"] = json!("sharp");
    assert_eq!(refused(metric).await.0, "unknown_metric");
    let mut param = body(json!({"kind": "rolling", "in_sample": 100, "out_of_sample": 50}));
    param["space"] = json!({"fsat": [5]});
    let (code, details) = refused(param).await;
    assert_eq!(
        (code.as_str(), details),
        ("unknown_parameter", json!({"name": "fsat"}))
    );
    // A misspelt sweep field is refused by name, as `POST /sweeps` refuses it.
    let mut typo = body(json!({"kind": "rolling", "in_sample": 100, "out_of_sample": 50}));
    typo["comission"] = json!(0.001);
    let resp = send(&r, post_json("/walkforward", typo)).await;
    assert_eq!(resp.error_code(), "invalid_body");
    assert!(
        resp.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("comission")),
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    let mut no_windows = body(json!(null));
    no_windows
        .as_object_mut()
        .expect("object")
        .remove("windows");
    let resp = send(&r, post_json("/walkforward", no_windows)).await;
    assert_eq!(resp.error_code(), "invalid_body");
    assert!(
        resp.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("windows")),
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    assert_eq!(send(&r, get("/walkforward")).await.json(), json!([]));
    drop(app);
    store.finish().await;
}

async fn cancel_keeps_finished_windows(kind: Kind) {
    let (r, app, store, _dir) = app_on(kind, 4_000).await;
    let mut b = body(json!({"kind": "rolling", "in_sample": 1000, "out_of_sample": 500}));
    b["space"] = json!({"fast": {"min": 2, "max": 30, "step": 1}, "slow": {"min": 31, "max": 60, "step": 1}});
    let id = post(&r, &b).await["id"].as_i64().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let w = send(&r, get(&format!("/walkforward/{id}"))).await.json();
        if w["progress"]["points_done"].as_i64().unwrap() >= 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "nothing ran: {w}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cancelled = send(&r, post_json(&format!("/walkforward/{id}/cancel"), "")).await;
    assert_eq!(cancelled.status, StatusCode::OK);
    assert_eq!(cancelled.json()["status"], "cancelled");
    idle(&app).await;
    let w = send(&r, get(&format!("/walkforward/{id}"))).await.json();
    assert_eq!(w["status"], "cancelled");
    assert!(w["progress"]["windows_done"].as_i64().unwrap() < 6, "{w}");
    let again = send(&r, post_json(&format!("/walkforward/{id}/cancel"), "")).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "walkforward_finished");
    drop(app);
    store.finish().await;
}

async fn a_walkforward_left_running_resumes_skipping_stored_windows(kind: Kind) {
    let (r, app, store, dir) = app_on(kind, 600).await;
    let w = store.walle.clone();
    let strategy = send(&r, get("/strategies")).await.json()[0]["id"]
        .as_i64()
        .unwrap();
    let t =
        |i: i64| json!(chrono::DateTime::from_timestamp_millis(synth::START_MS + i * MIN).unwrap());
    let plan = json!([
        {"bounds": {"is_from": 0, "is_to": 200, "oos_to": 400},
         "is_start": t(0), "is_end": t(199), "oos_start": t(200), "oos_end": t(399)},
        {"bounds": {"is_from": 200, "is_to": 400, "oos_to": 600},
         "is_start": t(200), "is_end": t(399), "oos_start": t(400), "oos_end": t(599)},
    ]);
    let config = body(json!({"kind": "rolling", "in_sample": 200, "out_of_sample": 200}));
    let row = w
        .insert_walkforward(strategy, &config, &plan, 4)
        .await
        .unwrap();
    w.set_walkforward_status(row.id, weaver::walle::SweepStatus::Running, None)
        .await
        .unwrap();
    // Window 0 as an earlier process stored it (marked, so a re-run shows).
    let marked = weaver::walle::NewWindow {
        idx: 0,
        status: weaver::walle::PointStatus::Failed,
        error: Some("marker".into()),
        best_params: None,
        in_sample_objective: None,
        in_sample: None,
        out_of_sample: None,
        trials: 4,
        trial_sharpe_variance: None,
        detail: None,
        report: None,
    };
    w.insert_walkforward_window(row.id, &marked).await.unwrap();
    drop(app);
    let restarted = App::new(Config::for_tests(dir.path()), w.clone()).expect("app");
    restarted.start().await.expect("start");
    idle(&restarted).await;
    let r = weaver::glados::router(restarted.state());
    let got = send(&r, get(&format!("/walkforward/{}", row.id)))
        .await
        .json();
    assert_eq!(got["status"], "done", "{got}");
    assert_eq!(
        got["windows"][0]["error"], "marker",
        "a stored window is not run again"
    );
    assert_eq!(got["windows"][1]["status"], "done", "{got}");
    assert_eq!(got["progress"]["windows_done"], 2);
    // Only window 1 ran out of sample: the stitched curve is its 200 bars.
    assert_eq!(got["stitched"]["equity"].as_array().unwrap().len(), 200);
    let failed = send(
        &r,
        get(&format!("/walkforward/{}/windows/0/report", row.id)),
    )
    .await;
    assert_eq!(failed.status, StatusCode::CONFLICT);
    assert_eq!(failed.error_code(), "window_failed");
    restarted.shutdown(std::time::Duration::from_secs(5)).await;
    store.finish().await;
}

async fn a_done_sweep_carries_its_overfitting_figures(kind: Kind) {
    let (r, app, store, _dir) = app_on(kind, 1_000).await;
    let mut b = body(Value::Null);
    b.as_object_mut().unwrap().remove("windows");
    let s = send(&r, post_json("/sweeps", &b)).await;
    assert_eq!(s.status, StatusCode::ACCEPTED);
    let s = s.json();
    assert!(s["overfitting"].is_null(), "not before it ends");
    idle(&app).await;
    let s = send(&r, get(&format!("/sweeps/{}", s["id"]))).await.json();
    let o = &s["overfitting"];
    assert_eq!(o["trials"], 4, "{s}");
    let d = &o["deflated_sharpe"];
    for k in [
        "sharpe",
        "dsr",
        "expected_max_sharpe",
        "trial_sharpe_variance",
    ] {
        assert!(d[k].is_number(), "{k}: {o}");
    }
    // 999 returns cut into 240 blocks; 4 points: 16 blocks of 15 periods.
    assert_eq!(d["observations"], 240);
    let dsr = d["dsr"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&dsr));
    let p = &o["pbo"];
    assert_eq!(
        (p["partitions"].clone(), p["combinations"].clone()),
        (json!(16), json!(12_870))
    );
    assert_eq!(p["block_len"], 15);
    let pbo = p["pbo"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&pbo));
    // Monte Carlo of the best point's trades, seeded.
    let index = s["best"]["index"].as_i64().unwrap();
    let url = format!(
        "/sweeps/{}/points/{index}/montecarlo?runs=200&seed=3",
        s["id"]
    );
    let mc = send(&r, get(&url)).await;
    assert_eq!(mc.status, StatusCode::OK);
    let mc = mc.json();
    assert_eq!(
        (mc["runs"].clone(), mc["seed"].clone()),
        (json!(200), json!(3))
    );
    assert!(mc["trades"].as_u64().unwrap() > 0);
    assert_eq!(
        send(&r, get(&url)).await.json(),
        mc,
        "same seed, same answer"
    );
    let bad = send(
        &r,
        get(&format!(
            "/sweeps/{}/points/{index}/montecarlo?runs=0",
            s["id"]
        )),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_code(), "invalid_overfit_input");
    drop(app);
    store.finish().await;
}

stores_and_workers!(
    rolling_windows_chain_their_out_of_sample_runs,
    anchored_windows_grow_from_the_first_bar,
    refusals_name_their_reason_and_store_nothing,
    cancel_keeps_finished_windows,
    a_walkforward_left_running_resumes_skipping_stored_windows,
    a_done_sweep_carries_its_overfitting_figures,
);
