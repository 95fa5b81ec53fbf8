//! The host budget of a sandbox: what the host holds or builds on the guest's behalf, counted
//! from the intents the guest returns before the host acts on any of them.
//!
//! Everything the host allocates for a guest follows from its intents: the intents themselves
//! (log lines included), the data windows a `fetch-window` makes the engine build, and the
//! order update a placement, cancel or close queues for delivery. A bar and every event it
//! causes (order updates, data windows, and whatever the guest answers to those) is one
//! cascade the engines (Greta, the live runner) finish before the next bar, so the ledger
//! counts per cascade: it is reset when bars are delivered and charged with every reply.
//!
//! # Invariants
//! - The charge of a reply is an upper bound of what the host allocates for it: a window costs
//!   `lookback` bars (an engine never builds more), an intent its size and its text, a queued
//!   delivery [`QUEUED_DELIVERY_BYTES`].
//! - A reply that would bring the cascade's charge past the limit is refused with
//!   `strategy_host_budget_exceeded` before any engine sees its intents; the charge depends only
//!   on the guest's replies, so the refusal comes at the same reply in a backtest, a replay and
//!   a live run.

use super::Error;
use crate::domain::{Bar, Intent};

/// What the host holds for one queued delivery (an order update or a data window's envelope),
/// beyond the window's bars.
pub(super) const QUEUED_DELIVERY_BYTES: usize = 256;

/// Bytes of one bar in a data window.
const BAR_BYTES: usize = std::mem::size_of::<Bar>();

/// Bytes the host holds for `intent`: the intent, its text, and what it makes the host build.
pub(super) fn cost(intent: &Intent) -> usize {
    let own = std::mem::size_of::<Intent>();
    own + match intent {
        Intent::FetchWindow {
            symbol, lookback, ..
        } => symbol.len() + QUEUED_DELIVERY_BYTES + (*lookback as usize).saturating_mul(BAR_BYTES),
        Intent::PlaceOrder(order) => {
            order.symbol.len() + order.tag.as_ref().map_or(0, String::len) + QUEUED_DELIVERY_BYTES
        }
        Intent::CancelOrder { client_order_id } => client_order_id.len() + QUEUED_DELIVERY_BYTES,
        Intent::ClosePosition { symbol } => symbol.len() + QUEUED_DELIVERY_BYTES,
        Intent::Log { message, .. } => message.len(),
    }
}

/// The charge of the current cascade against the sandbox's host budget.
#[derive(Debug, Clone)]
pub(super) struct Ledger {
    limit: usize,
    charged: usize,
    /// Largest charge of a cascade so far (a figure).
    peak: usize,
}

impl Ledger {
    pub(super) fn new(limit: usize) -> Ledger {
        Ledger {
            limit,
            charged: 0,
            peak: 0,
        }
    }

    /// Bars are being delivered: the previous cascade is over.
    pub(super) fn new_cascade(&mut self) {
        self.charged = 0;
    }

    /// The largest charge of one cascade so far, in bytes.
    pub(super) fn peak(&self) -> usize {
        self.peak
    }

    /// Charges a reply's intents.
    ///
    /// # Errors
    /// `strategy_host_budget_exceeded` when the cascade's charge would pass the limit.
    pub(super) fn charge(&mut self, intents: &[Intent]) -> Result<(), Error> {
        let reply: usize = intents.iter().map(cost).fold(0, usize::saturating_add);
        let total = self.charged.saturating_add(reply);
        if total > self.limit {
            let windows: Vec<u32> = intents
                .iter()
                .filter_map(|i| match i {
                    Intent::FetchWindow { lookback, .. } => Some(*lookback),
                    _ => None,
                })
                .collect();
            let asked = if windows.is_empty() {
                format!("{} intents", intents.len())
            } else {
                format!(
                    "{} intents, {} of them data windows of up to {} bars",
                    intents.len(),
                    windows.len(),
                    windows.iter().max().copied().unwrap_or(0)
                )
            };
            return Err(Error::HostBudget(format!(
                "this reply ({asked}) would make the host hold {total} bytes for the strategy \
                 since its last bar, over the {}-byte host budget",
                self.limit
            )));
        }
        self.charged = total;
        self.peak = self.peak.max(total);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{LogLevel, Timeframe};

    fn window(lookback: u32) -> Intent {
        Intent::FetchWindow {
            symbol: "GOOG".into(),
            timeframe: Timeframe::DAY,
            lookback,
        }
    }

    #[test]
    fn a_cascade_is_charged_until_the_next_bars_and_refused_past_the_limit() {
        let one = cost(&window(10_000));
        assert!(one > 10_000 * 48, "a window costs its bars: {one}");
        let mut ledger = Ledger::new(3 * one);
        ledger
            .charge(&[window(10_000), window(10_000)])
            .expect("two fit");
        let err = ledger
            .charge(&[window(10_000), window(10_000)])
            .expect_err("four do not");
        assert_eq!(err.code(), "strategy_host_budget_exceeded");
        assert!(
            err.to_string().contains("data windows of up to 10000 bars"),
            "{err}"
        );
        assert_eq!(ledger.peak(), 2 * one);
        ledger.new_cascade();
        ledger
            .charge(&[window(10_000), window(10_000), window(10_000)])
            .expect("a new bar");
        let log = Intent::Log {
            level: LogLevel::Info,
            message: "x".repeat(4096),
        };
        assert!(cost(&log) >= 4096);
    }
}
