//! A done backtest's report as files to keep or publish: the whole report as a JSON download
//! (`GET /backtests/{id}/report.json`), its closed trades as CSV or JSON
//! (`GET /backtests/{id}/trades?format=csv|json`), and the printable tearsheet
//! (`GET /backtests/{id}/report.html`, rendered by [`super::tearsheet`]).
//!
//! Orders have no export here: a backtest's report holds its trades, not its orders (those are
//! the `backtest.PlaceOrder` events); a run's orders are exported by the dashboard from
//! `GET /orders`.
//!
//! # Invariants
//! - Read only: nothing is stored or changed.
//! - 404 `not_found` for an unknown backtest, 409 `backtest_not_done` while it has no report
//!   (as `GET /backtests/{id}/montecarlo`), 400 `invalid_parameter` for another `format`.
//! - Downloads carry `Content-Disposition: attachment` with a file name made of the id only
//!   (never of user text); the tearsheet is `inline`.
//! - CSV cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) are quoted
//!   with a leading `'` when they are text (symbols, times); numbers are written as numbers.

use axum::Router;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::http::{AppQuery, IdPath};
use super::tearsheet;
use crate::greta::jobs::report_of;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/backtests/{id}/report.json", get(report_json))
        .route("/backtests/{id}/report.html", get(report_html))
        .route("/backtests/{id}/trades", get(trades))
}

/// The columns of the trades CSV, in order (the report's trade fields).
pub const TRADE_COLUMNS: [&str; 11] = [
    "symbol",
    "entry_time",
    "exit_time",
    "entry_bar",
    "exit_bar",
    "size",
    "entry_price",
    "exit_price",
    "pnl",
    "commission",
    "return_pct",
];

/// How an export is written.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Comma-separated values with a header row.
    #[default]
    Csv,
    /// A JSON array.
    Json,
}

/// Query of `GET /backtests/{id}/trades`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `csv` (default) or `json`.
    pub format: Option<ExportFormat>,
}

/// A done backtest's stored request and report (404 unknown, 409 `backtest_not_done`).
pub(crate) async fn done(state: &AppState, id: i64) -> Result<(Value, Value), ApiError> {
    let b = state
        .inner
        .walle
        .backtest(id)
        .await?
        .ok_or(ApiError::NotFound {
            entity: "backtest",
            id: id.to_string(),
        })?;
    let report = report_of(&b).ok_or_else(|| ApiError::Conflict {
        code: "backtest_not_done",
        message: format!("backtest {id} has no report yet (status {:?})", b.status),
    })?;
    Ok((b.config.0, report))
}

/// A download: the body with its media type and an attachment file name.
fn download(body: Vec<u8>, mime: &'static str, file: &str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(mime));
    // The name is built from the numeric id and fixed words only: always a valid header.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(CONTENT_DISPOSITION, v);
    }
    resp
}

/// The whole report of a done backtest (what `GET /backtests/{id}` shows as `report`) as a
/// JSON file to download.
#[utoipa::path(get, path = "/backtests/{id}/report.json", tag = "backtests",
    params(("id" = i64, Path, description = "Backtest id")), responses(
    (status = 200, description = "The `weaver backtest --report` JSON, as an attachment", content_type = "application/json", body = serde_json::Value),
    (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, description = "`backtest_not_done`: the backtest has no report yet", body = ErrorBody)))]
pub async fn report_json(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let (_, report) = done(&state, id).await?;
    let body = serde_json::to_vec_pretty(&report).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(download(
        body,
        "application/json",
        &format!("backtest-{id}-report.json"),
    ))
}

/// A done backtest's closed trades as CSV (a header row, then one row per trade; columns
/// `symbol, entry_time, exit_time, entry_bar, exit_bar, size, entry_price, exit_price, pnl,
/// commission, return_pct`; times RFC 3339 UTC) or as a JSON array, to download.
#[utoipa::path(get, path = "/backtests/{id}/trades", tag = "backtests",
    params(("id" = i64, Path, description = "Backtest id"), ExportQuery), responses(
    (status = 200, description = "The closed trades, as an attachment", content(
        (String = "text/csv"), (Vec<serde_json::Value> = "application/json"))),
    (status = 400, description = "`invalid_parameter`: `format` is not `csv` or `json`", body = ErrorBody),
    (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, description = "`backtest_not_done`: the backtest has no report yet", body = ErrorBody)))]
pub async fn trades(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    AppQuery(q): AppQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let (_, report) = done(&state, id).await?;
    let rows = report["trades"].as_array().cloned().unwrap_or_default();
    match q.format.unwrap_or_default() {
        ExportFormat::Json => {
            let body = serde_json::to_vec(&rows).map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(download(
                body,
                "application/json",
                &format!("backtest-{id}-trades.json"),
            ))
        }
        ExportFormat::Csv => Ok(download(
            trades_csv(&rows)?,
            "text/csv; charset=utf-8",
            &format!("backtest-{id}-trades.csv"),
        )),
    }
}

/// The trades as CSV bytes.
///
/// # Errors
/// [`ApiError::Internal`] if the writer fails (it writes to memory).
pub fn trades_csv(rows: &[Value]) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| ApiError::Internal(e.to_string());
    w.write_record(TRADE_COLUMNS).map_err(internal)?;
    for row in rows {
        let cells: Vec<String> = TRADE_COLUMNS.iter().map(|c| cell(&row[*c])).collect();
        w.write_record(&cells).map_err(internal)?;
    }
    w.into_inner()
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// One CSV cell: numbers as JSON writes them (shortest round-trip), text defused against
/// formula injection, nothing for null.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) if s.starts_with(['=', '+', '-', '@']) => format!("'{s}"),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The printable one-page tearsheet of a done backtest: headline figures, equity with buy &
/// hold, underwater drawdown, monthly returns, the per-symbol table of a backtest of several
/// symbols, parameters, broker and fill settings, trades summary. Self-contained HTML (inline CSS and SVG, no script, no request); times in UTC.
#[utoipa::path(get, path = "/backtests/{id}/report.html", tag = "backtests",
    params(("id" = i64, Path, description = "Backtest id")), responses(
    (status = 200, description = "The tearsheet", content_type = "text/html", body = String),
    (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, description = "`backtest_not_done`: the backtest has no report yet", body = ErrorBody)))]
pub async fn report_html(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let (request, report) = done(&state, id).await?;
    let benchmark = benchmark(&state, &request, &report).await;
    let page = tearsheet::render(&tearsheet::Input {
        id,
        report: &report,
        request: &request,
        benchmark: &benchmark,
        now: chrono::Utc::now(),
    });
    let mut resp = (StatusCode::OK, page).into_response();
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_static("inline; filename=\"tearsheet.html\""),
    );
    // Stricter than the dashboard's: the page has an inline <style> and nothing else.
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(tearsheet::CSP),
    );
    Ok(resp)
}

/// Most candles read for the buy & hold line (beyond it the line is left out).
const MAX_BENCHMARK_BARS: i64 = 1_000_000;

/// The first symbol's stored closes over the report's span, for the buy & hold line; empty
/// when they are gone (or unreadable: the page is still worth showing without the line).
async fn benchmark(state: &AppState, request: &Value, report: &Value) -> Vec<(i64, f64)> {
    let (Some(symbol), Some(tf)) = (
        request["symbols"][0].as_str(),
        request["timeframe"].as_str(),
    ) else {
        return Vec::new();
    };
    let eq = report["equity"].as_array();
    let at = |i: Option<&Value>| {
        i.and_then(|r| r["ts"].as_str())
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&chrono::Utc))
    };
    let (Some(from), Some(to)) = (
        at(eq.and_then(|e| e.first())),
        at(eq.and_then(|e| e.last())),
    ) else {
        return Vec::new();
    };
    let to = to + chrono::Duration::milliseconds(1);
    match state
        .inner
        .walle
        .candles(symbol, tf, from, to, MAX_BENCHMARK_BARS)
        .await
    {
        Ok(c) => c
            .into_iter()
            .map(|c| (c.ts.timestamp_millis(), c.close))
            .collect(),
        Err(e) => {
            tracing::warn!(
                code = e.code(),
                "tearsheet: benchmark candles unreadable: {e}"
            );
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_the_header_and_defuses_formulas() {
        let rows = vec![serde_json::json!({
            "symbol": "=HYPERLINK(\"x\")", "entry_time": "2024-01-02T00:00:00Z",
            "exit_time": "2024-01-03T00:00:00Z", "entry_bar": 1, "exit_bar": 2, "size": -3.0,
            "entry_price": 10.5, "exit_price": 10.0, "pnl": 1.5, "commission": 0.01,
            "return_pct": 4.76
        })];
        let text = String::from_utf8(trades_csv(&rows).expect("csv")).expect("utf-8");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(TRADE_COLUMNS.join(",").as_str()));
        assert_eq!(
            lines.next(),
            Some(
                "\"'=HYPERLINK(\"\"x\"\")\",2024-01-02T00:00:00Z,2024-01-03T00:00:00Z,1,2,-3.0,10.5,10.0,1.5,0.01,4.76"
            )
        );
    }
}
