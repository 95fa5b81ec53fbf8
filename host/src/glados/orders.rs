//! Order routes (`GET /orders`, `GET /orders/{id}`) and the paging every list route shares:
//! newest first by default with a `before` cursor, `order=asc` with `after` for scripts that
//! walk a list in the order it was written.
//!
//! # Invariants
//! - A cursor is a row id (or a log's seq), never an offset: a page stays put while rows are
//!   added, and walking the cursors one way or the other reaches every row once.
//! - `status` takes exactly the states [`OrderStatus`] lists (the OpenAPI enum the dashboard's
//!   picker is built from); anything else is a 400 naming the accepted values.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::http::{AppQuery, IdPath};
use crate::walle::{Order, OrderFilter, OrderState};

/// The order a list route answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListOrder {
    /// Oldest first (ascending ids), paged with `after`.
    Asc,
    /// Newest first (descending ids), paged with `before`.
    Desc,
}

/// Whether a list is read newest first: `order` when given, else newest first unless only
/// `after` is given (a script continuing an oldest-first walk keeps working unchanged).
///
/// # Errors
/// [`ApiError::InvalidParam`] for a negative cursor.
pub(crate) fn newest_first(
    order: Option<ListOrder>,
    after: Option<i64>,
    before: Option<i64>,
) -> Result<bool, ApiError> {
    if after.is_some_and(|a| a < 0) || before.is_some_and(|b| b < 0) {
        return Err(ApiError::InvalidParam(
            "after and before must be 0 or more".into(),
        ));
    }
    Ok(match order {
        Some(o) => o == ListOrder::Desc,
        None => !(after.is_some() && before.is_none()),
    })
}

/// Where an order is, as far as Weaver knows (the values `GET /orders?status=` accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Stored, not sent yet (or the send is in flight).
    PendingSubmit,
    /// Sent, not acknowledged yet.
    Submitted,
    /// Acknowledged by the venue.
    Accepted,
    /// Partly filled.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled.
    Cancelled,
    /// Refused by the checks or the venue.
    Rejected,
    /// Expired (time in force).
    Expired,
    /// The send's outcome is unknown; resolved by client order id.
    Unknown,
}

impl From<OrderStatus> for OrderState {
    fn from(s: OrderStatus) -> Self {
        match s {
            OrderStatus::PendingSubmit => OrderState::PendingSubmit,
            OrderStatus::Submitted => OrderState::Submitted,
            OrderStatus::Accepted => OrderState::Accepted,
            OrderStatus::PartiallyFilled => OrderState::PartiallyFilled,
            OrderStatus::Filled => OrderState::Filled,
            OrderStatus::Cancelled => OrderState::Cancelled,
            OrderStatus::Rejected => OrderState::Rejected,
            OrderStatus::Expired => OrderState::Expired,
            OrderStatus::Unknown => OrderState::Unknown,
        }
    }
}

/// Filter of `GET /orders`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// Only this run's orders.
    pub run: Option<i64>,
    /// Only this symbol.
    pub symbol: Option<String>,
    /// Only this state.
    pub status: Option<OrderStatus>,
    /// Created at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// `desc` (newest first, the default) or `asc` (oldest first; the default when only
    /// `after` is given).
    pub order: Option<ListOrder>,
    /// Only ids below this (newest first: the previous page's `next_before`).
    pub before: Option<i64>,
    /// Only ids above this (oldest first: the previous page's `next_after`).
    pub after: Option<i64>,
    /// Page size (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// A page of orders.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderPageView {
    /// Orders in the page's order (newest first by default; decimals as strings).
    #[schema(value_type = Vec<Object>)]
    pub orders: Vec<Order>,
    /// Oldest first: pass as `after` for the next page, when this one was full.
    pub next_after: Option<i64>,
    /// Newest first: pass as `before` for the next (older) page, when this one was full.
    pub next_before: Option<i64>,
}

/// Orders, filtered, newest first by default, a page at a time: follow `next_before` (or, with
/// `order=asc`, `next_after`) until it is null.
#[utoipa::path(get, path = "/orders", tag = "orders", params(OrderQuery), responses(
    (status = 200, body = OrderPageView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn list_orders(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<OrderQuery>,
) -> Result<axum::Json<OrderPageView>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::InvalidParam("limit must be 1–1000".into()));
    }
    let filter = OrderFilter {
        run_id: q.run,
        symbol: q.symbol,
        status: q.status.map(OrderState::from),
        from: q.from,
        to: q.to,
        newest_first: newest_first(q.order, q.after, q.before)?,
        after_id: q.after,
        before_id: q.before,
        limit,
    };
    let page = state.inner.walle.orders(&filter).await?;
    Ok(axum::Json(OrderPageView {
        orders: page.orders,
        next_after: page.next_after,
        next_before: page.next_before,
    }))
}

/// One order.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", params(("id" = i64, Path, description = "Order id")), responses(
    (status = 200, description = "The order", body = Object), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn get_order(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<axum::Json<Order>, ApiError> {
    let o = state
        .inner
        .walle
        .order(id)
        .await?
        .ok_or(ApiError::NotFound {
            entity: "order",
            id: id.to_string(),
        })?;
    Ok(axum::Json(o))
}
