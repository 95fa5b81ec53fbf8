//! `weaver backtest` over several symbols: after the totals the summary prints a line per symbol
//! and a total, the same figures as the `--report` JSON's `by_symbol` (the section
//! `GET /backtests/{id}` shows); over one symbol it prints no such table.

use clap::Parser;
use serde_json::Value;
use weaver::cli::{Cli, Command};
use weaver::greta::synth;

/// Runs `weaver backtest` with native sma-cross over `files` (path, symbol); the summary and the
/// JSON report.
fn run(files: &[(&std::path::Path, &str)], report: &std::path::Path) -> (String, Value) {
    let mut argv = vec!["weaver", "backtest", "--strategy", "native:sma-cross"];
    for (path, symbol) in files {
        argv.extend(["--data", path.to_str().expect("utf-8 path")]);
        argv.extend(["--symbol", symbol]);
    }
    argv.extend(["--report", report.to_str().expect("utf-8 path")]);
    let cli = Cli::try_parse_from(argv).expect("arguments");
    let Command::Backtest(args) = cli.command else {
        panic!("not a backtest");
    };
    let mut out = Vec::new();
    weaver::cli::backtest::run_with_output(*args, &mut out)
        .unwrap_or_else(|e| panic!("weaver backtest: {e:#}"));
    let doc = serde_json::from_slice(&std::fs::read(report).expect("report")).expect("json");
    (String::from_utf8(out).expect("utf-8"), doc)
}

/// The figures a table line shows for a `by_symbol` row, in its column order.
fn expected(name: &str, row: &Value) -> Vec<String> {
    let two = |key: &str| {
        row[key]
            .as_f64()
            .map_or("-".to_owned(), |x| format!("{x:.2}"))
    };
    let mut cells = vec![name.to_owned(), row["trades"].to_string()];
    cells.extend(
        [
            "win_rate_pct",
            "net_pnl",
            "pnl_share_pct",
            "contribution_pct",
            "commissions",
            "exposure_time_pct",
        ]
        .map(two),
    );
    cells
}

#[test]
fn cli_prints_a_line_per_symbol_and_the_total_after_the_totals() {
    let dir = tempfile::tempdir().expect("dir");
    let csv = |name: &str, seed: u64| {
        let path = dir.path().join(format!("{name}.csv"));
        let file = std::fs::File::create(&path).expect("csv");
        synth::write_csv(&synth::generate(2_000, seed), file).expect("write");
        path
    };
    let (alpha, beta) = (csv("alpha", 3), csv("beta", 4));
    let report = dir.path().join("r.json");

    let (summary, doc) = run(&[(&alpha, "ALPHA"), (&beta, "BETA")], &report);
    let by = &doc["by_symbol"];
    let lines: Vec<Vec<String>> = summary
        .lines()
        .skip_while(|l| !l.starts_with("symbol "))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect();
    assert_eq!(lines.len(), 4, "heading, two symbols, total:\n{summary}");
    assert_eq!(
        lines[0],
        [
            "symbol",
            "trades",
            "win_rate_pct",
            "net_pnl",
            "pnl_share_pct",
            "contribution_pct",
            "commissions",
            "exposure_time_pct"
        ]
    );
    assert_eq!(lines[1], expected("ALPHA", &by["symbols"][0]), "{summary}");
    assert_eq!(lines[2], expected("BETA", &by["symbols"][1]), "{summary}");
    assert_eq!(lines[3], expected("total", &by["total"]), "{summary}");
    // Both symbols traded, and the total is the summary's own trade count above the table.
    for row in by["symbols"].as_array().expect("rows") {
        assert!(row["trades"].as_u64() > Some(0), "{row}");
    }
    let trades_line = format!("{:<28} {}", "trades", doc["metrics"]["trades"]);
    assert!(summary.lines().any(|l| l == trades_line), "{summary}");
    let table_at = summary.find("\nsymbol ").expect("table");
    assert!(
        summary[..table_at].contains("elapsed"),
        "the table comes after the totals:\n{summary}"
    );

    let (single, doc) = run(&[(&alpha, "ALPHA")], &report);
    assert_eq!(
        doc["by_symbol"]["symbols"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(
        !single.lines().any(|l| l.starts_with("symbol ")),
        "one symbol: no table\n{single}"
    );
}
