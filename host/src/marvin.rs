//! Marvin: the wasmtime component host that runs strategies against `wit/`
//! (package `weaver:strategy@0.3.0`), and components built for `weaver:strategy@0.2.0` (kept in
//! `wit/v0.2/`) through an adapter: a 0.2 component declares no extra series and warm-up 0
//! (`docs/adr/0013-contract-0.3-declarations.md`).
//!
//! [`Marvin`] owns the one [`wasmtime::Engine`], its epoch ticker thread and the on-disk cache of
//! compiled components. [`Marvin::load`] checks untrusted bytes (size, structure, component or
//! not, imports, exported world) *before* compiling, then compiles or loads the cached artifact,
//! type-checks its imports and exports against the world, and returns a [`LoadedStrategy`]. [`LoadedStrategy::instantiate`] creates one [`Sandbox`] — one
//! `Store` — per run; the sandbox is a [`crate::domain::Strategy`] that engines drive
//! synchronously: Greta's backtests and the live runner (`veda::live::LiveRunner`) alike.
//!
//! [`Catalogue`] ([`catalogue`]) is the installation's strategies: components checked at
//! upload, stored by hash, compiled in the background under the compile slots.
//!
//! # Invariants
//! - A refused file is never compiled, cached or stored; only bytes that passed every check reach
//!   Cranelift, and only the host writes the compile cache (so deserialising from it is sound).
//! - At most [`CompileLimits::slots`] compiles run at once; with [`MarvinConfig::compiler`] each
//!   runs in a child process under a time and an address-space limit, and a component exceeding
//!   either is refused with `compile_limit_exceeded` (`marvin/compile.rs`).
//! - Engine settings are deterministic: fuel metering (with per-byte bulk costs), NaN
//!   canonicalisation, no threads, no relaxed SIMD, and none of GC, exceptions, function
//!   references, stack switching or component-model async.
//! - Every guest call runs under a fuel budget, an epoch deadline derived from it (a safety net:
//!   fuel decides, see [`Limits::deadline`]), a limiter on the total size of all the sandbox's
//!   memories and of all its tables (however many it declares or grows), and a cap on the bytes
//!   it may hand back. A run's limits are its tier's or what it asked for within the operator's
//!   [`Ceilings`]. Any trap poisons that sandbox only: later calls return the
//!   same error code without entering wasm. The engine, the process and other runs carry on.
//! - What a strategy declares in `init` (extra series, warm-up) is validated before the sandbox
//!   is handed out ([`Sandbox::declaration`]): a bad timeframe, a symbol that is no symbol, too
//!   many series or an absurd warm-up fail `init` with `invalid_declaration`.
//! - Every intent a guest returns is validated as untrusted input before anyone acts on it, and
//!   charged against the sandbox's host budget with what it makes the host build and queue
//!   (`marvin/ledger.rs`), so no reply can make an engine allocate past the budget.
//! - Bars reach the guest through `on-bars` in packed batches (three lists of numbers, copied
//!   with memcpy) whose semantics are exactly one `bars` event per timestamp; the sandbox sends
//!   them in adaptive chunks that never split a timestamp group.
//! - Guests import only `weaver:strategy/*` plus a capability-free WASI subset (environment,
//!   exit, stdio, terminal, io streams) that Rust's std links, served from an empty context: no
//!   environment or arguments, empty stdin, stdout/stderr captured into a capped per-sandbox
//!   buffer, `exit` ends the run. No files, sockets, clocks or randomness are ever linked.
//! - What a run freed goes back to the operating system shortly after its sandbox is dropped
//!   (`marvin/trim.rs`), so an idle server's RSS is what it holds, not what it last freed.

pub mod arena;
mod bindings;
mod cache;
pub mod catalogue;
mod child_env;
mod compile;
mod config;
mod convert;
mod inspect;
mod ledger;
mod limiter;
mod limits;
mod sandbox;
mod trim;
mod world;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, OperatorCost, WasmFeatures};

pub use catalogue::{Catalogue, CatalogueParts};
pub use compile::{CompileLimits, precompile, release_compiler_memory};
pub use config::MarvinConfig;
pub use inspect::{
    ComponentInfo, LARGE_RUNTIME_BYTES, Language, SUPPORTED_RANGE, SUPPORTED_WORLDS,
};
pub use limits::{Ceilings, LimitRequest, Limits, LimitsInForce};
pub use sandbox::{Sandbox, SandboxStats};
/// Asks for a heap trim a little later (`marvin/trim.rs`): for other modules whose large work
/// ends after its last sandbox is gone (a backtest job storing its report).
pub(crate) use trim::request as request_trim;

use crate::domain::{StrategyConfig, StrategyError};

/// Why Marvin refused a component or a strategy call failed. [`Error::code`] is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The file is larger than the configured cap.
    #[error("component is {size} bytes, more than the {limit}-byte limit")]
    ComponentTooLarge {
        /// Size of the refused file.
        size: usize,
        /// The configured cap.
        limit: usize,
    },
    /// Empty, garbage or truncated bytes.
    #[error("not a valid WebAssembly component: {0}")]
    InvalidComponent(String),
    /// A core WebAssembly module, not a component.
    #[error(
        "this is a core WebAssembly module, not a component; build it as a component (e.g. with scripts/build-strategies.sh, or wasm-tools component new)"
    )]
    NotAComponent,
    /// Imports outside the allowed set.
    #[error("component imports what strategies may not use: {}", .0.join(", "))]
    UnsupportedImport(Vec<String>),
    /// The exports match no supported version of the strategy world.
    #[error("component does not implement a supported strategy world ({worlds}): {0}", worlds = SUPPORTED_WORLDS.join(", "))]
    UnsupportedWorld(String),
    /// Cranelift refused or failed to compile the component (e.g. it uses a disabled feature).
    #[error("compiling the component failed: {0}")]
    CompileFailed(String),
    /// Compiling the component ran past the compiler child's time or address-space limit
    /// ([`CompileLimits`]).
    #[error("compiling the component exceeded a limit: {0}")]
    CompileLimitExceeded(String),
    /// The compile cache or the file to load could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The strategy refused its parameters in `init`.
    #[error("invalid strategy parameters: {0}")]
    InvalidParams(String),
    /// The strategy's `init` declaration is unusable (a bad series or an absurd warm-up).
    #[error("invalid strategy declaration: {0}")]
    InvalidDeclaration(String),
    /// A run asked for limits the operator does not allow ([`Ceilings`]).
    #[error("limit not allowed: {0}")]
    LimitNotAllowed(String),
    /// Marvin's settings from the environment are unusable; lists every problem.
    #[error("invalid sandbox configuration: {0}")]
    InvalidConfig(String),
    /// The event's fuel budget ran out (deterministic).
    #[error("the strategy used its whole fuel budget ({budget} units) for one event")]
    FuelExhausted {
        /// The budget of the call.
        budget: u64,
    },
    /// The wall-clock deadline of a call passed: the safety net for stalls fuel does not
    /// count (see [`Limits::deadline`]); a guest within its fuel never reaches it.
    #[error(
        "the strategy ran past its {0:?} deadline (the safety net for stalls fuel does not count)"
    )]
    Timeout(Duration),
    /// A memory or table growth beyond the sandbox's limit.
    #[error("the strategy exceeded its memory limit: {0}")]
    MemoryLimit(String),
    /// The guest exhausted its stack.
    #[error("the strategy overflowed its stack")]
    StackOverflow,
    /// Any other trap (a guest panic, `unreachable`, out-of-bounds access, `exit`, …).
    #[error("the strategy trapped: {0}")]
    Trap(String),
    /// The guest returned more data (or more intents) than allowed.
    #[error("the strategy returned too much data: {0}")]
    OutputTooLarge(String),
    /// The guest's requests would make the host hold more for it than its host budget
    /// ([`Limits::max_host_bytes`]).
    #[error("the strategy exceeded its host budget: {0}")]
    HostBudget(String),
    /// The guest's own error.
    #[error("the strategy reported an error: {code}: {message}")]
    Strategy {
        /// The guest's error code.
        code: String,
        /// The guest's message.
        message: String,
    },
    /// A returned intent failed validation; says which and why.
    #[error("invalid intent: {0}")]
    InvalidIntent(String),
    /// The sandbox failed earlier; it will not run wasm again.
    #[error("the strategy failed earlier ({code}) and can no longer run")]
    Failed {
        /// Code of the original failure.
        code: &'static str,
    },
    /// An engine-level problem (bad configuration, instantiation failure not caused by the guest).
    #[error("internal sandbox error: {0}")]
    Internal(String),
}

impl Error {
    /// Stable, machine-readable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::ComponentTooLarge { .. } => "component_too_large",
            Error::InvalidComponent(_) => "invalid_component",
            Error::NotAComponent => "not_a_component",
            Error::UnsupportedImport(_) => "unsupported_import",
            Error::UnsupportedWorld(_) => "unsupported_world",
            Error::CompileFailed(_) => "compile_failed",
            Error::CompileLimitExceeded(_) => "compile_limit_exceeded",
            Error::Io(_) => "io_error",
            Error::InvalidParams(_) => "invalid_params",
            Error::InvalidDeclaration(_) => "invalid_declaration",
            Error::LimitNotAllowed(_) => "limit_not_allowed",
            Error::InvalidConfig(_) => "invalid_config",
            Error::FuelExhausted { .. } => "strategy_fuel_exhausted",
            Error::Timeout(_) => "strategy_timeout",
            Error::MemoryLimit(_) => "strategy_memory_limit",
            Error::StackOverflow => "strategy_stack_overflow",
            Error::Trap(_) => "strategy_trap",
            Error::OutputTooLarge(_) => "strategy_output_too_large",
            Error::HostBudget(_) => "strategy_host_budget_exceeded",
            Error::Strategy { .. } => "strategy_error",
            Error::InvalidIntent(_) => "invalid_intent",
            Error::Failed { .. } => "strategy_failed",
            Error::Internal(_) => "internal_error",
        }
    }
}

impl From<Error> for StrategyError {
    fn from(err: Error) -> StrategyError {
        StrategyError {
            code: err.code().to_owned(),
            message: err.to_string(),
        }
    }
}

/// The strategy host: one engine, one epoch ticker, one compile cache. Cheap to clone.
#[derive(Clone)]
pub struct Marvin {
    inner: Arc<MarvinInner>,
}

struct MarvinInner {
    engine: Engine,
    config: MarvinConfig,
    engine_hash: String,
    /// Compile slots ([`CompileLimits::slots`]).
    slots: compile::Slots,
    /// Components loaded and still in use (a sandbox or a handle holds them), by sha256: a
    /// thousand runs of one strategy share one compiled component, its code and its memory
    /// images, and a start skips validation, deserialisation and linking.
    loaded: std::sync::Mutex<std::collections::HashMap<String, std::sync::Weak<LoadedInner>>>,
    /// Stops the ticker thread when the last `Marvin` clone goes away.
    _ticker: Ticker,
}

impl std::fmt::Debug for Marvin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Marvin")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The epoch ticker thread; stops when dropped.
struct Ticker {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Wasm proposals the engine refuses.
pub(crate) const DISABLED_FEATURES: WasmFeatures = WasmFeatures::THREADS
    .union(WasmFeatures::SHARED_EVERYTHING_THREADS)
    .union(WasmFeatures::RELAXED_SIMD)
    .union(WasmFeatures::GC)
    .union(WasmFeatures::FUNCTION_REFERENCES)
    .union(WasmFeatures::EXCEPTIONS)
    .union(WasmFeatures::LEGACY_EXCEPTIONS)
    .union(WasmFeatures::STACK_SWITCHING)
    .union(WasmFeatures::CM_ASYNC)
    .union(WasmFeatures::CM_MORE_ASYNC_BUILTINS)
    .union(WasmFeatures::CM_ASYNC_STACKFUL)
    .union(WasmFeatures::CM_THREADING)
    .union(WasmFeatures::CM_GC)
    .union(WasmFeatures::MEMORY64);

/// Builds the engine configuration every sandbox runs under. Public so tests can pin it.
pub fn engine_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.consume_fuel(true);
    let mut cost = OperatorCost::new();
    // Bulk operations pay per byte/element so one `memory.fill` can't be a free gigabyte;
    // growth pays per page so allocation bombs burn fuel too.
    cost.variable.memory_copy_per_byte = 1;
    cost.variable.memory_fill_per_byte = 1;
    cost.variable.memory_init_per_byte = 1;
    cost.variable.memory_grow_per_page = 1;
    config.operator_cost(cost);
    config.epoch_interruption(true);
    config.cranelift_nan_canonicalization(true);
    config.wasm_relaxed_simd(false);
    // Proposals strategies don't need, off explicitly (several wasmtime advisories were in them);
    // a component using one fails to compile with `compile_failed`.
    config.wasm_features(DISABLED_FEATURES, false);
    config.concurrency_support(false);
    config.max_wasm_stack(512 << 10);
    config
}

impl Marvin {
    /// Builds the engine, starts the epoch ticker and prepares the cache directory.
    ///
    /// # Errors
    /// `internal_error` for an engine configuration wasmtime refuses, `io_error` when the cache
    /// directory cannot be created.
    pub fn new(config: MarvinConfig) -> Result<Marvin, Error> {
        let engine =
            Engine::new(&engine_config()).map_err(|e| Error::Internal(format!("{e:#}")))?;
        cache::prepare_dir(&config.cache_dir)?;
        let engine_hash = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::hash::DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut hasher);
            format!("{:016x}", hasher.finish())
        };
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let weak = engine.weak();
        let tick = config.epoch_tick.max(Duration::from_millis(1));
        let stop_flag = stop.clone();
        // A std thread, not a tokio task: a busy runtime must never delay the kill switch.
        std::thread::Builder::new()
            .name("marvin-epoch".into())
            .spawn(move || {
                while !stop_flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| Error::Internal(format!("cannot start the epoch ticker: {e}")))?;
        let slots = compile::Slots::new(config.compile.slots);
        Ok(Marvin {
            inner: Arc::new(MarvinInner {
                engine,
                config,
                engine_hash,
                slots,
                loaded: Default::default(),
                _ticker: Ticker { stop },
            }),
        })
    }

    /// The configuration Marvin runs with.
    pub fn config(&self) -> &MarvinConfig {
        &self.inner.config
    }

    /// The shared engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// How many compiles hold a compile slot now (at most [`CompileLimits::slots`]).
    pub fn compiles_running(&self) -> usize {
        self.inner.slots.held()
    }

    /// Checks a component without compiling it: size, structure, imports and world.
    ///
    /// # Errors
    /// `component_too_large`, `invalid_component`, `not_a_component`, `unsupported_import`,
    /// `unsupported_world`.
    pub fn inspect(&self, bytes: &[u8]) -> Result<ComponentInfo, Error> {
        let limit = self.inner.config.max_component_bytes;
        if bytes.len() > limit {
            return Err(Error::ComponentTooLarge {
                size: bytes.len(),
                limit,
            });
        }
        inspect::inspect(bytes)
    }

    /// Validates `bytes`, then compiles them or loads the compiled artifact from the cache.
    /// Only a component that passed every check (including linking against the world) is
    /// cached.
    ///
    /// Blocking: compiling takes ~0.2 s for a Rust strategy and seconds for Python or JS ones,
    /// so async callers should use `spawn_blocking`. A cached load takes well under a
    /// millisecond for Rust strategies.
    ///
    /// Compiling waits for one of [`CompileLimits::slots`]; with [`MarvinConfig::compiler`] it
    /// runs in a child process under [`CompileLimits::timeout`] and
    /// [`CompileLimits::max_address_space`].
    ///
    /// # Errors
    /// Every [`Marvin::inspect`] error, `compile_failed`, `compile_limit_exceeded`,
    /// `unsupported_world` when an export or import has the right name but the wrong type,
    /// `io_error` for cache trouble.
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedStrategy, Error> {
        let started = Instant::now();
        let limit = self.inner.config.max_component_bytes;
        if bytes.len() > limit {
            return Err(Error::ComponentTooLarge {
                size: bytes.len(),
                limit,
            });
        }
        let sha256 = hex::encode(Sha256::digest(bytes));
        // The same bytes passed every check below when they were loaded.
        if let Some(inner) = self.in_use(&sha256) {
            return Ok(LoadedStrategy {
                inner,
                from_cache: true,
                load_time: started.elapsed(),
            });
        }
        let info = self.inspect(bytes)?;
        let engine = &self.inner.engine;
        let cache_path = cache::artifact_path(
            &self.inner.config.cache_dir,
            &sha256,
            &self.inner.engine_hash,
        );
        let (component, fresh) = match cache::load(engine, &cache_path) {
            Some(component) => (component, None),
            None => {
                let slot = self.inner.slots.acquire();
                let artifact = match &self.inner.config.compiler {
                    Some(exe) => compile::compile_in_child(exe, bytes, &self.inner.config.compile)?,
                    None => compile::compile_apart(bytes)?,
                };
                drop(slot);
                (cache::deserialize(engine, &artifact)?, Some(artifact))
            }
        };
        let from_cache = fresh.is_none();
        let mut linker: Linker<sandbox::StoreState> = Linker::new(engine);
        // Only allowed imports got this far: the inert WASI ones are served from an empty
        // context (matched by semver), and `weaver:strategy/types` carries types only, so an
        // empty instance satisfies it. Anything else fails `instantiate_pre` below.
        sandbox::add_inert_wasi(&mut linker).map_err(|e| Error::Internal(format!("{e:#}")))?;
        for name in info
            .imports
            .iter()
            .filter(|name| name.starts_with("weaver:strategy/"))
        {
            linker
                .instance(name)
                .map_err(|e| Error::Internal(format!("{e:#}")))?;
        }
        // Type-checks every import against the linker's definitions (names and full types).
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| Error::UnsupportedWorld(format!("{e:#}")))?;
        // And every export against the world, so a mistyped one is refused here, not at its
        // first instantiation.
        let contract = world::Contract::of(&info.world_version).ok_or_else(|| {
            Error::UnsupportedWorld(format!("contract version {}", info.world_version))
        })?;
        world::check_exports(&pre, contract)?;
        let unsupported = |e: wasmtime::Error| Error::UnsupportedWorld(format!("{e:#}"));
        let pre = match contract {
            world::Contract::V02 => {
                sandbox::Pre::V02(bindings::v02::StrategyPre::new(pre).map_err(unsupported)?)
            }
            world::Contract::V03 => {
                sandbox::Pre::V03(bindings::v03::StrategyPre::new(pre).map_err(unsupported)?)
            }
        };
        // Cache only what passed every check, so a refused file leaves nothing behind.
        if let Some(artifact) = fresh {
            cache::store(&artifact, &cache_path)?;
        }
        let limits = if info.language.is_heavy() {
            self.inner.config.heavy_limits.clone()
        } else {
            self.inner.config.limits.clone()
        };
        let inner = Arc::new(LoadedInner {
            marvin: self.clone(),
            limits,
            sha256: sha256.clone(),
            info,
            pre,
        });
        {
            let mut loaded = self
                .inner
                .loaded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            loaded.retain(|_, w| w.strong_count() > 0);
            loaded.insert(sha256, Arc::downgrade(&inner));
        }
        Ok(LoadedStrategy {
            inner,
            from_cache,
            load_time: started.elapsed(),
        })
    }

    /// The component with this sha256 if one is loaded and still in use.
    fn in_use(&self, sha256: &str) -> Option<Arc<LoadedInner>> {
        self.inner
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(sha256)
            .and_then(std::sync::Weak::upgrade)
    }

    /// Reads a file and [`Marvin::load`]s it; the size cap is checked before reading it all.
    ///
    /// # Errors
    /// `io_error` when the file cannot be read, then as [`Marvin::load`].
    pub fn load_file(&self, path: &Path) -> Result<LoadedStrategy, Error> {
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
        let limit = self.inner.config.max_component_bytes;
        if meta.len() > limit as u64 {
            return Err(Error::ComponentTooLarge {
                size: usize::try_from(meta.len()).unwrap_or(usize::MAX),
                limit,
            });
        }
        let bytes = std::fs::read(path)
            .map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
        self.load(&bytes)
    }
}

/// A validated, compiled strategy component, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct LoadedStrategy {
    inner: Arc<LoadedInner>,
    from_cache: bool,
    load_time: Duration,
}

/// What every handle and sandbox of one component shares.
struct LoadedInner {
    marvin: Marvin,
    /// The limits of the component's tier, fixed at load.
    limits: Limits,
    sha256: String,
    info: ComponentInfo,
    pre: sandbox::Pre,
}

impl std::fmt::Debug for LoadedStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedStrategy")
            .field("sha256", &self.inner.sha256)
            .field("info", &self.inner.info)
            .field("from_cache", &self.from_cache)
            .finish_non_exhaustive()
    }
}

impl LoadedStrategy {
    /// Hex sha256 of the component bytes: the strategy's identity.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    /// World version, imports and exports found by inspection.
    pub fn info(&self) -> &ComponentInfo {
        &self.inner.info
    }

    /// The strategy contract version this component was built for (`0.2.0` or `0.3.0`); a 0.2
    /// component runs through the adapter (no declared series, warm-up 0).
    pub fn contract(&self) -> &'static str {
        self.inner.pre.contract()
    }

    /// The per-call limits of this component's language tier (see [`Language::is_heavy`]).
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Whether the compiled artifact came from the on-disk cache (or was already loaded).
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// Time [`Marvin::load`] took (validation plus compile or cache load).
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Creates a fresh sandbox (one `Store`) with this component's tier limits and runs the
    /// guest's `init(config)`.
    ///
    /// # Errors
    /// `invalid_params` when the guest refuses the parameters; a `strategy_*` code when
    /// instantiation or `init` traps or exceeds a limit.
    pub fn instantiate(&self, config: &StrategyConfig) -> Result<Sandbox, Error> {
        self.instantiate_with(config, &LimitRequest::default())
    }

    /// The limits a run asking for `request` gets: the tier's, with the request in their place,
    /// within the operator's [`MarvinConfig::ceilings`].
    ///
    /// # Errors
    /// `limit_not_allowed` when the request is zero or above a ceiling.
    pub fn limits_for(&self, request: &LimitRequest) -> Result<Limits, Error> {
        self.inner
            .limits
            .with_request(request, &self.inner.marvin.config().ceilings)
    }

    /// [`LoadedStrategy::instantiate`] with the limits [`LoadedStrategy::limits_for`] gives
    /// `request` (the sandbox reports them in [`SandboxStats::limits`]).
    ///
    /// # Errors
    /// `limit_not_allowed`, then as [`LoadedStrategy::instantiate`].
    pub fn instantiate_with(
        &self,
        config: &StrategyConfig,
        request: &LimitRequest,
    ) -> Result<Sandbox, Error> {
        let limits = self.limits_for(request)?;
        Sandbox::new(&self.inner, &limits, config)
    }
}
