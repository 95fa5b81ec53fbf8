//! Bar periods: which bar of a timeframe a 1-minute bar belongs to, and when that bar is
//! complete, by the rules Alpaca's historical bars follow ([ADR 0014](../../../docs/adr/0014-live-timeframes.md)).
//! Live runs build their bars from the 1-minute stream with it ([`crate::veda::live::aggregate`])
//! and the fake Alpaca's historical endpoint aggregates its stored minutes with it, so that the
//! two agree by construction and a test can compare them.
//!
//! The rules (a bar is labelled with its start and covers `[start, end)`):
//! - Intraday (`5Min` … `4Hour`): buckets of the bar's length counted from midnight UTC, as
//!   Alpaca's (a `4Hour` bar starts at 00:00, 04:00, 08:00 … UTC). A US equity's bar ends at the
//!   session's close when that comes first (an early close at 13:00 ends the bar there).
//! - `1Day`: a US equity's trading date, labelled at midnight New York time (in UTC), covering
//!   that date's session from the venue's calendar (regular 09:30–16:00, or 13:00 on an early
//!   close; extended 04:00–20:00); a holiday has no bar. Crypto: midnight to midnight UTC.
//! - `1Week`: labelled at the Monday's midnight (New York for equities, UTC for crypto), ending
//!   at the close of the week's last trading day. `1Month`: labelled at the 1st's midnight,
//!   ending at the close of the month's last trading day.
//! - Equities outside the session (a weekend, a holiday, before the open or after the close)
//!   belong to no bar: regular hours by default, extended hours as a run option.
//! - Crypto (`BTC/USD`: a symbol with a slash) trades around the clock, in UTC.
//!
//! # Invariants
//! - [`period_of`] is pure: the same minute, timeframe, calendar and hours give the same period.
//! - A period contains the minute it was asked for: `start <= ts < end`.
//! - Only the timeframes of [`LIVE_TIMEFRAMES`] have periods here.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::America::New_York;
use serde::{Deserialize, Serialize};

use crate::domain::{Bar, TimeUnit, Timeframe};
use crate::veda::types::CalendarDay;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// The timeframes live and paper runs on a live venue accept, as Alpaca names them.
pub const LIVE_TIMEFRAMES: [Timeframe; 9] = [
    tf(1, TimeUnit::Minute),
    tf(5, TimeUnit::Minute),
    tf(15, TimeUnit::Minute),
    tf(30, TimeUnit::Minute),
    tf(1, TimeUnit::Hour),
    tf(4, TimeUnit::Hour),
    tf(1, TimeUnit::Day),
    tf(1, TimeUnit::Week),
    tf(1, TimeUnit::Month),
];

const fn tf(amount: u32, unit: TimeUnit) -> Timeframe {
    Timeframe { amount, unit }
}

/// Whether live runs accept `timeframe`.
pub fn is_live_timeframe(timeframe: Timeframe) -> bool {
    LIVE_TIMEFRAMES.contains(&timeframe)
}

/// The accepted timeframes as text (`1Min`, …), for error details.
pub fn live_timeframe_names() -> Vec<String> {
    LIVE_TIMEFRAMES.iter().map(ToString::to_string).collect()
}

/// Crypto pairs are written with a slash (`BTC/USD`); they trade around the clock.
pub fn is_crypto(symbol: &str) -> bool {
    symbol.contains('/')
}

/// Which part of a US equity's trading day a run's bars cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hours {
    /// The regular session (09:30–16:00 New York, or the early close).
    #[default]
    Regular,
    /// Pre-market and after-hours too (04:00–20:00 New York on trading days).
    Extended,
}

/// `date` at `time` in New York, as UTC milliseconds.
pub fn new_york_ms(date: NaiveDate, time: NaiveTime) -> i64 {
    let local = date.and_time(time);
    New_York
        .from_local_datetime(&local)
        .earliest()
        // Clocks change at 02:00: no session time is ever in the gap; move past it if asked.
        .or_else(|| {
            New_York
                .from_local_datetime(&(local + Duration::hours(1)))
                .earliest()
        })
        .map_or_else(
            || local.and_utc().timestamp_millis(),
            |t| t.timestamp_millis(),
        )
}

/// The New York date of `ts` (UTC milliseconds).
pub fn new_york_date(ts: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(ts)
        .unwrap_or_default()
        .with_timezone(&New_York)
        .date_naive()
}

fn utc_date(ts: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(ts)
        .unwrap_or_default()
        .date_naive()
}

fn utc_ms(date: NaiveDate) -> i64 {
    date.and_time(NaiveTime::MIN).and_utc().timestamp_millis()
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

fn monday_of(date: NaiveDate) -> NaiveDate {
    date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
}

fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

fn next_month(date: NaiveDate) -> NaiveDate {
    let first = first_of_month(date);
    let (y, m) = if first.month() == 12 {
        (first.year() + 1, 1)
    } else {
        (first.year(), first.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(first)
}

/// A venue's trading days with their regular open and close (New York time), over the span of
/// dates it was asked for (a date in the span that is not listed is a holiday or a weekend).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calendar {
    days: BTreeMap<NaiveDate, (NaiveTime, NaiveTime)>,
    span: Option<(NaiveDate, NaiveDate)>,
}

impl Calendar {
    /// The calendar `days` the venue answered for `from..=to`.
    pub fn new(from: NaiveDate, to: NaiveDate, days: &[CalendarDay]) -> Calendar {
        let mut c = Calendar::default();
        c.add(from, to, days);
        c
    }

    /// Adds what the venue answered for `from..=to` (the span grows to cover both).
    pub fn add(&mut self, from: NaiveDate, to: NaiveDate, days: &[CalendarDay]) {
        for d in days {
            self.days.insert(d.date, (d.open, d.close));
        }
        self.span = Some(match self.span {
            Some((a, b)) => (a.min(from), b.max(to)),
            None => (from, to),
        });
    }

    /// Whether `date` is within what the venue was asked for.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.span.is_some_and(|(a, b)| a <= date && date <= b)
    }

    /// The session of `date` in `hours` as UTC milliseconds `[open, close)`; `None` on a day
    /// without trading (or one the calendar does not cover).
    pub fn session(&self, date: NaiveDate, hours: Hours) -> Option<(i64, i64)> {
        let (open, close) = self.days.get(&date)?;
        Some(match hours {
            Hours::Regular => (new_york_ms(date, *open), new_york_ms(date, *close)),
            Hours::Extended => (new_york_ms(date, hm(4, 0)), new_york_ms(date, hm(20, 0))),
        })
    }

    /// The close of the last trading day in `from..=to` (`None`: none in the calendar).
    fn last_close(&self, from: NaiveDate, to: NaiveDate, hours: Hours) -> Option<i64> {
        let (date, _) = self.days.range(from..=to).next_back()?;
        self.session(*date, hours).map(|s| s.1)
    }

    /// The first trading date after `date` the calendar knows.
    fn next_trading_day(&self, date: NaiveDate) -> Option<NaiveDate> {
        let next = date.succ_opt()?;
        self.days.range(next..).next().map(|(d, _)| *d)
    }
}

/// Where a symbol trades: around the clock (crypto) or in a venue's sessions (US equities).
#[derive(Debug, Clone, Copy)]
pub enum Market<'a> {
    /// 24/7, in UTC.
    Crypto,
    /// In the calendar's sessions.
    Stock {
        /// The venue's trading days.
        calendar: &'a Calendar,
        /// Regular or extended hours.
        hours: Hours,
    },
}

/// One bar's time span: labelled `start`, complete at `end` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period {
    /// The bar's time (UTC ms).
    pub start: i64,
    /// When the bar is complete (UTC ms).
    pub end: i64,
}

/// The period of `timeframe` the 1-minute bar at `ts` belongs to; `None` for a minute outside
/// the market's sessions (or of a timeframe live runs do not take).
pub fn period_of(ts: i64, timeframe: Timeframe, market: Market<'_>) -> Option<Period> {
    if !is_live_timeframe(timeframe) {
        return None;
    }
    let intraday = matches!(timeframe.unit, TimeUnit::Minute | TimeUnit::Hour);
    let size = timeframe.nominal_millis();
    match market {
        Market::Crypto => {
            if intraday {
                let start = ts.div_euclid(size) * size;
                return Some(Period {
                    start,
                    end: start + size,
                });
            }
            let date = utc_date(ts);
            let (from, to) = match timeframe.unit {
                TimeUnit::Day => (date, date + Duration::days(1)),
                TimeUnit::Week => (monday_of(date), monday_of(date) + Duration::days(7)),
                _ => (first_of_month(date), next_month(date)),
            };
            Some(Period {
                start: utc_ms(from),
                end: utc_ms(to),
            })
        }
        Market::Stock { calendar, hours } => {
            let date = new_york_date(ts);
            let (open, close) = calendar.session(date, hours)?;
            if ts < open || ts >= close {
                return None;
            }
            if intraday {
                let start = ts.div_euclid(size) * size;
                return Some(Period {
                    start,
                    end: (start + size).min(close),
                });
            }
            let (label, last) = match timeframe.unit {
                TimeUnit::Day => (date, date),
                TimeUnit::Week => (monday_of(date), monday_of(date) + Duration::days(6)),
                _ => (first_of_month(date), next_month(date) - Duration::days(1)),
            };
            Some(Period {
                start: new_york_ms(label, NaiveTime::MIN),
                end: calendar.last_close(date, last, hours).unwrap_or(close),
            })
        }
    }
}

/// The first period that starts at or after `after` (for bars carried over empty periods);
/// `None` when the calendar does not know the next session.
pub fn next_period(after: i64, timeframe: Timeframe, market: Market<'_>) -> Option<Period> {
    let mut t = after.div_euclid(MINUTE_MS) * MINUTE_MS;
    if t < after {
        t += MINUTE_MS;
    }
    // A session, a weekend and a holiday or two: a few jumps at most.
    for _ in 0..16 {
        // `after` is the end of an earlier period, so the period holding `t` starts there or
        // later.
        if let Some(p) = period_of(t, timeframe, market) {
            return Some(p);
        }
        let Market::Stock { calendar, hours } = market else {
            return None;
        };
        let date = new_york_date(t);
        t = match calendar.session(date, hours) {
            Some((open, _)) if t < open => open,
            _ => {
                let next = calendar.next_trading_day(date)?;
                calendar.session(next, hours)?.0
            }
        };
    }
    None
}

/// Aggregates time-ordered 1-minute `minutes` into bars of `timeframe` by [`period_of`]
/// (minutes outside the sessions are left out).
pub fn aggregate(minutes: &[Bar], timeframe: Timeframe, market: Market<'_>) -> Vec<Bar> {
    let mut out: Vec<Bar> = Vec::new();
    for m in minutes {
        let Some(p) = period_of(m.ts, timeframe, market) else {
            continue;
        };
        match out.last_mut() {
            Some(last) if last.ts == p.start => merge(last, m),
            _ => out.push(Bar { ts: p.start, ..*m }),
        }
    }
    out
}

/// Adds a later minute to a bar.
pub fn merge(bar: &mut Bar, minute: &Bar) {
    bar.high = bar.high.max(minute.high);
    bar.low = bar.low.min(minute.low);
    bar.close = minute.close;
    bar.volume += minute.volume;
}

/// Days in milliseconds (for callers sizing calendar requests).
pub const fn days_ms(n: i64) -> i64 {
    n * DAY_MS
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn day(date: NaiveDate, open: (u32, u32), close: (u32, u32)) -> CalendarDay {
        CalendarDay {
            date,
            open: hm(open.0, open.1),
            close: hm(close.0, close.1),
        }
    }

    /// November 2026: Thanksgiving (26th) closed, the 27th closes at 13:00.
    fn november() -> Calendar {
        let mut days = Vec::new();
        let mut date = d(2026, 10, 26);
        while date <= d(2026, 12, 4) {
            let weekday = date.weekday().num_days_from_monday() < 5;
            if weekday && date != d(2026, 11, 26) {
                let close = if date == d(2026, 11, 27) {
                    (13, 0)
                } else {
                    (16, 0)
                };
                days.push(day(date, (9, 30), close));
            }
            date = date.succ_opt().unwrap();
        }
        Calendar::new(d(2026, 10, 26), d(2026, 12, 4), &days)
    }

    fn at(date: NaiveDate, h: u32, m: u32) -> i64 {
        new_york_ms(date, hm(h, m))
    }

    fn iso(ms: i64) -> String {
        DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339()
    }

    fn stock(c: &Calendar) -> Market<'_> {
        Market::Stock {
            calendar: c,
            hours: Hours::Regular,
        }
    }

    #[test]
    fn only_alpacas_nine_timeframes_are_live() {
        assert_eq!(
            live_timeframe_names(),
            [
                "1Min", "5Min", "15Min", "30Min", "1Hour", "4Hour", "1Day", "1Week", "1Month"
            ]
        );
        assert!(!is_live_timeframe("7Min".parse().unwrap()));
        assert!(!is_live_timeframe("2Day".parse().unwrap()));
    }

    #[test]
    fn daily_bars_cover_the_session_and_are_stamped_at_new_york_midnight() {
        let c = november();
        let wed = d(2026, 11, 25);
        let p = period_of(at(wed, 12, 0), Timeframe::DAY, stock(&c)).unwrap();
        assert_eq!(iso(p.start), "2026-11-25T05:00:00+00:00");
        assert_eq!(iso(p.end), "2026-11-25T21:00:00+00:00");
        // Before the open, after the close, on the holiday: no bar.
        assert_eq!(period_of(at(wed, 9, 29), Timeframe::DAY, stock(&c)), None);
        assert_eq!(period_of(at(wed, 16, 0), Timeframe::DAY, stock(&c)), None);
        assert_eq!(
            period_of(at(d(2026, 11, 26), 12, 0), Timeframe::DAY, stock(&c)),
            None
        );
        // Extended hours: 04:00–20:00.
        let ext = Market::Stock {
            calendar: &c,
            hours: Hours::Extended,
        };
        let p = period_of(at(wed, 4, 0), Timeframe::DAY, ext).unwrap();
        assert_eq!(iso(p.end), "2026-11-26T01:00:00+00:00");
        assert_eq!(period_of(at(wed, 3, 59), Timeframe::DAY, ext), None);
    }

    #[test]
    fn an_early_close_ends_the_day_and_the_intraday_bar_at_13_00() {
        let c = november();
        let fri = d(2026, 11, 27);
        let p = period_of(at(fri, 10, 0), Timeframe::DAY, stock(&c)).unwrap();
        assert_eq!(iso(p.end), "2026-11-27T18:00:00+00:00");
        assert_eq!(period_of(at(fri, 13, 0), Timeframe::DAY, stock(&c)), None);
        // The 4-hour bar from 16:00 UTC (11:00 New York) ends at the 13:00 close.
        let four = "4Hour".parse().unwrap();
        let p = period_of(at(fri, 12, 59), four, stock(&c)).unwrap();
        assert_eq!(
            (iso(p.start), iso(p.end)),
            (
                "2026-11-27T16:00:00+00:00".to_owned(),
                "2026-11-27T18:00:00+00:00".to_owned()
            )
        );
    }

    #[test]
    fn intraday_bars_align_on_utc_multiples_as_alpacas() {
        let c = november();
        let wed = d(2026, 11, 25);
        let five = "5Min".parse().unwrap();
        let p = period_of(at(wed, 9, 33), five, stock(&c)).unwrap();
        assert_eq!((p.start, p.end), (at(wed, 9, 30), at(wed, 9, 35)));
        // The first hourly bar of the session is labelled 09:00 New York (14:00 UTC) and holds
        // 09:30–10:00 only in regular hours.
        let hour = "1Hour".parse().unwrap();
        let p = period_of(at(wed, 9, 30), hour, stock(&c)).unwrap();
        assert_eq!((p.start, p.end), (at(wed, 9, 0), at(wed, 10, 0)));
        // 4-hour bars start at 00, 04, 08, 12, 16, 20 UTC.
        let four = "4Hour".parse().unwrap();
        let p = period_of(at(wed, 10, 0), four, stock(&c)).unwrap();
        assert_eq!(iso(p.start), "2026-11-25T12:00:00+00:00");
    }

    #[test]
    fn daylight_saving_moves_the_utc_times_not_the_new_york_ones() {
        // 2026: New York leaves daylight time on 1 November.
        let mut days = Vec::new();
        for date in [d(2026, 10, 30), d(2026, 11, 2)] {
            days.push(day(date, (9, 30), (16, 0)));
        }
        let c = Calendar::new(d(2026, 10, 30), d(2026, 11, 2), &days);
        let summer = period_of(at(d(2026, 10, 30), 12, 0), Timeframe::DAY, stock(&c)).unwrap();
        let winter = period_of(at(d(2026, 11, 2), 12, 0), Timeframe::DAY, stock(&c)).unwrap();
        assert_eq!(iso(summer.start), "2026-10-30T04:00:00+00:00");
        assert_eq!(iso(summer.end), "2026-10-30T20:00:00+00:00");
        assert_eq!(iso(winter.start), "2026-11-02T05:00:00+00:00");
        assert_eq!(iso(winter.end), "2026-11-02T21:00:00+00:00");
        // The next period after Friday's close is Monday's open, across the change.
        let next = next_period(summer.end, Timeframe::DAY, stock(&c)).unwrap();
        assert_eq!(next, winter);
    }

    #[test]
    fn week_and_month_bars_end_at_their_last_trading_close() {
        let c = november();
        let week = "1Week".parse().unwrap();
        let p = period_of(at(d(2026, 11, 24), 11, 0), week, stock(&c)).unwrap();
        // Monday the 23rd, ending at Friday's early close.
        assert_eq!(iso(p.start), "2026-11-23T05:00:00+00:00");
        assert_eq!(iso(p.end), "2026-11-27T18:00:00+00:00");
        let month = "1Month".parse().unwrap();
        let p = period_of(at(d(2026, 11, 24), 11, 0), month, stock(&c)).unwrap();
        assert_eq!(iso(p.start), "2026-11-01T04:00:00+00:00");
        // The 30th is a Monday, a full day.
        assert_eq!(iso(p.end), "2026-11-30T21:00:00+00:00");
    }

    #[test]
    fn crypto_runs_around_the_clock_in_utc() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 26, 23, 59, 0)
            .unwrap()
            .timestamp_millis();
        let hour = "1Hour".parse().unwrap();
        let p = period_of(t, hour, Market::Crypto).unwrap();
        assert_eq!(iso(p.end), "2026-11-27T00:00:00+00:00");
        let p = period_of(t, Timeframe::DAY, Market::Crypto).unwrap();
        assert_eq!(iso(p.start), "2026-11-26T00:00:00+00:00");
        let month = "1Month".parse().unwrap();
        let p = period_of(t, month, Market::Crypto).unwrap();
        assert_eq!(iso(p.end), "2026-12-01T00:00:00+00:00");
        let week = "1Week".parse().unwrap();
        let p = period_of(t, week, Market::Crypto).unwrap();
        assert_eq!(iso(p.start), "2026-11-23T00:00:00+00:00");
    }

    #[test]
    fn aggregation_skips_minutes_outside_the_session() {
        let c = november();
        let wed = d(2026, 11, 25);
        let bar = |ts, close: f64| Bar {
            ts,
            open: close,
            high: close + 1.0,
            low: close - 1.0,
            close,
            volume: 10.0,
        };
        let minutes = vec![
            bar(at(wed, 9, 29), 1.0),
            bar(at(wed, 9, 30), 2.0),
            bar(at(wed, 9, 34), 3.0),
            bar(at(wed, 9, 35), 4.0),
        ];
        let five = "5Min".parse().unwrap();
        let out = aggregate(&minutes, five, stock(&c));
        assert_eq!(out.len(), 2);
        assert_eq!(
            (
                out[0].ts,
                out[0].open,
                out[0].high,
                out[0].low,
                out[0].close,
                out[0].volume
            ),
            (at(wed, 9, 30), 2.0, 4.0, 1.0, 3.0, 20.0)
        );
    }
}
