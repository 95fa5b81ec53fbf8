//! The printable one-page tearsheet of a done backtest (`GET /backtests/{id}/report.html`):
//! headline figures, the equity curve with buy & hold, the underwater (drawdown) curve, monthly
//! returns, a portfolio backtest's per-symbol breakdown ([`by_symbol`]), the parameters and
//! broker/fill settings, and a summary of the trades, rendered from the stored report as one
//! self-contained HTML page (inline CSS and SVG).
//!
//! Hand-written rather than through a template crate: one page, one escape function ([`esc`]),
//! and no proc-macro crate added to a build that runs on two cores
//! (docs/adr/0021-hand-written-tearsheet.md).
//!
//! # Invariants
//! - Every text that comes from the store or a request (strategy name, parameters, symbols,
//!   times) goes through [`esc`]: a `<script>` in a strategy name is shown, never run.
//! - The page makes no request: no `src`/`href` to anything, no script; the route's own
//!   Content Security Policy ([`CSP`]) refuses them anyway.
//! - Times are UTC and labelled so; intraday timeframes show date and time, daily and longer the
//!   date only.
//! - Charts draw at most [`MAX_POINTS`] points whatever the length of the curve, so a page stays
//!   small for a year of minutes.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Utc};
use serde_json::Value;

use crate::domain::Timeframe;

mod by_symbol;

/// The tearsheet's Content Security Policy: inline styles only; no script, no request.
pub(crate) const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Most points a chart draws (the curve is bucketed down to this).
pub const MAX_POINTS: usize = 600;

const W: f64 = 720.0;
const H: f64 = 200.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 22.0;

/// What the page is rendered from.
pub struct Input<'a> {
    /// Backtest id.
    pub id: i64,
    /// The whole report (`weaver backtest --report` JSON).
    pub report: &'a Value,
    /// The request it was run with (`config` of `GET /backtests/{id}`).
    pub request: &'a Value,
    /// The benchmark's closes by time (epoch ms, ascending), for the buy & hold line; empty when
    /// its candles are no longer stored.
    pub benchmark: &'a [(i64, f64)],
    /// When the page was made.
    pub now: DateTime<Utc>,
}

/// HTML-escapes text (element content and quoted attribute values alike).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Epoch milliseconds of an RFC 3339 time.
fn millis(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// Whether the timeframe's bars are shorter than a day (times then need the time of day).
pub fn intraday(timeframe: &str) -> bool {
    Timeframe::from_str(timeframe).map_or(true, |t| t.nominal_millis() < 86_400_000)
}

/// A time as the page shows it: `2024-01-02 15:04` (intraday) or `2024-01-02`, in UTC.
fn when(ms: i64, intraday: bool) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(String::new, |d| {
        if intraday {
            d.format("%Y-%m-%d %H:%M").to_string()
        } else {
            d.format("%Y-%m-%d").to_string()
        }
    })
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |x| format!("{x:.2}%"))
}

fn fixed(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".into(), |x| format!("{x:.digits$}"))
}

fn money(v: Option<f64>) -> String {
    v.map_or_else(
        || "—".into(),
        |x| {
            let sign = if x < 0.0 { "-" } else { "" };
            let cents = (x.abs() * 100.0).round() as u128;
            let (whole, frac) = (cents / 100, cents % 100);
            let digits = whole.to_string();
            let mut grouped = String::new();
            for (i, ch) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    grouped.push(',');
                }
                grouped.push(ch);
            }
            format!("{sign}${grouped}.{frac:02}")
        },
    )
}

/// A JSON value as one line of text (strings without their quotes).
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// One equity point.
#[derive(Debug, Clone, Copy)]
struct Point {
    ts: i64,
    equity: f64,
    drawdown_pct: f64,
}

fn points(report: &Value) -> Vec<Point> {
    report["equity"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| {
                    Some(Point {
                        ts: millis(r["ts"].as_str()?)?,
                        equity: num(&r["equity"])?,
                        drawdown_pct: num(&r["drawdown_pct"]).unwrap_or(0.0),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The curve in at most [`MAX_POINTS`] buckets: each keeps its last equity and its deepest
/// drawdown, so the worst moment survives the thinning.
fn thin(p: &[Point]) -> Vec<Point> {
    if p.len() <= MAX_POINTS {
        return p.to_vec();
    }
    let per = p.len().div_ceil(MAX_POINTS);
    p.chunks(per)
        .filter_map(|c| {
            let last = *c.last()?;
            let deepest = c.iter().map(|x| x.drawdown_pct).fold(0.0, f64::max);
            Some(Point {
                drawdown_pct: deepest,
                ..last
            })
        })
        .collect()
}

/// About `n` round tick values covering `lo..=hi`.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).abs().max(f64::EPSILON);
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    // Whole multiples of the step (not a running sum), so zero is exactly zero, never -0.
    let first = (lo / step).ceil() as i64;
    (0..20)
        .map(|k| (first + k) as f64 * step)
        .take_while(|t| *t <= hi + step * 1e-9)
        .map(|t| if t == 0.0 { 0.0 } else { t })
        .collect()
}

/// Maps a value range onto the plot's height (top = `hi`).
fn y_of(v: f64, lo: f64, hi: f64) -> f64 {
    let span = (hi - lo).abs().max(f64::EPSILON);
    TOP + (hi - v) / span * (H - TOP - BOTTOM)
}

fn x_of(i: usize, n: usize) -> f64 {
    let w = W - LEFT - RIGHT;
    if n <= 1 {
        LEFT
    } else {
        LEFT + i as f64 / (n - 1) as f64 * w
    }
}

fn polyline(values: &[f64], lo: f64, hi: f64) -> String {
    let mut s = String::new();
    for (i, v) in values.iter().enumerate() {
        let _ = write!(s, "{:.1},{:.1} ", x_of(i, values.len()), y_of(*v, lo, hi));
    }
    s
}

/// The frame of a chart: y grid lines with labels, and up to five time labels along x.
fn frame(
    out: &mut String,
    lo: f64,
    hi: f64,
    label: &dyn Fn(f64) -> String,
    times: &[i64],
    intraday: bool,
) {
    for t in ticks(lo, hi, 4) {
        let y = y_of(t, lo, hi);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{:.0}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"grid\"/>\
             <text x=\"{:.0}\" y=\"{:.1}\" class=\"yl\">{}</text>",
            W - RIGHT,
            LEFT - 4.0,
            y + 3.0,
            esc(&label(t))
        );
    }
    let n = times.len();
    if n == 0 {
        return;
    }
    let marks = 5.min(n);
    for k in 0..marks {
        let i = if marks == 1 {
            0
        } else {
            k * (n - 1) / (marks - 1)
        };
        let anchor = match k {
            0 => "start",
            k if k + 1 == marks => "end",
            _ => "middle",
        };
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.0}\" text-anchor=\"{anchor}\" class=\"xl\">{}</text>",
            x_of(i, n),
            H - 6.0,
            esc(&when(times[i], intraday))
        );
    }
}

/// Buy & hold as equity: the starting equity moved like the benchmark from the warm-up bar.
fn buy_and_hold(p: &[Point], bench: &[(i64, f64)], start_equity: f64, from: i64) -> Vec<f64> {
    let close_at = |ts: i64| -> Option<f64> {
        let i = bench.partition_point(|(t, _)| *t <= ts);
        i.checked_sub(1).map(|i| bench[i].1)
    };
    let Some(base) = close_at(from).filter(|c| *c > 0.0) else {
        return Vec::new();
    };
    p.iter()
        .map(|x| {
            if x.ts < from {
                start_equity
            } else {
                close_at(x.ts).map_or(start_equity, |c| start_equity * c / base)
            }
        })
        .collect()
}

fn equity_chart(out: &mut String, p: &[Point], bh: &[f64], intraday: bool) {
    let eq: Vec<f64> = p.iter().map(|x| x.equity).collect();
    let all = eq.iter().chain(bh.iter());
    let lo = all.clone().copied().fold(f64::INFINITY, f64::min);
    let hi = all.copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let (lo, hi) = (lo - pad, hi + pad);
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"Equity\">"
    );
    let times: Vec<i64> = p.iter().map(|x| x.ts).collect();
    frame(out, lo, hi, &|v: f64| money(Some(v)), &times, intraday);
    if !bh.is_empty() {
        let _ = write!(
            out,
            "<polyline points=\"{}\" class=\"bh\"/>",
            polyline(bh, lo, hi)
        );
    }
    let _ = write!(
        out,
        "<polyline points=\"{}\" class=\"eq\"/></svg>",
        polyline(&eq, lo, hi)
    );
}

fn underwater_chart(out: &mut String, p: &[Point], intraday: bool) {
    let dd: Vec<f64> = p.iter().map(|x| -x.drawdown_pct).collect();
    let lo = dd.iter().copied().fold(0.0, f64::min);
    let lo = if lo > -1.0 { -1.0 } else { lo * 1.05 };
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"Drawdown\">"
    );
    let times: Vec<i64> = p.iter().map(|x| x.ts).collect();
    frame(out, lo, 0.0, &|v: f64| format!("{v:.0}%"), &times, intraday);
    if !dd.is_empty() {
        let mut area = polyline(&dd, lo, 0.0);
        let y0 = y_of(0.0, lo, 0.0);
        let _ = write!(
            area,
            "{:.1},{y0:.1} {:.1},{y0:.1}",
            x_of(dd.len() - 1, dd.len()),
            x_of(0, dd.len())
        );
        let _ = write!(out, "<polygon points=\"{area}\" class=\"dd\"/>");
    }
    out.push_str("</svg>");
}

/// Month-end returns, percent, by (year, month 1–12): each month from the last equity of the
/// month before (the first from the starting equity).
pub fn monthly_returns(equity: &[(i64, f64)]) -> Vec<(i32, u32, f64)> {
    let mut out = Vec::new();
    let Some(&(_, first)) = equity.first() else {
        return out;
    };
    let mut prev_close = first;
    let mut current: Option<(i32, u32, f64)> = None;
    for &(ts, e) in equity {
        let Some(d) = DateTime::<Utc>::from_timestamp_millis(ts) else {
            continue;
        };
        let key = (d.year(), d.month());
        match current {
            Some((y, m, last)) if (y, m) != key => {
                out.push((y, m, (last / prev_close - 1.0) * 100.0));
                prev_close = last;
                current = Some((key.0, key.1, e));
            }
            _ => current = Some((key.0, key.1, e)),
        }
    }
    if let Some((y, m, last)) = current {
        out.push((y, m, (last / prev_close - 1.0) * 100.0));
    }
    out
}

/// A heatmap cell's background: green for gains, red for losses, deeper with size (±10% full).
fn heat(r: f64) -> String {
    let a = (r.abs() / 10.0).min(1.0) * 0.75 + 0.08;
    if r >= 0.0 {
        format!("rgba(22,163,74,{a:.2})")
    } else {
        format!("rgba(220,38,38,{a:.2})")
    }
}

fn monthly_table(out: &mut String, months: &[(i32, u32, f64)]) {
    const NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    out.push_str("<table class=\"heat\"><thead><tr><th>Year</th>");
    for n in NAMES {
        let _ = write!(out, "<th>{n}</th>");
    }
    out.push_str("<th>Year</th></tr></thead><tbody>");
    let mut years: Vec<i32> = months.iter().map(|m| m.0).collect();
    years.dedup();
    for y in years {
        let _ = write!(out, "<tr><th>{y}</th>");
        let mut compound = 1.0;
        for m in 1..=12u32 {
            match months.iter().find(|x| x.0 == y && x.1 == m) {
                Some(&(_, _, r)) => {
                    compound *= 1.0 + r / 100.0;
                    let _ = write!(out, "<td style=\"background:{}\">{r:.1}</td>", heat(r));
                }
                None => out.push_str("<td></td>"),
            }
        }
        let yr = (compound - 1.0) * 100.0;
        let _ = write!(
            out,
            "<td style=\"background:{}\"><b>{yr:.1}</b></td></tr>",
            heat(yr)
        );
    }
    out.push_str("</tbody></table>");
}

/// `key: value` rows of a JSON object, nested objects as `outer.inner`.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        other => out.push((prefix.to_owned(), plain(other))),
    }
}

fn kv_table(out: &mut String, rows: &[(String, String)]) {
    if rows.is_empty() {
        out.push_str("<p class=\"muted\">None.</p>");
        return;
    }
    out.push_str("<table class=\"kv\">");
    for (k, v) in rows {
        let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    out.push_str("</table>");
}

fn trades_summary(out: &mut String, report: &Value) {
    let trades = report["trades"].as_array().cloned().unwrap_or_default();
    let pnl: Vec<f64> = trades.iter().filter_map(|t| num(&t["pnl"])).collect();
    let wins: Vec<f64> = pnl.iter().copied().filter(|p| *p > 0.0).collect();
    let losses: Vec<f64> = pnl.iter().copied().filter(|p| *p <= 0.0).collect();
    let avg = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let longs = trades
        .iter()
        .filter(|t| num(&t["size"]).is_some_and(|s| s > 0.0))
        .count();
    let m = &report["metrics"];
    let open = report["open_trades"].as_array().map_or(0, Vec::len);
    let rows = vec![
        ("Closed trades".to_owned(), trades.len().to_string()),
        (
            "Long / short".to_owned(),
            format!("{longs} / {}", trades.len() - longs),
        ),
        (
            "Winners / losers".to_owned(),
            format!("{} / {}", wins.len(), losses.len()),
        ),
        ("Open at the end".to_owned(), open.to_string()),
        ("Net P&L".to_owned(), money(Some(pnl.iter().sum()))),
        ("Average winner".to_owned(), money(avg(&wins))),
        ("Average loser".to_owned(), money(avg(&losses))),
        ("Best trade".to_owned(), pct(num(&m["best_trade_pct"]))),
        ("Worst trade".to_owned(), pct(num(&m["worst_trade_pct"]))),
        (
            "Average duration".to_owned(),
            num(&m["avg_trade_duration_days"]).map_or("—".into(), |d| format!("{d:.1} d")),
        ),
        ("Commissions".to_owned(), money(num(&m["commissions"]))),
    ];
    kv_table(out, &rows);
}

const STYLE: &str = "*{box-sizing:border-box}body{font:12px/1.4 system-ui,-apple-system,'Segoe UI',\
Roboto,sans-serif;color:#111827;margin:0 auto;max-width:780px;padding:16px}h1{font-size:20px;\
margin:0}h2{font-size:13px;margin:14px 0 4px;text-transform:uppercase;letter-spacing:.04em;\
color:#374151}.sub,.muted{color:#6b7280}.kpis{display:grid;grid-template-columns:repeat(6,1fr);\
gap:6px;margin-top:10px}.kpi{border:1px solid #e5e7eb;border-radius:4px;padding:4px 6px}\
.kpi b{display:block;font-size:15px}.kpi span{color:#6b7280;font-size:10px}svg{width:100%;\
height:auto;display:block}.grid{stroke:#e5e7eb}.yl{font-size:10px;fill:#6b7280;\
text-anchor:end}.xl{font-size:10px;fill:#6b7280}.eq{fill:none;stroke:#2563eb;stroke-width:1.5}\
.bh{fill:none;stroke:#9ca3af;stroke-width:1.2;stroke-dasharray:4 3}.dd{fill:rgba(220,38,38,.25);\
stroke:#dc2626;stroke-width:1}.legend i{display:inline-block;width:14px;height:0;border-top:2px \
solid #2563eb;margin:0 4px 3px 8px}.legend i.b{border-top:2px dashed #9ca3af}table{\
border-collapse:collapse;width:100%}.heat td,.heat th{border:1px solid #e5e7eb;text-align:right;\
padding:2px 4px;font-size:10px}.sym td,.sym th{border:1px solid #e5e7eb;text-align:right;\
padding:2px 4px;font-size:10px}.sym td:first-child,.sym th:first-child{text-align:left;\
word-break:break-all}.sym tfoot{font-weight:bold}.kv th{text-align:left;font-weight:normal;color:#6b7280;\
padding:1px 6px 1px 0;width:45%}.kv td{padding:1px 0;word-break:break-all}.cols{display:grid;\
grid-template-columns:1fr 1fr 1fr;gap:16px}footer{margin-top:12px;color:#9ca3af;font-size:10px}\
@media print{body{padding:0;max-width:none}@page{size:A4;margin:10mm}section{break-inside:avoid}}";

fn kpi(out: &mut String, label: &str, value: &str) {
    let _ = write!(
        out,
        "<div class=\"kpi\"><b>{}</b><span>{}</span></div>",
        esc(value),
        esc(label)
    );
}

/// The page.
pub fn render(inp: &Input<'_>) -> String {
    let r = inp.report;
    let m = &r["metrics"];
    let name = r["strategy"]["name"].as_str().unwrap_or("strategy");
    let timeframe = inp.request["timeframe"].as_str().unwrap_or("");
    let symbols: Vec<String> = inp.request["symbols"]
        .as_array()
        .map(|s| s.iter().map(plain).collect())
        .unwrap_or_default();
    let intra = intraday(timeframe);
    let all = points(r);
    let start_equity = all.first().map_or(0.0, |p| p.equity);
    let shown = thin(&all);
    let warmup = r["warmup"]["bars"].as_u64().unwrap_or(0) as usize;
    let from = all
        .get(warmup.min(all.len().saturating_sub(1)))
        .map_or(0, |p| p.ts);
    let bh = buy_and_hold(&shown, inp.benchmark, start_equity, from);
    let months = monthly_returns(&all.iter().map(|p| (p.ts, p.equity)).collect::<Vec<_>>());
    let span = match (all.first(), all.last()) {
        (Some(a), Some(b)) => format!("{} – {} UTC", when(a.ts, intra), when(b.ts, intra)),
        _ => "no bars".into(),
    };

    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Backtest {} · {}</title><style>{STYLE}</style></head><body>",
        inp.id,
        esc(name)
    );
    let _ = write!(
        o,
        "<header><h1>{}</h1><div class=\"sub\">Backtest #{} · {} · {} · {}</div></header>",
        esc(name),
        inp.id,
        esc(&symbols.join(", ")),
        esc(timeframe),
        esc(&span)
    );
    o.push_str("<section class=\"kpis\">");
    kpi(&mut o, "Return", &pct(num(&m["return_pct"])));
    kpi(&mut o, "Buy & hold", &pct(num(&m["buy_hold_return_pct"])));
    kpi(&mut o, "CAGR", &pct(num(&m["cagr_pct"])));
    kpi(&mut o, "Sharpe", &fixed(num(&m["sharpe"]), 2));
    kpi(&mut o, "Sortino", &fixed(num(&m["sortino"]), 2));
    kpi(&mut o, "Max drawdown", &pct(num(&m["max_drawdown_pct"])));
    kpi(&mut o, "Final equity", &money(num(&m["equity_final"])));
    kpi(
        &mut o,
        "Volatility (ann.)",
        &pct(num(&m["volatility_ann_pct"])),
    );
    kpi(&mut o, "Trades", &plain(&m["trades"]));
    kpi(&mut o, "Win rate", &pct(num(&m["win_rate_pct"])));
    kpi(&mut o, "Profit factor", &fixed(num(&m["profit_factor"]), 2));
    kpi(&mut o, "Exposure", &pct(num(&m["exposure_time_pct"])));
    o.push_str("</section>");

    let bench_name = symbols.first().cloned().unwrap_or_default();
    let _ = write!(
        o,
        "<section><h2>Equity</h2><div class=\"legend muted\"><i></i>strategy{}</div>",
        if bh.is_empty() {
            " · buy &amp; hold: its candles are no longer stored".to_owned()
        } else {
            format!("<i class=\"b\"></i>buy &amp; hold {}", esc(&bench_name))
        }
    );
    equity_chart(&mut o, &shown, &bh, intra);
    o.push_str("</section><section><h2>Drawdown (underwater, %)</h2>");
    underwater_chart(&mut o, &shown, intra);
    o.push_str("</section><section><h2>Monthly returns (%)</h2>");
    monthly_table(&mut o, &months);
    o.push_str("</section>");
    by_symbol::section(&mut o, r);
    o.push_str("<section class=\"cols\"><div><h2>Parameters</h2>");
    let mut params = Vec::new();
    flatten("", &r["strategy"]["params"], &mut params);
    params.retain(|(k, _)| !k.is_empty());
    // The warm-up shapes buy & hold and the statistics: shown with the parameters.
    params.push((
        "warm-up (bars)".into(),
        format!(
            "{} ({})",
            plain(&r["warmup"]["bars"]),
            r["warmup"]["source"].as_str().unwrap_or("—")
        ),
    ));
    kv_table(&mut o, &params);
    o.push_str("</div><div><h2>Broker &amp; fills</h2>");
    let mut settings = Vec::new();
    let mut config = r["config"].clone();
    if let Value::Object(c) = &mut config {
        c.remove("params");
    }
    flatten("", &config, &mut settings);
    settings.retain(|(k, _)| !k.is_empty());
    kv_table(&mut o, &settings);
    o.push_str("</div><div><h2>Trades</h2>");
    trades_summary(&mut o, r);
    let _ = write!(
        o,
        "</div></section><footer>Weaver · backtest #{} · times in UTC · made {} UTC</footer></body></html>",
        inp.id,
        inp.now.format("%Y-%m-%d %H:%M")
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn monthly_returns_chain_month_ends() {
        let day = 86_400_000;
        // 2024-01-01 .. : Jan ends at 110, Feb ends at 99.
        let jan1 = 1_704_067_200_000;
        let eq = [
            (jan1, 100.0),
            (jan1 + 10 * day, 110.0),
            (jan1 + 35 * day, 120.0),
            (jan1 + 40 * day, 99.0),
        ];
        let m = monthly_returns(&eq);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].0, m[0].1), (2024, 1));
        assert!((m[0].2 - 10.0).abs() < 1e-9);
        assert_eq!((m[1].0, m[1].1), (2024, 2));
        assert!((m[1].2 - (99.0 / 110.0 - 1.0) * 100.0).abs() < 1e-9);
    }

    #[test]
    fn thinning_keeps_the_deepest_drawdown() {
        let p: Vec<Point> = (0..10_000)
            .map(|i| Point {
                ts: i,
                equity: 100.0,
                drawdown_pct: if i == 4321 { 37.0 } else { 1.0 },
            })
            .collect();
        let t = thin(&p);
        assert!(t.len() <= MAX_POINTS);
        assert!(t.iter().any(|x| x.drawdown_pct == 37.0));
    }

    #[test]
    fn times_show_the_clock_only_for_intraday_bars() {
        assert!(intraday("1Min"));
        assert!(intraday("4Hour"));
        assert!(!intraday("1Day"));
        assert!(!intraday("1Week"));
        assert_eq!(
            when(1_704_067_200_000 + 3_600_000, true),
            "2024-01-01 01:00"
        );
        assert_eq!(when(1_704_067_200_000, false), "2024-01-01");
    }

    /// A report of `symbols` as `render` reads it: a day of equity and the `by_symbol` rows.
    fn report_of(symbols: &[&str]) -> Value {
        let row = |s: Option<&str>| {
            serde_json::json!({"symbol": s, "trades": 2, "win_rate_pct": 50.0, "net_pnl": 10.0,
                "pnl_share_pct": 50.0, "contribution_pct": 0.1, "commissions": 1.0,
                "exposure_time_pct": 20.0})
        };
        serde_json::json!({
            "strategy": {"name": "s", "params": {}},
            "metrics": {"trades": 2 * symbols.len()},
            "equity": [{"ts": "2024-01-02T00:00:00Z", "equity": 10000.0, "drawdown_pct": 0.0}],
            "by_symbol": {
                "symbols": symbols.iter().map(|s| row(Some(s))).collect::<Vec<_>>(),
                "total": row(None),
            },
        })
    }

    #[test]
    fn the_page_has_a_by_symbol_table_only_for_several_symbols() {
        let page = |symbols: &[&str]| {
            let report = report_of(symbols);
            let request = serde_json::json!({"symbols": symbols, "timeframe": "1Day"});
            render(&Input {
                id: 1,
                report: &report,
                request: &request,
                benchmark: &[],
                now: DateTime::<Utc>::from_timestamp_millis(0).unwrap_or_default(),
            })
        };
        let two = page(&["AAPL", "MSFT"]);
        assert!(two.contains("<h2>By symbol (closed trades)</h2>"), "{two}");
        assert!(two.contains("<tr><td>AAPL</td>") && two.contains("<tr><td>MSFT</td>"));
        assert!(two.contains("<th scope=\"row\">Total</th>"));
        let one = page(&["AAPL"]);
        assert!(!one.contains("By symbol") && !one.contains("class=\"sym\""));
    }

    #[test]
    fn money_groups_thousands() {
        assert_eq!(money(Some(12345.678)), "$12,345.68");
        assert_eq!(money(Some(-5.0)), "-$5.00");
        assert_eq!(money(None), "—");
    }
}
