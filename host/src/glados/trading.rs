//! The global trading switch through the API (`GET`/`PUT /trading-state`): one
//! [`TradingSwitch`] per server, shared with every run, persisted in WallE's settings.
//!
//! # Invariants
//! - The stored setting is read before the switch is first used, so a server restarted while
//!   `halted` stays halted (fail closed: an unreadable or unknown stored value refuses to load
//!   rather than defaulting to `active`).
//! - A change is stored (with its `ui.TradingState` event) before it takes effect in memory;
//!   changes are serialised, so memory and store agree on the last one.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use crate::events::{Envelope, payloads::TradingStateChanged};
use crate::veda::risk::{TradingState, TradingSwitch};

/// The settings key.
const KEY: &str = "trading_state";

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

impl From<TradingStateView> for TradingState {
    fn from(s: TradingStateView) -> Self {
        match s {
            TradingStateView::Active => TradingState::Active,
            TradingStateView::ReduceOnly => TradingState::ReduceOnly,
            TradingStateView::Halted => TradingState::Halted,
        }
    }
}

fn text(s: TradingStateView) -> &'static str {
    match s {
        TradingStateView::Active => "active",
        TradingStateView::ReduceOnly => "reduce_only",
        TradingStateView::Halted => "halted",
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

/// `PUT /trading-state` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TradingStateRequest {
    /// `active`, `reduce_only` or `halted`. Text, checked by the handler, so that any other value
    /// is a 422 `invalid_trading_state` naming the accepted ones.
    #[schema(value_type = TradingStateView)]
    pub state: String,
}

fn parse(s: &str) -> Result<TradingStateView, ApiError> {
    match s {
        "active" => Ok(TradingStateView::Active),
        "reduce_only" => Ok(TradingStateView::ReduceOnly),
        "halted" => Ok(TradingStateView::Halted),
        _ => Err(ApiError::Invalid {
            code: "invalid_trading_state",
            message: "state must be active, reduce_only or halted".into(),
        }),
    }
}

/// The server's switch and when it was last set.
#[derive(Debug, Default)]
pub struct Trading {
    switch: Arc<TradingSwitch>,
    updated_at: Mutex<Option<DateTime<Utc>>>,
    loaded: OnceCell<()>,
    writes: tokio::sync::Mutex<()>,
}

impl Trading {
    /// The switch itself, for runs' pre-trade checks (loaded by [`get`] / [`switch`]).
    pub fn shared_switch(&self) -> Arc<TradingSwitch> {
        self.switch.clone()
    }

    /// Loads the stored state into the switch, once.
    async fn ensure_loaded(&self, state: &AppState) -> Result<(), ApiError> {
        self.loaded
            .get_or_try_init(|| async {
                if let Some(s) = state.inner.walle.setting(KEY).await? {
                    let view: TradingStateView =
                        serde_json::from_value(serde_json::Value::String(s.value.clone()))
                            .map_err(|_| {
                                ApiError::Internal(format!(
                                    "stored trading state {:?} is unknown",
                                    s.value
                                ))
                            })?;
                    self.switch.set_global(view.into());
                    *self
                        .updated_at
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(s.updated_at);
                }
                Ok::<(), ApiError>(())
            })
            .await
            .map(|_| ())
    }

    fn body(&self) -> TradingStateBody {
        TradingStateBody {
            state: self.switch.global().into(),
            updated_at: *self
                .updated_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        }
    }
}

/// The shared switch, loaded from the store on first use. Hand it to every run's risk checks.
///
/// # Errors
/// 5xx when the stored state cannot be read.
pub async fn switch(state: &AppState) -> Result<Arc<TradingSwitch>, ApiError> {
    let t = &state.inner.trading;
    t.ensure_loaded(state).await?;
    Ok(t.switch.clone())
}

/// The current global state.
///
/// # Errors
/// 5xx when the stored state cannot be read.
pub async fn get(state: &AppState) -> Result<TradingStateBody, ApiError> {
    let t = &state.inner.trading;
    t.ensure_loaded(state).await?;
    Ok(t.body())
}

/// Stores and applies a new global state; announces it as `ui.TradingState`.
///
/// # Errors
/// 5xx when it cannot be stored (then nothing changed).
pub async fn set(state: &AppState, req: TradingStateRequest) -> Result<TradingStateBody, ApiError> {
    let wanted = parse(&req.state)?;
    let t = &state.inner.trading;
    t.ensure_loaded(state).await?;
    let _serial = t.writes.lock().await;
    let now = Utc::now();
    let event = Envelope::new(
        "ui.TradingState",
        "glados",
        TradingStateChanged {
            state: text(wanted).to_owned(),
            updated_at: now,
        },
    )
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let row = state
        .inner
        .walle
        .put_setting(KEY, text(wanted), Some(&event))
        .await?;
    t.switch.set_global(wanted.into());
    *t.updated_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(row.updated_at);
    tracing::info!(state = text(wanted), "global trading state set");
    Ok(t.body())
}
