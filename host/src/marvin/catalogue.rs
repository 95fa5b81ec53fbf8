//! The strategy catalogue: components checked at upload, stored by content hash, compiled in
//! the background, and the bundled examples registered at start. Runs and backtests find a
//! strategy's component here ([`Catalogue::component_path`]).
//!
//! # Invariants
//! - A refused upload (bad name, not a component, wrong world, too large) stores nothing.
//! - Components are stored by sha256 (`<data>/components/<sha256>.wasm`), written to a temporary
//!   file and renamed, so a stored file is always complete; re-uploading the same bytes is
//!   idempotent.
//! - Compilation runs on a blocking thread under a semaphore sized to Marvin's compile slots;
//!   its outcome is the row's status (`compiling` → `ready` | `rejected` with the error). A
//!   strategy left `compiling` by a stop is compiled again at the next start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Marvin;
use crate::events::correlation;
use crate::walle::{self, NewStrategy, Strategy, StrategyStatus, Walle};

/// Largest name or version label accepted.
const MAX_LABEL: usize = 64;

/// Why an upload was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name or version label is unusable (`invalid_name`).
    #[error("{0} must be 1–64 characters of A-Z a-z 0-9 _ . -")]
    InvalidLabel(&'static str),
    /// The bytes are not a component Weaver can run (the inspection's code).
    #[error(transparent)]
    Component(#[from] super::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] walle::Error),
    /// Writing the component file or a task of this process failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidLabel(_) => "invalid_name",
            Error::Component(e) => e.code(),
            Error::Store(e) => e.code(),
            Error::Internal(_) => "internal_error",
        }
    }
}

/// Checks a strategy name or version label: 1–64 of `[A-Za-z0-9_.-]`.
///
/// # Errors
/// [`Error::InvalidLabel`] naming `what`.
pub(crate) fn check_label(what: &'static str, s: &str) -> Result<(), Error> {
    if s.is_empty()
        || s.len() > MAX_LABEL
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(Error::InvalidLabel(what));
    }
    Ok(())
}

/// What a [`Catalogue`] is built from.
pub struct CatalogueParts {
    /// The store of strategy rows.
    pub walle: Walle,
    /// The sandbox host that inspects and compiles.
    pub marvin: Marvin,
    /// Where components are kept, by sha256.
    pub dir: PathBuf,
    /// Where compilations are tracked (the process's, so a shutdown waits for them).
    pub tasks: TaskTracker,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
}

/// The strategies of this installation. Cheap to clone.
#[derive(Clone)]
pub struct Catalogue {
    inner: Arc<Inner>,
}

struct Inner {
    walle: Walle,
    marvin: Marvin,
    dir: PathBuf,
    permits: Semaphore,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    /// Contract version (`0.2.0`, `0.3.0`) by sha256, learned at upload or on first view:
    /// components are immutable, so an entry never goes stale.
    contracts: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

impl Catalogue {
    /// The catalogue over these parts.
    pub fn new(p: CatalogueParts) -> Catalogue {
        Catalogue {
            inner: Arc::new(Inner {
                permits: Semaphore::new(p.marvin.config().compile.slots),
                walle: p.walle,
                marvin: p.marvin,
                dir: p.dir,
                tasks: p.tasks,
                shutdown: p.shutdown,
                contracts: Default::default(),
            }),
        }
    }

    /// Where the component with this hash is (or would be) stored.
    pub fn component_path(&self, sha256: &str) -> PathBuf {
        self.inner.dir.join(format!("{sha256}.wasm"))
    }

    /// The strategy contract version (`0.2.0`, `0.3.0`) of the stored component with this hash,
    /// from the inspection at upload or, after a restart, from inspecting the stored file once;
    /// `None` when the file is gone or no longer passes inspection.
    pub async fn contract(&self, sha256: &str) -> Option<String> {
        if let Some(v) = self.cached_contract(sha256) {
            return Some(v);
        }
        let path = self.component_path(sha256);
        let marvin = self.inner.marvin.clone();
        let info = tokio::task::spawn_blocking(move || {
            let bytes = std::fs::read(&path).ok()?;
            marvin.inspect(&bytes).ok()
        })
        .await
        .ok()??;
        self.remember_contract(sha256, &info.world_version);
        Some(info.world_version)
    }

    fn cached_contract(&self, sha256: &str) -> Option<String> {
        self.inner
            .contracts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(sha256)
            .cloned()
    }

    fn remember_contract(&self, sha256: &str, version: &str) {
        self.inner
            .contracts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(sha256.to_owned(), version.to_owned());
    }

    /// Validates, stores and queues the compilation of one component. Returns the row (the
    /// stored one when the same bytes were uploaded before).
    ///
    /// # Errors
    /// [`Error::InvalidLabel`] / [`Error::Component`] for a refused component (nothing
    /// stored), [`Error::Store`] / [`Error::Internal`] when storing it failed.
    pub async fn upload(
        &self,
        name: &str,
        version: Option<&str>,
        bytes: bytes::Bytes,
    ) -> Result<Strategy, Error> {
        Ok(self.upload_queued(name, version, bytes).await?.0)
    }

    /// [`Catalogue::upload`], also saying whether a compilation was queued.
    async fn upload_queued(
        &self,
        name: &str,
        version: Option<&str>,
        bytes: bytes::Bytes,
    ) -> Result<(Strategy, bool), Error> {
        check_label("name", name)?;
        if let Some(v) = version {
            check_label("version", v)?;
        }
        let marvin = self.inner.marvin.clone();
        let checked = bytes.clone();
        let info = tokio::task::spawn_blocking(move || marvin.inspect(&checked))
            .await
            .map_err(|e| Error::Internal(format!("inspect task: {e}")))??;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        self.remember_contract(&sha256, &info.world_version);
        let path = self.component_path(&sha256);
        if !path.exists() {
            let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
            tokio::fs::write(&tmp, &bytes)
                .await
                .map_err(|e| Error::Internal(format!("write {}: {e}", tmp.display())))?;
            tokio::fs::rename(&tmp, &path)
                .await
                .map_err(|e| Error::Internal(format!("rename {}: {e}", path.display())))?;
        }
        // The database keeps the bytes too: a `weaver worker` on another machine loads them
        // from there (ADR 0023).
        self.inner.walle.put_component(&sha256, &bytes).await?;
        let version = version.map_or_else(|| sha256[..12].to_owned(), str::to_owned);
        let new = NewStrategy {
            sha256: sha256.clone(),
            name: name.to_owned(),
            version,
            language: "wasm".to_owned(),
            size_bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        };
        let walle = &self.inner.walle;
        let (row, created) = walle.insert_strategy(&new, None).await?;
        if created || row.status == StrategyStatus::Uploaded {
            let row = walle
                .update_strategy_status(row.id, StrategyStatus::Compiling, None, None)
                .await?;
            self.spawn_compile(row.id, sha256);
            return Ok((row, true));
        }
        Ok((row, false))
    }

    /// Compiles a stored component in the background and records the outcome.
    fn spawn_compile(&self, id: i64, sha256: String) {
        let this = self.clone();
        let corr = correlation::current();
        self.inner.tasks.spawn(correlation::scope(corr, async move {
            let inner = &this.inner;
            let permit = tokio::select! {
                p = inner.permits.acquire() => p,
                () = inner.shutdown.cancelled() => return, // left `compiling`: redone at the next start
            };
            let Ok(_permit) = permit else { return };
            let path = this.component_path(&sha256);
            let marvin = inner.marvin.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let outcome = marvin.load_file(&path).map(drop);
                // The component's bytes and compiled form are gone now: give their pages back.
                super::release_compiler_memory();
                outcome
            })
            .await;
            let (status, error) = match outcome {
                Ok(Ok(())) => (StrategyStatus::Ready, None),
                Ok(Err(e)) => (StrategyStatus::Rejected, Some(format!("{}: {e}", e.code()))),
                Err(e) => (
                    StrategyStatus::Rejected,
                    Some(format!("internal_error: {e}")),
                ),
            };
            let label = if error.is_none() { "ready" } else { "rejected" };
            metrics::counter!("weaver_strategy_compilations_total", "outcome" => label)
                .increment(1);
            if let Err(e) = inner
                .walle
                .update_strategy_status(id, status, error.as_deref(), None)
                .await
            {
                tracing::error!(
                    strategy_id = id,
                    code = e.code(),
                    "cannot record compilation outcome: {e}"
                );
            }
        }));
    }

    /// Registers every `*.wasm` in `dir` (name = file stem, `_` read as `-`) and resumes
    /// compilations a stop interrupted. Problems are logged, never fatal: the server starts
    /// anyway. Returns how many components were registered (new or already known).
    pub async fn register_dir(&self, dir: &Path) -> usize {
        let mut count = 0;
        let mut queued = std::collections::HashSet::new();
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut paths: Vec<_> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                    .collect();
                paths.sort();
                for path in paths {
                    let name = path
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .unwrap_or("")
                        .replace('_', "-");
                    let bytes = match tokio::fs::read(&path).await {
                        Ok(b) => bytes::Bytes::from(b),
                        Err(e) => {
                            tracing::warn!(path = %path.display(), "cannot read component: {e}");
                            continue;
                        }
                    };
                    match self.upload_queued(&name, None, bytes).await {
                        Ok((s, q)) => {
                            if q {
                                queued.insert(s.id);
                            }
                            tracing::info!(id = s.id, name = %s.name, status = ?s.status, "strategy registered");
                            count += 1;
                        }
                        Err(e) => {
                            tracing::warn!(path = %path.display(), code = e.code(), "strategy not registered: {e}")
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), "no example strategies registered ({e}); build them with scripts/build-strategies.sh")
            }
        }
        // Compilations a previous stop interrupted.
        if let Ok(all) = self.inner.walle.strategies().await {
            for s in all
                .into_iter()
                .filter(|s| s.status == StrategyStatus::Compiling)
            {
                if !queued.contains(&s.id) && self.component_path(&s.sha256).exists() {
                    self.spawn_compile(s.id, s.sha256);
                }
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_of_the_allowed_characters_pass() {
        for ok in ["sma-cross", "v1.2_rc", "A", &"x".repeat(64)] {
            assert!(check_label("name", ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn other_labels_are_refused_naming_the_field() {
        for bad in ["", "a b", "ä", "../x", &"x".repeat(65)] {
            let e = check_label("version", bad).unwrap_err();
            assert_eq!(e.code(), "invalid_name");
            assert!(e.to_string().starts_with("version must be"), "{e}");
        }
    }
}
