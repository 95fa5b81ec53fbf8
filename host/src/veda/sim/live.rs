//! The `sim-live` venue: the simulated exchange fed by a live venue's bars instead of a tape.
//! A run on it sees the live venue's market data (its shared 1-minute bar stream, its
//! historical bars for data windows, its clock and calendar) and trades with its own
//! simulated account: orders, cancels and the account never leave this process, they are
//! matched by the very code that matches a replay ([`SimVenue`]'s state over Greta's broker),
//! so a candidate strategy can run next to the live version without touching the broker.
//!
//! # Timeframes
//! A run on a timeframe longer than a minute gets bars built from the minute stream by the
//! [`Aggregator`] Alpaca runs use (`crate::veda::live::aggregate`, the rules of
//! [`crate::veda::periods`]), here, inside the exchange: each built bar is one step of the
//! exchange, so orders fill against the built bars exactly as a `sim` replay of those bars
//! would fill them. A period is complete when the stream or the venue's clock passes its end (as
//! on Alpaca runs). A late minute that would amend a bar already stepped is dropped: the
//! exchange has matched orders against the bar as it was built, and a replay of the stored
//! bars must see the same bar.
//!
//! # How time moves
//! Each (built) bar is one step of the exchange: pending orders are matched against it (Greta's
//! fill rules: a market order decided on bar `t` fills at the open of the symbol's next bar),
//! then the bar is handed to the run. As on a replay in [`Speed::Lockstep`], the next bar is
//! only stepped once the run called [`SimVenue::bar_done`] for the previous one, so an order
//! always meets the bar after the one it was decided on, however late the run is; bars queue
//! in the stream's channel meanwhile.
//!
//! A resumed run is given the live 1-minute bars the store kept since it started (the
//! `preamble`): they are aggregated and stepped first, in time order, so the exchange and the
//! strategy are rebuilt exactly as they were (the run is deterministic given its bars, as on
//! `sim`), then the stream goes on with live bars newer than the last one replayed.
//!
//! # Invariants
//! - Nothing but market data is asked of the live venue: `bar_stream`, `bars`, `clock`,
//!   `calendar`. Orders, cancels, positions and the account are the simulated exchange's own.
//! - Each symbol's bars are stepped in strictly increasing time: a live bar at or before the
//!   last one stepped (a preamble's, a reconnect's repeat) is dropped.
//! - One bar stream per exchange, as on a replay.
//! - A built bar is stepped once: amendments of a period already stepped are not told. Without
//!   aggregation a venue's `Updated` bar is passed on, never stepped (a shadow's runner tells
//!   it as the amended bar of the run it shadows; a 1-minute run ignores it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::{SimConfig, SimVenue, Speed, State, Tape, apply_update, bar_view, ts_of};
use crate::domain::Bar;
use crate::greta::broker::{BarView, BrokerConfig};
use crate::veda::live::aggregate::{Aggregator, Emitted};
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
    /// How bars of a longer timeframe are built, taken by the bar stream.
    aggregation: Mutex<Option<Aggregation>>,
}

/// What [`Aggregation::on_built`] is: told (symbol, bar) for every bar built.
pub type BuiltHook = Box<dyn Fn(&str, Bar) + Send + Sync>;

/// What builds a `sim-live` run's bars of a timeframe longer than a minute.
pub struct Aggregation {
    /// The aggregation Alpaca runs use, over the venue's calendar.
    pub aggregator: Aggregator,
    /// The venue's time minus the local time (ms): the clock periods end on.
    pub offset_ms: i64,
    /// Told every bar built (the desk stores it as a candle of the run's timeframe).
    pub on_built: BuiltHook,
}

impl std::fmt::Debug for Aggregation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aggregation")
            .field("aggregator", &self.aggregator)
            .field("offset_ms", &self.offset_ms)
            .finish_non_exhaustive()
    }
}

impl SimVenue {
    /// A simulated exchange over `market`'s live bars of `symbols`, with an account of
    /// `broker.cash`; `preamble` (stored live 1-minute bars since the run started, any order)
    /// is stepped before the live stream; `aggregation` builds bars of a longer timeframe from
    /// the minutes (see the module docs).
    ///
    /// # Errors
    /// [`Error::Config`] without symbols.
    pub fn live(
        market: Arc<dyn Venue>,
        symbols: &[String],
        broker: BrokerConfig,
        preamble: Vec<(String, Bar)>,
        aggregation: Option<Aggregation>,
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
                aggregation: Mutex::new(aggregation),
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

/// The run's bar stream: the preamble, then the live venue's bars, each (built, on a longer
/// timeframe) bar stepped in lockstep with the run (see the module docs).
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
    let source = feed.venue.bar_stream(&wanted).await?;
    let preamble = std::mem::take(&mut *feed.preamble.lock().unwrap_or_else(|e| e.into_inner()));
    let aggregation = feed
        .aggregation
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let (tx, rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let stepper = Stepper {
        me: me.clone(),
        venue: feed.venue.clone(),
        tx,
        stop: cancel.clone(),
        minutes: vec![i64::MIN; me.symbols.len()],
        first: true,
        aggregation,
    };
    tokio::spawn(stepper.run(preamble, source));
    Ok(StreamHandle::new(rx, cancel))
}

/// The task behind a `sim-live` bar stream: takes minutes, builds bars, steps them.
struct Stepper {
    me: SimVenue,
    venue: Arc<dyn Venue>,
    tx: mpsc::Sender<BarEvent>,
    stop: CancellationToken,
    /// The newest minute taken per symbol (ms).
    minutes: Vec<i64>,
    /// No bar stepped yet: the first needs no permit.
    first: bool,
    aggregation: Option<Aggregation>,
}

impl Stepper {
    async fn run(mut self, preamble: Vec<(String, Bar)>, mut source: StreamHandle<BarEvent>) {
        // The preamble's periods end by its own minutes, not the clock: as they did live.
        for (symbol, bar) in preamble {
            if !self.minute(symbol, bar, None).await {
                return;
            }
        }
        loop {
            let deadline = self.deadline();
            let clock = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                () = self.stop.cancelled() => return,
                () = clock => {
                    if !self.tick().await {
                        return;
                    }
                    continue;
                }
                e = source.next() => e,
            };
            let now = self.now();
            let ok = match event {
                None => return,
                Some(BarEvent::Bar { symbol, bar }) => self.minute(symbol, bar, now).await,
                // A recomputed minute: only a bar being built can still take it (see the
                // module docs). Unbuilt, it goes on unstepped: a 1-minute run ignores it, a
                // shadow of a run that builds its bars is told that run's amended bar.
                Some(BarEvent::Updated { symbol, bar }) => {
                    if self.aggregation.is_some() {
                        self.minute(symbol, bar, now).await
                    } else {
                        self.tx
                            .send(BarEvent::Updated { symbol, bar })
                            .await
                            .is_ok()
                    }
                }
                Some(other) => self.tx.send(other).await.is_ok(),
            };
            if !ok {
                return;
            }
        }
    }

    /// The venue's time now (ms), when bars are built.
    fn now(&self) -> Option<i64> {
        let a = self.aggregation.as_ref()?;
        Some(chrono::Utc::now().timestamp_millis() + a.offset_ms)
    }

    /// When the aggregation's clock next completes a period, as a local instant.
    fn deadline(&self) -> Option<tokio::time::Instant> {
        let a = self.aggregation.as_ref()?;
        let due = a.aggregator.deadline()?;
        let now = chrono::Utc::now().timestamp_millis() + a.offset_ms;
        let wait = u64::try_from(due - now).unwrap_or(0);
        Some(tokio::time::Instant::now() + std::time::Duration::from_millis(wait))
    }

    async fn tick(&mut self) -> bool {
        let Some(now) = self.now() else {
            return true;
        };
        let built = match self.aggregation.as_mut() {
            Some(a) => a.aggregator.tick(now),
            None => return true,
        };
        self.built(built).await
    }

    /// Takes one minute of `symbol` (`now`: the venue's time, `None` in the preamble);
    /// whether the run still listens.
    async fn minute(&mut self, symbol: String, bar: Bar, now: Option<i64>) -> bool {
        let Some(s) = self.me.symbol_index(&symbol) else {
            return true;
        };
        if bar.ts <= self.minutes[s]
            || ![bar.open, bar.high, bar.low, bar.close]
                .iter()
                .all(|v| v.is_finite())
        {
            return true;
        }
        self.minutes[s] = bar.ts;
        let Some(a) = self.aggregation.as_mut() else {
            return self.step(symbol, s, bar).await;
        };
        if let Some(date) = a.aggregator.needs_calendar(&symbol, bar.ts) {
            let (from, to) = (
                date - chrono::Duration::days(40),
                date + chrono::Duration::days(70),
            );
            match self.venue.calendar(from, to).await {
                Ok(days) => a.aggregator.add_calendar(from, to, &days),
                Err(e) => tracing::warn!(code = e.code(), "calendar unavailable: {e}"),
            }
        }
        let built = a.aggregator.minute(&symbol, bar, now.unwrap_or(i64::MIN));
        self.built(built).await
    }

    /// Steps the bars the aggregation completed; amendments are dropped (module docs).
    async fn built(&mut self, built: Vec<Emitted>) -> bool {
        for e in built {
            let Some(symbol) = self.me.symbols.get(e.symbol).cloned() else {
                continue;
            };
            if e.amended {
                tracing::debug!(%symbol, ts = e.bar.ts, "amended bar not stepped again");
                continue;
            }
            if let Some(a) = &self.aggregation {
                (a.on_built)(&symbol, e.bar);
            }
            if !self.step(symbol, e.symbol, e.bar).await {
                return false;
            }
        }
        true
    }

    /// Steps one bar of symbol `s` once the run is done with the previous one, and hands it on.
    async fn step(&mut self, symbol: String, s: usize, bar: Bar) -> bool {
        if !self.first {
            // The previous bar's orders are in: this one may meet them.
            let permit = tokio::select! {
                () = self.stop.cancelled() => return false,
                p = self.me.demand.acquire() => p,
            };
            match permit {
                Ok(p) => p.forget(),
                Err(_) => return false,
            }
        }
        self.first = false;
        self.me.step_live(s, bar);
        self.tx.send(BarEvent::Bar { symbol, bar }).await.is_ok()
    }
}
