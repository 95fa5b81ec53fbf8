//! Resuming the runs an earlier process left `running` (a crash) or `suspended` (a shutdown; see
//! [`super`]'s module docs): runs on
//! the simulated exchange by deterministic replay, runs on a live venue by recovery and
//! reconciliation; runs left `stopping` are marked `stopped`.
//!
//! # Invariants
//! - A resumed run gets the sandbox limits it asked for when it started (stored with it; an
//!   operator who lowered a ceiling below them since makes it fail `resume_failed`, the refusal
//!   logged; it never runs with less than it asked for).
//! - A run that cannot be resumed is marked `failed` with a stable code and a log line saying
//!   why: `strategy_unavailable` (the component is gone or no longer ready), `no_candles`,
//!   `venue_unavailable`, `venue_mode_changed`, `venue_unreconciled`, `interrupted` (a paper
//!   run that is not on the simulated exchange) or `resume_failed` (anything else, such as the
//!   strategy refusing to start again).

use chrono::Utc;

use super::spec::LiveBarOptions;
use super::start::{
    Continue, Exec, Launch, Setup, journaled_intents, launch, load_sandbox, order_scope, prepare,
    warmup_text,
};
use super::{Error, Runs, SIM_CASH};
use crate::domain::{Timeframe, text_params};
use crate::marvin::LimitRequest;
use crate::walle::{
    self, Run, RunAccount, RunLogLine, RunMode, RunStatus, Strategy as StoredStrategy,
    StrategyStatus,
};

/// Why one run was not resumed: the code stored as its `error_code`, and the message logged.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NotResumed {
    code: &'static str,
    message: String,
}

impl NotResumed {
    fn new(code: &'static str, message: impl Into<String>) -> NotResumed {
        NotResumed {
            code,
            message: message.into(),
        }
    }
}

impl From<walle::Error> for NotResumed {
    fn from(e: walle::Error) -> Self {
        NotResumed::new("resume_failed", e.to_string())
    }
}

impl From<Error> for NotResumed {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::StrategyUnavailable(_) => "strategy_unavailable",
            Error::NoCandles(_) => "no_candles",
            _ => "resume_failed",
        };
        NotResumed::new(code, e.to_string())
    }
}

/// What [`resume`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resumed {
    /// Runs running again.
    pub resumed: Vec<i64>,
    /// Runs that could not be resumed, marked `failed` (run id, code).
    pub failed: Vec<(i64, String)>,
    /// Runs that were stopping, marked `stopped`.
    pub stopped: Vec<i64>,
}

/// Resumes the paper runs an earlier process left `running` (see the module docs). Runs left
/// `stopping` are marked `stopped`; runs that cannot be resumed are marked `failed` with
/// `strategy_unavailable` (the component is gone or no longer ready), `no_candles`,
/// `resume_failed` (the strategy refused to start again) or `interrupted` (not a paper run on
/// the simulated exchange). Call once at start-up, after migrations and before serving.
///
/// # Errors
/// When the store cannot be read or written.
pub(crate) async fn resume(state: &Runs) -> Result<Resumed, walle::Error> {
    let w = &state.inner.walle;
    let mut done = Resumed::default();
    for run in w
        .runs(Some(RunStatus::Stopping), i64::from(i32::MAX))
        .await?
    {
        w.update_run_status(run.id, RunStatus::Stopped, None, None)
            .await?;
        done.stopped.push(run.id);
    }
    // Runs a shutdown suspended resume as runs a crash left running do.
    for run in w
        .runs(Some(RunStatus::Suspended), i64::from(i32::MAX))
        .await?
    {
        w.update_run_status(run.id, RunStatus::Running, None, None)
            .await?;
    }
    let mut runs = w
        .runs(Some(RunStatus::Running), i64::from(i32::MAX))
        .await?;
    runs.reverse();
    for run in runs {
        match resume_one(state, &run).await {
            Ok(()) => done.resumed.push(run.id),
            Err(NotResumed { code, message }) => {
                tracing::warn!(run_id = run.id, code, "run not resumed: {message}");
                let last = w.last_run_log_seq(run.id).await.unwrap_or(0);
                let line = RunLogLine {
                    seq: last + 1,
                    ts: Utc::now(),
                    level: "error".into(),
                    message: format!("not resumed after a restart ({code}): {message}"),
                };
                w.append_run_logs(run.id, &[line]).await?;
                w.update_run_status(run.id, RunStatus::Failed, Some(code), None)
                    .await?;
                done.failed.push((run.id, code.to_owned()));
            }
        }
    }
    super::shadows::resume(state, &done.resumed).await;
    Ok(done)
}

/// What a stored run executes: its strategy (still `ready`), its spec (cash from its account,
/// else `default_cash`) and its account row.
async fn stored_run(
    state: &Runs,
    run: &Run,
    default_cash: f64,
) -> Result<(StoredStrategy, Setup, Option<RunAccount>), NotResumed> {
    let w = &state.inner.walle;
    let strategy = w
        .strategy(run.strategy_id)
        .await?
        .filter(|s| s.status == StrategyStatus::Ready)
        .ok_or_else(|| {
            NotResumed::new(
                "strategy_unavailable",
                format!("strategy {} is gone or not ready", run.strategy_id),
            )
        })?;
    let account = w.run_account(run.id).await?;
    let timeframe: Timeframe = run
        .timeframe
        .parse()
        .map_err(|e| NotResumed::new("resume_failed", format!("{e}")))?;
    let limits = match &run.limits {
        Some(stored) => serde_json::from_value::<LimitRequest>(stored.0.clone()).map_err(|e| {
            NotResumed::new("resume_failed", format!("stored limits unreadable: {e}"))
        })?,
        None => LimitRequest::default(),
    };
    let spec = Setup {
        params: text_params(run.params.0.as_object()),
        symbols: run.symbols.0.clone(),
        timeframe,
        cash: account.as_ref().map_or(default_cash, |a| a.cash),
        limits,
    };
    Ok((strategy, spec, account))
}

async fn resume_one(state: &Runs, run: &Run) -> Result<(), NotResumed> {
    if run.venue == crate::veda::sim::LIVE_VENUE {
        return resume_sim_live(state, run).await;
    }
    if run.venue != "sim" {
        return resume_on_desk(state, run).await;
    }
    if run.mode != RunMode::Paper {
        return Err(NotResumed::new(
            "interrupted",
            "only paper runs on the simulated exchange are resumed",
        ));
    }
    let w = &state.inner.walle;
    let (strategy, setup, account) = stored_run(state, run, SIM_CASH).await?;
    let (sandbox, sim) = prepare(state, &strategy, &setup).await?;
    if account.is_none() {
        w.insert_run_account(run.id, setup.cash).await?;
    }
    let bars = account.map_or(0, |a| u64::try_from(a.bars).unwrap_or(0));
    let log_seq = w.last_run_log_seq(run.id).await?;
    let first = format!("run resumed after a restart: replaying {bars} bars again without pauses");
    launch(
        state,
        Launch {
            run,
            strategy: &strategy,
            sandbox,
            exec: Exec::Sim(sim),
            setup: &setup,
            from: Continue { bars, log_seq },
            first,
        },
    )
    .await;
    Ok(())
}

/// Resumes a `sim-live` run ([`super::sim_live`]): the live bars stored since it started are
/// replayed on a fresh exchange (the run is deterministic given its bars, so intents get the
/// sequence numbers and fills they had), then it trades on from the live stream.
async fn resume_sim_live(state: &Runs, run: &Run) -> Result<(), NotResumed> {
    let desk = super::sim_live::market(state)
        .map_err(|e| NotResumed::new("venue_unavailable", e.to_string()))?;
    let w = &state.inner.walle;
    let (strategy, setup, account) = stored_run(state, run, SIM_CASH).await?;
    let sandbox = load_sandbox(state, &strategy, &setup).await?;
    let preamble = super::sim_live::preamble(state, run, &setup).await?;
    let replayed = preamble.len();
    // The bar options it started with, so its bars are built as before.
    let options = LiveBarOptions::from_stored(run.options.as_ref().map(|o| &o.0))?;
    // Its warm-up as at its start: told again before the stored bars since then.
    let (warmup, source) = options.resolve_warmup(sandbox.declaration().warmup);
    let options = LiveBarOptions {
        warmup: Some(warmup),
        ..options
    };
    let sim =
        super::sim_live::exchange(desk, &setup, options, preamble, Some(run.created_at)).await?;
    if account.is_none() {
        w.insert_run_account(run.id, setup.cash).await?;
    }
    let log_seq = w.last_run_log_seq(run.id).await?;
    let first = format!(
        "run resumed after a restart: replaying the {replayed} live bars stored since it started, then trading on {}'s live bars, {}",
        desk.name(),
        warmup_text(warmup, source)
    );
    launch(
        state,
        Launch {
            run,
            strategy: &strategy,
            sandbox,
            exec: Exec::Sim(sim),
            setup: &setup,
            from: Continue {
                bars: u64::try_from(replayed).unwrap_or(u64::MAX),
                log_seq,
            },
            first,
        },
    )
    .await;
    Ok(())
}

/// Resumes a run on a live venue: the venue must still be configured in the same mode (paper or
/// live), recovery must have succeeded and cleared the run's symbols; the strategy starts again
/// from its `init`, with the bar options it was started with and its warm-up again, on the next
/// live bar, and intent numbering continues after the journaled ones.
async fn resume_on_desk(state: &Runs, run: &Run) -> Result<(), NotResumed> {
    let desk = state.inner.desks.get(&run.venue).ok_or_else(|| {
        NotResumed::new(
            "venue_unavailable",
            format!("venue {} is not configured any more", run.venue),
        )
    })?;
    if (run.mode == RunMode::Live) != desk.is_live() {
        return Err(NotResumed::new(
            "venue_mode_changed",
            format!(
                "the run is {} but venue {} is now configured for {} trading",
                if run.mode == RunMode::Live {
                    "live"
                } else {
                    "paper"
                },
                run.venue,
                if desk.is_live() { "live" } else { "paper" }
            ),
        ));
    }
    let w = &state.inner.walle;
    let (strategy, setup, account) = stored_run(state, run, 0.0).await?;
    let report = desk.ready().await.map_err(|e| {
        NotResumed::new(
            "venue_unavailable",
            format!("venue {} could not be recovered: {e}", run.venue),
        )
    })?;
    report
        .check_run(&setup.symbols)
        .map_err(|e| NotResumed::new("venue_unreconciled", e.to_string()))?;
    let sandbox = load_sandbox(state, &strategy, &setup).await?;
    if account.is_none() {
        w.insert_run_account(run.id, setup.cash).await?;
    }
    let journaled = journaled_intents(w, run.id).await?;
    let scope = order_scope(run.id, &w.installation_id().await?);
    let log_seq = w.last_run_log_seq(run.id).await?;
    // The options it started with (the defaults for a run stored before they were kept).
    let options = LiveBarOptions::from_stored(run.options.as_ref().map(|o| &o.0))?;
    // The strategy starts again from its `init`, its state gone with the old process: it is
    // warmed up again as at the start (the last complete bars, now including ones it was told
    // live before the restart), so it does not trade blind for its lookback.
    let (warmup, source) = options.resolve_warmup(sandbox.declaration().warmup);
    let first = format!(
        "run resumed after a restart: venue {} recovered, trading again from the next bar ({journaled} intents journaled before), {}",
        run.venue,
        warmup_text(warmup, source)
    );
    let exec = Exec::Desk {
        desk: desk.clone(),
        scope,
        journaled,
        options: LiveBarOptions {
            warmup: Some(warmup),
            ..options
        },
    };
    launch(
        state,
        Launch {
            run,
            strategy: &strategy,
            sandbox,
            exec,
            setup: &setup,
            from: Continue { bars: 0, log_seq },
            first,
        },
    )
    .await;
    Ok(())
}
