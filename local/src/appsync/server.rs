//! The server: shared state, routes, the listener and graceful shutdown.
//!
//! The accept loop is our own rather than `axum::serve`, which reads headers without a
//! deadline and accepts without a bound: a client that sends half a request would hold its
//! socket (and a task) for as long as it likes. Here every HTTP connection holds a permit of
//! [`AppSync::http_connections`] and has [`Config::http_header_read_timeout`] to send each
//! request's headers; bodies have their own deadline in the handler (`http.rs`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use super::auth::Authenticator;
use super::config::Config;
use super::graphql::{Schema, SchemaError};
use super::hub::Hub;
use super::{http, realtime};
use crate::history::HistoryStore;

/// Everything the handlers share.
pub struct AppSync {
    pub config: Config,
    pub schema: Schema,
    pub auth: Authenticator,
    pub hub: Hub,
    /// One permit per open WebSocket connection.
    pub connections: Arc<Semaphore>,
    /// One permit per open HTTP connection (an upgrade's until it becomes a WebSocket).
    pub http_connections: Arc<Semaphore>,
    shutdown: watch::Sender<bool>,
}

impl AppSync {
    pub fn new(config: Config) -> Result<Arc<AppSync>, SchemaError> {
        let schema = match &config.schema_sdl {
            Some(sdl) => Schema::parse(sdl)?,
            None => Schema::quotecast()?,
        };
        let (shutdown, _) = watch::channel(false);
        Ok(Arc::new(AppSync {
            auth: Authenticator::new(config.clone()),
            connections: Arc::new(Semaphore::new(config.max_connections)),
            http_connections: Arc::new(Semaphore::new(config.max_http_connections)),
            config,
            schema,
            hub: Hub::new(),
            shutdown,
        }))
    }

    /// The routes of the API: `POST /graphql`, and the real-time WebSocket on `/graphql`
    /// (AppSync's own hosts) and `/graphql/realtime` (custom domains); with a history store,
    /// the DynamoDB endpoint on `POST /`. The local stack merges its own routes (the
    /// dashboard) beside these.
    pub fn router(self: &Arc<Self>) -> Router {
        let mut router = Router::new()
            .route("/graphql", post(http::graphql).get(realtime::upgrade))
            .route("/graphql/realtime", get(realtime::upgrade));
        if self.history().is_some() {
            router = router.route("/", post(crate::history::dynamodb::serve));
        }
        router
            .layer(DefaultBodyLimit::max(self.config.max_request_bytes))
            .with_state(self.clone())
    }

    /// The quote history store, if the server has one.
    pub fn history(&self) -> Option<&HistoryStore> {
        self.config.history.as_ref()
    }

    /// Resolves when shutdown has begun; connection handlers close their sockets then.
    pub fn shutting_down(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            // An error means the sender is gone, which also means shutdown.
            let _ = rx.wait_for(|down| *down).await;
        }
    }

    /// Open WebSocket connections.
    pub fn connection_count(&self) -> usize {
        self.config.max_connections - self.connections.available_permits()
    }

    /// Open HTTP connections (WebSockets not included once upgraded).
    pub fn http_connection_count(&self) -> usize {
        self.config.max_http_connections - self.http_connections.available_permits()
    }

    /// Tells every connection to close, then waits (up to `grace`) until they have.
    pub async fn shut_down(&self, grace: Duration) {
        self.shutdown.send_replace(true);
        let all = u32::try_from(self.config.max_connections).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(grace, self.connections.acquire_many(all)).await;
    }
}

/// A bound, not yet running, AppSync-compatible server.
pub struct Server {
    app: Arc<AppSync>,
    listener: TcpListener,
}

impl Server {
    pub async fn bind(addr: SocketAddr, config: Config) -> anyhow::Result<Server> {
        let app = AppSync::new(config)?;
        let listener = TcpListener::bind(addr).await?;
        Ok(Server { app, listener })
    }

    /// A server on a listener the caller bound (so it could learn the port first).
    pub fn from_listener(listener: TcpListener, config: Config) -> anyhow::Result<Server> {
        Ok(Server {
            app: AppSync::new(config)?,
            listener,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn app(&self) -> &Arc<AppSync> {
        &self.app
    }

    /// The bound listener, to serve a router that extends [`AppSync::router`].
    pub fn into_listener(self) -> TcpListener {
        self.listener
    }

    /// Serves until `shutdown` resolves, then closes every connection cleanly.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        serve(self.listener, self.app.router(), self.app, shutdown).await
    }
}

/// How long HTTP connections still serving a request get at shutdown (bodies have their own
/// deadline, so this only matters for a slow handler).
const HTTP_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long a refused connection may take to accept its 503 before it is just closed.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// What a connection over [`Config::max_http_connections`] is told before it is closed.
const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
x-amzn-ErrorType: ServiceUnavailableException\r\n\
connection: close\r\n\
content-length: 106\r\n\r\n\
{\"errors\":[{\"errorType\":\"ServiceUnavailableException\",\"message\":\"Too many open connections; retry later.\"}]}";

/// Serves `router` on `listener` until `shutdown`, then shuts `app` down: WebSockets first
/// (they get their close frames), then the HTTP connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    app: Arc<AppSync>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stopper = app.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.shut_down(Duration::from_secs(5)).await;
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
        match app.http_connections.clone().try_acquire_owned() {
            Ok(permit) => {
                let conn = Conn {
                    app: app.clone(),
                    router: router.clone(),
                    peer,
                    permit,
                    closing: closing_rx.clone(),
                };
                tokio::spawn(conn.serve(stream));
            }
            Err(_) => {
                tracing::debug!(%peer, "HTTP connection refused: too many open");
                tokio::spawn(refuse(stream));
            }
        }
    }
    drop(listener);
    closing_tx.send_replace(true);
    let all = u32::try_from(app.config.max_http_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(HTTP_SHUTDOWN_GRACE, app.http_connections.acquire_many(all)).await;
    Ok(())
}

/// Tells a connection over the limit why it is closed, without reading its request.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
        stream.write_all(BUSY_RESPONSE).await?;
        stream.shutdown().await
    })
    .await;
}

/// One accepted HTTP/1.1 connection and what it needs until it closes.
struct Conn {
    app: Arc<AppSync>,
    router: Router,
    peer: SocketAddr,
    /// Released when the connection closes, or when it is upgraded to a WebSocket (which
    /// counts against [`AppSync::connections`] instead).
    permit: OwnedSemaphorePermit,
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
            .header_read_timeout(self.app.config.http_header_read_timeout);
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
