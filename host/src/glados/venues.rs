//! `GET /venues`: where a run can trade on this server, for the run form's venue picker. `sim`
//! always; with Alpaca configured, `alpaca` (in the mode it is configured for) and `sim-live`
//! (the simulated exchange on Alpaca's live bars, [`crate::runs::sim_live`]).
//!
//! # Invariants
//! - A venue is listed only when `POST /runs` can start a run on it (its configuration says
//!   nothing about whether it is reachable now).

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::ErrorBody;
use crate::veda::sim::LIVE_VENUE;

/// The venue routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/venues", get(list_venues))
}

/// A venue a run can be started on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VenueView {
    /// The name `POST /runs` takes (`sim`, `sim-live`, `alpaca`).
    pub name: String,
    /// The modes it accepts (`paper`, `live`).
    pub modes: Vec<String>,
    /// Where its bars come from: `stored` (candles in the store, replayed) or `live` (a venue's
    /// live stream).
    pub data: String,
    /// Whose fills: `simulated` (the run's own simulated exchange and account) or `venue` (the
    /// broker's).
    pub fills: String,
    /// The timeframes its runs accept (`null`: any).
    pub timeframes: Option<Vec<String>>,
    /// One line for people.
    pub description: String,
}

/// The venues of this server: `sim`, and with Alpaca configured `alpaca` and `sim-live`.
#[utoipa::path(get, path = "/venues", tag = "runs", responses(
    (status = 200, body = [VenueView]), (status = 401, body = ErrorBody)))]
pub async fn list_venues(State(state): State<AppState>) -> axum::Json<Vec<VenueView>> {
    let text = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let mut out = vec![VenueView {
        name: "sim".into(),
        modes: text(&["paper"]),
        data: "stored".into(),
        fills: "simulated".into(),
        timeframes: None,
        description: "simulated exchange replaying stored candles".into(),
    }];
    for desk in state.inner.runs.desks() {
        out.push(VenueView {
            name: desk.name().to_owned(),
            modes: text(&[if desk.is_live() { "live" } else { "paper" }]),
            data: "live".into(),
            fills: "venue".into(),
            timeframes: Some(crate::veda::periods::live_timeframe_names()),
            description: format!(
                "{} ({})",
                desk.name(),
                if desk.is_live() {
                    "live account, real money"
                } else {
                    "paper account"
                }
            ),
        });
        if desk.name() == "alpaca" {
            out.push(VenueView {
                name: LIVE_VENUE.into(),
                modes: text(&["paper"]),
                data: "live".into(),
                fills: "simulated".into(),
                timeframes: Some(crate::veda::periods::live_timeframe_names()),
                description: "simulated fills on Alpaca's live bars, with the run's own account"
                    .into(),
            });
        }
    }
    axum::Json(out)
}
