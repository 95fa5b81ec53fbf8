//! Polyglot strategies: the Python (componentize-py) and JavaScript (componentize-qjs) sma-cross
//! trade exactly like the Rust one through `weaver backtest`, Marvin puts each language in the
//! right limits tier, and hostile Python and JS guests are contained with the right codes.
//!
//! Components come from `scripts/build-strategies.sh`. Compiling a Python component takes
//! seconds, so these tests share one compile cache under the cargo target dir (keyed by the
//! component's sha256 and the engine, written atomically): the first load compiles, the others
//! prove the cached path.

use std::path::{Path, PathBuf};

use serde_json::Value;
use weaver::domain::Strategy as _;
use weaver::marvin::{Language, Limits, Marvin, MarvinConfig};

use super::greta::{assert_matches_reference, cli_report_cached, reference};
use super::marvin::{config, meta, ohlcv};
use super::support::{dist, dist_bytes};

fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("polyglot-compiled")
}

/// Every `*-smacross-10-20` reference run.
fn references_10_20() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(crate::testdata::generated().join("reference"))
        .expect("reference dir readable")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json")
                .filter(|stem| stem.ends_with("-smacross-10-20"))
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 3,
        "expected the GOOG, EURUSD and BTCUSD 10/20 references, found {names:?}"
    );
    names
}

/// The parts of a report that must not depend on the strategy's language.
fn outcome(report: &Value) -> [&Value; 4] {
    [
        &report["metrics"],
        &report["trades"],
        &report["open_trades"],
        &report["equity"],
    ]
}

fn assert_same_as_rust(language: &str, component: &Path) {
    let rust = dist("sma-cross.wasm");
    let cache = shared_cache();
    for name in references_10_20() {
        let expected = cli_report_cached(&name, &rust, Some(&cache));
        let got = cli_report_cached(&name, component, Some(&cache));
        assert_matches_reference(&got, &reference(&name));
        let trades = got["trades"].as_array().map_or(0, Vec::len);
        assert!(trades > 0, "{language} {name}: no trades");
        assert!(
            outcome(&got) == outcome(&expected),
            "{language} sma-cross differs from Rust on {name}:\nrust metrics {}\n{language} metrics {}",
            expected["metrics"],
            got["metrics"]
        );
    }
}

#[test]
fn python_sma_cross_trades_exactly_like_rust_on_every_10_20_reference() {
    assert_same_as_rust("python", &dist("sma-cross-py.wasm"));
}

#[test]
fn js_sma_cross_trades_exactly_like_rust_on_every_10_20_reference() {
    assert_same_as_rust("js", &dist("sma-cross-js.wasm"));
}

fn marvin_with(limits: Limits, heavy_limits: Limits) -> Marvin {
    Marvin::new(MarvinConfig {
        cache_dir: shared_cache(),
        limits,
        heavy_limits,
        ..MarvinConfig::default()
    })
    .expect("marvin starts")
}

#[test]
fn each_language_gets_its_tier_and_refuses_bad_params_the_same_way() {
    let marvin = marvin_with(Limits::default(), Limits::heavy_runtime());
    for (file, language) in [
        ("sma-cross.wasm", Language::Compiled),
        ("sma-cross-py.wasm", Language::Python),
        ("sma-cross-js.wasm", Language::QuickJs),
    ] {
        let loaded = marvin.load(&dist_bytes(file)).expect("loads");
        assert_eq!(loaded.info().language, language, "{file}");
        let expected = if language.is_heavy() {
            Limits::heavy_runtime()
        } else {
            Limits::default()
        };
        assert_eq!(loaded.limits(), &expected, "{file}");
        for params in [
            &[("fast", "ten")][..],
            &[("fast", "0")][..],
            &[("fsat", "5")][..],
        ] {
            let err = loaded
                .instantiate(&config(params, &["GOOG"]))
                .expect_err("bad params refused");
            assert_eq!(err.code(), "invalid_params", "{file} {params:?}: {err}");
        }
        // A batch stops right after the first signal, like one event per bar.
        let mut sandbox = loaded
            .instantiate(&config(&[], &["GOOG"]))
            .expect("instantiates");
        let bars = ohlcv("GOOG");
        let out = sandbox.on_bars(&meta(0), &bars).expect("runs");
        assert!(
            !out.intents.is_empty() && out.consumed < bars.len(),
            "{file}: the first batch must stop at the first crossover"
        );
    }
    let heavy = Limits::heavy_runtime();
    let light = Limits::default();
    assert!(heavy.max_memory_bytes > light.max_memory_bytes);
    assert!(heavy.fuel_per_event > light.fuel_per_event);
}

#[test]
fn each_sdk_refuses_a_parameter_init_never_read() {
    let marvin = marvin_with(Limits::default(), Limits::heavy_runtime());
    // The examples name what they read with `expect_only`; the hostile guests read parameters
    // plainly (the Python and JS ones straight from `config.params`), so only the SDK's check
    // after `init` refuses theirs.
    for (file, reads) in [
        ("sma-cross.wasm", "fast, slow"),
        ("sma-cross-py.wasm", "fast, slow"),
        ("sma-cross-js.wasm", "fast, slow"),
        (
            "guests/hostile.wasm",
            "mode, at, kib, iters, signal, count, len, lookback, again",
        ),
        ("guests/hostile-py.wasm", "mode"),
        ("guests/hostile-js.wasm", "mode"),
    ] {
        let loaded = marvin.load(&dist_bytes(file)).expect("loads");
        let err = loaded
            .instantiate(&config(&[("mode", "none"), ("fsat", "5")], &["GOOG"]))
            .err()
            .map(|e| (e.code(), e.to_string()));
        let unknown = if reads.starts_with("mode") {
            "fsat"
        } else {
            "mode, fsat"
        };
        assert_eq!(
            err,
            Some((
                "invalid_params",
                format!(
                    "invalid strategy parameters: unknown_param: unknown parameter(s) {unknown}; this strategy reads {reads}"
                )
            )),
            "{file}"
        );
        // What it reads is accepted.
        let known: Vec<(&str, &str)> = reads
            .split(", ")
            .filter(|k| *k != "mode" && *k != "at")
            .map(|k| (k, "1"))
            .collect();
        loaded
            .instantiate(&config(&known, &["GOOG"]))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

/// Runs `mode` of a hostile guest on 10 bars and returns the error code.
fn provoke(marvin: &Marvin, file: &str, mode: &str) -> String {
    let loaded = marvin.load(&dist_bytes(file)).expect("hostile loads");
    let mut sandbox = loaded
        .instantiate(&config(&[("mode", mode)], &["GOOG"]))
        .expect("hostile init is harmless");
    let bars = ohlcv("GOOG");
    let err = sandbox
        .on_bars(&meta(0), &bars[..10])
        .expect_err("the hostile guest must fail");
    // The trapped sandbox is poisoned; a fresh one from the same component still works.
    let again = sandbox.on_bars(&meta(0), &bars[..1]).expect_err("poisoned");
    assert_eq!(again.code, "strategy_failed");
    let mut fresh = loaded
        .instantiate(&config(&[("mode", "none")], &["GOOG"]))
        .expect("host alive");
    fresh
        .on_bars(&meta(0), &bars[..3])
        .expect("a well-behaved sandbox runs");
    err.code
}

#[test]
fn hostile_python_and_js_loops_exhaust_their_fuel() {
    let marvin = marvin_with(Limits::default(), Limits::heavy_runtime());
    for file in ["guests/hostile-py.wasm", "guests/hostile-js.wasm"] {
        assert_eq!(
            provoke(&marvin, file, "loop"),
            "strategy_fuel_exhausted",
            "{file}"
        );
    }
}

#[test]
fn hostile_python_and_js_loops_with_huge_fuel_hit_the_deadline() {
    let huge = |base: Limits| Limits {
        fuel_per_event: u64::MAX / 4,
        deadline_floor: std::time::Duration::from_millis(300),
        deadline_per_megafuel: std::time::Duration::ZERO,
        ..base
    };
    let marvin = marvin_with(huge(Limits::default()), huge(Limits::heavy_runtime()));
    for file in ["guests/hostile-py.wasm", "guests/hostile-js.wasm"] {
        assert_eq!(provoke(&marvin, file, "loop"), "strategy_timeout", "{file}");
    }
}

#[test]
fn hostile_python_and_js_memory_bombs_stop_at_their_tier_cap() {
    // Ample fuel, so the memory cap is what stops them.
    let ample = |base: Limits| Limits {
        fuel_per_event: 20_000_000_000,
        ..base
    };
    let marvin = marvin_with(ample(Limits::default()), ample(Limits::heavy_runtime()));
    for (file, cap) in [
        (
            "guests/hostile-py.wasm",
            Limits::heavy_runtime().max_memory_bytes,
        ),
        ("guests/hostile-js.wasm", Limits::default().max_memory_bytes),
    ] {
        let loaded = marvin.load(&dist_bytes(file)).expect("hostile loads");
        let mut sandbox = loaded
            .instantiate(&config(&[("mode", "bomb")], &["GOOG"]))
            .expect("hostile init is harmless");
        let err = sandbox
            .on_bars(&meta(0), &ohlcv("GOOG")[..10])
            .expect_err("the bomb must fail");
        assert_eq!(err.code, "strategy_memory_limit", "{file}: {err}");
        let peak = sandbox.stats().peak_memory_bytes;
        assert!(
            peak <= cap && peak > cap / 2,
            "{file}: peak memory {peak} should approach the cap {cap}"
        );
    }
}

/// `weaver strategy check` on a component, with the shared compile cache.
fn strategy_check(component: &Path) -> String {
    use clap::Parser;
    let cache = shared_cache().to_string_lossy().into_owned();
    let path = component.to_string_lossy().into_owned();
    let argv = ["weaver", "strategy", "check", &path, "--cache-dir", &cache];
    let cli = weaver::cli::Cli::try_parse_from(argv).expect("arguments parse");
    #[allow(irrefutable_let_patterns)]
    let weaver::cli::Command::Strategy(args) = cli.command else {
        panic!("not the strategy command")
    };
    let mut out = Vec::new();
    weaver::cli::strategy::run_to(args, &mut out).expect("check succeeds");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn strategy_check_names_the_runtime_and_its_tier() {
    for (file, runtime, tier, memory) in [
        (
            "sma-cross-py.wasm",
            "python",
            "heavy",
            Limits::heavy_runtime().max_memory_bytes,
        ),
        (
            "sma-cross-js.wasm",
            "quickjs",
            "light",
            Limits::default().max_memory_bytes,
        ),
    ] {
        let report = strategy_check(&dist(file));
        let expected = format!(
            "runtime:       {runtime} ({tier} tier: {} MiB memory",
            memory >> 20
        );
        assert!(report.contains(&expected), "{file}: {report}");
        // Nothing but Weaver's own interface: WASI was stubbed out at build time.
        assert!(
            report.contains("imports:       weaver:strategy/types@0.3.0\n"),
            "{file} must import only weaver:strategy/types: {report}"
        );
        assert!(report.contains("init:          ok"), "{file}: {report}");
    }
}
