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

use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::account::{AccountState, Trade, account_of};
use super::log_book::{LogBook, LogLine};
use super::metered::Figures;
use crate::veda::desk::Desk;
use crate::veda::sim::SimVenue;
use crate::walle::Walle;

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

    fn is_active_on_sim(&self) -> bool {
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

/// An account per venue (`GET /accounts`): `sim` sums this process's paper runs, a live venue
/// (`alpaca`) is its account there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VenueAccount {
    /// Stable id: `sim` for the paper runs together, `<venue>/<the venue's account id>` for a
    /// live venue (`alpaca/…`).
    pub id: String,
    /// Venue (`sim`, `alpaca`).
    pub venue: String,
    /// Equity (`sim`: the sum over its active runs).
    pub equity: f64,
    /// Cash (`sim`: the sum over its active runs).
    pub cash: f64,
    /// Buying power (`sim`: the sum over its active runs).
    pub buying_power: f64,
    /// Active runs on this venue.
    pub runs: u64,
    /// Positions: the account's (the broker's on a live venue), each split by the active runs
    /// that hold a share of it.
    pub positions: Vec<AccountPosition>,
}

/// One symbol's position on an account and the runs' shares of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountPosition {
    /// Symbol.
    pub symbol: String,
    /// The account's signed quantity (on a live venue, what the broker reports).
    pub qty: f64,
    /// Each active run's own share (run id, signed quantity), from its own fills.
    pub runs: Vec<(i64, f64)>,
    /// What no active run accounts for (`qty` less the shares): runs that ended keeping their
    /// positions, or trades made outside Weaver. Not zero on a venue means the records and the
    /// broker differ by that much.
    pub unattributed: f64,
}

/// Sums `shares` (symbol, run, qty) into positions, against the account's own `held` where it
/// is known (a live venue), else their sum (the simulated exchange, where runs own the whole).
fn split(
    held: Option<Vec<(String, f64)>>,
    shares: Vec<(String, i64, f64)>,
) -> Vec<AccountPosition> {
    let mut by_symbol: std::collections::BTreeMap<String, AccountPosition> = Default::default();
    for (symbol, qty) in held.iter().flatten() {
        by_symbol.insert(
            symbol.clone(),
            AccountPosition {
                symbol: symbol.clone(),
                qty: *qty,
                runs: Vec::new(),
                unattributed: 0.0,
            },
        );
    }
    for (symbol, run, qty) in shares {
        let p = by_symbol
            .entry(symbol.clone())
            .or_insert_with(|| AccountPosition {
                symbol,
                qty: 0.0,
                runs: Vec::new(),
                unattributed: 0.0,
            });
        p.runs.push((run, qty));
        if held.is_none() {
            p.qty += qty;
        }
    }
    by_symbol
        .into_values()
        .map(|mut p| {
            p.runs.sort_by_key(|(id, _)| *id);
            let shares: f64 = p.runs.iter().map(|(_, q)| q).sum();
            p.unattributed = p.qty - shares;
            p
        })
        .filter(|p| p.qty != 0.0 || p.runs.iter().any(|(_, q)| *q != 0.0))
        .collect()
}

impl ActiveRuns {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i64, Entry>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn live(&self, id: i64) -> Option<Arc<Live>> {
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
    pub(crate) fn logs(&self, id: i64, after: i64, limit: usize) -> Option<(Vec<LogLine>, bool)> {
        self.live(id).map(|l| l.logs.after(after, limit))
    }

    /// Accounts per venue: `sim` (always listed) sums the paper accounts of the runs active in
    /// this process; each live venue in `desks` is its account at the venue (omitted, with a
    /// warning, when the venue cannot be asked).
    pub(crate) async fn accounts(
        &self,
        desks: &std::collections::BTreeMap<String, Desk>,
    ) -> Vec<VenueAccount> {
        let mut active: Vec<Arc<Live>> = Vec::new();
        let mut on_desk: std::collections::HashMap<String, Vec<Arc<Live>>> = Default::default();
        for e in self.lock().values() {
            if e.live.is_active_on_sim() {
                active.push(e.live.clone());
            } else if e.live.is_active() {
                on_desk
                    .entry(e.venue.clone())
                    .or_default()
                    .push(e.live.clone());
            }
        }
        let mut sim = VenueAccount {
            id: "sim".into(),
            venue: "sim".into(),
            equity: 0.0,
            cash: 0.0,
            buying_power: 0.0,
            runs: 0,
            positions: Vec::new(),
        };
        let mut shares = Vec::new();
        for l in active {
            let a = l.account().await;
            sim.equity += a.equity;
            sim.cash += a.cash;
            // The simulated exchange lends nothing: buying power is equity, never negative.
            sim.buying_power += a.equity.max(0.0);
            sim.runs += 1;
            shares.extend(a.positions.into_iter().map(|p| (p.symbol, l.id, p.qty)));
        }
        sim.positions = split(None, shares);
        let mut out = vec![sim];
        let f = |d: rust_decimal::Decimal| d.to_f64().unwrap_or(0.0);
        for (name, desk) in desks {
            let venue = desk.venue();
            let (account, held) = tokio::join!(venue.account(), venue.positions());
            let lives = on_desk.remove(name).unwrap_or_default();
            let mut shares = Vec::new();
            for l in &lives {
                let a = l.account().await;
                shares.extend(a.positions.into_iter().map(|p| (p.symbol, l.id, p.qty)));
            }
            let held = held
                .inspect_err(|e| tracing::warn!(venue = %name, code = e.code(), "venue positions unavailable: {e}"))
                .ok()
                .map(|ps| ps.into_iter().map(|p| (p.symbol, f(p.quantity))).collect());
            match account {
                Ok(a) => out.push(VenueAccount {
                    id: format!("{name}/{}", a.id),
                    venue: name.clone(),
                    equity: f(a.equity),
                    cash: f(a.cash),
                    buying_power: f(a.buying_power),
                    runs: lives.len() as u64,
                    positions: split(held, shares),
                }),
                Err(e) => {
                    tracing::warn!(venue = %name, code = e.code(), "venue account unavailable: {e}");
                }
            }
        }
        out
    }
}
