//! The fake's market: New York time (without a tz database), the clock, the calendar, stored
//! bars, aggregation to a timeframe, and bar pages with `next_page_token`.
//!
//! # Invariants
//! - Daily bars are stamped at 00:00 New York time expressed in UTC, as Alpaca does.
//! - Pages are ordered by symbol, then time; `limit` counts bars across all symbols; the token
//!   names the first bar of the next page, so pages never overlap or skip.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};

use crate::domain::{Bar, TimeUnit, Timeframe};

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

fn open_time() -> NaiveTime {
    NaiveTime::from_hms_opt(9, 30, 0).unwrap_or_default()
}

fn close_time() -> NaiveTime {
    NaiveTime::from_hms_opt(16, 0, 0).unwrap_or_default()
}

/// The clock at `now`: `(is_open, next_open, next_close)`; weekdays 09:30–16:00 New York, no
/// holidays. `force_open` overrides the session state.
pub(super) fn clock(
    now: DateTime<Utc>,
    force_open: Option<bool>,
) -> (bool, DateTime<Utc>, DateTime<Utc>) {
    let local_date = now.with_timezone(&ny_offset(now)).date_naive();
    let mut next_open = None;
    let mut next_close = None;
    let mut date = local_date;
    for _ in 0..10 {
        if is_weekday(date) {
            let open = ny_to_utc(date, open_time());
            let close = ny_to_utc(date, close_time());
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

/// Trading days between `start` and `end` (weekdays; at most 5000).
pub(super) fn calendar(start: NaiveDate, end: NaiveDate) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut date = start;
    while date <= end && out.len() < 5000 {
        if is_weekday(date) {
            out.push(date);
        }
        match date.succ_opt() {
            Some(next) => date = next,
            None => break,
        }
    }
    out
}

/// The next weekday after `date` (settlement T+1).
pub(super) fn next_weekday(date: NaiveDate) -> NaiveDate {
    let mut next = date.succ_opt().unwrap_or(date);
    while !is_weekday(next) {
        next = next.succ_opt().unwrap_or(next);
    }
    next
}

/// Bucket start of `ts` (ms) for `timeframe`.
fn bucket(ts: i64, timeframe: Timeframe) -> i64 {
    match timeframe.unit {
        TimeUnit::Minute | TimeUnit::Hour => {
            let size = timeframe.nominal_millis().max(1);
            ts.div_euclid(size) * size
        }
        TimeUnit::Day | TimeUnit::Week | TimeUnit::Month => {
            let t = DateTime::from_timestamp_millis(ts).unwrap_or_default();
            let local = t.with_timezone(&ny_offset(t)).date_naive();
            let start = match timeframe.unit {
                TimeUnit::Day => {
                    let days = local.num_days_from_ce() as i64;
                    let n = i64::from(timeframe.amount.max(1));
                    NaiveDate::from_num_days_from_ce_opt((days.div_euclid(n) * n) as i32)
                        .unwrap_or(local)
                }
                TimeUnit::Week => {
                    local - Duration::days(i64::from(local.weekday().num_days_from_monday()))
                }
                _ => local.with_day(1).unwrap_or(local),
            };
            ny_to_utc(start, NaiveTime::MIN).timestamp_millis()
        }
    }
}

/// Aggregates time-ordered 1-minute bars to `timeframe`.
pub(super) fn aggregate(bars: &[Bar], timeframe: Timeframe) -> Vec<Bar> {
    if timeframe == Timeframe::MINUTE {
        return bars.to_vec();
    }
    let mut out: Vec<Bar> = Vec::new();
    for bar in bars {
        let start = bucket(bar.ts, timeframe);
        match out.last_mut() {
            Some(last) if last.ts == start => {
                last.high = last.high.max(bar.high);
                last.low = last.low.min(bar.low);
                last.close = bar.close;
                last.volume += bar.volume;
            }
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
    fn daily_bars_start_at_new_york_midnight() {
        let t = Utc
            .with_ymd_and_hms(2026, 8, 10, 15, 0, 0)
            .unwrap()
            .timestamp_millis();
        let b = bucket(t, Timeframe::DAY);
        assert_eq!(
            DateTime::from_timestamp_millis(b).unwrap().to_rfc3339(),
            "2026-08-10T04:00:00+00:00"
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
