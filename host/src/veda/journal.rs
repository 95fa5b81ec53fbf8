//! The order journal seam: every order intent is made durable *before* it is sent, under the
//! `client_order_id` the venue will see, and its outcome is recorded after. WallE implements
//! [`OrderJournal`] on the database (one transaction with the event append); [`InMemoryJournal`]
//! serves tests and the fake. [`place_order`] is the one path from an order to a venue, and
//! [`resolve_pending`] settles intents whose outcome was unknown (after a crash, or a submit that
//! could not be resolved).
//!
//! # Invariants
//! - `record_intent` happens-before the venue call; if it fails, nothing is sent.
//! - An intent is recorded at most once per `client_order_id`; recording it again (a replay after a
//!   restart) returns the existing entry, and the venue is asked about that id before anything is
//!   sent again.
//! - An entry leaves [`EntryState::Pending`] only on a definitive answer: the venue's order, a
//!   definitive rejection, or "the venue has no such order" found while nothing is in flight.

pub mod recover;
pub mod store;

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::veda::risk::{self, Exposure, RiskLimits};
use crate::veda::types::{OrderRequest, VenueOrder};
use crate::veda::{Error, Result, Venue, client_order_id};

/// Where an intent stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum EntryState {
    /// Recorded; the venue's answer is not known yet (in flight, or unresolved).
    Pending {
        /// Why it is still unknown, if an attempt already failed.
        detail: Option<String>,
    },
    /// The venue has the order.
    Accepted {
        /// The venue's order id.
        venue_order_id: String,
    },
    /// The venue (or the pre-flight lookup) definitively refused it.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Resolution found that the venue never received it (nothing was in flight any more).
    NotReceived,
}

/// One journaled intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The run that placed it.
    pub run_id: String,
    /// The intent's sequence number in the run.
    pub sequence: u64,
    /// The order as sent (its `client_order_id` is the key).
    pub request: OrderRequest,
    /// Where it stands.
    pub state: EntryState,
}

/// Durable record of order intents and their outcomes (implemented by WallE).
#[async_trait]
pub trait OrderJournal: Send + Sync {
    /// Records the intent before it is sent. Returns `None` when newly recorded, or the existing
    /// entry when this `client_order_id` was recorded before (a replay).
    ///
    /// # Errors
    /// [`Error::Journal`] when it could not be made durable; the order must then not be sent.
    async fn record_intent(
        &self,
        run_id: &str,
        sequence: u64,
        request: &OrderRequest,
    ) -> Result<Option<JournalEntry>>;

    /// Records a new state for the intent with this `client_order_id`.
    ///
    /// # Errors
    /// [`Error::Journal`] on storage failure or an unknown id.
    async fn record_state(&self, client_order_id: &str, state: EntryState) -> Result<()>;

    /// Every entry still [`EntryState::Pending`].
    ///
    /// # Errors
    /// [`Error::Journal`] on storage failure.
    async fn pending(&self) -> Result<Vec<JournalEntry>>;

    /// Records that run `run_id` asked to cancel `client_order_id`, before the venue is asked
    /// (a journal that keeps no command log records nothing).
    ///
    /// # Errors
    /// [`Error::Journal`] on storage failure.
    async fn record_cancel(&self, run_id: &str, client_order_id: &str) -> Result<()> {
        let _ = (run_id, client_order_id);
        Ok(())
    }
}

/// A journal in memory (tests, the fake, dry runs); lost on restart by nature.
#[derive(Debug, Default)]
pub struct InMemoryJournal {
    entries: Mutex<BTreeMap<String, JournalEntry>>,
}

impl InMemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry for a client order id.
    pub fn get(&self, client_order_id: &str) -> Option<JournalEntry> {
        self.lock().get(client_order_id).cloned()
    }

    /// Every entry, by client order id.
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, JournalEntry>> {
        // A poisoned map is still consistent: every mutation is a single insert.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl OrderJournal for InMemoryJournal {
    async fn record_intent(
        &self,
        run_id: &str,
        sequence: u64,
        request: &OrderRequest,
    ) -> Result<Option<JournalEntry>> {
        let mut entries = self.lock();
        if let Some(existing) = entries.get(&request.client_order_id) {
            return Ok(Some(existing.clone()));
        }
        let entry = JournalEntry {
            run_id: run_id.to_owned(),
            sequence,
            request: request.clone(),
            state: EntryState::Pending { detail: None },
        };
        entries.insert(request.client_order_id.clone(), entry);
        Ok(None)
    }

    async fn record_state(&self, client_order_id: &str, state: EntryState) -> Result<()> {
        let mut entries = self.lock();
        let entry = entries
            .get_mut(client_order_id)
            .ok_or_else(|| Error::Journal(format!("no intent recorded for {client_order_id}")))?;
        entry.state = state;
        Ok(())
    }

    async fn pending(&self) -> Result<Vec<JournalEntry>> {
        Ok(self
            .lock()
            .values()
            .filter(|e| matches!(e.state, EntryState::Pending { .. }))
            .cloned()
            .collect())
    }
}

/// An intent's identity in its run: its sequence number and the `client_order_id` derived for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentKey {
    /// The intent's sequence number in the run.
    pub sequence: u64,
    /// The idempotency key the venue sees ([`client_order_id::derive`] of the run's order scope
    /// and `sequence`).
    pub client_order_id: String,
}

/// Places intent number `sequence` of run `run_id`: derives the `client_order_id` from the run id
/// (see [`place_order_keyed`]), runs the pre-trade checks, journals the intent, submits it once
/// and records the outcome.
///
/// # Errors
/// As [`place_order_keyed`].
pub async fn place_order(
    journal: &dyn OrderJournal,
    venue: &dyn Venue,
    run_id: &str,
    sequence: u64,
    order: OrderRequest,
    limits: &RiskLimits,
    exposure: &Exposure,
) -> Result<VenueOrder> {
    let key = IntentKey {
        sequence,
        client_order_id: client_order_id::derive(run_id, sequence),
    };
    place_order_keyed(journal, venue, run_id, key, order, limits, exposure).await
}

/// Places the intent `key` of run `run_id`: runs the pre-trade checks, journals the intent under
/// `key.client_order_id`, submits it once and records the outcome. Runs on a venue shared
/// beyond one database (Alpaca) derive the id from a scope unique to the installation, so two
/// databases never reuse one.
///
/// `order.client_order_id` is overwritten with `key.client_order_id`.
///
/// # Errors
/// [`Error::PreTrade`] (nothing recorded or sent), [`Error::Journal`] (nothing sent), the venue's
/// definitive rejection (recorded), or [`Error::OutcomeUnknown`] (left pending for
/// [`resolve_pending`]).
pub async fn place_order_keyed(
    journal: &dyn OrderJournal,
    venue: &dyn Venue,
    run_id: &str,
    key: IntentKey,
    mut order: OrderRequest,
    limits: &RiskLimits,
    exposure: &Exposure,
) -> Result<VenueOrder> {
    let sequence = key.sequence;
    order.client_order_id = key.client_order_id;
    risk::check_order(&order, limits, exposure)?;
    let cid = order.client_order_id.clone();
    if let Some(existing) = journal.record_intent(run_id, sequence, &order).await? {
        // A replay: never send before asking the venue about this id.
        if let Some(found) = venue.order_by_client_id(&cid).await? {
            journal
                .record_state(
                    &cid,
                    EntryState::Accepted {
                        venue_order_id: found.id.clone(),
                    },
                )
                .await?;
            return Ok(found);
        }
        if let EntryState::Rejected { reason } = existing.state {
            return Err(Error::Rejected {
                status: 0,
                code: None,
                message: format!("already rejected: {reason}"),
            });
        }
    }
    match venue.submit_order(&order).await {
        Ok(accepted) => {
            journal
                .record_state(
                    &cid,
                    EntryState::Accepted {
                        venue_order_id: accepted.id.clone(),
                    },
                )
                .await?;
            Ok(accepted)
        }
        Err(err) if err.is_definitive_rejection() => {
            journal
                .record_state(
                    &cid,
                    EntryState::Rejected {
                        reason: err.to_string(),
                    },
                )
                .await?;
            Err(err)
        }
        Err(err) => {
            journal
                .record_state(
                    &cid,
                    EntryState::Pending {
                        detail: Some(err.to_string()),
                    },
                )
                .await?;
            Err(err)
        }
    }
}

/// What [`resolve_pending`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolution {
    /// Intents found at the venue (client order id → venue order).
    pub accepted: Vec<VenueOrder>,
    /// Intents the venue never received.
    pub not_received: Vec<JournalEntry>,
    /// Intents that could not be resolved now (venue unreachable); still pending.
    pub unresolved: Vec<(JournalEntry, Error)>,
}

/// Resolves every pending intent by `client_order_id`. Call it only when nothing is in flight
/// (on start, before any run may trade), because "not found" is then definitive.
///
/// # Errors
/// [`Error::Journal`] when the journal cannot be read or updated; venue failures leave the entry
/// pending and are reported in [`Resolution::unresolved`].
pub async fn resolve_pending(journal: &dyn OrderJournal, venue: &dyn Venue) -> Result<Resolution> {
    resolve_pending_where(journal, venue, |_| true).await
}

/// [`resolve_pending`] for the pending entries `keep` accepts only: those of the runs that trade
/// on `venue` when one journal serves several venues.
///
/// # Errors
/// As [`resolve_pending`].
pub async fn resolve_pending_where(
    journal: &dyn OrderJournal,
    venue: &dyn Venue,
    keep: impl Fn(&JournalEntry) -> bool,
) -> Result<Resolution> {
    let mut resolution = Resolution::default();
    for entry in journal.pending().await?.into_iter().filter(|e| keep(e)) {
        let cid = entry.request.client_order_id.clone();
        match venue.order_by_client_id(&cid).await {
            Ok(Some(order)) => {
                journal
                    .record_state(
                        &cid,
                        EntryState::Accepted {
                            venue_order_id: order.id.clone(),
                        },
                    )
                    .await?;
                resolution.accepted.push(order);
            }
            Ok(None) => {
                journal.record_state(&cid, EntryState::NotReceived).await?;
                resolution.not_received.push(entry);
            }
            Err(err) => resolution.unresolved.push((entry, err)),
        }
    }
    Ok(resolution)
}
