//! Runs on `sim-live`: paper runs on their own simulated exchange fed by Alpaca's live market
//! data ([`crate::veda::sim::LIVE_VENUE`], `SimVenue::live`). They start and resume like runs
//! on `sim` (an [`Exec::Sim`] with its own account of `cash`, default [`SIM_CASH`]), but their
//! bars are the Alpaca desk's shared 1-minute stream, so a candidate runs next to the live
//! version of a strategy on the same bars without touching the broker. They take every
//! timeframe Alpaca runs take: longer ones are built from the minutes by the exchange with the
//! aggregation of Alpaca runs (the run's bar options, on the venue's clock and calendar), and
//! each built bar is stored as a `live` candle of the run's timeframe, as Alpaca runs' are.
//!
//! Like Alpaca runs they get a warm-up before the first live bar (`warmup`, default the
//! strategy's declared one: [`super::warmup::warm_up`], from the stored candles, the missing
//! part downloaded from the Alpaca desk first; a venue error pauses the run), are told an
//! amended bar when a late minute changes one already stepped (`crate::veda::sim::live`: past
//! fills stand), and keep an input tape, so `POST /runs/{id}/replay` replays them on a fresh
//! exchange ([`super::replay`]).
//!
//! # Invariants
//! - Only market data is asked of the Alpaca desk (its bar subscription, historical bars,
//!   clock, calendar): never its recovery, order stream, orders or account. Its runs are not
//!   the desk's (its recovery filters runs by venue name).
//! - Paper only (refused at parse), and only when Alpaca is configured (`venue_unavailable`).
//! - A resumed run replays the live 1-minute bars stored since it started (aggregated again
//!   on a longer timeframe) before trading on, so its account and intent numbers continue
//!   where they were (nothing placed twice, nothing lost); its warm-up is the one it got at its
//!   start (the bars before its start, not before the resume), told before them.

use std::sync::Arc;

use chrono::{DateTime, DurationRound, Utc};

use super::spec::LiveBarOptions;
use super::start::{
    Continue, Exec, Launch, Setup, launch, load_sandbox, store_running, warmup_text,
};
use super::{Error, RunSpec, Runs, SIM_CASH};
use crate::domain::{Bar, Timeframe};
use crate::greta::broker::{BrokerConfig, Commission, FillModel};
use crate::veda::Venue;
use crate::veda::desk::Desk;
use crate::veda::live::LiveRunner;
use crate::veda::live::tape::WalleTape;
use crate::veda::sim::{Aggregation, LIVE_VENUE, SimVenue, WarmUp};
use crate::walle::{Run, Strategy as StoredStrategy, Walle};

/// The venue whose market data `sim-live` runs trade on.
const MARKET: &str = "alpaca";

/// The Alpaca desk `sim-live` reads its market data from.
///
/// # Errors
/// [`Error::VenueNotConfigured`] when Alpaca is not configured.
pub(crate) fn market(runs: &Runs) -> Result<&Desk, Error> {
    runs.inner.desks.get(MARKET).ok_or_else(|| {
        Error::VenueNotConfigured(format!(
            "venue {LIVE_VENUE} trades on Alpaca's live market data: set APCA_API_KEY_ID and APCA_API_SECRET_KEY (see .env.example)"
        ))
    })
}

/// The run's own simulated exchange over the desk's live bars, with `preamble` (stored live
/// 1-minute bars) replayed first; on a timeframe longer than a minute it builds the run's bars
/// as Alpaca runs do (`options`), on the venue's clock and calendar. `options.warmup` (resolved)
/// bars are told before its first bar, ending at the venue's now or at `as_of` (a resumed
/// run's start).
///
/// # Errors
/// [`Error::VenueUnreachable`] when the venue's clock or calendar cannot be read.
pub(crate) async fn exchange(
    desk: &Desk,
    setup: &Setup,
    options: LiveBarOptions,
    preamble: Vec<(String, Bar)>,
    as_of: Option<DateTime<Utc>>,
) -> Result<SimVenue, Error> {
    let market = desk.venue();
    let unreachable = |e: crate::veda::Error| {
        Error::VenueUnreachable(format!(
            "{}: its clock and calendar, which {LIVE_VENUE} builds {} bars and warms up on: {e} ({})",
            desk.name(),
            setup.timeframe,
            e.code()
        ))
    };
    let warmup = options.warmup.unwrap_or(0);
    let offset_ms = if setup.timeframe == Timeframe::MINUTE && warmup == 0 {
        0
    } else {
        super::warmup::venue_offset(market.as_ref())
            .await
            .map_err(unreachable)?
    };
    let aggregation = if setup.timeframe == Timeframe::MINUTE {
        None
    } else {
        // The exchange's symbols (each once, in order): what the built bars are indexed by.
        let mut symbols: Vec<String> = Vec::new();
        for s in &setup.symbols {
            if !symbols.contains(s) {
                symbols.push(s.clone());
            }
        }
        let aggregator = super::warmup::bar_clock(
            market.as_ref(),
            &symbols,
            setup.timeframe,
            options,
            offset_ms,
        )
        .await
        .map_err(unreachable)?;
        let (desk, timeframe) = (desk.clone(), setup.timeframe);
        Some(Aggregation {
            aggregator,
            offset_ms,
            on_built: Box::new(move |symbol, bar| desk.store_bar(symbol, timeframe, bar)),
        })
    };
    SimVenue::live(
        market,
        &setup.symbols,
        broker(setup.cash),
        preamble,
        aggregation,
    )
    .map(|sim| {
        sim.with_warm_up(WarmUp {
            bars: warmup,
            offset_ms,
            as_of: as_of.map(|t| t.timestamp_millis()),
        })
    })
    .map_err(|e| Error::Internal(format!("sim-live exchange: {e}")))
}

/// The fill model of a `sim-live` exchange with `cash` (its replay's too): as on `sim` and in
/// a backtest of the same bars.
pub(crate) fn broker(cash: f64) -> BrokerConfig {
    BrokerConfig {
        cash,
        commission: Commission::default(),
        slippage_bps: 0.0,
        fill: FillModel::NextOpen,
        fractional: false,
    }
}

/// Where a `sim-live` run's warm-up is read from, how many bars, and the venue's time minus the
/// local time to take it at ([`prepare_runner`]).
pub(crate) type WarmUpFrom = (Arc<dyn Venue>, u32, i64);

/// What a `sim-live` run's runner does beyond a `sim` run's: it tapes its inputs (bars of a
/// longer timeframe whole: the exchange built them on the clock and may amend them), so it can
/// be replayed. Returns the runner and the warm-up to tell: the market venue it is read from,
/// how many bars, and the venue's time minus the local time to take it at. `None` for an
/// exchange that is not `sim-live`'s.
pub(crate) fn prepare_runner(
    runner: LiveRunner,
    sim: &SimVenue,
    walle: &Walle,
    id: i64,
    timeframe: Timeframe,
) -> (LiveRunner, Option<WarmUpFrom>) {
    let Some((market, warm_up)) = sim.warm_up() else {
        return (runner, None);
    };
    let mut runner = runner.tape(WalleTape::start(walle.clone(), id));
    if timeframe != Timeframe::MINUTE {
        runner = runner.tape_bars_whole();
    }
    (runner, Some((market, warm_up.bars, warm_up.offset_now())))
}

/// Starts a `sim-live` run: loads and initialises the strategy, stores the run `running` with
/// its account of `cash` (default [`SIM_CASH`]) and launches it on its own exchange.
///
/// # Errors
/// The guest's refusal, [`Error::VenueUnreachable`] (its clock or calendar), [`Error::Store`].
pub(crate) async fn start(
    runs: &Runs,
    strategy: &StoredStrategy,
    spec: RunSpec,
    desk: &Desk,
) -> Result<Run, Error> {
    let setup = Setup {
        params: spec.text_params(),
        symbols: spec.symbols.clone(),
        timeframe: spec.timeframe,
        cash: spec.cash.unwrap_or(SIM_CASH),
        limits: spec.limits,
    };
    let sandbox = load_sandbox(runs, strategy, &setup).await?;
    let (warmup, source) = spec.warmup(sandbox.declaration().warmup);
    let options = LiveBarOptions {
        warmup: Some(warmup),
        ..spec.live
    };
    let sim = exchange(desk, &setup, options, Vec::new(), None).await?;
    let run = store_running(runs, strategy, &spec, &setup).await?;
    let first = format!(
        "run started: strategy {} ({}), {} on {LIVE_VENUE} {} (simulated fills on {}'s live bars), cash {}, {}",
        strategy.name,
        strategy.id,
        setup.symbols.join(","),
        setup.timeframe,
        desk.name(),
        setup.cash,
        warmup_text(warmup, source)
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

/// The live 1-minute bars of `symbols` the store kept since `run` started: what a resumed run
/// steps (aggregated, on a longer timeframe) before the live stream. Bars are stamped at the
/// start of their minute and arrive after it, so the first one a run can have been told is the
/// one of the minute it started in.
///
/// # Errors
/// [`Error::Store`].
pub(crate) async fn preamble(
    runs: &Runs,
    run: &Run,
    setup: &Setup,
) -> Result<Vec<(String, Bar)>, Error> {
    let from = run
        .created_at
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap_or(run.created_at);
    let mut out = Vec::new();
    for s in &setup.symbols {
        let candles = runs
            .inner
            .walle
            .candles(s, &Timeframe::MINUTE.to_string(), from, far(), i64::MAX)
            .await?;
        out.extend(candles.iter().map(|c| (s.clone(), c.bar())));
    }
    Ok(out)
}

fn far() -> DateTime<Utc> {
    crate::domain::far_future()
}
