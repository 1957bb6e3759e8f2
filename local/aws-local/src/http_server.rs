//! The accept loop of every local service's port: HTTP/1.1 with a bound on open connections
//! and a deadline for each request's headers.
//!
//! Our own rather than `axum::serve`, which reads headers without a deadline and accepts
//! without a bound: a client that sends half a request would hold its socket (and a task)
//! for as long as it likes. Here every connection holds one of [`HttpLimits::permits`] and
//! has [`HttpLimits::header_read_timeout`] to send each request's headers; bodies have their
//! own deadline where they are read ([`crate::body`]). A connection upgraded to a WebSocket
//! gives its permit back (the service counts it elsewhere).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

/// How long HTTP connections still serving a request get at shutdown (bodies have their own
/// deadline, so this only matters for a slow handler).
const HTTP_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long a refused connection may take to accept its answer before it is just closed.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// What bounds a port's HTTP connections.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// One permit per open HTTP connection; over it a connection gets [`Self::busy_response`]
    /// and is closed, nothing read.
    pub permits: Arc<Semaphore>,
    /// How many permits there are in all (to wait for every connection at shutdown).
    pub max_connections: usize,
    /// A request's headers (or an idle keep-alive connection's next request) must arrive
    /// whole within this time, or the connection is closed.
    pub header_read_timeout: Duration,
    /// The whole HTTP response a connection over the limit is sent, in the service's words.
    pub busy_response: &'static [u8],
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the connections finish
/// the request they are in (up to a grace period) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(());
    });
    // Connections watch this to finish their request and close at shutdown.
    let (closing_tx, closing_rx) = watch::channel(false);
    tokio::pin!(stop_rx);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: the listener itself is fine, so
                    // back off briefly instead of spinning or giving up.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop_rx => break,
        };
        if let Err(e) = without_nagle(&stream) {
            tracing::debug!(%peer, error = %e, "cannot turn Nagle's algorithm off");
        }
        match limits.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let conn = Conn {
                    router: router.clone(),
                    peer,
                    permit,
                    header_read_timeout: limits.header_read_timeout,
                    closing: closing_rx.clone(),
                };
                tokio::spawn(conn.serve(stream));
            }
            Err(_) => {
                tracing::debug!(%peer, "HTTP connection refused: too many open");
                tokio::spawn(refuse(stream, limits.busy_response));
            }
        }
    }
    drop(listener);
    closing_tx.send_replace(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(HTTP_SHUTDOWN_GRACE, limits.permits.acquire_many(all)).await;
    Ok(())
}

/// Turns Nagle's algorithm off on an accepted socket. With it on, a small write waits while
/// an earlier one is unacknowledged, and a client that only reads (a WebSocket subscriber)
/// delays its ACK by up to 40 ms on Linux: a data frame written just after another sat
/// that long in the server (`cargo xtask bench e2e`: p99 45 ms, of which 41 ms between the
/// consumer's publish and the subscriber's receipt).
fn without_nagle(stream: &TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)
}

/// Tells a connection over the limit why it is closed, without reading its request.
async fn refuse(mut stream: TcpStream, response: &'static [u8]) {
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
        stream.write_all(response).await?;
        stream.shutdown().await
    })
    .await;
}

/// One accepted HTTP/1.1 connection and what it needs until it closes.
struct Conn {
    router: Router,
    peer: SocketAddr,
    /// Released when the connection closes, or when it is upgraded to a WebSocket.
    permit: OwnedSemaphorePermit,
    header_read_timeout: Duration,
    closing: watch::Receiver<bool>,
}

impl Conn {
    async fn serve(mut self, stream: TcpStream) {
        let peer = self.peer;
        let service = self
            .router
            .map_request(move |mut request: Request<Incoming>| {
                // Handlers may ask who called, as with `into_make_service_with_connect_info`.
                request.extensions_mut().insert(ConnectInfo(peer));
                request.map(axum::body::Body::new)
            });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout);
        let conn = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        tokio::pin!(conn);
        let mut closing = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "HTTP connection ended");
                    }
                    break;
                }
                _ = self.closing.wait_for(|c| *c), if !closing => {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
        drop(self.permit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_sockets_send_small_writes_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(!accepted.nodelay().unwrap(), "Nagle is on by default");
        without_nagle(&accepted).unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
