//! A run's equity curve, its fills at bar times and its progress, derived from what the run
//! already stores: its starting cash (`run_accounts`), its fills (with their orders' symbol and
//! side), the first and last bar time its strategy answered (the decisions projection) and the
//! closes of the stored candles of its symbols and timeframe. Nothing new is stored, so every
//! run ever made has a curve, and a running one's grows as its bars and fills are recorded.
//!
//! # How a point is made
//! The bar times are those of the stored candles of the run's symbols (their union) from the
//! first to the last bar time its strategy answered. The equity at bar time `t` is the starting
//! cash moved by every fill before the next bar time (a buy pays `qty × price + fee`, a sell
//! receives `qty × price − fee`) plus each position marked at its symbol's latest close at or
//! before `t` (at its last fill price before any close). On the simulated exchange that is the
//! account the run keeps itself (Greta's broker at the latest closes, no commission); on a live
//! venue it is the run's own fills marked at the stored bars.
//! A fill's bar time is the latest bar time at or before its fill time: on `sim` its own time
//! (orders fill at a bar's open, stamped with that bar's time), on a live venue the bar whose
//! period holds its wall-clock time.
//!
//! # Invariants
//! - A page's points are oldest first at distinct bar times; following `next_before` from the
//!   newest page walks the whole curve once, each bar time on one page.
//! - A fill is listed on the page holding its bar time, once; fills before a page's first bar
//!   time are in its first point's equity, not in its list.
//! - A sparkline has at most the points asked for, its first and last the curve's own.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::prelude::ToPrimitive;

use super::shadows::EquityPoint;
use super::{Error, Runs, SIM_CASH};
use crate::walle::{BarRange, Run, RunAccount, RunFill, Walle};

/// Default number of bar times in a page.
pub const DEFAULT_PAGE: usize = 2_000;
/// Most bar times in a page.
pub const MAX_PAGE: usize = 10_000;
/// Most runs one sparklines request names.
pub const MAX_SPARKLINE_RUNS: usize = 500;
/// Most points of one sparkline.
pub const MAX_SPARKLINE_POINTS: usize = 200;

/// One fill at its bar time.
#[derive(Debug, Clone, PartialEq)]
pub struct BarFill {
    /// The bar it belongs to (see the module docs).
    pub bar_ts: DateTime<Utc>,
    /// When the venue filled it.
    pub filled_at: DateTime<Utc>,
    /// The order filled.
    pub order_id: i64,
    /// Symbol.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Quantity.
    pub qty: f64,
    /// Price.
    pub price: f64,
}

/// How far a run got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Bars delivered to its strategy (each symbol's bar counts).
    pub bars_done: u64,
    /// On `sim`: every stored bar of its symbols and timeframe, what the run replays; `None`
    /// on a live venue, whose bars have no end.
    pub bars_total: Option<u64>,
}

/// A page of a run's equity curve with the fills at its bar times.
#[derive(Debug, Clone, PartialEq)]
pub struct EquityPage {
    /// Equity by bar time, oldest first.
    pub points: Vec<EquityPoint>,
    /// The fills at the page's bar times, oldest first.
    pub fills: Vec<BarFill>,
    /// Pass as `before` for the page of older bar times; `None` on the first page of the run.
    pub next_before: Option<DateTime<Utc>>,
    /// The first bar time the run's strategy answered (`None` before any).
    pub first_bar: Option<DateTime<Utc>>,
    /// The last it answered, or its latest fill's time when later (the decisions projection
    /// lags the run; its fills do not).
    pub last_bar: Option<DateTime<Utc>>,
    /// Starting cash.
    pub starting_cash: f64,
    /// How far the run got.
    pub progress: Progress,
}

/// A short sample of one run's equity curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Sparkline {
    /// The run.
    pub run_id: i64,
    /// At most the points asked for, evenly over the run's bar times, the last one kept.
    pub points: Vec<EquityPoint>,
    /// How far the run got.
    pub progress: Progress,
}

/// A fill as the account replay takes it.
#[derive(Debug, Clone, PartialEq)]
struct Flow {
    order_id: i64,
    symbol: String,
    side: String,
    /// Signed: positive buys.
    qty: f64,
    price: f64,
    fee: f64,
    filled_at: DateTime<Utc>,
}

impl From<&RunFill> for Flow {
    fn from(f: &RunFill) -> Flow {
        let n = |d: rust_decimal::Decimal| d.to_f64().unwrap_or(0.0);
        let qty = n(f.quantity);
        Flow {
            order_id: f.order_id,
            symbol: f.symbol.clone(),
            side: f.side.clone(),
            qty: if f.side == "sell" { -qty } else { qty },
            price: n(f.price),
            fee: n(f.fee),
            filled_at: f.filled_at,
        }
    }
}

/// Cash, positions and the latest mark of each symbol.
#[derive(Debug, Clone, Default)]
struct Book {
    cash: f64,
    positions: BTreeMap<String, f64>,
    marks: HashMap<String, f64>,
}

impl Book {
    fn apply(&mut self, f: &Flow) {
        self.cash -= f.qty * f.price + f.fee;
        *self.positions.entry(f.symbol.clone()).or_default() += f.qty;
        // Until a close is known, a position is worth what it was bought at.
        self.marks.entry(f.symbol.clone()).or_insert(f.price);
    }

    fn equity(&self) -> f64 {
        self.cash
            + self
                .positions
                .iter()
                .map(|(s, q)| q * self.marks.get(s).copied().unwrap_or(0.0))
                .sum::<f64>()
    }
}

/// The equity at each of `times` (ascending, not empty) and the fills at those bar times.
/// `book` is the account before the window's first bar time with the marks known then;
/// `closes` each symbol's `(ts, close)` within the window, oldest first; `upper` bounds the
/// fills of the last bar time (the next page's first bar time; all the rest when `None`).
fn walk(
    mut book: Book,
    flows: &[Flow],
    closes: &BTreeMap<String, Vec<(DateTime<Utc>, f64)>>,
    times: &[DateTime<Utc>],
    upper: Option<DateTime<Utc>>,
) -> (Vec<EquityPoint>, Vec<BarFill>) {
    let Some(first) = times.first() else {
        return (Vec::new(), Vec::new());
    };
    let mut next = flows.partition_point(|f| f.filled_at < *first);
    for f in &flows[..next] {
        book.apply(f);
    }
    let mut at: HashMap<&str, usize> = HashMap::new();
    let (mut points, mut fills) = (Vec::with_capacity(times.len()), Vec::new());
    for (i, t) in times.iter().enumerate() {
        for (symbol, series) in closes {
            let k = at.entry(symbol.as_str()).or_default();
            while let Some((_, close)) = series.get(*k).filter(|(ts, _)| ts <= t) {
                book.marks.insert(symbol.clone(), *close);
                *k += 1;
            }
        }
        let bound = times.get(i + 1).copied().or(upper);
        while let Some(f) = flows
            .get(next)
            .filter(|f| bound.is_none_or(|b| f.filled_at < b))
        {
            book.apply(f);
            fills.push(BarFill {
                bar_ts: *t,
                filled_at: f.filled_at,
                order_id: f.order_id,
                symbol: f.symbol.clone(),
                side: f.side.clone(),
                qty: f.qty.abs(),
                price: f.price,
            });
            next += 1;
        }
        points.push(EquityPoint {
            ts: *t,
            equity: book.equity(),
        });
    }
    (points, fills)
}

/// `range` stretched to the run's latest fill: the decisions projection lags the run by its
/// consumer, its fills do not, and a fill past the last decision's bar belongs to a later bar,
/// not to that one.
fn reach(range: BarRange, flows: &[Flow]) -> BarRange {
    let last = flows
        .last()
        .map_or(range.last, |f| f.filled_at.max(range.last));
    BarRange { last, ..range }
}

/// At most `n` of `points`, evenly spread, the first and the last kept.
fn thin(points: Vec<EquityPoint>, n: usize) -> Vec<EquityPoint> {
    if points.len() <= n || n < 2 {
        return points.into_iter().take(n.max(1)).collect();
    }
    let last = points.len() - 1;
    // Indices i·last/(n−1): evenly spread, 0 and `last` included, strictly increasing.
    (0..n).map(|i| points[i * last / (n - 1)]).collect()
}

/// A window of a run's curve: its `limit` newest bar times before `before` within `range`.
struct Window<'a> {
    walle: &'a Walle,
    run: &'a Run,
    cash: f64,
    range: BarRange,
    flows: &'a [Flow],
}

impl Window<'_> {
    async fn read(
        &self,
        before: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<(Vec<EquityPoint>, Vec<BarFill>, Option<DateTime<Utc>>), Error> {
        let (w, tf) = (self.walle, self.run.timeframe.as_str());
        // Bar times are at least a minute apart: one second past the last is past it.
        let end = self.range.last + TimeDelta::seconds(1);
        let to = before.map_or(end, |b| b.min(end));
        let rows = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut closes = BTreeMap::new();
        let mut times = BTreeSet::new();
        for symbol in self.run.symbols.iter() {
            let mut c = w
                .candle_closes(symbol, tf, (self.range.first, to), rows, true)
                .await?;
            c.reverse();
            times.extend(c.iter().map(|(t, _)| *t));
            closes.insert(symbol.clone(), c);
        }
        let skip = times.len().saturating_sub(limit);
        let times: Vec<DateTime<Utc>> = times.into_iter().skip(skip).collect();
        let Some(&first) = times.first() else {
            return Ok((Vec::new(), Vec::new(), None));
        };
        let mut book = Book {
            cash: self.cash,
            ..Book::default()
        };
        for (symbol, series) in closes.iter_mut() {
            series.retain(|(t, _)| *t >= first);
            let older = w
                .candle_closes(symbol, tf, (DateTime::<Utc>::UNIX_EPOCH, first), 1, true)
                .await?;
            if let Some((_, close)) = older.first() {
                book.marks.insert(symbol.clone(), *close);
            }
        }
        let (points, fills) = walk(book, self.flows, &closes, &times, before);
        let next_before = (first > self.range.first).then_some(first);
        Ok((points, fills, next_before))
    }
}

impl Runs {
    /// A page of run `id`'s equity curve: its `limit` newest bar times before `before` (the
    /// newest without it), the fills at them and the run's progress (see the module docs).
    ///
    /// # Errors
    /// [`Error::RunNotFound`], [`Error::Store`].
    pub async fn equity_page(
        &self,
        id: i64,
        before: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<EquityPage, Error> {
        let w = &self.inner.walle;
        let run = w.run(id).await?.ok_or(Error::RunNotFound(id))?;
        let stored = w.run_account(id).await?;
        let cash = stored.as_ref().map_or(SIM_CASH, |a| a.cash);
        let progress = self.progress(&run, stored.as_ref()).await?;
        let range = w.run_bar_ranges(id, id).await?.into_iter().next();
        let mut page = EquityPage {
            points: Vec::new(),
            fills: Vec::new(),
            next_before: None,
            first_bar: range.map(|r| r.first),
            last_bar: range.map(|r| r.last),
            starting_cash: cash,
            progress,
        };
        let Some(range) = range else {
            return Ok(page);
        };
        let flows: Vec<Flow> = w.run_fills(id, id).await?.iter().map(Flow::from).collect();
        let range = reach(range, &flows);
        page.last_bar = Some(range.last);
        let window = Window {
            walle: w,
            run: &run,
            cash,
            range,
            flows: &flows,
        };
        (page.points, page.fills, page.next_before) = window.read(before, limit).await?;
        Ok(page)
    }

    /// A sample of at most `points` points of each run's equity curve (`ids` in the order
    /// given, unknown ones left out), read with one query per kind of record for all of them
    /// and one per run and symbol for the closes.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn sparklines(&self, ids: &[i64], points: usize) -> Result<Vec<Sparkline>, Error> {
        let (Some(&lo), Some(&hi)) = (ids.iter().min(), ids.iter().max()) else {
            return Ok(Vec::new());
        };
        let w = &self.inner.walle;
        let ranges: HashMap<i64, BarRange> = w
            .run_bar_ranges(lo, hi)
            .await?
            .into_iter()
            .map(|r| (r.run_id, r))
            .collect();
        let accounts: HashMap<i64, RunAccount> = w
            .run_accounts(lo, hi)
            .await?
            .into_iter()
            .map(|a| (a.run_id, a))
            .collect();
        let mut flows: HashMap<i64, Vec<Flow>> = HashMap::new();
        for f in w.run_fills(lo, hi).await? {
            flows.entry(f.run_id).or_default().push(Flow::from(&f));
        }
        let mut out = Vec::with_capacity(ids.len());
        let mut seen = BTreeSet::new();
        for &id in ids {
            if !seen.insert(id) {
                continue;
            }
            let Some(run) = w.run(id).await? else {
                continue;
            };
            let stored = accounts.get(&id);
            let progress = self.progress(&run, stored).await?;
            let curve = match ranges.get(&id) {
                Some(range) => {
                    let flows = flows.get(&id).map(Vec::as_slice).unwrap_or_default();
                    let window = Window {
                        walle: w,
                        run: &run,
                        cash: stored.map_or(SIM_CASH, |a| a.cash),
                        range: reach(*range, flows),
                        flows,
                    };
                    window.read(None, usize::MAX).await?.0
                }
                None => Vec::new(),
            };
            out.push(Sparkline {
                run_id: id,
                points: thin(curve, points),
                progress,
            });
        }
        Ok(out)
    }

    /// How far `run` got: its bars delivered, and on `sim` every stored bar it replays.
    async fn progress(&self, run: &Run, stored: Option<&RunAccount>) -> Result<Progress, Error> {
        let bars_done = self.figures(run.id, stored).map_or_else(
            || stored.map_or(0, |a| u64::try_from(a.bars).unwrap_or(0)),
            |f| f.bars,
        );
        let bars_total = if run.venue == "sim" {
            let mut n = 0i64;
            for symbol in run.symbols.iter() {
                n += self
                    .inner
                    .walle
                    .count_candles(
                        symbol,
                        &run.timeframe,
                        DateTime::<Utc>::UNIX_EPOCH,
                        crate::domain::far_future(),
                    )
                    .await?;
            }
            Some(u64::try_from(n).unwrap_or(0))
        } else {
            None
        };
        Ok(Progress {
            bars_done,
            bars_total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn flow(symbol: &str, qty: f64, price: f64, at: &str) -> Flow {
        Flow {
            order_id: 1,
            symbol: symbol.into(),
            side: if qty > 0.0 { "buy" } else { "sell" }.into(),
            qty,
            price,
            fee: 0.0,
            filled_at: t(at),
        }
    }

    fn book(cash: f64) -> Book {
        Book {
            cash,
            ..Book::default()
        }
    }

    #[test]
    fn a_wall_clock_fill_belongs_to_the_bar_whose_period_holds_it() {
        // Hourly bars; a live fill at 10:32 is in the 10:00 bar, marked at its close.
        let times = [
            t("2024-01-02T09:00:00Z"),
            t("2024-01-02T10:00:00Z"),
            t("2024-01-02T11:00:00Z"),
        ];
        let closes = BTreeMap::from([(
            "AAPL".to_owned(),
            vec![(times[0], 100.0), (times[1], 101.0), (times[2], 99.0)],
        )]);
        let flows = [flow("AAPL", 10.0, 100.5, "2024-01-02T10:32:07Z")];
        let (points, fills) = walk(book(1_000.0), &flows, &closes, &times, None);
        assert_eq!(fills.len(), 1);
        assert_eq!(
            fills[0].bar_ts, times[1],
            "the bar time, not the wall clock"
        );
        assert_eq!(fills[0].filled_at, t("2024-01-02T10:32:07Z"));
        let eq: Vec<f64> = points.iter().map(|p| p.equity).collect();
        // 1000 − 1005 + 10 × close.
        assert_eq!(
            eq,
            vec![
                1_000.0,
                1_000.0 - 1_005.0 + 1_010.0,
                1_000.0 - 1_005.0 + 990.0
            ]
        );
    }

    #[test]
    fn a_sim_fill_at_a_bar_open_is_in_that_bar_and_shorts_and_fees_count() {
        let times = [
            t("2024-01-01T00:00:00Z"),
            t("2024-01-02T00:00:00Z"),
            t("2024-01-03T00:00:00Z"),
        ];
        let closes = BTreeMap::from([(
            "X".to_owned(),
            vec![(times[0], 50.0), (times[1], 48.0), (times[2], 45.0)],
        )]);
        let mut short = flow("X", -2.0, 49.0, "2024-01-02T00:00:00Z");
        short.fee = 1.0;
        let (points, fills) = walk(book(100.0), &[short], &closes, &times, None);
        assert_eq!(fills[0].bar_ts, times[1]);
        assert_eq!(fills[0].side, "sell");
        assert_eq!(fills[0].qty, 2.0);
        // Short 2 at 49 (+98 − 1 fee), marked at 48 then 45.
        let eq: Vec<f64> = points.iter().map(|p| p.equity).collect();
        assert_eq!(
            eq,
            vec![100.0, 100.0 + 98.0 - 1.0 - 96.0, 100.0 + 98.0 - 1.0 - 90.0]
        );
    }

    #[test]
    fn positions_in_two_symbols_are_marked_at_each_latest_close() {
        // B trades only on the second bar time; before it, its mark is the close before the window.
        let times = [t("2024-01-01T00:00:00Z"), t("2024-01-02T00:00:00Z")];
        let closes = BTreeMap::from([
            ("A".to_owned(), vec![(times[0], 10.0), (times[1], 11.0)]),
            ("B".to_owned(), vec![(times[1], 22.0)]),
        ]);
        let mut start = book(0.0);
        start.marks.insert("B".into(), 20.0);
        let flows = [
            flow("B", 1.0, 19.0, "2023-12-29T00:00:00Z"),
            flow("A", 1.0, 10.0, "2024-01-01T00:00:00Z"),
        ];
        let (points, fills) = walk(start, &flows, &closes, &times, None);
        assert_eq!(
            fills.len(),
            1,
            "the fill before the window is in its state, not its list"
        );
        let eq: Vec<f64> = points.iter().map(|p| p.equity).collect();
        assert_eq!(
            eq,
            vec![-19.0 - 10.0 + 20.0 + 10.0, -19.0 - 10.0 + 22.0 + 11.0]
        );
    }

    #[test]
    fn the_next_page_bound_keeps_a_later_fill_off_this_page() {
        let times = [t("2024-01-01T00:00:00Z"), t("2024-01-02T00:00:00Z")];
        let closes = BTreeMap::from([("A".to_owned(), vec![(times[0], 10.0), (times[1], 10.0)])]);
        let flows = [flow("A", 1.0, 10.0, "2024-01-03T00:00:00Z")];
        let (_, fills) = walk(
            book(0.0),
            &flows,
            &closes,
            &times,
            Some(t("2024-01-03T00:00:00Z")),
        );
        assert!(fills.is_empty(), "it belongs to the page after");
    }

    #[test]
    fn a_fill_past_the_projected_decisions_stretches_the_range_to_its_bar() {
        let range = BarRange {
            run_id: 1,
            first: t("2024-01-01T00:00:00Z"),
            last: t("2024-01-02T00:00:00Z"),
        };
        assert_eq!(reach(range, &[]), range);
        let later = [flow("A", 1.0, 10.0, "2024-01-03T00:00:00Z")];
        assert_eq!(reach(range, &later).last, t("2024-01-03T00:00:00Z"));
        assert_eq!(reach(range, &later).first, range.first);
        let earlier = [flow("A", 1.0, 10.0, "2024-01-01T12:00:00Z")];
        assert_eq!(reach(range, &earlier), range);
    }

    #[test]
    fn thinning_keeps_the_ends_and_at_most_n() {
        let p = |i: i64| EquityPoint {
            ts: DateTime::from_timestamp(i * 60, 0).unwrap_or_default(),
            equity: i as f64,
        };
        let all: Vec<EquityPoint> = (0..1000).map(p).collect();
        let some = thin(all.clone(), 40);
        assert_eq!(some.len(), 40);
        assert_eq!(some.first(), all.first());
        assert_eq!(some.last(), all.last());
        assert!(some.windows(2).all(|w| w[0].ts < w[1].ts));
        assert_eq!(thin(all[..5].to_vec(), 40).len(), 5);
    }
}
