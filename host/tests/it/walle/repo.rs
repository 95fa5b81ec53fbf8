//! Repository contract: every table's reads and writes, idempotency keys, and "bad input writes
//! nothing", on both backends.

use chrono::{Duration, SubsecRound, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use weaver::domain::{Intent, LogLevel, OrderType, Side, TimeInForce, Timeframe};
use weaver::events::{Envelope, payloads};
use weaver::walle::{
    BacktestReport, BacktestStatus, Candle, NewBacktest, NewFill, NewOrder, NewRun, NewStrategy,
    OrderFilter, OrderState, RunMode, RunStatus, StrategyStatus, VenueUpdate, Walle,
};

use super::support::{TestStore, contract, settle};

contract!(
    strategies_are_versioned_by_hash,
    runs_move_through_their_lifecycle,
    order_intents_are_idempotent_and_listable,
    fills_are_idempotent_by_venue_fill_id,
    candles_upsert_and_range,
    backtests_store_their_report,
    bad_events_write_nothing,
    migrations_are_idempotent,
);

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal literal")
}

async fn new_strategy(w: &Walle, tag: &str) -> i64 {
    let sha = format!("{:0>64}", hex_of(tag));
    let (s, created) = w
        .insert_strategy(
            &NewStrategy {
                sha256: sha,
                name: "sma".into(),
                version: tag.into(),
                language: "rust".into(),
                size_bytes: 1234,
            },
            None,
        )
        .await
        .expect("insert strategy");
    assert!(created);
    s.id
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

async fn new_run(w: &Walle) -> i64 {
    let strategy_id = new_strategy(w, "run").await;
    w.insert_run(
        &NewRun {
            strategy_id,
            mode: RunMode::Paper,
            venue: "sim".into(),
            params: json!({"fast": 10}),
            symbols: vec!["AAPL".into(), "MSFT".into()],
            timeframe: Timeframe::MINUTE,
            limits: None,
            risk: None,
            options: None,
        },
        None,
    )
    .await
    .expect("insert run")
    .id
}

/// All stored events of a type, in delivery order.
async fn events_of(w: &Walle, event_type: &str) -> Vec<Envelope> {
    settle(w).await;
    let all = w
        .fetch_events(Default::default(), 100_000)
        .await
        .expect("fetch events");
    all.into_iter()
        .map(|e| e.envelope)
        .filter(|e| e.event_type == event_type)
        .collect()
}

fn place_event(coid: &str) -> Envelope {
    Envelope::new(
        "orders.Intent",
        "test",
        payloads::OrderChanged {
            order_id: 0,
            client_order_id: coid.into(),
            symbol: "AAPL".into(),
            status: "pending_submit".into(),
        },
    )
    .expect("envelope")
}

fn limit_order(coid: &str, run_id: Option<i64>, symbol: &str) -> NewOrder {
    NewOrder {
        client_order_id: coid.into(),
        run_id,
        symbol: symbol.into(),
        side: Side::Buy,
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Day,
        quantity: Some(dec("1.5")),
        notional: None,
        limit_price: Some(dec("187.1234")),
        stop_price: None,
    }
}

async fn strategies_are_versioned_by_hash(store: &TestStore) {
    let w = &store.walle;
    let new = NewStrategy {
        sha256: "ab".repeat(32),
        name: "sma-cross".into(),
        version: "1.0.0".into(),
        language: "rust".into(),
        size_bytes: 4096,
    };
    let (s, created) = w.insert_strategy(&new, None).await.unwrap();
    assert!(created);
    assert_eq!(s.status, StrategyStatus::Uploaded);
    let (again, created_again) = w.insert_strategy(&new, None).await.unwrap();
    assert!(!created_again);
    assert_eq!(again.id, s.id);
    assert_eq!(
        events_of(w, "strategy.Uploaded").await.len(),
        1,
        "a re-upload appends no event"
    );

    let v2 = NewStrategy {
        sha256: "cd".repeat(32),
        version: "1.1.0".into(),
        ..new.clone()
    };
    w.insert_strategy(&v2, None).await.unwrap();
    let versions = w.strategies_by_name("sma-cross").await.unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|s| s.version.as_str())
            .collect::<Vec<_>>(),
        ["1.0.0", "1.1.0"]
    );

    let ready = w
        .update_strategy_status(s.id, StrategyStatus::Rejected, Some("bad import"), None)
        .await
        .unwrap();
    assert_eq!(ready.status, StrategyStatus::Rejected);
    assert_eq!(ready.error.as_deref(), Some("bad import"));
    assert!(ready.updated_at >= s.updated_at);
    let got = w.strategy(s.id).await.unwrap().expect("stored");
    assert_eq!(got, ready);
    assert_eq!(w.strategies().await.unwrap().len(), 2);
    let changed = events_of(w, "strategy.StatusChanged").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].payload["status"], "rejected");

    let err = w
        .update_strategy_status(9999, StrategyStatus::Ready, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    let bad = NewStrategy {
        sha256: "xyz".into(),
        ..new
    };
    assert_eq!(
        w.insert_strategy(&bad, None).await.unwrap_err().code(),
        "invalid_input"
    );
}

async fn runs_move_through_their_lifecycle(store: &TestStore) {
    let w = &store.walle;
    let run_id = new_run(w).await;
    let run = w.run(run_id).await.unwrap().expect("run");
    assert_eq!(run.status, RunStatus::Created);
    assert_eq!(run.symbols.0, ["AAPL", "MSFT"]);
    assert_eq!(run.timeframe, "1Min");
    assert!(run.started_at.is_none());

    let running = w
        .update_run_status(run_id, RunStatus::Running, None, None)
        .await
        .unwrap();
    assert!(running.started_at.is_some());
    let failed = w
        .update_run_status(run_id, RunStatus::Failed, Some("strategy_fuel"), None)
        .await
        .unwrap();
    assert_eq!(failed.error_code.as_deref(), Some("strategy_fuel"));
    assert_eq!(
        failed.started_at, running.started_at,
        "started_at is stamped once"
    );
    assert!(failed.stopped_at.is_some());
    assert_eq!(w.runs(Some(RunStatus::Failed), 10).await.unwrap().len(), 1);
    assert_eq!(w.runs(Some(RunStatus::Running), 10).await.unwrap().len(), 0);
    assert_eq!(w.runs(None, 10).await.unwrap().len(), 1);

    let created = events_of(w, "run.Created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0].run_id.as_deref(),
        Some(run_id.to_string().as_str())
    );
    assert_eq!(events_of(w, "run.StatusChanged").await.len(), 2);

    // Decisions: the projection of strategy.DecisionMade, one row per decision, idempotent.
    let cause =
        Envelope::new("clock.Tick", "test", payloads::ClockTick { ts: Utc::now() }).unwrap();
    w.append(&cause).await.unwrap();
    let intents = vec![Intent::Log {
        level: LogLevel::Info,
        message: "hello".into(),
    }];
    let bar_ts = Utc::now().trunc_subsecs(6);
    let decision = Envelope::new(
        "strategy.DecisionMade",
        "glados",
        payloads::DecisionMade {
            run_id,
            cause_event_id: cause.id,
            bar_ts,
            intents: intents.clone(),
            fuel: 12_345,
            latency_us: 67,
        },
    )
    .unwrap()
    .caused_by(&cause)
    .for_run(run_id);
    w.append(&decision).await.unwrap();
    settle(w).await;
    let stored = w.fetch_events(Default::default(), 1000).await.unwrap();
    assert_eq!(w.project_decisions(&stored).await.unwrap(), 1);
    assert_eq!(
        w.project_decisions(&stored).await.unwrap(),
        0,
        "a batch delivered again writes nothing twice"
    );
    let rows = w.strategy_results(run_id, 0, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].cause_event_id, cause.id);
    assert_eq!(rows[0].decision_event_id, Some(decision.id));
    assert_eq!(rows[0].intents.0, intents);
    assert_eq!(rows[0].bar_ts, Some(bar_ts));
    assert_eq!((rows[0].fuel, rows[0].latency_us), (Some(12_345), Some(67)));
    assert!(
        w.strategy_results(run_id, rows[0].id, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let no_symbols = NewRun {
        strategy_id: run.strategy_id,
        mode: RunMode::Live,
        venue: "alpaca".into(),
        params: json!({}),
        symbols: vec![],
        timeframe: Timeframe::DAY,
        limits: None,
        risk: None,
        options: None,
    };
    assert_eq!(
        w.insert_run(&no_symbols, None).await.unwrap_err().code(),
        "invalid_input"
    );
}

async fn order_intents_are_idempotent_and_listable(store: &TestStore) {
    let w = &store.walle;
    let run_id = new_run(w).await;
    let (o, created) = w
        .insert_order_intent(
            &limit_order("run1-0001", Some(run_id), "AAPL"),
            &[place_event("run1-0001")],
            None,
        )
        .await
        .unwrap();
    assert!(created);
    assert_eq!(o.status, OrderState::PendingSubmit);
    assert_eq!(o.quantity, Some(dec("1.5")));
    assert_eq!(
        o.limit_price,
        Some(dec("187.1234")),
        "decimals round-trip exactly"
    );
    assert_eq!(o.filled_quantity, Decimal::ZERO);

    // A retry of the same intent is not a second order and not a second event.
    let (again, created) = w
        .insert_order_intent(
            &limit_order("run1-0001", Some(run_id), "AAPL"),
            &[place_event("run1-0001")],
            None,
        )
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, o.id);
    assert_eq!(events_of(w, "orders.Intent").await.len(), 1);
    assert_eq!(w.order(o.id).await.unwrap(), Some(o.clone()));
    assert_eq!(
        w.order_by_client_id("run1-0001").await.unwrap(),
        Some(o.clone())
    );

    for i in 2..=25 {
        let symbol = if i % 2 == 0 { "MSFT" } else { "AAPL" };
        let coid = format!("run1-{i:04}");
        w.insert_order_intent(
            &limit_order(&coid, Some(run_id), symbol),
            &[place_event(&coid)],
            None,
        )
        .await
        .unwrap();
    }
    w.insert_order_intent(
        &limit_order("manual-1", None, "AAPL"),
        &[place_event("manual-1")],
        None,
    )
    .await
    .unwrap();

    // Cursor pagination over one run's orders: every order once, in id order.
    let mut seen = Vec::new();
    let mut filter = OrderFilter {
        run_id: Some(run_id),
        limit: 10,
        ..Default::default()
    };
    loop {
        let page = w.orders(&filter).await.unwrap();
        seen.extend(page.orders.iter().map(|o| o.client_order_id.clone()));
        match page.next_after {
            Some(after) => filter.after_id = Some(after),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=25).map(|i| format!("run1-{i:04}")).collect();
    assert_eq!(seen, expected);

    let msft = w
        .orders(&OrderFilter {
            symbol: Some("MSFT".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(msft.orders.len(), 12);
    assert!(msft.orders.iter().all(|o| o.symbol == "MSFT"));
    let all = w.orders(&OrderFilter::default()).await.unwrap();
    assert_eq!(all.orders.len(), 26);
    let future = w
        .orders(&OrderFilter {
            from: Some(Utc::now() + Duration::hours(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(future.orders.is_empty());
    let past = w
        .orders(&OrderFilter {
            to: Some(Utc::now() + Duration::hours(1)),
            from: Some(Utc::now() - Duration::hours(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(past.orders.len(), 26);

    // Venue updates: the first submitted/filled stamp wins; status filter sees the change.
    let t0 = Utc::now();
    let upd = |status, filled: &str, at| VenueUpdate {
        exchange_order_id: Some("ex-1".into()),
        status,
        filled_quantity: dec(filled),
        average_price: Some(dec("187.10")),
        at,
    };
    let ev = || {
        Envelope::new(
            "orders.Updated",
            "veda",
            payloads::OrderChanged {
                order_id: o.id,
                client_order_id: "run1-0001".into(),
                symbol: "AAPL".into(),
                status: "x".into(),
            },
        )
        .unwrap()
    };
    let accepted = w
        .update_order_from_venue("run1-0001", &upd(OrderState::Accepted, "0", t0), &ev())
        .await
        .unwrap();
    assert_eq!(accepted.exchange_order_id.as_deref(), Some("ex-1"));
    let filled = w
        .update_order_from_venue(
            "run1-0001",
            &upd(OrderState::Filled, "1.5", t0 + Duration::seconds(2)),
            &ev(),
        )
        .await
        .unwrap();
    assert_eq!(filled.status, OrderState::Filled);
    assert_eq!(filled.filled_quantity, dec("1.5"));
    assert_eq!(filled.submitted_at, accepted.submitted_at);
    assert!(filled.filled_at.is_some());
    let only_filled = w
        .orders(&OrderFilter {
            status: Some(OrderState::Filled),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(only_filled.orders.len(), 1);
    let missing = w
        .update_order_from_venue("nope", &upd(OrderState::Filled, "1", t0), &ev())
        .await
        .unwrap_err();
    assert_eq!(missing.code(), "not_found");

    // Inconsistent intents are refused before anything is written.
    let mut both = limit_order("bad-1", None, "AAPL");
    both.notional = Some(dec("100"));
    assert_eq!(
        w.insert_order_intent(&both, &[place_event("bad-1")], None)
            .await
            .unwrap_err()
            .code(),
        "invalid_input"
    );
    let mut no_limit = limit_order("bad-2", None, "AAPL");
    no_limit.limit_price = None;
    assert_eq!(
        w.insert_order_intent(&no_limit, &[place_event("bad-2")], None)
            .await
            .unwrap_err()
            .code(),
        "invalid_input"
    );
    assert!(w.order_by_client_id("bad-1").await.unwrap().is_none());
}

async fn fills_are_idempotent_by_venue_fill_id(store: &TestStore) {
    let w = &store.walle;
    let (o, _) = w
        .insert_order_intent(
            &limit_order("f-1", None, "AAPL"),
            &[place_event("f-1")],
            None,
        )
        .await
        .unwrap();
    let filled_at = Utc
        .with_ymd_and_hms(2026, 3, 2, 14, 30, 0)
        .single()
        .expect("time");
    let fill = NewFill {
        order_id: o.id,
        venue_fill_id: "v-1".into(),
        quantity: dec("0.75"),
        price: dec("187.0001"),
        fee: dec("0.01"),
        filled_at,
    };
    let ev = |id: &str| {
        Envelope::new(
            "orders.Filled.v2",
            "veda",
            payloads::OrderFilledV2 {
                client_order_id: "f-1".into(),
                venue_fill_id: id.into(),
                quantity: dec("0.75"),
                price: dec("187.0001"),
                fee: dec("0.01"),
                filled_at,
            },
        )
        .unwrap()
    };
    let first = w
        .insert_fill(&fill, &ev("v-1"))
        .await
        .unwrap()
        .expect("new fill");
    assert_eq!(first.price, dec("187.0001"));
    assert_eq!(first.filled_at, filled_at);
    assert!(
        w.insert_fill(&fill, &ev("v-1")).await.unwrap().is_none(),
        "same venue fill id"
    );
    let second = NewFill {
        venue_fill_id: "v-2".into(),
        ..fill.clone()
    };
    w.insert_fill(&second, &ev("v-2"))
        .await
        .unwrap()
        .expect("second fill");
    let fills = w.fills(o.id).await.unwrap();
    assert_eq!(fills.len(), 2);
    assert_eq!(
        fills.iter().map(|f| f.quantity).sum::<Decimal>(),
        dec("1.50")
    );
    assert_eq!(events_of(w, "orders.Filled.v2").await.len(), 2);

    // Version 1 of orders.Filled is no longer produced, so no longer accepted.
    let v1 = Envelope::new(
        "orders.Filled",
        "veda",
        serde_json::json!({"client_order_id": "f-1", "quantity": "1", "price": "2"}),
    )
    .unwrap();
    assert_eq!(
        w.append(&v1).await.unwrap_err().code(),
        "unknown_event_type"
    );

    let bad = NewFill {
        venue_fill_id: "v-3".into(),
        quantity: dec("-1"),
        ..fill
    };
    assert_eq!(
        w.insert_fill(&bad, &ev("v-3")).await.unwrap_err().code(),
        "invalid_input"
    );
}

async fn candles_upsert_and_range(store: &TestStore) {
    let w = &store.walle;
    let t0 = Utc
        .with_ymd_and_hms(2024, 1, 2, 14, 30, 0)
        .single()
        .expect("time");
    let bar = |i: i64, close: f64| Candle {
        symbol: "SPY".into(),
        timeframe: "1Min".into(),
        ts: t0 + Duration::minutes(i),
        open: 470.0,
        high: 471.5,
        low: 469.25,
        close,
        volume: 1000.0 + i as f64,
        source: "test".into(),
    };
    let batch: Vec<Candle> = (0..100).map(|i| bar(i, 470.0 + i as f64 / 100.0)).collect();
    assert_eq!(w.upsert_candles(&batch, None).await.unwrap(), 100);
    // Re-importing overlapping bars replaces them instead of duplicating.
    let fix: Vec<Candle> = (90..110).map(|i| bar(i, 1.0)).collect();
    w.upsert_candles(&fix, None).await.unwrap();
    let all = w
        .candles("SPY", "1Min", t0, t0 + Duration::days(1), 10_000)
        .await
        .unwrap();
    assert_eq!(all.len(), 110);
    assert!(all.windows(2).all(|p| p[0].ts < p[1].ts));
    assert_eq!(all[89].close, batch[89].close);
    assert_eq!(all[95].close, 1.0);
    let window = w
        .candles(
            "SPY",
            "1Min",
            t0 + Duration::minutes(10),
            t0 + Duration::minutes(20),
            100,
        )
        .await
        .unwrap();
    assert_eq!(window.len(), 10);
    assert_eq!(window[0].ts, t0 + Duration::minutes(10));
    // The count a backtest's memory estimate is made from, over the same window.
    let count = |tf: &'static str, from: i64, to: i64| {
        w.count_candles(
            "SPY",
            tf,
            t0 + Duration::minutes(from),
            t0 + Duration::minutes(to),
        )
    };
    assert_eq!(count("1Min", 10, 20).await.unwrap(), 10);
    assert_eq!(count("1Min", 0, 24 * 60).await.unwrap(), 110);
    assert_eq!(count("1Day", 0, 24 * 60).await.unwrap(), 0);
    assert!(
        w.candles("SPY", "1Day", t0, t0 + Duration::days(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let stored = events_of(w, "data.CandlesStored").await;
    assert_eq!(
        stored
            .iter()
            .map(|e| e.payload["count"].as_u64().unwrap_or(0))
            .sum::<u64>(),
        120
    );

    let bad = vec![Candle {
        close: f64::NAN,
        ..bar(500, 1.0)
    }];
    assert_eq!(
        w.upsert_candles(&bad, None).await.unwrap_err().code(),
        "invalid_input"
    );
    let bad_tf = vec![Candle {
        timeframe: "7Lightyears".into(),
        ..bar(501, 1.0)
    }];
    assert_eq!(
        w.upsert_candles(&bad_tf, None).await.unwrap_err().code(),
        "invalid_input"
    );
}

async fn backtests_store_their_report(store: &TestStore) {
    let w = &store.walle;
    let strategy_id = new_strategy(w, "bt").await;
    let config = json!({"symbols": ["SPY"], "cash": 10000.0, "commission": {"percent": 0.1}});
    let b = w
        .insert_backtest(
            &NewBacktest {
                strategy_id: Some(strategy_id),
                run_id: None,
                config: config.clone(),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(b.status, BacktestStatus::Queued);
    assert_eq!(b.config.0, config);
    w.update_backtest(b.id, BacktestStatus::Running, None, None, None, &[])
        .await
        .unwrap();
    let report = BacktestReport {
        metrics: json!({"sharpe": 1.25, "max_drawdown": -0.12}),
        trades: json!([{"symbol": "SPY", "pnl": 12.5}]),
        equity: json!([[0, 10000.0], [1, 10012.5]]),
    };
    let done = w
        .update_backtest(b.id, BacktestStatus::Done, Some(&report), None, None, &[])
        .await
        .unwrap();
    assert_eq!(done.metrics.as_ref().map(|m| &m.0), Some(&report.metrics));
    assert_eq!(w.backtest(b.id).await.unwrap(), Some(done));
    for _ in 0..4 {
        w.insert_backtest(
            &NewBacktest {
                strategy_id: None,
                run_id: None,
                config: json!({}),
            },
            None,
        )
        .await
        .unwrap();
    }
    let page1 = w.backtests(None, 3).await.unwrap();
    assert_eq!(page1.len(), 3);
    let page2 = w.backtests(page1.last().map(|b| b.id), 3).await.unwrap();
    assert_eq!(page2.len(), 2);
    assert_eq!(
        page2.last().map(|b| b.id),
        Some(b.id),
        "newest first, oldest last"
    );
    assert_eq!(events_of(w, "backtest.StatusChanged").await.len(), 7);
    // Summaries: the same rows and metrics, without trades and equity; unfinished ones listed.
    let summaries = w.backtest_summaries(None, 10).await.unwrap();
    assert_eq!(summaries.len(), 5);
    let head = summaries.last().unwrap();
    assert_eq!(head.id, b.id);
    assert_eq!(head.metrics.as_ref().map(|m| &m.0), Some(&report.metrics));
    assert!(head.trades.is_none() && head.equity.is_none(), "{head:?}");
    let unfinished = w.unfinished_backtests().await.unwrap();
    assert_eq!(unfinished.len(), 4, "the four queued ones");
    assert!(!unfinished.contains(&b.id));
}

async fn bad_events_write_nothing(store: &TestStore) {
    let w = &store.walle;
    let before_events = w.count_events().await.unwrap();
    let before_orders = w
        .orders(&OrderFilter::default())
        .await
        .unwrap()
        .orders
        .len();

    let unknown = Envelope::new("orders.Teleported", "test", json!({})).unwrap();
    let mut invalid = Envelope::new("ui.Notice", "test", json!({"level": "info"})).unwrap();
    let oversized = Envelope::new(
        "ui.Notice",
        "test",
        json!({"level": "info", "message": "x".repeat(100_000)}),
    )
    .unwrap();
    let mut wrong_version = Envelope::new(
        "ui.Notice",
        "test",
        json!({"level": "info", "message": "hi"}),
    )
    .unwrap();
    wrong_version.version = 2;
    let bad_namespace = Envelope::new("bogus.Thing", "test", json!({})).unwrap();
    let cases = [
        (&unknown, "unknown_event_type"),
        (&invalid, "invalid_event_payload"),
        (&oversized, "event_payload_too_large"),
        (&wrong_version, "event_version_mismatch"),
        (&bad_namespace, "unknown_event_type"),
    ];
    for (event, code) in cases {
        let err = w.append(event).await.unwrap_err();
        assert_eq!(err.code(), code, "append {}", event.event_type);
        assert!(!err.to_string().is_empty());
        // The business write that would carry it is not written either.
        let coid = format!("bad-{}", event.id);
        let err = w
            .insert_order_intent(
                &limit_order(&coid, None, "AAPL"),
                std::slice::from_ref(event),
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "order with {}", event.event_type);
        assert!(w.order_by_client_id(&coid).await.unwrap().is_none());
    }
    // One bad event in a batch refuses the batch.
    let good = Envelope::new(
        "ui.Notice",
        "test",
        json!({"level": "info", "message": "ok"}),
    )
    .unwrap();
    invalid.id = uuid::Uuid::now_v7();
    assert!(w.append_batch(&[good.clone(), invalid]).await.is_err());
    // An event transaction that saw a refusal can still commit its good events only.
    let mut tx = w.begin_events().await.unwrap();
    assert_eq!(
        tx.append(&unknown).await.unwrap_err().code(),
        "unknown_event_type"
    );
    tx.rollback().await.unwrap();

    assert_eq!(
        w.count_events().await.unwrap(),
        before_events,
        "no event written"
    );
    assert_eq!(
        w.orders(&OrderFilter::default())
            .await
            .unwrap()
            .orders
            .len(),
        before_orders
    );
    // A duplicate event id is refused by the store, not silently dropped.
    w.append(&good).await.unwrap();
    assert_eq!(w.append(&good).await.unwrap_err().code(), "database_error");
    assert_eq!(w.count_events().await.unwrap(), before_events + 1);

    // Concurrent standalone appends share statements (group commit); one caller's duplicate
    // fails that caller only.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (w, dup) = (w.clone(), good.clone());
        tasks.push(tokio::spawn(async move {
            let e = if i == 7 {
                dup
            } else {
                Envelope::new(
                    "ui.Notice",
                    "test",
                    json!({"level": "info", "message": "c"}),
                )
                .unwrap()
            };
            w.append(&e).await
        }));
    }
    let mut failed = 0;
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            assert_eq!(e.code(), "database_error");
            failed += 1;
        }
    }
    assert_eq!(failed, 1);
    assert_eq!(w.count_events().await.unwrap(), before_events + 20);
}

async fn migrations_are_idempotent(store: &TestStore) {
    store
        .walle
        .migrate()
        .await
        .expect("second migrate is a no-op");
    let other = store.second_handle().await;
    other.migrate().await.expect("migrate from another handle");
    assert!(other.strategies().await.unwrap().is_empty());
}
