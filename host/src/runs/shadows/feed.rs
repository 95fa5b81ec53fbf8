//! How a shadow gets the run's bars: the run's bar stream passes through a tee
//! ([`tee`]) that hands every bar (and every amended bar) to the run's [`Hub`] before the run
//! gets it; each shadow's simulated exchange reads the hub through a [`ShadowMarket`], the
//! market-data-only venue a `sim-live` exchange is built over.
//!
//! A run on a live venue that builds its bars from the minute stream (a timeframe longer than
//! `1Min`) hands its shadows the bars it built instead ([`built_bars`]): each bar as the run is
//! told it, and an amended one as a `BarEvent::Amended` of that bar. The warm-up bars a run was
//! told before its first live bar are kept in the hub ([`Hub::warmed`]) and told to every
//! shadow as its warm-up, before its first bar.
//!
//! A shadow that joins a run later is first given the bars the run got so far, so it starts
//! where the run started and a shadow of the same version and parameters decides exactly as the
//! run did: on the simulated exchange they are read back from the run's own tape (the stored
//! candles it replays, up to the last bar it got), on a live venue the hub keeps them (at most
//! [`MAX_HISTORY`]). The run's equity is known from the moment a shadow listens.
//!
//! # Invariants
//! - Every subscriber gets the hub's bars in the order the run got them, each once.
//! - A slow or failed shadow never holds the run up: subscribers are unbounded queues, and a
//!   closed one is dropped.
//! - Once the run's stream ends the hub is closed: its subscribers' streams end, and no shadow
//!   subscribes to it any more.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::super::Runs;
use super::super::active::Live;
use crate::domain::Bar;
use crate::veda::sim::SimVenue;
use crate::veda::types::{
    Account, BarEvent, BarsRequest, CalendarDay, MarketClock, OrderQuery, OrderRequest,
    OrderStreamEvent, StreamHandle, VenueOrder, VenuePosition,
};
use crate::veda::{Error, Result, Venue};

/// Most bars the hub of a run on a live venue keeps for shadows that join later (about 100
/// bytes each); older ones are dropped, and a shadow joining after that starts from the oldest
/// kept. A run on the simulated exchange keeps none: its tape has them.
pub(crate) const MAX_HISTORY: usize = 100_000;

/// One bar as the run got it, with the run's equity at that bar when known.
#[derive(Debug, Clone)]
pub(crate) struct Tick {
    pub(crate) event: BarEvent,
    pub(crate) run_equity: Option<f64>,
}

#[derive(Default)]
struct HubState {
    /// Bars kept for late shadows (runs on a live venue only).
    history: VecDeque<Tick>,
    keep_history: bool,
    /// Time of the newest bar the run got (ms).
    last_ts: Option<i64>,
    subscribers: Vec<mpsc::UnboundedSender<Tick>>,
    closed: bool,
    /// The run's warm-up bars, once it was told them (empty without a warm-up).
    warmup: Option<Arc<Vec<(String, Bar)>>>,
}

/// What a new subscriber gets: the bars to read back from the run's tape first (up to this
/// time, inclusive; `None` when the hub handed its history over), then the queue.
struct Subscription {
    replay_until: Option<i64>,
    ticks: mpsc::UnboundedReceiver<Tick>,
}

/// The bars of one run, handed to its shadows.
#[derive(Default)]
pub(crate) struct Hub {
    state: Mutex<HubState>,
    /// The run's venue: data windows, clock and calendar of its shadows come from it.
    market: OnceLock<Arc<dyn Venue>>,
    /// Wakes shadows waiting for the run's warm-up.
    warmed_up: tokio::sync::Notify,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, tick: Tick) {
        let mut st = self.lock();
        if let BarEvent::Bar { bar, .. } = &tick.event {
            st.last_ts = Some(st.last_ts.map_or(bar.ts, |t| t.max(bar.ts)));
        }
        if st.keep_history {
            if st.history.len() >= MAX_HISTORY {
                st.history.pop_front();
            }
            st.history.push_back(tick.clone());
        }
        st.subscribers.retain(|s| s.send(tick.clone()).is_ok());
    }

    fn has_subscribers(&self) -> bool {
        !self.lock().subscribers.is_empty()
    }

    /// The bars so far, then every later one; `None` once the run's stream ended.
    fn subscribe(&self) -> Option<Subscription> {
        let mut st = self.lock();
        if st.closed {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        for t in &st.history {
            // The receiver is in hand: a send cannot fail.
            let _ = tx.send(t.clone());
        }
        st.subscribers.push(tx);
        Some(Subscription {
            replay_until: (!st.keep_history).then_some(st.last_ts).flatten(),
            ticks: rx,
        })
    }

    fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.subscribers.clear();
        st.history.clear();
        drop(st);
        self.warmed_up.notify_waiters();
    }

    /// The run was told `bars` as its warm-up (none: it had no warm-up), before any live bar.
    pub(crate) fn warmed(&self, bars: Vec<(String, Bar)>) {
        self.lock().warmup = Some(Arc::new(bars));
        self.warmed_up.notify_waiters();
    }

    /// The run's warm-up bars once it was told them; none if it ended before.
    pub(crate) async fn warmup(&self) -> Arc<Vec<(String, Bar)>> {
        loop {
            let woken = self.warmed_up.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            {
                let st = self.lock();
                if let Some(bars) = &st.warmup {
                    return bars.clone();
                }
                if st.closed {
                    return Arc::default();
                }
            }
            woken.await;
        }
    }
}

/// The hubs of the runs this process executes, and the stop tokens of their shadows.
#[derive(Default)]
pub(crate) struct Registry {
    hubs: Mutex<HashMap<i64, Arc<Hub>>>,
    /// Shadow id → (run id, stop token).
    pub(crate) active: Mutex<HashMap<i64, (i64, CancellationToken)>>,
}

impl Registry {
    /// Run `run_id`'s hub, created when the run's tee or a shadow asks first.
    pub(crate) fn hub(&self, run_id: i64) -> Arc<Hub> {
        self.hubs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(run_id)
            .or_default()
            .clone()
    }

    /// The run ended: its shadows' streams end, and the hub is forgotten.
    pub(crate) fn run_ended(&self, run_id: i64) {
        let hub = self
            .hubs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&run_id);
        if let Some(h) = hub {
            h.close();
        }
    }

    /// How many shadows of run `run_id` this process runs.
    pub(crate) fn running_of(&self, run_id: i64) -> usize {
        self.active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|(r, _)| *r == run_id)
            .count()
    }

    /// Asks shadow `id` to stop; whether this process runs it.
    pub(crate) fn cancel(&self, id: i64) -> bool {
        match self
            .active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
        {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

/// The run's bar stream through its hub: each bar goes to the shadows, then to the run. `sim`
/// is the run's own simulated exchange (its equity is read at every bar); on a live venue the
/// run's account is read while shadows listen. `built`: the run builds its bars from this
/// stream and hands the shadows those ([`built_bars`]), so the stream's own go to the run only.
pub(crate) fn tee(
    runs: &Runs,
    id: i64,
    live: Arc<Live>,
    market: Arc<dyn Venue>,
    sim: Option<SimVenue>,
    built: bool,
    mut source: StreamHandle<BarEvent>,
) -> StreamHandle<BarEvent> {
    let hub = runs.inner.shadows.hub(id);
    // A `sim-live` exchange's past bars are the live venue's, not a tape it can read back.
    hub.lock().keep_history = sim
        .as_ref()
        .is_none_or(|s| s.name() == crate::veda::sim::LIVE_VENUE);
    let _ = hub.market.set(market);
    let (tx, rx) = mpsc::channel(1);
    runs.inner.tasks.spawn(async move {
        loop {
            let event = tokio::select! {
                biased;
                () = tx.closed() => break,
                e = source.next() => e,
            };
            let Some(event) = event else { break };
            if !built && matches!(event, BarEvent::Amended { .. }) {
                // A `sim-live` exchange's amendment of the bar it stepped last: not stepped, so
                // the run's equity at that bar stands.
                hub.publish(Tick {
                    event: event.clone(),
                    run_equity: None,
                });
            } else if !built && matches!(event, BarEvent::Bar { .. } | BarEvent::Updated { .. }) {
                // The simulated exchange stepped this bar (fills at its open, marks at its close)
                // and waits for the run before the next: its equity now is the run's at this bar.
                let run_equity = match &sim {
                    Some(s) => Some(s.account_snapshot().equity),
                    None if hub.has_subscribers() => Some(live.account().await.equity),
                    None => None,
                };
                hub.publish(Tick {
                    event: event.clone(),
                    run_equity,
                });
            }
            if tx.send(event).await.is_err() {
                break;
            }
        }
        hub.close();
    });
    StreamHandle::new(rx, CancellationToken::new())
}

/// What the aggregation of run `id` (on a live venue) calls with each bar it tells: the bar goes
/// to the run's shadows (an amended one as `Amended`) with the run's equity, in order, through a
/// task of its own, so the run never waits for the account read.
pub(crate) fn built_bars(
    runs: &Runs,
    id: i64,
    live: Arc<Live>,
) -> impl Fn(&str, Bar, bool) + Send + Sync + 'static {
    let hub = runs.inner.shadows.hub(id);
    let (tx, mut rx) = mpsc::unbounded_channel::<BarEvent>();
    runs.inner.tasks.spawn(async move {
        while let Some(event) = rx.recv().await {
            let run_equity = if hub.has_subscribers() {
                Some(live.account().await.equity)
            } else {
                None
            };
            hub.publish(Tick { event, run_equity });
        }
    });
    move |symbol, bar, amended| {
        let symbol = symbol.to_owned();
        let event = if amended {
            BarEvent::Amended { symbol, bar }
        } else {
            BarEvent::Bar { symbol, bar }
        };
        // The receiver ends only with the process's tasks: nothing to tell then.
        let _ = tx.send(event);
    }
}

/// Run equities by bar time (ms), from the tee to the shadow's recorder.
pub(crate) type Equities = Arc<Mutex<BTreeMap<i64, f64>>>;

/// What a shadow's simulated exchange sees as its market: the run's bars through the hub, and
/// the run's venue for data windows, clock and calendar. Takes no orders (the exchange over it
/// fills them itself).
pub(crate) struct ShadowMarket {
    pub(crate) hub: Arc<Hub>,
    pub(crate) equities: Equities,
    /// The run's timeframe (what its tape is read back in).
    pub(crate) timeframe: crate::domain::Timeframe,
}

impl ShadowMarket {
    fn market(&self) -> Result<&Arc<dyn Venue>> {
        self.hub
            .market
            .get()
            .ok_or_else(|| Error::Config("the run's market is not ready yet".into()))
    }
}

impl ShadowMarket {
    /// The bars of `symbols` the run's simulated exchange replayed up to `until` (ms,
    /// inclusive), in its replay order: by time, then by the symbol's place in the run.
    async fn tape(&self, symbols: &[String], until: i64) -> Result<Vec<(String, Bar)>> {
        let request = BarsRequest {
            symbols: symbols.to_vec(),
            timeframe: self.timeframe,
            start: DateTime::<Utc>::UNIX_EPOCH,
            end: DateTime::from_timestamp_millis(until).unwrap_or_default(),
            page_limit: None,
        };
        let by_symbol = self.market()?.bars(&request).await?;
        let mut past: Vec<(usize, String, Bar)> = by_symbol
            .into_iter()
            .flat_map(|(symbol, bars)| {
                let i = symbols.iter().position(|s| *s == symbol).unwrap_or(0);
                bars.into_iter().map(move |b| (i, symbol.clone(), b))
            })
            .collect();
        past.sort_by_key(|(i, _, b)| (b.ts, *i));
        Ok(past.into_iter().map(|(_, s, b)| (s, b)).collect())
    }
}

fn no_orders<T>() -> Result<T> {
    Err(Error::Config(
        "a shadow's market gives market data only".into(),
    ))
}

#[async_trait]
impl Venue for ShadowMarket {
    fn name(&self) -> &str {
        "shadow"
    }

    async fn account(&self) -> Result<Account> {
        no_orders()
    }

    async fn positions(&self) -> Result<Vec<VenuePosition>> {
        no_orders()
    }

    async fn submit_order(&self, _request: &OrderRequest) -> Result<VenueOrder> {
        no_orders()
    }

    async fn cancel_order(&self, _order_id: &str) -> Result<()> {
        no_orders()
    }

    async fn order(&self, _order_id: &str) -> Result<VenueOrder> {
        no_orders()
    }

    async fn order_by_client_id(&self, _client_order_id: &str) -> Result<Option<VenueOrder>> {
        no_orders()
    }

    async fn orders(&self, _query: &OrderQuery) -> Result<Vec<VenueOrder>> {
        no_orders()
    }

    async fn bars(&self, request: &BarsRequest) -> Result<BTreeMap<String, Vec<Bar>>> {
        self.market()?.bars(request).await
    }

    async fn latest_bars(&self, symbols: &[String]) -> Result<BTreeMap<String, Bar>> {
        self.market()?.latest_bars(symbols).await
    }

    async fn order_updates(&self, _since: DateTime<Utc>) -> Result<StreamHandle<OrderStreamEvent>> {
        no_orders()
    }

    async fn bar_stream(&self, symbols: &[String]) -> Result<StreamHandle<BarEvent>> {
        let (tx, rx) = mpsc::channel(1024);
        let cancel = CancellationToken::new();
        // A closed hub (the run ended) gives an empty stream: the shadow ends too.
        let Some(Subscription {
            replay_until,
            mut ticks,
        }) = self.hub.subscribe()
        else {
            return Ok(StreamHandle::new(rx, cancel));
        };
        let past = match replay_until {
            Some(until) => self.tape(symbols, until).await?,
            None => Vec::new(),
        };
        let (stop, equities) = (cancel.clone(), self.equities.clone());
        let wanted: Vec<String> = symbols.to_vec();
        tokio::spawn(async move {
            for (symbol, bar) in past {
                if tx.send(BarEvent::Bar { symbol, bar }).await.is_err() {
                    return;
                }
            }
            loop {
                let tick = tokio::select! {
                    () = stop.cancelled() => return,
                    t = ticks.recv() => t,
                };
                let Some(Tick { event, run_equity }) = tick else {
                    return;
                };
                if let BarEvent::Bar { symbol, bar }
                | BarEvent::Updated { symbol, bar }
                | BarEvent::Amended { symbol, bar } = &event
                {
                    if !wanted.is_empty() && !wanted.contains(symbol) {
                        continue;
                    }
                    if let Some(e) = run_equity {
                        equities
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert(bar.ts, e);
                    }
                }
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        });
        Ok(StreamHandle::new(rx, cancel))
    }

    async fn clock(&self) -> Result<MarketClock> {
        self.market()?.clock().await
    }

    async fn calendar(&self, start: NaiveDate, end: NaiveDate) -> Result<Vec<CalendarDay>> {
        self.market()?.calendar(start, end).await
    }
}
