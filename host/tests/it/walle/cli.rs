//! `weaver migrate`: creates and migrates the embedded database; refuses a bad URL clearly.

use crate::support::{weaver, weaver_in};

#[test]
fn migrate_creates_the_embedded_database_and_is_repeatable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("nested").join("weaver-data");
    for _ in 0..2 {
        let out = weaver_in(&data)
            .arg("migrate")
            .output()
            .expect("run weaver migrate");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "weaver migrate failed: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("migrations applied (sqlite)"), "{stdout}");
    }
    assert!(
        data.join("weaver.db").is_file(),
        "weaver.db created in WEAVER_DATA_DIR"
    );
}

#[test]
fn migrate_refuses_an_unknown_scheme_without_echoing_the_url() {
    let out = weaver()
        .arg("migrate")
        .env(
            "WEAVER_DATABASE_URL",
            "mysql://admin:hunter2-sentinel@db/weaver",
        )
        .output()
        .expect("run weaver migrate");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WEAVER_DATABASE_URL must start with"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2-sentinel"),
        "the URL's password leaked: {stderr}"
    );
}
