//! Control-plane contract: disabling strategies (refused while a run uses them, never racing a
//! run's creation) and durable settings, on both backends.

use serde_json::json;
use weaver::domain::Timeframe;
use weaver::events::{Envelope, payloads};
use weaver::walle::{
    NewRun, NewStrategy, Retention, RunLogLine, RunMode, RunStatus, StrategyStatus, Walle,
};

use super::support::{TestStore, contract, settle};

contract!(
    disabled_strategies_stay_readable_and_start_nothing,
    disabling_never_races_a_run_start,
    settings_persist_and_announce,
    run_logs_of_long_ended_runs_are_purged,
);

async fn strategy(w: &Walle, n: u32) -> i64 {
    let (s, created) = w
        .insert_strategy(
            &NewStrategy {
                sha256: format!("{n:064x}"),
                name: "disable-me".into(),
                version: format!("v{n}"),
                language: "rust".into(),
                size_bytes: 10,
            },
            None,
        )
        .await
        .expect("insert strategy");
    assert!(created);
    s.id
}

fn run_of(strategy_id: i64) -> NewRun {
    NewRun {
        strategy_id,
        mode: RunMode::Paper,
        venue: "sim".into(),
        params: json!({}),
        symbols: vec!["AAPL".into()],
        timeframe: Timeframe::MINUTE,
        limits: None,
        risk: None,
        options: None,
    }
}

async fn disabled_strategies_stay_readable_and_start_nothing(store: &TestStore) {
    let w = &store.walle;
    let id = strategy(w, 1).await;
    w.update_strategy_status(id, StrategyStatus::Ready, None, None)
        .await
        .expect("ready");
    let run = w.insert_run(&run_of(id), None).await.expect("run");

    // In use while the run is created, running or stopping.
    for status in [None, Some(RunStatus::Running), Some(RunStatus::Stopping)] {
        if let Some(s) = status {
            w.update_run_status(run.id, s, None, None)
                .await
                .expect("status");
        }
        let e = w.disable_strategy(id, None).await.expect_err("in use");
        assert_eq!(e.code(), "strategy_in_use", "{status:?}: {e}");
        assert_eq!(
            w.strategy(id).await.expect("read").expect("row").status,
            StrategyStatus::Ready
        );
    }
    w.update_run_status(run.id, RunStatus::Stopped, None, None)
        .await
        .expect("stopped");

    let disabled = w.disable_strategy(id, None).await.expect("disable");
    assert_eq!(disabled.status, StrategyStatus::Disabled);
    let at = disabled.disabled_at.expect("disabled_at set");
    let again = w.disable_strategy(id, None).await.expect("disable again");
    assert_eq!(
        again.disabled_at,
        Some(at),
        "disabling twice changes nothing"
    );
    assert_eq!(disabled_events(w).await, 1, "one event for the one change");

    // Readable everywhere, as disabled; a late compilation outcome does not re-enable it.
    let read = w.strategy(id).await.expect("read").expect("row");
    assert_eq!(read.status, StrategyStatus::Disabled);
    assert_eq!(
        w.strategies_by_name("disable-me").await.expect("by name")[0].status,
        StrategyStatus::Disabled
    );
    let late = w
        .update_strategy_status(id, StrategyStatus::Ready, None, None)
        .await
        .expect("late");
    assert_eq!(late.status, StrategyStatus::Disabled);

    let refused = w.insert_run(&run_of(id), None).await.expect_err("disabled");
    assert_eq!(refused.code(), "strategy_disabled");
    assert_eq!(
        w.insert_run(&run_of(9_999), None)
            .await
            .expect_err("unknown")
            .code(),
        "not_found"
    );
    assert_eq!(
        w.disable_strategy(9_999, None)
            .await
            .expect_err("unknown")
            .code(),
        "not_found"
    );
}

/// How many `strategy.StatusChanged` events say `disabled`.
async fn disabled_events(w: &Walle) -> usize {
    settle(w).await;
    let events = w
        .fetch_events(Default::default(), 10_000)
        .await
        .expect("events");
    events
        .iter()
        .filter(|e| e.envelope.event_type == "strategy.StatusChanged")
        .filter(|e| e.envelope.payload["status"] == "disabled")
        .count()
}

async fn disabling_never_races_a_run_start(store: &TestStore) {
    let w = &store.walle;
    for n in 0..12 {
        let id = strategy(w, 100 + n).await;
        let (a, b) = (w.clone(), w.clone());
        let start = tokio::spawn(async move { a.insert_run(&run_of(id), None).await });
        let disable = tokio::spawn(async move { b.disable_strategy(id, None).await });
        let started = start.await.expect("join");
        let disabled = disable.await.expect("join");
        match (&started, &disabled) {
            (Ok(_), Err(e)) => assert_eq!(e.code(), "strategy_in_use"),
            (Err(e), Ok(_)) => assert_eq!(e.code(), "strategy_disabled"),
            other => panic!("exactly one of start and disable must win: {other:?}"),
        }
    }
}

async fn settings_persist_and_announce(store: &TestStore) {
    let w = &store.walle;
    assert_eq!(w.setting("trading_state").await.expect("read"), None);
    let now = chrono::Utc::now();
    let event = |state: &str| {
        Envelope::new(
            "ui.TradingState",
            "glados",
            payloads::TradingStateChanged {
                state: state.into(),
                updated_at: now,
            },
        )
        .expect("event")
    };
    let first = w
        .put_setting("trading_state", "halted", Some(&event("halted")))
        .await
        .expect("put");
    assert_eq!(first.value, "halted");
    let second = w
        .put_setting("trading_state", "active", Some(&event("active")))
        .await
        .expect("put");
    assert!(second.updated_at >= first.updated_at);

    // Another handle (a restarted process) reads the last value.
    let other = store.second_handle().await;
    let read = other
        .setting("trading_state")
        .await
        .expect("read")
        .expect("row");
    assert_eq!(read.value, "active");
    if store.is_pg() {
        other.close().await;
    }

    // A refused event writes nothing.
    let bad = Envelope::new("ui.TradingState", "glados", json!({"state": 1})).expect("envelope");
    assert!(
        w.put_setting("trading_state", "halted", Some(&bad))
            .await
            .is_err()
    );
    assert_eq!(
        w.setting("trading_state")
            .await
            .expect("read")
            .expect("row")
            .value,
        "active"
    );

    settle(w).await;
    let events = w
        .fetch_events(Default::default(), 10_000)
        .await
        .expect("events");
    let states: Vec<_> = events
        .iter()
        .filter(|e| e.envelope.event_type == "ui.TradingState")
        .map(|e| e.envelope.payload["state"].clone())
        .collect();
    assert_eq!(states, vec![json!("halted"), json!("active")]);
}

/// The log retention deletes the lines of runs that ended longer ago than it, and only theirs:
/// a run that ended recently, a running one and a suspended one keep every line.
async fn run_logs_of_long_ended_runs_are_purged(store: &TestStore) {
    let w = &store.walle;
    let id = strategy(w, 7).await;
    w.update_strategy_status(id, StrategyStatus::Ready, None, None)
        .await
        .expect("ready");
    let lines: Vec<RunLogLine> = (1..=7)
        .map(|seq| RunLogLine {
            seq,
            ts: chrono::Utc::now(),
            level: "info".into(),
            message: format!("line {seq}"),
        })
        .collect();
    let mut runs = Vec::new();
    for status in [
        RunStatus::Stopped,
        RunStatus::Failed,
        RunStatus::Stopped,
        RunStatus::Running,
        RunStatus::Suspended,
    ] {
        let run = w.insert_run(&run_of(id), None).await.expect("run");
        w.update_run_status(run.id, RunStatus::Running, None, None)
            .await
            .expect("running");
        if status != RunStatus::Running {
            w.update_run_status(run.id, status, None, None)
                .await
                .expect("status");
        }
        w.append_run_logs(run.id, &lines).await.expect("logs");
        runs.push(run.id);
    }
    // The first two ended long ago; the third just now.
    let aged = store
        .exec_sql(&format!(
            "update runs set stopped_at = '2001-01-01T00:00:00Z' where id in ({}, {})",
            runs[0], runs[1]
        ))
        .await;
    assert_eq!(aged, 2);
    let retention = Retention {
        run_logs: std::time::Duration::from_secs(86_400),
        ..Retention::default()
    };
    let deleted = w.purge_run_logs(retention, 3).await.expect("purge");
    assert_eq!(
        deleted, 14,
        "every line of the two long-ended runs, in batches of 3"
    );
    for (i, run) in runs.iter().enumerate() {
        let kept = w.run_logs(*run, 0, 100).await.expect("read").len();
        assert_eq!(kept, if i < 2 { 0 } else { 7 }, "run #{i}");
    }
    assert_eq!(w.purge_run_logs(retention, 3).await.expect("again"), 0);
}
