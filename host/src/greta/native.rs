//! Strategies compiled into the host: the reference SMA crossover, used by the benchmark to show
//! what the sandbox costs and by the parity tests to check the engine without a wasm build.
//!
//! # Invariants
//! - [`SmaCross`] makes exactly the decisions of `strategies/sma-cross` (and of backtesting.py's
//!   `SmaCross`): at the close of bar `t`, once both averages are defined at `t-1` and `t`, a
//!   strict up-cross of fast over slow closes the position and buys with all equity; a strict
//!   down-cross closes and sells.

use crate::domain::{
    BatchOutcome, EventMeta, Intent, OrderIntent, OrderSize, OrderType, Side, Strategy,
    StrategyConfig, StrategyError, StrategyEvent, StrategyPayload, SymbolBar, TimeInForce,
};

/// Per-symbol moving-average state.
#[derive(Debug, Clone)]
struct State {
    closes: Vec<f64>,
    count: usize,
    prev: Option<(f64, f64)>,
}

/// SMA(fast) / SMA(slow) crossover, always in the market after the first signal.
#[derive(Debug, Clone)]
pub struct SmaCross {
    fast: usize,
    slow: usize,
    symbols: Vec<String>,
    states: Vec<State>,
}

fn param(cfg: &StrategyConfig, key: &str, default: usize) -> Result<usize, StrategyError> {
    match cfg.params.iter().rev().find(|(k, _)| k == key) {
        None => Ok(default),
        Some((_, v)) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| StrategyError {
                code: "invalid_params".to_owned(),
                message: format!("{key}={v:?} must be a whole number >= 1"),
            }),
    }
}

impl SmaCross {
    /// Builds the strategy from `fast` (default 10) and `slow` (default 20).
    ///
    /// # Errors
    /// `invalid_params` for non-numeric or zero periods, or an unknown parameter.
    pub fn new(cfg: &StrategyConfig) -> Result<SmaCross, StrategyError> {
        if let Some((k, _)) = cfg.params.iter().find(|(k, _)| k != "fast" && k != "slow") {
            return Err(StrategyError {
                code: "invalid_params".to_owned(),
                message: format!("unknown parameter {k:?} (sma-cross takes fast and slow)"),
            });
        }
        let fast = param(cfg, "fast", 10)?;
        let slow = param(cfg, "slow", 20)?;
        let cap = fast.max(slow);
        Ok(SmaCross {
            fast,
            slow,
            symbols: cfg.symbols.clone(),
            states: vec![
                State {
                    closes: vec![0.0; cap],
                    count: 0,
                    prev: None
                };
                cfg.symbols.len()
            ],
        })
    }

    /// Feeds one bar; returns whether a signal fired and which way.
    fn step(&mut self, sb: &SymbolBar) -> Option<Side> {
        let cap = self.fast.max(self.slow);
        let (fast, slow) = (self.fast, self.slow);
        let st = self.states.get_mut(sb.symbol as usize)?;
        st.closes[st.count % cap] = sb.bar.close;
        st.count += 1;
        let n = st.count;
        let mean = |k: usize| {
            // Oldest first, like a rolling window sum.
            let mut s = 0.0;
            for j in n - k..n {
                s += st.closes[j % cap];
            }
            s / k as f64
        };
        if n < cap {
            return None;
        }
        let now = (mean(fast), mean(slow));
        let prev = st.prev.replace(now);
        let (pf, ps) = prev?;
        if pf < ps && now.0 > now.1 {
            Some(Side::Buy)
        } else if ps < pf && now.1 > now.0 {
            Some(Side::Sell)
        } else {
            None
        }
    }

    fn intents(&self, symbol: u32, side: Side, out: &mut Vec<Intent>) {
        let name = self
            .symbols
            .get(symbol as usize)
            .cloned()
            .unwrap_or_default();
        out.push(Intent::ClosePosition {
            symbol: name.clone(),
        });
        out.push(Intent::PlaceOrder(OrderIntent {
            symbol: name,
            side,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
            limit_price: None,
            stop_price: None,
            size: OrderSize::EquityFraction(1.0),
            tag: None,
        }));
    }
}

impl Strategy for SmaCross {
    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        let mut out = Vec::new();
        if let StrategyPayload::Bars(bars) = &event.payload {
            for sb in bars {
                if let Some(side) = self.step(sb) {
                    self.intents(sb.symbol, side, &mut out);
                }
            }
        }
        Ok(out)
    }

    fn on_bars(
        &mut self,
        _meta: &EventMeta,
        bars: &[SymbolBar],
    ) -> Result<BatchOutcome, StrategyError> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < bars.len() {
            let ts = bars[i].bar.ts;
            while i < bars.len() && bars[i].bar.ts == ts {
                if let Some(side) = self.step(&bars[i]) {
                    self.intents(bars[i].symbol, side, &mut out);
                }
                i += 1;
            }
            if !out.is_empty() {
                return Ok(BatchOutcome {
                    intents: out,
                    consumed: i,
                });
            }
        }
        Ok(BatchOutcome {
            intents: out,
            consumed: bars.len(),
        })
    }
}
