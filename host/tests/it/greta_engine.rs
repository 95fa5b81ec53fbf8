//! Greta engine behaviour with scripted strategies: order types, fills, cash checks, time in
//! force, commissions, slippage, fractional units, event order, batching, several symbols.

use weaver::domain::{
    Bar, Intent, OrderIntent, OrderSize, OrderStatus, OrderType, OrderUpdate, Side, Strategy,
    StrategyConfig, StrategyError, StrategyEvent, StrategyPayload, Subscriptions, SymbolBar,
    TimeInForce,
};
use weaver::greta::broker::BrokerConfig;
use weaver::greta::csv::Series;
use weaver::greta::{self, Backtest, Commission, EngineConfig, FillModel, RunResult};

const DAY: i64 = 86_400_000;

/// Daily bars from `(open, high, low, close)`.
fn series(symbol: &str, ohlc: &[(f64, f64, f64, f64)], start_day: i64) -> Series {
    Series {
        symbol: symbol.into(),
        path: "mem".into(),
        bars: ohlc
            .iter()
            .enumerate()
            .map(|(i, &(open, high, low, close))| SymbolBar {
                symbol: 0,
                bar: Bar {
                    ts: (start_day + i as i64) * DAY,
                    open,
                    high,
                    low,
                    close,
                    volume: 1.0,
                },
            })
            .collect(),
    }
}

fn cfg() -> EngineConfig {
    EngineConfig {
        fills: Default::default(),
        broker: BrokerConfig {
            cash: 1000.0,
            commission: Commission::default(),
            slippage_bps: 0.0,
            fill: FillModel::NextOpen,
            fractional: false,
        },
        finalize: false,
        warmup: Some(0),
        params: vec![],
    }
}

fn order(side: Side, order_type: OrderType, size: OrderSize) -> OrderIntent {
    OrderIntent {
        symbol: "X".into(),
        side,
        order_type,
        time_in_force: TimeInForce::Gtc,
        limit_price: None,
        stop_price: None,
        size,
        tag: None,
    }
}

/// Emits scripted intents after seeing bar `n` (count of bar groups so far) and records every
/// event it receives.
struct Scripted {
    script: Vec<(usize, Vec<Intent>)>,
    bars_seen: usize,
    log: Vec<String>,
    updates: Vec<OrderUpdate>,
    subscriptions: Subscriptions,
}

impl Scripted {
    fn new(script: Vec<(usize, Vec<Intent>)>) -> Scripted {
        Scripted {
            script,
            bars_seen: 0,
            log: vec![],
            updates: vec![],
            subscriptions: Subscriptions::ALL,
        }
    }
}

impl Strategy for Scripted {
    fn subscriptions(&self) -> Subscriptions {
        self.subscriptions
    }

    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        match &event.payload {
            StrategyPayload::Bars(_) => {
                let n = self.bars_seen;
                self.bars_seen += 1;
                self.log.push(format!("bar{n}"));
                Ok(self
                    .script
                    .iter()
                    .filter(|(at, _)| *at == n)
                    .flat_map(|(_, v)| v.clone())
                    .collect())
            }
            StrategyPayload::OrderUpdate(u) => {
                self.log.push(format!("{:?}", u.status));
                self.updates.push(u.clone());
                Ok(vec![])
            }
            StrategyPayload::Account(_) => {
                self.log.push("account".into());
                Ok(vec![])
            }
            StrategyPayload::Lifecycle(l) => {
                self.log.push(format!("{l:?}"));
                Ok(vec![])
            }
            _ => Ok(vec![]),
        }
    }
}

fn run(bars: &[(f64, f64, f64, f64)], s: &mut Scripted, cfg: &EngineConfig) -> RunResult {
    let bt = Backtest::new(vec![series("X", bars, 0)]).unwrap();
    bt.run(s, cfg, None).unwrap()
}

fn flat(n: usize, p: f64) -> Vec<(f64, f64, f64, f64)> {
    vec![(p, p, p, p); n]
}

#[test]
fn market_order_fills_at_next_open_and_updates_come_before_the_next_bar() {
    let mut bars = flat(4, 10.0);
    bars[1] = (11.0, 12.0, 9.0, 10.5);
    let mut s = Scripted::new(vec![(
        0,
        vec![Intent::PlaceOrder(order(
            Side::Buy,
            OrderType::Market,
            OrderSize::Units(5.0),
        ))],
    )]);
    let r = run(&bars, &mut s, &cfg());
    assert_eq!(r.open_trades.len(), 1);
    assert_eq!(r.open_trades[0].entry_price, 11.0);
    assert_eq!(r.open_trades[0].entry_bar, 1);
    // Market orders go straight to Filled (no resting Accepted step).
    assert_eq!(
        s.log[..7],
        [
            "Started", "account", "bar0", "Filled", "account", "bar1", "bar2"
        ]
    );
    // Equity marks the open trade at each close: 1000 + 5·(10.5 − 11) at bar 1.
    assert_eq!(r.equity[1], 1000.0 + 5.0 * (10.5 - 11.0));
}

#[test]
fn events_the_strategy_did_not_subscribe_to_are_not_delivered() {
    let buy = vec![Intent::PlaceOrder(order(
        Side::Buy,
        OrderType::Market,
        OrderSize::Units(5.0),
    ))];
    let mut all = Scripted::new(vec![(0, buy.clone())]);
    let full = run(&flat(4, 10.0), &mut all, &cfg());
    let mut fills_only = Scripted::new(vec![(0, buy)]);
    fills_only.subscriptions = Subscriptions {
        order_updates: true,
        ..Subscriptions::NONE
    };
    let thin = run(&flat(4, 10.0), &mut fills_only, &cfg());
    // No lifecycle or account events, but the fill still arrives before the next bar.
    assert_eq!(fills_only.log, ["bar0", "Filled", "bar1", "bar2", "bar3"]);
    assert!(all.log.iter().any(|e| e == "account"));
    // What the strategy is told changes nothing in the simulation.
    assert_eq!(thin.equity, full.equity);
    assert_eq!(thin.open_trades.len(), full.open_trades.len());
}

#[test]
fn fill_on_close_uses_the_signal_bar() {
    let mut bars = flat(4, 10.0);
    bars[0] = (9.0, 10.0, 8.0, 9.5);
    let mut s = Scripted::new(vec![(
        0,
        vec![Intent::PlaceOrder(order(
            Side::Buy,
            OrderType::Market,
            OrderSize::Units(1.0),
        ))],
    )]);
    let mut c = cfg();
    c.broker.fill = FillModel::Close;
    let r = run(&bars, &mut s, &c);
    assert_eq!(
        (r.open_trades[0].entry_price, r.open_trades[0].entry_bar),
        (9.5, 0)
    );
}

#[test]
fn limit_and_stop_orders_follow_the_intrabar_rules() {
    // Bar 1 trades 9..12 opening at 10; bar 2 gaps down to open at 7.
    let bars = vec![
        (10.0, 10.0, 10.0, 10.0),
        (10.0, 12.0, 9.0, 11.0),
        (7.0, 8.0, 6.5, 7.5),
        (7.5, 7.5, 7.5, 7.5),
    ];
    let limit = |p| OrderIntent {
        limit_price: Some(p),
        ..order(Side::Buy, OrderType::Limit, OrderSize::Units(1.0))
    };
    let stop = |side, p| OrderIntent {
        stop_price: Some(p),
        ..order(side, OrderType::Stop, OrderSize::Units(1.0))
    };
    let mut s = Scripted::new(vec![(
        0,
        vec![
            Intent::PlaceOrder(limit(9.5)), // touched at bar 1 → fills at 9.5
            Intent::PlaceOrder(limit(8.0)), // not touched at bar 1; bar 2 opens below → 7.0
            Intent::PlaceOrder(stop(Side::Buy, 11.5)), // triggers at bar 1 → 11.5
            Intent::PlaceOrder(stop(Side::Sell, 8.5)), // gaps at bar 2 → fills at the open 7.0
        ],
    )]);
    let mut c = cfg();
    c.broker.cash = 100.0;
    let _ = run(&bars, &mut s, &c);
    let fills: Vec<(f64, Side)> = s
        .updates
        .iter()
        .filter(|u| u.status == OrderStatus::Filled)
        .map(|u| (u.fill_price.unwrap(), u.side))
        .collect();
    assert_eq!(
        fills,
        [
            (9.5, Side::Buy),
            (11.5, Side::Buy),
            (7.0, Side::Buy),
            (7.0, Side::Sell)
        ]
    );
}

#[test]
fn stop_limit_waits_when_the_limit_is_beyond_the_stop_in_the_same_bar() {
    let bars = vec![
        (10.0, 10.0, 10.0, 10.0),
        (10.0, 12.0, 9.0, 11.0),
        (11.0, 11.5, 10.5, 11.0),
        (11.0, 11.0, 11.0, 11.0),
    ];
    let sl = OrderIntent {
        stop_price: Some(11.0),
        limit_price: Some(10.8),
        ..order(Side::Buy, OrderType::StopLimit, OrderSize::Units(1.0))
    };
    let mut s = Scripted::new(vec![(0, vec![Intent::PlaceOrder(sl)])]);
    let r = run(&bars, &mut s, &cfg());
    // Stop trades at bar 1, but the limit (below the stop) is assumed hit before it: fill at bar 2.
    assert_eq!(r.open_trades[0].entry_bar, 2);
    assert_eq!(r.open_trades[0].entry_price, 10.8);
}

#[test]
fn insufficient_cash_cancels_with_a_reason_and_fraction_sizes_at_fill_time() {
    let bars = flat(4, 10.0);
    let mut s = Scripted::new(vec![
        (
            0,
            vec![Intent::PlaceOrder(order(
                Side::Buy,
                OrderType::Market,
                OrderSize::Units(500.0),
            ))],
        ),
        (
            1,
            vec![Intent::PlaceOrder(order(
                Side::Buy,
                OrderType::Market,
                OrderSize::EquityFraction(0.5),
            ))],
        ),
    ]);
    let r = run(&bars, &mut s, &cfg());
    let cancel = s
        .updates
        .iter()
        .find(|u| u.status == OrderStatus::Cancelled)
        .unwrap();
    assert!(
        cancel
            .reason
            .as_deref()
            .unwrap()
            .contains("insufficient cash"),
        "{cancel:?}"
    );
    // Half of 1000 at 10 → 50 units.
    assert_eq!(r.open_trades[0].size, 50.0);
}

#[test]
fn invalid_intents_are_rejected_not_fatal() {
    let bars = flat(3, 10.0);
    let mut bad_symbol = order(Side::Buy, OrderType::Market, OrderSize::Units(1.0));
    bad_symbol.symbol = "NOPE".into();
    let mut s = Scripted::new(vec![(
        0,
        vec![
            Intent::PlaceOrder(bad_symbol),
            Intent::PlaceOrder(order(Side::Buy, OrderType::Limit, OrderSize::Units(1.0))),
            Intent::PlaceOrder(order(
                Side::Buy,
                OrderType::Market,
                OrderSize::Units(f64::NAN),
            )),
            Intent::PlaceOrder(order(
                Side::Buy,
                OrderType::Market,
                OrderSize::EquityFraction(2.0),
            )),
            Intent::PlaceOrder(order(Side::Buy, OrderType::Market, OrderSize::Units(0.5))),
        ],
    )]);
    let r = run(&bars, &mut s, &cfg());
    assert!(r.open_trades.is_empty() && r.trades.is_empty());
    assert_eq!(
        s.updates
            .iter()
            .filter(|u| u.status == OrderStatus::Rejected)
            .count(),
        5
    );
    assert!(s.updates.iter().all(|u| u.reason.is_some()));
}

#[test]
fn commissions_slippage_and_fractional_units() {
    let bars = flat(4, 100.0);
    let mut s = Scripted::new(vec![
        (
            0,
            vec![Intent::PlaceOrder(order(
                Side::Buy,
                OrderType::Market,
                OrderSize::Units(2.5),
            ))],
        ),
        (1, vec![Intent::ClosePosition { symbol: "X".into() }]),
    ]);
    let mut c = cfg();
    c.broker.fractional = true;
    c.broker.slippage_bps = 10.0;
    c.broker.commission = Commission {
        pct: 0.001,
        per_unit: 0.1,
        fixed: 1.0,
    };
    let r = run(&bars, &mut s, &c);
    let t = &r.trades[0];
    assert_eq!(t.size, 2.5);
    assert!((t.entry_price - 100.1).abs() < 1e-12 && (t.exit_price - 99.9).abs() < 1e-12);
    let fee = |p: f64| 1.0 + 2.5 * p * 0.001 + 2.5 * 0.1;
    assert!((t.commission - (fee(100.1) + fee(99.9))).abs() < 1e-9);
    assert!((t.pnl - (2.5 * (99.9 - 100.1) - t.commission)).abs() < 1e-9);
    assert!((r.equity[3] - (1000.0 + t.pnl)).abs() < 1e-9);
}

#[test]
fn day_orders_expire_and_gtc_orders_wait() {
    let bars = flat(5, 10.0);
    let limit = |tif| OrderIntent {
        limit_price: Some(5.0),
        time_in_force: tif,
        ..order(Side::Buy, OrderType::Limit, OrderSize::Units(1.0))
    };
    let mut s = Scripted::new(vec![(
        0,
        vec![
            Intent::PlaceOrder(limit(TimeInForce::Day)),
            Intent::PlaceOrder(limit(TimeInForce::Gtc)),
        ],
    )]);
    let _ = run(&bars, &mut s, &cfg());
    let cancelled: Vec<&OrderUpdate> = s
        .updates
        .iter()
        .filter(|u| u.status == OrderStatus::Cancelled)
        .collect();
    assert_eq!(cancelled.len(), 1, "{:?}", s.updates);
    // Resting orders are acknowledged, so the strategy knows their ids.
    assert_eq!(
        s.updates
            .iter()
            .filter(|u| u.status == OrderStatus::Accepted)
            .count(),
        2
    );
    assert!(cancelled[0].reason.as_deref().unwrap().contains("day"));
}

#[test]
fn finalize_closes_open_trades_at_the_last_open() {
    let mut bars = flat(4, 10.0);
    bars[3] = (12.0, 13.0, 11.0, 12.5);
    let mut s = Scripted::new(vec![(
        0,
        vec![Intent::PlaceOrder(order(
            Side::Sell,
            OrderType::Market,
            OrderSize::Units(3.0),
        ))],
    )]);
    let mut c = cfg();
    c.finalize = true;
    let r = run(&bars, &mut s, &c);
    assert!(r.open_trades.is_empty());
    assert_eq!(
        (
            r.trades[0].size,
            r.trades[0].exit_price,
            r.trades[0].exit_bar
        ),
        (-3.0, 12.0, 3)
    );
    assert_eq!(r.equity[3], 1000.0 - 3.0 * 2.0);
    assert_eq!(s.log.last().map(String::as_str), Some("Stopping"));
}

#[test]
fn bankruptcy_liquidates_at_the_close_and_stops() {
    let bars = vec![
        (10.0, 10.0, 10.0, 10.0),
        (10.0, 10.0, 10.0, 10.0),
        (10.0, 25.0, 10.0, 21.0),
        (5.0, 5.0, 5.0, 5.0),
    ];
    let mut s = Scripted::new(vec![(
        0,
        vec![Intent::PlaceOrder(order(
            Side::Sell,
            OrderType::Market,
            OrderSize::EquityFraction(1.0),
        ))],
    )]);
    let r = run(&bars, &mut s, &cfg());
    assert_eq!(r.bankrupt_at, Some(2));
    assert_eq!(r.trades[0].exit_price, 21.0);
    assert_eq!(&r.equity[2..], [0.0, 0.0]);
    assert_eq!(
        s.bars_seen, 2,
        "the strategy must not see bars after the bankruptcy"
    );
}

/// Delegates only `on_event`, so the engine's batches fall back to one event per timestamp.
struct Unbatched(greta::native::SmaCross);

impl Strategy for Unbatched {
    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        self.0.on_event(event)
    }
}

fn load(name: &str) -> Series {
    let p = crate::testdata::generated().join("ohlcv").join(name);
    greta::csv::load(&p, None).unwrap_or_else(|e| panic!("{e}: run scripts/testdata.sh"))
}

#[test]
fn batched_and_per_bar_delivery_give_identical_runs() {
    let bt = Backtest::new(vec![load("EURUSD.csv")]).unwrap();
    let params = vec![
        ("fast".to_owned(), "10".to_owned()),
        ("slow".to_owned(), "20".to_owned()),
    ];
    let scfg: StrategyConfig = bt.strategy_config(&params);
    let mut c = cfg();
    c.broker.cash = 10_000.0;
    c.broker.commission.pct = 0.002;
    let mut batched = greta::native::SmaCross::new(&scfg).unwrap();
    let a = bt.run(&mut batched, &c, None).unwrap();
    let mut per_bar = Unbatched(greta::native::SmaCross::new(&scfg).unwrap());
    let b = bt.run(&mut per_bar, &c, None).unwrap();
    assert_eq!(a.trades, b.trades);
    assert_eq!(a.equity, b.equity);
    assert_eq!(a.metrics, b.metrics);
    // One call per quiet stretch, not one per bar.
    assert!(
        a.strategy_calls * 3 < bt.len() as u64,
        "{} calls for {} bars",
        a.strategy_calls,
        bt.len()
    );
}

#[test]
fn several_symbols_are_aligned_by_timestamp() {
    // B starts two days later and has a gap; equity has one point per distinct timestamp.
    let a = series("A", &flat(6, 10.0), 0);
    let mut b = series("B", &flat(4, 20.0), 2);
    b.bars.remove(1);
    let bt = Backtest::new(vec![a, b]).unwrap();
    assert_eq!(bt.len(), 6);
    let mut s = Scripted::new(vec![(
        2,
        vec![Intent::PlaceOrder(OrderIntent {
            symbol: "B".into(),
            ..order(Side::Buy, OrderType::Market, OrderSize::Units(1.0))
        })],
    )]);
    let r = bt.run(&mut s, &cfg(), None).unwrap();
    assert_eq!(r.equity.len(), 6);
    // Day 3 has no B bar: the order fills at B's next bar (day 4).
    assert_eq!(r.open_trades[0].entry_ts, 4 * DAY);
    assert!(
        Backtest::new(vec![
            series("A", &flat(2, 1.0), 0),
            series("A", &flat(2, 1.0), 0)
        ])
        .is_err()
    );
}

#[test]
fn no_trades_gives_null_trade_statistics() {
    let bars = flat(30, 10.0);
    let mut s = Scripted::new(vec![]);
    let r = run(&bars, &mut s, &cfg());
    let m = &r.metrics;
    assert_eq!(m.trades, 0);
    assert_eq!(
        (m.win_rate_pct, m.sqn, m.profit_factor, m.sharpe),
        (None, None, None, None)
    );
    assert_eq!(m.equity_final, 1000.0);
}

/// Asks for a data window after bar 4 and records what it gets; with `greedy`, asks again for
/// every window it receives (a runaway strategy).
struct Fetcher {
    bars_seen: usize,
    greedy: bool,
    windows: Vec<Vec<i64>>,
}

impl Strategy for Fetcher {
    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        let fetch = || Intent::FetchWindow {
            symbol: "X".into(),
            timeframe: weaver::domain::Timeframe::DAY,
            lookback: 3,
        };
        match &event.payload {
            StrategyPayload::Bars(_) => {
                self.bars_seen += 1;
                Ok(if self.bars_seen == 5 {
                    vec![fetch()]
                } else {
                    vec![]
                })
            }
            StrategyPayload::DataWindow { bars, .. } => {
                self.windows.push(bars.iter().map(|b| b.ts / DAY).collect());
                Ok(if self.greedy { vec![fetch()] } else { vec![] })
            }
            _ => Ok(vec![]),
        }
    }
}

#[test]
fn data_windows_come_from_the_loaded_bars_and_runaway_fetching_is_stopped() {
    let bt = Backtest::new(vec![series("X", &flat(8, 10.0), 0)]).unwrap();
    let mut f = Fetcher {
        bars_seen: 0,
        greedy: false,
        windows: vec![],
    };
    bt.run(&mut f, &cfg(), None).unwrap();
    // Asked after bar 4 (0-based): the three bars up to and including it, oldest first.
    assert_eq!(f.windows, vec![vec![2, 3, 4]]);
    let mut greedy = Fetcher {
        bars_seen: 0,
        greedy: true,
        windows: vec![],
    };
    match bt.run(&mut greedy, &cfg(), None) {
        Err(greta::Error::Strategy(e)) => assert_eq!(e.code, "strategy_event_loop"),
        other => panic!("expected the event-loop guard, got {other:?}"),
    }
}

/// Records every bar it is handed (symbol index and time), every order update and account
/// snapshot, and places the scripted intents after the bar group with the given index.
struct Portfolio {
    script: Vec<(usize, Vec<Intent>)>,
    groups: usize,
    bars: Vec<(u32, i64)>,
    updates: Vec<OrderUpdate>,
    accounts: Vec<weaver::domain::AccountSnapshot>,
}

impl Strategy for Portfolio {
    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        match &event.payload {
            StrategyPayload::Bars(bars) => {
                let n = self.groups;
                self.groups += 1;
                self.bars.extend(bars.iter().map(|b| (b.symbol, b.bar.ts)));
                Ok(self
                    .script
                    .iter()
                    .filter(|(at, _)| *at == n)
                    .flat_map(|(_, v)| v.clone())
                    .collect())
            }
            StrategyPayload::OrderUpdate(u) => {
                self.updates.push(u.clone());
                Ok(vec![])
            }
            StrategyPayload::Account(a) => {
                self.accounts.push(a.clone());
                Ok(vec![])
            }
            _ => Ok(vec![]),
        }
    }
}

/// Issue #24's portfolio backtest: two symbols whose bars interleave in time (B trades half a
/// day after A, and both at day 4) reach the strategy in time order, every bar of each once and
/// the bars of one time together; both trade against one cash account, so an order that either
/// symbol's own share of the cash would cover is refused once the other holds the rest.
#[test]
fn two_symbols_share_one_cash_account_and_reach_the_strategy_in_time_order() {
    let a = series("A", &flat(5, 10.0), 0);
    let mut b = series("B", &flat(4, 20.0), 0);
    for (i, sb) in b.bars.iter_mut().enumerate() {
        // Days 0.5, 1.5, 2.5, then 4: the last one shares A's time.
        sb.bar.ts = if i < 3 {
            i as i64 * DAY + DAY / 2
        } else {
            4 * DAY
        };
    }
    let bt = Backtest::new(vec![a, b]).unwrap();
    let buy = |symbol: &str, units: f64| {
        Intent::PlaceOrder(OrderIntent {
            symbol: symbol.into(),
            ..order(Side::Buy, OrderType::Market, OrderSize::Units(units))
        })
    };
    // Group 0 is A's day 0: A fills at day 1, B at day 0.5. Then B asks for 10 more units: 200
    // that the account (1000 − 500 − 400 held) no longer has.
    let mut s = Portfolio {
        script: vec![
            (0, vec![buy("A", 50.0), buy("B", 20.0)]),
            (2, vec![buy("B", 10.0)]),
        ],
        groups: 0,
        bars: vec![],
        updates: vec![],
        accounts: vec![],
    };
    let r = bt.run(&mut s, &cfg(), None).unwrap();

    let half = DAY / 2;
    assert_eq!(
        s.bars,
        [
            (0, 0),
            (1, half),
            (0, DAY),
            (1, DAY + half),
            (0, 2 * DAY),
            (1, 2 * DAY + half),
            (0, 3 * DAY),
            (0, 4 * DAY),
            (1, 4 * DAY),
        ],
        "every bar of both symbols, in time order"
    );
    assert_eq!(s.groups, 8, "one Bars event per distinct time");
    assert_eq!(r.equity.len(), 8);

    let filled: Vec<(&str, f64)> = s
        .updates
        .iter()
        .filter(|u| u.status == OrderStatus::Filled)
        .map(|u| (u.symbol.as_str(), u.filled_quantity))
        .collect();
    assert_eq!(filled, [("B", 20.0), ("A", 50.0)]);
    let refused = s
        .updates
        .iter()
        .find(|u| u.status == OrderStatus::Cancelled)
        .expect("the third order is refused");
    assert_eq!(refused.symbol, "B");
    assert!(
        refused
            .reason
            .as_deref()
            .is_some_and(|why| why.contains("insufficient cash")),
        "{refused:?}"
    );
    // One account: its snapshot holds both positions against the one starting cash.
    let last = s.accounts.last().expect("account snapshots");
    let mut held: Vec<(&str, f64)> = last
        .positions
        .iter()
        .map(|p| (p.symbol.as_str(), p.quantity))
        .collect();
    held.sort_by(|x, y| x.0.cmp(y.0));
    assert_eq!(held, [("A", 50.0), ("B", 20.0)]);
    assert_eq!(last.equity, 1000.0);
    assert_eq!(last.buying_power, 100.0);
}
