//! Parameter sweeps through the API: `POST /sweeps`, `GET /sweeps`, `GET /sweeps/{id}`,
//! `POST /sweeps/{id}/cancel`, a point's report and "open as backtest". The request and
//! response views live here; the sweep jobs (validation, running, storing each point) are
//! [`crate::greta::sweep_jobs`].
//!
//! # Invariants
//! - The stored `config` is the request as posted; a point's report, "open as backtest" and a
//!   resume after a restart read it back with the strategy pinned to the version resolved when
//!   the sweep was posted (`strategy_id`), so a newer upload of the name changes none of them.
//! - `progress`, `best` and `results` are read from the stored points: they grow while the
//!   sweep runs and stay after it ends, cancelled or not.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::backtests::{
    self, BacktestRequest, BacktestView, CommissionModelView, FillView, RemainderView, StrategyRef,
};
use super::error::{ApiError, ErrorBody};
use super::http::{AppJson, AppQuery, IdPath};
use super::overfitting::OverfittingView;
use super::runs::LimitsRequest;
use crate::greta::sweep_jobs::{self, SweepRequest};
use crate::greta::sweeps::{self as space, Axis, Constraints, Direction, Method, Objective};
use crate::walle::{PointOrder, Sweep, SweepPoint};

/// The sweep routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sweeps", get(list_sweeps).post(create_sweep))
        .route("/sweeps/{id}", get(get_sweep))
        .route("/sweeps/{id}/cancel", post(cancel_sweep))
        .route("/sweeps/{id}/points/{index}/report", get(point_report))
        .route("/sweeps/{id}/points/{index}/backtest", post(point_backtest))
        .route(
            "/sweeps/{id}/points/{index}/montecarlo",
            get(super::overfitting::point_montecarlo),
        )
}

/// One parameter's values: a list (`[5, 10, 20]`), an inclusive stepped range
/// (`{"min": 5, "max": 50, "step": 5}`; integers stay integers) or a log-spaced range
/// (`{"min": 0.001, "max": 1, "log": true, "count": 4}`; without `count` only for `random`,
/// which then draws log-uniformly).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AxisView {
    /// These values.
    #[schema(value_type = Vec<Object>)]
    Values(Vec<serde_json::Value>),
    /// A range.
    Range {
        /// Smallest value.
        min: f64,
        /// Largest value.
        max: f64,
        /// Step of a linear range.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<f64>,
        /// Log-spaced.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        log: bool,
        /// Values of a log-spaced range.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u64>,
    },
}

/// How the points are chosen: `{"kind": "grid"}` (every combination) or `{"kind": "random",
/// "seed": 7, "count": 200}` (the same seed gives the same points).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MethodView {
    /// Every combination.
    Grid,
    /// Seeded random draws.
    Random {
        /// Seed.
        seed: u64,
        /// Points to draw.
        count: u64,
    },
}

/// Which way the objective is better.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DirectionView {
    /// Larger is better.
    Max,
    /// Smaller is better.
    Min,
}

/// What ranks the points: a numeric report metric (`sharpe`, `sqn`, `return_pct`, …) or
/// `return_over_drawdown` (`return_pct / |max_drawdown_pct|`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveView {
    /// Metric key.
    pub metric: String,
    /// `max` or `min`.
    pub direction: DirectionView,
}

/// What a point must meet to be feasible; an infeasible point is kept (`feasible: false`)
/// and is never `best`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConstraintsView {
    /// At least this many closed trades.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_trades: Option<u64>,
    /// A maximum drawdown of at most this many percent (20 = no deeper than −20 %).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_drawdown_pct: Option<f64>,
    /// Exposure time of at most this many percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_exposure_pct: Option<f64>,
}

/// `POST /sweeps`: a backtest's fields (as `POST /backtests`; `params` are the fixed ones) plus
/// what to sweep and how to rank it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepRequestView {
    /// Strategy id or name.
    pub strategy: StrategyRef,
    /// Symbols (candles must be stored for each).
    pub symbols: Vec<String>,
    /// Bar timeframe.
    pub timeframe: String,
    /// First bar time (inclusive); default: the oldest stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// End (exclusive); default: after the newest stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// Starting cash (default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cash: Option<f64>,
    /// Commission per side (default 0.002).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission: Option<f64>,
    /// Market-order fill price (default `next_open`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<FillView>,
    /// Indicator warm-up in bars (default: the strategy's declared one, per point).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub warmup: Option<u64>,
    /// Fixed parameters (a swept parameter of the same name wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
    /// Sandbox limits of every point (as for backtests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsRequest>,
    /// Volume-share slippage, as in `POST /backtests` (every point fills the same way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_share: Option<bool>,
    /// Share of a bar's volume an order may take; as in `POST /backtests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_limit: Option<f64>,
    /// Price impact coefficient; as in `POST /backtests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_impact: Option<f64>,
    /// The part above the volume limit; as in `POST /backtests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remainder: Option<RemainderView>,
    /// Half-spread as a fraction of high − low; as in `POST /backtests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread_hl: Option<f64>,
    /// Bars an order waits before it reaches the market; as in `POST /backtests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 10_000)]
    pub latency_bars: Option<u32>,
    /// Commission schedule; as in `POST /backtests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_model: Option<CommissionModelView>,
    /// How the points are chosen.
    pub method: MethodView,
    /// The swept parameters, by name.
    pub space: BTreeMap<String, AxisView>,
    /// What ranks the points.
    pub objective: ObjectiveView,
    /// What a point must meet to be feasible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<ConstraintsView>,
}

/// Points finished so far.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProgressView {
    /// Points that ran.
    pub done: i64,
    /// Points whose strategy failed.
    pub failed: i64,
    /// Points in the sweep.
    pub total: i64,
}

/// How `weaver worker` processes share a sweep run by them (`WEAVER_WORKERS=external`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkersView {
    /// Chunks not claimed yet.
    pub pending: i64,
    /// Chunks a worker holds now.
    pub leased: i64,
    /// Chunks whose points are all stored.
    pub done: i64,
    /// Distinct workers that ran a chunk of it.
    pub workers: i64,
    /// Chunks taken over after their worker's lease ran out (the worker died or hung).
    pub retries: i64,
}

/// One finished point.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PointView {
    /// Its index (for its report and "open as backtest").
    pub index: i64,
    /// Its swept parameters.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// `done` or `failed`.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
    /// Every numeric metric of its report plus `return_over_drawdown` (null when it failed).
    #[schema(value_type = Option<Object>)]
    pub metrics: Option<serde_json::Value>,
    /// Whether it met the constraints.
    pub feasible: bool,
    /// Its objective value (null: failed, or undefined for it).
    pub objective: Option<f64>,
}

/// A sweep as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SweepView {
    /// Id.
    pub id: i64,
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The strategy version swept.
    pub strategy_id: Option<i64>,
    /// The request as posted.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// Points finished so far.
    pub progress: ProgressView,
    /// Its chunks, when `weaver worker` processes run it (null when the server runs it).
    pub workers: Option<WorkersView>,
    /// The best feasible point so far by the objective (null while there is none).
    pub best: Option<PointView>,
    /// `GET /sweeps/{id}` only: a page of finished points, best first (or by `sort`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<PointView>>,
    /// Overfitting figures of the best point among the points that ran, computed when the
    /// sweep ends (null before, or when no point is feasible).
    pub overfitting: Option<OverfittingView>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last status change (UTC).
    pub updated_at: DateTime<Utc>,
}

/// Page of `GET /sweeps`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SweepPage {
    /// Only ids below this (the last id of the previous page).
    pub before: Option<i64>,
    /// Page size (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// The results page of `GET /sweeps/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsPage {
    /// Points to skip.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Points in the page (0–1000, default 100).
    #[param(minimum = 0, maximum = 1000)]
    pub limit: Option<i64>,
    /// A metric key to sort by instead of the objective (feasible first, then best).
    pub sort: Option<String>,
    /// `desc` (default for `sort`) or `asc`.
    pub order: Option<super::orders::ListOrder>,
}

impl From<SweepPoint> for PointView {
    fn from(p: SweepPoint) -> Self {
        PointView {
            index: p.idx,
            params: p.params.0,
            status: crate::walle::text_of(&p.status),
            error: p.error,
            metrics: p.metrics.map(|m| m.0),
            feasible: p.feasible,
            objective: p.objective,
        }
    }
}

impl From<sweep_jobs::Error> for ApiError {
    fn from(e: sweep_jobs::Error) -> Self {
        let code = e.code();
        match e {
            sweep_jobs::Error::Job(e) => e.into(),
            sweep_jobs::Error::Invalid(i) => ApiError::InvalidAt {
                code,
                message: i.message,
                details: i.details,
            },
            sweep_jobs::Error::UnknownParameter { name, message } => ApiError::InvalidAt {
                code,
                message: format!("the strategy does not take parameter {name:?}: {message}"),
                details: serde_json::json!({"name": name}),
            },
            sweep_jobs::Error::NoPoint { sweep, index, .. } => ApiError::NotFound {
                entity: "sweep point",
                id: format!("{sweep}/{index}"),
            },
            e @ (sweep_jobs::Error::Finished(_) | sweep_jobs::Error::PointFailed(_)) => {
                ApiError::Conflict {
                    code,
                    message: e.to_string(),
                }
            }
            sweep_jobs::Error::Store(e) => e.into(),
        }
    }
}

fn direction(d: DirectionView) -> Direction {
    match d {
        DirectionView::Max => Direction::Max,
        DirectionView::Min => Direction::Min,
    }
}

/// The greta request of a sweep posted as `body` (`strategy` replaced by the pinned id when
/// reading a stored one back).
pub(crate) fn request(
    body: SweepRequestView,
    strategy: Option<i64>,
) -> Result<SweepRequest, ApiError> {
    let config = serde_json::to_value(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let backtest = BacktestRequest {
        strategy: strategy.map_or(body.strategy, StrategyRef::Id),
        symbols: body.symbols,
        timeframe: body.timeframe,
        start: body.start,
        end: body.end,
        cash: body.cash,
        commission: body.commission,
        fill: body.fill,
        warmup: body.warmup,
        params: body.params,
        limits: body.limits,
        volume_share: body.volume_share,
        volume_limit: body.volume_limit,
        volume_impact: body.volume_impact,
        remainder: body.remainder,
        spread_hl: body.spread_hl,
        latency_bars: body.latency_bars,
        commission_model: body.commission_model,
    };
    let space = body
        .space
        .into_iter()
        .map(|(k, a)| {
            let axis = match a {
                AxisView::Values(v) => Axis::Values(v),
                AxisView::Range {
                    min,
                    max,
                    step,
                    log,
                    count,
                } => Axis::Range {
                    min,
                    max,
                    step,
                    log,
                    count,
                },
            };
            (k, axis)
        })
        .collect();
    let c = body.constraints.unwrap_or_default();
    Ok(SweepRequest {
        job: backtests::job_request(backtest, config),
        method: match body.method {
            MethodView::Grid => Method::Grid,
            MethodView::Random { seed, count } => Method::Random { seed, count },
        },
        space,
        objective: Objective {
            metric: body.objective.metric,
            direction: direction(body.objective.direction),
        },
        constraints: Constraints {
            min_trades: c.min_trades,
            max_drawdown_pct: c.max_drawdown_pct,
            max_exposure_pct: c.max_exposure_pct,
        },
    })
}

/// A stored sweep's request, read back (strategy pinned to its resolved version).
///
/// # Errors
/// [`ApiError::Internal`] for a stored config that no longer parses.
pub fn stored_request(s: &Sweep) -> Result<SweepRequest, ApiError> {
    let body: SweepRequestView = serde_json::from_value(s.config.0.clone())
        .map_err(|e| ApiError::Internal(format!("stored sweep {}: {e}", s.id)))?;
    request(body, s.strategy_id)
}

fn descending(s: &Sweep) -> bool {
    s.config.0["objective"]["direction"] != "min"
}

/// A sweep's view: its progress and best point (and `results` when given).
async fn view(
    state: &AppState,
    s: Sweep,
    results: Option<Vec<PointView>>,
) -> Result<SweepView, ApiError> {
    let w = &state.inner.walle;
    let (done, failed) = w.sweep_progress(s.id).await?;
    let chunks = w.sweep_chunk_counts(s.id).await?;
    let workers = (chunks.pending + chunks.leased + chunks.done > 0).then_some(WorkersView {
        pending: chunks.pending,
        leased: chunks.leased,
        done: chunks.done,
        workers: chunks.workers,
        retries: chunks.retries,
    });
    let best = w
        .sweep_points(
            s.id,
            &PointOrder::Objective {
                descending: descending(&s),
            },
            1,
            0,
        )
        .await?
        .into_iter()
        .find(|p| p.feasible && p.objective.is_some())
        .map(PointView::from);
    Ok(SweepView {
        id: s.id,
        status: crate::walle::text_of(&s.status),
        error: s.error,
        strategy_id: s.strategy_id,
        config: s.config.0,
        progress: ProgressView {
            done,
            failed,
            total: s.total,
        },
        workers,
        best,
        results,
        overfitting: super::overfitting::view(s.overfitting.as_ref().map(|j| &j.0)),
        created_at: s.created_at,
        updated_at: s.updated_at,
    })
}

pub(crate) async fn stored(state: &AppState, id: i64) -> Result<Sweep, ApiError> {
    state
        .inner
        .walle
        .sweep(id)
        .await?
        .ok_or(ApiError::NotFound {
            entity: "sweep",
            id: id.to_string(),
        })
}

/// Resumes the sweeps an earlier process left `queued` or `running` (called once at start).
/// The ids resumed (a sweep that no longer validates is marked `failed` with the reason).
///
/// # Errors
/// The store's.
pub async fn resume(state: &AppState) -> Result<Vec<i64>, ApiError> {
    let w = &state.inner.walle;
    let ids = w.unfinished_sweeps().await?;
    for id in &ids {
        let s = stored(state, *id).await?;
        match stored_request(&s) {
            Ok(req) => state.inner.sweeps.resume(*id, req).await?,
            Err(e) => {
                let why = format!("cannot resume after a restart: {e}");
                w.set_sweep_status(*id, crate::walle::SweepStatus::Failed, Some(&why))
                    .await?;
            }
        }
    }
    Ok(ids)
}

/// Validates and queues a sweep; poll `GET /sweeps/{id}` (or follow the event stream's
/// `ui.backtest.SweepStatusChanged`) for its results.
#[utoipa::path(post, path = "/sweeps", tag = "sweeps", request_body(content = SweepRequestView,
    description = "A backtest's fields plus `method`, `space`, `objective` and `constraints`"), responses(
    (status = 202, description = "Queued", body = SweepView),
    (status = 400, description = "Malformed JSON", body = ErrorBody),
    (status = 404, description = "No such strategy", body = ErrorBody),
    (status = 415, description = "Not `application/json`", body = ErrorBody),
    (status = 409, description = "Strategy disabled or not ready", body = ErrorBody),
    (status = 422, description = "Refused as `POST /backtests` refuses, or `invalid_space`, `invalid_method`, `unknown_metric` (details: `metric`, `accepted`), `invalid_constraints`, `sweep_too_large` (details: `points`, `limit`), `unknown_parameter` (details: `name`)", body = ErrorBody)))]
pub(crate) async fn create_sweep(
    State(state): State<AppState>,
    AppJson(body): AppJson<SweepRequestView>,
) -> Result<(StatusCode, axum::Json<SweepView>), ApiError> {
    let req = request(body, None)?;
    let s = state.inner.sweeps.create(req).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(view(&state, s, None).await?),
    ))
}

/// Sweeps, newest first, with their progress and best point. Paged with `before` (the last
/// id of the previous page) and `limit`.
#[utoipa::path(get, path = "/sweeps", tag = "sweeps", params(SweepPage), responses(
    (status = 200, body = [SweepView]), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_sweeps(
    State(state): State<AppState>,
    AppQuery(p): AppQuery<SweepPage>,
) -> Result<axum::Json<Vec<SweepView>>, ApiError> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::InvalidParam("limit must be 1–500".into()));
    }
    let rows = state.inner.walle.sweeps(p.before, limit).await?;
    let mut out = Vec::with_capacity(rows.len());
    for s in rows {
        out.push(view(&state, s, None).await?);
    }
    Ok(axum::Json(out))
}

/// One sweep: status, progress, best point so far and a page of `results` (feasible points
/// first, best first by the objective; or by `sort` = any metric key, `order` = `desc` or `asc`).
#[utoipa::path(get, path = "/sweeps/{id}", tag = "sweeps", params(("id" = i64, Path, description = "Sweep id"), ResultsPage), responses(
    (status = 200, body = SweepView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, description = "`unknown_metric` in `sort`", body = ErrorBody)))]
pub(crate) async fn get_sweep(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    AppQuery(q): AppQuery<ResultsPage>,
) -> Result<axum::Json<SweepView>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    let offset = q.offset.unwrap_or(0);
    if !(0..=1000).contains(&limit) || offset < 0 {
        return Err(ApiError::InvalidParam(
            "limit must be 0–1000 and offset 0 or more".into(),
        ));
    }
    let s = stored(&state, id).await?;
    let order = match q.sort {
        Some(key) => {
            space::check_metric(&key).map_err(|i| ApiError::InvalidAt {
                code: i.code,
                message: i.message,
                details: i.details,
            })?;
            PointOrder::Metric {
                key,
                descending: q.order != Some(super::orders::ListOrder::Asc),
            }
        }
        None => PointOrder::Objective {
            descending: match q.order {
                Some(o) => o == super::orders::ListOrder::Desc,
                None => descending(&s),
            },
        },
    };
    let results = state
        .inner
        .walle
        .sweep_points(id, &order, limit, offset)
        .await?
        .into_iter()
        .map(PointView::from)
        .collect();
    Ok(axum::Json(view(&state, s, Some(results)).await?))
}

/// Cancels a queued or running sweep: its running points stop within one strategy call, the
/// points finished before are kept, and its status becomes `cancelled`.
#[utoipa::path(post, path = "/sweeps/{id}/cancel", tag = "sweeps", params(("id" = i64, Path, description = "Sweep id")), responses(
    (status = 200, body = SweepView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, description = "`sweep_finished`: it already ended", body = ErrorBody)))]
pub(crate) async fn cancel_sweep(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<axum::Json<SweepView>, ApiError> {
    stored(&state, id).await?;
    let s = state.inner.sweeps.cancel(id).await?;
    Ok(axum::Json(view(&state, s, None).await?))
}

/// The full report of one point (the `weaver backtest --report` JSON), computed by running the
/// point again: it is deterministic, and storing every point's trades and equity curve would
/// cost the store a full report per point. Waits for a backtest slot like a backtest.
#[utoipa::path(get, path = "/sweeps/{id}/points/{index}/report", tag = "sweeps", params(
    ("id" = i64, Path, description = "Sweep id"), ("index" = u64, Path, description = "Point index")), responses(
    (status = 200, description = "The report", body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, description = "`point_failed`: the point fails when run", body = ErrorBody)))]
pub(crate) async fn point_report(
    State(state): State<AppState>,
    Path((id, index)): Path<(i64, u64)>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let s = stored(&state, id).await?;
    let req = stored_request(&s)?;
    Ok(axum::Json(
        state.inner.sweeps.point_report(id, &req, index).await?,
    ))
}

/// "Open as backtest": queues a normal backtest with the sweep's settings and this point's
/// parameters (the fixed ones with the point's over them) and answers it, as `POST /backtests`.
#[utoipa::path(post, path = "/sweeps/{id}/points/{index}/backtest", tag = "sweeps", params(
    ("id" = i64, Path, description = "Sweep id"), ("index" = u64, Path, description = "Point index")), responses(
    (status = 202, description = "Queued", body = BacktestView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
pub(crate) async fn point_backtest(
    State(state): State<AppState>,
    Path((id, index)): Path<(i64, u64)>,
) -> Result<(StatusCode, axum::Json<BacktestView>), ApiError> {
    let s = stored(&state, id).await?;
    let body: SweepRequestView = serde_json::from_value(s.config.0.clone())
        .map_err(|e| ApiError::Internal(format!("stored sweep {id}: {e}")))?;
    let req = request(body.clone(), s.strategy_id)?;
    let params = state.inner.sweeps.point_params(id, &req, index)?;
    let backtest = BacktestRequest {
        strategy: s.strategy_id.map_or(body.strategy, StrategyRef::Id),
        symbols: body.symbols,
        timeframe: body.timeframe,
        start: body.start,
        end: body.end,
        cash: body.cash,
        commission: body.commission,
        fill: body.fill,
        warmup: body.warmup,
        params: Some(crate::greta::report::params_json(&params)),
        limits: body.limits,
        volume_share: body.volume_share,
        volume_limit: body.volume_limit,
        volume_impact: body.volume_impact,
        remainder: body.remainder,
        spread_hl: body.spread_hl,
        latency_bars: body.latency_bars,
        commission_model: body.commission_model,
    };
    let b = backtests::create(&state, backtest).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(backtests::view(&state, b))))
}
