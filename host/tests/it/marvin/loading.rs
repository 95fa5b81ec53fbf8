//! Loading: content addressing, the compile cache, pinned engine settings, the imports of the
//! example components, and `weaver strategy check`.

use sha2::{Digest, Sha256};
use weaver::marvin::{Marvin, MarvinConfig};

use super::{config, marvin};
use crate::support::{dist, dist_bytes};

#[test]
fn components_are_content_addressed_and_the_compile_cache_is_reused() {
    let dir = tempfile::tempdir().expect("tmp");
    let cache = dir.path().join("compiled");
    let bytes = dist_bytes("sma-cross.wasm");
    let sha = hex::encode(Sha256::digest(&bytes));
    let first = Marvin::new(MarvinConfig {
        cache_dir: cache.clone(),
        ..MarvinConfig::default()
    })
    .expect("marvin");
    let fresh = first.load(&bytes).expect("compiles");
    assert_eq!(fresh.sha256(), sha);
    assert!(!fresh.from_cache());
    let entries: Vec<String> = std::fs::read_dir(&cache)
        .expect("cache")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(
        entries[0].starts_with(&sha) && entries[0].ends_with(".cwasm"),
        "{entries:?}"
    );
    // A new host process (a new Marvin) skips compilation.
    let second = Marvin::new(MarvinConfig {
        cache_dir: cache.clone(),
        ..MarvinConfig::default()
    })
    .expect("marvin");
    let cached = second.load(&bytes).expect("loads from cache");
    assert!(cached.from_cache());
    assert_eq!(cached.sha256(), sha);
    let sandbox = cached
        .instantiate(&config(&[], &["GOOG"]))
        .expect("a cached component runs");
    // While a sandbox or a handle holds it, loading the same bytes again shares the component
    // (no artifact read, no deserialisation): runs of one strategy share its compiled code.
    drop(cached);
    std::fs::write(cache.join(&entries[0]), b"not an artifact").expect("corrupt");
    let shared = second.load(&bytes).expect("in use");
    assert!(shared.from_cache());
    shared.instantiate(&config(&[], &["GOOG"])).expect("runs");
    drop((shared, sandbox));
    // A damaged artifact is discarded and rebuilt, never trusted.
    let path = cache.join(&entries[0]);
    std::fs::write(&path, b"not an artifact").expect("corrupt");
    let rebuilt = second.load(&bytes).expect("recompiles");
    assert!(!rebuilt.from_cache());
    rebuilt.instantiate(&config(&[], &["GOOG"])).expect("runs");
    assert!(second.load(&bytes).expect("cached again").from_cache());
}

/// `weaver serve` compiles in a child `weaver strategy precompile`: the artifact it returns is
/// the one the cache keeps and the shared engine runs; a compiler that cannot start is the
/// host's error (`internal_error`), never the component's, and caches nothing.
#[test]
fn strategies_compile_in_a_child_process() {
    let dir = tempfile::tempdir().expect("tmp");
    let cache = dir.path().join("compiled");
    let bytes = dist_bytes("sma-cross.wasm");
    let child = Marvin::new(MarvinConfig {
        cache_dir: cache.clone(),
        compiler: Some(env!("CARGO_BIN_EXE_weaver").into()),
        ..MarvinConfig::default()
    })
    .expect("marvin");
    let loaded = child.load(&bytes).expect("compiled by the child");
    assert!(!loaded.from_cache());
    loaded
        .instantiate(&config(&[], &["GOOG"]))
        .expect("the child's artifact runs");
    let in_process = Marvin::new(MarvinConfig {
        cache_dir: cache.clone(),
        ..MarvinConfig::default()
    })
    .expect("marvin");
    assert!(
        in_process.load(&bytes).expect("cached").from_cache(),
        "the artifact is the same kind an in-process compile makes"
    );

    let empty = tempfile::tempdir().expect("tmp");
    let broken = Marvin::new(MarvinConfig {
        cache_dir: empty.path().join("compiled"),
        compiler: Some(dir.path().join("no-such-weaver")),
        ..MarvinConfig::default()
    })
    .expect("marvin");
    let e = broken.load(&bytes).expect_err("no compiler");
    assert_eq!(e.code(), "internal_error", "{e}");
    assert!(e.to_string().contains("no-such-weaver"), "{e}");
    assert_eq!(
        std::fs::read_dir(empty.path().join("compiled"))
            .expect("cache dir")
            .count(),
        0,
        "nothing cached"
    );
}

#[test]
fn engine_refuses_the_wasm_features_strategies_do_not_get() {
    let (marvin, _dir) = marvin();
    let engine = marvin.engine();
    let refused = [
        ("threads", "(module (memory 1 1 shared))"),
        ("gc", "(module (type (struct (field i32))))"),
        ("exceptions", "(module (tag))"),
        (
            "function references",
            "(module (type $f (func)) (func (param (ref $f))))",
        ),
        (
            "relaxed simd",
            "(module (func (param v128) (result v128) local.get 0 i32x4.relaxed_trunc_f32x4_s))",
        ),
        ("memory64", "(module (memory i64 1))"),
    ];
    for (feature, wat) in refused {
        let bytes = wat::parse_str(wat).unwrap_or_else(|e| panic!("{feature}: {e}"));
        assert!(
            wasmtime::Module::validate(engine, &bytes).is_err(),
            "{feature} must be disabled"
        );
    }
    // Baseline features strategies do use stay on.
    let simd = wat::parse_str("(module (func (param v128) (result v128) local.get 0 i32x4.abs))")
        .expect("wat");
    wasmtime::Module::validate(engine, &simd).expect("simd stays on");
    let bulk = wat::parse_str(
        "(module (memory 1) (func i32.const 0 i32.const 0 i32.const 1 memory.copy))",
    )
    .expect("wat");
    wasmtime::Module::validate(engine, &bulk).expect("bulk memory stays on");
}

#[test]
fn example_components_import_nothing_but_weaver_interfaces() {
    let (marvin, _dir) = marvin();
    for name in [
        "sma-cross.wasm",
        "rsi-reversion.wasm",
        "donchian-breakout.wasm",
    ] {
        let bytes = dist_bytes(name);
        let loaded = marvin.load(&bytes).expect("loads");
        assert_eq!(loaded.info().world_version, "0.3.0");
        assert_eq!(loaded.contract(), "0.3.0");
        assert_eq!(
            loaded.info().exports,
            vec!["weaver:strategy/guest@0.3.0".to_owned()]
        );
        // Independent check with wasmtime's own view of the component type: no WASI at all, not
        // even the inert stdio/environment subset the host would tolerate.
        let component =
            wasmtime::component::Component::new(marvin.engine(), &bytes).expect("compiles");
        let imports: Vec<String> = component
            .component_type()
            .imports(marvin.engine())
            .map(|(name, _)| name.to_owned())
            .collect();
        assert_eq!(imports, loaded.info().imports, "{name}");
        assert_eq!(
            imports,
            vec!["weaver:strategy/types@0.3.0".to_owned()],
            "{name}"
        );
    }
}

/// Runs `weaver strategy …` in-process (the binary in a shared target dir may belong to another
/// build) and returns its report.
fn strategy_cli(args: &[&str], data_dir: &std::path::Path) -> anyhow::Result<String> {
    use clap::Parser;
    let cache = data_dir.join("compiled").to_string_lossy().into_owned();
    let mut argv = vec!["weaver", "strategy"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--cache-dir", cache.as_str()]);
    let cli = weaver::cli::Cli::try_parse_from(argv)?;
    // Irrefutable until other subcommands land; the `else` keeps this compiling after.
    #[allow(irrefutable_let_patterns)]
    let weaver::cli::Command::Strategy(args) = cli.command else {
        panic!("not the strategy command")
    };
    let mut out = Vec::new();
    weaver::cli::strategy::run_to(args, &mut out)?;
    Ok(String::from_utf8(out)?)
}

#[test]
fn strategy_check_prints_identity_world_and_imports() {
    let data = tempfile::tempdir().expect("tmp");
    let path = dist("sma-cross.wasm");
    let sha = hex::encode(Sha256::digest(std::fs::read(&path).expect("read")));
    let path_text = path.to_string_lossy().into_owned();
    let report = strategy_cli(
        &[
            "check",
            &path_text,
            "--param",
            "fast=5",
            "--param",
            "slow=30",
            "--symbols",
            "GOOG",
        ],
        data.path(),
    )
    .expect("check succeeds");
    assert!(
        report.contains(&format!("sha256:        {sha}")),
        "{report}"
    );
    assert!(report.contains("weaver:strategy@0.3.0"), "{report}");
    assert!(
        report.contains("exports:       weaver:strategy/guest@0.3.0"),
        "{report}"
    );
    assert!(report.contains("init:          ok"), "{report}");
    // Refusals carry the stable code.
    let bad = data.path().join("bad.wasm");
    std::fs::write(&bad, b"\0asm\x01\0\0\0").expect("write");
    let err = strategy_cli(&["check", &bad.to_string_lossy()], data.path()).expect_err("refused");
    assert!(err.to_string().contains("not_a_component"), "{err}");
    let err = strategy_cli(&["check", &path_text, "--param", "fast=ten"], data.path())
        .expect_err("refused");
    assert!(err.to_string().contains("invalid_params"), "{err}");
}

#[test]
fn exports_of_another_world_version_or_shape_are_unsupported() {
    let (marvin, dir) = marvin();
    let cases = [
        // A future, incompatible track.
        r#"(component (instance $i) (export "weaver:strategy/guest@0.4.0" (instance $i)))"#,
        // The old track (built against an earlier contract): told to rebuild, not refused an
        // import.
        r#"(component (import "weaver:strategy/types@0.1.0" (instance)) (instance $i) (export "weaver:strategy/guest@0.1.0" (instance $i)))"#,
        // Something else entirely.
        r#"(component (instance $i) (export "acme:plugin/run@1.0.0" (instance $i)))"#,
        // The right name, but none of the functions.
        r#"(component (instance $i) (export "weaver:strategy/guest@0.2.0" (instance $i)))"#,
    ];
    for wat in cases {
        let bytes = wat::parse_str(wat).expect("wat");
        let err = marvin.load(&bytes).expect_err(wat);
        assert_eq!(err.code(), "unsupported_world", "{wat}: {err}");
        assert!(
            err.to_string().contains("weaver:strategy/guest@0.2"),
            "names the supported world: {err}"
        );
    }
    // Refused files leave nothing in the cache, even the one that compiled.
    assert_eq!(
        std::fs::read_dir(dir.path().join("compiled"))
            .expect("cache")
            .count(),
        0
    );
}

#[test]
fn handles_are_shareable_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Marvin>();
    send_sync::<weaver::marvin::LoadedStrategy>();
    send::<weaver::marvin::Sandbox>();
}
