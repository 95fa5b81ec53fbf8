//! Start-up recovery on WallE, before any run may trade: resolve in-flight intents by
//! `client_order_id`, then reconcile open orders, fills and positions with the venue, record the
//! fills Weaver missed and the final states it missed, and report which symbols stay blocked.
//!
//! # Invariants
//! - Pending intents are resolved before reconciliation, so an order that reached the venue is
//!   known (not mistaken for a foreign one).
//! - A missed fill is recorded once: its fill id is derived from the venue order id and the
//!   filled quantity it brings the order to, and WallE stores a fill id at most once.
//! - Recorded positions are the sum of the orders' recorded filled quantities (signed by side).
//! - Nothing here changes the venue.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::Side;
use crate::events::{Envelope, payloads};
use crate::veda::journal::store::WalleJournal;
use crate::veda::journal::{Resolution, resolve_pending_where};
use crate::veda::reconcile::{KnownOrder, LocalState, Report, fetch_and_reconcile};
use crate::veda::store_wait::{STORE_PATIENCE, StoreWait};
use crate::veda::types::{TradeEvent, TradeUpdate, VenueOrder, VenueOrderStatus};
use crate::veda::{Error, Result, Venue};
use crate::walle::{NewFill, OrderFilter, OrderState, VenueUpdate, Walle};

/// What [`recover`] did and found.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    /// How in-flight intents were settled.
    pub resolution: Resolution,
    /// The reconciliation; [`Report::check_run`] refuses runs on blocked symbols.
    pub report: Report,
    /// Fills recorded from the venue's report.
    pub recorded_fills: usize,
}

fn store_err(e: crate::walle::Error) -> Error {
    Error::Journal(format!("{} ({})", e, e.code()))
}

/// Weaver's belief from WallE: working orders and positions from recorded fills.
///
/// # Errors
/// [`Error::Journal`] when the store cannot be read.
pub async fn local_state(walle: &Walle) -> Result<LocalState> {
    local_state_of(walle, None).await
}

/// [`local_state`] over the orders of `runs` only (`None`: every order). A database shared by
/// several venues compares each venue with its own runs' orders.
///
/// # Errors
/// As [`local_state`].
pub(crate) async fn local_state_of(
    walle: &Walle,
    runs: Option<&std::collections::BTreeSet<i64>>,
) -> Result<LocalState> {
    let mut state = LocalState::default();
    let mut positions: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut filter = OrderFilter {
        limit: 1000,
        ..OrderFilter::default()
    };
    loop {
        let page = walle.orders(&filter).await.map_err(store_err)?;
        for o in &page.orders {
            if runs.is_some_and(|runs| !o.run_id.is_some_and(|r| runs.contains(&r))) {
                continue;
            }
            let signed = if o.side == Side::Buy {
                o.filled_quantity
            } else {
                -o.filled_quantity
            };
            if !signed.is_zero() {
                *positions.entry(o.symbol.clone()).or_default() += signed;
            }
            if matches!(
                o.status,
                OrderState::Submitted | OrderState::Accepted | OrderState::PartiallyFilled
            ) {
                state.open_orders.push(KnownOrder {
                    client_order_id: o.client_order_id.clone(),
                    symbol: o.symbol.clone(),
                    side: o.side,
                    filled_quantity: o.filled_quantity,
                });
            }
        }
        match page.next_after {
            Some(after) => filter.after_id = Some(after),
            None => break,
        }
    }
    state.positions = positions
        .into_iter()
        .filter(|(_, q)| !q.is_zero())
        .collect();
    Ok(state)
}

pub(crate) fn state_of(status: VenueOrderStatus) -> OrderState {
    match status {
        VenueOrderStatus::Filled => OrderState::Filled,
        VenueOrderStatus::PartiallyFilled => OrderState::PartiallyFilled,
        VenueOrderStatus::Canceled | VenueOrderStatus::DoneForDay | VenueOrderStatus::Replaced => {
            OrderState::Cancelled
        }
        VenueOrderStatus::Expired => OrderState::Expired,
        VenueOrderStatus::Rejected | VenueOrderStatus::Suspended => OrderState::Rejected,
        _ => OrderState::Accepted,
    }
}

pub(crate) async fn record_venue_state(walle: &Walle, order: &VenueOrder) -> Result<()> {
    let Some(row) = walle
        .order_by_client_id(&order.client_order_id)
        .await
        .map_err(store_err)?
    else {
        return Ok(());
    };
    let status = state_of(order.status);
    let event = Envelope::new(
        "orders.Updated",
        "veda",
        payloads::OrderChanged {
            order_id: row.id,
            client_order_id: order.client_order_id.clone(),
            symbol: order.symbol.clone(),
            status: crate::walle::text_of(&status),
        },
    )
    .map_err(|e| Error::Journal(e.to_string()))?;
    let update = VenueUpdate {
        exchange_order_id: Some(order.id.clone()),
        status,
        filled_quantity: order.filled_quantity,
        average_price: order.filled_avg_price,
        at: order
            .updated_at
            .or(order.filled_at)
            .unwrap_or_else(Utc::now),
    };
    walle
        .update_order_from_venue(&order.client_order_id, &update, &event)
        .await
        .map_err(store_err)?;
    Ok(())
}

/// Resolves pending intents, reconciles with the venue (orders since `since`), records missed
/// fills and final states, and returns the report. Call it on start, before any run trades;
/// then refuse each run whose symbols [`Report::check_run`] rejects (`venue_unreconciled`).
///
/// # Errors
/// [`Error::Journal`] on storage failure; the venue's errors when it cannot be asked (then
/// nothing may trade).
pub async fn recover(
    journal: &WalleJournal,
    venue: &dyn Venue,
    since: DateTime<Utc>,
) -> Result<Recovery> {
    recover_runs(journal, venue, since, None).await
}

/// [`recover`] limited to the orders of `runs` (`None`: every order): the runs that trade on
/// `venue`, so intents and positions of runs on another venue (the simulated exchange) are
/// neither resolved against nor compared with this one.
///
/// # Errors
/// As [`recover`].
pub async fn recover_runs(
    journal: &WalleJournal,
    venue: &dyn Venue,
    since: DateTime<Utc>,
    runs: Option<&std::collections::BTreeSet<i64>>,
) -> Result<Recovery> {
    let ours = |e: &crate::veda::journal::JournalEntry| {
        runs.is_none_or(|runs| e.run_id.parse::<i64>().is_ok_and(|r| runs.contains(&r)))
    };
    let resolution = resolve_pending_where(journal, venue, ours).await?;
    let walle = journal.walle();
    let local = local_state_of(walle, runs).await?;
    let report = fetch_and_reconcile(venue, &local, since).await?;
    let mut recorded_fills = 0;
    for missed in &report.missed_fills {
        if book_missed_fill(walle, &missed.order, missed.quantity).await? {
            recorded_fills += 1;
        }
        record_venue_state(walle, &missed.order).await?;
    }
    for o in &report.closed_at_venue {
        record_venue_state(walle, o).await?;
    }
    Ok(Recovery {
        resolution,
        report,
        recorded_fills,
    })
}

/// Books the `quantity` of venue order `o` that Weaver has not recorded as one fill at the
/// venue's average price. Returns whether a fill was stored (false: unknown order, no price, or
/// already booked).
async fn book_missed_fill(walle: &Walle, o: &VenueOrder, quantity: Decimal) -> Result<bool> {
    let Some(row) = walle
        .order_by_client_id(&o.client_order_id)
        .await
        .map_err(store_err)?
    else {
        return Ok(false);
    };
    // The venue reports an average price; the missed part is booked at it.
    let Some(price) = o.filled_avg_price.filter(|p| *p > Decimal::ZERO) else {
        return Ok(false);
    };
    let filled_at = o.filled_at.or(o.updated_at).unwrap_or_else(Utc::now);
    let venue_fill_id = format!("{}:reconciled:{}", o.id, o.filled_quantity.normalize());
    let event = Envelope::new(
        "orders.Filled.v2",
        "veda",
        payloads::OrderFilledV2 {
            client_order_id: o.client_order_id.clone(),
            venue_fill_id: venue_fill_id.clone(),
            quantity,
            price,
            fee: Decimal::ZERO,
            filled_at,
        },
    )
    .map_err(|e| Error::Journal(e.to_string()))?;
    let fill = NewFill {
        order_id: row.id,
        venue_fill_id,
        quantity,
        price,
        fee: Decimal::ZERO,
        filled_at,
    };
    Ok(walle
        .insert_fill(&fill, &event)
        .await
        .map_err(store_err)?
        .is_some())
}

/// Records what a stream's REST reconciliation after a reconnect shows
/// ([`crate::veda::types::OrderStreamEvent::Reconciled`]): for every order Weaver journaled,
/// the filled quantity it had not recorded is booked as one fill, and the order's state is
/// brought up to date. Orders Weaver did not journal are ignored. Returns the fills stored.
///
/// # Errors
/// [`Error::Journal`] on storage failure.
pub async fn record_reconciled(walle: &Walle, orders: &[VenueOrder]) -> Result<usize> {
    let mut stored = 0;
    for o in orders {
        let Some(row) = walle
            .order_by_client_id(&o.client_order_id)
            .await
            .map_err(store_err)?
        else {
            continue;
        };
        let missed = o.filled_quantity - row.filled_quantity;
        if missed > Decimal::ZERO && book_missed_fill(walle, o, missed).await? {
            stored += 1;
        }
        record_venue_state(walle, o).await?;
    }
    Ok(stored)
}

/// [`record_trade_update`], tried again while the store cannot take it (an outage, a full disk)
/// for up to [`STORE_PATIENCE`]: a fill is not lost to an outage, and trying again is safe (a fill
/// is stored once per execution id). The updates behind it wait.
///
/// # Errors
/// The last storage failure, once the limit passed (the reconciliation after the next reconnect
/// or restart books what is missing).
pub async fn record_trade_update_patiently(walle: &Walle, update: &TradeUpdate) -> Result<bool> {
    let mut wait = StoreWait::new(STORE_PATIENCE).reporting(walle.faults());
    let mut warned = false;
    loop {
        match record_trade_update(walle, update).await {
            Err(e) if !wait.expired() => {
                wait.failed(&e.to_string());
                if !std::mem::replace(&mut warned, true) {
                    tracing::warn!(
                    client_order_id = %update.order.client_order_id,
                    code = e.code(),
                    "order update not recorded yet; trying again: {e}"
                    );
                }
                wait.pause().await;
            }
            other => {
                if other.is_ok() {
                    wait.wrote();
                }
                return other;
            }
        }
    }
}

/// Records one live order update from the venue's stream: a fill (once per execution id) and the
/// order's new state. Updates for orders Weaver did not journal are ignored (reconciliation
/// reports those). Returns whether a new fill was stored.
///
/// # Errors
/// [`Error::Journal`] on storage failure.
pub async fn record_trade_update(walle: &Walle, update: &TradeUpdate) -> Result<bool> {
    let o = &update.order;
    let Some(row) = walle
        .order_by_client_id(&o.client_order_id)
        .await
        .map_err(store_err)?
    else {
        return Ok(false);
    };
    let mut stored = false;
    if matches!(update.event, TradeEvent::Fill | TradeEvent::PartialFill)
        && let (Some(execution_id), Some(price), Some(quantity)) =
            (&update.execution_id, update.price, update.quantity)
    {
        let filled_at = update.timestamp.or(o.filled_at).unwrap_or_else(Utc::now);
        let event = Envelope::new(
            "orders.Filled.v2",
            "veda",
            payloads::OrderFilledV2 {
                client_order_id: o.client_order_id.clone(),
                venue_fill_id: execution_id.clone(),
                quantity,
                price,
                fee: Decimal::ZERO,
                filled_at,
            },
        )
        .map_err(|e| Error::Journal(e.to_string()))?;
        let fill = NewFill {
            order_id: row.id,
            venue_fill_id: execution_id.clone(),
            quantity,
            price,
            fee: Decimal::ZERO,
            filled_at,
        };
        stored = walle
            .insert_fill(&fill, &event)
            .await
            .map_err(store_err)?
            .is_some();
    }
    record_venue_state(walle, o).await?;
    Ok(stored)
}
