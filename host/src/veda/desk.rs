//! [`Desk`]: a live venue (Alpaca) shared by every run trading on it. Venues allow one
//! order-update connection and one market-data connection per account, so the desk holds one of
//! each for the whole process and fans them out to the runs ([`Desk::venue`] hands each run a
//! [`Venue`] whose streams are subscriptions); REST calls go straight through (they share the
//! global request budget already).
//!
//! Before the first run may trade, [`Desk::ready`] runs start-up recovery once
//! ([`crate::veda::journal::recover::recover_runs`], over the orders of the runs on this venue
//! only: a simulated run's orders and positions are not the venue's): pending intents resolved by
//! `client_order_id`, missed fills and final states recorded, and the reconciliation report kept,
//! whose [`Report::check_run`] refuses runs on symbols that cannot be explained. From then on
//! the desk records every order update in WallE exactly once (one recorder for all runs), and
//! after every reconnect of the update stream it books what the REST reconciliation shows was
//! missed while disconnected ([`crate::veda::journal::recover::record_reconciled`]).
//!
//! # Invariants
//! - At most one order-update stream and one bar stream per desk at any time. The bar stream
//!   covers the union of the symbols its subscribers asked for; a subscriber asking for a
//!   symbol not covered yet restarts it with the larger union (old subscribers keep receiving
//!   theirs after a `Connected { reconnect: true }`).
//! - A subscriber only receives bars of its own symbols; order updates go to every subscriber
//!   (runners keep only their own `client_order_id`s).
//! - Fan-out applies back-pressure (bounded channels, awaited sends) rather than dropping events:
//!   a subscriber that stopped reading is removed once its handle is dropped.
//! - Every bar of the bar stream is offered once to the live-bar store
//!   ([`crate::veda::live::bars`]) before it is fanned out, whatever number of runs want it.
//! - Recovery runs at most once successfully; until it has, [`Desk::ready`] retries it and no run
//!   may start on the desk.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::domain::{Bar, Timeframe};
use crate::veda::journal::recover::{
    Recovery, record_reconciled, record_trade_update_patiently, recover_runs,
};
use crate::veda::journal::store::WalleJournal;
use crate::veda::live::bars::LiveBars;
use crate::veda::reconcile::Report;
use crate::veda::types::{
    Account, BarEvent, BarsRequest, CalendarDay, MarketClock, OrderQuery, OrderRequest,
    OrderStreamEvent, StreamHandle, VenueOrder, VenuePosition,
};
use crate::veda::{Result, Venue};
use crate::walle::Walle;

/// Depth of each subscriber's channel.
const SUBSCRIBER_DEPTH: usize = 1024;

type Subscribers<T> = Arc<Mutex<Vec<(Option<BTreeSet<String>>, mpsc::Sender<T>)>>>;

/// Sends `event` to every subscriber `wants` accepts, dropping the ones that are gone.
async fn fan_out<T: Clone>(
    subs: &Subscribers<T>,
    event: T,
    wants: impl Fn(&BTreeSet<String>) -> bool,
) {
    let targets: Vec<mpsc::Sender<T>> = subs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|(filter, _)| filter.as_ref().is_none_or(&wants))
        .map(|(_, tx)| tx.clone())
        .collect();
    for tx in targets {
        // A closed receiver (its run ended) is pruned below.
        let _ = tx.send(event.clone()).await;
    }
    subs.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|(_, tx)| !tx.is_closed());
}

fn subscribe<T>(subs: &Subscribers<T>, filter: Option<BTreeSet<String>>) -> StreamHandle<T> {
    let (tx, rx) = mpsc::channel(SUBSCRIBER_DEPTH);
    subs.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((filter, tx));
    // Dropping the handle closes the receiver; the fan-out prunes the sender on its next event.
    StreamHandle::new(rx, CancellationToken::new())
}

/// The one bar stream of a desk and its current symbol set.
#[derive(Default)]
struct BarSource {
    symbols: BTreeSet<String>,
    stop: Option<CancellationToken>,
}

struct Shared {
    inner: Arc<dyn Venue>,
    walle: Walle,
    live: bool,
    cancel: CancellationToken,
    updates: Subscribers<OrderStreamEvent>,
    bars: Subscribers<BarEvent>,
    bar_source: tokio::sync::Mutex<BarSource>,
    /// The recovery report once recovery succeeded.
    recovered: tokio::sync::Mutex<Option<Report>>,
    /// Where the bar stream's bars are stored (started with the first bar subscription).
    live_bars: std::sync::OnceLock<LiveBars>,
}

/// A live venue shared by all runs on it. Cheap to clone.
#[derive(Clone)]
pub struct Desk {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk")
            .field("venue", &self.shared.inner.name())
            .field("live", &self.shared.live)
            .finish_non_exhaustive()
    }
}

impl Desk {
    /// A desk over `venue`, recording in `walle`. `live` says whether it trades real money.
    pub fn new(venue: Arc<dyn Venue>, walle: Walle, live: bool) -> Desk {
        Desk {
            shared: Arc::new(Shared {
                inner: venue,
                walle,
                live,
                cancel: CancellationToken::new(),
                updates: Arc::default(),
                bars: Arc::default(),
                bar_source: tokio::sync::Mutex::default(),
                recovered: tokio::sync::Mutex::default(),
                live_bars: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The venue's name (`alpaca`).
    pub fn name(&self) -> &str {
        self.shared.inner.name()
    }

    /// True when the venue trades real money.
    pub fn is_live(&self) -> bool {
        self.shared.live
    }

    /// Runs start-up recovery the first time (and again after a failed attempt), then starts
    /// the shared order-update stream and its recorder. Returns the reconciliation report, whose
    /// [`Report::check_run`] decides whether a run may trade its symbols.
    ///
    /// # Errors
    /// The venue's or the store's errors: nothing may trade on the desk then.
    pub async fn ready(&self) -> Result<Report> {
        let mut recovered = self.shared.recovered.lock().await;
        if let Some(report) = recovered.as_ref() {
            return Ok(report.clone());
        }
        let journal = WalleJournal::new(self.shared.walle.clone());
        // Orders of the last 30 days are compared; older open ones are looked up one by one.
        let since = Utc::now() - chrono::Duration::days(30);
        let started = Utc::now();
        // Only this venue's runs: the simulated exchange's orders and positions are not Alpaca's.
        let runs: BTreeSet<i64> = self
            .shared
            .walle
            .runs(None, i64::MAX)
            .await
            .map_err(|e| crate::veda::Error::Journal(format!("{e} ({})", e.code())))?
            .into_iter()
            .filter(|r| r.venue == self.name())
            .map(|r| r.id)
            .collect();
        let Recovery {
            resolution,
            report,
            recorded_fills,
        } = recover_runs(&journal, self.shared.inner.as_ref(), since, Some(&runs)).await?;
        tracing::info!(
            venue = self.name(),
            accepted = resolution.accepted.len(),
            not_received = resolution.not_received.len(),
            unresolved = resolution.unresolved.len(),
            recorded_fills,
            blocked = ?report.blocked_symbols(),
            "venue recovered"
        );
        self.start_updates(started).await?;
        *recovered = Some(report.clone());
        Ok(report)
    }

    /// The recovery report, if recovery already succeeded.
    pub async fn report(&self) -> Option<Report> {
        self.shared.recovered.lock().await.clone()
    }

    /// The venue as one run sees it: REST as is, streams as subscriptions of the desk's.
    pub fn venue(&self) -> Arc<dyn Venue> {
        Arc::new(DeskVenue { desk: self.clone() })
    }

    /// Stores a bar a run built from the desk's 1-minute bars (`timeframe` longer than a
    /// minute) as a `live` candle with its `market.Bar` event, like the streamed ones; queued,
    /// never awaited. Runs of the same series store the same bar once.
    pub fn store_bar(&self, symbol: &str, timeframe: Timeframe, bar: Bar) {
        self.live_bars().offer(symbol, timeframe, bar);
    }

    fn live_bars(&self) -> LiveBars {
        self.shared
            .live_bars
            .get_or_init(|| {
                LiveBars::start(
                    self.shared.walle.clone(),
                    self.shared.inner.name(),
                    self.shared.cancel.clone(),
                )
            })
            .clone()
    }

    /// Stops the desk's streams.
    pub fn shutdown(&self) {
        self.shared.cancel.cancel();
    }

    async fn start_updates(&self, since: DateTime<Utc>) -> Result<()> {
        let mut source = self.shared.inner.order_updates(since).await?;
        let recorder = subscribe(&self.shared.updates, None);
        let (subs, cancel) = (self.shared.updates.clone(), self.shared.cancel.clone());
        let name = self.name().to_owned();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    () = cancel.cancelled() => return,
                    e = source.next() => e,
                };
                let Some(event) = event else {
                    tracing::error!(venue = %name, "order-update stream ended");
                    return;
                };
                fan_out(&subs, event, |_| true).await;
            }
        });
        let walle = self.shared.walle.clone();
        let name = self.name().to_owned();
        tokio::spawn(record_updates(walle, recorder, name));
        Ok(())
    }

    async fn bar_subscription(&self, symbols: &[String]) -> Result<StreamHandle<BarEvent>> {
        let wanted: BTreeSet<String> = symbols.iter().cloned().collect();
        let handle = subscribe(&self.shared.bars, Some(wanted.clone()));
        let mut source = self.shared.bar_source.lock().await;
        if source.stop.is_some() && wanted.is_subset(&source.symbols) {
            return Ok(handle);
        }
        let union: BTreeSet<String> = source.symbols.union(&wanted).cloned().collect();
        let list: Vec<String> = union.iter().cloned().collect();
        // The old connection goes first: the venue allows one per account.
        if let Some(old) = source.stop.take() {
            old.cancel();
        }
        let mut stream = match self.shared.inner.bar_stream(&list).await {
            Ok(stream) => stream,
            Err(e) => {
                source.symbols.clear();
                fan_out(&self.shared.bars, BarEvent::Failed(e.clone()), |_| true).await;
                return Err(e);
            }
        };
        let stop = self.shared.cancel.child_token();
        source.symbols = union;
        source.stop = Some(stop.clone());
        let subs = self.shared.bars.clone();
        let store = self.live_bars();
        let restarted = source.symbols.len() > wanted.len();
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let event = tokio::select! {
                    () = stop.cancelled() => return,
                    e = stream.next() => e,
                };
                let Some(event) = event else { return };
                let event = match event {
                    // Older subscribers see a restart for a larger union as a reconnect.
                    BarEvent::Connected { reconnect } if first => {
                        first = false;
                        BarEvent::Connected {
                            reconnect: reconnect || restarted,
                        }
                    }
                    other => other,
                };
                match &event {
                    BarEvent::Bar { symbol, bar } | BarEvent::Updated { symbol, bar } => {
                        // Once per bar for every run that shares it; queued, never awaited.
                        // The venues stream 1-minute bars; an updated one replaces the stored.
                        store.offer(symbol, Timeframe::MINUTE, *bar);
                        let symbol = symbol.clone();
                        fan_out(&subs, event, |wants| wants.contains(&symbol)).await;
                    }
                    _ => fan_out(&subs, event, |_| true).await,
                }
            }
        });
        Ok(handle)
    }
}

/// The desk's one recorder: every order update stored once, reconnect gaps booked.
async fn record_updates(walle: Walle, mut updates: StreamHandle<OrderStreamEvent>, venue: String) {
    while let Some(event) = updates.next().await {
        match event {
            OrderStreamEvent::Update(u) => {
                if let Err(e) = record_trade_update_patiently(&walle, &u).await {
                    // Booked by the reconciliation after the next reconnect or restart.
                    tracing::error!(%venue, code = e.code(), "order update not recorded: {e}");
                }
            }
            OrderStreamEvent::Reconciled(orders) => {
                match record_reconciled(&walle, &orders).await {
                    Ok(n) if n > 0 => {
                        tracing::warn!(%venue, fills = n, "fills missed while disconnected recorded");
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(%venue, code = e.code(), "reconciliation not recorded: {e}");
                    }
                }
            }
            OrderStreamEvent::Failed(e) => {
                tracing::error!(%venue, code = e.code(), "order-update stream gave up: {e}");
            }
            OrderStreamEvent::Connected { .. } | OrderStreamEvent::Disconnected { .. } => {}
        }
    }
}

/// A run's view of a desk.
struct DeskVenue {
    desk: Desk,
}

#[async_trait]
impl Venue for DeskVenue {
    fn name(&self) -> &str {
        self.desk.name()
    }

    async fn account(&self) -> Result<Account> {
        self.desk.shared.inner.account().await
    }

    async fn positions(&self) -> Result<Vec<VenuePosition>> {
        self.desk.shared.inner.positions().await
    }

    async fn submit_order(&self, request: &OrderRequest) -> Result<VenueOrder> {
        self.desk.shared.inner.submit_order(request).await
    }

    async fn cancel_order(&self, order_id: &str) -> Result<()> {
        self.desk.shared.inner.cancel_order(order_id).await
    }

    async fn order(&self, order_id: &str) -> Result<VenueOrder> {
        self.desk.shared.inner.order(order_id).await
    }

    async fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<VenueOrder>> {
        self.desk
            .shared
            .inner
            .order_by_client_id(client_order_id)
            .await
    }

    async fn orders(&self, query: &OrderQuery) -> Result<Vec<VenueOrder>> {
        self.desk.shared.inner.orders(query).await
    }

    async fn bars(&self, request: &BarsRequest) -> Result<BTreeMap<String, Vec<Bar>>> {
        self.desk.shared.inner.bars(request).await
    }

    async fn latest_bars(&self, symbols: &[String]) -> Result<BTreeMap<String, Bar>> {
        self.desk.shared.inner.latest_bars(symbols).await
    }

    /// A subscription of the desk's stream (started by [`Desk::ready`]); `since` is the
    /// desk's, not the caller's.
    async fn order_updates(&self, _since: DateTime<Utc>) -> Result<StreamHandle<OrderStreamEvent>> {
        if self.desk.report().await.is_none() {
            return Err(crate::veda::Error::Config(
                "the venue is not recovered yet (Desk::ready)".into(),
            ));
        }
        Ok(subscribe(&self.desk.shared.updates, None))
    }

    async fn bar_stream(&self, symbols: &[String]) -> Result<StreamHandle<BarEvent>> {
        self.desk.bar_subscription(symbols).await
    }

    async fn clock(&self) -> Result<MarketClock> {
        self.desk.shared.inner.clock().await
    }

    async fn calendar(&self, start: NaiveDate, end: NaiveDate) -> Result<Vec<CalendarDay>> {
        self.desk.shared.inner.calendar(start, end).await
    }
}
