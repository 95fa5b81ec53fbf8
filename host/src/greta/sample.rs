//! The bundled sample data: two generated series of one made-up symbol, so a fresh
//! `weaver serve` can run a backtest or a simulated run before the user brings any data.
//!
//! The bars are generated, not shipped: the same deterministic random walk as
//! `weaver data synth` ([`super::synth`]), so the "bundle" costs no bytes in the binary and has
//! no licence of its own.
//!
//! # Invariants
//! - [`series`] always returns the same bars (fixed seeds, fixed calendars).
//! - The symbol [`SYMBOL`] names no real instrument, so sample bars never mix with real ones.

use crate::domain::{Bar, TimeUnit, Timeframe};

use super::synth;

/// The sample data's symbol.
pub const SYMBOL: &str = "SAMPLE";
/// The `source` stored with every sample bar.
pub const SOURCE: &str = "sample";

/// Daily bars: 2019-01-02, weekdays only, about five years.
const DAILY_START_MS: i64 = 1_546_387_200_000;
const DAILY_BARS: usize = 1_260;
/// Hourly bars: from 2024-01-01, around the clock (a market that never closes, like crypto).
const HOURLY_START_MS: i64 = 1_704_067_200_000;
const HOURLY_BARS: usize = 2_000;

/// One sample series.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSeries {
    /// Always [`SYMBOL`].
    pub symbol: &'static str,
    /// Its timeframe.
    pub timeframe: Timeframe,
    /// The bars, oldest first.
    pub bars: Vec<Bar>,
}

/// The sample set: `SAMPLE` as `1Day` (weekdays) and `1Hour` (around the clock).
pub fn series() -> Vec<SampleSeries> {
    const DAY_MS: i64 = 86_400_000;
    let hour = Timeframe {
        amount: 1,
        unit: TimeUnit::Hour,
    };
    // 1970-01-01 was a Thursday: day index 0 → weekday 3 (Monday = 0).
    let weekday = |ts: i64| (ts.div_euclid(DAY_MS) + 3).rem_euclid(7);
    let days = (0..)
        .map(|i| DAILY_START_MS + i * DAY_MS)
        .filter(move |&ts| weekday(ts) < 5)
        .take(DAILY_BARS);
    let hours = (0..HOURLY_BARS as i64).map(|i| HOURLY_START_MS + i * hour.nominal_millis());
    vec![
        SampleSeries {
            symbol: SYMBOL,
            timeframe: Timeframe::DAY,
            bars: synth::generate_at(days, 0x5A_4D50_4C45, synth::sigma_for(Timeframe::DAY)),
        },
        SampleSeries {
            symbol: SYMBOL,
            timeframe: hour,
            bars: synth::generate_at(hours, 0x5A_4D50_4C46, synth::sigma_for(hour)),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_bars_are_weekdays_and_the_set_is_stable() {
        let set = series();
        assert_eq!(set, series());
        let daily = &set[0];
        assert_eq!(daily.timeframe.to_string(), "1Day");
        assert_eq!(daily.bars.len(), DAILY_BARS);
        assert_eq!(synth::iso(daily.bars[0].ts), "2019-01-02T00:00:00Z");
        for b in &daily.bars {
            let wd = (b.ts.div_euclid(86_400_000) + 3).rem_euclid(7);
            assert!(wd < 5, "{} is a weekend", synth::iso(b.ts));
        }
        let hourly = &set[1];
        assert_eq!(hourly.timeframe.to_string(), "1Hour");
        assert_eq!(hourly.bars.len(), HOURLY_BARS);
        assert!(
            hourly
                .bars
                .windows(2)
                .all(|w| w[1].ts - w[0].ts == 3_600_000),
            "hourly bars are one hour apart"
        );
        // Valid OHLC, and the walk moves (a flat series would make a useless demo).
        for s in &set {
            assert!(s.bars.iter().all(|b| b.low <= b.open.min(b.close)
                && b.high >= b.open.max(b.close)
                && b.low > 0.0));
            let closes: Vec<f64> = s.bars.iter().map(|b| b.close).collect();
            let (lo, hi) = closes
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), &c| (l.min(c), h.max(c)));
            assert!(hi / lo > 1.2, "{}: range {lo}..{hi}", s.timeframe);
        }
    }
}
