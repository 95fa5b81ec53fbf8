//! Control-plane contract: disabling strategies (refused while a run uses them, never racing a
//! run's creation) and durable settings, on both backends.

use serde_json::json;
use weaver::domain::Timeframe;
use weaver::events::{Envelope, payloads};
use weaver::walle::{NewRun, NewStrategy, RunMode, RunStatus, StrategyStatus, Walle};

use super::support::{TestStore, contract, settle};

contract!(
    disabled_strategies_stay_readable_and_start_nothing,
    disabling_never_races_a_run_start,
    settings_persist_and_announce,
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
