//! The extra series a strategy declared (contract 0.3: symbol + timeframe besides the run's own
//! bars) and the windows served from them without look-ahead. Backtests and live runs share this
//! code, so a data window holds the same bars in both for the same stored candles.
//!
//! A series comes from candles stored for it, or, when none are, is aggregated from the run's own
//! bars of that symbol ([`aggregate`]): buckets of the target timeframe aligned on UTC (`1Hour`
//! from `00:00`, `1Day` from midnight UTC), open of the first bar, high/low over the bucket,
//! close of the last bar, volumes summed. Weekly and monthly targets, or a target that is not a
//! whole multiple of the run's timeframe, are not aggregated: the series stays empty and the
//! reason is logged once.
//!
//! # Invariants
//! - A window at time `now` holds only bars whose close ([`close_time`]: open time + one period;
//!   a month: the first day of the next month) is at or before `now`: a bar still forming is
//!   never in it, so a strategy cannot see the future.
//! - A window holds at most `lookback` bars, oldest first.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, TimeZone, Utc};

use crate::domain::{Bar, SeriesDecl, TimeUnit, Timeframe, TsMillis};

/// When a bar of `timeframe` opened at `ts` closes.
pub fn close_time(ts: TsMillis, timeframe: Timeframe) -> TsMillis {
    if timeframe.unit != TimeUnit::Month {
        return ts.saturating_add(timeframe.nominal_millis());
    }
    let Some(open) = DateTime::<Utc>::from_timestamp_millis(ts) else {
        return ts.saturating_add(timeframe.nominal_millis());
    };
    let months = open.year() * 12 + open.month0() as i32 + timeframe.amount as i32;
    Utc.with_ymd_and_hms(months / 12, (months % 12) as u32 + 1, 1, 0, 0, 0)
        .single()
        .map_or(ts.saturating_add(timeframe.nominal_millis()), |t| {
            t.timestamp_millis()
        })
}

/// The bars of one series (oldest first) with their close times.
#[derive(Debug, Clone, Default)]
pub struct SeriesBars {
    bars: Vec<Bar>,
    closes: Vec<TsMillis>,
}

impl SeriesBars {
    /// `bars` of `timeframe`, sorted by open time (duplicates keep the first).
    pub fn new(mut bars: Vec<Bar>, timeframe: Timeframe) -> SeriesBars {
        bars.sort_by_key(|b| b.ts);
        bars.dedup_by_key(|b| b.ts);
        let closes = bars.iter().map(|b| close_time(b.ts, timeframe)).collect();
        SeriesBars { bars, closes }
    }

    /// How many bars the series holds.
    pub fn len(&self) -> usize {
        self.bars.len()
    }

    /// Whether the series holds no bar.
    pub fn is_empty(&self) -> bool {
        self.bars.is_empty()
    }

    /// The open time of the first bar.
    pub fn first_ts(&self) -> Option<TsMillis> {
        self.bars.first().map(|b| b.ts)
    }

    /// The last `lookback` bars that closed at or before `now`, oldest first.
    pub fn window(&self, now: TsMillis, lookback: usize) -> Vec<Bar> {
        let end = self.closes.partition_point(|&c| c <= now);
        self.bars[end.saturating_sub(lookback)..end].to_vec()
    }
}

/// Aggregates `bars` of `base` into bars of `target` (see the module doc), or says why not.
///
/// # Errors
/// A sentence for the log when `target` cannot be built from `base`.
pub fn aggregate(bars: &[Bar], base: Timeframe, target: Timeframe) -> Result<Vec<Bar>, String> {
    if matches!(target.unit, TimeUnit::Week | TimeUnit::Month)
        || matches!(base.unit, TimeUnit::Week | TimeUnit::Month)
    {
        return Err(format!(
            "{target} bars are not aggregated from {base} bars (weeks and months follow the exchange calendar); store {target} candles for it"
        ));
    }
    let (step, period) = (base.nominal_millis(), target.nominal_millis());
    if period < step || period % step != 0 {
        return Err(format!(
            "{target} is not a whole multiple of the run's {base} bars; store {target} candles for it"
        ));
    }
    let mut out: Vec<Bar> = Vec::new();
    for b in bars {
        let bucket = b.ts.div_euclid(period) * period;
        match out.last_mut() {
            Some(last) if last.ts == bucket => {
                last.high = last.high.max(b.high);
                last.low = last.low.min(b.low);
                last.close = b.close;
                last.volume += b.volume;
            }
            _ => out.push(Bar { ts: bucket, ..*b }),
        }
    }
    Ok(out)
}

/// The declared series of one run, ready to serve windows.
#[derive(Debug, Clone, Default)]
pub struct DeclaredSeries {
    series: HashMap<(String, Timeframe), SeriesBars>,
}

impl DeclaredSeries {
    /// Adds (or replaces) the bars of one series.
    pub fn insert(&mut self, decl: &SeriesDecl, bars: SeriesBars) {
        self.series
            .insert((decl.symbol.clone(), decl.timeframe), bars);
    }

    /// The bars of a series, if it was declared and prepared.
    pub fn get(&self, symbol: &str, timeframe: Timeframe) -> Option<&SeriesBars> {
        self.series.get(&(symbol.to_owned(), timeframe))
    }

    /// Whether a series was prepared.
    pub fn contains(&self, symbol: &str, timeframe: Timeframe) -> bool {
        self.get(symbol, timeframe).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(ts: TsMillis, close: f64) -> Bar {
        Bar {
            ts,
            open: close,
            high: close + 1.0,
            low: close - 1.0,
            close,
            volume: 1.0,
        }
    }

    const MIN5: Timeframe = Timeframe {
        amount: 5,
        unit: TimeUnit::Minute,
    };
    const HOUR: Timeframe = Timeframe {
        amount: 1,
        unit: TimeUnit::Hour,
    };

    #[test]
    fn hourly_bars_from_five_minute_bars_are_visible_only_once_closed() {
        let five: Vec<Bar> = (0..36).map(|i| bar(i * 300_000, i as f64)).collect();
        let hourly = aggregate(&five, MIN5, HOUR).unwrap();
        assert_eq!(hourly.len(), 3);
        assert_eq!(hourly[0].open, 0.0);
        assert_eq!(hourly[0].close, 11.0);
        assert_eq!(hourly[0].high, 12.0);
        assert_eq!(hourly[0].volume, 12.0);
        let s = SeriesBars::new(hourly, HOUR);
        // At the close of the 5-minute bar opened 00:50 (00:55) the first hour is still open.
        assert!(s.window(55 * 60_000, 10).is_empty());
        // At the close of the 00:55 bar (01:00) it closed.
        assert_eq!(s.window(60 * 60_000, 10).len(), 1);
        assert_eq!(s.window(3 * 3_600_000, 2).len(), 2);
    }

    #[test]
    fn months_close_on_the_calendar_and_weeks_are_not_aggregated() {
        let jan31 = Utc
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        let feb1 = Utc
            .with_ymd_and_hms(2024, 2, 1, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        let month = Timeframe {
            amount: 1,
            unit: TimeUnit::Month,
        };
        assert_eq!(close_time(jan31, month), feb1);
        let week = Timeframe {
            amount: 1,
            unit: TimeUnit::Week,
        };
        assert!(aggregate(&[], Timeframe::DAY, week).is_err());
        assert!(
            aggregate(
                &[],
                HOUR,
                Timeframe {
                    amount: 7,
                    unit: TimeUnit::Minute
                }
            )
            .is_err()
        );
    }
}
