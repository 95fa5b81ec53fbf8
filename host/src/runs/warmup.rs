//! What a run on a live venue needs before its first live bar: the bar clock that builds its
//! timeframe from the 1-minute stream ([`bar_clock`], `crate::veda::live::aggregate`) and its
//! warm-up ([`warm_up`]): the last `warmup` bars of each symbol in the run's timeframe, read
//! from the stored candles, the missing part downloaded from the venue first and stored, then
//! told to the strategy oldest first. Orders the strategy asks for on warm-up bars are not
//! sent (logs and data windows are answered); the run's log says so. Runs on Alpaca and on
//! `sim-live` use it alike: a `sim-live` run passes its exchange's market (the Alpaca desk), so
//! the history is Alpaca's and the downloaded candles are stored as Alpaca's.
//!
//! # Invariants
//! - A venue error during warm-up (a rate limit, a feed the account may not use, a symbol it
//!   may not trade) pauses the run: its own trading state becomes `halted`, its log carries
//!   the venue's message and a `risk.TradingStateChanged` event is written. It never fails
//!   silently; the run then trades nothing until its state is set back by hand.
//! - Warm-up bars are complete bars only: none of the period the venue's clock is in.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::active::Live;
use crate::domain::{Bar, TimeUnit, Timeframe};
use crate::veda::live::LiveRunner;
use crate::veda::live::aggregate::Aggregator;
use crate::veda::periods::{self, Calendar, Market};
use crate::veda::types::BarsRequest;
use crate::veda::{self, Venue};
use crate::walle::{Candle, Walle};

use super::spec::LiveBarOptions;

/// The venue's time minus the local time (ms), from its clock.
///
/// # Errors
/// The venue's.
pub(crate) async fn venue_offset(venue: &dyn Venue) -> veda::Result<i64> {
    let clock = venue.clock().await?;
    Ok((clock.timestamp - Utc::now()).num_milliseconds())
}

/// The aggregation of a run's bars into `timeframe` over the venue's calendar around its clock
/// (`offset_ms`: [`venue_offset`]).
///
/// # Errors
/// The venue's.
pub(crate) async fn bar_clock(
    venue: &dyn Venue,
    symbols: &[String],
    timeframe: Timeframe,
    options: LiveBarOptions,
    offset_ms: i64,
) -> veda::Result<Aggregator> {
    let now = Utc::now().timestamp_millis() + offset_ms;
    let today = periods::new_york_date(now);
    let (from, to) = (today - Duration::days(40), today + Duration::days(70));
    let mut calendar = Calendar::default();
    if symbols.iter().any(|s| !periods::is_crypto(s)) {
        let days = venue.calendar(from, to).await?;
        calendar.add(from, to, &days);
    }
    Ok(Aggregator::new(
        symbols,
        timeframe,
        options.hours,
        options.empty_bars,
        calendar,
    ))
}

/// How far back `n` bars of `timeframe` reach at most (sessions, weekends and holidays
/// included), generously.
fn reach(n: u32, timeframe: Timeframe, crypto: bool) -> Duration {
    let n = i64::from(n);
    let span = Duration::milliseconds(timeframe.nominal_millis());
    if crypto {
        return span * (n as i32).max(1) + Duration::days(1);
    }
    match timeframe.unit {
        // A regular session is 6.5 hours of 24, five days of seven: stretch by 24/6.5 × 7/5.
        TimeUnit::Minute | TimeUnit::Hour => {
            Duration::milliseconds(timeframe.nominal_millis().saturating_mul(n) / 10 * 52)
                + Duration::days(7)
        }
        TimeUnit::Day => Duration::days(n * 8 / 5 + 10),
        TimeUnit::Week | TimeUnit::Month => span * (n as i32) + Duration::days(40),
    }
}

/// The start of the period the venue's clock is in at `now` (bars from it on are not complete).
fn current_start(now: i64, symbol: &str, timeframe: Timeframe, calendar: &Calendar) -> i64 {
    let market = if periods::is_crypto(symbol) {
        Market::Crypto
    } else {
        Market::Stock {
            calendar,
            hours: periods::Hours::Extended,
        }
    };
    periods::period_of(now, timeframe, market).map_or(now, |p| p.start)
}

/// The last `n` complete bars of `symbol` before `now`: stored ones, the rest downloaded from
/// `venue` and stored. Returns the bars and how many were downloaded.
async fn lookback(
    walle: &Walle,
    venue: &dyn Venue,
    symbol: &str,
    timeframe: Timeframe,
    n: u32,
    now: DateTime<Utc>,
    calendar: &Calendar,
) -> veda::Result<(Vec<Bar>, usize)> {
    let tf = timeframe.to_string();
    let end_ms = current_start(now.timestamp_millis(), symbol, timeframe, calendar);
    let end = DateTime::from_timestamp_millis(end_ms).unwrap_or(now);
    let from = end - reach(n, timeframe, periods::is_crypto(symbol));
    let stored = walle
        .candles(symbol, &tf, from, end, i64::MAX)
        .await
        .map_err(|e| veda::Error::Journal(format!("{e} ({})", e.code())))?;
    let mut bars: Vec<Bar> = stored.iter().map(Candle::bar).collect();
    let mut downloaded = 0;
    if bars.len() < n as usize {
        // The missing part: what the venue has before the oldest stored bar, or since the
        // newest (a gap up to now), is asked in one range.
        let got = venue
            .bars(&BarsRequest {
                symbols: vec![symbol.to_owned()],
                timeframe,
                start: from,
                end: end - Duration::milliseconds(1),
                page_limit: Some(10_000),
            })
            .await?;
        let fresh: Vec<Bar> = got
            .get(symbol)
            .map(|b| b.iter().filter(|b| b.ts < end_ms).copied().collect())
            .unwrap_or_default();
        let known: std::collections::HashSet<i64> = bars.iter().map(|b| b.ts).collect();
        let new: Vec<Candle> = fresh
            .iter()
            .filter(|b| !known.contains(&b.ts))
            .map(|b| Candle {
                symbol: symbol.to_owned(),
                timeframe: tf.clone(),
                ts: DateTime::from_timestamp_millis(b.ts).unwrap_or(now),
                open: b.open,
                high: b.high,
                low: b.low,
                close: b.close,
                volume: b.volume,
                source: venue.name().to_owned(),
            })
            .collect();
        downloaded = new.len();
        if !new.is_empty()
            && let Err(e) = walle.upsert_candles(&new, None).await
        {
            // The bars are still told; only the store misses them.
            tracing::warn!(symbol, code = e.code(), "warm-up bars not stored: {e}");
        }
        bars.extend(new.iter().map(Candle::bar));
        bars.sort_by_key(|b| b.ts);
    }
    let skip = bars.len().saturating_sub(n as usize);
    Ok((bars.split_off(skip), downloaded))
}

/// Tells `runner` the warm-up of every symbol (oldest first, symbol after symbol at each
/// time), or pauses the run on a venue error (see the module's invariants). A strategy's
/// failure on a warm-up bar fails the run as on any bar. Returns the bars told, in order (the
/// run's shadows are told them too).
///
/// # Errors
/// The strategy's failure ([`crate::veda::live::LiveError`]).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn warm_up(
    walle: &Walle,
    venue: &Arc<dyn Venue>,
    runner: &mut LiveRunner,
    live: &Live,
    symbols: &[String],
    timeframe: Timeframe,
    n: u32,
    offset_ms: i64,
) -> Result<Vec<(String, Bar)>, crate::veda::live::LiveError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let now = Utc::now() + Duration::milliseconds(offset_ms);
    let mut calendar = Calendar::default();
    let mut all: Vec<(i64, usize, Bar)> = Vec::new();
    let mut downloaded = 0;
    let failed = async {
        if symbols.iter().any(|s| !periods::is_crypto(s)) {
            let today = now.date_naive();
            let (from, to) = (today - Duration::days(10), today + Duration::days(10));
            calendar.add(from, to, &venue.calendar(from, to).await?);
        }
        for (i, symbol) in symbols.iter().enumerate() {
            let (bars, d) =
                lookback(walle, venue.as_ref(), symbol, timeframe, n, now, &calendar).await?;
            downloaded += d;
            all.extend(bars.into_iter().map(|b| (b.ts, i, b)));
        }
        Ok::<(), veda::Error>(())
    }
    .await;
    if let Err(e) = failed {
        runner.pause();
        let message = format!(
            "warm-up failed, the run is paused (halted; set its trading state to active to trade): venue {} answered {}: {e}",
            venue.name(),
            e.code()
        );
        live.logs.push("error", message);
        let payload = crate::events::payloads::RunTradingState {
            run_id: live.id,
            state: "halted".to_owned(),
        };
        match crate::events::Envelope::new("risk.TradingStateChanged", "runs", payload) {
            Ok(event) => live.decisions.record(Some(event.for_run(live.id))),
            Err(e) => tracing::error!(run_id = live.id, "pause not recorded: {e}"),
        }
        return Ok(Vec::new());
    }
    all.sort_by_key(|(ts, i, _)| (*ts, *i));
    let told = all.len();
    let mut warm = Vec::with_capacity(told);
    for (_, i, bar) in all {
        runner.on_warmup(&symbols[i], bar).await?;
        warm.push((symbols[i].clone(), bar));
    }
    live.logs.push(
        "info",
        format!(
            "warm-up: {told} {timeframe} bars told before the first live bar ({downloaded} downloaded from {}); orders asked for on them were not sent ({})",
            venue.name(),
            runner.warmup_dropped()
        ),
    );
    Ok(warm)
}
