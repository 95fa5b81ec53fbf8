//! The layer rule of `host/src` (stated in `lib.rs`, checked by `scripts/check-layers.sh`):
//! the tree keeps it, and the check fails on a wrong-way import, on HTTP or clap outside their
//! layer, and on a file over 800 lines.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn check(src: &Path) -> Output {
    Command::new("python3")
        .arg(repo().join("scripts/lib/check_layers.py"))
        .arg(src)
        .output()
        .expect("python3 runs (a prerequisite: scripts/doctor.sh)")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A copy of `host/src` with `text` appended to `file`.
fn tree_with(file: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&repo().join("host/src"), dir.path());
    let path = dir.path().join(file);
    let mut body = std::fs::read_to_string(&path).expect("file");
    body.push_str(text);
    std::fs::write(&path, body).expect("write");
    dir
}

#[test]
fn the_tree_keeps_the_layer_order() {
    let out = check(&repo().join("host/src"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_check_fails_on_each_kind_of_violation() {
    let cases = [
        (
            "runs/spec.rs",
            "\nuse crate::glados::ApiError;\n",
            "runs/spec.rs: runs imports glados",
        ),
        (
            "walle.rs",
            "\nuse crate::{domain, veda::Venue};\n",
            "walle.rs: walle imports veda",
        ),
        (
            "walle/market.rs",
            "\nfn f() -> axum::http::StatusCode { todo() }\n",
            "walle/market.rs: walle uses axum",
        ),
        (
            "greta/synth.rs",
            "\n#[derive(clap::Args)]\nstruct A;\n",
            "greta/synth.rs: greta uses clap",
        ),
        ("domain.rs", &"\n// filler".repeat(801), "domain.rs:"),
    ];
    for (file, text, said) in cases {
        let tree = tree_with(file, text);
        let out = check(tree.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file}: the check passed");
        assert!(err.contains(said), "{file}: expected {said:?} in:\n{err}");
    }
}
