//! Pre-trade checks: pure functions over one order, the configured limits and a snapshot of the
//! scope's exposure, so they are cheap and exhaustively testable.
//!
//! # Invariants
//! - Fail closed: a check that needs a price refuses the order when none is known.
//! - The order of the checks is fixed (see [`check_order`]), so the same order in the same
//!   situation is always refused for the same reason.

use rust_decimal::Decimal;

use super::TradingState;
use super::limits::RiskLimits;
use super::violation::Violation;
use crate::domain::{OrderType, Side};
use crate::veda::types::{OrderQuantity, OrderRequest};

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
