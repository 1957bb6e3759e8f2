//! What an AppSync-compatible server is configured with: credentials and limits.
//!
//! Every limit of `APPSYNC_SPEC.md` §A.7 is a field here, with AppSync's value as default.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use quotecast_shared::realtime::{DEFAULT_CONNECTION_TIMEOUT_MS, MAX_PAYLOAD_BYTES};

use quotecast_aws_local::body::BodyBudget;
use quotecast_aws_local::data_source::HistorySource;
use quotecast_aws_local::iam::IamKeys;

use crate::graphql::ApiLimits;

#[derive(Debug, Clone)]
pub struct Config {
    /// The schema served, as SDL text; `None` serves quotecast's own (`schema/schema.graphql`).
    /// Its auth directives decide who may call what (the default mode is the API key).
    pub schema_sdl: Option<std::sync::Arc<str>>,
    /// API keys accepted in `x-api-key`.
    pub api_keys: Vec<String>,
    /// IAM credentials accepted in SigV4 signatures: access key id → secret access key.
    pub iam_credentials: HashMap<String, String>,
    /// How far a SigV4 `x-amz-date` may be from the server's clock.
    pub signature_max_skew: Duration,
    /// Interval of `ka` frames.
    pub keep_alive_interval: Duration,
    /// Keep-alive deadline announced in `connection_ack`.
    pub connection_timeout_ms: u64,
    /// A socket that has not sent `connection_init` by then is closed.
    pub connection_init_timeout: Duration,
    /// Connections are closed after this long whatever their activity (AppSync: 24 h).
    pub max_connection_duration: Duration,
    /// Live subscriptions per connection.
    pub max_subscriptions_per_connection: usize,
    /// Open WebSocket connections per server; further upgrades get HTTP 429.
    pub max_connections: usize,
    /// Largest subscription payload delivered; a larger publish is refused with an error.
    pub max_payload_bytes: usize,
    /// Largest client frame or HTTP body accepted.
    pub max_request_bytes: usize,
    /// Bytes of frames queued for one connection, as sent (headers included), before it
    /// counts as a slow consumer and is disconnected.
    pub max_queued_bytes_per_connection: usize,
    /// Open HTTP connections (plain requests, and upgrades until they become WebSockets);
    /// further connections are answered 503 and closed. Each one may buffer a request body,
    /// so this bounds memory as much as file descriptors.
    pub max_http_connections: usize,
    /// A request's headers (or, on an idle keep-alive connection, the next request's) must
    /// arrive whole within this time, or the connection is closed.
    pub http_header_read_timeout: Duration,
    /// A request's body must arrive whole within this time after its headers, or it is
    /// answered 408 and the connection closed.
    pub http_body_read_timeout: Duration,
    /// Bytes a WebSocket reads from the socket at a time (buffer allocated per connection);
    /// a larger frame still arrives whole, in a buffer grown for it.
    pub websocket_read_buffer_bytes: usize,
    /// The size of a connection's writes: a batch of queued frames goes out in pieces of
    /// about this size that end at frame ends (the last one smaller), and a slow consumer's
    /// backlog is dropped between pieces.
    pub websocket_write_buffer_bytes: usize,
    /// How long a connection's next write is held while the server is busy, if the
    /// connection gets frames fast enough for `write_pacer::MIN_FRAMES_PER_HOLD` (4) to
    /// arrive meanwhile: they go out together, in fewer TCP segments. Zero never holds; at
    /// most `write_pacer::MAX_HOLD` (1 s).
    pub websocket_write_hold: Duration,
    /// Writes a second, all connections together, above which the server is busy and
    /// [`Config::websocket_write_hold`] applies (0: at any rate); once on, it stops below a
    /// quarter of this.
    pub websocket_busy_writes_per_sec: u64,
    /// Frames a connection must be expected to receive during a hold for it to be held
    /// (`write_pacer::MIN_FRAMES_PER_HOLD`, 4, by default; 0: every connection).
    pub websocket_hold_min_frames: u64,
    /// The data source of `Query.history` (the table the consumer writes); without one the
    /// query answers `DataSourceUnavailable`. The server reads it and nothing more: serving
    /// the table to its writers is the DynamoDB twin's job, composed beside this server.
    pub history: Option<Arc<dyn HistorySource>>,
    /// The port's budget for request bodies held at once, when routes with other limits
    /// share it (the local stack's DynamoDB twin); `None`: this server's own bound,
    /// `max_http_connections` × `max_request_bytes`, is the only one.
    pub body_budget: Option<BodyBudget>,
    /// The most resolvers one request may run (the API's `ResolverCountLimit`; 0: AppSync's
    /// own maximum, 10,000) and the deepest selection, in field levels (`QueryDepthLimit`;
    /// 0: no limit). The template's defaults are the same constants.
    pub api_limits: ApiLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            schema_sdl: None,
            api_keys: Vec::new(),
            iam_credentials: HashMap::new(),
            signature_max_skew: Duration::from_secs(15 * 60),
            keep_alive_interval: Duration::from_secs(60),
            connection_timeout_ms: DEFAULT_CONNECTION_TIMEOUT_MS,
            connection_init_timeout: Duration::from_secs(30),
            max_connection_duration: Duration::from_secs(24 * 60 * 60),
            max_subscriptions_per_connection: 100,
            max_connections: 20_000,
            max_payload_bytes: MAX_PAYLOAD_BYTES,
            max_request_bytes: 5 * 1024 * 1024,
            max_queued_bytes_per_connection: 4 * 1024 * 1024,
            max_http_connections: 1024,
            http_header_read_timeout: Duration::from_secs(10),
            http_body_read_timeout: Duration::from_secs(20),
            websocket_read_buffer_bytes: 4 * 1024,
            websocket_write_buffer_bytes: 8 * 1024,
            websocket_write_hold: Duration::from_millis(10),
            websocket_busy_writes_per_sec: 100_000,
            websocket_hold_min_frames: crate::write_pacer::MIN_FRAMES_PER_HOLD,
            history: None,
            body_budget: None,
            api_limits: ApiLimits::DEPLOYED,
        }
    }
}

impl Config {
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_keys.push(key.into());
        self
    }

    /// The bytes this server's bodies may hold at once on their own:
    /// `max_http_connections` × `max_request_bytes`.
    pub fn body_bound(&self) -> usize {
        self.max_http_connections
            .saturating_mul(self.max_request_bytes)
    }

    /// Reads `Query.history` from `source` (see [`Config::history`]).
    pub fn with_history(mut self, source: impl HistorySource + 'static) -> Self {
        self.history = Some(Arc::new(source));
        self
    }

    /// The IAM keys accepted in SigV4 signatures, with the allowed clock skew.
    pub fn iam_keys(&self) -> IamKeys {
        IamKeys::new(self.iam_credentials.clone(), self.signature_max_skew)
    }

    pub fn with_iam_credential(mut self, access_key_id: &str, secret: &str) -> Self {
        self.iam_credentials
            .insert(access_key_id.to_owned(), secret.to_owned());
        self
    }
}
