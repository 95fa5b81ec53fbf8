//! `weaver openapi` prints exactly the document `GET /openapi.json` serves (the dashboard's
//! generated types come from it), on stdout and nothing else.

use super::{app, get, send};

#[tokio::test]
async fn the_cli_prints_the_served_document() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weaver"))
        .arg("openapi")
        .env("WEAVER_LOG", "info")
        .output()
        .expect("run weaver openapi");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is the JSON document alone");
    let (r, _s, _d) = app(None).await;
    let served = send(&r, get("/openapi.json")).await.json();
    assert_eq!(printed, served);
    assert!(printed["paths"]["/runs"].is_object(), "{printed}");
}
