//! The limits on activity and scope: which symbols, how much of the equity, how large a position
//! and gross exposure, how many orders working and placed per minute. [`super::check_order`] runs
//! them after the checks on the order itself, and only for orders that are not pure reductions.
//!
//! # Invariants
//! - Fail closed: a limit that needs a price or the equity refuses the order when none is known.
//! - Position and gross exposure count working orders in the worst case (all of them fill), and
//!   an order that does not raise that worst case passes even over the limit.
//! - Decisions compare exactly (no division); only reported percentages round, upwards.

use rust_decimal::Decimal;

use super::check::Exposure;
use super::limits::RiskLimits;
use super::violation::{Violation, pct_ceil};
use crate::domain::Side;
use crate::veda::types::OrderRequest;

/// The limits on activity and scope, for an order that is not a pure reduction.
pub(super) fn check_scope(
    order: &OrderRequest,
    limits: &RiskLimits,
    exposure: &Exposure,
    units: Option<Decimal>,
    notional: Option<Decimal>,
    valuation: Option<Decimal>,
) -> Result<(), Violation> {
    let no_price = || Violation::NoReferencePrice(order.symbol.clone());
    if let Some(allowed) = &limits.allowed_symbols
        && !allowed.contains(&order.symbol)
    {
        return Err(Violation::SymbolNotAllowed {
            symbol: order.symbol.clone(),
        });
    }

    if let Some(max_pct) = limits.max_order_equity_pct {
        let notional = notional.ok_or_else(no_price)?;
        let equity = exposure
            .equity
            .filter(|e| *e > Decimal::ZERO)
            .ok_or(Violation::NoEquity { max_pct })?;
        // Compared without dividing, so the decision is exact; only the reported figure rounds.
        if notional * Decimal::ONE_HUNDRED > max_pct * equity {
            return Err(Violation::EquityPctTooLarge {
                notional,
                equity,
                pct: pct_ceil(notional, equity),
                max_pct,
            });
        }
    }

    let signed = |u: Decimal| if order.side == Side::Buy { u } else { -u };
    if let Some(max) = limits.max_position_per_symbol {
        let units = units.ok_or_else(no_price)?;
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

    if let Some(max) = limits.max_gross_exposure {
        let units = units.ok_or_else(no_price)?;
        let price = valuation.ok_or_else(no_price)?;
        // The symbol's worst case before and after the order, as `Exposure::gross_exposure`
        // counts it; an order that does not raise it (a buy against working sells) passes.
        let worst = |buys: Decimal, sells: Decimal| {
            (exposure.position + buys)
                .abs()
                .max((exposure.position - sells).abs())
        };
        let (buys, sells) = (exposure.open_buy_quantity, exposure.open_sell_quantity);
        let before = worst(buys, sells);
        let after = match order.side {
            Side::Buy => worst(buys + units, sells),
            Side::Sell => worst(buys, sells + units),
        };
        let added = (after - before) * price;
        let projected = exposure.gross_exposure + added;
        if added > Decimal::ZERO && projected > max {
            return Err(Violation::GrossExposureTooLarge { projected, max });
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
    if let Some(max) = limits.max_orders_per_minute
        && exposure.orders_last_minute >= max
    {
        return Err(Violation::TooManyOrdersPerMinute {
            placed: exposure.orders_last_minute,
            max,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rust_decimal::dec;

    use super::*;
    use crate::domain::OrderType;
    use crate::veda::risk::check::tests::{denied, market_buy, market_sell, order, priced};
    use crate::veda::risk::{TradingState, check_order};
    use crate::veda::types::OrderQuantity;

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
        assert_eq!(
            denied(&market_buy(dec!(11)), &limits, &ex),
            ("max_position_per_symbol", Some(dec!(101)), Some(dec!(100)))
        );
        let over = Exposure {
            position: dec!(150),
            ..priced(dec!(10))
        };
        assert_eq!(check_order(&market_sell(dec!(20)), &limits, &over), Ok(()));
        assert_eq!(
            denied(&market_sell(dec!(101)), &limits, &priced(dec!(10))),
            ("max_position_per_symbol", Some(dec!(101)), Some(dec!(100)))
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
        let long = Exposure {
            position: dec!(5),
            ..three
        };
        assert_eq!(check_order(&market_sell(dec!(5)), &limits, &long), Ok(()));
    }

    #[test]
    fn allowed_symbols_refuse_others_but_let_a_position_out() {
        let limits = RiskLimits {
            allowed_symbols: Some(vec!["MSFT".into(), "AAPL".into()]),
            ..RiskLimits::default()
        };
        assert_eq!(
            check_order(&market_buy(dec!(1)), &limits, &priced(dec!(10))),
            Ok(())
        );
        let only_msft = RiskLimits {
            allowed_symbols: Some(vec!["MSFT".into()]),
            ..RiskLimits::default()
        };
        assert_eq!(
            check_order(&market_buy(dec!(1)), &only_msft, &priced(dec!(10))),
            Err(Violation::SymbolNotAllowed {
                symbol: "AAPL".into()
            })
        );
        assert_eq!(
            denied(&market_buy(dec!(1)), &only_msft, &priced(dec!(10))),
            ("allowed_symbols", None, None)
        );
        // Symbols compare exactly.
        let lower = RiskLimits {
            allowed_symbols: Some(vec!["aapl".into()]),
            ..RiskLimits::default()
        };
        assert!(check_order(&market_buy(dec!(1)), &lower, &priced(dec!(10))).is_err());
        let long = Exposure {
            position: dec!(7),
            ..priced(dec!(10))
        };
        assert_eq!(
            check_order(&market_sell(dec!(7)), &only_msft, &long),
            Ok(())
        );
        assert_eq!(
            denied(&market_sell(dec!(8)), &only_msft, &long).0,
            "allowed_symbols",
            "flipping is not a reduction"
        );
        // Reduce-only and flattening out of a symbol no longer allowed.
        let reduce_only = Exposure {
            state: TradingState::ReduceOnly,
            ..long
        };
        assert_eq!(
            check_order(&market_sell(dec!(7)), &only_msft, &reduce_only),
            Ok(())
        );
    }

    #[test]
    fn max_gross_exposure_counts_the_worst_case_added() {
        let limits = RiskLimits {
            max_gross_exposure: Some(dec!(10000)),
            ..RiskLimits::default()
        };
        let ex = Exposure {
            gross_exposure: dec!(9000),
            ..priced(dec!(100))
        };
        assert_eq!(check_order(&market_buy(dec!(10)), &limits, &ex), Ok(()));
        assert_eq!(
            check_order(&market_buy(dec!(10.01)), &limits, &ex),
            Err(Violation::GrossExposureTooLarge {
                projected: dec!(10001),
                max: dec!(10000)
            })
        );
        assert_eq!(
            denied(&market_buy(dec!(10.01)), &limits, &ex),
            ("max_gross_exposure", Some(dec!(10001)), Some(dec!(10000)))
        );
        // A limit buy is valued at its limit.
        let mut limit = order(Side::Buy, OrderType::Limit, OrderQuantity::Units(dec!(10)));
        limit.limit_price = Some(dec!(101));
        assert_eq!(denied(&limit, &limits, &ex).1, Some(dec!(10010)));
        // A buy against working sells adds nothing to the worst case: it passes at the limit.
        let hedged = Exposure {
            gross_exposure: dec!(10000),
            open_sell_quantity: dec!(10),
            ..priced(dec!(100))
        };
        assert_eq!(check_order(&market_buy(dec!(10)), &limits, &hedged), Ok(()));
        assert_eq!(
            denied(&market_buy(dec!(10.5)), &limits, &hedged).1,
            Some(dec!(10050))
        );
        // Over the limit (prices moved), a reduction still goes.
        let over = Exposure {
            gross_exposure: dec!(20000),
            position: dec!(200),
            ..priced(dec!(100))
        };
        assert_eq!(check_order(&market_sell(dec!(50)), &limits, &over), Ok(()));
        assert_eq!(
            check_order(&market_buy(dec!(1)), &limits, &Exposure::default()),
            Err(Violation::NoReferencePrice("AAPL".into()))
        );
    }

    #[test]
    fn max_orders_per_minute_spares_reductions() {
        let limits = RiskLimits {
            max_orders_per_minute: Some(60),
            ..RiskLimits::default()
        };
        let busy = |placed| Exposure {
            orders_last_minute: placed,
            position: dec!(4),
            ..priced(dec!(10))
        };
        assert_eq!(
            check_order(&market_buy(dec!(1)), &limits, &busy(59)),
            Ok(())
        );
        assert_eq!(
            check_order(&market_buy(dec!(1)), &limits, &busy(60)),
            Err(Violation::TooManyOrdersPerMinute {
                placed: 60,
                max: 60
            })
        );
        assert_eq!(
            denied(&market_buy(dec!(1)), &limits, &busy(61)),
            ("max_orders_per_minute", Some(dec!(61)), Some(dec!(60)))
        );
        assert_eq!(
            check_order(&market_sell(dec!(4)), &limits, &busy(60)),
            Ok(())
        );
        let reduce_only = Exposure {
            state: TradingState::ReduceOnly,
            ..busy(500)
        };
        assert_eq!(
            check_order(&market_sell(dec!(4)), &limits, &reduce_only),
            Ok(())
        );
        assert_eq!(
            check_order(&market_sell(dec!(5)), &limits, &busy(60)).map_err(|e| e.code()),
            Err("max_orders_per_minute")
        );
    }

    #[test]
    fn max_order_equity_pct_compares_with_the_equity_and_fails_closed() {
        let limits = RiskLimits {
            max_order_equity_pct: Some(dec!(50)),
            ..RiskLimits::default()
        };
        let ex = Exposure {
            equity: Some(dec!(10000)),
            ..priced(dec!(100))
        };
        assert_eq!(check_order(&market_buy(dec!(50)), &limits, &ex), Ok(()));
        assert_eq!(
            denied(&market_buy(dec!(50.01)), &limits, &ex),
            ("max_order_equity_pct", Some(dec!(50.01)), Some(dec!(50)))
        );
        // Just over the limit never reads as equal to it.
        assert_eq!(
            denied(&market_buy(dec!(50.000001)), &limits, &ex).1,
            Some(dec!(50.0001))
        );
        for equity in [None, Some(dec!(0)), Some(dec!(-5))] {
            let unknown = Exposure { equity, ..ex };
            assert_eq!(
                check_order(&market_buy(dec!(1)), &limits, &unknown),
                Err(Violation::NoEquity { max_pct: dec!(50) })
            );
            assert_eq!(
                denied(&market_buy(dec!(1)), &limits, &unknown),
                ("max_order_equity_pct", None, Some(dec!(50)))
            );
        }
        // Unwinding a leveraged position larger than the equity is a reduction.
        let leveraged = Exposure {
            position: dec!(150),
            equity: None,
            ..ex
        };
        assert_eq!(
            check_order(&market_sell(dec!(150)), &limits, &leveraged),
            Ok(())
        );
    }
}
