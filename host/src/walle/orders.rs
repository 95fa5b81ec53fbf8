//! Orders (idempotent by `client_order_id`) and fills (idempotent by the venue's fill id).
//!
//! # Invariants
//! - An order intent is stored, with its event, before anything may be sent; a second intent with
//!   the same `client_order_id` returns the first and writes nothing.
//! - A fill is stored at most once per venue fill id.
//! - Quantities and prices are exact decimals, checked positive before they are stored.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{OrderType, Side, TimeInForce};
use crate::events::Envelope;

use super::{Error, Num, Result, Tx, Walle, fetch, parse_text, text_of};

/// Where an order is, as far as Weaver knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// The intent is persisted; it has not been sent (or the send is in flight).
    PendingSubmit,
    /// Sent to the venue, not yet acknowledged.
    Submitted,
    /// Acknowledged by the venue.
    Accepted,
    /// Partly filled.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled.
    Cancelled,
    /// Refused by checks or the venue.
    Rejected,
    /// Expired (time in force).
    Expired,
    /// The send's outcome is unknown (timeout, 5xx); resolved by client order id, never resent.
    Unknown,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Row id.
    pub id: i64,
    /// Deterministic client order id (unique).
    pub client_order_id: String,
    /// The venue's order id, once known.
    pub exchange_order_id: Option<String>,
    /// The run that placed it (none for manual orders).
    pub run_id: Option<i64>,
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Quantity, when sized in units.
    pub quantity: Option<Decimal>,
    /// Notional, when sized in currency.
    pub notional: Option<Decimal>,
    /// Limit price.
    pub limit_price: Option<Decimal>,
    /// Stop price.
    pub stop_price: Option<Decimal>,
    /// State.
    pub status: OrderState,
    /// Total filled quantity.
    pub filled_quantity: Decimal,
    /// Average fill price.
    pub average_price: Option<Decimal>,
    /// When the venue first saw it.
    pub submitted_at: Option<DateTime<Utc>>,
    /// When it was completely filled.
    pub filled_at: Option<DateTime<Utc>>,
    /// When it was cancelled or expired.
    pub canceled_at: Option<DateTime<Utc>>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: i64,
    client_order_id: String,
    exchange_order_id: Option<String>,
    run_id: Option<i64>,
    symbol: String,
    side: String,
    order_type: String,
    time_in_force: String,
    quantity: Option<Num>,
    notional: Option<Num>,
    limit_price: Option<Num>,
    stop_price: Option<Num>,
    status: String,
    filled_quantity: Num,
    average_price: Option<Num>,
    submitted_at: Option<DateTime<Utc>>,
    filled_at: Option<DateTime<Utc>>,
    canceled_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<OrderRow> for Order {
    type Error = Error;
    fn try_from(r: OrderRow) -> Result<Order> {
        let dec = |n: Option<Num>| n.map(|n| n.0);
        Ok(Order {
            id: r.id,
            client_order_id: r.client_order_id,
            exchange_order_id: r.exchange_order_id,
            run_id: r.run_id,
            symbol: r.symbol,
            side: parse_text("orders.side", &r.side)?,
            order_type: parse_text("orders.order_type", &r.order_type)?,
            time_in_force: parse_text("orders.time_in_force", &r.time_in_force)?,
            quantity: dec(r.quantity),
            notional: dec(r.notional),
            limit_price: dec(r.limit_price),
            stop_price: dec(r.stop_price),
            status: parse_text("orders.status", &r.status)?,
            filled_quantity: r.filled_quantity.0,
            average_price: dec(r.average_price),
            submitted_at: r.submitted_at,
            filled_at: r.filled_at,
            canceled_at: r.canceled_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const COLS: &str = "id, client_order_id, exchange_order_id, run_id, symbol, side, order_type, \
    time_in_force, quantity, notional, limit_price, stop_price, status, filled_quantity, \
    average_price, submitted_at, filled_at, canceled_at, created_at, updated_at";

/// An order intent to persist before anything is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOrder {
    /// Deterministic client order id.
    pub client_order_id: String,
    /// The run placing it.
    pub run_id: Option<i64>,
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Quantity (exactly one of quantity and notional).
    pub quantity: Option<Decimal>,
    /// Notional (exactly one of quantity and notional).
    pub notional: Option<Decimal>,
    /// Limit price (limit and stop-limit orders).
    pub limit_price: Option<Decimal>,
    /// Stop price (stop and stop-limit orders).
    pub stop_price: Option<Decimal>,
}

impl NewOrder {
    fn check(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Invalid(m.to_owned()));
        if self.client_order_id.trim().is_empty() || self.client_order_id.len() > 128 {
            return bad("client_order_id must be 1 to 128 characters");
        }
        if self.symbol.trim().is_empty() {
            return bad("symbol is empty");
        }
        match (self.quantity, self.notional) {
            (Some(q), None) if q > Decimal::ZERO => {}
            (None, Some(n)) if n > Decimal::ZERO => {}
            _ => return bad("exactly one of quantity and notional, and it must be positive"),
        }
        let needs_limit = matches!(self.order_type, OrderType::Limit | OrderType::StopLimit);
        let needs_stop = matches!(self.order_type, OrderType::Stop | OrderType::StopLimit);
        if needs_limit != self.limit_price.is_some() {
            return bad(
                "a limit price is required for limit and stop-limit orders, and only for them",
            );
        }
        if needs_stop != self.stop_price.is_some() {
            return bad(
                "a stop price is required for stop and stop-limit orders, and only for them",
            );
        }
        if [self.limit_price, self.stop_price]
            .into_iter()
            .flatten()
            .any(|p| p <= Decimal::ZERO)
        {
            return bad("prices must be positive");
        }
        Ok(())
    }
}

/// What a venue reported about an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VenueUpdate {
    /// The venue's order id, if it sent one.
    pub exchange_order_id: Option<String>,
    /// New state.
    pub status: OrderState,
    /// Total filled quantity.
    pub filled_quantity: Decimal,
    /// Average fill price, if any.
    pub average_price: Option<Decimal>,
    /// When the venue reported it.
    pub at: DateTime<Utc>,
}

/// Filters of [`Walle::orders`]; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderFilter {
    /// Only this run's orders.
    pub run_id: Option<i64>,
    /// Only this symbol.
    pub symbol: Option<String>,
    /// Only this state.
    pub status: Option<OrderState>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
    /// Pagination cursor: only orders with a larger id (the previous page's `next_after`).
    pub after_id: Option<i64>,
    /// Pagination cursor: only orders with a smaller id (the previous page's `next_before`).
    pub before_id: Option<i64>,
    /// Newest first (largest id first) instead of oldest first: what a person reading a list
    /// wants, while replays and reconciliation walk the journal in the order it was written.
    pub newest_first: bool,
    /// Page size (1 to 1000; 0 means 100).
    pub limit: i64,
}

/// One page of orders, in the filter's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPage {
    /// The orders.
    pub orders: Vec<Order>,
    /// Oldest first: the cursor of the next (newer) page, when this page was full.
    pub next_after: Option<i64>,
    /// Newest first: the cursor of the next (older) page, when this page was full.
    pub next_before: Option<i64>,
}

/// A fill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    /// Row id.
    pub id: i64,
    /// The order.
    pub order_id: i64,
    /// The venue's fill id (unique).
    pub venue_fill_id: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Price.
    pub price: Decimal,
    /// Fee.
    pub fee: Decimal,
    /// When the venue filled it.
    pub filled_at: DateTime<Utc>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct FillRow {
    id: i64,
    order_id: i64,
    venue_fill_id: String,
    quantity: Num,
    price: Num,
    fee: Num,
    filled_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<FillRow> for Fill {
    fn from(r: FillRow) -> Fill {
        Fill {
            id: r.id,
            order_id: r.order_id,
            venue_fill_id: r.venue_fill_id,
            quantity: r.quantity.0,
            price: r.price.0,
            fee: r.fee.0,
            filled_at: r.filled_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// `event`, caused by the command that created order `order_id` when it names no cause itself:
/// a venue's update or fill follows from the order's `live.PlaceOrder`.
async fn with_order_cause(tx: &mut Tx, order_id: i64, event: &Envelope) -> Result<Envelope> {
    let mut event = event.clone();
    if event.causation_id.is_none() {
        let cause: Option<(Option<String>,)> = fetch!(
            fetch_optional,
            tx.conn(),
            (Option<String>,),
            "select cause_event_id from orders where id = $1",
            order_id
        )?;
        event.causation_id = cause.and_then(|(c,)| c);
    }
    Ok(event)
}

const FILL_COLS: &str =
    "id, order_id, venue_fill_id, quantity, price, fee, filled_at, created_at, updated_at";

/// A fill to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewFill {
    /// The order.
    pub order_id: i64,
    /// The venue's fill id.
    pub venue_fill_id: String,
    /// Quantity (positive).
    pub quantity: Decimal,
    /// Price (positive).
    pub price: Decimal,
    /// Fee (zero or more).
    pub fee: Decimal,
    /// When the venue filled it.
    pub filled_at: DateTime<Utc>,
}

impl Walle {
    /// Persists an order intent together with `event`, before anything is sent to a venue. An
    /// intent whose `client_order_id` exists already returns the stored order and writes
    /// nothing (a retry is not a second order). Returns `(order, created)`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an inconsistent order, [`Error::Event`] for a refused event (nothing
    /// written), [`Error::Database`].
    pub async fn insert_order_intent(
        &self,
        new: &NewOrder,
        events: &[Envelope],
        cause_event_id: Option<Uuid>,
    ) -> Result<(Order, bool)> {
        new.check()?;
        for e in events {
            self.registry().validate(e)?;
        }
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let sql = format!(
            "insert into orders (client_order_id, run_id, symbol, side, order_type, time_in_force, \
             quantity, notional, limit_price, stop_price, status, created_at, updated_at, \
             cause_event_id) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending_submit', $11, $11, $12) \
             on conflict (client_order_id) do nothing returning {COLS}"
        );
        let row = fetch!(
            fetch_optional,
            tx.conn(),
            OrderRow,
            sqlx::AssertSqlSafe(sql.clone()),
            new.client_order_id.as_str(),
            new.run_id,
            new.symbol.as_str(),
            text_of(&new.side),
            text_of(&new.order_type),
            text_of(&new.time_in_force),
            new.quantity.map(Num),
            new.notional.map(Num),
            new.limit_price.map(Num),
            new.stop_price.map(Num),
            now,
            cause_event_id.map(|u| u.to_string()),
        )?;
        match row {
            Some(row) => {
                for e in events {
                    tx.append(e).await?;
                }
                tx.commit().await?;
                Ok((row.try_into()?, true))
            }
            None => {
                drop(tx);
                let existing = self
                    .order_by_client_id(&new.client_order_id)
                    .await?
                    .ok_or_else(|| Error::NotFound {
                        entity: "order",
                        key: new.client_order_id.clone(),
                    })?;
                Ok((existing, false))
            }
        }
    }

    /// One order by row id.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn order(&self, id: i64) -> Result<Option<Order>> {
        let sql = format!("select {COLS} from orders where id = $1");
        let row = self
            .read(async |c| {
                fetch!(
                    fetch_optional,
                    c,
                    OrderRow,
                    sqlx::AssertSqlSafe(sql.clone()),
                    id
                )
            })
            .await?;
        row.map(Order::try_from).transpose()
    }

    /// One order by client order id.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<Order>> {
        let sql = format!("select {COLS} from orders where client_order_id = $1");
        let row = self
            .read(async |c| {
                fetch!(
                    fetch_optional,
                    c,
                    OrderRow,
                    sqlx::AssertSqlSafe(sql.clone()),
                    client_order_id
                )
            })
            .await?;
        row.map(Order::try_from).transpose()
    }

    /// Orders matching `filter`, oldest first (or newest first), one page at a time. Both
    /// cursors may be given: the orders strictly between them.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Corrupt`].
    pub async fn orders(&self, filter: &OrderFilter) -> Result<OrderPage> {
        let limit = if filter.limit <= 0 {
            100
        } else {
            filter.limit.min(1000)
        };
        // Ids are the cursor: unique and increasing with creation, so a page stays put while
        // orders are added (unlike an offset).
        let direction = if filter.newest_first { "desc" } else { "asc" };
        let sql = format!(
            "select {COLS} from orders where ($1 is null or run_id = $1) \
             and ($2 is null or symbol = $2) and ($3 is null or status = $3) \
             and ($4 is null or created_at >= $4) and ($5 is null or created_at < $5) \
             and id > $6 and id < $8 order by id {direction} limit $7"
        );
        let status = filter.status.map(|s| text_of(&s));
        let rows = self
            .read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    OrderRow,
                    sqlx::AssertSqlSafe(sql.clone()),
                    filter.run_id,
                    filter.symbol.as_deref(),
                    status.as_deref(),
                    filter.from,
                    filter.to,
                    filter.after_id.unwrap_or(0),
                    limit,
                    filter.before_id.unwrap_or(i64::MAX),
                )
            })
            .await?;
        let orders = rows
            .into_iter()
            .map(Order::try_from)
            .collect::<Result<Vec<_>>>()?;
        let cursor = (orders.len() as i64 == limit)
            .then(|| orders.last().map(|o| o.id))
            .flatten();
        let (next_after, next_before) = if filter.newest_first {
            (None, cursor)
        } else {
            (cursor, None)
        };
        Ok(OrderPage {
            orders,
            next_after,
            next_before,
        })
    }

    /// Applies a venue report to an order and appends `event`, in one transaction. Timestamps
    /// are stamped once: the first report that submitted, filled or cancelled the order wins.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown client order id, [`Error::Event`], [`Error::Database`].
    pub async fn update_order_from_venue(
        &self,
        client_order_id: &str,
        update: &VenueUpdate,
        event: &Envelope,
    ) -> Result<Order> {
        self.registry().validate(event)?;
        let at = update.at;
        let submitted = matches!(
            update.status,
            OrderState::Submitted
                | OrderState::Accepted
                | OrderState::PartiallyFilled
                | OrderState::Filled
        )
        .then_some(at);
        let filled = (update.status == OrderState::Filled).then_some(at);
        let canceled =
            matches!(update.status, OrderState::Cancelled | OrderState::Expired).then_some(at);
        let mut tx = self.begin().await?;
        let sql = format!(
            "update orders set exchange_order_id = coalesce($2, exchange_order_id), status = $3, \
             filled_quantity = $4, average_price = coalesce($5, average_price), \
             submitted_at = coalesce(submitted_at, $6), filled_at = coalesce(filled_at, $7), \
             canceled_at = coalesce(canceled_at, $8), updated_at = $9 \
             where client_order_id = $1 and (status <> 'filled' or $3 = 'filled') \
             returning {COLS}"
        );
        let row = fetch!(
            fetch_optional,
            tx.conn(),
            OrderRow,
            sqlx::AssertSqlSafe(sql.clone()),
            client_order_id,
            update.exchange_order_id.as_deref(),
            text_of(&update.status),
            Num(update.filled_quantity),
            update.average_price.map(Num),
            submitted,
            filled,
            canceled,
            Utc::now(),
        )?;
        let Some(row) = row else {
            // Either no such order, or it is filled already: an update that arrives late (the
            // answer to the send after the fill on the stream, or a second recorder's copy of
            // the stream) never takes a filled order back to an earlier state. Only `filled`:
            // Weaver itself marks a send the venue never received `rejected`, and a resend then
            // updates it.
            // Nothing was written: committing keeps the connection (a dropped one is closed).
            tx.commit().await?;
            return self
                .order_by_client_id(client_order_id)
                .await?
                .ok_or_else(|| Error::NotFound {
                    entity: "order",
                    key: client_order_id.to_owned(),
                });
        };
        let event = with_order_cause(&mut tx, row.id, event).await?;
        tx.append(&event).await?;
        tx.commit().await?;
        row.try_into()
    }

    /// Records a fill with `event`, once: a fill whose venue fill id is already stored returns
    /// `None` and writes nothing.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a non-positive quantity or price or a negative fee, [`Error::Event`],
    /// [`Error::Database`] (for example an unknown order).
    pub async fn insert_fill(&self, new: &NewFill, event: &Envelope) -> Result<Option<Fill>> {
        if new.quantity <= Decimal::ZERO || new.price <= Decimal::ZERO || new.fee < Decimal::ZERO {
            return Err(Error::Invalid(
                "fill quantity and price must be positive, the fee not negative".into(),
            ));
        }
        if new.venue_fill_id.trim().is_empty() {
            return Err(Error::Invalid("venue_fill_id is empty".into()));
        }
        self.registry().validate(event)?;
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let sql = format!(
            "insert into fills (order_id, venue_fill_id, quantity, price, fee, filled_at, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $7) on conflict (venue_fill_id) do nothing returning {FILL_COLS}"
        );
        let row = fetch!(
            fetch_optional,
            tx.conn(),
            FillRow,
            sqlx::AssertSqlSafe(sql.clone()),
            new.order_id,
            new.venue_fill_id.as_str(),
            Num(new.quantity),
            Num(new.price),
            Num(new.fee),
            new.filled_at,
            now,
        )?;
        let Some(row) = row else {
            return Ok(None);
        };
        let event = with_order_cause(&mut tx, new.order_id, event).await?;
        tx.append(&event).await?;
        tx.commit().await?;
        Ok(Some(row.into()))
    }

    /// An order's fills, oldest first.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn fills(&self, order_id: i64) -> Result<Vec<Fill>> {
        let sql = format!("select {FILL_COLS} from fills where order_id = $1 order by id");
        let rows = self
            .read(async |c| {
                fetch!(
                    fetch_all,
                    c,
                    FillRow,
                    sqlx::AssertSqlSafe(sql.clone()),
                    order_id
                )
            })
            .await?;
        Ok(rows.into_iter().map(Fill::from).collect())
    }
}
