//! RSI mean reversion: buy weakness, sell strength.
//!
//! Parameters: `period` (default 14) for Wilder's RSI, `oversold` (30), `overbought` (70),
//! `fraction` (1.0) of equity to invest.
//!
//! Per symbol, at each bar close once the RSI is defined:
//! - flat and RSI below `oversold` → buy `fraction` of equity at market;
//! - long and RSI above `overbought` → close the position.
//!
//! The strategy tracks its own position from the intents it emits (it assumes market orders
//! fill); a real run also gets order updates, which this example ignores for brevity.

use weaver_strategy_sdk::indicators::Rsi;
use weaver_strategy_sdk::{
    Config, Context, Result, Side, Strategy, StrategyError, Subscriptions, SymbolBar,
    export_strategy,
};

/// Per-symbol state.
#[derive(Debug, Clone)]
struct SymbolState {
    rsi: Rsi,
    long: bool,
}

/// The strategy.
#[derive(Debug)]
pub struct RsiReversion {
    oversold: f64,
    overbought: f64,
    fraction: f64,
    symbols: Vec<SymbolState>,
}

impl Strategy for RsiReversion {
    // It tracks its position from the intents it emits, so fills and account snapshots would
    // only cost guest calls.
    const SUBSCRIPTIONS: Subscriptions = Subscriptions::empty();

    fn init(config: &Config) -> Result<Self> {
        config.expect_only(&["period", "oversold", "overbought", "fraction"])?;
        let period: usize = config.param("period", 14)?;
        let oversold: f64 = config.param("oversold", 30.0)?;
        let overbought: f64 = config.param("overbought", 70.0)?;
        let fraction = config.fraction("fraction", 1.0)?;
        if period == 0 {
            return Err(StrategyError::new("bad_param", "period must be at least 1"));
        }
        if !(0.0..=100.0).contains(&oversold)
            || !(0.0..=100.0).contains(&overbought)
            || oversold >= overbought
        {
            return Err(StrategyError::new(
                "bad_param",
                "need 0 <= oversold < overbought <= 100",
            ));
        }
        let state = SymbolState {
            rsi: Rsi::new(period),
            long: false,
        };
        Ok(RsiReversion {
            oversold,
            overbought,
            fraction,
            symbols: vec![state; config.symbols.len()],
        })
    }

    fn on_bar(&mut self, ctx: &mut Context, bar: &SymbolBar) -> Result<()> {
        let Some(state) = self.symbols.get_mut(bar.symbol as usize) else {
            return Err(StrategyError::new(
                "unknown_symbol",
                format!("bar for symbol index {}", bar.symbol),
            ));
        };
        let Some(rsi) = state.rsi.update(bar.bar.close) else {
            return Ok(());
        };
        if !state.long && rsi < self.oversold {
            ctx.target_fraction(bar.symbol, Side::Buy, self.fraction)?;
            state.long = true;
        } else if state.long && rsi > self.overbought {
            ctx.close(bar.symbol)?;
            state.long = false;
        }
        Ok(())
    }
}

export_strategy!(RsiReversion);

#[cfg(test)]
mod tests {
    use super::*;
    use weaver_strategy_sdk::{Bar, Intent, Runtime, TimeUnit, Timeframe};

    fn run(params: &[(&str, &str)], closes: &[f64]) -> Vec<(usize, Vec<Intent>)> {
        let mut rt = Runtime::<RsiReversion>::new();
        rt.init(Config {
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            symbols: vec!["X".into()],
            timeframe: Timeframe {
                amount: 1,
                unit: TimeUnit::Day,
            },
        })
        .unwrap();
        let mut out = vec![];
        for (i, &c) in closes.iter().enumerate() {
            let bar = SymbolBar {
                symbol: 0,
                bar: Bar {
                    ts: i as i64,
                    open: c,
                    high: c,
                    low: c,
                    close: c,
                    volume: 0.0,
                },
            };
            let reply = rt.on_bars(&[bar]).unwrap();
            if !reply.intents.is_empty() {
                out.push((i, reply.intents));
            }
        }
        out
    }

    #[test]
    fn buys_the_dip_and_sells_the_rip_once_each() {
        // Falls for 10 bars, then rises for 10.
        let closes: Vec<f64> = (0..10)
            .map(|i| 100.0 - i as f64)
            .chain((0..10).map(|i| 91.0 + 2.0 * i as f64))
            .collect();
        let signals = run(&[("period", "3")], &closes);
        assert_eq!(signals.len(), 2, "{signals:?}");
        let (buy_at, buy) = &signals[0];
        assert!(matches!(&buy[..], [Intent::PlaceOrder(o)] if o.side == Side::Buy));
        assert_eq!(
            *buy_at, 3,
            "first bar with a defined RSI (3 changes), which is 0"
        );
        let (sell_at, sell) = &signals[1];
        assert!(matches!(&sell[..], [Intent::ClosePosition(s)] if s == "X"));
        assert!(*sell_at > 10);
    }

    #[test]
    fn refuses_inconsistent_thresholds() {
        let mut rt = Runtime::<RsiReversion>::new();
        let cfg = |p: &[(&str, &str)]| Config {
            params: p
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            symbols: vec!["X".into()],
            timeframe: Timeframe {
                amount: 1,
                unit: TimeUnit::Day,
            },
        };
        assert!(
            rt.init(cfg(&[("oversold", "80"), ("overbought", "20")]))
                .is_err()
        );
        assert!(rt.init(cfg(&[("fraction", "2")])).is_err());
        assert!(rt.init(cfg(&[])).is_ok());
    }
}
