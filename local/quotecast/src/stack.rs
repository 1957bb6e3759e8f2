//! `quotecast dev`: the whole data path on one machine.
//!
//! Embedded Kafka broker (or any broker) → producer handler on a timer → event source
//! mapping emulator → consumer handler in-process → this process's AppSync-compatible server
//! over real HTTP → WebSocket subscribers; the dashboard and its `/config.json` on the same
//! port. Every part is the same code that runs on AWS.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, get_service};
use quotecast_consumer::metrics::Totals;
use quotecast_producer::Producer;
use quotecast_producer::handler::now_ms;
use quotecast_producer::kafka::{KafkaSecurity, KafkaSettings, QuotePublisher};
use quotecast_producer::source::sim::Simulator;
use quotecast_shared::lambda::KafkaBatchResponse;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::services::{ServeDir, ServeFile};

use quotecast_appsync::{AppSync, Config};
use quotecast_dynamodb::{DEFAULT_TABLE_NAME, HistoryStore};
use quotecast_esm::{BatchHandler, EsmConfig, EsmStats, EventSourceMapping};
use quotecast_msk::EmbeddedBroker;

use crate::credentials::LocalCredentials;
use crate::server::LocalServer;

/// The history store's directory inside the data directory.
pub const HISTORY_DIR: &str = "history";

#[derive(Debug, Clone)]
pub struct StackConfig {
    pub listen: IpAddr,
    pub port: u16,
    pub api_key: String,
    /// Use this broker instead of the embedded one (the topic must exist).
    pub bootstrap_servers: Option<String>,
    /// How the producer and the mapping reach `bootstrap_servers` (the embedded broker is
    /// plaintext only).
    pub kafka_security: KafkaSecurity,
    pub topic: String,
    /// Partitions of the topic on the embedded broker.
    pub partitions: i32,
    pub symbols: Vec<String>,
    /// One bar per symbol per tick.
    pub tick: Duration,
    pub seed: u64,
    pub batch_size: usize,
    pub batching_window: Duration,
    /// The built dashboard (trunk's `dist/`), served at `/`.
    pub dashboard_dir: PathBuf,
    /// Symbols the dashboard shows first.
    pub default_symbols: Vec<String>,
    /// Where the stack keeps its state: the writers' credentials (`credentials.json`) and
    /// the quote history (`history/history.redb`).
    pub data_dir: PathBuf,
    /// How long the consumer keeps each bar (`HISTORY_RETENTION_HOURS`: the item's
    /// `expiresAt`, which the store's TTL sweeps honour), in whole hours.
    pub history_retention_hours: u32,
}

/// The consumer Lambda's handler, called in-process by the mapping.
pub struct ConsumerHandler(pub quotecast_consumer::Consumer);

impl BatchHandler for ConsumerHandler {
    async fn invoke(&self, event: Value) -> Result<KafkaBatchResponse, String> {
        self.0.handle_json(event).await.map_err(|e| e.to_string())
    }
}

/// A running stack; [`RunningStack::stop`] shuts it down in order.
pub struct RunningStack {
    pub addr: SocketAddr,
    pub bootstrap_servers: String,
    /// The public key: it may subscribe and query, never publish.
    pub api_key: String,
    /// The writers' IAM key, generated at start; the only one the server accepts.
    pub credentials: LocalCredentials,
    /// Where `credentials` were written for other tools.
    pub credentials_path: PathBuf,
    data_dir: PathBuf,
    pub topic: String,
    pub app: Arc<AppSync>,
    /// The quote history: the DynamoDB table `quotecast-history` served on the same port.
    pub history: HistoryStore,
    pub esm_stats: Arc<Mutex<EsmStats>>,
    /// The consumer's counts (served at `GET /metrics`).
    pub consumer_totals: Arc<Totals>,
    /// Stops the producer and the mapping.
    stop: watch::Sender<bool>,
    /// While true the producer skips its ticks: the feed stops as when a producer dies.
    producer_paused: Arc<AtomicBool>,
    /// Stops the server, once the mapping has finished its batch (which publishes to it).
    stop_server: watch::Sender<bool>,
    producer: JoinHandle<()>,
    esm: JoinHandle<()>,
    server: JoinHandle<std::io::Result<()>>,
    broker: Option<EmbeddedBroker>,
}

fn stopped(rx: &watch::Receiver<bool>) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// What `/config.json` tells the dashboard, apart from the URLs (taken from the request's host).
struct DashboardConfig {
    api_key: String,
    default_symbols: Vec<String>,
    symbols: Vec<String>,
}

/// What the dashboard reads at start-up to find this stack.
async fn config_json(
    State(config): State<Arc<DashboardConfig>>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    axum::Json(json!({
        "graphqlUrl": format!("http://{host}/graphql"),
        "realtimeUrl": format!("ws://{host}/graphql/realtime"),
        "apiKey": config.api_key,
        "defaultSymbols": config.default_symbols,
        "symbols": config.symbols,
    }))
}

async fn no_dashboard() -> Html<&'static str> {
    Html(
        "<!doctype html><title>quotecast</title><h1>quotecast is running</h1>\
         <p>The dashboard has not been built into this directory yet. The API is live: \
         <code>/graphql</code> (HTTP) and <code>/graphql/realtime</code> (WebSocket); \
         <a href=\"/config.json\">/config.json</a> has the endpoints and the API key.</p>",
    )
}

pub async fn start(config: StackConfig) -> anyhow::Result<RunningStack> {
    // The quote history, served as a DynamoDB table on the server's port and read by
    // `history`. Opened first: a second stack on the same data directory stops here, before
    // it touches the first one's credentials.
    let history = HistoryStore::open(&config.data_dir.join(HISTORY_DIR), DEFAULT_TABLE_NAME)?;
    let (broker, bootstrap_servers, kafka_security) = match &config.bootstrap_servers {
        Some(b) => (None, b.clone(), config.kafka_security.clone()),
        None => {
            let broker = EmbeddedBroker::start(&config.topic, config.partitions)?;
            let bootstrap = broker.bootstrap_servers().to_owned();
            (Some(broker), bootstrap, KafkaSecurity::Plaintext)
        }
    };
    let (stop, stop_rx) = watch::channel(false);
    let (stop_server, stop_server_rx) = watch::channel(false);

    // AppSync-compatible server, dashboard and config.json on one port. Its IAM key exists
    // only once the port is known (it is written with the endpoint), so the server learns it
    // before it serves its first request.
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::new(config.listen, config.port)).await?;
    let addr = listener.local_addr()?;
    let graphql_url = format!("http://{addr}/graphql");
    let credentials = LocalCredentials::generate(&graphql_url)?;
    let credentials_path = credentials.write(&config.data_dir)?;
    let server = LocalServer::from_listener(
        listener,
        Config::default()
            .with_api_key(config.api_key.clone())
            .with_iam_credential(&credentials.access_key_id, &credentials.secret_access_key),
        Some(history.clone()),
    )?;
    let app = server.app().clone();
    let site = Router::new()
        .route("/config.json", get(config_json))
        .with_state(Arc::new(DashboardConfig {
            api_key: config.api_key.clone(),
            default_symbols: config.default_symbols.clone(),
            symbols: config.symbols.clone(),
        }));
    let site = if config.dashboard_dir.join("index.html").is_file() {
        // `/` needs its own GET route: the server's DynamoDB endpoint is `POST /`, and a path
        // with a route answers other methods 405 instead of falling back to the files.
        let index = config.dashboard_dir.join("index.html");
        site.route("/", get_service(ServeFile::new(index)))
            .fallback_service(ServeDir::new(&config.dashboard_dir))
    } else {
        site.route("/", get(no_dashboard))
    };
    // The consumer's counts, as Prometheus text: the same code that writes its EMF lines
    // on Lambda (`quotecast_consumer::metrics`).
    let consumer_totals = Arc::new(Totals::default());
    let site = site.route(
        "/metrics",
        get({
            let totals = consumer_totals.clone();
            move || async move {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    totals.prometheus(),
                )
            }
        }),
    );
    let router = server.router().merge(site);
    let server_task = tokio::spawn(server.serve(router, stopped(&stop_server_rx)));

    // Producer handler on a timer.
    let publisher = QuotePublisher::new(&KafkaSettings {
        bootstrap_servers: bootstrap_servers.clone(),
        security: kafka_security.clone(),
        topic: config.topic.clone(),
        message_timeout: Duration::from_secs(30),
    })?;
    let sim = Simulator::new(
        config.seed,
        &config.symbols,
        config.tick.as_millis().max(1) as i64,
        now_ms(),
    );
    let producer = Producer::new(sim, publisher, None);
    let producer_paused = Arc::new(AtomicBool::new(false));
    let producer_task = {
        let stop_rx = stop_rx.clone();
        let tick = config.tick;
        let paused = producer_paused.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(tick);
            let shutdown = stopped(&stop_rx);
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        if paused.load(Ordering::Relaxed) {
                            continue;
                        }
                        if let Err(e) = producer.tick(now_ms()).await {
                            tracing::warn!(error = %e, "producer tick failed");
                        }
                    }
                    _ = &mut shutdown => break,
                }
            }
            if let Err(e) = producer.publisher().flush(Duration::from_secs(5)) {
                tracing::warn!(error = %e, "producer flush at shutdown failed");
            }
        })
    };

    // Event source mapping → consumer handler → this server over HTTP, signed with IAM as
    // the Lambda signs (AUTH_MODE=AWS_IAM); only the credentials' source differs.
    // It stores every bar in the history table before publishing it, through the DynamoDB
    // endpoint on the same port — the Lambda's code path with only the endpoint overridden.
    let dynamodb_url = format!("http://{addr}/");
    let consumer_config = quotecast_consumer::Config::from_pairs(&[
        ("APPSYNC_URL", &graphql_url),
        ("AUTH_MODE", "AWS_IAM"),
        ("AWS_REGION", &credentials.region),
        ("HISTORY_TABLE", history.table_name()),
        ("AWS_ENDPOINT_URL_DYNAMODB", &dynamodb_url),
        (
            "HISTORY_RETENTION_HOURS",
            &config.history_retention_hours.to_string(),
        ),
    ])?;
    let consumer = quotecast_consumer::Consumer::new(&consumer_config, credentials.auth())?
        .with_totals(consumer_totals.clone());
    let mut esm_config = EsmConfig::new(&bootstrap_servers, &config.topic);
    esm_config.security = kafka_security;
    esm_config.batch_size = config.batch_size;
    esm_config.batching_window = config.batching_window;
    let esm = EventSourceMapping::connect(esm_config).await?;
    let esm_stats = esm.stats();
    let esm_task = {
        let shutdown = stopped(&stop_rx);
        tokio::spawn(async move {
            if let Err(e) = esm.run(ConsumerHandler(consumer), shutdown).await {
                tracing::error!(error = %e, "event source mapping stopped");
            }
        })
    };

    Ok(RunningStack {
        addr,
        bootstrap_servers,
        api_key: config.api_key,
        credentials,
        credentials_path,
        data_dir: config.data_dir,
        topic: config.topic,
        app,
        history,
        esm_stats,
        consumer_totals,
        stop,
        stop_server,
        producer_paused,
        producer: producer_task,
        esm: esm_task,
        server: server_task,
        broker,
    })
}

impl RunningStack {
    /// Holds (`true`) or resumes the producer: with it held nothing new is published, as when
    /// a producer dies, which is how the dashboard's staleness is shown and tested.
    pub fn pause_producer(&self, paused: bool) {
        self.producer_paused.store(paused, Ordering::Relaxed);
    }

    /// Stops the producer (flushing it), lets the mapping finish and commit its batch, closes
    /// every connection and the history store, then the broker; its writers' key leaves
    /// with it.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.producer.await;
        let _ = self.esm.await;
        self.stop_server.send_replace(true);
        let _ = self.server.await;
        self.history.close().await;
        drop(self.broker);
        self.credentials.remove_if_current(&self.data_dir);
    }
}
