//! The tearsheet's "By symbol" table: what each symbol's closed trades made of a portfolio
//! backtest's one cash account (the report's `by_symbol`, computed by `greta::by_symbol`), one
//! row per symbol and the total last.
//!
//! # Invariants
//! - Shown only for more than one symbol, as on the dashboard's backtest page: the one row of a
//!   single-symbol report would repeat the headline figures.
//! - Read from the JSON as stored, like the rest of the page: a symbol name goes through
//!   [`esc`], every number is formatted (a missing or non-finite one is `—`), never inserted raw.

use std::fmt::Write as _;

use serde_json::Value;

use super::{esc, money, num, pct, plain};

/// The column headings, the symbol's first (already HTML: `&` is written `&amp;`).
const HEAD: [&str; 8] = [
    "Symbol",
    "Trades",
    "Win rate",
    "Net P&amp;L",
    "Share of P&amp;L",
    "Contribution",
    "Commissions",
    "Exposure",
];

/// Writes the "By symbol" section of `report` into `out` when its `by_symbol` has more than one
/// symbol row; writes nothing otherwise (one symbol, or a report without the section).
pub(super) fn section(out: &mut String, report: &Value) {
    let by = &report["by_symbol"];
    let Some(rows) = by["symbols"].as_array().filter(|rows| rows.len() > 1) else {
        return;
    };
    out.push_str("<section><h2>By symbol (closed trades)</h2><table class=\"sym\"><thead><tr>");
    for h in HEAD {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        row(out, "td", &plain(&r["symbol"]), r);
    }
    out.push_str("</tbody><tfoot>");
    row(out, "th", "Total", &by["total"]);
    out.push_str("</tfoot></table></section>");
}

/// One row: `label` in a `tag` cell (`th` for the total, a row heading), then the figures.
fn row(out: &mut String, tag: &str, label: &str, r: &Value) {
    let cells = [
        plain(&r["trades"]),
        pct(num(&r["win_rate_pct"])),
        money(num(&r["net_pnl"])),
        pct(num(&r["pnl_share_pct"])),
        pct(num(&r["contribution_pct"])),
        money(num(&r["commissions"])),
        pct(num(&r["exposure_time_pct"])),
    ];
    let scope = if tag == "th" { " scope=\"row\"" } else { "" };
    let _ = write!(out, "<tr><{tag}{scope}>{}</{tag}>", esc(label));
    for c in cells {
        let _ = write!(out, "<td>{}</td>", esc(&c));
    }
    out.push_str("</tr>");
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A `by_symbol` row as the report stores it.
    fn stats(symbol: Option<&str>, trades: u64, net_pnl: f64, share: Option<f64>) -> Value {
        let mut row = json!({
            "trades": trades, "open_trades": 0, "win_rate_pct": 50.0, "net_pnl": net_pnl,
            "pnl_share_pct": share, "contribution_pct": net_pnl / 100.0, "commissions": 12.5,
            "best_trade_pct": 3.0, "worst_trade_pct": -2.0, "avg_trade_pct": 0.5,
            "exposure_time_pct": 40.0,
        });
        if let Some(s) = symbol {
            row["symbol"] = json!(s);
        }
        row
    }

    fn rendered(report: &Value) -> String {
        let mut out = String::new();
        section(&mut out, report);
        out
    }

    #[test]
    fn a_two_symbol_report_shows_a_row_per_symbol_and_the_total() {
        let report = json!({"by_symbol": {
            "symbols": [
                stats(Some("AAPL"), 4, 1500.0, Some(150.0)),
                stats(Some("<b>MSFT</b>"), 3, -500.0, Some(-50.0)),
            ],
            "total": stats(None, 7, 1000.0, Some(100.0)),
        }});
        let html = rendered(&report);
        assert!(
            html.contains("<h2>By symbol (closed trades)</h2>"),
            "{html}"
        );
        assert_eq!(
            html.matches("<tr>").count(),
            4,
            "heading, two symbols, total: {html}"
        );
        assert!(
            html.contains(
                "<tr><td>AAPL</td><td>4</td><td>50.00%</td><td>$1,500.00</td><td>150.00%</td>\
                 <td>15.00%</td><td>$12.50</td><td>40.00%</td></tr>"
            ),
            "{html}"
        );
        // A symbol comes from the user: shown as text, never as markup.
        assert!(
            html.contains("<td>&lt;b&gt;MSFT&lt;/b&gt;</td><td>3</td>"),
            "{html}"
        );
        assert!(html.contains("<td>-$500.00</td><td>-50.00%</td>"), "{html}");
        assert!(!html.contains("<b>MSFT"), "{html}");
        assert!(
            html.contains(
                "<tfoot><tr><th scope=\"row\">Total</th><td>7</td><td>50.00%</td>\
                 <td>$1,000.00</td><td>100.00%</td><td>10.00%</td>"
            ),
            "{html}"
        );
    }

    #[test]
    fn a_one_symbol_report_or_one_without_the_section_shows_nothing() {
        let one = json!({"by_symbol": {
            "symbols": [stats(Some("AAPL"), 4, 1500.0, Some(100.0))],
            "total": stats(None, 4, 1500.0, Some(100.0)),
        }});
        assert_eq!(rendered(&one), "");
        assert_eq!(rendered(&json!({"metrics": {}})), "");
    }

    #[test]
    fn missing_figures_show_a_dash() {
        let mut bare = stats(Some("A"), 0, 0.0, None);
        bare["win_rate_pct"] = Value::Null;
        bare["contribution_pct"] = Value::Null;
        let report = json!({"by_symbol": {
            "symbols": [bare, stats(Some("B"), 1, 0.0, None)],
            "total": stats(None, 1, 0.0, None),
        }});
        let html = rendered(&report);
        assert!(
            html.contains("<tr><td>A</td><td>0</td><td>—</td><td>$0.00</td><td>—</td><td>—</td>"),
            "{html}"
        );
    }
}
