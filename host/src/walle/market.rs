//! Candles: OHLCV bars by symbol and timeframe, unique per `(symbol, timeframe, ts)`.
//!
//! # Invariants
//! - Re-importing a bar replaces it; there is never more than one row per symbol, timeframe and
//!   time. Non-finite values are refused.
//! - A live bar ([`Walle::store_live_bars`]) is stored with its `market.Bar` event in one
//!   transaction, and only when it changes what is stored: the same bar arriving twice (or for
//!   two runs) is one row and one event, whose id is derived from the venue and the bar.
//! - Every write that changes a series' candles gives the series a new version token in the same
//!   transaction ([`Walle::candle_series_version`], migration 0021), so a copy of its bars kept
//!   under the token read before them (`greta/bar_cache.rs`) is never used after the change.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Bar, Timeframe};
use crate::events::{Envelope, payloads};

use super::{Error, Result, Walle, exec, fetch};

/// One stored bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Candle {
    /// Symbol.
    pub symbol: String,
    /// Timeframe (`1Min`, `1Day`, …).
    pub timeframe: String,
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
    /// Where it came from (`alpaca`, `csv:<file>`, `synth`, `sample`).
    pub source: String,
}

/// A stored bar's time and prices ([`Walle::bars`]).
#[derive(sqlx::FromRow)]
struct BarRow {
    ts: DateTime<Utc>,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
}

/// A bar a live venue streamed, as [`Walle::store_live_bars`] stores it (source `live`).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveBar {
    /// The venue that streamed it (`alpaca`): part of its event's id.
    pub venue: String,
    /// Symbol.
    pub symbol: String,
    /// Timeframe (`1Min` for Alpaca's stream).
    pub timeframe: Timeframe,
    /// The bar.
    pub bar: Bar,
}

/// What is stored of one symbol and timeframe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandleSeries {
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
    /// Where the bars came from, as a kind: see [`source_kind`]; `mixed` when they differ.
    pub source: &'static str,
    /// The price adjustment of its downloaded bars (`raw`, `split`, `dividend`, `all`), `mixed`
    /// when they differ or only some bars have one, `None` when no bar has one (imports,
    /// synthetic, sample and live bars).
    pub adjustment: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Known {
    n: i64,
}

#[derive(sqlx::FromRow)]
struct DayRow {
    day: String,
}

#[derive(sqlx::FromRow)]
struct SeriesRow {
    symbol: String,
    timeframe: String,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    count: i64,
    min_source: String,
    max_source: String,
    min_adjustment: Option<String>,
    max_adjustment: Option<String>,
    adjusted: i64,
}

/// The kind of a stored `source`: `sample` (bundled sample data), `import` (a CSV file:
/// `csv:<file>`), `download` (Alpaca's historical bars), `synth` (generated), `live` (bars a
/// live run received), `other` for anything else.
pub fn source_kind(source: &str) -> &'static str {
    match source {
        "sample" => "sample",
        "alpaca" => "download",
        "synth" => "synth",
        "live" => "live",
        s if s.starts_with("csv:") => "import",
        _ => "other",
    }
}

/// Rows per `insert` statement of [`Walle::upsert_candles`]: one statement per row made a
/// million-bar import take minutes in a debug build; [`PARAMS_PER_ROW`] parameters a row keep
/// 200 rows (2,400 parameters) well under SQLite's 32,766 and PostgreSQL's 65,535.
const ROWS_PER_INSERT: usize = 200;

/// Parameters of one row of [`insert_candles_sql`].
const PARAMS_PER_ROW: usize = 12;

/// `insert … values (…), (…) … on conflict … do update` for `rows` candles, 12 parameters a
/// row in [`bind_candles!`]'s order (the batch's adjustment repeated on each row). SQLite gets
/// anonymous `?` parameters: for numbered ones sqlx looks up every parameter's name, which
/// SQLite finds by a linear scan, so binding a statement cost the square of its parameters
/// (57 % of a 335,000-bar import's CPU).
fn insert_candles_sql(rows: usize, numbered: bool) -> String {
    let mut sql = String::from(
        "insert into candles (symbol, timeframe, ts, open, high, low, close, volume, source, created_at, updated_at, adjustment) values ",
    );
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for i in 1..=PARAMS_PER_ROW {
            if i > 1 {
                sql.push_str(", ");
            }
            if numbered {
                sql.push_str(&format!("${}", r * PARAMS_PER_ROW + i));
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql.push_str(
        " on conflict (symbol, timeframe, ts) do update set open = excluded.open, \
         high = excluded.high, low = excluded.low, close = excluded.close, \
         volume = excluded.volume, source = excluded.source, updated_at = excluded.updated_at, \
         adjustment = excluded.adjustment",
    );
    sql
}

/// The candles with the last of each `(symbol, timeframe, ts)` only, in their order: one
/// statement may not touch a row twice (PostgreSQL refuses `on conflict do update` then), and
/// row by row the last one won.
fn last_of_each_key(candles: &[Candle]) -> Vec<&Candle> {
    let mut last = std::collections::HashMap::with_capacity(candles.len());
    for (i, c) in candles.iter().enumerate() {
        last.insert((c.symbol.as_str(), c.timeframe.as_str(), c.ts), i);
    }
    candles
        .iter()
        .enumerate()
        .filter(|(i, c)| last.get(&(c.symbol.as_str(), c.timeframe.as_str(), c.ts)) == Some(i))
        .map(|(_, c)| c)
        .collect()
}

/// Gives series `(symbol, timeframe)` a new random version token inside `tx` (the write that
/// changes its candles).
async fn new_series_version(tx: &mut super::Tx, symbol: &str, timeframe: &str) -> Result<()> {
    let token = uuid::Uuid::new_v4().as_u64_pair().0.cast_signed();
    exec!(
        tx.conn(),
        "insert into candle_series_versions (symbol, timeframe, version) values ($1, $2, $3) \
         on conflict (symbol, timeframe) do update set version = excluded.version",
        symbol,
        timeframe,
        token,
    )?;
    Ok(())
}

/// Binds a batch of candles ([`PARAMS_PER_ROW`] values each; `now` is both timestamps) to a
/// query of [`insert_candles_sql`].
macro_rules! bind_candles {
    ($q:expr, $rows:expr, $now:expr, $adjustment:expr) => {{
        let mut q = $q;
        for c in $rows {
            q = q
                .bind(c.symbol.as_str())
                .bind(c.timeframe.as_str())
                .bind(c.ts)
                .bind(c.open)
                .bind(c.high)
                .bind(c.low)
                .bind(c.close)
                .bind(c.volume)
                .bind(c.source.as_str())
                .bind($now)
                .bind($now)
                .bind($adjustment);
        }
        q
    }};
}

impl Candle {
    /// The bar the engines consume (UTC milliseconds).
    pub fn bar(&self) -> Bar {
        Bar {
            ts: self.ts.timestamp_millis(),
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
        }
    }
}

impl Walle {
    /// Inserts or replaces candles in one transaction and appends one `data.CandlesStored` per
    /// `(symbol, timeframe)` in the batch. Returns how many rows were written.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad timeframe, an empty symbol or a non-finite price,
    /// [`Error::Database`].
    pub async fn upsert_candles(
        &self,
        candles: &[Candle],
        cause: Option<&Envelope>,
    ) -> Result<u64> {
        self.upsert_candles_adjusted(candles, None, cause).await
    }

    /// [`Walle::upsert_candles`] recording the price adjustment the bars have (`raw`, `split`,
    /// `dividend`, `all`: Alpaca's downloads); `None` for bars whose adjustment is unknown.
    ///
    /// # Errors
    /// As [`Walle::upsert_candles`].
    pub async fn upsert_candles_adjusted(
        &self,
        candles: &[Candle],
        adjustment: Option<&str>,
        cause: Option<&Envelope>,
    ) -> Result<u64> {
        let mut groups: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for c in candles {
            c.timeframe
                .parse::<Timeframe>()
                .map_err(|e| Error::Invalid(e.to_string()))?;
            if c.symbol.trim().is_empty() {
                return Err(Error::Invalid("candle symbol is empty".into()));
            }
            if ![c.open, c.high, c.low, c.close, c.volume]
                .iter()
                .all(|v| v.is_finite())
            {
                return Err(Error::Invalid(format!(
                    "non-finite value in candle {} {}",
                    c.symbol, c.ts
                )));
            }
            *groups.entry((&c.symbol, &c.timeframe)).or_default() += 1;
        }
        let series: Vec<(&str, &str)> = groups.keys().copied().collect();
        let mut events = Vec::with_capacity(groups.len());
        for ((symbol, timeframe), count) in groups {
            let payload = payloads::CandlesStored {
                symbol: symbol.into(),
                timeframe: timeframe.into(),
                count,
            };
            let e = Envelope::new("data.CandlesStored", "walle", payload)?;
            events.push(match cause {
                Some(c) => e.caused_by(c),
                None => e,
            });
        }
        let now = Utc::now();
        let rows = last_of_each_key(candles);
        let mut tx = self.begin().await?;
        let mut written = 0;
        let numbered = self.is_pg();
        for batch in rows.chunks(ROWS_PER_INSERT) {
            // Only placeholders and constant text: every value is bound. Only the full batch's
            // statement is kept prepared: a short last batch has a text of its own each time,
            // and cached prepared statements of many rows hold memory for good.
            let sql = insert_candles_sql(batch.len(), numbered);
            written += match tx.conn() {
                super::Conn::Pg(c) => bind_candles!(
                    sqlx::query(sqlx::AssertSqlSafe(sql)),
                    batch,
                    now,
                    adjustment
                )
                .persistent(batch.len() == ROWS_PER_INSERT)
                .execute(&mut *c)
                .await?
                .rows_affected(),
                super::Conn::Lite(c) => bind_candles!(
                    sqlx::query(sqlx::AssertSqlSafe(sql)),
                    batch,
                    now,
                    adjustment
                )
                .persistent(batch.len() == ROWS_PER_INSERT)
                .execute(&mut *c)
                .await?
                .rows_affected(),
            };
        }
        for (symbol, timeframe) in series {
            new_series_version(&mut tx, symbol, timeframe).await?;
        }
        for e in &events {
            tx.append(e).await?;
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Stores live bars as candles with source `live`, each with one `market.Bar` event, in one
    /// transaction. A bar identical to the stored `live` one is skipped (no row change, no
    /// event), so a bar that arrives twice is stored and announced once; a corrected bar (other
    /// values) or one stored before from another source is replaced and announced again. The
    /// event's id is [`payloads::MarketBar::event_id`], the id the runs told the bar name as
    /// their decisions' cause; a bar corrected back to values announced before is not announced
    /// twice. Returns how many bars were stored (rows changed).
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty symbol or a non-finite value (nothing is stored),
    /// [`Error::Database`].
    pub async fn store_live_bars(&self, bars: &[LiveBar]) -> Result<u64> {
        for b in bars {
            let Bar {
                open,
                high,
                low,
                close,
                volume,
                ..
            } = b.bar;
            if b.symbol.trim().is_empty() {
                return Err(Error::Invalid("live bar symbol is empty".into()));
            }
            if ![open, high, low, close, volume]
                .iter()
                .all(|v| v.is_finite())
            {
                return Err(Error::Invalid(format!(
                    "non-finite value in live bar {} {}",
                    b.symbol, b.bar.ts
                )));
            }
        }
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let mut stored = 0;
        let mut changed_series = std::collections::BTreeSet::new();
        for b in bars {
            let ts = DateTime::<Utc>::from_timestamp_millis(b.bar.ts).ok_or_else(|| {
                Error::Invalid(format!("live bar time {} out of range", b.bar.ts))
            })?;
            let timeframe = b.timeframe.to_string();
            // The `where` makes a repeated bar a no-op: zero rows changed, so no event either.
            let changed = exec!(
                tx.conn(),
                "insert into candles (symbol, timeframe, ts, open, high, low, close, volume, source, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, 'live', $9, $9) \
                 on conflict (symbol, timeframe, ts) do update set open = excluded.open, \
                 high = excluded.high, low = excluded.low, close = excluded.close, \
                 volume = excluded.volume, source = excluded.source, updated_at = excluded.updated_at, \
                 adjustment = null \
                 where candles.source <> excluded.source or candles.open <> excluded.open \
                 or candles.high <> excluded.high or candles.low <> excluded.low \
                 or candles.close <> excluded.close or candles.volume <> excluded.volume",
                b.symbol.as_str(),
                timeframe.as_str(),
                ts,
                b.bar.open,
                b.bar.high,
                b.bar.low,
                b.bar.close,
                b.bar.volume,
                now,
            )?;
            if changed == 0 {
                continue;
            }
            stored += 1;
            changed_series.insert((b.symbol.clone(), timeframe.clone()));
            let payload = payloads::MarketBar {
                symbol: b.symbol.clone(),
                timeframe,
                bar: b.bar,
            };
            let id = payload.event_id(&b.venue);
            // A bar corrected and then corrected back is its first event again: stored once.
            let known = fetch!(
                fetch_one,
                tx.conn(),
                Known,
                "select count(*) as n from outbox where event_id = $1",
                id
            )?;
            if known.n > 0 {
                continue;
            }
            let mut event = Envelope::new("market.Bar", "walle", payload)?;
            event.id = id;
            tx.append(&event).await?;
        }
        for (symbol, timeframe) in &changed_series {
            new_series_version(&mut tx, symbol, timeframe).await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// Candles of one symbol and timeframe with `from <= ts < to`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn candles(
        &self,
        symbol: &str,
        timeframe: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Candle>> {
        self
            .read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    Candle,
                    "select symbol, timeframe, ts, open, high, low, close, volume, source from candles \
                     where symbol = $1 and timeframe = $2 and ts >= $3 and ts < $4 order by ts limit $5",
                    symbol,
                    timeframe,
                    from,
                    to,
                    limit,
                )
            })
            .await
    }

    /// The bars of one symbol and timeframe with `from <= ts < to`, oldest first, at most
    /// `limit`: what a backtest runs on. The same rows as [`Walle::candles`] without their
    /// symbol, timeframe and source, which a million-bar load would copy a million times.
    /// PostgreSQL sends them as binary `COPY` data (`bar_copy.rs`, ADR 0024), SQLite as rows.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn bars(
        &self,
        symbol: &str,
        timeframe: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Bar>> {
        if let super::Db::Pg(pool) = &self.inner.reads {
            return super::bar_copy::bars(pool, symbol, timeframe, from, to, limit).await;
        }
        let rows = self
            .read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    BarRow,
                    "select ts, open, high, low, close, volume from candles \
                     where symbol = $1 and timeframe = $2 and ts >= $3 and ts < $4 order by ts limit $5",
                    symbol,
                    timeframe,
                    from,
                    to,
                    limit,
                )
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Bar {
                ts: r.ts.timestamp_millis(),
                open: r.open,
                high: r.high,
                low: r.low,
                close: r.close,
                volume: r.volume,
            })
            .collect())
    }

    /// The version token of series `(symbol, timeframe)`: replaced by every write that changes
    /// its candles. `None` for a series never written since migration 0021 gave the stored ones
    /// theirs (a series without candles).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn candle_series_version(
        &self,
        symbol: &str,
        timeframe: &str,
    ) -> Result<Option<i64>> {
        self.read(async |c| {
            fetch!(
                fetch_optional,
                c,
                (i64,),
                "select version from candle_series_versions where symbol = $1 and timeframe = $2",
                symbol,
                timeframe
            )
        })
        .await
        .map(|r| r.map(|(v,)| v))
    }

    /// Every series' version token (see [`Walle::candle_series_version`]), by symbol then
    /// timeframe: one row per series ever written, including series since emptied.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn candle_series_versions(&self) -> Result<Vec<(String, String, i64)>> {
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                (String, String, i64),
                "select symbol, timeframe, version from candle_series_versions \
                 order by symbol, timeframe",
            )
        })
        .await
    }

    /// Candles of one symbol and timeframe with `from <= ts < to`, newest first, at most
    /// `limit`: the end of a series, and (with `to` = the oldest bar seen) the page before it.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn candles_newest(
        &self,
        symbol: &str,
        timeframe: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Candle>> {
        self
            .read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    Candle,
                    "select symbol, timeframe, ts, open, high, low, close, volume, source from candles \
                     where symbol = $1 and timeframe = $2 and ts >= $3 and ts < $4 order by ts desc limit $5",
                    symbol,
                    timeframe,
                    from,
                    to,
                    limit,
                )
            })
            .await
    }

    /// How many candles of one symbol and timeframe have `from <= ts < to` (an index range
    /// count: a backtest's size before it loads them).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn count_candles(
        &self,
        symbol: &str,
        timeframe: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<i64> {
        let (n,): (i64,) = self
            .read(async |c| {
                fetch!(
                    fetch_one,
                    c,
                    (i64,),
                    "select count(*) from candles \
                     where symbol = $1 and timeframe = $2 and ts >= $3 and ts < $4",
                    symbol,
                    timeframe,
                    from,
                    to,
                )
            })
            .await?;
        Ok(n)
    }

    /// The summary of series `(symbol, timeframe)`: first and last bar, count, source and
    /// adjustment; `None` when it has no bars. One index range read (the list of every series is
    /// [`Walle::candle_series_versions`]; `glados::series_list` keeps the summaries).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn candle_series(
        &self,
        symbol: &str,
        timeframe: &str,
    ) -> Result<Option<CandleSeries>> {
        // `where symbol = $1 and timeframe = $2`, not a statement shared with a list of every
        // series (`where $1 or (symbol = …)`): neither database plans a bound flag away, and one
        // series' summary scanned every stored candle (0.9 s for a 2,000-bar series beside 2M
        // others, against 2 ms by the index).
        let row = self
            .read(async |c| {
                fetch!(
                    fetch_optional,
                    c,
                    SeriesRow,
                    "select symbol, timeframe, min(ts) as first, max(ts) as last, \
                     count(*) as count, min(source) as min_source, max(source) as max_source, \
                     min(adjustment) as min_adjustment, max(adjustment) as max_adjustment, \
                     count(adjustment) as adjusted from candles \
                     where symbol = $1 and timeframe = $2 group by symbol, timeframe",
                    symbol,
                    timeframe,
                )
            })
            .await?;
        Ok(row.map(|r| {
            let (lo, hi) = (source_kind(&r.min_source), source_kind(&r.max_source));
            CandleSeries {
                symbol: r.symbol,
                timeframe: r.timeframe,
                first: r.first,
                last: r.last,
                count: r.count,
                source: if lo == hi { lo } else { "mixed" },
                adjustment: match (r.min_adjustment, r.max_adjustment) {
                    (Some(lo), Some(hi)) if lo == hi && r.adjusted == r.count => Some(lo),
                    (None, _) => None,
                    _ => Some("mixed".to_owned()),
                },
            }
        }))
    }

    /// The days on which one series has at least one bar, oldest first: each bar's open time
    /// moved by `shift_hours`, as a date. −4 maps every bar of a New York trading day (from the
    /// pre-market to the after-hours, and a daily bar stamped at New York midnight) to its
    /// session's date, summer and winter; 0 gives UTC days. One grouped query: the database
    /// reads the series' index range, Weaver gets one row per day.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`] for a stored time that is not one.
    pub async fn candle_days(
        &self,
        symbol: &str,
        timeframe: &str,
        shift_hours: i32,
    ) -> Result<Vec<NaiveDate>> {
        let sql = if self.is_pg() {
            "select distinct to_char((ts at time zone 'UTC') + make_interval(hours => $3), 'YYYY-MM-DD') as day \
             from candles where symbol = $1 and timeframe = $2 order by day"
        } else {
            // SQLite's date() takes the modifier as text ("-4 hours").
            "select distinct date(ts, $3 || ' hours') as day \
             from candles where symbol = $1 and timeframe = $2 order by day"
        };
        let rows: Vec<DayRow> = self
            .read(async |c| fetch!(fetch_all, c, DayRow, sql, symbol, timeframe, shift_hours))
            .await?;
        rows.into_iter()
            .map(|r| {
                NaiveDate::parse_from_str(&r.day, "%Y-%m-%d").map_err(|_| Error::Corrupt {
                    column: "candles.ts",
                    value: r.day.clone(),
                })
            })
            .collect()
    }

    /// Deletes every candle of one symbol and timeframe (a download replacing a series of
    /// another adjustment). Returns how many were deleted.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn delete_candle_series(&self, symbol: &str, timeframe: &str) -> Result<u64> {
        let mut tx = self.begin().await?;
        let n = exec!(
            tx.conn(),
            "delete from candles where symbol = $1 and timeframe = $2",
            symbol,
            timeframe
        )?;
        new_series_version(&mut tx, symbol, timeframe).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Open time of the last stored candle of one symbol and timeframe, if any.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn last_candle_time(
        &self,
        symbol: &str,
        timeframe: &str,
    ) -> Result<Option<DateTime<Utc>>> {
        let row: Option<(DateTime<Utc>,)> = self
            .read(async |c| {
                fetch!(
                    fetch_optional,
                    c,
                    (DateTime<Utc>,),
                    "select ts from candles where symbol = $1 and timeframe = $2 \
                     order by ts desc limit 1",
                    symbol,
                    timeframe
                )
            })
            .await?;
        Ok(row.map(|(t,)| t))
    }

    /// Whether any candle is stored (one index probe).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn has_candles(&self) -> Result<bool> {
        let row: Option<(i64,)> = self
            .read(async |c| {
                fetch!(
                    fetch_optional,
                    c,
                    (i64,),
                    "select cast(1 as bigint) from candles limit 1"
                )
            })
            .await?;
        Ok(row.is_some())
    }
}
