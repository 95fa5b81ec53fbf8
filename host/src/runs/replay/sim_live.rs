//! Replaying a `sim-live` run ([`crate::veda::sim::LIVE_VENUE`]): its tape gives the bars it was
//! told, in the order it was told them (a longer timeframe's built bars whole, each amendment
//! where it came, 1-minute bars read back from the stored `live` candles) and its warm-up; a
//! fresh simulated exchange with the run's fill model steps them in lockstep as the run's did,
//! so fills, order updates and account snapshots come back as the run had them, and its
//! strategy's decisions are compared with the recorded ones.
//!
//! # Invariants
//! - An amended bar is told, never stepped, as live: fills against the bar as built stand.
//! - The warm-up is told before the first bar, as at the run's start; its orders are not placed.
//! - What the tape holds of the venue (history for data windows, declared-series windows) is
//!   served from the tape; the replay reaches no venue and writes nothing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::{Comparison, Tape, TapeVenue};
use crate::domain::Bar;
use crate::runs::Error;
use crate::runs::active::Live;
use crate::runs::metered::Metered;
use crate::runs::start::Setup;
use crate::veda::live::LiveError;
use crate::veda::live::tape::Input;
use crate::veda::sim::SimVenue;
use crate::veda::types::BarEvent;

/// The bars a `sim-live` run was told after its warm-up, as its exchange's market hands them on,
/// and its warm-up (symbol, bar), from `tape`.
fn told(tape: &Tape) -> (Vec<BarEvent>, Vec<(String, Bar)>) {
    let (mut bars, mut warm) = (Vec::new(), Vec::new());
    for input in &tape.inputs {
        match input {
            Input::Bar { symbol, ts } => {
                if let Some(bar) = tape.bars.get(&(symbol.clone(), *ts)) {
                    bars.push(BarEvent::Bar {
                        symbol: symbol.clone(),
                        bar: *bar,
                    });
                }
            }
            Input::Aggregated {
                symbol,
                bar,
                amended,
            } => {
                let (symbol, bar) = (symbol.clone(), *bar);
                bars.push(if *amended {
                    BarEvent::Amended { symbol, bar }
                } else {
                    BarEvent::Bar { symbol, bar }
                });
            }
            Input::Warmup { symbol, bar } => warm.push((symbol.clone(), *bar)),
            _ => {}
        }
    }
    (bars, warm)
}

/// Replays `sim-live` run `id` from `tape` (see the module docs).
///
/// # Errors
/// [`Error::Internal`] when the replay's exchange or runner fails otherwise than the run's
/// strategy did; [`Error::Store`] reading the recorded decisions.
pub(super) async fn replay(
    id: i64,
    tape: Tape,
    metered: Metered,
    setup: &Setup,
    live: &Live,
    cmp: &mut Comparison,
) -> Result<(), Error> {
    let (bars, warm) = told(&tape);
    let history: VecDeque<Option<Vec<Bar>>> = tape
        .inputs
        .iter()
        .filter_map(|i| match i {
            Input::History { bars, .. } => Some(bars.clone()),
            _ => None,
        })
        .collect();
    let market = Arc::new(TapeVenue {
        history: Mutex::new(history),
        stream: Mutex::new(bars),
    });
    let internal = |e: crate::veda::Error| Error::Internal(format!("replay exchange: {e}"));
    // The run's exchange: its fill model, its cash, its order ids.
    let sim = SimVenue::live(
        market,
        &setup.symbols,
        crate::runs::sim_live::broker(setup.cash),
        Vec::new(),
        None,
    )
    .map_err(internal)?;
    let (runner, updates, stream) = super::replay_runner(id, sim, metered, setup, live).await?;
    let mut runner = runner.windows_from_tape(&tape.inputs);
    for (symbol, bar) in warm {
        let outcome = runner.on_warmup(&symbol, bar).await;
        cmp.feed(live.decisions.take()).await?;
        match outcome {
            // The strategy failed where the run's did.
            Err(LiveError::Strategy(_)) => return Ok(()),
            Err(e) => return Err(Error::Internal(format!("replay runner: {e}"))),
            Ok(_) if cmp.enough() => return Ok(()),
            Ok(_) => {}
        }
    }
    let run = runner.run_with_updates(stream, updates);
    super::compare_while_running(run, live, cmp).await
}
