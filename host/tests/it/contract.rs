//! Contract `weaver:strategy@0.3.0`: what a strategy declares in `init` (extra series and warm-up)
//! is checked and readable after `init`; a 0.2.0 component runs unchanged through the host's
//! adapter; windows of a declared series never hold a bar that closes after the current bar, in
//! a backtest (stored candles or aggregated from the run's bars) and on the simulated exchange
//! alike; the backtest warm-up defaults to the declared one; the `trend-filter` example (5-minute
//! bars filtered by a daily trend) decides alike in Rust, Python and JavaScript, and alike in a
//! backtest and a paper run on `sim` over the same stored candles.

use std::sync::{Arc, Mutex};

use weaver::domain::{
    Bar, Declaration, Intent, SeriesDecl, Strategy, StrategyError, StrategyEvent, StrategyPayload,
    Subscriptions, SymbolBar, TimeUnit, Timeframe,
};
use weaver::greta::broker::BrokerConfig;
use weaver::greta::csv::Series;
use weaver::greta::series::{aggregate, close_time};
use weaver::greta::{Backtest, Commission, EngineConfig, FillModel};
use weaver::marvin::{Marvin, MarvinConfig};

use crate::marvin::config;
use crate::marvin::wat::componentize_against;
use crate::support::dist;

mod trend;

const MIN5: Timeframe = Timeframe {
    amount: 5,
    unit: TimeUnit::Minute,
};
const HOUR: Timeframe = Timeframe {
    amount: 1,
    unit: TimeUnit::Hour,
};
const TWO_HOURS: Timeframe = Timeframe {
    amount: 2,
    unit: TimeUnit::Hour,
};

fn wit(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../wit/{path}", env!("CARGO_MANIFEST_DIR")))
        .expect("WIT readable")
}

/// A Marvin with the compile cache the polyglot tests share (Python and JS components compile
/// once per test build).
fn shared_marvin() -> Marvin {
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("polyglot-compiled");
    Marvin::new(MarvinConfig {
        cache_dir: cache,
        ..MarvinConfig::default()
    })
    .expect("marvin starts")
}

/// A hand-written 0.2.0 guest: `init` subscribes to nothing, `on-event` answers nothing and
/// `on-bars` consumes every bar.
fn guest_0_2() -> Vec<u8> {
    let core = r#"(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get 3) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  (func (export "weaver:strategy/guest@0.2.0#init") (param i32 i32 i32 i32 i32 i32) (result i32)
    (i32.const 0))
  (func (export "weaver:strategy/guest@0.2.0#on-event") (param i32) (result i32)
    (i32.const 0))
  (func (export "weaver:strategy/guest@0.2.0#on-bars") (param i32 i32 i32 i32 i32 i32) (result i32)
    (i32.store (i32.const 1024) (i32.const 0))
    (i32.store (i32.const 1028) (i32.const 0))
    (i32.store (i32.const 1032) (i32.const 0))
    (i32.store (i32.const 1036) (i32.shr_u (local.get 1) (i32.const 2)))
    (i32.const 1024)))"#;
    componentize_against(core, &wit("v0.2/strategy.wit"))
}

/// A hand-written 0.3.0 guest whose `init` declares one series (`symbol`, `amount` × `unit`
/// where unit is the WIT enum's index) and `warmup`.
fn guest_0_3(symbol: &str, amount: u32, unit: u8, warmup: u32) -> Vec<u8> {
    // result<declaration, strategy-error> at 2048: discriminant, then the declaration at +4:
    // flags, series (ptr, len), warm-up. The series record at 2100, its symbol at 2200.
    let mut mem = vec![0u8; 2200 - 2048];
    let put = |mem: &mut Vec<u8>, at: usize, v: u32| {
        mem[at - 2048..at - 2048 + 4].copy_from_slice(&v.to_le_bytes());
    };
    put(&mut mem, 2056, 2100);
    put(&mut mem, 2060, 1);
    put(&mut mem, 2064, warmup);
    put(&mut mem, 2100, 2200);
    put(&mut mem, 2104, symbol.len() as u32);
    put(&mut mem, 2108, amount);
    mem[2112 - 2048] = unit;
    mem.extend_from_slice(symbol.as_bytes());
    let data: String = mem.iter().map(|b| format!("\\{b:02x}")).collect();
    let core = format!(
        r#"(module
  (memory (export "memory") 1)
  (data (i32.const 2048) "{data}")
  (global $heap (mut i32) (i32.const 8192))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get 3) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  (func (export "weaver:strategy/guest@0.3.0#init") (param i32 i32 i32 i32 i32 i32) (result i32)
    (i32.const 2048))
  (func (export "weaver:strategy/guest@0.3.0#on-event") (param i32) (result i32) unreachable)
  (func (export "weaver:strategy/guest@0.3.0#on-bars") (param i32 i32 i32 i32 i32 i32) (result i32) unreachable))"#
    );
    componentize_against(&core, &wit("strategy.wit"))
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

fn engine(warmup: Option<usize>) -> EngineConfig {
    EngineConfig {
        fills: Default::default(),
        broker: broker(),
        finalize: false,
        warmup,
        params: vec![],
    }
}

/// `n` continuous 5-minute bars of a random walk from 2020-01-01.
fn five_minute(n: usize) -> Vec<Bar> {
    let start = weaver::greta::synth::START_MS;
    weaver::greta::synth::generate_at(
        (0..n as i64).map(|i| start + i * 300_000),
        5,
        weaver::greta::synth::sigma_for(MIN5),
    )
}

fn series(symbol: &str, bars: &[Bar]) -> Series {
    Series {
        symbol: symbol.into(),
        path: "mem".into(),
        bars: bars
            .iter()
            .map(|&bar| SymbolBar { symbol: 0, bar })
            .collect(),
    }
}

#[test]
fn a_0_2_component_runs_unchanged_through_the_adapter() {
    let (marvin, _dir) = crate::marvin::marvin();
    let loaded = marvin.load(&guest_0_2()).expect("a 0.2.0 component loads");
    assert_eq!(loaded.contract(), "0.2.0");
    assert_eq!(loaded.info().world_version, "0.2.0");
    let sandbox = loaded
        .instantiate(&config(&[], &["SYN"]))
        .expect("init through the adapter");
    assert_eq!(
        sandbox.declaration(),
        &Declaration {
            subscriptions: Subscriptions::NONE,
            series: vec![],
            warmup: 0,
        },
        "a 0.2 component declares nothing and warm-up 0"
    );
    let bars = five_minute(500);
    let bt = Backtest::new(vec![series("SYN", &bars)]).expect("backtest");
    let mut strategy = sandbox;
    let result = bt.run(&mut strategy, &engine(None), None).expect("runs");
    assert_eq!(result.ts.len(), 500);
    assert_eq!((result.warmup, result.warmup_declared), (0, true));
    assert!(result.trades.is_empty());
    assert!(strategy.stats().bars >= 500, "{:?}", strategy.stats());
}

#[test]
fn declarations_are_read_after_init_and_bad_ones_are_refused() {
    let (marvin, _dir) = crate::marvin::marvin();
    let declare = |symbol: &str, amount: u32, unit: u8, warmup: u32| {
        marvin
            .load(&guest_0_3(symbol, amount, unit, warmup))
            .expect("loads")
            .instantiate(&config(&[], &["SPY"]))
    };
    let good = declare("QQQ", 1, 1, 40).expect("a good declaration");
    assert_eq!(
        good.declaration().series,
        vec![SeriesDecl {
            symbol: "QQQ".into(),
            timeframe: HOUR
        }]
    );
    assert_eq!(good.declaration().warmup, 40);
    for (symbol, amount, unit, warmup, why) in [
        ("QQQ", 90, 0, 0, "90Min is not a supported timeframe"),
        ("QQQ", 0, 2, 0, "timeframe amount must be at least 1"),
        ("QQQ", 2, 3, 0, "2Week is not a supported timeframe"),
        ("QQQ", 1, 2, 100_001, "warmup: 100001 bars is more than"),
        ("", 1, 2, 0, "is not a symbol"),
        ("Q Q", 1, 2, 0, "is not a symbol"),
    ] {
        let err = declare(symbol, amount, unit, warmup).expect_err(why);
        assert_eq!(err.code(), "invalid_declaration", "{err}");
        assert!(err.to_string().contains(why), "{err} (wanted: {why})");
    }
}

#[test]
fn sdk_components_declare_their_series_and_warmup_from_their_params() {
    let marvin = shared_marvin();
    let sma = marvin.load_file(&dist("sma-cross.wasm")).expect("loads");
    assert_eq!(sma.contract(), "0.3.0");
    let d = sma
        .instantiate(&config(&[("fast", "5"), ("slow", "30")], &["GOOG"]))
        .expect("init");
    assert_eq!(d.declaration().warmup, 29);
    assert!(d.declaration().series.is_empty());
    for name in ["trend-filter", "trend-filter-py", "trend-filter-js"] {
        let loaded = marvin
            .load_file(&dist(&format!("{name}.wasm")))
            .expect("loads");
        let s = loaded
            .instantiate(&config(&[("slow", "30")], &["SPY"]))
            .expect("init");
        assert_eq!(
            s.declaration().series,
            vec![SeriesDecl {
                symbol: "SPY".into(),
                timeframe: Timeframe::DAY
            }],
            "{name}"
        );
        assert_eq!(s.declaration().warmup, 29, "{name}");
    }
}

/// Asks for the last 3 bars of the declared hourly series (and of an undeclared 2-hour one) at
/// every bar, and records what comes back with the time of the bar that asked.
#[derive(Default)]
struct HourlyReader {
    current: i64,
    hourly: Vec<(i64, Vec<Bar>)>,
    undeclared: Vec<usize>,
}

impl Strategy for HourlyReader {
    fn subscriptions(&self) -> Subscriptions {
        Subscriptions::NONE
    }

    fn declaration(&self) -> Declaration {
        Declaration {
            subscriptions: Subscriptions::NONE,
            series: vec![SeriesDecl {
                symbol: "SYN".into(),
                timeframe: HOUR,
            }],
            warmup: 7,
        }
    }

    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        let fetch = |timeframe| Intent::FetchWindow {
            symbol: "SYN".into(),
            timeframe,
            lookback: 3,
        };
        match &event.payload {
            StrategyPayload::Bars(bars) => {
                self.current = bars[0].bar.ts;
                Ok(vec![fetch(HOUR), fetch(TWO_HOURS)])
            }
            StrategyPayload::DataWindow {
                timeframe, bars, ..
            } if *timeframe == HOUR => {
                self.hourly.push((self.current, bars.clone()));
                Ok(vec![])
            }
            StrategyPayload::DataWindow { bars, .. } => {
                self.undeclared.push(bars.len());
                Ok(vec![])
            }
            _ => Ok(vec![]),
        }
    }
}

/// Every window closes by the close of the bar that asked, and holds the last hours that did.
fn assert_no_look_ahead(windows: &[(i64, Vec<Bar>)], first: i64, bars: usize) {
    assert_eq!(windows.len(), bars, "one hourly window per 5-minute bar");
    for (ts, window) in windows {
        let now = close_time(*ts, MIN5);
        assert!(
            window.iter().all(|b| close_time(b.ts, HOUR) <= now),
            "a bar closing after {now} in the window at {ts}: {window:?}"
        );
        let closed_hours = (now - first) / 3_600_000;
        assert_eq!(window.len() as i64, closed_hours.min(3), "window at {ts}");
        if let Some(last) = window.last() {
            assert_eq!(
                last.ts,
                first + (closed_hours - 1) * 3_600_000,
                "the newest closed hour"
            );
        }
    }
}

#[test]
fn backtest_windows_of_a_declared_series_never_look_ahead() {
    let bars = five_minute(600);
    let first = bars[0].ts;
    let mut bt = Backtest::new(vec![series("SYN", &bars)]).expect("backtest");

    // Not stored: aggregated from the run's own 5-minute bars.
    let mut reader = HourlyReader::default();
    let result = bt.run(&mut reader, &engine(None), None).expect("runs");
    assert_no_look_ahead(&reader.hourly, first, 600);
    let hourly = aggregate(&bars, MIN5, HOUR).expect("aggregates");
    assert_eq!(reader.hourly.last().map(|w| w.1[2]), Some(hourly[49]));
    assert!(
        reader.undeclared.iter().all(|&n| n == 0),
        "an undeclared series stays empty"
    );
    assert_eq!((result.warmup, result.warmup_declared), (7, true));
    let given = bt
        .run(&mut HourlyReader::default(), &engine(Some(3)), None)
        .expect("runs");
    assert_eq!((given.warmup, given.warmup_declared), (3, false));

    // Stored candles of the series win over aggregation.
    let stored: Vec<Bar> = hourly
        .iter()
        .map(|b| Bar {
            close: b.close + 1_000.0,
            ..*b
        })
        .collect();
    bt.add_stored_series(
        &SeriesDecl {
            symbol: "SYN".into(),
            timeframe: HOUR,
        },
        stored,
    );
    let mut reader = HourlyReader::default();
    bt.run(&mut reader, &engine(None), None).expect("runs");
    assert_no_look_ahead(&reader.hourly, first, 600);
    assert!(
        reader
            .hourly
            .iter()
            .flat_map(|w| &w.1)
            .all(|b| b.close > 1_000.0),
        "windows come from the stored candles"
    );
}

/// The runner owns its strategy as a trait object: a handle reads the reader's record.
struct Handle(Arc<Mutex<HourlyReader>>);

impl Strategy for Handle {
    fn subscriptions(&self) -> Subscriptions {
        Subscriptions::NONE
    }

    fn declaration(&self) -> Declaration {
        self.0.lock().unwrap().declaration()
    }

    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        self.0.lock().unwrap().on_event(event)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_of_a_declared_series_on_the_sim_equal_the_backtests() {
    use weaver::veda::Venue;
    use weaver::veda::journal::store::WalleJournal;
    use weaver::veda::live::LiveRunner;
    use weaver::veda::risk::RiskLimits;
    use weaver::veda::sim::{SimConfig, SimVenue, Speed};
    use weaver::walle::{DbConfig, Walle};

    let bars = five_minute(300);
    let dir = tempfile::tempdir().unwrap();
    let walle = Walle::connect(&DbConfig::sqlite_in(dir.path()))
        .await
        .unwrap();
    walle
        .upsert_candles(&trend::candles("SYN", MIN5, &bars), None)
        .await
        .unwrap();
    let from = chrono::DateTime::from_timestamp_millis(0).unwrap();
    let sim = SimVenue::from_walle(
        &walle,
        &["SYN".to_owned()],
        MIN5,
        from,
        chrono::Utc::now(),
        SimConfig {
            broker: broker(),
            speed: Speed::Lockstep,
        },
    )
    .await
    .expect("sim");
    let reader = Arc::new(Mutex::new(HourlyReader::default()));
    let venue: Arc<dyn Venue> = Arc::new(sim.clone());
    let releaser = sim.clone();
    let mut runner = LiveRunner::new(
        "declared",
        vec!["SYN".into()],
        Box::new(Handle(reader.clone())),
        venue.clone(),
        Arc::new(WalleJournal::new(walle.clone())),
        RiskLimits::default(),
    )
    .timeframe(MIN5)
    .stored_candles(walle.clone())
    .after_each_bar(move || releaser.bar_done());
    let stream = venue.bar_stream(&["SYN".to_owned()]).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(30), runner.run(stream))
        .await
        .expect("the replay finishes in time")
        .expect("the run succeeds");
    drop(runner);
    let live = std::mem::take(&mut *reader.lock().unwrap());
    assert_no_look_ahead(&live.hourly, bars[0].ts, 300);
    assert!(live.undeclared.iter().all(|&n| n == 0));

    let bt = Backtest::new(vec![series("SYN", &bars)]).expect("backtest");
    let mut backtested = HourlyReader::default();
    bt.run(&mut backtested, &engine(None), None).expect("runs");
    assert_eq!(
        live.hourly, backtested.hourly,
        "the sim serves what a backtest does"
    );
    walle.close().await;
}
