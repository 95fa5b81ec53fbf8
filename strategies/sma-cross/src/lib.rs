//! SMA crossover, exactly backtesting.py's `SmaCross` with exclusive orders.
//!
//! Parameters: `fast` (default 10) and `slow` (default 20), window lengths in bars.
//!
//! At each bar close, once both averages are defined on this bar and the previous one:
//! - the fast average crosses *above* the slow one (strictly: below before, above now) →
//!   close the position and go all-in long;
//! - else, the slow one crosses above the fast one → close and go all-in short.
//!
//! The averages are pandas' `rolling(n).mean()` bit for bit ([`Sma`]), so signals land on the
//! same bars as the reference backtests. It declares a warm-up of `max(fast, slow) - 1` bars,
//! where backtesting.py starts buy & hold (its indicators' first defined bar), so a plain
//! backtest equals the reference.

use weaver_strategy_sdk::indicators::{Sma, crossover};
use weaver_strategy_sdk::{
    Config, Context, Declaration, Result, Side, Strategy, StrategyError, Subscriptions, SymbolBar,
    export_strategy,
};

/// Per-symbol state: both averages and their values on the previous bar.
#[derive(Debug, Clone)]
struct Averages {
    fast: Sma,
    slow: Sma,
    /// `(fast, slow)` at the previous bar, once both were defined.
    prev: Option<(f64, f64)>,
}

/// The strategy: one pair of averages per symbol of the run.
#[derive(Debug)]
pub struct SmaCross {
    symbols: Vec<Averages>,
    /// Bars before both averages are defined.
    warmup: u32,
}

impl Strategy for SmaCross {
    // Decisions depend on closes alone (every signal reverses to a fresh all-in order), so fills
    // and account snapshots would only cost guest calls.
    const SUBSCRIPTIONS: Subscriptions = Subscriptions::empty();

    fn init(config: &Config) -> Result<Self> {
        config.expect_only(&["fast", "slow"])?;
        let fast: usize = config.param("fast", 10)?;
        let slow: usize = config.param("slow", 20)?;
        if fast == 0 || slow == 0 {
            return Err(StrategyError::new(
                "bad_param",
                "fast and slow must be at least 1",
            ));
        }
        let averages = Averages {
            fast: Sma::new(fast),
            slow: Sma::new(slow),
            prev: None,
        };
        Ok(SmaCross {
            symbols: vec![averages; config.symbols.len()],
            warmup: u32::try_from(fast.max(slow) - 1).unwrap_or(u32::MAX),
        })
    }

    fn declare(&self) -> Declaration {
        Declaration::new(Self::SUBSCRIPTIONS).warmup(self.warmup)
    }

    fn on_bar(&mut self, ctx: &mut Context, bar: &SymbolBar) -> Result<()> {
        let Some(avg) = self.symbols.get_mut(bar.symbol as usize) else {
            return Err(StrategyError::new(
                "unknown_symbol",
                format!("bar for symbol index {}", bar.symbol),
            ));
        };
        let close = bar.bar.close;
        // Both averages see every bar, defined or not, so their windows stay aligned.
        let (fast, slow) = (avg.fast.update(close), avg.slow.update(close));
        let (Some(fast), Some(slow)) = (fast, slow) else {
            return Ok(());
        };
        if let Some((prev_fast, prev_slow)) = avg.prev.replace((fast, slow)) {
            if crossover(prev_fast, prev_slow, fast, slow) {
                ctx.reverse_to(bar.symbol, Side::Buy)?;
            } else if crossover(prev_slow, prev_fast, slow, fast) {
                ctx.reverse_to(bar.symbol, Side::Sell)?;
            }
        }
        Ok(())
    }
}

export_strategy!(SmaCross);

#[cfg(test)]
mod tests {
    use super::*;
    use weaver_strategy_sdk::{Bar, Intent, OrderSize, Runtime, TimeUnit, Timeframe};

    fn config(params: &[(&str, &str)]) -> Config {
        Config {
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            symbols: vec!["GOOG".into()],
            timeframe: Timeframe {
                amount: 1,
                unit: TimeUnit::Day,
            },
        }
    }

    fn bars(closes: &[f64]) -> Vec<SymbolBar> {
        closes
            .iter()
            .enumerate()
            .map(|(i, &c)| SymbolBar {
                symbol: 0,
                bar: Bar {
                    ts: i as i64 * 86_400_000,
                    open: c,
                    high: c,
                    low: c,
                    close: c,
                    volume: 1.0,
                },
            })
            .collect()
    }

    fn side_of(intents: &[Intent]) -> Option<Side> {
        match intents {
            [Intent::ClosePosition(s), Intent::PlaceOrder(o)]
                if s == "GOOG" && o.symbol == "GOOG" =>
            {
                assert_eq!(o.size, OrderSize::EquityFraction(1.0));
                Some(o.side)
            }
            [] => None,
            other => panic!("unexpected intents {other:?}"),
        }
    }

    #[test]
    fn signals_on_strict_crossovers_only() {
        let mut rt = Runtime::<SmaCross>::new();
        rt.init(config(&[("fast", "2"), ("slow", "3")])).unwrap();
        // SMA2/SMA3 from bar 2: (2.5,2), (3.5,3): fast above all along → no cross.
        // Then the price falls: at bar 5 fast (1.5) < slow (2.67) after being above → sell.
        let closes = [1.0, 2.0, 3.0, 4.0, 2.0, 1.0, 1.0, 5.0];
        let mut signals = vec![];
        for (i, bar) in bars(&closes).into_iter().enumerate() {
            let reply = rt.on_bars(&[bar]).unwrap();
            assert_eq!(reply.consumed, 1);
            if let Some(side) = side_of(&reply.intents) {
                signals.push((i, side));
            }
        }
        // Bar 4: SMA2 = 3.0, SMA3 = 3.0 (touch, no cross); bar 5: 1.5 < 2.33 — prev was equal, so
        // not strictly above before: no cross either. Bar 7: SMA2 3.0 > SMA3 2.33, prev 1.0 < 1.33 → buy.
        assert_eq!(signals, vec![(7, Side::Buy)]);
    }

    #[test]
    fn batch_stops_after_the_first_signal_and_resumes() {
        let closes: Vec<f64> = (0..60)
            .map(|i| 100.0 + 10.0 * ((i as f64) / 6.0).sin())
            .collect();
        let all = bars(&closes);
        // Reference: one bar at a time.
        let mut single = Runtime::<SmaCross>::new();
        single.init(config(&[])).unwrap();
        let mut expected = vec![];
        for (i, bar) in all.iter().enumerate() {
            let r = single.on_bars(std::slice::from_ref(bar)).unwrap();
            if !r.intents.is_empty() {
                expected.push((i, r.intents));
            }
        }
        assert!(expected.len() >= 2, "the sine must cross a few times");
        // Batched: whole remaining slice each call.
        let mut batched = Runtime::<SmaCross>::new();
        batched.init(config(&[])).unwrap();
        let mut got = vec![];
        let mut pos = 0;
        while pos < all.len() {
            let r = batched.on_bars(&all[pos..]).unwrap();
            pos += r.consumed as usize;
            if !r.intents.is_empty() {
                got.push((pos - 1, r.intents));
            }
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn refuses_bad_and_unknown_parameters() {
        let mut rt = Runtime::<SmaCross>::new();
        assert_eq!(
            rt.init(config(&[("fast", "ten")])).unwrap_err().code,
            "bad_param"
        );
        assert_eq!(
            rt.init(config(&[("fast", "0")])).unwrap_err().code,
            "bad_param"
        );
        assert_eq!(
            rt.init(config(&[("fsat", "5")])).unwrap_err().code,
            "unknown_param"
        );
        assert!(rt.init(config(&[("fast", "5"), ("slow", "30")])).is_ok());
    }
}
