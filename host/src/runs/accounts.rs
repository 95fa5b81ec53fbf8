//! Venue accounts (`/accounts`): each with a stable id — `alpaca/<account number>` for a live
//! venue's account, shared by every run on it, and `sim/<run id>` for a simulated run's own
//! paper account — its balances, its positions split by the active runs' shares, and its risk
//! limits and trading state.
//!
//! - A venue account's limits and state live in an [`AccountGate`] every run on the account
//!   checks its orders against after its own, stored in WallE's settings (`account:<id>`) with
//!   the state its rules over time keep, so a restart goes on where it was. The rules over time
//!   are fed by the account watch ([`super::account_watch`]).
//! - A simulated run's account is the run's own: its limits and state are the run's, set
//!   through the same routes.
//! - Flattening an account (its kill switch) asks every active run on it to cancel its orders
//!   and close its share, then cancels every other working order and closes what no active run
//!   holds through orders of the account itself ([`account_orders`]).
//!
//! # Invariants
//! - A change is stored (with its event) before it takes effect, so what the API shows after a
//!   restart is what was in force.
//! - What the account closes for itself is measured before the runs close theirs, and is never
//!   more than the broker holds on that side: a run's fill booked late cannot make the account
//!   flip a position.
//! - `cooldown` is refused on a venue account: it counts one strategy's losing trades.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::Utc;
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde::{Deserialize, Serialize};

use super::active::Live;
use super::{Error, Runs};
use crate::events::{Envelope, payloads};
use crate::veda::desk::Desk;
use crate::veda::journal::store::WalleJournal;
use crate::veda::live::account_orders;
use crate::veda::live::control::{Attempt, FlattenReport};
use crate::veda::live::gate::AccountGate;
use crate::veda::risk::{GuardState, RiskLimits, SessionClock, TradingState};
use crate::veda::types::OrderQuery;

/// The settings key of an account's limits and state.
fn key_of(account: &str) -> String {
    format!("account:{account}")
}

/// What is stored of a venue account.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Stored {
    /// Its limits, every key.
    pub(crate) risk: serde_json::Value,
    /// What its rules over time keep, with the state set by hand.
    pub(crate) guard: Option<GuardState>,
}

/// An account as `GET /accounts` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueAccount {
    /// Stable id: `alpaca/<account number>`, `sim/<run id>`.
    pub id: String,
    /// Venue (`sim`, `alpaca`).
    pub venue: String,
    /// The id's second part.
    pub number: String,
    /// The run whose paper account it is (`sim` only).
    pub run_id: Option<i64>,
    /// Real money.
    pub live: bool,
    /// Equity.
    pub equity: f64,
    /// Cash.
    pub cash: f64,
    /// Buying power.
    pub buying_power: f64,
    /// Active runs on it.
    pub runs: u64,
    /// Positions, each split by the active runs' shares.
    pub positions: Vec<AccountPosition>,
    /// Its limits.
    pub risk: RiskLimits,
    /// Its state in force (set by hand, or a breach's).
    pub state: TradingState,
    /// What its rules over time keep.
    pub guard: Option<GuardState>,
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
    /// positions, or trades made outside Weaver.
    pub unattributed: f64,
}

/// What flattening an account (or closing one of its positions) did.
#[derive(Debug, Default)]
pub struct AccountFlatten {
    /// Each active run's own flatten or close.
    pub runs: Vec<(i64, Result<FlattenReport, Error>)>,
    /// Other working orders asked to cancel (client order ids).
    pub canceled: Vec<String>,
    /// Orders of the account itself closing what no active run holds.
    pub closing: Vec<Attempt>,
    /// What could not be done (retry to finish it).
    pub errors: Vec<String>,
}

/// The venue accounts' gates, by desk name.
#[derive(Default)]
pub(crate) struct AccountBook {
    gates: Mutex<BTreeMap<String, Arc<AccountGate>>>,
    opening: tokio::sync::Mutex<()>,
}

impl AccountBook {
    pub(crate) fn gates(&self) -> Vec<(String, Arc<AccountGate>)> {
        self.gates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// The account a path names.
enum Which {
    /// A simulated run's own.
    Sim(Arc<Live>),
    /// A venue account.
    Desk(Desk, Arc<AccountGate>),
}

/// Sums `shares` (symbol, run, qty) into positions against the account's own `held` where it
/// is known (a live venue), else their sum (a simulated run owns its whole account).
fn split(
    held: Option<Vec<(String, f64)>>,
    shares: Vec<(String, i64, f64)>,
) -> Vec<AccountPosition> {
    let mut by_symbol: BTreeMap<String, AccountPosition> = BTreeMap::new();
    let blank = |symbol: String, qty: f64| AccountPosition {
        symbol,
        qty,
        runs: Vec::new(),
        unattributed: 0.0,
    };
    for (symbol, qty) in held.iter().flatten() {
        by_symbol.insert(symbol.clone(), blank(symbol.clone(), *qty));
    }
    for (symbol, run, qty) in shares {
        let p = by_symbol
            .entry(symbol.clone())
            .or_insert_with(|| blank(symbol, 0.0));
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

impl Runs {
    /// The gate of `desk`'s account, opened (from what is stored) on first use.
    ///
    /// # Errors
    /// [`Error::VenueUnreachable`] when the venue's account cannot be read the first time;
    /// the store's errors.
    pub(crate) async fn gate_of(&self, desk: &Desk) -> Result<Arc<AccountGate>, Error> {
        let book = &self.inner.accounts;
        let cached = || {
            book.gates
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(desk.name())
                .cloned()
        };
        super::account_watch::ensure(self);
        if let Some(gate) = cached() {
            return Ok(gate);
        }
        let _one = book.opening.lock().await;
        if let Some(gate) = cached() {
            return Ok(gate);
        }
        let account = desk.venue().account().await.map_err(|e| {
            Error::VenueUnreachable(format!("{}: account unreadable: {e}", desk.name()))
        })?;
        let id = format!(
            "{}/{}",
            desk.name(),
            account.number.as_deref().unwrap_or(&account.id)
        );
        let stored: Stored = match self.inner.walle.setting(&key_of(&id)).await? {
            Some(s) => serde_json::from_str(&s.value)
                .map_err(|e| Error::Internal(format!("stored account {id} unreadable: {e}")))?,
            None => Stored::default(),
        };
        let limits = match stored.risk {
            serde_json::Value::Null => RiskLimits::default(),
            ref v => RiskLimits::from_json(v)?,
        };
        let gate = Arc::new(AccountGate::new(
            id,
            limits,
            SessionClock::NewYork,
            stored.guard,
        ));
        book.gates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(desk.name().to_owned(), gate.clone());
        Ok(gate)
    }

    /// Stores `gate`'s limits and state (with `event`, if any).
    pub(crate) async fn store_gate(
        &self,
        id: &str,
        limits: &RiskLimits,
        guard: &GuardState,
        event: Option<&Envelope>,
    ) -> Result<(), Error> {
        let stored = Stored {
            risk: serde_json::to_value(limits)
                .map_err(|e| Error::Internal(format!("limits not storable: {e}")))?,
            guard: Some(guard.clone()),
        };
        let text = serde_json::to_string(&stored)
            .map_err(|e| Error::Internal(format!("account not storable: {e}")))?;
        self.inner
            .walle
            .put_setting(&key_of(id), &text, event)
            .await?;
        Ok(())
    }

    async fn which(&self, venue: &str, number: &str) -> Result<Which, Error> {
        let id = format!("{venue}/{number}");
        // A `sim-live` run's account is simulated too: `sim/<run id>`.
        if venue == "sim" {
            let run: i64 = number
                .parse()
                .map_err(|_| Error::AccountNotFound(id.clone()))?;
            return match self.inner.active.live(run) {
                Some(l) if l.is_active_on_sim() => Ok(Which::Sim(l)),
                _ => Err(Error::AccountNotFound(format!(
                    "{id} (a simulated run's account is listed while the run is active; an ended run's is on GET /runs/{run})"
                ))),
            };
        }
        let desk = self
            .inner
            .desks
            .get(venue)
            .ok_or_else(|| Error::AccountNotFound(id.clone()))?;
        let gate = self.gate_of(desk).await?;
        if gate.id() != id {
            return Err(Error::AccountNotFound(id));
        }
        Ok(Which::Desk(desk.clone(), gate))
    }

    /// Every account: each live venue's (omitted, with a warning, when its venue cannot be
    /// asked), then each active simulated run's.
    pub async fn accounts(&self) -> Vec<VenueAccount> {
        let lives = self.inner.active.active_lives();
        let mut out = Vec::new();
        for desk in self.inner.desks.values() {
            match self.desk_account(desk, &lives).await {
                Ok(a) => out.push(a),
                Err(e) => {
                    tracing::warn!(
                        venue = desk.name(),
                        code = e.code(),
                        "venue account unavailable: {e}"
                    );
                }
            }
        }
        for (venue, l) in &lives {
            if (venue == "sim" || venue == crate::veda::sim::LIVE_VENUE) && l.is_active_on_sim() {
                out.push(sim_account(l).await);
            }
        }
        out
    }

    /// One account.
    ///
    /// # Errors
    /// [`Error::AccountNotFound`]; the venue's errors.
    pub async fn account_by(&self, venue: &str, number: &str) -> Result<VenueAccount, Error> {
        match self.which(venue, number).await? {
            Which::Sim(l) => Ok(sim_account(&l).await),
            Which::Desk(desk, _) => {
                let lives = self.inner.active.active_lives();
                self.desk_account(&desk, &lives).await
            }
        }
    }

    async fn desk_account(
        &self,
        desk: &Desk,
        lives: &[(String, Arc<Live>)],
    ) -> Result<VenueAccount, Error> {
        let gate = self.gate_of(desk).await?;
        let venue = desk.venue();
        let (account, held) = tokio::join!(venue.account(), venue.positions());
        let unreachable = |e: crate::veda::Error| {
            Error::VenueUnreachable(format!("{}: {e} ({})", desk.name(), e.code()))
        };
        let (account, held) = (account.map_err(unreachable)?, held.map_err(unreachable)?);
        let f = |d: Decimal| d.to_f64().unwrap_or(0.0);
        let mut shares = Vec::new();
        let mut runs = 0;
        for (_, l) in lives.iter().filter(|(v, _)| v == desk.name()) {
            runs += 1;
            let a = l.account().await;
            shares.extend(a.positions.into_iter().map(|p| (p.symbol, l.id, p.qty)));
        }
        let held = held
            .into_iter()
            .map(|p| (p.symbol, f(p.quantity)))
            .collect();
        let number = gate.id().split_once('/').map_or("", |(_, n)| n).to_owned();
        Ok(VenueAccount {
            id: gate.id().to_owned(),
            venue: desk.name().to_owned(),
            number,
            run_id: None,
            live: desk.is_live(),
            equity: f(account.equity),
            cash: f(account.cash),
            buying_power: f(account.buying_power),
            runs,
            positions: split(Some(held), shares),
            risk: gate.limits(),
            state: gate.state_at(Utc::now()),
            guard: Some(gate.guard_state()),
        })
    }

    /// Sets an account's limits: the whole object (a key left out is off). A simulated run's
    /// account: the run's limits.
    ///
    /// # Errors
    /// [`Error::AccountNotFound`]; [`Error::InvalidRisk`] naming the field (nothing changed).
    pub async fn put_account_risk(
        &self,
        venue: &str,
        number: &str,
        risk: &serde_json::Value,
    ) -> Result<VenueAccount, Error> {
        let limits = RiskLimits::from_json(risk)?;
        match self.which(venue, number).await? {
            Which::Sim(l) => {
                self.set_risk(l.id, limits).await?;
            }
            Which::Desk(_, gate) => {
                if limits.cooldown.is_some() {
                    return Err(Error::InvalidRisk {
                        field: "cooldown".into(),
                        message: "a cooldown counts one strategy's losing trades: set it on the run (PATCH /runs/{id}/risk)".into(),
                    });
                }
                let value = |l: &RiskLimits| serde_json::to_value(l).unwrap_or_default();
                let event = Envelope::new(
                    "risk.AccountLimitsChanged",
                    "glados",
                    payloads::AccountLimitsChanged {
                        account: gate.id().to_owned(),
                        old: value(&gate.limits()),
                        new: value(&limits),
                    },
                )
                .map_err(|e| Error::Internal(format!("event: {e}")))?;
                self.store_gate(gate.id(), &limits, &gate.guard_state(), Some(&event))
                    .await?;
                gate.set_limits(limits);
            }
        }
        self.account_by(venue, number).await
    }

    /// Sets an account's own trading state (a manual `active` clears its breaches), then
    /// flattens it when asked. A simulated run's account: the run's state.
    ///
    /// # Errors
    /// [`Error::AccountNotFound`]; the store's errors (then nothing changed).
    pub async fn set_account_state(
        &self,
        venue: &str,
        number: &str,
        state: TradingState,
        flatten: bool,
    ) -> Result<Option<AccountFlatten>, Error> {
        match self.which(venue, number).await? {
            Which::Sim(l) => {
                let done = self.set_run_state(l.id, state, flatten).await?;
                Ok(done.map(|report| AccountFlatten {
                    runs: vec![(l.id, Ok(report))],
                    ..AccountFlatten::default()
                }))
            }
            Which::Desk(desk, gate) => {
                let event = Envelope::new(
                    "risk.AccountTradingStateChanged",
                    "glados",
                    payloads::AccountTradingState {
                        account: gate.id().to_owned(),
                        state: state.as_str().to_owned(),
                    },
                )
                .map_err(|e| Error::Internal(format!("event: {e}")))?;
                let mut guard = crate::veda::risk::RiskGuard::resume(
                    gate.limits(),
                    SessionClock::NewYork,
                    gate.guard_state(),
                );
                guard.set_state(state);
                self.store_gate(gate.id(), &gate.limits(), guard.snapshot(), Some(&event))
                    .await?;
                gate.set_state(state);
                tracing::info!(
                    account = gate.id(),
                    state = state.as_str(),
                    "account trading state set"
                );
                match flatten {
                    true => Ok(Some(self.flatten_desk(&desk, &gate, None).await)),
                    false => Ok(None),
                }
            }
        }
    }

    /// Closes an account's position in `symbol`: one run's share (`run`), or the whole of it
    /// (every active run's share, then what no active run holds).
    ///
    /// # Errors
    /// [`Error::AccountNotFound`]; `unknown_run` when `run` is not active on the account.
    pub async fn close_account_position(
        &self,
        venue: &str,
        number: &str,
        symbol: &str,
        run: Option<i64>,
    ) -> Result<AccountFlatten, Error> {
        let which = self.which(venue, number).await?;
        let on_account = |id: i64| match &which {
            Which::Sim(l) => l.id == id,
            Which::Desk(desk, _) => self
                .inner
                .active
                .active_lives()
                .iter()
                .any(|(v, l)| v == desk.name() && l.id == id),
        };
        if let Some(id) = run {
            if !on_account(id) {
                return Err(Error::invalid(
                    "unknown_run",
                    format!("run {id} is not active on account {venue}/{number}"),
                ));
            }
            let closed = self.close_by_hand(id, symbol).await;
            return Ok(AccountFlatten {
                runs: vec![(id, closed.map(closing_report))],
                ..AccountFlatten::default()
            });
        }
        match which {
            Which::Sim(l) => Ok(AccountFlatten {
                runs: vec![(
                    l.id,
                    self.close_by_hand(l.id, symbol).await.map(closing_report),
                )],
                ..AccountFlatten::default()
            }),
            Which::Desk(desk, gate) => Ok(self.flatten_desk(&desk, &gate, Some(symbol)).await),
        }
    }

    /// Flattens a venue account (`symbol`: only that position, orders left alone): see the
    /// module docs.
    async fn flatten_desk(
        &self,
        desk: &Desk,
        gate: &AccountGate,
        symbol: Option<&str>,
    ) -> AccountFlatten {
        let mut out = AccountFlatten::default();
        let account = gate.id();
        let venue = desk.venue();
        let lives: Vec<Arc<Live>> = self
            .inner
            .active
            .active_lives()
            .into_iter()
            .filter(|(v, _)| v == desk.name())
            .map(|(_, l)| l)
            .collect();
        let wanted = |s: &str| symbol.is_none_or(|w| w == s);
        // What no active run holds, measured before the runs close theirs.
        let mut shares: HashMap<String, Decimal> = HashMap::new();
        for l in &lives {
            for p in l.account().await.positions {
                *shares.entry(p.symbol).or_default() +=
                    Decimal::from_f64(p.qty).unwrap_or_default();
            }
        }
        let held = match venue.positions().await {
            Ok(held) => held,
            Err(e) => {
                out.errors.push(format!("positions unreadable: {e}"));
                Vec::new()
            }
        };
        let rests: Vec<(String, Decimal)> = held
            .iter()
            .filter(|p| wanted(&p.symbol))
            .filter_map(|p| {
                let rest = p.quantity - shares.get(&p.symbol).copied().unwrap_or_default();
                // Never more than the broker holds, never the other side.
                let bounded = if p.quantity > Decimal::ZERO {
                    rest.clamp(Decimal::ZERO, p.quantity)
                } else {
                    rest.clamp(p.quantity, Decimal::ZERO)
                };
                (!bounded.is_zero()).then(|| (p.symbol.clone(), bounded))
            })
            .collect();
        // Each active run: its own orders and share.
        let asks = lives.iter().map(|l| async move {
            let r = match symbol {
                Some(s) => self.close_by_hand(l.id, s).await.map(closing_report),
                None => self.flatten_run(l.id, true, true).await,
            };
            (l.id, r)
        });
        out.runs = futures::future::join_all(asks).await;
        let journal = WalleJournal::new(self.inner.walle.clone());
        let open = venue.orders(&OrderQuery::default()).await;
        let open = match open {
            Ok(open) => open,
            Err(e) => {
                out.errors.push(format!("open orders unreadable: {e}"));
                Vec::new()
            }
        };
        if symbol.is_none() {
            let active: Vec<i64> = lives.iter().map(|l| l.id).collect();
            for o in open.iter().filter(|o| !o.status.is_terminal()) {
                if account_orders::is_account_order(account, &o.client_order_id) {
                    continue;
                }
                let owner = self
                    .inner
                    .walle
                    .order_by_client_id(&o.client_order_id)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|row| row.run_id);
                if owner.is_some_and(|id| active.contains(&id)) {
                    continue;
                }
                match account_orders::cancel_other(&journal, venue.as_ref(), account, o).await {
                    Ok(()) => out.canceled.push(o.client_order_id.clone()),
                    Err(e) => out.errors.push(e),
                }
            }
        }
        let first = u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default();
        for (i, (symbol, rest)) in rests.into_iter().enumerate() {
            let sequence = first.saturating_mul(100) + i as u64;
            if let Some(a) = account_orders::close_rest(
                &journal,
                venue.as_ref(),
                account,
                &symbol,
                rest,
                &open,
                sequence,
            )
            .await
            {
                out.closing.push(a);
            }
        }
        tracing::info!(
            %account,
            runs = out.runs.len(),
            canceled = out.canceled.len(),
            closing = out.closing.len(),
            errors = out.errors.len(),
            "account flattened"
        );
        out
    }
}

/// A run's close of one position as a flatten's report.
fn closing_report(a: Option<Attempt>) -> FlattenReport {
    FlattenReport {
        closing: a.into_iter().collect(),
        ..FlattenReport::default()
    }
}

/// A simulated run's own account.
async fn sim_account(l: &Live) -> VenueAccount {
    let a = l.account().await;
    let shares = a
        .positions
        .iter()
        .map(|p| (p.symbol.clone(), l.id, p.qty))
        .collect();
    let guard = l
        .figures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .risk_guard
        .clone();
    VenueAccount {
        id: format!("sim/{}", l.id),
        venue: "sim".into(),
        number: l.id.to_string(),
        run_id: Some(l.id),
        live: false,
        equity: a.equity,
        cash: a.cash,
        // The simulated exchange lends nothing: buying power is equity, never negative.
        buying_power: a.equity.max(0.0),
        runs: 1,
        positions: split(None, shares),
        risk: l
            .limits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
        state: super::risk::own_state(guard.as_ref()),
        guard,
    }
}
