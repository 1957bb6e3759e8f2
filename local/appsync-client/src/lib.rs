//! Minimal AppSync clients for tools and tests: the real-time WebSocket (any of the three
//! auth transports) and GraphQL over HTTP. It stands in for no AWS service: it is the client
//! side of AppSync, as Amplify's is, for the `quotecast` tools and the test suites.
//!
//! Deliberately left out: reconnection and subscription recovery (the dashboard's sans-IO
//! client in `quotecast_shared::realtime::client` does that), Cognito and OIDC auth, and any
//! caching.
//!
//! They speak the wire formats of `quotecast_shared` and nothing else, so they work against
//! the local server and real AppSync alike; the load generator and the test suites use them.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use quotecast_consumer::appsync::Auth;
use quotecast_shared::Channel;
use quotecast_shared::graphql::{GraphqlRequest, PublishBatch};
use quotecast_shared::realtime::{
    AuthObject, ClientMessage, SUBPROTOCOL, ServerMessage, StartPayload,
};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid URL or request: {0}")]
    Request(String),
    #[error("upgrade refused with HTTP {status}: {body}")]
    Rejected { status: u16, body: String },
    #[error("WebSocket error: {0}")]
    Socket(#[from] tungstenite::Error),
    #[error("no frame within {0:?}")]
    Timeout(Duration),
    #[error("connection closed{}", .0.as_ref().map(|c| format!(" with {} {}", c.code, c.reason)).unwrap_or_default())]
    Closed(Option<CloseFrame>),
    #[error("unexpected frame: {0}")]
    Unexpected(String),
    #[error("HTTP error: {0}")]
    Http(#[from] reqwest::Error),
}

/// How the auth object travels in the handshake (`APPSYNC_SPEC.md` §A.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `Sec-WebSocket-Protocol: graphql-ws, header-<base64url>` (Amplify v6).
    Subprotocol,
    /// `?header=<base64>&payload=e30=` (older Amplify).
    Query,
    /// Plain HTTP headers on the upgrade request (non-browser clients).
    Headers,
}

/// One real-time connection.
pub struct RealtimeClient {
    socket: Socket,
    timeout: Duration,
}

/// What a read returned: a frame, or the end of the connection.
#[derive(Debug)]
pub enum Incoming {
    Frame(ServerMessage),
    /// A text frame that did not decode.
    Garbage(String),
    Closed(Option<CloseFrame>),
}

impl RealtimeClient {
    /// Opens the socket, carrying `auth` by `transport`.
    pub async fn connect(
        url: &str,
        auth: &AuthObject,
        transport: Transport,
    ) -> Result<Self, ClientError> {
        let url = match transport {
            Transport::Query => format!(
                "{url}{}{}",
                if url.contains('?') { '&' } else { '?' },
                auth.to_query()
            ),
            _ => url.to_owned(),
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| ClientError::Request(e.to_string()))?;
        let protocols = match transport {
            Transport::Subprotocol => format!("{SUBPROTOCOL}, {}", auth.to_subprotocol()),
            _ => SUBPROTOCOL.to_owned(),
        };
        let headers = request.headers_mut();
        headers.insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(&protocols).map_err(|e| ClientError::Request(e.to_string()))?,
        );
        if transport == Transport::Headers {
            for (name, value) in auth
                .headers()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("host"))
            {
                let name =
                    tungstenite::http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                        .map_err(|e| ClientError::Request(e.to_string()))?;
                let value = HeaderValue::from_str(value)
                    .map_err(|e| ClientError::Request(e.to_string()))?;
                headers.insert(name, value);
            }
        }
        Self::open(request).await
    }

    /// Opens a socket from a request built by the caller (for tests of odd handshakes), with
    /// Nagle's algorithm off so small frames are not held back, and a read buffer of
    /// [`READ_BUFFER_BYTES`].
    pub async fn open(
        request: tungstenite::handshake::client::Request,
    ) -> Result<Self, ClientError> {
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
        match tokio_tungstenite::connect_async_with_config(request, Some(config), true).await {
            Ok((socket, _)) => Ok(RealtimeClient {
                socket,
                timeout: Duration::from_secs(10),
            }),
            Err(tungstenite::Error::Http(response)) => Err(ClientError::Rejected {
                status: response.status().as_u16(),
                body: response
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// How long reads wait before failing with [`ClientError::Timeout`].
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub async fn send(&mut self, msg: &ClientMessage) -> Result<(), ClientError> {
        self.send_text(&msg.encode()).await
    }

    pub async fn send_text(&mut self, text: &str) -> Result<(), ClientError> {
        Ok(self.socket.send(Message::text(text)).await?)
    }

    pub async fn send_message(&mut self, msg: Message) -> Result<(), ClientError> {
        Ok(self.socket.send(msg).await?)
    }

    /// The next frame or the close, whichever comes.
    pub async fn next(&mut self) -> Result<Incoming, ClientError> {
        loop {
            let frame = tokio::time::timeout(self.timeout, self.socket.next())
                .await
                .map_err(|_| ClientError::Timeout(self.timeout))?;
            return Ok(match frame {
                None => Incoming::Closed(None),
                Some(Err(
                    tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed,
                )) => Incoming::Closed(None),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Text(text))) => match ServerMessage::decode(text.as_str()) {
                    Ok(msg) => Incoming::Frame(msg),
                    Err(_) => Incoming::Garbage(text.to_string()),
                },
                Some(Ok(Message::Close(frame))) => Incoming::Closed(frame),
                Some(Ok(_)) => continue,
            });
        }
    }

    /// The next frame other than `ka`.
    pub async fn recv(&mut self) -> Result<ServerMessage, ClientError> {
        loop {
            match self.next().await? {
                Incoming::Frame(ServerMessage::Ka) => continue,
                Incoming::Frame(msg) => return Ok(msg),
                Incoming::Garbage(text) => return Err(ClientError::Unexpected(text)),
                Incoming::Closed(frame) => return Err(ClientError::Closed(frame)),
            }
        }
    }

    /// Sends `connection_init` and waits for the ack; returns `connectionTimeoutMs`.
    pub async fn init(&mut self) -> Result<u64, ClientError> {
        self.send(&ClientMessage::ConnectionInit).await?;
        match self.recv().await? {
            ServerMessage::ConnectionAck {
                connection_timeout_ms,
            } => Ok(connection_timeout_ms),
            other => Err(ClientError::Unexpected(other.encode())),
        }
    }

    /// Sends `start` for `request` and waits for its `start_ack`.
    pub async fn subscribe(
        &mut self,
        id: &str,
        request: &GraphqlRequest,
        auth: &AuthObject,
    ) -> Result<(), ClientError> {
        self.send(&ClientMessage::Start {
            id: id.to_owned(),
            payload: StartPayload::new(request, auth.clone()),
        })
        .await?;
        match self.recv().await? {
            ServerMessage::StartAck { id: acked } if acked == id => Ok(()),
            other => Err(ClientError::Unexpected(other.encode())),
        }
    }

    /// Sends every `start` at once, then waits for all their acks. `data` frames that arrive
    /// meanwhile (on a live stream, for the subscriptions already acknowledged) are passed
    /// over; returns how many were.
    pub async fn subscribe_many(
        &mut self,
        subscriptions: &[(String, GraphqlRequest)],
        auth: &AuthObject,
    ) -> Result<usize, ClientError> {
        for (id, request) in subscriptions {
            self.send(&ClientMessage::Start {
                id: id.clone(),
                payload: StartPayload::new(request, auth.clone()),
            })
            .await?;
        }
        let mut waiting: std::collections::HashSet<&str> =
            subscriptions.iter().map(|(id, _)| id.as_str()).collect();
        let mut passed_over = 0;
        while !waiting.is_empty() {
            match self.recv().await? {
                ServerMessage::StartAck { id } => {
                    waiting.remove(id.as_str());
                }
                ServerMessage::Data { .. } => passed_over += 1,
                other => return Err(ClientError::Unexpected(other.encode())),
            }
        }
        Ok(passed_over)
    }

    pub fn into_socket(self) -> Socket {
        self.socket
    }
}

/// How much a socket asks the kernel for per read. tungstenite zero-fills the free part of
/// its read buffer before every read (128 KiB by default), and a subscriber reads a few
/// hundred bytes of frames at a time: with the default, zero-filling was 26 % of the load
/// generator's CPU at 1,000,000 deliveries/s (`perf`, BENCHMARKS.md). A larger frame still
/// arrives whole; the buffer grows to hold it.
pub const READ_BUFFER_BYTES: usize = 8 * 1024;

/// How long a GraphQL request may take by default, connection included.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// GraphQL over HTTP, with an API key (readers) or SigV4 (writers), as the consumer Lambda
/// signs: the same [`Auth`] and the same signer.
#[derive(Clone)]
pub struct GraphqlHttp {
    client: reqwest::Client,
    url: String,
    auth: Auth,
}

impl GraphqlHttp {
    /// A client that sends `x-api-key`.
    pub fn new(url: &str, api_key: &str) -> Self {
        GraphqlHttp::with_auth(url, Auth::ApiKey(api_key.to_owned()))
    }

    /// A client that authenticates with `auth` (SigV4 for [`Auth::Iam`]); a request that has
    /// no complete answer after [`DEFAULT_HTTP_TIMEOUT`] fails.
    pub fn with_auth(url: &str, auth: Auth) -> Self {
        GraphqlHttp::with_timeout(url, auth, DEFAULT_HTTP_TIMEOUT)
    }

    /// The same, failing a request after `timeout` (a server that accepts and never answers
    /// must not hang a tool).
    pub fn with_timeout(url: &str, auth: Auth, timeout: Duration) -> Self {
        GraphqlHttp {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
            url: url.to_owned(),
            auth,
        }
    }

    /// Posts `request`; returns the HTTP status and the body as JSON (a body that is not JSON,
    /// such as a proxy's HTML error page, comes back as a JSON string of its text).
    pub async fn post(&self, request: &GraphqlRequest) -> Result<(u16, Value), ClientError> {
        let body = request.to_json();
        let mut builder = self.client.post(&self.url);
        let headers = self
            .auth
            .headers(&self.url, body.as_bytes())
            .map_err(|e| ClientError::Request(e.to_string()))?;
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let response = builder.body(body).send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, body))
    }

    /// Publishes `channels` in order, in one request.
    pub async fn publish(&self, channels: &[Channel]) -> Result<(u16, Value), ClientError> {
        let mut batch = PublishBatch::new();
        for ch in channels {
            batch.push(ch.clone());
        }
        match batch.to_request() {
            Some(request) => self.post(&request).await,
            None => Ok((200, Value::Null)),
        }
    }
}
