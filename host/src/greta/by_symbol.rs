//! The report's per-symbol breakdown (`by_symbol`): for each symbol of a backtest, what its
//! closed trades made of the one shared cash account (trades, win rate, net PnL, its share of
//! the total and its contribution to the return, commissions, best, worst and average trade,
//! exposure), plus a `total` row over every trade.
//!
//! A report built by [`super::report::build`] carries it; a report stored before it existed
//! gets it on read ([`fill_missing`], called by `greta::jobs::report_of`) from its stored
//! trades, open trades, equity curve and starting cash, so `GET /backtests/{id}` shows the
//! section for every done backtest.
//!
//! # Invariants
//! - Only closed trades count, as in the report's `metrics`; a position still open at the end
//!   shows as `open_trades` and is in no PnL figure here (its unrealised PnL is in the equity
//!   curve and `return_pct` only).
//! - `total` is computed with the formulas and summation order of `metrics::compute`, so its
//!   `trades`, `win_rate_pct`, `commissions`, `best_trade_pct`, `worst_trade_pct`,
//!   `avg_trade_pct` and `exposure_time_pct` equal the report's `metrics` (bit for bit when
//!   built with the report; on read, trade returns come back from their stored percentages and
//!   may differ in the last bits).
//! - The rows' `net_pnl` add up to `total.net_pnl` up to float rounding (far below a cent).
//! - A symbol's exposure counts the run's timestamps inside one of its trades; rows may overlap,
//!   so their exposures do not add up to the total's.

use serde::{Deserialize, Serialize};

use super::metrics::{exposed_bars, geometric_mean};

/// The closed-trade figures of one symbol, or of all of them (`total`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolStats {
    /// The symbol; absent in `total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// Closed trades.
    pub trades: usize,
    /// Trades still open at the end (in no PnL figure here).
    pub open_trades: usize,
    /// Share of closed trades with a positive net PnL, percent; null without trades.
    pub win_rate_pct: Option<f64>,
    /// Sum of the closed trades' PnL after commissions, in account currency.
    pub net_pnl: f64,
    /// `net_pnl` as a share of the total's `net_pnl`, percent (negative when it went the other
    /// way); null when the total is 0.
    pub pnl_share_pct: Option<f64>,
    /// `net_pnl` as a percentage of the starting cash: the symbol's contribution to the return.
    /// Null when the starting cash is unknown (a stored report without it).
    pub contribution_pct: Option<f64>,
    /// Entry and exit commissions of the closed trades.
    pub commissions: f64,
    /// Best closed trade's return, percent; null without trades.
    pub best_trade_pct: Option<f64>,
    /// Worst closed trade's return, percent; null without trades.
    pub worst_trade_pct: Option<f64>,
    /// Geometric mean of the closed trades' returns, percent (the metrics' `avg_trade_pct`).
    pub avg_trade_pct: Option<f64>,
    /// Timestamps of the run inside one of the closed trades, as a percentage of all of them.
    pub exposure_time_pct: f64,
}

/// The `by_symbol` section of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BySymbol {
    /// One row per symbol, in the run's symbol order.
    pub symbols: Vec<SymbolStats>,
    /// Every closed trade together: equals the report's `metrics` (see the module's invariants).
    pub total: SymbolStats,
}

/// One closed trade, as far as the breakdown needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TradeFigures {
    /// Index into the symbol list the breakdown is computed over.
    pub symbol: usize,
    /// PnL after commissions.
    pub pnl: f64,
    /// Entry plus exit commission.
    pub commission: f64,
    /// Return as a fraction, net of commission.
    pub return_frac: f64,
    /// Entry timestamp index.
    pub entry_bar: usize,
    /// Exit timestamp index.
    pub exit_bar: usize,
}

/// The breakdown of `trades` over `symbols`, for a run of `bars` timestamps that started with
/// `cash` (`None`: unknown). `open` holds the symbol index of each trade still open.
pub fn compute(
    symbols: &[String],
    trades: &[TradeFigures],
    open: &[usize],
    bars: usize,
    cash: Option<f64>,
) -> BySymbol {
    let all: Vec<&TradeFigures> = trades.iter().collect();
    let mut total = stats(None, &all, open.len(), bars, cash, None);
    let total_pnl = total.net_pnl;
    total.pnl_share_pct = share(total_pnl, total_pnl);
    let rows = symbols
        .iter()
        .enumerate()
        .map(|(s, name)| {
            let mine: Vec<&TradeFigures> = trades.iter().filter(|t| t.symbol == s).collect();
            let opened = open.iter().filter(|&&o| o == s).count();
            stats(
                Some(name.clone()),
                &mine,
                opened,
                bars,
                cash,
                Some(total_pnl),
            )
        })
        .collect();
    BySymbol {
        symbols: rows,
        total,
    }
}

fn share(part: f64, whole: f64) -> Option<f64> {
    finite(part / whole * 100.0).filter(|_| whole != 0.0)
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The figures of `trades` (in run order), with the formulas of `metrics::compute`.
fn stats(
    symbol: Option<String>,
    trades: &[&TradeFigures],
    open_trades: usize,
    bars: usize,
    cash: Option<f64>,
    total_pnl: Option<f64>,
) -> SymbolStats {
    let nt = trades.len();
    let rets: Vec<f64> = trades.iter().map(|t| t.return_frac).collect();
    let win = if nt == 0 {
        f64::NAN
    } else {
        trades.iter().filter(|t| t.pnl > 0.0).count() as f64 / nt as f64
    };
    let net_pnl: f64 = trades.iter().map(|t| t.pnl).sum();
    let exposed = if bars == 0 {
        0
    } else {
        exposed_bars(trades.iter().map(|t| (t.entry_bar, t.exit_bar)), bars)
    };
    SymbolStats {
        symbol,
        trades: nt,
        open_trades,
        win_rate_pct: finite(win * 100.0),
        net_pnl,
        pnl_share_pct: total_pnl.and_then(|whole| share(net_pnl, whole)),
        contribution_pct: cash.and_then(|c| share(net_pnl, c)),
        commissions: trades.iter().map(|t| t.commission).sum(),
        best_trade_pct: finite(rets.iter().copied().fold(f64::NAN, f64::max) * 100.0),
        worst_trade_pct: finite(rets.iter().copied().fold(f64::NAN, f64::min) * 100.0),
        avg_trade_pct: finite(geometric_mean(&rets) * 100.0),
        exposure_time_pct: if bars == 0 {
            0.0
        } else {
            exposed as f64 / bars as f64 * 100.0
        },
    }
}

/// The breakdown of a stored report (the `weaver backtest --report` JSON) from its `data`,
/// `trades`, `open_trades`, `equity` (one point per timestamp) and `config.broker.cash`.
/// `None` when it has no trade list or equity curve to compute from.
pub fn from_report(report: &serde_json::Map<String, serde_json::Value>) -> Option<BySymbol> {
    let trades = report.get("trades")?.as_array()?;
    let bars = report.get("equity")?.as_array()?.len();
    let mut symbols: Vec<String> = report
        .get("data")
        .and_then(|d| d.as_array())
        .into_iter()
        .flatten()
        .filter_map(|d| d.get("symbol")?.as_str().map(str::to_owned))
        .collect();
    let mut index = |name: &str| match symbols.iter().position(|s| s == name) {
        Some(i) => i,
        None => {
            symbols.push(name.to_owned());
            symbols.len() - 1
        }
    };
    let num = |row: &serde_json::Value, key: &str| row.get(key).and_then(|v| v.as_f64());
    let bar = |row: &serde_json::Value, key: &str| {
        row.get(key)
            .and_then(|v| v.as_u64())
            .and_then(|b| usize::try_from(b).ok())
    };
    let mut figures = Vec::with_capacity(trades.len());
    for row in trades {
        let name = row.get("symbol").and_then(|s| s.as_str()).unwrap_or("");
        figures.push(TradeFigures {
            symbol: index(name),
            pnl: num(row, "pnl").unwrap_or(0.0),
            commission: num(row, "commission").unwrap_or(0.0),
            return_frac: num(row, "return_pct").map_or(f64::NAN, |p| p / 100.0),
            entry_bar: bar(row, "entry_bar").unwrap_or(0),
            exit_bar: bar(row, "exit_bar").unwrap_or(0),
        });
    }
    let open: Vec<usize> = report
        .get("open_trades")
        .and_then(|o| o.as_array())
        .into_iter()
        .flatten()
        .map(|row| index(row.get("symbol").and_then(|s| s.as_str()).unwrap_or("")))
        .collect();
    let cash = report
        .get("config")
        .and_then(|c| c.get("broker"))
        .and_then(|b| b.get("cash"))
        .and_then(|c| c.as_f64());
    Some(compute(&symbols, &figures, &open, bars, cash))
}

/// Adds `by_symbol` to a whole stored report that lacks it (one stored before the section
/// existed), computed from its trades ([`from_report`]); a report that has it is left as it is.
pub fn fill_missing(report: &mut serde_json::Map<String, serde_json::Value>) {
    if report.contains_key("by_symbol") {
        return;
    }
    if let Some(value) = from_report(report).and_then(|b| serde_json::to_value(b).ok()) {
        report.insert("by_symbol".into(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored rows are input: bar indices past the curve, a trade of a symbol missing from
    /// `data`, no starting cash. Read without a panic, the unknown symbol gets a row of its own.
    #[test]
    fn odd_stored_reports_read_without_panicking() {
        let report = serde_json::json!({
            "data": [{"symbol": "A"}],
            "trades": [
                {"symbol": "A", "pnl": 5.0, "commission": 1.0, "return_pct": 5.0, "entry_bar": 50, "exit_bar": 60},
                {"symbol": "Z", "pnl": -1.0, "commission": 1.0, "return_pct": -1.0, "entry_bar": 1, "exit_bar": 0},
            ],
            "open_trades": [{"symbol": "A"}],
            "equity": [{}, {}],
        });
        let mut map = report.as_object().cloned().unwrap_or_default();
        fill_missing(&mut map);
        let by: BySymbol = serde_json::from_value(map["by_symbol"].clone()).expect("by_symbol");
        let names: Vec<_> = by.symbols.iter().map(|r| r.symbol.as_deref()).collect();
        assert_eq!(names, [Some("A"), Some("Z")]);
        assert_eq!(
            (by.total.trades, by.total.open_trades, by.total.net_pnl),
            (2, 1, 4.0)
        );
        assert_eq!(by.total.contribution_pct, None);
        assert_eq!(by.symbols[0].exposure_time_pct, 50.0);
        // Without trades or an equity curve there is nothing to compute from.
        let mut bare = serde_json::Map::new();
        fill_missing(&mut bare);
        assert!(!bare.contains_key("by_symbol"));
    }
}
