//! The command line under the server's limits: `weaver strategy check` and `weaver backtest`
//! compile in a child process under the compile limits (a compile bomb is
//! `compile_limit_exceeded` there too), and `weaver backtest` takes per-run sandbox limits
//! (`--fuel-per-event`, `--fuel-per-bar`, `--memory-mb`) within the operator's `WEAVER_MAX_*`.

use std::path::Path;
use std::process::{Command, Output};

/// `weaver` with `args`, its data (and compile cache) in `data`, and `env` on top.
fn weaver(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_weaver"));
    c.args(args)
        .env("WEAVER_DATA_DIR", data)
        .env_remove("WEAVER_MAX_FUEL_PER_EVENT")
        .env_remove("WEAVER_MAX_FUEL_PER_BAR")
        .env_remove("WEAVER_MAX_MEMORY_MB")
        .env_remove("WEAVER_COMPILE_CPU_SECONDS");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("weaver runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn compiled(data: &Path) -> usize {
    std::fs::read_dir(data.join("cache").join("compiled")).map_or(0, |d| d.count())
}

#[test]
fn the_cli_compiles_in_a_limited_child_like_the_server() {
    let dir = tempfile::tempdir().expect("tmp");
    let bomb = dir.path().join("bomb.wasm");
    std::fs::write(&bomb, super::wat::compile_bomb()).expect("bomb written");
    let bomb = bomb.to_str().expect("utf-8 path");
    let goog = crate::testdata::ohlcv("GOOG");
    let goog = goog.to_str().expect("utf-8 path");
    // The bomb needs tens of seconds of CPU to compile; the operator allows 2 here.
    let limit = [("WEAVER_COMPILE_CPU_SECONDS", "2")];
    let started = std::time::Instant::now();
    let check = weaver(dir.path(), &["strategy", "check", bomb], &limit);
    assert!(!check.status.success(), "check refused the bomb");
    assert!(
        stderr(&check).contains("compile_limit_exceeded"),
        "{}",
        stderr(&check)
    );
    let backtest = weaver(
        dir.path(),
        &["backtest", "--strategy", bomb, "--data", goog],
        &limit,
    );
    assert!(!backtest.status.success(), "backtest refused the bomb");
    assert!(
        stderr(&backtest).contains("compile_limit_exceeded"),
        "{}",
        stderr(&backtest)
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "each refusal took about the CPU limit: {:?}",
        started.elapsed()
    );
    assert_eq!(compiled(dir.path()), 0, "nothing of the bomb is cached");
    // An ordinary component compiles in the child and is cached for the next command.
    let sma = crate::support::dist("sma-cross.wasm");
    let ok = weaver(
        dir.path(),
        &["strategy", "check", sma.to_str().expect("utf-8 path")],
        &limit,
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains("compiled:      fresh"), "{text}");
    assert_eq!(compiled(dir.path()), 1);
}

#[test]
fn backtest_limit_flags_are_honoured_within_the_operators_ceilings() {
    let dir = tempfile::tempdir().expect("tmp");
    // Thirty bars of GOOG, each costing the guest ~15 M fuel: within one one-bar call of the
    // light tier (21 M) but not within a batch of bars (20 M + 1 M per bar), so the backtest
    // needs more fuel per bar.
    let text = std::fs::read_to_string(crate::testdata::ohlcv("GOOG")).expect("GOOG.csv");
    let csv = dir.path().join("GOOG.csv");
    std::fs::write(
        &csv,
        text.lines().take(31).collect::<Vec<_>>().join("\n") + "\n",
    )
    .expect("csv written");
    let iters = super::burn_iters_for(15e6).to_string();
    let hostile = crate::support::dist("guests/hostile.wasm");
    let report = dir.path().join("report.json");
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "backtest",
            "--strategy",
            hostile.to_str().expect("utf-8 path"),
            "--data",
            csv.to_str().expect("utf-8 path"),
            "--param",
            "mode=burn",
            "--report",
            report.to_str().expect("utf-8 path"),
        ];
        let iters = format!("iters={iters}");
        args.extend(["--param", iters.as_str()]);
        args.extend(extra);
        weaver(dir.path(), &args, env)
    };
    let tier = run(&[], &[]);
    assert!(!tier.status.success(), "over the tier's fuel");
    assert!(
        stderr(&tier).contains("strategy_fuel_exhausted"),
        "{}",
        stderr(&tier)
    );
    let asked = run(&["--fuel-per-bar", "20000000", "--memory-mb", "48"], &[]);
    assert!(asked.status.success(), "{}", stderr(&asked));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("json");
    let limits = &doc["strategy"]["limits"];
    assert_eq!(limits["fuel_per_bar"], 20_000_000, "{limits}");
    assert_eq!(limits["fuel_per_event"], 20_000_000, "the tier's: {limits}");
    assert_eq!(limits["max_memory_bytes"], 48 << 20, "{limits}");
    assert_eq!(limits["max_host_bytes"], 64 << 20, "{limits}");
    // Above the default ceiling, and above an operator's lower one: refused, naming both.
    let greedy = run(&["--fuel-per-bar", "20000001"], &[]);
    assert!(!greedy.status.success());
    let text = stderr(&greedy);
    assert!(
        text.contains("limit_not_allowed")
            && text.contains("fuel_per_bar 20000001")
            && text.contains("WEAVER_MAX_FUEL_PER_BAR"),
        "{text}"
    );
    let strict = run(
        &["--fuel-per-bar", "20000000"],
        &[("WEAVER_MAX_FUEL_PER_BAR", "10000000")],
    );
    assert!(!strict.status.success());
    assert!(
        stderr(&strict).contains("is above the operator's maximum 10000000"),
        "{}",
        stderr(&strict)
    );
    let memory = run(&["--memory-mb", "100000"], &[]);
    assert!(
        stderr(&memory).contains("memory_mb 100000 is above the operator's maximum 256"),
        "{}",
        stderr(&memory)
    );
    let native = weaver(
        dir.path(),
        &[
            "backtest",
            "--strategy",
            "native:sma-cross",
            "--data",
            csv.to_str().expect("utf-8 path"),
            "--fuel-per-event",
            "1000",
        ],
        &[],
    );
    assert!(!native.status.success());
    assert!(
        stderr(&native).contains("strategy components only"),
        "{}",
        stderr(&native)
    );
}
