//! Replaying a run: the same strategy version (by sha256), parameters, symbols, timeframe and
//! sandbox limits, given the same events again, and its intents compared decision by decision
//! with the ones recorded (`strategy_results`, the projection of `strategy.DecisionMade`).
//!
//! The replay drives the strategy through the run's own code path: a
//! [`LiveRunner`] (cues, data windows, order handling) over the sandbox seen through
//! [`Metered`] (clock ticks, decisions), so it answers exactly the calls the run made.
//! - A run on the simulated exchange is deterministic given its candles: a fresh exchange over
//!   the stored candles of its series, in lockstep as the run was (the pace only ever added
//!   pauses), fills and account snapshots included. It is fed up to the last bar time a
//!   recorded decision answered (a run stopped early stops there), or one bar time further for
//!   a run its strategy failed (the replay should fail at the same call).
//! - A run on `sim-live` is fed the bars of its input tape (amendments where they came) and its
//!   warm-up, on a fresh exchange with its fill model in lockstep, as the run's was
//!   ([`sim_live`]): fills and account snapshots come back from that exchange.
//! - A run on a live venue is fed its input tape ([`crate::veda::live::tape`]): the bars it got,
//!   read back from the stored `live` candles, its own order updates where it took them, the
//!   account snapshots it was told, the venue history of its data windows and the windows of
//!   the series it declared (contract 0.3), as it was served them. Orders the replay
//!   decides are not sent anywhere: the replay's venue answers nothing, so they are refused
//!   (never placed), which the strategy cannot see — what it sees of its orders is the taped
//!   updates.
//!
//! A run still active is compared on what it recorded so far; an ended run only once the
//! decisions projection has passed all its decisions (`replay_projection_behind` until then).
//! Decisions are compared as they come, page by page, so memory does not grow with the run's
//! length.
//!
//! # Invariants
//! - A replay writes nothing: no run, order, decision or event.
//! - Intents are compared bit for bit (their JSON with exact float round trips) together with
//!   the time of the event they answered; the first difference is reported.
//! - Nothing to compare, a gone component or missing candles is a refusal with a stable code,
//!   never a report that claims a match.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::active::Live;
use super::log_book::LogBook;
use super::metered::{Figures, Metered};
use super::start::{self, Setup};
use super::{Error, Runs, SIM_CASH};
use crate::domain::{AccountSnapshot, Bar, Intent, Timeframe, text_params};
use crate::events::correlation;
use crate::events::payloads::DecisionMade;
use crate::marvin::LimitRequest;
use crate::veda::journal::InMemoryJournal;
use crate::veda::live::account::AccountSource;
use crate::veda::live::tape::Input;
use crate::veda::live::{LiveError, LiveRunner};
use crate::veda::risk::RiskLimits;
use crate::veda::types::{
    Account, BarEvent, BarsRequest, CalendarDay, MarketClock, OrderQuery, OrderRequest,
    OrderStreamEvent, StreamHandle, VenueOrder, VenuePosition,
};
use crate::veda::{self, Venue};
use crate::walle::{Run, RunStatus, StrategyResult, Walle};

mod sim_live;

/// Recorded decisions read per page.
const PAGE: i64 = 1000;

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    /// Every recorded decision was replayed with the same intents at the same time, and the
    /// replay made no other.
    pub identical: bool,
    /// Decisions compared (the shorter of the two sequences).
    pub decisions_compared: u64,
    /// Decisions recorded.
    pub recorded: u64,
    /// Decisions the replay made.
    pub replayed: u64,
    /// The first difference, if any.
    pub first_mismatch: Option<Mismatch>,
}

/// The first decision where the replay differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mismatch {
    /// Position in the run's decisions, from 0.
    pub index: u64,
    /// The time of the event the recorded decision answered (the replayed one's when nothing
    /// was recorded there).
    pub bar_ts: Option<DateTime<Utc>>,
    /// The replayed decision's time, when it differs from `bar_ts`.
    pub replayed_bar_ts: Option<DateTime<Utc>>,
    /// The recorded intents (none: the run recorded no decision there).
    pub recorded: Option<Vec<Intent>>,
    /// The replayed intents (none: the replay made no decision there).
    pub replayed: Option<Vec<Intent>>,
}

impl Runs {
    /// Replays run `id` and compares its decisions with the recorded ones (see the module
    /// docs). `max_decisions` refuses a run with more recorded decisions (the API's bound).
    ///
    /// # Errors
    /// [`Error::RunNotFound`]; [`Error::Invalid`] with `replay_projection_behind` (an ended
    /// run's decisions are not all projected yet), `replay_nothing_recorded` (no decision, or a
    /// live run without an input tape), `replay_too_large`, `replay_candles_missing`
    /// (a bar the run got is no longer stored), `replay_unsupported` (a live run resumed after
    /// a restart); [`Error::StrategyUnavailable`] when the strategy version or its component is
    /// gone; [`Error::Guest`] when it no longer loads; [`Error::Store`].
    pub async fn replay(&self, id: i64, max_decisions: Option<u64>) -> Result<ReplayReport, Error> {
        // A scope of its own: the metered sandbox sets the task's cause to each decision it
        // makes, which must not become the cause of anything the caller writes afterwards.
        correlation::scope(
            correlation::current(),
            self.replay_in_scope(id, max_decisions),
        )
        .await
    }

    async fn replay_in_scope(
        &self,
        id: i64,
        max_decisions: Option<u64>,
    ) -> Result<ReplayReport, Error> {
        let w = &self.inner.walle;
        let run = w.run(id).await?.ok_or(Error::RunNotFound(id))?;
        // A stop writes `stopped` before the run's task has stored its last decisions: a run
        // this process still executes is active whatever its status says.
        let active = matches!(
            run.status,
            RunStatus::Created | RunStatus::Running | RunStatus::Stopping
        ) || self.inner.active.lock().contains_key(&id);
        // An ended run is compared whole: every decision it made must be projected first (an
        // active one is compared on what is projected so far).
        let behind = if active {
            0
        } else {
            w.unprojected_decisions(id).await?
        };
        if behind > 0 {
            return Err(Error::invalid(
                "replay_projection_behind",
                format!(
                    "{behind} decisions of run {id} are not in GET /runs/{id}/decisions yet (the decisions projection of weaver serve has not passed them); try again in a moment"
                ),
            ));
        }
        let recorded = w.recorded_decisions(id).await?;
        let count = u64::try_from(recorded.count).unwrap_or(0);
        if count == 0 {
            return Err(Error::invalid(
                "replay_nothing_recorded",
                format!(
                    "run {id} has no recorded decisions (none made yet, the decisions projection is behind, or retention removed them before they were projected)"
                ),
            ));
        }
        if let Some(max) = max_decisions
            && count > max
        {
            return Err(Error::invalid(
                "replay_too_large",
                format!(
                    "run {id} recorded {count} decisions, more than the {max} replayed over the API; use `weaver runs replay {id}`"
                ),
            ));
        }
        let strategy = w.strategy(run.strategy_id).await?.ok_or_else(|| {
            Error::StrategyUnavailable(format!(
                "strategy version {} of run {id} is gone",
                run.strategy_id
            ))
        })?;
        let setup = setup_of(w, &run).await?;
        // The limits the run has now (a change while it ran is not replayed).
        let live = replay_live(id, &strategy.name, setup.cash, super::risk::of_run(&run));
        let mut cmp = Comparison::new(w.clone(), id, count, active);
        if run.venue == crate::veda::sim::LIVE_VENUE {
            let tape = read_tape(w, &run, &setup).await?;
            let sandbox = start::load_sandbox(self, &strategy, &setup).await?;
            let metered = Metered::new(sandbox, live.clone(), id, setup.timeframe);
            sim_live::replay(id, tape, metered, &setup, &live, &mut cmp).await?;
        } else if run.venue == "sim" {
            let (sandbox, sim) = start::prepare(self, &strategy, &setup)
                .await
                .map_err(candles_missing)?;
            let metered = Metered::new(sandbox, live.clone(), id, setup.timeframe);
            let failed_in_guest = run.status == RunStatus::Failed
                && run
                    .error_code
                    .as_deref()
                    .is_some_and(|c| c.starts_with("strategy_"));
            let until = Until {
                last: recorded.last_bar_ts.map(|t| t.timestamp_millis()),
                one_more: failed_in_guest,
            };
            replay_sim(id, sim, metered, &setup, until, &live, &mut cmp).await?;
        } else {
            let tape = read_tape(w, &run, &setup).await?;
            let sandbox = start::load_sandbox(self, &strategy, &setup).await?;
            let metered = Metered::new(sandbox, live.clone(), id, setup.timeframe);
            let installation = w.installation_id().await?;
            let scope = start::order_scope(id, &installation);
            replay_tape(id, tape, metered, &setup, &scope, &live, &mut cmp).await?;
        }
        cmp.feed(live.decisions.take()).await?;
        Ok(cmp.report())
    }
}

/// What the run executed, as stored with it.
async fn setup_of(w: &Walle, run: &Run) -> Result<Setup, Error> {
    let timeframe: Timeframe = run
        .timeframe
        .parse()
        .map_err(|e| Error::Internal(format!("stored timeframe of run {}: {e}", run.id)))?;
    let limits = match &run.limits {
        Some(stored) => serde_json::from_value::<LimitRequest>(stored.0.clone())
            .map_err(|e| Error::Internal(format!("stored limits of run {}: {e}", run.id)))?,
        None => LimitRequest::default(),
    };
    let cash = w.run_account(run.id).await?.map_or(SIM_CASH, |a| a.cash);
    Ok(Setup {
        params: text_params(run.params.0.as_object()),
        symbols: run.symbols.0.clone(),
        timeframe,
        cash,
        limits,
    })
}

fn candles_missing(e: Error) -> Error {
    match e {
        Error::NoCandles(m) => Error::invalid(
            "replay_candles_missing",
            format!("the run's candles are no longer stored: {m}"),
        ),
        other => other,
    }
}

/// The run as the replay's [`Metered`] reports it: a copy nobody else reads, whose decisions
/// the replay takes instead of storing.
fn replay_live(
    id: i64,
    strategy: &str,
    cash: f64,
    limits: crate::veda::risk::RiskLimits,
) -> Arc<Live> {
    Arc::new(Live {
        id,
        // Its own label: a replay's fuel is not the run's.
        strategy: format!("replay:{strategy}"),
        starting_cash: cash,
        figures: Mutex::new(Figures::default()),
        logs: LogBook::new(0),
        decisions: Default::default(),
        limits: Arc::new(std::sync::RwLock::new(limits)),
        venue: Mutex::new(None),
        ended: Mutex::new(None),
        last_trade: Mutex::new(None),
        last_bar_ts: AtomicI64::new(i64::MIN),
        flush: Arc::new(tokio::sync::Mutex::new(())),
    })
}

/// How far a simulated run is fed: bar times up to `last`, and the next bar time too when
/// `one_more` (the run's strategy failed on it, after its last recorded decision).
#[derive(Debug, Clone, Copy)]
struct Until {
    last: Option<i64>,
    one_more: bool,
}

/// Forwards `source`'s bars as long as `until` allows, then ends the stream.
fn bounded(mut source: StreamHandle<BarEvent>, until: Until) -> StreamHandle<BarEvent> {
    let Some(last) = until.last else {
        return source;
    };
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut extra: Option<i64> = None;
        while let Some(event) = source.next().await {
            if let BarEvent::Bar { bar, .. } = &event
                && bar.ts > last
            {
                match extra {
                    None if until.one_more => extra = Some(bar.ts),
                    Some(t) if t == bar.ts => {}
                    _ => return,
                }
            }
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    StreamHandle::new(rx, CancellationToken::new())
}

/// Replays a run of the simulated exchange: the runner of `runs::task` over a fresh exchange.
async fn replay_sim(
    id: i64,
    sim: crate::veda::sim::SimVenue,
    metered: Metered,
    setup: &Setup,
    until: Until,
    live: &Live,
    cmp: &mut Comparison,
) -> Result<(), Error> {
    let (mut runner, updates, bars) = replay_runner(id, sim, metered, setup, live).await?;
    let run = runner.run_with_updates(bounded(bars, until), updates);
    compare_while_running(run, live, cmp).await
}

/// The runner a replay drives: the run's strategy (`metered`) over a fresh exchange `sim` with the
/// run's own order-id prefix (the order ids its strategy saw), an in-memory journal (a replay
/// writes nothing, so the outbox's backpressure has no reason to slow it either), the run's
/// limits and its rules over time fed as the run fed them (a taped account gives them nothing),
/// the exchange stepped bar by bar. With the exchange's order updates and bar stream.
async fn replay_runner(
    id: i64,
    sim: crate::veda::sim::SimVenue,
    metered: Metered,
    setup: &Setup,
    live: &Live,
) -> Result<
    (
        LiveRunner,
        StreamHandle<OrderStreamEvent>,
        StreamHandle<BarEvent>,
    ),
    Error,
> {
    let sim = sim
        .with_order_id_prefix(&format!("sim-r{id}-"))
        .unthrottled();
    let venue: Arc<dyn Venue> = Arc::new(sim.clone());
    let venue_error = |e: veda::Error| Error::Internal(format!("replay exchange: {e}"));
    let updates = venue.order_updates(Utc::now()).await.map_err(venue_error)?;
    let bars = venue
        .bar_stream(&setup.symbols)
        .await
        .map_err(venue_error)?;
    let releaser = sim.clone();
    let runner = LiveRunner::new(
        &id.to_string(),
        setup.symbols.clone(),
        Box::new(metered),
        venue.clone(),
        Arc::new(InMemoryJournal::new()),
        RiskLimits::default(),
    )
    .shared_limits(live.limits.clone())
    .guarded(None, |_, _| {})
    .timeframe(setup.timeframe)
    .after_each_bar(move || releaser.bar_done())
    .account_source(Arc::new(sim));
    Ok((runner, updates, bars))
}

/// Drives a replay's runner, comparing its decisions with the run's as they are made, until
/// the replay ends (its bars told, or its strategy failed as the run's did) or the comparison
/// has seen enough.
async fn compare_while_running<F: Future>(
    run: F,
    live: &Live,
    cmp: &mut Comparison,
) -> Result<(), Error> {
    tokio::pin!(run);
    loop {
        tokio::select! {
            _ = &mut run => break,
            () = live.decisions.wanted.notified() => {
                cmp.feed(live.decisions.take()).await?;
                if cmp.enough() {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// A live run's tape, checked and with its bars read back from the candles.
struct Tape {
    journaled: u64,
    inputs: Vec<Input>,
    bars: HashMap<(String, i64), Bar>,
}

async fn read_tape(w: &Walle, run: &Run, setup: &Setup) -> Result<Tape, Error> {
    let id = run.id;
    let mut inputs = Vec::new();
    let mut after = 0;
    loop {
        let page = w.run_inputs(id, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for row in page {
            let input: Input = serde_json::from_str(&row.body).map_err(|e| {
                Error::Internal(format!("input {} of run {id} unreadable: {e}", row.seq))
            })?;
            inputs.push(input);
        }
    }
    let sessions: Vec<u64> = inputs
        .iter()
        .filter_map(|i| match i {
            Input::Session { journaled } => Some(*journaled),
            _ => None,
        })
        .collect();
    let journaled = match sessions.as_slice() {
        [] => {
            return Err(Error::invalid(
                "replay_nothing_recorded",
                format!(
                    "run {id} on {} has no recorded inputs (it ran before Weaver taped live runs' inputs)",
                    run.venue
                ),
            ));
        }
        [one] => *one,
        more => {
            return Err(Error::invalid(
                "replay_unsupported",
                format!(
                    "run {id} was resumed after a restart ({} sessions); replaying a resumed live run is not supported",
                    more.len()
                ),
            ));
        }
    };
    // The candles of every bar on the tape, one read per symbol.
    let mut spans: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for i in &inputs {
        if let Input::Bar { symbol, ts } = i {
            let span = spans.entry(symbol.as_str()).or_insert((*ts, *ts));
            *span = (span.0.min(*ts), span.1.max(*ts));
        }
    }
    let tf = setup.timeframe.to_string();
    let mut bars = HashMap::new();
    for (symbol, (from, to)) in spans {
        let (Some(from), Some(to)) = (
            DateTime::<Utc>::from_timestamp_millis(from),
            DateTime::<Utc>::from_timestamp_millis(to + 1),
        ) else {
            return Err(Error::Internal(format!(
                "bar times of run {id} out of range"
            )));
        };
        for c in w.candles(symbol, &tf, from, to, i64::MAX).await? {
            bars.insert((symbol.to_owned(), c.ts.timestamp_millis()), c.bar());
        }
    }
    for i in &inputs {
        if let Input::Bar { symbol, ts } = i
            && !bars.contains_key(&(symbol.clone(), *ts))
        {
            let at = DateTime::<Utc>::from_timestamp_millis(*ts).unwrap_or_default();
            return Err(Error::invalid(
                "replay_candles_missing",
                format!(
                    "the {tf} candle of {symbol} at {at} that run {id} got is no longer stored (deleted or never stored; see weaver_live_bars_dropped_total)"
                ),
            ));
        }
    }
    Ok(Tape {
        journaled,
        inputs,
        bars,
    })
}

/// Replays a live run from its tape.
async fn replay_tape(
    id: i64,
    tape: Tape,
    metered: Metered,
    setup: &Setup,
    scope: &str,
    live: &Live,
    cmp: &mut Comparison,
) -> Result<(), Error> {
    let mut accounts = VecDeque::new();
    let mut history = VecDeque::new();
    for i in &tape.inputs {
        match i {
            Input::Account { snapshot } => accounts.push_back(snapshot.clone()),
            Input::History { bars, .. } => history.push_back(bars.clone()),
            _ => {}
        }
    }
    let mut runner = LiveRunner::new(
        &id.to_string(),
        setup.symbols.clone(),
        Box::new(metered),
        Arc::new(TapeVenue {
            history: Mutex::new(history),
            stream: Mutex::new(Vec::new()),
        }),
        Arc::new(InMemoryJournal::new()),
        RiskLimits::default(),
    )
    .shared_limits(live.limits.clone())
    // The run's rules over time, fed as the run fed them (a taped account gives them nothing).
    .guarded(None, |_, _| {})
    .timeframe(setup.timeframe)
    .order_scope(scope)
    .resume_at(tape.journaled)
    .windows_from_tape(&tape.inputs)
    .account_source(Arc::new(TapedAccount {
        snapshots: Mutex::new(accounts),
    }));
    if let Some(cap) = rust_decimal::prelude::FromPrimitive::from_f64(setup.cash) {
        runner = runner.equity_cap(cap);
    }
    for input in tape.inputs {
        let outcome = match input {
            Input::Bar { symbol, ts } => match tape.bars.get(&(symbol.clone(), ts)) {
                Some(bar) => runner.on_bar(&symbol, *bar).await.map(drop),
                None => Ok(()),
            },
            Input::Aggregated {
                symbol,
                bar,
                amended,
            } => runner.on_aggregated(&symbol, bar, amended).await.map(drop),
            Input::Warmup { symbol, bar } => runner.on_warmup(&symbol, bar).await.map(drop),
            Input::OrderUpdate { update } => runner.on_order_update(&update).await.map(drop),
            Input::Stop => runner.stop().await,
            Input::Session { .. }
            | Input::Account { .. }
            | Input::History { .. }
            | Input::Window { .. } => Ok(()),
        };
        cmp.feed(live.decisions.take()).await?;
        match outcome {
            // The strategy failed where the run's did, or the run's decisions are all matched.
            Err(LiveError::Strategy(_)) => break,
            Err(e) => return Err(Error::Internal(format!("replay runner: {e}"))),
            Ok(()) if cmp.enough() => break,
            Ok(()) => {}
        }
    }
    Ok(())
}

/// Compares replayed decisions with the recorded ones as they come.
struct Comparison {
    walle: Walle,
    run_id: i64,
    recorded: u64,
    active: bool,
    /// Recorded decisions read and not compared yet, and the last row id read.
    page: VecDeque<StrategyResult>,
    after: i64,
    compared: u64,
    replayed: u64,
    first: Option<Mismatch>,
}

impl Comparison {
    fn new(walle: Walle, run_id: i64, recorded: u64, active: bool) -> Comparison {
        Comparison {
            walle,
            run_id,
            recorded,
            active,
            page: VecDeque::new(),
            after: 0,
            compared: 0,
            replayed: 0,
            first: None,
        }
    }

    /// Whether replaying further can change nothing: a run still active recorded only this
    /// far, so the replay stops once it has matched every recorded decision.
    fn enough(&self) -> bool {
        self.active && self.replayed >= self.recorded
    }

    async fn next_recorded(&mut self) -> Result<Option<StrategyResult>, Error> {
        if self.page.is_empty() && self.compared < self.recorded {
            let rows = self
                .walle
                .strategy_results(self.run_id, self.after, PAGE)
                .await?;
            if let Some(last) = rows.last() {
                self.after = last.id;
            }
            self.page.extend(rows);
        }
        Ok(self.page.pop_front())
    }

    async fn feed(&mut self, decisions: Vec<crate::events::Envelope>) -> Result<(), Error> {
        // The book also queues the clock ticks the run made up for the guest: not decisions.
        for e in decisions
            .into_iter()
            .filter(|e| e.event_type == "strategy.DecisionMade")
        {
            if self.enough() {
                return Ok(());
            }
            let d: DecisionMade = serde_json::from_value(e.payload)
                .map_err(|e| Error::Internal(format!("replayed decision unreadable: {e}")))?;
            let index = self.replayed;
            self.replayed += 1;
            let recorded = if index < self.recorded {
                self.next_recorded().await?
            } else {
                None
            };
            if recorded.is_some() {
                self.compared += 1;
            }
            if self.first.is_some() {
                continue;
            }
            self.first = mismatch(index, recorded, d);
        }
        Ok(())
    }

    fn report(mut self) -> ReplayReport {
        let (recorded, replayed) = (self.recorded, self.replayed);
        if self.first.is_none() && replayed < recorded {
            // The replay ended early: the first decision it did not make.
            let r = self.page.pop_front();
            self.first = Some(Mismatch {
                index: replayed,
                bar_ts: r.as_ref().and_then(|r| r.bar_ts),
                replayed_bar_ts: None,
                recorded: r.map(|r| r.intents.0),
                replayed: None,
            });
        }
        ReplayReport {
            identical: self.first.is_none() && recorded == replayed,
            decisions_compared: self.compared,
            recorded,
            replayed,
            first_mismatch: self.first,
        }
    }
}

/// The difference between the recorded decision at `index` (if any) and a replayed one.
fn mismatch(index: u64, recorded: Option<StrategyResult>, d: DecisionMade) -> Option<Mismatch> {
    let Some(r) = recorded else {
        return Some(Mismatch {
            index,
            bar_ts: Some(d.bar_ts),
            replayed_bar_ts: None,
            recorded: None,
            replayed: Some(d.intents),
        });
    };
    // JSON text with exact float round trips: equal text is equal bits.
    let same_intents =
        serde_json::to_string(&r.intents.0).ok() == serde_json::to_string(&d.intents).ok();
    let same_time = r.bar_ts == Some(d.bar_ts);
    (!(same_intents && same_time)).then(|| Mismatch {
        index,
        bar_ts: r.bar_ts,
        replayed_bar_ts: (!same_time).then_some(d.bar_ts),
        recorded: Some(r.intents.0),
        replayed: Some(d.intents),
    })
}

/// The account snapshots a live run was told, in order.
struct TapedAccount {
    snapshots: Mutex<VecDeque<Option<AccountSnapshot>>>,
}

#[async_trait]
impl AccountSource for TapedAccount {
    async fn snapshot(&self, _marks: &[(String, f64)]) -> veda::Result<AccountSnapshot> {
        self.snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .flatten()
            .ok_or_else(|| veda::Error::Config("no account snapshot on the tape here".into()))
    }
}

/// The venue of a live run's replay: it answers the data-window history from the tape and
/// nothing else, so the replay's orders are refused before anything is sent (the strategy
/// learns about its orders from the taped updates only). As a `sim-live` replay's market it
/// also streams the taped bars, once.
struct TapeVenue {
    history: Mutex<VecDeque<Option<Vec<Bar>>>>,
    stream: Mutex<Vec<BarEvent>>,
}

fn not_in_replay<T>() -> veda::Result<T> {
    Err(veda::Error::Config("a replay reaches no venue".into()))
}

#[async_trait]
impl Venue for TapeVenue {
    fn name(&self) -> &str {
        "replay"
    }

    async fn account(&self) -> veda::Result<Account> {
        not_in_replay()
    }

    async fn positions(&self) -> veda::Result<Vec<VenuePosition>> {
        not_in_replay()
    }

    async fn submit_order(&self, _request: &OrderRequest) -> veda::Result<VenueOrder> {
        not_in_replay()
    }

    async fn cancel_order(&self, _order_id: &str) -> veda::Result<()> {
        not_in_replay()
    }

    async fn order(&self, _order_id: &str) -> veda::Result<VenueOrder> {
        not_in_replay()
    }

    async fn order_by_client_id(&self, _id: &str) -> veda::Result<Option<VenueOrder>> {
        not_in_replay()
    }

    async fn orders(&self, _query: &OrderQuery) -> veda::Result<Vec<VenueOrder>> {
        not_in_replay()
    }

    async fn bars(&self, request: &BarsRequest) -> veda::Result<BTreeMap<String, Vec<Bar>>> {
        let taped = self
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .flatten();
        match (taped, request.symbols.first()) {
            (Some(bars), Some(symbol)) => Ok(BTreeMap::from([(symbol.clone(), bars)])),
            _ => Err(veda::Error::Config(
                "no venue history on the tape here".into(),
            )),
        }
    }

    async fn latest_bars(&self, _symbols: &[String]) -> veda::Result<BTreeMap<String, Bar>> {
        not_in_replay()
    }

    async fn order_updates(
        &self,
        _since: DateTime<Utc>,
    ) -> veda::Result<StreamHandle<OrderStreamEvent>> {
        not_in_replay()
    }

    async fn bar_stream(&self, _symbols: &[String]) -> veda::Result<StreamHandle<BarEvent>> {
        let taped =
            std::mem::take(&mut *self.stream.lock().unwrap_or_else(PoisonError::into_inner));
        // Sent whole before it is read: the channel holds it all, and ends with it (at once for
        // a run told no bar after its warm-up).
        let (tx, rx) = mpsc::channel(taped.len().max(1));
        for event in taped {
            let _ = tx.try_send(event);
        }
        Ok(StreamHandle::new(rx, CancellationToken::new()))
    }

    async fn clock(&self) -> veda::Result<MarketClock> {
        not_in_replay()
    }

    async fn calendar(&self, _start: NaiveDate, _end: NaiveDate) -> veda::Result<Vec<CalendarDay>> {
        not_in_replay()
    }
}
