//! The aligned timeline a backtest runs over: every bar of every symbol ordered by time and
//! symbol, grouped by timestamp, with the bar timeframe inferred from the spacing. Built once
//! and shared by every run over the same data (sweeps).
//!
//! # Invariants
//! - `group_start` has one entry per timestamp plus one at the end; groups are strictly
//!   ascending in time and, within a group, ordered by symbol index.

use super::Error;
use super::csv::Series;
use super::series::{DeclaredSeries, SeriesBars};
use crate::domain::{SeriesDecl, StrategyConfig, SymbolBar, TimeUnit, Timeframe, TsMillis};

/// What a run keeps of each loaded series (the bars themselves move into the timeline).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    /// Symbol name.
    pub symbol: String,
    /// Where the bars came from.
    pub path: String,
    /// Number of bars.
    pub bars: usize,
    /// First bar time.
    pub start: TsMillis,
    /// Last bar time.
    pub end: TsMillis,
}

/// Loaded, aligned market data, reusable across runs (sweeps share one).
#[derive(Debug)]
pub struct Backtest {
    /// The symbols, in run order.
    pub series: Vec<SeriesInfo>,
    /// Every bar of every symbol, ordered by (time, symbol index).
    pub(crate) timeline: Vec<SymbolBar>,
    /// `timeline` index where each timestamp group starts; one extra entry at the end.
    pub(crate) group_start: Vec<usize>,
    /// Inferred bar timeframe.
    pub timeframe: Timeframe,
    /// Candles stored for series strategies may declare (other timeframes or symbols), added
    /// with [`Backtest::add_stored_series`]; a declared series missing here is aggregated from
    /// the run's own bars (`greta/series.rs`).
    stored: DeclaredSeries,
}

impl Backtest {
    /// Aligns the series by timestamp.
    ///
    /// # Errors
    /// [`Error::Config`] for no series or duplicate symbol names.
    pub fn new(series: Vec<Series>) -> Result<Backtest, Error> {
        if series.is_empty() {
            return Err(Error::Config(
                "no data: give at least one --data file".to_owned(),
            ));
        }
        for (i, s) in series.iter().enumerate() {
            if series[..i].iter().any(|o| o.symbol == s.symbol) {
                return Err(Error::Config(format!(
                    "symbol {:?} is loaded twice; name them with --symbol",
                    s.symbol
                )));
            }
            if s.bars.is_empty() {
                return Err(Error::Config(format!("{} has no bars", s.path)));
            }
        }
        let infos: Vec<SeriesInfo> = series
            .iter()
            .map(|s| SeriesInfo {
                symbol: s.symbol.clone(),
                path: s.path.clone(),
                bars: s.bars.len(),
                start: s.bars[0].bar.ts,
                end: s.bars[s.bars.len() - 1].bar.ts,
            })
            .collect();
        let n_series = series.len();
        let timeline = if n_series == 1 {
            // One symbol: the parsed vector is the timeline (no copy).
            let mut bars = series
                .into_iter()
                .next()
                .map(|s| s.bars)
                .unwrap_or_default();
            bars.iter_mut().for_each(|b| b.symbol = 0);
            bars
        } else {
            let total: usize = series.iter().map(|s| s.bars.len()).sum();
            let mut timeline = Vec::with_capacity(total);
            let mut next = vec![0usize; n_series];
            loop {
                let mut best: Option<(TsMillis, usize)> = None;
                for (s, ser) in series.iter().enumerate() {
                    if let Some(b) = ser.bars.get(next[s])
                        && best.is_none_or(|(ts, _)| b.bar.ts < ts)
                    {
                        best = Some((b.bar.ts, s));
                    }
                }
                let Some((_, s)) = best else { break };
                timeline.push(SymbolBar {
                    symbol: s as u32,
                    bar: series[s].bars[next[s]].bar,
                });
                next[s] += 1;
            }
            timeline
        };
        let mut group_start = Vec::with_capacity(timeline.len() / n_series + 2);
        for (i, sb) in timeline.iter().enumerate() {
            if i == 0 || timeline[i - 1].bar.ts != sb.bar.ts {
                group_start.push(i);
            }
        }
        group_start.push(timeline.len());
        let timeframe = infer_timeframe(&timeline, &group_start);
        Ok(Backtest {
            series: infos,
            timeline,
            group_start,
            timeframe,
            stored: DeclaredSeries::default(),
        })
    }

    /// Adds the stored candles of one series (symbol + timeframe) that a strategy may declare.
    pub fn add_stored_series(&mut self, decl: &SeriesDecl, bars: Vec<crate::domain::Bar>) {
        self.stored
            .insert(decl, SeriesBars::new(bars, decl.timeframe));
    }

    /// The stored candles of declared series.
    pub(crate) fn stored_series(&self) -> &DeclaredSeries {
        &self.stored
    }

    /// Number of timestamps (equity points).
    pub fn len(&self) -> usize {
        self.group_start.len() - 1
    }

    /// Whether there is no bar at all (never true for a built `Backtest`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Symbol names in run order.
    pub fn symbols(&self) -> Vec<String> {
        self.series.iter().map(|s| s.symbol.clone()).collect()
    }

    /// The configuration a strategy instance gets for this data.
    pub fn strategy_config(&self, params: &[(String, String)]) -> StrategyConfig {
        StrategyConfig {
            params: params.to_vec(),
            symbols: self.symbols(),
            timeframe: self.timeframe,
        }
    }

    /// Timestamps `from..to` as a backtest of their own (a walk-forward window), with the same
    /// timeframe and declared series (their windows never reach past the current bar anyway).
    pub(crate) fn slice(&self, from: usize, to: usize) -> Backtest {
        let to = to.min(self.len());
        let from = from.min(to);
        let (a, b) = (self.group_start[from], self.group_start[to]);
        let timeline = self.timeline[a..b].to_vec();
        let group_start = self.group_start[from..=to].iter().map(|g| g - a).collect();
        let series = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut own = timeline.iter().filter(|sb| sb.symbol as usize == i);
                let first = own.next().map(|sb| sb.bar.ts);
                let last = own.next_back().map(|sb| sb.bar.ts).or(first);
                SeriesInfo {
                    symbol: s.symbol.clone(),
                    path: s.path.clone(),
                    bars: timeline.iter().filter(|sb| sb.symbol as usize == i).count(),
                    start: first.unwrap_or(s.start),
                    end: last.unwrap_or(s.end),
                }
            })
            .collect();
        Backtest {
            series,
            timeline,
            group_start,
            timeframe: self.timeframe,
            stored: self.stored.clone(),
        }
    }

    /// The timestamps, one per group.
    pub(crate) fn timestamps(&self) -> Vec<TsMillis> {
        self.group_start[..self.len()]
            .iter()
            .map(|&i| self.timeline[i].bar.ts)
            .collect()
    }

    /// Closes of the first symbol at each timestamp (carried forward where it has no bar): the
    /// buy & hold and beta benchmark.
    pub(crate) fn benchmark_closes(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.len());
        let mut last = self
            .timeline
            .iter()
            .find(|b| b.symbol == 0)
            .map_or(f64::NAN, |b| b.bar.close);
        for g in 0..self.len() {
            for sb in &self.timeline[self.group_start[g]..self.group_start[g + 1]] {
                if sb.symbol == 0 {
                    last = sb.bar.close;
                }
            }
            out.push(last);
        }
        out
    }
}

/// Guesses the bar timeframe from the median spacing of the first timestamps.
fn infer_timeframe(timeline: &[SymbolBar], group_start: &[usize]) -> Timeframe {
    let n = (group_start.len() - 1).min(1001);
    let mut diffs: Vec<i64> = (1..n)
        .map(|g| timeline[group_start[g]].bar.ts - timeline[group_start[g - 1]].bar.ts)
        .collect();
    if diffs.is_empty() {
        return Timeframe::DAY;
    }
    diffs.sort_unstable();
    let d = diffs[diffs.len() / 2];
    const MIN: i64 = 60_000;
    const DAY: i64 = 86_400_000;
    let (amount, unit) = if d >= 28 * DAY {
        (((d + 15 * DAY) / (30 * DAY)).max(1), TimeUnit::Month)
    } else if d >= 7 * DAY && d % (7 * DAY) == 0 {
        (d / (7 * DAY), TimeUnit::Week)
    } else if d >= DAY {
        ((d / DAY).max(1), TimeUnit::Day)
    } else if d >= 60 * MIN && d % (60 * MIN) == 0 {
        (d / (60 * MIN), TimeUnit::Hour)
    } else {
        ((d / MIN).max(1), TimeUnit::Minute)
    };
    Timeframe {
        amount: u32::try_from(amount).unwrap_or(1),
        unit,
    }
}
