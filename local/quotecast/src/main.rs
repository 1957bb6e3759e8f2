//! `quotecast`: the local home of quotecast.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// See the dependency's note in Cargo.toml: one frame is allocated and freed per delivery.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use quotecast::credentials::default_data_dir;
use quotecast::loadtest::LoadTest;
use quotecast::server::LocalServer;
use quotecast::writer::WriterOptions;
use quotecast_appsync::Config;
use quotecast_appsync::graphql::ApiLimits;
use quotecast_dynamodb::{DEFAULT_TABLE_NAME, HistoryStore};
use quotecast_shared::kafka_security::{KafkaSecurity, ScramMechanism};

#[derive(Parser)]
#[command(
    name = "quotecast",
    version,
    about = "Real-time stock quotes, locally: an AppSync-compatible server and friends"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole system locally: embedded Kafka, producer, event source mapping, consumer, AppSync, dashboard.
    Dev(DevArgs),
    /// Run the AppSync-compatible GraphQL + real-time server alone.
    Appsync(AppsyncArgs),
    /// Load-test an AppSync endpoint (this server or a real one) over the real protocol.
    Loadtest(LoadtestArgs),
    /// Publish quotes to an AppSync endpoint (the local stack's by default), signed with IAM.
    Publish(PublishArgs),
    /// Check a deployment from outside with its public config: live quotes, and a key that only reads.
    Smoke(SmokeArgs),
}

/// Where a writer publishes and how it signs (publishing is IAM's job: the public API key
/// only reads).
#[derive(clap::Args, Clone)]
struct SigningArgs {
    /// GraphQL endpoint to publish to (omitted: the local stack's, from its credentials file).
    #[arg(long)]
    url: Option<String>,
    /// The local stack's data directory, where `quotecast dev` writes its writers' credentials
    /// (else $XDG_DATA_HOME/quotecast or ~/.local/share/quotecast).
    #[arg(long, env = "QUOTECAST_DATA_DIR", default_value_os_t = default_data_dir())]
    data_dir: PathBuf,
    /// Sign with this IAM access key id (with --secret-access-key).
    #[arg(long, requires = "secret_access_key", conflicts_with = "aws")]
    access_key_id: Option<String>,
    /// The secret of --access-key-id.
    #[arg(long, requires = "access_key_id")]
    secret_access_key: Option<String>,
    /// Session token of temporary credentials (with --access-key-id).
    #[arg(long, requires = "access_key_id")]
    session_token: Option<String>,
    /// Signing region (omitted: the endpoint's, else AWS_REGION, else us-east-1).
    #[arg(long)]
    region: Option<String>,
    /// Sign with the standard AWS credential chain (environment, profile, instance role).
    #[arg(long)]
    aws: bool,
}

impl SigningArgs {
    fn options(&self, api_key: Option<String>) -> WriterOptions {
        WriterOptions {
            url: self.url.clone(),
            data_dir: self.data_dir.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: self.session_token.clone(),
            region: self.region.clone(),
            aws_chain: self.aws,
            api_key,
        }
    }
}

/// How to run this binary again from the working directory (for the banner's examples).
fn this_binary() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "quotecast".to_owned();
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    exe.strip_prefix(&cwd)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| exe.display().to_string())
}

/// Says what listening on `listen` exposes when it is not this machine only; `what` names
/// it and says what the API key allows there.
fn warn_if_exposed(listen: IpAddr, what: &str) {
    if !listen.is_loopback() {
        eprintln!(
            "warning: --listen {listen} exposes {what} to every machine that can reach this one, \
             over plain HTTP (no TLS). Use 127.0.0.1 unless that is what you want."
        );
    }
}

#[derive(clap::Args)]
struct DevArgs {
    /// Address to listen on; 127.0.0.1 keeps everything private to this machine.
    #[arg(long, default_value = "127.0.0.1")]
    listen: IpAddr,
    /// Port for everything HTTP: dashboard, /config.json, /graphql, /graphql/realtime.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// API key of the local AppSync API.
    #[arg(long, env = "QUOTECAST_API_KEY", default_value = "da2-quotecastlocal")]
    api_key: String,
    /// Use this Kafka broker instead of the embedded one (the topic must exist).
    #[arg(long)]
    bootstrap_servers: Option<String>,
    /// How to reach --bootstrap-servers: plaintext, or SASL_SSL with SCRAM (MSK's
    /// SASL/SCRAM listener takes sasl-scram-512). The password comes from the environment
    /// variable QUOTECAST_KAFKA_PASSWORD or from --kafka-password-file, never from a flag.
    #[arg(
        long,
        value_enum,
        default_value = "plaintext",
        requires = "bootstrap_servers"
    )]
    kafka_security: KafkaSecurityArg,
    /// The SCRAM user (with --kafka-security sasl-scram-*).
    #[arg(long)]
    kafka_username: Option<String>,
    /// A file whose first line is the SCRAM password (else QUOTECAST_KAFKA_PASSWORD).
    #[arg(long)]
    kafka_password_file: Option<PathBuf>,
    /// A PEM file of the CA that signed the brokers' certificates (default: the system's
    /// trust store, which is what MSK needs).
    #[arg(long)]
    kafka_ca: Option<PathBuf>,
    /// Kafka topic.
    #[arg(long, default_value = "quotes")]
    topic: String,
    /// Partitions of the topic on the embedded broker.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Comma-separated symbols to simulate (default: 20 large US stocks).
    #[arg(long, value_delimiter = ',')]
    symbols: Vec<String>,
    /// Milliseconds between bars (one bar per symbol per tick).
    #[arg(long, default_value_t = 1000)]
    tick_ms: u64,
    /// Simulator seed: the same seed gives the same quotes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Event source mapping batch size (1–10,000).
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Event source mapping batching window in milliseconds (0 sends at once).
    #[arg(long, default_value_t = 500)]
    batching_window_ms: u64,
    /// The built dashboard to serve at /.
    #[arg(long, default_value = "frontend/dist")]
    dashboard_dir: PathBuf,
    /// Where the stack keeps its state: the writers' credentials.json and the quote history
    /// (history/) (else $XDG_DATA_HOME/quotecast or ~/.local/share/quotecast).
    #[arg(long, env = "QUOTECAST_DATA_DIR", default_value_os_t = default_data_dir())]
    data_dir: PathBuf,
    /// Hours each bar stays in the history (1–8760), as HistoryRetentionHours on AWS.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=8760))]
    history_retention_hours: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum KafkaSecurityArg {
    Plaintext,
    #[value(name = "sasl-scram-512")]
    SaslScram512,
    #[value(name = "sasl-scram-256")]
    SaslScram256,
}

/// The password's environment variable (read, never printed).
const KAFKA_PASSWORD_VAR: &str = "QUOTECAST_KAFKA_PASSWORD";

/// `--kafka-*` as the producer and the mapping take them.
fn kafka_security(args: &DevArgs) -> Result<KafkaSecurity> {
    let mechanism = match args.kafka_security {
        KafkaSecurityArg::Plaintext => {
            if args.kafka_username.is_some()
                || args.kafka_password_file.is_some()
                || args.kafka_ca.is_some()
            {
                bail!(
                    "--kafka-username, --kafka-password-file and --kafka-ca need \
                     --kafka-security sasl-scram-512 (or sasl-scram-256)"
                );
            }
            return Ok(KafkaSecurity::Plaintext);
        }
        KafkaSecurityArg::SaslScram512 => ScramMechanism::Sha512,
        KafkaSecurityArg::SaslScram256 => ScramMechanism::Sha256,
    };
    let Some(username) = args.kafka_username.clone() else {
        bail!(
            "--kafka-security {} needs --kafka-username",
            mechanism.name()
        );
    };
    let password = match &args.kafka_password_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("--kafka-password-file {}", path.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        None => std::env::var(KAFKA_PASSWORD_VAR).with_context(|| {
            format!("SCRAM needs a password: set {KAFKA_PASSWORD_VAR} or --kafka-password-file")
        })?,
    };
    if password.is_empty() {
        bail!("the Kafka password is empty");
    }
    let ca_file = match &args.kafka_ca {
        Some(path) if !path.is_file() => bail!("--kafka-ca {}: no such file", path.display()),
        Some(path) => Some(path.display().to_string()),
        None => None,
    };
    Ok(KafkaSecurity::SaslScram {
        mechanism,
        username,
        password,
        ca_file,
    })
}

async fn dev(args: DevArgs) -> Result<()> {
    let symbols: Vec<String> = if args.symbols.is_empty() {
        quotecast_producer::config::DEFAULT_SYMBOLS
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    } else {
        args.symbols.clone()
    };
    for s in &symbols {
        quotecast_shared::quote::validate_symbol(s).with_context(|| format!("--symbols: {s:?}"))?;
    }
    if !(1..=10_000).contains(&args.batch_size) {
        bail!("--batch-size must be between 1 and 10000");
    }
    let security = kafka_security(&args)?;
    warn_if_exposed(
        args.listen,
        "the dashboard and the GraphQL API (its API key is public, in /config.json, and lets anyone subscribe and query)",
    );
    let stack = quotecast::stack::start(quotecast::stack::StackConfig {
        listen: args.listen,
        port: args.port,
        api_key: args.api_key.clone(),
        bootstrap_servers: args.bootstrap_servers.clone(),
        kafka_security: security.clone(),
        topic: args.topic.clone(),
        partitions: args.partitions.max(1),
        default_symbols: symbols.iter().take(4).cloned().collect(),
        symbols,
        tick: Duration::from_millis(args.tick_ms.max(10)),
        seed: args.seed,
        batch_size: args.batch_size,
        batching_window: Duration::from_millis(args.batching_window_ms),
        dashboard_dir: args.dashboard_dir.clone(),
        data_dir: args.data_dir.clone(),
        history_retention_hours: args.history_retention_hours,
    })
    .await
    .with_context(|| {
        format!(
            "cannot start the local stack on {}:{}",
            args.listen, args.port
        )
    })?;
    let addr = stack.addr;
    println!("quotecast is running");
    println!("  dashboard:     http://{addr}/");
    println!("  GraphQL:       http://{addr}/graphql");
    println!("  real-time:     ws://{addr}/graphql/realtime");
    println!(
        "  API key:       {} (public: subscribe and query only)",
        stack.api_key
    );
    println!(
        "  IAM writers:   {} (publish; in {})",
        stack.credentials.access_key_id,
        stack.credentials_path.display()
    );
    let data_dir_flag = if args.data_dir == default_data_dir() {
        String::new()
    } else {
        format!(" --data-dir {}", args.data_dir.display())
    };
    println!(
        "  publish:       {} publish{data_dir_flag} AMZN 191.25",
        this_binary()
    );
    println!(
        "  DynamoDB:      http://{addr}/ (table {}, the IAM key above; in {})",
        stack.history.table_name(),
        stack.history.path().display()
    );
    match &security {
        KafkaSecurity::Plaintext => println!(
            "  Kafka:         {} (topic {}; attach kcat or any client)",
            stack.bootstrap_servers, stack.topic
        ),
        KafkaSecurity::SaslScram {
            mechanism,
            username,
            ..
        } => println!(
            "  Kafka:         {} (topic {}; SASL_SSL, {} as {username})",
            stack.bootstrap_servers,
            stack.topic,
            mechanism.name()
        ),
    }
    println!(
        "  batching:      {} records or {} ms",
        args.batch_size, args.batching_window_ms
    );
    println!(
        "  metrics:       http://{addr}/metrics (the consumer's counts; a summary every 60 s)"
    );
    let stop = StopSignal::listen();
    println!("Ctrl-C stops everything.");
    let summaries = tokio::spawn(print_summaries(stack.consumer_totals.clone()));
    stop.wait().await;
    summaries.abort();
    println!("shutting down: producer flushed, offsets committed, connections closed...");
    stack.stop().await;
    println!("stopped.");
    Ok(())
}

#[derive(clap::Args)]
struct LoadtestArgs {
    /// Real-time endpoint; derived from --url as AWS does when omitted.
    #[arg(long)]
    realtime_url: Option<String>,
    /// API key the subscribers connect with.
    #[arg(long, env = "QUOTECAST_API_KEY")]
    api_key: String,
    /// Publish with the API key too, instead of signing (for APIs whose schema allows it).
    #[arg(long, conflicts_with_all = ["access_key_id", "aws"])]
    publish_with_api_key: bool,
    #[command(flatten)]
    signing: SigningArgs,
    /// WebSocket connections to open.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Subscriptions per connection.
    #[arg(long, default_value_t = 5)]
    subscriptions: usize,
    /// Distinct symbols the subscriptions spread over.
    #[arg(long, default_value_t = 50)]
    symbols: usize,
    /// Publishes per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Publishes per HTTP request (aliased mutations).
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Seconds to publish for.
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Seconds at the start whose latencies are not recorded.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

async fn loadtest(args: LoadtestArgs) -> Result<()> {
    if args.rate == 0 || args.connections == 0 || args.subscriptions == 0 {
        bail!("--rate, --connections and --subscriptions must be at least 1");
    }
    let api_key = args.publish_with_api_key.then(|| args.api_key.clone());
    let writer = args.signing.options(api_key).resolve().await?;
    eprintln!("publishing to {} as {}", writer.graphql_url, writer.source);
    let test = LoadTest {
        realtime_url: args
            .realtime_url
            .unwrap_or_else(|| quotecast_shared::realtime::url::realtime_url(&writer.graphql_url)),
        graphql_url: writer.graphql_url,
        api_key: args.api_key,
        publish_auth: writer.auth,
        connections: args.connections,
        subscriptions_per_connection: args.subscriptions,
        symbols: args.symbols.max(1),
        rate: args.rate,
        batch: args.batch.max(1),
        duration: Duration::from_secs(args.duration_secs),
        warmup: Duration::from_secs(args.warmup_secs),
    };
    let report = test.run().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}

#[derive(clap::Args)]
struct PublishArgs {
    #[command(flatten)]
    signing: SigningArgs,
    /// Send this API key instead of signing: only for APIs whose schema lets the key publish
    /// (the reference sample's); quotecast's refuses it.
    #[arg(long, conflicts_with_all = ["access_key_id", "aws"])]
    api_key: Option<String>,
    /// A JSON file of quotes: one quote object, an array of them, or JSON lines (`-` reads stdin).
    #[arg(long, conflicts_with_all = ["symbol", "price"])]
    file: Option<PathBuf>,
    /// Ticker symbol of a one-price bar (with PRICE).
    #[arg(required_unless_present = "file")]
    symbol: Option<String>,
    /// Price of that bar: open = high = low = close, volume 0, stamped now.
    #[arg(required_unless_present = "file")]
    price: Option<f64>,
}

async fn publish(args: PublishArgs) -> Result<()> {
    let quotes = match (&args.file, &args.symbol, args.price) {
        (Some(path), _, _) => {
            let (text, origin) = if path.as_os_str() == "-" {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                    .context("cannot read standard input")?;
                (text, "stdin".to_owned())
            } else {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                (text, path.display().to_string())
            };
            quotecast::publish::quotes_from_text(&text, &origin)?
        }
        (None, Some(symbol), Some(price)) => vec![quotecast::publish::bar(
            symbol,
            price,
            quotecast_producer::handler::now_ms(),
        )?],
        _ => bail!("give SYMBOL PRICE, or --file FILE"),
    };
    let writer = args.signing.options(args.api_key.clone()).resolve().await?;
    eprintln!(
        "publishing {} quote(s) to {} as {}",
        quotes.len(),
        writer.graphql_url,
        writer.source
    );
    let report = quotecast::publish::publish(&writer, &quotes).await?;
    println!(
        "published {} quote(s) in {} request(s), {:.0} ms",
        report.published,
        report.requests,
        report.elapsed.as_secs_f64() * 1000.0
    );
    Ok(())
}

#[derive(clap::Args)]
struct SmokeArgs {
    /// The deployment's config.json (what the dashboard reads), e.g.
    /// https://d1234.cloudfront.net/config.json or http://127.0.0.1:8080/config.json.
    #[arg(long)]
    config: String,
    /// Ticker to wait for [default: the config's first default symbol].
    #[arg(long)]
    symbol: Option<String>,
    /// Seconds to wait for the first live quote (bars may be minutes apart on AWS).
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

async fn smoke(args: SmokeArgs) -> Result<()> {
    use quotecast::smoke;
    let step = Duration::from_secs(10);
    let config = smoke::fetch_config(&args.config, step).await?;
    eprintln!(
        "checking {} (real-time {}) with the public key; waiting up to {} s for a quote",
        config.graphql_url, config.realtime_url, args.timeout_secs
    );
    let options = smoke::SmokeOptions {
        symbol: args.symbol,
        quote_timeout: Duration::from_secs(args.timeout_secs),
        step_timeout: step,
    };
    let report = smoke::run(&config, &options).await?;
    println!("{report}");
    Ok(())
}

#[derive(clap::Args)]
struct AppsyncArgs {
    /// Address to listen on; 127.0.0.1 keeps the server private to this machine.
    #[arg(long, default_value = "127.0.0.1")]
    listen: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// API key clients must send (repeat for several). Without one, a key is generated and printed.
    #[arg(long = "api-key", env = "QUOTECAST_API_KEY")]
    api_keys: Vec<String>,
    /// IAM credentials accepted in SigV4 signatures, as ACCESS_KEY_ID:SECRET (repeatable).
    #[arg(long = "iam-credentials")]
    iam_credentials: Vec<String>,
    /// File of IAM credentials, one ACCESS_KEY_ID:SECRET per line (# starts a comment).
    #[arg(long)]
    iam_credentials_file: Option<PathBuf>,
    /// Seconds between keep-alive (`ka`) frames.
    #[arg(long, default_value_t = 60)]
    keep_alive_secs: u64,
    /// Subscriptions allowed on one connection.
    #[arg(long, default_value_t = 100)]
    max_subscriptions: usize,
    /// WebSocket connections allowed at once.
    #[arg(long, default_value_t = 20_000)]
    max_connections: usize,
    /// Under heavy fan-out, how long a connection waits after a write before its next, so
    /// what arrives meanwhile shares a TCP segment (0: never wait; at most 1000). Applies
    /// only while the server writes more than --busy-writes-per-sec times a second, and only
    /// to connections getting 4 or more frames during the wait.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=1000))]
    write_hold_ms: u64,
    /// Writes a second, all connections together, above which --write-hold-ms applies (0:
    /// at any rate); once on, it stops below a quarter of this.
    #[arg(long, default_value_t = 100_000)]
    busy_writes_per_sec: u64,
    /// Serve this schema (SDL) instead of quotecast's. Its auth directives decide who may
    /// call what; without any, the API key may do everything, as on the reference sample's API.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Also serve the quote history from `<DIR>/history/history.redb` (created if absent):
    /// DynamoDB's protocol on `POST /` (table quotecast-history, SigV4 with the IAM keys).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Most resolvers one request may run, as the API's ResolverCountLimit (0: AppSync's
    /// maximum, 10,000). The default is the template's; `quotecast dev` always uses it.
    #[arg(long, default_value_t = quotecast_shared::graphql::RESOLVER_COUNT_LIMIT as u64,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    resolver_count_limit: u64,
    /// Deepest selection one request may have, in field levels, as the API's QueryDepthLimit
    /// (0: none). The default is the template's; `quotecast dev` always uses it.
    #[arg(long, default_value_t = quotecast_shared::graphql::QUERY_DEPTH_LIMIT as u64,
          value_parser = clap::value_parser!(u64).range(0..=75))]
    query_depth_limit: u64,
}

fn parse_credential(text: &str) -> Result<(String, String)> {
    match text.trim().split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
            Ok((id.to_owned(), secret.to_owned()))
        }
        _ => bail!("IAM credentials must look like ACCESS_KEY_ID:SECRET, got {text:?}"),
    }
}

/// A local API key in AppSync's `da2-` form, random enough for a machine-local server.
fn generate_api_key() -> String {
    use std::hash::{BuildHasher, RandomState};
    let a = RandomState::new().hash_one(std::process::id());
    let b = RandomState::new().hash_one(std::time::SystemTime::now());
    format!("da2-{a:016x}{b:010x}")
}

impl AppsyncArgs {
    /// The server's configuration, and the history store when `--data-dir` names one.
    fn config(&self) -> Result<(Config, Option<HistoryStore>)> {
        let mut config = Config {
            keep_alive_interval: Duration::from_secs(self.keep_alive_secs.max(1)),
            max_subscriptions_per_connection: self.max_subscriptions,
            max_connections: self.max_connections,
            websocket_write_hold: Duration::from_millis(self.write_hold_ms),
            websocket_busy_writes_per_sec: self.busy_writes_per_sec,
            api_keys: self.api_keys.clone(),
            // Both at most 10,000 (checked by clap).
            api_limits: ApiLimits {
                resolver_count_limit: self.resolver_count_limit as usize,
                query_depth_limit: self.query_depth_limit as usize,
            },
            ..Config::default()
        };
        if config.api_keys.is_empty() {
            config.api_keys.push(generate_api_key());
        }
        if let Some(path) = &self.schema {
            let sdl = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read schema {}", path.display()))?;
            quotecast_appsync::graphql::Schema::parse(&sdl)
                .with_context(|| format!("schema {} is not usable", path.display()))?;
            config.schema_sdl = Some(sdl.into());
        }
        let mut lines: Vec<String> = self.iam_credentials.clone();
        if let Some(path) = &self.iam_credentials_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read IAM credentials file {}", path.display()))?;
            lines.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned),
            );
        }
        for line in lines {
            let (id, secret) = parse_credential(&line)?;
            config.iam_credentials.insert(id, secret);
        }
        let history = match &self.data_dir {
            Some(dir) => Some(HistoryStore::open(
                &dir.join(quotecast::stack::HISTORY_DIR),
                DEFAULT_TABLE_NAME,
            )?),
            None => None,
        };
        Ok((config, history))
    }
}

async fn appsync(args: AppsyncArgs) -> Result<()> {
    warn_if_exposed(
        args.listen,
        "the GraphQL API (the API key may do what the schema's directives allow: with quotecast's, subscribe and query)",
    );
    let (config, history) = args.config()?;
    let server = LocalServer::bind(
        SocketAddr::new(args.listen, args.port),
        config.clone(),
        history.clone(),
    )
    .await
    .with_context(|| format!("cannot listen on {}:{}", args.listen, args.port))?;
    let addr = server.local_addr()?;
    println!("quotecast appsync listening");
    println!("  GraphQL:   http://{addr}/graphql");
    println!("  real-time: ws://{addr}/graphql/realtime (also ws://{addr}/graphql)");
    println!("  API key:   {}", config.api_keys.join(", "));
    if !config.iam_credentials.is_empty() {
        let ids: Vec<&str> = config.iam_credentials.keys().map(String::as_str).collect();
        println!("  IAM keys:  {}", ids.join(", "));
    }
    if let Some(history) = &history {
        println!(
            "  DynamoDB:  http://{addr}/ (table {}, in {})",
            history.table_name(),
            history.path().display()
        );
    }
    let stop = StopSignal::listen();
    println!("Ctrl-C stops it.");
    server
        .run(async {
            stop.wait().await;
            println!("shutting down: closing connections");
        })
        .await?;
    Ok(())
}

/// Every minute, one line of what the consumer did: records in and published per second, and
/// the 99th percentile of a bar's age when published (the number the dashboard's freshness
/// depends on).
async fn print_summaries(totals: std::sync::Arc<quotecast_consumer::metrics::Totals>) {
    const EVERY: Duration = Duration::from_secs(60);
    let mut ticks = tokio::time::interval(EVERY);
    ticks.tick().await;
    totals.take_summary();
    loop {
        ticks.tick().await;
        println!("{}", summary_line(&totals.take_summary(), EVERY));
    }
}

/// The summary of one window of `over`.
fn summary_line(summary: &quotecast_consumer::metrics::Summary, over: Duration) -> String {
    let secs = over.as_secs_f64().max(1.0);
    let age = summary
        .p99_age_ms
        .map_or("no bar published".to_owned(), |ms| {
            format!("p99 age of a bar at publish {ms} ms")
        });
    format!(
        "last {:.0} s: {:.1} records/s in, {:.1} published/s, {age}",
        secs,
        summary.records as f64 / secs,
        summary.published as f64 / secs
    )
}

/// Ctrl-C, or SIGTERM (`kill`, `docker stop`, systemd): both stop in order, so the history
/// store makes its last checkpoint and the mapping commits its batch. Listened to from when
/// this is made, so made before the "Ctrl-C stops" line: a signal sent as soon as that line
/// is read once found the default action still in place and killed the process mid-run.
struct StopSignal {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignal {
    fn listen() -> StopSignal {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::interrupt())
                .and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
                .ok();
            StopSignal { signals }
        }
        #[cfg(not(unix))]
        StopSignal {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.signals {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            // One line per consumer batch suits Lambda's logs, not a terminal: warnings only.
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,quotecast_consumer=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Dev(args) => dev(args).await,
        Command::Appsync(args) => appsync(args).await,
        Command::Loadtest(args) => loadtest(args).await,
        Command::Publish(args) => publish(args).await,
        Command::Smoke(args) => smoke(args).await,
    }
}

#[cfg(test)]
mod tests {
    use quotecast_consumer::metrics::Summary;

    use super::*;

    #[test]
    fn the_minute_summary_says_rates_and_the_p99_age() {
        let busy = Summary {
            records: 600,
            published: 590,
            p99_age_ms: Some(42),
        };
        assert_eq!(
            summary_line(&busy, Duration::from_secs(60)),
            "last 60 s: 10.0 records/s in, 9.8 published/s, p99 age of a bar at publish 42 ms"
        );
        let quiet = Summary {
            records: 0,
            published: 0,
            p99_age_ms: None,
        };
        assert!(summary_line(&quiet, Duration::from_secs(60)).ends_with("no bar published"));
    }

    /// `quotecast appsync`'s configuration for these flags.
    fn appsync_config(flags: &[&str]) -> Config {
        let cli = Cli::try_parse_from(["quotecast", "appsync"].iter().chain(flags)).unwrap();
        match cli.command {
            Command::Appsync(args) => args.config().unwrap().0,
            _ => panic!("not appsync"),
        }
    }

    #[test]
    fn the_write_hold_defaults_to_the_server_s_and_can_be_turned_off() {
        let defaults = Config::default();
        let config = appsync_config(&[]);
        assert_eq!(config.websocket_write_hold, defaults.websocket_write_hold);
        assert_eq!(
            config.websocket_busy_writes_per_sec,
            defaults.websocket_busy_writes_per_sec
        );
        let off = appsync_config(&["--write-hold-ms", "0", "--busy-writes-per-sec", "5"]);
        assert!(off.websocket_write_hold.is_zero());
        assert_eq!(off.websocket_busy_writes_per_sec, 5);
        let err = Cli::try_parse_from(["quotecast", "appsync", "--write-hold-ms", "5000"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("--write-hold-ms"), "{err}");
    }

    /// `quotecast dev`'s Kafka flags as `kafka_security` reads them, or clap's refusal.
    fn kafka_flags(flags: &[&str]) -> Result<KafkaSecurity, String> {
        let cli = Cli::try_parse_from(["quotecast", "dev"].iter().chain(flags))
            .map_err(|e| e.to_string())?;
        match cli.command {
            Command::Dev(args) => kafka_security(&args).map_err(|e| format!("{e:#}")),
            _ => Err("not dev".to_owned()),
        }
    }

    #[test]
    fn kafka_flags_are_checked_with_clear_errors() {
        let dir =
            std::env::temp_dir().join(format!("quotecast-kafka-flags-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let password = dir.join("password");
        std::fs::write(&password, "s3cret\nignored\n").unwrap();
        let empty = dir.join("empty");
        std::fs::write(&empty, "").unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let (password, empty, ca) = (
            password.to_str().unwrap(),
            empty.to_str().unwrap(),
            ca.to_str().unwrap(),
        );
        let refused = |flags: &[&str], says: &str| {
            let err = kafka_flags(flags).unwrap_err();
            assert!(err.contains(says), "{flags:?}: {err}");
        };
        let scram = [
            "--bootstrap-servers",
            "b:9096",
            "--kafka-security",
            "sasl-scram-512",
        ];
        refused(
            &["--kafka-security", "sasl-scram-512"],
            "--bootstrap-servers",
        );
        refused(&["--kafka-username", "u"], "need --kafka-security");
        refused(&scram, "needs --kafka-username");
        let with_user = [&scram[..], &["--kafka-username", "u"]].concat();
        refused(
            &[
                &with_user[..],
                &["--kafka-password-file", "/nonexistent/pw"],
            ]
            .concat(),
            "--kafka-password-file /nonexistent/pw",
        );
        refused(
            &[&with_user[..], &["--kafka-password-file", empty]].concat(),
            "password is empty",
        );
        let with_password = [&with_user[..], &["--kafka-password-file", password]].concat();
        refused(
            &[&with_password[..], &["--kafka-ca", "/nonexistent/ca.pem"]].concat(),
            "no such file",
        );
        assert_eq!(
            kafka_flags(&[&with_password[..], &["--kafka-ca", ca]].concat()).unwrap(),
            KafkaSecurity::SaslScram {
                mechanism: ScramMechanism::Sha512,
                username: "u".to_owned(),
                password: "s3cret".to_owned(),
                ca_file: Some(ca.to_owned()),
            }
        );
        assert_eq!(kafka_flags(&[]).unwrap(), KafkaSecurity::Plaintext);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
