//! Overfitting statistics over backtest results: the deflated Sharpe ratio, the probability of
//! backtest overfitting by combinatorially symmetric cross-validation, and a Monte Carlo
//! bootstrap of a trade sequence. Pure functions over numbers: a sweep passes its points'
//! per-period returns or Sharpe ratios, a single backtest its trade returns.
//!
//! - [`deflated_sharpe`] (Bailey & López de Prado, "The Deflated Sharpe Ratio", 2014): the
//!   probability that the true Sharpe ratio is above the Sharpe ratio the best of `trials`
//!   unskilled trials would show by luck, `SR₀ = √V·((1−γ)·Φ⁻¹(1−1/N) + γ·Φ⁻¹(1−1/(N·e)))`,
//!   corrected for sample length, skewness and kurtosis:
//!   `DSR = Φ((SR − SR₀)·√(T−1) / √(1 − γ₃·SR + (γ₄−1)/4·SR²))`. Sharpe ratios are per period
//!   (not annualised), `kurtosis` is the plain (non-excess) kurtosis: 3 for normal returns.
//!   [`deflated_sharpe_of`] computes every input from the trials' per-period returns.
//! - [`pbo`] (Bailey, Borwein, López de Prado & Zhu, "The Probability of Backtest
//!   Overfitting", 2015): the `T` periods are cut into `S` blocks; for every way of choosing
//!   `S/2` blocks as in-sample, the trial with the best in-sample Sharpe ratio is ranked out of
//!   sample, `ω = rank/(N+1)`, `λ = ln(ω/(1−ω))`; PBO is the share of combinations with `λ ≤ 0`.
//! - [`monte_carlo`]: `runs` resamplings with replacement (seeded) of the trade returns, each
//!   compounded as if every trade were taken with the whole equity, in the order drawn; the
//!   percentiles (5, 25, 50, 75, 95) of total return and of maximum drawdown.
//!
//! # Invariants
//! - Input outside a function's domain (too few trials or periods, an odd `S`, non-finite
//!   numbers, runs above [`MAX_RUNS`]) is an [`Error`] naming the input, never a panic or NaN.
//! - The same inputs and seed give the same output on every platform (own PRNG, no threads).
//! - Work is bounded: `C(S, S/2)·N·S` for PBO with `S ≤` [`MAX_PARTITIONS`], `runs × trades ≤`
//!   [`MAX_DRAWS`] for Monte Carlo.

use serde::Serialize;

use super::synth::SplitMix64;

/// Euler–Mascheroni constant (the expected-maximum formula's `γ`).
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
/// Most Monte Carlo runs of one call.
pub const MAX_RUNS: usize = 100_000;
/// Most trade draws of one Monte Carlo call (`runs × trades`): about a second of work.
pub const MAX_DRAWS: usize = 50_000_000;
/// Most blocks of a CSCV (C(20, 10) = 184,756 combinations).
pub const MAX_PARTITIONS: usize = 20;

/// Input a statistic cannot be computed from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{input} {problem}")]
pub struct Error {
    /// The input, by its name in the API (`runs`, `trials`, `partitions`, …).
    pub input: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl Error {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        "invalid_overfit_input"
    }
}

fn bad(input: &'static str, problem: impl Into<String>) -> Error {
    Error {
        input,
        problem: problem.into(),
    }
}

/// Standard normal CDF `Φ`.
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Inverse standard normal CDF `Φ⁻¹` for `p` in (0, 1): Acklam's rational approximation
/// (relative error 1.15e-9) refined by one Halley step on `erfc`, which brings it to about
/// machine precision.
pub fn norm_inv(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    let e = norm_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// The sample moments of one return series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Moments {
    /// Observations.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (`n − 1`).
    pub sd: f64,
    /// Per-period Sharpe ratio `mean / sd` (0 when `sd` is 0).
    pub sharpe: f64,
    /// Skewness (population moments, as in the DSR paper).
    pub skewness: f64,
    /// Kurtosis, not excess (3 for a normal distribution).
    pub kurtosis: f64,
}

/// The moments of `returns` (at least 2 finite values).
///
/// # Errors
/// Fewer than 2 values, or a value that is not finite.
pub fn moments(returns: &[f64]) -> Result<Moments, Error> {
    let n = returns.len();
    if n < 2 {
        return Err(bad("returns", format!("has {n} values, at least 2 needed")));
    }
    if returns.iter().any(|r| !r.is_finite()) {
        return Err(bad("returns", "holds a value that is not a finite number"));
    }
    let nf = n as f64;
    let mean = returns.iter().sum::<f64>() / nf;
    let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
    for r in returns {
        let d = r - mean;
        m2 += d * d;
        m3 += d * d * d;
        m4 += d * d * d * d;
    }
    let sd = (m2 / (nf - 1.0)).sqrt();
    let (pm2, pm3, pm4) = (m2 / nf, m3 / nf, m4 / nf);
    let flat = pm2 == 0.0;
    Ok(Moments {
        n,
        mean,
        sd,
        sharpe: if sd > 0.0 { mean / sd } else { 0.0 },
        skewness: if flat { 0.0 } else { pm3 / pm2.powf(1.5) },
        kurtosis: if flat { 3.0 } else { pm4 / (pm2 * pm2) },
    })
}

/// What [`deflated_sharpe`] needs, all per period (not annualised).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DsrInput {
    /// The selected trial's Sharpe ratio.
    pub sharpe: f64,
    /// Number of independent trials the selection was made from (≥ 1).
    pub trials: usize,
    /// Variance of the trials' Sharpe ratios.
    pub trial_sharpe_variance: f64,
    /// Number of return observations `T` of the selected trial (≥ 2).
    pub observations: usize,
    /// Skewness of the selected trial's returns.
    pub skewness: f64,
    /// Kurtosis (not excess) of the selected trial's returns.
    pub kurtosis: f64,
}

/// The deflated Sharpe ratio.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Dsr {
    /// Probability that the true Sharpe ratio is above [`Dsr::expected_max_sharpe`].
    pub probability: f64,
    /// The Sharpe ratio the best of the trials would show with no skill (`SR₀`), per period.
    pub expected_max_sharpe: f64,
}

/// The expected maximum of `trials` Sharpe ratios drawn from a normal with mean 0 and variance
/// `variance` (the DSR paper's `SR₀`); 0 for a single trial.
pub fn expected_max_sharpe(trials: usize, variance: f64) -> f64 {
    if trials <= 1 {
        return 0.0;
    }
    let n = trials as f64;
    variance.sqrt()
        * ((1.0 - EULER_GAMMA) * norm_inv(1.0 - 1.0 / n)
            + EULER_GAMMA * norm_inv(1.0 - 1.0 / (n * std::f64::consts::E)))
}

/// The probabilistic Sharpe ratio: the probability that the true Sharpe ratio is above
/// `benchmark`, given `sharpe` measured over `observations` periods with these moments.
///
/// # Errors
/// Fewer than 2 observations, a non-finite input, or moments for which the estimator's
/// variance `1 − γ₃·SR + (γ₄−1)/4·SR²` is not positive.
pub fn probabilistic_sharpe(
    sharpe: f64,
    benchmark: f64,
    observations: usize,
    skewness: f64,
    kurtosis: f64,
) -> Result<f64, Error> {
    if observations < 2 {
        return Err(bad("observations", format!("{observations} is below 2")));
    }
    for (input, v) in [
        ("sharpe", sharpe),
        ("skewness", skewness),
        ("kurtosis", kurtosis),
    ] {
        if !v.is_finite() {
            return Err(bad(input, "must be a finite number"));
        }
    }
    let var = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe;
    if var <= 0.0 {
        return Err(bad(
            "kurtosis",
            format!("{kurtosis} with skewness {skewness} gives a non-positive variance"),
        ));
    }
    Ok(norm_cdf(
        (sharpe - benchmark) * ((observations - 1) as f64).sqrt() / var.sqrt(),
    ))
}

/// The deflated Sharpe ratio of `i`.
///
/// # Errors
/// No trials, a negative or non-finite variance, or as [`probabilistic_sharpe`].
pub fn deflated_sharpe(i: &DsrInput) -> Result<Dsr, Error> {
    if i.trials == 0 {
        return Err(bad("trials", "must be at least 1"));
    }
    if !i.trial_sharpe_variance.is_finite() || i.trial_sharpe_variance < 0.0 {
        return Err(bad(
            "trial_sharpe_variance",
            "must be a non-negative number",
        ));
    }
    let sr0 = expected_max_sharpe(i.trials, i.trial_sharpe_variance);
    Ok(Dsr {
        probability: probabilistic_sharpe(i.sharpe, sr0, i.observations, i.skewness, i.kurtosis)?,
        expected_max_sharpe: sr0,
    })
}

/// The deflated Sharpe ratio of trial `chosen` among `trials` (each trial's per-period returns,
/// e.g. a sweep's points' daily returns): every trial counts as one independent trial, the
/// variance is the sample variance of the trials' Sharpe ratios, and `T`, skewness and kurtosis
/// are the chosen trial's.
///
/// # Errors
/// Fewer than 2 trials, `chosen` out of range, or a trial [`moments`] refuses.
pub fn deflated_sharpe_of(trials: &[Vec<f64>], chosen: usize) -> Result<Dsr, Error> {
    if trials.len() < 2 {
        return Err(bad(
            "trials",
            format!("has {} series, at least 2 needed", trials.len()),
        ));
    }
    let m = trials
        .iter()
        .map(|t| moments(t))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(best) = m.get(chosen) else {
        return Err(bad(
            "chosen",
            format!("{chosen} is not one of the {} trials", trials.len()),
        ));
    };
    let sharpes: Vec<f64> = m.iter().map(|x| x.sharpe).collect();
    deflated_sharpe(&DsrInput {
        sharpe: best.sharpe,
        trials: trials.len(),
        trial_sharpe_variance: sample_variance(&sharpes),
        observations: best.n,
        skewness: best.skewness,
        kurtosis: best.kurtosis,
    })
}

/// Sample variance (`n − 1`) of `xs`; 0 for fewer than 2 values.
pub fn sample_variance(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)
}

/// The probability of backtest overfitting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pbo {
    /// Share of the combinations whose in-sample best trial ranks in the lower half out of
    /// sample (`λ ≤ 0`).
    pub probability: f64,
    /// `λ` of every combination, in the order of the combinations' bit masks.
    pub logits: Vec<f64>,
    /// Number of combinations, `C(S, S/2)`.
    pub combinations: usize,
    /// Periods per block (`⌊T/S⌋`; the last `T mod S` periods are left out).
    pub block_len: usize,
}

/// PBO by CSCV over `trials` (N trials, each its `T` per-period returns, all of one length) cut
/// into `partitions` (`S`, even) blocks; performance is the per-period Sharpe ratio.
///
/// # Errors
/// Fewer than 2 trials, trials of different lengths or with non-finite values, an odd `S` or
/// one outside 2..=[`MAX_PARTITIONS`], blocks of fewer than 2 periods.
pub fn pbo(trials: &[Vec<f64>], partitions: usize) -> Result<Pbo, Error> {
    let n = trials.len();
    if n < 2 {
        return Err(bad("trials", format!("has {n} series, at least 2 needed")));
    }
    if partitions < 2 || !partitions.is_multiple_of(2) || partitions > MAX_PARTITIONS {
        return Err(bad(
            "partitions",
            format!("{partitions} must be even and in 2..={MAX_PARTITIONS}"),
        ));
    }
    let t = trials[0].len();
    if trials.iter().any(|x| x.len() != t) {
        return Err(bad("trials", "must all have the same number of periods"));
    }
    if trials.iter().flatten().any(|r| !r.is_finite()) {
        return Err(bad("trials", "hold a value that is not a finite number"));
    }
    let len = t / partitions;
    if len < 2 {
        return Err(bad(
            "partitions",
            format!("{partitions} blocks of {t} periods leave fewer than 2 periods a block"),
        ));
    }
    // Per trial and block: count is `len`; sums and sums of squares make any union's Sharpe
    // ratio O(S) instead of O(T).
    let mut sum = vec![0.0; n * partitions];
    let mut sq = vec![0.0; n * partitions];
    for (k, series) in trials.iter().enumerate() {
        for b in 0..partitions {
            for r in &series[b * len..(b + 1) * len] {
                sum[k * partitions + b] += r;
                sq[k * partitions + b] += r * r;
            }
        }
    }
    let sharpe = |k: usize, mask: u32| {
        let (mut s, mut q, mut c) = (0.0, 0.0, 0.0);
        for b in 0..partitions {
            if mask & (1 << b) != 0 {
                s += sum[k * partitions + b];
                q += sq[k * partitions + b];
                c += len as f64;
            }
        }
        let mean = s / c;
        let var = ((q - s * mean) / (c - 1.0)).max(0.0);
        if var > 0.0 { mean / var.sqrt() } else { 0.0 }
    };
    let all = (1u32 << partitions) - 1;
    let mut logits = Vec::new();
    let mut oos = vec![0.0; n];
    for mask in 0..=all {
        if mask.count_ones() as usize != partitions / 2 {
            continue;
        }
        let mut best = 0;
        let mut best_is = f64::NEG_INFINITY;
        for (k, o) in oos.iter_mut().enumerate() {
            let is = sharpe(k, mask);
            if is > best_is {
                best_is = is;
                best = k;
            }
            *o = sharpe(k, all & !mask);
        }
        // Relative rank in 1..=N, ties at their average rank.
        let v = oos[best];
        let below = oos.iter().filter(|&&x| x < v).count() as f64;
        let equal = oos.iter().filter(|&&x| x == v).count() as f64;
        let omega = (below + (equal + 1.0) / 2.0) / (n as f64 + 1.0);
        logits.push((omega / (1.0 - omega)).ln());
    }
    let overfit = logits.iter().filter(|&&l| l <= 0.0).count();
    Ok(Pbo {
        probability: overfit as f64 / logits.len() as f64,
        combinations: logits.len(),
        logits,
        block_len: len,
    })
}

/// Five percentiles of a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// 5th.
    pub p5: f64,
    /// 25th.
    pub p25: f64,
    /// 50th (median).
    pub p50: f64,
    /// 75th.
    pub p75: f64,
    /// 95th.
    pub p95: f64,
}

impl Percentiles {
    /// The percentiles of `values` (sorted in place), interpolated linearly between the two
    /// nearest ranks (numpy's default).
    pub fn of(values: &mut [f64]) -> Percentiles {
        values.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if values.is_empty() {
                return 0.0;
            }
            let pos = q * (values.len() - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = pos.ceil() as usize;
            values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
        };
        Percentiles {
            p5: at(0.05),
            p25: at(0.25),
            p50: at(0.5),
            p75: at(0.75),
            p95: at(0.95),
        }
    }
}

/// The Monte Carlo distribution of a trade sequence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonteCarlo {
    /// Resamplings.
    pub runs: usize,
    /// Trades per resampling (the trades of the backtest).
    pub trades: usize,
    /// The seed.
    pub seed: u64,
    /// Total return of the trades in their real order, percent.
    pub observed_return_pct: f64,
    /// Maximum drawdown of the trades in their real order, percent (positive).
    pub observed_max_drawdown_pct: f64,
    /// Total return, percent.
    pub return_pct: Percentiles,
    /// Maximum drawdown over the trade-by-trade equity, percent (positive).
    pub max_drawdown_pct: Percentiles,
}

/// Compounded total return and maximum drawdown (both fractions) of `returns` in order.
fn path(returns: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut equity, mut peak, mut dd) = (1.0_f64, 1.0_f64, 0.0_f64);
    for r in returns {
        // A loss of more than everything (a short) leaves nothing, not negative equity.
        equity = (equity * (1.0 + r)).max(0.0);
        peak = peak.max(equity);
        dd = dd.max(1.0 - equity / peak);
    }
    (equity - 1.0, dd)
}

/// Bootstraps `trade_returns` (fractions: 0.01 = +1 %) `runs` times with `seed`.
///
/// # Errors
/// No trades, a non-finite return, `runs` of 0 or above [`MAX_RUNS`], or `runs × trades` above
/// [`MAX_DRAWS`].
pub fn monte_carlo(trade_returns: &[f64], runs: usize, seed: u64) -> Result<MonteCarlo, Error> {
    let n = trade_returns.len();
    if n == 0 {
        return Err(bad(
            "trades",
            "the backtest has no closed trades to resample",
        ));
    }
    if trade_returns.iter().any(|r| !r.is_finite()) {
        return Err(bad("trades", "hold a return that is not a finite number"));
    }
    if runs == 0 || runs > MAX_RUNS {
        return Err(bad("runs", format!("{runs} must be in 1..={MAX_RUNS}")));
    }
    if runs.saturating_mul(n) > MAX_DRAWS {
        return Err(bad(
            "runs",
            format!(
                "{runs} runs × {n} trades is above {MAX_DRAWS} draws; at most {} runs for this backtest",
                MAX_DRAWS / n
            ),
        ));
    }
    let mut rng = SplitMix64(seed);
    let mut totals = Vec::with_capacity(runs);
    let mut dds = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (total, dd) = path((0..n).map(|_| {
            // Lemire's multiply-shift: an index in 0..n without a modulo's bias towards low ones.
            let i = ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize;
            trade_returns[i]
        }));
        totals.push(total * 100.0);
        dds.push(dd * 100.0);
    }
    let (observed, observed_dd) = path(trade_returns.iter().copied());
    Ok(MonteCarlo {
        runs,
        trades: n,
        seed,
        observed_return_pct: observed * 100.0,
        observed_max_drawdown_pct: observed_dd * 100.0,
        return_pct: Percentiles::of(&mut totals),
        max_drawdown_pct: Percentiles::of(&mut dds),
    })
}

#[cfg(test)]
mod tests;
