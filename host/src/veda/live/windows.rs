//! Data windows of a live run: a `FetchWindow` intent is answered by a `DataWindow` event
//! delivered right after the event that asked for it, as in a backtest: the last `lookback` bars
//! of the symbol up to and including the newest bar the run has seen (never a later one). The
//! runner keeps the bars it delivered (at most [`MAX_LOOKBACK`] per symbol); when the run has seen
//! fewer than asked, the venue's history before the run's first bar fills the rest (Alpaca: the
//! bars before the run started; the simulated exchange has nothing before its replay, exactly
//! like a backtest). Of the run's own symbols, only the run's own timeframe (set with
//! [`LiveRunner::timeframe`]) is served this way.
//!
//! A series the strategy declared in `init` (contract 0.3: another timeframe or symbol) is served
//! from the candles stored for it first ([`LiveRunner::stored_candles`]), then from the venue for
//! what the store lacks, or when a newer bar than the newest stored may have closed (asked at
//! most once per period of the series; the venue's bars that closed by then are stored, so the
//! next window reads them from the store); on the simulated exchange, whose history is the replay itself, the
//! missing part is aggregated from the bars the run was delivered, as a backtest aggregates its
//! own bars (`greta/series.rs`). "Now" is the close of the newest bar the run was delivered.
//! Each declared-series window served is taped ([`super::tape::Input::Window`]; one equal to
//! the previous window of its series as "unchanged"), and a replay is served the taped windows
//! in order ([`LiveRunner::windows_from_tape`]) instead of reading the store or the venue,
//! whose answers may have changed since: a replay gets the windows the run got.
//!
//! Any other series (undeclared, or a symbol outside the run) or a venue error gives an empty
//! window and a warning, as a backtest does. A strategy that keeps asking fails with
//! `strategy_event_loop` after [`super::MAX_WINDOWS_PER_EVENT`] windows for one event, as a
//! backtest does.
//!
//! # Invariants
//! - A window never holds a bar later than the newest one the run delivered; a window of a
//!   declared series never holds a bar that closes after that bar's close.
//! - A window holds at most [`MAX_LOOKBACK`] bars.
//! - A runner replaying a tape serves declared series from the tape only, in the order taped.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use super::tape::Input;
use super::{LiveRunner, MAX_LOOKBACK};
use crate::domain::{Bar, Timeframe};
use crate::greta::series;
use crate::veda::Error;
use crate::veda::types::BarsRequest;

/// A taped declared-series window: (symbol, timeframe, bars; `None` unchanged).
type TapedWindow = (String, String, Option<Vec<Bar>>);

/// The declared-series windows of a runner's tape: what was taped last per series, and in a
/// replay the windows to serve.
#[derive(Debug, Default)]
pub(super) struct Windows {
    /// The last window taped (or served from the tape) per (symbol, timeframe).
    last: Mutex<HashMap<(String, String), Vec<Bar>>>,
    /// In a replay: the taped windows still to serve, in order.
    replay: Option<Mutex<VecDeque<TapedWindow>>>,
    /// When (run time, ms) the venue was last asked for a declared series.
    asked: Mutex<HashMap<(String, String), i64>>,
}

impl LiveRunner {
    /// The last `lookback` bars of `symbol` up to the newest one the run has seen (see the
    /// module docs); empty when it cannot be served.
    pub(super) async fn window(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        lookback: u32,
    ) -> Vec<Bar> {
        let lookback = (lookback as usize).min(MAX_LOOKBACK);
        let own = self.symbols.iter().any(|s| s == symbol)
            && self.timeframe.is_none_or(|tf| tf == timeframe);
        if !own && self.declaration.declares(symbol, timeframe) {
            if self.windows.replay.is_some() {
                return self.taped_window(symbol, timeframe);
            }
            let bars = self.declared_window(symbol, timeframe, lookback).await;
            self.tape_window(symbol, timeframe, &bars);
            return bars;
        }
        let Some(index) = self.symbols.iter().position(|s| s == symbol) else {
            tracing::warn!(run = %self.run_id, %symbol, "data window for a symbol outside the run");
            return Vec::new();
        };
        if self.timeframe.is_some_and(|tf| tf != timeframe) {
            tracing::warn!(run = %self.run_id, %symbol, %timeframe, "data window in a timeframe other than the run's is not served");
            return Vec::new();
        }
        let seen = &self.seen[index];
        let mut bars: Vec<Bar> = seen
            .iter()
            .skip(seen.len().saturating_sub(lookback))
            .copied()
            .collect();
        let missing = lookback - bars.len();
        if missing == 0 || seen.len() == MAX_LOOKBACK {
            return bars;
        }
        let (Some(first), Some(tf)) = (seen.front(), self.timeframe) else {
            return bars;
        };
        let history = self.history_before(symbol, tf, first.ts, missing).await;
        self.note(|| super::tape::Input::History {
            symbol: symbol.to_owned(),
            bars: history.as_ref().ok().cloned(),
        });
        match history {
            Ok(mut earlier) => {
                earlier.append(&mut bars);
                earlier
            }
            Err(e) => {
                tracing::warn!(run = %self.run_id, %symbol, error = %e, "venue history unavailable; the data window holds only the run's own bars");
                bars
            }
        }
    }

    /// Serves declared-series windows from `inputs` (a run's tape, [`Input::Window`]s in
    /// order; other inputs are skipped) instead of the store and the venue: a replay.
    pub fn windows_from_tape(mut self, inputs: &[Input]) -> LiveRunner {
        let taped = inputs
            .iter()
            .filter_map(|i| match i {
                Input::Window {
                    symbol,
                    timeframe,
                    bars,
                } => Some((symbol.clone(), timeframe.clone(), bars.clone())),
                _ => None,
            })
            .collect();
        self.windows.replay = Some(Mutex::new(taped));
        self
    }

    /// Tapes a declared-series window (as unchanged when it equals the previous one).
    fn tape_window(&self, symbol: &str, timeframe: Timeframe, bars: &[Bar]) {
        if self.tape.is_none() {
            return;
        }
        let key = (symbol.to_owned(), timeframe.to_string());
        let mut last = self
            .windows
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let unchanged = last.get(&key).is_some_and(|b| b.as_slice() == bars);
        let (symbol, timeframe) = key.clone();
        if !unchanged {
            last.insert(key, bars.to_vec());
        }
        drop(last);
        self.note(|| Input::Window {
            symbol,
            timeframe,
            bars: (!unchanged).then(|| bars.to_vec()),
        });
    }

    /// The next taped window, which must be of the series asked for; empty (and a warning,
    /// so the replay differs rather than match by chance) when the tape has none here.
    fn taped_window(&self, symbol: &str, timeframe: Timeframe) -> Vec<Bar> {
        let tf = timeframe.to_string();
        let next = self
            .windows
            .replay
            .as_ref()
            .and_then(|q| q.lock().unwrap_or_else(PoisonError::into_inner).pop_front());
        let mut last = self
            .windows
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match next {
            Some((s, t, bars)) if s == symbol && t == tf => {
                let key = (s, t);
                match bars {
                    Some(bars) => {
                        last.insert(key, bars.clone());
                        bars
                    }
                    None => last.get(&key).cloned().unwrap_or_default(),
                }
            }
            other => {
                tracing::warn!(run = %self.run_id, %symbol, %timeframe, taped = ?other.map(|(s, t, _)| (s, t)), "no window of this series on the tape here; the replay serves an empty one");
                Vec::new()
            }
        }
    }

    /// Reads declared series from the stored candles of `walle` before asking the venue.
    pub fn stored_candles(mut self, walle: crate::walle::Walle) -> LiveRunner {
        self.candles = Some(walle);
        self
    }

    /// The last `lookback` bars of a declared series that closed by the close of the newest bar
    /// the run was delivered (see the module doc).
    async fn declared_window(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        lookback: usize,
    ) -> Vec<Bar> {
        let Some(newest) = self.last_ts else {
            return Vec::new();
        };
        let now = self
            .timeframe
            .map_or(newest, |tf| series::close_time(newest, tf));
        let span_ms = (lookback as i64)
            .saturating_mul(timeframe.nominal_millis())
            .saturating_mul(4)
            .saturating_add(10 * 86_400_000);
        let (Some(start), Some(end)) = (
            DateTime::<Utc>::from_timestamp_millis(now.saturating_sub(span_ms)),
            DateTime::<Utc>::from_timestamp_millis(now.saturating_add(1)),
        ) else {
            return Vec::new();
        };
        let mut bars: Vec<Bar> = Vec::new();
        if let Some(walle) = &self.candles {
            let limit =
                i64::try_from(lookback.saturating_mul(4).saturating_add(1_000)).unwrap_or(i64::MAX);
            match walle
                .candles(symbol, &timeframe.to_string(), start, end, limit)
                .await
            {
                Ok(stored) => bars = stored.iter().map(|c| c.bar()).collect(),
                Err(e) => {
                    tracing::warn!(run = %self.run_id, %symbol, %timeframe, error = %e, "stored candles of a declared series unavailable");
                }
            }
        }
        let closed = |bars: &[Bar]| {
            bars.iter()
                .filter(|b| series::close_time(b.ts, timeframe) <= now)
                .count()
        };
        let on_sim = self.venue.name() == "sim";
        if closed(&bars) < lookback || (!on_sim && self.newer_may_exist(&bars, timeframe, now)) {
            let more = if on_sim {
                self.aggregated(symbol, timeframe)
            } else if !self.may_ask(symbol, timeframe, now) {
                Ok(Vec::new())
            } else {
                let request = BarsRequest {
                    symbols: vec![symbol.to_owned()],
                    timeframe,
                    start,
                    end,
                    page_limit: None,
                };
                match self.venue.bars(&request).await {
                    Ok(mut by_symbol) => Ok(by_symbol.remove(symbol).unwrap_or_default()),
                    Err(e) => Err(e.to_string()),
                }
            };
            match more {
                // The stored bars win over the venue's at the same time.
                Ok(more) => {
                    let new: Vec<Bar> = more
                        .into_iter()
                        .filter(|b| !bars.iter().any(|s| s.ts == b.ts))
                        .collect();
                    if self.venue.name() != "sim" {
                        self.store_closed(symbol, timeframe, &new, now).await;
                    }
                    bars.extend(new);
                }
                Err(why) => {
                    tracing::warn!(run = %self.run_id, %symbol, %timeframe, "declared series: {why}");
                }
            }
        }
        series::SeriesBars::new(bars, timeframe).window(now, lookback)
    }

    /// Whether a bar newer than the newest of `bars` may have closed by `now`: the stored bars
    /// may be behind the venue.
    fn newer_may_exist(&self, bars: &[Bar], timeframe: Timeframe, now: i64) -> bool {
        bars.last().is_some_and(|b| {
            series::close_time(series::close_time(b.ts, timeframe), timeframe) <= now
        })
    }

    /// Whether the venue may be asked for a declared series at run time `now`: once, then at
    /// most once per period of the series (a holiday or a weekend leaves the stored bars
    /// behind the calendar without the venue having more), so a strategy that asks on every
    /// bar does not spend a request per bar.
    fn may_ask(&self, symbol: &str, timeframe: Timeframe, now: i64) -> bool {
        let mut asked = self
            .windows
            .asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (symbol.to_owned(), timeframe.to_string());
        if asked
            .get(&key)
            .is_some_and(|&at| now.saturating_sub(at) < timeframe.nominal_millis())
        {
            return false;
        }
        asked.insert(key, now);
        true
    }

    /// Stores the venue's bars of a declared series that closed by `now` (never one still
    /// forming), so the next window, and the next run, read them from the store.
    async fn store_closed(&self, symbol: &str, timeframe: Timeframe, bars: &[Bar], now: i64) {
        let Some(walle) = &self.candles else { return };
        let tf = timeframe.to_string();
        let closed: Vec<crate::walle::Candle> = bars
            .iter()
            .filter(|b| series::close_time(b.ts, timeframe) <= now)
            .filter_map(|b| {
                Some(crate::walle::Candle {
                    symbol: symbol.to_owned(),
                    timeframe: tf.clone(),
                    ts: DateTime::<Utc>::from_timestamp_millis(b.ts)?,
                    open: b.open,
                    high: b.high,
                    low: b.low,
                    close: b.close,
                    volume: b.volume,
                    source: self.venue.name().to_owned(),
                })
            })
            .collect();
        if closed.is_empty() {
            return;
        }
        if let Err(e) = walle.upsert_candles(&closed, None).await {
            // The window still holds them; only the store misses them.
            tracing::warn!(run = %self.run_id, %symbol, %timeframe, code = e.code(), "declared series bars not stored: {e}");
        }
    }

    /// A declared series aggregated from the bars of `symbol` the run was delivered.
    fn aggregated(&self, symbol: &str, timeframe: Timeframe) -> Result<Vec<Bar>, String> {
        let (Some(index), Some(base)) = (
            self.symbols.iter().position(|s| s == symbol),
            self.timeframe,
        ) else {
            return Err(format!(
                "no {timeframe} candles are stored for {symbol}, and the run has no bars of it to aggregate"
            ));
        };
        let own: Vec<Bar> = self.seen[index].iter().copied().collect();
        series::aggregate(&own, base, timeframe)
    }

    /// Up to `n` of the venue's bars strictly before `before_ms`, oldest first.
    async fn history_before(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        before_ms: i64,
        n: usize,
    ) -> Result<Vec<Bar>, Error> {
        let end = DateTime::<Utc>::from_timestamp_millis(before_ms - 1)
            .ok_or_else(|| Error::Config(format!("bar time {before_ms} out of range")))?;
        // Sessions, nights, weekends and holidays: ask for a span well beyond n bars' length.
        let span_ms = (n as i64)
            .saturating_mul(timeframe.nominal_millis())
            .saturating_mul(4)
            .saturating_add(10 * 86_400_000);
        let start = DateTime::<Utc>::from_timestamp_millis(before_ms.saturating_sub(span_ms))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let request = BarsRequest {
            symbols: vec![symbol.to_owned()],
            timeframe,
            start,
            end,
            page_limit: None,
        };
        let mut bars = self
            .venue
            .bars(&request)
            .await?
            .remove(symbol)
            .unwrap_or_default();
        bars.retain(|b| b.ts < before_ms);
        let extra = bars.len().saturating_sub(n);
        bars.drain(..extra);
        Ok(bars)
    }
}
