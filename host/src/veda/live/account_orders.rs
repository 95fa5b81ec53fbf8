//! Orders placed for a venue account itself, not for a run: when an account is flattened (its
//! kill switch) or a position is closed as a whole, what no active run holds — positions kept
//! by runs that ended, trades made outside Weaver — is closed here, and the working orders no
//! active run placed are cancelled here. Active runs close and cancel their own through their
//! runners ([`super::control`]).
//!
//! # Invariants
//! - Every order goes through the journal ([`place_order_keyed`]) before the venue, under a
//!   client order id derived from the account's scope ([`scope_of`]), so it is recorded, its
//!   fills are booked by the desk's recorder, and its row says it belongs to no run.
//! - Closing is idempotent: the quantity closed is what is held less what the account's own
//!   closing orders still working will close, so a repeat places nothing more.
//! - Only reductions: a close never opens or flips a position (its quantity is bounded by the
//!   position, on the opposite side).

use rust_decimal::Decimal;

use super::control::Attempt;
use crate::domain::{OrderType, Side, TimeInForce};
use crate::veda::journal::{IntentKey, OrderJournal, place_order_keyed};
use crate::veda::risk::{Exposure, RiskLimits, TradingState};
use crate::veda::types::{OrderQuantity, OrderRequest, VenueOrder};
use crate::veda::{Venue, client_order_id};

/// What an account's own orders are journaled under (their `run_id` in the journal's events).
pub fn scope_of(account: &str) -> String {
    format!("account:{account}")
}

/// True when `client_order_id` was made for account `account` ([`close_rest`]).
pub fn is_account_order(account: &str, client_order_id: &str) -> bool {
    client_order_id::derived_from(&scope_of(account), client_order_id)
}

/// Units still to fill of the account's own working orders in `symbol` on `side`.
fn closing_in_flight(account: &str, open: &[VenueOrder], symbol: &str, side: Side) -> Decimal {
    open.iter()
        .filter(|o| {
            o.symbol == symbol
                && o.side == side
                && !o.status.is_terminal()
                && is_account_order(account, &o.client_order_id)
        })
        .filter_map(|o| o.quantity.map(|q| q - o.filled_quantity))
        .sum()
}

/// Closes `rest` (signed: what no active run holds of `symbol`) with one market order for the
/// account, less what its closing orders still working will close; `None` when nothing is left
/// to close. `sequence` makes the client order id (a new one per request: the journal keeps
/// the intent before the venue sees it).
///
/// # Errors
/// None: a refusal or a failure is the attempt's outcome.
pub async fn close_rest(
    journal: &dyn OrderJournal,
    venue: &dyn Venue,
    account: &str,
    symbol: &str,
    rest: Decimal,
    open: &[VenueOrder],
    sequence: u64,
) -> Option<Attempt> {
    let side = if rest > Decimal::ZERO {
        Side::Sell
    } else {
        Side::Buy
    };
    let qty = rest.abs() - closing_in_flight(account, open, symbol, side);
    if qty <= Decimal::ZERO {
        return None;
    }
    let scope = scope_of(account);
    let cid = client_order_id::derive(&scope, sequence);
    let request = OrderRequest {
        client_order_id: String::new(),
        symbol: symbol.to_owned(),
        side,
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Gtc,
        quantity: OrderQuantity::Units(qty),
        limit_price: None,
        stop_price: None,
        extended_hours: false,
    };
    // A reduction of what the account holds: the sanity checks apply, limits on activity do not.
    let exposure = Exposure {
        state: TradingState::ReduceOnly,
        breach: None,
        reference_price: None,
        position: rest,
        open_buy_quantity: Decimal::ZERO,
        open_sell_quantity: Decimal::ZERO,
        open_orders: 0,
        equity: None,
        gross_exposure: Decimal::ZERO,
        orders_last_minute: 0,
    };
    let key = IntentKey {
        sequence,
        client_order_id: cid.clone(),
    };
    let outcome = place_order_keyed(
        journal,
        venue,
        &scope,
        key,
        request,
        &RiskLimits::default(),
        &exposure,
    )
    .await;
    Some(Attempt {
        sequence,
        client_order_id: cid,
        symbol: symbol.to_owned(),
        side,
        outcome: outcome.map_err(|e| match &e {
            crate::veda::Error::PreTrade(v) => (v.code(), v.to_string()),
            _ => (e.code(), e.to_string()),
        }),
    })
}

/// Cancels `order` (working on the account, placed by no active run): recorded in the journal
/// when Weaver placed it, then asked of the venue.
///
/// # Errors
/// The venue's refusal, in words.
pub async fn cancel_other(
    journal: &dyn OrderJournal,
    venue: &dyn Venue,
    account: &str,
    order: &VenueOrder,
) -> Result<(), String> {
    if let Err(e) = journal
        .record_cancel(&scope_of(account), &order.client_order_id)
        .await
    {
        // The venue is still asked: only the record is missing.
        tracing::warn!(%account, code = e.code(), "cancel not recorded: {e}");
    }
    venue
        .cancel_order(&order.id)
        .await
        .map_err(|e| format!("cancel {}: {e}", order.client_order_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_orders_are_told_apart_from_runs() {
        let id = client_order_id::derive(&scope_of("alpaca/PA1"), 17);
        assert!(is_account_order("alpaca/PA1", &id));
        assert!(!is_account_order("alpaca/PA2", &id));
        assert!(!is_account_order(
            "alpaca/PA1",
            &client_order_id::derive("42-abc", 17)
        ));
    }
}
