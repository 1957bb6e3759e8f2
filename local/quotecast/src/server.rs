//! One port for the local AWS: the AppSync twin, and with a history store the DynamoDB twin
//! beside it (`POST /`), so the consumer and the dashboard reach both at one address.
//!
//! Only this binary composes services: `quotecast-appsync` mounts nothing but its own routes
//! and reads history through its data-source trait, and `quotecast-dynamodb` knows nothing of
//! AppSync. The store is shared: the DynamoDB twin writes it, AppSync's `history` reads it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use quotecast_appsync::{AppSync, Config, serve};
use quotecast_aws_local::body::BodyBudget;
use quotecast_dynamodb::{DynamoDb, HistoryStore};
use tokio::net::TcpListener;

/// A bound, not yet running, local server: AppSync, plus DynamoDB when there is a store.
pub struct LocalServer {
    app: Arc<AppSync>,
    dynamodb: Option<Arc<DynamoDb>>,
    listener: TcpListener,
}

impl LocalServer {
    pub async fn bind(
        addr: SocketAddr,
        config: Config,
        history: Option<HistoryStore>,
    ) -> anyhow::Result<LocalServer> {
        let listener = TcpListener::bind(addr).await?;
        LocalServer::from_listener(listener, config, history)
    }

    /// A server on a listener the caller bound (so it could learn the port first). With
    /// `history`, AppSync's `history` reads it and the DynamoDB endpoint serves it to
    /// callers signing with the same IAM keys AppSync accepts.
    pub fn from_listener(
        listener: TcpListener,
        config: Config,
        history: Option<HistoryStore>,
    ) -> anyhow::Result<LocalServer> {
        let (config, dynamodb) = match history {
            Some(store) => {
                // One budget for both routes' bodies: what `/graphql` alone may hold.
                let mut config = config;
                let budget = BodyBudget::new(config.body_bound());
                config.body_budget = Some(budget.clone());
                let dynamodb = DynamoDb::sharing_port(
                    store.clone(),
                    config.iam_keys(),
                    config.http_body_read_timeout,
                    budget,
                );
                (config.with_history(store), Some(dynamodb))
            }
            None => (config, None),
        };
        Ok(LocalServer {
            app: AppSync::new(config)?,
            dynamodb,
            listener,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn app(&self) -> &Arc<AppSync> {
        &self.app
    }

    /// AppSync's routes, and the DynamoDB endpoint's when there is a store.
    pub fn router(&self) -> Router {
        let router = self.app.router();
        match &self.dynamodb {
            Some(dynamodb) => router.merge(dynamodb.router()),
            None => router,
        }
    }

    /// Serves `router` (this server's, perhaps extended with more routes) until `shutdown`
    /// resolves, then closes every connection cleanly.
    pub async fn serve(
        self,
        router: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        serve(self.listener, router, self.app, shutdown).await
    }

    /// Serves until `shutdown` resolves, then closes every connection cleanly.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.router();
        self.serve(router, shutdown).await
    }
}
