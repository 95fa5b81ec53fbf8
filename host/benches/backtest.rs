//! Backtest throughput: sma-cross (10/20, cash 1,000,000, no commission — the reference
//! engine's semantics, `docs/adr/0005-reference-exact-fills.md`) over 100k and 1M synthetic 1-minute bars, whole run
//! (CSV parse + alignment + sandbox instantiation + simulation + metrics), through the Marvin
//! sandbox and with the same strategy compiled natively into the host.
//!
//! Run: `scripts/build-strategies.sh && cargo bench --bench backtest`.
//! Prints bars/s per case, the 1M/100k time ratio, and the sandbox's cost per bar.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use weaver::domain::Strategy;
use weaver::greta::broker::BrokerConfig;
use weaver::greta::{self, Backtest, Commission, EngineConfig, FillModel};
use weaver::marvin::{LoadedStrategy, Marvin, MarvinConfig};

const SEED: u64 = 20_240_601;
const RUNS: usize = 5;

fn config() -> EngineConfig {
    EngineConfig {
        fills: Default::default(),
        broker: BrokerConfig {
            cash: 1_000_000.0,
            commission: Commission::default(),
            slippage_bps: 0.0,
            fill: FillModel::NextOpen,
            fractional: false,
        },
        finalize: false,
        warmup: Some(19),
        params: vec![("fast".into(), "10".into()), ("slow".into(), "20".into())],
    }
}

/// One whole run; returns (elapsed, closed trades).
fn whole_run(csv: &Path, sandbox: Option<&LoadedStrategy>) -> (Duration, usize) {
    let cfg = config();
    let t = Instant::now();
    let series = greta::csv::load(csv, Some("SYN")).expect("load synthetic CSV");
    let bt = Backtest::new(vec![series]).expect("align");
    let scfg = bt.strategy_config(&cfg.params);
    let mut strategy: Box<dyn Strategy> = match sandbox {
        Some(loaded) => Box::new(
            loaded
                .instantiate(&scfg)
                .expect("instantiate sma-cross.wasm"),
        ),
        None => Box::new(greta::native::SmaCross::new(&scfg).expect("native sma-cross")),
    };
    let result = bt.run(strategy.as_mut(), &cfg, None).expect("run");
    let elapsed = t.elapsed();
    (elapsed, result.trades.len())
}

/// Times every strategy call, split by kind (diagnostics only).
struct Timed<'a> {
    inner: &'a mut dyn Strategy,
    events: (u64, Duration),
    batches: (u64, Duration, u64),
}

impl Strategy for Timed<'_> {
    fn on_event(
        &mut self,
        e: &weaver::domain::StrategyEvent,
    ) -> Result<Vec<weaver::domain::Intent>, weaver::domain::StrategyError> {
        let t = Instant::now();
        let r = self.inner.on_event(e);
        self.events.0 += 1;
        self.events.1 += t.elapsed();
        r
    }

    fn on_bars(
        &mut self,
        meta: &weaver::domain::EventMeta,
        bars: &[weaver::domain::SymbolBar],
    ) -> Result<weaver::domain::BatchOutcome, weaver::domain::StrategyError> {
        let t = Instant::now();
        let r = self.inner.on_bars(meta, bars);
        self.batches.0 += 1;
        self.batches.1 += t.elapsed();
        self.batches.2 += bars.len() as u64;
        r
    }
}

/// Where the time of one run goes.
fn breakdown(csv: &Path, sandbox: Option<&LoadedStrategy>, label: &str) {
    let cfg = config();
    let t0 = Instant::now();
    let series = greta::csv::load(csv, Some("SYN")).expect("load");
    let t1 = Instant::now();
    let bt = Backtest::new(vec![series]).expect("align");
    let t2 = Instant::now();
    let scfg = bt.strategy_config(&cfg.params);
    let mut strategy: Box<dyn Strategy> = match sandbox {
        Some(loaded) => Box::new(loaded.instantiate(&scfg).expect("instantiate")),
        None => Box::new(greta::native::SmaCross::new(&scfg).expect("native")),
    };
    let t3 = Instant::now();
    let mut timed = Timed {
        inner: strategy.as_mut(),
        events: (0, Duration::ZERO),
        batches: (0, Duration::ZERO, 0),
    };
    let r = bt.run(&mut timed, &cfg, None).expect("run");
    let t4 = Instant::now();
    let _ = greta::metrics::compute(&greta::metrics::Inputs {
        equity: &r.equity,
        ts: &r.ts,
        close: &r.equity,
        trades: &r.trades,
        warmup: 19,
    });
    let metrics_ms = t4.elapsed().as_secs_f64() * 1e3;
    let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
    println!(
        "  {label}: csv {:.1} ms, align {:.1} ms, instantiate {:.1} ms, run+metrics {:.1} ms \
         (events {} in {:.1} ms, batches {} of {} bars offered in {:.1} ms; {} trades; metrics alone {:.1} ms)",
        ms(t0, t1),
        ms(t1, t2),
        ms(t2, t3),
        ms(t3, t4),
        timed.events.0,
        timed.events.1.as_secs_f64() * 1e3,
        timed.batches.0,
        timed.batches.2,
        timed.batches.1.as_secs_f64() * 1e3,
        r.trades.len(),
        metrics_ms
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wasm = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../strategies/dist/sma-cross.wasm"
    ));
    assert!(
        wasm.is_file(),
        "{} is missing: run scripts/build-strategies.sh first",
        wasm.display()
    );
    let marvin = Marvin::new(MarvinConfig {
        cache_dir: dir.path().join("cache"),
        ..MarvinConfig::default()
    })
    .expect("marvin");
    let t = Instant::now();
    let loaded = marvin.load_file(&wasm).expect("load sma-cross.wasm");
    println!(
        "sandbox: loaded and compiled sma-cross.wasm in {:.3} s (once, cached afterwards)",
        t.elapsed().as_secs_f64()
    );

    let mut files = Vec::new();
    for n in [100_000usize, 1_000_000] {
        let path = dir.path().join(format!("syn-{n}.csv"));
        let bars = greta::synth::generate(n, SEED);
        greta::synth::write_csv(&bars, std::fs::File::create(&path).expect("create CSV"))
            .expect("write CSV");
        files.push((n, path));
    }

    println!(
        "{:<8} {:>9} {:>10} {:>14} {:>9} {:>8}",
        "engine", "bars", "median s", "bars/s", "µs/bar", "trades"
    );
    let mut medians = std::collections::HashMap::new();
    for (label, sandbox) in [("wasm", Some(&loaded)), ("native", None)] {
        for (n, path) in &files {
            let _ = whole_run(path, sandbox); // warm the page cache and allocator
            let mut times = Vec::with_capacity(RUNS);
            let mut trades = 0;
            for _ in 0..RUNS {
                let (d, t) = whole_run(path, sandbox);
                times.push(d);
                trades = t;
            }
            let m = median(times);
            let s = m.as_secs_f64();
            println!(
                "{label:<8} {n:>9} {s:>10.4} {:>14.0} {:>9.3} {trades:>8}",
                *n as f64 / s,
                s * 1e6 / *n as f64
            );
            medians.insert((label, *n), s);
        }
    }
    for label in ["wasm", "native"] {
        let ratio = medians[&(label, 1_000_000)] / medians[&(label, 100_000)];
        println!("{label}: 1M run takes {ratio:.2}x the 100k run (goal <= 10.5x)");
    }
    println!("breakdown (one run each, timers add a little overhead):");
    for (n, path) in &files {
        for _ in 0..2 {
            breakdown(path, Some(&loaded), &format!("wasm {n}"));
            breakdown(path, None, &format!("native {n}"));
        }
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            let s = greta::csv::load(path, None).expect("load");
            best = best.min(t.elapsed());
            drop(s);
        }
        println!(
            "  csv load alone, best of 5: {n} bars in {:.1} ms",
            best.as_secs_f64() * 1e3
        );
    }
    // What a user sees: `weaver backtest` in a fresh process (start-up, component load from the
    // compile cache, CSV, run, metrics, summary).
    // The shared target dir's binary can be replaced by a concurrent build of another branch;
    // WEAVER_BENCH_EXE points at a copy taken right after building.
    let exe = std::env::var("WEAVER_BENCH_EXE")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_weaver").to_owned());
    println!("CLI, fresh process per run ({exe}):");
    let mut cli_medians = std::collections::HashMap::new();
    for (label, strategy) in [
        ("wasm", wasm.to_string_lossy().into_owned()),
        ("native", "native:sma-cross".to_owned()),
    ] {
        for (n, path) in &files {
            let mut times = Vec::with_capacity(RUNS);
            for _ in 0..RUNS {
                let t = Instant::now();
                let out = std::process::Command::new(&exe)
                    .args([
                        "backtest",
                        "--strategy",
                        &strategy,
                        "--cash",
                        "1000000",
                        "--commission",
                        "0",
                        "--warmup",
                        "19",
                    ])
                    .arg("--data")
                    .arg(path)
                    .arg("--cache-dir")
                    .arg(dir.path().join("cache"))
                    .output()
                    .expect("spawn weaver");
                times.push(t.elapsed());
                assert!(
                    out.status.success(),
                    "weaver backtest failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let s = median(times).as_secs_f64();
            println!(
                "  {label:<8} {n:>9} {s:>10.4} s {:>14.0} bars/s",
                *n as f64 / s
            );
            cli_medians.insert((label, *n), s);
        }
        let ratio = cli_medians[&(label, 1_000_000)] / cli_medians[&(label, 100_000)];
        println!("  {label}: 1M CLI run takes {ratio:.2}x the 100k CLI run");
    }
    let cost = (medians[&("wasm", 1_000_000)] - medians[&("native", 1_000_000)]) * 1e6 / 1e6;
    println!("sandbox cost at 1M: {cost:.3} µs/bar over native");
    println!(
        "goal: >= 2,000,000 bars/s for the whole 1M wasm run: {}",
        if 1e6 / medians[&("wasm", 1_000_000)] >= 2e6 {
            "met"
        } else {
            "NOT met"
        }
    );
}
