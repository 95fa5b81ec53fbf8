//! Donchian channel breakout (the "turtle" entry): follow a break of the recent range.
//!
//! Parameters: `entry` (default 20) bars for the breakout channel, `exit` (10) bars for the exit
//! channel, `fraction` (1.0) of equity to invest.
//!
//! Per symbol, at each bar close:
//! - flat and the close is above the highest high of the previous `entry` bars → buy;
//! - long and the close is below the lowest low of the previous `exit` bars → close.

use weaver_strategy_sdk::indicators::Channel;
use weaver_strategy_sdk::{
    Config, Context, Result, Side, Strategy, StrategyError, Subscriptions, SymbolBar,
    export_strategy,
};

/// Per-symbol state.
#[derive(Debug, Clone)]
struct SymbolState {
    entry: Channel,
    exit: Channel,
    long: bool,
}

/// The strategy.
#[derive(Debug)]
pub struct DonchianBreakout {
    fraction: f64,
    symbols: Vec<SymbolState>,
}

impl Strategy for DonchianBreakout {
    // It tracks its position from the intents it emits, so fills and account snapshots would
    // only cost guest calls.
    const SUBSCRIPTIONS: Subscriptions = Subscriptions::empty();

    fn init(config: &Config) -> Result<Self> {
        config.expect_only(&["entry", "exit", "fraction"])?;
        let entry: usize = config.param("entry", 20)?;
        let exit: usize = config.param("exit", 10)?;
        let fraction = config.fraction("fraction", 1.0)?;
        if entry == 0 || exit == 0 {
            return Err(StrategyError::new(
                "bad_param",
                "entry and exit must be at least 1",
            ));
        }
        let state = SymbolState {
            entry: Channel::new(entry),
            exit: Channel::new(exit),
            long: false,
        };
        Ok(DonchianBreakout {
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
        let b = bar.bar;
        // Channels of the bars *before* this one, then this bar joins them.
        let entry = state.entry.update(b.high, b.low);
        let exit = state.exit.update(b.high, b.low);
        if !state.long {
            if let Some((upper, _)) = entry
                && b.close > upper
            {
                ctx.target_fraction(bar.symbol, Side::Buy, self.fraction)?;
                state.long = true;
            }
        } else if let Some((_, lower)) = exit
            && b.close < lower
        {
            ctx.close(bar.symbol)?;
            state.long = false;
        }
        Ok(())
    }
}

export_strategy!(DonchianBreakout);

#[cfg(test)]
mod tests {
    use super::*;
    use weaver_strategy_sdk::{Bar, Intent, Runtime, TimeUnit, Timeframe};

    #[test]
    fn enters_on_a_breakout_and_exits_on_a_breakdown() {
        let mut rt = Runtime::<DonchianBreakout>::new();
        rt.init(Config {
            params: vec![("entry".into(), "3".into()), ("exit".into(), "2".into())],
            symbols: vec!["X".into()],
            timeframe: Timeframe {
                amount: 1,
                unit: TimeUnit::Day,
            },
        })
        .unwrap();
        // Range 9..11 for 4 bars, a close at 12 breaks out, then a close at 8 breaks down.
        let closes = [10.0, 10.0, 10.0, 10.0, 12.0, 12.5, 8.0, 8.0];
        let mut signals = vec![];
        for (i, &c) in closes.iter().enumerate() {
            let bar = SymbolBar {
                symbol: 0,
                bar: Bar {
                    ts: i as i64,
                    open: c,
                    high: c + 1.0,
                    low: c - 1.0,
                    close: c,
                    volume: 0.0,
                },
            };
            let reply = rt.on_bars(&[bar]).unwrap();
            for intent in reply.intents {
                signals.push((i, intent));
            }
        }
        assert_eq!(signals.len(), 2, "{signals:?}");
        assert!(matches!(&signals[0], (4, Intent::PlaceOrder(o)) if o.side == Side::Buy));
        assert!(matches!(&signals[1], (6, Intent::ClosePosition(s)) if s == "X"));
    }
}
