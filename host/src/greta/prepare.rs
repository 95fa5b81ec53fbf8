//! Loading what a backtest job runs on (its stored bars, through the bar cache, its strategy
//! and the series that strategy declares), for the server's backtests and sweeps and the
//! workers' alike.
//!
//! # Invariants
//! - At most [`super::jobs::LOADS_AT_ONCE`] jobs read bars at once; a load ends early, with
//!   nothing kept, when the process shuts down.
//! - The bars are what the store holds at load time: the cache answers only for a series whose
//!   version is still the one its copy was made under (`bar_cache.rs`).

use super::jobs::{Jobs, MAX_BARS};
use super::{BacktestSpec, DataWindow};

/// How far before a backtest's start the stored candles of a declared series are loaded, in
/// bars of that series: the history its first windows can reach.
const DECLARED_HISTORY: i64 = 1_000;

/// A backtest ready to run: its engine settings, strategy source, data and strategy instance
/// (or why its `init` failed, as `code: message`).
pub(crate) type Prepared = (
    super::EngineConfig,
    super::StrategyBuilder,
    super::Backtest,
    Result<Box<dyn crate::domain::Strategy>, String>,
);

impl Jobs {
    /// Loads what a planned backtest runs on: its stored candles, its strategy (one instance,
    /// built with `spec.params`; `Err` when its `init` fails) and the stored candles of the series
    /// that instance declares. Sweeps load once this way and build one instance per point from
    /// the same source.
    ///
    /// # Errors
    /// The failure as `code: message` text.
    pub(crate) async fn prepare(&self, spec: &BacktestSpec) -> Result<Prepared, String> {
        let DataWindow::Stored(window) = &spec.data else {
            return Err("internal_error: a backtest job runs over stored candles".into());
        };
        let timeframe = window.timeframe.to_string();
        let mut series = Vec::with_capacity(window.symbols.len());
        let Ok(load) = self.loads.acquire().await else {
            return Err("internal_error: the load queue is closed".into());
        };
        let started = std::time::Instant::now();
        for s in &window.symbols {
            let bars = self
                .inner
                .bar_cache
                .bars(
                    &self.inner.walle,
                    s,
                    &timeframe,
                    window.start,
                    window.end,
                    MAX_BARS,
                )
                .await
                .map_err(|e| format!("{}: {e}", e.code()))?;
            series.push(window.series(s, bars));
        }
        drop(load);
        let bars_ms = started.elapsed().as_millis();
        let marvin = self.inner.marvin.clone();
        // First the strategy (its `init` declares the extra series it reads), then those series'
        // stored candles, then the run: a declared series with no stored candles is aggregated
        // from the run's own bars by the engine.
        let spec = spec.clone();
        let prepared = tokio::task::spawn_blocking(move || -> Result<Prepared, String> {
            let cfg = spec.engine_config().map_err(|e| e.to_string())?;
            let source = spec
                .strategy
                .load_with(Some(&marvin), &spec.limits)
                .map_err(|e| e.to_string())?;
            let bt = super::Backtest::new(series).map_err(|e| format!("{}: {e}", e.code()))?;
            let strategy = (source.factory)(&bt.strategy_config(&spec.params))
                .map_err(|e| format!("{}: {}", e.code, e.message));
            Ok((cfg, source, bt, strategy))
        });
        let (cfg, source, mut bt, strategy) = tokio::select! {
            r = prepared => r.map_err(|e| format!("internal_error: {e}"))??,
            () = self.inner.shutdown.cancelled() => return Err("interrupted by shutdown".into()),
        };
        tracing::debug!(
            bars_ms,
            strategy_ms = started.elapsed().as_millis() - bars_ms,
            "backtest prepared (strategy_ms: component loaded, bars as columns, first init)"
        );
        // An instance that failed its `init` declares nothing (a sweep goes on without it).
        let declared = strategy
            .as_ref()
            .map(|s| s.declaration().series)
            .unwrap_or_default();
        for decl in declared {
            let own = decl.timeframe == window.timeframe && window.symbols.contains(&decl.symbol);
            if own {
                continue;
            }
            let since = window.start
                - chrono::Duration::milliseconds(
                    decl.timeframe
                        .nominal_millis()
                        .saturating_mul(DECLARED_HISTORY),
                );
            let bars = self
                .inner
                .bar_cache
                .bars(
                    &self.inner.walle,
                    &decl.symbol,
                    &decl.timeframe.to_string(),
                    since,
                    window.end,
                    MAX_BARS,
                )
                .await
                .map_err(|e| format!("{}: {e}", e.code()))?;
            if !bars.is_empty() {
                bt.add_stored_series(&decl, bars);
            }
        }
        Ok((cfg, source, bt, strategy))
    }
}
