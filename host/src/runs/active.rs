//! The runs this process executes: each one's stop token, figures, log, venue and account,
//! readable by the API while the run is active.
//!
//! # Invariants
//! - An entry is added when a run's tasks are launched; its venue is dropped when the run
//!   ends, leaving the final account in `ended` until the task has stored the final account,
//!   figures, log and status, then the entry is removed ([`ActiveRuns::remove`]): an ended run
//!   is read from WallE, and the memory of a process does not grow with the runs it has ended.
//! - Cancelling an entry only asks its task to stop; the task writes the final status.

use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use super::account::{AccountState, Trade, account_of};
use super::log_book::{LogBook, LogLine};
use super::metered::Figures;
use crate::veda::sim::SimVenue;
use crate::walle::{LogFilter, Walle};

/// Where a run trades.
#[derive(Clone)]
pub(crate) enum RunVenue {
    /// Its own simulated exchange, replaying stored candles.
    Sim(SimVenue),
    /// A live venue shared with other runs (a [`Desk`]): the run's account is what its own
    /// recorded orders add up to.
    Desk(Walle),
}

/// What the API reads of a run this process executes (or executed since it started).
pub(crate) struct Live {
    pub(crate) id: i64,
    pub(crate) strategy: String,
    pub(crate) starting_cash: f64,
    pub(crate) figures: Mutex<Figures>,
    pub(crate) logs: LogBook,
    /// Decisions waiting for the outbox.
    pub(crate) decisions: super::decisions::DecisionBook,
    /// The risk limits its orders are checked against (`PATCH /runs/{id}/risk` changes them).
    pub(crate) limits: super::risk::SharedLimits,
    /// The venue while the run is active; `None` once it ended (then `ended` holds the account).
    pub(crate) venue: Mutex<Option<RunVenue>>,
    pub(crate) ended: Mutex<Option<AccountState>>,
    pub(crate) last_trade: Mutex<Option<Trade>>,
    /// Time of the latest bar delivered (ms), `i64::MIN` before the first.
    pub(crate) last_bar_ts: AtomicI64,
    /// Held by whoever stores the log and the decisions (the heartbeat, the run's own flush,
    /// its wrap-up): one writer at a time keeps the decisions in order.
    pub(crate) flush: Arc<tokio::sync::Mutex<()>>,
}

impl Live {
    pub(crate) fn figures(&self) -> Figures {
        self.figures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) async fn account(&self) -> AccountState {
        let venue = self
            .venue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let last = self
            .last_trade
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match venue {
            Some(RunVenue::Sim(v)) => account_of(&v, self.starting_cash, last).await,
            Some(RunVenue::Desk(w)) => match super::start::run_orders(&w, self.id).await {
                Ok(orders) => AccountState::from_orders(self.starting_cash, &orders),
                Err(e) => {
                    tracing::warn!(
                        run_id = self.id,
                        code = e.code(),
                        "run orders unreadable: {e}"
                    );
                    AccountState::untouched(self.starting_cash)
                }
            },
            None => self
                .ended
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .unwrap_or_else(|| AccountState::untouched(self.starting_cash)),
        }
    }

    pub(crate) fn is_active_on_sim(&self) -> bool {
        matches!(
            *self.venue.lock().unwrap_or_else(PoisonError::into_inner),
            Some(RunVenue::Sim(_))
        )
    }

    pub(crate) fn is_active(&self) -> bool {
        self.venue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

pub(crate) struct Entry {
    pub(crate) cancel: CancellationToken,
    pub(crate) live: Arc<Live>,
    pub(crate) venue: String,
    /// Orders and positions by hand, to the run's runner (`super::control`).
    pub(crate) commands: tokio::sync::mpsc::Sender<crate::veda::live::control::Command>,
}

/// The runs this process started: their stop tokens, figures, accounts and logs.
#[derive(Default)]
pub(crate) struct ActiveRuns {
    runs: Mutex<std::collections::HashMap<i64, Entry>>,
}

impl ActiveRuns {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i64, Entry>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn live(&self, id: i64) -> Option<Arc<Live>> {
        self.lock().get(&id).map(|e| e.live.clone())
    }

    /// The command queue of run `id`'s runner, while this server executes it.
    pub(crate) fn commands(
        &self,
        id: i64,
    ) -> Option<tokio::sync::mpsc::Sender<crate::veda::live::control::Command>> {
        self.lock()
            .get(&id)
            .filter(|e| e.live.is_active())
            .map(|e| e.commands.clone())
    }

    /// The risk limits of run `id`, while this server executes it.
    pub(crate) fn limits(&self, id: i64) -> Option<super::risk::SharedLimits> {
        self.live(id).map(|l| l.limits.clone())
    }

    /// The ids of the runs active in this process, in order.
    pub(crate) fn active_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .lock()
            .iter()
            .filter(|(_, e)| e.live.is_active())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Forgets run `id` (its task ended and stored everything the API reads of it).
    pub(crate) fn remove(&self, id: i64) {
        self.lock().remove(&id);
    }

    /// Asks run `id` to stop (no effect on runs this server is not executing).
    pub(crate) fn cancel(&self, id: i64) {
        if let Some(e) = self.lock().get(&id) {
            e.cancel.cancel();
        }
    }

    /// The figures of run `id`, while this server executes it.
    pub(crate) fn figures(&self, id: i64) -> Option<Figures> {
        self.live(id).map(|l| l.figures())
    }

    /// The account of run `id`, while this server executes it.
    pub(crate) async fn account(&self, id: i64) -> Option<AccountState> {
        match self.live(id) {
            Some(l) => Some(l.account().await),
            None => None,
        }
    }

    /// Log lines of run `id` after `after` held in memory, and whether they are complete (no
    /// older line after `after` has left the ring). `None` for runs this server is not executing.
    pub(crate) fn logs(
        &self,
        id: i64,
        after: i64,
        limit: usize,
        filter: &LogFilter,
    ) -> Option<(Vec<LogLine>, bool)> {
        self.live(id).map(|l| l.logs.after(after, limit, filter))
    }

    /// Log lines of run `id` with `after < seq < before` held in memory, newest first, and the
    /// lowest seq memory holds. `None` for runs this server is not executing.
    pub(crate) fn logs_newest(
        &self,
        id: i64,
        after: i64,
        before: i64,
        limit: usize,
        filter: &LogFilter,
    ) -> Option<(Vec<LogLine>, Option<i64>)> {
        self.live(id)
            .map(|l| l.logs.newest(after, before, limit, filter))
    }

    /// The runs active in this process with their venue's name (`sim`, `alpaca`).
    pub(crate) fn active_lives(&self) -> Vec<(String, Arc<Live>)> {
        let mut out: Vec<(String, Arc<Live>)> = self
            .lock()
            .values()
            .filter(|e| e.live.is_active())
            .map(|e| (e.venue.clone(), e.live.clone()))
            .collect();
        out.sort_by_key(|(_, l)| l.id);
        out
    }
}
