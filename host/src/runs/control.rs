//! Control by hand of the runs this process executes: an order attributed to a run
//! (force-entry / force-exit), cancelling one of its orders, closing its share of a position,
//! flattening it, and stopping it with a choice of what happens to its orders and positions.
//! Each goes to the run's runner as a [`Command`] and takes the run's own path: its sequence of
//! idempotent client order ids, the pre-trade checks, the journal and its events.
//!
//! # Invariants
//! - Nothing is sent to a venue from here: only a run's runner places and cancels its orders.
//! - A stop asked to close positions waits (up to [`WIND_DOWN`]) for the closing orders to fill
//!   before the run ends, so the run's last account is the flat one; what is still held then is
//!   reported, not hidden.
//! - Defaults are the safe ones for money at a broker: a stop cancels the run's working orders
//!   and keeps its positions unless told otherwise.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{Error, Runs};
use crate::domain::OrderIntent;
use crate::veda::live::control::{Attempt, Command, FlattenReport};
use crate::walle::{Run, RunStatus};

/// How long a stop that closes positions waits for the closing orders to fill.
pub const WIND_DOWN: Duration = Duration::from_secs(30);

/// How long a command may wait for the runner (it takes commands between events).
const ANSWER: Duration = Duration::from_secs(30);

/// What happens to a stopped run's working orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrdersOnStop {
    /// Cancel them (the default).
    #[default]
    Cancel,
    /// Leave them working at the venue.
    Keep,
}

/// What happens to a stopped run's positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionsOnStop {
    /// Close them with market orders.
    Close,
    /// Keep them (the default).
    #[default]
    Keep,
}

/// A stop's choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StopOptions {
    /// Working orders.
    pub orders: OrdersOnStop,
    /// Positions.
    pub positions: PositionsOnStop,
}

/// What a stop did.
#[derive(Debug, Clone, PartialEq)]
pub struct StopReport {
    /// The run, now `stopped`.
    pub run: Run,
    /// What was cancelled and closed (`None` when the options kept everything).
    pub flatten: Option<FlattenReport>,
    /// Positions the run still held when it stopped (symbol, signed quantity).
    pub held: Vec<(String, f64)>,
}

impl Runs {
    /// Sends `command` (made with its reply channel) to run `id`'s runner and waits for the
    /// answer.
    async fn ask<T>(
        &self,
        id: i64,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Error> {
        let Some(queue) = self.inner.active.commands(id) else {
            return Err(self.not_active(id).await);
        };
        let (tx, rx) = oneshot::channel();
        match queue.try_send(command(tx)) {
            Ok(()) => {}
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                return Err(Error::invalid(
                    "run_busy",
                    format!("run {id} has commands waiting"),
                ));
            }
            // Its runner ended (the run is stopping): say how the run is now.
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                return Err(self.not_active(id).await);
            }
        }
        match tokio::time::timeout(ANSWER, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            // The run ended (or failed) before it took the command.
            Ok(Err(_)) => Err(self.not_active(id).await),
            Err(_) => Err(Error::Internal(format!(
                "run {id} did not take the command within {} s",
                ANSWER.as_secs()
            ))),
        }
    }

    async fn not_active(&self, id: i64) -> Error {
        match self.inner.walle.run(id).await {
            Ok(Some(run)) => Error::RunNotActive {
                id,
                status: run.status.as_str(),
            },
            Ok(None) => Error::RunNotFound(id),
            Err(e) => e.into(),
        }
    }

    /// Places `order` as run `id`'s, through its checks and journal.
    ///
    /// # Errors
    /// [`Error::RunNotFound`], [`Error::RunNotActive`] when this process does not execute it.
    pub async fn place_by_hand(&self, id: i64, order: OrderIntent) -> Result<Attempt, Error> {
        if !self.run_symbols(id).await?.contains(&order.symbol) {
            return Err(Error::invalid(
                "unknown_symbol",
                format!("run {id} does not trade {}", order.symbol),
            ));
        }
        self.ask(id, |reply| Command::Place { order, reply }).await
    }

    /// Closes run `id`'s share of its position in `symbol`; `None` when it holds none.
    ///
    /// # Errors
    /// As [`Runs::place_by_hand`].
    pub async fn close_by_hand(&self, id: i64, symbol: &str) -> Result<Option<Attempt>, Error> {
        let symbol = symbol.to_owned();
        self.ask(id, |reply| Command::Close { symbol, reply }).await
    }

    /// Cancels order `order_id` (a row of `GET /orders`) through the run that placed it.
    /// Whether it was working and is now asked to cancel.
    ///
    /// # Errors
    /// [`Error::OrderNotFound`]; [`Error::RunNotActive`] when its run is not executed here;
    /// `order_not_cancelable` when the venue refuses.
    pub async fn cancel_by_hand(&self, order_id: i64) -> Result<bool, Error> {
        let order = self
            .inner
            .walle
            .order(order_id)
            .await?
            .ok_or(Error::OrderNotFound(order_id))?;
        let Some(run) = order.run_id else {
            return Err(Error::invalid(
                "order_not_cancelable",
                format!("order {order_id} belongs to no run"),
            ));
        };
        let client_order_id = order.client_order_id;
        self.ask(run, |reply| Command::Cancel {
            client_order_id,
            reply,
        })
        .await?
        .map_err(|m| Error::invalid("order_not_cancelable", m))
    }

    /// Cancels run `id`'s working orders and/or closes its positions.
    ///
    /// # Errors
    /// As [`Runs::place_by_hand`].
    pub async fn flatten_run(
        &self,
        id: i64,
        orders: bool,
        positions: bool,
    ) -> Result<FlattenReport, Error> {
        self.ask(id, |reply| Command::Flatten {
            orders,
            positions,
            reply,
        })
        .await
    }

    /// Sets run `id`'s own trading state (`active`, `reduce_only`, `halted`; a manual `active`
    /// also clears its risk breaches), recorded as `risk.TradingStateChanged`, then flattens it
    /// when asked. The run keeps it across a restart (with its figures).
    ///
    /// # Errors
    /// As [`Runs::place_by_hand`].
    pub async fn set_run_state(
        &self,
        id: i64,
        state: crate::veda::risk::TradingState,
        flatten: bool,
    ) -> Result<Option<FlattenReport>, Error> {
        self.ask(id, |reply| Command::SetState { state, reply })
            .await?;
        let payload = crate::events::payloads::RunTradingState {
            run_id: id,
            state: state.as_str().to_owned(),
        };
        let event = crate::events::Envelope::new("risk.TradingStateChanged", "glados", payload)
            .map_err(|e| Error::Internal(format!("event: {e}")))?
            .for_run(id);
        self.inner.walle.append(&event).await?;
        if flatten {
            return Ok(Some(self.flatten_run(id, true, true).await?));
        }
        Ok(None)
    }

    /// Flattens every run this process executes (the kill switch's `flatten`): each cancels its
    /// working orders and closes its positions. One run's failure does not stop the others;
    /// each run's outcome is reported.
    pub async fn flatten_all(&self) -> Vec<(i64, Result<FlattenReport, Error>)> {
        let ids = self.inner.active.active_ids();
        let asks = ids.iter().map(|id| self.flatten_run(*id, true, true));
        ids.iter()
            .copied()
            .zip(futures::future::join_all(asks).await)
            .collect()
    }

    /// Stops run `id` after cancelling or closing what `options` say (see the module docs).
    ///
    /// # Errors
    /// [`Error::RunNotFound`], [`Error::RunNotActive`] unless it is `created` or `running`.
    pub async fn stop_with(&self, id: i64, options: StopOptions) -> Result<StopReport, Error> {
        let cancel = options.orders == OrdersOnStop::Cancel;
        let close = options.positions == PositionsOnStop::Close;
        let mut flatten = None;
        if (cancel || close) && self.inner.active.commands(id).is_some() {
            match self.flatten_run(id, cancel, close).await {
                Ok(report) => {
                    if close && !report.closing.is_empty() {
                        self.until_flat(id).await;
                    }
                    flatten = Some(report);
                }
                // It ended on its own meanwhile: the stop below says how it ended.
                Err(Error::RunNotActive { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let run = self.stop(id).await?;
        let held = self.held(&run).await;
        Ok(StopReport { run, flatten, held })
    }

    /// Waits until run `id` holds nothing (its closing orders filled) or [`WIND_DOWN`] passed.
    async fn until_flat(&self, id: i64) {
        let deadline = tokio::time::Instant::now() + WIND_DOWN;
        while tokio::time::Instant::now() < deadline {
            match self.inner.active.account(id).await {
                Some(a) if a.positions.iter().any(|p| p.qty != 0.0) => {}
                _ => return,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn held(&self, run: &Run) -> Vec<(String, f64)> {
        let stored = self.inner.walle.run_account(run.id).await.ok().flatten();
        match self.account(run, stored.as_ref()).await {
            Ok(a) => a
                .positions
                .into_iter()
                .filter(|p| p.qty != 0.0)
                .map(|p| (p.symbol, p.qty))
                .collect(),
            Err(e) => {
                tracing::warn!(run_id = run.id, code = e.code(), "account unreadable: {e}");
                Vec::new()
            }
        }
    }

    async fn run_symbols(&self, id: i64) -> Result<Vec<String>, Error> {
        let run = self
            .inner
            .walle
            .run(id)
            .await?
            .ok_or(Error::RunNotFound(id))?;
        if run.status != RunStatus::Running {
            return Err(Error::RunNotActive {
                id,
                status: run.status.as_str(),
            });
        }
        Ok(run.symbols.0)
    }
}
