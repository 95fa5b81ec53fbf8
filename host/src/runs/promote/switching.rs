//! The run's strategy as its runner holds it: the version it runs now ([`Metered`]), which a
//! switch asked for replaces at the next bar, before that bar is told, on the run's own task.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::board::{Board, Fallback, History, Outcome, Pending};
use crate::domain::{Intent, Strategy, StrategyError, StrategyEvent, StrategyPayload, Timeframe};
use crate::marvin::Sandbox;
use crate::runs::active::Live;
use crate::runs::metered::{Metered, off_the_reactor};
use crate::walle::SwitchMade;

/// After a promotion with automatic rollback: the bars still watched and the version to go
/// back to.
struct Watch {
    left: u32,
    risk_seen: u64,
    fallback: Fallback,
}

/// A run's strategy that can switch versions between bars (see the module docs).
pub(crate) struct Switching {
    current: Metered,
    board: Arc<Board>,
    live: Arc<Live>,
    timeframe: Timeframe,
    watch: Option<Watch>,
}

impl Switching {
    pub(crate) fn new(current: Metered, board: Arc<Board>, live: Arc<Live>) -> Switching {
        let timeframe = current.timeframe;
        Switching {
            current: current.recording(board.history.clone()),
            board,
            live,
            timeframe,
            watch: None,
        }
    }

    fn metered(&self, sandbox: Sandbox) -> Metered {
        Metered::new(sandbox, self.live.clone(), self.live.id, self.timeframe)
            .recording(self.board.history.clone())
    }

    /// Makes the switch `p` before the bar at `ts`: its state rebuilt, then it becomes the
    /// current version; a failure leaves the current one (and stores why).
    fn switch(&mut self, p: Pending, ts: i64) {
        let Pending {
            seq,
            strategy_id,
            fresh,
            mut sandbox,
            fallback,
            auto_rollback_bars,
        } = p;
        let told = if fresh {
            warm(&mut sandbox, &self.board.history, self.live.id)
        } else {
            replay(&mut sandbox, &self.board.history, self.live.id)
        };
        match told {
            Ok(replayed) => {
                self.current = self.metered(sandbox);
                self.watch = fallback
                    .filter(|_| auto_rollback_bars > 0)
                    .map(|fallback| Watch {
                        left: auto_rollback_bars,
                        risk_seen: self.board.risk_breaks(),
                        fallback,
                    });
                self.live.logs.push(
                    "info",
                    format!(
                        "switched to strategy {strategy_id} at bar {} ({} envelopes {})",
                        at(ts).to_rfc3339(),
                        replayed,
                        if fresh { "of warm-up" } else { "replayed" }
                    ),
                );
                self.board.send(Outcome::Switched {
                    seq,
                    made: SwitchMade {
                        at_bar: at(ts),
                        replayed,
                        error_code: None,
                    },
                });
            }
            Err(e) => {
                self.live.logs.push(
                    "warn",
                    format!(
                        "switch to strategy {strategy_id} failed ({}): {}; the run goes on with the version it ran",
                        e.code, e.message
                    ),
                );
                self.board.send(Outcome::Failed { seq, code: e.code });
            }
        }
    }

    /// Goes back to the watched promotion's fallback before the bar at `ts` (`code`: why);
    /// whether it could.
    fn roll_back(&mut self, code: &str, ts: i64) -> bool {
        let Some(Watch { fallback, .. }) = self.watch.take() else {
            return false;
        };
        let Fallback {
            mut sandbox,
            strategy_id,
            params,
        } = fallback;
        match replay(&mut sandbox, &self.board.history, self.live.id) {
            Ok(replayed) => {
                self.current = self.metered(sandbox);
                self.live.logs.push(
                    "warn",
                    format!(
                        "rolled back to strategy {strategy_id} at bar {} ({code} within the watched bars after the promotion)",
                        at(ts).to_rfc3339()
                    ),
                );
                self.board.send(Outcome::RolledBack {
                    strategy_id,
                    params,
                    made: SwitchMade {
                        at_bar: at(ts),
                        replayed,
                        error_code: Some(code.to_owned()),
                    },
                });
                true
            }
            Err(e) => {
                self.live.logs.push(
                    "error",
                    format!(
                        "automatic rollback to strategy {strategy_id} failed ({}): {}",
                        e.code, e.message
                    ),
                );
                false
            }
        }
    }
}

impl Strategy for Switching {
    fn subscriptions(&self) -> crate::domain::Subscriptions {
        self.current.subscriptions()
    }

    fn declaration(&self) -> crate::domain::Declaration {
        self.current.declaration()
    }

    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        let bar = matches!(event.payload, StrategyPayload::Bars(_))
            && !event.meta.headers.iter().any(|(k, _)| k == "amended");
        if bar {
            let broke = self
                .watch
                .as_ref()
                .is_some_and(|w| self.board.risk_breaks() > w.risk_seen);
            if broke {
                self.roll_back("risk_rule_broken", event.meta.ts);
            }
            if let Some(p) = self.board.take_pending() {
                self.switch(p, event.meta.ts);
            }
        }
        match self.current.on_event(event) {
            Ok(intents) => {
                if bar && let Some(w) = &mut self.watch {
                    w.left = w.left.saturating_sub(1);
                    if w.left == 0 {
                        self.watch = None;
                    }
                }
                Ok(intents)
            }
            // The promoted version failed while watched: the previous one takes this event.
            Err(e) if self.watch.is_some() => {
                if self.roll_back(&e.code, event.meta.ts) {
                    self.current.on_event(event)
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    fn on_bars(
        &mut self,
        meta: &crate::domain::EventMeta,
        bars: &[crate::domain::SymbolBar],
    ) -> Result<crate::domain::BatchOutcome, StrategyError> {
        self.current.on_bars(meta, bars)
    }
}

fn at(ts: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ts).unwrap_or_default()
}

/// Tells `sandbox` every envelope of `history`, its intents discarded; how many.
fn replay(sandbox: &mut Sandbox, history: &History, run_id: i64) -> Result<u64, StrategyError> {
    off_the_reactor(|| history.each(run_id, |e| sandbox.on_event(e).map(drop)))
}

/// Tells `sandbox` the last bars of its declared warm-up, its intents discarded; how many.
fn warm(sandbox: &mut Sandbox, history: &History, run_id: i64) -> Result<u64, StrategyError> {
    let n = sandbox.declaration().warmup;
    if n == 0 {
        return Ok(0);
    }
    off_the_reactor(|| history.last_bars(run_id, n, |e| sandbox.on_event(e).map(drop)))
}
