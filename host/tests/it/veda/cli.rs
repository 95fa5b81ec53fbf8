//! `weaver fake-alpaca --bind 127.0.0.1:PORT` serves the fake; the real client talks to it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use weaver::veda::Venue;
use weaver::veda::alpaca::AlpacaConfig;

/// Kills the child on drop so a failing assertion never leaks a server.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn fake_alpaca_subcommand_serves_the_api() {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_weaver"))
            .args([
                "fake-alpaca",
                "--bind",
                "127.0.0.1:0",
                "--seed-minutes",
                "120",
            ])
            .env("APCA_API_KEY_ID", "CLIKEY")
            .env("APCA_API_SECRET_KEY", "CLISENTINELSECRET")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn weaver fake-alpaca"),
    );
    let stdout = child.0.stdout.take().expect("piped stdout");
    // Read the first line, then keep draining stdout so the server never writes to a closed pipe.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next().and_then(Result::ok).unwrap_or_default());
        for _ in lines {}
    });
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), rx)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !first.contains("CLISENTINELSECRET"),
        "the secret was printed"
    );
    let addr: std::net::SocketAddr = first
        .rsplit("http://")
        .next()
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {first:?}"));
    let config = AlpacaConfig::for_local(addr, "CLIKEY", "CLISENTINELSECRET").unwrap();
    let venue = super::venue_with(config);
    let account = venue.account().await.unwrap();
    assert_eq!(account.cash, rust_decimal::dec!(100000));
    let latest = venue
        .latest_bars(&["AAPL".into(), "BTC/USD".into()])
        .await
        .unwrap();
    assert_eq!(latest.len(), 2, "seeded bars are served");
}
