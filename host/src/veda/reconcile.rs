//! Reconciliation: compares what Weaver believes (its open orders, fills and positions) with what
//! the venue reports, after a start or a reconnect, and says what to record (missed fills) and
//! which symbols may not trade until a human looks (unexplained differences).
//!
//! Order of work, as in NautilusTrader: orders, then fills, then positions. A position difference
//! that the missed fills explain is fine; one they do not explain blocks the symbol.
//!
//! # Invariants
//! - Fail closed: a position the venue reports that our records plus missed fills do not explain,
//!   an open order at the venue we do not know, or an order we think open that the venue does not
//!   have, blocks its symbol.
//! - The venue's report is authoritative for what happened; nothing here changes the venue.
//! - Pure over snapshots ([`reconcile`]); [`fetch_and_reconcile`] only adds the venue calls.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::Side;
use crate::veda::types::{OrderQuery, OrderStatusFilter, VenueOrder, VenuePosition};
use crate::veda::{Error, Result, Venue};

/// An order Weaver placed and believes is still working (from the journal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownOrder {
    /// Client order id.
    pub client_order_id: String,
    /// Canonical symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Units Weaver has recorded as filled.
    pub filled_quantity: Decimal,
}

/// What Weaver believes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalState {
    /// Orders believed working.
    pub open_orders: Vec<KnownOrder>,
    /// Recorded signed positions by canonical symbol (absent = flat).
    pub positions: BTreeMap<String, Decimal>,
}

/// What the venue reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VenueState {
    /// Every order the venue has since the reconciliation window's start (open and closed).
    pub orders: Vec<VenueOrder>,
    /// Positions.
    pub positions: Vec<VenuePosition>,
}

/// Fills the venue made that Weaver has not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissedFill {
    /// The order.
    pub order: VenueOrder,
    /// Units filled beyond what Weaver recorded.
    pub quantity: Decimal,
}

/// A position that differs from the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionDifference {
    /// Symbol.
    pub symbol: String,
    /// Recorded position plus missed fills.
    pub expected: Decimal,
    /// What the venue reports.
    pub venue: Decimal,
}

/// The outcome of a reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// Fills to record (then the positions agree).
    pub missed_fills: Vec<MissedFill>,
    /// Orders we believe working whose final state the venue reports (filled, cancelled…).
    pub closed_at_venue: Vec<VenueOrder>,
    /// Open orders at the venue that Weaver did not place or does not know.
    pub unknown_open_orders: Vec<VenueOrder>,
    /// Orders we believe working that the venue does not have at all.
    pub missing_at_venue: Vec<KnownOrder>,
    /// Positions that records plus missed fills do not explain.
    pub unexplained_positions: Vec<PositionDifference>,
}

impl Report {
    /// Symbols that must not trade until the differences are resolved.
    pub fn blocked_symbols(&self) -> BTreeSet<String> {
        self.unknown_open_orders
            .iter()
            .map(|o| o.symbol.clone())
            .chain(self.missing_at_venue.iter().map(|o| o.symbol.clone()))
            .chain(self.unexplained_positions.iter().map(|p| p.symbol.clone()))
            .collect()
    }

    /// Refuses a run that trades any blocked symbol, saying why.
    ///
    /// # Errors
    /// [`Error::Unreconciled`] naming each blocked symbol of the run and its reason.
    pub fn check_run(&self, symbols: &[String]) -> Result<()> {
        let mut reasons = Vec::new();
        for symbol in symbols {
            for o in self
                .unknown_open_orders
                .iter()
                .filter(|o| &o.symbol == symbol)
            {
                reasons.push(format!(
                    "{symbol}: open order {} (client_order_id {}) at the venue that Weaver did not place; cancel it or adopt it",
                    o.id, o.client_order_id
                ));
            }
            for o in self.missing_at_venue.iter().filter(|o| &o.symbol == symbol) {
                reasons.push(format!(
                    "{symbol}: order {} is open in Weaver's records but unknown to the venue",
                    o.client_order_id
                ));
            }
            for p in self
                .unexplained_positions
                .iter()
                .filter(|p| &p.symbol == symbol)
            {
                reasons.push(format!(
                    "{symbol}: venue position {} differs from the recorded {} and no fill explains it",
                    p.venue, p.expected
                ));
            }
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(Error::Unreconciled(reasons.join("; ")))
        }
    }
}

/// Compares local records with the venue's snapshot.
pub fn reconcile(local: &LocalState, venue: &VenueState) -> Report {
    let mut report = Report::default();
    let by_cid: BTreeMap<&str, &VenueOrder> = venue
        .orders
        .iter()
        .map(|o| (o.client_order_id.as_str(), o))
        .collect();
    let known: BTreeSet<&str> = local
        .open_orders
        .iter()
        .map(|o| o.client_order_id.as_str())
        .collect();
    let mut expected = local.positions.clone();

    // Orders, then their fills.
    for mine in &local.open_orders {
        let Some(theirs) = by_cid.get(mine.client_order_id.as_str()) else {
            report.missing_at_venue.push(mine.clone());
            continue;
        };
        let extra = theirs.filled_quantity - mine.filled_quantity;
        if extra > Decimal::ZERO {
            let signed = if theirs.side == Side::Buy {
                extra
            } else {
                -extra
            };
            *expected.entry(theirs.symbol.clone()).or_default() += signed;
            report.missed_fills.push(MissedFill {
                order: (*theirs).clone(),
                quantity: extra,
            });
        }
        if theirs.status.is_terminal() {
            report.closed_at_venue.push((*theirs).clone());
        }
    }
    for theirs in &venue.orders {
        if !theirs.status.is_terminal() && !known.contains(theirs.client_order_id.as_str()) {
            report.unknown_open_orders.push(theirs.clone());
        }
    }

    // Positions: the venue's report is authoritative; records plus missed fills must match it.
    let reported: BTreeMap<&str, Decimal> = venue
        .positions
        .iter()
        .map(|p| (p.symbol.as_str(), p.quantity))
        .collect();
    let symbols: BTreeSet<&str> = reported
        .keys()
        .copied()
        .chain(expected.keys().map(String::as_str))
        .collect();
    for symbol in symbols {
        let venue_qty = reported.get(symbol).copied().unwrap_or_default();
        let expected_qty = expected.get(symbol).copied().unwrap_or_default();
        if venue_qty != expected_qty {
            report.unexplained_positions.push(PositionDifference {
                symbol: symbol.to_owned(),
                expected: expected_qty,
                venue: venue_qty,
            });
        }
    }
    report
}

/// Fetches the venue's orders since `since` and its positions, then reconciles.
///
/// # Errors
/// The venue's errors; a venue that cannot be asked blocks everything (the caller must not trade).
pub async fn fetch_and_reconcile(
    venue: &dyn Venue,
    local: &LocalState,
    since: DateTime<Utc>,
) -> Result<Report> {
    let mut orders = venue
        .orders(&OrderQuery {
            status: OrderStatusFilter::All,
            after: Some(since),
            symbols: Vec::new(),
        })
        .await?;
    // Open orders submitted before the window still matter.
    for open in venue.orders(&OrderQuery::default()).await? {
        if !orders.iter().any(|o| o.id == open.id) {
            orders.push(open);
        }
    }
    // Orders we believe working but submitted before `since`: ask for each by id.
    for mine in &local.open_orders {
        if !orders
            .iter()
            .any(|o| o.client_order_id == mine.client_order_id)
            && let Some(found) = venue.order_by_client_id(&mine.client_order_id).await?
        {
            orders.push(found);
        }
    }
    let positions = venue.positions().await?;
    Ok(reconcile(local, &VenueState { orders, positions }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderType, TimeInForce};
    use crate::veda::types::VenueOrderStatus;
    use rust_decimal::dec;

    fn order(
        cid: &str,
        symbol: &str,
        side: Side,
        status: VenueOrderStatus,
        filled: Decimal,
    ) -> VenueOrder {
        VenueOrder {
            id: format!("id-{cid}"),
            client_order_id: cid.into(),
            symbol: symbol.into(),
            side,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Day,
            quantity: Some(dec!(10)),
            notional: None,
            filled_quantity: filled,
            filled_avg_price: None,
            limit_price: None,
            stop_price: None,
            status,
            created_at: None,
            updated_at: None,
            submitted_at: None,
            filled_at: None,
            replaced_by: None,
            replaces: None,
        }
    }

    fn position(symbol: &str, quantity: Decimal) -> VenuePosition {
        VenuePosition {
            symbol: symbol.into(),
            quantity,
            avg_entry_price: dec!(1),
            market_value: None,
            current_price: None,
            asset_class: None,
        }
    }

    fn known(cid: &str, symbol: &str, filled: Decimal) -> KnownOrder {
        KnownOrder {
            client_order_id: cid.into(),
            symbol: symbol.into(),
            side: Side::Buy,
            filled_quantity: filled,
        }
    }

    #[test]
    fn agreement_is_clean() {
        let local = LocalState {
            open_orders: vec![known("w-1", "AAPL", dec!(0))],
            positions: [("AAPL".into(), dec!(5))].into(),
        };
        let venue = VenueState {
            orders: vec![order(
                "w-1",
                "AAPL",
                Side::Buy,
                VenueOrderStatus::New,
                dec!(0),
            )],
            positions: vec![position("AAPL", dec!(5))],
        };
        let report = reconcile(&local, &venue);
        assert_eq!(report, Report::default());
        assert!(report.check_run(&["AAPL".into()]).is_ok());
    }

    #[test]
    fn missed_fill_explains_the_position() {
        let local = LocalState {
            open_orders: vec![known("w-1", "AAPL", dec!(2))],
            positions: [("AAPL".into(), dec!(2))].into(),
        };
        let venue = VenueState {
            orders: vec![order(
                "w-1",
                "AAPL",
                Side::Buy,
                VenueOrderStatus::Filled,
                dec!(10),
            )],
            positions: vec![position("AAPL", dec!(10))],
        };
        let report = reconcile(&local, &venue);
        assert_eq!(report.missed_fills.len(), 1);
        assert_eq!(report.missed_fills[0].quantity, dec!(8));
        assert_eq!(report.closed_at_venue.len(), 1);
        assert!(report.unexplained_positions.is_empty());
        assert!(report.blocked_symbols().is_empty());
    }

    #[test]
    fn unknown_open_order_and_unexplained_position_block_their_symbols() {
        let local = LocalState::default();
        let venue = VenueState {
            orders: vec![order(
                "manual-1",
                "MSFT",
                Side::Sell,
                VenueOrderStatus::New,
                dec!(0),
            )],
            positions: vec![position("BTC/USD", dec!(0.5))],
        };
        let report = reconcile(&local, &venue);
        assert_eq!(
            report.blocked_symbols(),
            ["BTC/USD".to_owned(), "MSFT".to_owned()].into()
        );
        let err = report
            .check_run(&["MSFT".into(), "AAPL".into()])
            .unwrap_err();
        assert_eq!(err.code(), "venue_unreconciled");
        assert!(err.to_string().contains("manual-1"), "{err}");
        assert!(
            report.check_run(&["AAPL".into()]).is_ok(),
            "other symbols may trade"
        );
    }

    #[test]
    fn an_order_the_venue_does_not_know_blocks() {
        let local = LocalState {
            open_orders: vec![known("w-9", "SPY", dec!(0))],
            positions: BTreeMap::new(),
        };
        let report = reconcile(&local, &VenueState::default());
        assert_eq!(report.missing_at_venue.len(), 1);
        assert!(report.check_run(&["SPY".into()]).is_err());
    }
}
