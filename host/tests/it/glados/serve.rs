//! `weaver serve` as a process: refused start-up and graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SENTINELS: [&str; 3] = [
    "sentinel-api-key-7f3a9c1e55",
    "SENTINELKEYIDAPCA0001",
    "sentinel-apca-secret-2b8d",
];

fn weaver() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_weaver"));
    for (k, _) in std::env::vars() {
        if k.starts_with("WEAVER_") || k.starts_with("APCA_") {
            c.env_remove(k);
        }
    }
    c
}

/// Kills the server if the test fails half-way, so no orphan holds the test's pipes.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn non_loopback_bind_without_key_refuses_to_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = weaver()
        .args(["serve"])
        .env("WEAVER_BIND", "0.0.0.0:0")
        .env("WEAVER_DATA_DIR", dir.path())
        .output()
        .expect("runs");
    assert!(!out.status.success(), "must refuse");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("WEAVER_API_KEY"), "clear message: {err}");
    assert!(
        !dir.path().join("weaver.db").exists(),
        "nothing opened before refusing"
    );
}

#[test]
fn serves_and_stops_cleanly_on_sigterm_without_leaking_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = weaver()
        .args(["serve", "--log-format", "json"])
        .env("WEAVER_BIND", "127.0.0.1:0")
        .env("WEAVER_DATA_DIR", dir.path())
        .env(
            "WEAVER_STRATEGIES_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../strategies/dist"),
        )
        .env("WEAVER_API_KEY", SENTINELS[0])
        .env("APCA_API_KEY_ID", SENTINELS[1])
        .env("APCA_API_SECRET_KEY", SENTINELS[2])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut child = KillOnDrop(child);
    let child = &mut child.0;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("no listening line; log so far:\n{}", log.join("\n"))
            });
        log.push(line.clone());
        if line.contains("weaver serving the API") {
            let v: serde_json::Value = serde_json::from_str(&line).expect("json log");
            break v["addr"].as_str().expect("addr").to_owned();
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    // reqwest is built without a default TLS provider (see host/Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bodies = rt.block_on(async {
        let c = reqwest::Client::new();
        let mut bodies = Vec::new();
        for (path, key) in [
            ("/healthz", None),
            ("/readyz", Some(SENTINELS[0])),
            ("/strategies", Some(SENTINELS[0])),
            ("/strategies", Some("wrong")),
            ("/metrics", Some(SENTINELS[0])),
        ] {
            let mut req = c.get(format!("http://{addr}{path}"));
            if let Some(k) = key {
                req = req.header("x-api-key", k);
            }
            let resp = req.send().await.expect("request");
            let status = resp.status();
            let headers = format!("{:?}", resp.headers());
            let body = resp.text().await.expect("body");
            bodies.push(format!("{path} {status} {headers} {body}"));
        }
        bodies
    });
    assert!(bodies[0].contains("200"), "{}", bodies[0]);
    assert!(bodies[1].contains("200"), "{}", bodies[1]);
    assert!(
        bodies[2].contains("sma-cross"),
        "examples registered: {}",
        bodies[2]
    );
    assert!(bodies[3].contains("401"), "{}", bodies[3]);
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("exits");
    reader.join().expect("reader");
    log.extend(rx.try_iter());
    assert!(
        status.success(),
        "clean exit on SIGTERM: {status:?}\n{}",
        log.join("\n")
    );
    assert!(
        log.iter().any(|l| l.contains("stopped cleanly")),
        "{}",
        log.join("\n")
    );
    for s in SENTINELS {
        for b in &bodies {
            assert!(!b.contains(s), "secret in a response: {b}");
        }
        for l in &log {
            assert!(!l.contains(s), "secret in the log: {l}");
        }
    }
}
