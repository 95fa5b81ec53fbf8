//! Marvin: loading, sandbox limits and the example strategies, against real components built by
//! `scripts/build-strategies.sh`.

mod budgets;
mod hostile;
mod leaks;
mod loading;
mod strategies;
mod wat;

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
