//! Walk-forward analyses through the API: `POST /walkforward`, `GET /walkforward`,
//! `GET /walkforward/{id}`, `POST /walkforward/{id}/cancel` and a window's out-of-sample report.
//! The request and response views live here; the jobs (validation, planning the windows,
//! running, storing each window, stitching) are [`crate::greta::walkforward_jobs`].
//!
//! # Invariants
//! - The stored `config` is the request as posted; a resume reads it back with the strategy
//!   pinned to the version resolved when it was posted, and the windows as planned then.
//! - `windows`, `progress`, `efficiency` and `stability` are read from the stored windows: they
//!   grow while it runs and stay after it ends; `stitched` and `overfitting` are stored when it
//!   ends (cancelled or done).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::{Ref, RefOr, schema::Schema};
use utoipa::{PartialSchema, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::http::{AppJson, AppQuery, IdPath};
use super::overfitting::OverfittingView;
use super::sweeps::{SweepPage, SweepRequestView};
use crate::greta::walkforward::{self as wf, Kind, Spec};
use crate::greta::walkforward_jobs::{self, Planned, Stitched, WalkForwardRequest};
use crate::walle::{PointStatus, SweepStatus, WalkForward, WalkForwardWindow};

/// The walk-forward routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/walkforward",
            get(list_walkforwards).post(create_walkforward),
        )
        .route("/walkforward/{id}", get(get_walkforward))
        .route("/walkforward/{id}/cancel", post(cancel_walkforward))
        .route(
            "/walkforward/{id}/windows/{index}/report",
            get(window_report),
        )
}

/// How windows move: `rolling` (same in-sample size, moved by `step`) or `anchored` (every
/// in-sample window starts at the first bar and grows by `step`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WindowKindView {
    /// Rolling.
    Rolling,
    /// Anchored.
    Anchored,
}

/// A window size: a positive integer (bars) or a duration `"<n>d"`, `"<n>w"` or `"<n>M"`
/// (days, weeks, calendar months: `"90d"`, `"12w"`, `"6M"`). Anything else is refused with
/// 422 `invalid_windows` naming the field.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum WindowSizeView {
    /// Bars.
    Bars(u64),
    /// A duration.
    Duration(String),
}

/// The windows of a walk-forward.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowsSpecView {
    /// `rolling` or `anchored`.
    pub kind: WindowKindView,
    /// In-sample size.
    #[schema(value_type = WindowSizeView)]
    pub in_sample: serde_json::Value,
    /// Out-of-sample size.
    #[schema(value_type = WindowSizeView)]
    pub out_of_sample: serde_json::Value,
    /// How far each window moves (default: `out_of_sample`; at least it, so out-of-sample
    /// windows never overlap). Sizes are all bars or all durations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<WindowSizeView>)]
    pub step: Option<serde_json::Value>,
}

/// `POST /walkforward`: a sweep's fields (as `POST /sweeps`; `start`/`end` bound the whole
/// analysis) plus the windows.
///
/// Read and documented by hand rather than with `#[serde(flatten)]`: through `flatten` serde
/// hands the sweep only the fields it names, so a misspelt field was silently dropped, and
/// utoipa documents it as `allOf` [the sweep, `{windows}`], whose first part (closed by
/// `additionalProperties: false`) forbids `windows`, a body no client can satisfy.
#[derive(Debug, Clone, Serialize)]
pub struct WalkForwardRequestView {
    /// The sweep each in-sample window runs.
    #[serde(flatten)]
    pub sweep: SweepRequestView,
    /// The windows.
    pub windows: WindowsSpecView,
}

impl<'de> Deserialize<'de> for WalkForwardRequestView {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut fields = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let windows = fields
            .remove("windows")
            .ok_or_else(|| D::Error::missing_field("windows"))?;
        let windows = WindowsSpecView::deserialize(windows)
            .map_err(|e| D::Error::custom(format!("windows: {e}")))?;
        // The rest is the sweep, read with its own `deny_unknown_fields`.
        let sweep = SweepRequestView::deserialize(serde_json::Value::Object(fields))
            .map_err(D::Error::custom)?;
        Ok(Self { sweep, windows })
    }
}

impl utoipa::PartialSchema for WalkForwardRequestView {
    fn schema() -> RefOr<Schema> {
        // The sweep's object with `windows` added: one closed object, as the body is read.
        let mut object = match SweepRequestView::schema() {
            RefOr::T(Schema::Object(object)) => object,
            other => return other,
        };
        object.properties.insert(
            "windows".into(),
            RefOr::Ref(Ref::from_schema_name(WindowsSpecView::name())),
        );
        object.required.push("windows".into());
        object.description = Some(
            "A sweep's fields (as `POST /sweeps`; `start`/`end` bound the whole analysis) plus \
             the windows."
                .into(),
        );
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for WalkForwardRequestView {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <SweepRequestView as ToSchema>::schemas(schemas);
        schemas.push((WindowsSpecView::name().into(), WindowsSpecView::schema()));
        <WindowsSpecView as ToSchema>::schemas(schemas);
    }
}

/// Progress of a walk-forward.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WalkForwardProgressView {
    /// Windows stored (done or failed).
    pub windows_done: i64,
    /// Windows planned.
    pub windows_total: i64,
    /// In-sample points run (the stored windows' and the running window's).
    pub points_done: i64,
    /// Points of every window together.
    pub points_total: i64,
}

/// One part of a window.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SpanView {
    /// First bar's time.
    pub start: DateTime<Utc>,
    /// Last bar's time.
    pub end: DateTime<Utc>,
    /// Bars (as planned).
    pub bars: i64,
}

/// One window.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WindowView {
    /// Index (for its report).
    pub index: i64,
    /// In-sample part.
    pub in_sample: SpanView,
    /// Out-of-sample part.
    pub out_of_sample: SpanView,
    /// `pending`, `running`, `done` or `failed`.
    pub status: String,
    /// The chosen point's swept parameters.
    #[schema(value_type = Option<Object>)]
    pub best_params: Option<serde_json::Value>,
    /// Its in-sample objective value.
    pub in_sample_objective: Option<f64>,
    /// The out-of-sample run's summary metrics (the keys of a sweep point's `metrics`).
    #[schema(value_type = Option<Object>)]
    pub out_of_sample_metrics: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
}

/// One point of the stitched curve.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EquityPointView {
    /// Time.
    pub ts: DateTime<Utc>,
    /// Equity.
    pub equity: f64,
}

/// The windows' out-of-sample runs chained into one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StitchedView {
    /// The chained equity (at most 2000 points, evenly thinned).
    pub equity: Vec<EquityPointView>,
    /// Its summary metrics.
    #[schema(value_type = Object)]
    pub metrics: serde_json::Value,
}

/// How one parameter's chosen value moved across windows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StabilityView {
    /// The value chosen in each window (null: none chosen, or not run yet).
    #[schema(value_type = Vec<Object>)]
    pub values: Vec<serde_json::Value>,
    /// Distinct values chosen.
    pub distinct: usize,
    /// Coefficient of variation of numeric values (population sd / |mean|).
    pub cv: Option<f64>,
}

/// A walk-forward as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WalkForwardView {
    /// Id.
    pub id: i64,
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    pub status: String,
    /// The strategy version.
    pub strategy_id: Option<i64>,
    /// Symbols.
    pub symbols: Vec<String>,
    /// Timeframe.
    pub timeframe: String,
    /// The objective, as posted.
    #[schema(value_type = Object)]
    pub objective: serde_json::Value,
    /// The windows, as posted.
    #[schema(value_type = Object)]
    pub windows_spec: serde_json::Value,
    /// Progress.
    pub progress: WalkForwardProgressView,
    /// Every planned window.
    pub windows: Vec<WindowView>,
    /// The stitched out-of-sample result (null until it ends).
    pub stitched: Option<StitchedView>,
    /// Walk-forward efficiency: the mean over windows with a positive annualised in-sample
    /// return of annualised out-of-sample return / annualised in-sample return.
    pub efficiency: Option<f64>,
    /// Stability of each swept parameter across windows.
    pub stability: BTreeMap<String, StabilityView>,
    /// Overfitting figures of the stitched result (null until it ends).
    pub overfitting: Option<OverfittingView>,
    /// Why it failed.
    pub error: Option<String>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Ended (UTC).
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<walkforward_jobs::Error> for ApiError {
    fn from(e: walkforward_jobs::Error) -> Self {
        let code = e.code();
        match e {
            walkforward_jobs::Error::Sweep(e) => e.into(),
            walkforward_jobs::Error::Invalid(i) => ApiError::InvalidAt {
                code,
                message: i.message,
                details: i.details,
            },
            e @ walkforward_jobs::Error::Finished(_) => ApiError::Conflict {
                code,
                message: e.to_string(),
            },
            walkforward_jobs::Error::Store(e) => e.into(),
        }
    }
}

fn refused(i: crate::greta::sweeps::Invalid) -> ApiError {
    ApiError::InvalidAt {
        code: i.code,
        message: i.message,
        details: i.details,
    }
}

/// The greta request of a walk-forward posted as `body` (strategy pinned when read back).
fn request(
    body: WalkForwardRequestView,
    strategy: Option<i64>,
) -> Result<WalkForwardRequest, ApiError> {
    let config = serde_json::to_value(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let w = &body.windows;
    let windows = Spec {
        kind: match w.kind {
            WindowKindView::Rolling => Kind::Rolling,
            WindowKindView::Anchored => Kind::Anchored,
        },
        in_sample: wf::parse_size("windows.in_sample", &w.in_sample).map_err(refused)?,
        out_of_sample: wf::parse_size("windows.out_of_sample", &w.out_of_sample)
            .map_err(refused)?,
        step: w
            .step
            .as_ref()
            .map(|s| wf::parse_size("windows.step", s))
            .transpose()
            .map_err(refused)?,
    };
    let mut sweep = super::sweeps::request(body.sweep, strategy)?;
    sweep.job.config = config;
    Ok(WalkForwardRequest { sweep, windows })
}

/// A stored walk-forward's request (strategy pinned to its resolved version) and its planned
/// windows, read back.
///
/// # Errors
/// [`ApiError::Internal`] for a stored config that no longer parses.
pub fn stored_request(w: &WalkForward) -> Result<(WalkForwardRequest, Vec<Planned>), ApiError> {
    let body = serde_json::from_value::<WalkForwardRequestView>(w.config.0.clone())
        .map_err(|e| ApiError::Internal(format!("stored walk-forward {}: {e}", w.id)))?;
    Ok((request(body, w.strategy_id)?, planned(w)))
}

fn planned(w: &WalkForward) -> Vec<Planned> {
    serde_json::from_value(w.plan.0.clone()).unwrap_or_default()
}

async fn stored(state: &AppState, id: i64) -> Result<WalkForward, ApiError> {
    state
        .inner
        .walle
        .walkforward(id)
        .await?
        .ok_or(ApiError::NotFound {
            entity: "walkforward",
            id: id.to_string(),
        })
}

/// A walk-forward's view, from its row and stored windows.
async fn view(state: &AppState, w: WalkForward) -> Result<WalkForwardView, ApiError> {
    let rows = state.inner.walle.walkforward_windows(w.id).await?;
    let plan = planned(&w);
    let by_idx: BTreeMap<i64, &WalkForwardWindow> = rows.iter().map(|r| (r.idx, r)).collect();
    let running_idx = (w.status == SweepStatus::Running)
        .then(|| (0..plan.len() as i64).find(|i| !by_idx.contains_key(i)))
        .flatten();
    let windows = plan
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let index = k as i64;
            let row = by_idx.get(&index);
            let b = p.bounds;
            WindowView {
                index,
                in_sample: SpanView {
                    start: p.is_start,
                    end: p.is_end,
                    bars: (b.is_to - b.is_from) as i64,
                },
                out_of_sample: SpanView {
                    start: p.oos_start,
                    end: p.oos_end,
                    bars: (b.oos_to - b.is_to) as i64,
                },
                status: match row {
                    Some(r) if r.status == PointStatus::Done => "done".into(),
                    Some(_) => "failed".into(),
                    None if running_idx == Some(index) => "running".into(),
                    None => "pending".into(),
                },
                best_params: row.and_then(|r| r.best_params.as_ref().map(|j| j.0.clone())),
                in_sample_objective: row.and_then(|r| r.in_sample_objective),
                out_of_sample_metrics: row
                    .and_then(|r| r.out_of_sample.as_ref().map(|j| j.0.clone())),
                error: row.and_then(|r| r.error.clone()),
            }
        })
        .collect();
    let (efficiency, stability) = walkforward_jobs::efficiency_and_stability(&rows, plan.len());
    let done = rows.len() as i64;
    let running = if w.status == SweepStatus::Running {
        i64::try_from(state.inner.walkforwards.points_running(w.id)).unwrap_or(0)
    } else {
        0
    };
    let stitched = w
        .stitched
        .as_ref()
        .and_then(|j| serde_json::from_value::<Stitched>(j.0.clone()).ok())
        .map(|s| StitchedView {
            equity: s
                .equity
                .into_iter()
                .map(|p| EquityPointView {
                    ts: p.ts,
                    equity: p.equity,
                })
                .collect(),
            metrics: s.metrics,
        });
    let c = &w.config.0;
    Ok(WalkForwardView {
        id: w.id,
        status: crate::walle::text_of(&w.status),
        strategy_id: w.strategy_id,
        symbols: serde_json::from_value(c["symbols"].clone()).unwrap_or_default(),
        timeframe: c["timeframe"].as_str().unwrap_or_default().to_owned(),
        objective: c["objective"].clone(),
        windows_spec: c["windows"].clone(),
        progress: WalkForwardProgressView {
            windows_done: done,
            windows_total: plan.len() as i64,
            points_done: done.saturating_mul(w.points).saturating_add(running),
            points_total: (plan.len() as i64).saturating_mul(w.points),
        },
        windows,
        stitched,
        efficiency,
        stability: stability
            .into_iter()
            .map(|(k, s)| {
                (
                    k,
                    StabilityView {
                        values: s.values,
                        distinct: s.distinct,
                        cv: s.cv,
                    },
                )
            })
            .collect(),
        overfitting: super::overfitting::view(w.overfitting.as_ref().map(|j| &j.0)),
        error: w.error,
        created_at: w.created_at,
        finished_at: w.finished_at,
    })
}

/// Resumes the walk-forwards an earlier process left `queued` or `running` (called once at
/// start); the ids resumed.
///
/// # Errors
/// The store's.
pub async fn resume(state: &AppState) -> Result<Vec<i64>, ApiError> {
    let ws = &state.inner.walle;
    let ids = ws.unfinished_walkforwards().await?;
    for id in &ids {
        let w = stored(state, *id).await?;
        match stored_request(&w) {
            Ok((req, planned)) => {
                state.inner.walkforwards.resume(*id, req, planned).await?;
            }
            Err(e) => {
                let why = format!("cannot resume after a restart: {e}");
                ws.set_walkforward_status(*id, SweepStatus::Failed, Some(&why))
                    .await?;
            }
        }
    }
    Ok(ids)
}

/// Validates, plans the windows and queues a walk-forward; poll `GET /walkforward/{id}` (or
/// follow `ui.backtest.WalkForwardStatusChanged`).
#[utoipa::path(post, path = "/walkforward", tag = "walkforward", request_body(content = WalkForwardRequestView,
    description = "A sweep's fields plus `windows`"), responses(
    (status = 202, description = "Queued", body = WalkForwardView),
    (status = 400, description = "Malformed JSON", body = ErrorBody),
    (status = 404, description = "No such strategy", body = ErrorBody),
    (status = 409, description = "Strategy disabled or not ready", body = ErrorBody),
    (status = 415, description = "Not `application/json`", body = ErrorBody),
    (status = 422, description = "`invalid_windows` (details: `field`; `bars` and `needed` when the windows do not fit the data), refused as `POST /sweeps` refuses (`sweep_too_large` counts points × windows), `unknown_metric`, `unknown_parameter`", body = ErrorBody)))]
pub(crate) async fn create_walkforward(
    State(state): State<AppState>,
    AppJson(body): AppJson<WalkForwardRequestView>,
) -> Result<(StatusCode, axum::Json<WalkForwardView>), ApiError> {
    let req = request(body, None)?;
    let w = state.inner.walkforwards.create(req).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(view(&state, w).await?)))
}

/// Walk-forwards, newest first. Paged with `before` (the last id of the previous page) and
/// `limit`.
#[utoipa::path(get, path = "/walkforward", tag = "walkforward", params(SweepPage), responses(
    (status = 200, body = [WalkForwardView]), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_walkforwards(
    State(state): State<AppState>,
    AppQuery(p): AppQuery<SweepPage>,
) -> Result<axum::Json<Vec<WalkForwardView>>, ApiError> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::InvalidParam("limit must be 1–500".into()));
    }
    let rows = state.inner.walle.walkforwards(p.before, limit).await?;
    let mut out = Vec::with_capacity(rows.len());
    for w in rows {
        out.push(view(&state, w).await?);
    }
    Ok(axum::Json(out))
}

/// One walk-forward: its windows, progress, stitched result, efficiency, stability and
/// overfitting figures.
#[utoipa::path(get, path = "/walkforward/{id}", tag = "walkforward", params(("id" = i64, Path, description = "Walk-forward id")), responses(
    (status = 200, body = WalkForwardView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_walkforward(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<axum::Json<WalkForwardView>, ApiError> {
    let w = stored(&state, id).await?;
    Ok(axum::Json(view(&state, w).await?))
}

/// Cancels a queued or running walk-forward: the running window stops within one strategy
/// call, finished windows are kept and stitched, and its status becomes `cancelled`.
#[utoipa::path(post, path = "/walkforward/{id}/cancel", tag = "walkforward", params(("id" = i64, Path, description = "Walk-forward id")), responses(
    (status = 200, body = WalkForwardView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, description = "`walkforward_finished`: it already ended", body = ErrorBody)))]
pub(crate) async fn cancel_walkforward(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<axum::Json<WalkForwardView>, ApiError> {
    stored(&state, id).await?;
    let w = state.inner.walkforwards.cancel(id).await?;
    Ok(axum::Json(view(&state, w).await?))
}

/// The out-of-sample backtest report of window `index` (the `weaver backtest --report` JSON
/// of the chosen point over the window's out-of-sample bars, without the warm-up bars it read
/// before them; `warmup_bars_before` says how many).
#[utoipa::path(get, path = "/walkforward/{id}/windows/{index}/report", tag = "walkforward", params(
    ("id" = i64, Path, description = "Walk-forward id"), ("index" = i64, Path, description = "Window index")), responses(
    (status = 200, description = "The report", body = Object), (status = 400, body = ErrorBody), (status = 404, description = "No such walk-forward, or the window has not run", body = ErrorBody),
    (status = 409, description = "`window_failed`: the window has no out-of-sample run", body = ErrorBody)))]
pub(crate) async fn window_report(
    State(state): State<AppState>,
    Path((id, index)): Path<(i64, i64)>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    stored(&state, id).await?;
    let not_found = || ApiError::NotFound {
        entity: "walkforward window",
        id: format!("{id}/{index}"),
    };
    match state.inner.walle.walkforward_report(id, index).await? {
        None => Err(not_found()),
        Some(None) => Err(ApiError::Conflict {
            code: "window_failed",
            message: format!("window {index} of walk-forward {id} has no out-of-sample run"),
        }),
        Some(Some(report)) => Ok(axum::Json(report)),
    }
}
