//! The on-disk cache of compiled components, keyed by component sha256 and engine settings.

use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::Error;

/// Creates the cache directory (owner-only on Unix: only the host may write artifacts).
pub(super) fn prepare_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Io(format!("cannot create cache dir {}: {e}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Where the artifact for a component compiled by an engine with `engine_hash` lives.
pub(super) fn artifact_path(dir: &Path, sha256: &str, engine_hash: &str) -> PathBuf {
    dir.join(format!("{sha256}-{engine_hash}.cwasm"))
}

/// Loads a cached artifact; `None` when there is none or it is unusable (then it is removed and
/// the caller recompiles).
pub(super) fn load(engine: &Engine, path: &Path) -> Option<Component> {
    // Read into memory rather than mmap the file (`deserialize_file`): if anything ever
    // truncated or rewrote a mapped artifact in place, the process would die of SIGBUS.
    let bytes = std::fs::read(path).ok()?;
    match deserialize(engine, &bytes) {
        Ok(component) => Some(component),
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "dropping unusable compiled artifact");
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

/// Loads an artifact this process compiled (see [`super::compile_apart`]) or stored.
pub(super) fn deserialize(engine: &Engine, bytes: &[u8]) -> Result<Component, Error> {
    // SAFETY: the bytes are an artifact this process just compiled with an engine of the same
    // settings, or one `store` wrote (from such an artifact; the settings hash is in the file
    // name) into a directory only the host can write. wasmtime still checks the header and
    // refuses artifacts from another version or configuration.
    #[allow(unsafe_code)]
    let loaded = unsafe { Component::deserialize(engine, bytes) };
    loaded.map_err(|e| Error::Internal(format!("cannot load compiled artifact: {e:#}")))
}

/// Writes an artifact atomically (temp file + rename) so a crash never leaves half a file.
pub(super) fn store(bytes: &[u8], path: &Path) -> Result<(), Error> {
    let tmp = path.with_extension(format!("tmp{}-{}", std::process::id(), unique()));
    std::fs::write(&tmp, bytes)
        .map_err(|e| Error::Io(format!("cannot write {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::Io(format!("cannot move artifact into {}: {e}", path.display()))
    })
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
