//! The event stream's replay cap (`WEAVER_SSE_REPLAY_EVENTS`), on a real listener and both
//! stores: a client without a cursor starts with exactly the newest N events, a client with a
//! recent cursor gets exactly the rest, one exactly N behind is not cut, and one further behind
//! is replayed N events, sent `replay_truncated` (no `id`) and the stream ends; resuming from
//! its last cursor goes on with no gap. `weaver serve` reads the variable and refuses bad values.

use std::time::{Duration, Instant};

use weaver::app::{App, Config};

use super::{get, send};
use crate::walle::support::{TestStore, contract, notice, settle};

/// The cap these tests run with.
const CAP: usize = 10;

/// One SSE frame: `event`, `id`, parsed `data`.
#[derive(Debug)]
struct Frame {
    event: Option<String>,
    id: Option<String>,
    data: serde_json::Value,
}

/// Reads `n` data frames, or every frame until the stream ends when `n` is `None`.
async fn frames(resp: &mut reqwest::Response, n: Option<usize>) -> Vec<Frame> {
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while n.is_none_or(|n| out.len() < n) {
        let chunk = tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            resp.chunk(),
        )
        .await
        .expect("frames arrive (or the stream ends) in time")
        .expect("stream readable");
        let Some(chunk) = chunk else {
            assert!(n.is_none(), "the stream ended early after {out:?}");
            break;
        };
        buf.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        while let Some(end) = buf.find("\n\n") {
            let text: String = buf.drain(..end + 2).collect();
            let mut f = Frame {
                event: None,
                id: None,
                data: serde_json::Value::Null,
            };
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    f.event = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("id:") {
                    f.id = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    f.data = serde_json::from_str(v.trim()).expect("json data");
                }
            }
            // Keep-alive comments carry no data.
            if !f.data.is_null() {
                out.push(f);
            }
        }
    }
    out
}

fn messages(fs: &[Frame]) -> Vec<String> {
    fs.iter()
        .map(|f| f.data["data"]["message"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn range(a: usize, b: usize) -> Vec<String> {
    (a..b).map(|i| format!("event {i}")).collect()
}

async fn append(store: &TestStore, from: usize, to: usize) {
    let events: Vec<_> = (from..to).map(notice).collect();
    store.walle.append_batch(&events).await.expect("stored");
    settle(&store.walle).await;
}

async fn the_stream_replays_at_most_the_cap(store: &TestStore) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    append(store, 0, 25).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    config.sse_replay_events = CAP;
    let app = App::new(config, store.walle.clone()).expect("app");
    let r = weaver::glados::router(app.state());
    // The cursors of every stored event, from the tail (which still pages from the oldest).
    let page = send(&r, get("/events/tail?limit=1000")).await.json();
    let cursors: Vec<String> = page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["cursor"].as_str().expect("cursor").to_owned())
        .collect();
    assert_eq!(
        cursors.len(),
        25,
        "the tail without after pages from the oldest"
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/events/stream",
        listener.local_addr().expect("addr")
    );
    let server = tokio::spawn(async move { axum::serve(listener, r).await });
    let c = reqwest::Client::new();
    let open = |cursor: Option<&str>| {
        let mut req = c.get(&url).header("host", "localhost");
        if let Some(cur) = cursor {
            req = req.header("last-event-id", cur);
        }
        req.send()
    };

    // No cursor: exactly the newest CAP, starting at event 15's cursor.
    let mut fresh = open(None).await.expect("connect");
    assert_eq!(fresh.status(), 200);
    let got = frames(&mut fresh, Some(CAP)).await;
    assert_eq!(messages(&got), range(15, 25));
    assert_eq!(got[0].id.as_deref(), Some(cursors[15].as_str()));
    // A second client at the same position (served the first one's page from the feed's cache).
    let mut twin = open(None).await.expect("connect");
    let got = frames(&mut twin, Some(CAP)).await;
    assert_eq!(messages(&got), range(15, 25));
    assert_eq!(got[0].id.as_deref(), Some(cursors[15].as_str()));
    // A recent cursor: exactly the rest.
    let mut recent = open(Some(&cursors[19])).await.expect("connect");
    assert_eq!(messages(&frames(&mut recent, Some(5)).await), range(20, 25));
    // Exactly CAP behind is not cut (events 15..25 after cursor 14).
    let mut at_cap = open(Some(&cursors[14])).await.expect("connect");
    assert_eq!(
        messages(&frames(&mut at_cap, Some(CAP)).await),
        range(15, 25)
    );
    // Then all three follow live, with nothing in between.
    append(store, 25, 26).await;
    for s in [&mut fresh, &mut twin, &mut recent, &mut at_cap] {
        assert_eq!(messages(&frames(s, Some(1)).await), range(25, 26));
    }

    // Far behind (23 events after cursor 2): CAP events, replay_truncated, the end.
    let mut far = open(Some(&cursors[2])).await.expect("connect");
    let all = frames(&mut far, None).await;
    assert_eq!(all.len(), CAP + 1, "{all:?}");
    assert_eq!(messages(&all[..CAP]), range(3, 13));
    let last = &all[CAP];
    assert_eq!(last.event.as_deref(), Some("replay_truncated"));
    assert_eq!(
        last.id, None,
        "Last-Event-ID must stay on the last event sent"
    );
    assert_eq!(last.data["code"], "replay_truncated");
    assert!(
        last.data["message"]
            .as_str()
            .is_some_and(|m| m.contains("/events/tail")),
        "{:?}",
        last.data
    );
    assert_eq!(last.data["details"]["after"], cursors[12].as_str());
    assert_eq!(last.data["details"]["replay_events"], CAP);
    // Resuming from there: no gap, no duplicate, cut again at the cap.
    let mut again = open(Some(&cursors[12])).await.expect("connect");
    let next = frames(&mut again, None).await;
    assert_eq!(messages(&next[..CAP]), range(13, 23));
    assert_eq!(next[CAP].event.as_deref(), Some("replay_truncated"));
    server.abort();
}

async fn a_cap_of_zero_streams_only_new_events(store: &TestStore) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    append(store, 0, 5).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    config.sse_replay_events = 0;
    let app = App::new(config, store.walle.clone()).expect("app");
    let r = weaver::glados::router(app.state());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/events/stream",
        listener.local_addr().expect("addr")
    );
    let server = tokio::spawn(async move { axum::serve(listener, r).await });
    let c = reqwest::Client::new();
    let mut fresh = c
        .get(&url)
        .header("host", "localhost")
        .send()
        .await
        .expect("connect");
    assert_eq!(fresh.status(), 200);
    // The start is fixed before the headers: an event written now must arrive.
    append(store, 5, 6).await;
    assert_eq!(messages(&frames(&mut fresh, Some(1)).await), range(5, 6));
    // With a cursor, nothing can be replayed: straight to replay_truncated.
    let mut behind = c
        .get(format!("{url}?after=0-0"))
        .header("host", "localhost")
        .send()
        .await
        .expect("connect");
    let all = frames(&mut behind, None).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].event.as_deref(), Some("replay_truncated"));
    assert_eq!(all[0].data["details"]["after"], "0-0");
    server.abort();
}

contract!(
    the_stream_replays_at_most_the_cap,
    a_cap_of_zero_streams_only_new_events
);

#[test]
fn the_cap_is_validated_at_start() {
    let vars =
        |v: &'static str| move |k: &str| (k == "WEAVER_SSE_REPLAY_EVENTS").then(|| v.to_owned());
    assert_eq!(
        Config::from_vars(|_| None)
            .expect("defaults")
            .sse_replay_events,
        1000
    );
    for ok in ["0", "100000", " 250 "] {
        let c = Config::from_vars(vars(ok)).expect("accepted");
        assert_eq!(c.sse_replay_events, ok.trim().parse::<usize>().expect("n"));
    }
    for bad in ["100001", "-1", "lots"] {
        let err = Config::from_vars(vars(bad)).expect_err("refused");
        assert_eq!(err.code(), "invalid_config");
        assert!(
            err.to_string().contains("WEAVER_SSE_REPLAY_EVENTS"),
            "{err}"
        );
    }
    let dir = tempfile::tempdir().expect("dir");
    let served = crate::support::weaver_in(dir.path())
        .arg("serve")
        .env("WEAVER_SSE_REPLAY_EVENTS", "100001")
        .env("WEAVER_BIND", "127.0.0.1:0")
        .output()
        .expect("weaver runs");
    assert!(!served.status.success(), "a bad cap stops weaver serve");
    assert!(
        String::from_utf8_lossy(&served.stderr).contains("WEAVER_SSE_REPLAY_EVENTS"),
        "{}",
        String::from_utf8_lossy(&served.stderr)
    );
}
