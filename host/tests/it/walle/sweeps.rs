//! Sweep contract: a sweep's status changes (a final one is sticky) each with its event, points
//! stored once, progress, and result pages in a total order by objective or by any metric.

use serde_json::json;
use weaver::walle::{NewStrategy, NewSweepPoint, PointOrder, PointStatus, SweepStatus, Walle};

use super::support::{TestStore, contract, settle};

contract!(sweeps_store_points_once_and_page_them);

async fn strategy(w: &Walle) -> i64 {
    let new = NewStrategy {
        sha256: "cd".repeat(32),
        name: "sma-cross".into(),
        version: "1".into(),
        language: "rust".into(),
        size_bytes: 10,
    };
    w.insert_strategy(&new, None).await.expect("strategy").0.id
}

fn point(idx: i64, sharpe: Option<f64>, trades: f64, feasible: bool) -> NewSweepPoint {
    NewSweepPoint {
        idx,
        params: json!({"fast": idx}),
        status: if sharpe.is_some() {
            PointStatus::Done
        } else {
            PointStatus::Failed
        },
        error: sharpe.is_none().then(|| "strategy_trap: boom".to_owned()),
        metrics: sharpe.map(|s| json!({"sharpe": s, "trades": trades})),
        feasible,
        objective: sharpe,
        returns: sharpe.map(|s| vec![s / 100.0, 0.0]),
    }
}

async fn sweeps_store_points_once_and_page_them(store: &TestStore) {
    let w = &store.walle;
    let sid = strategy(w).await;
    let config = json!({"objective": {"metric": "sharpe", "direction": "max"}});
    let s = w.insert_sweep(sid, &config, 5).await.expect("insert");
    assert_eq!((s.status, s.total), (SweepStatus::Queued, 5));
    assert_eq!(w.unfinished_sweeps().await.unwrap(), vec![s.id]);
    let running = w
        .set_sweep_status(s.id, SweepStatus::Running, None)
        .await
        .unwrap();
    assert_eq!(running.status, SweepStatus::Running);

    for p in [
        point(0, Some(0.5), 3.0, true),
        point(1, Some(1.5), 1.0, false),
        point(2, None, 0.0, false),
        point(3, Some(1.0), 7.0, true),
        point(4, Some(0.5), 9.0, true),
    ] {
        w.insert_sweep_point(s.id, &p).await.expect("point");
    }
    // A second write of a stored point (a resumed sweep racing itself) changes nothing.
    w.insert_sweep_point(s.id, &point(3, Some(99.0), 0.0, true))
        .await
        .expect("repeat");
    assert_eq!(w.sweep_progress(s.id).await.unwrap(), (4, 1));
    assert_eq!(w.sweep_point_indexes(s.id).await.unwrap(), [0, 1, 2, 3, 4]);
    let three = w.sweep_point(s.id, 3).await.unwrap().expect("point 3");
    assert_eq!(three.objective, Some(1.0));
    assert_eq!(three.metrics.unwrap().0["trades"], 7.0);
    let failed = w.sweep_point(s.id, 2).await.unwrap().expect("point 2");
    assert_eq!(failed.status, PointStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("strategy_trap: boom"));
    // The done points' block returns, by index (the failed one has none), capped by `limit`.
    let (returns, total) = w.sweep_returns(s.id, 10).await.unwrap();
    assert_eq!(total, 4);
    assert_eq!(
        returns,
        vec![
            (0, vec![0.005, 0.0]),
            (1, vec![0.015, 0.0]),
            (3, vec![0.01, 0.0]),
            (4, vec![0.005, 0.0])
        ]
    );
    assert_eq!(w.sweep_returns(s.id, 2).await.unwrap().0.len(), 2);
    w.set_sweep_overfitting(s.id, &json!({"trials": 4}))
        .await
        .unwrap();
    let stored = w.sweep(s.id).await.unwrap().expect("sweep");
    assert_eq!(stored.overfitting.map(|j| j.0), Some(json!({"trials": 4})));

    let idx = |v: Vec<weaver::walle::SweepPoint>| v.iter().map(|p| p.idx).collect::<Vec<_>>();
    let best = PointOrder::Objective { descending: true };
    // Feasible first, best first, ties by index, undefined last.
    assert_eq!(
        idx(w.sweep_points(s.id, &best, 10, 0).await.unwrap()),
        [3, 0, 4, 1, 2]
    );
    assert_eq!(
        idx(w.sweep_points(s.id, &best, 2, 2).await.unwrap()),
        [4, 1]
    );
    let worst = PointOrder::Objective { descending: false };
    assert_eq!(
        idx(w.sweep_points(s.id, &worst, 10, 0).await.unwrap()),
        [0, 4, 3, 1, 2]
    );
    let by_trades = PointOrder::Metric {
        key: "trades".into(),
        descending: true,
    };
    assert_eq!(
        idx(w.sweep_points(s.id, &by_trades, 10, 0).await.unwrap()),
        [4, 3, 0, 1, 2]
    );
    let by_trades_asc = PointOrder::Metric {
        key: "trades".into(),
        descending: false,
    };
    assert_eq!(
        idx(w.sweep_points(s.id, &by_trades_asc, 3, 0).await.unwrap()),
        [1, 0, 3]
    );

    let done = w
        .set_sweep_status(s.id, SweepStatus::Done, None)
        .await
        .unwrap();
    assert_eq!(done.status, SweepStatus::Done);
    // Final is sticky: a late cancel leaves it done and appends nothing.
    let late = w
        .set_sweep_status(s.id, SweepStatus::Cancelled, None)
        .await
        .unwrap();
    assert_eq!(late.status, SweepStatus::Done);
    assert!(w.unfinished_sweeps().await.unwrap().is_empty());
    let other = w.insert_sweep(sid, &config, 1).await.unwrap();
    let page = w.sweeps(None, 10).await.unwrap();
    assert_eq!(
        page.iter().map(|s| s.id).collect::<Vec<_>>(),
        [other.id, s.id]
    );
    assert_eq!(w.sweeps(Some(other.id), 10).await.unwrap()[0].id, s.id);

    settle(w).await;
    let statuses: Vec<String> = w
        .fetch_events(Default::default(), 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.envelope.event_type == "backtest.SweepStatusChanged")
        .filter(|e| e.envelope.payload["sweep_id"] == s.id)
        .map(|e| e.envelope.payload["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["queued", "running", "done"]);
}
