//! Sweep throughput against a single backtest's, on the same data: sma-cross over synthetic
//! 1-minute bars through the Marvin sandbox. A single backtest is timed alone; then a sweep of
//! points runs as the server's sweep jobs run them (`greta::sweep::run`: rayon's pool over one
//! aligned data load and one compiled component, an instance per point), once on one thread
//! and once on every thread. Prints bars/s for each and the sweep's bars/s per core as a ratio
//! of the single backtest's (the goal: at least 0.9).
//!
//! Run: `scripts/build-strategies.sh && cargo bench --bench sweep`.
//! Env: `BENCH_BARS` (default 200000), `BENCH_POINTS` (default 8), `BENCH_RUNS` (default 3;
//! the median is printed).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use weaver::domain::{Strategy, StrategyConfig, StrategyError, SymbolBar};
use weaver::greta::broker::BrokerConfig;
use weaver::greta::{self, Backtest, Commission, EngineConfig, FillModel, Series};
use weaver::marvin::{Marvin, MarvinConfig};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(fast: u32, slow: u32) -> EngineConfig {
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
        warmup: None,
        params: vec![
            ("fast".into(), fast.to_string()),
            ("slow".into(), slow.to_string()),
        ],
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let bars = env("BENCH_BARS", 200_000);
    let points = env("BENCH_POINTS", 8);
    let runs = env("BENCH_RUNS", 3).max(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let wasm = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../strategies/dist/sma-cross.wasm"
    ));
    assert!(
        wasm.is_file(),
        "{} is missing: run scripts/build-strategies.sh",
        wasm.display()
    );
    let marvin = Marvin::new(MarvinConfig {
        cache_dir: dir.path().join("cache"),
        ..MarvinConfig::default()
    })
    .expect("marvin");
    let loaded = Arc::new(marvin.load_file(&wasm).expect("load sma-cross.wasm"));
    let factory = {
        let loaded = Arc::clone(&loaded);
        move |cfg: &StrategyConfig| -> Result<Box<dyn Strategy>, StrategyError> {
            Ok(Box::new(loaded.instantiate(cfg)?))
        }
    };
    let series = Series {
        symbol: "SYN".into(),
        path: "synth".into(),
        bars: greta::synth::generate(bars, 20_240_601)
            .into_iter()
            .map(|bar| SymbolBar { symbol: 0, bar })
            .collect(),
    };
    let bt = Backtest::new(vec![series]).expect("align");
    // The points: fast 8..=11 × slow 18..=21 around the single backtest's 10/20, so every
    // point does about the same work.
    let combos: Vec<Vec<(String, String)>> = (0..points)
        .map(|i| config(8 + (i % 4) as u32, 18 + ((i / 4) % 4) as u32).params)
        .collect();
    let base = config(10, 20);
    let threads = rayon::current_num_threads();
    println!("sweep bench: {bars} bars, {points} points, {threads} threads, median of {runs}");

    let single: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let mut s = factory(&bt.strategy_config(&base.params)).expect("instance");
            bt.run(s.as_mut(), &base, None).expect("run");
            bars as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    let single = median(single);
    println!("single backtest: {single:.0} bars/s");

    let sweep = |pool: &rayon::ThreadPool| -> f64 {
        median(
            (0..runs)
                .map(|_| {
                    let t = Instant::now();
                    let results = pool.install(|| greta::sweep::run(&bt, &base, &combos, &factory));
                    assert!(results.iter().all(Result::is_ok), "every point runs");
                    (bars * points) as f64 / t.elapsed().as_secs_f64()
                })
                .collect(),
        )
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let all = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let on_one = sweep(&one);
    let share_one = on_one / single;
    println!("sweep, 1 thread: {on_one:.0} bars/s ({share_one:.2} of the single backtest)");
    let on_all = sweep(&all);
    let per_core = on_all / threads as f64;
    let share_all = per_core / single;
    println!(
        "sweep, {threads} threads: {on_all:.0} bars/s, {per_core:.0} bars/s per core ({share_all:.2} of the single backtest)"
    );
    let verdict = if share_one >= 0.9 { "PASS" } else { "FAIL" };
    println!("per-core goal (1 thread >= 0.90 of a single backtest): {verdict}");
}
