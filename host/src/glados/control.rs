//! Control by hand over the API: stopping a run with a choice of what happens to its orders and
//! positions, an order attributed to a run, cancelling an order, closing a run's position, and
//! the views of what each did. The work is [`crate::runs::control`]'s; this module holds the
//! HTTP side only.
//!
//! # Invariants
//! - A refused order is a 4xx naming the rule or the venue's code, with the order's
//!   `client_order_id` and sequence in `details`: it was journaled (or checked) like a
//!   strategy's, and a retry with the same body is a new intent, never a duplicate.
//! - `POST /runs/{id}/stop` without a body keeps today's meaning plus the safe default: the
//!   run's working orders are cancelled, its positions kept.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::http::{AppJson, IdPath, OptionalJson};
use super::runs::{self, RunView};
use crate::domain::{OrderIntent, OrderSize, OrderType, Side, TimeInForce};
use crate::runs::{OrdersOnStop, PositionsOnStop, StopOptions};
use crate::veda::live::control::{Attempt, FlattenReport};

/// `POST /runs/{id}/stop` body (optional).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopRequest {
    /// `cancel` (default) or `keep` the run's working orders.
    #[schema(value_type = Option<String>, example = "cancel")]
    pub orders: Option<OrdersOnStop>,
    /// `close` or `keep` (default) the run's positions.
    #[schema(value_type = Option<String>, example = "keep")]
    pub positions: Option<PositionsOnStop>,
}

/// One order placed by hand or by a flatten.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    /// The intent's sequence number in the run.
    pub sequence: u64,
    /// Its idempotent client order id.
    pub client_order_id: String,
    /// Symbol.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `accepted` (the venue has it) or `refused`.
    pub status: String,
    /// The venue's order id, when accepted.
    pub venue_order_id: Option<String>,
    /// Why it was refused: a stable code (the risk rule or the venue's).
    pub code: Option<String>,
    /// Why it was refused, in words.
    pub message: Option<String>,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        let (status, venue_order_id, code, message) = match a.outcome {
            Ok(o) => ("accepted", Some(o.id), None, None),
            Err((code, message)) => ("refused", None, Some(code.to_owned()), Some(message)),
        };
        AttemptView {
            sequence: a.sequence,
            client_order_id: a.client_order_id,
            symbol: a.symbol,
            side: side_text(a.side).to_owned(),
            status: status.to_owned(),
            venue_order_id,
            code,
            message,
        }
    }
}

/// What a flatten (or a stop's wind-down) did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct FlattenView {
    /// Client order ids of the working orders asked to cancel.
    pub canceled: Vec<String>,
    /// The closing orders, one per position held.
    pub closing: Vec<AttemptView>,
    /// What could not be done (retry to finish it).
    pub errors: Vec<String>,
}

impl From<FlattenReport> for FlattenView {
    fn from(r: FlattenReport) -> Self {
        FlattenView {
            canceled: r.canceled,
            closing: r.closing.into_iter().map(Into::into).collect(),
            errors: r.errors,
        }
    }
}

/// A position still held.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HeldView {
    /// Symbol.
    pub symbol: String,
    /// Signed quantity (negative: short).
    pub qty: f64,
}

/// `POST /runs/{id}/stop` answer: the stopped run (its fields as in `GET /runs/{id}`) and what
/// its stop did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StopView {
    /// The run, now `stopped`.
    #[serde(flatten)]
    pub run: RunView,
    /// What was cancelled and closed (`null` when the choices kept everything).
    pub wind_down: Option<FlattenView>,
    /// Positions the run still holds.
    pub held: Vec<HeldView>,
}

/// `POST /runs/{id}/orders` body: an order attributed to the run, sized in units or notional.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualOrderRequest {
    /// One of the run's symbols.
    pub symbol: String,
    /// `buy` or `sell`.
    #[schema(value_type = String, example = "buy")]
    pub side: Side,
    /// `market` (default), `limit`, `stop` or `stop_limit`.
    #[serde(default = "market", rename = "type")]
    #[schema(value_type = String, example = "market")]
    pub order_type: OrderType,
    /// `day` (default), `gtc`, `ioc` or `fok`.
    #[serde(default = "day")]
    #[schema(value_type = String, example = "day")]
    pub time_in_force: TimeInForce,
    /// Units (give this or `notional`).
    #[schema(value_type = Option<String>, example = "10")]
    pub quantity: Option<Decimal>,
    /// Currency amount (give this or `quantity`).
    #[schema(value_type = Option<String>)]
    pub notional: Option<Decimal>,
    /// Limit price (`limit`, `stop_limit`).
    #[schema(value_type = Option<String>)]
    pub limit_price: Option<Decimal>,
    /// Stop price (`stop`, `stop_limit`).
    #[schema(value_type = Option<String>)]
    pub stop_price: Option<Decimal>,
    /// Free text echoed in the run's order updates.
    pub tag: Option<String>,
}

fn market() -> OrderType {
    OrderType::Market
}

fn day() -> TimeInForce {
    TimeInForce::Day
}

fn side_text(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

impl TryFrom<ManualOrderRequest> for OrderIntent {
    type Error = ApiError;

    fn try_from(r: ManualOrderRequest) -> Result<OrderIntent, ApiError> {
        use rust_decimal::prelude::ToPrimitive;
        let invalid = |message: &str| ApiError::Invalid {
            code: "invalid_order",
            message: message.to_owned(),
        };
        let number = |d: Decimal, what: &str| {
            d.to_f64()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| invalid(&format!("{what} must be a positive number")))
        };
        let size = match (r.quantity, r.notional) {
            (Some(q), None) => OrderSize::Units(number(q, "quantity")?),
            (None, Some(n)) => OrderSize::Notional(number(n, "notional")?),
            _ => return Err(invalid("give exactly one of quantity or notional")),
        };
        Ok(OrderIntent {
            symbol: r.symbol,
            side: r.side,
            order_type: r.order_type,
            time_in_force: r.time_in_force,
            limit_price: r
                .limit_price
                .map(|p| number(p, "limit_price"))
                .transpose()?,
            stop_price: r.stop_price.map(|p| number(p, "stop_price")).transpose()?,
            size,
            tag: r.tag,
        })
    }
}

/// The attempt, or its refusal as the error model says it.
fn accepted(a: Attempt) -> Result<AttemptView, ApiError> {
    if let Err((code, message)) = &a.outcome {
        return Err(ApiError::InvalidAt {
            code,
            message: message.clone(),
            details: serde_json::json!({
                "client_order_id": a.client_order_id,
                "sequence": a.sequence,
            }),
        });
    }
    Ok(a.into())
}

/// Stops a run. Optional body: `{"orders": "cancel"|"keep", "positions": "close"|"keep"}`
/// (defaults: cancel its working orders, keep its positions). Closing waits up to 30 s for the
/// closing orders to fill; what is still held is listed in `held`.
#[utoipa::path(post, path = "/runs/{id}/stop", tag = "runs", params(("id" = i64, Path, description = "Run id")),
    request_body(content = Option<StopRequest>, example = json!({"orders": "cancel", "positions": "close"})), responses(
    (status = 200, body = StopView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
pub async fn stop_run(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    OptionalJson(req): OptionalJson<StopRequest>,
) -> Result<axum::Json<StopView>, ApiError> {
    let req = req.unwrap_or_default();
    let options = StopOptions {
        orders: req.orders.unwrap_or_default(),
        positions: req.positions.unwrap_or_default(),
    };
    let report = state.runs().stop_with(id, options).await?;
    Ok(axum::Json(StopView {
        run: runs::view(&state, report.run).await?,
        wind_down: report.flatten.map(Into::into),
        held: report
            .held
            .into_iter()
            .map(|(symbol, qty)| HeldView { symbol, qty })
            .collect(),
    }))
}

/// Places an order attributed to a running run (force-entry / force-exit), through the run's
/// own pre-trade checks and order journal: its `client_order_id` is the run's next, and its
/// fills count in the run's account.
#[utoipa::path(post, path = "/runs/{id}/orders", tag = "runs", params(("id" = i64, Path, description = "Run id")),
    request_body(content = ManualOrderRequest, example = json!({"symbol": "SYN", "side": "buy", "type": "market", "quantity": "10"})), responses(
    (status = 201, body = AttemptView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody),
    (status = 422, description = "Refused by a check or the venue: `code` names the rule, `details` the order", body = ErrorBody)))]
pub async fn place_order(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    AppJson(req): AppJson<ManualOrderRequest>,
) -> Result<(StatusCode, axum::Json<AttemptView>), ApiError> {
    let intent = OrderIntent::try_from(req)?;
    let attempt = accepted(state.runs().place_by_hand(id, intent).await?)?;
    Ok((StatusCode::CREATED, axum::Json(attempt)))
}

/// Whether a cancel reached a working order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CancelView {
    /// The order (`GET /orders/{id}`).
    pub order_id: i64,
    /// `true`: it was working and the venue was asked to cancel it; `false`: it had already
    /// ended (filled, cancelled, rejected), nothing was done.
    pub cancel_requested: bool,
}

/// Cancels an order through the run that placed it (recorded as `live.CancelOrder`). Safe to
/// repeat: an order that already ended is left as it is.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", params(("id" = i64, Path, description = "Order id")), responses(
    (status = 200, body = CancelView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    (status = 422, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn cancel_order(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<axum::Json<CancelView>, ApiError> {
    let cancel_requested = state.runs().cancel_by_hand(id).await?;
    Ok(axum::Json(CancelView {
        order_id: id,
        cancel_requested,
    }))
}

/// Closes a run's own share of its position in a symbol with a market order (allowed while the
/// run is halted: it can only reduce). `204` when the run holds nothing in it.
#[utoipa::path(post, path = "/runs/{id}/positions/{symbol}/close", tag = "runs", params(
    ("id" = i64, Path, description = "Run id"), ("symbol" = String, Path, description = "Symbol")), responses(
    (status = 201, body = AttemptView), (status = 204, description = "Nothing held"), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
pub async fn close_position(
    State(state): State<AppState>,
    Path((id, symbol)): Path<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let id = id.parse::<i64>().map_err(|_| ApiError::NotFound {
        entity: "run",
        id: id.clone(),
    })?;
    match state.runs().close_by_hand(id, &symbol).await? {
        None => Ok(StatusCode::NO_CONTENT.into_response()),
        Some(a) => Ok((StatusCode::CREATED, axum::Json(accepted(a)?)).into_response()),
    }
}

/// Cancels a running run's working orders and closes its positions, without stopping it (what
/// a kill switch with `flatten` does to every run).
#[utoipa::path(post, path = "/runs/{id}/flatten", tag = "runs", params(("id" = i64, Path, description = "Run id")), responses(
    (status = 200, body = FlattenView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    (status = 401, body = ErrorBody)))]
pub async fn flatten_run(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<axum::Json<FlattenView>, ApiError> {
    Ok(axum::Json(
        state.runs().flatten_run(id, true, true).await?.into(),
    ))
}

/// Changes a running run's risk limits: a partial `risk` object (an absent key is kept, `null`
/// turns one off, a value sets it). Stored with a `risk.LimitsChanged` event (old and new
/// values); the run checks its next order against them. A bad key or value is a 422
/// `invalid_risk` naming the field, and nothing changes.
#[utoipa::path(patch, path = "/runs/{id}/risk", tag = "runs", params(("id" = i64, Path, description = "Run id")),
    request_body(content = Object, example = json!({"max_notional_per_order": "5000", "daily_loss_pct": null})), responses(
    (status = 200, body = RunView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
pub async fn patch_risk(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    AppJson(patch): AppJson<serde_json::Value>,
) -> Result<axum::Json<RunView>, ApiError> {
    let run = state.runs().patch_risk(id, &patch).await?;
    Ok(axum::Json(runs::view(&state, run).await?))
}

/// `PUT /runs/{id}/trading-state` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunStateRequest {
    /// `active`, `reduce_only` or `halted`.
    pub state: String,
    /// Also cancel the run's working orders and close its positions.
    #[serde(default)]
    pub flatten: bool,
}

/// `PUT /runs/{id}/trading-state` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunStateView {
    /// The run as it is now (`trading_state` is its state in force).
    pub run: RunView,
    /// With `flatten`: what it did.
    pub flattened: Option<FlattenView>,
}

/// Sets a running run's own trading state (the global switch still applies: the stricter
/// wins). A manual `active` also clears the run's risk breaches (daily loss, drawdown,
/// cooldown) and re-bases its peak equity. With `flatten`, then cancels its working orders and
/// closes its positions.
#[utoipa::path(put, path = "/runs/{id}/trading-state", tag = "runs", params(("id" = i64, Path, description = "Run id")),
    request_body(content = RunStateRequest, example = json!({"state": "halted", "flatten": true})), responses(
    (status = 200, body = RunStateView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
pub async fn put_run_state(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    AppJson(req): AppJson<RunStateRequest>,
) -> Result<axum::Json<RunStateView>, ApiError> {
    let wanted = crate::runs::trading::parse_state(&req.state)?;
    let flattened = state.runs().set_run_state(id, wanted, req.flatten).await?;
    let run = state.inner.walle.run(id).await?.ok_or(ApiError::NotFound {
        entity: "run",
        id: id.to_string(),
    })?;
    Ok(axum::Json(RunStateView {
        run: runs::view(&state, run).await?,
        flattened: flattened.map(Into::into),
    }))
}
