//! Where a live run's account snapshots come from ([`AccountSource`]): the
//! [`crate::domain::cues`] say when a strategy is told its account; the source says what it is.
//! - On the simulated exchange the run owns the venue: [`crate::veda::sim::SimVenue`] answers
//!   with Greta's broker's own snapshot, bit for bit what a backtest of the same bars tells.
//! - On a shared live venue the run's account is its own fills over its baseline; the runs layer
//!   implements the source from them (`runs::account::DeskAccount`).
//! - A runner given no source tells no snapshots: a venue's own account figures follow the
//!   venue's conventions (and may be shared with other runs), not the domain's.
//!
//! # Invariants
//! - Every source tells the [`AccountSnapshot`] of the domain's definition: cash is the
//!   starting cash plus realised profit and loss (positions are booked on margin), equity marks
//!   positions at their latest price, buying power is equity less the gross value of positions.
//! - On a shared venue the run's positions are its own share ([`AccountSource::own_share`]):
//!   what its risk checks, its `ClosePosition` intents and a flatten see, never another run's.
//! - A source sees each of the run's own order updates ([`AccountSource::observe`]) before the
//!   strategy is told of it, so a snapshot after a fill includes that fill.

use async_trait::async_trait;

use crate::domain::AccountSnapshot;
use crate::veda::Result;
use crate::veda::types::TradeUpdate;

/// The account a live run tells its strategy.
#[async_trait]
pub trait AccountSource: Send + Sync {
    /// Notes one of the run's own order updates, before the strategy is told of it.
    fn observe(&self, _update: &TradeUpdate) {}

    /// The run's account now; `marks` are the latest closes of the run's symbols (symbol,
    /// price), for sources that do not know prices themselves.
    ///
    /// # Errors
    /// The venue or the store could not be read; the runner then skips this snapshot.
    async fn snapshot(&self, marks: &[(String, f64)]) -> Result<AccountSnapshot>;

    /// The run's own share at `marks` (its positions and equity) where the venue account is
    /// not the run's alone (an account several runs trade); `None` where it is (the simulated
    /// exchange, a replay), and the venue's positions and equity are the run's. One read
    /// serves the pre-trade checks' positions and equity.
    ///
    /// # Errors
    /// The store could not be read; the runner then refuses to place orders (fail closed).
    async fn own_share(&self, _marks: &[(String, f64)]) -> Result<Option<AccountSnapshot>> {
        Ok(None)
    }

    /// The run's account at `marks` for its risk rules, read without telling the strategy or
    /// recording it (unlike [`AccountSource::snapshot`]); `None` where it cannot be had without
    /// that (a replay's tape), and the rules then keep their state.
    ///
    /// # Errors
    /// The venue or the store could not be read.
    async fn risk_figures(&self, _marks: &[(String, f64)]) -> Result<Option<AccountSnapshot>> {
        Ok(None)
    }
}

/// The simulated exchange is the run's own: its broker's snapshot is the run's account.
#[async_trait]
impl AccountSource for crate::veda::sim::SimVenue {
    async fn snapshot(&self, _marks: &[(String, f64)]) -> Result<AccountSnapshot> {
        Ok(self.account_snapshot())
    }

    async fn risk_figures(&self, _marks: &[(String, f64)]) -> Result<Option<AccountSnapshot>> {
        Ok(Some(self.account_snapshot()))
    }
}
