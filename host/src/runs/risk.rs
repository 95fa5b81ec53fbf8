//! A run's risk limits: resolved when it is created, stored with it, changed while it runs.
//!
//! - On Alpaca (paper and live alike, so a strategy meets on paper what it will meet live) a run
//!   starts from the operator's defaults ([`RiskLimits::alpaca_defaults`] for its symbols with
//!   `WEAVER_RISK_DEFAULTS` applied); on the simulated exchange from none, so a paper run there
//!   stays equal to its backtest. The request's `risk` object is applied over that: an absent
//!   key keeps the default, `null` turns it off, a value sets it.
//! - `PATCH /runs/{id}/risk` applies a patch the same way to what the run has, stores it with a
//!   `risk.LimitsChanged` event (old and new), and the running run checks its next order with it.
//!
//! # Invariants
//! - What is stored is the whole object, every key, validated: a bad key or value is refused
//!   with the field named and changes nothing.
//! - The stored limits are the run's for its life: a restart resumes with them, not with the
//!   operator's defaults of the day.

use std::sync::{Arc, PoisonError, RwLock};

use super::spec::{RunSpec, VenueName};
use super::{Error, Runs};
use crate::veda::risk::{LimitError, RiskLimits, RiskLimitsPatch, defaults_from_env};
use crate::walle::Run;

/// The limits a running run checks its orders against, shared with the API that changes them.
pub(crate) type SharedLimits = Arc<RwLock<RiskLimits>>;

impl From<LimitError> for Error {
    fn from(e: LimitError) -> Error {
        Error::InvalidRisk {
            field: e.field,
            message: e.message,
        }
    }
}

/// The limits a run of `spec` starts with (see the module docs).
///
/// # Errors
/// [`Error::InvalidRisk`] naming the field.
pub(crate) fn resolve(defaults: Option<&str>, spec: &RunSpec) -> Result<RiskLimits, Error> {
    let base = match spec.venue {
        VenueName::Sim | VenueName::SimLive => RiskLimits::default(),
        VenueName::Alpaca => defaults_from_env(defaults, &spec.symbols)?,
    };
    Ok(match &spec.risk {
        Some(patch) => base.apply(&RiskLimitsPatch::from_json(patch)?)?,
        None => base,
    })
}

/// The limits stored with `run` (none when it has none).
pub(crate) fn of_run(run: &Run) -> RiskLimits {
    run.risk
        .as_ref()
        .and_then(|j| {
            RiskLimits::from_json(&j.0)
                .inspect_err(|e| {
                    // Stored by this code after validation; unreadable means a newer writer.
                    tracing::error!(run_id = run.id, "stored risk limits unreadable: {e}");
                })
                .ok()
        })
        .unwrap_or_default()
}

impl Runs {
    /// Applies `patch` (a partial `risk` object) to run `id`'s limits, stores them with their
    /// `risk.LimitsChanged` event and hands them to the run if this process executes it.
    ///
    /// # Errors
    /// [`Error::RunNotFound`]; [`Error::RunNotActive`] unless it is `created` or `running`;
    /// [`Error::InvalidRisk`] naming the field (nothing changed).
    pub async fn patch_risk(&self, id: i64, patch: &serde_json::Value) -> Result<Run, Error> {
        let w = &self.inner.walle;
        let run = w.run(id).await?.ok_or(Error::RunNotFound(id))?;
        if !matches!(
            run.status,
            crate::walle::RunStatus::Created | crate::walle::RunStatus::Running
        ) {
            return Err(Error::RunNotActive {
                id,
                status: run.status.as_str(),
            });
        }
        let limits = of_run(&run).apply(&RiskLimitsPatch::from_json(patch)?)?;
        self.store_risk(id, limits).await
    }

    /// Replaces run `id`'s limits with `limits` (a simulated run's account limits,
    /// `PUT /accounts/sim/{id}/risk`): stored with their event, handed to the running run.
    ///
    /// # Errors
    /// As [`Runs::patch_risk`].
    pub async fn set_risk(&self, id: i64, limits: RiskLimits) -> Result<Run, Error> {
        let run = self
            .inner
            .walle
            .run(id)
            .await?
            .ok_or(Error::RunNotFound(id))?;
        if !matches!(
            run.status,
            crate::walle::RunStatus::Created | crate::walle::RunStatus::Running
        ) {
            return Err(Error::RunNotActive {
                id,
                status: run.status.as_str(),
            });
        }
        self.store_risk(id, limits).await
    }

    async fn store_risk(&self, id: i64, limits: RiskLimits) -> Result<Run, Error> {
        limits.validate()?;
        let value = serde_json::to_value(&limits)
            .map_err(|e| Error::Internal(format!("limits not storable: {e}")))?;
        let stored = self.inner.walle.set_run_risk(id, &value).await?;
        if let Some(shared) = self.inner.active.limits(id) {
            *shared.write().unwrap_or_else(PoisonError::into_inner) = limits;
        }
        Ok(stored)
    }
}

/// What the run's guard kept at its last stored figures: the whole state for a run on a live
/// venue (it goes on where it was), only the state set by hand for a simulated run (its resume
/// replays its bars from the start, which rebuilds the rest).
pub(crate) async fn stored_guard(
    walle: &crate::walle::Walle,
    id: i64,
    whole: bool,
) -> Option<crate::veda::risk::GuardState> {
    let stored = walle.run_account(id).await.ok().flatten()?;
    let figures: super::Figures = serde_json::from_value(stored.figures?.0).ok()?;
    let state = figures.risk_guard?;
    Some(if whole {
        state
    } else {
        crate::veda::risk::GuardState {
            manual: state.manual,
            ..Default::default()
        }
    })
}

/// After each bar's check: keeps the guard's state with the run's figures (stored at every
/// heartbeat), and turns each breach into a `risk.LimitBreached` event and a log line.
pub(crate) fn on_guard(
    live: &super::active::Live,
    breaches: &[crate::veda::risk::Breach],
    state: &crate::veda::risk::GuardState,
) {
    live.figures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .risk_guard = Some(state.clone());
    for b in breaches {
        live.logs.push(
            "warn",
            format!(
                "risk: {} tripped ({} against a limit of {}): the run is {}{}",
                b.rule.key(),
                b.figure,
                b.limit,
                b.state.as_str(),
                b.until
                    .map(|u| format!(" until {}", u.to_rfc3339()))
                    .unwrap_or_default()
            ),
        );
        let payload = crate::events::payloads::LimitBreached {
            run_id: live.id,
            rule: b.rule.key().to_owned(),
            figure: b.figure,
            limit: b.limit,
            state: b.state.as_str().to_owned(),
            at: b.ts,
            until: b.until,
        };
        match crate::events::Envelope::new("risk.LimitBreached", "veda", payload) {
            Ok(e) => live.decisions.record(Some(e.for_run(live.id))),
            Err(e) => tracing::error!(run_id = live.id, "breach not recorded: {e}"),
        }
    }
}

/// A run's own state as its guard left it: the state set by hand, made stricter by a daily-loss
/// or drawdown breach in force (a cooldown ends by itself at a bar time, so it is shown apart).
pub fn own_state(guard: Option<&crate::veda::risk::GuardState>) -> crate::veda::risk::TradingState {
    let Some(g) = guard else {
        return crate::veda::risk::TradingState::Active;
    };
    [g.daily_loss, g.drawdown]
        .into_iter()
        .flatten()
        .fold(g.manual, |acc, b| acc.stricter(b.state))
}
