//! The overfitting figures of a sweep's (or a walk-forward's) results: the per-point return
//! series a sweep stores (returns over fixed blocks of bars, the same blocks for every point),
//! and the deflated Sharpe ratio and the probability of backtest overfitting computed from them
//! with [`super::overfit`].
//!
//! # Invariants
//! - Every point of one sweep runs over the same timestamps, so [`block_returns`] cuts every
//!   point's equity at the same bars: period `k` of one point is period `k` of every other.
//! - A figure that cannot be computed (too few points or periods, flat series) is `None` with a
//!   note saying why, never a panic, NaN or an error of the whole answer.
//! - Work is bounded: PBO's block count is lowered until `C(S, S/2)·N·S` is at most
//!   [`PBO_WORK`], and at most [`MAX_TRIALS`] points are read.

use serde::{Deserialize, Serialize};

use super::overfit;

/// Periods a point's return series has at most (fewer when the run has fewer bars). 240 is
/// divisible by every even block count up to 16 but 14 (the PBO's blocks keep 17 or more
/// periods), and 240 numbers a point keep a 100,000-point sweep's store within a few hundred MB.
pub const MAX_PERIODS: usize = 240;

/// Most points the figures are computed over (the returns of every one are read at once).
pub const MAX_TRIALS: usize = 20_000;

/// Most work of one PBO (combinations × trials × blocks): about a second.
const PBO_WORK: usize = 100_000_000;

/// Returns of `equity` over `periods` blocks of bars: block `k` runs from bar
/// `⌊k·(n−1)/periods⌋` to bar `⌊(k+1)·(n−1)/periods⌋` (`periods` is lowered to `n − 1`).
/// Empty for fewer than 2 bars; a non-positive start equity gives a 0 return (a bankrupt run
/// stays at 0).
pub fn block_returns(equity: &[f64], periods: usize) -> Vec<f64> {
    let n = equity.len();
    if n < 2 || periods == 0 {
        return Vec::new();
    }
    let p = periods.min(n - 1);
    let at = |k: usize| k * (n - 1) / p;
    (0..p)
        .map(|k| {
            let (a, b) = (equity[at(k)], equity[at(k + 1)]);
            let r = if a > 0.0 { b / a - 1.0 } else { 0.0 };
            if r.is_finite() { r } else { 0.0 }
        })
        .collect()
}

/// The deflated Sharpe ratio of the chosen point, per period of its return series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeflatedSharpe {
    /// The chosen point's Sharpe ratio per period (not annualised).
    pub sharpe: f64,
    /// The probability that its true Sharpe ratio is above `expected_max_sharpe`.
    pub dsr: f64,
    /// The Sharpe ratio the best of the trials would show with no skill, per period.
    pub expected_max_sharpe: f64,
    /// Periods of its return series.
    pub observations: usize,
    /// Sample variance of the trials' Sharpe ratios.
    pub trial_sharpe_variance: f64,
    /// Skewness of its returns.
    pub skewness: f64,
    /// Kurtosis (not excess) of its returns.
    pub kurtosis: f64,
}

/// The probability of backtest overfitting by CSCV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pbo {
    /// The share of combinations whose in-sample best point ranks in the lower half out of
    /// sample.
    pub pbo: f64,
    /// Blocks the periods were cut into (`S`).
    pub partitions: usize,
    /// Combinations, `C(S, S/2)`.
    pub combinations: usize,
    /// Periods per block.
    pub block_len: usize,
    /// `λ` of every combination.
    pub logits: Vec<f64>,
}

/// The overfitting figures of one selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Points the selection was made from (those with a return series).
    pub trials: usize,
    /// The chosen point's deflated Sharpe ratio (null: see `note`).
    pub deflated_sharpe: Option<DeflatedSharpe>,
    /// PBO over every point (null: see `note`).
    pub pbo: Option<Pbo>,
    /// Why a figure is missing.
    pub note: Option<String>,
}

/// The block count of a PBO over `trials` series of `periods` periods: the largest even `S` up
/// to [`overfit::MAX_PARTITIONS`] (16 at most) leaving 2 or more periods a block within
/// [`PBO_WORK`]; `None` when not even 2 blocks fit.
pub fn partitions(trials: usize, periods: usize) -> Option<usize> {
    (1..=8).rev().map(|h| 2 * h).find(|&s| {
        s <= overfit::MAX_PARTITIONS
            && periods / s >= 2
            && binomial(s, s / 2).saturating_mul(trials).saturating_mul(s) <= PBO_WORK
    })
}

fn binomial(n: usize, k: usize) -> usize {
    (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
}

/// The figures of the point at `chosen` among `trials` (each its return series over the same
/// periods).
pub fn figures(trials: &[Vec<f64>], chosen: usize) -> Figures {
    let n = trials.len();
    let mut notes = Vec::new();
    let deflated_sharpe = if n < 2 {
        notes.push(format!(
            "the deflated Sharpe ratio and PBO need at least 2 points with returns; there are {n}"
        ));
        None
    } else {
        match (
            overfit::deflated_sharpe_of(trials, chosen),
            trials.get(chosen).map(|t| overfit::moments(t)),
        ) {
            (Ok(d), Some(Ok(m))) => {
                let sharpes: Vec<f64> = trials
                    .iter()
                    .filter_map(|t| overfit::moments(t).ok())
                    .map(|m| m.sharpe)
                    .collect();
                Some(DeflatedSharpe {
                    sharpe: m.sharpe,
                    dsr: d.probability,
                    expected_max_sharpe: d.expected_max_sharpe,
                    observations: m.n,
                    trial_sharpe_variance: overfit::sample_variance(&sharpes),
                    skewness: m.skewness,
                    kurtosis: m.kurtosis,
                })
            }
            (Err(e), _) | (_, Some(Err(e))) => {
                notes.push(format!("deflated Sharpe ratio: {e}"));
                None
            }
            (_, None) => None,
        }
    };
    let periods = trials.first().map_or(0, Vec::len);
    let pbo = if n < 2 {
        None
    } else if let Some(s) = partitions(n, periods) {
        match overfit::pbo(trials, s) {
            Ok(p) => Some(Pbo {
                pbo: p.probability,
                partitions: s,
                combinations: p.combinations,
                block_len: p.block_len,
                logits: p.logits,
            }),
            Err(e) => {
                notes.push(format!("PBO: {e}"));
                None
            }
        }
    } else {
        notes.push(format!(
            "PBO needs at least 4 periods (2 blocks of 2); the returns have {periods}"
        ));
        None
    };
    Figures {
        trials: n,
        deflated_sharpe,
        pbo,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    }
}

/// The figures when more than [`MAX_TRIALS`] points ran: not computed, with the reason.
pub fn too_many(trials: usize) -> Figures {
    Figures {
        trials,
        deflated_sharpe: None,
        pbo: None,
        note: Some(format!(
            "{trials} points with returns; the overfitting figures are computed for at most {MAX_TRIALS}"
        )),
    }
}

/// The deflated Sharpe ratio of the stitched out-of-sample curve, per bar: the selection was
/// made among `points` trials in each window, whose per-bar Sharpe ratios varied by the mean
/// of the windows' variances. PBO is a sweep's (one selection over common periods) and is
/// left out with a note.
pub fn stitched_figures(equity: &[f64], points: u64, variances: &[f64]) -> Figures {
    let trials = usize::try_from(points).unwrap_or(usize::MAX);
    let pbo_note = "PBO is computed over one sweep's points on common periods; a walk-forward \
                    selects again in every window (see each window's in-sample sweep)";
    let returns = block_returns(equity, usize::MAX);
    let variance = if variances.is_empty() {
        0.0
    } else {
        variances.iter().sum::<f64>() / variances.len() as f64
    };
    let dsr = overfit::moments(&returns).and_then(|m| {
        let d = overfit::deflated_sharpe(&overfit::DsrInput {
            sharpe: m.sharpe,
            trials: trials.max(1),
            trial_sharpe_variance: variance,
            observations: m.n,
            skewness: m.skewness,
            kurtosis: m.kurtosis,
        })?;
        Ok(DeflatedSharpe {
            sharpe: m.sharpe,
            dsr: d.probability,
            expected_max_sharpe: d.expected_max_sharpe,
            observations: m.n,
            trial_sharpe_variance: variance,
            skewness: m.skewness,
            kurtosis: m.kurtosis,
        })
    });
    let (deflated_sharpe, note) = match dsr {
        Ok(d) => (Some(d), pbo_note.to_owned()),
        Err(e) => (None, format!("deflated Sharpe ratio: {e}; {pbo_note}")),
    };
    Figures {
        trials,
        deflated_sharpe,
        pbo: None,
        note: Some(note),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cut_every_curve_at_the_same_bars() {
        // 7 bars, 3 blocks: bars 0–2, 2–4, 4–6.
        let e = [100.0, 101.0, 110.0, 99.0, 121.0, 50.0, 60.5];
        let r = block_returns(&e, 3);
        assert_eq!(r.len(), 3);
        assert!((r[0] - 0.10).abs() < 1e-12);
        assert!((r[1] - 0.10).abs() < 1e-12);
        assert!((r[2] + 0.50).abs() < 1e-12);
        // More periods than bars: one a bar.
        assert_eq!(block_returns(&[1.0, 2.0, 1.0], 240), vec![1.0, -0.5]);
        assert!(block_returns(&[1.0], 240).is_empty());
        // A bankrupt run stays at 0 without NaN.
        assert_eq!(block_returns(&[1.0, 0.0, 0.0], 2), vec![-1.0, 0.0]);
    }

    /// Hand-computed: two points of four periods. Point 0 returns 1, 3, 1, 3 % (mean 0.02,
    /// sample sd 0.011547, Sharpe 1.732051); point 1 returns 0, 1, 0, 1 % (Sharpe 0.866025).
    /// The Sharpe ratios' sample variance is (1.732051 − 0.866025)² / 2 = 0.375; with N = 2,
    /// SR₀ = √0.375·((1−γ)·Φ⁻¹(1/2) + γ·Φ⁻¹(1 − 1/(2e))) = 0.612372·0.577216·0.900453
    /// = 0.318284. Skewness 0, kurtosis 1 (two values, equally often): the estimator's
    /// variance is 1 + 0·SR + 0 = 1, so DSR = Φ((1.732051 − 0.318284)·√3) = Φ(2.448716)
    /// = 0.992832 (Φ and Φ⁻¹ checked with Python's `statistics.NormalDist`).
    #[test]
    fn figures_feed_the_statistics_with_the_points_returns() {
        let trials = vec![vec![0.01, 0.03, 0.01, 0.03], vec![0.0, 0.01, 0.0, 0.01]];
        let f = figures(&trials, 0);
        assert_eq!(f.trials, 2);
        let d = f.deflated_sharpe.expect("dsr");
        assert!((d.sharpe - 1.732_050_8).abs() < 1e-6, "{d:?}");
        assert!((d.trial_sharpe_variance - 0.375).abs() < 1e-9, "{d:?}");
        assert_eq!(d.observations, 4);
        assert!((d.skewness).abs() < 1e-12 && (d.kurtosis - 1.0).abs() < 1e-12);
        let sr0 = 0.375_f64.sqrt()
            * (0.577_215_664_901_532_9
                * overfit::norm_inv(1.0 - 1.0 / (2.0 * std::f64::consts::E)));
        assert!((d.expected_max_sharpe - sr0).abs() < 1e-12, "{d:?}");
        assert!((d.expected_max_sharpe - 0.318_284).abs() < 1e-5, "{d:?}");
        let want = overfit::norm_cdf((1.732_050_807_568_877 - sr0) * 3.0_f64.sqrt());
        assert!((d.dsr - want).abs() < 1e-12, "{d:?}");
        assert!((d.dsr - 0.992_832).abs() < 1e-6, "{d:?}");
        // 4 periods: 2 blocks of 2, each half 1 %, 3 % for point 0 (Sharpe 1.414) and 0, 1 %
        // for point 1 (0.707): point 0 is best in sample and first out of sample, λ = ln 2 > 0.
        let p = f.pbo.expect("pbo");
        assert_eq!((p.partitions, p.combinations, p.block_len), (2, 2, 2));
        assert_eq!(p.pbo, 0.0);
        assert!(f.note.is_none());
    }

    #[test]
    fn missing_figures_say_why() {
        let one = figures(&[vec![0.01, 0.02, 0.03]], 0);
        assert!(one.deflated_sharpe.is_none() && one.pbo.is_none());
        assert!(one.note.unwrap().contains("at least 2 points"));
        let short = figures(&[vec![0.01, 0.02, 0.0], vec![0.0, 0.01, 0.02]], 1);
        assert!(short.deflated_sharpe.is_some());
        assert!(short.pbo.is_none());
        assert!(short.note.unwrap().contains("PBO needs at least 4 periods"));
        assert_eq!(partitions(10, 240), Some(16));
        assert_eq!(partitions(20_000, 240), Some(10));
        assert_eq!(partitions(2, 3), None);
        assert!(too_many(20_001).note.unwrap().contains("20000"));
    }

    #[test]
    fn a_stitched_curve_is_deflated_per_bar() {
        // Returns 10 %, 0 %, 10 %, 0 %: per-bar Sharpe 0.05 / 0.057735 = 0.866025.
        let equity = [100.0, 110.0, 110.0, 121.0, 121.0];
        let f = stitched_figures(&equity, 4, &[0.5, 1.5]);
        let d = f.deflated_sharpe.expect("dsr");
        assert_eq!((f.trials, d.observations), (4, 4));
        assert!((d.sharpe - 0.866_025_4).abs() < 1e-6, "{d:?}");
        assert!((d.trial_sharpe_variance - 1.0).abs() < 1e-12);
        assert!((d.expected_max_sharpe - overfit::expected_max_sharpe(4, 1.0)).abs() < 1e-12);
        assert!(f.pbo.is_none() && f.note.unwrap().contains("PBO"));
    }
}
