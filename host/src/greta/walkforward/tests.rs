use super::*;

const DAY: i64 = 86_400_000;

fn spec(kind: Kind, is: Size, oos: Size, step: Option<Size>) -> Spec {
    Spec {
        kind,
        in_sample: is,
        out_of_sample: oos,
        step,
    }
}

fn b(is_from: usize, is_to: usize, oos_to: usize) -> Bounds {
    Bounds {
        is_from,
        is_to,
        oos_to,
    }
}

#[test]
fn rolling_windows_in_bars() {
    let ts: Vec<i64> = (0..100).map(|i| i * 60_000).collect();
    let s = spec(Kind::Rolling, Size::Bars(40), Size::Bars(20), None);
    // Step defaults to the out-of-sample size: OOS windows tile 40..100.
    assert_eq!(
        plan(&ts, 60_000, &s).unwrap(),
        [b(0, 40, 60), b(20, 60, 80), b(40, 80, 100)]
    );
    let s = spec(
        Kind::Rolling,
        Size::Bars(40),
        Size::Bars(20),
        Some(Size::Bars(30)),
    );
    assert_eq!(
        plan(&ts, 60_000, &s).unwrap(),
        [b(0, 40, 60), b(30, 70, 90)]
    );
}

#[test]
fn anchored_windows_in_bars() {
    let ts: Vec<i64> = (0..100).map(|i| i * 60_000).collect();
    let s = spec(Kind::Anchored, Size::Bars(50), Size::Bars(25), None);
    assert_eq!(
        plan(&ts, 60_000, &s).unwrap(),
        [b(0, 50, 75), b(0, 75, 100)]
    );
}

#[test]
fn windows_as_durations() {
    // 120 daily bars from 2024-01-01.
    let t0 = 1_704_067_200_000_i64;
    let ts: Vec<i64> = (0..120).map(|i| t0 + i * DAY).collect();
    let s = spec(Kind::Rolling, Size::Days(60), Size::Weeks(2), None);
    let w = plan(&ts, DAY, &s).unwrap();
    // In sample days 0–59, out of sample 60–73; then moved by 14 days: 4 windows end by 116.
    assert_eq!(w[0], b(0, 60, 74));
    assert_eq!(w[1], b(14, 74, 88));
    assert_eq!(w.len(), 4);
    assert_eq!(w[3], b(42, 102, 116));
    // Calendar months over 121 days (to April 30): January (31 days) in sample, February (29
    // days in 2024) out of sample; then March, then April.
    let ts: Vec<i64> = (0..121).map(|i| t0 + i * DAY).collect();
    let s = spec(Kind::Anchored, Size::Months(1), Size::Months(1), None);
    let w = plan(&ts, DAY, &s).unwrap();
    assert_eq!(w[0], b(0, 31, 60));
    assert_eq!(w[1], b(0, 60, 91));
    assert_eq!(w.len(), 3, "{w:?}");
    assert_eq!(w[2], b(0, 91, 121));
}

#[test]
fn sizes_that_do_not_fit_are_refused_by_field() {
    let ts: Vec<i64> = (0..100).map(|i| i * 60_000).collect();
    let e = plan(
        &ts,
        60_000,
        &spec(Kind::Rolling, Size::Bars(90), Size::Bars(20), None),
    )
    .unwrap_err();
    assert_eq!(e.code, "invalid_windows");
    assert_eq!(
        e.details,
        serde_json::json!({"field": "windows", "bars": 100, "needed": 110})
    );
    assert!(
        e.message.contains("100 bars") && e.message.contains("110"),
        "{e}"
    );
    let e = plan(
        &ts,
        60_000,
        &spec(
            Kind::Rolling,
            Size::Bars(40),
            Size::Bars(20),
            Some(Size::Bars(10)),
        ),
    )
    .unwrap_err();
    assert_eq!(e.details["field"], "windows.step");
    let e = plan(
        &ts,
        60_000,
        &spec(Kind::Rolling, Size::Days(1), Size::Bars(20), None),
    )
    .unwrap_err();
    assert!(e.message.contains("all be bars"), "{e}");
    let e = plan(
        &ts,
        60_000,
        &spec(Kind::Rolling, Size::Days(30), Size::Days(30), None),
    )
    .unwrap_err();
    assert!(e.message.contains("longer than the data"), "{e}");
    use serde_json::json as j;
    assert_eq!(
        parse_size("w.in_sample", &j!(500)).unwrap(),
        Size::Bars(500)
    );
    assert_eq!(parse_size("x", &j!("90d")).unwrap(), Size::Days(90));
    assert_eq!(parse_size("x", &j!("12w")).unwrap(), Size::Weeks(12));
    assert_eq!(parse_size("x", &j!("6M")).unwrap(), Size::Months(6));
    for bad in [
        j!(0),
        j!(-3),
        j!(1.5),
        j!("6m"),
        j!("d"),
        j!("0d"),
        j!("1y"),
        j!(null),
    ] {
        let e = parse_size("windows.in_sample", &bad).unwrap_err();
        assert_eq!(e.code, "invalid_windows");
        assert_eq!(e.details["field"], "windows.in_sample", "{bad}");
    }
}

fn trade(entry_bar: usize, exit_bar: usize, pnl: f64) -> ClosedTrade {
    ClosedTrade {
        symbol: 0,
        entry_bar,
        exit_bar,
        entry_ts: 0,
        exit_ts: 0,
        size: 1.0,
        entry_price: 100.0,
        exit_price: 100.0 + pnl,
        pnl,
        commission: 0.0,
        return_frac: pnl / 100.0,
    }
}

fn detail(start: i64, equity: &[f64], trades: Vec<ClosedTrade>) -> Detail {
    Detail {
        ts: (0..equity.len() as i64).map(|i| start + i * DAY).collect(),
        equity: equity.to_vec(),
        close: vec![1.0; equity.len()],
        trades,
    }
}

#[test]
fn the_warm_up_is_cut_off_an_out_of_sample_run() {
    let equity = vec![100.0, 100.0, 100.0, 110.0, 121.0];
    let ts: Vec<i64> = (0..5).map(|i| i * DAY).collect();
    let m = metrics::compute(&metrics::Inputs {
        equity: &equity,
        ts: &ts,
        close: &[1.0; 5],
        trades: &[],
        warmup: 0,
    });
    let r = RunResult {
        equity,
        ts,
        trades: vec![trade(0, 1, 0.0), trade(1, 3, 10.0), trade(3, 4, 11.0)],
        open_trades: Vec::new(),
        bankrupt_at: None,
        metrics: m,
        orders: Vec::new(),
        strategy_calls: 0,
        warmup: 2,
        warmup_declared: true,
    };
    let (d, m) = out_of_sample(&r, &[1.0, 2.0, 3.0, 4.0, 5.0], 2);
    assert_eq!(d.equity, [100.0, 110.0, 121.0]);
    assert_eq!(d.ts, [2 * DAY, 3 * DAY, 4 * DAY]);
    assert_eq!(d.close, [3.0, 4.0, 5.0]);
    // The trade closed in the warm-up is left out; the one entered there starts at bar 0.
    let spans: Vec<(usize, usize)> = d.trades.iter().map(|t| (t.entry_bar, t.exit_bar)).collect();
    assert_eq!(spans, [(0, 1), (1, 2)]);
    assert!((m.return_pct.unwrap() - 21.0).abs() < 1e-9);
    assert_eq!(m.trades, 2);
}

#[test]
fn stitched_equity_chains_the_windows() {
    let a = detail(0, &[100.0, 105.0, 110.0], vec![trade(0, 2, 10.0)]);
    // The second window ran from its own start (cash 100) and lost 10 %.
    let b = detail(3 * DAY, &[100.0, 95.0, 90.0], vec![trade(1, 2, -5.0)]);
    let (s, m) = stitch(&[a, b]).expect("stitched");
    assert_eq!(s.equity.len(), 6);
    let want = [100.0, 105.0, 110.0, 110.0, 104.5, 99.0];
    for (got, want) in s.equity.iter().zip(want) {
        assert!((got - want).abs() < 1e-9, "{:?}", s.equity);
    }
    // The second window's trade moved behind the first's bars, its money scaled by 1.1.
    assert_eq!((s.trades[1].entry_bar, s.trades[1].exit_bar), (4, 5));
    assert!((s.trades[1].pnl + 5.5).abs() < 1e-9);
    assert!((m.return_pct.unwrap() + 1.0).abs() < 1e-9);
    assert_eq!(m.trades, 2);
    assert!(stitch(&[]).is_none());
    let thin5 = thin(&s.ts, &s.equity, 3);
    assert_eq!(thin5.len(), 3);
    assert_eq!(thin5[0], (0, 100.0));
    assert_eq!(thin5[2].0, 5 * DAY);
}

/// Hand-checked: windows with (IS, OOS) annualised returns (20, 10), (10, −5), (−4, 8) and
/// (None, 3): the third has a negative in-sample return and the fourth none, so the efficiency
/// is (10/20 + −5/10) / 2 = 0.
#[test]
fn efficiency_and_stability() {
    let e = efficiency(&[
        (Some(20.0), Some(10.0)),
        (Some(10.0), Some(-5.0)),
        (Some(-4.0), Some(8.0)),
        (None, Some(3.0)),
    ]);
    assert_eq!(e, Some(0.0));
    assert_eq!(
        efficiency(&[(Some(20.0), Some(15.0)), (Some(10.0), Some(10.0))]),
        Some(0.875)
    );
    assert_eq!(efficiency(&[(Some(-1.0), Some(1.0))]), None);
    use serde_json::json as j;
    // fast: 10, 20, 30 (mean 20, population sd √(200/3) = 8.165, cv 0.408); mode: text.
    let s = stability(&[
        Some(j!({"fast": 10, "mode": "a"})),
        Some(j!({"fast": 20, "mode": "a"})),
        None,
        Some(j!({"fast": 30, "mode": "b"})),
    ]);
    let fast = &s["fast"];
    assert_eq!(fast.values, [j!(10), j!(20), j!(null), j!(30)]);
    assert_eq!(fast.distinct, 3);
    assert!((fast.cv.unwrap() - (200.0_f64 / 3.0).sqrt() / 20.0).abs() < 1e-12);
    let mode = &s["mode"];
    assert_eq!(mode.distinct, 2);
    assert_eq!(mode.cv, None);
    let one = stability(&[Some(j!({"fast": 5}))]);
    assert_eq!((one["fast"].distinct, one["fast"].cv), (1, None));
}
