//! Strategy uploads through the API: how the catalogue's refusals answer, and the strategy views
//! with each component's contract version. The catalogue itself
//! (validation, content-addressed storage, background compilation) is
//! [`crate::marvin::Catalogue`].
//!
//! # Invariants
//! - Every strategy view names its component's contract version and the supported range.
//! - A refused component is a 4xx with the inspection's code (nothing stored); a store or file
//!   failure is a 5xx whose cause goes to the log only.

use super::AppState;
use super::api::StrategyView;
use super::error::ApiError;
use crate::marvin::catalogue;
use crate::walle::Strategy;

impl From<catalogue::Error> for ApiError {
    fn from(e: catalogue::Error) -> Self {
        match e {
            e @ catalogue::Error::InvalidLabel(_) => ApiError::Invalid {
                code: e.code(),
                message: e.to_string(),
            },
            catalogue::Error::Component(e) => e.into(),
            catalogue::Error::Store(e) => e.into(),
            catalogue::Error::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// Validates, stores and queues the compilation of one component.
///
/// # Errors
/// 4xx [`ApiError`]s for refused components (nothing stored), 5xx for store failures.
pub async fn upload(
    state: &AppState,
    name: &str,
    version: Option<&str>,
    bytes: bytes::Bytes,
) -> Result<Strategy, ApiError> {
    Ok(state.inner.catalogue.upload(name, version, bytes).await?)
}

/// The view of one strategy, with its component's contract version.
pub async fn view(state: &AppState, s: Strategy) -> StrategyView {
    let contract = state.inner.catalogue.contract(&s.sha256).await;
    StrategyView {
        contract,
        ..StrategyView::from(s)
    }
}

/// [`view`] of each row, in order.
pub async fn views(state: &AppState, rows: Vec<Strategy>) -> Vec<StrategyView> {
    let mut out = Vec::with_capacity(rows.len());
    for s in rows {
        out.push(view(state, s).await);
    }
    out
}
