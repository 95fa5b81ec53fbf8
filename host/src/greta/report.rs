//! The `--report` JSON document and the human-readable summary (with, for several symbols, the
//! per-symbol table of [`symbol_table`]).
//!
//! # Invariants
//! - `size` is signed (negative = short); `return_pct` and every `*_pct` are in percent;
//!   durations are in days; one `equity` point per timestamp.
//! - `by_symbol` has one row per symbol of the run (one for a single-symbol run) and a `total`
//!   that equals `metrics` ([`super::by_symbol`]).

use std::fmt::Write as _;

use serde::Serialize;

use super::by_symbol::{self, BySymbol, TradeFigures};
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
    /// The closed trades' figures per symbol of the one cash account, and their total.
    pub by_symbol: BySymbol,
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
        by_symbol: breakdown(&names, cfg, result),
        equity,
        bankrupt_at: result.bankrupt_at.map(|g| iso(result.ts[g])),
    }
}

/// The per-symbol breakdown of a finished run over the symbols `names` (in the run's order),
/// from its closed trades' exact figures: the report's `by_symbol`.
pub fn breakdown(names: &[String], cfg: &EngineConfig, result: &RunResult) -> BySymbol {
    let trades: Vec<TradeFigures> = result
        .trades
        .iter()
        .map(|t| TradeFigures {
            symbol: t.symbol as usize,
            pnl: t.pnl,
            commission: t.commission,
            return_frac: t.return_frac,
            entry_bar: t.entry_bar,
            exit_bar: t.exit_bar,
        })
        .collect();
    let open: Vec<usize> = result
        .open_trades
        .iter()
        .map(|t| t.symbol as usize)
        .collect();
    by_symbol::compute(
        names,
        &trades,
        &open,
        result.ts.len(),
        Some(cfg.broker.cash),
    )
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

/// The columns of [`symbol_table`]: the `by_symbol` key each shows (its heading) and its width.
const SYMBOL_COLUMNS: [(&str, usize); 7] = [
    ("trades", 7),
    ("win_rate_pct", 13),
    ("net_pnl", 14),
    ("pnl_share_pct", 14),
    ("contribution_pct", 17),
    ("commissions", 12),
    ("exposure_time_pct", 18),
];

/// The per-symbol breakdown as a readable table: a heading line of the `by_symbol` keys, a line
/// per symbol and a `total` line; amounts and percentages with two decimals, `-` for none.
/// Empty for fewer than two symbols, where the one row would repeat the summary's statistics.
pub fn symbol_table(by: &BySymbol) -> String {
    let mut s = String::new();
    if by.symbols.len() < 2 {
        return s;
    }
    let width = by
        .symbols
        .iter()
        .filter_map(|r| r.symbol.as_deref())
        .map(|n| n.chars().count())
        .fold("symbol".len(), usize::max);
    let _ = write!(s, "{:<width$}", "symbol");
    for (key, w) in SYMBOL_COLUMNS {
        let _ = write!(s, " {key:>w$}");
    }
    s.push('\n');
    let two = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"));
    for (name, r) in by
        .symbols
        .iter()
        .map(|r| (r.symbol.as_deref().unwrap_or("-"), r))
        .chain([("total", &by.total)])
    {
        let cells = [
            r.trades.to_string(),
            two(r.win_rate_pct),
            two(Some(r.net_pnl)),
            two(r.pnl_share_pct),
            two(r.contribution_pct),
            two(Some(r.commissions)),
            two(Some(r.exposure_time_pct)),
        ];
        let _ = write!(s, "{name:<width$}");
        for ((_, w), cell) in SYMBOL_COLUMNS.iter().zip(cells) {
            let _ = write!(s, " {cell:>w$}");
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Bar, Intent, OrderIntent, OrderSize, OrderType, Side, Strategy, StrategyError,
        StrategyEvent, StrategyPayload, SymbolBar, TimeInForce,
    };
    use crate::greta::broker::{BrokerConfig, Commission, FillModel};
    use crate::greta::csv::Series;

    const DAY: i64 = 86_400_000;

    /// Daily bars at the given prices (open = high = low = close), from day 0.
    fn series(symbol: &str, prices: &[f64]) -> Series {
        Series {
            symbol: symbol.into(),
            path: "mem".into(),
            bars: prices
                .iter()
                .enumerate()
                .map(|(i, &p)| SymbolBar {
                    symbol: 0,
                    bar: Bar {
                        ts: i as i64 * DAY,
                        open: p,
                        high: p,
                        low: p,
                        close: p,
                        volume: 1.0,
                    },
                })
                .collect(),
        }
    }

    /// Fills at the next open, no slippage, whole units, no warm-up.
    fn config(cash: f64, commission: Commission) -> EngineConfig {
        EngineConfig {
            broker: BrokerConfig {
                cash,
                commission,
                slippage_bps: 0.0,
                fill: FillModel::NextOpen,
                fractional: false,
            },
            finalize: false,
            warmup: Some(0),
            params: vec![],
            fills: Default::default(),
        }
    }

    /// Places the scripted market orders after the bar group with the given index.
    struct Script(Vec<(usize, &'static str, Side, f64)>, usize);

    impl Strategy for Script {
        fn on_event(&mut self, event: &StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
            let StrategyPayload::Bars(_) = &event.payload else {
                return Ok(vec![]);
            };
            let n = self.1;
            self.1 += 1;
            Ok(self
                .0
                .iter()
                .filter(|(at, ..)| *at == n)
                .map(|&(_, symbol, side, units)| {
                    Intent::PlaceOrder(OrderIntent {
                        symbol: symbol.into(),
                        side,
                        order_type: OrderType::Market,
                        time_in_force: TimeInForce::Gtc,
                        limit_price: None,
                        stop_price: None,
                        size: OrderSize::Units(units),
                        tag: None,
                    })
                })
                .collect())
        }
    }

    /// Two symbols on one account, a fixed commission of 1 per fill, fills at the next open:
    /// A wins 10 × (12 − 10) − 2 = 18 (return 20 % − 2/100) and loses the 2 of commission on a
    /// flat round trip (return −2/55); B wins 5 × (25 − 20) − 2 = 23 (25 % − 2/100) and holds
    /// one unit open at the end.
    #[test]
    fn by_symbol_breaks_two_symbols_down_by_hand_and_its_total_is_the_metrics() {
        let bt = Backtest::new(vec![
            series("A", &[10.0, 10.0, 12.0, 12.0, 11.0, 11.0]),
            series("B", &[20.0, 20.0, 18.0, 18.0, 25.0, 25.0]),
        ])
        .expect("two series");
        let cfg = config(
            1000.0,
            Commission {
                pct: 0.0,
                per_unit: 0.0,
                fixed: 1.0,
            },
        );
        let mut s = Script(
            vec![
                (0, "A", Side::Buy, 10.0),  // fills day 1 at 10
                (0, "B", Side::Buy, 5.0),   // fills day 1 at 20
                (2, "A", Side::Sell, 10.0), // day 3 at 12
                (3, "A", Side::Buy, 5.0),   // day 4 at 11
                (3, "B", Side::Sell, 5.0),  // day 4 at 25
                (4, "A", Side::Sell, 5.0),  // day 5 at 11
                (4, "B", Side::Buy, 1.0),   // day 5 at 25, still open
            ],
            0,
        );
        let result = bt.run(&mut s, &cfg, None).expect("runs");
        let info = StrategyInfo {
            name: "script".into(),
            sha256: String::new(),
            params: Default::default(),
            limits: None,
        };
        let report = build(&bt, &cfg, info, &result);
        let by = &report.by_symbol;
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);

        assert_eq!(by.symbols.len(), 2);
        let (a, b) = (&by.symbols[0], &by.symbols[1]);
        assert_eq!(
            (a.symbol.as_deref(), b.symbol.as_deref()),
            (Some("A"), Some("B"))
        );
        assert_eq!(
            (a.trades, a.open_trades, b.trades, b.open_trades),
            (2, 0, 1, 1)
        );
        assert_eq!((a.net_pnl, b.net_pnl), (16.0, 23.0));
        assert_eq!((a.commissions, b.commissions), (4.0, 2.0));
        assert_eq!((a.win_rate_pct, b.win_rate_pct), (Some(50.0), Some(100.0)));
        let a_loss = -2.0 / 55.0;
        assert!(close(a.best_trade_pct, 18.0) && close(a.worst_trade_pct, a_loss * 100.0));
        assert!(close(
            a.avg_trade_pct,
            ((1.18 * (1.0 + a_loss)).sqrt() - 1.0) * 100.0
        ));
        assert!(close(b.best_trade_pct, 23.0) && close(b.worst_trade_pct, 23.0));
        assert!(close(b.avg_trade_pct, 23.0));
        assert!(close(a.pnl_share_pct, 16.0 / 39.0 * 100.0));
        assert!(close(b.pnl_share_pct, 23.0 / 39.0 * 100.0));
        assert!(close(a.contribution_pct, 1.6) && close(b.contribution_pct, 2.3));
        // A holds days 1–3 and 4–5 (5 of the 6 days), B days 1–4.
        assert!(close(Some(a.exposure_time_pct), 5.0 / 6.0 * 100.0));
        assert!(close(Some(b.exposure_time_pct), 4.0 / 6.0 * 100.0));

        let t = &by.total;
        assert_eq!(t.symbol, None);
        assert_eq!((t.trades, t.open_trades, t.net_pnl), (3, 1, 39.0));
        assert!(close(t.contribution_pct, 3.9) && t.pnl_share_pct == Some(100.0));
        let pnl: f64 = report.trades.iter().map(|r| r.pnl).sum();
        assert!((by.symbols.iter().map(|r| r.net_pnl).sum::<f64>() - pnl).abs() < 0.005);
        // The total row is the report's own statistics, exactly.
        let m = &report.metrics;
        assert_eq!(t.trades, m.trades);
        assert_eq!(t.win_rate_pct, m.win_rate_pct);
        assert_eq!(t.commissions, m.commissions);
        assert_eq!(t.best_trade_pct, m.best_trade_pct);
        assert_eq!(t.worst_trade_pct, m.worst_trade_pct);
        assert_eq!(t.avg_trade_pct, m.avg_trade_pct);
        assert_eq!(t.exposure_time_pct, m.exposure_time_pct);

        // The summary's table: a line per symbol and the total, in the run's symbol order.
        let table = symbol_table(by);
        let cells: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(cells.len(), 4, "{table}");
        assert_eq!(cells[0][..3], ["symbol", "trades", "win_rate_pct"]);
        assert_eq!(
            cells[1],
            ["A", "2", "50.00", "16.00", "41.03", "1.60", "4.00", "83.33"]
        );
        assert_eq!(
            cells[2],
            [
                "B", "1", "100.00", "23.00", "58.97", "2.30", "2.00", "66.67"
            ]
        );
        assert_eq!(
            cells[3],
            [
                "total", "3", "66.67", "39.00", "100.00", "3.90", "6.00", "83.33"
            ]
        );

        // Read back from the JSON (a report stored before the section existed): the same rows.
        let mut json = serde_json::to_value(&report).expect("json");
        let stored = json.as_object_mut().expect("object");
        let built = stored.remove("by_symbol").expect("by_symbol in the report");
        by_symbol::fill_missing(stored);
        let read: BySymbol = serde_json::from_value(stored["by_symbol"].clone()).expect("rows");
        let built: BySymbol = serde_json::from_value(built).expect("rows");
        assert_eq!(read.symbols.len(), 2);
        for (r, b) in read
            .symbols
            .iter()
            .chain([&read.total])
            .zip(built.symbols.iter().chain([&built.total]))
        {
            assert_eq!(
                (&r.symbol, r.trades, r.open_trades),
                (&b.symbol, b.trades, b.open_trades)
            );
            assert!(
                (r.net_pnl - b.net_pnl).abs() < 1e-9
                    && close(r.avg_trade_pct, b.avg_trade_pct.unwrap_or(f64::NAN))
            );
            assert_eq!(r.exposure_time_pct, b.exposure_time_pct);
            assert_eq!(r.contribution_pct, b.contribution_pct);
        }
    }

    #[test]
    fn one_symbol_has_one_row() {
        let bt = Backtest::new(vec![series("X", &[10.0; 4])]).expect("series");
        let cfg = config(100.0, Commission::default());
        let result = bt.run(&mut Script(vec![], 0), &cfg, None).expect("runs");
        let info = StrategyInfo {
            name: "none".into(),
            sha256: String::new(),
            params: Default::default(),
            limits: None,
        };
        let by = build(&bt, &cfg, info, &result).by_symbol;
        assert_eq!(by.symbols.len(), 1);
        assert_eq!(by.symbols[0].symbol.as_deref(), Some("X"));
        assert_eq!((by.symbols[0].trades, by.total.trades), (0, 0));
        assert_eq!(
            (by.total.win_rate_pct, by.total.pnl_share_pct),
            (None, None)
        );
        assert_eq!(by.total.contribution_pct, Some(0.0));
        assert_eq!(symbol_table(&by), "", "one row would repeat the summary");
    }
}
