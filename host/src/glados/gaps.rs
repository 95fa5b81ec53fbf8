//! The gap report of `GET /candles/series`: per stored series, the sessions in its range that
//! have no bar. Equities are checked against the Alpaca venue's trading calendar when Alpaca is
//! configured (fetched once a day and kept), else against weekdays; crypto (a symbol with `/`)
//! against every UTC day. The response names the calendar used.
//!
//! # Invariants
//! - A session is missing when the series has no bar whose time falls in it; a day the calendar
//!   does not list (a holiday, a weekend) is never a gap, whatever the series holds.
//! - One grouped query per series (`Walle::candle_days`): the days come from the database, not
//!   from reading the bars.
//! - Weekly and monthly series get no report (`gaps` absent): a period is not a session.
//! - The venue's calendar failing never fails the route: the weekdays stand in, and say so.

use std::sync::Mutex;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use crate::domain::Timeframe;
use crate::walle::{self, CandleSeries};

/// Ranges listed at most per series (`count` and `missing` count them all).
pub const MAX_RANGES: usize = 100;

/// How long a fetched calendar is kept before it is asked again.
const CALENDAR_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The missing sessions of one series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GapsView {
    /// The calendar the series was checked against: the venue's name, `alpaca` (its trading
    /// calendar: holidays are not gaps), `weekdays` (no venue configured, or its calendar unavailable:
    /// every weekday is a session) or `utc_days` (crypto: every day, in UTC).
    pub calendar: String,
    /// Sessions in the series' range (first to last bar) without a bar.
    pub missing: u64,
    /// Runs of consecutive missing sessions (by the calendar): `count` of them in all.
    pub count: u64,
    /// The first runs, oldest first (at most 100).
    pub ranges: Vec<GapRange>,
}

/// Consecutive missing sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GapRange {
    /// First missing session (its date in the calendar's time: New York for equities, UTC for
    /// crypto).
    pub from: NaiveDate,
    /// Last missing session of the run.
    pub to: NaiveDate,
    /// Sessions in the run.
    pub sessions: u64,
}

/// The venue calendar kept between requests (one per server).
#[derive(Default)]
pub struct CalendarCache(Mutex<Option<Cached>>);

/// The days a venue's calendar listed over `[start, end]`.
struct Cached {
    start: NaiveDate,
    end: NaiveDate,
    days: Vec<NaiveDate>,
    at: std::time::Instant,
}

/// The configured live venue's name (Alpaca's) and its sessions between `start` and `end`;
/// `None` without one, or when its calendar cannot be had now.
async fn venue_sessions(
    state: &AppState,
    start: NaiveDate,
    end: NaiveDate,
) -> Option<(String, Vec<NaiveDate>)> {
    let desk = state.inner.runs.desks().next()?.clone();
    let cache = &state.inner.calendar.0;
    let name = desk.name().to_owned();
    let within = |c: &Cached| c.start <= start && end <= c.end && c.at.elapsed() < CALENDAR_TTL;
    {
        let cached = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cached.as_ref().filter(|c| within(c)) {
            return Some((
                name,
                c.days
                    .iter()
                    .copied()
                    .filter(|d| *d >= start && *d <= end)
                    .collect(),
            ));
        }
    }
    // Asked for a range covering the cached one too, so the cache only grows.
    let (from, to) = {
        let cached = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match cached.as_ref() {
            Some(c) => (c.start.min(start), c.end.max(end)),
            None => (start, end),
        }
    };
    match desk.venue().calendar(from, to).await {
        Ok(days) => {
            let days: Vec<NaiveDate> = days.into_iter().map(|d| d.date).collect();
            let out = days
                .iter()
                .copied()
                .filter(|d| *d >= start && *d <= end)
                .collect();
            *cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Cached {
                start: from,
                end: to,
                days,
                at: std::time::Instant::now(),
            });
            Some((name, out))
        }
        Err(e) => {
            tracing::warn!(
                code = e.code(),
                "venue calendar unavailable, gaps against weekdays: {e}"
            );
            None
        }
    }
}

/// Every day from `start` to `end`, weekdays only when `weekdays`.
fn days(start: NaiveDate, end: NaiveDate, weekdays: bool) -> Vec<NaiveDate> {
    start
        .iter_days()
        .take_while(|d| *d <= end)
        .filter(|d| !weekdays || !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .collect()
}

/// The report of `sessions` (sorted) against `present` (sorted): missing sessions, grouped into
/// runs of consecutive sessions.
pub fn report(calendar: &str, sessions: &[NaiveDate], present: &[NaiveDate]) -> GapsView {
    let mut out = GapsView {
        calendar: calendar.to_owned(),
        missing: 0,
        count: 0,
        ranges: Vec::new(),
    };
    let mut open: Option<GapRange> = None;
    let mut have = present.iter().peekable();
    for day in sessions {
        while have.next_if(|d| *d < day).is_some() {}
        if have.peek() == Some(&day) {
            if let Some(run) = open.take() {
                push(&mut out, run);
            }
            continue;
        }
        out.missing += 1;
        match open.as_mut() {
            Some(run) => {
                run.to = *day;
                run.sessions += 1;
            }
            None => {
                open = Some(GapRange {
                    from: *day,
                    to: *day,
                    sessions: 1,
                })
            }
        }
    }
    if let Some(run) = open {
        push(&mut out, run);
    }
    out
}

fn push(out: &mut GapsView, run: GapRange) {
    out.count += 1;
    if out.ranges.len() < MAX_RANGES {
        out.ranges.push(run);
    }
}

/// The gap report of one series (`None` for weekly and monthly ones).
///
/// # Errors
/// The store's.
pub async fn of_series(
    state: &AppState,
    s: &CandleSeries,
) -> Result<Option<GapsView>, walle::Error> {
    let Ok(tf) = s.timeframe.parse::<Timeframe>() else {
        return Ok(None);
    };
    if tf.nominal_millis() > Timeframe::DAY.nominal_millis() {
        return Ok(None);
    }
    let crypto = s.symbol.contains('/');
    // An intraday equity bar's New York session date is its UTC time 4 hours earlier (see
    // `Walle::candle_days`). A daily bar is stamped on its session's date, at New York midnight
    // (Alpaca, 04:00 or 05:00 UTC) or UTC midnight (most CSV files): its UTC date is it. Crypto
    // days are UTC days.
    let shift = if crypto || tf == Timeframe::DAY {
        0
    } else {
        -4
    };
    let present = state
        .inner
        .walle
        .candle_days(&s.symbol, &s.timeframe, shift)
        .await?;
    let (Some(first), Some(last)) = (present.first().copied(), present.last().copied()) else {
        return Ok(None);
    };
    if crypto {
        return Ok(Some(report(
            "utc_days",
            &days(first, last, false),
            &present,
        )));
    }
    Ok(Some(match venue_sessions(state, first, last).await {
        Some((venue, sessions)) => report(&venue, &sessions, &present),
        None => report("weekdays", &days(first, last, true), &present),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn missing_sessions_are_grouped_and_days_off_are_not_gaps() {
        // Mon 1 … Fri 12 Jan 2024; the 3rd, 4th and 10th are missing; the weekend is not a session.
        let sessions = days(d("2024-01-01"), d("2024-01-12"), true);
        let present: Vec<NaiveDate> = [
            "2024-01-01",
            "2024-01-02",
            "2024-01-05",
            "2024-01-06",
            "2024-01-08",
            "2024-01-09",
            "2024-01-11",
            "2024-01-12",
        ]
        .iter()
        .map(|s| d(s))
        .collect();
        let r = report("weekdays", &sessions, &present);
        assert_eq!((r.missing, r.count), (3, 2));
        assert_eq!(
            r.ranges[0],
            GapRange {
                from: d("2024-01-03"),
                to: d("2024-01-04"),
                sessions: 2
            }
        );
        assert_eq!(
            r.ranges[1],
            GapRange {
                from: d("2024-01-10"),
                to: d("2024-01-10"),
                sessions: 1
            }
        );
    }

    #[test]
    fn ranges_are_capped_but_counted() {
        let sessions = days(d("2020-01-01"), d("2020-12-31"), false);
        let present: Vec<NaiveDate> = sessions.iter().copied().step_by(2).collect();
        let r = report("utc_days", &sessions, &present);
        assert_eq!(r.ranges.len(), MAX_RANGES);
        assert_eq!(r.count, 183);
        assert_eq!(r.missing, 183);
    }
}
