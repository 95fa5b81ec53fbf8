//! Runs: the lifecycle of paper and live runs behind one handle, [`Runs`] (start, stop, resume,
//! list what is active, figures, accounts, logs). A run is the strategy's sandbox (Marvin)
//! driven by a [`crate::veda::live::LiveRunner`], every order journaled in WallE. Per run, one
//! tracked task drives the runner; one task for the process beats every active run's heartbeat
//! (`run.Heartbeat`, the account snapshot, the log, the queued decisions).
//!
//! # Layout
//! - [`spec`]: [`RunSpec`], a validated request to start a run (typed mode and venue).
//! - [`start`]: loading the sandbox, preparing the venue, storing the run, launching its tasks.
//! - [`task`]: the run task (pace, execute, record fills, wrap up).
//! - `beat`: the heartbeat of every active run, one task for the process.
//! - [`resume`]: restarting the runs a dead process left `running`.
//! - [`active`]: the registry of runs this process executes.
//! - [`metered`]: the sandbox seen through figures, metrics, clock ticks and guest output.
//! - [`replay`]: a run replayed from what was stored and compared with its recorded decisions.
//! - [`log_book`]: a run's bounded log, in memory and in WallE.
//! - [`account`]: a run's account (average-cost positions, PnL).
//! - [`trading`]: the global trading state, shared by every run's checks and persisted.
//! - [`shadows`]: shadow runs, other versions fed a run's bars on their own simulated exchange.
//! - [`promote`]: promotion and rollback of a running run's strategy version at a bar boundary.
//!
//! # Two kinds of venue
//! - `sim`: the run's own [`SimVenue`](crate::veda::sim::SimVenue) replaying its stored candles
//!   (paper only); a second task records its fills.
//! - `sim-live` ([`sim_live`]): the same, fed by the Alpaca desk's live bars instead of stored
//!   candles (paper only; nothing but market data asked of Alpaca).
//! - a live venue (`alpaca`), through its [`Desk`]: shared by all runs on it (one order-update
//!   and one bar stream, fills recorded once by the desk), recovered and reconciled before the
//!   first run trades; runs see its live 1-minute bars. Their `client_order_id`s are derived
//!   from the run id *and* the database's installation id, since the venue refuses an id
//!   forever and another database may reuse run ids. A run's account there is its own fills over
//!   a baseline (`cash`, default the venue account's equity at the start); the venue account
//!   itself is shared.
//!
//! # What a run sees
//! What a backtest of the same bars tells, sequenced by the same
//! [`crate::domain::cues::Cues`] (see [`crate::veda::live`]), each kind only when the strategy
//! subscribed to it: `Lifecycle(Started)` and an account snapshot before its first event; its
//! own orders' updates, then after a fill an account snapshot before the next bar;
//! `Lifecycle(Stopping)` last, when the replay or the venue's bar stream ends, the run is
//! stopped or the server shuts down (not after the strategy failed). Besides, a `clock.Tick` at
//! the start of every bar period (before that period's bars) when it subscribed to clock ticks,
//! which a backtest does not tell. The pre-trade checks read the server's trading switch at every
//! order.
//! - On `sim`: bars in replay order, one per call; the account is the run's simulated exchange's
//!   ([`crate::veda::sim::SimVenue`]), bit for bit a backtest's. The replay is in lockstep with
//!   the strategy (orders decided on bar `t` meet bar `t + 1`, as in a backtest);
//!   `WEAVER_RUN_BAR_INTERVAL_MS` only adds a pause before each new bar time. Hence a run is
//!   deterministic, which is what makes resuming it exact.
//! - On a live venue: its symbols' live bars as they arrive; the account is the run's own fills
//!   over its baseline ([`account::DeskAccount`]), positions marked at the latest closes.
//!
//! # Resume after a restart
//! [`Runs::resume`] restarts every run a dead process left `running`, with the sandbox limits it
//! asked for when it started (stored with it). On a live venue the run
//! trades on from the next live bar once the venue is recovered (its strategy starts again from
//! `init`; intent numbers continue after the journaled ones, so no `client_order_id` repeats).
//! On the simulated exchange the component is loaded and initialised again and the replay starts
//! over from the first bar on a fresh simulated exchange, without pauses up to where the run had
//! got to (the account row's `bars`). Because the run is deterministic, every intent gets the
//! sequence number (hence the `client_order_id`) it had before;
//! [`crate::veda::journal::place_order`] finds those in the journal, and WallE keeps order ids and
//! fill ids unique, so nothing is stored twice and nothing is lost.
//!
//! # Invariants
//! - A run row is only inserted once the component loaded, `init` accepted the parameters and
//!   candles exist (`sim`) or the venue is recovered and the symbols cleared (live venue): a
//!   refused start stores nothing.
//! - A run's sandbox limits are its strategy tier's or what it asked for within the operator's
//!   ceilings (`limit_not_allowed` otherwise, checked first).
//! - An ended run lives in memory only until its final account, figures, log and status are
//!   stored; then the API reads it from WallE.
//! - Each run has its own sandbox and tasks (and on `sim` its own venue with its own order-id
//!   prefix): one failing run never touches another.
//! - No run trades on a live venue before its recovery succeeded, nor on a symbol its
//!   reconciliation could not explain (`venue_unreconciled`).
//! - Real money only on request: `live` needs a venue configured for live trading, and `paper`
//!   is refused on such a venue, since its orders would be real.
//! - A run ends `stopped` (replay finished, [`Runs::stop`], or server shutdown) or `failed` with
//!   a stable code (the strategy's own code such as `strategy_fuel_exhausted`). The task only
//!   writes the final status while the row is still `running`, so a stop that already wrote
//!   `stopped` is never overwritten.
//! - Stored event `producer` strings stay `glados` (stored events are a contract).

pub mod account;
mod account_watch;
pub mod accounts;
pub mod active;
mod beat;
pub mod control;
pub mod decisions;
pub mod equity;
pub mod log_book;
pub mod metered;
pub mod promote;
pub mod replay;
pub mod resume;
pub mod risk;
pub mod shadows;
pub mod sim_live;
pub mod spec;
pub mod start;
pub mod task;
pub mod trading;
mod warmup;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::marvin::Marvin;
use crate::veda::desk::Desk;
use crate::veda::risk::{TradingState, TradingSwitch};
use crate::walle::{self, LogFilter, Run, RunAccount, RunStatus, StrategyStatus, Walle};

pub use account::{AccountState, Pnl, Position, Trade};
pub use accounts::{AccountFlatten, AccountPosition, VenueAccount};
pub use control::{OrdersOnStop, PositionsOnStop, StopOptions, StopReport};
pub use log_book::{LogLine, LogPage};
pub use metered::Figures;
pub use replay::{Mismatch, ReplayReport};
pub use resume::Resumed;
pub use spec::{Mode, RunSpec, VenueName};
pub use trading::TradingStatus;

/// Default starting cash of a paper account on the simulated exchange.
pub const SIM_CASH: f64 = 10_000.0;

/// Why a run could not be started, stopped or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is unusable (`invalid_mode`, `invalid_venue`, `invalid_timeframe`,
    /// `invalid_symbols`, `invalid_cash`, `unsupported_timeframe`, `invalid_trading_state`).
    #[error("{message}")]
    Invalid {
        /// Stable code.
        code: &'static str,
        /// Human text.
        message: String,
    },
    /// The timeframe is not one the venue takes (`invalid_timeframe`, `unsupported_timeframe`);
    /// `accepted` lists the ones it does.
    #[error("{message}")]
    Timeframe {
        /// Stable code.
        code: &'static str,
        /// Human text.
        message: String,
        /// The timeframes a live venue accepts.
        accepted: Vec<String>,
    },
    /// No strategy by that reference.
    #[error("strategy {0} not found")]
    StrategyNotFound(String),
    /// The strategy is disabled.
    #[error("strategy {0} is disabled")]
    StrategyDisabled(i64),
    /// The strategy is still compiling or was rejected.
    #[error("strategy {0} is not ready")]
    StrategyNotReady(i64),
    /// The strategy's component is gone or no longer ready.
    #[error("{0}")]
    StrategyUnavailable(String),
    /// The guest could not be loaded or refused to start (bad parameters, a trap or a budget
    /// in `init`).
    #[error(transparent)]
    Guest(#[from] crate::marvin::Error),
    /// Nothing to replay on the simulated exchange.
    #[error("{0}")]
    NoCandles(String),
    /// The venue is not configured.
    #[error("{0}")]
    VenueNotConfigured(String),
    /// A live run on a venue configured for paper trading.
    #[error("{0}")]
    LiveNotEnabled(String),
    /// A paper run on a venue configured for live trading.
    #[error("{0}")]
    VenueIsLive(String),
    /// The venue cannot be reached now; nothing was started.
    #[error("{0}")]
    VenueUnreachable(String),
    /// Recovery left a difference with the venue on one of the run's symbols.
    #[error("{0}")]
    VenueUnreconciled(String),
    /// No such run.
    #[error("run {0} not found")]
    RunNotFound(i64),
    /// A risk limit is not acceptable (the field is named).
    #[error("risk.{field}: {message}")]
    InvalidRisk {
        /// The key, e.g. `daily_loss_pct` or `cooldown.pause_minutes`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// No such order.
    #[error("order {0} not found")]
    OrderNotFound(i64),
    /// No such account.
    #[error("account {0} not found")]
    AccountNotFound(String),
    /// The run is not `created` or `running`.
    #[error("run {id} is {status}")]
    RunNotActive {
        /// The run.
        id: i64,
        /// Its status.
        status: &'static str,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] walle::Error),
    /// A task of this process failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { code, .. } | Error::Timeframe { code, .. } => code,
            Error::InvalidRisk { .. } => "invalid_risk",
            Error::StrategyNotFound(_)
            | Error::RunNotFound(_)
            | Error::OrderNotFound(_)
            | Error::AccountNotFound(_) => "not_found",
            Error::StrategyDisabled(_) => "strategy_disabled",
            Error::StrategyNotReady(_) => "strategy_not_ready",
            Error::StrategyUnavailable(_) => "strategy_unavailable",
            Error::Guest(e) => e.code(),
            Error::NoCandles(_) => "no_candles",
            Error::VenueNotConfigured(_) | Error::VenueUnreachable(_) => "venue_unavailable",
            Error::LiveNotEnabled(_) => "live_not_enabled",
            Error::VenueIsLive(_) => "venue_is_live",
            Error::VenueUnreconciled(_) => "venue_unreconciled",
            Error::RunNotActive { .. } => "run_not_active",
            Error::Store(e) => e.code(),
            Error::Internal(_) => "internal_error",
        }
    }

    pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> Error {
        Error::Invalid {
            code,
            message: message.into(),
        }
    }
}

/// How runs are paced and observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunsConfig {
    /// Pause before each new bar time of a paper run on `sim`, in ms (0: as fast as the
    /// strategy goes); `WEAVER_RUN_BAR_INTERVAL_MS`.
    pub bar_interval_ms: u64,
    /// Period of each running run's heartbeat, in ms; `WEAVER_RUN_HEARTBEAT_MS`.
    pub heartbeat_ms: u64,
    /// How long a run waits for the store to journal an order before it fails;
    /// `WEAVER_STORE_OUTAGE_LIMIT`.
    pub store_patience: std::time::Duration,
}

impl Default for RunsConfig {
    fn default() -> Self {
        RunsConfig {
            bar_interval_ms: 0,
            heartbeat_ms: DEFAULT_HEARTBEAT_MS,
            store_patience: crate::veda::live::DEFAULT_STORE_PATIENCE,
        }
    }
}

/// Default heartbeat period of a running run.
pub const DEFAULT_HEARTBEAT_MS: u64 = 5_000;

/// What [`Runs`] is built from.
pub struct RunsParts {
    /// The store.
    pub walle: Walle,
    /// The sandbox host (shared engine and compiled-component cache).
    pub marvin: Marvin,
    /// Where uploaded components are kept, by sha256.
    pub components_dir: PathBuf,
    /// Live venues.
    pub desks: Vec<Desk>,
    /// Pace and heartbeat.
    pub config: RunsConfig,
    /// The operator's risk defaults for runs on Alpaca (`WEAVER_RISK_DEFAULTS`, a JSON patch
    /// over the built-in ones), validated when the configuration was read.
    pub risk_defaults: Option<String>,
    /// Where the runs' tasks are tracked (the process's, so a shutdown waits for them).
    pub tasks: TaskTracker,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
}

/// The runs of this process: start, stop, resume and read them. Cheap to clone.
#[derive(Clone)]
pub struct Runs {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) walle: Walle,
    pub(crate) marvin: Marvin,
    pub(crate) components_dir: PathBuf,
    pub(crate) desks: BTreeMap<String, Desk>,
    pub(crate) trading: trading::Trading,
    pub(crate) config: RunsConfig,
    pub(crate) risk_defaults: Option<String>,
    pub(crate) tasks: TaskTracker,
    pub(crate) shutdown: CancellationToken,
    pub(crate) active: active::ActiveRuns,
    /// The venue accounts' limits and states.
    pub(crate) accounts: accounts::AccountBook,
    /// Whether the account watch runs ([`account_watch::ensure`]).
    pub(crate) watching: std::sync::atomic::AtomicBool,
    /// Whether the heartbeat task runs ([`beat::ensure`]).
    pub(crate) beating: std::sync::atomic::AtomicBool,
    /// The runs' bars to their shadows, and the shadows this process runs.
    pub(crate) shadows: shadows::Registry,
    /// The switchboards of the runs this process executes (promotion and rollback).
    pub(crate) promotions: promote::Boards,
}

impl std::fmt::Debug for Runs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runs")
            .field("desks", &self.inner.desks.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Runs {
    /// The runs handle over these parts.
    pub fn new(p: RunsParts) -> Runs {
        Runs {
            inner: Arc::new(Inner {
                walle: p.walle,
                marvin: p.marvin,
                components_dir: p.components_dir,
                desks: p
                    .desks
                    .into_iter()
                    .map(|d| (d.name().to_owned(), d))
                    .collect(),
                trading: trading::Trading::default(),
                config: p.config,
                risk_defaults: p.risk_defaults,
                tasks: p.tasks,
                shutdown: p.shutdown,
                active: active::ActiveRuns::default(),
                accounts: accounts::AccountBook::default(),
                watching: std::sync::atomic::AtomicBool::new(false),
                beating: std::sync::atomic::AtomicBool::new(false),
                shadows: shadows::Registry::default(),
                promotions: promote::Boards::default(),
            }),
        }
    }

    /// The trading switch every run's orders are checked against (active, reduce-only,
    /// halted; globally and per run id): the one `PUT /trading-state` sets.
    pub fn trading_switch(&self) -> Arc<TradingSwitch> {
        self.inner.trading.switch()
    }

    /// The global trading state, loaded from the store on first use (a server restarted while
    /// `halted` stays halted).
    ///
    /// # Errors
    /// [`Error::Store`] when the stored state cannot be read, [`Error::Internal`] when it names
    /// no known state.
    pub async fn trading_state(&self) -> Result<TradingStatus, Error> {
        self.inner.trading.get(&self.inner.walle).await
    }

    /// Stores and applies a new global trading state; announces it as `ui.TradingState`.
    ///
    /// # Errors
    /// [`Error::Store`] when it cannot be stored (then nothing changed).
    pub async fn set_trading_state(&self, state: TradingState) -> Result<TradingStatus, Error> {
        self.inner.trading.set(&self.inner.walle, state).await
    }

    /// The live venues, by name.
    pub fn desks(&self) -> impl Iterator<Item = &Desk> {
        self.inner.desks.values()
    }

    /// Starts a run: the strategy resolved (the newest ready version of a name), the venue's
    /// mode checked, then the run started on the simulated exchange or its live venue.
    ///
    /// # Errors
    /// [`Error`] with the first problem found; nothing is stored for a refused start.
    pub async fn create(&self, spec: RunSpec) -> Result<Run, Error> {
        // Limits first: a request the operator does not allow is refused whatever else is wrong.
        spec.limits.check(&self.inner.marvin.config().ceilings)?;
        risk::resolve(self.inner.risk_defaults.as_deref(), &spec)?;
        let desk = match spec.venue {
            VenueName::Sim => None,
            VenueName::SimLive => {
                sim_live::market(self)?;
                None
            }
            VenueName::Alpaca => {
                let name = spec.venue.as_str();
                let d = self.inner.desks.get(name).ok_or_else(|| {
                    Error::VenueNotConfigured(format!(
                        "venue {name} is not configured: set APCA_API_KEY_ID and APCA_API_SECRET_KEY (see .env.example)"
                    ))
                })?;
                match (spec.mode, d.is_live()) {
                    (Mode::Live, false) => {
                        return Err(Error::LiveNotEnabled(format!(
                            "venue {name} is configured for paper trading; live runs need APCA_API_BASE_URL at the live endpoint and WEAVER_ALPACA_LIVE=true"
                        )));
                    }
                    (Mode::Paper, true) => {
                        return Err(Error::VenueIsLive(format!(
                            "venue {name} is configured for live trading (real money): start the run with mode live, or point APCA_API_BASE_URL at the paper endpoint"
                        )));
                    }
                    _ => Some(d),
                }
            }
        };
        let strategy = self
            .inner
            .walle
            .resolve_strategy(&spec.strategy)
            .await?
            .ok_or_else(|| Error::StrategyNotFound(spec.strategy_text()))?;
        match strategy.status {
            StrategyStatus::Ready => {}
            StrategyStatus::Disabled => return Err(Error::StrategyDisabled(strategy.id)),
            _ => return Err(Error::StrategyNotReady(strategy.id)),
        }
        match desk {
            Some(d) => start::start_on_desk(self, &strategy, spec, d).await,
            None if spec.venue == VenueName::SimLive => {
                sim_live::start(self, &strategy, spec, sim_live::market(self)?).await
            }
            None => start::start(self, &strategy, spec).await,
        }
    }

    /// Stops run `id`: its status becomes `stopped` and its task ends.
    ///
    /// # Errors
    /// [`Error::RunNotFound`], [`Error::RunNotActive`] unless it is `created` or `running`.
    pub async fn stop(&self, id: i64) -> Result<Run, Error> {
        let w = &self.inner.walle;
        let run = w.run(id).await?.ok_or(Error::RunNotFound(id))?;
        if !matches!(run.status, RunStatus::Created | RunStatus::Running) {
            return Err(Error::RunNotActive {
                id,
                status: run.status.as_str(),
            });
        }
        let stopped = w
            .update_run_status(id, RunStatus::Stopped, None, None)
            .await?;
        self.inner.active.cancel(id);
        Ok(stopped)
    }

    /// Resumes the runs an earlier process left `running` (see the module docs). Call once at
    /// start-up, after migrations and venue recovery, before serving.
    ///
    /// # Errors
    /// When the store cannot be read or written.
    pub async fn resume(&self) -> Result<Resumed, walle::Error> {
        resume::resume(self).await
    }

    /// The figures of run `id`: from this process while it executes the run, else the ones
    /// stored with its account row `stored` (at every heartbeat and when it ended); `None` for a
    /// run that never stored any.
    pub fn figures(&self, id: i64, stored: Option<&RunAccount>) -> Option<Figures> {
        self.inner.active.figures(id).or_else(|| {
            let value = stored?.figures.as_ref()?;
            serde_json::from_value(value.0.clone())
                .inspect_err(|e| tracing::warn!(run_id = id, "stored figures unreadable: {e}"))
                .ok()
        })
    }

    /// The account of `run`: from this process when it executes (or executed) the run, else
    /// the snapshot stored when it ended, else rebuilt from its stored orders.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn account(
        &self,
        run: &Run,
        stored: Option<&RunAccount>,
    ) -> Result<AccountState, walle::Error> {
        if let Some(a) = self.inner.active.account(run.id).await {
            return Ok(a);
        }
        let cash = stored.map_or(SIM_CASH, |a| a.cash);
        if let Some(snap) = stored.and_then(|a| a.snapshot.as_ref())
            && let Ok(a) = serde_json::from_value::<AccountState>(snap.0.clone())
        {
            return Ok(a);
        }
        if run.status == RunStatus::Created {
            return Ok(AccountState::untouched(cash));
        }
        let orders = start::run_orders(&self.inner.walle, run.id).await?;
        Ok(AccountState::from_orders(cash, &orders))
    }

    /// Run `id`'s log lines after `after` that `filter` keeps: from memory when it holds
    /// everything, else from WallE.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn logs(
        &self,
        id: i64,
        after: i64,
        limit: usize,
        filter: &LogFilter,
    ) -> Result<LogPage, walle::Error> {
        log_book::page(
            &self.inner.walle,
            self.inner.active.logs(id, after, limit, filter),
            id,
            after,
            limit,
            filter,
        )
        .await
    }

    /// Run `id`'s log lines with `after < seq < before` that `filter` keeps, newest first: from
    /// memory as far as it holds them, then from WallE.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn logs_newest(
        &self,
        id: i64,
        after: i64,
        before: i64,
        limit: usize,
        filter: &LogFilter,
    ) -> Result<LogPage, walle::Error> {
        log_book::page_newest(
            &self.inner.walle,
            self.inner
                .active
                .logs_newest(id, after, before, limit, filter),
            id,
            after,
            before,
            limit,
            filter,
        )
        .await
    }

    /// Sets `weaver_runs{status}` from the store (called when `/metrics` is scraped).
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn record_metrics(&self) -> Result<(), walle::Error> {
        let counts = self.inner.walle.run_status_counts().await?;
        for status in RunStatus::ALL {
            let n = counts
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map_or(0, |(_, n)| *n);
            metrics::gauge!("weaver_runs", "status" => status.as_str()).set(n as f64);
        }
        Ok(())
    }

    /// Stops the live venues' streams (at shutdown, after the runs' tasks were cancelled).
    pub fn shutdown_desks(&self) {
        for desk in self.inner.desks.values() {
            desk.shutdown();
        }
    }
}
