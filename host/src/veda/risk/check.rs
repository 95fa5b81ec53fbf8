//! Pre-trade checks: pure functions over one order, the configured limits and a snapshot of the
//! scope's exposure, so they are cheap and exhaustively testable.
//!
//! # Invariants
//! - Fail closed: a check that needs a price or the equity refuses the order when none is known.
//! - The order of the checks is fixed (see [`check_order`]), so the same order in the same
//!   situation is always refused for the same reason.
//! - A pure reduction passes every limit on activity or scope (see the [`super`] invariants);
//!   the checks on the order itself and a halt still apply. The limits on activity and scope live
//!   in [`super::scope`].

use rust_decimal::Decimal;

use super::TradingState;
use super::guard::Breach;
use super::limits::RiskLimits;
use super::violation::Violation;
use crate::domain::{OrderType, Side};
use crate::veda::types::{OrderQuantity, OrderRequest};

/// What the checks need to know about the scope when an order is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exposure {
    /// Trading state in force (the switch's, and the guard's [`super::RiskGuard::state`] if
    /// folded in; [`check_order`] applies the stricter of this and `breach`).
    pub state: TradingState,
    /// The guard's binding breach ([`super::RiskGuard::binding`]), if any: it names the rule
    /// behind a refusal in its state.
    pub breach: Option<Breach>,
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
    /// Current equity of the scope, if known.
    pub equity: Option<Decimal>,
    /// Current gross exposure of the scope (all symbols), working orders counted in the worst
    /// case: the sum over symbols of `max(|position + open buys|, |position − open sells|) ×
    /// price`.
    pub gross_exposure: Decimal,
    /// Orders placed in the last 60 s in scope ([`super::RiskGuard::orders_last_minute`]).
    pub orders_last_minute: u32,
}

const MAX_SCALE: u32 = 9;

fn sane(value: Decimal) -> bool {
    value > Decimal::ZERO && value.normalize().scale() <= MAX_SCALE
}

/// Checks one order against the limits and the current exposure.
///
/// # Errors
/// The first [`Violation`] found, in this order: halted (manual or breach), quantity and price
/// sanity, price band, order quantity, order notional, reduce-only (manual, breach or cooldown);
/// then, unless the order is a pure reduction: allowed symbols, share of equity, position, gross
/// exposure, open orders, orders per minute.
pub fn check_order(
    order: &OrderRequest,
    limits: &RiskLimits,
    exposure: &Exposure,
) -> Result<(), Violation> {
    // The breach names the refusal when its state is the one refusing.
    let refusal = |state: TradingState, manual: Violation| match exposure.breach {
        Some(b) if b.state == state => Violation::from(b),
        _ => manual,
    };
    let state = exposure
        .breach
        .map_or(exposure.state, |b| exposure.state.stricter(b.state));
    if state == TradingState::Halted {
        return Err(refusal(TradingState::Halted, Violation::Halted));
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
    let no_price = || Violation::NoReferencePrice(order.symbol.clone());

    if let Some(max) = limits.max_order_quantity {
        let units = units.ok_or_else(no_price)?;
        if units > max {
            return Err(Violation::QuantityTooLarge {
                quantity: units,
                max,
            });
        }
    }
    if let Some(max) = limits.max_notional_per_order {
        let notional = notional.ok_or_else(no_price)?;
        if notional > max {
            return Err(Violation::NotionalTooLarge { notional, max });
        }
    }

    // A pure reduction: with the working orders on its side, it shrinks the position without
    // flipping it. Unknown units (no price for a notional order) are not one: fail closed.
    let reduction = units.is_some_and(|units| {
        let (pending, room) = match order.side {
            Side::Buy => (exposure.open_buy_quantity, -exposure.position),
            Side::Sell => (exposure.open_sell_quantity, exposure.position),
        };
        room > Decimal::ZERO && pending + units <= room
    });
    if state == TradingState::ReduceOnly && !reduction {
        units.ok_or_else(no_price)?;
        return Err(refusal(
            TradingState::ReduceOnly,
            Violation::NotReducing {
                symbol: order.symbol.clone(),
                position: exposure.position,
            },
        ));
    }
    if reduction {
        return Ok(());
    }
    super::scope::check_scope(order, limits, exposure, units, notional, valuation)
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
pub(super) mod tests {
    use super::*;
    use crate::domain::TimeInForce;
    use crate::veda::risk::RiskRule;
    use chrono::{TimeZone, Utc};
    use rust_decimal::dec;

    pub(in crate::veda::risk) fn order(
        side: Side,
        order_type: OrderType,
        quantity: OrderQuantity,
    ) -> OrderRequest {
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

    pub(in crate::veda::risk) fn market_buy(units: Decimal) -> OrderRequest {
        order(Side::Buy, OrderType::Market, OrderQuantity::Units(units))
    }

    pub(in crate::veda::risk) fn market_sell(units: Decimal) -> OrderRequest {
        order(Side::Sell, OrderType::Market, OrderQuantity::Units(units))
    }

    pub(in crate::veda::risk) fn priced(price: Decimal) -> Exposure {
        Exposure {
            reference_price: Some(price),
            ..Exposure::default()
        }
    }

    /// The rule, figure and limit a refusal reports, as the `risk.OrderDenied` event will.
    pub(in crate::veda::risk) fn denied(
        order: &OrderRequest,
        limits: &RiskLimits,
        ex: &Exposure,
    ) -> (&'static str, Option<Decimal>, Option<Decimal>) {
        let v = check_order(order, limits, ex).unwrap_err();
        (v.rule(), v.figure(), v.limit())
    }

    fn breach(rule: RiskRule, state: TradingState) -> Breach {
        Breach {
            rule,
            figure: dec!(5.5),
            limit: dec!(5),
            state,
            ts: Utc.with_ymd_and_hms(2026, 3, 6, 15, 0, 0).unwrap(),
            until: None,
        }
    }

    #[test]
    fn halted_refuses_everything_including_reducing_orders() {
        let ex = Exposure {
            state: TradingState::Halted,
            position: dec!(10),
            ..priced(dec!(100))
        };
        assert_eq!(
            check_order(&market_sell(dec!(1)), &RiskLimits::default(), &ex),
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
        assert_eq!(
            denied(&limit, &limits, &priced(dec!(100))),
            ("max_price_deviation", Some(dec!(0.11)), Some(dec!(0.1)))
        );
        limit.limit_price = Some(dec!(109));
        assert_eq!(check_order(&limit, &limits, &priced(dec!(100))), Ok(()));
    }

    #[test]
    fn max_order_quantity_reports_quantity_and_limit() {
        let limits = RiskLimits {
            max_order_quantity: Some(dec!(100)),
            ..RiskLimits::default()
        };
        assert_eq!(
            check_order(&market_buy(dec!(100)), &limits, &priced(dec!(1))),
            Ok(())
        );
        assert_eq!(
            denied(&market_buy(dec!(100.5)), &limits, &priced(dec!(1))),
            ("max_order_quantity", Some(dec!(100.5)), Some(dec!(100)))
        );
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
            denied(&market_buy(dec!(10.01)), &limits, &priced(dec!(100))),
            ("max_notional_per_order", Some(dec!(1001)), Some(dec!(1000)))
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
    fn reduce_only_accepts_only_shrinking_orders() {
        let limits = RiskLimits::default();
        let long = Exposure {
            state: TradingState::ReduceOnly,
            position: dec!(10),
            ..priced(dec!(10))
        };
        assert_eq!(check_order(&market_sell(dec!(10)), &limits, &long), Ok(()));
        assert_eq!(
            check_order(&market_sell(dec!(11)), &limits, &long).map_err(|e| e.code()),
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
        assert_eq!(
            check_order(&market_sell(dec!(2)), &limits, &working),
            Ok(())
        );
        assert_eq!(
            check_order(&market_sell(dec!(3)), &limits, &working).map_err(|e| e.code()),
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
            denied(&market_sell(dec!(1)), &limits, &flat),
            ("trading_state", None, None)
        );
    }

    #[test]
    fn a_breach_names_its_rule_and_lets_reductions_through() {
        let limits = RiskLimits::default();
        let ex = Exposure {
            breach: Some(breach(RiskRule::DailyLoss, TradingState::ReduceOnly)),
            position: dec!(3),
            ..priced(dec!(10))
        };
        assert_eq!(
            denied(&market_buy(dec!(1)), &limits, &ex),
            ("daily_loss_pct", Some(dec!(5.5)), Some(dec!(5)))
        );
        assert_eq!(
            check_order(&market_buy(dec!(1)), &limits, &ex).map_err(|e| e.code()),
            Err("daily_loss_pct")
        );
        assert_eq!(check_order(&market_sell(dec!(3)), &limits, &ex), Ok(()));
        // Folded into the state (as the caller may), the breach still names the refusal.
        let folded = Exposure {
            state: TradingState::ReduceOnly,
            ..ex
        };
        assert_eq!(
            denied(&market_buy(dec!(1)), &limits, &folded).0,
            "daily_loss_pct"
        );

        let halted = Exposure {
            breach: Some(breach(RiskRule::Drawdown, TradingState::Halted)),
            ..ex
        };
        assert_eq!(
            denied(&market_sell(dec!(3)), &limits, &halted),
            ("max_drawdown_pct", Some(dec!(5.5)), Some(dec!(5)))
        );
        // A manual halt over a reduce-only breach is the manual state's refusal.
        let manual = Exposure {
            state: TradingState::Halted,
            ..ex
        };
        assert_eq!(
            check_order(&market_sell(dec!(3)), &limits, &manual),
            Err(Violation::Halted)
        );
    }

    #[test]
    fn a_cooldown_refuses_new_risk_until_its_end() {
        let until = Utc.with_ymd_and_hms(2026, 3, 6, 15, 30, 0).unwrap();
        let pause = Breach {
            figure: dec!(3),
            limit: dec!(3),
            until: Some(until),
            ..breach(RiskRule::Cooldown, TradingState::ReduceOnly)
        };
        let ex = Exposure {
            breach: Some(pause),
            position: dec!(-2),
            ..priced(dec!(10))
        };
        assert_eq!(
            check_order(&market_sell(dec!(1)), &RiskLimits::default(), &ex),
            Err(Violation::Cooldown {
                until,
                losses: dec!(3),
                limit: dec!(3)
            })
        );
        assert_eq!(
            denied(&market_sell(dec!(1)), &RiskLimits::default(), &ex),
            ("cooldown", Some(dec!(3)), Some(dec!(3)))
        );
        assert_eq!(
            check_order(&market_buy(dec!(2)), &RiskLimits::default(), &ex),
            Ok(())
        );
    }
}
