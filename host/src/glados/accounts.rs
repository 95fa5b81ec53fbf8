//! Venue accounts through the API: list and read them (`alpaca/<account number>`, shared by
//! every run on it, and `sim/<run id>`, a simulated run's own), set their limits and trading
//! state (the account's kill switch), and close one of their positions. The accounts
//! themselves live in [`crate::runs::accounts`].
//!
//! # Invariants
//! - `PUT …/risk` replaces the whole `risk` object: a key left out is off (unlike
//!   `PATCH /runs/{id}/risk`, which merges).
//! - With `flatten`, the state is stored first, so no run opens anything while the account is
//!   being flattened.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::control::{AttemptView, FlattenView};
use super::error::{ApiError, ErrorBody};
use super::http::{AppJson, OptionalJson};
use super::trading::RunFlattenView;
use crate::runs::{self, AccountFlatten, trading::parse_state};

/// The account routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts", get(list_accounts))
        .route("/accounts/{venue}/{number}", get(get_account))
        .route("/accounts/{venue}/{number}/risk", put(put_account_risk))
        .route(
            "/accounts/{venue}/{number}/trading-state",
            put(put_account_state),
        )
        .route(
            "/positions/{venue}/{number}/{symbol}/close",
            post(close_account_position),
        )
}

/// An account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    /// Stable id: `alpaca/<account number>` (shared by every run on it) or `sim/<run id>` (a
    /// simulated run's own paper account).
    pub id: String,
    /// Venue (`alpaca`, `sim`).
    pub venue: String,
    /// The id's second part (the account number, or the run id).
    pub number: String,
    /// The run whose paper account it is (`sim` only).
    pub run_id: Option<i64>,
    /// Real money.
    pub live: bool,
    /// Equity.
    pub equity: f64,
    /// Cash.
    pub cash: f64,
    /// Buying power.
    pub buying_power: f64,
    /// Active runs on it.
    pub runs: u64,
    /// Positions (the broker's on a live venue), each split by the active runs' own shares;
    /// `unattributed` is what no active run accounts for.
    pub positions: Vec<AccountPositionView>,
    /// Its risk limits, every key (`null` where off); a simulated run's account has the run's.
    #[schema(value_type = Object)]
    pub risk: serde_json::Value,
    /// Its own trading state in force (`active`, `reduce_only`, `halted`): set by hand, or
    /// made stricter by a daily-loss or drawdown breach of its limits. The global switch
    /// applies on top.
    pub trading_state: String,
    /// What its risk rules over time remember (peak and session equity, breaches, the state
    /// set by hand).
    #[schema(value_type = Option<Object>)]
    pub risk_state: Option<serde_json::Value>,
}

/// One position of an account and the runs' shares of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountPositionView {
    /// Symbol.
    pub symbol: String,
    /// The account's signed quantity (the broker's on a live venue).
    pub qty: f64,
    /// Each active run's own share.
    pub runs: Vec<RunShareView>,
    /// What no active run accounts for (ended runs that kept positions, trades outside
    /// Weaver).
    pub unattributed: f64,
}

/// A run's share of a position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunShareView {
    /// The run.
    pub run_id: i64,
    /// Its signed quantity.
    pub qty: f64,
}

impl From<runs::VenueAccount> for AccountView {
    fn from(a: runs::VenueAccount) -> Self {
        AccountView {
            positions: a
                .positions
                .into_iter()
                .map(|p| AccountPositionView {
                    symbol: p.symbol,
                    qty: p.qty,
                    runs: p
                        .runs
                        .into_iter()
                        .map(|(run_id, qty)| RunShareView { run_id, qty })
                        .collect(),
                    unattributed: p.unattributed,
                })
                .collect(),
            risk: serde_json::to_value(&a.risk).unwrap_or_default(),
            trading_state: a.state.as_str().to_owned(),
            risk_state: a.guard.map(|g| serde_json::to_value(g).unwrap_or_default()),
            id: a.id,
            venue: a.venue,
            number: a.number,
            run_id: a.run_id,
            live: a.live,
            equity: a.equity,
            cash: a.cash,
            buying_power: a.buying_power,
            runs: a.runs,
        }
    }
}

/// `PUT /accounts/{venue}/{number}/trading-state` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountStateRequest {
    /// `active`, `reduce_only` or `halted`.
    pub state: String,
    /// Also cancel every working order on the account and close every position (the account's
    /// kill switch).
    #[serde(default)]
    pub flatten: bool,
}

/// What flattening an account, or closing one of its positions, did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct AccountFlattenView {
    /// Each active run's own flatten or close.
    pub runs: Vec<RunFlattenView>,
    /// Other working orders on the account (of no active run) asked to cancel.
    pub canceled: Vec<String>,
    /// Orders of the account itself closing what no active run holds.
    pub closing: Vec<AttemptView>,
    /// What could not be done (retry to finish it: a repeat does only what is left).
    pub errors: Vec<String>,
}

impl From<AccountFlatten> for AccountFlattenView {
    fn from(f: AccountFlatten) -> Self {
        AccountFlattenView {
            runs: f
                .runs
                .into_iter()
                .map(|(run_id, r)| match r {
                    Ok(report) => RunFlattenView {
                        run_id,
                        done: Some(FlattenView::from(report)),
                        error: None,
                    },
                    Err(e) => RunFlattenView {
                        run_id,
                        done: None,
                        error: Some(e.to_string()),
                    },
                })
                .collect(),
            canceled: f.canceled,
            closing: f.closing.into_iter().map(Into::into).collect(),
            errors: f.errors,
        }
    }
}

/// `PUT /accounts/{venue}/{number}/trading-state` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountStateView {
    /// The account as it is now.
    pub account: AccountView,
    /// With `flatten`: what it did.
    pub flattened: Option<AccountFlattenView>,
}

/// `POST /positions/{venue}/{number}/{symbol}/close` body (optional).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosePositionRequest {
    /// Close only this active run's share (absent: the whole position).
    pub run_id: Option<i64>,
}

/// Every account: each live venue's (shared by the runs on it), then each active simulated
/// run's own.
#[utoipa::path(get, path = "/accounts", tag = "accounts", responses(
    (status = 200, body = [AccountView]), (status = 401, body = ErrorBody)))]
pub async fn list_accounts(State(state): State<AppState>) -> axum::Json<Vec<AccountView>> {
    axum::Json(
        state
            .runs()
            .accounts()
            .await
            .into_iter()
            .map(Into::into)
            .collect(),
    )
}

/// One account.
#[utoipa::path(get, path = "/accounts/{venue}/{number}", tag = "accounts", params(
    ("venue" = String, Path, description = "`alpaca` or `sim`"),
    ("number" = String, Path, description = "Account number, or the run id for `sim`")), responses(
    (status = 200, body = AccountView), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody),
    (status = 401, body = ErrorBody)))]
pub async fn get_account(
    State(state): State<AppState>,
    Path((venue, number)): Path<(String, String)>,
) -> Result<axum::Json<AccountView>, ApiError> {
    Ok(axum::Json(
        state.runs().account_by(&venue, &number).await?.into(),
    ))
}

/// Sets an account's risk limits, checked for every order of every run on it after the run's
/// own: the whole `risk` object (a key left out is off). Stored with a
/// `risk.AccountLimitsChanged` event. A simulated run's account: the run's limits. `cooldown`
/// is refused on a venue account (it counts one strategy's losing trades: set it per run).
#[utoipa::path(put, path = "/accounts/{venue}/{number}/risk", tag = "accounts", params(
    ("venue" = String, Path, description = "`alpaca` or `sim`"),
    ("number" = String, Path, description = "Account number, or the run id for `sim`")),
    request_body(content = Object, example = json!({"max_position_per_symbol": "100", "daily_loss_pct": "3"})), responses(
    (status = 200, body = AccountView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody),
    (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn put_account_risk(
    State(state): State<AppState>,
    Path((venue, number)): Path<(String, String)>,
    AppJson(risk): AppJson<serde_json::Value>,
) -> Result<axum::Json<AccountView>, ApiError> {
    Ok(axum::Json(
        state
            .runs()
            .put_account_risk(&venue, &number, &risk)
            .await?
            .into(),
    ))
}

/// Sets an account's own trading state, for every run on it (the stricter of the global, the
/// account's and the run's wins). A manual `active` also clears the account's breaches. With
/// `flatten` (the account's kill switch): every active run on it cancels its orders and closes
/// its share, then every other working order is cancelled and what no active run holds is
/// closed, through the journal; a repeat does only what is left.
#[utoipa::path(put, path = "/accounts/{venue}/{number}/trading-state", tag = "accounts", params(
    ("venue" = String, Path, description = "`alpaca` or `sim`"),
    ("number" = String, Path, description = "Account number, or the run id for `sim`")),
    request_body(content = AccountStateRequest, example = json!({"state": "halted", "flatten": true})), responses(
    (status = 200, body = AccountStateView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody),
    (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn put_account_state(
    State(state): State<AppState>,
    Path((venue, number)): Path<(String, String)>,
    AppJson(req): AppJson<AccountStateRequest>,
) -> Result<axum::Json<AccountStateView>, ApiError> {
    let wanted = parse_state(&req.state)?;
    let runs = state.runs();
    let flattened = runs
        .set_account_state(&venue, &number, wanted, req.flatten)
        .await?;
    Ok(axum::Json(AccountStateView {
        account: runs.account_by(&venue, &number).await?.into(),
        flattened: flattened.map(Into::into),
    }))
}

/// Closes an account's position in a symbol with market orders: the whole of it (every active
/// run's share through the run, what no active run holds through an order of the account), or
/// one run's share (`run_id`). Allowed while halted: it can only reduce.
#[utoipa::path(post, path = "/positions/{venue}/{number}/{symbol}/close", tag = "accounts", params(
    ("venue" = String, Path, description = "`alpaca` or `sim`"),
    ("number" = String, Path, description = "Account number, or the run id for `sim`"),
    ("symbol" = String, Path, description = "Symbol (URL-encoded: `BTC%2FUSD`)")),
    request_body(content = Option<ClosePositionRequest>, example = json!({"run_id": 7})), responses(
    (status = 200, body = AccountFlattenView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody),
    (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn close_account_position(
    State(state): State<AppState>,
    Path((venue, number, symbol)): Path<(String, String, String)>,
    OptionalJson(req): OptionalJson<ClosePositionRequest>,
) -> Result<axum::Json<AccountFlattenView>, ApiError> {
    let run = req.unwrap_or_default().run_id;
    Ok(axum::Json(
        state
            .runs()
            .close_account_position(&venue, &number, &symbol, run)
            .await?
            .into(),
    ))
}
