//! The client side of the real-time protocol as a sans-IO state machine.
//!
//! It owns no socket and no clock: the caller feeds it [`Input`]s (socket opened, frame
//! received, socket closed, time passed, the user's subscribe / unsubscribe) with the current
//! time, and carries out the [`Output`]s (open a socket, send a frame, close) it returns.
//! [`Client::next_deadline`] says when to call [`Client::tick`] next. The same machine serves
//! the browser dashboard (over web-sys) and native tools (over tokio), and is tested natively.
//!
//! What it does (`APPSYNC_SPEC.md` §A, §E.7): authenticates with the `header-` subprotocol,
//! waits for `connection_ack` with a timeout, watches `ka`/`data` silence against
//! `connectionTimeoutMs`, reconnects with full-jitter exponential backoff (capped, never giving
//! up while subscriptions are wanted), restarts every wanted subscription with the same id
//! after a reconnect, retries a `start` whose `start_ack` never came, stops retrying on
//! non-retryable errors, and reports its state so a user can see it.
//!
//! A late `start_ack` must never leave a subscription the server feeds and the client
//! ignores (a zombie): the first `start` may have been registered, only its ack slow. So a
//! retry sends `stop` for the id before the new `start` (the server handles a connection's
//! frames in order, so at most one registration survives), the `complete` or
//! `UnknownOperationError` answering that `stop` is consumed rather than read as a refusal,
//! and a `DuplicatedOperationError` for a wanted id means the server already has it live.

use serde_json::Value;

use super::auth::AuthObject;
use super::by_id::ById;
use super::error::ErrorObject;
use super::message::{ClientMessage, ServerMessage, StartPayload};
use super::{DEFAULT_CONNECTION_TIMEOUT_MS, SUBPROTOCOL};
use crate::graphql::GraphqlRequest;

/// AppSync's answer to a `start` whose id is live on the connection.
const DUPLICATED_OPERATION: &str = "DuplicatedOperationError";
/// AppSync's answer to a `stop` whose id is not.
const UNKNOWN_OPERATION: &str = "UnknownOperationError";

/// Timeouts and backoff, in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    pub realtime_url: String,
    /// The auth object sent in the handshake and in every `start`.
    pub auth: AuthObject,
    /// From opening the socket to `connection_ack` (Amplify: 15 s).
    pub init_timeout_ms: i64,
    /// From `start` to `start_ack` before the `start` is sent again.
    pub start_ack_timeout_ms: i64,
    pub backoff_base_ms: i64,
    pub backoff_max_ms: i64,
}

impl ClientConfig {
    pub fn new(realtime_url: &str, auth: AuthObject) -> Self {
        ClientConfig {
            realtime_url: realtime_url.to_owned(),
            auth,
            init_timeout_ms: 15_000,
            start_ack_timeout_ms: 15_000,
            backoff_base_ms: 500,
            backoff_max_ms: 30_000,
        }
    }
}

/// What the caller tells the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The user wants `id` to receive what `request` subscribes to.
    Subscribe { id: String, request: GraphqlRequest },
    /// The user no longer wants `id`.
    Unsubscribe { id: String },
    /// The socket asked for by [`Output::Open`] is open.
    Opened,
    /// A text frame arrived.
    Frame(String),
    /// The socket closed (or failed to open).
    Closed,
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Open a WebSocket to `url` offering `protocols`.
    Open {
        url: String,
        protocols: Vec<String>,
    },
    Send(String),
    /// Close the socket; a [`Input::Closed`] is not expected back.
    Close {
        code: u16,
        reason: String,
    },
    Event(Event),
}

/// What the application hears about.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    State(ConnectionState),
    /// A `data` frame's payload for subscription `id`.
    Data {
        id: String,
        payload: Value,
    },
    /// `id` is live (again): anything missed while it was not should be refetched.
    Acked {
        id: String,
    },
    /// `id` was refused for good; it is no longer wanted.
    SubscriptionFailed {
        id: String,
        errors: Vec<ErrorObject>,
    },
}

/// The state a user sees.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionState {
    /// Nothing wanted, no socket.
    Idle,
    Connecting,
    Live,
    /// Waiting until `at_ms` before connecting again.
    Reconnecting {
        at_ms: i64,
        attempt: u32,
    },
    /// Refused for a reason retrying cannot fix (bad API key...): the caller must change
    /// something and subscribe again.
    Failed {
        errors: Vec<ErrorObject>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Idle,
    Opening {
        deadline: i64,
    },
    AwaitingAck {
        deadline: i64,
    },
    Live {
        keepalive_deadline: i64,
        timeout_ms: i64,
    },
    Waiting {
        at_ms: i64,
    },
    Failed,
}

#[derive(Debug, Clone, PartialEq)]
struct Subscription {
    request: GraphqlRequest,
    /// When the unanswered `start` was sent, if one is.
    started_at: Option<i64>,
    acked: bool,
    /// Taken for live on a `DuplicatedOperationError`, not on its own `start_ack`: if a
    /// `stop` of ours then turns out to have removed it, it must be started again.
    live_by_duplicate: bool,
}

/// The state machine.
#[derive(Debug, Clone)]
pub struct Client {
    config: ClientConfig,
    phase: Phase,
    state: ConnectionState,
    wanted: ById<Subscription>,
    /// `stop`s sent on this connection and not yet answered, one entry per `stop`: their
    /// `complete` or `UnknownOperationError` is the answer, not news about a subscription.
    stops_unanswered: Vec<String>,
    attempt: u32,
    rng: u64,
}

impl Client {
    /// `seed` drives the backoff jitter (any value; tests pass a fixed one).
    pub fn new(config: ClientConfig, seed: u64) -> Self {
        Client {
            config,
            phase: Phase::Idle,
            state: ConnectionState::Idle,
            wanted: ById::default(),
            stops_unanswered: Vec::new(),
            attempt: 0,
            rng: seed | 1,
        }
    }

    pub fn state(&self) -> &ConnectionState {
        &self.state
    }

    /// Ids of the wanted subscriptions, and whether each is acknowledged.
    pub fn subscriptions(&self) -> impl Iterator<Item = (&str, bool)> {
        self.wanted.iter().map(|(id, s)| (id.as_str(), s.acked))
    }

    /// When [`Client::tick`] should be called next.
    pub fn next_deadline(&self) -> Option<i64> {
        let phase = match self.phase {
            Phase::Opening { deadline } | Phase::AwaitingAck { deadline } => Some(deadline),
            Phase::Live {
                keepalive_deadline, ..
            } => Some(keepalive_deadline),
            Phase::Waiting { at_ms } => Some(at_ms),
            Phase::Idle | Phase::Failed => None,
        };
        let starts = match self.phase {
            Phase::Live { .. } => self
                .wanted
                .values()
                .filter_map(|s| s.started_at)
                .map(|t| t + self.config.start_ack_timeout_ms)
                .min(),
            _ => None,
        };
        match (phase, starts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Feeds one input at time `now_ms`.
    pub fn handle(&mut self, now_ms: i64, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Subscribe { id, request } => self.subscribe(now_ms, id, request, &mut out),
            Input::Unsubscribe { id } => self.unsubscribe(&id, &mut out),
            Input::Opened => {
                if let Phase::Opening { deadline } = self.phase {
                    self.phase = Phase::AwaitingAck { deadline };
                    out.push(Output::Send(ClientMessage::ConnectionInit.encode()));
                }
            }
            Input::Frame(text) => self.frame(now_ms, &text, &mut out),
            Input::Closed => self.lost(now_ms, &mut out),
        }
        out
    }

    /// Acts on deadlines that have passed by `now_ms`.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Output> {
        let mut out = Vec::new();
        match self.phase {
            Phase::Opening { deadline } | Phase::AwaitingAck { deadline } if now_ms >= deadline => {
                out.push(Output::Close {
                    code: 3008,
                    reason: "connection_ack timeout".to_owned(),
                });
                self.lost(now_ms, &mut out);
            }
            Phase::Live {
                keepalive_deadline, ..
            } if now_ms >= keepalive_deadline => {
                out.push(Output::Close {
                    code: 3008,
                    reason: "keep-alive timeout".to_owned(),
                });
                self.lost(now_ms, &mut out);
            }
            Phase::Live { .. } => {
                let timeout = self.config.start_ack_timeout_ms;
                let late: Vec<String> = self
                    .wanted
                    .iter()
                    .filter(|(_, s)| s.started_at.is_some_and(|t| now_ms >= t + timeout))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in late {
                    // The unanswered `start` may be registered and only its ack late: stop
                    // it first, so the new `start` is the only one the server keeps.
                    self.send_stop(&id, &mut out);
                    self.send_start(now_ms, &id, &mut out);
                }
            }
            Phase::Waiting { at_ms } if now_ms >= at_ms => self.open(now_ms, &mut out),
            _ => {}
        }
        out
    }

    fn set_state(&mut self, state: ConnectionState, out: &mut Vec<Output>) {
        if self.state != state {
            self.state = state.clone();
            out.push(Output::Event(Event::State(state)));
        }
    }

    fn open(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        self.phase = Phase::Opening {
            deadline: now_ms + self.config.init_timeout_ms,
        };
        self.stops_unanswered.clear();
        for s in self.wanted.values_mut() {
            s.acked = false;
            s.started_at = None;
        }
        out.push(Output::Open {
            url: self.config.realtime_url.clone(),
            protocols: vec![SUBPROTOCOL.to_owned(), self.config.auth.to_subprotocol()],
        });
        self.set_state(ConnectionState::Connecting, out);
    }

    fn subscribe(
        &mut self,
        now_ms: i64,
        id: String,
        request: GraphqlRequest,
        out: &mut Vec<Output>,
    ) {
        self.wanted.insert(
            id.clone(),
            Subscription {
                request,
                started_at: None,
                acked: false,
                live_by_duplicate: false,
            },
        );
        match self.phase {
            Phase::Idle | Phase::Failed => {
                self.attempt = 0;
                self.open(now_ms, out);
            }
            Phase::Live { .. } => self.send_start(now_ms, &id, out),
            // Sent once the connection is acknowledged.
            _ => {}
        }
    }

    fn unsubscribe(&mut self, id: &str, out: &mut Vec<Output>) {
        let Some(sub) = self.wanted.remove(id) else {
            return;
        };
        if matches!(self.phase, Phase::Live { .. }) && (sub.acked || sub.started_at.is_some()) {
            self.send_stop(id, out);
        }
    }

    fn send_stop(&mut self, id: &str, out: &mut Vec<Output>) {
        self.stops_unanswered.push(id.to_owned());
        out.push(Output::Send(
            ClientMessage::Stop { id: id.to_owned() }.encode(),
        ));
    }

    /// Consumes one unanswered `stop` for `id`; false when none was.
    fn stop_answered(&mut self, id: &str) -> bool {
        let Some(i) = self.stops_unanswered.iter().position(|s| s == id) else {
            return false;
        };
        self.stops_unanswered.swap_remove(i);
        true
    }

    fn send_start(&mut self, now_ms: i64, id: &str, out: &mut Vec<Output>) {
        let Some(sub) = self.wanted.get_mut(id) else {
            return;
        };
        sub.started_at = Some(now_ms);
        sub.acked = false;
        sub.live_by_duplicate = false;
        let payload = StartPayload::new(&sub.request, self.config.auth.clone());
        out.push(Output::Send(
            ClientMessage::Start {
                id: id.to_owned(),
                payload,
            }
            .encode(),
        ));
    }

    fn frame(&mut self, now_ms: i64, text: &str, out: &mut Vec<Output>) {
        let Ok(msg) = ServerMessage::decode(text) else {
            return;
        };
        if let Phase::Live {
            keepalive_deadline,
            timeout_ms,
        } = &mut self.phase
        {
            // Any sign of life from the server counts, not only `ka` (Amplify does the same).
            *keepalive_deadline = now_ms + *timeout_ms;
        }
        match msg {
            ServerMessage::ConnectionAck {
                connection_timeout_ms,
            } => {
                if !matches!(self.phase, Phase::AwaitingAck { .. }) {
                    return;
                }
                let timeout_ms = i64::try_from(connection_timeout_ms)
                    .unwrap_or(DEFAULT_CONNECTION_TIMEOUT_MS as i64);
                self.phase = Phase::Live {
                    keepalive_deadline: now_ms + timeout_ms,
                    timeout_ms,
                };
                self.attempt = 0;
                self.set_state(ConnectionState::Live, out);
                let ids: Vec<String> = self.wanted.keys().cloned().collect();
                for id in ids {
                    self.send_start(now_ms, &id, out);
                }
            }
            ServerMessage::StartAck { id } => {
                if let Some(sub) = self.wanted.get_mut(&id) {
                    sub.acked = true;
                    sub.started_at = None;
                    sub.live_by_duplicate = false;
                    out.push(Output::Event(Event::Acked { id }));
                }
            }
            ServerMessage::Data { id, payload } => {
                if self.wanted.contains_key(&id) {
                    out.push(Output::Event(Event::Data { id, payload }));
                }
            }
            ServerMessage::Error {
                id: Some(id),
                errors,
            } => self.subscription_error(id, errors, out),
            ServerMessage::Error { id: None, errors }
            | ServerMessage::ConnectionError { errors } => {
                if errors.iter().any(|e| !e.is_retryable()) {
                    self.phase = Phase::Failed;
                    out.push(Output::Close {
                        code: 1000,
                        reason: "non-retryable error".to_owned(),
                    });
                    self.set_state(ConnectionState::Failed { errors }, out);
                }
            }
            ServerMessage::Complete { id } => {
                // The answer to our `stop`; a `complete` we did not ask for (the server ended
                // the subscription) changes nothing we can act on. A `stop` that completes
                // after the server called our restart a duplicate removed the only
                // registration: start again.
                if self.stop_answered(&id)
                    && self.wanted.get(&id).is_some_and(|s| s.live_by_duplicate)
                {
                    self.send_start(now_ms, &id, out);
                }
            }
            ServerMessage::Ka => {}
        }
    }

    fn subscription_error(&mut self, id: String, errors: Vec<ErrorObject>, out: &mut Vec<Output>) {
        let only = |t: &str| {
            !errors.is_empty() && errors.iter().all(|e| e.error_type.as_deref() == Some(t))
        };
        // Our `stop` found nothing to stop (the `start` it preceded was never registered):
        // the answer to the `stop`, not a refusal of the subscription.
        if only(UNKNOWN_OPERATION) && self.stop_answered(&id) {
            return;
        }
        if only(DUPLICATED_OPERATION) {
            // The server already has `id` live on this connection (an earlier `start` of ours
            // whose ack is late or was overtaken): it is live, and dropping it would leave the
            // server feeding a subscription we ignore.
            if let Some(sub) = self.wanted.get_mut(&id) {
                sub.started_at = None;
                sub.live_by_duplicate = true;
                if !sub.acked {
                    sub.acked = true;
                    out.push(Output::Event(Event::Acked { id }));
                }
            }
            return;
        }
        if self.wanted.remove(&id).is_some() {
            out.push(Output::Event(Event::SubscriptionFailed { id, errors }));
        }
    }

    /// The connection is gone: wait and reconnect while subscriptions are wanted.
    fn lost(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        if matches!(self.phase, Phase::Failed | Phase::Idle) {
            return;
        }
        if self.wanted.is_empty() {
            self.phase = Phase::Idle;
            self.set_state(ConnectionState::Idle, out);
            return;
        }
        let cap = self
            .config
            .backoff_base_ms
            .saturating_mul(1i64 << self.attempt.min(20))
            .min(self.config.backoff_max_ms);
        let wait = (self.next_random() % (cap.max(1) as u64 + 1)) as i64;
        self.attempt += 1;
        let at_ms = now_ms + wait;
        self.phase = Phase::Waiting { at_ms };
        for s in self.wanted.values_mut() {
            s.acked = false;
            s.started_at = None;
        }
        self.set_state(
            ConnectionState::Reconnecting {
                at_ms,
                attempt: self.attempt,
            },
            out,
        );
    }

    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
}
