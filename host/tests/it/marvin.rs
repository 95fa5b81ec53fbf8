//! Marvin: loading, sandbox limits and the example strategies, against real components built by
//! `scripts/build-strategies.sh`.

mod budgets;
mod cli;
mod hostile;
mod leaks;
mod loading;
mod strategies;
pub(crate) mod wat;

use weaver::domain::{Bar, EventKind, EventMeta, StrategyConfig, SymbolBar, Timeframe};
use weaver::marvin::{Limits, Marvin, MarvinConfig};

/// A Marvin with its own temporary cache directory (kept alive by the returned guard).
pub(crate) fn marvin_with(limits: Limits) -> (Marvin, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = MarvinConfig {
        cache_dir: dir.path().join("compiled"),
        limits,
        ..MarvinConfig::default()
    };
    (Marvin::new(config).expect("marvin starts"), dir)
}

pub(crate) fn marvin() -> (Marvin, tempfile::TempDir) {
    marvin_with(Limits::default())
}

pub(crate) fn config(params: &[(&str, &str)], symbols: &[&str]) -> StrategyConfig {
    StrategyConfig {
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        timeframe: Timeframe::DAY,
    }
}

pub(crate) fn meta(ts: i64) -> EventMeta {
    EventMeta {
        id: format!("evt-{ts}"),
        kind: EventKind::Evt,
        event_type: "market.Bar".into(),
        version: 1,
        run_id: "run-test".into(),
        corr_id: "corr-test".into(),
        causation_id: None,
        trace_id: None,
        ts,
        producer: "test".into(),
        headers: vec![("source".into(), "csv".into())],
    }
}

/// Reads `testdata/generated/ohlcv/<name>.csv` as bars of symbol 0.
pub(crate) fn ohlcv(name: &str) -> Vec<SymbolBar> {
    let path = crate::testdata::ohlcv(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reference data {} missing: {e}", path.display()));
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let ts = chrono::DateTime::parse_from_rfc3339(f[0])
                .expect("timestamp")
                .timestamp_millis();
            let n = |i: usize| f[i].parse::<f64>().expect("number");
            SymbolBar {
                symbol: 0,
                bar: Bar {
                    ts,
                    open: n(1),
                    high: n(2),
                    low: n(3),
                    close: n(4),
                    volume: n(5),
                },
            }
        })
        .collect()
}

/// Fuel one step of the hostile guest's `burn` mode costs (deterministic: measured as the fuel
/// of a one-bar call with 100,000 steps less that of one with none), so tests can size a guest's
/// need against the limits.
pub(crate) fn fuel_per_burn_step() -> f64 {
    use weaver::domain::{Strategy, StrategyEvent, StrategyPayload};
    let (marvin, _dir) = marvin();
    let loaded = marvin
        .load(&crate::support::dist_bytes("guests/hostile.wasm"))
        .expect("the hostile guest loads");
    let bar = ohlcv("GOOG")[0];
    let fuel = |iters: &str| {
        let mut sandbox = loaded
            .instantiate(&config(&[("mode", "burn"), ("iters", iters)], &["GOOG"]))
            .expect("init");
        sandbox
            .on_event(&StrategyEvent {
                meta: meta(0),
                payload: StrategyPayload::Bars(vec![bar]),
            })
            .expect("within the tier's fuel");
        sandbox.stats().fuel_last
    };
    (fuel("100000") - fuel("0")) as f64 / 100_000.0
}

/// The hostile guest's `burn` steps that cost about `fuel` per bar.
pub(crate) fn burn_iters_for(fuel: f64) -> u64 {
    (fuel / fuel_per_burn_step()) as u64
}
