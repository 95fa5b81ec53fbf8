//! Overfitting figures through the API: the views of the figures a sweep or a walk-forward
//! carries (deflated Sharpe ratio, PBO; computed by [`crate::greta::overfitting`]) and
//! `GET /sweeps/{id}/points/{index}/montecarlo`, the Monte Carlo of one point's trades.
//!
//! # Invariants
//! - The figures are read as stored when the sweep or walk-forward ended; a stored value that
//!   no longer parses shows as `null`, never as an error of the whole view.
//! - A point's Monte Carlo runs the point again (as its report does) and answers the same
//!   distribution for the same point, `runs` and `seed`.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::backtests::{MonteCarloQuery, PercentilesView};
use super::error::{ApiError, ErrorBody};
use super::http::AppQuery;
use crate::greta::overfit;

/// The deflated Sharpe ratio of the chosen point (Bailey & López de Prado), per period of its
/// return series (blocks of bars; not annualised).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeflatedSharpeView {
    /// The chosen point's Sharpe ratio per period.
    pub sharpe: f64,
    /// Probability that its true Sharpe ratio is above `expected_max_sharpe`.
    pub dsr: f64,
    /// The Sharpe ratio the best of the trials would show with no skill (`SR₀`), per period.
    pub expected_max_sharpe: f64,
    /// Periods of its return series.
    pub observations: usize,
    /// Sample variance of the trials' Sharpe ratios.
    pub trial_sharpe_variance: f64,
    /// Skewness of its returns.
    pub skewness: f64,
    /// Kurtosis of its returns (not excess: 3 for normal returns).
    pub kurtosis: f64,
}

/// The probability of backtest overfitting by combinatorially symmetric cross-validation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PboView {
    /// Share of the combinations whose in-sample best point ranks in the lower half out of
    /// sample.
    pub pbo: f64,
    /// Blocks the periods were cut into (`S`, even).
    pub partitions: usize,
    /// Combinations, `C(S, S/2)`.
    pub combinations: usize,
    /// Periods per block.
    pub block_len: usize,
    /// `λ = ln(ω/(1−ω))` of every combination.
    pub logits: Vec<f64>,
}

/// Overfitting figures of a selection among `trials` points.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OverfittingView {
    /// Points the selection was made from (those that ran).
    pub trials: usize,
    /// Deflated Sharpe ratio of the chosen point (null: see `note`).
    pub deflated_sharpe: Option<DeflatedSharpeView>,
    /// PBO (null with a `note` when there are too few points or periods).
    pub pbo: Option<PboView>,
    /// Why a figure is missing.
    pub note: Option<String>,
}

/// The stored figures as a view (`None`: not stored, or no longer readable).
pub(crate) fn view(stored: Option<&serde_json::Value>) -> Option<OverfittingView> {
    stored.and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// The Monte Carlo distribution of one sweep point's trade sequence.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PointMonteCarloView {
    /// The sweep.
    pub sweep_id: i64,
    /// The point.
    pub index: u64,
    /// Resamplings.
    pub runs: usize,
    /// Closed trades resampled.
    pub trades: usize,
    /// Seed.
    pub seed: u64,
    /// Total return of the trades in their real order, compounded, percent.
    pub observed_return_pct: f64,
    /// Maximum drawdown of the trades in their real order, percent.
    pub observed_max_drawdown_pct: f64,
    /// Total return of the resamplings, percent.
    pub return_pct: PercentilesView,
    /// Maximum drawdown of the resamplings over trade-by-trade equity, percent (positive).
    pub max_drawdown_pct: PercentilesView,
}

/// Monte Carlo of one point's trade sequence (as `GET /backtests/{id}/montecarlo`): the point
/// is run again (as for its report; it waits for a backtest slot), its closed trades' returns
/// resampled with replacement `runs` times (seeded).
#[utoipa::path(get, path = "/sweeps/{id}/points/{index}/montecarlo", tag = "sweeps", params(
    ("id" = i64, Path, description = "Sweep id"), ("index" = u64, Path, description = "Point index"), MonteCarloQuery), responses(
    (status = 200, body = PointMonteCarloView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, description = "`point_failed`: the point fails when run", body = ErrorBody),
    (status = 422, description = "`invalid_overfit_input` (details: `input`, `max_runs`, `max_draws`): `runs` out of 1–100000, `runs × trades` above 50,000,000, or no closed trades", body = ErrorBody)))]
pub(crate) async fn point_montecarlo(
    State(state): State<AppState>,
    Path((id, index)): Path<(i64, u64)>,
    AppQuery(q): AppQuery<MonteCarloQuery>,
) -> Result<axum::Json<PointMonteCarloView>, ApiError> {
    let (runs, seed) = (q.runs.unwrap_or(1000), q.seed.unwrap_or(1));
    // Refused before the point is run again: a bad `runs` costs nothing.
    if runs == 0 || runs > overfit::MAX_RUNS {
        return Err(refused(&overfit::Error {
            input: "runs",
            problem: format!("{runs} must be in 1..={}", overfit::MAX_RUNS),
        }));
    }
    let s = super::sweeps::stored(&state, id).await?;
    let req = super::sweeps::stored_request(&s)?;
    let report = state.inner.sweeps.point_report(id, &req, index).await?;
    let returns: Vec<f64> = report["trades"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|row| row["return_pct"].as_f64())
                .map(|pct| pct / 100.0)
                .collect()
        })
        .unwrap_or_default();
    let mc = tokio::task::spawn_blocking(move || overfit::monte_carlo(&returns, runs, seed))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| refused(&e))?;
    Ok(axum::Json(PointMonteCarloView {
        sweep_id: id,
        index,
        runs: mc.runs,
        trades: mc.trades,
        seed: mc.seed,
        observed_return_pct: mc.observed_return_pct,
        observed_max_drawdown_pct: mc.observed_max_drawdown_pct,
        return_pct: mc.return_pct.into(),
        max_drawdown_pct: mc.max_drawdown_pct.into(),
    }))
}

fn refused(e: &overfit::Error) -> ApiError {
    ApiError::InvalidAt {
        code: e.code(),
        message: e.to_string(),
        details: serde_json::json!({
            "input": e.input,
            "max_runs": overfit::MAX_RUNS,
            "max_draws": overfit::MAX_DRAWS,
        }),
    }
}
