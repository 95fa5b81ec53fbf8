//! Downloads: Alpaca's historical bars into WallE's candles, page by page, with the price
//! adjustment asked for (`raw`, `split`, `dividend`, `all`; default `all`). One function,
//! [`download`], serves both `weaver data download` (synchronously) and the API's background
//! jobs ([`Downloads`]: `POST /candles/download`, `GET /jobs/{id}`).
//!
//! Placed in Veda because it is venue work (the Alpaca client and its request budget) that
//! writes through WallE, both to its right in the layer order; GLaDOS and the CLI call it, and
//! [`crate::app`] resumes unfinished jobs at start.
//!
//! # Invariants
//! - A series holds one adjustment: a download is refused (`adjustment_mismatch`) when stored
//!   bars of a symbol and timeframe have another one, unless it asks to `replace` the series,
//!   which deletes the stored bars of that symbol and timeframe before its first page.
//! - Each page is stored before the job's progress and cursor (symbol, next page token) are
//!   written, so a job resumed after a crash or restart continues at the page after the last one
//!   it stored and never fetches a completed page again (at most the one in flight).
//! - Every request draws on the process-wide request budget ([`crate::veda::rate_limit`]), shared
//!   with the runs, and 429s wait for `X-RateLimit-Reset` ([`AlpacaHttp`]).
//! - At most one download job works at a time; the others wait `queued`.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::domain::Timeframe;
use crate::veda::alpaca::http::BarsPageRequest;
use crate::veda::alpaca::{AlpacaConfig, AlpacaHttp};
use crate::veda::rate_limit::RequestBudget;
use crate::walle::{self, Candle, Job, JobStatus, Walle};

/// The job kind of downloads in the `jobs` table.
pub const JOB_KIND: &str = "download";
/// Most symbols one download asks for.
pub const MAX_SYMBOLS: usize = 50;

/// The price adjustment Alpaca applies to historical stock bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Adjustment {
    /// As traded.
    Raw,
    /// Adjusted for splits.
    Split,
    /// Adjusted for dividends.
    Dividend,
    /// Adjusted for splits and dividends (the default: a backtest across a split is right).
    #[default]
    All,
}

impl Adjustment {
    /// Alpaca's name of it (`raw`, `split`, `dividend`, `all`).
    pub fn as_str(self) -> &'static str {
        match self {
            Adjustment::Raw => "raw",
            Adjustment::Split => "split",
            Adjustment::Dividend => "dividend",
            Adjustment::All => "all",
        }
    }
}

impl std::fmt::Display for Adjustment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Adjustment {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim() {
            "raw" => Ok(Adjustment::Raw),
            "split" => Ok(Adjustment::Split),
            "dividend" => Ok(Adjustment::Dividend),
            "all" => Ok(Adjustment::All),
            other => Err(Error::Invalid {
                field: "adjustment",
                message: format!(
                    "adjustment must be raw, split, dividend or all, got {:?}",
                    other.chars().take(40).collect::<String>()
                ),
            }),
        }
    }
}

/// Why a download cannot start or failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad request; `field` names the part at fault.
    #[error("{message}")]
    Invalid {
        /// The field (`symbols`, `start`, `end`, `adjustment`, `feed`, `page_limit`).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Alpaca keys are not configured.
    #[error(
        "Alpaca is not configured: set APCA_API_KEY_ID and APCA_API_SECRET_KEY (and APCA_API_DATA_URL for another data host) and restart"
    )]
    NotConfigured,
    /// Stored bars of the series have another adjustment.
    #[error(
        "{symbol} {timeframe} is stored with adjustment {stored}; a download with adjustment {asked} would mix them (ask with replace to delete the stored series first)"
    )]
    AdjustmentMismatch {
        /// Symbol.
        symbol: String,
        /// Timeframe.
        timeframe: String,
        /// What is stored.
        stored: String,
        /// What was asked.
        asked: Adjustment,
    },
    /// The venue failed.
    #[error("downloading {symbol}: {source}")]
    Venue {
        /// The symbol being downloaded.
        symbol: String,
        /// Cause.
        source: crate::veda::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] walle::Error),
}

impl Error {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { .. } => "invalid_download",
            Error::NotConfigured => "alpaca_not_configured",
            Error::AdjustmentMismatch { .. } => "adjustment_mismatch",
            Error::Venue { source, .. } => source.code(),
            Error::Store(e) => e.code(),
        }
    }
}

/// What to download.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadSpec {
    /// Symbols (1–50), fetched one after the other.
    pub symbols: Vec<String>,
    /// Bar timeframe.
    pub timeframe: String,
    /// From (inclusive, UTC).
    pub start: DateTime<Utc>,
    /// To (inclusive, UTC).
    pub end: DateTime<Utc>,
    /// Stock feed (`iex`, `sip`); `None`: the configured one (`APCA_API_DATA_FEED`, else `iex`).
    pub feed: Option<String>,
    /// Price adjustment.
    pub adjustment: Adjustment,
    /// Bars per page (1–10000).
    pub page_limit: u32,
    /// Delete stored bars of another adjustment instead of refusing.
    #[serde(default)]
    pub replace: bool,
}

impl DownloadSpec {
    /// Checks the spec; returns its timeframe.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field.
    pub fn validate(&self) -> Result<Timeframe, Error> {
        let invalid = |field, message: String| Error::Invalid { field, message };
        if self.symbols.is_empty() || self.symbols.len() > MAX_SYMBOLS {
            return Err(invalid(
                "symbols",
                format!(
                    "symbols must name 1–{MAX_SYMBOLS} symbols, got {}",
                    self.symbols.len()
                ),
            ));
        }
        for s in &self.symbols {
            let ok = (1..=32).contains(&s.len())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-/_".contains(c));
            if !ok {
                return Err(invalid(
                    "symbols",
                    format!(
                        "a symbol is 1–32 letters, digits or . - / _, got {:?}",
                        s.chars().take(40).collect::<String>()
                    ),
                ));
            }
        }
        let timeframe = self
            .timeframe
            .parse::<Timeframe>()
            .map_err(|e| invalid("timeframe", e.to_string()))?;
        if self.end < self.start {
            return Err(invalid(
                "end",
                format!("end {} is before start {}", self.end, self.start),
            ));
        }
        if let Some(feed) = &self.feed
            && !matches!(feed.as_str(), "iex" | "sip")
        {
            return Err(invalid(
                "feed",
                format!("feed must be iex or sip, got {feed:?}"),
            ));
        }
        if !(1..=10_000).contains(&self.page_limit) {
            return Err(invalid(
                "page_limit",
                format!("page_limit must be 1–10000, got {}", self.page_limit),
            ));
        }
        Ok(timeframe)
    }
}

/// What a download did so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Bars fetched and stored.
    pub bars: u64,
    /// Pages fetched.
    pub pages: u64,
    /// Symbols finished.
    pub symbols_done: usize,
    /// Symbols asked for.
    pub symbols_total: usize,
    /// The symbol being fetched.
    pub symbol: Option<String>,
    /// Estimated seconds to finish (from the pace since this process started the job).
    pub eta_seconds: Option<u64>,
    /// Bars stored per symbol.
    #[serde(default)]
    pub per_symbol: std::collections::BTreeMap<String, u64>,
}

/// Where a download continues: the symbol (index into `symbols`) and its next page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Index of the symbol being fetched.
    pub symbol_index: usize,
    /// The next page's token (`None`: the symbol's first page).
    pub page_token: Option<String>,
}

/// Downloads `spec` from `cursor` on, storing every page with its adjustment. After each page
/// is stored, job `job` (when given) gets the progress and cursor, then `on_page` is told (the
/// CLI draws there).
///
/// # Errors
/// [`Error::Venue`], [`Error::Store`].
pub async fn download(
    http: &AlpacaHttp,
    walle: &Walle,
    spec: &DownloadSpec,
    progress: &mut Progress,
    cursor: &mut Cursor,
    job: Option<i64>,
    mut on_page: impl FnMut(&Progress) + Send,
) -> Result<(), Error> {
    let timeframe = spec.validate()?;
    let tf = timeframe.to_string();
    progress.symbols_total = spec.symbols.len();
    let began = Instant::now();
    let done_at_start = fraction_done(spec, progress, cursor, None);
    while let Some(symbol) = spec.symbols.get(cursor.symbol_index) {
        progress.symbol = Some(symbol.clone());
        if cursor.page_token.is_none() && spec.replace {
            // Deleting again after a restart is harmless: the symbol starts over anyway.
            walle.delete_candle_series(symbol, &tf).await?;
        }
        let page = http
            .bars_page(&BarsPageRequest {
                symbol,
                timeframe,
                start: spec.start,
                end: spec.end,
                limit: spec.page_limit,
                feed: spec.feed.as_deref(),
                adjustment: spec.adjustment,
                page_token: cursor.page_token.as_deref(),
            })
            .await
            .map_err(|source| Error::Venue {
                symbol: symbol.clone(),
                source,
            })?;
        let candles: Vec<Candle> = page
            .bars
            .iter()
            .filter_map(|b| {
                Some(Candle {
                    symbol: symbol.clone(),
                    timeframe: tf.clone(),
                    ts: DateTime::from_timestamp_millis(b.ts)?,
                    open: b.open,
                    high: b.high,
                    low: b.low,
                    close: b.close,
                    volume: b.volume,
                    source: "alpaca".into(),
                })
            })
            .collect();
        walle
            .upsert_candles_adjusted(&candles, Some(spec.adjustment.as_str()), None)
            .await?;
        progress.pages += 1;
        progress.bars += candles.len() as u64;
        *progress.per_symbol.entry(symbol.clone()).or_default() += candles.len() as u64;
        let last = candles.last().map(|c| c.ts);
        match page.next_page_token {
            Some(token) => cursor.page_token = Some(token),
            None => {
                cursor.symbol_index += 1;
                cursor.page_token = None;
                progress.symbols_done += 1;
            }
        }
        let done = fraction_done(spec, progress, cursor, last);
        progress.eta_seconds = eta(began.elapsed().as_secs_f64(), done_at_start, done);
        if cursor.symbol_index >= spec.symbols.len() {
            progress.symbol = None;
            progress.eta_seconds = Some(0);
        }
        if let Some(id) = job {
            walle
                .update_job(
                    id,
                    JobStatus::Running,
                    &to_json(&*progress),
                    Some(&to_json(&*cursor)),
                    None,
                )
                .await?;
        }
        on_page(progress);
    }
    Ok(())
}

/// Share of the work done: finished symbols, plus how far into its time range the current
/// symbol's last stored bar is.
fn fraction_done(
    spec: &DownloadSpec,
    progress: &Progress,
    cursor: &Cursor,
    last: Option<DateTime<Utc>>,
) -> f64 {
    let total = spec.symbols.len().max(1) as f64;
    let span = (spec.end - spec.start).num_milliseconds().max(1) as f64;
    let within = match (cursor.page_token.as_ref(), last) {
        (Some(_), Some(t)) => ((t - spec.start).num_milliseconds() as f64 / span).clamp(0.0, 1.0),
        _ => 0.0,
    };
    ((progress.symbols_done as f64 + within) / total).clamp(0.0, 1.0)
}

/// Seconds left at the pace since `from` (the share done when this process began): `None`
/// until there is a pace to go by.
fn eta(elapsed_s: f64, from: f64, now: f64) -> Option<u64> {
    let gained = now - from;
    if gained <= 0.0 {
        return None;
    }
    Some(((1.0 - now) * elapsed_s / gained).ceil().max(0.0) as u64)
}

/// Refuses a download whose adjustment differs from what stored bars of its series have
/// (unless it replaces them).
///
/// # Errors
/// [`Error::AdjustmentMismatch`], [`Error::Store`].
pub async fn check_adjustments(walle: &Walle, spec: &DownloadSpec) -> Result<(), Error> {
    if spec.replace {
        return Ok(());
    }
    let tf = spec.validate()?.to_string();
    for symbol in &spec.symbols {
        if let Some(series) = walle.candle_series(symbol, &tf).await?
            && let Some(stored) = series.adjustment
            && stored != spec.adjustment.as_str()
        {
            return Err(Error::AdjustmentMismatch {
                symbol: symbol.clone(),
                timeframe: tf.clone(),
                stored,
                asked: spec.adjustment,
            });
        }
    }
    Ok(())
}

/// The download jobs of the server. Cheap to clone.
#[derive(Clone)]
pub struct Downloads {
    inner: Arc<Inner>,
}

struct Inner {
    walle: Walle,
    http: Option<AlpacaHttp>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    /// One job works at a time: they share the venue's request budget anyway.
    running: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Downloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downloads")
            .field("configured", &self.inner.http.is_some())
            .finish_non_exhaustive()
    }
}

/// What [`Downloads`] is built from.
#[derive(Debug)]
pub struct DownloadsParts {
    /// The store.
    pub walle: Walle,
    /// Alpaca, when configured.
    pub alpaca: Option<AlpacaConfig>,
    /// Where job tasks are tracked.
    pub tasks: TaskTracker,
    /// Cancelled at shutdown: a job stops where it is and stays `running`, to be resumed.
    pub shutdown: CancellationToken,
}

impl Downloads {
    /// The service; its client draws on the process-wide request budget.
    ///
    /// # Errors
    /// [`crate::veda::Error::Config`] when the HTTP client cannot be built.
    pub fn new(p: DownloadsParts) -> crate::veda::Result<Downloads> {
        let http = p
            .alpaca
            .map(|c| AlpacaHttp::new(c, RequestBudget::global()))
            .transpose()?;
        Ok(Downloads {
            inner: Arc::new(Inner {
                walle: p.walle,
                http,
                tasks: p.tasks,
                shutdown: p.shutdown,
                running: tokio::sync::Semaphore::new(1),
            }),
        })
    }

    /// Validates `spec`, stores it as a `queued` job and starts it in the background.
    ///
    /// # Errors
    /// [`Error::Invalid`], [`Error::NotConfigured`], [`Error::AdjustmentMismatch`],
    /// [`Error::Store`].
    pub async fn start(&self, spec: DownloadSpec) -> Result<Job, Error> {
        spec.validate()?;
        if self.inner.http.is_none() {
            return Err(Error::NotConfigured);
        }
        check_adjustments(&self.inner.walle, &spec).await?;
        let progress = Progress {
            symbols_total: spec.symbols.len(),
            ..Progress::default()
        };
        let job = self
            .inner
            .walle
            .insert_job(JOB_KIND, &to_json(&spec), &to_json(&progress))
            .await?;
        self.spawn(job.clone());
        Ok(job)
    }

    /// Starts again the download jobs an earlier process left `queued` or `running`, each from
    /// its cursor. Returns their ids.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn resume(&self) -> Result<Vec<i64>, Error> {
        let jobs = self.inner.walle.unfinished_jobs(JOB_KIND).await?;
        let ids = jobs.iter().map(|j| j.id).collect();
        for job in jobs {
            self.spawn(job);
        }
        Ok(ids)
    }

    fn spawn(&self, job: Job) {
        let this = self.clone();
        let stop = self.inner.shutdown.clone();
        let id = job.id;
        self.inner.tasks.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {
                    tracing::info!(job = id, "download interrupted by shutdown; resumed at next start");
                }
                () = this.work(job) => {}
            }
        });
    }

    async fn work(&self, job: Job) {
        let Ok(_permit) = self.inner.running.acquire().await else {
            return;
        };
        let id = job.id;
        let walle = &self.inner.walle;
        let spec: DownloadSpec = match serde_json::from_value(job.spec.clone()) {
            Ok(s) => s,
            Err(e) => {
                let message = format!("unreadable job spec: {e}");
                return fail(walle, id, &job.progress, &message).await;
            }
        };
        let Some(http) = &self.inner.http else {
            return fail(walle, id, &job.progress, &Error::NotConfigured.to_string()).await;
        };
        let mut progress: Progress =
            serde_json::from_value(job.progress.clone()).unwrap_or_default();
        let mut cursor: Cursor = job
            .cursor
            .clone()
            .and_then(|c| serde_json::from_value(c).ok())
            .unwrap_or_default();
        let running = walle
            .update_job(
                id,
                JobStatus::Running,
                &to_json(&progress),
                Some(&to_json(&cursor)),
                None,
            )
            .await;
        if let Err(e) = running {
            let message = format!("{}: {e}", e.code());
            return fail(walle, id, &job.progress, &message).await;
        }
        tracing::info!(
            job = id,
            symbol_index = cursor.symbol_index,
            resumed = cursor.page_token.is_some(),
            "download running"
        );
        let result = download(
            http,
            walle,
            &spec,
            &mut progress,
            &mut cursor,
            Some(id),
            |_| {},
        )
        .await;
        match result {
            Ok(()) => {
                let done = walle
                    .update_job(id, JobStatus::Done, &to_json(&progress), None, None)
                    .await;
                if let Err(e) = done {
                    tracing::error!(
                        job = id,
                        code = e.code(),
                        "download job not marked done: {e}"
                    );
                }
                tracing::info!(
                    job = id,
                    bars = progress.bars,
                    pages = progress.pages,
                    "download done"
                );
            }
            Err(e) => {
                let message = format!("{}: {e}", e.code());
                fail(walle, id, &to_json(&progress), &message).await;
            }
        }
    }
}

/// Marks job `id` failed with `message` (logged when even that fails).
async fn fail(walle: &Walle, id: i64, progress: &serde_json::Value, message: &str) {
    tracing::warn!(job = id, "download failed: {message}");
    if let Err(e) = walle
        .update_job(id, JobStatus::Failed, progress, None, Some(message))
        .await
    {
        tracing::error!(
            job = id,
            code = e.code(),
            "download job not marked failed: {e}"
        );
    }
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    // Only plain structs of strings and numbers: serialising cannot fail.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> DownloadSpec {
        DownloadSpec {
            symbols: vec!["AAPL".into()],
            timeframe: "1Day".into(),
            start: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            end: DateTime::from_timestamp(1_700_100_000, 0).unwrap(),
            feed: None,
            adjustment: Adjustment::All,
            page_limit: 1000,
            replace: false,
        }
    }

    #[test]
    fn validation_names_the_field() {
        let field = |s: DownloadSpec| match s.validate() {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let mut s = spec();
        s.symbols = (0..51).map(|i| format!("S{i}")).collect();
        assert_eq!(field(s), "symbols");
        let mut s = spec();
        std::mem::swap(&mut s.start, &mut s.end);
        assert_eq!(field(s), "end");
        let mut s = spec();
        s.feed = Some("otc".into());
        assert_eq!(field(s), "feed");
        assert!(spec().validate().is_ok());
        assert!(matches!(
            "adjusted".parse::<Adjustment>(),
            Err(Error::Invalid {
                field: "adjustment",
                ..
            })
        ));
        assert_eq!("all".parse::<Adjustment>().unwrap(), Adjustment::default());
    }

    #[test]
    fn eta_follows_the_pace() {
        assert_eq!(eta(10.0, 0.0, 0.5), Some(10));
        assert_eq!(eta(10.0, 0.5, 0.5), None);
        assert_eq!(eta(3.0, 0.0, 1.0), Some(0));
    }
}
