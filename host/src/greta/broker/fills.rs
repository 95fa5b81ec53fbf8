//! Fill models beyond the reference's: volume-share slippage with partial fills, a spread
//! estimated from the bar's range, latency in bars, and Alpaca's fee schedule. All are off by
//! default ([`FillOptions::default`]), and then the broker behaves exactly as backtesting.py
//! 0.6.6 (`docs/adr/0005-reference-exact-fills.md`); the formulas are in
//! `docs/adr/0017-fill-models.md`.
//!
//! - Latency: an order reaches the market `latency_bars` bars of its symbol later than it
//!   would otherwise (a market order placed at bar `t` fills at the open of `t + 1 + N`).
//! - Spread: market and stop fills pay a half-spread of `spread_hl × (high − low)` of the bar
//!   they are processed at, added for buys and subtracted for sells (after slippage). Limit
//!   fills do not pay it: their price is the limit or better.
//! - Volume share (Zipline's `VolumeShareSlippage`): an order takes at most
//!   `volume_limit × bar volume` units of a bar, shared by all orders of the symbol at that bar;
//!   the price moves against it by `price × impact × share²`, where `share` is the fraction of
//!   the bar's volume taken so far including this fill (at most `volume_limit`). The rest is
//!   carried to the next bars (`PartiallyFilled` updates until the last part, `Filled`) or
//!   cancelled (`remainder: cancel`; always for `ioc`; a `fok` order that does not fit is
//!   cancelled whole). A bar without volume fills nothing. An order sized by notional or equity
//!   fraction is sized at the worst price the impact can give (`price × (1 + impact ×
//!   limit²)`), so the cash check cannot fail because of the impact.
//! - Alpaca: no commission; sells pay the SEC fee on their value and FINRA's TAF per share,
//!   each rounded up to the cent per fill ([`alpaca_fee`]). Alpaca rounds the day's total, so
//!   this is an upper bound by at most a cent per fill; the CAT fee is not modelled.
//!
//! # Invariants
//! - With [`FillOptions::default`] nothing here changes a price, a quantity or a fee.
//! - A part of an order never fills beyond the bar's volume cap, and the units filled over all
//!   parts never exceed the order's size (or the position, for a close).

use serde::{Deserialize, Serialize};

use super::{Broker, Kind, Step, cancelled};
use crate::domain::{OrderSize, OrderStatus, Side, TimeInForce, TsMillis};

/// SEC Section 31 fee per dollar of sale value: $0.00 per $1,000,000, in force since
/// 2025-05-14 (SEC fee rate advisory; Alpaca's "Regulatory Fees" page,
/// alpaca.markets/support/regulatory-fees, read 2026-12-06; it was $27.80 before).
pub const SEC_FEE_PER_DOLLAR: f64 = 0.0 / 1_000_000.0;
/// FINRA Trading Activity Fee per share sold: $0.000166 (FINRA TAF schedule from 2024-01-01;
/// same Alpaca page, read 2026-12-06).
pub const TAF_PER_SHARE: f64 = 0.000_166;
/// Most TAF per fill: $8.30 (same sources).
pub const TAF_MAX: f64 = 8.30;

/// Default share of a bar's volume one symbol's orders may take (Zipline's default).
pub const DEFAULT_VOLUME_LIMIT: f64 = 0.025;
/// Default price impact coefficient (Zipline's default).
pub const DEFAULT_VOLUME_IMPACT: f64 = 0.1;

/// What happens to the part of an order the volume cap left unfilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Remainder {
    /// It waits for the next bars.
    #[default]
    Carry,
    /// It is cancelled.
    Cancel,
}

/// The commission schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommissionModel {
    /// `fixed + |units|·price·pct + |units|·per_unit` on every fill (the reference's).
    #[default]
    Flat,
    /// Alpaca's: no commission, regulatory fees on sells ([`alpaca_fee`]).
    Alpaca,
}

/// Volume-share slippage settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VolumeShare {
    /// Share of a bar's volume the symbol's orders may take, in (0, 1].
    pub limit: f64,
    /// Price impact coefficient.
    pub impact: f64,
    /// What happens to the rest.
    pub remainder: Remainder,
}

impl Default for VolumeShare {
    fn default() -> Self {
        VolumeShare {
            limit: DEFAULT_VOLUME_LIMIT,
            impact: DEFAULT_VOLUME_IMPACT,
            remainder: Remainder::Carry,
        }
    }
}

/// The fill models of a backtest; the default is the reference's.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FillOptions {
    /// Volume-share slippage, when on.
    pub volume_share: Option<VolumeShare>,
    /// Half-spread as a fraction of the bar's high − low (0: none).
    pub spread_hl: f64,
    /// Bars of the symbol an order waits before it reaches the market.
    pub latency_bars: u32,
    /// Commission schedule.
    pub commission_model: CommissionModel,
}

impl FillOptions {
    /// Whether these are the reference's fills.
    pub fn is_reference(&self) -> bool {
        *self == FillOptions::default()
    }

    /// A one-line description for summaries: `reference` or the models in use.
    pub fn describe(&self) -> String {
        if self.is_reference() {
            return "reference".to_owned();
        }
        let mut parts = Vec::new();
        if let Some(v) = self.volume_share {
            let rest = match v.remainder {
                Remainder::Carry => "carry",
                Remainder::Cancel => "cancel",
            };
            parts.push(format!(
                "volume_share(limit {}, impact {}, remainder {rest})",
                v.limit, v.impact
            ));
        }
        if self.spread_hl > 0.0 {
            parts.push(format!("spread_hl {}", self.spread_hl));
        }
        if self.latency_bars > 0 {
            parts.push(format!("latency_bars {}", self.latency_bars));
        }
        if self.commission_model == CommissionModel::Alpaca {
            parts.push("commission_model alpaca".to_owned());
        }
        parts.join(", ")
    }
}

/// The fill models' state in a broker: the options, and the volume taken per symbol at the
/// bar being processed.
#[derive(Debug, Clone, Default)]
pub(super) struct FillState {
    pub(super) opts: FillOptions,
    /// Per symbol: `(bar, units taken at that bar)`.
    used: Vec<(usize, f64)>,
}

impl FillState {
    pub(super) fn new(opts: FillOptions) -> FillState {
        FillState {
            opts,
            used: Vec::new(),
        }
    }

    fn used(&mut self, symbol: usize, bar: usize) -> &mut f64 {
        if self.used.len() <= symbol {
            self.used.resize(symbol + 1, (usize::MAX, 0.0));
        }
        let slot = &mut self.used[symbol];
        if slot.0 != bar {
            *slot = (bar, 0.0);
        }
        &mut slot.1
    }
}

/// Rounds a fee up to the cent (a tolerance keeps `0.07` from becoming `0.08` through binary
/// representation).
fn ceil_cent(x: f64) -> f64 {
    ((x * 100.0) - 1e-9).ceil().max(0.0) / 100.0
}

/// Alpaca's regulatory fees of one fill of `units` (signed: negative = sell) at `price` with
/// the given rates: nothing for a buy; for a sell `⌈value × sec_rate⌉ + min(⌈shares × taf⌉,
/// taf_max)`, each rounded up to the cent.
pub fn alpaca_fee_at(units: f64, price: f64, sec_rate: f64, taf: f64, taf_max: f64) -> f64 {
    if units >= 0.0 {
        return 0.0;
    }
    let shares = units.abs();
    ceil_cent(shares * price * sec_rate) + ceil_cent(shares * taf).min(taf_max)
}

/// [`alpaca_fee_at`] with the current rates ([`SEC_FEE_PER_DOLLAR`], [`TAF_PER_SHARE`],
/// [`TAF_MAX`]).
pub fn alpaca_fee(units: f64, price: f64) -> f64 {
    alpaca_fee_at(units, price, SEC_FEE_PER_DOLLAR, TAF_PER_SHARE, TAF_MAX)
}

/// The bar fields the fill models read beyond the broker's own.
#[derive(Debug, Clone, Copy)]
pub(super) struct BarFacts {
    pub(super) volume: f64,
    pub(super) bar: usize,
}

impl Broker {
    /// The commission of a fill of `units` (signed by direction: negative = sell) at `price`.
    pub(super) fn fee(&self, units: f64, price: f64) -> f64 {
        match self.fills.opts.commission_model {
            CommissionModel::Flat => self.cfg.commission.charge(units, price),
            CommissionModel::Alpaca => alpaca_fee(units, price),
        }
    }

    /// Bars an order waits before it reaches the market.
    pub(super) fn latency(&self) -> u32 {
        self.fills.opts.latency_bars
    }

    /// Fills the order at queue index `i` under the volume cap, at `price` before impact.
    pub(super) fn fill_share(
        &mut self,
        i: usize,
        v: VolumeShare,
        price: f64,
        at: (usize, TsMillis),
        b: BarFacts,
        closes: &[f64],
    ) -> Step {
        let (sym, buy, tif, kind) = {
            let o = &self.orders[i];
            (o.symbol, o.side == Side::Buy, o.tif, o.kind)
        };
        let wanted = match kind {
            Kind::Close => self
                .trades
                .iter()
                .filter(|t| t.symbol == sym)
                .map(|t| t.size.abs())
                .sum(),
            Kind::Place { size } => {
                let worst = price * (1.0 + v.impact * v.limit * v.limit);
                match self.units_for(&self.orders[i], size, worst, closes) {
                    Ok(u) => u,
                    Err(update) => {
                        self.orders.remove(i);
                        return Step::Removed(*update);
                    }
                }
            }
        };
        let used = *self.fills.used(sym as usize, b.bar);
        let mut take = wanted.min((v.limit * b.volume - used).max(0.0));
        if !self.cfg.fractional {
            take = take.floor();
        }
        let ioc = matches!(tif, TimeInForce::Ioc | TimeInForce::Fok);
        let fok_short = tif == TimeInForce::Fok && take < wanted;
        if wanted > 0.0 && (take <= 0.0 || fok_short) {
            if v.remainder == Remainder::Carry && !ioc {
                return Step::Keep;
            }
            let o = self.orders.remove(i);
            let why = format!(
                "volume limit: {} of a bar's volume leaves no room for {wanted} units",
                v.limit
            );
            return Step::Removed(cancelled(&o, o.filled, why));
        }
        let share = if take > 0.0 {
            ((used + take) / b.volume).min(v.limit)
        } else {
            0.0
        };
        let impact = price * v.impact * share * share;
        let px = if buy { price + impact } else { price - impact };
        *self.fills.used(sym as usize, b.bar) += take;
        let mut o = self.orders.remove(i);
        // A close trades `take` units against the position, FIFO, like an opposite order.
        let mut update = if take > 0.0 {
            self.fill_place(&o, OrderSize::Units(take), px, at.0, at.1, closes)
        } else {
            self.fill_close(&o, px, at.0, at.1)
        };
        if update.status != OrderStatus::Filled {
            return Step::Removed(update);
        }
        o.filled += update.fill_quantity;
        update.filled_quantity = o.filled;
        let rest = wanted - take;
        if rest <= 0.0 {
            return Step::Removed(update);
        }
        if v.remainder == Remainder::Cancel || ioc {
            update.status = OrderStatus::Cancelled;
            update.reason = Some(format!(
                "volume limit: {rest} units left unfilled were cancelled"
            ));
            return Step::Removed(update);
        }
        update.status = OrderStatus::PartiallyFilled;
        if let Kind::Place { .. } = o.kind {
            o.kind = Kind::Place {
                size: OrderSize::Units(rest),
            };
        }
        self.orders.insert(i, o);
        Step::Partial(update)
    }
}

#[cfg(test)]
mod tests;
