//! Data windows in live runs: a `FetchWindow` intent on the simulated exchange is answered with
//! the same bars a backtest of the same data gives, never a bar the run has not seen; windows
//! in another timeframe or for another symbol are empty; a strategy that never stops asking
//! fails with `strategy_event_loop`; and a venue's history before the run fills a window the
//! run has not yet seen enough bars for.

use std::sync::Arc;

use weaver::domain::{
    Bar, Intent, Strategy, StrategyError, StrategyEvent, StrategyPayload, SymbolBar, Timeframe,
};
use weaver::greta::broker::BrokerConfig;
use weaver::greta::csv::Series;
use weaver::greta::{Backtest, Commission, EngineConfig, FillModel};
use weaver::veda::Venue;
use weaver::veda::journal::store::WalleJournal;
use weaver::veda::live::{LiveError, LiveRunner};
use weaver::veda::risk::RiskLimits;
use weaver::veda::sim::SimVenue;
use weaver::walle::Walle;

const DAY: i64 = 86_400_000;

/// Asks for a window every `every` bars and records what comes back (bar times in days).
struct Fetcher {
    every: usize,
    lookback: u32,
    timeframe: Timeframe,
    symbol: String,
    /// Asks again from every window it receives.
    greedy: bool,
    bars_seen: usize,
    /// (bars seen when the window arrived, window's bar days).
    windows: Vec<(usize, Vec<i64>)>,
}

impl Fetcher {
    fn new(every: usize, lookback: u32) -> Fetcher {
        Fetcher {
            every,
            lookback,
            timeframe: Timeframe::DAY,
            symbol: "X".into(),
            greedy: false,
            bars_seen: 0,
            windows: Vec::new(),
        }
    }

    fn fetch(&self) -> Intent {
        Intent::FetchWindow {
            symbol: self.symbol.clone(),
            timeframe: self.timeframe,
            lookback: self.lookback,
        }
    }
}

impl Strategy for Fetcher {
    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        match &event.payload {
            StrategyPayload::Bars(_) => {
                self.bars_seen += 1;
                Ok(if self.bars_seen.is_multiple_of(self.every) {
                    vec![self.fetch()]
                } else {
                    vec![]
                })
            }
            StrategyPayload::DataWindow { bars, .. } => {
                self.windows
                    .push((self.bars_seen, bars.iter().map(|b| b.ts / DAY).collect()));
                Ok(if self.greedy {
                    vec![self.fetch()]
                } else {
                    vec![]
                })
            }
            _ => Ok(vec![]),
        }
    }
}

/// `n` daily bars of symbol X starting at day `first_day`.
fn daily(first_day: i64, n: usize) -> Vec<Bar> {
    (0..n)
        .map(|i| {
            let p = 100.0 + i as f64;
            Bar {
                ts: (first_day + i as i64) * DAY,
                open: p,
                high: p + 1.0,
                low: p - 1.0,
                close: p,
                volume: 1000.0,
            }
        })
        .collect()
}

fn broker() -> BrokerConfig {
    BrokerConfig {
        cash: 10_000.0,
        commission: Commission::default(),
        slippage_bps: 0.0,
        fill: FillModel::NextOpen,
        fractional: false,
    }
}

/// A sim replaying `bars` of X stored in a fresh SQLite WallE.
async fn sim_over(bars: &[Bar]) -> (tempfile::TempDir, Walle, SimVenue) {
    super::daily_sim("X", bars, broker()).await
}

/// Drives `strategy` over the whole replay of `sim`; gives the strategy back with the outcome.
async fn run_live(
    sim: &SimVenue,
    walle: &Walle,
    strategy: Fetcher,
) -> (Result<(), LiveError>, Fetcher) {
    // The runner owns the strategy as a trait object: read its record through a shared cell.
    let shared = Arc::new(std::sync::Mutex::new(strategy));
    struct Handle(Arc<std::sync::Mutex<Fetcher>>);
    impl Strategy for Handle {
        fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
            self.0.lock().unwrap().on_event(event)
        }
    }
    let venue: Arc<dyn Venue> = Arc::new(sim.clone());
    let releaser = sim.clone();
    let mut runner = LiveRunner::new(
        "windows",
        vec!["X".into()],
        Box::new(Handle(shared.clone())),
        venue.clone(),
        Arc::new(WalleJournal::new(walle.clone())),
        RiskLimits::default(),
    )
    .timeframe(Timeframe::DAY)
    .after_each_bar(move || releaser.bar_done());
    let stream = venue.bar_stream(&["X".to_owned()]).await.unwrap();
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(30), runner.run(stream))
        .await
        .expect("the replay finishes in time");
    drop(runner);
    let strategy = Arc::try_unwrap(shared)
        .ok()
        .expect("runner dropped")
        .into_inner()
        .unwrap();
    (outcome, strategy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_on_the_sim_equal_the_backtests_and_never_look_ahead() {
    let bars = daily(10, 30);
    let (_dir, walle, sim) = sim_over(&bars).await;
    let (outcome, live) = run_live(&sim, &walle, Fetcher::new(4, 6)).await;
    outcome.expect("the run succeeds");

    // The same strategy in a backtest of the same bars receives the same windows.
    let series = Series {
        symbol: "X".into(),
        path: "mem".into(),
        bars: bars
            .iter()
            .map(|&bar| SymbolBar { symbol: 0, bar })
            .collect(),
    };
    let bt = Backtest::new(vec![series]).expect("backtest builds");
    let cfg = EngineConfig {
        fills: Default::default(),
        broker: broker(),
        finalize: false,
        warmup: Some(0),
        params: vec![],
    };
    let mut backtested = Fetcher::new(4, 6);
    bt.run(&mut backtested, &cfg, None).expect("backtest runs");
    assert_eq!(
        live.windows, backtested.windows,
        "live windows equal the backtest's"
    );

    assert_eq!(live.windows.len(), 30 / 4, "one window per request");
    for (seen, days) in &live.windows {
        // The window ends at the newest bar delivered and holds at most `lookback` of them:
        // fewer at the start, since nothing precedes the replay.
        let newest = 10 + *seen as i64 - 1;
        let expect: Vec<i64> = ((newest - 5).max(10)..=newest).collect();
        assert_eq!(days, &expect, "window after {seen} bars");
    }
    walle.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_in_another_timeframe_or_symbol_are_empty() {
    let bars = daily(10, 8);
    let (_dir, walle, sim) = sim_over(&bars).await;
    let mut hourly = Fetcher::new(2, 3);
    hourly.timeframe = "1Hour".parse().unwrap();
    let (outcome, hourly) = run_live(&sim, &walle, hourly).await;
    outcome.expect("the run succeeds");
    assert_eq!(hourly.windows.len(), 4);
    assert!(
        hourly.windows.iter().all(|(_, w)| w.is_empty()),
        "{:?}",
        hourly.windows
    );

    let (_dir2, walle2, sim2) = sim_over(&bars).await;
    let mut other = Fetcher::new(2, 3);
    other.symbol = "NOPE".into();
    let (outcome, other) = run_live(&sim2, &walle2, other).await;
    outcome.expect("the run succeeds");
    assert_eq!(other.windows.len(), 4);
    assert!(other.windows.iter().all(|(_, w)| w.is_empty()));
    walle.close().await;
    walle2.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_that_never_stops_asking_fails_with_the_event_loop_code() {
    let bars = daily(10, 5);
    let (_dir, walle, sim) = sim_over(&bars).await;
    let mut greedy = Fetcher::new(2, 3);
    greedy.greedy = true;
    let (outcome, greedy) = run_live(&sim, &walle, greedy).await;
    match outcome {
        Err(LiveError::Strategy(e)) => assert_eq!(e.code, "strategy_event_loop"),
        other => panic!("expected strategy_event_loop, got {other:?}"),
    }
    assert_eq!(
        greedy.windows.len(),
        weaver::veda::live::MAX_WINDOWS_PER_EVENT
    );
    walle.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_venues_history_before_the_run_fills_a_window_the_run_has_not_seen() {
    // The venue holds 20 days of history; the run starts streaming at day 25 (the sim replays
    // only its own data, so the run's bars are fed by hand through `on_bar`).
    let history = daily(5, 20);
    let (_dir, walle, sim) = sim_over(&history).await;
    let shared = Arc::new(std::sync::Mutex::new(Fetcher::new(1, 5)));
    struct Handle(Arc<std::sync::Mutex<Fetcher>>);
    impl Strategy for Handle {
        fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
            self.0.lock().unwrap().on_event(event)
        }
    }
    let venue: Arc<dyn Venue> = Arc::new(sim.clone());
    let mut runner = LiveRunner::new(
        "history",
        vec!["X".into()],
        Box::new(Handle(shared.clone())),
        venue,
        Arc::new(WalleJournal::new(walle.clone())),
        RiskLimits::default(),
    )
    .timeframe(Timeframe::DAY);
    for bar in daily(25, 2) {
        runner.on_bar("X", bar).await.expect("bar handled");
    }
    let windows = shared.lock().unwrap().windows.clone();
    // First bar (day 25): four days of history, then the bar itself; second: days 22..=26.
    assert_eq!(
        windows,
        vec![(1, vec![21, 22, 23, 24, 25]), (2, vec![22, 23, 24, 25, 26])]
    );
    walle.close().await;
}
