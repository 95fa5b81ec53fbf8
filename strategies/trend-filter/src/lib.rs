//! Trend filter: trades the run's bars (e.g. 5-minute) with an SMA cross, long only while the
//! daily trend is up. The multi-timeframe example of contract 0.3; `strategies/trend-filter-py`
//! and `strategies/trend-filter-js` are the same strategy, decision for decision.
//!
//! Parameters: `fast` (default 6) and `slow` (default 24), SMA lengths in the run's bars;
//! `trend` (default 10), the daily SMA length.
//!
//! It declares the daily series of the run's first symbol and a warm-up of `max(fast, slow) - 1`
//! bars. On the first bar of each UTC day it asks for the last `trend` daily bars (the host
//! serves only days that closed by then), and the trend is up while the last daily close is
//! above their mean. On each bar of the first symbol, once both averages are defined on this bar
//! and the previous one: fast crossing above slow while the trend is up buys with half the
//! equity (sized at fill time in a backtest, at the latest close in a run); slow crossing above fast, or the trend turning down, closes the position.
//!
//! The mean of the daily closes is a left-to-right sum divided by the count, as in the Python and
//! JavaScript versions, so the three decide bit for bit alike.

use weaver_strategy_sdk::indicators::{Sma, crossover};
use weaver_strategy_sdk::{
    Config, Context, DataWindow, Declaration, Result, Side, Strategy, StrategyError, Subscriptions,
    SymbolBar, Timeframe, export_strategy,
};

const DAY_MS: i64 = 86_400_000;

/// The strategy's state.
#[derive(Debug)]
pub struct TrendFilter {
    /// The traded symbol (the run's first), whose daily series is the trend.
    symbol: String,
    fast: Sma,
    slow: Sma,
    /// `(fast, slow)` at the previous bar, once both were defined.
    prev: Option<(f64, f64)>,
    /// Daily SMA length.
    trend: u32,
    /// Whether the last daily close is above the daily SMA (false until known).
    trend_up: bool,
    /// The UTC day of the last window request.
    day: Option<i64>,
    /// Whether the strategy holds a position (it places every order itself).
    long: bool,
    warmup: u32,
}

impl Strategy for TrendFilter {
    // Decisions depend on bars and daily windows only.
    const SUBSCRIPTIONS: Subscriptions = Subscriptions::empty();

    fn init(config: &Config) -> Result<Self> {
        config.expect_only(&["fast", "slow", "trend"])?;
        let fast: usize = config.param("fast", 6)?;
        let slow: usize = config.param("slow", 24)?;
        let trend: u32 = config.param("trend", 10)?;
        if fast == 0 || slow == 0 || trend == 0 {
            return Err(StrategyError::new(
                "bad_param",
                "fast, slow and trend must be at least 1",
            ));
        }
        let symbol = config
            .symbols
            .first()
            .cloned()
            .ok_or_else(|| StrategyError::new("bad_param", "the run has no symbol"))?;
        Ok(TrendFilter {
            symbol,
            fast: Sma::new(fast),
            slow: Sma::new(slow),
            prev: None,
            trend,
            trend_up: false,
            day: None,
            long: false,
            warmup: u32::try_from(fast.max(slow) - 1).unwrap_or(u32::MAX),
        })
    }

    fn declare(&self) -> Declaration {
        Declaration::new(Self::SUBSCRIPTIONS)
            .series(self.symbol.clone(), Timeframe::DAY)
            .warmup(self.warmup)
    }

    fn on_bar(&mut self, ctx: &mut Context, bar: &SymbolBar) -> Result<()> {
        if bar.symbol != 0 {
            return Ok(());
        }
        let day = bar.bar.ts.div_euclid(DAY_MS);
        if self.day != Some(day) {
            self.day = Some(day);
            ctx.fetch_window(self.symbol.as_str(), Timeframe::DAY, self.trend)?;
        }
        let close = bar.bar.close;
        let (fast, slow) = (self.fast.update(close), self.slow.update(close));
        let (Some(fast), Some(slow)) = (fast, slow) else {
            return Ok(());
        };
        if let Some((prev_fast, prev_slow)) = self.prev.replace((fast, slow)) {
            if crossover(prev_fast, prev_slow, fast, slow) && self.trend_up && !self.long {
                self.long = true;
                ctx.target_fraction(0, Side::Buy, 0.5)?;
            } else if crossover(prev_slow, prev_fast, slow, fast) && self.long {
                self.long = false;
                ctx.close(0)?;
            }
        }
        Ok(())
    }

    fn on_data_window(&mut self, ctx: &mut Context, window: &DataWindow) -> Result<()> {
        let closes: Vec<f64> = window.bars.iter().map(|b| b.close).collect();
        self.trend_up = match closes.last() {
            Some(&last) if closes.len() >= self.trend as usize => {
                let mut sum = 0.0;
                for c in &closes {
                    sum += c;
                }
                last > sum / closes.len() as f64
            }
            _ => false,
        };
        if self.long && !self.trend_up {
            self.long = false;
            ctx.close(0)?;
        }
        Ok(())
    }
}

export_strategy!(TrendFilter);

#[cfg(test)]
mod tests {
    use super::*;
    use weaver_strategy_sdk::{Runtime, TimeUnit};

    fn config(params: &[(&str, &str)]) -> Config {
        Config {
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            symbols: vec!["SPY".into()],
            timeframe: Timeframe {
                amount: 5,
                unit: TimeUnit::Minute,
            },
        }
    }

    #[test]
    fn declares_the_daily_series_and_its_warmup_from_the_params() {
        let mut rt = Runtime::<TrendFilter>::new();
        let d = rt.init(config(&[("fast", "3"), ("slow", "12")])).unwrap();
        assert_eq!(d.warmup, 11);
        assert_eq!(d.series.len(), 1);
        assert_eq!(d.series[0].symbol, "SPY");
        assert_eq!(d.series[0].timeframe, Timeframe::DAY);
        assert!(rt.init(config(&[("trend", "0")])).is_err());
    }
}
