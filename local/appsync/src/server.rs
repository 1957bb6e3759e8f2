//! The server: the API's routes, the listener and graceful shutdown.
//!
//! Connections are accepted by `quotecast_aws_local::http_server` (a permit of
//! [`AppSync::http_connections`] per connection, [`Config::http_header_read_timeout`] for
//! each request's headers); bodies have their own deadline in the handler (`http.rs`). At
//! shutdown the WebSockets close first (they get their close frames), then HTTP.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use quotecast_aws_local::http_server::{self, HttpLimits};
use tokio::net::TcpListener;

use super::config::Config;
pub use super::state::AppSync;
use super::{http, realtime};

impl AppSync {
    /// The routes of the API: `POST /graphql`, and the real-time WebSocket on `/graphql`
    /// (AppSync's own hosts) and `/graphql/realtime` (custom domains). Nothing else: the
    /// local stack merges other services' routes (DynamoDB, the dashboard) beside these.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/graphql", post(http::graphql).get(realtime::upgrade))
            .route("/graphql/realtime", get(realtime::upgrade))
            .layer(DefaultBodyLimit::max(self.config.max_request_bytes))
            .with_state(self.clone())
    }

    /// What bounds this server's HTTP connections, for [`serve`].
    pub fn http_limits(&self) -> HttpLimits {
        HttpLimits {
            permits: self.http_connections.clone(),
            max_connections: self.config.max_http_connections,
            header_read_timeout: self.config.http_header_read_timeout,
            busy_response: BUSY_RESPONSE,
        }
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

    /// Serves until `shutdown` resolves, then closes every connection cleanly.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        serve(self.listener, self.app.router(), self.app, shutdown).await
    }
}

/// What a connection over [`Config::max_http_connections`] is told before it is closed.
const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
x-amzn-ErrorType: ServiceUnavailableException\r\n\
connection: close\r\n\
content-length: 108\r\n\r\n\
{\"errors\":[{\"errorType\":\"ServiceUnavailableException\",\"message\":\"Too many open connections; retry later.\"}]}";

/// Serves `router` on `listener` until `shutdown`, then shuts `app` down: WebSockets first
/// (they get their close frames), then the HTTP connections. `router` is [`AppSync::router`]
/// or one that extends it with other services' routes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    app: Arc<AppSync>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = app.http_limits();
    let closing = async move {
        shutdown.await;
        app.shut_down(Duration::from_secs(5)).await;
    };
    http_server::serve(listener, router, limits, closing).await
}
