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
//! on Alpaca runs).
//!
//! # Amended bars
//! A late minute within the grace after a bar was stepped amends it, as on Alpaca runs
//! ([`Aggregator`]): the amended bar is stored as the run's `live` candle of that period (the
//! [`Aggregation::on_built`] hook, as Alpaca runs store theirs) and handed on as a
//! [`BarEvent::Amended`], which the run tells its strategy with the header `amended: true`.
//! It is not stepped again: orders already matched against the bar as built (a market order
//! decided on the bar before filled at its open) stand, the account is not recomputed, and the
//! next bar meets orders as ever. Like a step, the amendment is handed on only once the run is
//! done with the bar before, and the next bar only once the run is done with the amendment, so
//! orders the strategy places on the amended bar meet the next bar's open.
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
//!   last one stepped (a preamble's, a reconnect's repeat) is dropped; on a longer timeframe
//!   the aggregation sorts minutes into periods (a late one amends, an older one is dropped).
//! - One bar stream per exchange, as on a replay.
//! - A built bar is stepped once: an amendment is told, never stepped (past fills stand).

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
    /// What the run tells before its first live bar ([`SimVenue::with_warm_up`]).
    warm_up: std::sync::OnceLock<WarmUp>,
}

/// A `sim-live` run's warm-up (told by the run, `runs::warmup`, before the exchange's first
/// bar): how many bars of its timeframe, and the venue time they end at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmUp {
    /// Bars per symbol (0: none).
    pub bars: u32,
    /// The venue's time minus the local time (ms), when the warm-up ends at the venue's now.
    pub offset_ms: i64,
    /// The venue time (UTC ms) the warm-up ends at instead of its now: a resumed run's start,
    /// so it is told the warm-up it was told when it started.
    pub as_of: Option<i64>,
}

impl WarmUp {
    /// The venue's time minus the local time (ms) to take the warm-up at, now.
    pub fn offset_now(&self) -> i64 {
        self.as_of.map_or(self.offset_ms, |t| {
            t - chrono::Utc::now().timestamp_millis()
        })
    }
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
                warm_up: std::sync::OnceLock::new(),
            })),
            state: Arc::new(Mutex::new(State::new(broker, n))),
            demand: Arc::new(Semaphore::new(0)),
            id_prefix: Arc::from("sim-"),
        })
    }

    /// This exchange with `warm_up` to tell before its first bar (a `sim-live` run's; set once,
    /// shared by its clones; nothing on an exchange over a tape).
    pub fn with_warm_up(self, warm_up: WarmUp) -> SimVenue {
        if let Some(feed) = &self.feed {
            let _ = feed.warm_up.set(warm_up);
        }
        self
    }

    /// The live venue the exchange reads its market data from and the warm-up to tell (a
    /// `sim-live` exchange given one).
    pub fn warm_up(&self) -> Option<(Arc<dyn Venue>, WarmUp)> {
        let feed = self.feed.as_ref()?;
        Some((feed.venue.clone(), *feed.warm_up.get()?))
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
                // A recomputed minute: it goes into the bar being built or amends the one
                // stepped last (see the module docs); a 1-minute run was told the minute already.
                Some(BarEvent::Updated { symbol, bar }) => {
                    if self.aggregation.is_some() {
                        self.minute(symbol, bar, now).await
                    } else {
                        true
                    }
                }
                // An amendment from a market that built the bars itself (a replay's tape, the
                // hub of the run a shadow follows).
                Some(BarEvent::Amended { symbol, bar }) => self.amend(symbol, bar).await,
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
        // A live minute at or before the newest one goes to the aggregation all the same: it
        // may amend the bar stepped last (a late or recomputed minute); the aggregation drops
        // older ones and ignores repeats. Without one (or in the preamble) it is dropped.
        let late_allowed = self.aggregation.is_some() && now.is_some();
        if (bar.ts <= self.minutes[s] && !late_allowed)
            || ![bar.open, bar.high, bar.low, bar.close]
                .iter()
                .all(|v| v.is_finite())
        {
            return true;
        }
        self.minutes[s] = self.minutes[s].max(bar.ts);
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

    /// Steps the bars the aggregation completed, and hands amendments on unstepped (module
    /// docs); each is stored as the run's candle of its period.
    async fn built(&mut self, built: Vec<Emitted>) -> bool {
        for e in built {
            let Some(symbol) = self.me.symbols.get(e.symbol).cloned() else {
                continue;
            };
            if let Some(a) = &self.aggregation {
                (a.on_built)(&symbol, e.bar);
            }
            let ok = if e.amended {
                self.amend(symbol, e.bar).await
            } else {
                self.step(symbol, e.symbol, e.bar).await
            };
            if !ok {
                return false;
            }
        }
        true
    }

    /// Waits until the run is done with what was handed on last (the first needs nothing);
    /// whether the run still listens.
    async fn turn(&mut self) -> bool {
        if !std::mem::replace(&mut self.first, false) {
            // The previous bar's orders are in: what comes next may meet them.
            let permit = tokio::select! {
                () = self.stop.cancelled() => return false,
                p = self.me.demand.acquire() => p,
            };
            match permit {
                Ok(p) => p.forget(),
                Err(_) => return false,
            }
        }
        true
    }

    /// Steps one bar of symbol `s` once the run is done with the previous one, and hands it on.
    async fn step(&mut self, symbol: String, s: usize, bar: Bar) -> bool {
        if !self.turn().await {
            return false;
        }
        self.me.step_live(s, bar);
        self.tx.send(BarEvent::Bar { symbol, bar }).await.is_ok()
    }

    /// Hands an amended bar on, in turn like a step, without stepping it: the fills matched
    /// against the bar as built stand.
    async fn amend(&mut self, symbol: String, bar: Bar) -> bool {
        if self.me.symbol_index(&symbol).is_none() {
            return true;
        }
        if !self.turn().await {
            return false;
        }
        self.tx
            .send(BarEvent::Amended { symbol, bar })
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex as StdMutex;

    use async_trait::async_trait;
    use chrono::{DateTime, NaiveDate, Utc};
    use rust_decimal::Decimal;
    use rust_decimal::prelude::ToPrimitive;

    use super::*;
    use crate::domain::{OrderType, Side, TimeInForce, Timeframe};
    use crate::greta::broker::{Commission, FillModel};
    use crate::veda::live::aggregate::EmptyBars;
    use crate::veda::periods::{Calendar, Hours};
    use crate::veda::types::{
        Account, BarsRequest, CalendarDay, MarketClock, OrderQuantity, OrderQuery, OrderRequest,
        OrderStreamEvent, VenueOrder, VenuePosition,
    };

    /// A market whose bar stream is a script; it answers nothing else.
    struct Scripted(StdMutex<Vec<BarEvent>>);

    fn nothing<T>() -> Result<T> {
        Err(Error::Config("not scripted".into()))
    }

    #[async_trait]
    impl Venue for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        async fn account(&self) -> Result<Account> {
            nothing()
        }
        async fn positions(&self) -> Result<Vec<VenuePosition>> {
            nothing()
        }
        async fn submit_order(&self, _r: &OrderRequest) -> Result<VenueOrder> {
            nothing()
        }
        async fn cancel_order(&self, _id: &str) -> Result<()> {
            nothing()
        }
        async fn order(&self, _id: &str) -> Result<VenueOrder> {
            nothing()
        }
        async fn order_by_client_id(&self, _id: &str) -> Result<Option<VenueOrder>> {
            nothing()
        }
        async fn orders(&self, _q: &OrderQuery) -> Result<Vec<VenueOrder>> {
            nothing()
        }
        async fn bars(&self, _r: &BarsRequest) -> Result<BTreeMap<String, Vec<Bar>>> {
            nothing()
        }
        async fn latest_bars(&self, _s: &[String]) -> Result<BTreeMap<String, Bar>> {
            nothing()
        }
        async fn order_updates(
            &self,
            _since: DateTime<Utc>,
        ) -> Result<StreamHandle<OrderStreamEvent>> {
            nothing()
        }
        async fn bar_stream(&self, _s: &[String]) -> Result<StreamHandle<BarEvent>> {
            let script = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
            let (tx, rx) = mpsc::channel(script.len().max(1));
            for e in script {
                let _ = tx.try_send(e);
            }
            // Kept open: the exchange's clock may still tick.
            std::mem::forget(tx);
            Ok(StreamHandle::new(rx, CancellationToken::new()))
        }
        async fn clock(&self) -> Result<MarketClock> {
            nothing()
        }
        async fn calendar(&self, _a: NaiveDate, _b: NaiveDate) -> Result<Vec<CalendarDay>> {
            nothing()
        }
    }

    const T0: i64 = 1_795_000_200_000; // a multiple of 5 minutes, UTC

    fn minute(k: i64, close: f64) -> Bar {
        Bar {
            ts: T0 + k * 60_000,
            open: close - 1.0,
            high: close + 1.0,
            low: close - 2.0,
            close,
            volume: 10.0,
        }
    }

    async fn next(rx: &mut StreamHandle<BarEvent>) -> BarEvent {
        loop {
            let e = tokio::time::timeout(std::time::Duration::from_secs(5), rx.next())
                .await
                .expect("in time")
                .expect("an event");
            if matches!(e, BarEvent::Bar { .. } | BarEvent::Amended { .. }) {
                return e;
            }
        }
    }

    #[tokio::test]
    async fn an_amended_bar_is_handed_on_in_turn_stored_and_never_stepped() {
        let symbols = vec!["BTC/USD".to_owned()];
        let mut script: Vec<BarEvent> = (0..5)
            .map(|k| BarEvent::Bar {
                symbol: "BTC/USD".into(),
                bar: minute(k, 100.0 + k as f64),
            })
            .collect();
        // Minute 3 recomputed after the bar was built: a higher high.
        let mut late = minute(3, 103.0);
        late.high = 150.0;
        script.push(BarEvent::Updated {
            symbol: "BTC/USD".into(),
            bar: late,
        });
        script.extend((5..10).map(|k| BarEvent::Bar {
            symbol: "BTC/USD".into(),
            bar: minute(k, 100.0 + k as f64),
        }));
        let stored: Arc<StdMutex<Vec<Bar>>> = Arc::default();
        let hook = stored.clone();
        let aggregation = Aggregation {
            aggregator: Aggregator::new(
                &symbols,
                "5Min".parse::<Timeframe>().expect("timeframe"),
                Hours::Regular,
                EmptyBars::Skip,
                Calendar::default(),
            ),
            // The venue's clock in the first period: nothing ends by the clock meanwhile.
            offset_ms: T0 + 30_000 - Utc::now().timestamp_millis(),
            on_built: Box::new(move |_, bar| hook.lock().expect("hook").push(bar)),
        };
        let broker = BrokerConfig {
            cash: 10_000.0,
            commission: Commission::default(),
            slippage_bps: 0.0,
            fill: FillModel::NextOpen,
            fractional: false,
        };
        let market: Arc<dyn Venue> = Arc::new(Scripted(StdMutex::new(script)));
        let sim = SimVenue::live(market, &symbols, broker, Vec::new(), Some(aggregation))
            .expect("exchange");
        let mut bars = sim.bar_stream(&symbols).await.expect("stream");

        let BarEvent::Bar { bar: first, .. } = next(&mut bars).await else {
            panic!("a bar first");
        };
        assert_eq!((first.ts, first.high), (T0, 105.0));
        // A market buy decided on the first bar, then the run is done with it.
        sim.submit_order(&OrderRequest {
            client_order_id: "c-1".into(),
            symbol: "BTC/USD".into(),
            side: Side::Buy,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
            quantity: OrderQuantity::Units(Decimal::ONE),
            limit_price: None,
            stop_price: None,
            extended_hours: false,
        })
        .await
        .expect("order");
        // The amendment waits for the run to be done with the bar before.
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(200), bars.next())
                .await
                .is_err(),
            "nothing before the run is done with the bar"
        );
        sim.bar_done();
        let BarEvent::Amended { bar: amended, .. } = next(&mut bars).await else {
            panic!("the amendment next");
        };
        assert_eq!((amended.ts, amended.high), (T0, 150.0));
        // Not stepped: the order decided on the bar is still pending.
        assert!(sim.positions().await.expect("positions").is_empty());
        sim.bar_done();
        let BarEvent::Bar { bar: second, .. } = next(&mut bars).await else {
            panic!("the next bar");
        };
        assert_eq!(second.ts, T0 + 300_000);
        // The order met the next bar's open, as ever.
        let held = sim.positions().await.expect("positions");
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].avg_entry_price.to_f64(), Some(second.open));
        // Each built bar stored, the amended one too (it replaces the candle).
        let stored = stored.lock().expect("stored").clone();
        assert_eq!(stored, [first, amended, second]);
    }
}
