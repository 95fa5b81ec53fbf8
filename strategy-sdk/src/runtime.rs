//! The glue between the component exports and a [`Strategy`]: the intent-collecting [`Context`]
//! and the [`Runtime`] that walks events and bar batches.

use crate::bindings::weaver::strategy::types::BatchReply;
use crate::{
    Bar, BarBatch, Config, Declaration, Envelope, FetchWindow, Intent, LogLevel, LogLine,
    OrderIntent, OrderSize, OrderType, Payload, Result, Side, Strategy, StrategyError, SymbolBar,
    TimeInForce, Timeframe,
};

/// A symbol named either by its index in the run's symbol list (as bars carry it) or by text.
pub trait SymbolRef {
    /// The symbol's text, checked against the run's symbols.
    ///
    /// # Errors
    /// `unknown_symbol` when the run has no such symbol.
    fn resolve(self, symbols: &[String]) -> Result<String>;

    /// The symbol's text, which may name a symbol outside the run (a declared series).
    ///
    /// # Errors
    /// `unknown_symbol` for an index outside the run's symbols.
    fn any(self, symbols: &[String]) -> Result<String>;
}

impl SymbolRef for u32 {
    fn any(self, symbols: &[String]) -> Result<String> {
        self.resolve(symbols)
    }

    fn resolve(self, symbols: &[String]) -> Result<String> {
        symbols.get(self as usize).cloned().ok_or_else(|| {
            StrategyError::new(
                "unknown_symbol",
                format!(
                    "symbol index {self} is outside the run's {} symbol(s)",
                    symbols.len()
                ),
            )
        })
    }
}

impl SymbolRef for &str {
    fn any(self, _symbols: &[String]) -> Result<String> {
        Ok(self.to_owned())
    }

    fn resolve(self, symbols: &[String]) -> Result<String> {
        if symbols.iter().any(|s| s == self) {
            Ok(self.to_owned())
        } else {
            Err(StrategyError::new(
                "unknown_symbol",
                format!("symbol {self:?} is not one of the run's symbols"),
            ))
        }
    }
}

/// What a callback sees of the run, and where it puts its intents.
#[derive(Debug, Default)]
pub struct Context {
    symbols: Vec<String>,
    timeframe: Option<Timeframe>,
    now: i64,
    intents: Vec<Intent>,
}

impl Context {
    /// The run's symbols; a bar's `symbol` field indexes this list.
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// The text of symbol number `index`.
    ///
    /// # Errors
    /// `unknown_symbol` when the index is out of range.
    pub fn symbol(&self, index: u32) -> Result<&str> {
        self.symbols
            .get(index as usize)
            .map(String::as_str)
            .ok_or_else(|| {
                StrategyError::new(
                    "unknown_symbol",
                    format!("symbol index {index} is outside the run's symbols"),
                )
            })
    }

    /// The run's bar timeframe.
    pub fn timeframe(&self) -> Option<Timeframe> {
        self.timeframe
    }

    /// Time of the event being handled (UTC milliseconds): the bar time, or the event's `ts`.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Intents pushed so far while handling the current event.
    pub fn intents(&self) -> &[Intent] {
        &self.intents
    }

    /// Pushes any intent.
    pub fn push(&mut self, intent: Intent) {
        self.intents.push(intent);
    }

    /// Places a market order, good for the day.
    ///
    /// # Errors
    /// `unknown_symbol`.
    pub fn market(&mut self, symbol: impl SymbolRef, side: Side, size: OrderSize) -> Result<()> {
        let symbol = symbol.resolve(&self.symbols)?;
        self.order(OrderIntent {
            symbol,
            side,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
            limit_price: None,
            stop_price: None,
            size,
            tag: None,
        });
        Ok(())
    }

    /// Buys `units` at market.
    ///
    /// # Errors
    /// `unknown_symbol`.
    pub fn buy(&mut self, symbol: impl SymbolRef, units: f64) -> Result<()> {
        self.market(symbol, Side::Buy, OrderSize::Units(units))
    }

    /// Sells `units` at market (goes short if flat).
    ///
    /// # Errors
    /// `unknown_symbol`.
    pub fn sell(&mut self, symbol: impl SymbolRef, units: f64) -> Result<()> {
        self.market(symbol, Side::Sell, OrderSize::Units(units))
    }

    /// Places a limit order (good till cancelled).
    ///
    /// # Errors
    /// `unknown_symbol`.
    pub fn limit(
        &mut self,
        symbol: impl SymbolRef,
        side: Side,
        units: f64,
        price: f64,
    ) -> Result<()> {
        let symbol = symbol.resolve(&self.symbols)?;
        self.order(OrderIntent {
            symbol,
            side,
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Gtc,
            limit_price: Some(price),
            stop_price: None,
            size: OrderSize::Units(units),
            tag: None,
        });
        Ok(())
    }

    /// Places a market order sized as `fraction` (0, 1] of equity, resolved at fill time.
    ///
    /// # Errors
    /// `unknown_symbol`.
    pub fn target_fraction(
        &mut self,
        symbol: impl SymbolRef,
        side: Side,
        fraction: f64,
    ) -> Result<()> {
        self.market(symbol, side, OrderSize::EquityFraction(fraction))
    }

    /// Closes whatever position is open in `symbol`, then goes all-in on `side`: the
    /// "every signal reverses the position" rule of backtesting.py's exclusive orders.
    ///
    /// # Errors
    /// `unknown_symbol`.
    pub fn reverse_to(&mut self, symbol: impl SymbolRef, side: Side) -> Result<()> {
        let symbol = symbol.resolve(&self.symbols)?;
        self.intents.push(Intent::ClosePosition(symbol.clone()));
        self.target_fraction(symbol.as_str(), side, 1.0)
    }

    /// Places any order.
    pub fn order(&mut self, order: OrderIntent) {
        self.intents.push(Intent::PlaceOrder(order));
    }

    /// Closes the whole position in `symbol` at market.
    ///
    /// # Errors
    /// `unknown_symbol`.
    pub fn close(&mut self, symbol: impl SymbolRef) -> Result<()> {
        let symbol = symbol.resolve(&self.symbols)?;
        self.intents.push(Intent::ClosePosition(symbol));
        Ok(())
    }

    /// Cancels an open order by the client order id seen in its updates.
    pub fn cancel(&mut self, client_order_id: impl Into<String>) {
        self.intents
            .push(Intent::CancelOrder(client_order_id.into()));
    }

    /// Asks for the last `lookback` bars of `symbol` in `timeframe` that closed by now; they
    /// arrive in [`Strategy::on_data_window`]. The run's own symbols in the run's timeframe are
    /// always served; any other series must be declared in [`Strategy::declare`] (an undeclared
    /// one arrives empty). Symbols outside the run are named by text.
    ///
    /// # Errors
    /// `unknown_symbol` for an index outside the run's symbols.
    pub fn fetch_window(
        &mut self,
        symbol: impl SymbolRef,
        timeframe: Timeframe,
        lookback: u32,
    ) -> Result<()> {
        let symbol = symbol.any(&self.symbols)?;
        self.intents.push(Intent::FetchWindow(FetchWindow {
            symbol,
            timeframe,
            lookback,
        }));
        Ok(())
    }

    /// Writes a line to the run's log.
    pub fn log(&mut self, level: LogLevel, message: impl Into<String>) {
        self.intents.push(Intent::Log(LogLine {
            level,
            message: message.into(),
        }));
    }
}

/// Owns one strategy instance and turns component calls into trait calls. Used by
/// [`export_strategy!`](crate::export_strategy) and by native tests of a strategy.
#[derive(Debug)]
pub struct Runtime<S> {
    strategy: Option<S>,
    ctx: Context,
    /// Reused buffer for one timestamp group of a column batch.
    group: Vec<SymbolBar>,
}

impl<S: Strategy> Default for Runtime<S> {
    fn default() -> Self {
        Runtime::new()
    }
}

fn not_initialised() -> StrategyError {
    StrategyError::new(
        "not_initialised",
        "init was not called (or failed) before this event",
    )
}

impl<S: Strategy> Runtime<S> {
    /// A runtime whose strategy is created by [`Runtime::init`].
    pub const fn new() -> Runtime<S> {
        Runtime {
            strategy: None,
            ctx: Context {
                symbols: Vec::new(),
                timeframe: None,
                now: 0,
                intents: Vec::new(),
            },
            group: Vec::new(),
        }
    }

    /// Creates the strategy from the run configuration, then refuses any given parameter the
    /// strategy did not read in its `init` (a typo must not run silently on a default).
    ///
    /// # Errors
    /// The strategy's own refusal of its parameters; `unknown_param` naming a parameter it
    /// never read and listing the ones it reads.
    pub fn init(&mut self, config: Config) -> Result<Declaration> {
        self.strategy = None;
        self.ctx.symbols = config.symbols.clone();
        self.ctx.timeframe = Some(config.timeframe);
        crate::track_reads(true);
        let strategy = S::init(&config);
        let read = crate::track_reads(false);
        let strategy = strategy?;
        let unknown: Vec<&str> = config
            .params
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !read.iter().any(|r| r == k))
            .collect();
        if !unknown.is_empty() {
            let reads: Vec<&str> = read.iter().map(String::as_str).collect();
            return Err(crate::unknown_params(&unknown, &reads));
        }
        let declaration = strategy.declare();
        self.strategy = Some(strategy);
        Ok(declaration)
    }

    /// The strategy, once [`Runtime::init`] has succeeded.
    pub fn strategy(&self) -> Option<&S> {
        self.strategy.as_ref()
    }

    /// Delivers one event.
    ///
    /// # Errors
    /// The strategy's error, or `not_initialised`.
    pub fn on_event(&mut self, event: Envelope) -> Result<Vec<Intent>> {
        let strategy = self.strategy.as_mut().ok_or_else(not_initialised)?;
        let ctx = &mut self.ctx;
        ctx.intents.clear();
        ctx.now = event.ts;
        match &event.payload {
            Payload::Bars(bars) => {
                // Same walk as `on_bars`, so both paths give the same intents for the same bars;
                // an envelope normally carries one timestamp group.
                let mut start = 0;
                while start < bars.len() {
                    let end = group_end(bars, start);
                    ctx.now = bars[start].bar.ts;
                    strategy.on_bars(ctx, &bars[start..end])?;
                    start = end;
                }
            }
            Payload::DataWindow(window) => strategy.on_data_window(ctx, window)?,
            Payload::ClockTick => strategy.on_clock_tick(ctx)?,
            Payload::OrderUpdate(update) => strategy.on_order_update(ctx, update)?,
            Payload::Account(account) => strategy.on_account(ctx, account)?,
            Payload::Lifecycle(lifecycle) => strategy.on_lifecycle(ctx, *lifecycle)?,
            Payload::Raw(raw) => strategy.on_raw(ctx, raw)?,
        }
        Ok(core::mem::take(&mut ctx.intents))
    }

    /// Delivers a batch of bars as one event per timestamp group, stopping after the first group
    /// that produced intents.
    ///
    /// # Errors
    /// The strategy's error, or `not_initialised`.
    pub fn on_bars(&mut self, bars: &[SymbolBar]) -> Result<BatchReply> {
        let strategy = self.strategy.as_mut().ok_or_else(not_initialised)?;
        let ctx = &mut self.ctx;
        ctx.intents.clear();
        let mut start = 0;
        while start < bars.len() {
            let end = group_end(bars, start);
            ctx.now = bars[start].bar.ts;
            strategy.on_bars(ctx, &bars[start..end])?;
            if !ctx.intents.is_empty() {
                return Ok(BatchReply {
                    intents: core::mem::take(&mut ctx.intents),
                    consumed: end as u32,
                });
            }
            start = end;
        }
        Ok(BatchReply {
            intents: Vec::new(),
            consumed: bars.len() as u32,
        })
    }
}

impl<S: Strategy> Runtime<S> {
    /// [`Runtime::on_bars`] for a packed batch (what the host sends).
    ///
    /// # Errors
    /// The strategy's error, `not_initialised`, or `bad_batch` when the lists don't line up.
    pub fn on_bar_batch(&mut self, bars: &BarBatch) -> Result<BatchReply> {
        let strategy = self.strategy.as_mut().ok_or_else(not_initialised)?;
        let n = bars.ts.len() / 8;
        if bars.ts.len() != 8 * n || bars.symbols.len() != 4 * n || bars.ohlcv.len() != 40 * n {
            return Err(StrategyError::new(
                "bad_batch",
                "bar batch columns don't line up",
            ));
        }
        let ctx = &mut self.ctx;
        ctx.intents.clear();
        // The columns are little-endian bytes (see `bar-batch` in the WIT).
        let ts_at = |i: usize| i64::from_le_bytes(word(&bars.ts, i));
        let bar = |i: usize| {
            let f = |k: usize| f64::from_le_bytes(word(&bars.ohlcv, 5 * i + k));
            SymbolBar {
                symbol: u32::from_le_bytes(word(&bars.symbols, i)),
                bar: Bar {
                    ts: ts_at(i),
                    open: f(0),
                    high: f(1),
                    low: f(2),
                    close: f(3),
                    volume: f(4),
                },
            }
        };
        let mut start = 0;
        while start < n {
            let ts = ts_at(start);
            self.group.clear();
            let mut end = start;
            while end < n && ts_at(end) == ts {
                self.group.push(bar(end));
                end += 1;
            }
            ctx.now = ts;
            strategy.on_bars(ctx, &self.group)?;
            if !ctx.intents.is_empty() {
                return Ok(BatchReply {
                    intents: core::mem::take(&mut ctx.intents),
                    consumed: end as u32,
                });
            }
            start = end;
        }
        Ok(BatchReply {
            intents: Vec::new(),
            consumed: n as u32,
        })
    }
}

/// The `i`-th `N`-byte word of a little-endian column whose length was checked.
fn word<const N: usize>(column: &[u8], i: usize) -> [u8; N] {
    let mut w = [0; N];
    w.copy_from_slice(&column[N * i..N * i + N]);
    w
}

/// End (exclusive) of the timestamp group starting at `start`.
fn group_end(bars: &[SymbolBar], start: usize) -> usize {
    let ts = bars[start].bar.ts;
    let mut end = start + 1;
    while end < bars.len() && bars[end].bar.ts == ts {
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TimeUnit;

    /// Records every bar it sees; closes symbol 0 at `ts` 2000.
    struct Recorder {
        seen: Vec<(u32, i64, [f64; 5])>,
    }

    impl Strategy for Recorder {
        fn init(_: &Config) -> Result<Self> {
            Ok(Recorder { seen: Vec::new() })
        }

        fn on_bar(&mut self, ctx: &mut Context, b: &SymbolBar) -> Result<()> {
            let p = &b.bar;
            self.seen
                .push((b.symbol, p.ts, [p.open, p.high, p.low, p.close, p.volume]));
            if p.ts == 2000 && b.symbol == 0 {
                ctx.close(0u32)?;
            }
            Ok(())
        }
    }

    fn pack(bars: &[(u32, i64, [f64; 5])]) -> BarBatch {
        let mut batch = BarBatch {
            symbols: Vec::new(),
            ts: Vec::new(),
            ohlcv: Vec::new(),
        };
        for (symbol, ts, ohlcv) in bars {
            batch.symbols.extend_from_slice(&symbol.to_le_bytes());
            batch.ts.extend_from_slice(&ts.to_le_bytes());
            for v in ohlcv {
                batch.ohlcv.extend_from_slice(&v.to_le_bytes());
            }
        }
        batch
    }

    fn runtime() -> Runtime<Recorder> {
        let mut rt = Runtime::new();
        rt.init(Config {
            params: Vec::new(),
            symbols: vec!["A".into(), "B".into()],
            timeframe: Timeframe {
                amount: 1,
                unit: TimeUnit::Minute,
            },
        })
        .expect("init");
        rt
    }

    /// Reads `fast` and `slow`, and `mode` only when `fast` is 0.
    struct Reader;

    impl Strategy for Reader {
        fn init(config: &Config) -> Result<Self> {
            let fast: u32 = config.param("fast", 1)?;
            let _slow: u32 = config.param("slow", 2)?;
            if fast == 0 {
                let _ = config.param_text("mode");
            }
            Ok(Reader)
        }
    }

    fn params(params: &[(&str, &str)]) -> Config {
        Config {
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            symbols: vec!["A".into()],
            timeframe: Timeframe {
                amount: 1,
                unit: TimeUnit::Minute,
            },
        }
    }

    #[test]
    fn init_refuses_a_parameter_the_strategy_never_read() {
        let mut rt = Runtime::<Reader>::new();
        rt.init(params(&[("fast", "3"), ("slow", "9")]))
            .expect("read params");
        let err = rt
            .init(params(&[("fsat", "5"), ("slow", "9")]))
            .expect_err("a typo");
        assert_eq!(err.code, "unknown_param");
        assert_eq!(
            err.message,
            "unknown parameter(s) fsat; this strategy reads fast, slow"
        );
        assert!(rt.strategy().is_none(), "no strategy after a refusal");
        // Read only on some paths: known where it is read, unknown where it is not.
        rt.init(params(&[("fast", "0"), ("mode", "x")]))
            .expect("mode read when fast is 0");
        let err = rt
            .init(params(&[("fast", "1"), ("mode", "x")]))
            .expect_err("mode unread");
        assert_eq!(err.code, "unknown_param");
        // Outside init nothing is tracked: a later init starts afresh.
        let _ = params(&[]).param_text("fsat");
        rt.init(params(&[("fast", "3")])).expect("afresh");
    }

    #[test]
    fn packed_batches_decode_exactly_and_stop_after_the_signalling_group() {
        let bars = [
            (0, 1000, [1.5, 2.0, 1.0, 1.75, 100.0]),
            (1, 1000, [-0.0, 0.1, -3.25, f64::MIN_POSITIVE, 0.0]),
            (1, 2000, [10.0, 11.0, 9.0, 10.5, 7.0]),
            (0, 2000, [2.0, 2.5, 1.5, 2.25, 5e9]),
            (0, 3000, [3.0, 3.0, 3.0, 3.0, 3.0]),
        ];
        let mut rt = runtime();
        let reply = rt.on_bar_batch(&pack(&bars)).expect("batch");
        // Intents at ts 2000: the whole group is consumed, nothing after it.
        assert_eq!(reply.consumed, 4);
        assert!(matches!(reply.intents.as_slice(), [Intent::ClosePosition(s)] if s == "A"));
        let seen = &rt.strategy().expect("initialised").seen;
        assert_eq!(seen.len(), 4);
        for (got, want) in seen.iter().zip(&bars) {
            assert_eq!((got.0, got.1), (want.0, want.1));
            let bits = |v: &[f64; 5]| v.map(f64::to_bits);
            assert_eq!(bits(&got.2), bits(&want.2), "bit for bit");
        }
    }

    #[test]
    fn misaligned_columns_are_a_bad_batch() {
        let bars = [(0, 1000, [1.0; 5]), (0, 2000, [1.0; 5])];
        let cuts: [fn(&mut BarBatch); 3] = [
            |b| b.ohlcv.truncate(79),
            |b| {
                b.symbols.pop();
            },
            |b| b.ts.push(0),
        ];
        for cut in cuts {
            let mut batch = pack(&bars);
            cut(&mut batch);
            let err = runtime().on_bar_batch(&batch).expect_err("misaligned");
            assert_eq!(err.code, "bad_batch");
        }
    }
}
