//! Backtests through the API: validated at once, queued in WallE, run by Greta on a blocking
//! thread over candles stored in the database, the strategy loaded through the server's shared
//! Marvin. The request becomes a [`BacktestSpec`], as `weaver backtest`'s flags do, so the
//! report is the `weaver backtest --report` JSON, built by the same code
//! (`BacktestSpec::engine_config`, `greta::report::build`).
//!
//! # Invariants
//! - A refused request (unknown or unready strategy, bad timeframe, no candles, bad money
//!   amounts) stores nothing and answers 4xx.
//! - Every accepted backtest ends `done` (report stored) or `failed` (error stored); a stop
//!   marks the ones still running `failed` with `interrupted by shutdown`.
//! - The stored report is split into `metrics` (everything but trades and equity), `trades` and
//!   `equity`; [`report_of`] puts it back together.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use crate::domain::Timeframe;
use crate::greta::report::{self, StrategyInfo};
use crate::greta::{BacktestSpec, DataWindow, FillModel, StoredWindow, StrategySource};
use crate::walle::{Backtest, BacktestReport, BacktestStatus, NewBacktest, StrategyStatus};

/// Most bars one backtest loads per symbol.
const MAX_BARS: i64 = 5_000_000;

/// Largest `warmup` accepted.
const MAX_WARMUP: u64 = 1_000_000;

/// A strategy by id, by name (the newest ready version), or by name and version label
/// (`{"name": "sma-cross", "version": "2"}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StrategyRef {
    /// Id.
    Id(i64),
    /// Name.
    Name(String),
    /// One version of a name.
    Version {
        /// Name given at upload.
        name: String,
        /// Version label given at upload.
        version: String,
    },
}

impl From<StrategyRef> for crate::walle::StrategyRef {
    fn from(r: StrategyRef) -> Self {
        match r {
            StrategyRef::Id(id) => crate::walle::StrategyRef::Id(id),
            StrategyRef::Name(n) => crate::walle::StrategyRef::Name(n),
            StrategyRef::Version { name, version } => {
                crate::walle::StrategyRef::Version { name, version }
            }
        }
    }
}

/// Market-order fill price.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum FillView {
    /// The next bar's open.
    #[default]
    NextOpen,
    /// The signal bar's close.
    Close,
}

/// `POST /backtests`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// Strategy id or name.
    pub strategy: StrategyRef,
    /// Symbols (candles must be stored for each).
    pub symbols: Vec<String>,
    /// Bar timeframe (`1Min`, `1Day`, …).
    pub timeframe: String,
    /// First bar time (inclusive, RFC 3339); default: the oldest stored.
    pub start: Option<DateTime<Utc>>,
    /// End (exclusive); default: after the newest stored.
    pub end: Option<DateTime<Utc>>,
    /// Starting cash (default 10000).
    pub cash: Option<f64>,
    /// Commission as a fraction of traded value per side (default 0.002).
    pub commission: Option<f64>,
    /// Market-order fill price (default `next_open`).
    pub fill: Option<FillView>,
    /// Indicator warm-up in bars (`weaver backtest --warmup`): buy & hold is measured from this
    /// bar's close. 0–1000000, default 0; like the CLI, a warm-up past the last bar counts from
    /// the last bar.
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub warmup: Option<u64>,
    /// Strategy parameters.
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A backtest as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BacktestView {
    /// Id.
    pub id: i64,
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The `weaver backtest --report` JSON once done.
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
    /// The request.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
}

impl From<Backtest> for BacktestView {
    fn from(b: Backtest) -> Self {
        BacktestView {
            id: b.id,
            status: serde_json::to_value(b.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            error: b.error.clone(),
            report: report_of(&b),
            config: b.config.0.clone(),
            created_at: b.created_at,
        }
    }
}

/// Reassembles the stored report.
pub fn report_of(b: &Backtest) -> Option<serde_json::Value> {
    let mut head = b.metrics.as_ref()?.0.as_object()?.clone();
    head.insert(
        "trades".into(),
        b.trades
            .as_ref()
            .map_or(serde_json::Value::Null, |t| t.0.clone()),
    );
    head.insert(
        "equity".into(),
        b.equity
            .as_ref()
            .map_or(serde_json::Value::Null, |t| t.0.clone()),
    );
    Some(serde_json::Value::Object(head))
}

/// Everything a run needs, resolved at request time.
struct Plan {
    /// The backtest; its data is a [`DataWindow::Stored`] window.
    spec: BacktestSpec,
    /// The strategy resolved from the request's id or name.
    strategy_id: i64,
    /// Its name and hash, for the report.
    name: String,
    sha256: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid {
        code,
        message: message.into(),
    }
}

async fn plan(state: &AppState, req: &BacktestRequest) -> Result<Plan, ApiError> {
    let w = &state.inner.walle;
    let strategy = w
        .resolve_strategy(&req.strategy.clone().into())
        .await?
        .ok_or_else(|| ApiError::NotFound {
            entity: "strategy",
            id: match &req.strategy {
                StrategyRef::Id(i) => i.to_string(),
                StrategyRef::Name(n) | StrategyRef::Version { name: n, .. } => {
                    super::http::truncate(n, 64)
                }
            },
        })?;
    if strategy.status == StrategyStatus::Disabled {
        return Err(ApiError::Conflict {
            code: "strategy_disabled",
            message: format!("strategy {} is disabled", strategy.id),
        });
    }
    if strategy.status != StrategyStatus::Ready {
        return Err(ApiError::Conflict {
            code: "strategy_not_ready",
            message: format!(
                "strategy {} is not ready (status {:?})",
                strategy.id, strategy.status
            ),
        });
    }
    let tf: Timeframe = req
        .timeframe
        .parse()
        .map_err(|e| invalid("invalid_timeframe", format!("{e}")))?;
    if req.symbols.is_empty() || req.symbols.len() > 32 {
        return Err(invalid("invalid_symbols", "give 1 to 32 symbols"));
    }
    let warmup = req.warmup.unwrap_or(0);
    if warmup > MAX_WARMUP {
        return Err(invalid(
            "invalid_warmup",
            format!("warmup must be 0–{MAX_WARMUP} bars"),
        ));
    }
    let start = req.start.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let end = req.end.unwrap_or_else(crate::domain::far_future);
    if start >= end {
        return Err(invalid("invalid_range", "start must be before end"));
    }
    for s in &req.symbols {
        if w.candles(s, &tf.to_string(), start, end, 1)
            .await?
            .is_empty()
        {
            return Err(invalid(
                "no_candles",
                format!(
                    "no {tf} candles stored for {} in the range (weaver data import)",
                    super::http::truncate(s, 32)
                ),
            ));
        }
    }
    let params = crate::runs::spec::text_params(req.params.as_ref());
    let path = state
        .inner
        .components_dir
        .join(format!("{}.wasm", strategy.sha256));
    let mut spec = BacktestSpec::new(
        StrategySource::Component(path),
        DataWindow::Stored(StoredWindow {
            symbols: req.symbols.clone(),
            timeframe: tf,
            start,
            end,
        }),
    );
    spec.cash = req.cash.unwrap_or(spec.cash);
    spec.commission.pct = req.commission.unwrap_or(spec.commission.pct);
    spec.fill = match req.fill.unwrap_or_default() {
        FillView::NextOpen => FillModel::NextOpen,
        FillView::Close => FillModel::Close,
    };
    spec.warmup = usize::try_from(warmup).unwrap_or(usize::MAX);
    spec.params = params;
    spec.engine_config()
        .map_err(|e| invalid("invalid_backtest", e.to_string()))?;
    Ok(Plan {
        spec,
        strategy_id: strategy.id,
        name: strategy.name,
        sha256: strategy.sha256,
    })
}

/// Validates and queues a backtest.
///
/// # Errors
/// 4xx for a refused request (nothing stored), 5xx for store failures.
pub async fn create(state: &AppState, req: BacktestRequest) -> Result<Backtest, ApiError> {
    let plan = plan(state, &req).await?;
    let strategy_id = Some(plan.strategy_id);
    let config = serde_json::to_value(&req).map_err(|e| ApiError::Internal(e.to_string()))?;
    let b = state
        .inner
        .walle
        .insert_backtest(
            &NewBacktest {
                strategy_id,
                run_id: None,
                config,
            },
            None,
        )
        .await?;
    spawn(state, b.id, plan);
    Ok(b)
}

fn spawn(state: &AppState, id: i64, plan: Plan) {
    let st = state.clone();
    state.inner.tasks.spawn(async move {
        let w = &st.inner.walle;
        if let Err(e) = w
            .update_backtest(id, BacktestStatus::Running, None, None, None)
            .await
        {
            tracing::error!(
                backtest_id = id,
                code = e.code(),
                "cannot start backtest: {e}"
            );
            return;
        }
        let outcome = execute(&st, plan).await;
        let res = match outcome {
            Ok(report) => {
                w.update_backtest(id, BacktestStatus::Done, Some(&report), None, None)
                    .await
            }
            Err(msg) => {
                w.update_backtest(id, BacktestStatus::Failed, None, Some(&msg), None)
                    .await
            }
        };
        if let Err(e) = res {
            tracing::error!(
                backtest_id = id,
                code = e.code(),
                "cannot record backtest outcome: {e}"
            );
        }
    });
}

async fn execute(st: &AppState, plan: Plan) -> Result<BacktestReport, String> {
    let DataWindow::Stored(window) = &plan.spec.data else {
        return Err("internal_error: an API backtest runs over stored candles".into());
    };
    let timeframe = window.timeframe.to_string();
    let mut series = Vec::with_capacity(window.symbols.len());
    for s in &window.symbols {
        let candles = st
            .inner
            .walle
            .candles(s, &timeframe, window.start, window.end, MAX_BARS)
            .await
            .map_err(|e| format!("{}: {e}", e.code()))?;
        series.push(window.series(s, candles.iter().map(|c| c.bar())));
    }
    let token = st.inner.shutdown.clone();
    let marvin = st.inner.marvin.clone();
    let job = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, String> {
        let spec = &plan.spec;
        let cfg = spec.engine_config().map_err(|e| e.to_string())?;
        let source = spec
            .strategy
            .load(Some(&marvin))
            .map_err(|e| e.to_string())?;
        let bt = crate::greta::Backtest::new(series).map_err(|e| format!("{}: {e}", e.code()))?;
        let mut strategy = (source.factory)(&bt.strategy_config(&spec.params))
            .map_err(|e| format!("{}: {}", e.code, e.message))?;
        let result = bt
            .run(strategy.as_mut(), &cfg, None)
            .map_err(|e| format!("{}: {e}", e.code()))?;
        let info = StrategyInfo {
            name: plan.name,
            sha256: plan.sha256,
            params: report::params_json(&spec.params),
        };
        serde_json::to_value(report::build(&bt, &cfg, info, &result)).map_err(|e| e.to_string())
    });
    let value = tokio::select! {
        r = job => r.map_err(|e| format!("internal_error: {e}"))??,
        () = token.cancelled() => return Err("interrupted by shutdown".into()),
    };
    let mut head = match value {
        serde_json::Value::Object(m) => m,
        _ => return Err("internal_error: report is not an object".into()),
    };
    let trades = head.remove("trades").unwrap_or_default();
    let equity = head.remove("equity").unwrap_or_default();
    Ok(BacktestReport {
        metrics: serde_json::Value::Object(head),
        trades,
        equity,
    })
}
