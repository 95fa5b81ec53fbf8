//! Data windows of a live run: a `FetchWindow` intent is answered by a `DataWindow` event
//! delivered right after the event that asked for it, as in a backtest: the last `lookback` bars
//! of the symbol up to and including the newest bar the run has seen (never a later one). The
//! runner keeps the bars it delivered (at most [`MAX_LOOKBACK`] per symbol); when the run has seen
//! fewer than asked, the venue's history before the run's first bar fills the rest (Alpaca: the
//! bars before the run started; the simulated exchange has nothing before its replay, exactly
//! like a backtest). Only the run's own timeframe (set with [`LiveRunner::timeframe`]) is served;
//! another one, a symbol outside the run or a venue error gives an empty window and a warning, as
//! a backtest does. A strategy that keeps asking fails with `strategy_event_loop` after
//! [`super::MAX_WINDOWS_PER_EVENT`] windows for one event, as a backtest does.
//!
//! # Invariants
//! - A window never holds a bar later than the newest one the run delivered.
//! - A window holds at most [`MAX_LOOKBACK`] bars.

use chrono::{DateTime, Utc};

use super::{LiveRunner, MAX_LOOKBACK};
use crate::domain::{Bar, Timeframe};
use crate::veda::Error;
use crate::veda::types::BarsRequest;

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
