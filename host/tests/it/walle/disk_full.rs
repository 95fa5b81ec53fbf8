//! SQLite on a full disk (issue #20): a small tmpfs holds the database; once the disk is full
//! every write fails, and once space is freed writes succeed again without a restart (they
//! failed with `non-zero transaction depth` until the process restarted).
//!
//! While the disk is full the user is told: the kill switch's patient write reports the fault,
//! a `store_fault` notification (kind `disk_full`) reaches a webhook receiver while the disk is
//! still full, `/healthz` reports it, and once there is room `ui.Notice`s about it are in the
//! event feed.
//!
//! Mounting a tmpfs needs root (the CI machines and these ones run as root): without it the
//! test fails, saying so.

use std::path::Path;
use std::process::Command;

use weaver::walle::{DbConfig, Walle};

/// A 4 MB tmpfs at a fresh directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> SmallDisk {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill the disk and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the disk with a file, leaving nothing; returns its path.
fn fill(dir: &Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let small = vec![0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.flush();
    path
}

async fn write(w: &Walle, key: &str) -> Result<(), String> {
    // A setting is one write transaction with an event: the shape of every write.
    let value = "x".repeat(2048);
    w.put_setting(key, &value, None)
        .await
        .map(|_| ())
        .map_err(|e| format!("{} ({})", e, e.code()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_recover_after_the_disk_was_full_without_a_restart() {
    let disk = SmallDisk::mount();
    let config = DbConfig::sqlite_in(disk.path());
    let w = Walle::connect(&config)
        .await
        .expect("sqlite on the small disk");
    write(&w, "before").await.expect("a write with room");

    let filler = fill(disk.path());
    let mut failed = None;
    for i in 0..200 {
        if let Err(e) = write(&w, &format!("full-{i}")).await {
            failed = Some(e);
            break;
        }
    }
    let failed = failed.expect("writes fail once the disk is full");
    assert!(
        failed.contains("full") || failed.contains("disk"),
        "a full disk says so: {failed}"
    );
    // Still full: still refused, and nothing half-written is left behind.
    assert!(write(&w, "still-full").await.is_err());

    std::fs::remove_file(filler).expect("space freed");
    let mut last = String::new();
    for _ in 0..20 {
        match write(&w, "after").await {
            Ok(()) => {
                let got = w.setting("after").await.expect("read").expect("stored");
                assert_eq!(got.value.len(), 2048);
                return;
            }
            Err(e) => last = e,
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("writes did not recover once space was freed: {last}");
}

/// The kill switch works on a full disk: `PUT /trading-state halted` answers and holds at once,
/// and is stored as soon as space is freed (it answered 500 and did not halt); meanwhile the
/// user is told the disk is full, and afterwards the feed has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kill_switch_halts_on_a_full_disk_and_is_stored_once_there_is_room() {
    use crate::glados::notify::{Receiver, fast, until, webhook_config};
    let disk = SmallDisk::mount();
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let mut config = weaver::app::Config::for_tests(elsewhere.path());
    config.db = DbConfig::sqlite_in(disk.path());
    let (rx, base) = Receiver::start().await;
    config.notify = webhook_config(&base, fast(3, 50));
    let w = Walle::connect(&config.db)
        .await
        .expect("sqlite on the small disk");
    let app = weaver::app::App::new(config, w.clone()).expect("app");
    app.start().await.expect("start");
    let r = weaver::glados::router(app.state());

    let filler = fill(disk.path());
    let put = axum::http::Request::put("/trading-state")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(r#"{"state": "halted"}"#))
        .expect("request");
    let halt = crate::glados::send(&r, put).await;
    assert_eq!(halt.status, axum::http::StatusCode::OK, "{}", halt.json());
    assert_eq!(halt.json()["state"], "halted");
    let now = crate::glados::send(&r, crate::glados::get("/trading-state"))
        .await
        .json();
    assert_eq!(now["state"], "halted", "in force at once: {now}");
    let stored = w
        .setting("trading_state")
        .await
        .expect("reads work on a full disk");
    assert!(
        stored.is_none_or(|s| s.value != "halted"),
        "the disk was full: the halt cannot have been stored yet"
    );
    // Told while the disk is full (directly: the outbox cannot take a notice).
    until(
        "a store_fault notification while the disk is full",
        || async { rx.webhooks().iter().any(|b| b["type"] == "store.Fault") },
    )
    .await;
    let told = rx
        .webhooks()
        .into_iter()
        .find(|b| b["type"] == "store.Fault")
        .expect("told");
    assert_eq!(told["payload"]["kind"], "disk_full", "{told}");
    let live = crate::glados::send(&r, crate::glados::get("/healthz")).await;
    assert_eq!(
        live.json()["store_fault"]["kind"],
        "disk_full",
        "{}",
        live.json()
    );
    assert!(
        w.setting("trading_state")
            .await
            .expect("reads")
            .is_none_or(|s| s.value != "halted"),
        "told while the disk was still full"
    );

    std::fs::remove_file(filler).expect("space freed");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Ok(Some(s)) = w.setting("trading_state").await
            && s.value == "halted"
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the halt was never stored"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let notices = crate::glados::outage::store_notices(&r).await;
    let kinds: Vec<(&str, &str)> = notices
        .iter()
        .filter(|n| n["fault_id"] == told["payload"]["fault_id"])
        .map(|n| {
            (
                n["level"].as_str().unwrap_or("?"),
                n["kind"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [("error", "disk_full"), ("info", "disk_full")],
        "{notices:?}"
    );
    let live = crate::glados::send(&r, crate::glados::get("/healthz")).await;
    assert!(live.json().get("store_fault").is_none(), "{}", live.json());
    app.shutdown(std::time::Duration::from_secs(5)).await;
}
