use super::*;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn normal_cdf_and_its_inverse_match_tabulated_values() {
    assert!(close(norm_cdf(1.96), 0.975_002_104_851_779_5, 1e-15));
    assert!(close(norm_cdf(0.0), 0.5, 1e-16));
    assert!(close(norm_inv(0.975), 1.959_963_984_540_054, 1e-12));
    assert!(close(norm_inv(0.99), 2.326_347_874_040_841, 1e-12));
    assert!(close(norm_inv(1e-10), -6.361_340_902_404_056, 1e-9));
    assert!(close(norm_inv(0.5), 0.0, 1e-15));
    assert_eq!(norm_inv(0.0), f64::NEG_INFINITY);
}

#[test]
fn moments_by_hand() {
    let m = moments(&[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!(m.mean, 2.5);
    // Sample variance 5/3; population m2 = 1.25, m4 = 2.5625: kurtosis 1.64.
    assert!(close(m.sd, (5.0_f64 / 3.0).sqrt(), 1e-15));
    assert!(close(m.sharpe, 2.5 / (5.0_f64 / 3.0).sqrt(), 1e-15));
    assert!(close(m.skewness, 0.0, 1e-15));
    assert!(close(m.kurtosis, 1.64, 1e-12));
    assert_eq!(moments(&[1.0]).unwrap_err().input, "returns");
    assert_eq!(moments(&[1.0, f64::NAN]).unwrap_err().input, "returns");
}

/// The numerical example of Bailey & López de Prado (2014), section 5: an annualised Sharpe
/// ratio of 2.5 over 5 years of daily returns (T = 1250), the best of N = 100 trials whose
/// annualised Sharpe ratios have variance 1/2, returns with skewness −3 and kurtosis 10. The
/// paper finds SR₀ ≈ 0.1132 per day (≈ 1.79 annualised) and DSR ≈ 0.9004.
#[test]
fn deflated_sharpe_reproduces_the_papers_example() {
    let per_year = 250.0_f64;
    let dsr = deflated_sharpe(&DsrInput {
        sharpe: 2.5 / per_year.sqrt(),
        trials: 100,
        trial_sharpe_variance: 0.5 / per_year,
        observations: 1250,
        skewness: -3.0,
        kurtosis: 10.0,
    })
    .unwrap();
    assert!(
        close(dsr.expected_max_sharpe, 0.1132, 5e-5),
        "{}",
        dsr.expected_max_sharpe
    );
    assert!(close(dsr.probability, 0.9004, 5e-4), "{}", dsr.probability);
}

#[test]
fn probabilistic_sharpe_by_hand() {
    // SR 0.1 over 101 periods of normal returns: z = 0.1·√100/√(1 + 2/4·0.01) = 0.997509;
    // Φ(z) = Φ(1) − 0.002491·φ(1) ≈ 0.841345 − 0.000603 = 0.840742.
    let p = probabilistic_sharpe(0.1, 0.0, 101, 0.0, 3.0).unwrap();
    assert!(close(p, 0.840_742, 2e-6), "{p}");
    // One trial: nothing to deflate, the benchmark is 0.
    assert_eq!(expected_max_sharpe(1, 0.3), 0.0);
    let e = probabilistic_sharpe(1.0, 0.0, 100, 10.0, 3.0).unwrap_err();
    assert_eq!(e.input, "kurtosis");
    assert_eq!(
        deflated_sharpe(&DsrInput {
            sharpe: 0.1,
            trials: 0,
            trial_sharpe_variance: 0.1,
            observations: 10,
            skewness: 0.0,
            kurtosis: 3.0
        })
        .unwrap_err()
        .input,
        "trials"
    );
}

fn noise(seed: u64, n: usize, mean: f64, sd: f64) -> Vec<f64> {
    let mut rng = SplitMix64(seed);
    (0..n).map(|_| mean + sd * rng.normal()).collect()
}

#[test]
fn deflated_sharpe_of_returns_uses_the_chosen_trials_moments() {
    let trials: Vec<Vec<f64>> = (0..20).map(|k| noise(k, 500, 0.0, 0.01)).collect();
    let best = (0..20)
        .max_by(|&a, &b| {
            let s = |k: usize| moments(&trials[k]).unwrap().sharpe;
            s(a).total_cmp(&s(b))
        })
        .unwrap();
    let m = moments(&trials[best]).unwrap();
    let sharpes: Vec<f64> = trials.iter().map(|t| moments(t).unwrap().sharpe).collect();
    let by_hand = deflated_sharpe(&DsrInput {
        sharpe: m.sharpe,
        trials: 20,
        trial_sharpe_variance: sample_variance(&sharpes),
        observations: 500,
        skewness: m.skewness,
        kurtosis: m.kurtosis,
    })
    .unwrap();
    let dsr = deflated_sharpe_of(&trials, best).unwrap();
    assert_eq!(dsr, by_hand);
    // The best of 20 noise trials is not significant once the selection is accounted for.
    assert!(dsr.probability < 0.9, "{}", dsr.probability);
    assert_eq!(deflated_sharpe_of(&trials, 20).unwrap_err().input, "chosen");
    assert_eq!(
        deflated_sharpe_of(&trials[..1], 0).unwrap_err().input,
        "trials"
    );
}

/// Two trials that each win one half and lose the other: whichever half is in sample, its
/// winner is the out-of-sample loser (rank 1 of 2, ω = 1/3, λ = ln ½), so PBO is 1.
#[test]
fn pbo_is_one_when_the_in_sample_winner_always_loses_out_of_sample() {
    let a = vec![0.01, 0.02, -0.01, -0.02];
    let b = vec![-0.01, -0.02, 0.01, 0.02];
    let p = pbo(&[a, b], 2).unwrap();
    assert_eq!(p.combinations, 2);
    assert_eq!(p.block_len, 2);
    assert_eq!(p.probability, 1.0);
    for l in &p.logits {
        assert!(close(*l, 0.5_f64.ln(), 1e-15), "{l}");
    }
}

/// One trial with a real edge among noise: it is best in every in-sample half and best out of
/// sample, rank N of N: ω = 10/11, λ = ln 10 for every combination, and PBO is 0.
#[test]
fn pbo_is_zero_for_one_dominant_trial() {
    let mut trials: Vec<Vec<f64>> = (1..10).map(|k| noise(k, 1000, 0.0, 0.01)).collect();
    trials.insert(0, noise(99, 1000, 0.02, 0.01));
    let p = pbo(&trials, 8).unwrap();
    assert_eq!(p.combinations, 70);
    assert_eq!(p.block_len, 125);
    assert_eq!(p.probability, 0.0);
    assert!(p.logits.iter().all(|l| close(*l, 10_f64.ln(), 1e-12)));
}

#[test]
fn pbo_of_pure_noise_is_near_one_half() {
    let trials: Vec<Vec<f64>> = (0..40).map(|k| noise(1000 + k, 2000, 0.0, 0.01)).collect();
    let p = pbo(&trials, 10).unwrap();
    assert_eq!(p.combinations, 252);
    assert!(
        (0.3..=0.7).contains(&p.probability),
        "noise PBO {}",
        p.probability
    );
}

#[test]
fn pbo_refuses_bad_shapes() {
    let t = vec![vec![0.0; 100], vec![0.0; 100]];
    assert_eq!(pbo(&t, 3).unwrap_err().input, "partitions");
    assert_eq!(pbo(&t, 22).unwrap_err().input, "partitions");
    assert_eq!(pbo(&t, 0).unwrap_err().input, "partitions");
    assert_eq!(pbo(&t[..1], 2).unwrap_err().input, "trials");
    assert_eq!(
        pbo(&[vec![0.0; 100], vec![0.0; 99]], 2).unwrap_err().input,
        "trials"
    );
    assert_eq!(
        pbo(&[vec![0.0; 6], vec![0.0; 6]], 4).unwrap_err().input,
        "partitions"
    );
}

#[test]
fn percentiles_interpolate_like_numpy() {
    let p = Percentiles::of(&mut [5.0, 1.0, 4.0, 2.0, 3.0]);
    assert!(close(p.p5, 1.2, 1e-12));
    assert_eq!((p.p25, p.p50, p.p75), (2.0, 3.0, 4.0));
    assert!(close(p.p95, 4.8, 1e-12));
}

/// Trades of +10 % and −10 %, two per path: ++ (¼) returns +21 % with no drawdown, +− and −+
/// (½) −1 % with a 10 % drawdown, −− (¼) −19 % with a 19 % drawdown.
#[test]
fn monte_carlo_of_two_trades_by_hand() {
    let mc = monte_carlo(&[0.1, -0.1], 4000, 1).unwrap();
    assert_eq!((mc.runs, mc.trades, mc.seed), (4000, 2, 1));
    assert!(close(mc.observed_return_pct, -1.0, 1e-9));
    assert!(close(mc.observed_max_drawdown_pct, 10.0, 1e-9));
    assert!(close(mc.return_pct.p5, -19.0, 1e-9), "{:?}", mc.return_pct);
    assert!(close(mc.return_pct.p50, -1.0, 1e-9));
    assert!(close(mc.return_pct.p95, 21.0, 1e-9));
    assert!(close(mc.max_drawdown_pct.p5, 0.0, 1e-9));
    assert!(close(mc.max_drawdown_pct.p50, 10.0, 1e-9));
    assert!(close(mc.max_drawdown_pct.p95, 19.0, 1e-9));
    assert_eq!(monte_carlo(&[0.1, -0.1], 4000, 1).unwrap(), mc, "seeded");
    let other = monte_carlo(&[0.1, -0.05, 0.02, -0.3], 500, 2).unwrap();
    assert_ne!(
        monte_carlo(&[0.1, -0.05, 0.02, -0.3], 500, 3)
            .unwrap()
            .return_pct,
        other.return_pct
    );
}

#[test]
fn monte_carlo_bounds_its_work() {
    assert_eq!(monte_carlo(&[], 10, 1).unwrap_err().input, "trades");
    assert_eq!(monte_carlo(&[0.1], 0, 1).unwrap_err().input, "runs");
    let e = monte_carlo(&[0.1], MAX_RUNS + 1, 1).unwrap_err();
    assert_eq!(e.to_string(), "runs 100001 must be in 1..=100000");
    let many = vec![0.01; 1000];
    let e = monte_carlo(&many, 60_000, 1).unwrap_err();
    assert!(e.problem.contains("at most 50000 runs"), "{e}");
    // A loss of more than everything stops at zero equity.
    let wiped = monte_carlo(&[-1.5], 1, 1).unwrap();
    assert_eq!(wiped.return_pct.p50, -100.0);
    assert_eq!(wiped.max_drawdown_pct.p50, 100.0);
}
