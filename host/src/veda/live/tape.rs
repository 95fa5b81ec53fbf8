//! A live run's input tape: what its runner took, in order, so that a replay can give the same
//! strategy version exactly the same events. Bars are taped by reference (symbol and time; the
//! bar itself is the stored `live` candle, [`super::bars`]); what stored candles cannot give
//! back is taped whole: the run's own order updates, the account snapshots it was told, the
//! venue history that filled its data windows, and the windows of declared series it was
//! served (contract 0.3; they come from the store and the venue as they were then). A replay
//! reads the tape back and drives a [`super::LiveRunner`] with it (`runs::replay`).
//!
//! Runs on a shared live venue and on `sim-live` keep a tape: a run on the simulated exchange
//! over stored candles (`sim`) is deterministic given its candles, so its replay needs nothing
//! more. A `sim-live` run's bars were built on the clock and may have been amended, so they are
//! taped whole ([`LiveRunner::tape_bars_whole`]) on timeframes longer than a minute.
//!
//! [`WalleTape`] is the tape `weaver serve` keeps: [`Tape::record`] serializes the input and
//! queues it (a bounded channel, no await, so the run's bar path does not wait for the store);
//! one writer task per run numbers the inputs after the ones stored by an earlier session and
//! appends them in batches, retrying a failed write with a growing pause.
//!
//! # Invariants
//! - Inputs are taped in the order the runner took them; a session (a start, or a resume after
//!   a restart) opens with [`Input::Session`] before its first input.
//! - Recording never blocks the runner and never fails it: a full queue drops the input, logs
//!   and counts it (`weaver_run_inputs_dropped_total`), and the replay of such a run reports a
//!   difference instead of a false match.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::LiveRunner;
use crate::domain::{AccountSnapshot, Bar};
use crate::veda::types::TradeUpdate;
use crate::walle::{RunInput, Walle};

/// One input of a live run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Input {
    /// A runner started (or resumed) for the run; `journaled` intents were numbered before it.
    Session {
        /// Intent numbers already used (numbering continues after them).
        journaled: u64,
    },
    /// A bar of `symbol` at `ts` (the stored candle is the bar).
    Bar {
        /// Symbol.
        symbol: String,
        /// Bar time (UTC ms).
        ts: i64,
    },
    /// A bar built from the 1-minute stream ([`super::aggregate`]), whole: it is no stored
    /// candle of the run's timeframe, and when it was complete depended on the clock.
    Aggregated {
        /// Symbol.
        symbol: String,
        /// The bar.
        bar: Bar,
        /// Told before and amended by a late minute.
        amended: bool,
    },
    /// A warm-up bar from the store, told before the first live bar (its orders not placed).
    Warmup {
        /// Symbol.
        symbol: String,
        /// The bar.
        bar: Bar,
    },
    /// An update of one of the run's own orders.
    OrderUpdate {
        /// As the venue reported it (boxed: by far the largest input, and the rarest).
        update: Box<TradeUpdate>,
    },
    /// An account snapshot asked for (none when it could not be had, and then not told).
    Account {
        /// What the account source answered.
        snapshot: Option<AccountSnapshot>,
    },
    /// Venue history before the run's first bar, asked for a data window (none: the venue
    /// failed, and the window held only the run's own bars).
    History {
        /// Symbol.
        symbol: String,
        /// The bars, oldest first.
        bars: Option<Vec<Bar>>,
    },
    /// A window of a declared series (contract 0.3) as the run was served it
    /// ([`super::windows`]).
    Window {
        /// Symbol.
        symbol: String,
        /// Timeframe (`1Day`, …).
        timeframe: String,
        /// The bars, oldest first; none: the same bars as the previous window of this series
        /// on the tape (a strategy that asks on every bar tapes a window once per change).
        bars: Option<Vec<Bar>>,
    },
    /// The runner told the strategy the run stops.
    Stop,
}

impl Input {
    /// The tag stored beside the body.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Session { .. } => "session",
            Input::Bar { .. } => "bar",
            Input::Aggregated { .. } => "aggregated",
            Input::Warmup { .. } => "warmup",
            Input::OrderUpdate { .. } => "order_update",
            Input::Account { .. } => "account",
            Input::History { .. } => "history",
            Input::Window { .. } => "window",
            Input::Stop => "stop",
        }
    }
}

impl LiveRunner {
    /// Tapes every input the runner takes (bars by reference, order updates, account
    /// snapshots, venue history, declared-series windows) so that the run can be replayed
    /// ([`tape`]).
    pub fn tape(mut self, tape: Arc<dyn Tape>) -> LiveRunner {
        self.tape = Some(tape);
        self
    }

    /// Tapes the bars of the stream whole, as [`Input::Aggregated`], not by reference: bars a
    /// `sim-live` exchange built from the minutes, which it may amend later (the stored candle
    /// then changes, the bar the run was told first does not).
    pub fn tape_bars_whole(mut self) -> LiveRunner {
        self.whole_bars = true;
        self
    }

    /// Tapes a bar of the stream: by reference to its stored candle, or whole
    /// ([`LiveRunner::tape_bars_whole`]).
    pub(super) fn note_bar(&self, symbol: &str, bar: Bar) {
        self.note(|| {
            let symbol = symbol.to_owned();
            if self.whole_bars {
                Input::Aggregated {
                    symbol,
                    bar,
                    amended: false,
                }
            } else {
                Input::Bar { symbol, ts: bar.ts }
            }
        });
    }

    /// Tapes `input` (after opening the session on the tape's first input).
    pub(super) fn note(&self, input: impl FnOnce() -> Input) {
        let Some(tape) = &self.tape else { return };
        if !self
            .taped_session
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tape.record(&Input::Session {
                journaled: self.next_sequence - 1,
            });
        }
        tape.record(&input());
    }
}

/// Where a runner tapes its inputs.
pub trait Tape: Send + Sync {
    /// Records one input; must not block.
    fn record(&self, input: &Input);
}

/// Inputs the queue holds while the store is slow or down.
const QUEUE_DEPTH: usize = 4096;
/// Most inputs appended in one transaction.
const BATCH: usize = 256;
const FIRST_PAUSE: Duration = Duration::from_millis(500);
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// The tape of one run in WallE (`run_inputs`).
#[derive(Debug)]
pub struct WalleTape {
    run_id: i64,
    tx: mpsc::Sender<(&'static str, String)>,
}

impl WalleTape {
    /// Starts run `run_id`'s tape; its writer ends once the tape is dropped and what was queued
    /// is stored.
    pub fn start(walle: Walle, run_id: i64) -> Arc<WalleTape> {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write(walle, run_id, rx));
        Arc::new(WalleTape { run_id, tx })
    }
}

impl Tape for WalleTape {
    fn record(&self, input: &Input) {
        let body = match serde_json::to_string(input) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(run_id = self.run_id, "input not taped: {e}");
                return;
            }
        };
        if self.tx.try_send((input.kind(), body)).is_err() {
            metrics::counter!("weaver_run_inputs_dropped_total").increment(1);
            tracing::warn!(
                run_id = self.run_id,
                kind = input.kind(),
                "input not taped: the store is behind; a replay of this run will differ"
            );
        }
    }
}

async fn write(walle: Walle, run_id: i64, mut rx: mpsc::Receiver<(&'static str, String)>) {
    let mut pause = FIRST_PAUSE;
    // A resumed run continues its tape after what the earlier session stored.
    let mut last = loop {
        match walle.last_run_input_seq(run_id).await {
            Ok(n) => break n,
            Err(e) => {
                metrics::counter!("weaver_run_input_store_failures_total").increment(1);
                tracing::warn!(run_id, code = e.code(), "tape not readable yet: {e}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    };
    let mut batch = Vec::with_capacity(BATCH);
    while let Some((kind, body)) = rx.recv().await {
        batch.push(RunInput {
            seq: last + 1,
            kind: kind.to_owned(),
            body,
        });
        last += 1;
        while batch.len() < BATCH {
            let Ok((kind, body)) = rx.try_recv() else {
                break;
            };
            last += 1;
            batch.push(RunInput {
                seq: last,
                kind: kind.to_owned(),
                body,
            });
        }
        pause = FIRST_PAUSE;
        while let Err(e) = walle.append_run_inputs(run_id, &batch).await {
            metrics::counter!("weaver_run_input_store_failures_total").increment(1);
            tracing::warn!(
                run_id,
                code = e.code(),
                "inputs not taped yet; retrying: {e}"
            );
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
        batch.clear();
    }
}
