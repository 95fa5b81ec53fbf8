//! Greta: reference parity with backtesting.py 0.6.6 (`shared/data/reference/`), CLI behaviour.
//!
//! Expected values are always read from the reference files, never copied here.

use std::path::{Path, PathBuf};

use serde_json::Value;
use weaver::greta::broker::BrokerConfig;
use weaver::greta::{self, Backtest, Commission, EngineConfig, FillModel};

pub(crate) fn shared_data() -> PathBuf {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"));
    assert!(
        p.join("reference").is_dir(),
        "reference data missing at {}: the repository must be cloned next to shared/",
        p.display()
    );
    p.to_path_buf()
}

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
    let root = shared_data();
    let text = std::fs::read_to_string(root.join("reference").join(format!("{name}.json")))
        .unwrap_or_else(|e| panic!("cannot read reference {name}: {e}"));
    let json: Value = serde_json::from_str(&text).unwrap();
    let eq_name = json["equity_csv"].as_str().unwrap().trim_start_matches("data/");
    let eq_text = std::fs::read_to_string(root.join(eq_name)).unwrap();
    let equity = eq_text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_owned(), f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    let dataset = json["dataset"].as_str().unwrap().trim_start_matches("data/");
    let ohlcv = root.join(dataset);
    let symbol = Path::new(dataset).file_stem().unwrap().to_string_lossy().into_owned();
    let c = &json["config"];
    let params = vec![
        ("fast".to_owned(), json["strategy"]["n1"].as_u64().unwrap().to_string()),
        ("slow".to_owned(), json["strategy"]["n2"].as_u64().unwrap().to_string()),
    ];
    let cfg = EngineConfig {
        broker: BrokerConfig {
            cash: c["cash"].as_f64().unwrap(),
            commission: Commission { pct: c["commission"].as_f64().unwrap(), per_unit: 0.0, fixed: 0.0 },
            slippage_bps: 0.0,
            fill: if c["trade_on_close"].as_bool().unwrap() { FillModel::Close } else { FillModel::NextOpen },
            fractional: false,
        },
        finalize: c["finalize_trades"].as_bool().unwrap(),
        warmup: json["first_next_bar"].as_u64().unwrap() as usize - 1,
        params: params.clone(),
    };
    Reference { json, equity, ohlcv, symbol, params, cfg }
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
        errors.push(format!("trade count: want {} got {}", want_trades.len(), got_trades.len()));
    }
    for (i, (w, g)) in want_trades.iter().zip(got_trades).enumerate() {
        for k in ["entry_bar", "exit_bar", "entry_time", "exit_time", "size", "entry_price", "exit_price"] {
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
    let want_open = r.json["open_trades_at_end_not_in_stats"].as_array().unwrap();
    let got_open = report["open_trades"].as_array().unwrap();
    if want_open.len() != got_open.len() {
        errors.push(format!("open trades: want {} got {}", want_open.len(), got_open.len()));
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
        errors.push(format!("equity points: want {} got {}", r.equity.len(), eq.len()));
    }
    for (i, ((ts, e, dd), g)) in r.equity.iter().zip(eq).enumerate() {
        let (ge, gd) = (g["equity"].as_f64().unwrap(), g["drawdown_pct"].as_f64().unwrap());
        if g["ts"].as_str() != Some(ts.as_str()) || !close(*e, ge, 1e-9) || !(close(*dd, gd, 1e-9) || (dd - gd).abs() < 1e-9) {
            errors.push(format!("equity[{i}] {ts}: want {e} / dd {dd}, got {} {ge} / dd {gd}", g["ts"]));
            if errors.len() > 20 {
                break;
            }
        }
    }
    let m = &r.json["metrics"];
    let gm = &report["metrics"];
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
            errors.push(format!("metric {rk} ({key}): want {:?} got {:?}", want, got));
        }
    }
    assert!(errors.is_empty(), "{} differences from the reference:\n{}", errors.len(), errors.join("\n"));
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
