//! `weaver backtest` fill-model flags: an option changes fills as computed from the CSV bars,
//! both spellings of `--fill` are one setting, and a refused flag is named.

use clap::Parser;
use serde_json::Value;
use weaver::cli::{Cli, Command};
use weaver::greta::synth;

/// Runs `weaver backtest` with `flags` over `csv`; the summary and the JSON report.
fn run(
    csv: &std::path::Path,
    report: &std::path::Path,
    flags: &[&str],
) -> anyhow::Result<(String, Value)> {
    let mut argv = vec![
        "weaver",
        "backtest",
        "--strategy",
        "native:sma-cross",
        "--data",
        csv.to_str().expect("utf-8 path"),
        "--symbol",
        "SYN",
        "--report",
        report.to_str().expect("utf-8 path"),
    ];
    argv.extend_from_slice(flags);
    let cli = Cli::try_parse_from(argv)?;
    let Command::Backtest(args) = cli.command else {
        panic!("not a backtest");
    };
    let mut out = Vec::new();
    weaver::cli::backtest::run_with_output(*args, &mut out)?;
    let doc = serde_json::from_slice(&std::fs::read(report)?)?;
    Ok((String::from_utf8(out)?, doc))
}

#[test]
fn cli_fill_flags_change_fills_as_computed() {
    let dir = tempfile::tempdir().expect("dir");
    let bars = synth::generate(3_000, 5);
    let csv = dir.path().join("SYN.csv");
    synth::write_csv(&bars, std::fs::File::create(&csv).expect("csv")).expect("write");
    let report = dir.path().join("r.json");

    let (summary, kebab) = run(&csv, &report, &["--fill", "next-open"]).expect("next-open");
    let (_, snake) = run(&csv, &report, &["--fill", "next_open"]).expect("next_open");
    assert_eq!(kebab["trades"], snake["trades"]);
    assert_eq!(kebab["config"], snake["config"]);
    assert_eq!(snake["config"]["broker"]["fill"], "next_open");
    let fills_line = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("fills "))
            .map(|l| l["fills".len()..].trim().to_owned())
    };
    assert_eq!(
        fills_line(&summary).as_deref(),
        Some("reference"),
        "{summary}"
    );
    let typo = run(&csv, &report, &["--fill", "next-close"]).unwrap_err();
    assert!(typo.to_string().contains("next_open"), "{typo}");

    let reference = &snake["trades"][0];
    let at = |t: &Value, key: &str| &bars[t[key].as_u64().expect("index") as usize];
    assert_eq!(
        reference["entry_price"].as_f64(),
        Some(at(reference, "entry_bar").open)
    );

    // Two bars of latency: the first signal fills two bars later, at that bar's open.
    let (summary, late) = run(&csv, &report, &["--latency-bars", "2"]).expect("latency");
    let t = &late["trades"][0];
    assert_eq!(
        t["entry_bar"].as_u64(),
        reference["entry_bar"].as_u64().map(|b| b + 2)
    );
    assert_eq!(t["entry_price"].as_f64(), Some(at(t, "entry_bar").open));
    assert_eq!(fills_line(&summary).as_deref(), Some("latency_bars 2"));
    assert_eq!(late["config"]["fills"]["latency_bars"], 2);

    // A spread of 0.25 × (high − low) with 5 bps of slippage, against the trader.
    let (_, spread) = run(
        &csv,
        &report,
        &["--spread-hl", "0.25", "--slippage-bps", "5"],
    )
    .expect("spread");
    let t = &spread["trades"][0];
    let b = at(t, "entry_bar");
    let dir = t["size"].as_f64().expect("size").signum();
    let want = b.open * (1.0 + dir * 5e-4) + dir * 0.25 * (b.high - b.low);
    assert!((t["entry_price"].as_f64().expect("price") - want).abs() < 1e-9);

    let stray = run(&csv, &report, &["--volume-limit", "0.1"]).unwrap_err();
    assert_eq!(
        stray.to_string(),
        "--volume-limit applies to volume-share fills only (volume_share, --volume-share)"
    );
    let big = run(&csv, &report, &["--volume-share", "--volume-limit", "1.5"]).unwrap_err();
    assert_eq!(
        big.to_string(),
        "--volume-limit 1.5 must be a number in (0, 1]"
    );
}
