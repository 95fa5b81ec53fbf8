//! Starting a run: load and initialise the strategy's sandbox, prepare the venue (a simulated
//! exchange over stored candles, or a recovered live venue), store the run as `running`, then
//! launch its tasks ([`launch`]). Resuming a run after a restart goes through the same steps
//! ([`super::resume`]).
//!
//! # Invariants
//! - Nothing is stored before the sandbox loaded, `init` accepted the parameters and the venue
//!   is ready (candles exist on `sim`; recovery succeeded and cleared the symbols on a live
//!   venue).
//! - A run is stored `running` together with its account row, in one transaction: a run
//!   without an account (which could be neither resumed nor shown) is never stored.
//! - On a live venue a run's `client_order_id`s are scoped by its id and the database's
//!   installation id ([`order_scope`]).

use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use tracing::Instrument;

use super::active::{Entry, Live, RunVenue};
use super::decisions::DecisionBook;
use super::log_book::LogBook;
use super::metered::{Figures, Metered};
use super::spec::{LiveBarOptions, Mode, RunSpec, WarmupSource};
use super::{Error, Runs, SIM_CASH, task};
use crate::domain::{StrategyConfig, Timeframe};
use crate::events::{Correlation, correlation};
use crate::greta::broker::{BrokerConfig, Commission, FillModel};
use crate::marvin::{LimitRequest, Sandbox};
use crate::veda::desk::Desk;
use crate::veda::sim::{SimConfig, SimVenue, Speed};
use crate::walle::{
    self, NewRun, Order, OrderFilter, Run, RunMode, Strategy as StoredStrategy, Walle,
};

/// What a run executes: the guest's parameters, its symbols, timeframe, account baseline and
/// the sandbox limits it asked for.
pub(crate) struct Setup {
    pub(crate) params: Vec<(String, String)>,
    pub(crate) symbols: Vec<String>,
    pub(crate) timeframe: Timeframe,
    pub(crate) cash: f64,
    pub(crate) limits: LimitRequest,
}

/// What a run executes on.
pub(crate) enum Exec {
    /// Its own simulated exchange.
    Sim(SimVenue),
    /// A live venue shared with other runs.
    Desk {
        desk: Desk,
        /// What the run's `client_order_id`s are derived from ([`order_scope`]).
        scope: String,
        /// Intents the run journaled before a restart (numbering continues after them).
        journaled: u64,
        /// How its bars are built from the 1-minute stream, and its warm-up.
        options: LiveBarOptions,
    },
}

/// How a launched run continues an earlier one (all zero for a new run).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Continue {
    /// Bars replayed without pauses (where the run had got to).
    pub(crate) bars: u64,
    /// The last stored log line (the log continues after it).
    pub(crate) log_seq: i64,
}

/// A run ready to launch.
pub(crate) struct Launch<'a> {
    pub(crate) run: &'a Run,
    pub(crate) strategy: &'a StoredStrategy,
    pub(crate) sandbox: Sandbox,
    pub(crate) exec: Exec,
    pub(crate) setup: &'a Setup,
    pub(crate) from: Continue,
    /// The run's first log line.
    pub(crate) first: String,
}

/// Loads and initialises the strategy; stores nothing.
pub(crate) async fn load_sandbox(
    runs: &Runs,
    strategy: &StoredStrategy,
    setup: &Setup,
) -> Result<Sandbox, Error> {
    let config = StrategyConfig {
        params: setup.params.clone(),
        symbols: setup.symbols.clone(),
        timeframe: setup.timeframe,
    };
    let path = runs
        .inner
        .components_dir
        .join(format!("{}.wasm", strategy.sha256));
    if !path.is_file() {
        return Err(Error::StrategyUnavailable(format!(
            "the component of strategy {} is missing",
            strategy.id
        )));
    }
    let marvin = runs.inner.marvin.clone();
    let limits = setup.limits;
    let sandbox = tokio::task::spawn_blocking(move || {
        marvin
            .load_file(&path)
            .and_then(|loaded| loaded.instantiate_with(&config, &limits))
    })
    .await
    .map_err(|e| Error::Internal(format!("strategy loader: {e}")))??;
    Ok(sandbox)
}

/// Loads and initialises the strategy and builds the simulated exchange over the stored
/// candles; stores nothing.
pub(crate) async fn prepare(
    runs: &Runs,
    strategy: &StoredStrategy,
    setup: &Setup,
) -> Result<(Sandbox, SimVenue), Error> {
    let sandbox = load_sandbox(runs, strategy, setup).await?;
    let w = &runs.inner.walle;
    // Every symbol must have bars: a symbol without any would silently never trade.
    for s in &setup.symbols {
        let tf = setup.timeframe.to_string();
        let any = w
            .candles(
                s,
                &tf,
                DateTime::<Utc>::UNIX_EPOCH,
                crate::domain::far_future(),
                1,
            )
            .await?;
        if any.is_empty() {
            let symbol: String = s.chars().take(32).collect();
            return Err(Error::NoCandles(format!(
                "no {tf} candles stored for {symbol} (import or generate some: POST /candles/import, POST /candles/synth, weaver data import)"
            )));
        }
    }
    let sim = SimVenue::from_walle(
        w,
        &setup.symbols,
        setup.timeframe,
        DateTime::<Utc>::UNIX_EPOCH,
        crate::domain::far_future(),
        SimConfig {
            broker: BrokerConfig {
                cash: setup.cash,
                commission: Commission::default(),
                slippage_bps: 0.0,
                fill: FillModel::NextOpen,
                fractional: false,
            },
            // Always lockstep: the pace is added between bar times (see `task::pace`), so a
            // run is deterministic whatever the load.
            speed: Speed::Lockstep,
        },
    )
    .await
    .map_err(|e| Error::NoCandles(format!("{e} (weaver data import)")))?;
    Ok((sandbox, sim))
}

/// Starts a paper run on its own simulated exchange: loads and instantiates the strategy,
/// builds the exchange, stores the run as `running` with its account and launches its tasks.
///
/// # Errors
/// The guest's refusal ([`Error::Guest`]), [`Error::NoCandles`] when the store has nothing to
/// replay, [`Error::Store`].
pub(crate) async fn start(
    runs: &Runs,
    strategy: &StoredStrategy,
    spec: RunSpec,
) -> Result<Run, Error> {
    let setup = Setup {
        params: spec.text_params(),
        symbols: spec.symbols.clone(),
        timeframe: spec.timeframe,
        cash: spec.cash.unwrap_or(SIM_CASH),
        limits: spec.limits,
    };
    let (sandbox, sim) = prepare(runs, strategy, &setup).await?;
    let run = store_running(runs, strategy, &spec, &setup).await?;
    let first = format!(
        "run started: strategy {} ({}), {} on {}, cash {}",
        strategy.name,
        strategy.id,
        setup.symbols.join(","),
        setup.timeframe,
        setup.cash
    );
    launch(
        runs,
        Launch {
            run: &run,
            strategy,
            sandbox,
            exec: Exec::Sim(sim),
            setup: &setup,
            from: Continue::default(),
            first,
        },
    )
    .await;
    Ok(run)
}

/// The scope of run `id`'s `client_order_id`s on a live venue: the run id and this database's
/// installation id ([`Walle::installation_id`]), so a new database reusing run ids never reuses
/// an id the venue has seen (Alpaca refuses a `client_order_id` forever once used).
pub(crate) fn order_scope(id: i64, installation: &str) -> String {
    format!("{id}-{installation}")
}

/// Stores a started run as `running` with its account of `setup.cash` (one transaction).
/// (`pub(crate)` for [`super::sim_live`].)
pub(crate) async fn store_running(
    runs: &Runs,
    strategy: &StoredStrategy,
    spec: &RunSpec,
    setup: &Setup,
) -> Result<Run, Error> {
    let w = &runs.inner.walle;
    let mode = match spec.mode {
        Mode::Paper => RunMode::Paper,
        Mode::Live => RunMode::Live,
    };
    let new = NewRun {
        strategy_id: strategy.id,
        mode,
        venue: spec.venue.as_str().to_owned(),
        params: serde_json::Value::Object(spec.params.clone()),
        symbols: spec.symbols.clone(),
        timeframe: setup.timeframe,
        // Stored so that a resumed run gets the same limits.
        limits: (!spec.limits.is_empty())
            .then(|| serde_json::to_value(spec.limits))
            .transpose()
            .map_err(|e| Error::Internal(format!("limits not storable: {e}")))?,
        risk: Some(
            serde_json::to_value(super::risk::resolve(
                runs.inner.risk_defaults.as_deref(),
                spec,
            )?)
            .map_err(|e| Error::Internal(format!("risk limits not storable: {e}")))?,
        ),
        // Stored so that a resumed run builds its bars as before; runs on Alpaca and sim-live
        // build bars with them (`sim` replays candles).
        options: (spec.venue != super::spec::VenueName::Sim).then(|| spec.live.to_json()),
    };
    Ok(w.insert_running_run(&new, setup.cash).await?)
}

/// The highest intent sequence number run `id` journaled (0 when none).
pub(crate) async fn journaled_intents(walle: &Walle, id: i64) -> Result<u64, walle::Error> {
    Ok(run_orders(walle, id)
        .await?
        .iter()
        .filter_map(|o| crate::veda::client_order_id::sequence(&o.client_order_id))
        .max()
        .unwrap_or(0))
}

/// Every stored order of run `id`, oldest first.
pub(crate) async fn run_orders(walle: &Walle, id: i64) -> Result<Vec<Order>, walle::Error> {
    let mut orders = Vec::new();
    let mut filter = OrderFilter {
        run_id: Some(id),
        limit: 1000,
        ..OrderFilter::default()
    };
    loop {
        let page = walle.orders(&filter).await?;
        orders.extend(page.orders);
        match page.next_after {
            Some(after) => filter.after_id = Some(after),
            None => return Ok(orders),
        }
    }
}

fn venue_unreachable(desk: &Desk, e: &crate::veda::Error) -> Error {
    Error::VenueUnreachable(format!(
        "venue {} cannot be reached ({}): {e}; nothing was started",
        desk.name(),
        e.code()
    ))
}

/// Starts a run on a live venue (`alpaca`): the strategy is loaded and initialised, the venue
/// recovered and reconciled ([`Desk::ready`]) and the run's symbols checked against the report,
/// then the run is stored as `running` and trades on the venue's live bars. Its account starts
/// from `cash` (default: the venue account's equity now) and is what its own fills add up to.
/// The mode was checked against the venue's live flag by [`Runs::create`].
///
/// The run's bars are the venue's 1-minute bars, or built from them for a longer timeframe
/// (`crate::veda::live::aggregate`; [`RunSpec::parse`] refused the timeframes Alpaca has no
/// bars of).
///
/// # Errors
/// The guest's refusal, [`Error::VenueUnreachable`], [`Error::VenueUnreconciled`] (a difference with the
/// venue on one of the run's symbols that could not be explained), [`Error::Store`].
pub(crate) async fn start_on_desk(
    runs: &Runs,
    strategy: &StoredStrategy,
    spec: RunSpec,
    desk: &Desk,
) -> Result<Run, Error> {
    let mut setup = Setup {
        params: spec.text_params(),
        symbols: spec.symbols.clone(),
        timeframe: spec.timeframe,
        cash: spec.cash.unwrap_or(0.0),
        limits: spec.limits,
    };
    let sandbox = load_sandbox(runs, strategy, &setup).await?;
    let report = desk
        .ready()
        .await
        .map_err(|e| venue_unreachable(desk, &e))?;
    report
        .check_run(&setup.symbols)
        .map_err(|e| Error::VenueUnreconciled(e.to_string()))?;
    if spec.cash.is_none() {
        let account = desk
            .venue()
            .account()
            .await
            .map_err(|e| venue_unreachable(desk, &e))?;
        setup.cash = account.equity.to_f64().unwrap_or(0.0);
    }
    let installation = runs.inner.walle.installation_id().await?;
    let (warmup, source) = spec.warmup(sandbox.declaration().warmup);
    let run = store_running(runs, strategy, &spec, &setup).await?;
    let first = format!(
        "run started: strategy {} ({}), {} on {} {} ({}), account baseline {}, {}",
        strategy.name,
        strategy.id,
        setup.symbols.join(","),
        desk.name(),
        setup.timeframe,
        if desk.is_live() {
            "LIVE, real money"
        } else {
            "paper"
        },
        setup.cash,
        warmup_text(warmup, source)
    );
    let exec = Exec::Desk {
        desk: desk.clone(),
        scope: order_scope(run.id, &installation),
        journaled: 0,
        options: LiveBarOptions {
            warmup: Some(warmup),
            ..spec.live
        },
    };
    launch(
        runs,
        Launch {
            run: &run,
            strategy,
            sandbox,
            exec,
            setup: &setup,
            from: Continue::default(),
            first,
        },
    )
    .await;
    Ok(run)
}

/// How a run's first log line says its warm-up: how many bars and where the number came from.
pub(crate) fn warmup_text(bars: u32, source: WarmupSource) -> String {
    format!("warm-up {bars} bars ({})", source.as_str())
}

/// Registers the run, logs its first line and spawns its task.
pub(crate) async fn launch(runs: &Runs, l: Launch<'_>) {
    let id = l.run.id;
    let exec = match l.exec {
        Exec::Sim(sim) => Exec::Sim(sim.with_order_id_prefix(&format!("sim-r{id}-"))),
        desk => desk,
    };
    let venue = match &exec {
        Exec::Sim(sim) => RunVenue::Sim(sim.clone()),
        Exec::Desk { .. } => RunVenue::Desk(runs.inner.walle.clone()),
    };
    let live = Arc::new(Live {
        id,
        strategy: l.strategy.name.clone(),
        starting_cash: l.setup.cash,
        figures: Mutex::new(Figures::default()),
        logs: LogBook::new(l.from.log_seq),
        decisions: DecisionBook::started_by(l.run.start_event_id.as_deref()),
        limits: Arc::new(std::sync::RwLock::new(super::risk::of_run(l.run))),
        venue: Mutex::new(Some(venue)),
        ended: Mutex::new(None),
        last_trade: Mutex::new(None),
        last_bar_ts: AtomicI64::new(i64::MIN),
        flush: Arc::new(tokio::sync::Mutex::new(())),
    });
    // First in the log, before the guest's own output can be.
    live.logs.push("info", l.first);
    let cancel = runs.inner.shutdown.child_token();
    // A few commands at once at most (an operator's clicks); a full queue says busy.
    let (commands, command_rx) = tokio::sync::mpsc::channel(16);
    runs.inner.active.lock().insert(
        id,
        Entry {
            cancel: cancel.clone(),
            live: live.clone(),
            venue: l.run.venue.clone(),
            commands,
        },
    );
    let metered = Metered::new(l.sandbox, live.clone(), id, l.setup.timeframe);
    let task = task::RunTask {
        runs: runs.clone(),
        id,
        symbols: l.setup.symbols.clone(),
        strategy: metered,
        exec,
        cancel,
        live,
        resume_bars: l.from.bars,
        commands: command_rx,
    };
    // Every log line of the run (the runner, the sandbox, the strategy's own logs) carries
    // run_id; started from a request, the span's parent is its `http` span, so they carry its
    // corr_id too.
    let span = tracing::info_span!("run", run_id = id);
    // Its events carry the starting request's corr_id (and trace id); a run resumed by a new
    // process has no request, so its events share `run-<id>` instead.
    let corr =
        correlation::current().unwrap_or_else(|| Correlation::new(format!("run-{id}"), None));
    super::beat::ensure(runs);
    // Polled inside the strategy arena: what a run churns through bar by bar stays apart from
    // the server's long-lived objects (`marvin::arena`).
    runs.inner.tasks.spawn(crate::marvin::arena::scoped(
        correlation::scope(Some(corr), async move {
            tracing::info!("run started");
            task.run().await;
        })
        .instrument(span),
    ));
}
