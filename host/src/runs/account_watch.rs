//! The account watch: one task for the process that, once per heartbeat period
//! (`WEAVER_RUN_HEARTBEAT_MS`), reads each open venue account's equity and positions at the
//! broker, feeds the equity to the account's rules over time (daily loss, drawdown), and
//! compares the positions with what Weaver's records of the account add up to.
//!
//! - A rule that trips puts every run on the account in its state (their orders are checked
//!   against the account's gate) and is said as `risk.AccountLimitBreached`.
//! - A position the broker holds that the records do not explain (every fill of every run ever
//!   on the account, ended runs' too, and the account's own orders) is said as
//!   `reconcile.PositionMismatch` with both figures, once when it appears or changes, and once
//!   with a zero difference when it is gone.
//!
//! # Invariants
//! - The watch runs while a run of this process trades on a venue account (each such run's
//!   start makes sure of it), and ends with the last one, so an idle process has no task left.
//! - A difference is said only when two reads in a row agree on it: a fill on its way between
//!   the broker and the store is not a mismatch.
//! - A broker that cannot be read skips that account's turn; nothing is concluded from it.
//! - The task holds the runs only while it works: it ends at shutdown or when the runs are gone.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::Utc;
use rust_decimal::Decimal;

use super::{Error, Inner, Runs};
use crate::domain::Side;
use crate::events::{Envelope, payloads};
use crate::veda::desk::Desk;
use crate::veda::live::gate::AccountGate;
use crate::walle::OrderFilter;

/// What the watch remembers between turns, per (account, symbol) and per account.
#[derive(Default)]
struct Memory {
    /// The difference last said.
    told: HashMap<(String, String), Decimal>,
    /// The difference seen at the last turn, not yet said.
    seen: HashMap<(String, String), Decimal>,
    /// The account's stored rules' state, as last written.
    stored: HashMap<String, String>,
}

/// Starts the watch unless it runs (called whenever an account's gate is taken).
pub(crate) fn ensure(runs: &Runs) {
    let inner = &runs.inner;
    if inner
        .watching
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let weak = Arc::downgrade(inner);
    let shutdown = inner.shutdown.clone();
    let period = Duration::from_millis(inner.config.heartbeat_ms.max(1));
    inner.tasks.spawn(async move {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = watch_loop(weak, period) => {}
        }
    });
}

async fn watch_loop(weak: Weak<Inner>, period: Duration) {
    let mut memory = Memory::default();
    loop {
        tokio::time::sleep(period).await;
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let runs = Runs { inner };
        for (name, gate) in runs.inner.accounts.gates() {
            if let Some(desk) = runs.inner.desks.get(&name) {
                runs.watch_account(desk, &gate, &mut memory).await;
            }
        }
        if !trading_on_a_desk(&runs) {
            let watching = &runs.inner.watching;
            watching.store(false, Ordering::Release);
            // A run started meanwhile found the flag still set and started no task: carry on
            // for it, unless its `ensure` already started a new one.
            if !trading_on_a_desk(&runs)
                || watching
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                return;
            }
        }
    }
}

/// Whether a run of this process trades on a venue account (none: nothing to watch for).
fn trading_on_a_desk(runs: &Runs) -> bool {
    runs.inner
        .active
        .active_lives()
        .iter()
        // A `sim-live` run trades on its own simulated account, not the venue's.
        .any(|(venue, _)| venue != "sim" && venue != crate::veda::sim::LIVE_VENUE)
}

impl Runs {
    async fn watch_account(&self, desk: &Desk, gate: &AccountGate, memory: &mut Memory) {
        let account = gate.id().to_owned();
        let venue = desk.venue();
        let (equity, held) = tokio::join!(venue.account(), venue.positions());
        match equity {
            Ok(a) => {
                for b in gate.on_equity(Utc::now(), a.equity) {
                    tracing::warn!(%account, rule = b.rule.key(), figure = %b.figure, limit = %b.limit, state = b.state.as_str(), "account risk limit tripped");
                    self.say(
                        "risk.AccountLimitBreached",
                        payloads::AccountLimitBreached {
                            account: account.clone(),
                            rule: b.rule.key().to_owned(),
                            figure: b.figure,
                            limit: b.limit,
                            state: b.state.as_str().to_owned(),
                            at: b.ts,
                            until: b.until,
                        },
                    )
                    .await;
                }
                let state = gate.guard_state();
                let text = serde_json::to_string(&state).unwrap_or_default();
                if memory.stored.get(&account) != Some(&text) {
                    match self
                        .store_gate(&account, &gate.limits(), &state, None)
                        .await
                    {
                        Ok(()) => {
                            memory.stored.insert(account.clone(), text);
                        }
                        Err(e) => {
                            tracing::warn!(%account, code = e.code(), "account state not stored: {e}");
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(%account, code = e.code(), "account unreadable; its rules are not fed this turn: {e}");
            }
        }
        let Ok(held) = held else {
            return;
        };
        let recorded = match self.recorded_positions(desk.name()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%account, code = e.code(), "records unreadable; positions not compared: {e}");
                return;
            }
        };
        let broker: HashMap<String, Decimal> =
            held.into_iter().map(|p| (p.symbol, p.quantity)).collect();
        let symbols: BTreeSet<&String> = broker.keys().chain(recorded.keys()).collect();
        let mut differences = Vec::new();
        for symbol in symbols {
            let b = broker.get(symbol).copied().unwrap_or_default();
            let r = recorded.get(symbol).copied().unwrap_or_default();
            differences.push((symbol.clone(), b, r, (b - r).normalize()));
        }
        for (symbol, broker_qty, recorded_qty, difference) in differences {
            let key = (account.clone(), symbol.clone());
            let told = memory.told.get(&key).copied().unwrap_or_default();
            if difference == told {
                memory.seen.remove(&key);
                continue;
            }
            if memory.seen.get(&key) == Some(&difference) {
                tracing::warn!(%account, %symbol, %broker_qty, %recorded_qty, "broker position differs from Weaver's records");
                self.say(
                    "reconcile.PositionMismatch",
                    payloads::PositionMismatch {
                        account: account.clone(),
                        symbol,
                        broker_qty,
                        recorded_qty,
                        difference,
                    },
                )
                .await;
                memory.told.insert(key.clone(), difference);
                memory.seen.remove(&key);
            } else {
                memory.seen.insert(key, difference);
            }
        }
    }

    /// What Weaver's records of the account on venue `venue` add up to, per symbol: the fills
    /// of every run ever on it and of the account's own orders (orders of no run).
    async fn recorded_positions(&self, venue: &str) -> Result<HashMap<String, Decimal>, Error> {
        let w = &self.inner.walle;
        let on_venue: BTreeSet<i64> = w
            .runs(None, i64::MAX)
            .await?
            .into_iter()
            .filter(|r| r.venue == venue)
            .map(|r| r.id)
            .collect();
        let mut out: HashMap<String, Decimal> = HashMap::new();
        let mut after = None;
        loop {
            let page = w
                .orders(&OrderFilter {
                    after_id: after,
                    limit: 1000,
                    ..OrderFilter::default()
                })
                .await?;
            for o in &page.orders {
                if o.filled_quantity.is_zero() || o.run_id.is_some_and(|id| !on_venue.contains(&id))
                {
                    continue;
                }
                let signed = match o.side {
                    Side::Buy => o.filled_quantity,
                    Side::Sell => -o.filled_quantity,
                };
                *out.entry(o.symbol.clone()).or_default() += signed;
            }
            match page.next_after {
                Some(next) => after = Some(next),
                None => return Ok(out),
            }
        }
    }

    async fn say(&self, kind: &str, payload: impl serde::Serialize) {
        let event = match Envelope::new(kind, "veda", payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(kind, "event not made: {e}");
                return;
            }
        };
        if let Err(e) = self.inner.walle.append(&event).await {
            tracing::error!(kind, code = e.code(), "event not stored: {e}");
        }
    }
}
