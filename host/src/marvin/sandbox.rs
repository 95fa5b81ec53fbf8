//! One strategy instance in its own `Store`: limits applied to every call, failures classified
//! into stable codes, intents validated, figures recorded. The adapter between contract
//! versions lives here too: a `weaver:strategy@0.2.0` component is called through its own
//! bindings ([`Pre::V02`]) and its `init` answer (subscriptions only) becomes a declaration with
//! no extra series and warm-up 0.
//!
//! # Invariants
//! - Both contract versions share every type but `init`'s result, so events, batches and intents
//!   cross the same way for both; only `init` differs.

use std::time::{Duration, Instant};

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime::{Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};

use super::bindings::weaver::strategy::types as wit;
use super::bindings::{v02, v03};
use super::ledger::Ledger;
use super::limiter::Limiter;
use super::{Error, Limits, LoadedInner, convert};
use crate::domain::{
    self, BatchOutcome, EventMeta, StrategyConfig, StrategyError, StrategyEvent, StrategyPayload,
    SymbolBar,
};

/// Bounds of the adaptive number of bars per `on-bars` call.
const MIN_CHUNK: usize = 16;
const MAX_CHUNK: usize = 4096;

/// A component prepared for instantiation, by contract version.
pub(super) enum Pre {
    /// `weaver:strategy@0.2.0`, adapted.
    V02(v02::StrategyPre<StoreState>),
    /// `weaver:strategy@0.3.0`.
    V03(v03::StrategyPre<StoreState>),
}

impl Pre {
    /// The contract version as users read it.
    pub(super) fn contract(&self) -> &'static str {
        match self {
            Pre::V02(_) => "0.2.0",
            Pre::V03(_) => "0.3.0",
        }
    }
}

/// An instance, by contract version.
enum Guest {
    V02(v02::Strategy),
    V03(v03::Strategy),
}

impl Guest {
    fn on_event(
        &self,
        store: &mut Store<StoreState>,
        event: &wit::Envelope,
    ) -> wasmtime::Result<Result<Vec<wit::Intent>, wit::StrategyError>> {
        match self {
            Guest::V02(g) => g.weaver_strategy_guest().call_on_event(store, event),
            Guest::V03(g) => g.weaver_strategy_guest().call_on_event(store, event),
        }
    }

    fn on_bars(
        &self,
        store: &mut Store<StoreState>,
        bars: &wit::BarBatch,
    ) -> wasmtime::Result<Result<wit::BatchReply, wit::StrategyError>> {
        match self {
            Guest::V02(g) => g.weaver_strategy_guest().call_on_bars(store, bars),
            Guest::V03(g) => g.weaver_strategy_guest().call_on_bars(store, bars),
        }
    }

    /// `init`, with a 0.2 answer adapted to a declaration (no series, warm-up 0).
    fn init(
        &self,
        store: &mut Store<StoreState>,
        config: &wit::Config,
    ) -> wasmtime::Result<Result<wit::Declaration, wit::StrategyError>> {
        match self {
            Guest::V02(g) => {
                Ok(g.weaver_strategy_guest()
                    .call_init(store, config)?
                    .map(|subscriptions| wit::Declaration {
                        subscriptions,
                        series: Vec::new(),
                        warmup: 0,
                    }))
            }
            Guest::V03(g) => g.weaver_strategy_guest().call_init(store, config),
        }
    }
}

/// Per-store state: the limiter (which also records peak memory and what it refused) and the
/// capability-free WASI context (no env, no args, empty stdin, capped stdout/stderr).
pub(crate) struct StoreState {
    limiter: Limiter,
    wasi: WasiCtx,
    table: ResourceTable,
    /// Captured stdout and stderr (one pipe: the order of lines is kept).
    output: MemoryOutputPipe,
    /// Capacity of `output`.
    output_cap: usize,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Links the WASI interfaces Rust's std imports on `wasm32-wasip2` — environment, exit, stdio,
/// terminal, io streams — backed by the empty context above. Nothing else is linked, and
/// inspection has already refused components importing anything else.
pub(super) fn add_inert_wasi(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::p2::bindings::{cli, sync::io};
    struct Table;
    impl HasData for Table {
        type Data<'a> = &'a mut ResourceTable;
    }
    fn table(state: &mut StoreState) -> &mut ResourceTable {
        &mut state.table
    }
    io::error::add_to_linker::<StoreState, Table>(linker, table)?;
    io::poll::add_to_linker::<StoreState, Table>(linker, table)?;
    io::streams::add_to_linker::<StoreState, Table>(linker, table)?;
    cli::exit::add_to_linker::<StoreState, WasiCli>(linker, StoreState::cli)?;
    cli::environment::add_to_linker::<StoreState, WasiCli>(linker, StoreState::cli)?;
    cli::stdin::add_to_linker::<StoreState, WasiCli>(linker, StoreState::cli)?;
    cli::stdout::add_to_linker::<StoreState, WasiCli>(linker, StoreState::cli)?;
    cli::stderr::add_to_linker::<StoreState, WasiCli>(linker, StoreState::cli)?;
    cli::terminal_input::add_to_linker::<StoreState, WasiCli>(linker, StoreState::cli)?;
    cli::terminal_output::add_to_linker::<StoreState, WasiCli>(linker, StoreState::cli)?;
    cli::terminal_stdin::add_to_linker::<StoreState, WasiCli>(linker, StoreState::cli)?;
    cli::terminal_stdout::add_to_linker::<StoreState, WasiCli>(linker, StoreState::cli)?;
    cli::terminal_stderr::add_to_linker::<StoreState, WasiCli>(linker, StoreState::cli)?;
    Ok(())
}

/// Figures kept per sandbox.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SandboxStats {
    /// Guest calls made (init, events, batches).
    pub calls: u64,
    /// Bars delivered (through `on_bars` and `bars` events).
    pub bars: u64,
    /// Fuel used by all calls.
    pub fuel_total: u64,
    /// Fuel used by the last call.
    pub fuel_last: u64,
    /// Most fuel used by one call.
    pub fuel_max: u64,
    /// Wall time spent in guest calls.
    pub call_time_total: Duration,
    /// Longest guest call.
    pub call_time_max: Duration,
    /// Time to instantiate (without `init`).
    pub instantiate_time: Duration,
    /// Largest total of all the guest's linear memories reached, in bytes (what
    /// [`Limits::max_memory_bytes`] caps).
    pub peak_memory_bytes: usize,
    /// Traps and limit hits (0 or 1: a trap ends the sandbox).
    pub traps: u64,
    /// Most the host held for the guest for one bar and the events it caused, in bytes (what
    /// [`Limits::max_host_bytes`] caps).
    pub peak_host_bytes: usize,
    /// The limits in force: the tier's, or what the run asked for within the operator's
    /// ceilings.
    pub limits: Limits,
}

impl SandboxStats {
    /// Average fuel per guest call.
    pub fn fuel_per_call(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.fuel_total as f64 / self.calls as f64
        }
    }
}

/// One strategy instance (one `Store`) for one run; drive it through [`domain::Strategy`].
pub struct Sandbox {
    store: Store<StoreState>,
    /// The component: kept loaded (and shared with the other sandboxes of the same bytes) while
    /// this sandbox lives.
    _component: std::sync::Arc<LoadedInner>,
    guest: Guest,
    symbols: Vec<String>,
    /// The run's symbols plus those of the declared series: what `fetch-window` may name.
    window_symbols: Vec<String>,
    limits: Limits,
    /// The epoch ticker's period: deadlines are counted in its ticks.
    epoch_tick: Duration,
    /// Code of the failure that poisoned this sandbox.
    failed: Option<&'static str>,
    stats: SandboxStats,
    /// Reused buffers for the bars of an `on-bars` call.
    scratch: wit::BarBatch,
    /// Bars sent per `on-bars` call (adaptive, see `batch`).
    chunk: usize,
    /// The optional event kinds the guest asked for in `init`.
    subscriptions: domain::Subscriptions,
    /// What the guest declared in `init` (validated).
    declaration: domain::Declaration,
    /// What the host holds for the guest since the last bars.
    ledger: Ledger,
    /// Last, so dropped last: asks for the heap the run freed to be given back to the operating
    /// system (`marvin/trim.rs`), after the store and the component are gone.
    _trim: super::trim::OnDrop,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("failed", &self.failed)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    pub(super) fn new(
        component: &std::sync::Arc<LoadedInner>,
        limits: &Limits,
        config: &StrategyConfig,
    ) -> Result<Sandbox, Error> {
        // Before the store: a sandbox that fails to instantiate asks for a trim too.
        let trim = super::trim::OnDrop;
        let (marvin, pre) = (&component.marvin, &component.pre);
        let limits = limits.clone();
        let epoch_tick = marvin.config().epoch_tick.max(Duration::from_millis(1));
        let limiter = Limiter::new(limits.max_memory_bytes, limits.max_table_elements);
        let output = MemoryOutputPipe::new(limits.max_guest_output_bytes);
        let wasi = WasiCtx::builder()
            .stdout(output.clone())
            .stderr(output.clone())
            .build();
        let output_cap = limits.max_guest_output_bytes;
        let state = StoreState {
            limiter,
            wasi,
            table: ResourceTable::new(),
            output,
            output_cap,
        };
        let mut store = Store::new(marvin.engine(), state);
        store.limiter(|state| &mut state.limiter);
        // Caps the bytes of strings and lists lifted out of a guest result.
        store.set_hostcall_fuel(limits.max_output_bytes);
        store.epoch_deadline_trap();
        store
            .set_fuel(limits.fuel_for_init)
            .map_err(|e| Error::Internal(format!("{e:#}")))?;
        let init_deadline = limits.deadline(limits.fuel_for_init);
        store.set_epoch_deadline(ticks(init_deadline, epoch_tick));
        let started = Instant::now();
        let instance = match pre {
            Pre::V02(pre) => pre.instantiate(&mut store).map(Guest::V02),
            Pre::V03(pre) => pre.instantiate(&mut store).map(Guest::V03),
        };
        let guest = match instance {
            Ok(guest) => guest,
            Err(err) => {
                return Err(classify(
                    err,
                    &mut store,
                    limits.fuel_for_init,
                    init_deadline,
                ));
            }
        };
        let instantiate_time = started.elapsed();
        let mut sandbox = Sandbox {
            store,
            _component: component.clone(),
            guest,
            symbols: config.symbols.clone(),
            window_symbols: config.symbols.clone(),
            epoch_tick,
            failed: None,
            stats: SandboxStats {
                instantiate_time,
                limits: limits.clone(),
                ..SandboxStats::default()
            },
            scratch: convert::empty_batch(),
            chunk: MIN_CHUNK,
            ledger: Ledger::new(limits.max_host_bytes),
            limits,
            subscriptions: domain::Subscriptions::ALL,
            declaration: domain::Declaration {
                subscriptions: domain::Subscriptions::ALL,
                series: Vec::new(),
                warmup: 0,
            },
            _trim: trim,
        };
        let wit_config = convert::config(config);
        let budget = sandbox.limits.fuel_for_init;
        match sandbox.call(budget, |store, guest| guest.init(store, &wit_config))? {
            Ok(declared) => {
                let declaration = convert::declaration(declared)?;
                for s in &declaration.series {
                    if !sandbox.window_symbols.contains(&s.symbol) {
                        sandbox.window_symbols.push(s.symbol.clone());
                    }
                }
                sandbox.subscriptions = declaration.subscriptions;
                sandbox.declaration = declaration;
                Ok(sandbox)
            }
            Err(e) => Err(Error::InvalidParams(format!("{}: {}", e.code, e.message))),
        }
    }

    /// What the guest declared in `init`: its subscriptions, the extra series it reads and its
    /// warm-up (a 0.2 component: none and 0).
    pub fn declaration(&self) -> &domain::Declaration {
        &self.declaration
    }

    /// Figures so far.
    pub fn stats(&self) -> SandboxStats {
        let mut stats = self.stats.clone();
        stats.peak_memory_bytes = self.store.data().limiter.peak_memory_bytes();
        stats.peak_host_bytes = self.ledger.peak();
        stats
    }

    /// What the guest printed to stdout and stderr (capped at
    /// [`Limits::max_guest_output_bytes`]; a guest printing more fails with
    /// `strategy_output_too_large`).
    pub fn guest_output(&self) -> String {
        String::from_utf8_lossy(&self.store.data().output.contents()).into_owned()
    }

    /// The code of the failure that ended this sandbox, if any.
    pub fn failure(&self) -> Option<&'static str> {
        self.failed
    }

    /// Runs one guest call under the limits; classifies and records failures.
    fn call<R>(
        &mut self,
        budget: u64,
        f: impl FnOnce(&mut Store<StoreState>, &Guest) -> wasmtime::Result<R>,
    ) -> Result<R, Error> {
        if let Some(code) = self.failed {
            return Err(Error::Failed { code });
        }
        self.store
            .set_fuel(budget)
            .map_err(|e| Error::Internal(format!("{e:#}")))?;
        let deadline = self.limits.deadline(budget);
        self.store
            .set_epoch_deadline(ticks(deadline, self.epoch_tick));
        let started = Instant::now();
        let result = f(&mut self.store, &self.guest);
        let elapsed = started.elapsed();
        let used = budget.saturating_sub(self.store.get_fuel().unwrap_or(0));
        let stats = &mut self.stats;
        stats.calls += 1;
        stats.fuel_total += used;
        stats.fuel_last = used;
        stats.fuel_max = stats.fuel_max.max(used);
        stats.call_time_total += elapsed;
        stats.call_time_max = stats.call_time_max.max(elapsed);
        result.map_err(|err| {
            let err = classify(err, &mut self.store, budget, deadline);
            self.failed = Some(err.code());
            self.stats.traps += 1;
            err
        })
    }

    /// Fuel for a call carrying `bars` bars.
    fn budget(&self, bars: u64) -> u64 {
        self.limits.budget(bars)
    }

    fn guest_error(e: wit::StrategyError) -> Error {
        let cut = |s: String| {
            if s.len() > 1024 {
                s.chars().take(1024).collect()
            } else {
                s
            }
        };
        Error::Strategy {
            code: cut(e.code),
            message: cut(e.message),
        }
    }

    fn event(&mut self, event: &StrategyEvent) -> Result<Vec<domain::Intent>, Error> {
        if let Some(code) = self.failed {
            return Err(Error::Failed { code });
        }
        // Not waking the guest for kinds it did not subscribe to is the point of subscriptions:
        // a bars-only strategy costs no guest call per fill.
        if !self.subscriptions.wants(&event.payload) {
            return Ok(Vec::new());
        }
        let bars = match &event.payload {
            StrategyPayload::Bars(bars) => {
                self.ledger.new_cascade();
                bars.len() as u64
            }
            _ => 0,
        };
        let envelope = convert::envelope(event);
        let budget = self.budget(bars);
        let reply = self.call(budget, |store, guest| guest.on_event(store, &envelope))?;
        self.stats.bars += bars;
        let raw = reply.map_err(Self::guest_error)?;
        let intents = convert::intents(
            raw,
            &self.symbols,
            &self.window_symbols,
            self.limits.max_intents_per_event,
        )?;
        self.charge(&intents)?;
        Ok(intents)
    }

    /// Charges a reply's intents to the host budget; a refusal ends the sandbox like a limit
    /// hit inside wasm.
    fn charge(&mut self, intents: &[domain::Intent]) -> Result<(), Error> {
        self.ledger.charge(intents).inspect_err(|err| {
            self.failed = Some(err.code());
            self.stats.traps += 1;
        })
    }

    /// Delivers `bars` in chunks, stopping after the first chunk whose reply carries intents.
    ///
    /// Signals usually come every few dozen bars, and the guest returns at the first one, so
    /// lowering a whole 1000-bar batch per call would mostly copy bars that get sent again. The
    /// chunk adapts to how far the guest got last time. Chunks never split a timestamp group, so
    /// the guest sees exactly the groups it would see in one call: the semantics are unchanged
    /// and, since the chunk sizes depend only on earlier replies, so is determinism.
    fn batch(&mut self, bars: &[SymbolBar]) -> Result<BatchOutcome, Error> {
        self.ledger.new_cascade();
        let mut done = 0;
        while done < bars.len() {
            let mut end = (done + self.chunk).min(bars.len());
            while end < bars.len() && bars[end].bar.ts == bars[end - 1].bar.ts {
                end += 1;
            }
            let (intents, consumed) = self.chunk_call(&bars[done..end])?;
            done += consumed;
            if intents.is_empty() {
                self.chunk = (self.chunk * 2).min(MAX_CHUNK);
            } else {
                self.chunk = (consumed * 2).clamp(MIN_CHUNK, MAX_CHUNK);
                return Ok(BatchOutcome {
                    intents,
                    consumed: done,
                });
            }
        }
        Ok(BatchOutcome {
            intents: Vec::new(),
            consumed: done,
        })
    }

    /// One `on-bars` call; returns the validated intents and how many bars were consumed.
    fn chunk_call(&mut self, bars: &[SymbolBar]) -> Result<(Vec<domain::Intent>, usize), Error> {
        let mut scratch = std::mem::replace(&mut self.scratch, convert::empty_batch());
        convert::fill_batch(&mut scratch, bars);
        let budget = self.budget(bars.len() as u64);
        let reply = self.call(budget, |store, guest| guest.on_bars(store, &scratch));
        self.scratch = scratch;
        let reply = reply?.map_err(Self::guest_error)?;
        let consumed = reply.consumed as usize;
        let len = bars.len();
        if consumed == 0 || consumed > len {
            return Err(Error::InvalidIntent(format!(
                "batch-reply.consumed: {consumed} is outside 1..={len}"
            )));
        }
        if consumed < len {
            if reply.intents.is_empty() {
                return Err(Error::InvalidIntent(format!(
                    "batch-reply.consumed: stopped after {consumed} of {len} bars without producing intents"
                )));
            }
            if bars[consumed].bar.ts == bars[consumed - 1].bar.ts {
                return Err(Error::InvalidIntent(format!(
                    "batch-reply.consumed: {consumed} splits the bars of timestamp {}",
                    bars[consumed].bar.ts
                )));
            }
        }
        self.stats.bars += consumed as u64;
        let intents = convert::intents(
            reply.intents,
            &self.symbols,
            &self.window_symbols,
            self.limits.max_intents_per_event,
        )?;
        self.charge(&intents)?;
        Ok((intents, consumed))
    }
}

impl domain::Strategy for Sandbox {
    fn subscriptions(&self) -> domain::Subscriptions {
        self.subscriptions
    }

    fn declaration(&self) -> domain::Declaration {
        self.declaration.clone()
    }

    fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<domain::Intent>, StrategyError> {
        self.event(event).map_err(StrategyError::from)
    }

    /// One guest call per batch; the guest walks the timestamp groups (see `wit/`). `meta` is not
    /// sent: the batched path carries bars only.
    fn on_bars(
        &mut self,
        _meta: &EventMeta,
        bars: &[SymbolBar],
    ) -> Result<BatchOutcome, StrategyError> {
        self.batch(bars).map_err(StrategyError::from)
    }
}

/// Epoch ticks of `tick` that cover `deadline`, plus one for the tick in progress; at most
/// 2^62, so wasmtime's `current epoch + ticks` cannot overflow (2^62 ticks of 1 ms are ~146
/// million years).
fn ticks(deadline: Duration, tick: Duration) -> u64 {
    let ticks = deadline.as_nanos() / tick.as_nanos().max(1) + 1;
    u64::try_from(ticks).unwrap_or(u64::MAX).min(1 << 62)
}

/// Turns a failed guest call into a stable error.
fn classify(
    err: wasmtime::Error,
    store: &mut Store<StoreState>,
    budget: u64,
    timeout: Duration,
) -> Error {
    // Display, not Debug: with RUST_BACKTRACE set, Debug resolves the Rust backtrace wasmtime's
    // error captured, and the first resolution loads the binary's debug info (~180 MB kept for
    // the life of the process).
    let text = format!("{err:#}");
    tracing::warn!(target: "weaver::strategy", error = %text, "strategy call failed");
    if let Some(why) = store.data_mut().limiter.refused.take() {
        return Error::MemoryLimit(why);
    }
    let printed = store.data().output.contents().len();
    // A full output pipe fails the guest's writes; Rust's `println!` then panics. Report the
    // cause, not the panic.
    if printed + 512 >= store.data().output_cap {
        return Error::OutputTooLarge(format!(
            "printed {printed} bytes, the output cap is {} (use log intents, not printing)",
            store.data().output_cap
        ));
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => Error::FuelExhausted { budget },
            Trap::Interrupt => Error::Timeout(timeout),
            Trap::StackOverflow => Error::StackOverflow,
            // A Rust panic prints its message to stderr, then aborts: show the message.
            other => Error::Trap(with_output_tail(other.to_string(), &store.data().output)),
        };
    }
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return Error::Trap(format!(
            "the strategy called exit({}); strategies cannot exit",
            exit.0
        ));
    }
    // The root cause sits under wasm backtrace context: look through the whole chain.
    if err.chain().any(|cause| {
        cause
            .to_string()
            .contains("fuel allocated for hostcalls has been exhausted")
    }) {
        return Error::OutputTooLarge(format!(
            "the result is larger than the {}-byte cap",
            store.hostcall_fuel()
        ));
    }
    Error::Trap(text)
}

/// Appends the end of what the guest printed (where a panic message lands) to a trap message.
fn with_output_tail(message: String, output: &MemoryOutputPipe) -> String {
    let bytes = output.contents();
    if bytes.is_empty() {
        return message;
    }
    let start = bytes.len().saturating_sub(1024);
    let tail = String::from_utf8_lossy(&bytes[start..]);
    format!("{message}; guest output: {}", tail.trim_end())
}
