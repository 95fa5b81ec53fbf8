//! [`WalleJournal`]: the [`OrderJournal`] on WallE. An intent becomes an `orders` row in state
//! `pending_submit`, written in the same transaction as the command routed to the venue
//! (`live.PlaceOrder`, caused by the strategy's decision, which is written first in the same
//! transaction when still queued) and the row's `orders.Intent` event, before the venue is
//! called; outcomes update that row (with an `orders.Updated` event caused by the command). Because the
//! rows outlive the process, [`OrderJournal::pending`] finds in-flight intents again after a
//! restart and [`crate::veda::journal::resolve_pending`] settles them by `client_order_id`.
//!
//! # Mapping
//! | journal state                  | `orders.status`                          |
//! |--------------------------------|------------------------------------------|
//! | `Pending { detail: None }`     | `pending_submit`                         |
//! | `Pending { detail: Some(_) }`  | `unknown` (a send whose outcome is lost) |
//! | `Accepted`                     | `accepted` (or the later state already stored by order updates) |
//! | `Rejected`                     | `rejected`                               |
//! | `NotReceived`                  | `cancelled` with no venue id and no `submitted_at` |
//!
//! The journal's `run_id` is stored in `orders.run_id` when it is a WallE run row id (numeric);
//! other run ids (tests, dry runs) leave the column empty and are carried only on the events.
//! The intent's sequence number is read back from the `client_order_id`
//! ([`crate::veda::client_order_id::derive`] embeds it). `extended_hours` is not stored (the
//! table has no column): a request read back from the store has it `false`.
//!
//! # Invariants
//! - The row and its event commit together; if that fails, `record_intent` errs and nothing may
//!   be sent.
//! - Recording an outcome never moves an order backwards: an `Accepted` for an order already
//!   stored as (partially) filled, cancelled or expired keeps the stored state and quantities.

use async_trait::async_trait;
use chrono::Utc;
use rust_decimal::Decimal;

use crate::events::{Envelope, correlation, payloads};
use crate::veda::journal::{EntryState, JournalEntry, OrderJournal};
use crate::veda::types::{OrderQuantity, OrderRequest};
use crate::veda::{Error, Result};
use crate::walle::{NewOrder, Order, OrderFilter, OrderState, VenueUpdate, Walle};

/// Producer name on the events this journal writes.
const PRODUCER: &str = "veda";

/// The durable order journal on WallE (PostgreSQL or SQLite).
#[derive(Debug, Clone)]
pub struct WalleJournal {
    walle: Walle,
}

impl WalleJournal {
    /// A journal writing through `walle`.
    pub fn new(walle: Walle) -> Self {
        Self { walle }
    }

    /// The store this journal writes to.
    pub fn walle(&self) -> &Walle {
        &self.walle
    }

    /// The stored order of an intent, if any.
    ///
    /// # Errors
    /// [`Error::Journal`] on storage failure.
    pub async fn order(&self, client_order_id: &str) -> Result<Option<Order>> {
        self.walle
            .order_by_client_id(client_order_id)
            .await
            .map_err(store_err)
    }
}

fn store_err(e: crate::walle::Error) -> Error {
    Error::Journal(format!("{} ({})", e, e.code()))
}

fn event(kind: &str, run_id: Option<&str>, order: &OrderEventKeys<'_>) -> Result<Envelope> {
    let e = Envelope::new(
        kind,
        PRODUCER,
        payloads::OrderChanged {
            order_id: order.id,
            client_order_id: order.client_order_id.to_owned(),
            symbol: order.symbol.to_owned(),
            status: order.status.to_owned(),
        },
    )
    .map_err(|e| Error::Journal(e.to_string()))?;
    Ok(match run_id {
        Some(r) => e.for_run(r),
        None => e,
    })
}

/// The `live.PlaceOrder` command of an order request.
fn place_order(r: &OrderRequest) -> payloads::PlaceOrder {
    let (quantity, notional) = match r.quantity {
        OrderQuantity::Units(q) => (Some(q), None),
        OrderQuantity::Notional(n) => (None, Some(n)),
    };
    payloads::PlaceOrder {
        client_order_id: r.client_order_id.clone(),
        symbol: r.symbol.clone(),
        side: r.side,
        order_type: r.order_type,
        time_in_force: r.time_in_force,
        quantity,
        notional,
        limit_price: r.limit_price,
        stop_price: r.stop_price,
    }
}

struct OrderEventKeys<'a> {
    id: i64,
    client_order_id: &'a str,
    symbol: &'a str,
    status: &'a str,
}

/// The sequence number embedded in a derived id, else 0.
fn sequence_of(client_order_id: &str) -> u64 {
    crate::veda::client_order_id::sequence(client_order_id).unwrap_or(0)
}

fn entry_of(order: &Order) -> JournalEntry {
    let quantity = match (order.quantity, order.notional) {
        (Some(q), _) => OrderQuantity::Units(q),
        (None, Some(n)) => OrderQuantity::Notional(n),
        // The table's check constraint makes this unreachable; zero units is refused downstream.
        (None, None) => OrderQuantity::Units(Decimal::ZERO),
    };
    let state = match order.status {
        OrderState::PendingSubmit | OrderState::Submitted => EntryState::Pending { detail: None },
        OrderState::Unknown => EntryState::Pending {
            detail: Some("outcome unknown after a send".into()),
        },
        OrderState::Rejected => EntryState::Rejected {
            reason: "rejected".into(),
        },
        OrderState::Cancelled
            if order.exchange_order_id.is_none() && order.submitted_at.is_none() =>
        {
            EntryState::NotReceived
        }
        _ => EntryState::Accepted {
            venue_order_id: order.exchange_order_id.clone().unwrap_or_default(),
        },
    };
    JournalEntry {
        run_id: order.run_id.map(|r| r.to_string()).unwrap_or_default(),
        sequence: sequence_of(&order.client_order_id),
        request: OrderRequest {
            client_order_id: order.client_order_id.clone(),
            symbol: order.symbol.clone(),
            side: order.side,
            order_type: order.order_type,
            time_in_force: order.time_in_force,
            quantity,
            limit_price: order.limit_price,
            stop_price: order.stop_price,
            extended_hours: false,
        },
        state,
    }
}

#[async_trait]
impl OrderJournal for WalleJournal {
    async fn record_intent(
        &self,
        run_id: &str,
        _sequence: u64,
        request: &OrderRequest,
    ) -> Result<Option<JournalEntry>> {
        let (quantity, notional) = match request.quantity {
            OrderQuantity::Units(q) => (Some(q), None),
            OrderQuantity::Notional(n) => (None, Some(n)),
        };
        let new = NewOrder {
            client_order_id: request.client_order_id.clone(),
            run_id: run_id.parse::<i64>().ok(),
            symbol: request.symbol.clone(),
            side: request.side,
            order_type: request.order_type,
            time_in_force: request.time_in_force,
            quantity,
            notional,
            limit_price: request.limit_price,
            stop_price: request.stop_price,
        };
        let keys = OrderEventKeys {
            id: 0,
            client_order_id: &request.client_order_id,
            symbol: &request.symbol,
            status: "pending_submit",
        };
        // The command routed to the venue, caused by the decision that asked for it (the run's
        // ambient cause), and the order row's own event, caused by the command. The decisions
        // queued so far go first, in the same transaction: a decision is never stored after the
        // order it caused.
        let place = Envelope::new("live.PlaceOrder", PRODUCER, place_order(request))
            .map_err(|e| Error::Journal(e.to_string()))?
            .command()
            .for_run(run_id);
        let place = match correlation::cause() {
            Some(cause) => Envelope {
                causation_id: Some(cause),
                ..place
            },
            None => place,
        };
        let mut ev = event("orders.Intent", Some(run_id), &keys)?;
        ev.causation_id = Some(place.id.to_string());
        // Held until the commit: decisions another writer took earlier commit before these.
        let _gate = correlation::precursor_gate().await;
        let precursors = correlation::take_precursors();
        let taken = precursors.len();
        let mut events = precursors;
        let place_id = place.id;
        events.push(place);
        events.push(ev);
        match self
            .walle
            .insert_order_intent(&new, &events, Some(place_id))
            .await
        {
            Ok((order, created)) => {
                if !created {
                    // A replayed intent writes nothing: its decisions wait for the next write.
                    events.truncate(taken);
                    correlation::restore_precursors(events);
                }
                Ok((!created).then(|| entry_of(&order)))
            }
            Err(e) => {
                events.truncate(taken);
                correlation::restore_precursors(events);
                Err(store_err(e))
            }
        }
    }

    async fn record_state(&self, client_order_id: &str, state: EntryState) -> Result<()> {
        let current = self
            .walle
            .order_by_client_id(client_order_id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| Error::Journal(format!("no intent recorded for {client_order_id}")))?;
        let not_received = state == EntryState::NotReceived;
        let (status, exchange_order_id) = match state {
            EntryState::Pending { detail: None } => (OrderState::PendingSubmit, None),
            EntryState::Pending { detail: Some(_) } => (OrderState::Unknown, None),
            EntryState::Accepted { venue_order_id } => {
                // Order updates may have moved it further already; keep that.
                let later = matches!(
                    current.status,
                    OrderState::PartiallyFilled
                        | OrderState::Filled
                        | OrderState::Cancelled
                        | OrderState::Expired
                ) && current.exchange_order_id.is_some();
                let status = if later {
                    current.status
                } else {
                    OrderState::Accepted
                };
                (status, Some(venue_order_id))
            }
            EntryState::Rejected { .. } => (OrderState::Rejected, None),
            EntryState::NotReceived => (OrderState::Cancelled, None),
        };
        let update = VenueUpdate {
            exchange_order_id,
            status,
            filled_quantity: current.filled_quantity,
            average_price: current.average_price,
            at: Utc::now(),
        };
        let status_text = if not_received {
            "not_received".to_owned()
        } else {
            crate::walle::text_of(&update.status)
        };
        let keys = OrderEventKeys {
            id: current.id,
            client_order_id,
            symbol: &current.symbol,
            status: &status_text,
        };
        let run = current.run_id.map(|r| r.to_string());
        let ev = event("orders.Updated", run.as_deref(), &keys)?;
        self.walle
            .update_order_from_venue(client_order_id, &update, &ev)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn record_cancel(&self, run_id: &str, client_order_id: &str) -> Result<()> {
        let cancel = Envelope::new(
            "live.CancelOrder",
            PRODUCER,
            payloads::CancelOrder {
                client_order_id: client_order_id.to_owned(),
            },
        )
        .map_err(|e| Error::Journal(e.to_string()))?
        .command()
        .for_run(run_id);
        let cancel = Envelope {
            causation_id: correlation::cause(),
            ..cancel
        };
        let _gate = correlation::precursor_gate().await;
        let mut events = correlation::take_precursors();
        let taken = events.len();
        events.push(cancel);
        if let Err(e) = self.walle.append_batch(&events).await {
            events.truncate(taken);
            correlation::restore_precursors(events);
            return Err(store_err(e));
        }
        Ok(())
    }

    async fn pending(&self) -> Result<Vec<JournalEntry>> {
        let mut out = Vec::new();
        for status in [
            OrderState::PendingSubmit,
            OrderState::Submitted,
            OrderState::Unknown,
        ] {
            let mut filter = OrderFilter {
                status: Some(status),
                limit: 1000,
                ..OrderFilter::default()
            };
            loop {
                let page = self.walle.orders(&filter).await.map_err(store_err)?;
                out.extend(page.orders.iter().map(entry_of));
                match page.next_after {
                    Some(after) => filter.after_id = Some(after),
                    None => break,
                }
            }
        }
        out.sort_by(|a, b| a.request.client_order_id.cmp(&b.request.client_order_id));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::sequence_of;
    use crate::veda::client_order_id::derive;

    #[test]
    fn sequence_is_read_back_from_derived_ids() {
        assert_eq!(sequence_of(&derive("run-7", 42)), 42);
        assert_eq!(sequence_of(&derive("", u64::MAX)), u64::MAX);
        assert_eq!(sequence_of("manual"), 0);
    }
}
