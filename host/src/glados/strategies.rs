//! Strategy components through the API: validation at upload, content-addressed storage,
//! background compilation, and registration of the bundled examples at start.
//!
//! # Invariants
//! - A refused upload (bad name, not a component, wrong world, too large) stores nothing.
//! - Components are stored by sha256 (`<data>/components/<sha256>.wasm`), written to a temporary
//!   file and renamed, so a stored file is always complete; re-uploading the same bytes is
//!   idempotent.
//! - Compilation runs on a blocking thread under a semaphore; its outcome is the row's status
//!   (`compiling` → `ready` | `rejected` with the error). A strategy left `compiling` by a stop
//!   is compiled again at the next start.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use crate::walle::{NewStrategy, Strategy, StrategyStatus};

/// Largest name accepted.
const MAX_NAME: usize = 64;

/// Checks a strategy name or version label: 1–64 of `[A-Za-z0-9_.-]`.
pub(crate) fn check_label(what: &'static str, s: &str) -> Result<(), ApiError> {
    if s.is_empty()
        || s.len() > MAX_NAME
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(ApiError::Invalid {
            code: "invalid_name",
            message: format!("{what} must be 1–{MAX_NAME} characters of A-Z a-z 0-9 _ . -"),
        });
    }
    Ok(())
}

/// Validates, stores and queues the compilation of one component. Returns the row (the stored
/// one when the same bytes were uploaded before).
///
/// # Errors
/// 4xx [`ApiError`]s for refused components (nothing stored), 5xx for store failures.
pub async fn upload(
    state: &AppState,
    name: &str,
    version: Option<&str>,
    bytes: bytes::Bytes,
) -> Result<Strategy, ApiError> {
    Ok(upload_queued(state, name, version, bytes).await?.0)
}

/// [`upload`], also saying whether a compilation was queued.
async fn upload_queued(
    state: &AppState,
    name: &str,
    version: Option<&str>,
    bytes: bytes::Bytes,
) -> Result<(Strategy, bool), ApiError> {
    check_label("name", name)?;
    if let Some(v) = version {
        check_label("version", v)?;
    }
    let marvin = state.inner.marvin.clone();
    let checked = bytes.clone();
    tokio::task::spawn_blocking(move || marvin.inspect(&checked))
        .await
        .map_err(|e| ApiError::Internal(format!("inspect task: {e}")))??;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let path = component_path(state, &sha256);
    if !path.exists() {
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&tmp, &bytes)
            .await
            .map_err(|e| ApiError::Internal(format!("write {}: {e}", tmp.display())))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| ApiError::Internal(format!("rename {}: {e}", path.display())))?;
    }
    let version = version.map_or_else(|| sha256[..12].to_owned(), str::to_owned);
    let new = NewStrategy {
        sha256: sha256.clone(),
        name: name.to_owned(),
        version,
        language: "wasm".to_owned(),
        size_bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
    };
    let (row, created) = state.inner.walle.insert_strategy(&new, None).await?;
    if created || row.status == StrategyStatus::Uploaded {
        let row = state
            .inner
            .walle
            .update_strategy_status(row.id, StrategyStatus::Compiling, None, None)
            .await?;
        spawn_compile(state, row.id, sha256);
        return Ok((row, true));
    }
    Ok((row, false))
}

fn component_path(state: &AppState, sha256: &str) -> std::path::PathBuf {
    state.inner.components_dir.join(format!("{sha256}.wasm"))
}

/// Compiles a stored component in the background and records the outcome.
fn spawn_compile(state: &AppState, id: i64, sha256: String) {
    let st = state.clone();
    state.inner.tasks.spawn(async move {
        let token = st.inner.shutdown.clone();
        let permit = tokio::select! {
            p = st.inner.compile_permits.acquire() => p,
            () = token.cancelled() => return, // left `compiling`: redone at the next start
        };
        let Ok(_permit) = permit else { return };
        let path = component_path(&st, &sha256);
        let marvin = st.inner.marvin.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let outcome = marvin.load_file(&path).map(drop);
            // The component's bytes and compiled form are gone now: give their pages back.
            crate::marvin::release_compiler_memory();
            outcome
        })
        .await;
        let (status, error) = match outcome {
            Ok(Ok(())) => (StrategyStatus::Ready, None),
            Ok(Err(e)) => (StrategyStatus::Rejected, Some(format!("{}: {e}", e.code()))),
            Err(e) => (StrategyStatus::Rejected, Some(format!("internal_error: {e}"))),
        };
        metrics::counter!("weaver_strategy_compilations_total", "outcome" => if error.is_none() { "ready" } else { "rejected" }).increment(1);
        if let Err(e) = st.inner.walle.update_strategy_status(id, status, error.as_deref(), None).await {
            tracing::error!(strategy_id = id, code = e.code(), "cannot record compilation outcome: {e}");
        }
    });
}

/// Registers every `*.wasm` in `dir` (name = file stem) and resumes compilations a stop
/// interrupted. Problems are logged, never fatal: the API starts anyway. Returns how many
/// components were registered (new or already known).
pub async fn register_dir(state: &AppState, dir: &Path) -> usize {
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
                match upload_queued(state, &name, None, bytes).await {
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
    if let Ok(all) = state.inner.walle.strategies().await {
        for s in all
            .into_iter()
            .filter(|s| s.status == StrategyStatus::Compiling)
        {
            if !queued.contains(&s.id) && component_path(state, &s.sha256).exists() {
                spawn_compile(state, s.id, s.sha256);
            }
        }
    }
    count
}
