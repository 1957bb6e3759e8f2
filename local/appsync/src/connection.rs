//! One real-time connection: the server side of the protocol state machine (§A.5).
//!
//! A reader (this task) decodes client frames and answers through the connection's
//! [`Outbox`]; a writer task drains the outbox into the socket in batches. The connection
//! ends when the client leaves, when it never sends `connection_init`, when it stops reading, at its maximum age, or at server shutdown; in every
//! case its subscriptions leave the hub before the task ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use quotecast_aws_local::json;
use quotecast_shared::realtime::{
    ClientMessage, DecodeError, ErrorObject, ServerMessage, StartPayload,
};
use serde_json::Value;
use tokio::io::{AsyncWriteExt, WriteHalf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tungstenite::Message;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::{Role, WebSocketConfig};

use super::auth::{AuthFailure, directive, error_type};
use super::graphql::{GraphqlError, OperationType, prepare};
use super::hub::{Registration, Subscriber};
use super::outbox::{Batch, Close, Outbox};
use super::resolvers::subscription_filter;
use super::state::AppSync;
use super::websocket::frame;
use super::websocket::socket::{self, Reader};
use super::websocket::upgrade::Socket;
use super::write_pacer::ConnectionRate;

/// Close code for a client that never sent `connection_init`.
const CLOSE_INIT_TIMEOUT: Close = Close {
    code: 4408,
    reason: "connection_init not received in time",
    flush_first: true,
};
const CLOSE_MAX_AGE: Close = Close {
    code: 1000,
    reason: "maximum connection duration reached",
    flush_first: true,
};
const CLOSE_TOO_BIG: Close = Close {
    code: 1009,
    reason: "frame too large",
    flush_first: true,
};

/// How long a closing connection may take to send its last frames and its close frame (a
/// slow consumer's: the frame being written, then the close). A client that reads nothing
/// meanwhile is cut off without one.
const FLUSH_GRACE: Duration = Duration::from_secs(5);

/// How long a refused socket may take to read its `connection_error` and close frame.
const REFUSAL_GRACE: Duration = Duration::from_secs(1);

/// How long a closed connection waits for the client's close frame before it lets go of the
/// socket. Dropping a socket with unread bytes (a frame the client pipelined after one that
/// closed the connection) resets it, and a reset can discard the error and close frames the
/// client has not read yet.
const CLOSE_REPLY_GRACE: Duration = Duration::from_secs(1);

/// Answers a socket whose handshake credentials were wrong: `connection_error` at once
/// (AppSync sends it in reply to `connection_init`; a refused caller has nothing to wait
/// for), a close frame, then the socket is dropped within [`REFUSAL_GRACE`] whatever the
/// client does. It reads until the client's close reply so that a `connection_init` already
/// in flight is read, not answered with a TCP reset that could discard the error frame
/// before the client reads it.
pub async fn refuse(socket: Socket, failure: AuthFailure, config: WebSocketConfig) {
    let mut socket = WebSocketStream::from_raw_socket(socket, Role::Server, Some(config)).await;
    let error = ServerMessage::ConnectionError {
        errors: vec![ErrorObject::new(error_type(&failure), failure.to_string()).with_code(401)],
    };
    let close = CloseFrame {
        code: Close::NORMAL.code.into(),
        reason: Close::NORMAL.reason.into(),
    };
    let _ = tokio::time::timeout(REFUSAL_GRACE, async {
        socket.send(Message::text(error.encode())).await?;
        socket.send(Message::Close(Some(close))).await?;
        while let Some(Ok(_)) = socket.next().await {}
        Ok::<(), tungstenite::Error>(())
    })
    .await;
}

/// Serves a socket whose handshake credentials were verified at the upgrade (a wrong caller
/// gets [`refuse`] instead). `config` caps what the client may send.
pub async fn run(
    socket: Socket,
    config: WebSocketConfig,
    app: Arc<AppSync>,
    _permit: OwnedSemaphorePermit,
) {
    let outbox = Arc::new(Outbox::new(
        app.config.max_queued_bytes_per_connection,
        app.config.websocket_write_buffer_bytes,
    ));
    let (mut reader, write) = socket::split(socket, outbox.clone(), config).await;
    let mut writer = Writer(Some(tokio::spawn(write_frames(
        write,
        outbox.clone(),
        app.clone(),
    ))));
    let mut conn = Connection {
        app,
        outbox,
        acked: false,
        subscriptions: HashMap::new(),
    };
    let close = conn.read(&mut reader, &mut writer).await;
    conn.unregister_all();
    conn.outbox.close(close.clone());
    if close == Close::SLOW_CONSUMER {
        tracing::warn!(
            code = close.code,
            reason = close.reason,
            "disconnecting client"
        );
    }
    // Without its backlog (a slow consumer, a client that closed first) the writer only
    // finishes the chunk it is writing and sends the close frame; either way it gets the
    // same grace.
    writer.stop(FLUSH_GRACE).await;
    await_close_reply(&mut reader).await;
}

/// Reads, and discards, what the client still sends until its close frame (at once if it
/// closed first), the end of the stream, or [`CLOSE_REPLY_GRACE`].
async fn await_close_reply<S: tokio::io::AsyncRead>(reader: &mut Reader<S>) {
    let _ = tokio::time::timeout(CLOSE_REPLY_GRACE, async {
        while let Some(Ok(message)) = reader.next().await {
            if message.is_close() {
                return;
            }
        }
    })
    .await;
}

/// The writer task's handle, awaited to completion at most once: it ends on its own when the
/// socket fails (a peer reset while writing), and the reader then waits for it again at
/// close; tokio panics if a finished `JoinHandle` is polled again, so the handle is dropped
/// as soon as it has resolved.
struct Writer(Option<JoinHandle<()>>);

impl Writer {
    /// Resolves when the writer task ends; never again once it has.
    async fn finished(&mut self) {
        let Some(handle) = &mut self.0 else {
            return std::future::pending().await;
        };
        let result = handle.await;
        // No await point between the handle resolving and its removal: a `select!` that
        // drops this future cannot leave a finished handle behind.
        self.0 = None;
        if let Err(e) = result
            && e.is_panic()
        {
            tracing::error!(error = %e, "connection writer panicked");
        }
    }

    /// Waits up to `grace` for the writer to end (not at all if it has), then stops it.
    async fn stop(&mut self, grace: Duration) {
        if self.0.is_some()
            && tokio::time::timeout(grace, self.finished()).await.is_err()
            && let Some(handle) = self.0.take()
        {
            handle.abort();
        }
    }
}

impl Drop for Writer {
    /// The writer never outlives its connection, even if the connection's task is dropped.
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}

/// Drains the outbox into the socket, a batch per wake-up, until the connection closes.
/// A batch is the queue's frames already encoded, written in pieces of about the write
/// chunk (a frame is never split between pieces, only by the kernel). Its buffer lives for
/// one batch: an idle connection holds none (buffers kept at their high-water mark cost
/// 18 MiB of RSS at 5,000 connections, 101 against 83 MiB, `bench appsync --ladder
/// --connections 5000`).
async fn write_frames<S: tokio::io::AsyncWrite>(
    mut socket: WriteHalf<S>,
    outbox: Arc<Outbox>,
    app: Arc<AppSync>,
) {
    let mut batch = Batch::default();
    let mut rate = ConnectionRate::new();
    loop {
        let close = outbox.next_batch(&mut batch).await;
        for piece in batch.pieces() {
            // A slow consumer's backlog is dropped, the rest of this batch too: what is left
            // to send is the close frame (next round, when `next_batch` returns at once).
            if outbox.dropping() {
                break;
            }
            if socket.write_all(piece).await.is_err() {
                return socket_gone(&outbox);
            }
        }
        let frames = batch.frames();
        // The batch's memory goes with it: an idle connection holds none.
        batch = Batch::default();
        outbox.written();
        if let Some(close) = close {
            let mut bytes = Vec::new();
            frame::push_close(&mut bytes, close.code, close.reason);
            let _ = socket.write_all(&bytes).await;
            // Our half of the TCP close: the client sees the end of the stream after the
            // close frame even if it never replies.
            let _ = socket.shutdown().await;
            return;
        }
        // While the server is busy, what arrives at a fast connection during a hold goes out
        // in the next write, not a write each (see `write_pacer`). A close waits for the
        // hold's end too: at most `write_pacer::MAX_HOLD`, well inside `FLUSH_GRACE`.
        let hold = app.write_pacer.wrote(&mut rate, frames);
        if !hold.is_zero() {
            tokio::time::sleep(hold).await;
        }
    }
}

/// The socket failed under the writer (the peer reset or left): publishers stop queueing
/// frames nobody will send, and the reader ends the connection (it sees the writer end).
fn socket_gone(outbox: &Outbox) {
    outbox.close(Close::NORMAL);
}

struct Connection {
    app: Arc<AppSync>,
    outbox: Arc<Outbox>,
    acked: bool,
    /// Live subscriptions by client id.
    subscriptions: HashMap<String, Registration>,
}

/// What to do after a frame.
enum Flow {
    Continue,
    Close(Close),
}

impl Connection {
    /// Reads frames until the connection should end, and says how it ends.
    async fn read<S: tokio::io::AsyncRead>(
        &mut self,
        stream: &mut Reader<S>,
        writer: &mut Writer,
    ) -> Close {
        let app = self.app.clone();
        let config = &app.config;
        let init_deadline = tokio::time::sleep(config.connection_init_timeout);
        let max_age = tokio::time::sleep(config.max_connection_duration);
        let mut keep_alive = tokio::time::interval(config.keep_alive_interval);
        keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shutdown = self.app.shutting_down();
        tokio::pin!(init_deadline, max_age, shutdown);
        let outbox = self.outbox.clone();
        let closed = outbox.wait_closed();
        tokio::pin!(closed);
        loop {
            tokio::select! {
                frame = stream.next() => {
                    let was_acked = self.acked;
                    let flow = match frame {
                        Some(Ok(Message::Text(text))) if text.len() > config.max_payload_bytes => {
                            self.error(None, ErrorObject::new(
                                "LimitExceededError",
                                format!("frame of {} bytes is larger than {} bytes", text.len(), config.max_payload_bytes),
                            ));
                            Flow::Close(CLOSE_TOO_BIG)
                        }
                        Some(Ok(Message::Text(text))) => self.on_text(text.as_str()),
                        Some(Ok(Message::Binary(_))) => {
                            self.error(None, ErrorObject::new(
                                "UnsupportedOperation",
                                "binary frames are not supported; send JSON text frames",
                            ));
                            Flow::Continue
                        }
                        // tungstenite queues the pong itself (`websocket::socket`).
                        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Flow::Continue,
                        Some(Ok(Message::Close(frame))) => {
                            return Close::reply_to(frame.map(|f| u16::from(f.code)));
                        }
                        None => return Close::NORMAL,
                        Some(Err(e)) => return self.on_socket_error(e),
                    };
                    if let Flow::Close(close) = flow {
                        return close;
                    }
                    if self.acked && !was_acked {
                        // The ack was followed by a ka; the next one is an interval away.
                        keep_alive.reset();
                    }
                }
                _ = keep_alive.tick(), if self.acked => self.send(ServerMessage::Ka),
                _ = &mut init_deadline, if !self.acked => return CLOSE_INIT_TIMEOUT,
                _ = &mut max_age => return CLOSE_MAX_AGE,
                _ = &mut shutdown => return Close::SHUTDOWN,
                close = &mut closed => return close,
                () = writer.finished() => return Close::NORMAL,
            }
        }
    }

    fn on_socket_error(&mut self, e: tungstenite::Error) -> Close {
        match e {
            tungstenite::Error::Capacity(_) => {
                let limit = self.app.config.max_request_bytes;
                self.error(
                    None,
                    ErrorObject::new(
                        "LimitExceededError",
                        format!("frame is larger than {limit} bytes"),
                    ),
                );
                CLOSE_TOO_BIG
            }
            tungstenite::Error::Protocol(_) => Close::PROTOCOL_ERROR,
            tungstenite::Error::Utf8(_) => Close::INVALID_TEXT,
            _ => Close::NORMAL,
        }
    }

    fn send(&self, msg: ServerMessage) {
        // A full or closing outbox ends the connection by itself.
        let _ = self.outbox.push(&msg.encode());
    }

    fn error(&self, id: Option<&str>, error: ErrorObject) {
        self.errors(id, vec![error]);
    }

    fn errors(&self, id: Option<&str>, errors: Vec<ErrorObject>) {
        self.send(ServerMessage::Error {
            id: id.map(str::to_owned),
            errors,
        });
    }

    fn on_text(&mut self, text: &str) -> Flow {
        // A frame with a key written twice would be read last-wins; one holding more values
        // than its length allows would cost many times its size once built.
        if let Some(refused) = json::refusal(text.as_bytes()) {
            self.error(
                None,
                ErrorObject::new("BadRequestException", format!("invalid frame: {refused}")),
            );
            return Flow::Continue;
        }
        match ClientMessage::decode(text) {
            Err(e) => {
                self.on_decode_error(&e);
                Flow::Continue
            }
            Ok(ClientMessage::ConnectionInit) => self.on_init(),
            // AppSync ignores everything a client sends before it has acknowledged it.
            Ok(ClientMessage::Start { .. } | ClientMessage::Stop { .. }) if !self.acked => {
                Flow::Continue
            }
            Ok(ClientMessage::Start { id, payload }) => {
                self.on_start(id, &payload);
                Flow::Continue
            }
            Ok(ClientMessage::Stop { id }) => {
                self.on_stop(&id);
                Flow::Continue
            }
        }
    }

    fn on_decode_error(&self, e: &DecodeError) {
        let error = match e {
            DecodeError::UnknownType(_) => ErrorObject::new("UnsupportedOperation", e.to_string()),
            DecodeError::NotJson(_) | DecodeError::NotObject | DecodeError::MissingType => {
                ErrorObject::new(
                    "UnsupportedOperation",
                    format!("unknown not supported through the realtime channel ({e})"),
                )
            }
            DecodeError::MissingId { .. }
            | DecodeError::InvalidId { .. }
            | DecodeError::BadPayload { .. } => {
                ErrorObject::new("BadRequestException", e.to_string())
            }
        };
        self.error(e.id(), error);
    }

    fn on_init(&mut self) -> Flow {
        if !self.acked {
            self.send(ServerMessage::ConnectionAck {
                connection_timeout_ms: self.app.config.connection_timeout_ms,
            });
            self.send(ServerMessage::Ka);
            self.acked = true;
        }
        Flow::Continue
    }

    fn on_start(&mut self, id: String, payload: &StartPayload) {
        if self.subscriptions.contains_key(&id) {
            let msg = format!("subscription id {id} is already in use on this connection");
            return self.error(Some(&id), ErrorObject::new("DuplicatedOperationError", msg));
        }
        let max = self.app.config.max_subscriptions_per_connection;
        if self.subscriptions.len() >= max {
            let msg = format!("Max number of {max} subscriptions reached");
            return self.error(
                Some(&id),
                ErrorObject::new("MaxSubscriptionsReachedError", msg),
            );
        }
        match self.subscribe(&id, payload) {
            Ok(registration) => {
                self.subscriptions.insert(id, registration);
            }
            Err(Refusal::WithId(errors)) => self.errors(Some(&id), errors),
            Err(Refusal::WithoutId(error)) => self.error(None, error),
        }
    }

    /// Authorises, validates and resolves a `start`, then registers it (queueing its ack).
    fn subscribe(&self, id: &str, payload: &StartPayload) -> Result<Registration, Refusal> {
        let app = &self.app;
        let auth = payload.authorization().ok_or_else(|| {
            Refusal::one(
                "UnauthorizedException",
                "Valid authorization header not provided.",
            )
        })?;
        let principal = app
            .auth
            .auth_object(auth, "/graphql", payload.data.as_bytes())
            .map_err(|f| Refusal::one(error_type(&f), f.to_string()))?;
        if let Some(refused) = json::refusal(payload.data.as_bytes()) {
            return Err(Refusal::one(
                "BadRequestException",
                format!("start payload data is not a GraphQL request: {refused}"),
            ));
        }
        let request = payload.request().map_err(|e| {
            Refusal::one(
                "BadRequestException",
                format!("start payload data is not a GraphQL request: {e}"),
            )
        })?;
        let op = prepare(
            &app.schema,
            &request.query,
            &request.variables,
            request.operation_name.as_deref(),
            app.config.api_limits,
        )
        .map_err(|errors| Refusal::WithId(errors.iter().map(graphql_error).collect()))?;
        if op.kind != OperationType::Subscription {
            return Err(Refusal::WithoutId(ErrorObject::new(
                "UnsupportedOperation",
                format!("{} not supported through the realtime channel", op.kind),
            )));
        }
        let root = &app.schema.subscription;
        let (Some(field), Some(def)) = (
            op.fields.first(),
            op.fields
                .first()
                .and_then(|f| app.schema.field(root, &f.name)),
        ) else {
            return Err(Refusal::one(
                "BadRequestException",
                "the subscription selects no subscription field",
            ));
        };
        if !app.schema.allows(root, def, directive(&principal)) {
            let msg = format!("Not Authorized to access {} on type {root}", field.name);
            return Err(Refusal::one("Unauthorized", msg));
        }
        let filter = subscription_filter(def, &field.args)
            .map_err(|refused| Refusal::one(refused.error_type, refused.message))?;
        let Some(selection) = field.selection.clone() else {
            return Err(Refusal::one(
                "BadRequestException",
                "the subscription field has no selection set",
            ));
        };
        let subscriber = Subscriber {
            outbox: self.outbox.clone(),
            id: id.to_owned(),
            key: field.key.clone(),
            filter,
            selection,
        };
        let ack = ServerMessage::StartAck { id: id.to_owned() };
        Ok(app.hub.register(&field.name, subscriber, || self.send(ack)))
    }

    fn on_stop(&mut self, id: &str) {
        match self.subscriptions.remove(id) {
            Some(registration) => {
                self.app.hub.remove(&registration);
                self.send(ServerMessage::Complete { id: id.to_owned() });
            }
            None => self.error(
                Some(id),
                ErrorObject::new(
                    "UnknownOperationError",
                    format!("no subscription with id {id} on this connection"),
                ),
            ),
        }
    }

    fn unregister_all(&mut self) {
        for (_, registration) in self.subscriptions.drain() {
            self.app.hub.remove(&registration);
        }
    }
}

/// Why a `start` was refused, and whether the error names the subscription.
enum Refusal {
    WithId(Vec<ErrorObject>),
    WithoutId(ErrorObject),
}

impl Refusal {
    fn one(error_type: &str, message: impl Into<String>) -> Self {
        Refusal::WithId(vec![ErrorObject::new(error_type, message)])
    }
}

/// A validation error as a real-time error object (message and locations, no type).
fn graphql_error(e: &GraphqlError) -> ErrorObject {
    let mut obj = ErrorObject::message_only(e.message.clone());
    obj.error_type = e.error_type.clone();
    if let Value::Object(json) = e.to_json()
        && let Some(locations) = json.get("locations")
    {
        obj.extra.insert("locations".to_owned(), locations.clone());
    }
    obj
}
