//! Promotion and rollback (ADR 0019): a running run switches its strategy to another version
//! of the same strategy (or the same with other parameters), at the next bar boundary, on its
//! own task; its orders and positions stay the run's (its journal and venue account are not
//! touched). The new version's state is rebuilt by replaying every envelope the run's strategy
//! answered so far (intents discarded), or, with `state: fresh`, by a warm-up on the last bars
//! the run got (its declared warm-up). Within `auto_rollback_bars` bars after a promotion, a
//! trap of the new version or a broken risk rule rolls the run back to the version before.
//!
//! # Layout
//! - `board`: what the run's task and the API share (the history a switch replays, the
//!   pending switch, the risk breaks, the writer of the outcomes).
//! - `switching`: the strategy the run's runner holds, which makes the switches.
//! - this file: asking for a promotion or a rollback, and the version history.
//!
//! # Invariants
//! - A switch is only asked for a version of the run's own strategy name that is ready
//!   (`promote_other_strategy`, `promote_strategy_not_ready`), loaded and initialised with its
//!   parameters under the run's sandbox limits before anything is stored (a refusal stores
//!   nothing), while the run executes in this process (`run_not_active`), one at a time
//!   (`switch_pending`).
//! - A switch never happens mid-bar: the runner's task makes it before telling a bar; a switch
//!   that fails (the replay traps) leaves the version that ran, recorded `failed`.
//! - The run row names the version its task runs (see `walle::run_versions`): a resume after a
//!   restart runs that version (on `sim` replaying from the first bar with it).

mod board;
mod switching;

use std::sync::Arc;

use serde_json::Value;

pub use board::MAX_HISTORY;
pub(crate) use board::{Boards, History};

use super::start::{Setup, load_sandbox};
use super::{Error, Runs};
use crate::domain::text_params;
use crate::walle::{self, NewRunVersion, Run, RunStatus, RunVersion, StrategyRef, StrategyStatus};
use board::{Board, Fallback, Pending};

/// Bars watched after a promotion unless asked otherwise.
pub const DEFAULT_AUTO_ROLLBACK_BARS: u32 = 20;

/// The version to promote.
#[derive(Debug, Clone)]
pub enum Target {
    /// A version of the run's strategy name.
    Strategy(StrategyRef),
    /// The version and parameters of one of the run's shadows.
    Shadow(i64),
}

/// What `POST /runs/{id}/promote` asks for.
#[derive(Debug, Clone)]
pub struct Promotion {
    /// The version.
    pub target: Target,
    /// Its parameters (default: the shadow's, else the run's).
    pub params: Option<serde_json::Map<String, Value>>,
    /// Warm-up from the last bars instead of a replay of the run's envelopes.
    pub fresh: bool,
    /// Bars after the switch within which a trap or a broken risk rule rolls back (0: never).
    pub auto_rollback_bars: u32,
}

/// A row of a run's version history with its strategy's name and version label.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionEntry {
    /// The row.
    pub row: RunVersion,
    /// The strategy's name.
    pub strategy_name: String,
    /// Its version label.
    pub strategy_version: String,
}

/// The strategy `run`'s task is handed: the run's sandbox in a [`switching::Switching`] with
/// its board registered (removed by [`run_ended`]).
pub(crate) fn switching(
    runs: &Runs,
    current: super::metered::Metered,
    live: Arc<super::active::Live>,
) -> (impl crate::domain::Strategy + use<>, Arc<Board>) {
    let board = Board::new(live.id, runs.inner.walle.clone(), &runs.inner.tasks);
    runs.inner.promotions.insert(board.clone());
    (
        switching::Switching::new(current, board.clone(), live),
        board,
    )
}

/// Run `run_id` ended (or never got to its bars): a switch still pending fails with `code`.
pub(crate) async fn run_ended(runs: &Runs, run_id: i64, code: &str) {
    runs.inner.promotions.remove(run_id);
    let w = &runs.inner.walle;
    match w.pending_run_versions(run_id).await {
        Ok(seqs) => {
            for seq in seqs {
                if let Err(e) = w.fail_run_version(run_id, seq, code).await {
                    tracing::error!(run_id, code = e.code(), "pending switch not ended: {e}");
                }
            }
        }
        Err(e) => tracing::error!(run_id, code = e.code(), "pending switches unreadable: {e}"),
    }
}

impl Runs {
    /// Asks run `run_id` to switch to another version at its next bar (see the module docs).
    ///
    /// # Errors
    /// [`Error::RunNotFound`], [`Error::RunNotActive`], [`Error::StrategyNotFound`],
    /// [`Error::Invalid`] (`promote_other_strategy`, `promote_strategy_not_ready`,
    /// `replay_unavailable`), [`Error::Store`] (`not_found` for an unknown shadow,
    /// `switch_pending`), the limits' or the guest's refusal ([`Error::Guest`]).
    pub async fn promote(&self, run_id: i64, req: Promotion) -> Result<VersionEntry, Error> {
        let w = &self.inner.walle;
        let (run, board) = self.switchable(run_id).await?;
        let (strategy, params, shadow_id) =
            match &req.target {
                Target::Strategy(r) => {
                    let s = w
                        .resolve_strategy(r)
                        .await?
                        .ok_or_else(|| Error::StrategyNotFound(super::shadows::strategy_text(r)))?;
                    let params = req
                        .params
                        .clone()
                        .map_or(run.params.0.clone(), Value::Object);
                    (s, params, None)
                }
                Target::Shadow(sid) => {
                    let shadow = w.shadow(*sid).await?.filter(|s| s.run_id == run_id).ok_or(
                        Error::Store(walle::Error::NotFound {
                            entity: "shadow",
                            key: sid.to_string(),
                        }),
                    )?;
                    let s = w
                        .strategy(shadow.strategy_id)
                        .await?
                        .ok_or(Error::StrategyNotFound(shadow.strategy_id.to_string()))?;
                    let params = req.params.clone().map_or(shadow.params.0, Value::Object);
                    (s, params, Some(*sid))
                }
            };
        let own = self.own_strategy(&run).await?;
        if strategy.name != own.name {
            return Err(Error::invalid(
                "promote_other_strategy",
                format!(
                    "strategy {} is a version of {}, run {run_id} runs {}: a run is promoted to a version of its own strategy",
                    strategy.id, strategy.name, own.name
                ),
            ));
        }
        if strategy.status != StrategyStatus::Ready {
            return Err(Error::invalid(
                "promote_strategy_not_ready",
                format!(
                    "strategy {} ({} {}) is not ready",
                    strategy.id, strategy.name, strategy.version
                ),
            ));
        }
        if !req.fresh && !board.history.complete() {
            return Err(Error::invalid(
                "replay_unavailable",
                format!(
                    "run {run_id} got more than {MAX_HISTORY} envelopes since it started: they cannot all be replayed; ask for state fresh"
                ),
            ));
        }
        let sandbox = self.sandbox_of(&run, &strategy, &params).await?;
        let fallback = if req.auto_rollback_bars > 0 {
            Some(Fallback {
                sandbox: self.sandbox_of(&run, &own, &run.params.0).await?,
                strategy_id: own.id,
                params: run.params.0.clone(),
            })
        } else {
            None
        };
        let new = NewRunVersion {
            strategy_id: strategy.id,
            params,
            reason: "promote",
            state: if req.fresh { "fresh" } else { "replay" },
            shadow_id,
            auto_rollback_bars: req.auto_rollback_bars,
        };
        self.ask_switch(&board, run_id, new, sandbox, fallback)
            .await
    }

    /// Asks run `run_id` to go back to the version it ran before its current one, with that
    /// version's parameters, at its next bar (state replayed).
    ///
    /// # Errors
    /// As [`Runs::promote`]; [`Error::Store`] `no_previous_version` when it never switched.
    pub async fn rollback(&self, run_id: i64) -> Result<VersionEntry, Error> {
        let w = &self.inner.walle;
        let (run, board) = self.switchable(run_id).await?;
        let rows = w.run_versions(run_id).await?;
        let ran: Vec<&RunVersion> = rows
            .iter()
            .filter(|v| matches!(v.status.as_str(), "active" | "superseded"))
            .collect();
        let previous = ran
            .iter()
            .rposition(|v| v.status == "active")
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| ran.get(i))
            .ok_or(Error::Store(walle::Error::Conflict {
                code: "no_previous_version",
                message: format!("run {run_id} has run one version only"),
            }))?;
        let strategy = w
            .strategy(previous.strategy_id)
            .await?
            .filter(|s| s.status == StrategyStatus::Ready)
            .ok_or_else(|| {
                Error::invalid(
                    "promote_strategy_not_ready",
                    format!("strategy {} is gone or not ready", previous.strategy_id),
                )
            })?;
        if !board.history.complete() {
            return Err(Error::invalid(
                "replay_unavailable",
                format!("run {run_id} got more than {MAX_HISTORY} envelopes since it started"),
            ));
        }
        let params = previous.params.0.clone();
        let sandbox = self.sandbox_of(&run, &strategy, &params).await?;
        let new = NewRunVersion {
            strategy_id: strategy.id,
            params,
            reason: "rollback",
            state: "replay",
            shadow_id: None,
            auto_rollback_bars: 0,
        };
        self.ask_switch(&board, run_id, new, sandbox, None).await
    }

    /// Run `run_id`'s version history, oldest first: its start (read off the run row when it
    /// never switched), then every switch asked for.
    ///
    /// # Errors
    /// [`Error::RunNotFound`], [`Error::Store`].
    pub async fn versions(&self, run_id: i64) -> Result<Vec<VersionEntry>, Error> {
        let w = &self.inner.walle;
        let run = w.run(run_id).await?.ok_or(Error::RunNotFound(run_id))?;
        let mut rows = w.run_versions(run_id).await?;
        if rows.is_empty() {
            let since = run.started_at.unwrap_or(run.created_at);
            rows.push(RunVersion {
                run_id,
                seq: 1,
                strategy_id: run.strategy_id,
                params: run.params.clone(),
                reason: "start".to_owned(),
                state: "replay".to_owned(),
                shadow_id: None,
                status: "active".to_owned(),
                requested_at: since,
                switched_at: Some(since),
                at_bar: None,
                replayed: None,
                error_code: None,
                auto_rollback_bars: 0,
            });
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.entry(row).await?);
        }
        Ok(out)
    }

    async fn entry(&self, row: RunVersion) -> Result<VersionEntry, Error> {
        let s = self.inner.walle.strategy(row.strategy_id).await?;
        Ok(VersionEntry {
            strategy_name: s.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
            strategy_version: s.map(|s| s.version).unwrap_or_default(),
            row,
        })
    }

    /// The run and its board, while it executes in this process.
    async fn switchable(&self, run_id: i64) -> Result<(Run, Arc<Board>), Error> {
        let run = self
            .inner
            .walle
            .run(run_id)
            .await?
            .ok_or(Error::RunNotFound(run_id))?;
        let active = self
            .inner
            .active
            .live(run_id)
            .is_some_and(|l| l.is_active());
        match self.inner.promotions.get(run_id) {
            Some(board) if active && run.status == RunStatus::Running => Ok((run, board)),
            _ => Err(Error::RunNotActive {
                id: run_id,
                status: run.status.as_str(),
            }),
        }
    }

    async fn own_strategy(&self, run: &Run) -> Result<walle::Strategy, Error> {
        self.inner
            .walle
            .strategy(run.strategy_id)
            .await?
            .ok_or(Error::StrategyUnavailable(format!(
                "the strategy of run {} is gone",
                run.id
            )))
    }

    /// `strategy` loaded and initialised with `params` under `run`'s sandbox limits (checked
    /// against the operator's ceilings now, as a run start is).
    async fn sandbox_of(
        &self,
        run: &Run,
        strategy: &walle::Strategy,
        params: &Value,
    ) -> Result<crate::marvin::Sandbox, Error> {
        let limits = super::shadows::limits_of(run)?;
        limits.check(&self.inner.marvin.config().ceilings)?;
        let setup = Setup {
            params: text_params(params.as_object()),
            symbols: run.symbols.0.clone(),
            timeframe: super::shadows::timeframe_of(run)?,
            cash: 0.0,
            limits,
        };
        load_sandbox(self, strategy, &setup).await
    }

    /// Stores the pending switch and hands it to the run's task, one request at a time.
    async fn ask_switch(
        &self,
        board: &Board,
        run_id: i64,
        new: NewRunVersion,
        sandbox: crate::marvin::Sandbox,
        fallback: Option<Fallback>,
    ) -> Result<VersionEntry, Error> {
        if !board.reserve() {
            return Err(pending_already(run_id));
        }
        let row = match self.inner.walle.insert_run_version(run_id, &new).await {
            Ok(row) => row,
            Err(e) => {
                board.release(None);
                return Err(e.into());
            }
        };
        board.release(Some(Pending {
            seq: row.seq,
            strategy_id: new.strategy_id,
            fresh: new.state == "fresh",
            sandbox,
            fallback,
            auto_rollback_bars: new.auto_rollback_bars,
        }));
        self.entry(row).await
    }
}

fn pending_already(run_id: i64) -> Error {
    Error::Store(walle::Error::Conflict {
        code: "switch_pending",
        message: format!("run {run_id} has a switch pending already (it happens at the next bar)"),
    })
}
