//! A sandbox owned by its own thread, driven by messages: the live-run shape (one actor per run;
//! callers await a oneshot reply, so access to the `Store` is serialised without a lock).

use std::sync::mpsc;

use super::{Error, Sandbox, SandboxStats};
use crate::domain::{
    BatchOutcome, EventMeta, Intent, Strategy, StrategyError, StrategyEvent, SymbolBar,
};

type Job = Box<dyn FnOnce(&mut Sandbox) + Send>;

/// Handle to a sandbox running on its own thread. Dropping the handle stops the thread after the
/// job in progress.
#[derive(Debug)]
pub struct SandboxActor {
    jobs: mpsc::Sender<Job>,
}

impl SandboxActor {
    /// Moves the sandbox onto a new thread (a plain thread: guest calls are synchronous and must
    /// never block an async runtime).
    ///
    /// # Errors
    /// `internal_error` when the thread cannot be started.
    pub fn spawn(mut sandbox: Sandbox, name: &str) -> Result<SandboxActor, Error> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(format!("strategy-{name}"))
            .spawn(move || {
                while let Ok(job) = inbox.recv() {
                    job(&mut sandbox);
                }
            })
            .map_err(|e| Error::Internal(format!("cannot start the strategy thread: {e}")))?;
        Ok(SandboxActor { jobs })
    }

    /// Runs `f` on the sandbox's thread and returns its result.
    ///
    /// # Errors
    /// `strategy_actor_stopped` when the thread is gone.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Sandbox) -> R + Send + 'static,
    ) -> Result<R, Error> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |sandbox| {
                let _ = reply.send(f(sandbox));
            }))
            .map_err(|_| Error::ActorStopped)?;
        answer.await.map_err(|_| Error::ActorStopped)
    }

    /// Delivers one event.
    ///
    /// # Errors
    /// As [`Strategy::on_event`], or `strategy_actor_stopped`.
    pub async fn on_event(&self, event: StrategyEvent) -> Result<Vec<Intent>, StrategyError> {
        self.call(move |sandbox| sandbox.on_event(&event)).await?
    }

    /// Delivers a batch of bars.
    ///
    /// # Errors
    /// As [`Strategy::on_bars`], or `strategy_actor_stopped`.
    pub async fn on_bars(
        &self,
        meta: EventMeta,
        bars: Vec<SymbolBar>,
    ) -> Result<BatchOutcome, StrategyError> {
        self.call(move |sandbox| sandbox.on_bars(&meta, &bars))
            .await?
    }

    /// The sandbox's figures.
    ///
    /// # Errors
    /// `strategy_actor_stopped`.
    pub async fn stats(&self) -> Result<SandboxStats, Error> {
        self.call(|sandbox| sandbox.stats()).await
    }
}
