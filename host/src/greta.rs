//! Greta: event-driven backtests over OHLCV bars.
//!
//! A run loads one or several symbols' bars ([`csv`]), aligns them by timestamp, and drives a
//! [`crate::domain::Strategy`] (a Marvin sandbox, or native code) with the same events a live run
//! gets: lifecycle transitions, bars, order updates, account snapshots and data windows. The strategy's intents go to a
//! simulated broker ([`broker`]); the run ends with metrics ([`metrics`]) computed with the same
//! formulas as backtesting.py 0.6.6, so results can be checked against an established engine
//! trade for trade (`docs/adr/0005-reference-exact-fills.md`).
//!
//! What a backtest is (strategy, bars, engine settings) is a [`BacktestSpec`] ([`spec`]):
//! `weaver backtest` builds one from its flags and `POST /backtests` from its request, and both
//! get their [`EngineConfig`] and strategy factory from it. A component strategy is loaded
//! through the caller's [`crate::marvin::Marvin`] (the server passes its shared one); the engine
//! itself only drives a [`crate::domain::Strategy`] and never sees the sandbox. The server's
//! queued backtests over stored candles are [`jobs::Jobs`]; its parameter sweeps
//! ([`sweeps`]: space, method, objective, constraints) are [`sweep_jobs::Sweeps`], which share
//! the backtests' slots and memory budget.
//!
//! # Events a strategy gets
//! The same envelope sequence as a paper or live run ([`crate::veda::live`]), from the same
//! [`crate::domain::cues::Cues`]: `Lifecycle(Started)` and an `Account` snapshot first; then,
//! per timestamp, the `OrderUpdate`s of that bar's fills and cancellations followed (after a
//! fill) by one `Account` snapshot ([`broker::Broker::snapshot`], which the simulated exchange
//! tells too), then the bars.
//! Orders that can rest (limit, stop, stop-limit) are acknowledged with an `Accepted` update as
//! soon as they are placed, so the strategy learns the id to cancel them by; market orders
//! resolve at their symbol's next bar, before the strategy sees it, and report only `Filled` or
//! `Cancelled` (with the reason, e.g. insufficient cash). Rejected intents are answered at once.
//! `FetchWindow` is answered with the loaded bars up to the current one (a declared series: the
//! bars that closed by the current bar's close). `Lifecycle(Stopping)`
//! ends the run.
//!
//! # Reproducing backtesting.py 0.6.6
//! `weaver backtest --strategy strategies/dist/sma-cross.wasm --data GOOG.csv --cash 10000
//! --commission 0.002` reproduces
//! `testdata/generated/reference/GOOG-smacross-10-20.json` (made by `scripts/testdata.sh`; add
//! `--param slow=30 --commission 0 --finalize` for the test-suite run). The warm-up only sets
//! where buy & hold starts (the reference starts it where its indicators are first defined);
//! sma-cross declares it (`max(fast, slow) - 1`) and `--warmup` overrides it; everything else
//! is the default configuration.
//!
//! # Declared series
//! A strategy may read other timeframes or symbols it declared in `init` (contract 0.3); their
//! windows come from stored candles or are aggregated from the run's bars, and never hold a bar
//! that closes after the current one ([`series`]).
//!
//! # Invariants
//! - Per-bar work is O(open trades + pending orders), never O(past trades or events): closed
//!   trades are only appended, and every statistic over them is computed once, at the end.
//! - The strategy sees bar `i` only after the broker has processed bar `i`'s fills and the
//!   strategy has been told about them; consecutive bars with nothing else happening in between
//!   are delivered as one [`crate::domain::Strategy::on_bars`] batch, with exactly the same
//!   semantics as one event per bar.
//! - Bad input (CSV, parameters, strategy) is an [`Error`] with a stable code, never a panic.

pub mod bar_cache;
pub mod broker;
pub mod budget;
pub mod by_symbol;
pub mod csv;
pub mod engine;
pub mod external;
pub mod jobs;
pub mod metrics;
pub mod native;
pub mod overfit;
pub mod overfitting;
pub mod prepare;
pub mod report;
pub mod sample;
pub mod series;
pub mod spec;
pub mod stored;
pub mod sweep;
pub mod sweep_chunks;
pub mod sweep_jobs;
pub mod sweeps;
pub mod synth;
pub mod timeline;
pub mod walkforward;
pub mod walkforward_jobs;

pub use broker::fills::{CommissionModel, FillOptions, Remainder, VolumeShare};
pub use broker::{Commission, FillModel};
pub use csv::Series;
pub use engine::{Backtest, EngineConfig, RunResult, StrategyFactory};
pub use spec::{
    BacktestSpec, DataFile, DataWindow, FillSettings, InvalidSetting, StoredWindow,
    StrategyBuilder, StrategySource,
};

use crate::domain::StrategyError;

/// Why a backtest could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A data file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A data file is malformed; `line` is 1-based.
    #[error("{path}:{line}: {message}")]
    Csv {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The run configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The strategy failed (trap, budget, its own error).
    #[error("strategy failed: {0}")]
    Strategy(#[from] StrategyError),
    /// No native strategy has this name.
    #[error("unknown native strategy {0:?} (available: native:sma-cross)")]
    UnknownNative(String),
    /// The strategy component file does not exist.
    #[error("strategy file {0} does not exist or is not a file")]
    ComponentMissing(String),
    /// The sandbox refused or could not load the strategy component.
    #[error("strategy {path}: {error} ({})", error.code())]
    Component {
        /// The component file.
        path: String,
        /// Marvin's error; its code is this error's code.
        error: crate::marvin::Error,
    },
}

impl Error {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "data_io",
            Error::Csv { .. } => "data_invalid_csv",
            Error::Config(_) => "invalid_config",
            Error::Strategy(_) => "strategy_failed",
            Error::UnknownNative(_) => "unknown_strategy",
            Error::ComponentMissing(_) => "strategy_unavailable",
            Error::Component { error, .. } => error.code(),
        }
    }
}
