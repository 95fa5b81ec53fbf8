//! Orders and positions by hand: the [`Command`]s a run's [`LiveRunner`] takes between two
//! events (`POST /runs/{id}/orders`, `POST /orders/{id}/cancel`, a position's close, a flatten,
//! a stop that cancels or closes). A command goes through the run's own path, the one its
//! strategy's intents take: the next sequence number (so an idempotent `client_order_id`), the
//! pre-trade checks, the journal and its events, attributed to the run.
//!
//! # Invariants
//! - Commands are taken one at a time, between events, never in the middle of a guest call's
//!   orders: a manual order and a strategy's cannot interleave their snapshots.
//! - Closing (a position's close, a flatten) is allowed while the run is halted: it is checked
//!   as reduce-only, so it can only shrink what the run holds, never open or flip a position.
//! - A flatten cancels the run's working orders before it closes, so a repeat cancels what the
//!   first left working and closes only what is still held: flattening twice leaves what
//!   flattening once does.
//! - Only the run's own orders and its own share of a shared account are touched.

use tokio::sync::oneshot;

use super::{LiveError, LiveRunner, Placed};
use crate::domain::{OrderIntent, Side};
use crate::veda::risk::TradingState;
use crate::veda::types::VenueOrder;

/// What a run's runner is asked to do by hand.
#[derive(Debug)]
pub enum Command {
    /// Place `order` as the run's (force-entry / force-exit).
    Place {
        /// The order, sized like a strategy's.
        order: OrderIntent,
        /// Told the attempt.
        reply: oneshot::Sender<Attempt>,
    },
    /// Cancel the run's working order `client_order_id`.
    Cancel {
        /// The order.
        client_order_id: String,
        /// Told whether it was working and asked to cancel.
        reply: oneshot::Sender<Result<bool, String>>,
    },
    /// Close the run's position in `symbol` (its own share).
    Close {
        /// The symbol.
        symbol: String,
        /// Told the closing order, `None` when there was nothing to close.
        reply: oneshot::Sender<Option<Attempt>>,
    },
    /// Set the run's own trading state (a manual `active` clears its risk breaches too).
    SetState {
        /// The state.
        state: TradingState,
        /// Told once it is in force.
        reply: oneshot::Sender<()>,
    },
    /// Cancel every working order of the run and/or close every position it holds.
    Flatten {
        /// Cancel working orders.
        orders: bool,
        /// Close positions.
        positions: bool,
        /// Told what was done.
        reply: oneshot::Sender<FlattenReport>,
    },
}

/// One order attempt made by hand, as the API reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The intent's sequence number in the run.
    pub sequence: u64,
    /// Its idempotent client order id.
    pub client_order_id: String,
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// The venue's order, or why it was not placed: a stable code and the message.
    pub outcome: Result<VenueOrder, (&'static str, String)>,
}

impl From<&Placed> for Attempt {
    fn from(p: &Placed) -> Attempt {
        Attempt {
            sequence: p.sequence,
            client_order_id: p.request.client_order_id.clone(),
            symbol: p.request.symbol.clone(),
            side: p.request.side,
            // A check's refusal is told by its own code (the rule), not the venue layer's.
            outcome: p.outcome.clone().map_err(|e| match &e {
                crate::veda::Error::PreTrade(v) => (v.code(), v.to_string()),
                _ => (e.code(), e.to_string()),
            }),
        }
    }
}

/// What a flatten did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlattenReport {
    /// Client order ids of the working orders asked to cancel.
    pub canceled: Vec<String>,
    /// The closing orders (one per position held).
    pub closing: Vec<Attempt>,
    /// What could not be done (the venue or the store failed): worth a retry.
    pub errors: Vec<String>,
}

impl LiveRunner {
    /// Takes one command (see the module docs). A journal failure fails the run, as it does for
    /// a strategy's order; everything else is told to the caller.
    pub(super) async fn on_command(&mut self, command: Command) -> Result<(), LiveError> {
        match command {
            Command::Place { order, reply } => {
                let mut snapshot = None;
                let placed = self.place(order, &mut snapshot).await;
                let attempt = self.placed.last().map(Attempt::from);
                placed?;
                if let Some(a) = attempt {
                    let _ = reply.send(a);
                }
            }
            Command::Cancel {
                client_order_id,
                reply,
            } => {
                let _ = reply.send(self.cancel_own(&client_order_id).await);
            }
            Command::Close { symbol, reply } => {
                let before = self.placed.len();
                let mut snapshot = None;
                self.close_held(&symbol, &mut snapshot).await?;
                let attempt = self.placed.get(before).map(Attempt::from);
                let _ = reply.send(attempt);
            }
            Command::SetState { state, reply } => {
                self.set_guard_state(state);
                let _ = reply.send(());
            }
            Command::Flatten {
                orders,
                positions,
                reply,
            } => {
                let report = self.flatten(orders, positions).await?;
                let _ = reply.send(report);
            }
        }
        Ok(())
    }

    /// Closes the run's position in `symbol` with its state eased from halted to reduce-only.
    async fn close_held(
        &mut self,
        symbol: &str,
        snapshot: &mut Option<super::orders::Snapshot>,
    ) -> Result<(), LiveError> {
        self.closing = true;
        let out = self.close(symbol, snapshot).await;
        self.closing = false;
        out
    }

    async fn cancel_own(&mut self, client_order_id: &str) -> Result<bool, String> {
        if !self.is_mine(client_order_id) {
            return Err(format!("{client_order_id} is not an order of this run"));
        }
        let order = self
            .venue
            .order_by_client_id(client_order_id)
            .await
            .map_err(|e| e.to_string())?;
        let Some(order) = order.filter(|o| !o.status.is_terminal()) else {
            return Ok(false);
        };
        if let Err(e) = self
            .journal
            .record_cancel(&self.run_id, client_order_id)
            .await
        {
            tracing::warn!(run = %self.run_id, error = %e, "cancel not recorded");
        }
        self.venue
            .cancel_order(&order.id)
            .await
            .map_err(|e| e.to_string())?;
        Ok(true)
    }

    async fn flatten(&mut self, orders: bool, positions: bool) -> Result<FlattenReport, LiveError> {
        let mut report = FlattenReport::default();
        if orders {
            match self.own_open_orders().await {
                Ok(open) => {
                    for o in open {
                        match self.cancel_own(&o.client_order_id).await {
                            Ok(true) => report.canceled.push(o.client_order_id),
                            Ok(false) => {}
                            Err(e) => report.errors.push(e),
                        }
                    }
                }
                Err(e) => report.errors.push(format!("open orders unknown: {e}")),
            }
        }
        if positions {
            let mut snapshot = None;
            let held = match self.snapshot(&mut snapshot).await {
                Ok(snap) => snap
                    .positions
                    .iter()
                    .filter(|(_, q)| !q.is_zero())
                    .map(|(s, _)| s.clone())
                    .collect::<Vec<_>>(),
                Err(e) => {
                    report.errors.push(format!("positions unknown: {e}"));
                    Vec::new()
                }
            };
            for symbol in held {
                let before = self.placed.len();
                self.close_held(&symbol, &mut snapshot).await?;
                if let Some(p) = self.placed.get(before) {
                    let attempt = Attempt::from(p);
                    if let Err((_, message)) = &attempt.outcome {
                        report.errors.push(format!("{symbol}: {message}"));
                    }
                    report.closing.push(attempt);
                }
            }
        }
        Ok(report)
    }

    /// The state the pre-trade checks see: the run's, eased to reduce-only while closing.
    pub(super) fn checked_state(&self) -> TradingState {
        let state = self.trading_state().stricter(self.own_state());
        if self.closing && state == TradingState::Halted {
            TradingState::ReduceOnly
        } else {
            state
        }
    }

    /// Whether `client_order_id` is one of this run's orders: placed by this runner, or one of
    /// the sequence numbers journaled before it was resumed.
    pub(super) fn is_mine(&self, client_order_id: &str) -> bool {
        self.mine.contains_key(client_order_id)
            || crate::veda::client_order_id::sequence(client_order_id).is_some_and(|seq| {
                seq < self.first_sequence
                    && crate::veda::client_order_id::derive(&self.scope, seq) == client_order_id
            })
    }
}
