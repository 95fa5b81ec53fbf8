//! The global trading state (`active` / `reduce_only` / `halted`): one [`TradingSwitch`] per
//! process, shared with every run's pre-trade checks, persisted in WallE's settings.
//!
//! # Invariants
//! - The stored setting is read before the switch is first used, so a server restarted while
//!   `halted` stays halted (fail closed: an unreadable or unknown stored value refuses to load
//!   rather than defaulting to `active`).
//! - A change is stored (with its `ui.TradingState` event) before it takes effect in memory;
//!   changes are serialised, so memory and store agree on the last one. When the store cannot
//!   take it (a full disk, an outage), it takes effect at once anyway and is stored as soon as
//!   the store takes it: the kill switch never waits for the disk.
//! - The event's `producer` stays `glados` (stored events are a contract).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use super::Error;
use crate::events::{Envelope, payloads::TradingStateChanged};
use crate::veda::risk::{TradingState, TradingSwitch};
use crate::veda::store_wait::StoreWait;
use crate::walle::Walle;

/// The settings key.
const KEY: &str = "trading_state";

/// The global state and when an operator last set it (`None`: never, the default `active`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradingStatus {
    /// The state every run's orders are checked against.
    pub state: TradingState,
    /// When it was last set.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The stored text of a state (also the API's and the event's).
pub(crate) fn state_text(s: TradingState) -> &'static str {
    match s {
        TradingState::Active => "active",
        TradingState::ReduceOnly => "reduce_only",
        TradingState::Halted => "halted",
    }
}

/// The state a stored or requested text names.
///
/// # Errors
/// `invalid_trading_state` for anything but `active`, `reduce_only` or `halted`.
pub fn parse_state(s: &str) -> Result<TradingState, Error> {
    match s {
        "active" => Ok(TradingState::Active),
        "reduce_only" => Ok(TradingState::ReduceOnly),
        "halted" => Ok(TradingState::Halted),
        _ => Err(Error::invalid(
            "invalid_trading_state",
            "state must be active, reduce_only or halted",
        )),
    }
}

/// The process's switch and when it was last set.
#[derive(Debug, Default)]
pub(crate) struct Trading {
    switch: Arc<TradingSwitch>,
    updated_at: Mutex<Option<DateTime<Utc>>>,
    loaded: OnceCell<()>,
    writes: tokio::sync::Mutex<()>,
    /// Bumped by each change the store could not take yet (its retry stops when superseded).
    pending: Arc<AtomicU64>,
}

impl Trading {
    /// The switch itself, for runs' pre-trade checks.
    pub(crate) fn switch(&self) -> Arc<TradingSwitch> {
        self.switch.clone()
    }

    /// Loads the stored state into the switch, once.
    async fn ensure_loaded(&self, walle: &Walle) -> Result<(), Error> {
        self.loaded
            .get_or_try_init(|| async {
                if let Some(s) = walle.setting(KEY).await? {
                    let state = parse_state(&s.value).map_err(|_| {
                        Error::Internal(format!("stored trading state {:?} is unknown", s.value))
                    })?;
                    self.switch.set_global(state);
                    *self
                        .updated_at
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(s.updated_at);
                }
                Ok::<(), Error>(())
            })
            .await
            .map(|_| ())
    }

    fn status(&self) -> TradingStatus {
        TradingStatus {
            state: self.switch.global(),
            updated_at: *self
                .updated_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// The current global state, loaded from the store on first use.
    pub(crate) async fn get(&self, walle: &Walle) -> Result<TradingStatus, Error> {
        self.ensure_loaded(walle).await?;
        Ok(self.status())
    }

    /// Stores and applies a new global state; announces it as `ui.TradingState`.
    pub(crate) async fn set(
        &self,
        walle: &Walle,
        wanted: TradingState,
    ) -> Result<TradingStatus, Error> {
        self.ensure_loaded(walle).await?;
        let _serial = self.writes.lock().await;
        let event = Envelope::new(
            "ui.TradingState",
            "glados",
            TradingStateChanged {
                state: state_text(wanted).to_owned(),
                updated_at: Utc::now(),
            },
        )
        .map_err(|e| Error::Internal(e.to_string()))?;
        let stored = walle
            .put_setting(KEY, state_text(wanted), Some(&event))
            .await;
        // Each change supersedes one still waiting to be stored (the generation says which is
        // newest), and takes effect now whether or not the store took it.
        let generation = self.pending.fetch_add(1, Ordering::AcqRel) + 1;
        self.switch.set_global(wanted);
        *self
            .updated_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(
            stored
                .as_ref()
                .map_or_else(|_| Utc::now(), |row| row.updated_at),
        );
        match stored {
            Ok(_) => tracing::info!(state = state_text(wanted), "global trading state set"),
            // The kill switch must work when the store does not (a full disk, an outage): it
            // is stored as soon as the store takes it.
            Err(e) => {
                tracing::error!(
                    state = state_text(wanted),
                    code = e.code(),
                    "global trading state set in memory; stored once the store takes it: {e}"
                );
                let (walle, pending) = (walle.clone(), self.pending.clone());
                let first = e.to_string();
                tokio::spawn(async move {
                    // No limit: the switch's state must reach the store eventually.
                    let mut wait = StoreWait::without_limit().reporting(walle.faults());
                    wait.failed(&first);
                    while pending.load(Ordering::Acquire) == generation {
                        match walle
                            .put_setting(KEY, state_text(wanted), Some(&event))
                            .await
                        {
                            Ok(_) => {
                                wait.wrote();
                                tracing::info!(
                                    state = state_text(wanted),
                                    "global trading state stored"
                                );
                                return;
                            }
                            Err(e) => wait.failed(&e.to_string()),
                        }
                        wait.pause().await;
                    }
                });
            }
        }
        Ok(self.status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_text() {
        for s in [
            TradingState::Active,
            TradingState::ReduceOnly,
            TradingState::Halted,
        ] {
            assert_eq!(parse_state(state_text(s)).unwrap(), s);
        }
    }

    #[test]
    fn unknown_text_is_refused_with_its_code() {
        for bad in ["", "Active", "paused", "halted "] {
            assert_eq!(
                parse_state(bad).unwrap_err().code(),
                "invalid_trading_state"
            );
        }
    }
}
