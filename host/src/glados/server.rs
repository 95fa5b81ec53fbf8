//! The API's accept loop: HTTP/1.1 over the listener with what `axum::serve` does not offer, a
//! header read timeout and a cap on connections, and the client's address on every request
//! (`ConnectInfo`, for `WEAVER_ALLOWED_IPS`).
//!
//! # Invariants
//! - A connection whose request headers are not complete within
//!   [`HttpConfig::header_timeout`] (at most 30 s) is closed: half-sent requests cannot hold
//!   connections (and file descriptors) for long. The clock also runs while a keep-alive
//!   connection waits for its next request, so an idle one is closed after as long.
//! - At most [`HttpConfig::max_connections`] connections are served at once; further clients
//!   wait in the listen backlog until one closes (`weaver_http_connections_open` shows them).
//! - Graceful shutdown as `axum::serve`'s: once `shutdown` resolves no connection is accepted,
//!   each open one finishes its request in flight and closes, and [`serve`] returns when all are.
//! - A failed `accept` (out of file descriptors, an aborted handshake) never ends the loop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use super::HttpConfig;

/// Serves `router` on `listener` until `shutdown` resolves, then finishes gracefully.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: &HttpConfig,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let header_timeout = config.header_timeout;
    // Every connection task holds a receiver; `closed()` on the sender resolves when all are gone.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let mut stop = stop_rx.clone();
        metrics::gauge!("weaver_http_connections_open").increment(1.0);
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            let mut conn = std::pin::pin!(conn);
            let stopping = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = stopping => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            metrics::gauge!("weaver_http_connections_open").decrement(1.0);
            drop(permit);
        });
    }
    drop(listener);
    drop(stop_rx);
    let _ = stop_tx.send(true);
    stop_tx.closed().await;
}

/// Waits a little after a failed accept: a full descriptor table frees up as connections close
/// (the header timeout sees to half-sent ones), and retrying at once would spin.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind;
    if !matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        tracing::warn!("accepting a connection failed: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
