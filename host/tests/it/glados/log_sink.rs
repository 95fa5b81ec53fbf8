//! A log destination that fails (`weaver serve 2>/dev/full`, the audit's H4): the server keeps
//! serving, counts the lost lines in `/metrics`, and exits cleanly on SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::weaver;

/// A free local port (bound, then released for the child to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn serve_keeps_running_when_its_log_destination_fails() {
    let full = std::path::Path::new("/dev/full");
    assert!(full.exists(), "/dev/full is needed to fail every log write");
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut child = weaver()
        .args(["serve"])
        .env("WEAVER_BIND", format!("127.0.0.1:{port}"))
        .env("WEAVER_DATA_DIR", dir.path())
        .env("WEAVER_STRATEGIES_DIR", dir.path().join("none"))
        .env("WEAVER_SAMPLE_DATA", "off")
        .env("WEAVER_LOG", "debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(full).expect("open /dev/full"))
        .spawn()
        .expect("weaver serve starts");
    let get = |path: &str| -> Option<String> {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).ok()?;
        conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(
            conn,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut text = String::new();
        conn.read_to_string(&mut text).ok()?;
        Some(text)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let health = loop {
        if let Some(status) = child.try_wait().expect("status") {
            panic!("weaver serve died with its log on /dev/full: {status:?}");
        }
        if let Some(text) = get("/healthz") {
            break text;
        }
        assert!(Instant::now() < deadline, "never answered /healthz");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let metrics = get("/metrics").expect("metrics");
    let lost = metrics
        .lines()
        .find(|l| l.starts_with("weaver_log_write_errors_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no weaver_log_write_errors_total:\n{metrics}"));
    assert!(lost > 0.0, "lost log lines are counted");
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("status") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running 30 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit on SIGTERM: {status:?}");
}
