//! The routes and the OpenAPI document generated from them.
//!
//! # Invariants
//! - Every route is listed in [`ApiDoc`]; the auth-matrix test walks that document.
//! - Responses are typed views (`*View`), never store rows, so internal columns can change
//!   without changing the API.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::AppState;
use super::accounts;
use super::backtests::{self, BacktestRequest, BacktestView};
use super::candles;
use super::control;
use super::decisions;
use super::error::{ApiError, ErrorBody};
use super::event_routes;
use super::events::{self as feed, UiEvent};
use super::health::{self, ConsumerView, Health, StoreFaultView};
use super::http::{AppJson, AppQuery, IdPath, MultipartFields};
use super::jobs;
use super::notify;
use super::orders;
use super::promote;
use super::replay;
use super::run_logs;
use super::runs::{self, RunRequest, RunView};
use super::shadows;
use super::strategies;
use super::trading::{TradingStateBody, TradingStateRequest};
use super::venues;
use crate::walle::{Strategy, StrategyStatus};

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Weaver API",
        description = "Control plane of Weaver. Errors: `{code, message, details, correlation_id}`. With WEAVER_API_KEY set, every route but /healthz needs `X-API-Key`."
    ),
    paths(
        health::healthz,
        health::readyz,
        openapi_json,
        metrics_text,
        list_strategies,
        upload_strategy,
        get_strategy,
        disable_strategy,
        get_trading_state,
        put_trading_state,
        create_backtest,
        list_backtests,
        get_backtest,
        super::sweeps::create_sweep,
        super::sweeps::list_sweeps,
        super::sweeps::get_sweep,
        super::sweeps::cancel_sweep,
        super::sweeps::point_report,
        super::sweeps::point_backtest,
        super::overfitting::point_montecarlo,
        super::walkforward::create_walkforward,
        super::walkforward::list_walkforwards,
        super::walkforward::get_walkforward,
        super::walkforward::cancel_walkforward,
        super::walkforward::window_report,
        backtests::backtest_montecarlo,
        super::exports::report_json,
        super::exports::report_html,
        super::exports::trades,
        candles::list_candles,
        candles::list_series,
        candles::import_csv,
        candles::synth_series,
        candles::load_sample_data,
        candles::start_download,
        jobs::list_jobs,
        jobs::get_job,
        orders::list_orders,
        orders::get_order,
        feed::list_chain,
        decisions::list_decisions,
        event_routes::events_tail,
        event_routes::events_stream,
        create_run,
        list_runs,
        get_run,
        control::stop_run,
        control::place_order,
        control::cancel_order,
        control::close_position,
        control::flatten_run,
        control::patch_risk,
        control::put_run_state,
        replay::replay_run,
        shadows::create_shadow,
        shadows::list_shadows,
        shadows::stop_shadow,
        shadows::shadow_diff,
        promote::promote,
        promote::rollback,
        promote::versions,
        run_logs::run_logs,
        super::run_charts::run_equity,
        super::run_charts::run_sparklines,
        accounts::list_accounts,
        venues::list_venues,
        accounts::get_account,
        accounts::put_account_risk,
        accounts::put_account_state,
        accounts::close_account_position,
        notify::get_settings,
        notify::put_rules,
        notify::send_test,
        notify::list_dead_letters,
        notify::retry_dead_letter
    ),
    components(schemas(
        Health,
        ConsumerView,
        StoreFaultView,
        ErrorBody,
        StrategyView,
        StrategyStatusView,
        super::trading::TradingStateView,
        super::trading::TradingStateBody,
        super::trading::TradingStateRequest,
        super::trading::RunFlattenView,
        BacktestRequest,
        BacktestView,
        backtests::StrategyRef,
        backtests::FillView,
        super::sweeps::SweepRequestView,
        super::sweeps::SweepView,
        super::sweeps::PointView,
        super::sweeps::ProgressView,
        super::sweeps::WorkersView,
        super::sweeps::AxisView,
        super::sweeps::MethodView,
        super::sweeps::DirectionView,
        super::sweeps::ObjectiveView,
        super::sweeps::ConstraintsView,
        super::overfitting::OverfittingView,
        super::overfitting::DeflatedSharpeView,
        super::overfitting::PboView,
        super::overfitting::PointMonteCarloView,
        super::walkforward::WalkForwardRequestView,
        super::walkforward::WindowsSpecView,
        super::walkforward::WindowKindView,
        super::walkforward::WindowSizeView,
        super::walkforward::WalkForwardView,
        super::walkforward::WalkForwardProgressView,
        super::walkforward::WindowView,
        super::walkforward::SpanView,
        super::walkforward::StitchedView,
        super::walkforward::EquityPointView,
        super::walkforward::StabilityView,
        backtests::RemainderView,
        backtests::CommissionModelView,
        backtests::MonteCarloView,
        backtests::PercentilesView,
        backtests::BySymbolView,
        backtests::SymbolStatsView,
        super::exports::ExportFormat,
        candles::CandleView,
        candles::SeriesView,
        candles::SynthRequest,
        candles::DownloadRequest,
        jobs::JobView,
        jobs::JobProgressView,
        UiEvent,
        event_routes::TailPage,
        feed::EventView,
        feed::ChainPage,
        decisions::DecisionView,
        decisions::DecisionPage,
        replay::ReplayView,
        shadows::ShadowRequest,
        shadows::ShadowView,
        shadows::BarDiffView,
        shadows::EquityPointView,
        shadows::ShadowDiffView,
        promote::PromoteRequest,
        promote::RollbackRequest,
        promote::StateMode,
        promote::VersionView,
        promote::VersionList,
        replay::MismatchView,
        orders::OrderPageView,
        orders::OrderStatus,
        orders::ListOrder,
        run_logs::LogLevel,
        RunRequest,
        RunView,
        runs::RunFigures,
        runs::LimitsRequest,
        runs::LimitsView,
        runs::PnlView,
        runs::PositionView,
        runs::TradeView,
        runs::LogLine,
        runs::LogPage,
        super::run_charts::EquityPageView,
        super::run_charts::BarFillView,
        super::run_charts::RunProgressView,
        super::run_charts::SparklineView,
        super::run_charts::SparklinesView,
        accounts::AccountView,
        super::gaps::GapsView,
        super::gaps::GapRange,
        venues::VenueView,
        accounts::AccountPositionView,
        accounts::RunShareView,
        accounts::AccountStateRequest,
        accounts::AccountStateView,
        accounts::AccountFlattenView,
        accounts::ClosePositionRequest,
        control::StopRequest,
        control::StopView,
        control::FlattenView,
        control::HeldView,
        control::AttemptView,
        control::ManualOrderRequest,
        control::CancelView,
        control::RunStateRequest,
        control::RunStateView,
        notify::NotifySettingsView,
        notify::NotifyChannelView,
        notify::NotifyRuleView,
        notify::NotifyRulesRequest,
        notify::NotifyTestRequest,
        notify::NotifyTestView,
        notify::NotifyAttemptView,
        notify::DeadLetterView,
        notify::DeadLetterPage
    ))
)]
pub struct ApiDoc;

/// The routes (without state or layers; see [`super::router`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi_json))
        .route("/metrics", get(metrics_text))
        .route("/strategies", get(list_strategies).post(upload_strategy))
        .route(
            "/strategies/{id}",
            get(get_strategy).delete(disable_strategy),
        )
        .route(
            "/trading-state",
            get(get_trading_state).put(put_trading_state),
        )
        .route("/backtests", get(list_backtests).post(create_backtest))
        .route("/backtests/{id}", get(get_backtest))
        .route(
            "/backtests/{id}/montecarlo",
            get(backtests::backtest_montecarlo),
        )
        .route("/candles", get(candles::list_candles))
        .route("/candles/series", get(candles::list_series))
        .route("/candles/import", axum::routing::post(candles::import_csv))
        .route("/candles/synth", axum::routing::post(candles::synth_series))
        .route(
            "/candles/sample",
            axum::routing::post(candles::load_sample_data),
        )
        .route(
            "/candles/download",
            axum::routing::post(candles::start_download),
        )
        .route("/jobs", get(jobs::list_jobs))
        .route("/jobs/{id}", get(jobs::get_job))
        .route("/orders", get(orders::list_orders))
        .route("/orders/{id}", get(orders::get_order))
        .route("/events", get(feed::list_chain))
        .route("/events/tail", get(event_routes::events_tail))
        .route("/events/stream", get(event_routes::events_stream))
        .route("/runs", get(list_runs).post(create_run))
        .route("/runs/sparklines", get(super::run_charts::run_sparklines))
        .route("/runs/{id}", get(get_run))
        .route("/runs/{id}/equity", get(super::run_charts::run_equity))
        .route("/runs/{id}/stop", axum::routing::post(control::stop_run))
        .route(
            "/runs/{id}/orders",
            axum::routing::post(control::place_order),
        )
        .route(
            "/runs/{id}/flatten",
            axum::routing::post(control::flatten_run),
        )
        .route("/runs/{id}/risk", axum::routing::patch(control::patch_risk))
        .route(
            "/runs/{id}/trading-state",
            axum::routing::put(control::put_run_state),
        )
        .route(
            "/runs/{id}/positions/{symbol}/close",
            axum::routing::post(control::close_position),
        )
        .route(
            "/orders/{id}/cancel",
            axum::routing::post(control::cancel_order),
        )
        .route("/runs/{id}/logs", get(run_logs::run_logs))
        .route("/runs/{id}/decisions", get(decisions::list_decisions))
        .route("/runs/{id}/replay", axum::routing::post(replay::replay_run))
        .merge(shadows::routes())
        .merge(promote::routes())
        .merge(accounts::routes())
        .merge(venues::routes())
        .merge(notify::routes())
        .merge(super::sweeps::routes())
        .merge(super::exports::routes())
        .merge(super::walkforward::routes())
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "system", responses((status = 200, description = "OpenAPI 3.1 document")))]
async fn openapi_json() -> Response {
    axum::Json(ApiDoc::openapi()).into_response()
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
async fn metrics_text(State(state): State<AppState>) -> Response {
    if let Err(e) = state.inner.walle.record_outbox_metrics().await {
        tracing::warn!(code = e.code(), "outbox metrics unavailable: {e}");
    }
    // The process-wide request budget is Alpaca's (veda::alpaca takes its tokens from it).
    crate::veda::rate_limit::RequestBudget::global().record_metrics("alpaca");
    if let Err(e) = state.inner.runs.record_metrics().await {
        tracing::warn!(code = e.code(), "run metrics unavailable: {e}");
    }
    let mut resp = state.inner.metrics.render().into_response();
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// A strategy's status.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StrategyStatusView {
    /// Stored, not yet compiled.
    Uploaded,
    /// Compiling in the background.
    Compiling,
    /// Usable.
    Ready,
    /// Refused (see `error`).
    Rejected,
    /// Disabled (`DELETE /strategies/{id}`): readable, but starts no run or backtest.
    Disabled,
}

impl From<StrategyStatus> for StrategyStatusView {
    fn from(s: StrategyStatus) -> Self {
        match s {
            StrategyStatus::Uploaded => StrategyStatusView::Uploaded,
            StrategyStatus::Compiling => StrategyStatusView::Compiling,
            StrategyStatus::Ready => StrategyStatusView::Ready,
            StrategyStatus::Rejected => StrategyStatusView::Rejected,
            StrategyStatus::Disabled => StrategyStatusView::Disabled,
        }
    }
}

/// A strategy component.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StrategyView {
    /// Id.
    pub id: i64,
    /// Name (several versions may share it).
    pub name: String,
    /// Version label (default: the first 12 hex digits of the hash).
    pub version: String,
    /// Hex sha256 of the component.
    pub sha256: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Compilation status.
    pub status: StrategyStatusView,
    /// Why it was rejected.
    pub error: Option<String>,
    /// Uploaded at (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
    /// When it was disabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// The strategy contract version the component was built for: `0.3.0`, or `0.2.0` (run
    /// through the host's adapter: no declared series, warm-up 0); null when the stored file can
    /// no longer be read.
    pub contract: Option<String>,
    /// The contract versions this server runs (`weaver:strategy@0.2.0 to @0.3.0`).
    pub supported_contracts: String,
}

impl From<Strategy> for StrategyView {
    fn from(s: Strategy) -> Self {
        StrategyView {
            id: s.id,
            name: s.name,
            version: s.version,
            sha256: s.sha256,
            size_bytes: s.size_bytes,
            status: s.status.into(),
            error: s.error,
            created_at: s.created_at,
            updated_at: s.updated_at,
            disabled_at: s.disabled_at,
            contract: None,
            supported_contracts: crate::marvin::SUPPORTED_RANGE.to_owned(),
        }
    }
}

/// Filter of `GET /strategies`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StrategyFilter {
    /// Only the versions of this name (oldest first).
    pub name: Option<String>,
}

/// Lists strategies (all, or the versions of one name).
#[utoipa::path(get, path = "/strategies", tag = "strategies", params(StrategyFilter), responses(
    (status = 200, body = [StrategyView]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_strategies(
    State(state): State<AppState>,
    AppQuery(f): AppQuery<StrategyFilter>,
) -> Result<axum::Json<Vec<StrategyView>>, ApiError> {
    let w = &state.inner.walle;
    let rows = match f.name {
        Some(n) => w.strategies_by_name(&n).await?,
        None => w.strategies().await?,
    };
    Ok(axum::Json(super::strategies::views(&state, rows).await))
}

/// One strategy.
#[utoipa::path(get, path = "/strategies/{id}", tag = "strategies", params(("id" = i64, Path, description = "Strategy id")), responses(
    (status = 200, body = StrategyView), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn get_strategy(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<axum::Json<StrategyView>, ApiError> {
    let s = state
        .inner
        .walle
        .strategy(id)
        .await?
        .ok_or(ApiError::NotFound {
            entity: "strategy",
            id: id.to_string(),
        })?;
    Ok(axum::Json(super::strategies::view(&state, s).await))
}

/// Disables a strategy: it stays readable (status `disabled`) but starts no new run or
/// backtest. Refused with 409 `strategy_in_use` while a run of it is created, running or
/// stopping. Disabling a disabled strategy answers it unchanged.
#[utoipa::path(delete, path = "/strategies/{id}", tag = "strategies", params(("id" = i64, Path, description = "Strategy id")), responses(
    (status = 200, body = StrategyView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn disable_strategy(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<axum::Json<StrategyView>, ApiError> {
    let s = state.inner.walle.disable_strategy(id, None).await?;
    Ok(axum::Json(super::strategies::view(&state, s).await))
}

/// The global trading state every run's orders are checked against.
#[utoipa::path(get, path = "/trading-state", tag = "trading", responses(
    (status = 200, body = TradingStateBody), (status = 401, body = ErrorBody)))]
async fn get_trading_state(
    State(state): State<AppState>,
) -> Result<axum::Json<TradingStateBody>, ApiError> {
    Ok(axum::Json(super::trading::get(&state).await?))
}

/// Sets the global trading state (`active`, `reduce_only` or `halted`); stored, so it survives
/// a restart, and announced as the `ui.TradingState` event.
#[utoipa::path(put, path = "/trading-state", tag = "trading", request_body(content = TradingStateRequest,
    example = json!({"state": "halted", "flatten": true})), responses(
    (status = 200, body = TradingStateBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_trading_state(
    State(state): State<AppState>,
    AppJson(req): AppJson<TradingStateRequest>,
) -> Result<axum::Json<TradingStateBody>, ApiError> {
    Ok(axum::Json(super::trading::set(&state, req).await?))
}

/// Query of a raw upload.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Strategy name (required for `application/wasm` bodies).
    pub name: Option<String>,
    /// Version label.
    pub version: Option<String>,
}

/// Uploads a component: `Content-Type: application/wasm` with `?name=`, or `multipart/form-data`
/// with `file` and `name` (and optionally `version`). Validated at once; compiled in the
/// background (`status`: `compiling` → `ready` | `rejected`).
#[utoipa::path(post, path = "/strategies", tag = "strategies", params(UploadQuery),
    request_body(content(("application/wasm"), ("multipart/form-data")), description = "The component"),
    responses(
        (status = 202, body = StrategyView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn upload_strategy(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<UploadQuery>,
    req: Request,
) -> Result<(StatusCode, axum::Json<StrategyView>), ApiError> {
    let ctype = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (name, version, bytes) = if ctype.starts_with("application/wasm") {
        let name = q
            .name
            .ok_or_else(|| ApiError::InvalidParam("query parameter `name` is required".into()))?;
        let bytes = Bytes::from_request(req, &()).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidBody(r.body_text())
            }
        })?;
        (name, q.version, bytes)
    } else if ctype.starts_with("multipart/form-data") {
        read_multipart(req, q).await?
    } else {
        return Err(ApiError::UnsupportedMediaType(
            "send Content-Type: application/wasm (with ?name=) or multipart/form-data".into(),
        ));
    };
    if bytes.is_empty() {
        return Err(ApiError::Invalid {
            code: "empty_component",
            message: "the component is empty".into(),
        });
    }
    let s = strategies::upload(&state, &name, version.as_deref(), bytes).await?;
    let view = strategies::view(&state, s).await;
    Ok((StatusCode::ACCEPTED, axum::Json(view)))
}

async fn read_multipart(
    req: Request,
    q: UploadQuery,
) -> Result<(String, Option<String>, Bytes), ApiError> {
    let mut fields = MultipartFields::read(req, &["file", "name", "version"]).await?;
    let name = match fields.text("name")? {
        Some(n) => n,
        None => q
            .name
            .ok_or_else(|| ApiError::InvalidBody("multipart field `name` is required".into()))?,
    };
    let version = fields.text("version")?.or(q.version);
    Ok((name, version, fields.required("file")?))
}

/// Queues a backtest over stored candles; poll `GET /backtests/{id}` for the report.
#[utoipa::path(post, path = "/backtests", tag = "backtests", request_body(content = BacktestRequest,
    example = json!({"strategy": "sma-cross", "symbols": ["SYN"], "timeframe": "1Min", "cash": 10000,
        "commission": 0.001, "fill": "next_open", "warmup": 19, "params": {"fast": 5, "slow": 20}})), responses(
    (status = 202, body = BacktestView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody),
    (status = 422, description = "Refused: a field is unusable, or `backtest_too_large` (details: `estimate_mb`, `budget_mb`): its memory estimate alone is above `WEAVER_BACKTEST_MEMORY_MB`", body = ErrorBody)))]
async fn create_backtest(
    State(state): State<AppState>,
    AppJson(req): AppJson<BacktestRequest>,
) -> Result<(StatusCode, axum::Json<BacktestView>), ApiError> {
    let b = backtests::create(&state, req).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(backtests::view(&state, b))))
}

/// Page of `GET /backtests`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Only ids below this (cursor: the last id of the previous page).
    pub before: Option<i64>,
    /// Page size (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Backtests, newest first, as summaries: `report` holds the strategy and metrics but not the
/// trades or the equity curve (`GET /backtests/{id}` has the whole report). Paged with
/// `before` (the last id of the previous page) and `limit`.
#[utoipa::path(get, path = "/backtests", tag = "backtests", params(Page), responses(
    (status = 200, body = [BacktestView]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_backtests(
    State(state): State<AppState>,
    AppQuery(p): AppQuery<Page>,
) -> Result<axum::Json<Vec<BacktestView>>, ApiError> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::InvalidParam("limit must be 1–500".into()));
    }
    let rows = state
        .inner
        .walle
        .backtest_summaries(p.before, limit)
        .await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|b| backtests::summary(&state, b))
            .collect(),
    ))
}

/// One backtest; `report` is the `weaver backtest --report` JSON once `status` is `done`.
#[utoipa::path(get, path = "/backtests/{id}", tag = "backtests", params(("id" = i64, Path, description = "Backtest id")), responses(
    (status = 200, body = BacktestView), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn get_backtest(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<axum::Json<BacktestView>, ApiError> {
    let b = state
        .inner
        .walle
        .backtest(id)
        .await?
        .ok_or(ApiError::NotFound {
            entity: "backtest",
            id: id.to_string(),
        })?;
    Ok(axum::Json(backtests::view(&state, b)))
}

/// Starts a run (paper or live) of a ready strategy on a venue: `sim` (the simulated exchange
/// replaying stored candles), `alpaca` (when configured; live bars of any of Alpaca's nine
/// timeframes) or `sim-live` (paper only, when Alpaca is configured: simulated fills on bars
/// built from Alpaca's live minutes, the run's own
/// account of `cash`, default 10000; nothing sent to the broker). `GET /venues` lists them. Live runs need
/// Alpaca configured for live trading (`WEAVER_ALPACA_LIVE=true`); paper runs are refused on it.
#[utoipa::path(post, path = "/runs", tag = "runs", request_body(content = RunRequest,
    example = json!({"strategy": "sma-cross", "mode": "paper", "venue": "sim", "symbols": ["SYN"],
        "timeframe": "1Min", "params": {"fast": 5, "slow": 20}, "limits": {"fuel_per_event": 100_000_000}})), responses(
    (status = 201, body = RunView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
    (status = 503, description = "The venue cannot be reached (`venue_unavailable`); nothing was started", body = ErrorBody)))]
async fn create_run(
    State(state): State<AppState>,
    AppJson(req): AppJson<RunRequest>,
) -> Result<(StatusCode, axum::Json<RunView>), ApiError> {
    let run = runs::create(&state, req).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(runs::view(&state, run).await?),
    ))
}

/// Runs, newest first, a page at a time (`limit`, default 500): when more follow, the `Link`
/// header names the next page (`rel="next"`, its `before` cursor); `X-Total-Count` counts every
/// run matching the filter.
#[utoipa::path(get, path = "/runs", tag = "runs", params(runs::RunsQuery), responses(
    (status = 200, body = [RunView], headers(
        ("link" = String, description = "`</runs?before=<id>&limit=<n>>; rel=\"next\"` when more runs follow"),
        ("x-total-count" = i64, description = "Runs matching the filter, every page together"))),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_runs(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<runs::RunsQuery>,
) -> Result<Response, ApiError> {
    let (limit, status) = (q.limit.unwrap_or(runs::RUNS_PAGE), q.status.clone());
    let page = runs::list(&state, q).await?;
    let mut resp = axum::Json(page.views).into_response();
    let headers = resp.headers_mut();
    headers.insert("x-total-count", page.total.into());
    if let Some(before) = page.next_before {
        let filter = status.map(|s| format!("&status={s}")).unwrap_or_default();
        let link = format!("</runs?before={before}&limit={limit}{filter}>; rel=\"next\"");
        if let Ok(v) = axum::http::HeaderValue::from_str(&link) {
            headers.insert(axum::http::header::LINK, v);
        }
    }
    Ok(resp)
}

/// One run.
#[utoipa::path(get, path = "/runs/{id}", tag = "runs", params(("id" = i64, Path, description = "Run id")), responses(
    (status = 200, body = RunView), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn get_run(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<axum::Json<RunView>, ApiError> {
    let r = state.inner.walle.run(id).await?.ok_or(ApiError::NotFound {
        entity: "run",
        id: id.to_string(),
    })?;
    Ok(axum::Json(runs::view(&state, r).await?))
}
