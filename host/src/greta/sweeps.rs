//! What a sweep searches and how a point is judged: the parameter space (`space`), the search
//! method (grid or seeded random), the objective and the constraints, and the summary kept of
//! each point. No I/O: the server's sweep jobs ([`super::sweep_jobs`]) run the points.
//!
//! # Invariants
//! - The point list is a pure function of the request: the same space, method and seed give the
//!   same points in the same order, on every machine and after a restart (a resumed sweep
//!   recomputes it and skips the indexes already stored).
//! - Parameters are taken in name order; in a grid the last name varies fastest.
//! - A point that failed or broke a constraint is never feasible, and only a feasible point
//!   with a defined objective can be the best.
//! - Nothing here panics on input: a bad space, method, objective or constraint is an
//!   [`Invalid`] naming the field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::metrics::Metrics;
// SplitMix64's stream is fixed by its definition, so a seed gives the same points in every later
// version (a stored random sweep is resumed by recomputing its list); `rand`'s generators do not
// promise that across releases.
use super::synth::SplitMix64;

/// Key of the objective computed here rather than read from the metrics: `return_pct` divided
/// by the magnitude of `max_drawdown_pct`.
pub const RETURN_OVER_DRAWDOWN: &str = "return_over_drawdown";

/// Values one axis may have at most (each axis is also bounded by the whole sweep's limit).
const MAX_AXIS_VALUES: u64 = 1_000_000;

/// A refused sweep request: a stable code, the message and structured details.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// Stable code (`invalid_space`, `invalid_method`, `unknown_metric`, `invalid_constraints`,
    /// `sweep_too_large`).
    pub code: &'static str,
    /// Human text.
    pub message: String,
    /// Structured details (`{points, limit}`, `{metric, accepted}`, …).
    pub details: serde_json::Value,
}

fn invalid(code: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        code,
        message: message.into(),
        details: serde_json::Value::Null,
    }
}

/// One parameter's values: a list, an inclusive stepped range, or a log-spaced range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Axis {
    /// These values, in order.
    Values(Vec<serde_json::Value>),
    /// `{min, max, step}` (inclusive; integers stay integers) or `{min, max, log: true,
    /// count?}` (log-spaced; a grid needs `count`, random draws log-uniformly without it).
    Range {
        /// Smallest value.
        min: f64,
        /// Largest value.
        max: f64,
        /// Step of a linear range.
        #[serde(default)]
        step: Option<f64>,
        /// Log-spaced.
        #[serde(default)]
        log: bool,
        /// Values of a log-spaced range.
        #[serde(default)]
        count: Option<u64>,
    },
}

/// How the points are chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Method {
    /// Every combination.
    Grid,
    /// `count` points drawn with a seeded generator (the same seed, the same points).
    Random {
        /// Seed.
        seed: u64,
        /// Points to draw.
        count: u64,
    },
}

/// Which way the objective is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Larger is better.
    Max,
    /// Smaller is better.
    Min,
}

/// What ranks the points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    /// A numeric report metric key, or `return_over_drawdown`.
    pub metric: String,
    /// `max` or `min`.
    pub direction: Direction,
}

/// What a point must meet to be feasible (every one given).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraints {
    /// At least this many closed trades.
    #[serde(default)]
    pub min_trades: Option<u64>,
    /// A maximum drawdown of at most this many percent (a positive number: 20 = −20 %).
    #[serde(default)]
    pub max_drawdown_pct: Option<f64>,
    /// Exposure time of at most this many percent.
    #[serde(default)]
    pub max_exposure_pct: Option<f64>,
}

/// The keys an objective or a sort may name.
pub fn metric_keys() -> Vec<&'static str> {
    static KEYS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        // The keys of `Metrics::numeric`, read off the statistics of a two-bar run so the list
        // cannot drift from the report's.
        let m = super::metrics::compute(&super::metrics::Inputs {
            equity: &[1.0, 1.0],
            ts: &[0, 86_400_000],
            close: &[1.0, 1.0],
            trades: &[],
            warmup: 0,
        });
        let mut keys: Vec<&'static str> = m.numeric().into_iter().map(|(k, _)| k).collect();
        keys.push(RETURN_OVER_DRAWDOWN);
        keys
    })
    .clone()
}

/// Checks a metric key.
///
/// # Errors
/// [`Invalid`] `unknown_metric` naming the accepted keys.
pub fn check_metric(key: &str) -> Result<(), Invalid> {
    let keys = metric_keys();
    if keys.contains(&key) {
        return Ok(());
    }
    let shown: String = key.chars().take(64).collect();
    Err(Invalid {
        code: "unknown_metric",
        message: format!("unknown metric {shown:?}; accepted: {}", keys.join(", ")),
        details: serde_json::json!({"metric": shown, "accepted": keys}),
    })
}

/// Checks the constraints' numbers.
///
/// # Errors
/// [`Invalid`] `invalid_constraints` naming the field.
pub fn check_constraints(c: &Constraints) -> Result<(), Invalid> {
    for (field, v) in [
        ("max_drawdown_pct", c.max_drawdown_pct),
        ("max_exposure_pct", c.max_exposure_pct),
    ] {
        if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
            return Err(invalid(
                "invalid_constraints",
                format!("constraints.{field} must be a non-negative number of percent"),
            ));
        }
    }
    Ok(())
}

/// One axis's values as text, or `None` for a continuous log range (random only).
fn axis_values(name: &str, axis: &Axis) -> Result<Option<Vec<String>>, Invalid> {
    let bad = |why: &str| invalid("invalid_space", format!("space.{name}: {why}"));
    match axis {
        Axis::Values(vs) => {
            if vs.is_empty() {
                return Err(bad("give at least one value"));
            }
            if vs.len() as u64 > MAX_AXIS_VALUES {
                return Err(bad("too many values"));
            }
            vs.iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(s.clone()),
                    serde_json::Value::Number(n) => Ok(n.to_string()),
                    serde_json::Value::Bool(b) => Ok(b.to_string()),
                    _ => Err(bad("values must be numbers, strings or booleans")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        }
        Axis::Range {
            min,
            max,
            step,
            log,
            count,
        } => {
            if !min.is_finite() || !max.is_finite() || max < min {
                return Err(bad("min and max must be numbers with min <= max"));
            }
            if *log {
                if step.is_some() {
                    return Err(bad("a log range takes count, not step"));
                }
                if *min <= 0.0 {
                    return Err(bad("a log range needs min > 0"));
                }
                let Some(n) = *count else { return Ok(None) };
                if n == 0 || n > MAX_AXIS_VALUES {
                    return Err(bad("count must be 1 to 1000000"));
                }
                if n == 1 {
                    return Ok(Some(vec![num(*min)]));
                }
                let (a, b) = (min.ln(), max.ln());
                let values = (0..n)
                    .map(|k| num((a + (b - a) * k as f64 / (n - 1) as f64).exp()))
                    .collect();
                return Ok(Some(values));
            }
            if count.is_some() {
                return Err(bad("count is for log ranges; give step"));
            }
            let Some(step) = *step else {
                return Err(bad("give step (or log: true)"));
            };
            if !step.is_finite() || step <= 0.0 {
                return Err(bad("step must be positive"));
            }
            let span = ((max - min) / step + 1e-9).floor();
            if span + 1.0 > MAX_AXIS_VALUES as f64 {
                return Err(bad("too many values"));
            }
            let ints = [*min, *max, step].iter().all(|v| v.fract() == 0.0);
            let values = (0..=span as u64)
                .map(|k| {
                    let v = min + k as f64 * step;
                    if ints {
                        format!("{}", v as i64)
                    } else {
                        num(v)
                    }
                })
                .collect();
            Ok(Some(values))
        }
    }
}

/// A float as parameter text, rounded to 12 significant digits so `0.1 + 2 × 0.1` is `0.3`.
fn num(v: f64) -> String {
    let r: f64 = format!("{v:.12e}").parse().unwrap_or(v);
    format!("{r}")
}

/// The space's axes in name order, each with its values (`None`: continuous log range).
pub type Axes = Vec<(String, Option<Vec<String>>, Option<(f64, f64)>)>;

/// Checks the space and returns its axes.
///
/// # Errors
/// [`Invalid`] `invalid_space`.
pub fn axes(space: &BTreeMap<String, Axis>) -> Result<Axes, Invalid> {
    if space.is_empty() {
        return Err(invalid(
            "invalid_space",
            "space needs at least one parameter",
        ));
    }
    space
        .iter()
        .map(|(name, axis)| {
            if name.trim().is_empty() || name.len() > 64 {
                return Err(invalid(
                    "invalid_space",
                    "parameter names are 1–64 characters",
                ));
            }
            let values = axis_values(name, axis)?;
            let bounds = match axis {
                Axis::Range { min, max, .. } => Some((*min, *max)),
                Axis::Values(_) => None,
            };
            Ok((name.clone(), values, bounds))
        })
        .collect()
}

/// The number of points `method` runs over `axes` (saturating).
///
/// # Errors
/// [`Invalid`] `invalid_method` for a grid over a continuous axis or a random count of 0.
pub fn point_count(axes: &Axes, method: &Method) -> Result<u64, Invalid> {
    match method {
        Method::Grid => axes.iter().try_fold(1_u64, |n, (name, values, _)| {
            let v = values.as_ref().ok_or_else(|| {
                invalid(
                    "invalid_method",
                    format!("space.{name}: a grid needs count on a log range"),
                )
            })?;
            Ok(n.saturating_mul(v.len() as u64))
        }),
        Method::Random { count, .. } => {
            if *count == 0 {
                return Err(invalid("invalid_method", "method.count must be at least 1"));
            }
            Ok(*count)
        }
    }
}

/// Refuses a sweep of more than `limit` points.
///
/// # Errors
/// [`Invalid`] `sweep_too_large` with `{points, limit}`.
pub fn check_size(points: u64, limit: u64) -> Result<(), Invalid> {
    if points <= limit {
        return Ok(());
    }
    Err(Invalid {
        code: "sweep_too_large",
        message: format!(
            "the sweep has {points} points and at most {limit} are allowed (WEAVER_SWEEP_MAX_POINTS)"
        ),
        details: serde_json::json!({"points": points, "limit": limit}),
    })
}

/// Uniform in `[0, 1)`, 53 bits.
fn unit(rng: &mut SplitMix64) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
}

/// Uniform in `0..n` (n > 0), by rejection so no value is favoured.
fn below(rng: &mut SplitMix64, n: u64) -> u64 {
    let zone = u64::MAX - u64::MAX % n;
    loop {
        let x = rng.next_u64();
        if x < zone {
            return x % n;
        }
    }
}

/// Point `i` of the sweep (`i < point_count`), each parameter as text, in name order.
pub fn point(axes: &Axes, method: &Method, i: u64) -> Vec<(String, String)> {
    match method {
        Method::Grid => {
            let mut rest = i;
            let mut out: Vec<(String, String)> = Vec::with_capacity(axes.len());
            for (name, values, _) in axes.iter().rev() {
                let vs = values.as_deref().unwrap_or_default();
                let n = vs.len().max(1) as u64;
                let v = vs.get((rest % n) as usize).cloned().unwrap_or_default();
                rest /= n;
                out.push((name.clone(), v));
            }
            out.reverse();
            out
        }
        Method::Random { seed, .. } => {
            // One stream per point (seeded by the seed and the index), so a point is computed
            // without drawing every point before it.
            let mut rng = SplitMix64(seed ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03));
            rng.next_u64();
            axes.iter()
                .map(|(name, values, bounds)| {
                    let v = match (values, bounds) {
                        (Some(vs), _) => {
                            vs[below(&mut rng, vs.len().max(1) as u64) as usize].clone()
                        }
                        (None, Some((lo, hi))) => {
                            num((lo.ln() + (hi.ln() - lo.ln()) * unit(&mut rng)).exp())
                        }
                        (None, None) => String::new(),
                    };
                    (name.clone(), v)
                })
                .collect()
        }
    }
}

/// A point's parameters as a JSON object (numbers where the text is a number).
pub fn params_json(params: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Object(super::report::params_json(params))
}

/// The metrics summary of a point: every numeric statistic plus `return_over_drawdown`.
pub fn summary(m: &Metrics) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, v) in m.numeric() {
        map.insert(k.into(), v.into());
    }
    map.insert(RETURN_OVER_DRAWDOWN.into(), return_over_drawdown(m).into());
    serde_json::Value::Object(map)
}

/// `return_pct / |max_drawdown_pct|`; undefined without a drawdown.
pub fn return_over_drawdown(m: &Metrics) -> Option<f64> {
    let dd = m.max_drawdown_pct?.abs();
    let r = m.return_pct? / dd;
    (dd > 0.0 && r.is_finite()).then_some(r)
}

/// The objective's value for `m` (`None`: undefined for this point).
pub fn objective_value(m: &Metrics, metric: &str) -> Option<f64> {
    if metric == RETURN_OVER_DRAWDOWN {
        return return_over_drawdown(m);
    }
    m.get(metric).flatten().filter(|v| v.is_finite())
}

/// Whether `m` meets every constraint.
pub fn feasible(m: &Metrics, c: &Constraints) -> bool {
    let trades = c.min_trades.is_none_or(|n| m.trades as u64 >= n);
    let drawdown = c
        .max_drawdown_pct
        .is_none_or(|most| m.max_drawdown_pct.is_none_or(|dd| dd.abs() <= most));
    let exposure = c
        .max_exposure_pct
        .is_none_or(|most| m.exposure_time_pct <= most);
    trades && drawdown && exposure
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(json: serde_json::Value) -> BTreeMap<String, Axis> {
        serde_json::from_value(json).expect("space")
    }

    #[test]
    fn grids_enumerate_every_combination_last_name_fastest() {
        let a = axes(&space(serde_json::json!({
            "slow": {"min": 20, "max": 30, "step": 10},
            "fast": [5, 10, 15],
        })))
        .unwrap();
        assert_eq!(point_count(&a, &Method::Grid).unwrap(), 6);
        let pts: Vec<_> = (0..6).map(|i| point(&a, &Method::Grid, i)).collect();
        let text = |p: &Vec<(String, String)>| {
            p.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(text(&pts[0]), "fast=5,slow=20");
        assert_eq!(text(&pts[1]), "fast=5,slow=30");
        assert_eq!(text(&pts[5]), "fast=15,slow=30");
    }

    #[test]
    fn ranges_keep_integers_and_round_floats() {
        let a = axes(&space(serde_json::json!({
            "x": {"min": 0.1, "max": 0.3, "step": 0.1},
            "n": {"min": 1, "max": 100, "log": true, "count": 3},
        })))
        .unwrap();
        let n = a.iter().find(|x| x.0 == "n").unwrap().1.clone().unwrap();
        assert_eq!(n, ["1", "10", "100"]);
        let x = a.iter().find(|x| x.0 == "x").unwrap().1.clone().unwrap();
        assert_eq!(x, ["0.1", "0.2", "0.3"]);
    }

    #[test]
    fn bad_spaces_and_methods_are_refused_by_name() {
        let code = |j| axes(&space(j)).unwrap_err();
        let e = code(serde_json::json!({"fast": {"min": 5, "max": 1, "step": 1}}));
        assert_eq!(e.code, "invalid_space");
        assert!(e.message.contains("space.fast"), "{e}");
        assert_eq!(code(serde_json::json!({"f": []})).code, "invalid_space");
        assert_eq!(
            code(serde_json::json!({"f": {"min": 1, "max": 2}})).code,
            "invalid_space"
        );
        assert_eq!(
            code(serde_json::json!({"f": {"min": 0, "max": 2, "log": true}})).code,
            "invalid_space"
        );
        let continuous = axes(&space(
            serde_json::json!({"f": {"min": 1, "max": 2, "log": true}}),
        ))
        .unwrap();
        assert_eq!(
            point_count(&continuous, &Method::Grid).unwrap_err().code,
            "invalid_method"
        );
    }

    #[test]
    fn random_points_depend_on_the_seed_only() {
        let a = axes(&space(serde_json::json!({
            "fast": {"min": 2, "max": 50, "step": 1},
            "lr": {"min": 0.001, "max": 1, "log": true},
        })))
        .unwrap();
        let m = |seed| Method::Random { seed, count: 20 };
        let draw = |seed| (0..20).map(|i| point(&a, &m(seed), i)).collect::<Vec<_>>();
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        for p in draw(7) {
            let lr: f64 = p[1].1.parse().unwrap();
            assert!((0.001..=1.0).contains(&lr), "{lr}");
            let fast: i64 = p[0].1.parse().unwrap();
            assert!((2..=50).contains(&fast));
        }
        // Fixed for ever: a stored sweep is resumed by recomputing its points.
        assert_eq!(SplitMix64(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn size_metric_and_constraints() {
        let e = check_size(100_001, 100_000).unwrap_err();
        assert_eq!(e.code, "sweep_too_large");
        assert_eq!(
            e.details,
            serde_json::json!({"points": 100_001, "limit": 100_000})
        );
        assert!(check_size(100_000, 100_000).is_ok());
        let e = check_metric("sharp").unwrap_err();
        assert_eq!(e.code, "unknown_metric");
        assert!(e.message.contains("sharpe") && e.message.contains(RETURN_OVER_DRAWDOWN));
        assert!(check_metric("sqn").is_ok() && check_metric(RETURN_OVER_DRAWDOWN).is_ok());
        let bad = Constraints {
            max_drawdown_pct: Some(-1.0),
            ..Constraints::default()
        };
        assert_eq!(
            check_constraints(&bad).unwrap_err().code,
            "invalid_constraints"
        );
    }
}
