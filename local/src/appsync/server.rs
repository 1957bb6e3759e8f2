//! The server: shared state, routes, the listener and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::auth::Authenticator;
use super::config::Config;
use super::graphql::{Schema, SchemaError};
use super::hub::Hub;
use super::{http, realtime};

/// Everything the handlers share.
pub struct AppSync {
    pub config: Config,
    pub schema: Schema,
    pub auth: Authenticator,
    pub hub: Hub,
    /// One permit per open WebSocket connection.
    pub connections: Arc<Semaphore>,
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
            config,
            schema,
            hub: Hub::new(),
            shutdown,
        }))
    }

    /// The routes of the API: `POST /graphql`, and the real-time WebSocket on `/graphql`
    /// (AppSync's own hosts) and `/graphql/realtime` (custom domains). The local stack
    /// merges its own routes (the dashboard) beside these.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/graphql", post(http::graphql).get(realtime::upgrade))
            .route("/graphql/realtime", get(realtime::upgrade))
            .layer(DefaultBodyLimit::max(self.config.max_request_bytes))
            .with_state(self.clone())
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

/// Serves `router` on `listener` until `shutdown`, then shuts `app` down.
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
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = stop_rx.await;
    })
    .await
}
