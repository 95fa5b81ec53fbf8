//! The hostile-guest corpus, continued (cases 18–24, issue #22): every budget is per sandbox,
//! deterministic, and bounded at compile time too. Each case sits beside a healthy sma-cross
//! run whose orders must not change.
//!
//! - 18: memory is capped across every memory a guest declares or grows, and the peak reported
//!   is the total;
//! - 19: tables likewise;
//! - 20: what the host builds for a guest (data windows, queued deliveries, log lines, intents)
//!   is counted against its host budget, and the backtester builds windows lazily;
//! - 21: fuel decides, the deadline is only a safety net: near-limit guests end the same way on
//!   an idle machine and with every core busy;
//! - 22: compiling runs in a child under CPU-time, wall-clock and address-space limits, several
//!   at once, and a compile bomb holds up other uploads by at most one slot;
//! - 23: exports with the world's names but other types are refused at load;
//! - 24: a run may ask for more fuel or memory within the operator's ceilings, and its figures
//!   show the limits in force.

use weaver::marvin::{CompileLimits, Error, Limits, Marvin, MarvinConfig};

use super::hostile::Neighbour;
use super::wat::{componentize, componentize_against, core_guest, core_guest_with};
use super::{config, marvin};

/// Loads a hand-written guest and returns why its instantiation failed.
fn instantiate_err(marvin: &Marvin, core_wat: &str) -> Error {
    marvin
        .load(&componentize(core_wat))
        .expect("a hand-written component loads")
        .instantiate(&config(&[], &["GOOG"]))
        .expect_err("must be refused")
}

/// `count` module fields made by `field(i)` for i = 1..=count.
fn fields(count: usize, field: impl Fn(usize) -> String) -> String {
    (1..=count).map(field).collect::<Vec<_>>().join(" ")
}

#[test]
fn case_18_memory_is_capped_across_every_memory_of_a_sandbox() {
    let cap = Limits::default().max_memory_bytes;
    assert_eq!(cap, 32 << 20);
    let (marvin, _dir) = marvin();
    let neighbour = Neighbour::start(&marvin);
    // Fifteen more memories of 25 MiB each (multi-memory): each alone is under the cap, together
    // they are twelve times it.
    let declared = fields(15, |i| format!("(memory $m{i} 400)"));
    let err = instantiate_err(&marvin, &core_guest("", &declared));
    assert_eq!(err.code(), "strategy_memory_limit", "{err}");
    assert!(err.to_string().contains("all memories together"), "{err}");
    // The same reached by growing small memories in `init`.
    let small = fields(15, |i| format!("(memory $m{i} 1)"));
    let grow = fields(15, |i| {
        format!("(drop (memory.grow $m{i} (i32.const 400)))")
    });
    let err = instantiate_err(&marvin, &core_guest(&grow, &small));
    assert_eq!(err.code(), "strategy_memory_limit", "{err}");
    // A guest under the cap reports the total of its memories as its peak: three 2 MiB ones
    // beside the 64 KiB main memory.
    let three = fields(3, |i| format!("(memory $m{i} 32)"));
    let sandbox = marvin
        .load(&componentize(&core_guest("", &three)))
        .expect("loads")
        .instantiate(&config(&[], &["GOOG"]))
        .expect("under the cap");
    let peak = sandbox.stats().peak_memory_bytes;
    assert!(
        (3 * (2 << 20) + 65_536..=cap).contains(&peak),
        "peak {peak} must be the total of every memory"
    );
    neighbour.finish();
}

#[test]
fn case_19_table_elements_are_capped_across_every_table_of_a_sandbox() {
    let cap = Limits::default().max_table_elements;
    assert_eq!(cap, 100_000);
    let (marvin, _dir) = marvin();
    let neighbour = Neighbour::start(&marvin);
    // Six tables of 20,000 elements: each under the cap, 120,000 together.
    let declared = fields(6, |i| format!("(table $t{i} 20000 funcref)"));
    let err = instantiate_err(&marvin, &core_guest("", &declared));
    assert_eq!(err.code(), "strategy_memory_limit", "{err}");
    assert!(err.to_string().contains("all tables together"), "{err}");
    // Two tables grown to 60,000 each.
    let small = fields(2, |i| format!("(table $t{i} 1 funcref)"));
    let grow = fields(2, |i| {
        format!("(drop (table.grow $t{i} (ref.null func) (i32.const 60000)))")
    });
    let err = instantiate_err(&marvin, &core_guest(&grow, &small));
    assert_eq!(err.code(), "strategy_memory_limit", "{err}");
    // Under the cap together, it runs.
    let fine = fields(2, |i| format!("(table $t{i} 20000 funcref)"));
    marvin
        .load(&componentize(&core_guest("", &fine)))
        .expect("loads")
        .instantiate(&config(&[], &["GOOG"]))
        .expect("40,000 elements in all is under the cap");
    neighbour.finish();
}

/// `wit/v0.2/strategy.wit` (the contract the hand-written guests implement) with `from`
/// replaced by `to`.
fn altered_wit(from: &str, to: &str) -> String {
    let wit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../wit/v0.2/strategy.wit"
    ))
    .expect("wit/v0.2/strategy.wit");
    assert!(wit.contains(from), "{from} not in the WIT");
    wit.replace(from, to)
}

#[test]
fn case_23_exports_with_the_right_names_but_wrong_types_are_refused_at_load() {
    let (marvin, dir) = marvin();
    let neighbour = Neighbour::start(&marvin);
    let on_bars = "on-bars: func(bars: bar-batch) -> result<batch-reply, strategy-error>;";
    let init = "init: func(config: config) -> result<subscriptions, strategy-error>;";
    let on_event = "on-event: func(event: envelope) -> result<list<intent>, strategy-error>;";
    let cases = [
        (
            "on-bars",
            altered_wit(
                on_bars,
                "on-bars: func(bars: list<u8>) -> result<batch-reply, strategy-error>;",
            ),
            "(param i32 i32) (result i32)",
        ),
        (
            "init",
            altered_wit(
                init,
                "init: func(config: config) -> result<u32, strategy-error>;",
            ),
            "(param i32 i32 i32 i32 i32 i32) (result i32)",
        ),
        (
            "on-event",
            altered_wit(
                on_event,
                "on-event: func(event: envelope) -> result<list<string>, strategy-error>;",
            ),
            "(param i32 i32 i32 i32 i32 i32) (result i32)",
        ),
    ];
    for (function, wit, on_bars_sig) in cases {
        let bytes = componentize_against(&core_guest_with("", "", on_bars_sig), &wit);
        let err = marvin.load(&bytes).expect_err(function);
        eprintln!("case 23: {err}");
        assert_eq!(err.code(), "unsupported_world", "{function}: {err}");
        assert!(
            err.to_string().contains(&format!("function `{function}`")),
            "names the function: {err}"
        );
    }
    // A mistyped import is refused too, naming the import.
    let mistyped_import = r#"(component
        (import "wasi:cli/stdout@0.2.0" (instance (export "get-stdout" (func (result u32)))))
        (instance $i) (export "weaver:strategy/guest@0.2.0" (instance $i)))"#;
    let err = marvin
        .load(&wat::parse_str(mistyped_import).expect("wat"))
        .expect_err("mistyped import");
    eprintln!("case 23: {err}");
    assert_eq!(err.code(), "unsupported_world", "{err}");
    assert!(err.to_string().contains("get-stdout"), "{err}");
    // Nothing refused was cached; the well-typed original still loads and runs.
    assert_eq!(
        std::fs::read_dir(dir.path().join("compiled"))
            .expect("cache")
            .count(),
        1,
        "only the neighbour's component is cached"
    );
    marvin
        .load(&componentize(&core_guest("", "")))
        .expect("the well-typed guest loads")
        .instantiate(&config(&[], &["GOOG"]))
        .expect("and runs");
    neighbour.finish();
}

/// What one call of a near-limit run came to: fuel and intents, or the failure's code and the
/// fuel of the failing call.
type CallOutcome = Result<(u64, usize), (String, u64)>;

/// Runs the near-limit `mode` with `iters` steps per bar, one `bars` event per entry of
/// `events` (that many bars at one timestamp, so one call with `fuel_per_event + n ×
/// fuel_per_bar` fuel); stops at the first failure. Adds the time spent in the calls to `took`.
fn near_limit_run(
    loaded: &weaver::marvin::LoadedStrategy,
    mode: &str,
    iters: u64,
    events: &[usize],
    took: &mut std::time::Duration,
) -> Vec<CallOutcome> {
    use weaver::domain::{Strategy, StrategyEvent, StrategyPayload};
    let iters = iters.to_string();
    let mut sandbox = loaded
        .instantiate(&config(
            &[("mode", mode), ("iters", &iters), ("kib", CHASE_KIB)],
            &["GOOG"],
        ))
        .expect("init");
    let bar = super::ohlcv("GOOG")[0];
    let mut out = Vec::new();
    for (i, &n) in events.iter().enumerate() {
        let event = StrategyEvent {
            meta: super::meta(i as i64),
            payload: StrategyPayload::Bars(vec![bar; n]),
        };
        let started = std::time::Instant::now();
        let result = sandbox.on_event(&event);
        *took += started.elapsed();
        match result {
            Ok(intents) => out.push(Ok((sandbox.stats().fuel_last, intents.len()))),
            Err(e) => {
                out.push(Err((e.code, sandbox.stats().fuel_last)));
                break;
            }
        }
    }
    out
}

/// The chase's working set: a 16 MiB random cycle, half the light tier's memory.
const CHASE_KIB: &str = "16384";

/// Steps per bar that make `mode` cost `fraction` of `fuel_per_bar` per bar (measured: the fuel
/// of one step is deterministic).
fn calibrate(loaded: &weaver::marvin::LoadedStrategy, mode: &str, fraction: f64) -> u64 {
    let fuel = |iters| match near_limit_run(loaded, mode, iters, &[1], &mut Default::default())[0] {
        Ok((fuel, _)) => fuel,
        Err(ref e) => panic!("calibration run failed: {e:?}"),
    };
    let per_step = (fuel(100_000) - fuel(0)) as f64 / 100_000.0;
    (Limits::default().fuel_per_bar as f64 * fraction / per_step) as u64
}

/// Threads spinning on every core until dropped.
struct Busy(
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    Vec<std::thread::JoinHandle<()>>,
);

impl Busy {
    fn start() -> Busy {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..2 * cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                })
            })
            .collect();
        Busy(stop, threads)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.1.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn case_21_fuel_decides_the_same_outcome_on_an_idle_and_a_busy_machine() {
    let limits = Limits::default();
    let (marvin, _dir) = marvin();
    let neighbour = Neighbour::start(&marvin);
    let loaded = super::hostile::hostile(&marvin);
    // Arithmetic (the fastest wall time per unit of fuel) and a pointer chase with a cache miss
    // per step (the slowest), at 90 % of the per-bar fuel and over it. The runs over it pass a
    // first event and run out in the second: arithmetic at 110 % with 100 then 480 bars (110 M
    // of 120 M, then 528 M of 500 M), the chase at 125 % with 20 then 120 (25 M of 40 M, then
    // 150 M of 140 M).
    let mut runs = Vec::new();
    for (mode, over, events) in [("burn", 1.1, [100, 480]), ("chase", 1.25, [20, 120])] {
        runs.push((mode, calibrate(&loaded, mode, 0.9), events, true));
        runs.push((mode, calibrate(&loaded, mode, over), events, false));
    }
    let play = |label: &str| {
        runs.iter()
            .map(|&(mode, iters, events, within)| {
                let mut took = std::time::Duration::ZERO;
                let outcome = near_limit_run(&loaded, mode, iters, &events, &mut took);
                let fuel: u64 = outcome
                    .iter()
                    .map(|o| match o {
                        Ok((f, _)) | Err((_, f)) => *f,
                    })
                    .sum();
                eprintln!(
                    "case 21 ({label}): {mode} {} its fuel: {outcome:?}, {fuel} fuel in {took:?} ({:.1} ns per unit; deadline of the largest call {:?})",
                    if within { "within" } else { "over" },
                    took.as_nanos() as f64 / fuel as f64,
                    limits.deadline(limits.budget(events[1] as u64)),
                );
                outcome
            })
            .collect::<Vec<_>>()
    };
    let idle = play("idle");
    let busy = {
        let _busy = Busy::start();
        play("every core busy")
    };
    assert_eq!(
        idle, busy,
        "the outcomes must not depend on the machine's load"
    );
    for (outcome, &(mode, _, _, within)) in idle.iter().zip(&runs) {
        if within {
            assert!(
                outcome.len() == 2 && outcome.iter().all(Result::is_ok),
                "{mode} within its fuel must finish: {outcome:?}"
            );
        } else {
            let budget = limits.budget(if mode == "burn" { 480 } else { 120 });
            assert_eq!(
                outcome.as_slice()[1..],
                [Err(("strategy_fuel_exhausted".to_owned(), budget))],
                "{mode} over its fuel must run out in the second call: {outcome:?}"
            );
        }
    }
    neighbour.finish();
}

/// A Marvin compiling in child processes of the test's `weaver` binary under `compile`.
fn marvin_compiling_apart(compile: CompileLimits) -> (Marvin, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let marvin = Marvin::new(MarvinConfig {
        cache_dir: dir.path().join("compiled"),
        compiler: Some(env!("CARGO_BIN_EXE_weaver").into()),
        compile,
        ..MarvinConfig::default()
    })
    .expect("marvin");
    (marvin, dir)
}

fn cached(dir: &tempfile::TempDir) -> usize {
    std::fs::read_dir(dir.path().join("compiled"))
        .expect("cache")
        .count()
}

#[test]
fn case_22_compile_bombs_hit_the_child_limits_without_holding_up_other_uploads() {
    use std::time::{Duration, Instant};
    let bomb = super::wat::compile_bomb();
    let sma = crate::support::dist_bytes("sma-cross.wasm");
    // Time: the bomb needs tens of seconds of CPU; the limit here is 2 s.
    let cpu_time = Duration::from_secs(2);
    for slots in [2, 1] {
        let (marvin, dir) = marvin_compiling_apart(CompileLimits {
            slots,
            cpu_time,
            ..CompileLimits::default()
        });
        let neighbour = Neighbour::start(&marvin);
        let started = Instant::now();
        let bombing = std::thread::spawn({
            let marvin = marvin.clone();
            let bomb = bomb.clone();
            move || (marvin.load(&bomb).map(drop), started.elapsed())
        });
        // Once the bomb holds its slot (not after a guessed pause: on a loaded machine the
        // bomb's thread may not have reached it yet), upload something else beside it.
        while marvin.compiles_running() == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the bomb never took a compile slot"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let other = Instant::now();
        marvin
            .load(&componentize(&core_guest("(nop)", "")))
            .expect("an ordinary upload compiles");
        let waited = other.elapsed();
        let bomb_still_compiling = !bombing.is_finished();
        let (bombed, bomb_took) = bombing.join().expect("bomb thread");
        let err = bombed.expect_err("the bomb runs out of CPU time");
        eprintln!(
            "case 22 ({slots} slots): bomb refused after {bomb_took:?} ({err}); the other upload took {waited:?}"
        );
        assert_eq!(err.code(), "compile_limit_exceeded", "{err}");
        assert!(err.to_string().contains("CPU time"), "{err}");
        assert!(bomb_took >= cpu_time / 2, "{bomb_took:?}");
        // Wall-clock comparisons only between the two uploads: the bomb's 2 s are CPU time,
        // which a loaded machine stretches.
        if slots > 1 {
            assert!(
                bomb_still_compiling,
                "with a free slot the other upload does not wait for the bomb: it took {waited:?}, the bomb {bomb_took:?}"
            );
        } else {
            assert!(
                !bomb_still_compiling,
                "with one slot the other upload waits for the bomb's slot: it took {waited:?}, the bomb {bomb_took:?}"
            );
        }
        // The neighbour's and the ordinary upload's artifacts, not the bomb's.
        assert_eq!(cached(&dir), 2);
        neighbour.finish();
    }
    // The wall-clock backstop, for a child that is stuck rather than computing.
    let (marvin, dir) = marvin_compiling_apart(CompileLimits {
        timeout: Duration::from_secs(1),
        ..CompileLimits::default()
    });
    let err = marvin
        .load(&bomb)
        .map(drop)
        .expect_err("past the wall clock");
    assert_eq!(err.code(), "compile_limit_exceeded", "{err}");
    assert!(err.to_string().contains("wall-clock"), "{err}");
    assert_eq!(cached(&dir), 0);
    // Address space: the bomb needs over 192 MiB of it, a Rust strategy under 96 MiB.
    let (marvin, dir) = marvin_compiling_apart(CompileLimits {
        max_address_space: 160 << 20,
        ..CompileLimits::default()
    });
    let started = Instant::now();
    let err = marvin
        .load(&bomb)
        .map(drop)
        .expect_err("out of address space");
    eprintln!(
        "case 22: bomb under 160 MiB refused after {:?} ({err})",
        started.elapsed()
    );
    assert_eq!(err.code(), "compile_limit_exceeded", "{err}");
    assert!(err.to_string().contains("address-space"), "{err}");
    marvin
        .load(&sma)
        .expect("sma-cross compiles within 160 MiB");
    assert_eq!(cached(&dir), 1);
}

/// `n` daily bars of one symbol, a gentle zigzag.
fn synthetic(symbol: &str, n: usize) -> weaver::greta::csv::Series {
    use weaver::domain::{Bar, SymbolBar};
    weaver::greta::csv::Series {
        symbol: symbol.into(),
        path: "mem".into(),
        bars: (0..n)
            .map(|i| {
                let p = 100.0 + (i % 50) as f64;
                SymbolBar {
                    symbol: 0,
                    bar: Bar {
                        ts: i as i64 * 86_400_000,
                        open: p,
                        high: p + 1.0,
                        low: p - 1.0,
                        close: p,
                        volume: 1.0,
                    },
                }
            })
            .collect(),
    }
}

fn engine_config() -> weaver::greta::EngineConfig {
    weaver::greta::EngineConfig {
        fills: Default::default(),
        broker: weaver::greta::broker::BrokerConfig {
            cash: 10_000.0,
            commission: weaver::greta::Commission::default(),
            slippage_bps: 0.0,
            fill: weaver::greta::FillModel::NextOpen,
            fractional: false,
        },
        finalize: false,
        warmup: Some(0),
        params: vec![],
    }
}

/// Runs the hostile guest with `params` over `bt`; the error code, if the run failed.
fn backtest_code(
    marvin: &Marvin,
    bt: &weaver::greta::Backtest,
    params: &[(&str, &str)],
) -> Option<String> {
    let loaded = super::hostile::hostile(marvin);
    let mut cfg = engine_config();
    cfg.params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut sandbox = loaded
        .instantiate(&bt.strategy_config(&cfg.params))
        .expect("init");
    bt.run(&mut sandbox, &cfg, None).err().map(|e| match e {
        weaver::greta::Error::Strategy(e) => e.code,
        other => other.code().to_owned(),
    })
}

/// Peak resident set size of this process since the last reset (Linux `VmHWM`).
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .expect("VmHWM")
        * 1024
}

/// A native strategy asking for `count` windows of `lookback` bars on bar `at` (1-based).
struct WindowHog {
    count: usize,
    lookback: u32,
    at: usize,
    seen: usize,
    windows: usize,
}

impl weaver::domain::Strategy for WindowHog {
    fn on_event(
        &mut self,
        event: &weaver::domain::StrategyEvent,
    ) -> Result<Vec<weaver::domain::Intent>, weaver::domain::StrategyError> {
        use weaver::domain::{Intent, StrategyPayload, Timeframe};
        match &event.payload {
            StrategyPayload::Bars(bars) => {
                self.seen += bars.len();
                if self.seen == self.at {
                    let ask = Intent::FetchWindow {
                        symbol: "SYN".into(),
                        timeframe: Timeframe::DAY,
                        lookback: self.lookback,
                    };
                    return Ok(vec![ask; self.count]);
                }
            }
            StrategyPayload::DataWindow { bars, .. } => {
                assert_eq!(bars.len(), self.lookback as usize);
                self.windows += 1;
            }
            _ => {}
        }
        Ok(Vec::new())
    }
}

#[test]
fn case_20_what_the_host_builds_for_a_guest_is_counted_against_its_host_budget() {
    let limits = Limits::default();
    assert_eq!(limits.max_host_bytes, 64 << 20);
    let (marvin, _dir) = marvin();
    let neighbour = Neighbour::start(&marvin);
    // One reply asking for a thousand windows of 100,000 bars (4.8 GB were the host to build
    // them): refused before any engine sees it, and the sandbox is done.
    let (err, mut sandbox, _) = super::hostile::provoke_with(
        &super::hostile::hostile(&marvin),
        "windows",
        &[("count", "1000"), ("lookback", "100000")],
    );
    assert_eq!(err.code, "strategy_host_budget_exceeded", "{err}");
    assert!(err.message.contains("1000 of them data windows"), "{err}");
    super::hostile::assert_poisoned(&mut sandbox, "strategy_host_budget_exceeded");
    // Through a backtest: a guest that answers every window by asking another is stopped when
    // the windows of one bar's cascade pass the budget (the fourteenth of 4.8 MB), not after
    // ten thousand events; one asking for ten windows of 10,000 bars (4.8 MB) runs to the end.
    let bt = weaver::greta::Backtest::new(vec![synthetic("SYN", 20_000)]).expect("series");
    let chain = [
        ("mode", "windows"),
        ("lookback", "100000"),
        ("again", "1"),
        ("signal", "15000"),
    ];
    assert_eq!(
        backtest_code(&marvin, &bt, &chain).as_deref(),
        Some("strategy_host_budget_exceeded")
    );
    let fine = [
        ("mode", "windows"),
        ("count", "10"),
        ("lookback", "10000"),
        ("signal", "15000"),
    ];
    assert_eq!(backtest_code(&marvin, &bt, &fine), None);
    // The backtester builds a window when it delivers it, not when it is asked for: a thousand
    // windows of 10,000 bars (480 MB all at once) keep the peak RSS far below that.
    let mut hog = WindowHog {
        count: 1_000,
        lookback: 10_000,
        at: 15_000,
        seen: 0,
        windows: 0,
    };
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = peak_rss();
    bt.run(&mut hog, &engine_config(), None).expect("runs");
    let grown = peak_rss().saturating_sub(before);
    eprintln!("case 20: 1,000 windows of 10,000 bars delivered; peak RSS grew {grown} bytes");
    assert_eq!(hog.windows, 1_000);
    assert!(
        grown < 200 << 20,
        "windows were built all at once: +{grown} bytes"
    );
    neighbour.finish();
}

#[test]
fn case_24_a_run_may_ask_for_more_fuel_or_memory_within_the_operators_ceilings() {
    use weaver::domain::{Strategy, StrategyEvent, StrategyPayload};
    use weaver::marvin::LimitRequest;
    let (marvin, _dir) = marvin();
    let neighbour = Neighbour::start(&marvin);
    let loaded = super::hostile::hostile(&marvin);
    let tier = Limits::default();
    // A bar costing 50 M fuel: over the light tier's 21 M for one bar, within 100 M.
    let iters = calibrate(&loaded, "burn", 50.0).to_string();
    let bar = super::ohlcv("GOOG")[0];
    let one_bar = StrategyEvent {
        meta: super::meta(0),
        payload: StrategyPayload::Bars(vec![bar]),
    };
    let burn = config(&[("mode", "burn"), ("iters", &iters)], &["GOOG"]);
    let mut sandbox = loaded.instantiate(&burn).expect("init");
    assert_eq!(sandbox.stats().limits, tier);
    let err = sandbox
        .on_event(&one_bar)
        .expect_err("over the tier's fuel");
    assert_eq!(err.code, "strategy_fuel_exhausted");
    let more_fuel = LimitRequest {
        fuel_per_event: Some(100_000_000),
        ..LimitRequest::default()
    };
    let mut sandbox = loaded.instantiate_with(&burn, &more_fuel).expect("init");
    sandbox
        .on_event(&one_bar)
        .expect("within the fuel asked for");
    let stats = sandbox.stats();
    assert_eq!(
        stats.limits.fuel_per_event, 100_000_000,
        "figures show the limits in force"
    );
    assert!(stats.fuel_last > 40_000_000, "{}", stats.fuel_last);
    // Memory: the bomb stops at 32 MiB in the tier, at 96 MiB when the run asks for it.
    let more_memory = LimitRequest {
        max_memory_bytes: Some(96 << 20),
        ..LimitRequest::default()
    };
    for (request, cap) in [
        (LimitRequest::default(), tier.max_memory_bytes),
        (more_memory, 96 << 20),
    ] {
        let mut sandbox = loaded
            .instantiate_with(&config(&[("mode", "grow")], &["GOOG"]), &request)
            .expect("init");
        let err = sandbox.on_event(&one_bar).expect_err("the bomb is stopped");
        assert_eq!(err.code, "strategy_memory_limit", "{err}");
        let stats = sandbox.stats();
        assert_eq!(stats.limits.max_memory_bytes, cap);
        assert!(
            stats.peak_memory_bytes <= cap && stats.peak_memory_bytes > cap - (2 << 20),
            "peak {} should reach the cap {cap}",
            stats.peak_memory_bytes
        );
    }
    // Above the operator's ceiling, or zero: refused, naming the setting.
    let greedy = LimitRequest {
        fuel_per_event: Some(3_000_000_000),
        ..LimitRequest::default()
    };
    let err = loaded
        .instantiate_with(&burn, &greedy)
        .expect_err("above the ceiling");
    assert_eq!(err.code(), "limit_not_allowed");
    assert!(
        err.to_string().contains("WEAVER_MAX_FUEL_PER_EVENT"),
        "{err}"
    );
    // An operator who allows at most 48 MiB: 64 MiB is refused.
    let dir = tempfile::tempdir().expect("tmp");
    let strict = Marvin::new(MarvinConfig {
        cache_dir: dir.path().join("compiled"),
        ..MarvinConfig::from_lookup(|name| {
            (name == "WEAVER_MAX_MEMORY_MB").then(|| "48".to_owned())
        })
        .expect("valid settings")
    })
    .expect("marvin");
    let request = LimitRequest {
        max_memory_bytes: Some(64 << 20),
        ..LimitRequest::default()
    };
    let err = super::hostile::hostile(&strict)
        .limits_for(&request)
        .expect_err("above 48 MiB");
    assert!(err.to_string().contains("WEAVER_MAX_MEMORY_MB"), "{err}");
    neighbour.finish();
}
