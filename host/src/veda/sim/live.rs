//! The `sim-live` venue: the simulated exchange fed by a live venue's bars instead of a tape.
//! A run on it sees the live venue's market data (its shared 1-minute bar stream, its
//! historical bars for data windows, its clock and calendar) and trades with its own
//! simulated account: orders, cancels and the account never leave this process, they are
//! matched by the very code that matches a replay ([`SimVenue`]'s state over Greta's broker),
//! so a candidate strategy can run next to the live version without touching the broker.
//!
//! # How time moves
//! Each live bar is one step of the exchange: pending orders are matched against it (Greta's
//! fill rules: a market order decided on bar `t` fills at the open of the symbol's next bar),
//! then the bar is handed to the run. As on a replay in [`Speed::Lockstep`], the next bar is
//! only stepped once the run called [`SimVenue::bar_done`] for the previous one, so an order
//! always meets the bar after the one it was decided on, however late the run is; bars queue
//! in the stream's channel meanwhile.
//!
//! A resumed run is given the live bars the store kept since it started (the `preamble`): they
//! are stepped first, in time order, so the exchange and the strategy are rebuilt exactly as
//! they were (the run is deterministic given its bars, as on `sim`), then the stream goes on
//! with live bars newer than the last one replayed.
//!
//! # Invariants
//! - Nothing but market data is asked of the live venue: `bar_stream`, `bars`, `clock`,
//!   `calendar`. Orders, cancels, positions and the account are the simulated exchange's own.
//! - Each symbol's bars are stepped in strictly increasing time: a live bar at or before the
//!   last one stepped (a preamble's, a reconnect's repeat) is dropped.
//! - One bar stream per exchange, as on a replay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::{SimConfig, SimVenue, Speed, State, Tape, apply_update, bar_view, ts_of};
use crate::domain::Bar;
use crate::greta::broker::{BarView, BrokerConfig};
use crate::veda::types::{BarEvent, StreamHandle};
use crate::veda::{Error, Result, Venue};

/// The venue's name, as runs store it and `POST /runs` takes it.
pub const LIVE_VENUE: &str = "sim-live";

/// Where a `sim-live` exchange gets its market data.
pub(super) struct Feed {
    /// The live venue as a run sees it (a desk's subscription for streams).
    pub(super) venue: Arc<dyn Venue>,
    /// Stored live bars to step first, oldest first (a resumed run).
    preamble: Mutex<Vec<(String, Bar)>>,
}

impl SimVenue {
    /// A simulated exchange over `market`'s live bars of `symbols`, with an account of
    /// `broker.cash`; `preamble` (stored live bars since the run started, any order) is
    /// stepped before the live stream (see the module docs).
    ///
    /// # Errors
    /// [`Error::Config`] without symbols.
    pub fn live(
        market: Arc<dyn Venue>,
        symbols: &[String],
        broker: BrokerConfig,
        preamble: Vec<(String, Bar)>,
    ) -> Result<SimVenue> {
        let mut unique: Vec<String> = Vec::new();
        for s in symbols {
            if !unique.contains(s) {
                unique.push(s.clone());
            }
        }
        if unique.is_empty() {
            return Err(Error::Config("sim-live needs at least one symbol".into()));
        }
        let n = unique.len();
        let index: HashMap<&str, usize> = unique
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect();
        let mut preamble: Vec<(usize, String, Bar)> = preamble
            .into_iter()
            .filter_map(|(s, b)| index.get(s.as_str()).map(|&i| (i, s, b)))
            .collect();
        preamble.sort_by_key(|(i, _, b)| (b.ts, *i));
        let preamble = preamble.into_iter().map(|(_, s, b)| (s, b)).collect();
        // An empty tape: the timeline is the live stream's.
        let tape = Tape::shared(unique, vec![Vec::new(); n]);
        let config = SimConfig {
            broker,
            speed: Speed::Lockstep,
        };
        Ok(SimVenue {
            symbols: tape.symbols,
            data: tape.data,
            timeline: tape.timeline,
            config,
            throttle: None,
            feed: Some(Arc::new(Feed {
                venue: market,
                preamble: Mutex::new(preamble),
            })),
            state: Arc::new(Mutex::new(State::new(broker, n))),
            demand: Arc::new(Semaphore::new(0)),
            id_prefix: Arc::from("sim-"),
        })
    }

    /// Steps one live bar of symbol `s`: matches the pending orders against it (the same
    /// broker call a replay's step makes), then records it as the symbol's latest. `cursor`
    /// counts bar times, which Greta's broker uses as bar numbers.
    fn step_live(&self, s: usize, bar: Bar) {
        let mut st = self.lock();
        if st.now.map(|t| t.timestamp_millis()) != Some(bar.ts) {
            st.cursor += 1;
        }
        let g = st.cursor;
        let mut views: Vec<Option<BarView>> = vec![None; self.symbols.len()];
        views[s] = Some(bar_view(bar, g, st.last[s]));
        st.closes[s] = bar.close;
        st.last[s] = Some((bar, g));
        st.now = ts_of(bar.ts);
        let mut updates = Vec::new();
        if st.broker.has_pending() {
            let closes = st.closes.clone();
            st.broker.process(&views, &closes, &mut updates);
        }
        for u in updates {
            apply_update(&mut st, &u);
        }
    }
}

/// The run's bar stream: the preamble, then the live venue's bars, each stepped in lockstep
/// with the run (see the module docs).
pub(super) async fn bar_stream(
    me: &SimVenue,
    feed: &Arc<Feed>,
    symbols: &[String],
) -> Result<StreamHandle<BarEvent>> {
    {
        let mut st = me.lock();
        if st.replaying {
            return Err(Error::Config(
                "the simulated exchange has one bar stream".into(),
            ));
        }
        st.replaying = true;
    }
    let wanted: Vec<String> = if symbols.is_empty() {
        me.symbols.to_vec()
    } else {
        symbols
            .iter()
            .filter(|s| me.symbols.contains(s))
            .cloned()
            .collect()
    };
    // Subscribed before the preamble is read out, so no live bar falls between the two.
    let mut source = feed.venue.bar_stream(&wanted).await?;
    let preamble = std::mem::take(&mut *feed.preamble.lock().unwrap_or_else(|e| e.into_inner()));
    let (tx, rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let me = me.clone();
    tokio::spawn(async move {
        let mut last = vec![i64::MIN; me.symbols.len()];
        let mut first = true;
        let mut deliver = async |symbol: String, bar: Bar| -> bool {
            let Some(s) = me.symbol_index(&symbol) else {
                return true;
            };
            if bar.ts <= last[s]
                || ![bar.open, bar.high, bar.low, bar.close]
                    .iter()
                    .all(|v| v.is_finite())
            {
                return true;
            }
            if !first {
                // The previous bar's orders are in: this one may meet them.
                let permit = tokio::select! {
                    () = stop.cancelled() => return false,
                    p = me.demand.acquire() => p,
                };
                match permit {
                    Ok(p) => p.forget(),
                    Err(_) => return false,
                }
            }
            first = false;
            last[s] = bar.ts;
            me.step_live(s, bar);
            tx.send(BarEvent::Bar { symbol, bar }).await.is_ok()
        };
        for (symbol, bar) in preamble {
            if !deliver(symbol, bar).await {
                return;
            }
        }
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => return,
                e = source.next() => e,
            };
            let ok = match event {
                None => return,
                Some(BarEvent::Bar { symbol, bar }) => deliver(symbol, bar).await,
                Some(other) => tx.send(other).await.is_ok(),
            };
            if !ok {
                return;
            }
        }
    });
    Ok(StreamHandle::new(rx, cancel))
}
