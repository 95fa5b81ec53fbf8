//! The list of `GET /candles/series`, kept between requests: each series' summary and gap
//! report is computed once per state of the series instead of on every request. Computing them
//! reads every bar of the series (its count and range, then its days for the gap report): 11 s
//! for 2M stored bars in a test build, a cost the dashboard's Data page paid on every visit.
//!
//! # Invariants
//! - The series listed are those WallE keeps a version token for ([`Walle::candle_series_versions`]):
//!   every candle write replaces its series' token in the same transaction, so no series with
//!   bars lacks one. A series whose bars were all deleted is not listed.
//! - An entry is used only while its series still has the token read *before* it was computed
//!   (a write during the computation leaves a stale token behind, never a stale entry in use),
//!   while the first configured venue is the one its gap report was counted with, and for at most
//!   a day (a venue's calendar can change).
//! - A gap report counted against weekdays because the venue's calendar could not be had is not
//!   kept: the next request asks the venue again.
//!
//! [`Walle::candle_series_versions`]: crate::walle::Walle::candle_series_versions

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::AppState;
use super::candles::SeriesView;
use crate::walle;

/// How long an entry is used at most.
const TTL: Duration = Duration::from_secs(24 * 3600);

/// The entries kept between requests (one per server).
#[derive(Default)]
pub struct SeriesCache(Mutex<HashMap<(String, String), Entry>>);

/// One series' view as computed at `version` against `venue`'s calendar.
struct Entry {
    version: i64,
    venue: Option<String>,
    at: Instant,
    /// `None`: the series has no bars.
    view: Option<SeriesView>,
}

impl SeriesCache {
    /// The kept view of `key` (`Some(None)`: kept as having no bars), if still valid.
    fn get(
        &self,
        key: &(String, String),
        version: i64,
        venue: Option<&str>,
    ) -> Option<Option<SeriesView>> {
        let entries = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(key)
            .filter(|e| e.version == version && e.venue.as_deref() == venue && e.at.elapsed() < TTL)
            .map(|e| e.view.clone())
    }

    fn put(&self, key: (String, String), entry: Entry) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, entry);
    }

    /// Drops the entries of series no longer listed.
    fn retain(&self, listed: &[(String, String, i64)]) {
        let mut entries = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let listed: HashSet<(&str, &str)> = listed
            .iter()
            .map(|(s, tf, _)| (s.as_str(), tf.as_str()))
            .collect();
        entries.retain(|(symbol, timeframe), _| {
            listed.contains(&(symbol.as_str(), timeframe.as_str()))
        });
    }
}

/// Every stored series with its gap report, by symbol then timeframe; from the cache where the
/// series has not changed since.
///
/// # Errors
/// [`walle::Error`] from reading the store.
pub async fn list(state: &AppState) -> Result<Vec<SeriesView>, walle::Error> {
    let walle = &state.inner.walle;
    let cache = &state.inner.series;
    let venue = state.inner.runs.desks().next().map(|d| d.name().to_owned());
    let versions = walle.candle_series_versions().await?;
    cache.retain(&versions);
    let mut out = Vec::with_capacity(versions.len());
    let mut computed = 0usize;
    for (symbol, timeframe, version) in versions {
        let key = (symbol, timeframe);
        if let Some(view) = cache.get(&key, version, venue.as_deref()) {
            out.extend(view);
            continue;
        }
        let view = match walle.candle_series(&key.0, &key.1).await? {
            Some(s) => {
                let gaps = super::gaps::of_series(state, &s).await?;
                Some(SeriesView { gaps, ..s.into() })
            }
            None => None,
        };
        computed += 1;
        // With a venue configured, `weekdays` means its calendar failed just now.
        let fallback = venue.is_some()
            && view
                .as_ref()
                .and_then(|v| v.gaps.as_ref())
                .is_some_and(|g| g.calendar == "weekdays");
        if !fallback {
            cache.put(
                key,
                Entry {
                    version,
                    venue: venue.clone(),
                    at: Instant::now(),
                    view: view.clone(),
                },
            );
        }
        out.extend(view);
    }
    tracing::debug!(listed = out.len(), computed, "series list");
    Ok(out)
}
