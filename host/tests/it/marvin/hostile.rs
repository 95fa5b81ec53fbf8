//! The hostile-guest corpus (cases 1–7 and 10–15, the `mode`s of `host/tests/guests/hostile`,
//! plus nonsense intents; budgets in `docs/adr/0002-fuel-and-epoch-deadlines.md`): for each, the right error code, the host still serving, the failed sandbox poisoned,
//! memory returned, and a healthy sma-cross run beside it unaffected.

use std::time::{Duration, Instant};

use weaver::domain::{Intent, Strategy, SymbolBar};
use weaver::marvin::{Error, Limits, LoadedStrategy, Marvin, MarvinConfig};

use super::wat::{componentize, core_guest, rss_bytes};
use super::{config, marvin, marvin_with, meta, ohlcv};
use crate::support::dist_bytes;

/// A sma-cross run that is driven half before and half after the hostile case, and must produce
/// exactly the signals of an undisturbed run.
pub(crate) struct Neighbour {
    sandbox: weaver::marvin::Sandbox,
    bars: Vec<SymbolBar>,
    expected: Vec<(usize, Vec<Intent>)>,
    got: Vec<(usize, Vec<Intent>)>,
    pos: usize,
}

fn drive(
    sandbox: &mut dyn Strategy,
    bars: &[SymbolBar],
    from: usize,
    to: usize,
    out: &mut Vec<(usize, Vec<Intent>)>,
) -> usize {
    let mut pos = from;
    while pos < to {
        let outcome = sandbox
            .on_bars(&meta(bars[pos].bar.ts), &bars[pos..to])
            .expect("neighbour keeps running");
        pos += outcome.consumed;
        if !outcome.intents.is_empty() {
            out.push((pos - 1, outcome.intents));
        }
    }
    pos
}

impl Neighbour {
    pub(crate) fn start(marvin: &Marvin) -> Neighbour {
        let loaded = marvin
            .load(&dist_bytes("sma-cross.wasm"))
            .expect("sma-cross loads");
        let bars = ohlcv("GOOG");
        let mut reference = loaded.instantiate(&config(&[], &["GOOG"])).expect("init");
        let mut expected = vec![];
        drive(&mut reference, &bars, 0, bars.len(), &mut expected);
        let mut sandbox = loaded.instantiate(&config(&[], &["GOOG"])).expect("init");
        let mut got = vec![];
        let half = bars.len() / 2;
        let pos = drive(&mut sandbox, &bars, 0, half, &mut got);
        Neighbour {
            sandbox,
            bars,
            expected,
            got,
            pos,
        }
    }

    pub(crate) fn finish(mut self) {
        let len = self.bars.len();
        drive(&mut self.sandbox, &self.bars, self.pos, len, &mut self.got);
        assert!(!self.expected.is_empty());
        assert_eq!(
            self.got, self.expected,
            "the healthy run beside the hostile one changed"
        );
        assert_eq!(self.sandbox.stats().traps, 0);
    }
}

pub(crate) fn hostile(marvin: &Marvin) -> LoadedStrategy {
    marvin
        .load(&dist_bytes("guests/hostile.wasm"))
        .expect("hostile guest loads")
}

/// Instantiates the hostile guest in `mode`, delivers one batch of bars, returns the error and
/// the sandbox (to check poisoning).
pub(crate) fn provoke(
    loaded: &LoadedStrategy,
    mode: &str,
) -> (
    weaver::domain::StrategyError,
    weaver::marvin::Sandbox,
    Duration,
) {
    provoke_with(loaded, mode, &[])
}

/// [`provoke`] with more parameters for the mode.
pub(crate) fn provoke_with(
    loaded: &LoadedStrategy,
    mode: &str,
    params: &[(&str, &str)],
) -> (
    weaver::domain::StrategyError,
    weaver::marvin::Sandbox,
    Duration,
) {
    let mut all = vec![("mode", mode)];
    all.extend_from_slice(params);
    let mut sandbox = loaded
        .instantiate(&config(&all, &["GOOG"]))
        .expect("hostile init is harmless");
    let bars = ohlcv("GOOG");
    let started = Instant::now();
    let err = sandbox
        .on_bars(&meta(0), &bars[..10])
        .expect_err("the hostile guest must fail");
    let took = started.elapsed();
    (err, sandbox, took)
}

/// After a trap, the sandbox answers `strategy_failed` without running wasm again.
pub(crate) fn assert_poisoned(sandbox: &mut weaver::marvin::Sandbox, code: &str) {
    assert_eq!(sandbox.failure(), Some(code));
    let calls = sandbox.stats().calls;
    let bars = ohlcv("GOOG");
    let again = sandbox.on_bars(&meta(0), &bars[..1]).expect_err("poisoned");
    assert_eq!(again.code, "strategy_failed");
    assert!(again.message.contains(code), "{again}");
    assert_eq!(
        sandbox.stats().calls,
        calls,
        "a poisoned sandbox must not enter wasm"
    );
    assert_eq!(sandbox.stats().traps, 1);
}

/// Runs one trap case end to end.
fn trap_case(mode: &str, code: &str, limits: Limits) -> Duration {
    let (marvin, _dir) = marvin_with(limits);
    let neighbour = Neighbour::start(&marvin);
    let loaded = hostile(&marvin);
    let (err, mut sandbox, took) = provoke(&loaded, mode);
    assert_eq!(err.code, code, "mode {mode}: {err}");
    assert_poisoned(&mut sandbox, code);
    drop(sandbox);
    // The host still loads and runs strategies.
    let mut fresh = loaded
        .instantiate(&config(&[("mode", "none")], &["GOOG"]))
        .expect("host alive");
    let out = fresh
        .on_bars(&meta(0), &ohlcv("GOOG")[..3])
        .expect("a well-behaved sandbox runs");
    assert_eq!(out.consumed, 1, "mode=none logs on every bar");
    neighbour.finish();
    took
}

#[test]
fn case_01_infinite_loop_exhausts_fuel_deterministically() {
    let limits = Limits {
        fuel_per_event: 5_000_000,
        fuel_per_bar: 100_000,
        ..Limits::default()
    };
    let took = trap_case("spin", "strategy_fuel_exhausted", limits.clone());
    eprintln!("case 1: fuel exhausted after {took:?}");
    // Same budget, same instruction count at the trap: fuel used equals the batch budget.
    let (marvin, _dir) = marvin_with(limits);
    let loaded = hostile(&marvin);
    for _ in 0..2 {
        let (err, sandbox, _) = provoke(&loaded, "spin");
        assert_eq!(err.code, "strategy_fuel_exhausted");
        assert_eq!(sandbox.stats().fuel_last, 5_000_000 + 10 * 100_000);
    }
}

#[test]
fn case_02_infinite_loop_with_huge_fuel_hits_the_deadline() {
    // A budget no machine gets through, and a deadline that does not grow with it: the safety
    // net alone has to stop the loop.
    let timeout = Duration::from_millis(300);
    let limits = Limits {
        fuel_per_event: u64::MAX / 64,
        fuel_per_bar: 0,
        deadline_floor: timeout,
        deadline_per_megafuel: Duration::ZERO,
        ..Limits::default()
    };
    let took = trap_case("spin", "strategy_timeout", limits);
    eprintln!("case 2: killed after {took:?} (deadline {timeout:?}, tick 5 ms)");
    assert!(took >= timeout, "killed before the deadline: {took:?}");
    // Deadline + one tick on an idle machine; the bound leaves room for a 2-core machine running
    // other test threads and builds, where the ticker and this thread wait for a core.
    assert!(
        took <= timeout + Duration::from_millis(1500),
        "kill took {took:?}"
    );
}

#[test]
fn case_03_unbounded_recursion_overflows_the_stack_cleanly() {
    // Frames on the wasm stack: wasmtime's stack check.
    trap_case("recurse", "strategy_stack_overflow", Limits::default());
    // Frames on Rust's shadow stack in linear memory: it runs off the bottom of memory.
    trap_case("recurse-buffers", "strategy_trap", Limits::default());
}

#[test]
fn case_04_memory_bomb_is_refused_at_the_cap_and_memory_is_returned() {
    let cap = 32 << 20;
    let limits = Limits {
        max_memory_bytes: cap,
        ..Limits::default()
    };
    trap_case("grow", "strategy_memory_limit", limits.clone());
    let (marvin, _dir) = marvin_with(limits);
    let loaded = hostile(&marvin);
    let (err, sandbox, _) = provoke(&loaded, "grow");
    assert!(err.message.contains("refused"), "{err}");
    assert!(
        sandbox.stats().peak_memory_bytes <= cap,
        "peak {} over cap",
        sandbox.stats().peak_memory_bytes
    );
    drop(sandbox);
    // Twenty bombs in a row, each touching ~32 MiB: if stores leaked, RSS would grow by ~640 MiB.
    let before = rss_bytes();
    for _ in 0..20 {
        let (err, sandbox, _) = provoke(&loaded, "grow");
        assert_eq!(err.code, "strategy_memory_limit");
        drop(sandbox);
    }
    let after = rss_bytes();
    let grown = after.saturating_sub(before);
    eprintln!("case 4: RSS {before} -> {after} bytes after 20 memory bombs");
    assert!(
        grown < 256 << 20,
        "memory not returned: RSS grew by {grown} bytes"
    );
}

#[test]
fn case_05_huge_outputs_are_refused_before_the_host_allocates_them() {
    // A 4 MiB string, and 100k intents: both over the 1 MiB output cap. Fuel is raised so the
    // cap, not the budget, is what stops them.
    let limits = Limits {
        fuel_per_event: 2_000_000_000,
        ..Limits::default()
    };
    trap_case("flood", "strategy_output_too_large", limits.clone());
    trap_case("many", "strategy_output_too_large", limits);
}

#[test]
fn case_06_table_growth_to_a_billion_is_refused() {
    let (marvin, _dir) = marvin();
    let neighbour = Neighbour::start(&marvin);
    let bytes = componentize(&core_guest(
        "(drop (table.grow $t (ref.null func) (i32.const 1000000000)))",
        "",
    ));
    let loaded = marvin.load(&bytes).expect("a hand-written component loads");
    let err = loaded
        .instantiate(&config(&[], &["GOOG"]))
        .expect_err("table bomb");
    assert_eq!(err.code(), "strategy_memory_limit", "{err}");
    assert!(err.to_string().contains("table growth"), "{err}");
    // The same hand-written guest without the bomb instantiates fine: the refusal was the table.
    let benign = componentize(&core_guest("", ""));
    marvin
        .load(&benign)
        .expect("loads")
        .instantiate(&config(&[], &["GOOG"]))
        .expect("benign init");
    neighbour.finish();
}

#[test]
fn case_07_panics_and_unreachable_trap_without_hurting_the_host() {
    trap_case("panic", "strategy_trap", Limits::default());
    trap_case("unreachable", "strategy_trap", Limits::default());
    // A panic during init is reported by instantiate.
    let (marvin, _dir) = marvin();
    let err = hostile(&marvin)
        .instantiate(&config(&[("mode", "panic"), ("at", "init")], &["GOOG"]))
        .expect_err("panics");
    assert_eq!(err.code(), "strategy_trap");
}

#[test]
fn case_10_printing_is_captured_up_to_a_cap_and_huge_log_lines_are_cut() {
    // Endless printing: captured until the per-sandbox cap, then the run fails.
    trap_case("print", "strategy_output_too_large", Limits::default());
    let (marvin, _dir) = marvin();
    let (err, sandbox, _) = provoke(&hostile(&marvin), "print");
    assert!(err.message.contains("output cap"), "{err}");
    let printed = sandbox.guest_output();
    assert!(printed.starts_with("spam spam"), "{printed:.40}");
    assert!(
        printed.len() <= Limits::default().max_guest_output_bytes,
        "{} bytes kept",
        printed.len()
    );
    // A panic's message reaches the error through the captured stderr.
    let (err, _, _) = provoke(&hostile(&marvin), "panic");
    assert!(
        err.message.contains("hostile guest panics on purpose"),
        "{err}"
    );
    // Log intents are the way to log; an over-long line is kept but cut.
    let mut sandbox = hostile(&marvin)
        .instantiate(&config(&[("mode", "biglog")], &["GOOG"]))
        .expect("init");
    let out = sandbox
        .on_bars(&meta(0), &ohlcv("GOOG")[..2])
        .expect("a long log line is not an error");
    let [Intent::Log { message, .. }] = &out.intents[..] else {
        panic!("{:?}", out.intents)
    };
    assert!(
        message.len() <= 4096 + 32 && message.ends_with("[truncated]"),
        "{} bytes",
        message.len()
    );
}

#[test]
fn case_11_garbage_truncated_and_empty_files_are_invalid_and_nothing_is_cached() {
    let dir = tempfile::tempdir().expect("tmp");
    let cache = dir.path().join("compiled");
    let marvin = Marvin::new(MarvinConfig {
        cache_dir: cache.clone(),
        ..MarvinConfig::default()
    })
    .expect("marvin");
    let good = dist_bytes("sma-cross.wasm");
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut truncated_header = good.clone();
    truncated_header.truncate(6);
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("garbage", garbage),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("truncated header", truncated_header),
    ] {
        let err = marvin.load(&bytes).expect_err(what);
        assert_eq!(err.code(), "invalid_component", "{what}: {err}");
    }
    assert_eq!(
        std::fs::read_dir(&cache).expect("cache dir").count(),
        0,
        "refused files must not be cached"
    );
    marvin
        .load(&good)
        .expect("the host still loads good components");
    assert_eq!(std::fs::read_dir(&cache).expect("cache dir").count(), 1);
}

#[test]
fn case_12_core_module_is_not_a_component() {
    let (marvin, _dir) = marvin();
    let core = wat::parse_str(r#"(module (func (export "on_bar")))"#).expect("wat");
    let err = marvin.load(&core).expect_err("core module");
    assert_eq!(err, Error::NotAComponent);
    assert_eq!(err.code(), "not_a_component");
}

#[test]
fn case_13_forbidden_imports_are_refused_and_listed() {
    let (marvin, dir) = marvin();
    let err = marvin
        .load(&dist_bytes("guests/forbidden-imports.wasm"))
        .expect_err("must refuse");
    assert_eq!(err.code(), "unsupported_import");
    let Error::UnsupportedImport(list) = &err else {
        panic!("{err:?}")
    };
    for needle in [
        "wasi:filesystem/",
        "wasi:sockets/",
        "wasi:clocks/wall-clock",
        "wasi:random/",
    ] {
        assert!(
            list.iter().any(|i| i.starts_with(needle)),
            "{needle} missing from {list:?}"
        );
    }
    assert!(
        list.iter()
            .all(|i| !i.starts_with("weaver:") && !i.starts_with("wasi:io/")),
        "only offenders listed: {list:?}"
    );
    // Unknown interfaces and wasi:http, in a hand-written component.
    let wat = r#"(component
        (import "evil:thing/exfiltrate@1.0.0" (instance))
        (import "wasi:http/outgoing-handler@0.2.6" (instance)))"#;
    let err = marvin
        .load(&wat::parse_str(wat).expect("wat"))
        .expect_err("must refuse");
    assert_eq!(
        err,
        Error::UnsupportedImport(vec![
            "evil:thing/exfiltrate@1.0.0".into(),
            "wasi:http/outgoing-handler@0.2.6".into()
        ])
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("compiled"))
            .expect("cache")
            .count(),
        0
    );
}

#[test]
fn case_14_disabled_wasm_features_fail_to_compile() {
    let (marvin, dir) = marvin();
    let bytes = componentize(&core_guest("(throw $boom)", "(tag $boom)"));
    let err = marvin.load(&bytes).expect_err("exceptions are disabled");
    assert_eq!(err.code(), "compile_failed", "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("compiled"))
            .expect("cache")
            .count(),
        0
    );
}

#[test]
fn case_15_oversized_uploads_are_refused_before_compiling() {
    let dir = tempfile::tempdir().expect("tmp");
    let cache = dir.path().join("compiled");
    let marvin = Marvin::new(MarvinConfig {
        cache_dir: cache.clone(),
        max_component_bytes: 10_000,
        ..MarvinConfig::default()
    })
    .expect("marvin");
    let good = dist_bytes("sma-cross.wasm");
    let started = Instant::now();
    let err = marvin.load(&good).expect_err("too large");
    assert_eq!(
        err,
        Error::ComponentTooLarge {
            size: good.len(),
            limit: 10_000
        }
    );
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "refused without compiling"
    );
    let err = marvin
        .load_file(&crate::support::dist("sma-cross.wasm"))
        .expect_err("too large");
    assert_eq!(err.code(), "component_too_large");
    assert_eq!(std::fs::read_dir(&cache).expect("cache").count(), 0);
}

#[test]
fn nonsense_intents_and_guest_errors_are_reported_not_acted_on() {
    let (marvin, _dir) = marvin();
    let loaded = hostile(&marvin);
    for (mode, code, needle) in [
        ("nan", "invalid_intent", "size.units"),
        ("unknown-symbol", "invalid_intent", "NOT-IN-RUN"),
        ("error", "strategy_error", "boom"),
    ] {
        let (err, _, _) = provoke(&loaded, mode);
        assert_eq!(err.code, code, "{mode}: {err}");
        assert!(err.message.contains(needle), "{mode}: {err}");
    }
}

#[test]
fn bulk_memory_operations_pay_fuel_per_byte() {
    // 32 MiB memory.fill in one instruction: with per-byte costs it needs ~33.5 M fuel.
    let fill = "(drop (memory.grow (i32.const 512))) (memory.fill (i32.const 0) (i32.const 0) (i32.const 33554432))";
    let bytes = componentize(&core_guest(fill, ""));
    // 32 MiB + 1 page is above the light tier's 32 MiB cap: this test is about fuel.
    let (marvin, _dir) = marvin_with(Limits {
        fuel_for_init: 10_000_000,
        max_memory_bytes: 64 << 20,
        ..Limits::default()
    });
    let err = marvin
        .load(&bytes)
        .expect("loads")
        .instantiate(&config(&[], &["GOOG"]))
        .expect_err("too little fuel");
    assert_eq!(err.code(), "strategy_fuel_exhausted", "{err}");
    let (marvin, _dir) = marvin_with(Limits {
        fuel_for_init: 100_000_000,
        max_memory_bytes: 64 << 20,
        ..Limits::default()
    });
    let sandbox = marvin
        .load(&bytes)
        .expect("loads")
        .instantiate(&config(&[], &["GOOG"]))
        .expect("enough fuel");
    let used = sandbox.stats().fuel_total;
    assert!(
        used > 33_554_432,
        "the fill must be charged per byte, used {used}"
    );
}
