//! The same envelope to every guest, in every mode: one strategy that subscribes to everything
//! and records every event it receives runs as a backtest (Greta) and as a paper run on the
//! simulated exchange (the live runner over the same candles), and the two streams are compared.
//!
//! What is compared of each event: kind, event type, version, time and payload. What is not,
//! because it is physically different between the two runs:
//! - the envelope's identity fields (`id`, `run_id`, `corr_id`, `producer`): each run and each
//!   engine names its own events;
//! - `client_order_id`s: each engine derives them from its own run (`bt-…` in a backtest, the
//!   run's scope on a venue); they are compared as "the n-th order the strategy heard of";
//! - the venue's `Accepted` acknowledgement of a market order: a venue acknowledges every
//!   order it takes (on a live venue a market order can rest, e.g. outside market hours), while
//!   a backtest's market order only ever reports its fill or cancellation. The simulated
//!   exchange, being a venue, acknowledges it; these events are left out of the comparison and
//!   counted separately.
//!
//! Prices are multiples of 0.25 so that the venue's decimal prices convert back to the very
//! same `f64`s (a venue speaks decimals; a price without an exact short decimal form could
//! differ in its last bit after the round trip).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use weaver::domain::{
    Bar, EventKind, Intent, Lifecycle, OrderIntent, OrderSize, OrderStatus, OrderType, Side,
    Strategy, StrategyError, StrategyEvent, StrategyPayload, TimeInForce, Timeframe,
};
use weaver::greta::broker::BrokerConfig;
use weaver::greta::{Backtest, Commission, EngineConfig, FillModel, Series};
use weaver::veda::Venue;
use weaver::veda::journal::store::WalleJournal;
use weaver::veda::live::LiveRunner;
use weaver::veda::risk::RiskLimits;

const DAY: i64 = 86_400_000;

/// One received event in a comparable form.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    kind: EventKind,
    event_type: String,
    version: u32,
    ts: i64,
    payload: StrategyPayload,
}

/// Subscribes to everything (the trait's default), records every event, and trades a script
/// keyed by the number of bars seen: a tagged market buy, a resting limit buy that fills later,
/// a data window, a market sell that closes everything, and a buy left open at the end.
struct Recorder {
    bars: usize,
    log: Arc<Mutex<Vec<Seen>>>,
}

fn order(side: Side, order_type: OrderType, units: f64, tag: &str) -> Intent {
    Intent::PlaceOrder(OrderIntent {
        symbol: "ACME".into(),
        side,
        order_type,
        time_in_force: TimeInForce::Gtc,
        // A buy limit far above the market rests until the next bar, then fills at its open.
        limit_price: (order_type == OrderType::Limit).then_some(1_000.0),
        stop_price: None,
        size: OrderSize::Units(units),
        tag: Some(tag.into()),
    })
}

impl Strategy for Recorder {
    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        self.log.lock().unwrap().push(Seen {
            kind: event.meta.kind,
            event_type: event.meta.event_type.clone(),
            version: event.meta.version,
            ts: event.meta.ts,
            payload: event.payload.clone(),
        });
        let StrategyPayload::Bars(_) = event.payload else {
            return Ok(vec![]);
        };
        self.bars += 1;
        Ok(match self.bars {
            3 => vec![order(Side::Buy, OrderType::Market, 10.0, "entry-market")],
            6 => vec![order(Side::Buy, OrderType::Limit, 5.0, "add-limit")],
            8 => vec![Intent::FetchWindow {
                symbol: "ACME".into(),
                timeframe: Timeframe::DAY,
                lookback: 4,
            }],
            11 => vec![order(Side::Sell, OrderType::Market, 15.0, "exit-market")],
            14 => vec![order(Side::Buy, OrderType::Market, 3.0, "last-market")],
            _ => vec![],
        })
    }
}

/// 20 daily bars whose prices are multiples of 0.25.
fn bars() -> Vec<Bar> {
    (0..20)
        .map(|i| {
            let p = 100.0 + ((i * 7) % 11) as f64 * 0.25;
            Bar {
                ts: (19_000 + i) * DAY,
                open: p,
                high: p + 1.5,
                low: p - 1.25,
                close: p + 0.5,
                volume: 1_000.0,
            }
        })
        .collect()
}

fn broker() -> BrokerConfig {
    BrokerConfig {
        cash: 100_000.0,
        commission: Commission::default(),
        slippage_bps: 0.0,
        fill: FillModel::NextOpen,
        fractional: false,
    }
}

/// The stream with every `client_order_id` replaced by `order-<n>` (n: the order in which the
/// strategy first heard of it).
fn by_order_number(stream: Vec<Seen>) -> Vec<Seen> {
    let mut numbers: HashMap<String, usize> = HashMap::new();
    stream
        .into_iter()
        .map(|mut s| {
            if let StrategyPayload::OrderUpdate(u) = &mut s.payload {
                let n = numbers.len() + 1;
                let n = *numbers.entry(u.client_order_id.clone()).or_insert(n);
                u.client_order_id = format!("order-{n}");
            }
            s
        })
        .collect()
}

fn is_market_acknowledgement(s: &Seen) -> bool {
    matches!(&s.payload, StrategyPayload::OrderUpdate(u)
        if u.status == OrderStatus::Accepted
            && u.tag.as_deref().is_some_and(|t| t.ends_with("-market")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backtest_and_a_simulated_run_tell_the_strategy_the_same_envelopes() {
    let bars = bars();

    // The backtest.
    let backtest_log = Arc::new(Mutex::new(Vec::new()));
    let series = Series {
        symbol: "ACME".into(),
        path: "mem".into(),
        bars: bars
            .iter()
            .map(|&bar| weaver::domain::SymbolBar { symbol: 0, bar })
            .collect(),
    };
    let cfg = EngineConfig {
        fills: Default::default(),
        broker: broker(),
        finalize: false,
        warmup: Some(0),
        params: vec![],
    };
    Backtest::new(vec![series])
        .expect("backtest builds")
        .run(
            &mut Recorder {
                bars: 0,
                log: backtest_log.clone(),
            },
            &cfg,
            None,
        )
        .expect("backtest runs");
    let backtest = by_order_number(backtest_log.lock().unwrap().clone());

    // The same strategy on the simulated exchange replaying the same bars stored as candles,
    // driven by the live runner as a paper run drives it.
    let (_dir, walle, sim) = super::daily_sim("ACME", &bars, broker()).await;
    let venue: Arc<dyn Venue> = Arc::new(sim.clone());
    let updates = venue.order_updates(chrono::Utc::now()).await.unwrap();
    let stream = venue.bar_stream(&["ACME".to_owned()]).await.unwrap();
    let live_log = Arc::new(Mutex::new(Vec::new()));
    let releaser = sim.clone();
    let mut runner = LiveRunner::new(
        "envelopes",
        vec!["ACME".into()],
        Box::new(Recorder {
            bars: 0,
            log: live_log.clone(),
        }),
        venue.clone(),
        Arc::new(WalleJournal::new(walle.clone())),
        RiskLimits::default(),
    )
    .timeframe(Timeframe::DAY)
    .account_source(Arc::new(sim.clone()))
    .after_each_bar(move || releaser.bar_done());
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        runner.run_with_updates(stream, updates),
    )
    .await
    .expect("the replay finishes in time")
    .expect("the run succeeds");
    // A later stop (a stop request after the replay ended) tells nothing more.
    runner.stop().await.expect("stop");
    let live_all = by_order_number(live_log.lock().unwrap().clone());
    let acknowledgements = live_all
        .iter()
        .filter(|s| is_market_acknowledgement(s))
        .count();
    let live: Vec<Seen> = live_all
        .into_iter()
        .filter(|s| !is_market_acknowledgement(s))
        .collect();

    // The streams carry what the test is about: the lifecycle at both ends, account snapshots
    // that moved with the fills, the resting order's acknowledgement, fills and a data window.
    let kinds = |p: fn(&StrategyPayload) -> bool| backtest.iter().filter(|s| p(&s.payload)).count();
    assert_eq!(
        backtest.first().map(|s| &s.payload),
        Some(&StrategyPayload::Lifecycle(Lifecycle::Started))
    );
    assert_eq!(
        backtest.last().map(|s| &s.payload),
        Some(&StrategyPayload::Lifecycle(Lifecycle::Stopping))
    );
    assert_eq!(kinds(|p| matches!(p, StrategyPayload::Bars(_))), bars.len());
    assert_eq!(
        kinds(|p| matches!(p, StrategyPayload::Account(_))),
        5,
        "one at the start and one after each of the 4 fills' bar times"
    );
    assert_eq!(
        kinds(|p| matches!(p, StrategyPayload::OrderUpdate(u) if u.status == OrderStatus::Filled)),
        4
    );
    assert_eq!(
        kinds(
            |p| matches!(p, StrategyPayload::OrderUpdate(u) if u.status == OrderStatus::Accepted)
        ),
        1,
        "the resting limit order is acknowledged"
    );
    assert_eq!(
        kinds(|p| matches!(p, StrategyPayload::DataWindow { .. })),
        1
    );
    assert_eq!(
        acknowledgements, 3,
        "the venue acknowledged each of the three market orders"
    );

    if live != backtest {
        let show = |s: &[Seen]| {
            s.iter()
                .map(|e| format!("{} {} {:?}", e.ts, e.event_type, e.payload))
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "the streams differ\n--- backtest\n{}\n--- simulated run\n{}",
            show(&backtest),
            show(&live)
        );
    }
    walle.close().await;
}
