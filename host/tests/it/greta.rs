//! Greta: reference parity with backtesting.py 0.6.6 (`testdata/generated/reference/`, made
//! by `scripts/testdata.sh`), CLI behaviour.
//!
//! Expected values are always read from the reference files, never copied here.

use std::path::{Path, PathBuf};

use serde_json::Value;
use weaver::greta::broker::BrokerConfig;
use weaver::greta::{self, Backtest, Commission, EngineConfig, FillModel};

/// A reference run: its JSON, equity CSV rows, and the engine settings that reproduce it.
pub(crate) struct Reference {
    pub json: Value,
    pub equity: Vec<(String, f64, f64)>,
    pub ohlcv: PathBuf,
    pub symbol: String,
    pub params: Vec<(String, String)>,
    pub cfg: EngineConfig,
}

pub(crate) fn reference(name: &str) -> Reference {
    let root = crate::testdata::generated();
    let text = std::fs::read_to_string(root.join("reference").join(format!("{name}.json")))
        .unwrap_or_else(|e| panic!("cannot read reference {name}: {e}"));
    let json: Value = serde_json::from_str(&text).unwrap();
    let eq_name = json["equity_csv"]
        .as_str()
        .unwrap()
        .trim_start_matches("data/");
    let eq_text = std::fs::read_to_string(root.join(eq_name)).unwrap();
    let equity = eq_text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_owned(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    let dataset = json["dataset"]
        .as_str()
        .unwrap()
        .trim_start_matches("data/");
    let ohlcv = root.join(dataset);
    let symbol = Path::new(dataset)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let c = &json["config"];
    let params = vec![
        (
            "fast".to_owned(),
            json["strategy"]["n1"].as_u64().unwrap().to_string(),
        ),
        (
            "slow".to_owned(),
            json["strategy"]["n2"].as_u64().unwrap().to_string(),
        ),
    ];
    let cfg = EngineConfig {
        fills: Default::default(),
        broker: BrokerConfig {
            cash: c["cash"].as_f64().unwrap(),
            commission: Commission {
                pct: c["commission"].as_f64().unwrap(),
                per_unit: 0.0,
                fixed: 0.0,
            },
            slippage_bps: 0.0,
            fill: if c["trade_on_close"].as_bool().unwrap() {
                FillModel::Close
            } else {
                FillModel::NextOpen
            },
            fractional: false,
        },
        finalize: c["finalize_trades"].as_bool().unwrap(),
        warmup: Some(json["first_next_bar"].as_u64().unwrap() as usize - 1),
        params: params.clone(),
    };
    Reference {
        json,
        equity,
        ohlcv,
        symbol,
        params,
        cfg,
    }
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    if a == b {
        return true;
    }
    (a - b).abs() <= rel * a.abs().max(b.abs())
}

/// Reference metric name → report key; durations are `{days}` objects in the reference.
const METRICS: &[(&str, &str)] = &[
    ("Duration", "duration_days"),
    ("Exposure Time [%]", "exposure_time_pct"),
    ("Equity Final [$]", "equity_final"),
    ("Equity Peak [$]", "equity_peak"),
    ("Commissions [$]", "commissions"),
    ("Return [%]", "return_pct"),
    ("Buy & Hold Return [%]", "buy_hold_return_pct"),
    ("Return (Ann.) [%]", "return_ann_pct"),
    ("Volatility (Ann.) [%]", "volatility_ann_pct"),
    ("CAGR [%]", "cagr_pct"),
    ("Sharpe Ratio", "sharpe"),
    ("Sortino Ratio", "sortino"),
    ("Calmar Ratio", "calmar"),
    ("Alpha [%]", "alpha_pct"),
    ("Beta", "beta"),
    ("Max. Drawdown [%]", "max_drawdown_pct"),
    ("Avg. Drawdown [%]", "avg_drawdown_pct"),
    ("Max. Drawdown Duration", "max_drawdown_duration_days"),
    ("Avg. Drawdown Duration", "avg_drawdown_duration_days"),
    ("# Trades", "trades"),
    ("Win Rate [%]", "win_rate_pct"),
    ("Best Trade [%]", "best_trade_pct"),
    ("Worst Trade [%]", "worst_trade_pct"),
    ("Avg. Trade [%]", "avg_trade_pct"),
    ("Max. Trade Duration", "max_trade_duration_days"),
    ("Avg. Trade Duration", "avg_trade_duration_days"),
    ("Profit Factor", "profit_factor"),
    ("Expectancy [%]", "expectancy_pct"),
    ("SQN", "sqn"),
    ("Kelly Criterion", "kelly"),
];

/// Compares a `--report` JSON document with a reference run; panics with every difference.
pub(crate) fn assert_matches_reference(report: &Value, r: &Reference) {
    let mut errors = Vec::new();
    let want_trades = r.json["trades"].as_array().unwrap();
    let got_trades = report["trades"].as_array().unwrap();
    if want_trades.len() != got_trades.len() {
        errors.push(format!(
            "trade count: want {} got {}",
            want_trades.len(),
            got_trades.len()
        ));
    }
    for (i, (w, g)) in want_trades.iter().zip(got_trades).enumerate() {
        for k in [
            "entry_bar",
            "exit_bar",
            "entry_time",
            "exit_time",
            "size",
            "entry_price",
            "exit_price",
        ] {
            let same = match (w[k].as_f64(), g[k].as_f64()) {
                (Some(a), Some(b)) => a == b,
                _ => w[k] == g[k],
            };
            if !same {
                errors.push(format!("trade {i} {k}: want {} got {}", w[k], g[k]));
            }
        }
        for k in ["pnl", "commission", "return_pct"] {
            let (a, b) = (w[k].as_f64().unwrap(), g[k].as_f64().unwrap());
            if !close(a, b, 1e-9) && (a - b).abs() > 1e-9 {
                errors.push(format!("trade {i} {k}: want {a} got {b}"));
            }
        }
    }
    let want_open = r.json["open_trades_at_end_not_in_stats"]
        .as_array()
        .unwrap();
    let got_open = report["open_trades"].as_array().unwrap();
    if want_open.len() != got_open.len() {
        errors.push(format!(
            "open trades: want {} got {}",
            want_open.len(),
            got_open.len()
        ));
    }
    for (w, g) in want_open.iter().zip(got_open) {
        for k in ["entry_bar", "entry_time", "size", "entry_price"] {
            let same = match (w[k].as_f64(), g[k].as_f64()) {
                (Some(a), Some(b)) => a == b,
                _ => w[k] == g[k],
            };
            if !same {
                errors.push(format!("open trade {k}: want {} got {}", w[k], g[k]));
            }
        }
    }
    let eq = report["equity"].as_array().unwrap();
    if eq.len() != r.equity.len() {
        errors.push(format!(
            "equity points: want {} got {}",
            r.equity.len(),
            eq.len()
        ));
    }
    for (i, ((ts, e, dd), g)) in r.equity.iter().zip(eq).enumerate() {
        let (ge, gd) = (
            g["equity"].as_f64().unwrap(),
            g["drawdown_pct"].as_f64().unwrap(),
        );
        if g["ts"].as_str() != Some(ts.as_str())
            || !close(*e, ge, 1e-9)
            || !(close(*dd, gd, 1e-9) || (dd - gd).abs() < 1e-9)
        {
            errors.push(format!(
                "equity[{i}] {ts}: want {e} / dd {dd}, got {} {ge} / dd {gd}",
                g["ts"]
            ));
            if errors.len() > 20 {
                break;
            }
        }
    }
    let m = &r.json["metrics"];
    let gm = &report["metrics"];
    let mut keys: Vec<&str> = gm.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = METRICS
        .iter()
        .map(|(_, k)| *k)
        .chain(["start", "end"])
        .collect();
    keys.sort_unstable();
    expected.sort_unstable();
    if keys != expected {
        errors.push(format!("metric keys: want {expected:?} got {keys:?}"));
    }
    for k in ["Start", "End"] {
        if m[k] != gm[k.to_lowercase()] {
            errors.push(format!("{k}: want {} got {}", m[k], gm[k.to_lowercase()]));
        }
    }
    for (rk, key) in METRICS {
        let want = match &m[*rk] {
            Value::Object(o) => o["days"].as_f64(),
            // backtesting.py omits the commissions line when there were none.
            Value::Null if *rk == "Commissions [$]" && m.get(*rk).is_none() => Some(0.0),
            v => v.as_f64(),
        };
        let got = gm[*key].as_f64();
        let ok = match (want, got) {
            (None, None) => true,
            (Some(a), Some(b)) => close(a, b, 1e-6) || (a == 0.0 && b.abs() < 1e-12),
            _ => false,
        };
        if !ok {
            errors.push(format!("metric {rk} ({key}): want {want:?} got {got:?}"));
        }
    }
    assert!(
        errors.is_empty(),
        "{} differences from the reference:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

fn native_report(name: &str) -> Value {
    let r = reference(name);
    let series = greta::csv::load(&r.ohlcv, Some(&r.symbol)).unwrap();
    let bt = Backtest::new(vec![series]).unwrap();
    let mut strategy = greta::native::SmaCross::new(&bt.strategy_config(&r.params)).unwrap();
    let result = bt.run(&mut strategy, &r.cfg, None).unwrap();
    let info = greta::report::StrategyInfo {
        name: "native:sma-cross".into(),
        sha256: String::new(),
        params: greta::report::params_json(&r.params),
        limits: None,
    };
    serde_json::to_value(greta::report::build(&bt, &r.cfg, info, &result)).unwrap()
}

#[test]
fn native_sma_cross_matches_goog_reference() {
    let name = "GOOG-smacross-10-20";
    assert_matches_reference(&native_report(name), &reference(name));
}

#[test]
fn native_sma_cross_matches_eurusd_reference() {
    let name = "EURUSD-smacross-10-20";
    assert_matches_reference(&native_report(name), &reference(name));
}

#[test]
fn native_sma_cross_matches_btcusd_bankruptcy_reference() {
    let name = "BTCUSD-smacross-10-20";
    let report = native_report(name);
    assert!(report["bankrupt_at"].is_string(), "BTCUSD must go bankrupt");
    assert_matches_reference(&report, &reference(name));
}

#[test]
fn native_sma_cross_matches_goog_testsuite_reference() {
    let name = "GOOG-testsuite-smacross-10-30";
    assert_matches_reference(&native_report(name), &reference(name));
}

// ---------------------------------------------------------------------------------------------
// The real sandbox through the real CLI.

/// Runs a `weaver` command line in-process (the binary in the shared target dir may belong to
/// another build); returns what it printed.
fn cli<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> anyhow::Result<String> {
    use clap::Parser;
    use weaver::cli::{Cli, Command, backtest, data};
    let argv = std::iter::once(std::ffi::OsString::from("weaver"))
        .chain(args.iter().map(|a| a.as_ref().to_owned()));
    let parsed = Cli::try_parse_from(argv)?;
    let mut out = Vec::new();
    #[allow(unreachable_patterns)]
    match parsed.command {
        Command::Backtest(a) => backtest::run_with_output(*a, &mut out)?,
        Command::Data(a) => data::run_with_output(a, &mut out)?,
        other => panic!("not a greta command: {other:?}"),
    }
    Ok(String::from_utf8(out)?)
}

fn sma_cross_wasm() -> PathBuf {
    crate::support::dist("sma-cross.wasm")
}

/// Runs `weaver backtest` with the reference configuration and returns the `--report` JSON.
fn cli_report(name: &str, strategy: &Path) -> Value {
    cli_report_cached(name, strategy, None)
}

/// [`cli_report`] with a given compile cache directory (shared by tests that load the same big
/// component; the cache is keyed by the component's sha256 and the engine).
pub(crate) fn cli_report_cached(name: &str, strategy: &Path, cache: Option<&Path>) -> Value {
    let r = reference(name);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let mut args: Vec<std::ffi::OsString> =
        vec!["backtest".into(), "--strategy".into(), strategy.into()];
    args.extend(["--data".into(), r.ohlcv.clone().into_os_string()]);
    args.extend(["--cash".into(), r.cfg.broker.cash.to_string().into()]);
    args.extend([
        "--commission".into(),
        r.cfg.broker.commission.pct.to_string().into(),
    ]);
    // No `--warmup`: sma-cross declares `max(fast, slow) - 1`, where the reference starts its
    // buy & hold, so the plain command equals the reference.
    args.extend(["--report".into(), out.clone().into_os_string()]);
    args.extend([
        "--cache-dir".into(),
        cache
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dir.path().join("cache"))
            .into_os_string(),
    ]);
    for (k, v) in &r.params {
        args.extend(["--param".into(), format!("{k}={v}").into()]);
    }
    if r.cfg.finalize {
        args.push("--finalize".into());
    }
    let stdout = cli(&args).unwrap_or_else(|e| panic!("weaver backtest failed: {e:#}"));
    assert!(
        stdout.contains("sharpe") && stdout.contains("trades"),
        "summary missing:\n{stdout}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for k in [
        "strategy",
        "data",
        "config",
        "metrics",
        "trades",
        "open_trades",
        "equity",
    ] {
        assert!(report.get(k).is_some(), "report lacks {k}");
    }
    assert_eq!(
        report["warmup"],
        serde_json::json!({"bars": r.cfg.warmup.unwrap(), "source": "declared"}),
        "the strategy's declared warm-up is the reference's"
    );
    report
}

#[test]
fn wasm_sma_cross_cli_matches_goog_reference() {
    let name = "GOOG-smacross-10-20";
    let report = cli_report(name, &sma_cross_wasm());
    assert_eq!(
        report["strategy"]["sha256"].as_str().map(str::len),
        Some(64)
    );
    assert_eq!(report["data"][0]["bars"], 2148);
    assert_matches_reference(&report, &reference(name));
}

#[test]
fn wasm_sma_cross_cli_matches_eurusd_reference() {
    let name = "EURUSD-smacross-10-20";
    assert_matches_reference(&cli_report(name, &sma_cross_wasm()), &reference(name));
}

#[test]
fn wasm_sma_cross_cli_matches_btcusd_bankruptcy_reference() {
    let name = "BTCUSD-smacross-10-20";
    assert_matches_reference(&cli_report(name, &sma_cross_wasm()), &reference(name));
}

#[test]
fn wasm_sma_cross_cli_matches_goog_testsuite_reference() {
    let name = "GOOG-testsuite-smacross-10-30";
    assert_matches_reference(&cli_report(name, &sma_cross_wasm()), &reference(name));
}

fn assert_cli_fails(args: &[&str], expect: &str) {
    let cache = tempfile::tempdir().unwrap();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--cache-dir", cache.path().to_str().unwrap()]);
    match cli(&all) {
        Ok(out) => panic!("{args:?} should fail, printed:\n{out}"),
        Err(e) => {
            let text = format!("{e:#}");
            assert!(
                text.contains(expect),
                "{args:?}: expected {expect:?} in: {text}"
            );
        }
    }
}

#[test]
fn cli_binary_exits_non_zero_with_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad_csv = dir.path().join("bad.csv");
    std::fs::write(
        &bad_csv,
        "timestamp,open,high,low,close\n2020-01-01,1,2,0,1\n2019-01-01,1,2,0,1\n",
    )
    .unwrap();
    let output = crate::support::weaver()
        .env("WEAVER_DATA_DIR", dir.path())
        .env_remove("RUST_BACKTRACE")
        .args(["backtest", "--strategy", "native:sma-cross", "--data"])
        .arg(&bad_csv)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("bad.csv:3:") && stderr.contains("ascending"),
        "{stderr}"
    );
}

#[test]
fn cli_refuses_bad_input_with_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let goog = crate::testdata::generated().join("ohlcv/GOOG.csv");
    let goog = goog.to_str().unwrap();
    let bad_csv = dir.path().join("bad.csv");
    std::fs::write(&bad_csv, "timestamp,open,high,low,close,volume\n2020-01-01T00:00:00Z,1,2,0.5,1,10\n2020-01-02T00:00:00Z,1,two,0.5,1,10\n").unwrap();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"not wasm at all").unwrap();
    let wasm = sma_cross_wasm();
    let wasm = wasm.to_str().unwrap();
    assert_cli_fails(
        &[
            "backtest",
            "--strategy",
            "native:sma-cross",
            "--data",
            bad_csv.to_str().unwrap(),
        ],
        "bad.csv:3:",
    );
    assert_cli_fails(
        &[
            "backtest",
            "--strategy",
            "native:sma-cross",
            "--data",
            "/nonexistent/x.csv",
        ],
        "cannot read",
    );
    assert_cli_fails(
        &[
            "backtest",
            "--strategy",
            wasm,
            "--data",
            goog,
            "--param",
            "fast=zero",
        ],
        "fast",
    );
    assert_cli_fails(
        &[
            "backtest",
            "--strategy",
            wasm,
            "--data",
            goog,
            "--param",
            "colour=red",
        ],
        "colour",
    );
    assert_cli_fails(
        &[
            "backtest",
            "--strategy",
            wasm,
            "--data",
            goog,
            "--param",
            "novalue",
        ],
        "key=value",
    );
    assert_cli_fails(
        &[
            "backtest",
            "--strategy",
            garbage.to_str().unwrap(),
            "--data",
            goog,
        ],
        "garbage.wasm",
    );
    assert_cli_fails(
        &[
            "backtest",
            "--strategy",
            "/nonexistent.wasm",
            "--data",
            goog,
        ],
        "does not exist",
    );
    assert_cli_fails(
        &[
            "backtest",
            "--strategy",
            "native:sma-cross",
            "--data",
            goog,
            "--cash=-5",
        ],
        "--cash",
    );
    assert_cli_fails(
        &[
            "backtest",
            "--strategy",
            "native:sma-cross",
            "--data",
            goog,
            "--sweep",
            "fast=9:1:1",
        ],
        "--sweep",
    );
    assert_cli_fails(
        &[
            "backtest",
            "--strategy",
            "native:sma-cross",
            "--data",
            goog,
            "--sweep",
            "fast=5:6:1",
            "--rank-by",
            "luck",
        ],
        "rank-by",
    );
}

#[test]
fn cli_sweep_runs_the_grid_and_reports_every_combination() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep.json");
    let goog = crate::testdata::generated().join("ohlcv/GOOG.csv");
    let wasm = sma_cross_wasm();
    let cache = dir.path().join("cache");
    let args: Vec<&std::ffi::OsStr> = vec![
        "backtest".as_ref(),
        "--strategy".as_ref(),
        wasm.as_os_str(),
        "--data".as_ref(),
        goog.as_os_str(),
        "--warmup".as_ref(),
        "19".as_ref(),
        "--sweep".as_ref(),
        "fast=5:15:5".as_ref(),
        "--sweep".as_ref(),
        "slow=20:30:10".as_ref(),
        "--rank-by".as_ref(),
        "return_pct".as_ref(),
        "--report".as_ref(),
        out.as_os_str(),
        "--cache-dir".as_ref(),
        cache.as_os_str(),
    ];
    let stdout = cli(&args).unwrap_or_else(|e| panic!("{e:#}"));
    let docs: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(docs.len(), 6);
    // The 10/20 combination is the GOOG reference run.
    let r = reference("GOOG-smacross-10-20");
    let hit = docs
        .iter()
        .find(|d| d["strategy"]["params"]["fast"] == 10 && d["strategy"]["params"]["slow"] == 20)
        .unwrap();
    assert_matches_reference(hit, &r);
    // Ranked by return, best first.
    let best = docs
        .iter()
        .map(|d| d["metrics"]["return_pct"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    let first_row = stdout.lines().nth(1).unwrap();
    assert!(
        first_row.contains(&format!("{best:.4}")),
        "first row {first_row:?} should hold the best return {best}"
    );
}

#[test]
fn cli_data_synth_is_deterministic_and_loadable() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a.csv"),
        dir.path().join("b.csv"),
        dir.path().join("c.csv"),
    );
    for (p, seed) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        let out = cli(&[
            "data",
            "synth",
            "--bars",
            "5000",
            "--seed",
            seed,
            "--out",
            p.to_str().unwrap(),
        ])
        .unwrap();
        assert!(out.contains("5000"), "{out}");
    }
    assert!(cli(&["data", "synth", "--bars", "0", "--out", a.to_str().unwrap()]).is_err());
    let (ta, tb, tc) = (
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        std::fs::read(&c).unwrap(),
    );
    assert_eq!(ta, tb);
    assert_ne!(ta, tc);
    let s = greta::csv::load(&a, None).unwrap();
    assert_eq!(s.bars.len(), 5000);
    assert_eq!(s.bars[1].bar.ts - s.bars[0].bar.ts, 60_000);
    assert!(
        s.bars
            .iter()
            .all(|b| b.bar.low <= b.bar.open.min(b.bar.close)
                && b.bar.high >= b.bar.open.max(b.bar.close))
    );
}

#[test]
fn cli_runs_several_symbols_with_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("multi.json");
    let ohlcv = crate::testdata::generated().join("ohlcv");
    // A Date/Open/... variant with unix-second timestamps, for the second symbol.
    let goog = std::fs::read_to_string(ohlcv.join("GOOG.csv")).unwrap();
    let mut variant = String::from("Date,Open,High,Low,Close,Volume\n");
    for line in goog.lines().skip(1).take(500) {
        let (ts, rest) = line.split_once(',').unwrap();
        let secs = greta::csv::parse_ts(ts.as_bytes()).unwrap() / 1000;
        variant.push_str(&format!("{secs},{rest}\n"));
    }
    let second = dir.path().join("second.csv");
    std::fs::write(&second, variant).unwrap();
    let stdout = cli(&[
        "backtest",
        "--strategy",
        "native:sma-cross",
        "--data",
        ohlcv.join("BTCUSD.csv").to_str().unwrap(),
        "--data",
        second.to_str().unwrap(),
        "--symbol",
        "BTC",
        "--symbol",
        "GOOG500",
        "--report",
        out.to_str().unwrap(),
    ])
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(stdout.contains("trades"));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let data = report["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(
        (data[0]["symbol"].as_str(), data[1]["symbol"].as_str()),
        (Some("BTC"), Some("GOOG500"))
    );
    assert_eq!(data[1]["bars"], 500);
    // One equity point per distinct timestamp of the union, ascending.
    let mut all: Vec<String> = goog
        .lines()
        .skip(1)
        .take(500)
        .map(|l| l.split(',').next().unwrap().to_owned())
        .collect();
    let btc = std::fs::read_to_string(ohlcv.join("BTCUSD.csv")).unwrap();
    all.extend(
        btc.lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_owned()),
    );
    all.sort();
    all.dedup();
    let eq: Vec<&str> = report["equity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ts"].as_str().unwrap())
        .collect();
    assert_eq!(eq, all);
    assert!(
        report["trades"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["symbol"] == "GOOG500")
    );
    assert!(
        cli(&[
            "backtest",
            "--strategy",
            "native:sma-cross",
            "--data",
            second.to_str().unwrap(),
            "--symbol",
            "A",
            "--symbol",
            "B"
        ])
        .is_err()
    );
}
