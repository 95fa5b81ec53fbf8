//! Weaver strategy SDK: write a trading strategy in Rust and build it into a WebAssembly component.
//!
//! A strategy is a type that implements [`Strategy`]: it is created from the run's [`Config`]
//! (parameters, symbols, timeframe) and then reacts to events — mostly [`Strategy::on_bar`] — by
//! pushing *intents* (orders, closes, log lines) into a [`Context`]. [`export_strategy!`] turns the
//! type into the component exports the Weaver host calls. The tutorial is `strategy-sdk/README.md`.
//!
//! ```ignore
//! use weaver_strategy_sdk::{export_strategy, indicators::{crossover, Sma}, Config, Context, Result, Strategy, SymbolBar};
//!
//! struct SmaCross { fast: Sma, slow: Sma, prev: Option<(f64, f64)> }
//!
//! impl Strategy for SmaCross {
//!     fn init(config: &Config) -> Result<Self> {
//!         let fast = Sma::new(config.param("fast", 10)?);
//!         let slow = Sma::new(config.param("slow", 20)?);
//!         Ok(SmaCross { fast, slow, prev: None })
//!     }
//!     fn on_bar(&mut self, ctx: &mut Context, bar: &SymbolBar) -> Result<()> {
//!         let (Some(f), Some(s)) = (self.fast.update(bar.bar.close), self.slow.update(bar.bar.close)) else { return Ok(()) };
//!         if let Some((pf, ps)) = self.prev.replace((f, s)) {
//!             if crossover(pf, ps, f, s) { ctx.reverse_to(bar.symbol, Side::Buy)?; }
//!         }
//!         Ok(())
//!     }
//! }
//! export_strategy!(SmaCross);
//! ```
//!
//! # Invariants
//! - A strategy imports nothing: no clock, file, network or randomness. Everything it knows comes
//!   in events, so the same events always give the same intents.
//! - `on-bars` batches behave exactly like one `bars` event per timestamp: the SDK walks the
//!   timestamp groups in order and returns right after the first group that produced an intent.
//! - The host validates every intent; the helpers here only make the common ones easy to write.

// wit-bindgen's generated glue is `unsafe` FFI code; it is confined to `bindings`.
#![allow(unsafe_code)]

// The generated bindings name this crate by its path, also from inside it.
extern crate self as weaver_strategy_sdk;

pub mod indicators;
mod runtime;

/// Generated bindings for `wit/` (package `weaver:strategy@0.3.0`). Use the re-exports at the
/// crate root instead; this module is public only so [`export_strategy!`] can reach it.
#[doc(hidden)]
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "strategy",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "weaver_strategy_sdk::bindings",
        runtime_path: "weaver_strategy_sdk::__wit_bindgen::rt",
        additional_derives: [PartialEq],
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub use bindings::weaver::strategy::types::{
    AccountSnapshot, Bar, BarBatch, Config, DataWindow, Declaration, Envelope, EventKind,
    FetchWindow, Header, Intent, Lifecycle, LogLevel, LogLine, OrderIntent, OrderSize, OrderStatus,
    OrderType, OrderUpdate, Payload, Position, RawPayload, Series, Side, StrategyError,
    Subscriptions, SymbolBar, TimeInForce, TimeUnit, Timeframe,
};
pub use runtime::Context;
#[doc(hidden)]
pub use runtime::Runtime;

/// What a strategy callback returns; the error ends the run with code `strategy_error` (or
/// `invalid_params` when it comes from [`Strategy::init`]).
pub type Result<T, E = StrategyError> = core::result::Result<T, E>;

impl StrategyError {
    /// An error with a short snake_case `code` and a message for the user.
    pub fn new(code: &str, message: impl Into<String>) -> StrategyError {
        StrategyError {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl Timeframe {
    /// `amount` minutes (`Timeframe::minutes(5)` is `5Min`).
    pub const fn minutes(amount: u32) -> Timeframe {
        Timeframe {
            amount,
            unit: TimeUnit::Minute,
        }
    }

    /// `amount` hours.
    pub const fn hours(amount: u32) -> Timeframe {
        Timeframe {
            amount,
            unit: TimeUnit::Hour,
        }
    }

    /// Daily bars.
    pub const DAY: Timeframe = Timeframe {
        amount: 1,
        unit: TimeUnit::Day,
    };
}

impl Declaration {
    /// What [`Strategy::declare`] returns by default: `subscriptions`, no extra series, no
    /// warm-up.
    pub fn new(subscriptions: Subscriptions) -> Declaration {
        Declaration {
            subscriptions,
            series: Vec::new(),
            warmup: 0,
        }
    }

    /// Adds a series (symbol + timeframe) the strategy reads with [`Context::fetch_window`].
    #[must_use]
    pub fn series(mut self, symbol: impl Into<String>, timeframe: Timeframe) -> Declaration {
        self.series.push(Series {
            symbol: symbol.into(),
            timeframe,
        });
        self
    }

    /// Sets the warm-up: bars of the run's timeframe needed before the indicators are defined.
    #[must_use]
    pub fn warmup(mut self, bars: u32) -> Declaration {
        self.warmup = bars;
        self
    }
}

std::thread_local! {
    /// The parameter names read while [`Strategy::init`] runs (`None` outside it): the runtime
    /// refuses a given parameter the strategy never read ([`Runtime`]'s `init`), so a typo
    /// (`fsat=5`) is an error, not a silent default.
    static READ: core::cell::RefCell<Option<Vec<String>>> = const { core::cell::RefCell::new(None) };
}

/// Notes that the strategy reads parameter `name` (only while `init` runs).
fn note_read(name: &str) {
    READ.with(|r| {
        if let Some(read) = r.borrow_mut().as_mut()
            && !read.iter().any(|n| n == name)
        {
            read.push(name.to_owned());
        }
    });
}

/// Starts noting the parameters read (`init` begins), or stops and returns them (`init` ended).
pub(crate) fn track_reads(on: bool) -> Vec<String> {
    READ.with(|r| {
        let mut r = r.borrow_mut();
        let read = r.take().unwrap_or_default();
        if on {
            *r = Some(Vec::new());
        }
        read
    })
}

/// The `unknown_param` refusal of `unknown` parameters, naming the ones the strategy reads.
pub(crate) fn unknown_params(unknown: &[&str], reads: &[&str]) -> StrategyError {
    let reads = if reads.is_empty() {
        "none".to_owned()
    } else {
        reads.join(", ")
    };
    StrategyError::new(
        "unknown_param",
        format!(
            "unknown parameter(s) {}; this strategy reads {reads}",
            unknown.join(", ")
        ),
    )
}

impl Config {
    /// The raw text of parameter `name`, if given. Reading a parameter (here, or through
    /// [`Config::param`] and [`Config::fraction`]) during `init` is what makes it known: after
    /// `init` the SDK refuses any given parameter the strategy never read (`unknown_param`).
    pub fn param_text(&self, name: &str) -> Option<&str> {
        note_read(name);
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parameter `name` parsed as `T`, or `default` when it is not given.
    ///
    /// # Errors
    /// `bad_param` when the text does not parse as `T`.
    pub fn param<T: core::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.param_text(name) {
            None => Ok(default),
            Some(text) => text.trim().parse().map_err(|_| {
                StrategyError::new(
                    "bad_param",
                    format!(
                        "parameter {name}={text:?} is not a valid {}",
                        core::any::type_name::<T>()
                    ),
                )
            }),
        }
    }

    /// Parameter `name` as a fraction of equity in (0, 1], or `default` when it is not given.
    ///
    /// # Errors
    /// `bad_param` when the text is not a number in (0, 1].
    pub fn fraction(&self, name: &str, default: f64) -> Result<f64> {
        let value: f64 = self.param(name, default)?;
        if value > 0.0 && value <= 1.0 {
            Ok(value)
        } else {
            Err(StrategyError::new(
                "bad_param",
                format!("{name} must be in (0, 1]"),
            ))
        }
    }

    /// Refuses any parameter not in `known` at once (the SDK refuses the ones never read after
    /// `init` anyway); the names in `known` count as read.
    ///
    /// # Errors
    /// `unknown_param` naming the unknown parameters.
    pub fn expect_only(&self, known: &[&str]) -> Result<()> {
        for k in known {
            note_read(k);
        }
        let unknown: Vec<&str> = self
            .params
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !known.contains(k))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(unknown_params(&unknown, known))
        }
    }
}

/// A trading strategy. Implement [`Strategy::init`] and the callbacks you need (every callback
/// has a default that does nothing), then `export_strategy!(YourType)`.
///
/// Callbacks push intents into the [`Context`]; returning `Err` ends the run.
pub trait Strategy: Sized + 'static {
    /// Creates the strategy from the run's configuration. Check parameters here.
    ///
    /// # Errors
    /// Refuse bad parameters (the run then fails with `invalid_params`).
    fn init(config: &Config) -> Result<Self>;

    /// The optional event kinds this strategy wants: order updates, account snapshots, clock
    /// ticks, lifecycle. Bars, the data windows it asked for and raw events always arrive. The
    /// host does not call the strategy for the kinds left out, which saves a guest call per fill
    /// in a backtest; a strategy whose decisions depend only on bars should say
    /// `Subscriptions::empty()`. Default: everything.
    const SUBSCRIPTIONS: Subscriptions = Subscriptions::all();

    /// What the host learns after [`Strategy::init`] (contract 0.3): the subscriptions, the
    /// extra series read with [`Context::fetch_window`] (another timeframe or symbol) and the
    /// warm-up in bars, which may depend on the parameters. A backtest starts buy & hold after
    /// the warm-up unless told otherwise. Default: [`Strategy::SUBSCRIPTIONS`], nothing else.
    ///
    /// ```ignore
    /// fn declare(&self) -> Declaration {
    ///     Declaration::new(Self::SUBSCRIPTIONS)
    ///         .series(self.symbol.clone(), Timeframe::DAY)
    ///         .warmup(self.slow - 1)
    /// }
    /// ```
    fn declare(&self) -> Declaration {
        Declaration::new(Self::SUBSCRIPTIONS)
    }

    /// One bar of one symbol closed. Called for each bar of a timestamp group, in order.
    ///
    /// # Errors
    /// Any error ends the run.
    fn on_bar(&mut self, ctx: &mut Context, bar: &SymbolBar) -> Result<()> {
        let _ = (ctx, bar);
        Ok(())
    }

    /// All bars of one timestamp (one per symbol that traded). The default calls
    /// [`Strategy::on_bar`] for each; override it to look at symbols together.
    ///
    /// # Errors
    /// Any error ends the run.
    fn on_bars(&mut self, ctx: &mut Context, bars: &[SymbolBar]) -> Result<()> {
        for bar in bars {
            self.on_bar(ctx, bar)?;
        }
        Ok(())
    }

    /// One of the run's orders changed (accepted, filled, cancelled, …).
    ///
    /// # Errors
    /// Any error ends the run.
    fn on_order_update(&mut self, ctx: &mut Context, update: &OrderUpdate) -> Result<()> {
        let _ = (ctx, update);
        Ok(())
    }

    /// The account and positions.
    ///
    /// # Errors
    /// Any error ends the run.
    fn on_account(&mut self, ctx: &mut Context, account: &AccountSnapshot) -> Result<()> {
        let _ = (ctx, account);
        Ok(())
    }

    /// The bars a [`Context::fetch_window`] asked for.
    ///
    /// # Errors
    /// Any error ends the run.
    fn on_data_window(&mut self, ctx: &mut Context, window: &DataWindow) -> Result<()> {
        let _ = (ctx, window);
        Ok(())
    }

    /// A clock tick at the run's bar boundary ([`Context::now`] is the tick time).
    ///
    /// # Errors
    /// Any error ends the run.
    fn on_clock_tick(&mut self, ctx: &mut Context) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// The run started or is stopping.
    ///
    /// # Errors
    /// Any error ends the run.
    fn on_lifecycle(&mut self, ctx: &mut Context, lifecycle: Lifecycle) -> Result<()> {
        let _ = (ctx, lifecycle);
        Ok(())
    }

    /// An event this contract version has no typed variant for. Ignored by default.
    ///
    /// # Errors
    /// Any error ends the run.
    fn on_raw(&mut self, ctx: &mut Context, raw: &RawPayload) -> Result<()> {
        let _ = (ctx, raw);
        Ok(())
    }
}

/// Exports a [`Strategy`] type as the component's `weaver:strategy/guest` implementation.
/// Use it once per strategy crate, at the crate root.
#[macro_export]
macro_rules! export_strategy {
    ($ty:ty) => {
        ::std::thread_local! {
            static __WEAVER_RUNTIME: ::core::cell::RefCell<$crate::Runtime<$ty>> =
                ::core::cell::RefCell::new($crate::Runtime::new());
        }

        #[doc(hidden)]
        pub struct __WeaverGuest;

        impl $crate::bindings::exports::weaver::strategy::guest::Guest for __WeaverGuest {
            fn init(
                config: $crate::Config,
            ) -> ::core::result::Result<$crate::Declaration, $crate::StrategyError> {
                __WEAVER_RUNTIME.with(|rt| rt.borrow_mut().init(config))
            }
            fn on_event(
                event: $crate::Envelope,
            ) -> ::core::result::Result<::std::vec::Vec<$crate::Intent>, $crate::StrategyError> {
                __WEAVER_RUNTIME.with(|rt| rt.borrow_mut().on_event(event))
            }
            fn on_bars(
                bars: $crate::BarBatch,
            ) -> ::core::result::Result<$crate::bindings::weaver::strategy::types::BatchReply, $crate::StrategyError>
            {
                __WEAVER_RUNTIME.with(|rt| rt.borrow_mut().on_bar_batch(&bars))
            }
        }

        $crate::bindings::export!(__WeaverGuest with_types_in $crate::bindings);
    };
}
