//! The hostile-guest corpus, continued (cases 18–24, issue #22): every budget is per sandbox,
//! deterministic, and bounded at compile time too. Each case sits beside a healthy sma-cross
//! run whose orders must not change.
//!
//! - 18: memory is capped across every memory a guest declares or grows, and the peak reported
//!   is the total;
//! - 19: tables likewise;
//! - 23: exports with the world's names but other types are refused at load.

use weaver::marvin::{Error, Limits, Marvin};

use super::hostile::Neighbour;
use super::wat::{componentize, componentize_against, core_guest, core_guest_with};
use super::{config, marvin};

/// Loads a hand-written guest and returns why its instantiation failed.
fn instantiate_err(marvin: &Marvin, core_wat: &str) -> Error {
    marvin
        .load(&componentize(core_wat))
        .expect("a hand-written component loads")
        .instantiate(&config(&[], &["GOOG"]))
        .expect_err("must be refused")
}

/// `count` module fields made by `field(i)` for i = 1..=count.
fn fields(count: usize, field: impl Fn(usize) -> String) -> String {
    (1..=count).map(field).collect::<Vec<_>>().join(" ")
}

#[test]
fn case_18_memory_is_capped_across_every_memory_of_a_sandbox() {
    let cap = Limits::default().max_memory_bytes;
    assert_eq!(cap, 32 << 20);
    let (marvin, _dir) = marvin();
    let neighbour = Neighbour::start(&marvin);
    // Fifteen more memories of 25 MiB each (multi-memory): each alone is under the cap, together
    // they are twelve times it.
    let declared = fields(15, |i| format!("(memory $m{i} 400)"));
    let err = instantiate_err(&marvin, &core_guest("", &declared));
    assert_eq!(err.code(), "strategy_memory_limit", "{err}");
    assert!(err.to_string().contains("all memories together"), "{err}");
    // The same reached by growing small memories in `init`.
    let small = fields(15, |i| format!("(memory $m{i} 1)"));
    let grow = fields(15, |i| {
        format!("(drop (memory.grow $m{i} (i32.const 400)))")
    });
    let err = instantiate_err(&marvin, &core_guest(&grow, &small));
    assert_eq!(err.code(), "strategy_memory_limit", "{err}");
    // A guest under the cap reports the total of its memories as its peak: three 2 MiB ones
    // beside the 64 KiB main memory.
    let three = fields(3, |i| format!("(memory $m{i} 32)"));
    let sandbox = marvin
        .load(&componentize(&core_guest("", &three)))
        .expect("loads")
        .instantiate(&config(&[], &["GOOG"]))
        .expect("under the cap");
    let peak = sandbox.stats().peak_memory_bytes;
    assert!(
        (3 * (2 << 20) + 65_536..=cap).contains(&peak),
        "peak {peak} must be the total of every memory"
    );
    neighbour.finish();
}

#[test]
fn case_19_table_elements_are_capped_across_every_table_of_a_sandbox() {
    let cap = Limits::default().max_table_elements;
    assert_eq!(cap, 100_000);
    let (marvin, _dir) = marvin();
    let neighbour = Neighbour::start(&marvin);
    // Six tables of 20,000 elements: each under the cap, 120,000 together.
    let declared = fields(6, |i| format!("(table $t{i} 20000 funcref)"));
    let err = instantiate_err(&marvin, &core_guest("", &declared));
    assert_eq!(err.code(), "strategy_memory_limit", "{err}");
    assert!(err.to_string().contains("all tables together"), "{err}");
    // Two tables grown to 60,000 each.
    let small = fields(2, |i| format!("(table $t{i} 1 funcref)"));
    let grow = fields(2, |i| {
        format!("(drop (table.grow $t{i} (ref.null func) (i32.const 60000)))")
    });
    let err = instantiate_err(&marvin, &core_guest(&grow, &small));
    assert_eq!(err.code(), "strategy_memory_limit", "{err}");
    // Under the cap together, it runs.
    let fine = fields(2, |i| format!("(table $t{i} 20000 funcref)"));
    marvin
        .load(&componentize(&core_guest("", &fine)))
        .expect("loads")
        .instantiate(&config(&[], &["GOOG"]))
        .expect("40,000 elements in all is under the cap");
    neighbour.finish();
}

/// `wit/strategy.wit` with `from` replaced by `to`.
fn altered_wit(from: &str, to: &str) -> String {
    let wit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/strategy.wit"))
        .expect("wit/strategy.wit");
    assert!(wit.contains(from), "{from} not in the WIT");
    wit.replace(from, to)
}

#[test]
fn case_23_exports_with_the_right_names_but_wrong_types_are_refused_at_load() {
    let (marvin, dir) = marvin();
    let neighbour = Neighbour::start(&marvin);
    let on_bars = "on-bars: func(bars: bar-batch) -> result<batch-reply, strategy-error>;";
    let init = "init: func(config: config) -> result<subscriptions, strategy-error>;";
    let on_event = "on-event: func(event: envelope) -> result<list<intent>, strategy-error>;";
    let cases = [
        (
            "on-bars",
            altered_wit(
                on_bars,
                "on-bars: func(bars: list<u8>) -> result<batch-reply, strategy-error>;",
            ),
            "(param i32 i32) (result i32)",
        ),
        (
            "init",
            altered_wit(
                init,
                "init: func(config: config) -> result<u32, strategy-error>;",
            ),
            "(param i32 i32 i32 i32 i32 i32) (result i32)",
        ),
        (
            "on-event",
            altered_wit(
                on_event,
                "on-event: func(event: envelope) -> result<list<string>, strategy-error>;",
            ),
            "(param i32 i32 i32 i32 i32 i32) (result i32)",
        ),
    ];
    for (function, wit, on_bars_sig) in cases {
        let bytes = componentize_against(&core_guest_with("", "", on_bars_sig), &wit);
        let err = marvin.load(&bytes).expect_err(function);
        eprintln!("case 23: {err}");
        assert_eq!(err.code(), "unsupported_world", "{function}: {err}");
        assert!(
            err.to_string().contains(&format!("function `{function}`")),
            "names the function: {err}"
        );
    }
    // A mistyped import is refused too, naming the import.
    let mistyped_import = r#"(component
        (import "wasi:cli/stdout@0.2.0" (instance (export "get-stdout" (func (result u32)))))
        (instance $i) (export "weaver:strategy/guest@0.2.0" (instance $i)))"#;
    let err = marvin
        .load(&wat::parse_str(mistyped_import).expect("wat"))
        .expect_err("mistyped import");
    eprintln!("case 23: {err}");
    assert_eq!(err.code(), "unsupported_world", "{err}");
    assert!(err.to_string().contains("get-stdout"), "{err}");
    // Nothing refused was cached; the well-typed original still loads and runs.
    assert_eq!(
        std::fs::read_dir(dir.path().join("compiled"))
            .expect("cache")
            .count(),
        1,
        "only the neighbour's component is cached"
    );
    marvin
        .load(&componentize(&core_guest("", "")))
        .expect("the well-typed guest loads")
        .instantiate(&config(&[], &["GOOG"]))
        .expect("and runs");
    neighbour.finish();
}
