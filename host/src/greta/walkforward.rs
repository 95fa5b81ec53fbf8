//! What a walk-forward analysis is, without I/O: the windows (rolling or anchored, sized in bars
//! or as durations) planned over the data's timestamps, the out-of-sample part of a run (its
//! warm-up bars cut off), the stitched out-of-sample equity, walk-forward efficiency and the
//! stability of the chosen parameters. The server's jobs ([`super::walkforward_jobs`]) run it.
//!
//! # Invariants
//! - The plan is a pure function of the timestamps and the windows: a resumed walk-forward reads
//!   its stored plan, so windows never move under it.
//! - Out-of-sample windows never overlap and follow each other in time; the stitched equity
//!   starts each window where the previous one ended (each window's curve scaled to chain).
//! - Bad sizes are an [`Invalid`] naming the field (`invalid_windows`), never a panic.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};

use super::broker::ClosedTrade;
use super::engine::RunResult;
use super::metrics::{self, Metrics};
use super::sweeps::Invalid;
use crate::domain::TsMillis;

/// Most windows one walk-forward may have.
pub const MAX_WINDOWS: usize = 1_000;

/// Most points of the stitched equity curve shown.
pub const MAX_CURVE_POINTS: usize = 2_000;

const DAY_MS: i64 = 86_400_000;

/// How windows move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Every in-sample window has the same size and moves by `step`.
    Rolling,
    /// Every in-sample window starts at the first bar and grows by `step`.
    Anchored,
}

/// A window size: bars, or a duration of whole days, weeks or calendar months.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// This many bars (timestamps of the aligned data).
    Bars(u64),
    /// `n` days.
    Days(u32),
    /// `n` weeks.
    Weeks(u32),
    /// `n` calendar months.
    Months(u32),
}

/// The windows of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Rolling or anchored.
    pub kind: Kind,
    /// In-sample size.
    pub in_sample: Size,
    /// Out-of-sample size.
    pub out_of_sample: Size,
    /// How far each window moves (default: the out-of-sample size).
    pub step: Option<Size>,
}

fn invalid(field: &str, message: String, details: serde_json::Value) -> Invalid {
    let mut d = serde_json::json!({"field": field});
    if let (Some(m), serde_json::Value::Object(extra)) = (d.as_object_mut(), details) {
        m.extend(extra);
    }
    Invalid {
        code: "invalid_windows",
        message: format!("{field}: {message}"),
        details: d,
    }
}

/// Parses a size: a positive integer (bars) or `"<n>d"`, `"<n>w"`, `"<n>M"` (days, weeks,
/// calendar months; `n` from 1 to 100000).
///
/// # Errors
/// [`Invalid`] `invalid_windows` naming `field`.
pub fn parse_size(field: &str, v: &serde_json::Value) -> Result<Size, Invalid> {
    let refuse = || {
        invalid(
            field,
            "give a positive number of bars (e.g. 500) or a duration \"<n>d\", \"<n>w\" or \
             \"<n>M\" (days, weeks, calendar months; e.g. \"90d\", \"12w\", \"6M\")"
                .into(),
            serde_json::Value::Null,
        )
    };
    match v {
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(b) if (1..=100_000_000).contains(&b) => Ok(Size::Bars(b)),
            _ => Err(refuse()),
        },
        serde_json::Value::String(s) => {
            let unit = s.chars().last().ok_or_else(refuse)?;
            let n: u32 = s[..s.len() - unit.len_utf8()]
                .parse()
                .map_err(|_| refuse())?;
            if !(1..=100_000).contains(&n) {
                return Err(refuse());
            }
            match unit {
                'd' => Ok(Size::Days(n)),
                'w' => Ok(Size::Weeks(n)),
                'M' => Ok(Size::Months(n)),
                _ => Err(refuse()),
            }
        }
        _ => Err(refuse()),
    }
}

/// One window: timestamp indexes, half-open (`is_from..is_to` in sample, `is_to..oos_to` out
/// of sample).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds {
    /// First in-sample bar.
    pub is_from: usize,
    /// First out-of-sample bar (one past the last in-sample one).
    pub is_to: usize,
    /// One past the last out-of-sample bar.
    pub oos_to: usize,
}

/// `t` moved by `size` (a duration; bars are handled by the caller).
fn add(t: TsMillis, size: Size, times: u32) -> Option<TsMillis> {
    match size {
        Size::Bars(_) => None,
        Size::Days(n) => t.checked_add(i64::from(n) * i64::from(times) * DAY_MS),
        Size::Weeks(n) => t.checked_add(i64::from(n) * i64::from(times) * 7 * DAY_MS),
        Size::Months(n) => DateTime::<Utc>::from_timestamp_millis(t)?
            .checked_add_months(Months::new(n.checked_mul(times)?))
            .map(|d| d.timestamp_millis()),
    }
}

/// The windows over `ts` (the aligned data's timestamps, ascending); `bar_ms` is one bar's
/// nominal length (the data ends one bar after its last timestamp).
///
/// Rolling: window `k`'s in-sample part starts `k` steps after the first bar; anchored: it
/// starts at the first bar and ends `k` steps later than the first window's. Each
/// out-of-sample part follows its in-sample part. Windows run while the out-of-sample part
/// ends within the data; a duration window whose parts hold no bar (a gap in the data) is
/// left out.
///
/// # Errors
/// [`Invalid`] `invalid_windows`: sizes of both kinds mixed, a step shorter than the
/// out-of-sample size (overlapping out-of-sample windows), no window fitting the data (with
/// `bars` and `needed`), more than [`MAX_WINDOWS`].
pub fn plan(ts: &[TsMillis], bar_ms: i64, spec: &Spec) -> Result<Vec<Bounds>, Invalid> {
    let n = ts.len();
    let step = spec.step.unwrap_or(spec.out_of_sample);
    let bars = |s: Size| match s {
        Size::Bars(b) => Some(usize::try_from(b).unwrap_or(usize::MAX)),
        _ => None,
    };
    let kinds = [spec.in_sample, spec.out_of_sample, step].map(|s| bars(s).is_some());
    if kinds.iter().any(|k| *k != kinds[0]) {
        return Err(invalid(
            "windows",
            "in_sample, out_of_sample and step must all be bars or all be durations".into(),
            serde_json::Value::Null,
        ));
    }
    let mut out = Vec::new();
    if let (Some(is), Some(oos), Some(st)) =
        (bars(spec.in_sample), bars(spec.out_of_sample), bars(step))
    {
        if st < oos {
            return Err(overlap());
        }
        let needed = is.saturating_add(oos);
        if needed > n {
            return Err(too_few(n, needed));
        }
        for k in 0.. {
            let (from, to) = match spec.kind {
                Kind::Rolling => (k * st, k * st + is),
                Kind::Anchored => (0, is + k * st),
            };
            if to + oos > n {
                break;
            }
            out.push(Bounds {
                is_from: from,
                is_to: to,
                oos_to: to + oos,
            });
            if out.len() > MAX_WINDOWS {
                return Err(too_many());
            }
        }
        return Ok(out);
    }
    let Some((&t0, &last)) = ts.first().zip(ts.last()) else {
        return Err(too_few(0, 1));
    };
    let end = last.saturating_add(bar_ms.max(1));
    let index = |t: TsMillis| ts.partition_point(|&x| x < t);
    let mut fitted_any = false;
    for k in 0_u32.. {
        let start = match spec.kind {
            Kind::Rolling => add(t0, step, k),
            Kind::Anchored => Some(t0),
        };
        let is_end = match spec.kind {
            Kind::Rolling => start.and_then(|s| add(s, spec.in_sample, 1)),
            Kind::Anchored => add(t0, spec.in_sample, 1).and_then(|e| add(e, step, k)),
        };
        let oos_end = is_end.and_then(|e| add(e, spec.out_of_sample, 1));
        let (Some(start), Some(is_end), Some(oos_end)) = (start, is_end, oos_end) else {
            break;
        };
        if oos_end > end {
            break;
        }
        fitted_any = true;
        let b = Bounds {
            is_from: index(start),
            is_to: index(is_end),
            oos_to: index(oos_end),
        };
        if b.is_to > b.is_from && b.oos_to > b.is_to {
            if out.last().is_some_and(|p: &Bounds| b.is_to < p.oos_to) {
                return Err(overlap());
            }
            out.push(b);
        }
        if out.len() > MAX_WINDOWS {
            return Err(too_many());
        }
    }
    if out.is_empty() {
        let span_days = (end - t0) / DAY_MS;
        return Err(invalid(
            "windows",
            format!(
                "there are {n} bars over {span_days} days; {}",
                if fitted_any {
                    "no window holds bars both in and out of sample"
                } else {
                    "the first window (in-sample plus out-of-sample) is longer than the data"
                }
            ),
            serde_json::json!({"bars": n, "days": span_days}),
        ));
    }
    Ok(out)
}

fn overlap() -> Invalid {
    invalid(
        "windows.step",
        "must be at least out_of_sample: out-of-sample windows would overlap".into(),
        serde_json::Value::Null,
    )
}

fn too_many() -> Invalid {
    invalid(
        "windows",
        format!("more than {MAX_WINDOWS} windows; make the step larger"),
        serde_json::json!({"limit": MAX_WINDOWS}),
    )
}

fn too_few(bars: usize, needed: usize) -> Invalid {
    invalid(
        "windows",
        format!(
            "there are {bars} bars and the first window needs {needed} (in_sample plus \
             out_of_sample)"
        ),
        serde_json::json!({"bars": bars, "needed": needed}),
    )
}

/// The out-of-sample part of a window's run: what a run over `warm + oos` bars produced with
/// its first `warm` bars cut off (equity, times, benchmark closes, trades shifted to the
/// window's first bar; a trade entered during the warm-up starts at bar 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detail {
    /// Times of the out-of-sample bars.
    pub ts: Vec<TsMillis>,
    /// Equity at each.
    pub equity: Vec<f64>,
    /// Benchmark close at each.
    pub close: Vec<f64>,
    /// Trades closed out of sample.
    pub trades: Vec<ClosedTrade>,
}

/// Cuts the first `warm` bars off `r` (a run over the warm-up and the out-of-sample bars, with
/// benchmark closes `close`), recomputing its statistics over what is left.
pub fn out_of_sample(r: &RunResult, close: &[f64], warm: usize) -> (Detail, Metrics) {
    let w = warm.min(r.equity.len().saturating_sub(1));
    let trades: Vec<ClosedTrade> = r
        .trades
        .iter()
        .filter(|t| t.exit_bar >= w)
        .map(|t| ClosedTrade {
            entry_bar: t.entry_bar.saturating_sub(w),
            exit_bar: t.exit_bar - w,
            ..t.clone()
        })
        .collect();
    let d = Detail {
        ts: r.ts[w..].to_vec(),
        equity: r.equity[w..].to_vec(),
        close: close.get(w..).unwrap_or_default().to_vec(),
        trades,
    };
    let m = metrics_of(&d);
    (d, m)
}

fn metrics_of(d: &Detail) -> Metrics {
    metrics::compute(&metrics::Inputs {
        equity: &d.equity,
        ts: &d.ts,
        close: &d.close,
        trades: &d.trades,
        warmup: 0,
    })
}

/// The stitched out-of-sample run: the windows' curves chained (each scaled to start at the
/// equity the previous one ended with; the first keeps its own start), their trades in order.
/// `None` for no window.
pub fn stitch(windows: &[Detail]) -> Option<(Detail, Metrics)> {
    let mut out = Detail {
        ts: Vec::new(),
        equity: Vec::new(),
        close: Vec::new(),
        trades: Vec::new(),
    };
    for d in windows.iter().filter(|d| !d.equity.is_empty()) {
        let scale = match out.equity.last() {
            Some(&end) if d.equity[0] > 0.0 => end / d.equity[0],
            Some(_) => 0.0,
            None => 1.0,
        };
        let offset = out.equity.len();
        out.trades.extend(d.trades.iter().map(|t| ClosedTrade {
            entry_bar: t.entry_bar + offset,
            exit_bar: t.exit_bar + offset,
            size: t.size * scale,
            pnl: t.pnl * scale,
            commission: t.commission * scale,
            ..t.clone()
        }));
        out.ts.extend_from_slice(&d.ts);
        out.equity.extend(d.equity.iter().map(|e| e * scale));
        out.close.extend_from_slice(&d.close);
    }
    if out.equity.is_empty() {
        return None;
    }
    let m = metrics_of(&out);
    Some((out, m))
}

/// At most `max` points of a curve, evenly spaced, first and last kept.
pub fn thin(ts: &[TsMillis], equity: &[f64], max: usize) -> Vec<(TsMillis, f64)> {
    let n = ts.len().min(equity.len());
    if n <= max || max < 2 {
        return (0..n).map(|i| (ts[i], equity[i])).collect();
    }
    (0..max)
        .map(|k| k * (n - 1) / (max - 1))
        .map(|i| (ts[i], equity[i]))
        .collect()
}

/// Walk-forward efficiency: the mean, over windows whose chosen point's annualised in-sample
/// return is positive, of annualised out-of-sample return / annualised in-sample return.
/// `None` when no window qualifies.
pub fn efficiency(windows: &[(Option<f64>, Option<f64>)]) -> Option<f64> {
    let ratios: Vec<f64> = windows
        .iter()
        .filter_map(|(is, oos)| match (is, oos) {
            (Some(is), Some(oos)) if *is > 0.0 => Some(oos / is),
            _ => None,
        })
        .filter(|r| r.is_finite())
        .collect();
    (!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64)
}

/// How one parameter's chosen value moved across windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stability {
    /// The value chosen in each window (null where the window chose none).
    pub values: Vec<serde_json::Value>,
    /// Distinct values chosen.
    pub distinct: usize,
    /// Coefficient of variation (population standard deviation / |mean|) of numeric values;
    /// null for text values, fewer than 2 values or a mean of 0.
    pub cv: Option<f64>,
}

/// The stability of every parameter chosen in any window (`best` per window, in order).
pub fn stability(best: &[Option<serde_json::Value>]) -> BTreeMap<String, Stability> {
    let mut names: Vec<String> = best
        .iter()
        .flatten()
        .filter_map(|b| b.as_object())
        .flat_map(|o| o.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let values: Vec<serde_json::Value> = best
                .iter()
                .map(|b| {
                    b.as_ref()
                        .and_then(|b| b.get(&name))
                        .cloned()
                        .unwrap_or(serde_json::Value::Null)
                })
                .collect();
            let present: Vec<&serde_json::Value> = values.iter().filter(|v| !v.is_null()).collect();
            let mut texts: Vec<String> = present.iter().map(|v| v.to_string()).collect();
            texts.sort();
            texts.dedup();
            let nums: Option<Vec<f64>> = present.iter().map(|v| v.as_f64()).collect();
            let cv = nums.filter(|x| x.len() >= 2).and_then(|x| {
                let mean = x.iter().sum::<f64>() / x.len() as f64;
                let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / x.len() as f64;
                (mean != 0.0).then(|| var.sqrt() / mean.abs())
            });
            (
                name,
                Stability {
                    values,
                    distinct: texts.len(),
                    cv,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
