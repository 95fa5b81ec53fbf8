//! The environment of the compiler child (`weaver strategy precompile`): cleared, then only the
//! few variables a process needs to run (and the log settings, so its messages look like the
//! server's). The server's environment holds `WEAVER_API_KEY`, the Alpaca keys and the
//! database URL; a compiler working on an uploaded component has no use for any of them.
//!
//! # Invariants
//! - The child's environment is [`KEPT`]'s variables that the server has, and
//!   `MALLOC_ARENA_MAX=2`; nothing else, whatever the server's environment holds.
//! - No variable in [`KEPT`] holds a secret.

use std::ffi::OsString;
use std::process::Command;

/// What the child inherits, when set: how to find programs and temporary space, the locale
/// and time zone, Rust's backtrace switch, and Weaver's log filter and format.
pub(super) const KEPT: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "RUST_BACKTRACE",
    "WEAVER_LOG",
    "WEAVER_LOG_FORMAT",
];

/// Clears `command`'s environment and sets the kept variables of `parent` (the server's
/// environment, `std::env::vars_os()`), and `MALLOC_ARENA_MAX=2` (the compiler's address space
/// must not grow with the number of cores).
pub(super) fn clean(command: &mut Command, parent: impl IntoIterator<Item = (OsString, OsString)>) {
    command.env_clear();
    for (k, v) in parent {
        if k.to_str().is_some_and(|k| KEPT.contains(&k)) {
            command.env(k, v);
        }
    }
    command.env("MALLOC_ARENA_MAX", "2");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The child really starts with the kept variables only: a shell prints its environment.
    #[test]
    fn secrets_of_the_server_never_reach_the_child() {
        let sh = std::path::Path::new("/bin/sh");
        assert!(
            sh.is_file(),
            "/bin/sh is needed to print a child's environment"
        );
        let parent: Vec<(OsString, OsString)> = [
            ("PATH", "/usr/bin:/bin"),
            ("HOME", "/home/weaver"),
            ("WEAVER_LOG", "info"),
            ("WEAVER_API_KEY", "sentinel-api-key-51c0ffee"),
            ("APCA_API_KEY_ID", "SENTINELKEYID"),
            ("APCA_API_SECRET_KEY", "sentinel-secret"),
            ("WEAVER_DATABASE_URL", "postgres://u:sentinel-pw@db/w"),
            ("AWS_SECRET_ACCESS_KEY", "sentinel-aws"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let mut command = Command::new(sh);
        command.args(["-c", "env"]);
        clean(&mut command, parent);
        let out = command.output().expect("sh runs");
        assert!(out.status.success());
        let env = String::from_utf8_lossy(&out.stdout);
        assert!(
            !env.contains("sentinel") && !env.contains("SENTINEL"),
            "{env}"
        );
        for name in ["APCA_", "WEAVER_API_KEY", "WEAVER_DATABASE_URL", "AWS_"] {
            assert!(
                !env.contains(name),
                "{name} in the child's environment:\n{env}"
            );
        }
        for kept in [
            "PATH=/usr/bin:/bin",
            "HOME=/home/weaver",
            "WEAVER_LOG=info",
            "MALLOC_ARENA_MAX=2",
        ] {
            assert!(env.lines().any(|l| l == kept), "{kept} missing:\n{env}");
        }
    }
}
