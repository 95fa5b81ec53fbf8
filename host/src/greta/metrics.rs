//! Run statistics, with the formulas of backtesting.py 0.6.6's `compute_stats`
//! (`docs/adr/0005-reference-exact-fills.md`, "Statistics"), risk-free rate 0.
//!
//! Everything here runs once, after the run, in O(bars + trades).
//!
//! # Invariants
//! - A statistic that is undefined for the run (no trades, zero volatility, a NaN in the
//!   reference's arithmetic) is `None`, serialised as `null`; never NaN or infinity.
//! - Percentages are in percent; durations are in days, rounded up to the data's resolution.

use super::broker::ClosedTrade;
use super::synth::iso;
use crate::domain::TsMillis;

const DAY_MS: f64 = 86_400_000.0;

/// What the statistics are computed from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Equity at each timestamp.
    pub equity: &'a [f64],
    /// The timestamps.
    pub ts: &'a [TsMillis],
    /// Benchmark close at each timestamp (buy & hold, beta).
    pub close: &'a [f64],
    /// Closed trades (open trades are not in the trade statistics).
    pub trades: &'a [ClosedTrade],
    /// Buy & hold starts at this bar's close.
    pub warmup: usize,
}

/// The statistics of one run (keys as in the `--report` JSON).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[allow(missing_docs)]
pub struct Metrics {
    pub start: String,
    pub end: String,
    pub duration_days: f64,
    pub exposure_time_pct: f64,
    pub equity_final: f64,
    pub equity_peak: f64,
    pub commissions: f64,
    pub return_pct: Option<f64>,
    pub buy_hold_return_pct: Option<f64>,
    pub return_ann_pct: Option<f64>,
    pub volatility_ann_pct: Option<f64>,
    pub cagr_pct: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub calmar: Option<f64>,
    pub alpha_pct: Option<f64>,
    pub beta: Option<f64>,
    pub max_drawdown_pct: Option<f64>,
    pub avg_drawdown_pct: Option<f64>,
    pub max_drawdown_duration_days: Option<f64>,
    pub avg_drawdown_duration_days: Option<f64>,
    pub trades: usize,
    pub win_rate_pct: Option<f64>,
    pub best_trade_pct: Option<f64>,
    pub worst_trade_pct: Option<f64>,
    pub avg_trade_pct: Option<f64>,
    pub max_trade_duration_days: Option<f64>,
    pub avg_trade_duration_days: Option<f64>,
    pub profit_factor: Option<f64>,
    pub expectancy_pct: Option<f64>,
    pub sqn: Option<f64>,
    pub kelly: Option<f64>,
}

impl Metrics {
    /// `(key, value)` pairs of the numeric statistics, in report order.
    pub fn numeric(&self) -> Vec<(&'static str, Option<f64>)> {
        vec![
            ("duration_days", Some(self.duration_days)),
            ("exposure_time_pct", Some(self.exposure_time_pct)),
            ("equity_final", Some(self.equity_final)),
            ("equity_peak", Some(self.equity_peak)),
            ("commissions", Some(self.commissions)),
            ("return_pct", self.return_pct),
            ("buy_hold_return_pct", self.buy_hold_return_pct),
            ("return_ann_pct", self.return_ann_pct),
            ("volatility_ann_pct", self.volatility_ann_pct),
            ("cagr_pct", self.cagr_pct),
            ("sharpe", self.sharpe),
            ("sortino", self.sortino),
            ("calmar", self.calmar),
            ("alpha_pct", self.alpha_pct),
            ("beta", self.beta),
            ("max_drawdown_pct", self.max_drawdown_pct),
            ("avg_drawdown_pct", self.avg_drawdown_pct),
            (
                "max_drawdown_duration_days",
                self.max_drawdown_duration_days,
            ),
            (
                "avg_drawdown_duration_days",
                self.avg_drawdown_duration_days,
            ),
            ("trades", Some(self.trades as f64)),
            ("win_rate_pct", self.win_rate_pct),
            ("best_trade_pct", self.best_trade_pct),
            ("worst_trade_pct", self.worst_trade_pct),
            ("avg_trade_pct", self.avg_trade_pct),
            ("max_trade_duration_days", self.max_trade_duration_days),
            ("avg_trade_duration_days", self.avg_trade_duration_days),
            ("profit_factor", self.profit_factor),
            ("expectancy_pct", self.expectancy_pct),
            ("sqn", self.sqn),
            ("kelly", self.kelly),
        ]
    }

    /// Looks a numeric statistic up by key (for ranking sweeps).
    pub fn get(&self, key: &str) -> Option<Option<f64>> {
        self.numeric()
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        f64::NAN
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Sample variance (ddof = 1) of the finite-or-not values, skipping NaN like pandas.
fn var_skipna(xs: &[f64]) -> f64 {
    let v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.len() < 2 {
        return f64::NAN;
    }
    let m = mean(&v);
    v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64
}

/// Bars inside `[entry, exit]` of some span (the union of the spans, exits capped at the last of
/// `n` bars, `n` > 0), with no per-bar array, so memory stays O(spans). The exposure of the
/// whole run and of one symbol's trades (`greta/by_symbol.rs`) are both this count.
pub(crate) fn exposed_bars(spans: impl Iterator<Item = (usize, usize)>, n: usize) -> usize {
    // A span read back from a stored report may be out of order; a run's never is.
    let mut spans: Vec<(usize, usize)> = spans
        .map(|(a, b)| {
            let b = b.min(n.saturating_sub(1));
            (a.min(b), b)
        })
        .collect();
    spans.sort_unstable();
    let mut exposed = 0usize;
    let mut cur: Option<(usize, usize)> = None;
    for (a, b) in spans {
        cur = match cur {
            Some((ca, cb)) if a <= cb + 1 => Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                exposed += cb + 1 - ca;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((ca, cb)) = cur {
        exposed += cb + 1 - ca;
    }
    exposed
}

/// The reference's `geometric_mean`: NaN counts as a 0 return; any return <= -100 % gives 0.
pub(crate) fn geometric_mean(returns: &[f64]) -> f64 {
    let mut s = 0.0;
    for &r in returns {
        let r1 = if r.is_nan() { 1.0 } else { r + 1.0 };
        if r1 <= 0.0 {
            return 0.0;
        }
        s += r1.ln();
    }
    if returns.is_empty() {
        f64::NAN
    } else {
        (s / returns.len() as f64).exp() - 1.0
    }
}

/// The data's resolution in ms: the smallest non-zero unit of the median spacing of the last
/// 100 timestamps (pandas' `Timedelta.resolution_string`).
fn resolution_ms(ts: &[TsMillis]) -> (f64, f64) {
    let tail = &ts[ts.len().saturating_sub(100)..];
    let mut diffs: Vec<i64> = tail.windows(2).map(|w| w[1] - w[0]).collect();
    if diffs.is_empty() {
        return (DAY_MS, 0.0);
    }
    diffs.sort_unstable();
    let n = diffs.len();
    let period = if n % 2 == 1 {
        diffs[n / 2] as f64
    } else {
        (diffs[n / 2 - 1] + diffs[n / 2]) as f64 / 2.0
    };
    let unit = [DAY_MS, 3_600_000.0, 60_000.0, 1000.0, 1.0]
        .into_iter()
        .find(|&u| period % u == 0.0)
        .unwrap_or(1.0);
    (unit, period)
}

fn ceil_days(ms: f64, unit: f64) -> Option<f64> {
    finite(ms).map(|v| (v / unit).ceil() * unit / DAY_MS)
}

/// Computes every statistic.
pub fn compute(inp: &Inputs<'_>) -> Metrics {
    let e = inp.equity;
    let n = e.len();
    let (unit, period) = resolution_ms(inp.ts);
    let start = inp.ts[0];
    let end = inp.ts[n - 1];
    let duration_ms = end - start;

    let exposed = exposed_bars(inp.trades.iter().map(|t| (t.entry_bar, t.exit_bar)), n);

    let e0 = e[0];
    let ef = e[n - 1];
    let peak = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let return_pct = (ef - e0) / e0 * 100.0;
    let c = inp.close;
    let w = inp.warmup.min(n - 1);
    let bh = (c[n - 1] - c[w]) / c[w] * 100.0;

    // Drawdown and its periods, in one pass: a period runs between consecutive bars at a
    // running peak (and the last bar); its depth is the deepest drawdown within.
    let mut running = f64::NEG_INFINITY;
    let mut max_dd = f64::NAN;
    let mut peaks = Vec::new();
    let mut durations = Vec::new();
    let mut prev: Option<usize> = None;
    let mut seg_max = f64::NAN;
    for (i, &x) in e.iter().enumerate() {
        running = running.max(x);
        let d = 1.0 - x / running;
        max_dd = max_dd.max(d);
        seg_max = seg_max.max(d);
        if d == 0.0 || i == n - 1 {
            if let Some(p) = prev
                && i > p + 1
            {
                peaks.push(seg_max);
                durations.push((inp.ts[i] - inp.ts[p]) as f64);
            }
            prev = Some(i);
            seg_max = d;
        }
    }
    let max_dd = if max_dd.is_nan() { 0.0 } else { max_dd };
    let (max_dd_dur, avg_dd_dur) = if durations.is_empty() {
        (None, None)
    } else {
        (
            ceil_days(
                durations.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                unit,
            ),
            ceil_days(mean(&durations), unit),
        )
    };

    // Periodic returns: last equity per calendar day (or week / month / year).
    let freq_days = (period / DAY_MS).floor() as i64;
    let weekend = inp
        .ts
        .iter()
        .filter(|&&t| (t.div_euclid(86_400_000) + 3).rem_euclid(7) >= 5)
        .count() as f64
        / n as f64;
    let annual = match freq_days {
        7 => 52.0,
        31 => 12.0,
        365 => 1.0,
        _ if weekend > 2.0 / 7.0 * 0.6 => 365.0,
        _ => 252.0,
    };
    let key = |t: TsMillis| -> i64 {
        let d = t.div_euclid(86_400_000);
        match freq_days {
            7 => (d + 3).div_euclid(7),
            31 | 365 => {
                let (y, m, ..) = super::synth::civil(t);
                if freq_days == 31 { y * 12 + m } else { y }
            }
            _ => d,
        }
    };
    let mut period_last: Vec<f64> = Vec::new();
    let mut last_key = None;
    for (i, &t) in inp.ts.iter().enumerate() {
        let k = key(t);
        if last_key == Some(k) {
            if let Some(v) = period_last.last_mut() {
                *v = e[i];
            }
        } else {
            period_last.push(e[i]);
            last_key = Some(k);
        }
    }
    // pct_change's leading NaN is dropped (0.6.6); later NaNs (0/0 after a wipe-out) stay.
    let mut returns = Vec::with_capacity(period_last.len());
    for wdw in period_last.windows(2) {
        returns.push(wdw[1] / wdw[0] - 1.0);
    }
    let g = geometric_mean(&returns);
    let ann = (1.0 + g).powf(annual) - 1.0;
    let var = var_skipna(&returns);
    let vol =
        ((var + (1.0 + g).powi(2)).powf(annual) - (1.0 + g).powf(2.0 * annual)).sqrt() * 100.0;
    let downside: Vec<f64> = returns
        .iter()
        .filter(|r| !r.is_nan())
        .map(|r| r.min(0.0).powi(2))
        .collect();
    let sortino = ann / (mean(&downside).sqrt() * annual.sqrt());
    let years = ((duration_ms / 86_400_000) as f64
        + ((duration_ms % 86_400_000) / 1000) as f64 / 86_400.0)
        / 365.25;
    let cagr = if years != 0.0 {
        ((ef / e0).powf(1.0 / years) - 1.0) * 100.0
    } else {
        f64::NAN
    };
    let sharpe = if vol == 0.0 {
        f64::NAN
    } else {
        ann * 100.0 / vol
    };
    let calmar = if max_dd == 0.0 {
        f64::NAN
    } else {
        ann / max_dd
    };

    // Beta of log returns against the benchmark's: streaming co-moments (Welford), no arrays.
    let beta = if n > 2 {
        let (mut k, mut mx, mut my, mut cxy, mut vy) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for i in 1..n {
            let x = (e[i] / e[i - 1]).ln();
            let y = (c[i] / c[i - 1]).ln();
            k += 1.0;
            let dx = x - mx;
            mx += dx / k;
            let my_old = my;
            my += (y - my) / k;
            cxy += dx * (y - my);
            vy += (y - my_old) * (y - my);
        }
        (cxy / (k - 1.0)) / (vy / (k - 1.0))
    } else {
        f64::NAN
    };
    let alpha = return_pct - beta * bh;

    // Trade statistics.
    let t = inp.trades;
    let nt = t.len();
    let pnl: Vec<f64> = t.iter().map(|x| x.pnl).collect();
    let rets: Vec<f64> = t.iter().map(|x| x.return_frac).collect();
    let durs: Vec<f64> = t.iter().map(|x| (x.exit_ts - x.entry_ts) as f64).collect();
    let win = if nt == 0 {
        f64::NAN
    } else {
        pnl.iter().filter(|&&p| p > 0.0).count() as f64 / nt as f64
    };
    let best = rets.iter().copied().fold(f64::NAN, f64::max) * 100.0;
    let worst = rets.iter().copied().fold(f64::NAN, f64::min) * 100.0;
    let pos: f64 = rets.iter().filter(|&&r| r > 0.0).sum();
    let neg: f64 = rets.iter().filter(|&&r| r < 0.0).sum::<f64>().abs();
    let pf = if neg == 0.0 { f64::NAN } else { pos / neg };
    let sd = var_skipna(&pnl).sqrt();
    let sqn = if sd == 0.0 {
        f64::NAN
    } else {
        (nt as f64).sqrt() * mean(&pnl) / sd
    };
    let wins: Vec<f64> = pnl.iter().copied().filter(|&p| p > 0.0).collect();
    let losses: Vec<f64> = pnl.iter().copied().filter(|&p| p < 0.0).collect();
    let kelly = win - (1.0 - win) / (mean(&wins) / -mean(&losses));

    Metrics {
        start: iso(start),
        end: iso(end),
        duration_days: duration_ms as f64 / DAY_MS,
        exposure_time_pct: exposed as f64 / n as f64 * 100.0,
        equity_final: ef,
        equity_peak: peak,
        commissions: t.iter().map(|x| x.commission).sum(),
        return_pct: finite(return_pct),
        buy_hold_return_pct: finite(bh),
        return_ann_pct: finite(ann * 100.0),
        volatility_ann_pct: finite(vol),
        cagr_pct: finite(cagr),
        sharpe: finite(sharpe),
        sortino: finite(sortino),
        calmar: finite(calmar),
        alpha_pct: finite(alpha),
        beta: finite(beta),
        max_drawdown_pct: finite(-max_dd * 100.0),
        avg_drawdown_pct: finite(-mean(&peaks) * 100.0),
        max_drawdown_duration_days: max_dd_dur,
        avg_drawdown_duration_days: avg_dd_dur,
        trades: nt,
        win_rate_pct: finite(win * 100.0),
        best_trade_pct: finite(best),
        worst_trade_pct: finite(worst),
        avg_trade_pct: finite(geometric_mean(&rets) * 100.0),
        max_trade_duration_days: ceil_days(durs.iter().copied().fold(f64::NAN, f64::max), unit),
        avg_trade_duration_days: ceil_days(mean(&durs), unit),
        profit_factor: finite(pf),
        expectancy_pct: finite(mean(&rets) * 100.0),
        sqn: finite(sqn),
        kelly: finite(kelly),
    }
}
