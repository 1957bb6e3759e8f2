//! `AppSync`: the state every handler of the server shares (configuration, schema,
//! authenticator, hub, connection permits, the shutdown signal).
//!
//! Its own file so the handlers (`http`, `realtime`, `connection`) and the server that routes
//! to them all depend on it, and it on none of them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use quotecast_aws_local::data_source::HistorySource;
use tokio::sync::{Semaphore, watch};

use super::auth::Authenticator;
use super::config::Config;
use super::graphql::{Schema, SchemaError};
use super::hub::Hub;
use super::write_pacer::WritePacer;

/// Everything the handlers share.
pub struct AppSync {
    pub config: Config,
    pub schema: Schema,
    pub auth: Authenticator,
    pub hub: Hub,
    /// Holds busy connections' writes while the server as a whole writes often.
    pub write_pacer: WritePacer,
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
            auth: Authenticator::new(&config),
            connections: Arc::new(Semaphore::new(config.max_connections)),
            http_connections: Arc::new(Semaphore::new(config.max_http_connections)),
            write_pacer: WritePacer::new(
                config.websocket_write_hold,
                config.websocket_busy_writes_per_sec,
                config.websocket_hold_min_frames,
            ),
            config,
            schema,
            hub: Hub::new(),
            shutdown,
        }))
    }

    /// The data source of `Query.history`, if the server has one.
    pub fn history(&self) -> Option<&dyn HistorySource> {
        self.config.history.as_deref()
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
