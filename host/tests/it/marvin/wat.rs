//! Hand-written guests: a core module implementing the strategy world's exports, turned into a
//! component the way `wasm-tools component new` does, against `wit/` or an altered copy of it.

/// A hand-written core module implementing the strategy world's exports; `init_body` runs in
/// `init`, `extra` adds module fields.
pub(crate) fn core_guest(init_body: &str, extra: &str) -> String {
    core_guest_with(
        init_body,
        extra,
        "(param i32 i32 i32 i32 i32 i32) (result i32)",
    )
}

/// [`core_guest`] whose `on-bars` has the core signature `on_bars_sig` (for components made from
/// an altered WIT, whose lowered signatures differ).
pub(crate) fn core_guest_with(init_body: &str, extra: &str, on_bars_sig: &str) -> String {
    format!(
        r#"(module
  (memory (export "memory") 1)
  (table $t 1 funcref)
  {extra}
  (global $heap (mut i32) (i32.const 4096))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get 3) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  (func (export "weaver:strategy/guest@0.2.0#init") (param i32 i32 i32 i32 i32 i32) (result i32)
    {init_body}
    ;; result<_, strategy-error> stored at address 0, which is zero: ok.
    (i32.const 0))
  (func (export "weaver:strategy/guest@0.2.0#on-event") (param i32) (result i32) unreachable)
  (func (export "weaver:strategy/guest@0.2.0#on-bars") {on_bars_sig} unreachable))"#
    )
}

/// Turns a core module into a strategy component (what `wasm-tools component new` does), against
/// the 0.2.0 contract (`wit/v0.2/`) the hand-written guests implement: the host runs them through
/// its adapter.
pub(crate) fn componentize(core_wat: &str) -> Vec<u8> {
    let wit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../wit/v0.2/strategy.wit"
    ))
    .expect("wit/v0.2/strategy.wit");
    componentize_against(core_wat, &wit)
}

/// [`componentize`] against the WIT text `wit` instead of `wit/` (to make components whose
/// exports have the world's names but other types).
pub(crate) fn componentize_against(core_wat: &str, wit: &str) -> Vec<u8> {
    let mut module = wat::parse_str(core_wat).expect("core wat");
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve
        .push_str("strategy.wit", wit)
        .expect("the WIT parses");
    let world = resolve
        .select_world(&[package], Some("strategy"))
        .expect("strategy world");
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("embed metadata");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .expect("module")
        .encode()
        .expect("componentize")
}

/// Resident set size of this process (Linux).
pub(crate) fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("rss field");
    pages * 4096
}

/// A strategy component that is cheap to send and dear to compile: one function of 200,000
/// additions over 2,000 locals (2 MB), which keeps Cranelift's register allocator busy for tens
/// of seconds and needs 192–256 MiB of address space (a Rust strategy: 0.2 s, under 96 MiB).
pub(crate) fn compile_bomb() -> Vec<u8> {
    use std::fmt::Write as _;
    const LOCALS: usize = 2_000;
    let mut body = String::with_capacity(200_000 * 64);
    for i in 0..200_000 {
        let _ = writeln!(
            body,
            "(local.set {} (i32.add (local.get {}) (local.get {})))",
            (i * 13) % LOCALS,
            i % LOCALS,
            (i * 7 + 3) % LOCALS
        );
    }
    let bomb = format!(
        "(func $bomb (param i32) (result i32) (local {}) {body} (local.get 0))",
        "i32 ".repeat(LOCALS)
    );
    componentize(&core_guest("", &bomb))
}
