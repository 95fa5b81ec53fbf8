//! Pre-trade checks: the last gate before an order reaches a venue. Pure functions over the order,
//! the configured limits and a snapshot of the run's exposure, so they are cheap and exhaustively
//! testable.
//!
//! # Invariants
//! - Fail closed: when a check needs a price and none is known, the order is refused.
//! - [`TradingState::Halted`] refuses everything; [`TradingState::ReduceOnly`] accepts only orders
//!   that shrink the absolute position without flipping it, counting orders already working.
//! - Position and open-order checks count working orders in the worst case (all of them fill).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::{OrderType, Side};
use crate::veda::types::{OrderQuantity, OrderRequest};

/// Whether orders may be placed; set through the API (GLaDOS) per venue or run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradingState {
    /// Orders are accepted.
    #[default]
    Active,
    /// Only orders that reduce an existing position are accepted.
    ReduceOnly,
    /// No orders are accepted.
    Halted,
}

impl TradingState {
    fn severity(self) -> u8 {
        match self {
            TradingState::Active => 0,
            TradingState::ReduceOnly => 1,
            TradingState::Halted => 2,
        }
    }

    /// The stricter of two states.
    pub fn stricter(self, other: TradingState) -> TradingState {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }
}

/// The trading states the API sets: one global switch plus per-run overrides. A run's effective
/// state is the stricter of the two, so halting globally halts every run whatever its own state.
#[derive(Debug, Default)]
pub struct TradingSwitch {
    global: std::sync::RwLock<TradingState>,
    runs: std::sync::RwLock<std::collections::HashMap<String, TradingState>>,
}

impl TradingSwitch {
    /// A switch with everything active.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the global state.
    pub fn set_global(&self, state: TradingState) {
        // A poisoned lock still holds a valid state (a plain value).
        *self
            .global
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = state;
    }

    /// Sets one run's own state (nothing in the API sets one yet; the checks already honour it).
    #[cfg(test)]
    fn set_run(&self, run_id: &str, state: TradingState) {
        self.runs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(run_id.to_owned(), state);
    }

    /// The global state.
    pub fn global(&self) -> TradingState {
        *self
            .global
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state in force for a run.
    pub fn effective(&self, run_id: &str) -> TradingState {
        let own = self
            .runs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(run_id)
            .copied()
            .unwrap_or_default();
        self.global().stricter(own)
    }
}

/// Configured limits; `None` disables a check.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RiskLimits {
    /// Largest notional (quantity × price) of a single order.
    pub max_notional_per_order: Option<Decimal>,
    /// Largest absolute position in one symbol, in units, counting working orders.
    pub max_position_per_symbol: Option<Decimal>,
    /// Most orders working at once (in this scope).
    pub max_open_orders: Option<usize>,
    /// Largest quantity of a single order, in units (fat-finger guard).
    pub max_order_quantity: Option<Decimal>,
    /// Largest relative distance of a limit or stop price from the reference price
    /// (`0.1` = 10 %).
    pub max_price_deviation: Option<Decimal>,
}

/// What the checks need to know about the current exposure in the order's symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exposure {
    /// Trading state in force.
    pub state: TradingState,
    /// Last known price of the symbol, if any.
    pub reference_price: Option<Decimal>,
    /// Current signed position in units.
    pub position: Decimal,
    /// Units of working buy orders in the symbol.
    pub open_buy_quantity: Decimal,
    /// Units of working sell orders in the symbol.
    pub open_sell_quantity: Decimal,
    /// Working orders in scope (all symbols).
    pub open_orders: usize,
}

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
        }
    }
}

const MAX_SCALE: u32 = 9;

fn sane(value: Decimal) -> bool {
    value > Decimal::ZERO && value.normalize().scale() <= MAX_SCALE
}

/// Checks one order against the limits and the current exposure.
///
/// # Errors
/// The first [`Violation`] found, in this order: state halted, quantity and price sanity, price
/// band, order size, reduce-only, position, open orders.
pub fn check_order(
    order: &OrderRequest,
    limits: &RiskLimits,
    exposure: &Exposure,
) -> Result<(), Violation> {
    if exposure.state == TradingState::Halted {
        return Err(Violation::Halted);
    }
    let amount = match order.quantity {
        OrderQuantity::Units(q) | OrderQuantity::Notional(q) => q,
    };
    if !sane(amount) {
        return Err(Violation::InvalidQuantity(amount));
    }
    check_prices(order)?;

    // The price that values the order: the worst price it can execute at if known, else the last.
    let valuation = match order.order_type {
        OrderType::Limit | OrderType::StopLimit => order.limit_price,
        OrderType::Stop => order.stop_price.or(exposure.reference_price),
        OrderType::Market => exposure.reference_price,
    };
    if let (Some(reference), Some(max_dev)) = (exposure.reference_price, limits.max_price_deviation)
    {
        for (field, price) in [
            ("limit_price", order.limit_price),
            ("stop_price", order.stop_price),
        ] {
            if let Some(price) = price
                && reference > Decimal::ZERO
                && ((price - reference).abs() / reference) > max_dev
            {
                return Err(Violation::PriceOutOfBand {
                    field,
                    price,
                    reference,
                    max_deviation: max_dev,
                });
            }
        }
    }

    // Units and notional of the order; notional orders are converted with the valuation price.
    let (units, notional) = match order.quantity {
        OrderQuantity::Units(q) => (Some(q), valuation.map(|p| q * p)),
        OrderQuantity::Notional(n) => (
            valuation.filter(|p| *p > Decimal::ZERO).map(|p| n / p),
            Some(n),
        ),
    };

    if let Some(max) = limits.max_order_quantity {
        let units = units.ok_or_else(|| Violation::NoReferencePrice(order.symbol.clone()))?;
        if units > max {
            return Err(Violation::QuantityTooLarge {
                quantity: units,
                max,
            });
        }
    }
    if let Some(max) = limits.max_notional_per_order {
        let notional = notional.ok_or_else(|| Violation::NoReferencePrice(order.symbol.clone()))?;
        if notional > max {
            return Err(Violation::NotionalTooLarge { notional, max });
        }
    }

    let signed = |u: Decimal| if order.side == Side::Buy { u } else { -u };
    if exposure.state == TradingState::ReduceOnly {
        let units = units.ok_or_else(|| Violation::NoReferencePrice(order.symbol.clone()))?;
        // Count working orders on the same side: together they must not flip the position.
        let (pending, allowed) = match order.side {
            Side::Buy => (exposure.open_buy_quantity, -exposure.position),
            Side::Sell => (exposure.open_sell_quantity, exposure.position),
        };
        if allowed <= Decimal::ZERO || pending + units > allowed {
            return Err(Violation::NotReducing {
                symbol: order.symbol.clone(),
                position: exposure.position,
            });
        }
    }

    if let Some(max) = limits.max_position_per_symbol {
        let units = units.ok_or_else(|| Violation::NoReferencePrice(order.symbol.clone()))?;
        let projected = match order.side {
            Side::Buy => exposure.position + exposure.open_buy_quantity + units,
            Side::Sell => exposure.position - exposure.open_sell_quantity - units,
        };
        // An order that brings the position closer to flat is always allowed.
        let reduces = (exposure.position + signed(units)).abs() < exposure.position.abs();
        if projected.abs() > max && !reduces {
            return Err(Violation::PositionTooLarge {
                symbol: order.symbol.clone(),
                projected,
                max,
            });
        }
    }

    if let Some(max) = limits.max_open_orders
        && exposure.open_orders >= max
    {
        return Err(Violation::TooManyOpenOrders {
            open: exposure.open_orders,
            max,
        });
    }
    Ok(())
}

fn check_prices(order: &OrderRequest) -> Result<(), Violation> {
    let mismatch = |detail| {
        Err(Violation::PriceMismatch {
            order_type: order.order_type,
            detail,
        })
    };
    match order.order_type {
        OrderType::Market if order.limit_price.is_some() || order.stop_price.is_some() => {
            return mismatch("market orders carry no limit or stop price");
        }
        OrderType::Limit if order.limit_price.is_none() => {
            return mismatch("limit_price is required");
        }
        OrderType::Limit if order.stop_price.is_some() => {
            return mismatch("limit orders carry no stop_price");
        }
        OrderType::Stop if order.stop_price.is_none() => return mismatch("stop_price is required"),
        OrderType::Stop if order.limit_price.is_some() => {
            return mismatch("stop orders carry no limit_price");
        }
        OrderType::StopLimit if order.limit_price.is_none() || order.stop_price.is_none() => {
            return mismatch("limit_price and stop_price are required");
        }
        _ => {}
    }
    if matches!(order.quantity, OrderQuantity::Notional(_)) && order.order_type != OrderType::Market
    {
        return mismatch("notional sizing is only possible for market orders");
    }
    for (field, price) in [
        ("limit_price", order.limit_price),
        ("stop_price", order.stop_price),
    ] {
        if let Some(value) = price
            && !sane(value)
        {
            return Err(Violation::InvalidPrice { field, value });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TimeInForce;
    use rust_decimal::dec;

    fn order(side: Side, order_type: OrderType, quantity: OrderQuantity) -> OrderRequest {
        OrderRequest {
            client_order_id: "w-test-1".into(),
            symbol: "AAPL".into(),
            side,
            order_type,
            time_in_force: TimeInForce::Day,
            quantity,
            limit_price: None,
            stop_price: None,
            extended_hours: false,
        }
    }

    fn market_buy(units: Decimal) -> OrderRequest {
        order(Side::Buy, OrderType::Market, OrderQuantity::Units(units))
    }

    fn priced(price: Decimal) -> Exposure {
        Exposure {
            reference_price: Some(price),
            ..Exposure::default()
        }
    }

    #[test]
    fn the_switch_applies_the_stricter_state() {
        let switch = TradingSwitch::new();
        assert_eq!(switch.effective("r1"), TradingState::Active);
        switch.set_run("r1", TradingState::ReduceOnly);
        assert_eq!(switch.effective("r1"), TradingState::ReduceOnly);
        assert_eq!(switch.effective("r2"), TradingState::Active);
        switch.set_global(TradingState::Halted);
        assert_eq!(switch.effective("r1"), TradingState::Halted);
        assert_eq!(switch.effective("r2"), TradingState::Halted);
        switch.set_global(TradingState::Active);
        assert_eq!(switch.effective("r1"), TradingState::ReduceOnly);
    }

    #[test]
    fn halted_refuses_everything_including_reducing_orders() {
        let ex = Exposure {
            state: TradingState::Halted,
            position: dec!(10),
            ..priced(dec!(100))
        };
        let sell = order(Side::Sell, OrderType::Market, OrderQuantity::Units(dec!(1)));
        assert_eq!(
            check_order(&sell, &RiskLimits::default(), &ex),
            Err(Violation::Halted)
        );
    }

    #[test]
    fn quantity_and_price_sanity() {
        let limits = RiskLimits::default();
        let ex = priced(dec!(100));
        assert!(matches!(
            check_order(&market_buy(dec!(0)), &limits, &ex),
            Err(Violation::InvalidQuantity(_))
        ));
        assert!(matches!(
            check_order(&market_buy(dec!(-1)), &limits, &ex),
            Err(Violation::InvalidQuantity(_))
        ));
        assert!(matches!(
            check_order(&market_buy(dec!(0.0000000001)), &limits, &ex),
            Err(Violation::InvalidQuantity(_))
        ));
        assert_eq!(check_order(&market_buy(dec!(0.5)), &limits, &ex), Ok(()));

        let mut limit = order(Side::Buy, OrderType::Limit, OrderQuantity::Units(dec!(1)));
        assert_eq!(
            check_order(&limit, &limits, &ex).map_err(|e| e.code()),
            Err("price_mismatch")
        );
        limit.limit_price = Some(dec!(0));
        assert_eq!(
            check_order(&limit, &limits, &ex).map_err(|e| e.code()),
            Err("invalid_price")
        );
        limit.limit_price = Some(dec!(99.5));
        assert_eq!(check_order(&limit, &limits, &ex), Ok(()));
        let mut market = market_buy(dec!(1));
        market.stop_price = Some(dec!(1));
        assert_eq!(
            check_order(&market, &limits, &ex).map_err(|e| e.code()),
            Err("price_mismatch")
        );
        let notional_limit = OrderRequest {
            limit_price: Some(dec!(1)),
            ..order(
                Side::Buy,
                OrderType::Limit,
                OrderQuantity::Notional(dec!(100)),
            )
        };
        assert_eq!(
            check_order(&notional_limit, &limits, &ex).map_err(|e| e.code()),
            Err("price_mismatch")
        );
    }

    #[test]
    fn price_band_catches_fat_fingers() {
        let limits = RiskLimits {
            max_price_deviation: Some(dec!(0.1)),
            ..RiskLimits::default()
        };
        let mut limit = order(Side::Buy, OrderType::Limit, OrderQuantity::Units(dec!(1)));
        limit.limit_price = Some(dec!(111));
        assert_eq!(
            check_order(&limit, &limits, &priced(dec!(100))).map_err(|e| e.code()),
            Err("price_out_of_band")
        );
        limit.limit_price = Some(dec!(109));
        assert_eq!(check_order(&limit, &limits, &priced(dec!(100))), Ok(()));
    }

    #[test]
    fn max_notional_per_order_uses_worst_known_price_and_fails_closed() {
        let limits = RiskLimits {
            max_notional_per_order: Some(dec!(1000)),
            ..RiskLimits::default()
        };
        assert_eq!(
            check_order(&market_buy(dec!(10)), &limits, &priced(dec!(100))),
            Ok(())
        );
        assert_eq!(
            check_order(&market_buy(dec!(10.01)), &limits, &priced(dec!(100))),
            Err(Violation::NotionalTooLarge {
                notional: dec!(1001.00),
                max: dec!(1000)
            })
        );
        assert_eq!(
            check_order(&market_buy(dec!(1)), &limits, &Exposure::default()),
            Err(Violation::NoReferencePrice("AAPL".into()))
        );
        // A limit order is valued at its limit, not the last price.
        let mut limit = order(Side::Buy, OrderType::Limit, OrderQuantity::Units(dec!(10)));
        limit.limit_price = Some(dec!(101));
        assert_eq!(
            check_order(&limit, &limits, &priced(dec!(50))).map_err(|e| e.code()),
            Err("max_notional_per_order")
        );
        let notional = order(
            Side::Buy,
            OrderType::Market,
            OrderQuantity::Notional(dec!(1500)),
        );
        assert_eq!(
            check_order(&notional, &limits, &priced(dec!(100))).map_err(|e| e.code()),
            Err("max_notional_per_order")
        );
    }

    #[test]
    fn max_position_counts_working_orders_but_allows_reducing() {
        let limits = RiskLimits {
            max_position_per_symbol: Some(dec!(100)),
            ..RiskLimits::default()
        };
        let ex = Exposure {
            position: dec!(60),
            open_buy_quantity: dec!(30),
            ..priced(dec!(10))
        };
        assert_eq!(check_order(&market_buy(dec!(10)), &limits, &ex), Ok(()));
        assert_eq!(
            check_order(&market_buy(dec!(11)), &limits, &ex),
            Err(Violation::PositionTooLarge {
                symbol: "AAPL".into(),
                projected: dec!(101),
                max: dec!(100)
            })
        );
        let over = Exposure {
            position: dec!(150),
            ..priced(dec!(10))
        };
        let sell = order(
            Side::Sell,
            OrderType::Market,
            OrderQuantity::Units(dec!(20)),
        );
        assert_eq!(check_order(&sell, &limits, &over), Ok(()));
        let short = order(
            Side::Sell,
            OrderType::Market,
            OrderQuantity::Units(dec!(101)),
        );
        assert_eq!(
            check_order(&short, &limits, &priced(dec!(10))).map_err(|e| e.code()),
            Err("max_position_per_symbol")
        );
    }

    #[test]
    fn max_open_orders() {
        let limits = RiskLimits {
            max_open_orders: Some(3),
            ..RiskLimits::default()
        };
        let two = Exposure {
            open_orders: 2,
            ..priced(dec!(10))
        };
        let three = Exposure {
            open_orders: 3,
            ..priced(dec!(10))
        };
        assert_eq!(check_order(&market_buy(dec!(1)), &limits, &two), Ok(()));
        assert_eq!(
            check_order(&market_buy(dec!(1)), &limits, &three),
            Err(Violation::TooManyOpenOrders { open: 3, max: 3 })
        );
    }

    #[test]
    fn reduce_only_accepts_only_shrinking_orders() {
        let limits = RiskLimits::default();
        let long = Exposure {
            state: TradingState::ReduceOnly,
            position: dec!(10),
            ..priced(dec!(10))
        };
        let sell = |q| order(Side::Sell, OrderType::Market, OrderQuantity::Units(q));
        assert_eq!(check_order(&sell(dec!(10)), &limits, &long), Ok(()));
        assert_eq!(
            check_order(&sell(dec!(11)), &limits, &long).map_err(|e| e.code()),
            Err("reduce_only")
        );
        assert_eq!(
            check_order(&market_buy(dec!(1)), &limits, &long).map_err(|e| e.code()),
            Err("reduce_only")
        );
        // Working sells count: 8 already working leaves room for 2.
        let working = Exposure {
            open_sell_quantity: dec!(8),
            ..long
        };
        assert_eq!(check_order(&sell(dec!(2)), &limits, &working), Ok(()));
        assert_eq!(
            check_order(&sell(dec!(3)), &limits, &working).map_err(|e| e.code()),
            Err("reduce_only")
        );
        let short = Exposure {
            state: TradingState::ReduceOnly,
            position: dec!(-5),
            ..priced(dec!(10))
        };
        assert_eq!(check_order(&market_buy(dec!(5)), &limits, &short), Ok(()));
        let flat = Exposure {
            state: TradingState::ReduceOnly,
            ..priced(dec!(10))
        };
        assert_eq!(
            check_order(&sell(dec!(1)), &limits, &flat).map_err(|e| e.code()),
            Err("reduce_only")
        );
    }
}
