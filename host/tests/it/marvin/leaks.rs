//! Hostile case 25: two hundred hostile sandboxes, one after another, leave the host's memory as
//! they found it. Measured in a process of its own, with `RUST_BACKTRACE=1`, so other tests'
//! allocations cannot blur it and error paths that resolve Rust backtraces (which loads the
//! binary's debug info for the life of the process: ~180 MB) show.
//!
//! Fresh is the process with both components loaded and one well-behaved run done. After 200
//! hostile sandboxes its anonymous memory (what the host allocated) may be at most 10 % of the
//! fresh RSS above fresh, and the second hundred may add nothing (1 MiB of slack). File-backed
//! RSS is the test binary's code paging in (the error paths run for the first time) and is
//! reported, not bounded.

use std::process::Command;

use weaver::domain::Strategy;
use weaver::marvin::LoadedStrategy;

use super::wat::{componentize, core_guest};
use super::{config, marvin, meta, ohlcv};

/// Every way the hostile guest fails, with the parameters it needs.
const MODES: &[&[(&str, &str)]] = &[
    &[("mode", "spin")],
    &[("mode", "grow")],
    &[("mode", "recurse")],
    &[("mode", "recurse-buffers")],
    &[("mode", "panic")],
    &[("mode", "unreachable")],
    &[("mode", "flood")],
    &[("mode", "many")],
    &[("mode", "print")],
    &[("mode", "nan")],
    &[("mode", "error")],
    &[
        ("mode", "windows"),
        ("count", "1000"),
        ("lookback", "100000"),
    ],
];

/// One hostile sandbox: instantiated, failed, dropped. Every thirteenth is the hand-written
/// guest whose fifteen memories are over the cap together.
fn provoke(hostile: &LoadedStrategy, multi_memory: &LoadedStrategy, n: usize) {
    let bars = ohlcv("GOOG");
    match MODES.get(n % (MODES.len() + 1)) {
        Some(params) => {
            let mut sandbox = hostile
                .instantiate(&config(params, &["GOOG"]))
                .expect("init");
            sandbox
                .on_bars(&meta(0), &bars[..10])
                .expect_err("the hostile guest fails");
        }
        None => {
            multi_memory
                .instantiate(&config(&[], &["GOOG"]))
                .expect_err("memories over the cap together");
        }
    }
}

/// (RSS, anonymous RSS) of this process, in bytes.
fn rss() -> (usize, usize) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
            .expect("field")
            * 1024
    };
    (field("VmRSS:"), field("RssAnon:"))
}

/// Set in the child process that measures (see the test below).
const CHILD: &str = "WEAVER_TEST_CASE_25_CHILD";

/// The measurement itself: prints the RSS figures for the parent to check.
fn case_25_measure() {
    let (marvin, _dir) = marvin();
    let hostile = super::hostile::hostile(&marvin);
    let memories: String = (1..=15).map(|i| format!("(memory $m{i} 400) ")).collect();
    let multi_memory = marvin
        .load(&componentize(&core_guest("", &memories)))
        .expect("loads");
    let mut benign = hostile
        .instantiate(&config(&[("mode", "none")], &["GOOG"]))
        .expect("init");
    benign.on_bars(&meta(0), &ohlcv("GOOG")).expect("runs");
    drop(benign);
    let fresh = rss();
    for n in 0..100 {
        provoke(&hostile, &multi_memory, n);
    }
    let half = rss();
    for n in 100..200 {
        provoke(&hostile, &multi_memory, n);
    }
    let after = rss();
    println!(
        "case-25 {} {} {} {} {} {}",
        fresh.0, fresh.1, half.0, half.1, after.0, after.1
    );
}

/// Runs itself again in a child process (the same test, alone, with [`CHILD`] set), where the
/// measurement runs; here it checks the child's figures.
#[test]
fn case_25_two_hundred_hostile_sandboxes_leave_the_host_memory_as_they_found_it() {
    if std::env::var_os(CHILD).is_some() {
        case_25_measure();
        return;
    }
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "marvin::leaks::case_25_two_hundred_hostile_sandboxes_leave_the_host_memory_as_they_found_it",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("child test runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures: Vec<usize> = stdout
        .lines()
        .find_map(|l| l.split_once("case-25 ").map(|(_, figures)| figures))
        .expect("figures")
        .split_whitespace()
        .map(|v| v.parse().expect("number"))
        .collect();
    let [
        rss_fresh,
        anon_fresh,
        rss_half,
        anon_half,
        rss_after,
        anon_after,
    ] = figures[..]
    else {
        panic!("{figures:?}")
    };
    let mib = |b: usize| b as f64 / f64::from(1 << 20);
    eprintln!(
        "case 25: RSS {:.1} MiB fresh ({:.1} anonymous), {:.1} ({:.1}) after 100 hostile sandboxes, {:.1} ({:.1}) after 200",
        mib(rss_fresh),
        mib(anon_fresh),
        mib(rss_half),
        mib(anon_half),
        mib(rss_after),
        mib(anon_after)
    );
    assert!(
        anon_after <= anon_fresh + rss_fresh / 10,
        "the host kept memory: anonymous RSS {anon_fresh} -> {anon_after} bytes"
    );
    assert!(
        rss_after <= rss_half + (1 << 20),
        "the second hundred sandboxes grew RSS from {rss_half} to {rss_after} bytes"
    );
}
