//! Jobs run by `weaver worker` processes (ADR 0023), the parts the server and a worker share:
//! the component kept in the database for a worker elsewhere, and a leased backtest run and
//! stored by the worker that holds it.
//!
//! # Invariants
//! - A job handed to workers has its component's bytes in the database before its lease row
//!   exists, so no worker can claim a job whose component it cannot fetch.
//! - A worker's shutdown leaves its backtest `running` (not `failed`): the next worker's claim
//!   runs it again (a backtest is deterministic, and its report is written whole).

use super::StrategySource;
use super::jobs::{Error, Jobs, Plan};
use crate::walle::BacktestStatus;

impl Jobs {
    /// Stores the plan's component bytes in the database unless they are there (components
    /// uploaded before they were kept there), so a worker elsewhere can load it.
    ///
    /// # Errors
    /// [`Error::Store`]; [`Error::Internal`] when the component file cannot be read.
    pub(crate) async fn keep_component(&self, plan: &Plan) -> Result<(), Error> {
        let w = &self.parts().walle;
        if w.has_component(&plan.sha256).await? {
            return Ok(());
        }
        let StrategySource::Component(path) = &plan.spec.strategy else {
            return Err(Error::Internal("a job's strategy is a component".into()));
        };
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| Error::Internal(format!("read {}: {e}", path.display())))?;
        w.put_component(&plan.sha256, &bytes).await?;
        Ok(())
    }

    /// Marks backtest `id` running, runs it and stores its report or its error (a worker calls
    /// this for a backtest it leased).
    pub(crate) async fn run_and_store(&self, id: i64, plan: Plan) {
        let w = &self.parts().walle;
        if let Err(e) = w
            .update_backtest(id, BacktestStatus::Running, None, None, None, &[])
            .await
        {
            tracing::error!(
                backtest_id = id,
                code = e.code(),
                "cannot start backtest: {e}"
            );
            return;
        }
        let res = match self.execute(plan).await {
            Ok((report, orders)) => match super::jobs::commands(id, &orders) {
                Ok(commands) => w
                    .update_backtest(
                        id,
                        BacktestStatus::Done,
                        Some(&report),
                        None,
                        None,
                        &commands,
                    )
                    .await
                    .map(drop),
                Err(e) => Err(e),
            },
            // A worker's shutdown: left `running` for the next worker to take over.
            Err(_) if self.external() && self.parts().shutdown.is_cancelled() => Ok(()),
            Err(msg) => w
                .update_backtest(id, BacktestStatus::Failed, None, Some(&msg), None, &[])
                .await
                .map(drop),
        };
        if let Err(e) = res {
            tracing::error!(
                backtest_id = id,
                code = e.code(),
                "cannot record backtest outcome: {e}"
            );
        }
    }
}
