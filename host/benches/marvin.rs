//! Marvin figures for the example strategies: compile time, cached load time, instantiate time,
//! and the per-event / per-bar cost of guest calls with fuel and epochs on.
//!
//! Run with `cargo bench -p weaver --bench marvin` after `scripts/build-strategies.sh`.
//! Prints one table; not a pass/fail test (targets: sma-cross ≤ 1 µs per bar event, cached
//! load ≤ 20 ms).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use weaver::domain::{
    Bar, EventKind, EventMeta, Strategy, StrategyConfig, StrategyEvent, StrategyPayload, SymbolBar,
    Timeframe,
};
use weaver::marvin::{Marvin, MarvinConfig};

fn meta() -> EventMeta {
    EventMeta {
        id: "evt-0001".into(),
        kind: EventKind::Evt,
        event_type: "market.Bar".into(),
        version: 1,
        run_id: "run-bench".into(),
        corr_id: "corr-bench".into(),
        causation_id: None,
        trace_id: None,
        ts: 0,
        producer: "bench".into(),
        headers: vec![],
    }
}

/// A deterministic random walk, so crossovers happen at a realistic rate.
fn walk(n: usize) -> Vec<SymbolBar> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut price = 100.0f64;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let step = ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0;
            price = (price + step).max(1.0);
            let bar = Bar {
                ts: i as i64 * 60_000,
                open: price,
                high: price + 0.5,
                low: price - 0.5,
                close: price,
                volume: 1000.0,
            };
            SymbolBar { symbol: 0, bar }
        })
        .collect()
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn marvin_in(dir: &std::path::Path) -> Marvin {
    Marvin::new(MarvinConfig {
        cache_dir: dir.join("compiled"),
        ..MarvinConfig::default()
    })
    .expect("marvin")
}

fn main() {
    let dist = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../strategies/dist"));
    let mut names: Vec<String> = std::fs::read_dir(&dist)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-strategies.sh", dist.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wasm"))
        .collect();
    names.sort();
    assert!(
        !names.is_empty(),
        "no strategies in {}; run scripts/build-strategies.sh",
        dist.display()
    );
    let bars = walk(1_000_000);
    let quiet: Vec<SymbolBar> = bars
        .iter()
        .map(|b| SymbolBar {
            bar: Bar {
                close: 100.0,
                ..b.bar
            },
            ..*b
        })
        .collect();
    println!(
        "{:<18} {:>6} {:>9} {:>8} {:>11} {:>11} {:>11} {:>8} {:>8} {:>11} {:>10} {:>11}",
        "strategy",
        "size",
        "compile",
        "cached",
        "instantiate",
        "on_event/ev",
        "on_bars/bar",
        "calls",
        "fuel/bar",
        "quiet/bar",
        "quiet fuel",
        "call(1 bar)"
    );
    for name in names {
        let bytes = std::fs::read(dist.join(&name)).expect("read");
        let compile = median(
            (0..3)
                .map(|_| {
                    let dir = tempfile::tempdir().expect("tmp");
                    let marvin = marvin_in(dir.path());
                    let t = Instant::now();
                    let loaded = marvin.load(&bytes).expect("load");
                    assert!(!loaded.from_cache());
                    t.elapsed()
                })
                .collect(),
        );
        let dir = tempfile::tempdir().expect("tmp");
        let marvin = marvin_in(dir.path());
        marvin.load(&bytes).expect("warm cache");
        let cached = median(
            (0..10)
                .map(|_| {
                    let t = Instant::now();
                    let loaded = marvin.load(&bytes).expect("load");
                    assert!(loaded.from_cache());
                    t.elapsed()
                })
                .collect(),
        );
        let loaded = marvin.load(&bytes).expect("load");
        let config = StrategyConfig {
            params: vec![],
            symbols: vec!["SYM".into()],
            timeframe: Timeframe::MINUTE,
        };
        let instantiate = median(
            (0..200)
                .map(|_| {
                    let t = Instant::now();
                    let sandbox = loaded.instantiate(&config).expect("instantiate");
                    let d = t.elapsed();
                    drop(sandbox);
                    d
                })
                .collect(),
        );
        // One bar per envelope, the general path.
        let mut sandbox = loaded.instantiate(&config).expect("instantiate");
        let events = 200_000;
        let t = Instant::now();
        for bar in &bars[..events] {
            let event = StrategyEvent {
                meta: EventMeta {
                    ts: bar.bar.ts,
                    ..meta()
                },
                payload: StrategyPayload::Bars(vec![*bar]),
            };
            std::hint::black_box(sandbox.on_event(&event).expect("on_event"));
        }
        let per_event = t.elapsed() / events as u32;
        // The batched path as an engine drives it: batches of up to 1024, resuming after each
        // group that produced intents.
        let mut sandbox = loaded.instantiate(&config).expect("instantiate");
        let meta = meta();
        let t = Instant::now();
        let mut pos = 0;
        let mut calls = 0u64;
        while pos < bars.len() {
            let end = (pos + 1024).min(bars.len());
            let out = sandbox.on_bars(&meta, &bars[pos..end]).expect("on_bars");
            pos += out.consumed;
            calls += 1;
        }
        let per_bar = t.elapsed().as_secs_f64() * 1e9 / bars.len() as f64;
        let stats = sandbox.stats();
        // The same on a flat market (no signals): the marginal cost of a bar.
        let mut quiet_sandbox = loaded.instantiate(&config).expect("instantiate");
        let t = Instant::now();
        let mut pos = 0;
        while pos < quiet.len() {
            let end = (pos + 4096).min(quiet.len());
            pos += quiet_sandbox
                .on_bars(&meta, &quiet[pos..end])
                .expect("on_bars")
                .consumed;
        }
        let quiet_per_bar = t.elapsed().as_secs_f64() * 1e9 / quiet.len() as f64;
        let quiet_fuel = quiet_sandbox.stats().fuel_total as f64 / quiet.len() as f64;
        // Fixed cost of one `on-bars` call: one quiet bar per call.
        let t = Instant::now();
        let calls_1 = 100_000;
        for bar in &quiet[..calls_1] {
            quiet_sandbox
                .on_bars(&meta, std::slice::from_ref(bar))
                .expect("on_bars");
        }
        let per_call = t.elapsed().as_secs_f64() * 1e9 / calls_1 as f64;
        println!(
            "{:<18} {:>5}K {:>7.1}ms {:>6.2}ms {:>9.1}µs {:>9.0}ns {:>9.1}ns {:>8} {:>8.0} {:>9.1}ns {:>10.0} {:>9.0}ns",
            name.trim_end_matches(".wasm"),
            bytes.len() / 1024,
            compile.as_secs_f64() * 1e3,
            cached.as_secs_f64() * 1e3,
            instantiate.as_secs_f64() * 1e6,
            per_event.as_secs_f64() * 1e9,
            per_bar,
            calls,
            stats.fuel_total as f64 / bars.len() as f64,
            quiet_per_bar,
            quiet_fuel,
            per_call,
        );
    }
}
