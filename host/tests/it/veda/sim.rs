//! The simulated exchange: a strategy driven by the live runner on the sim over a dataset places
//! the same orders and gets the same fills as Greta's backtest of that dataset.

use std::collections::BTreeMap;
use std::sync::Arc;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use weaver::domain::{
    Intent, OrderIntent, OrderSize, OrderType, Side, Strategy, StrategyError, StrategyEvent,
    StrategyPayload, TimeInForce, Timeframe,
};
use weaver::greta::broker::BrokerConfig;
use weaver::greta::{Backtest, Commission, EngineConfig, FillModel};
use weaver::veda::journal::recover::record_trade_update;
use weaver::veda::journal::store::WalleJournal;
use weaver::veda::live::LiveRunner;
use weaver::veda::risk::RiskLimits;
use weaver::veda::sim::{SimConfig, SimVenue, Speed};
use weaver::veda::{BarEvent, OrderStreamEvent, TradeEvent, Venue};
use weaver::walle::OrderFilter;

/// SMA crossover that reverses with fixed unit sizes: close, then enter the other way.
struct UnitCross {
    fast: usize,
    slow: usize,
    units: f64,
    closes: Vec<f64>,
    prev: Option<(f64, f64)>,
    symbol: String,
}

impl Strategy for UnitCross {
    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        let StrategyPayload::Bars(bars) = &event.payload else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        for sb in bars {
            self.closes.push(sb.bar.close);
            let n = self.closes.len();
            if n < self.slow {
                continue;
            }
            let mean = |k: usize| self.closes[n - k..].iter().sum::<f64>() / k as f64;
            let now = (mean(self.fast), mean(self.slow));
            let Some((pf, ps)) = self.prev.replace(now) else {
                continue;
            };
            let side = if pf < ps && now.0 > now.1 {
                Side::Buy
            } else if ps < pf && now.1 > now.0 {
                Side::Sell
            } else {
                continue;
            };
            out.push(Intent::ClosePosition {
                symbol: self.symbol.clone(),
            });
            out.push(Intent::PlaceOrder(OrderIntent {
                symbol: self.symbol.clone(),
                side,
                order_type: OrderType::Market,
                time_in_force: TimeInForce::Gtc,
                limit_price: None,
                stop_price: None,
                size: OrderSize::Units(self.units),
                tag: None,
            }));
        }
        Ok(out)
    }
}

fn strategy() -> UnitCross {
    UnitCross {
        fast: 10,
        slow: 20,
        units: 20.0,
        closes: Vec::new(),
        prev: None,
        symbol: "GOOG".into(),
    }
}

/// (time ms, side, units, price) of one fill.
type FillKey = (i64, &'static str, String, String);

fn key(ts: i64, side: Side, units: f64, price: f64) -> FillKey {
    // Compare at 1e-6: the sim reports decimals converted from Greta's f64s.
    (
        ts,
        if side == Side::Buy { "buy" } else { "sell" },
        format!("{units:.6}"),
        format!("{price:.6}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_the_sim_matches_the_backtest_of_the_same_data() {
    let path = crate::testdata::ohlcv("GOOG");
    assert!(
        path.exists(),
        "reference data missing at {} (run scripts/testdata.sh)",
        path.display()
    );
    let series = weaver::greta::csv::load(&path, Some("GOOG")).expect("GOOG.csv loads");
    let bars: Vec<_> = series.bars.iter().map(|sb| sb.bar).collect();
    let broker = BrokerConfig {
        cash: 100_000.0,
        commission: Commission::default(),
        slippage_bps: 0.0,
        fill: FillModel::NextOpen,
        fractional: false,
    };

    // The backtest.
    let bt = Backtest::new(vec![series]).expect("backtest builds");
    let cfg = EngineConfig {
        fills: Default::default(),
        broker,
        finalize: false,
        warmup: Some(0),
        params: vec![],
    };
    let result = bt.run(&mut strategy(), &cfg, None).expect("backtest runs");
    let mut expected: Vec<FillKey> = Vec::new();
    let dir = |size: f64| if size > 0.0 { Side::Buy } else { Side::Sell };
    for t in &result.trades {
        expected.push(key(t.entry_ts, dir(t.size), t.size.abs(), t.entry_price));
        expected.push(key(t.exit_ts, dir(-t.size), t.size.abs(), t.exit_price));
    }
    for t in &result.open_trades {
        expected.push(key(t.entry_ts, dir(t.size), t.size.abs(), t.entry_price));
    }
    expected.sort();
    assert!(
        expected.len() > 20,
        "the dataset should trade: {} fills",
        expected.len()
    );

    // The same strategy, live on the simulated exchange replaying the candles stored in WallE.
    let (_dir, walle, sim) = super::daily_sim("GOOG", &bars, broker).await;
    let venue: Arc<dyn Venue> = Arc::new(sim.clone());
    let mut updates = venue.order_updates(chrono::Utc::now()).await.unwrap();
    let journal = Arc::new(WalleJournal::new(walle.clone()));
    let releaser = sim.clone();
    let mut runner = LiveRunner::new(
        "sim-parity",
        vec!["GOOG".into()],
        Box::new(strategy()),
        venue.clone(),
        journal.clone(),
        RiskLimits::default(),
    )
    .after_each_bar(move || releaser.bar_done());
    let stream = venue.bar_stream(&["GOOG".to_owned()]).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(60), runner.run(stream))
        .await
        .expect("the replay finishes in time")
        .expect("the run succeeds");
    assert!(sim.finished());

    let mut actual: Vec<FillKey> = Vec::new();
    let mut cids = Vec::new();
    while let Ok(event) = updates.events.try_recv() {
        if let OrderStreamEvent::Update(u) = &event {
            record_trade_update(&walle, u)
                .await
                .expect("update recorded");
        }
        if let OrderStreamEvent::Update(u) = event
            && u.event == TradeEvent::Fill
        {
            let ts = u.timestamp.expect("fill time").timestamp_millis();
            let qty = u.quantity.and_then(|q| q.to_f64()).expect("fill quantity");
            let price = u.price.and_then(|p| p.to_f64()).expect("fill price");
            actual.push(key(ts, u.order.side, qty, price));
            cids.push(u.order.client_order_id.clone());
        }
    }
    actual.sort();
    assert_eq!(actual, expected, "the sim's fills equal the backtest's");
    assert!(
        runner.placed().iter().all(|p| p.outcome.is_ok()),
        "every order was accepted"
    );
    // Every order the runner placed was journaled under its deterministic id, and its fill is
    // in WallE: the stored fills are the backtest's too.
    let page = walle
        .orders(&OrderFilter {
            limit: 1000,
            ..OrderFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(page.orders.len(), runner.placed().len());
    let mut stored: Vec<FillKey> = Vec::new();
    for o in &page.orders {
        assert_eq!(
            o.status,
            weaver::walle::OrderState::Filled,
            "{}",
            o.client_order_id
        );
        for f in walle.fills(o.id).await.unwrap() {
            stored.push(key(
                f.filled_at.timestamp_millis(),
                o.side,
                f.quantity.to_f64().unwrap(),
                f.price.to_f64().unwrap(),
            ));
        }
    }
    stored.sort();
    assert_eq!(stored, expected, "WallE's fills equal the backtest's");
    cids.sort();
    cids.dedup();
    assert_eq!(
        cids.len(),
        runner.placed().len(),
        "one fill per order, no duplicates"
    );

    let account = venue.account().await.unwrap();
    let equity = account.equity.to_f64().unwrap();
    let last = *result.equity.last().unwrap();
    assert!(
        (equity - last).abs() < 1e-4,
        "equity {equity} vs backtest {last}"
    );
    let position: Decimal = venue
        .positions()
        .await
        .unwrap()
        .iter()
        .map(|p| p.quantity)
        .sum();
    let open: f64 = result.open_trades.iter().map(|t| t.size).sum();
    assert_eq!(position.to_f64().unwrap(), open);
    walle.close().await;
}

#[tokio::test]
async fn resubmitting_a_client_order_id_returns_the_first_order_and_cancel_works() {
    let bars = (0..5)
        .map(|i| weaver::domain::Bar {
            ts: 1_700_000_000_000 + i * 86_400_000,
            open: 100.0,
            high: 101.0,
            low: 99.0,
            close: 100.5,
            volume: 1.0,
        })
        .collect();
    let sim = SimVenue::new(
        BTreeMap::from([("AAPL".to_owned(), bars)]),
        SimConfig {
            broker: BrokerConfig {
                cash: 10_000.0,
                commission: Commission::default(),
                slippage_bps: 0.0,
                fill: FillModel::NextOpen,
                fractional: false,
            },
            speed: Speed::Lockstep,
        },
    )
    .unwrap();
    let mut req = super::limit("cid-1", "AAPL", Side::Buy, Decimal::ONE, Decimal::from(50));
    let first = sim.submit_order(&req).await.unwrap();
    let again = sim.submit_order(&req).await.unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(
        sim.order_by_client_id("cid-1").await.unwrap().unwrap().id,
        first.id
    );
    sim.cancel_order(&first.id).await.unwrap();
    assert_eq!(
        sim.order(&first.id).await.unwrap().status,
        weaver::veda::VenueOrderStatus::Canceled
    );
    assert!(
        sim.cancel_order(&first.id).await.is_err(),
        "no longer cancelable"
    );
    req.client_order_id = "cid-2".into();
    req.symbol = "NOPE".into();
    assert!(
        sim.submit_order(&req)
            .await
            .unwrap_err()
            .is_definitive_rejection()
    );
}

#[tokio::test]
async fn interval_speed_paces_the_replay_without_waiting_for_the_consumer() {
    let bars: Vec<weaver::domain::Bar> = (0..6)
        .map(|i| weaver::domain::Bar {
            ts: 1_700_000_000_000 + i * 60_000,
            open: 10.0,
            high: 11.0,
            low: 9.0,
            close: 10.5,
            volume: 1.0,
        })
        .collect();
    let sim = SimVenue::new(
        BTreeMap::from([("X".to_owned(), bars.clone())]),
        SimConfig {
            broker: BrokerConfig {
                cash: 1_000.0,
                commission: Commission::default(),
                slippage_bps: 0.0,
                fill: FillModel::NextOpen,
                fractional: false,
            },
            speed: Speed::Interval(std::time::Duration::from_millis(30)),
        },
    )
    .unwrap();
    let started = std::time::Instant::now();
    let mut stream = sim.bar_stream(&[]).await.unwrap();
    assert!(sim.bar_stream(&[]).await.is_err(), "one replay per venue");
    let mut seen = Vec::new();
    while let Some(event) = stream.next().await {
        if let BarEvent::Bar { bar, .. } = event {
            seen.push(bar);
        }
    }
    assert_eq!(seen, bars, "every bar once, in order");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    assert!(sim.finished());
}

#[tokio::test]
async fn generated_data_replays_deterministically() {
    let config = SimConfig {
        broker: BrokerConfig {
            cash: 1_000.0,
            commission: Commission::default(),
            slippage_bps: 0.0,
            fill: FillModel::NextOpen,
            fractional: false,
        },
        speed: Speed::Lockstep,
    };
    let symbols = ["A".to_owned(), "B".to_owned()];
    let one = SimVenue::generated(&symbols, 50, 7, config).unwrap();
    let two = SimVenue::generated(&symbols, 50, 7, config).unwrap();
    let all = |v: &SimVenue| {
        let v = v.clone();
        async move {
            v.bars(&weaver::veda::BarsRequest {
                symbols: vec!["A".into(), "B".into()],
                timeframe: Timeframe::MINUTE,
                start: chrono::DateTime::from_timestamp_millis(0).unwrap(),
                end: chrono::DateTime::from_timestamp_millis(i64::MAX / 1000)
                    .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
                page_limit: None,
            })
            .await
            .unwrap()
        }
    };
    let (a, b) = (all(&one).await, all(&two).await);
    assert_eq!(a, b, "same seed, same bars");
    assert_eq!(a["A"].len(), 50);
    assert_ne!(a["A"], a["B"], "each symbol has its own walk");
    assert!(SimVenue::generated(&[], 5, 1, config).is_err());
}

/// Buys once on the first bar; closes the position when told the buy filled.
struct ExitOnFill {
    bars: usize,
    fills_seen: Vec<(String, f64)>,
}

impl Strategy for ExitOnFill {
    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        match &event.payload {
            StrategyPayload::Bars(_) => {
                self.bars += 1;
                if self.bars > 1 {
                    return Ok(vec![]);
                }
                Ok(vec![Intent::PlaceOrder(OrderIntent {
                    symbol: "X".into(),
                    side: Side::Buy,
                    order_type: OrderType::Market,
                    time_in_force: TimeInForce::Gtc,
                    limit_price: None,
                    stop_price: None,
                    size: OrderSize::Units(3.0),
                    tag: None,
                })])
            }
            StrategyPayload::OrderUpdate(u) if u.status == weaver::domain::OrderStatus::Filled => {
                self.fills_seen
                    .push((u.client_order_id.clone(), u.filled_quantity));
                Ok(if u.side == Side::Buy {
                    vec![Intent::ClosePosition { symbol: "X".into() }]
                } else {
                    vec![]
                })
            }
            _ => Ok(vec![]),
        }
    }
}

#[tokio::test]
async fn order_updates_reach_the_strategy_and_its_reaction_trades() {
    let bars: Vec<weaver::domain::Bar> = (0..6)
        .map(|i| weaver::domain::Bar {
            ts: 1_700_000_000_000 + i * 60_000,
            open: 10.0 + i as f64,
            high: 11.0 + i as f64,
            low: 9.0 + i as f64,
            close: 10.5 + i as f64,
            volume: 1.0,
        })
        .collect();
    let sim = SimVenue::new(
        BTreeMap::from([("X".to_owned(), bars)]),
        SimConfig {
            broker: BrokerConfig {
                cash: 1_000.0,
                commission: Commission::default(),
                slippage_bps: 0.0,
                fill: FillModel::NextOpen,
                fractional: false,
            },
            speed: Speed::Lockstep,
        },
    )
    .unwrap();
    let venue: Arc<dyn Venue> = Arc::new(sim.clone());
    let updates = venue.order_updates(chrono::Utc::now()).await.unwrap();
    let bars = venue.bar_stream(&[]).await.unwrap();
    let releaser = sim.clone();
    let mut runner = LiveRunner::new(
        "exit-on-fill",
        vec!["X".into()],
        Box::new(ExitOnFill {
            bars: 0,
            fills_seen: vec![],
        }),
        venue.clone(),
        Arc::new(weaver::veda::journal::InMemoryJournal::new()),
        RiskLimits::default(),
    )
    .after_each_bar(move || releaser.bar_done());
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        runner.run_with_updates(bars, updates),
    )
    .await
    .expect("finishes")
    .expect("runs");
    assert_eq!(
        runner.placed().len(),
        2,
        "the buy, then the close the fill triggered"
    );
    let orders = venue
        .orders(&weaver::veda::OrderQuery {
            status: weaver::veda::OrderStatusFilter::All,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(orders.len(), 2);
    // Bought at bar 1's open (11), sold at the open of the bar after the fill was seen (12).
    assert_eq!(orders[0].side, Side::Buy);
    assert_eq!(orders[0].filled_avg_price, Some(Decimal::from(11)));
    assert_eq!(orders[1].side, Side::Sell);
    assert_eq!(orders[1].filled_avg_price, Some(Decimal::from(12)));
    assert!(venue.positions().await.unwrap().is_empty(), "flat again");
}
