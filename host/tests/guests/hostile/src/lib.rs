//! A strategy that misbehaves on purpose, for Marvin's hostile-guest tests (the sandbox's
//! budgets are described in `docs/adr/0002-fuel-and-epoch-deadlines.md`). Parameter `mode` picks the misbehaviour, run on the first bar
//! (or in `init` when `at=init`); `mode=none` behaves (emits one log intent per bar);
//! `mode=observe` behaves too: it buys 1 unit on its first bar, prints one line to stdout, and
//! logs every clock tick (`tick <ms>`), order update (`order <status> <filled>`), account
//! snapshot (`account <positions> <quantity held>`), lifecycle transition (`lifecycle
//! started|stopping`) and other event (`raw <content type> <body>`, e.g. a `risk.OrderDenied`)
//! it receives.
//!
//! Near-limit modes (issue #22's budget cases) are legal work sized by parameters, the same fuel
//! for the same bars: `mode=burn` runs `iters` steps of arithmetic per bar; `mode=chase` runs
//! `iters` steps of a pointer chase through a random cycle of `kib` KiB (a cache miss per step:
//! the slowest wall time per unit of fuel); both log `done <bars>` on the bar numbered `signal`
//! (1-based, 0: never). `mode=windows` asks for `count` data windows of `lookback` bars on bar
//! `signal` (default the first; and `again` more in reply to each window); `mode=logs` returns `count` log lines of
//! `len` bytes on every bar.

use std::hint::black_box;

use weaver_strategy_sdk::{
    AccountSnapshot, Config, Context, Intent, Lifecycle, LogLevel, OrderIntent, OrderSize,
    OrderType, OrderUpdate, Result, Side, Strategy, StrategyError, SymbolBar, TimeInForce,
    export_strategy,
};

/// The hostile strategy.
pub struct Hostile {
    mode: String,
    bars: u64,
    /// Work per bar of the near-limit modes.
    iters: u64,
    /// Bar (1-based) on which the near-limit modes log; 0: never.
    signal: u64,
    /// `count` and `lookback`/`len` of the windows and logs modes; `again`: windows per window.
    count: u32,
    size: u32,
    again: u32,
    /// The random cycle of `mode=chase` (`next[i]` is the slot after `i`) and where it is.
    next: Vec<u32>,
    at: u32,
}

/// `iters` steps of integer arithmetic the optimiser cannot fold.
fn burn(iters: u64, seed: u64) -> u64 {
    let mut x = seed;
    for i in 0..iters {
        x = black_box(
            x.wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(i | 1),
        );
    }
    x
}

/// A single random cycle through `slots` slots: Sattolo's shuffle (fixed seed) makes `next[i]`,
/// read as "the slot after `i`", one cycle through all of them.
fn cycle(slots: usize) -> Vec<u32> {
    let mut next: Vec<u32> = (0..slots as u32).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..slots).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (x % i as u64) as usize;
        next.swap(i, j);
    }
    next
}

/// Recursion whose frames live on the wasm (native) stack.
#[inline(never)]
#[allow(unconditional_recursion)] // the point of this mode
fn recurse(depth: u64) -> u64 {
    // `black_box` on the result keeps the call from becoming a loop.
    black_box(recurse(depth + 1)) + depth
}

/// Recursion with a buffer per frame: Rust keeps those on its own stack in linear memory, which
/// overflows before the wasm stack does.
#[inline(never)]
#[allow(unconditional_recursion)] // the point of this mode
fn recurse_with_buffers(depth: u64, pad: [u64; 16]) -> u64 {
    let mut local = black_box(pad);
    local[(depth % 16) as usize] = depth;
    black_box(recurse_with_buffers(black_box(depth + 1), local)) + local[0]
}

/// Grows linear memory by 16 pages (1 MiB) with a raw `memory.grow`, and touches every new page
/// so the host really has to back it with RAM.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
fn grow_1mib() -> Option<usize> {
    let previous = core::arch::wasm32::memory_grow(0, 16);
    if previous == usize::MAX {
        return None;
    }
    for page in 0..16 {
        let addr = (previous + page) * 65_536;
        // SAFETY: the page was just added to linear memory and nothing else uses it.
        unsafe { core::ptr::write_volatile(addr as *mut u8, 1) };
    }
    Some(previous)
}

#[cfg(not(target_arch = "wasm32"))]
fn grow_1mib() -> Option<usize> {
    // Native builds (workspace-wide checks) never run the hostile modes.
    None
}

/// Executes the `unreachable` instruction.
#[cfg(target_arch = "wasm32")]
fn trap() -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(not(target_arch = "wasm32"))]
fn trap() -> ! {
    std::process::abort()
}

fn misbehave(mode: &str, ctx: &mut Context) -> Result<()> {
    match mode {
        "spin" => loop {
            black_box(());
        },
        "recurse" => {
            black_box(recurse(black_box(1)));
        }
        "recurse-buffers" => {
            black_box(recurse_with_buffers(0, [0; 16]));
        }
        "grow" => {
            // Ask for 1 MiB at a time until refused (or 4 GiB).
            for _ in 0..4096 {
                if grow_1mib().is_none() {
                    break;
                }
            }
        }
        "panic" => panic!("hostile guest panics on purpose"),
        "unreachable" => trap(),
        "flood" => ctx.log(LogLevel::Info, "x".repeat(4 << 20)),
        "many" => {
            for _ in 0..100_000 {
                ctx.cancel("x");
            }
        }
        "print" => loop {
            println!("spam spam spam spam");
        },
        "biglog" => ctx.log(LogLevel::Info, "y".repeat(100_000)),
        "nan" => ctx.push(Intent::PlaceOrder(OrderIntent {
            symbol: ctx.symbol(0)?.to_owned(),
            side: Side::Buy,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
            limit_price: None,
            stop_price: None,
            size: OrderSize::Units(f64::NAN),
            tag: None,
        })),
        "unknown-symbol" => ctx.push(Intent::ClosePosition("NOT-IN-RUN".into())),
        // Nonsense orders (case 17): each must be refused before any venue sees it.
        "negative-qty" => ctx.push(Intent::PlaceOrder(OrderIntent {
            symbol: ctx.symbol(0)?.to_owned(),
            side: Side::Sell,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Day,
            limit_price: None,
            stop_price: None,
            size: OrderSize::Units(-5.0),
            tag: None,
        })),
        "nan-price" => ctx.push(Intent::PlaceOrder(OrderIntent {
            symbol: ctx.symbol(0)?.to_owned(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Day,
            limit_price: Some(f64::NAN),
            stop_price: None,
            size: OrderSize::Units(1.0),
            tag: None,
        })),
        "unknown-symbol-order" => ctx.push(Intent::PlaceOrder(OrderIntent {
            symbol: "NOT-IN-RUN".into(),
            side: Side::Buy,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Day,
            limit_price: None,
            stop_price: None,
            size: OrderSize::Units(1.0),
            tag: None,
        })),
        "error" => return Err(StrategyError::new("boom", "hostile guest reports an error")),
        _ => ctx.log(LogLevel::Debug, "bar"),
    }
    Ok(())
}

impl Strategy for Hostile {
    fn init(config: &Config) -> Result<Self> {
        let mode = config.param_text("mode").unwrap_or("none").to_owned();
        if config.param_text("at") == Some("init") {
            misbehave(&mode, &mut Context::default())?;
        }
        // Read in every mode: the SDK refuses a given parameter init never read.
        let kib: usize = config.param("kib", 16_384)?;
        let next = if mode == "chase" {
            cycle(kib * 256)
        } else {
            Vec::new()
        };
        Ok(Hostile {
            iters: config.param("iters", 0)?,
            signal: config.param("signal", 0)?,
            count: config.param("count", 1)?,
            size: config.param("lookback", config.param("len", 1)?)?,
            again: config.param("again", 0)?,
            mode,
            bars: 0,
            next,
            at: 0,
        })
    }

    fn on_bar(&mut self, ctx: &mut Context, _bar: &SymbolBar) -> Result<()> {
        self.bars += 1;
        if self.mode == "observe" {
            if self.bars == 1 {
                println!("observer starts");
                ctx.push(Intent::PlaceOrder(OrderIntent {
                    symbol: ctx.symbol(0)?.to_owned(),
                    side: Side::Buy,
                    order_type: OrderType::Market,
                    time_in_force: TimeInForce::Gtc,
                    limit_price: None,
                    stop_price: None,
                    size: OrderSize::Units(1.0),
                    tag: None,
                }));
            }
            return Ok(());
        }
        match self.mode.as_str() {
            "burn" => {
                black_box(burn(self.iters, self.bars));
            }
            "chase" => {
                let mut at = self.at;
                for _ in 0..self.iters {
                    at = self.next[at as usize];
                }
                self.at = black_box(at);
            }
            "windows" => {
                if self.bars == self.signal.max(1) {
                    self.windows(ctx, self.count)?;
                }
                return Ok(());
            }
            "logs" => {
                for _ in 0..self.count {
                    ctx.log(LogLevel::Info, "z".repeat(self.size as usize));
                }
                return Ok(());
            }
            _ => return misbehave(&self.mode, ctx),
        }
        if self.bars == self.signal {
            ctx.log(LogLevel::Info, format!("done {}", self.bars));
        }
        Ok(())
    }

    fn on_data_window(
        &mut self,
        ctx: &mut Context,
        _window: &weaver_strategy_sdk::DataWindow,
    ) -> Result<()> {
        if self.mode == "windows" {
            self.windows(ctx, self.again)?;
        }
        Ok(())
    }

    fn on_clock_tick(&mut self, ctx: &mut Context) -> Result<()> {
        if self.mode == "observe" {
            let now = ctx.now();
            ctx.log(LogLevel::Info, format!("tick {now}"));
        }
        Ok(())
    }

    fn on_account(&mut self, ctx: &mut Context, account: &AccountSnapshot) -> Result<()> {
        if self.mode == "observe" {
            // A fold from +0 (an empty `sum` of f64s is -0, printed "-0").
            let held = account.positions.iter().fold(0.0, |a, p| a + p.quantity);
            ctx.log(
                LogLevel::Info,
                format!("account {} {held}", account.positions.len()),
            );
        }
        Ok(())
    }

    fn on_raw(&mut self, ctx: &mut Context, raw: &weaver_strategy_sdk::RawPayload) -> Result<()> {
        if self.mode == "observe" {
            let body = String::from_utf8_lossy(&raw.bytes);
            ctx.log(LogLevel::Info, format!("raw {} {body}", raw.content_type));
        }
        Ok(())
    }

    fn on_lifecycle(&mut self, ctx: &mut Context, lifecycle: Lifecycle) -> Result<()> {
        if self.mode == "observe" {
            let what = match lifecycle {
                Lifecycle::Started => "started",
                Lifecycle::Stopping => "stopping",
            };
            ctx.log(LogLevel::Info, format!("lifecycle {what}"));
        }
        Ok(())
    }

    fn on_order_update(&mut self, ctx: &mut Context, update: &OrderUpdate) -> Result<()> {
        if self.mode == "observe" {
            ctx.log(
                LogLevel::Info,
                format!("order {:?} {}", update.status, update.filled_quantity),
            );
        }
        Ok(())
    }
}

impl Hostile {
    /// Asks for `count` windows of `size` bars of the first symbol.
    fn windows(&self, ctx: &mut Context, count: u32) -> Result<()> {
        let timeframe = ctx.timeframe().unwrap_or(weaver_strategy_sdk::Timeframe {
            amount: 1,
            unit: weaver_strategy_sdk::TimeUnit::Day,
        });
        for _ in 0..count {
            ctx.fetch_window(0u32, timeframe, self.size)?;
        }
        Ok(())
    }
}

export_strategy!(Hostile);
