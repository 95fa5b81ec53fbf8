//! Live bars into WallE: every bar a live venue streams is stored as a candle (source `live`)
//! with its `market.Bar` event ([`crate::walle::Walle::store_live_bars`]), so that a live
//! session can be replayed from the store. A desk offers each bar once, for all the runs that
//! share it, before fanning it out.
//!
//! Their events share the correlation id `market-<venue>` (`GET /events?corr_id=market-alpaca`).
//!
//! Storing is off the bar path: [`LiveBars::offer`] only queues the bar (a bounded channel, no
//! await), and one writer task per desk stores what is queued in batches. A failed write is
//! logged, counted (`weaver_live_bar_store_failures_total`) and retried with a growing pause;
//! while it retries, new bars wait in the queue, and only when the queue is full is a bar
//! dropped (counted in `weaver_live_bars_dropped_total`, logged). Runs never wait for the store.
//!
//! # Invariants
//! - Offering never blocks and never fails the caller.
//! - A batch is retried until it is stored (or refused as invalid, which a retry cannot fix),
//!   in arrival order; the desk's shutdown stores what is queued once more before the writer
//!   ends.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::domain::{Bar, Timeframe};
use crate::events::{Correlation, correlation};
use crate::walle::{self, LiveBar, Walle};

/// Bars the queue holds while the store is slow or down (hours of 1-minute bars for a few
/// dozen symbols).
pub const QUEUE_DEPTH: usize = 8192;

/// Most bars stored in one transaction.
const BATCH: usize = 512;

/// The first pause after a failed write; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(500);
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// The queue of one desk's live bars and its writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LiveBars {
    tx: mpsc::Sender<LiveBar>,
    venue: String,
}

impl LiveBars {
    /// Starts the writer of venue `venue`'s bars into `walle`; it ends at `stop` (after a last
    /// write of what is queued) or when every handle is dropped.
    pub fn start(walle: Walle, venue: &str, stop: CancellationToken) -> LiveBars {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        // No request causes a venue's bars: they share one correlation per venue, so
        // `GET /events?corr_id=market-<venue>` reads them in order.
        let corr = Correlation::new(format!("market-{venue}"), None);
        tokio::spawn(correlation::scope(Some(corr), write(walle, rx, stop)));
        LiveBars {
            tx,
            venue: venue.to_owned(),
        }
    }

    /// Queues `bar` of `symbol` for storing; never waits.
    pub fn offer(&self, symbol: &str, timeframe: Timeframe, bar: Bar) {
        let live = LiveBar {
            venue: self.venue.clone(),
            symbol: symbol.to_owned(),
            timeframe,
            bar,
        };
        match self.tx.try_send(live) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(b)) => {
                metrics::counter!("weaver_live_bars_dropped_total").increment(1);
                tracing::warn!(
                    symbol = %b.symbol,
                    ts = b.bar.ts,
                    "live bar not stored: the store is behind and the queue is full"
                );
            }
            // The writer ended with the desk: nothing is running that could store it.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

async fn write(walle: Walle, mut rx: mpsc::Receiver<LiveBar>, stop: CancellationToken) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let first = tokio::select! {
            biased;
            b = rx.recv() => b,
            () = stop.cancelled() => None,
        };
        let Some(first) = first else { break };
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(b) => batch.push(b),
                Err(_) => break,
            }
        }
        store(&walle, &mut batch, Some(&stop)).await;
    }
    // At shutdown what is queued gets one more attempt.
    while let Ok(b) = rx.try_recv() {
        batch.push(b);
    }
    store(&walle, &mut batch, None).await;
}

/// Stores `batch` (emptying it), retrying until it is stored, refused as invalid, or `stop`
/// (then one attempt only).
async fn store(walle: &Walle, batch: &mut Vec<LiveBar>, mut stop: Option<&CancellationToken>) {
    if batch.is_empty() {
        return;
    }
    let mut pause = FIRST_PAUSE;
    loop {
        match walle.store_live_bars(batch).await {
            Ok(n) => {
                metrics::counter!("weaver_live_bars_stored_total").increment(n);
                break;
            }
            Err(e @ walle::Error::Invalid(_)) => {
                tracing::warn!(bars = batch.len(), "live bars refused, not stored: {e}");
                break;
            }
            Err(e) => {
                metrics::counter!("weaver_live_bar_store_failures_total").increment(1);
                tracing::warn!(
                    code = e.code(),
                    bars = batch.len(),
                    "live bars not stored yet; retrying: {e}"
                );
                let Some(s) = stop else { break };
                tokio::select! {
                    // Shutting down: one last attempt, then give up.
                    () = s.cancelled() => stop = None,
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
    batch.clear();
}
