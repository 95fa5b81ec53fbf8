//! Bars of any live timeframe built from the venue's 1-minute stream, on a clock of their own.
//! A run on a desk whose timeframe is longer than a minute gets its bars from an [`Aggregator`]
//! ([`LiveRunner::aggregate`]): each 1-minute bar goes into the period [`periods::period_of`]
//! gives it, and the period's bar is told to the strategy when it is complete:
//! - at once when the minute that reaches its end arrives, or a minute of a later period of
//!   the same symbol, or a minute of another of the run's symbols at or after its end (the
//!   stream has moved past it: Alpaca sends every symbol's bar of a minute together);
//! - otherwise when the venue's clock passes its end by [`SETTLE`] (Alpaca sends a minute bar
//!   about a second after the minute, and none when nothing traded): a bar whose last minutes
//!   saw no trade is not held back;
//! - a period without any trade is skipped, or (run option `empty_bars: carry`) told as a flat
//!   bar at the last close with zero volume.
//!
//! A minute that arrives for the bar told last, within [`GRACE`] of its end (Alpaca's
//! `updatedBars`, a late minute bar), amends it: the strategy is told the bar again, its
//! envelope carrying the header `amended: true`. Older minutes are dropped.
//!
//! The venue's clock is its `GET /v2/clock` time when the run started, carried forward by the
//! local clock ([`LiveRunner::aggregate`]'s `offset_ms`).
//!
//! # Invariants
//! - Bars are told in period order per symbol; a period is told once, then only amended. A
//!   period the warm-up told ([`LiveRunner::on_warmup`]) is not told again from the stream,
//!   nor amended (here or by a `sim-live` exchange that builds the bars itself).
//! - What the strategy is told is taped whole ([`super::tape::Input::Aggregated`]), so a replay
//!   makes the same calls whatever the timing was.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use super::tape::Input;
use super::{LiveError, LiveRunner};
use crate::domain::{Bar, Timeframe};
use crate::veda::periods::{self, Calendar, Hours, Market, Period};
use crate::veda::types::CalendarDay;

/// How long after a period's end the clock waits for its last minute bar.
pub const SETTLE_MS: i64 = 3_000;
/// How long after a period's end a late minute still amends its bar (Alpaca recomputes a minute
/// bar 30 s after the minute and sends it as `updatedBars`).
pub const GRACE_MS: i64 = 90_000;
/// Most bars carried over empty periods at once (a clock far ahead of the data).
const MAX_CARRIED: usize = 10_000;

/// What a run does with a period in which nothing traded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptyBars {
    /// No bar (Alpaca's historical bars have none either).
    #[default]
    Skip,
    /// A flat bar at the last close with zero volume.
    Carry,
}

/// One bar to tell the strategy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Emitted {
    /// Index of the symbol in the aggregator's list.
    pub symbol: usize,
    /// The bar (labelled with its period's start).
    pub bar: Bar,
    /// A bar told before, amended by a late minute.
    pub amended: bool,
}

#[derive(Debug, Default)]
struct Building {
    period: Option<Period>,
    minutes: BTreeMap<i64, Bar>,
}

impl Building {
    fn bar(&self) -> Option<Bar> {
        let start = self.period?.start;
        let mut it = self.minutes.values();
        let mut bar = Bar {
            ts: start,
            ..*it.next()?
        };
        for m in it {
            periods::merge(&mut bar, m);
        }
        Some(bar)
    }
}

#[derive(Debug, Default)]
struct SymbolState {
    crypto: bool,
    building: Building,
    /// The period told last and its minutes (amendable within the grace).
    told: Building,
    /// The end of the last period told or carried.
    last_end: Option<i64>,
    last_close: Option<f64>,
}

/// Builds the bars of one timeframe for a run's symbols. Pure: time is passed in.
#[derive(Debug)]
pub struct Aggregator {
    timeframe: Timeframe,
    hours: Hours,
    empty: EmptyBars,
    calendar: Calendar,
    symbols: Vec<SymbolState>,
    index: HashMap<String, usize>,
    /// The end of the newest minute any of the run's symbols got: the stream is past it, so
    /// a period of another symbol that ended before it is over too.
    watermark: i64,
}

impl Aggregator {
    /// An aggregator of `symbols` into `timeframe` bars over `calendar`.
    pub fn new(
        symbols: &[String],
        timeframe: Timeframe,
        hours: Hours,
        empty: EmptyBars,
        calendar: Calendar,
    ) -> Aggregator {
        Aggregator {
            timeframe,
            hours,
            empty,
            calendar,
            symbols: symbols
                .iter()
                .map(|s| SymbolState {
                    crypto: periods::is_crypto(s),
                    ..SymbolState::default()
                })
                .collect(),
            index: symbols
                .iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), i))
                .collect(),
            watermark: i64::MIN,
        }
    }

    /// Whether the calendar must be extended before a minute at `ts` (New York date) can be
    /// placed: its week or month may end beyond what is known. Returns the date to cover.
    pub fn needs_calendar(&self, symbol: &str, ts: i64) -> Option<NaiveDate> {
        if periods::is_crypto(symbol) {
            return None;
        }
        let date = periods::new_york_date(ts);
        let ahead = date + chrono::Duration::days(40);
        let behind = date - chrono::Duration::days(10);
        (!self.calendar.covers(ahead) || !self.calendar.covers(behind)).then_some(date)
    }

    /// Adds the venue's calendar for `from..=to`.
    pub fn add_calendar(&mut self, from: NaiveDate, to: NaiveDate, days: &[CalendarDay]) {
        self.calendar.add(from, to, days);
    }

    /// Seeds the last close of `symbol` (warm-up bars): carried bars start from it.
    pub fn seed(&mut self, symbol: usize, bar: &Bar) {
        if let Some(s) = self.symbols.get_mut(symbol) {
            s.last_close = Some(bar.close);
        }
    }

    fn market(calendar: &Calendar, crypto: bool, hours: Hours) -> Market<'_> {
        if crypto {
            Market::Crypto
        } else {
            Market::Stock { calendar, hours }
        }
    }

    /// Takes one 1-minute bar of `symbol` at venue time `now` (ms); returns the bars complete
    /// or amended by it, in order, then what the stream's progress completes for the other
    /// symbols ([`Aggregator::tick`] at the later of `now` and the newest minute's end).
    pub fn minute(&mut self, symbol: &str, minute: Bar, now: i64) -> Vec<Emitted> {
        if !self.index.contains_key(symbol) {
            return Vec::new();
        }
        self.watermark = self.watermark.max(minute.ts + 60_000);
        let now = now.max(self.watermark);
        let mut out = self.place(symbol, minute, now);
        out.extend(self.tick(now));
        out
    }

    fn place(&mut self, symbol: &str, minute: Bar, now: i64) -> Vec<Emitted> {
        let Some(&i) = self.index.get(symbol) else {
            return Vec::new();
        };
        let (tf, hours, empty) = (self.timeframe, self.hours, self.empty);
        let s = &mut self.symbols[i];
        let market = Self::market(&self.calendar, s.crypto, hours);
        let mut out = Vec::new();
        // A minute at or after the end of the period being built completes it.
        if let Some(p) = s.building.period
            && minute.ts >= p.end
        {
            tell(i, s, &mut out);
        }
        let Some(period) = periods::period_of(minute.ts, tf, market) else {
            return out;
        };
        if let Some(told) = s.told.period
            && period.start <= told.start
        {
            if period == told && now - told.end <= GRACE_MS {
                let before = s.told.bar();
                s.told.minutes.insert(minute.ts, minute);
                // The same minute again changes nothing: not told again.
                if let Some(bar) = s.told.bar().filter(|b| Some(*b) != before) {
                    if s.building.period.is_none() {
                        s.last_close = Some(bar.close);
                    }
                    out.push(Emitted {
                        symbol: i,
                        bar,
                        amended: true,
                    });
                }
            } else {
                tracing::debug!(symbol, ts = minute.ts, "late minute bar dropped");
            }
            return out;
        }
        match s.building.period {
            Some(p) if p == period => {}
            // Older than the period being built and not the one told: too late to place.
            Some(p) if period.start < p.start => {
                tracing::debug!(symbol, ts = minute.ts, "late minute bar dropped");
                return out;
            }
            _ => {
                if empty == EmptyBars::Carry {
                    carry(i, s, market, tf, |p| p.start < period.start, &mut out);
                }
                s.building.period = Some(period);
            }
        }
        s.building.minutes.insert(minute.ts, minute);
        if minute.ts + 60_000 >= period.end {
            tell(i, s, &mut out);
        }
        out
    }

    /// What the clock completes at venue time `now` (ms).
    pub fn tick(&mut self, now: i64) -> Vec<Emitted> {
        let (tf, hours, empty) = (self.timeframe, self.hours, self.empty);
        let mut out = Vec::new();
        for (i, s) in self.symbols.iter_mut().enumerate() {
            if let Some(p) = s.building.period
                && now >= p.end + SETTLE_MS
            {
                tell(i, s, &mut out);
            }
            if empty == EmptyBars::Carry {
                let market = Self::market(&self.calendar, s.crypto, hours);
                carry(i, s, market, tf, |p| now >= p.end + SETTLE_MS, &mut out);
            }
        }
        out
    }

    /// The venue time (ms) of the next [`Aggregator::tick`] with something to do, if any.
    pub fn deadline(&self) -> Option<i64> {
        let mut next: Option<i64> = None;
        for s in &self.symbols {
            let mut due = s.building.period.map(|p| p.end + SETTLE_MS);
            if self.empty == EmptyBars::Carry
                && s.building.period.is_none()
                && s.last_close.is_some()
                && let Some(end) = s.last_end
            {
                let market = Self::market(&self.calendar, s.crypto, self.hours);
                due = periods::next_period(end, self.timeframe, market).map(|p| p.end + SETTLE_MS);
            }
            if let Some(d) = due {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        next
    }
}

/// Tells the period being built (if it holds a minute) and keeps it amendable.
fn tell(i: usize, s: &mut SymbolState, out: &mut Vec<Emitted>) {
    let building = std::mem::take(&mut s.building);
    let Some(period) = building.period else {
        return;
    };
    if let Some(bar) = building.bar() {
        s.last_close = Some(bar.close);
        out.push(Emitted {
            symbol: i,
            bar,
            amended: false,
        });
        s.told = building;
    }
    s.last_end = Some(period.end);
}

/// Carries the last close over the empty periods after the last one told while `due` holds.
fn carry(
    i: usize,
    s: &mut SymbolState,
    market: Market<'_>,
    tf: Timeframe,
    due: impl Fn(&Period) -> bool,
    out: &mut Vec<Emitted>,
) {
    let (Some(close), Some(mut end)) = (s.last_close, s.last_end) else {
        return;
    };
    if s.building.period.is_some() {
        return;
    }
    for _ in 0..MAX_CARRIED {
        let Some(p) = periods::next_period(end, tf, market) else {
            return;
        };
        if !due(&p) {
            return;
        }
        out.push(Emitted {
            symbol: i,
            bar: Bar {
                ts: p.start,
                open: close,
                high: close,
                low: close,
                close,
                volume: 0.0,
            },
            amended: false,
        });
        end = p.end;
        s.last_end = Some(end);
        // A minute arriving late for it amends the carried bar, as any told bar.
        s.told = Building {
            period: Some(p),
            minutes: BTreeMap::new(),
        };
    }
}

/// The run's aggregation and the venue clock it runs on.
pub(super) struct BarClock {
    pub(super) aggregator: Aggregator,
    /// Venue time minus local time (ms).
    pub(super) offset_ms: i64,
}

impl BarClock {
    fn now(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.offset_ms
    }
}

impl LiveRunner {
    /// Builds the run's bars from the 1-minute stream with `aggregator`, on the venue's clock
    /// (`offset_ms`: the venue's time minus the local time).
    pub fn aggregate(mut self, aggregator: Aggregator, offset_ms: i64) -> LiveRunner {
        self.clock = Some(Box::new(BarClock {
            aggregator,
            offset_ms,
        }));
        self
    }

    /// When the bar clock next has something to do, as a local instant.
    pub(super) fn clock_deadline(&self) -> Option<tokio::time::Instant> {
        let clock = self.clock.as_ref()?;
        let due = clock.aggregator.deadline()?;
        let wait = u64::try_from(due - clock.now()).unwrap_or(0);
        Some(tokio::time::Instant::now() + std::time::Duration::from_millis(wait))
    }

    /// A 1-minute bar from the stream: told as it is without aggregation, else into the
    /// aggregator (and what it completes told).
    pub(super) async fn take_minute(&mut self, symbol: &str, bar: Bar) -> Result<usize, LiveError> {
        let Some(clock) = self.clock.as_mut() else {
            return self.on_bar(symbol, bar).await;
        };
        if let Some(date) = clock.aggregator.needs_calendar(symbol, bar.ts) {
            let (from, to) = (
                date - chrono::Duration::days(40),
                date + chrono::Duration::days(70),
            );
            match self.venue.calendar(from, to).await {
                Ok(days) => {
                    if let Some(clock) = self.clock.as_mut() {
                        clock.aggregator.add_calendar(from, to, &days);
                    }
                }
                Err(e) => {
                    tracing::warn!(run = %self.run_id, code = e.code(), "calendar unavailable: {e}")
                }
            }
        }
        let Some(clock) = self.clock.as_mut() else {
            return Ok(0);
        };
        let now = clock.now();
        let out = clock.aggregator.minute(symbol, bar, now);
        self.tell_emitted(out).await
    }

    /// The bar clock's deadline passed.
    pub(super) async fn on_clock(&mut self) -> Result<usize, LiveError> {
        let Some(clock) = self.clock.as_mut() else {
            return Ok(0);
        };
        let now = clock.now();
        let out = clock.aggregator.tick(now);
        self.tell_emitted(out).await
    }

    async fn tell_emitted(&mut self, out: Vec<Emitted>) -> Result<usize, LiveError> {
        let mut placed = 0;
        for e in out {
            let Some(symbol) = self.symbols.get(e.symbol).cloned() else {
                continue;
            };
            if let Some(f) = &self.on_emitted {
                f(&symbol, e.bar, e.amended);
            }
            placed += self.on_aggregated(&symbol, e.bar, e.amended).await?;
        }
        Ok(placed)
    }

    /// Tells the strategy a bar built by aggregation (`amended`: told before, now amended),
    /// taped whole.
    ///
    /// # Errors
    /// See [`LiveError`].
    pub async fn on_aggregated(
        &mut self,
        symbol: &str,
        bar: Bar,
        amended: bool,
    ) -> Result<usize, LiveError> {
        self.note(|| Input::Aggregated {
            symbol: symbol.to_owned(),
            bar,
            amended,
        });
        self.bar_told(symbol, bar, amended, false).await
    }

    /// A bar the venue built and then amended ([`crate::veda::types::BarEvent::Amended`], a `sim-live` exchange):
    /// told again, amended; then the venue may step on, as after any bar of the stream.
    pub(super) async fn take_amended(
        &mut self,
        symbol: &str,
        bar: Bar,
    ) -> Result<usize, LiveError> {
        let outcome = self.on_aggregated(symbol, bar, true).await;
        if let Some(f) = &self.after_bar {
            f();
        }
        outcome
    }

    /// Tells the strategy a warm-up bar (taped whole); the orders it asks for are not placed.
    ///
    /// # Errors
    /// See [`LiveError`].
    pub async fn on_warmup(&mut self, symbol: &str, bar: Bar) -> Result<usize, LiveError> {
        self.note(|| Input::Warmup {
            symbol: symbol.to_owned(),
            bar,
        });
        if let (Some(clock), Some(i)) = (
            self.clock.as_mut(),
            self.symbols.iter().position(|s| s == symbol),
        ) {
            clock.aggregator.seed(i, &bar);
        }
        self.bar_told(symbol, bar, false, true).await
    }

    /// Whether a bar of symbol `index` at `ts` from the stream falls in the warm-up told: the
    /// stream may reach back into its last period (a minute sent before the warm-up was read, a
    /// reconnect's repeat), and a period is told once, the warm-up's bar being the venue's whole
    /// one. A `warmup` bar moves the mark instead.
    pub(super) fn told_in_warm_up(&mut self, index: usize, ts: i64, warmup: bool) -> bool {
        let Some(warmed) = self.warmed.get_mut(index) else {
            return false;
        };
        if warmup {
            *warmed = Some(ts);
            return false;
        }
        let told = warmed.is_some_and(|w| ts <= w);
        if told {
            tracing::debug!(run_id = %self.run_id, ts, "bar of a warm-up period not told again");
        }
        told
    }

    /// Calls `f(symbol, bar, amended)` for every bar the aggregation tells (the desk stores
    /// them, the run's shadows get them).
    pub fn on_emitted(mut self, f: impl Fn(&str, Bar, bool) + Send + Sync + 'static) -> LiveRunner {
        self.on_emitted = Some(Box::new(f));
        self
    }

    /// Pauses the run: its own trading state becomes `halted` (what
    /// `PUT /runs/{id}/trading-state` sets back), so it places nothing until set active.
    pub fn pause(&mut self) {
        if self.guard.is_some() {
            self.set_guard_state(crate::veda::risk::TradingState::Halted);
        } else {
            self.set_trading_state(crate::veda::risk::TradingState::Halted);
        }
    }

    /// Orders the strategy asked for during warm-up and that were not placed.
    pub fn warmup_dropped(&self) -> u64 {
        self.warmup_dropped
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveTime, TimeZone, Utc};

    use super::*;
    use crate::domain::{Intent, Strategy, StrategyError, StrategyEvent, StrategyPayload};
    use crate::veda::periods::new_york_ms;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, day).unwrap()
    }

    fn at(day: u32, h: u32, m: u32) -> i64 {
        new_york_ms(d(day), NaiveTime::from_hms_opt(h, m, 0).unwrap())
    }

    fn calendar() -> Calendar {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let days: Vec<CalendarDay> = [23, 24, 25, 27, 30]
            .into_iter()
            .map(|day| CalendarDay {
                date: d(day),
                open: t(9, 30),
                close: if day == 27 { t(13, 0) } else { t(16, 0) },
            })
            .collect();
        Calendar::new(d(1), d(30), &days)
    }

    fn minute(ts: i64, close: f64) -> Bar {
        Bar {
            ts,
            open: close,
            high: close + 1.0,
            low: close - 1.0,
            close,
            volume: 100.0,
        }
    }

    fn agg(tf: &str, empty: EmptyBars) -> Aggregator {
        Aggregator::new(
            &["AAPL".to_owned(), "MSFT".to_owned()],
            tf.parse().unwrap(),
            Hours::Regular,
            empty,
            calendar(),
        )
    }

    fn times(out: &[Emitted]) -> Vec<(usize, i64, bool)> {
        out.iter()
            .map(|e| (e.symbol, e.bar.ts, e.amended))
            .collect()
    }

    #[test]
    fn a_bar_is_told_when_its_last_minute_arrives() {
        let mut a = agg("5Min", EmptyBars::Skip);
        let early = at(25, 9, 0);
        assert!(
            a.minute("AAPL", minute(at(25, 9, 30), 1.0), early)
                .is_empty()
        );
        let out = a.minute("AAPL", minute(at(25, 9, 34), 2.0), early);
        assert_eq!(times(&out), [(0, at(25, 9, 30), false)]);
        let bar = out[0].bar;
        assert_eq!(
            (bar.open, bar.high, bar.low, bar.close),
            (1.0, 3.0, 0.0, 2.0)
        );
        assert_eq!(bar.volume, 200.0);
        // Pre-market and after-hours minutes belong to no bar in regular hours.
        assert!(
            a.minute("AAPL", minute(at(25, 16, 0), 5.0), early)
                .is_empty()
        );
    }

    #[test]
    fn the_clock_tells_a_bar_whose_last_minute_saw_no_trade() {
        let mut a = agg("5Min", EmptyBars::Skip);
        let early = at(25, 9, 0);
        a.minute("AAPL", minute(at(25, 9, 31), 1.0), early);
        assert_eq!(a.deadline(), Some(at(25, 9, 35) + SETTLE_MS));
        assert!(a.tick(at(25, 9, 35)).is_empty());
        let out = a.tick(at(25, 9, 35) + SETTLE_MS);
        assert_eq!(times(&out), [(0, at(25, 9, 30), false)]);
        // Skipping: nothing more is due.
        assert_eq!(a.deadline(), None);
        assert!(a.tick(at(25, 12, 0)).is_empty());
    }

    #[test]
    fn another_symbols_later_minute_ends_the_period() {
        let mut a = agg("5Min", EmptyBars::Skip);
        let early = at(25, 9, 0);
        a.minute("AAPL", minute(at(25, 9, 31), 1.0), early);
        let out = a.minute("MSFT", minute(at(25, 9, 35), 1.0), early);
        assert_eq!(times(&out), [(0, at(25, 9, 30), false)]);
    }

    #[test]
    fn carry_fills_empty_periods_with_the_last_close() {
        let mut a = agg("5Min", EmptyBars::Carry);
        let early = at(25, 9, 0);
        a.minute("AAPL", minute(at(25, 9, 34), 7.0), early);
        // MSFT trades on; AAPL is quiet from 09:35 to 09:45.
        let out = a.minute("MSFT", minute(at(25, 9, 45), 1.0), early);
        assert_eq!(
            times(&out),
            [(0, at(25, 9, 35), false), (0, at(25, 9, 40), false)]
        );
        let flat = out[0].bar;
        assert_eq!(
            (flat.open, flat.high, flat.low, flat.close, flat.volume),
            (7.0, 7.0, 7.0, 7.0, 0.0)
        );
        // Across the close, the holiday and into Friday's session: no bar outside sessions.
        let out = a.tick(at(27, 9, 40) + SETTLE_MS);
        let aapl: Vec<i64> = out
            .iter()
            .filter(|e| e.symbol == 0)
            .map(|e| e.bar.ts)
            .collect();
        assert_eq!(aapl.first(), Some(&at(25, 9, 45)));
        assert!(aapl.contains(&at(25, 15, 55)));
        assert!(
            !aapl
                .iter()
                .any(|t| *t >= at(25, 16, 0) && *t < at(27, 9, 30))
        );
        assert_eq!(aapl.last(), Some(&at(27, 9, 35)));
    }

    #[test]
    fn a_late_minute_within_the_grace_amends_the_bar_told() {
        let mut a = agg("5Min", EmptyBars::Skip);
        let early = at(25, 9, 0);
        a.minute("AAPL", minute(at(25, 9, 34), 1.0), early);
        a.minute("AAPL", minute(at(25, 9, 35), 2.0), early);
        // The same minute again: nothing changes, nothing is told.
        assert!(
            a.minute("AAPL", minute(at(25, 9, 34), 1.0), early)
                .is_empty()
        );
        // A recomputed 09:33 minute with a higher high amends the 09:30 bar.
        let mut late = minute(at(25, 9, 33), 1.5);
        late.high = 9.0;
        let out = a.minute("AAPL", late, early);
        assert_eq!(times(&out), [(0, at(25, 9, 30), true)]);
        assert_eq!(
            (out[0].bar.open, out[0].bar.high, out[0].bar.close),
            (1.5, 9.0, 1.0)
        );
        // Past the grace (the stream is minutes further), a late minute is dropped.
        a.minute("AAPL", minute(at(25, 9, 40), 3.0), early);
        assert!(
            a.minute("AAPL", minute(at(25, 9, 31), 3.0), early)
                .is_empty()
        );
    }

    #[test]
    fn daily_bars_end_at_the_early_close_and_skip_the_holiday() {
        let mut a = agg("1Day", EmptyBars::Carry);
        let early = at(23, 9, 0);
        let out = a.minute("AAPL", minute(at(25, 15, 59), 4.0), early);
        assert_eq!(times(&out), [(0, at(25, 0, 0), false)]);
        // Thanksgiving has no session: carried bars jump to Friday, which closes at 13:00.
        let out = a.tick(at(27, 13, 0) + SETTLE_MS);
        assert_eq!(times(&out), [(0, at(27, 0, 0), false)]);
        let out = a.minute("AAPL", minute(at(27, 12, 59), 5.0), early);
        // Friday was told (carried) already: a real minute for it amends it within the grace.
        assert_eq!(times(&out), [(0, at(27, 0, 0), true)]);
        assert_eq!((out[0].bar.close, out[0].bar.volume), (5.0, 100.0));
    }

    #[test]
    fn crypto_hours_cross_midnight_utc() {
        let mut a = Aggregator::new(
            &["BTC/USD".to_owned()],
            "1Hour".parse().unwrap(),
            Hours::Regular,
            EmptyBars::Skip,
            Calendar::default(),
        );
        let t = |h, m| {
            Utc.with_ymd_and_hms(2026, 11, 26, h, m, 0)
                .unwrap()
                .timestamp_millis()
        };
        let midnight = Utc
            .with_ymd_and_hms(2026, 11, 27, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        a.minute("BTC/USD", minute(t(23, 10), 1.0), 0);
        let out = a.minute("BTC/USD", minute(midnight, 2.0), 0);
        assert_eq!(times(&out), [(0, t(23, 0), false)]);
        let out = a.minute("BTC/USD", minute(midnight + 59 * 60_000, 3.0), 0);
        assert_eq!(times(&out), [(0, midnight, false)]);
    }

    /// Records the events it is told.
    struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<StrategyEvent>>>);

    impl Strategy for Recorder {
        fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
            self.0.lock().unwrap().push(event.clone());
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn the_strategy_is_told_an_amended_bar_with_the_header() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let data = std::collections::BTreeMap::from([("BTC/USD".to_owned(), vec![minute(0, 1.0)])]);
        let config = crate::veda::sim::SimConfig {
            broker: crate::greta::broker::BrokerConfig {
                cash: 1000.0,
                commission: crate::greta::broker::Commission::default(),
                slippage_bps: 0.0,
                fill: crate::greta::broker::FillModel::NextOpen,
                fractional: false,
            },
            speed: crate::veda::sim::Speed::Lockstep,
        };
        let venue = crate::veda::sim::SimVenue::new(data, config).unwrap();
        let mut runner = LiveRunner::new(
            "1",
            vec!["BTC/USD".to_owned()],
            Box::new(Recorder(seen.clone())),
            std::sync::Arc::new(venue),
            std::sync::Arc::new(crate::veda::journal::InMemoryJournal::new()),
            crate::veda::risk::RiskLimits::default(),
        );
        let bar = minute(3_600_000, 1.0);
        runner.on_aggregated("BTC/USD", bar, false).await.unwrap();
        runner
            .on_aggregated("BTC/USD", Bar { close: 2.0, ..bar }, true)
            .await
            .unwrap();
        let seen = seen.lock().unwrap();
        let bars: Vec<&StrategyEvent> = seen
            .iter()
            .filter(|e| matches!(e.payload, StrategyPayload::Bars(_)))
            .collect();
        assert_eq!(bars.len(), 2);
        assert!(bars[0].meta.headers.is_empty());
        assert_eq!(
            bars[1].meta.headers,
            [("amended".to_owned(), "true".to_owned())]
        );
    }
}
