//! Why an order was refused before reaching the venue, in a form fit for an event: the rule, the
//! offending figure and the configured limit.
//!
//! # Invariants
//! - [`Violation::code`] is stable: existing codes never change meaning (the API and logs show
//!   them).
//! - [`Violation::rule`] is the limit key of the `risk` object when a limit refused the order,
//!   `trading_state` when the manual state did, and the code for an order that is malformed or
//!   cannot be valued.
//! - [`Violation::figure`] and [`Violation::limit`] are in the same unit, so a reader can compare
//!   them; a percentage figure is rounded up, so a refused figure never reads as within its limit.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::TradingState;
use super::guard::{Breach, RiskRule};
use crate::domain::OrderType;

/// Why an order was refused before reaching the venue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// Trading is halted.
    #[error("trading is halted")]
    Halted,
    /// Reduce-only and the order would not reduce the position.
    #[error(
        "trading is reduce-only and this order would not reduce the {symbol} position ({position})"
    )]
    NotReducing {
        /// Symbol.
        symbol: String,
        /// Current position.
        position: Decimal,
    },
    /// Quantity is zero, negative or too precise.
    #[error("invalid quantity {0}: must be positive with at most 9 decimal places")]
    InvalidQuantity(Decimal),
    /// A price is zero, negative or too precise.
    #[error("invalid {field} {value}: must be positive with at most 9 decimal places")]
    InvalidPrice {
        /// `limit_price` or `stop_price`.
        field: &'static str,
        /// The value.
        value: Decimal,
    },
    /// A price the order type requires is missing, or one it must not have is present.
    #[error("{order_type:?} order: {detail}")]
    PriceMismatch {
        /// Order type.
        order_type: OrderType,
        /// What is wrong.
        detail: &'static str,
    },
    /// No reference price to value the order.
    #[error("no reference price for {0}; cannot check the order's value")]
    NoReferencePrice(String),
    /// Order quantity above the configured maximum.
    #[error("quantity {quantity} exceeds the maximum of {max} per order")]
    QuantityTooLarge {
        /// Order quantity.
        quantity: Decimal,
        /// Limit.
        max: Decimal,
    },
    /// Order notional above the configured maximum.
    #[error("notional {notional} exceeds the maximum of {max} per order")]
    NotionalTooLarge {
        /// Order notional.
        notional: Decimal,
        /// Limit.
        max: Decimal,
    },
    /// The position could exceed the configured maximum.
    #[error("{symbol} position could reach {projected}, beyond the maximum of {max}")]
    PositionTooLarge {
        /// Symbol.
        symbol: String,
        /// Worst-case position if everything fills.
        projected: Decimal,
        /// Limit.
        max: Decimal,
    },
    /// Too many working orders.
    #[error("{open} orders already working; the maximum is {max}")]
    TooManyOpenOrders {
        /// Working orders.
        open: usize,
        /// Limit.
        max: usize,
    },
    /// Limit or stop price too far from the reference price.
    #[error(
        "{field} {price} is more than {max_deviation} away from the reference price {reference}"
    )]
    PriceOutOfBand {
        /// `limit_price` or `stop_price`.
        field: &'static str,
        /// The price.
        price: Decimal,
        /// Reference price.
        reference: Decimal,
        /// Allowed relative deviation.
        max_deviation: Decimal,
    },
    /// The symbol is not in `allowed_symbols` and the order does not reduce a position in it.
    #[error("{symbol} is not an allowed symbol; only orders that reduce a position in it may go")]
    SymbolNotAllowed {
        /// Symbol.
        symbol: String,
    },
    /// The gross exposure could exceed the configured maximum.
    #[error("gross exposure could reach {projected}, beyond the maximum of {max}")]
    GrossExposureTooLarge {
        /// Worst-case gross exposure of the scope if everything fills.
        projected: Decimal,
        /// Limit.
        max: Decimal,
    },
    /// Too many orders placed in the last 60 seconds.
    #[error("{placed} orders placed in the last minute; the maximum is {max}")]
    TooManyOrdersPerMinute {
        /// Orders placed in the last 60 seconds.
        placed: u32,
        /// Limit.
        max: u32,
    },
    /// Order notional above the configured share of the equity.
    #[error("notional {notional} is {pct} % of the equity {equity}; the maximum is {max_pct} %")]
    EquityPctTooLarge {
        /// Order notional.
        notional: Decimal,
        /// Current equity.
        equity: Decimal,
        /// Notional as a percentage of the equity, rounded up to 4 decimal places.
        pct: Decimal,
        /// Limit, in percent.
        max_pct: Decimal,
    },
    /// No positive equity is known to check the order against `max_order_equity_pct`.
    #[error("no positive equity known; cannot check the order against {max_pct} % of the equity")]
    NoEquity {
        /// Limit, in percent.
        max_pct: Decimal,
    },
    /// A daily-loss or drawdown breach put the scope in a state that refuses this order.
    #[error(
        "{} breached at {figure} % (limit {limit} %): trading is {state}{}",
        rule.key(),
        if *state == TradingState::Halted { "" } else { " and this order would not reduce a position" }
    )]
    Breached {
        /// The breached rule.
        rule: RiskRule,
        /// The state it put the scope in.
        state: TradingState,
        /// The loss or drawdown when it tripped, in percent.
        figure: Decimal,
        /// Limit, in percent.
        limit: Decimal,
        /// When it tripped.
        since: DateTime<Utc>,
    },
    /// Paused after a run of losing trades; only orders that reduce a position may go.
    #[error(
        "cooling down after {losses} losing trades (limit {limit}) until {until}: only orders that reduce a position may go"
    )]
    Cooldown {
        /// When the pause ends.
        until: DateTime<Utc>,
        /// Losing trades that started the pause.
        losses: Decimal,
        /// Configured `cooldown.losing_trades`.
        limit: Decimal,
    },
    /// The limits or the state of the venue account the order would go to (all runs on it
    /// together) refused it; the run's own allowed it.
    #[error("account {account}: {inner}")]
    Account {
        /// The account's id (`alpaca/<account number>`).
        account: String,
        /// What its rules said.
        inner: Box<Violation>,
    },
}

impl Violation {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Violation::Halted => "trading_halted",
            Violation::NotReducing { .. } => "reduce_only",
            Violation::InvalidQuantity(_) => "invalid_quantity",
            Violation::InvalidPrice { .. } => "invalid_price",
            Violation::PriceMismatch { .. } => "price_mismatch",
            Violation::NoReferencePrice(_) => "no_reference_price",
            Violation::QuantityTooLarge { .. } => "max_order_quantity",
            Violation::NotionalTooLarge { .. } => "max_notional_per_order",
            Violation::PositionTooLarge { .. } => "max_position_per_symbol",
            Violation::TooManyOpenOrders { .. } => "max_open_orders",
            Violation::PriceOutOfBand { .. } => "price_out_of_band",
            Violation::SymbolNotAllowed { .. } => "allowed_symbols",
            Violation::GrossExposureTooLarge { .. } => "max_gross_exposure",
            Violation::TooManyOrdersPerMinute { .. } => "max_orders_per_minute",
            Violation::EquityPctTooLarge { .. } => "max_order_equity_pct",
            Violation::NoEquity { .. } => "no_equity",
            Violation::Breached { rule, .. } => rule.key(),
            Violation::Cooldown { .. } => "cooldown",
            Violation::Account { inner, .. } => inner.code(),
        }
    }

    /// The account whose rules refused the order, when they (not the run's) did.
    pub fn account(&self) -> Option<&str> {
        match self {
            Violation::Account { account, .. } => Some(account),
            _ => None,
        }
    }

    /// The same refusal, said of account `account`.
    pub fn for_account(self, account: &str) -> Violation {
        Violation::Account {
            account: account.to_owned(),
            inner: Box::new(self),
        }
    }

    /// The rule that refused the order: a key of the `risk` object, `trading_state` for the
    /// manual state, or the code for a malformed order or one that cannot be valued.
    pub fn rule(&self) -> &'static str {
        match self {
            Violation::Halted | Violation::NotReducing { .. } => "trading_state",
            Violation::PriceOutOfBand { .. } => "max_price_deviation",
            Violation::NoEquity { .. } => "max_order_equity_pct",
            Violation::Account { inner, .. } => inner.rule(),
            other => other.code(),
        }
    }

    /// The offending value, in the unit of [`Violation::limit`], when there is one.
    pub fn figure(&self) -> Option<Decimal> {
        match self {
            Violation::Halted
            | Violation::NotReducing { .. }
            | Violation::PriceMismatch { .. }
            | Violation::NoReferencePrice(_)
            | Violation::SymbolNotAllowed { .. }
            | Violation::NoEquity { .. } => None,
            Violation::InvalidQuantity(value) | Violation::InvalidPrice { value, .. } => {
                Some(*value)
            }
            Violation::QuantityTooLarge { quantity, .. } => Some(*quantity),
            Violation::NotionalTooLarge { notional, .. } => Some(*notional),
            Violation::PositionTooLarge { projected, .. } => Some(projected.abs()),
            Violation::TooManyOpenOrders { open, .. } => Some(Decimal::from(*open)),
            Violation::PriceOutOfBand {
                price, reference, ..
            } => Some(pct_ceil((*price - *reference).abs(), *reference) / Decimal::ONE_HUNDRED),
            Violation::GrossExposureTooLarge { projected, .. } => Some(*projected),
            Violation::TooManyOrdersPerMinute { placed, .. } => Some(Decimal::from(*placed)),
            Violation::EquityPctTooLarge { pct, .. } => Some(*pct),
            Violation::Breached { figure, .. } => Some(*figure),
            Violation::Cooldown { losses, .. } => Some(*losses),
            Violation::Account { inner, .. } => inner.figure(),
        }
    }

    /// The configured limit that refused the order, when there is one.
    pub fn limit(&self) -> Option<Decimal> {
        match self {
            Violation::Halted
            | Violation::NotReducing { .. }
            | Violation::InvalidQuantity(_)
            | Violation::InvalidPrice { .. }
            | Violation::PriceMismatch { .. }
            | Violation::NoReferencePrice(_)
            | Violation::SymbolNotAllowed { .. } => None,
            Violation::QuantityTooLarge { max, .. }
            | Violation::NotionalTooLarge { max, .. }
            | Violation::PositionTooLarge { max, .. }
            | Violation::GrossExposureTooLarge { max, .. } => Some(*max),
            Violation::TooManyOpenOrders { max, .. } => Some(Decimal::from(*max)),
            Violation::PriceOutOfBand { max_deviation, .. } => Some(*max_deviation),
            Violation::TooManyOrdersPerMinute { max, .. } => Some(Decimal::from(*max)),
            Violation::EquityPctTooLarge { max_pct, .. } | Violation::NoEquity { max_pct } => {
                Some(*max_pct)
            }
            Violation::Breached { limit, .. } | Violation::Cooldown { limit, .. } => Some(*limit),
            Violation::Account { inner, .. } => inner.limit(),
        }
    }
}

impl From<Breach> for Violation {
    /// The refusal a holding breach gives an order its state does not allow.
    fn from(b: Breach) -> Self {
        match b.rule {
            RiskRule::Cooldown => Violation::Cooldown {
                until: b.until.unwrap_or(b.ts),
                losses: b.figure,
                limit: b.limit,
            },
            rule => Violation::Breached {
                rule,
                state: b.state,
                figure: b.figure,
                limit: b.limit,
                since: b.ts,
            },
        }
    }
}

/// `part` as a percentage of `whole` (positive), rounded up to 4 decimal places so that a figure
/// over a limit never displays as equal to it.
pub(crate) fn pct_ceil(part: Decimal, whole: Decimal) -> Decimal {
    (part * Decimal::ONE_HUNDRED / whole)
        .round_dp_with_strategy(4, rust_decimal::RoundingStrategy::AwayFromZero)
        .normalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn existing_codes_are_stable() {
        let cases = [
            (Violation::Halted, "trading_halted"),
            (
                Violation::NotReducing {
                    symbol: "AAPL".into(),
                    position: dec!(1),
                },
                "reduce_only",
            ),
            (Violation::InvalidQuantity(dec!(0)), "invalid_quantity"),
            (
                Violation::NoReferencePrice("A".into()),
                "no_reference_price",
            ),
            (
                Violation::TooManyOpenOrders { open: 1, max: 1 },
                "max_open_orders",
            ),
            (
                Violation::PriceOutOfBand {
                    field: "limit_price",
                    price: dec!(111),
                    reference: dec!(100),
                    max_deviation: dec!(0.1),
                },
                "price_out_of_band",
            ),
        ];
        for (v, code) in cases {
            assert_eq!(v.code(), code);
        }
    }

    #[test]
    fn state_refusals_name_trading_state() {
        let not_reducing = Violation::NotReducing {
            symbol: "AAPL".into(),
            position: dec!(0),
        };
        for v in [Violation::Halted, not_reducing] {
            assert_eq!(v.rule(), "trading_state");
            assert_eq!((v.figure(), v.limit()), (None, None));
        }
    }

    #[test]
    fn price_band_reports_the_deviation_against_its_limit() {
        let v = Violation::PriceOutOfBand {
            field: "limit_price",
            price: dec!(111),
            reference: dec!(100),
            max_deviation: dec!(0.1),
        };
        assert_eq!(v.rule(), "max_price_deviation");
        assert_eq!(v.figure(), Some(dec!(0.11)));
        assert_eq!(v.limit(), Some(dec!(0.1)));
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(pct_ceil(dec!(1), dec!(3)), dec!(33.3334));
        assert_eq!(pct_ceil(dec!(1000001), dec!(1000000)), dec!(100.0001));
        assert_eq!(pct_ceil(dec!(5), dec!(100)), dec!(5));
    }
}
