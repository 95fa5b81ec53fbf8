//! Order sizing: how many units an order trades at a fill price, as the reference sizes them.
//!
//! # Invariants
//! - Equity-fraction sizing reproduces backtesting.py 0.6.6's arithmetic bit for bit
//!   ([`py_floordiv`], the fraction-spread commission).

use super::{Broker, Pending, cancelled, insufficient};
use crate::domain::{OrderSize, OrderUpdate};

/// Python's float floor division (`a // b`), reproduced bit for bit: the reference sizes orders
/// with it, and a plain `(a / b).floor()` differs when the quotient rounds up to an integer.
pub(crate) fn py_floordiv(a: f64, b: f64) -> f64 {
    let m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    if div != 0.0 {
        let f = div.floor();
        if div - f > 0.5 { f + 1.0 } else { f }
    } else {
        0.0
    }
}

impl Broker {
    /// The units an order of `size` trades at `price` (whole units unless fractional units are
    /// on), or its cancellation when that is none.
    pub(super) fn units_for(
        &self,
        o: &Pending,
        size: OrderSize,
        price: f64,
        closes: &[f64],
    ) -> Result<f64, Box<OrderUpdate>> {
        let c = self.cfg.commission;
        let units = match size {
            OrderSize::Units(u) => {
                if self.cfg.fractional {
                    u
                } else {
                    u.trunc()
                }
            }
            OrderSize::Notional(n) => {
                let u = (n - c.fixed) / (price * (1.0 + c.pct) + c.per_unit);
                if self.cfg.fractional { u } else { u.floor() }
            }
            OrderSize::EquityFraction(f) => {
                let f = if f >= 1.0 { 1.0 - f64::EPSILON } else { f };
                let budget = self.margin_available(closes) * f - c.fixed;
                // The reference spreads the commission of a fraction-sized order over its
                // fraction: `adjusted + commission(f, price) / f`.
                let per_unit = price + (f * price * c.pct) / f + c.per_unit;
                let u = if budget <= 0.0 {
                    0.0
                } else if self.cfg.fractional {
                    budget / per_unit
                } else {
                    py_floordiv(budget, per_unit)
                };
                if u <= 0.0 {
                    return Err(Box::new(cancelled(
                        o,
                        o.filled,
                        insufficient(0.0, price, budget.max(0.0)),
                    )));
                }
                u
            }
        };
        if units <= 0.0 {
            let budget = self.margin_available(closes);
            return Err(Box::new(cancelled(
                o,
                o.filled,
                insufficient(units, price, budget),
            )));
        }
        Ok(units)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floordiv_matches_python() {
        assert_eq!(py_floordiv(7.0, 2.0), 3.0);
        assert_eq!(
            py_floordiv(10000.0 * (1.0 - f64::EPSILON), 169.02 * 1.002),
            59.0
        );
        // Python: 0.3 // 0.1 == 2.0 although 0.3 / 0.1 == 3.0000000000000004.
        assert_eq!(py_floordiv(0.3, 0.1), 2.0);
        assert_eq!(py_floordiv(1.0, 0.1), 9.0);
    }
}
