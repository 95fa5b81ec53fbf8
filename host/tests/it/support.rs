//! What every area of the integration tests needs: the built components, the `weaver` binary
//! with a clean environment, JSON requests. Each helper fails loudly when its input is missing
//! (a test that needs a built component never passes without it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;

/// Path of a component built by `scripts/build-strategies.sh` (`relative` to
/// `strategies/dist`); panics naming the script when it is missing.
pub(crate) fn dist(relative: &str) -> PathBuf {
    let path =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../strategies/dist")).join(relative);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/build-strategies.sh (scripts/test.sh does it before cargo test)",
        path.display()
    );
    path
}

/// The bytes of a built component (see [`dist`]).
pub(crate) fn dist_bytes(relative: &str) -> Vec<u8> {
    let path = dist(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `weaver` binary of this build, with no `WEAVER_*` or `APCA_*` variable inherited from
/// the environment running the tests.
pub(crate) fn weaver() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_weaver"));
    for (k, _) in std::env::vars() {
        if k.starts_with("WEAVER_") || k.starts_with("APCA_") {
            c.env_remove(k);
        }
    }
    c
}

/// [`weaver`] on the embedded database in `dir`.
pub(crate) fn weaver_in(dir: &Path) -> Command {
    let mut c = weaver();
    c.env("WEAVER_DATA_DIR", dir);
    c
}

/// A `POST` of a JSON body (text or a `serde_json::Value`) to the API.
pub(crate) fn post_json(uri: &str, body: impl ToString) -> Request<Body> {
    Request::post(uri)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

/// A `weaver serve` process writing JSON logs, up and listening. Killed when dropped, so a
/// failing test leaves no server behind holding its pipes.
pub(crate) struct Served {
    child: std::process::Child,
    /// The address it listens on (from its "weaver serving the API" log line).
    pub(crate) addr: String,
    /// Its stderr lines so far.
    pub(crate) log: Vec<String>,
    lines: std::sync::mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// Starts `cmd` (a [`weaver`] command with `serve` and its settings; JSON logs are asked for
/// here) and waits up to a minute for it to listen.
pub(crate) fn serve(cmd: &mut Command) -> Served {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let mut child = cmd
        .env("WEAVER_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weaver serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut served = Served {
        child,
        addr: String::new(),
        log: Vec::new(),
        lines,
        reader: Some(reader),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    served.addr = loop {
        let line = served
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| {
                panic!("no listening line; log so far:\n{}", served.log.join("\n"))
            });
        served.log.push(line.clone());
        if line.contains("weaver serving the API") {
            let v: serde_json::Value = serde_json::from_str(&line).expect("json log");
            break v["addr"].as_str().expect("addr").to_owned();
        }
    };
    served
}

impl Served {
    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, waits for the exit and returns its status with every log line.
    pub(crate) fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let status = self.child.wait().expect("exits");
        if let Some(r) = self.reader.take() {
            r.join().expect("reader");
        }
        let mut log = std::mem::take(&mut self.log);
        log.extend(self.lines.try_iter());
        (status, log)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads SSE frames until `n` events were seen; returns `(id, data)` pairs.
pub(crate) async fn sse_events(
    resp: &mut reqwest::Response,
    n: usize,
) -> Vec<(String, serde_json::Value)> {
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < n {
        let chunk = tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            resp.chunk(),
        )
        .await
        .expect("events arrive in time")
        .expect("stream readable")
        .expect("stream open");
        buf.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut id = None;
            let mut data = None;
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = Some(serde_json::from_str(v.trim()).expect("json data"));
                }
            }
            if let (Some(i), Some(d)) = (id, data) {
                out.push((i, d));
            }
        }
    }
    out
}
