//! The global trading switch through the API (`GET`/`PUT /trading-state`): the views and their
//! conversions. The state itself, its persistence and its event live in
//! [`crate::runs::trading`].
//!
//! # Invariants
//! - Any state text but `active`, `reduce_only` or `halted` is a 422 `invalid_trading_state`
//!   and changes nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use crate::runs::{TradingStatus, trading::parse_state};
use crate::veda::risk::TradingState;

/// A trading state as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TradingStateView {
    /// Orders are accepted.
    Active,
    /// Only orders that reduce a position are accepted.
    ReduceOnly,
    /// No orders are accepted.
    Halted,
}

impl From<TradingState> for TradingStateView {
    fn from(s: TradingState) -> Self {
        match s {
            TradingState::Active => TradingStateView::Active,
            TradingState::ReduceOnly => TradingStateView::ReduceOnly,
            TradingState::Halted => TradingStateView::Halted,
        }
    }
}

/// `GET`/`PUT /trading-state` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TradingStateBody {
    /// The global state every run's orders are checked against.
    pub state: TradingStateView,
    /// When an operator last set it (`null`: never, the default `active`).
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<TradingStatus> for TradingStateBody {
    fn from(s: TradingStatus) -> Self {
        TradingStateBody {
            state: s.state.into(),
            updated_at: s.updated_at,
        }
    }
}

/// `PUT /trading-state` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TradingStateRequest {
    /// `active`, `reduce_only` or `halted`. Text, checked by the handler, so that any other value
    /// is a 422 `invalid_trading_state` naming the accepted ones.
    #[schema(value_type = TradingStateView)]
    pub state: String,
}

/// The current global state.
///
/// # Errors
/// 5xx when the stored state cannot be read.
pub async fn get(state: &AppState) -> Result<TradingStateBody, ApiError> {
    Ok(state.runs().trading_state().await?.into())
}

/// Stores and applies a new global state.
///
/// # Errors
/// 422 `invalid_trading_state`; 5xx when it cannot be stored (then nothing changed).
pub async fn set(state: &AppState, req: TradingStateRequest) -> Result<TradingStateBody, ApiError> {
    let wanted = parse_state(&req.state)?;
    Ok(state.runs().set_trading_state(wanted).await?.into())
}
