//! What a run's charts are derived from, read in few queries: its fills with their orders'
//! symbol and side, the first and last bar time its strategy answered (the decisions
//! projection), and closes of stored candles. Nothing here is written: a run's equity curve is
//! computed from these by [`crate::runs::equity`], never stored.
//!
//! # Invariants
//! - Reads only; every query is bounded by a run id range or a `limit`.
//! - Fills come oldest first (by fill time, then row id), so replaying them in order rebuilds
//!   the run's cash and positions as they moved.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{Num, Result, Walle, fetch};

/// One fill of a run, with what its order says of it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFill {
    /// The run.
    pub run_id: i64,
    /// The order filled.
    pub order_id: i64,
    /// Symbol.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Quantity (positive).
    pub quantity: Decimal,
    /// Price.
    pub price: Decimal,
    /// Fee.
    pub fee: Decimal,
    /// When the venue filled it: the bar time on the simulated exchange, the wall clock on a
    /// live venue.
    pub filled_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct FillRow {
    run_id: i64,
    order_id: i64,
    symbol: String,
    side: String,
    quantity: Num,
    price: Num,
    fee: Num,
    filled_at: DateTime<Utc>,
}

/// The bar times a run's strategy answered: the first and the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct BarRange {
    /// The run.
    pub run_id: i64,
    /// The first bar time.
    #[sqlx(rename = "first_bar")]
    pub first: DateTime<Utc>,
    /// The last bar time.
    #[sqlx(rename = "last_bar")]
    pub last: DateTime<Utc>,
}

impl Walle {
    /// The fills of runs `from..=to`, by run, then oldest first (fill time, then row id).
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn run_fills(&self, from: i64, to: i64) -> Result<Vec<RunFill>> {
        let rows = self
            .read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    FillRow,
                    "select o.run_id as run_id, f.order_id as order_id, o.symbol as symbol, \
                     o.side as side, f.quantity as quantity, f.price as price, f.fee as fee, \
                     f.filled_at as filled_at \
                     from orders o join fills f on f.order_id = o.id \
                     where o.run_id >= $1 and o.run_id <= $2 \
                     order by o.run_id, f.filled_at, f.id",
                    from,
                    to,
                )
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| RunFill {
                run_id: r.run_id,
                order_id: r.order_id,
                symbol: r.symbol,
                side: r.side,
                quantity: r.quantity.0,
                price: r.price.0,
                fee: r.fee.0,
                filled_at: r.filled_at,
            })
            .collect())
    }

    /// The first and last bar time each of runs `from..=to` answered (runs without a decision
    /// yet are absent).
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn run_bar_ranges(&self, from: i64, to: i64) -> Result<Vec<BarRange>> {
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                BarRange,
                "select run_id, min(bar_ts) as first_bar, max(bar_ts) as last_bar from strategy_results \
                 where run_id >= $1 and run_id <= $2 and bar_ts is not null group by run_id",
                from,
                to,
            )
        })
        .await
    }

    /// `(ts, close)` of one series with `from <= ts < to`, at most `limit`: newest first when
    /// `newest`, else oldest first.
    ///
    /// # Errors
    /// [`super::Error::Database`].
    pub async fn candle_closes(
        &self,
        symbol: &str,
        timeframe: &str,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        limit: i64,
        newest: bool,
    ) -> Result<Vec<(DateTime<Utc>, f64)>> {
        let sql = if newest {
            "select ts, close from candles where symbol = $1 and timeframe = $2 \
             and ts >= $3 and ts < $4 order by ts desc limit $5"
        } else {
            "select ts, close from candles where symbol = $1 and timeframe = $2 \
             and ts >= $3 and ts < $4 order by ts limit $5"
        };
        self.read(async |c| {
            fetch!(
                fetch_all,
                c,
                (DateTime<Utc>, f64),
                sql,
                symbol,
                timeframe,
                from,
                to,
                limit,
            )
        })
        .await
    }
}
