//! `weaver serve` as a process: refused start-up and graceful shutdown.

use crate::support::{serve, weaver};

const SENTINELS: [&str; 3] = [
    "sentinel-api-key-7f3a9c1e55",
    "SENTINELKEYIDAPCA0001",
    "sentinel-apca-secret-2b8d",
];

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
    let served = serve(
        weaver()
            .args(["serve", "--log-format", "json"])
            .env("WEAVER_BIND", "127.0.0.1:0")
            .env("WEAVER_DATA_DIR", dir.path())
            .env(
                "WEAVER_STRATEGIES_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/../strategies/dist"),
            )
            .env("WEAVER_API_KEY", SENTINELS[0])
            .env("APCA_API_KEY_ID", SENTINELS[1])
            .env("APCA_API_SECRET_KEY", SENTINELS[2]),
    );
    let addr = served.addr.clone();

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
    let (status, log) = served.terminate();
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

/// SIGTERM with 50 event-stream clients connected: the process exits within
/// `WEAVER_SHUTDOWN_GRACE` (the streams end with it), the paced run it was executing is
/// `suspended`, and the next start resumes it.
#[test]
fn sigterm_with_event_stream_clients_exits_within_the_grace_and_the_runs_resume() {
    let dir = tempfile::tempdir().expect("temp dir");
    let start = || {
        serve(
            weaver()
                .args(["serve"])
                .env("WEAVER_BIND", "127.0.0.1:0")
                .env("WEAVER_DATA_DIR", dir.path())
                .env(
                    "WEAVER_STRATEGIES_DIR",
                    concat!(env!("CARGO_MANIFEST_DIR"), "/../strategies/dist"),
                )
                .env("WEAVER_SHUTDOWN_GRACE", "3")
                .env("WEAVER_RUN_BAR_INTERVAL_MS", "50"),
        )
    };
    let served = start();
    let addr = served.addr.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let c = reqwest::Client::new();
    let (id, streams) = rt.block_on(async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let id = loop {
            let created = c
                .post(format!("http://{addr}/runs"))
                .json(&serde_json::json!({
                    "strategy": "sma-cross", "mode": "paper", "venue": "sim",
                    "symbols": ["SAMPLE"], "timeframe": "1Hour", "params": {"fast": 5, "slow": 20}
                }))
                .send()
                .await
                .expect("request");
            let status = created.status();
            let body: serde_json::Value = created.json().await.expect("json");
            if status == 201 {
                break body["id"].as_i64().expect("id");
            }
            // The example strategies compile in the background at the first start.
            assert!(
                std::time::Instant::now() < deadline,
                "run not created: {status} {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        let mut streams = Vec::new();
        for _ in 0..50 {
            let mut s = c
                .get(format!("http://{addr}/events/stream"))
                .send()
                .await
                .expect("stream");
            assert_eq!(s.status(), 200);
            // Connected and served: the first frame arrived.
            let first = tokio::time::timeout(std::time::Duration::from_secs(10), s.chunk())
                .await
                .expect("a first frame in time");
            assert!(first.expect("frame").is_some());
            streams.push(s);
        }
        (id, streams)
    });
    let asked = std::time::Instant::now();
    let (status, log) = served.terminate();
    let took = asked.elapsed();
    drop(streams);
    assert!(
        status.success(),
        "clean exit on SIGTERM: {status:?}\n{}",
        log.join("\n")
    );
    assert!(
        took < std::time::Duration::from_secs(6),
        "exited {took:?} after SIGTERM (grace 3 s)\n{}",
        log.join("\n")
    );

    let served = start();
    let addr = served.addr.clone();
    let status = rt.block_on(get_json(&c, format!("http://{addr}/runs/{id}")))["status"].clone();
    let logs = rt.block_on(get_json(
        &c,
        format!("http://{addr}/runs/{id}/logs?limit=1000&order=asc"),
    ));
    let (_, _) = served.terminate();
    assert_eq!(status, "running", "resumed at the next start");
    let text = logs.to_string();
    assert!(
        text.contains("suspended: the server is shutting down"),
        "{text}"
    );
    assert!(text.contains("run resumed after a restart"), "{text}");
}

/// `GET url` as JSON.
async fn get_json(c: &reqwest::Client, url: String) -> serde_json::Value {
    c.get(url)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

/// The processes whose parent is `pid` and whose command line contains `word`.
fn children_running(pid: u32, word: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`: the name may hold spaces, so split after its `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
        if ppid == Some(pid) && String::from_utf8_lossy(&cmdline).contains(word) {
            found.push(child);
        }
    }
    found
}

/// A shutdown in the middle of a compile ends the compiler child with the server (nothing is
/// left burning CPU), the strategy stays `compiling`, and the next start compiles it again.
#[test]
fn sigterm_during_a_compile_ends_the_compiler_and_the_next_start_compiles_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let strategies = tempfile::tempdir().expect("strategies dir");
    let start = || {
        serve(
            weaver()
                .args(["serve"])
                .env("WEAVER_BIND", "127.0.0.1:0")
                .env("WEAVER_DATA_DIR", dir.path())
                .env("WEAVER_STRATEGIES_DIR", strategies.path())
                .env("WEAVER_SAMPLE_DATA", "off")
                .env("WEAVER_SHUTDOWN_GRACE", "3"),
        )
    };
    // The Python example: its compile takes seconds, long enough to be caught in the act.
    let wasm = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../strategies/dist/sma-cross-py.wasm"
    ))
    .expect("strategies/dist/sma-cross-py.wasm: run scripts/build-strategies.sh");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let c = reqwest::Client::new();
    let served = start();
    let addr = served.addr.clone();
    let id = rt.block_on(async {
        let r = c
            .post(format!("http://{addr}/strategies?name=py-compile"))
            .header("content-type", "application/wasm")
            .body(wasm)
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), 202);
        let v: serde_json::Value = r.json().await.expect("json");
        v["id"].as_i64().expect("id")
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let compiler = loop {
        if let Some(p) = children_running(served.pid(), "precompile").first() {
            break *p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no compiler child within 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let (status, log) = served.terminate();
    assert!(status.success(), "{status:?}\n{}", log.join("\n"));
    // The kernel ends the child when its parent goes; give it a moment to be reaped.
    let gone_by = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{compiler}")).exists() {
        let state = std::fs::read_to_string(format!("/proc/{compiler}/stat")).unwrap_or_default();
        // A zombie waiting for init to reap it has stopped running.
        if state
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < gone_by,
            "the compiler child {compiler} outlived the server"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let served = start();
    let addr = served.addr.clone();
    let status = rt.block_on(async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
        loop {
            let v = get_json(&c, format!("http://{addr}/strategies/{id}")).await;
            let s = v["status"].as_str().unwrap_or_default().to_owned();
            if s != "compiling" || std::time::Instant::now() >= deadline {
                break s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    let (_, log) = served.terminate();
    assert_eq!(
        status,
        "ready",
        "compiled at the next start\n{}",
        log.join("\n")
    );
}
