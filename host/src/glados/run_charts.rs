//! A run's charts through the API: `GET /runs/{id}/equity` (its equity curve by bar time, page
//! by page, with its fills at bar times and its progress) and `GET /runs/sparklines` (a short
//! sample of many runs' curves in one request, for the run list). Both are derived from what
//! runs already store ([`crate::runs::equity`]).
//!
//! # Invariants
//! - Bad parameters are a 400 `invalid_parameter` naming the parameter; nothing panics on
//!   client input.
//! - A sparklines request names at most [`MAX_SPARKLINE_RUNS`] runs and answers summaries only.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::http::{AppQuery, IdPath};
use super::shadows::EquityPointView;
use crate::runs::equity::{
    BarFill, DEFAULT_PAGE, EquityPage, MAX_PAGE, MAX_SPARKLINE_POINTS, MAX_SPARKLINE_RUNS,
    Progress, Sparkline,
};

/// `GET /runs/{id}/equity` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EquityQuery {
    /// Only bar times before this (RFC 3339): the previous page's `next_before`. Without it,
    /// the newest bar times.
    pub before: Option<DateTime<Utc>>,
    /// Bar times in the page (1–10000, default 2000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
}

/// `GET /runs/sparklines` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SparklineQuery {
    /// Run ids, comma-separated (1–500 of them).
    pub ids: String,
    /// Most points per run (2–200, default 40).
    #[param(minimum = 2, maximum = 200)]
    pub points: Option<i64>,
}

/// How far a run got.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct RunProgressView {
    /// Bars delivered to its strategy (each symbol's bar counts).
    pub bars_done: u64,
    /// On `sim`: every stored bar of its symbols and timeframe, which the run replays; `null`
    /// on a live venue.
    pub bars_total: Option<u64>,
}

impl From<Progress> for RunProgressView {
    fn from(p: Progress) -> Self {
        RunProgressView {
            bars_done: p.bars_done,
            bars_total: p.bars_total,
        }
    }
}

/// A fill at its bar time.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BarFillView {
    /// The bar it belongs to: the latest bar time at or before `filled_at` (on `sim` the same
    /// time; on a live venue the bar whose period holds the fill).
    pub bar_ts: DateTime<Utc>,
    /// When the venue filled it.
    pub filled_at: DateTime<Utc>,
    /// The order filled.
    pub order_id: i64,
    /// Symbol.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Quantity.
    pub qty: f64,
    /// Price.
    pub price: f64,
}

impl From<BarFill> for BarFillView {
    fn from(f: BarFill) -> Self {
        BarFillView {
            bar_ts: f.bar_ts,
            filled_at: f.filled_at,
            order_id: f.order_id,
            symbol: f.symbol,
            side: f.side,
            qty: f.qty,
            price: f.price,
        }
    }
}

/// A page of a run's equity curve.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EquityPageView {
    /// Equity by bar time, oldest first: starting cash moved by the run's fills, positions
    /// marked at the stored closes of its symbols.
    pub points: Vec<EquityPointView>,
    /// The run's fills at the page's bar times, oldest first.
    pub fills: Vec<BarFillView>,
    /// Pass as `before` for the older bar times; `null` when this page starts the run.
    pub next_before: Option<DateTime<Utc>>,
    /// The first bar time the run's strategy answered (`null` before any).
    pub first_bar: Option<DateTime<Utc>>,
    /// The last bar time it answered, or its latest fill's time when later (the decisions
    /// projection lags the run by its consumer; its fills do not).
    pub last_bar: Option<DateTime<Utc>>,
    /// Starting cash.
    pub starting_cash: f64,
    /// How far the run got.
    pub progress: RunProgressView,
}

impl From<EquityPage> for EquityPageView {
    fn from(p: EquityPage) -> Self {
        EquityPageView {
            points: p.points.into_iter().map(Into::into).collect(),
            fills: p.fills.into_iter().map(Into::into).collect(),
            next_before: p.next_before,
            first_bar: p.first_bar,
            last_bar: p.last_bar,
            starting_cash: p.starting_cash,
            progress: p.progress.into(),
        }
    }
}

/// A short sample of one run's equity curve.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SparklineView {
    /// The run.
    pub run_id: i64,
    /// Evenly over its bar times, the first and last kept (empty before its first bar).
    pub points: Vec<EquityPointView>,
    /// How far the run got.
    pub progress: RunProgressView,
}

impl From<Sparkline> for SparklineView {
    fn from(s: Sparkline) -> Self {
        SparklineView {
            run_id: s.run_id,
            points: s.points.into_iter().map(Into::into).collect(),
            progress: s.progress.into(),
        }
    }
}

/// Sparklines of many runs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SparklinesView {
    /// One per known run, in the order asked (unknown ids are left out).
    pub items: Vec<SparklineView>,
}

/// A run's equity curve by bar time, newest page first, with its fills at bar times (for
/// marking them on a price chart) and how far it got (bars done of bars total on `sim`).
#[utoipa::path(get, path = "/runs/{id}/equity", tag = "runs", params(("id" = i64, Path, description = "Run id"), EquityQuery), responses(
    (status = 200, body = EquityPageView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn run_equity(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    AppQuery(q): AppQuery<EquityQuery>,
) -> Result<axum::Json<EquityPageView>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE as i64);
    if !(1..=MAX_PAGE as i64).contains(&limit) {
        return Err(ApiError::InvalidParam(format!(
            "limit must be 1–{MAX_PAGE}"
        )));
    }
    let page = state
        .inner
        .runs
        .equity_page(id, q.before, limit as usize)
        .await?;
    Ok(axum::Json(page.into()))
}

/// A short sample of each named run's equity curve and its progress, in one request (the run
/// list's sparklines).
#[utoipa::path(get, path = "/runs/sparklines", tag = "runs", params(SparklineQuery), responses(
    (status = 200, body = SparklinesView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(super) async fn run_sparklines(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<SparklineQuery>,
) -> Result<axum::Json<SparklinesView>, ApiError> {
    let points = q.points.unwrap_or(40);
    if !(2..=MAX_SPARKLINE_POINTS as i64).contains(&points) {
        return Err(ApiError::InvalidParam(format!(
            "points must be 2–{MAX_SPARKLINE_POINTS}"
        )));
    }
    let ids = parse_ids(&q.ids)?;
    let items = state
        .inner
        .runs
        .sparklines(&ids, points as usize)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(axum::Json(SparklinesView { items }))
}

/// `1,2,3` as run ids: 1 to [`MAX_SPARKLINE_RUNS`] positive whole numbers.
fn parse_ids(text: &str) -> Result<Vec<i64>, ApiError> {
    let bad = || {
        ApiError::InvalidParam(format!(
            "ids must be 1–{MAX_SPARKLINE_RUNS} run ids separated by commas"
        ))
    };
    let ids = text
        .split(',')
        .map(|s| s.trim().parse::<i64>().ok().filter(|id| *id > 0))
        .collect::<Option<Vec<i64>>>()
        .ok_or_else(bad)?;
    if ids.is_empty() || ids.len() > MAX_SPARKLINE_RUNS {
        return Err(bad());
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_numbers_separated_by_commas() {
        assert_eq!(parse_ids("3,1, 2").ok(), Some(vec![3, 1, 2]));
        for bad in ["", "1,,2", "a", "0", "-1", "1;2"] {
            assert!(parse_ids(bad).is_err(), "{bad:?}");
        }
        let many = (1..=501)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert!(parse_ids(&many).is_err());
    }
}
