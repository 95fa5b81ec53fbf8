//! Parameter sweeps: a grid of `key=start:end:step` ranges, run in parallel on all cores over one
//! shared data load, ranked by a metric.
//!
//! # Invariants
//! - Every combination runs with its own strategy instance; results come back in grid order
//!   before ranking, so a sweep is deterministic whatever the thread count.

use rayon::prelude::*;

use super::Error;
use super::engine::{Backtest, EngineConfig, RunResult, StrategyFactory};

/// One swept parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    /// Parameter name.
    pub key: String,
    /// The values, as text.
    pub values: Vec<String>,
}

/// Parses `key=start:end:step` (inclusive end; integers stay integers).
///
/// # Errors
/// [`Error::Config`] for malformed text, a non-positive step, or more than 100,000 values.
pub fn parse_range(text: &str) -> Result<Range, Error> {
    let bad = |why: &str| {
        Error::Config(format!(
            "--sweep {text:?}: {why} (expected key=start:end:step)"
        ))
    };
    let (key, spec) = text.split_once('=').ok_or_else(|| bad("missing '='"))?;
    let parts: Vec<&str> = spec.split(':').collect();
    if key.trim().is_empty() || parts.len() != 3 {
        return Err(bad("need a key and three numbers"));
    }
    let ints: Option<Vec<i64>> = parts.iter().map(|p| p.trim().parse::<i64>().ok()).collect();
    let values = if let Some(v) = ints {
        let (a, b, s) = (v[0], v[1], v[2]);
        if s <= 0 {
            return Err(bad("step must be positive"));
        }
        if b < a || (b - a) / s > 100_000 {
            return Err(bad(
                "end must be >= start and the range at most 100000 values",
            ));
        }
        (0..=(b - a) / s).map(|k| (a + k * s).to_string()).collect()
    } else {
        let f: Vec<f64> = parts
            .iter()
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("not numbers"))?;
        let (a, b, s) = (f[0], f[1], f[2]);
        let finite = [a, b, s].iter().all(|x| x.is_finite());
        if !finite || s <= 0.0 || b < a || (b - a) / s > 100_000.0 {
            return Err(bad(
                "step must be positive, end >= start, at most 100000 values",
            ));
        }
        let n = ((b - a) / s + 1e-9).floor() as usize;
        (0..=n).map(|k| format!("{}", a + k as f64 * s)).collect()
    };
    Ok(Range {
        key: key.trim().to_owned(),
        values,
    })
}

/// Every combination of the ranges (last range varies fastest), each merged over `base`.
pub fn grid(base: &[(String, String)], ranges: &[Range]) -> Vec<Vec<(String, String)>> {
    let mut out = vec![
        base.iter()
            .filter(|(k, _)| !ranges.iter().any(|r| &r.key == k))
            .cloned()
            .collect::<Vec<_>>(),
    ];
    for r in ranges {
        out = out
            .into_iter()
            .flat_map(|p| {
                r.values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((r.key.clone(), v.clone()));
                    q
                })
            })
            .collect();
    }
    out
}

/// Runs every combination in parallel. Each entry is the combination's result or its error.
pub fn run(
    bt: &Backtest,
    base: &EngineConfig,
    combos: &[Vec<(String, String)>],
    factory: &StrategyFactory,
) -> Vec<Result<RunResult, Error>> {
    combos
        .par_iter()
        .map(|params| {
            let cfg = EngineConfig {
                params: params.clone(),
                ..base.clone()
            };
            let mut strategy = factory(&bt.strategy_config(params))?;
            bt.run(strategy.as_mut(), &cfg, None)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_grid() {
        let r = parse_range("fast=5:15:5").unwrap();
        assert_eq!(r.values, ["5", "10", "15"]);
        let g = grid(
            &[("slow".into(), "30".into()), ("fast".into(), "1".into())],
            &[r],
        );
        assert_eq!(g.len(), 3);
        assert_eq!(
            g[1],
            [
                ("slow".to_owned(), "30".to_owned()),
                ("fast".to_owned(), "10".to_owned())
            ]
        );
        assert!(parse_range("fast=5:1:1").is_err());
        assert!(parse_range("fast=1:5:0").is_err());
        assert!(parse_range("fast").is_err());
        assert_eq!(parse_range("x=0.1:0.3:0.1").unwrap().values.len(), 3);
    }
}
