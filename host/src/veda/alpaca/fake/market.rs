//! The fake's market: New York time (without a tz database), the clock, the calendar (NYSE's
//! holidays and early closes of 2025–2027), stored bars, aggregation to a timeframe, and bar
//! pages with `next_page_token`.
//!
//! # Invariants
//! - Historical bars follow Alpaca's rules as [`crate::veda::periods`] writes them down: intraday
//!   bars of every stored minute (extended hours included) in buckets counted from midnight UTC;
//!   daily, weekly and monthly stock bars of the regular session of the calendar's trading days,
//!   stamped at 00:00 New York time expressed in UTC; crypto bars around the clock in UTC.
//! - Pages are ordered by symbol, then time; `limit` counts bars across all symbols; the token
//!   names the first bar of the next page, so pages never overlap or skip.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};

use crate::domain::{Bar, TimeUnit, Timeframe};
use crate::veda::periods::{self, Calendar, Hours, Market};
use crate::veda::types::CalendarDay;

/// New York's UTC offset at `t` (US rules since 2007: daylight time from the second Sunday of
/// March 02:00 to the first Sunday of November 02:00, local).
pub fn ny_offset(t: DateTime<Utc>) -> FixedOffset {
    let year = t.year();
    let nth_sunday = |month: u32, n: u32| -> NaiveDate {
        let first = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default();
        let to_sunday = (7 - first.weekday().num_days_from_sunday()) % 7;
        first + Duration::days(i64::from(to_sunday) + 7 * (i64::from(n) - 1))
    };
    // 02:00 EST = 07:00 UTC; 02:00 EDT = 06:00 UTC.
    let dst_start =
        Utc.from_utc_datetime(&nth_sunday(3, 2).and_hms_opt(7, 0, 0).unwrap_or_default());
    let dst_end =
        Utc.from_utc_datetime(&nth_sunday(11, 1).and_hms_opt(6, 0, 0).unwrap_or_default());
    let hours = if t >= dst_start && t < dst_end { 4 } else { 5 };
    FixedOffset::west_opt(hours * 3600).expect("a constant offset of 4 or 5 hours is valid")
}

/// A New York local date and time as UTC.
pub(super) fn ny_to_utc(date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    // Use the offset in force at the guessed instant (exact except within the switch hour).
    let guess = Utc.from_utc_datetime(&date.and_time(time)) + Duration::hours(5);
    let offset = ny_offset(guess);
    offset
        .from_local_datetime(&date.and_time(time))
        .single()
        .map_or(guess, |t| t.with_timezone(&Utc))
}

fn is_weekday(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// NYSE's full-day holidays, 2025–2027.
const HOLIDAYS: [(i32, u32, u32); 31] = [
    (2025, 1, 1),
    (2025, 1, 9),
    (2025, 1, 20),
    (2025, 2, 17),
    (2025, 4, 18),
    (2025, 5, 26),
    (2025, 6, 19),
    (2025, 7, 4),
    (2025, 9, 1),
    (2025, 11, 27),
    (2025, 12, 25),
    (2026, 1, 1),
    (2026, 1, 19),
    (2026, 2, 16),
    (2026, 4, 3),
    (2026, 5, 25),
    (2026, 6, 19),
    (2026, 7, 3),
    (2026, 9, 7),
    (2026, 11, 26),
    (2026, 12, 25),
    (2027, 1, 1),
    (2027, 1, 18),
    (2027, 2, 15),
    (2027, 3, 26),
    (2027, 5, 31),
    (2027, 6, 18),
    (2027, 7, 5),
    (2027, 9, 6),
    (2027, 11, 25),
    (2027, 12, 24),
];

/// NYSE's early closes (13:00 New York), 2025–2027.
const EARLY_CLOSES: [(i32, u32, u32); 6] = [
    (2025, 7, 3),
    (2025, 11, 28),
    (2025, 12, 24),
    (2026, 11, 27),
    (2026, 12, 24),
    (2027, 11, 26),
];

fn listed(list: &[(i32, u32, u32)], date: NaiveDate) -> bool {
    list.iter()
        .any(|&(y, m, d)| NaiveDate::from_ymd_opt(y, m, d) == Some(date))
}

/// Whether the market trades on `date`.
fn is_trading_day(date: NaiveDate) -> bool {
    is_weekday(date) && !listed(&HOLIDAYS, date)
}

/// The regular close of trading day `date`.
fn close_of(date: NaiveDate) -> NaiveTime {
    if listed(&EARLY_CLOSES, date) {
        NaiveTime::from_hms_opt(13, 0, 0).unwrap_or_default()
    } else {
        close_time()
    }
}

fn open_time() -> NaiveTime {
    NaiveTime::from_hms_opt(9, 30, 0).unwrap_or_default()
}

fn close_time() -> NaiveTime {
    NaiveTime::from_hms_opt(16, 0, 0).unwrap_or_default()
}

/// The clock at `now`: `(is_open, next_open, next_close)`; trading days 09:30–16:00 New York
/// (13:00 on an early close). `force_open` overrides the session state.
pub(super) fn clock(
    now: DateTime<Utc>,
    force_open: Option<bool>,
) -> (bool, DateTime<Utc>, DateTime<Utc>) {
    let local_date = now.with_timezone(&ny_offset(now)).date_naive();
    let mut next_open = None;
    let mut next_close = None;
    let mut date = local_date;
    for _ in 0..10 {
        if is_trading_day(date) {
            let open = ny_to_utc(date, open_time());
            let close = ny_to_utc(date, close_of(date));
            if next_open.is_none() && open > now {
                next_open = Some(open);
            }
            if next_close.is_none() && close > now {
                next_close = Some(close);
            }
        }
        if next_open.is_some() && next_close.is_some() {
            break;
        }
        date = date.succ_opt().unwrap_or(date);
    }
    let next_open = next_open.unwrap_or(now);
    let next_close = next_close.unwrap_or(now);
    let computed = next_close < next_open;
    (force_open.unwrap_or(computed), next_open, next_close)
}

/// Trading days between `start` and `end` with their open and close (at most 5000).
pub(super) fn calendar(start: NaiveDate, end: NaiveDate) -> Vec<CalendarDay> {
    let mut out = Vec::new();
    let mut date = start;
    while date <= end && out.len() < 5000 {
        if is_trading_day(date) {
            out.push(CalendarDay {
                date,
                open: open_time(),
                close: close_of(date),
            });
        }
        match date.succ_opt() {
            Some(next) => date = next,
            None => break,
        }
    }
    out
}

/// The next trading day after `date` (settlement T+1).
pub(super) fn next_weekday(date: NaiveDate) -> NaiveDate {
    let mut next = date.succ_opt().unwrap_or(date);
    while !is_trading_day(next) {
        next = next.succ_opt().unwrap_or(next);
    }
    next
}

/// Aggregates time-ordered 1-minute bars to `timeframe` as Alpaca's historical bars are
/// ([`crate::veda::periods`]): intraday buckets of every minute, counted from midnight UTC;
/// daily, weekly and monthly stock bars of the regular sessions of the calendar; crypto in UTC.
/// Timeframes live runs do not take (`2Day`, `7Min`) keep the plain UTC buckets.
pub(super) fn aggregate(bars: &[Bar], timeframe: Timeframe, crypto: bool) -> Vec<Bar> {
    if timeframe == Timeframe::MINUTE {
        return bars.to_vec();
    }
    let intraday = matches!(timeframe.unit, TimeUnit::Minute | TimeUnit::Hour);
    if crypto && periods::is_live_timeframe(timeframe) {
        return periods::aggregate(bars, timeframe, Market::Crypto);
    }
    if !intraday && periods::is_live_timeframe(timeframe) {
        let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
            return Vec::new();
        };
        let from = periods::new_york_date(first.ts) - Duration::days(40);
        let to = periods::new_york_date(last.ts) + Duration::days(40);
        let cal = Calendar::new(from, to, &calendar(from, to));
        let market = Market::Stock {
            calendar: &cal,
            hours: Hours::Regular,
        };
        return periods::aggregate(bars, timeframe, market);
    }
    let size = timeframe.nominal_millis().max(1);
    let mut out: Vec<Bar> = Vec::new();
    for bar in bars {
        let start = bar.ts.div_euclid(size) * size;
        match out.last_mut() {
            Some(last) if last.ts == start => periods::merge(last, bar),
            _ => out.push(Bar { ts: start, ..*bar }),
        }
    }
    out
}

/// A corporate action the fake adjusts historical bars for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CorporateAction {
    /// A `ratio`:1 split effective at `at_ms` (a 4:1 split: `ratio` 4): earlier prices are
    /// divided by `ratio` and volumes multiplied by it under `split` and `all`.
    Split {
        /// Ex-date (UTC milliseconds): bars before it are adjusted.
        at_ms: i64,
        /// New shares per old share.
        ratio: f64,
    },
    /// A cash dividend of `amount` per share with ex-date `at_ms`: earlier prices are multiplied
    /// by `1 - amount / close` (the raw close of the last bar before the ex-date), as CRSP and
    /// Alpaca do, under `dividend` and `all`.
    Dividend {
        /// Ex-date (UTC milliseconds).
        at_ms: i64,
        /// Cash per share.
        amount: f64,
    },
}

/// Alpaca's `adjustment` values the fake knows: whether it adjusts for splits and dividends.
pub(super) fn adjustment_flags(text: &str) -> Option<(bool, bool)> {
    match text {
        "raw" => Some((false, false)),
        "split" => Some((true, false)),
        "dividend" => Some((false, true)),
        "all" => Some((true, true)),
        _ => None,
    }
}

/// Raw 1-minute `bars` (time-ordered) adjusted for `actions` as `adjustment` asks.
pub(super) fn adjust(
    bars: &[Bar],
    actions: &[CorporateAction],
    (splits, dividends): (bool, bool),
) -> Vec<Bar> {
    let mut out = bars.to_vec();
    for action in actions {
        let (at_ms, price_factor, volume_factor) = match *action {
            CorporateAction::Split { at_ms, ratio } if splits && ratio > 0.0 => {
                (at_ms, 1.0 / ratio, ratio)
            }
            CorporateAction::Dividend { at_ms, amount } if dividends => {
                // The factor comes from the raw close before the ex-date, not an adjusted one.
                let Some(before) = bars.iter().rev().find(|b| b.ts < at_ms) else {
                    continue;
                };
                if before.close <= amount {
                    continue;
                }
                (at_ms, 1.0 - amount / before.close, 1.0)
            }
            _ => continue,
        };
        for b in out.iter_mut().filter(|b| b.ts < at_ms) {
            b.open *= price_factor;
            b.high *= price_factor;
            b.low *= price_factor;
            b.close *= price_factor;
            b.volume *= volume_factor;
        }
    }
    out
}

/// One page of a multi-symbol bars answer.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Page {
    /// Bars per symbol in this page (symbols without bars absent).
    pub(super) bars: BTreeMap<String, Vec<Bar>>,
    /// Token of the next page, `None` on the last.
    pub(super) next_page_token: Option<String>,
}

/// Encodes a page position.
pub(super) fn encode_token(symbol: &str, ts: i64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{symbol}|{ts}"))
}

/// Decodes a page position; `None` for a malformed token.
pub(super) fn decode_token(token: &str) -> Option<(String, i64)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (symbol, ts) = text.rsplit_once('|')?;
    Some((symbol.to_owned(), ts.parse().ok()?))
}

/// Cuts one page from per-symbol bar lists (symbols in map order, bars in time order).
pub(super) fn page(
    all: &BTreeMap<String, Vec<Bar>>,
    limit: usize,
    token: Option<(String, i64)>,
) -> Page {
    let mut items = all
        .iter()
        .flat_map(|(s, bars)| bars.iter().map(move |b| (s, b)));
    let mut bars: BTreeMap<String, Vec<Bar>> = BTreeMap::new();
    let mut taken = 0;
    let mut started = token.is_none();
    for (symbol, bar) in items.by_ref() {
        if !started {
            match &token {
                Some((ts_symbol, ts))
                    if symbol > ts_symbol || (symbol == ts_symbol && bar.ts >= *ts) =>
                {
                    started = true
                }
                _ => continue,
            }
        }
        if taken == limit {
            return Page {
                bars,
                next_page_token: Some(encode_token(symbol, bar.ts)),
            };
        }
        bars.entry(symbol.clone()).or_default().push(*bar);
        taken += 1;
    }
    Page {
        bars,
        next_page_token: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_york_offsets_follow_us_dst() {
        let summer = Utc.with_ymd_and_hms(2026, 8, 10, 12, 0, 0).unwrap();
        let winter = Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap();
        assert_eq!(ny_offset(summer).local_minus_utc(), -4 * 3600);
        assert_eq!(ny_offset(winter).local_minus_utc(), -5 * 3600);
        // 2026: DST from 8 March to 1 November.
        assert_eq!(
            ny_offset(Utc.with_ymd_and_hms(2026, 3, 8, 6, 59, 0).unwrap()).local_minus_utc(),
            -5 * 3600
        );
        assert_eq!(
            ny_offset(Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).unwrap()).local_minus_utc(),
            -4 * 3600
        );
        assert_eq!(
            ny_offset(Utc.with_ymd_and_hms(2026, 11, 1, 6, 0, 0).unwrap()).local_minus_utc(),
            -5 * 3600
        );
    }

    #[test]
    fn daily_bars_start_at_new_york_midnight_and_skip_holidays() {
        let minute = |ts: i64| Bar {
            ts,
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1.0,
        };
        let at = |d: u32, h: u32, m: u32| {
            ny_to_utc(
                NaiveDate::from_ymd_opt(2026, 11, d).unwrap(),
                NaiveTime::from_hms_opt(h, m, 0).unwrap(),
            )
            .timestamp_millis()
        };
        // Wednesday in session, Thanksgiving, Friday after its 13:00 close: one bar.
        let bars = [
            minute(at(25, 10, 0)),
            minute(at(26, 10, 0)),
            minute(at(27, 14, 0)),
        ];
        let days = aggregate(&bars, Timeframe::DAY, false);
        assert_eq!(days.len(), 1);
        assert_eq!(
            DateTime::from_timestamp_millis(days[0].ts)
                .unwrap()
                .to_rfc3339(),
            "2026-11-25T05:00:00+00:00"
        );
        // Crypto days are UTC days.
        let days = aggregate(&bars, Timeframe::DAY, true);
        assert_eq!(days.len(), 3);
        assert_eq!(
            DateTime::from_timestamp_millis(days[0].ts)
                .unwrap()
                .to_rfc3339(),
            "2026-11-25T00:00:00+00:00"
        );
    }

    #[test]
    fn clock_is_open_in_session_only() {
        let monday_noon = ny_to_utc(
            NaiveDate::from_ymd_opt(2026, 8, 10).unwrap(),
            NaiveTime::from_hms_opt(12, 0, 0).unwrap(),
        );
        let (open, next_open, next_close) = clock(monday_noon, None);
        assert!(open);
        assert!(next_close < next_open);
        let saturday = monday_noon - Duration::days(2);
        let (open, next_open, _) = clock(saturday, None);
        assert!(!open);
        assert_eq!(
            next_open,
            ny_to_utc(NaiveDate::from_ymd_opt(2026, 8, 10).unwrap(), open_time())
        );
    }

    #[test]
    fn pages_cover_everything_exactly_once() {
        let bar = |ts| Bar {
            ts,
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1.0,
        };
        let mut all = BTreeMap::new();
        all.insert("AAPL".to_owned(), (0..7).map(bar).collect::<Vec<_>>());
        all.insert("MSFT".to_owned(), (0..4).map(bar).collect::<Vec<_>>());
        let mut token = None;
        let mut seen = 0;
        let mut pages = 0;
        loop {
            let p = page(&all, 3, token.clone());
            pages += 1;
            seen += p.bars.values().map(Vec::len).sum::<usize>();
            match p.next_page_token {
                Some(t) => token = decode_token(&t),
                None => break,
            }
        }
        assert_eq!((seen, pages), (11, 4));
    }
}
