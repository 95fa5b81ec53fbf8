//! Market data routes: stored candles and series, CSV import, synthetic series, the bundled
//! sample data, and downloads from Alpaca as background jobs (`POST /candles/download`, followed
//! with `GET /jobs/{id}`). Storing them is [`crate::greta::stored`]'s; downloading is
//! [`crate::veda::download`]'s.
//!
//! # Invariants
//! - An upload is parsed whole before the first write: a bad file stores nothing and the error
//!   names its line and column.
//! - Every write goes through [`Walle::upsert_candles`] (replace per symbol, timeframe and time,
//!   one `data.CandlesStored` event per series), as `weaver data import` does.
//! - Sample data is offered once per database: a user who deletes it or brings their own data
//!   first never gets it back unasked (`POST /candles/sample` loads it on demand).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::http::{AppJson, AppQuery, MultipartFields};
use super::orders::ListOrder;
use crate::domain::{Bar, Timeframe};
use crate::greta::stored::{load_sample, store};
use crate::greta::{csv, synth};
use crate::veda::download::{self, Adjustment, DownloadSpec};
use crate::walle::{self, CandleSeries};

/// Most bars `POST /candles/synth` generates.
const MAX_SYNTH_BARS: usize = 1_000_000;

/// Filter of `GET /candles`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CandleFilter {
    /// Symbol.
    pub symbol: String,
    /// Timeframe (`1Min`, `1Day`, …).
    pub timeframe: String,
    /// From (inclusive, RFC 3339).
    pub start: Option<DateTime<Utc>>,
    /// To (exclusive, RFC 3339). Newest first, the next (older) page ends at the oldest bar of
    /// the previous one: pass its `ts` as `end`.
    pub end: Option<DateTime<Utc>>,
    /// `desc` (newest first, the default: the end of the series) or `asc` (oldest first from
    /// `start`; the next page starts one second after the newest bar seen).
    pub order: Option<ListOrder>,
    /// At most this many (1–10000, default 1000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
}

/// One stored bar.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CandleView {
    /// Bar open time (UTC).
    pub ts: DateTime<Utc>,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume.
    pub volume: f64,
    /// Where the bar came from: `sample` (the bundled sample data), `import`, `download`,
    /// `synth`, `live`.
    pub source: String,
}

/// What is stored of one symbol and timeframe.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SeriesView {
    /// Symbol.
    pub symbol: String,
    /// Timeframe (`1Min`, `1Day`, …).
    pub timeframe: String,
    /// Open time of the first bar (UTC).
    pub first: DateTime<Utc>,
    /// Open time of the last bar (UTC).
    pub last: DateTime<Utc>,
    /// Number of bars.
    pub count: i64,
    /// `sample`, `import`, `download`, `synth`, `live`, `other`, or `mixed`.
    pub source: String,
    /// Price adjustment of downloaded bars: `raw`, `split`, `dividend`, `all`, or `mixed`;
    /// absent when unknown (imported, synthetic, sample or live bars).
    pub adjustment: Option<String>,
    /// Sessions in its range without a bar, and the calendar they were counted by (in
    /// `GET /candles/series` only; absent for weekly and monthly series).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gaps: Option<super::gaps::GapsView>,
}

impl From<CandleSeries> for SeriesView {
    fn from(s: CandleSeries) -> Self {
        SeriesView {
            symbol: s.symbol,
            timeframe: s.timeframe,
            first: s.first,
            last: s.last,
            count: s.count,
            source: s.source.to_owned(),
            adjustment: s.adjustment,
            gaps: None,
        }
    }
}

/// Body of `POST /candles/synth`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SynthRequest {
    /// Symbol to store the series as.
    pub symbol: String,
    /// Timeframe: bars are one nominal period apart from 2020-01-01T00:00:00Z.
    pub timeframe: String,
    /// Number of bars (1–1000000).
    #[schema(minimum = 1, maximum = 1000000)]
    pub bars: usize,
    /// Random seed (default 20240601, as `weaver data synth`).
    pub seed: Option<u64>,
}

/// Stored candles of one symbol and timeframe in `[start, end)`: the newest `limit` of them,
/// newest first, unless `order=asc` (the oldest first).
#[utoipa::path(get, path = "/candles", tag = "market data", params(CandleFilter), responses(
    (status = 200, body = [CandleView]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn list_candles(
    State(state): State<AppState>,
    AppQuery(f): AppQuery<CandleFilter>,
) -> Result<axum::Json<Vec<CandleView>>, ApiError> {
    let tf = timeframe(&f.timeframe)?;
    let limit = f.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::InvalidParam("limit must be 1–10000".into()));
    }
    let start = f.start.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let end = f.end.unwrap_or_else(crate::domain::far_future);
    let walle = &state.inner.walle;
    let rows = if f.order == Some(ListOrder::Asc) {
        walle
            .candles(&f.symbol, &tf.to_string(), start, end, limit)
            .await?
    } else {
        walle
            .candles_newest(&f.symbol, &tf.to_string(), start, end, limit)
            .await?
    };
    Ok(axum::Json(
        rows.into_iter()
            .map(|c| CandleView {
                ts: c.ts,
                open: c.open,
                high: c.high,
                low: c.low,
                close: c.close,
                volume: c.volume,
                source: walle::source_kind(&c.source).to_owned(),
            })
            .collect(),
    ))
}

/// Every stored series: symbol, timeframe, first and last bar, count and source, and its gap
/// report: the sessions in its range without a bar (`gaps`: `missing`, `count` of runs of
/// consecutive ones, the first 100 `ranges`), counted against the Alpaca venue's trading
/// calendar when Alpaca is configured (holidays are not gaps), else weekdays, and every UTC day
/// for crypto (`calendar` says which). Each series' entry is computed once per state of the
/// series and kept until a write changes it (`series_list`).
#[utoipa::path(get, path = "/candles/series", tag = "market data", responses(
    (status = 200, body = [SeriesView]), (status = 401, body = ErrorBody)))]
pub(super) async fn list_series(
    State(state): State<AppState>,
) -> Result<axum::Json<Vec<SeriesView>>, ApiError> {
    Ok(axum::Json(super::series_list::list(&state).await?))
}

/// Imports a CSV upload (multipart fields `file`, `symbol`, `timeframe`; the formats
/// `weaver data import` reads) and answers with the series stored. A bad file is refused with
/// 422 `invalid_csv` naming the line and column (`details: {line, column}`); nothing is stored.
#[utoipa::path(post, path = "/candles/import", tag = "market data",
    request_body(content(("multipart/form-data")), description = "Fields `file` (CSV), `symbol`, `timeframe`"),
    responses(
        (status = 201, body = SeriesView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn import_csv(
    State(state): State<AppState>,
    req: Request,
) -> Result<(StatusCode, axum::Json<SeriesView>), ApiError> {
    let is_multipart = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(ApiError::UnsupportedMediaType(
            "send multipart/form-data with fields file, symbol and timeframe".into(),
        ));
    }
    let mut fields = MultipartFields::read(req, &["file", "symbol", "timeframe"]).await?;
    let symbol = symbol(fields.text("symbol")?.unwrap_or_default().as_str())?;
    let tf =
        timeframe(&fields.text("timeframe")?.ok_or_else(|| {
            ApiError::InvalidBody("multipart field `timeframe` is required".into())
        })?)?;
    let file = fields.required("file")?;
    let bars = csv::parse(&file).map_err(|csv::BadLine { line, message }| {
        let column = csv::error_column(&message);
        ApiError::InvalidAt {
            code: "invalid_csv",
            message: match column {
                Some(c) => format!("line {line}, column {c}: {message}"),
                None => format!("line {line}: {message}"),
            },
            details: serde_json::json!({"line": line, "column": column}),
        }
    })?;
    let bars: Vec<Bar> = bars.into_iter().map(|b| b.bar).collect();
    let series = store(&state.inner.walle, &symbol, tf, &bars, "csv:upload").await?;
    Ok((StatusCode::CREATED, axum::Json(series.into())))
}

/// Generates and stores a synthetic series (the random walk of `weaver data synth`, its
/// volatility scaled to the timeframe).
#[utoipa::path(post, path = "/candles/synth", tag = "market data", request_body = SynthRequest,
    responses(
        (status = 201, body = SeriesView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn synth_series(
    State(state): State<AppState>,
    AppJson(r): AppJson<SynthRequest>,
) -> Result<(StatusCode, axum::Json<SeriesView>), ApiError> {
    let symbol = symbol(&r.symbol)?;
    let tf = timeframe(&r.timeframe)?;
    if !(1..=MAX_SYNTH_BARS).contains(&r.bars) {
        return Err(ApiError::Invalid {
            code: "invalid_bars",
            message: format!("bars must be 1–{MAX_SYNTH_BARS}, got {}", r.bars),
        });
    }
    let step = tf.nominal_millis();
    let times = (0..r.bars as i64).map(move |i| synth::START_MS + i * step);
    let bars = synth::generate_at(times, r.seed.unwrap_or(20_240_601), synth::sigma_for(tf));
    let series = store(&state.inner.walle, &symbol, tf, &bars, "synth").await?;
    Ok((StatusCode::CREATED, axum::Json(series.into())))
}

/// Loads the bundled sample data (symbol `SAMPLE`, `1Day` and `1Hour`) again; idempotent.
#[utoipa::path(post, path = "/candles/sample", tag = "market data", responses(
    (status = 201, body = [SeriesView]), (status = 401, body = ErrorBody)))]
pub(super) async fn load_sample_data(
    State(state): State<AppState>,
) -> Result<(StatusCode, axum::Json<Vec<SeriesView>>), ApiError> {
    let series = load_sample(&state.inner.walle).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(series.into_iter().map(Into::into).collect()),
    ))
}

/// Body of `POST /candles/download`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadRequest {
    /// Symbols (1–50), fetched one after the other.
    pub symbols: Vec<String>,
    /// Bar timeframe (`1Min`, `15Min`, `1Hour`, `1Day`, …).
    pub timeframe: String,
    /// From: a day (`2024-01-02`, from its 00:00 UTC) or an RFC 3339 time.
    pub start: String,
    /// To: a day (`2024-06-28`, to its 23:59:59 UTC) or an RFC 3339 time.
    pub end: String,
    /// Stock feed, `iex` or `sip` (default: `APCA_API_DATA_FEED`, else `iex`).
    pub feed: Option<String>,
    /// `raw`, `split`, `dividend` or `all` (default `all`: split- and dividend-adjusted).
    pub adjustment: Option<String>,
    /// Bars per page asked of Alpaca (1–10000, default 10000).
    pub page_limit: Option<u32>,
    /// Delete stored bars of these series that have another adjustment instead of refusing
    /// with 409 `adjustment_mismatch` (default false).
    pub replace: Option<bool>,
}

/// Starts downloading bars from Alpaca in the background and answers 202 with the job; follow
/// it with `GET /jobs/{id}`. 422 names the bad field (`details.field`); 409
/// `alpaca_not_configured` without Alpaca keys, `adjustment_mismatch` when a series is stored
/// with another adjustment (send `replace: true` to replace it).
#[utoipa::path(post, path = "/candles/download", tag = "market data", request_body = DownloadRequest,
    responses(
        (status = 202, body = super::jobs::JobView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn start_download(
    State(state): State<AppState>,
    AppJson(r): AppJson<DownloadRequest>,
) -> Result<(StatusCode, axum::Json<super::jobs::JobView>), ApiError> {
    let adjustment = match r.adjustment.as_deref() {
        None => Adjustment::default(),
        Some(a) => a.parse().map_err(download_error)?,
    };
    let spec = DownloadSpec {
        symbols: r.symbols.iter().map(|s| s.trim().to_owned()).collect(),
        timeframe: r.timeframe.trim().to_owned(),
        start: day_or_time(&r.start, "start", false)?,
        end: day_or_time(&r.end, "end", true)?,
        feed: r.feed,
        adjustment,
        page_limit: r.page_limit.unwrap_or(10_000),
        replace: r.replace.unwrap_or(false),
    };
    let job = state
        .inner
        .downloads
        .start(spec)
        .await
        .map_err(download_error)?;
    Ok((StatusCode::ACCEPTED, axum::Json(job.into())))
}

/// A day (its first or, for `end_of_day`, last second, UTC) or an RFC 3339 time.
fn day_or_time(text: &str, field: &str, end_of_day: bool) -> Result<DateTime<Utc>, ApiError> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let day =
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| ApiError::InvalidAt {
            code: "invalid_download",
            message: format!(
                "{field} must be a day (2024-01-02) or an RFC 3339 time, got {:?}",
                text.chars().take(40).collect::<String>()
            ),
            details: serde_json::json!({"field": field}),
        })?;
    let time = if end_of_day {
        chrono::NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default()
    } else {
        chrono::NaiveTime::MIN
    };
    Ok(day.and_time(time).and_utc())
}

fn download_error(e: download::Error) -> ApiError {
    match e {
        download::Error::Invalid { field, message } => ApiError::InvalidAt {
            code: "invalid_download",
            message,
            details: serde_json::json!({"field": field}),
        },
        download::Error::NotConfigured | download::Error::AdjustmentMismatch { .. } => {
            ApiError::Conflict {
                code: e.code(),
                message: e.to_string(),
            }
        }
        download::Error::Store(e) => ApiError::Store(e),
        other => ApiError::Internal(other.to_string()),
    }
}

fn timeframe(text: &str) -> Result<Timeframe, ApiError> {
    text.trim().parse().map_err(|e| ApiError::Invalid {
        code: "invalid_timeframe",
        message: format!("{e}"),
    })
}

/// A symbol as stored: 1–32 characters of letters, digits and `.`, `-`, `/`, `_`.
fn symbol(text: &str) -> Result<String, ApiError> {
    let s = text.trim();
    let ok = (1..=32).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-/_".contains(c));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(ApiError::Invalid {
            code: "invalid_symbol",
            message: format!(
                "symbol must be 1–32 letters, digits or . - / _, got {:?}",
                s.chars().take(40).collect::<String>()
            ),
        })
    }
}
