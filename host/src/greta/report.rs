//! The `--report` JSON document and the human-readable summary.
//!
//! # Invariants
//! - `size` is signed (negative = short); `return_pct` and every `*_pct` are in percent;
//!   durations are in days; one `equity` point per timestamp.

use std::fmt::Write as _;

use serde::Serialize;

use super::engine::{Backtest, EngineConfig, RunResult};
use super::metrics::Metrics;
use super::synth::iso;
use crate::marvin::LimitsInForce;

/// The strategy a report belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct StrategyInfo {
    /// Strategy name (file stem, or `native:<name>`).
    pub name: String,
    /// SHA-256 of the component file (empty for native strategies).
    pub sha256: String,
    /// Parameters as given.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The sandbox limits in force: the component's tier's, or what the backtest asked for
    /// (absent for native strategies, which run without a sandbox).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsInForce>,
}

/// One data file of the run.
#[derive(Debug, Clone, Serialize)]
pub struct DataInfo {
    /// Symbol name.
    pub symbol: String,
    /// File path.
    pub path: String,
    /// Number of bars.
    pub bars: usize,
    /// First bar time.
    pub start: String,
    /// Last bar time.
    pub end: String,
}

/// One closed trade.
#[derive(Debug, Clone, Serialize)]
pub struct TradeRow {
    /// Symbol name.
    pub symbol: String,
    /// Entry bar (timestamp index).
    pub entry_bar: usize,
    /// Exit bar.
    pub exit_bar: usize,
    /// Entry time.
    pub entry_time: String,
    /// Exit time.
    pub exit_time: String,
    /// Signed units.
    pub size: f64,
    /// Entry price.
    pub entry_price: f64,
    /// Exit price.
    pub exit_price: f64,
    /// Profit after commissions.
    pub pnl: f64,
    /// Entry plus exit commission.
    pub commission: f64,
    /// Return in percent.
    pub return_pct: f64,
}

/// A trade still open at the end.
#[derive(Debug, Clone, Serialize)]
pub struct OpenTradeRow {
    /// Symbol name.
    pub symbol: String,
    /// Entry bar.
    pub entry_bar: usize,
    /// Entry time.
    pub entry_time: String,
    /// Signed units.
    pub size: f64,
    /// Entry price.
    pub entry_price: f64,
}

/// One equity point.
#[derive(Debug, Clone, Serialize)]
pub struct EquityRow {
    /// Time.
    pub ts: String,
    /// Equity.
    pub equity: f64,
    /// Drawdown from the running peak, in percent (positive).
    pub drawdown_pct: f64,
}

/// Which warm-up a backtest's statistics used, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WarmupUsed {
    /// Bars of warm-up: buy & hold is measured from this bar's close.
    pub bars: usize,
    /// `declared` (the strategy's own, from `init`) or `given` (`--warmup`, `warmup`).
    pub source: &'static str,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Strategy.
    pub strategy: StrategyInfo,
    /// Data files.
    pub data: Vec<DataInfo>,
    /// Run configuration (`warmup` null: the strategy's declared one).
    pub config: EngineConfig,
    /// The warm-up used.
    pub warmup: WarmupUsed,
    /// Statistics.
    pub metrics: Metrics,
    /// Closed trades.
    pub trades: Vec<TradeRow>,
    /// Trades open at the end.
    pub open_trades: Vec<OpenTradeRow>,
    /// Equity curve.
    pub equity: Vec<EquityRow>,
    /// Timestamp at which the account went bankrupt, if it did.
    pub bankrupt_at: Option<String>,
}

/// Parameters as a JSON object (numbers where they parse as numbers).
pub fn params_json(params: &[(String, String)]) -> serde_json::Map<String, serde_json::Value> {
    params
        .iter()
        .map(|(k, v)| {
            let value = v
                .parse::<i64>()
                .map(serde_json::Value::from)
                .or_else(|_| v.parse::<f64>().map(serde_json::Value::from))
                .unwrap_or_else(|_| serde_json::Value::from(v.clone()));
            (k.clone(), value)
        })
        .collect()
}

/// Builds the report of a finished run.
pub fn build(
    bt: &Backtest,
    cfg: &EngineConfig,
    strategy: StrategyInfo,
    result: &RunResult,
) -> Report {
    let names = bt.symbols();
    let name = |s: u32| names.get(s as usize).cloned().unwrap_or_default();
    let mut peak = f64::NEG_INFINITY;
    let equity = result
        .ts
        .iter()
        .zip(&result.equity)
        .map(|(&ts, &e)| {
            peak = peak.max(e);
            let dd = (1.0 - e / peak) * 100.0;
            EquityRow {
                ts: iso(ts),
                equity: e,
                drawdown_pct: if dd.is_finite() { dd } else { 0.0 },
            }
        })
        .collect();
    Report {
        strategy,
        data: bt
            .series
            .iter()
            .map(|s| DataInfo {
                symbol: s.symbol.clone(),
                path: s.path.clone(),
                bars: s.bars,
                start: iso(s.start),
                end: iso(s.end),
            })
            .collect(),
        config: cfg.clone(),
        warmup: WarmupUsed {
            bars: result.warmup,
            source: if result.warmup_declared {
                "declared"
            } else {
                "given"
            },
        },
        metrics: result.metrics.clone(),
        trades: result
            .trades
            .iter()
            .map(|t| TradeRow {
                symbol: name(t.symbol),
                entry_bar: t.entry_bar,
                exit_bar: t.exit_bar,
                entry_time: iso(t.entry_ts),
                exit_time: iso(t.exit_ts),
                size: t.size,
                entry_price: t.entry_price,
                exit_price: t.exit_price,
                pnl: t.pnl,
                commission: t.commission,
                return_pct: t.return_frac * 100.0,
            })
            .collect(),
        open_trades: result
            .open_trades
            .iter()
            .map(|t| OpenTradeRow {
                symbol: name(t.symbol),
                entry_bar: t.entry_bar,
                entry_time: iso(t.entry_ts),
                size: t.size,
                entry_price: t.entry_price,
            })
            .collect(),
        equity,
        bankrupt_at: result.bankrupt_at.map(|g| iso(result.ts[g])),
    }
}

/// A readable summary: the statistics, one per line.
pub fn summary(m: &Metrics, open_trades: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:<28} {}", "start", m.start);
    let _ = writeln!(s, "{:<28} {}", "end", m.end);
    for (k, v) in m.numeric() {
        let text = match v {
            None => "-".to_owned(),
            Some(x) if k == "trades" => format!("{x:.0}"),
            Some(x) => format!("{x:.4}"),
        };
        let _ = writeln!(s, "{k:<28} {text}");
    }
    let _ = writeln!(s, "{:<28} {open_trades}", "open_trades");
    s
}
