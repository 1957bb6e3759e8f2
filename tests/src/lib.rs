//! The harness of quotecast's whole-system tests: real servers on loopback ports, the Lambda
//! event exactly as AWS builds it, and an HTTP proxy that injects faults.
#![allow(clippy::unwrap_used)]

pub mod browser;
pub mod fault_proxy;
pub mod kafka_event;
pub use quotecast_aws_local::moto;
pub mod tansu;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quotecast::server::LocalServer;
use quotecast::stack::StackConfig;
use quotecast_appsync::{AppSync, Config};
use quotecast_appsync_client::{GraphqlHttp, RealtimeClient, Transport};
use quotecast_dynamodb::HistoryStore;
use quotecast_producer::kafka::{KafkaSecurity, KafkaSettings, QuotePublisher};
use quotecast_shared::realtime::AuthObject;
use tokio::sync::oneshot;

pub const API_KEY: &str = "da2-e2etestkey00000000000000";
pub const ACCESS_KEY_ID: &str = "AKIDQUOTECASTE2E";
/// The test IAM key as a writer's [`Auth`].
pub fn iam_writer() -> quotecast_consumer::appsync::Auth {
    quotecast_consumer::appsync::Auth::Iam {
        credentials: aws_credential_types::Credentials::new(
            ACCESS_KEY_ID,
            SECRET,
            None,
            None,
            "test",
        ),
        region: "us-east-1".to_owned(),
    }
}

pub const SECRET: &str = "e2e/secret+key";

/// The local stack on a free loopback port with `symbols`, one bar each per `tick`, batching
/// window 0 and no dashboard; tests change the fields they care about.
pub fn stack_config(symbols: &[&str], tick: Duration) -> StackConfig {
    StackConfig {
        listen: "127.0.0.1".parse().unwrap(),
        port: 0,
        api_key: API_KEY.to_owned(),
        bootstrap_servers: None,
        kafka_security: quotecast_shared::kafka_security::KafkaSecurity::Plaintext,
        topic: "quotes".to_owned(),
        partitions: 2,
        symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
        tick,
        seed: 5,
        batch_size: 100,
        batching_window: Duration::ZERO,
        dashboard_dir: "/nonexistent".into(),
        default_symbols: Vec::new(),
        data_dir: scratch_dir("stack"),
        history_retention_hours: 24,
    }
}

/// A fresh, empty directory unique to this process and call (a stack's data directory, say),
/// under the project's `target/tmp`: what a test leaves there goes with `cargo clean` or the
/// clone, never into the machine's shared temporary directory.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = project_root().join("target/tmp").join(format!(
        "quotecast-e2e-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The consumer with its default settings as it runs on AWS (`AUTH_MODE=AWS_IAM`), signing
/// with the test IAM key, publishing to `url`.
pub fn iam_consumer(url: &str) -> quotecast_consumer::Consumer {
    let config = quotecast_consumer::Config::from_pairs(&[
        ("APPSYNC_URL", url),
        ("AUTH_MODE", "AWS_IAM"),
        ("AWS_REGION", "us-east-1"),
    ])
    .unwrap();
    quotecast_consumer::Consumer::new(&config, iam_writer()).unwrap()
}

/// The consumer as on AWS with a history table: it stores every bar through the DynamoDB
/// endpoint at `dynamodb_url` (table `quotecast-history`) before it publishes it to `url`.
/// `overrides` replace or add variables (retry settings, say).
pub fn history_consumer(
    url: &str,
    dynamodb_url: &str,
    overrides: &[(&str, &str)],
) -> quotecast_consumer::Consumer {
    let mut pairs = vec![
        ("APPSYNC_URL", url),
        ("AUTH_MODE", "AWS_IAM"),
        ("AWS_REGION", "us-east-1"),
        ("HISTORY_TABLE", quotecast_dynamodb::DEFAULT_TABLE_NAME),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_url),
    ];
    for (k, v) in overrides {
        pairs.retain(|(name, _)| name != k);
        pairs.push((k, v));
    }
    let config = quotecast_consumer::Config::from_pairs(&pairs).unwrap();
    quotecast_consumer::Consumer::new(&config, iam_writer()).unwrap()
}

/// The producer's publisher on a plaintext broker (the embedded one), topic `quotes`.
pub fn plaintext_publisher(bootstrap: &str) -> QuotePublisher {
    QuotePublisher::new(&KafkaSettings {
        bootstrap_servers: bootstrap.to_owned(),
        security: KafkaSecurity::Plaintext,
        topic: "quotes".to_owned(),
        message_timeout: Duration::from_secs(10),
    })
    .unwrap()
}

/// A running AppSync-compatible server on a free loopback port.
pub struct LocalAppSync {
    pub addr: SocketAddr,
    pub app: Arc<AppSync>,
    stop: Option<oneshot::Sender<()>>,
}

impl LocalAppSync {
    pub async fn start() -> LocalAppSync {
        LocalAppSync::start_with(|_| {}).await
    }

    /// A server whose configuration `adjust` changes first (limits, timeouts).
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> LocalAppSync {
        LocalAppSync::serve(adjust, None).await
    }

    /// A server that also keeps a history store in a fresh scratch directory named after
    /// `name`, and serves it as a DynamoDB endpoint at [`LocalAppSync::dynamodb_url`].
    pub async fn start_with_history(name: &str) -> (LocalAppSync, HistoryStore) {
        let store =
            HistoryStore::open(&scratch_dir(name), quotecast_dynamodb::DEFAULT_TABLE_NAME).unwrap();
        let server = LocalAppSync::serve(|_| {}, Some(store.clone())).await;
        (server, store)
    }

    /// The AppSync twin, and the DynamoDB twin beside it on the same port with `history`,
    /// composed as `quotecast` composes them.
    async fn serve(
        adjust: impl FnOnce(&mut Config),
        history: Option<HistoryStore>,
    ) -> LocalAppSync {
        let mut config = Config::default()
            .with_api_key(API_KEY)
            .with_iam_credential(ACCESS_KEY_ID, SECRET);
        adjust(&mut config);
        let server = LocalServer::bind("127.0.0.1:0".parse().unwrap(), config, history)
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let app = server.app().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        LocalAppSync {
            addr,
            app,
            stop: Some(stop),
        }
    }

    pub fn graphql_url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    /// The DynamoDB endpoint of a server started with a history store.
    pub fn dynamodb_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn auth(&self) -> AuthObject {
        AuthObject::api_key(&self.addr.to_string(), API_KEY)
    }

    /// GraphQL over HTTP as a writer: SigV4 with the test IAM key, as the consumer signs
    /// (the public API key may not publish).
    pub fn http(&self) -> GraphqlHttp {
        GraphqlHttp::with_auth(&self.graphql_url(), iam_writer())
    }

    /// GraphQL over HTTP with the public API key: a reader.
    pub fn reader(&self) -> GraphqlHttp {
        GraphqlHttp::new(&self.graphql_url(), API_KEY)
    }

    /// A connected real-time client subscribed to everything as `id`.
    pub async fn subscriber(&self, id: &str) -> RealtimeClient {
        let mut c = self.subscriber_client().await;
        let all = quotecast_shared::graphql::GraphqlRequest::subscribe(None);
        c.subscribe(id, &all, &self.auth()).await.unwrap();
        c
    }
}

/// A real-time connection to the local stack at `addr` with the public key, subscribed as
/// `s` to `subscribe(filter: …)`.
pub async fn stack_subscriber(addr: SocketAddr, filter: Option<&str>) -> RealtimeClient {
    let host = addr.to_string();
    let auth = AuthObject::api_key(&host, API_KEY);
    let mut c = RealtimeClient::connect(
        &format!("ws://{host}/graphql/realtime"),
        &auth,
        Transport::Subprotocol,
    )
    .await
    .unwrap();
    c.init().await.unwrap();
    c.subscribe(
        "s",
        &quotecast_shared::graphql::GraphqlRequest::subscribe(filter),
        &auth,
    )
    .await
    .unwrap();
    c
}

impl LocalAppSync {
    /// A real-time connection with the public key, acknowledged, subscribed to nothing yet.
    pub async fn subscriber_client(&self) -> RealtimeClient {
        let url = format!("ws://{}/graphql/realtime", self.addr);
        let mut c = RealtimeClient::connect(&url, &self.auth(), Transport::Subprotocol)
            .await
            .unwrap();
        c.init().await.unwrap();
        c
    }
}

impl Drop for LocalAppSync {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The workspace root (this crate is `tests/` in it).
pub fn project_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(
            || std::path::PathBuf::from("."),
            std::path::Path::to_path_buf,
        )
}
