//! The global trading switch through the API (`GET`/`PUT /trading-state`): the views and their
//! conversions. The state itself, its persistence and its event live in
//! [`crate::runs::trading`].
//!
//! # Invariants
//! - With `flatten`, the state is stored first, so no strategy opens anything while its run is
//!   being flattened.
//! - Any state text but `active`, `reduce_only` or `halted` is a 422 `invalid_trading_state`
//!   and changes nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::control::FlattenView;
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
    /// With `flatten`: what it did to each running run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flattened: Option<Vec<RunFlattenView>>,
}

impl From<TradingStatus> for TradingStateBody {
    fn from(s: TradingStatus) -> Self {
        TradingStateBody {
            state: s.state.into(),
            updated_at: s.updated_at,
            flattened: None,
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
    /// Also cancel every running run's working orders and close its positions (the kill
    /// switch). Closing is allowed while halted: it can only reduce.
    #[serde(default)]
    pub flatten: bool,
}

/// What a flatten did to one run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunFlattenView {
    /// The run.
    pub run_id: i64,
    /// What was cancelled and closed (`null` when the run could not be asked; see `error`).
    pub done: Option<FlattenView>,
    /// Why the run could not be flattened (it ended meanwhile, …).
    pub error: Option<String>,
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
    let mut body: TradingStateBody = state.runs().set_trading_state(wanted).await?.into();
    if req.flatten {
        let done = state.runs().flatten_all().await;
        body.flattened = Some(
            done.into_iter()
                .map(|(run_id, r)| match r {
                    Ok(report) => RunFlattenView {
                        run_id,
                        done: Some(report.into()),
                        error: None,
                    },
                    Err(e) => RunFlattenView {
                        run_id,
                        done: None,
                        error: Some(e.to_string()),
                    },
                })
                .collect(),
        );
    }
    Ok(body)
}
