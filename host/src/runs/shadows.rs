//! Shadow runs (ADR 0018): another version of a run's strategy, or the same with other
//! parameters, fed exactly the bars the run gets (its warm-up, and on Alpaca on a longer
//! timeframe the bars it built), at the same time, in its own sandbox; its
//! intents are recorded, checked against the run's risk limits and filled on its own simulated
//! exchange at the run's fill model (next open), never sent to a venue. Several per run; they
//! end with the run and are resumed with it after a restart.
//!
//! # Layout
//! - `feed`: the run's bars to its shadows (the tee on the run's bar stream, the hub, the
//!   market-data-only venue a shadow's exchange is built over).
//! - `task`: one shadow's task (its recorder, runner and exchange).
//! - this file: starting, listing, stopping and resuming shadows, and the diff with the run.
//!
//! # Invariants
//! - A shadow runs a ready version of the run's own strategy name (`shadow_other_strategy`,
//!   `shadow_strategy_not_ready` otherwise), under the run's sandbox limits checked against the
//!   operator's ceilings now, as a run start is; at most [`MAX_SHADOWS`] run at once per run.
//! - A shadow only starts while its run executes in this process (`run_not_active`).
//! - The diff compares order intents only (log intents are shown, not compared), bar time by
//!   bar time, up to the latest bar time both sides have recorded.

mod feed;
mod task;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::start::{Setup, load_sandbox};
use super::{Error, Runs};
use crate::domain::{Intent, Timeframe, text_params};
use crate::marvin::LimitRequest;
use crate::walle::{self, Run, RunStatus, Shadow, StrategyRef, StrategyStatus};

pub(crate) use feed::{Registry, built_bars, tee};

/// Most shadows one run has running at once.
pub const MAX_SHADOWS: usize = 8;

/// Most bar rows a diff lists (the divergences count them all).
pub const MAX_DIFF_BARS: usize = 2_000;

/// Most points of each equity curve in a diff (evenly thinned beyond).
pub const MAX_CURVE_POINTS: usize = 2_000;

/// What `POST /runs/{id}/shadows` asks for.
#[derive(Debug, Clone)]
pub struct ShadowStart {
    /// A version of the run's strategy name.
    pub strategy: StrategyRef,
    /// Its parameters (default: the run's).
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
}

/// One bar time where the run or the shadow had order intents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BarDiff {
    /// The bar time.
    pub bar_ts: DateTime<Utc>,
    /// The run's intents at that bar time (all its calls).
    pub run: Vec<Intent>,
    /// The shadow's.
    pub shadow: Vec<Intent>,
    /// Whether their order intents differ.
    pub diverges: bool,
}

/// One point of an equity curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EquityPoint {
    /// The bar time.
    pub ts: DateTime<Utc>,
    /// Equity after that bar.
    pub equity: f64,
}

/// A shadow beside its run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowDiff {
    /// The shadow.
    pub shadow: Shadow,
    /// Bar times compared up to (the latest both have recorded); `None` before any.
    pub compared_until: Option<DateTime<Utc>>,
    /// The first bar time where they differ; `None` when none does.
    pub first_divergence: Option<DateTime<Utc>>,
    /// Bar times where they differ.
    pub divergences: usize,
    /// Bar times where either had order intents, oldest first (at most [`MAX_DIFF_BARS`]).
    pub bars: Vec<BarDiff>,
    /// Whether `bars` was cut.
    pub truncated: bool,
    /// Where the run's curve comes from: `sim_account` (its simulated exchange, exact) or
    /// `venue_fills` (a live venue: its own fills over its baseline, marked at the latest
    /// closes), read at each bar while the shadow listened.
    pub run_equity_source: &'static str,
    /// The run's equity by bar.
    pub run_equity: Vec<EquityPoint>,
    /// The shadow's simulated equity by bar.
    pub shadow_equity: Vec<EquityPoint>,
}

impl Runs {
    /// Starts a shadow of run `run_id` (see the module docs).
    ///
    /// # Errors
    /// [`Error::RunNotFound`], [`Error::RunNotActive`], [`Error::StrategyNotFound`],
    /// [`Error::Invalid`] (`shadow_other_strategy`, `shadow_strategy_not_ready`,
    /// `shadow_limit`), the limits' or the guest's refusal
    /// ([`Error::Guest`], e.g. a contract this host cannot run), [`Error::Store`].
    pub async fn start_shadow(&self, run_id: i64, req: ShadowStart) -> Result<Shadow, Error> {
        let w = &self.inner.walle;
        let run = w.run(run_id).await?.ok_or(Error::RunNotFound(run_id))?;
        let live = self
            .inner
            .active
            .lock()
            .get(&run_id)
            .map(|e| e.live.clone())
            .filter(|l| l.is_active());
        let Some(live) = live.filter(|_| run.status == RunStatus::Running) else {
            return Err(Error::RunNotActive {
                id: run_id,
                status: run.status.as_str(),
            });
        };
        let strategy = w
            .resolve_strategy(&req.strategy)
            .await?
            .ok_or_else(|| Error::StrategyNotFound(strategy_text(&req.strategy)))?;
        let own = w
            .strategy(run.strategy_id)
            .await?
            .ok_or(Error::StrategyUnavailable(format!(
                "the strategy of run {run_id} is gone"
            )))?;
        if strategy.name != own.name {
            return Err(Error::invalid(
                "shadow_other_strategy",
                format!(
                    "strategy {} is a version of {}, run {run_id} runs {}: a shadow runs a version of the run's own strategy",
                    strategy.id, strategy.name, own.name
                ),
            ));
        }
        if strategy.status != StrategyStatus::Ready {
            return Err(Error::invalid(
                "shadow_strategy_not_ready",
                format!(
                    "strategy {} ({} {}) is {}, not ready",
                    strategy.id,
                    strategy.name,
                    strategy.version,
                    serde_json::to_value(strategy.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ),
            ));
        }
        let timeframe = timeframe_of(&run)?;
        if self.inner.shadows.running_of(run_id) >= MAX_SHADOWS {
            return Err(Error::invalid(
                "shadow_limit",
                format!("run {run_id} has {MAX_SHADOWS} shadows running already (the most)"),
            ));
        }
        let params = match req.params {
            Some(p) => serde_json::Value::Object(p),
            None => run.params.0.clone(),
        };
        let limits = limits_of(&run)?;
        // The budgets a run start is held to, checked now (a ceiling may have been lowered).
        limits.check(&self.inner.marvin.config().ceilings)?;
        let setup = Setup {
            params: text_params(params.as_object()),
            symbols: run.symbols.0.clone(),
            timeframe,
            cash: live.starting_cash,
            limits,
        };
        let sandbox = load_sandbox(self, &strategy, &setup).await?;
        let shadow = w.insert_shadow(run_id, strategy.id, &params).await?;
        task::launch(
            self,
            task::ShadowLaunch {
                shadow: shadow.clone(),
                sandbox,
                symbols: setup.symbols,
                timeframe,
                run: live,
                hub: self.inner.shadows.hub(run_id),
                seq: 0,
            },
        );
        Ok(shadow)
    }

    /// The shadows of run `run_id`, oldest first.
    ///
    /// # Errors
    /// [`Error::RunNotFound`], [`Error::Store`].
    pub async fn shadows(&self, run_id: i64) -> Result<Vec<Shadow>, Error> {
        let w = &self.inner.walle;
        w.run(run_id).await?.ok_or(Error::RunNotFound(run_id))?;
        Ok(w.run_shadows(run_id).await?)
    }

    /// Shadow `id` of run `run_id`.
    ///
    /// # Errors
    /// [`Error::Store`] `not_found` when the run has no such shadow.
    pub async fn shadow(&self, run_id: i64, id: i64) -> Result<Shadow, Error> {
        self.inner
            .walle
            .shadow(id)
            .await?
            .filter(|s| s.run_id == run_id)
            .ok_or_else(|| {
                Error::Store(walle::Error::NotFound {
                    entity: "shadow",
                    key: id.to_string(),
                })
            })
    }

    /// Stops shadow `id` of run `run_id` (its decisions stay); stopping one that ended already
    /// changes nothing.
    ///
    /// # Errors
    /// As [`Runs::shadow`].
    pub async fn stop_shadow(&self, run_id: i64, id: i64) -> Result<Shadow, Error> {
        self.shadow(run_id, id).await?;
        self.inner.walle.end_shadow(id, "stopped", None).await?;
        self.inner.shadows.cancel(id);
        self.shadow(run_id, id).await
    }

    /// Shadow `id` beside run `run_id`: their decisions bar time by bar time, the first
    /// divergence and both equity curves (see [`ShadowDiff`]).
    ///
    /// # Errors
    /// As [`Runs::shadow`].
    pub async fn shadow_diff(&self, run_id: i64, id: i64) -> Result<ShadowDiff, Error> {
        let shadow = self.shadow(run_id, id).await?;
        let w = &self.inner.walle;
        let run = w.run(run_id).await?.ok_or(Error::RunNotFound(run_id))?;
        let mut theirs: BTreeMap<DateTime<Utc>, Vec<Intent>> = BTreeMap::new();
        let (mut run_curve, mut shadow_curve) = (BTreeMap::new(), BTreeMap::new());
        let mut after = 0;
        loop {
            let page = w.shadow_decisions(id, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for d in page {
                theirs.entry(d.bar_ts).or_default().extend(d.intents.0);
                if let Some(e) = d.equity {
                    shadow_curve.insert(d.bar_ts, e);
                }
                if let Some(e) = d.run_equity {
                    run_curve.insert(d.bar_ts, e);
                }
            }
        }
        let simulated = matches!(run.venue.as_str(), "sim" | crate::veda::sim::LIVE_VENUE);
        let mut ours: BTreeMap<DateTime<Utc>, Vec<Intent>> = BTreeMap::new();
        let (mut after, mut newest) = (0, None);
        loop {
            let page = w.strategy_results(run_id, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for r in page {
                let Some(ts) = r.bar_ts else { continue };
                // A simulated run resumed after a restart replays from its first bar and records
                // those decisions again: the later pass stands (as the shadow's does).
                if simulated && newest.is_some_and(|n| ts < n) {
                    ours.split_off(&ts);
                    newest = Some(ts);
                }
                newest = Some(newest.map_or(ts, |n: DateTime<Utc>| n.max(ts)));
                ours.entry(ts).or_default().extend(r.intents.0);
            }
        }
        let (run_equity, shadow_equity) = thin(&run_curve, &shadow_curve);
        let first = theirs.keys().next().copied();
        let compared_until = match (ours.keys().last(), theirs.keys().last()) {
            (Some(a), Some(b)) => Some(*a.min(b)),
            _ => None,
        };
        let mut diff = ShadowDiff {
            shadow,
            compared_until,
            first_divergence: None,
            divergences: 0,
            bars: Vec::new(),
            truncated: false,
            run_equity_source: if matches!(run.venue.as_str(), "sim" | crate::veda::sim::LIVE_VENUE)
            {
                "sim_account"
            } else {
                "venue_fills"
            },
            run_equity,
            shadow_equity,
        };
        let (Some(first), Some(until)) = (first, compared_until) else {
            return Ok(diff);
        };
        let times: std::collections::BTreeSet<DateTime<Utc>> = ours
            .range(first..=until)
            .map(|(t, _)| *t)
            .chain(theirs.range(first..=until).map(|(t, _)| *t))
            .collect();
        for ts in times {
            let run = ours.get(&ts).cloned().unwrap_or_default();
            let shadow = theirs.get(&ts).cloned().unwrap_or_default();
            let (a, b) = (orders(&run), orders(&shadow));
            if a.is_empty() && b.is_empty() {
                continue;
            }
            let diverges = a != b;
            if diverges {
                diff.divergences += 1;
                diff.first_divergence.get_or_insert(ts);
            }
            if diff.bars.len() < MAX_DIFF_BARS {
                diff.bars.push(BarDiff {
                    bar_ts: ts,
                    run,
                    shadow,
                    diverges,
                });
            } else {
                diff.truncated = true;
            }
        }
        Ok(diff)
    }
}

/// The intents a diff compares: all but log lines.
fn orders(intents: &[Intent]) -> Vec<&Intent> {
    intents
        .iter()
        .filter(|i| !matches!(i, Intent::Log { .. }))
        .collect()
}

/// Both curves at the same bar times, at most [`MAX_CURVE_POINTS`] of them (evenly thinned,
/// the last kept), so the two can be read side by side.
fn thin(
    run: &BTreeMap<DateTime<Utc>, f64>,
    shadow: &BTreeMap<DateTime<Utc>, f64>,
) -> (Vec<EquityPoint>, Vec<EquityPoint>) {
    let times: std::collections::BTreeSet<DateTime<Utc>> =
        run.keys().chain(shadow.keys()).copied().collect();
    let step = times.len().div_ceil(MAX_CURVE_POINTS).max(1);
    let last = times.last().copied();
    let kept: Vec<DateTime<Utc>> = times
        .iter()
        .enumerate()
        .filter(|(i, t)| i % step == 0 || Some(**t) == last)
        .map(|(_, t)| *t)
        .collect();
    let pick = |curve: &BTreeMap<DateTime<Utc>, f64>| {
        kept.iter()
            .filter_map(|t| curve.get(t).map(|e| EquityPoint { ts: *t, equity: *e }))
            .collect()
    };
    (pick(run), pick(shadow))
}

pub(super) fn strategy_text(r: &StrategyRef) -> String {
    match r {
        StrategyRef::Id(id) => id.to_string(),
        StrategyRef::Name(n) => n.chars().take(100).collect(),
        StrategyRef::Version { name, version } => {
            format!(
                "{}@{}",
                name.chars().take(100).collect::<String>(),
                version.chars().take(100).collect::<String>()
            )
        }
    }
}

pub(super) fn timeframe_of(run: &Run) -> Result<Timeframe, Error> {
    run.timeframe
        .parse()
        .map_err(|e| Error::Internal(format!("run {} timeframe unreadable: {e}", run.id)))
}

pub(super) fn limits_of(run: &Run) -> Result<LimitRequest, Error> {
    match &run.limits {
        Some(stored) => serde_json::from_value(stored.0.clone())
            .map_err(|e| Error::Internal(format!("run {} limits unreadable: {e}", run.id))),
        None => Ok(LimitRequest::default()),
    }
}

/// Starts again the shadows a restart left `running`: those of the runs resumed (`resumed`)
/// follow them again (a shadow of a simulated run replays from the first bar as its run does,
/// so its decisions are made again, identically; one of a live run goes on from the next live
/// bar); the others end `failed` with `run_not_resumed`.
pub(crate) async fn resume(runs: &Runs, resumed: &[i64]) {
    let w = &runs.inner.walle;
    let shadows = match w.running_shadows().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(code = e.code(), "shadows not resumed: {e}");
            return;
        }
    };
    for s in shadows {
        if let Err(e) = resume_one(runs, &s, resumed).await {
            tracing::warn!(shadow_id = s.id, code = e.code(), "shadow not resumed: {e}");
            let code = if resumed.contains(&s.run_id) {
                "resume_failed"
            } else {
                "run_not_resumed"
            };
            if let Err(e) = w.end_shadow(s.id, "failed", Some(code)).await {
                tracing::error!(
                    shadow_id = s.id,
                    code = e.code(),
                    "shadow end not stored: {e}"
                );
            }
        }
    }
}

async fn resume_one(runs: &Runs, s: &Shadow, resumed: &[i64]) -> Result<(), Error> {
    let w = &runs.inner.walle;
    let run = w.run(s.run_id).await?.ok_or(Error::RunNotFound(s.run_id))?;
    let live = runs
        .inner
        .active
        .lock()
        .get(&s.run_id)
        .map(|e| e.live.clone())
        .filter(|_| resumed.contains(&s.run_id))
        .ok_or(Error::RunNotActive {
            id: run.id,
            status: run.status.as_str(),
        })?;
    let strategy = w
        .strategy(s.strategy_id)
        .await?
        .filter(|st| st.status == StrategyStatus::Ready)
        .ok_or_else(|| {
            Error::StrategyUnavailable(format!("strategy {} is gone or not ready", s.strategy_id))
        })?;
    let timeframe = timeframe_of(&run)?;
    let setup = Setup {
        params: text_params(s.params.0.as_object()),
        symbols: run.symbols.0.clone(),
        timeframe,
        cash: live.starting_cash,
        limits: limits_of(&run)?,
    };
    let sandbox = load_sandbox(runs, &strategy, &setup).await?;
    // A simulated run starts over from its first bar (`sim-live`: from the first live bar it
    // stored): so does its shadow, deciding again.
    let seq = if matches!(run.venue.as_str(), "sim" | crate::veda::sim::LIVE_VENUE) {
        w.delete_shadow_decisions(s.id, 0).await?;
        0
    } else {
        w.last_shadow_seq(s.id).await?
    };
    task::launch(
        runs,
        task::ShadowLaunch {
            shadow: s.clone(),
            sandbox,
            symbols: setup.symbols,
            timeframe,
            run: live,
            hub: runs.inner.shadows.hub(s.run_id),
            seq,
        },
    );
    Ok(())
}
