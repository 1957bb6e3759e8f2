//! The frames of the real-time protocol (§A.4), client → server and server → client.
//!
//! Each frame is one JSON object in a text frame. Decoding reads the `type` first, so an
//! unknown dialect (`subscribe` from `graphql-transport-ws` clients) is told apart from
//! garbage and can be answered with AppSync's `UnsupportedOperation`. Encoding writes only the
//! documented shapes.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::DEFAULT_CONNECTION_TIMEOUT_MS;
use super::auth::AuthObject;
use super::error::{ErrorObject, errors_one_or_many};
use crate::graphql::GraphqlRequest;

/// Longest subscription id accepted (the Events API bound, applied to GraphQL too).
pub const MAX_ID_LEN: usize = 128;

/// Why a frame could not be read. Carries the frame's `id` when one was readable, so the
/// error can be addressed to the right subscription.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame is not valid JSON: {0}")]
    NotJson(String),
    #[error("frame is not a JSON object")]
    NotObject,
    #[error("frame has no `type`")]
    MissingType,
    #[error("{0} not supported through the realtime channel")]
    UnknownType(String),
    #[error("`{kind}` frame has no `id`")]
    MissingId { kind: &'static str },
    #[error("subscription id {id:?} is invalid: 1 to 128 characters of a-z, A-Z, 0-9, -, _ and +")]
    InvalidId { id: String },
    #[error("`{kind}` frame has an invalid payload: {reason}")]
    BadPayload {
        kind: &'static str,
        id: Option<String>,
        reason: String,
    },
}

impl DecodeError {
    /// The id of the frame the error is about, if it had a usable one.
    pub fn id(&self) -> Option<&str> {
        match self {
            DecodeError::BadPayload { id, .. } => id.as_deref(),
            _ => None,
        }
    }
}

/// A frame a client sends.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    ConnectionInit,
    Start { id: String, payload: StartPayload },
    Stop { id: String },
}

/// The payload of `start`: the GraphQL request as JSON *text*, and the auth object.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StartPayload {
    pub data: String,
    #[serde(default)]
    pub extensions: Option<StartExtensions>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StartExtensions {
    #[serde(default)]
    pub authorization: Option<AuthObject>,
}

impl StartPayload {
    pub fn new(request: &GraphqlRequest, authorization: AuthObject) -> Self {
        StartPayload {
            data: request.to_json(),
            extensions: Some(StartExtensions {
                authorization: Some(authorization),
            }),
        }
    }

    /// The decoded `data`: `{"query", "variables", "operationName"?}`.
    pub fn request(&self) -> Result<GraphqlRequest, serde_json::Error> {
        serde_json::from_str(&self.data)
    }

    pub fn authorization(&self) -> Option<&AuthObject> {
        self.extensions.as_ref()?.authorization.as_ref()
    }
}

/// Checks a subscription id against `^[a-zA-Z0-9-_+]{1,128}$`.
pub fn is_valid_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+'))
}

/// Any frame before its type is known: its `type`, its `id` if it is a string, and the
/// remaining fields.
struct RawFrame {
    kind: String,
    id: Option<String>,
    fields: Map<String, Value>,
}

fn split_frame(text: &str) -> Result<RawFrame, DecodeError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let Value::Object(mut obj) = value else {
        return Err(DecodeError::NotObject);
    };
    let kind = match obj.remove("type") {
        Some(Value::String(t)) => t,
        _ => return Err(DecodeError::MissingType),
    };
    let id = match obj.get("id") {
        Some(Value::String(id)) => Some(id.clone()),
        _ => None,
    };
    Ok(RawFrame {
        kind,
        id,
        fields: obj,
    })
}

fn require_id(kind: &'static str, id: Option<String>) -> Result<String, DecodeError> {
    let id = id.ok_or(DecodeError::MissingId { kind })?;
    if is_valid_id(&id) {
        Ok(id)
    } else {
        Err(DecodeError::InvalidId { id })
    }
}

impl ClientMessage {
    /// Reads a client frame.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        let RawFrame {
            kind,
            id,
            fields: mut obj,
        } = split_frame(text)?;
        match kind.as_str() {
            "connection_init" => Ok(ClientMessage::ConnectionInit),
            "stop" => Ok(ClientMessage::Stop {
                id: require_id("stop", id)?,
            }),
            "start" => {
                let id = require_id("start", id)?;
                let payload = obj
                    .remove("payload")
                    .ok_or_else(|| DecodeError::BadPayload {
                        kind: "start",
                        id: Some(id.clone()),
                        reason: "missing".to_owned(),
                    })?;
                let mut payload: StartPayload =
                    serde_json::from_value(payload).map_err(|e| DecodeError::BadPayload {
                        kind: "start",
                        id: Some(id.clone()),
                        reason: e.to_string(),
                    })?;
                // `extensions: {}` says no more than no extensions; one form keeps
                // decode → encode → decode stable (found by fuzzing).
                if payload.authorization().is_none() {
                    payload.extensions = None;
                }
                Ok(ClientMessage::Start { id, payload })
            }
            _ => Err(DecodeError::UnknownType(kind)),
        }
    }

    /// Writes the frame as AppSync documents it.
    pub fn encode(&self) -> String {
        match self {
            ClientMessage::ConnectionInit => r#"{"type":"connection_init"}"#.to_owned(),
            ClientMessage::Stop { id } => json!({"type": "stop", "id": id}).to_string(),
            ClientMessage::Start { id, payload } => {
                let mut p = json!({"data": payload.data});
                if let Some(auth) = payload.authorization() {
                    p["extensions"] = json!({"authorization": auth});
                }
                json!({"type": "start", "id": id, "payload": p}).to_string()
            }
        }
    }
}

/// A frame the server sends.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    ConnectionAck {
        connection_timeout_ms: u64,
    },
    Ka,
    StartAck {
        id: String,
    },
    /// `payload` is a GraphQL response: `{"data": {...}}`.
    Data {
        id: String,
        payload: Value,
    },
    Error {
        id: Option<String>,
        errors: Vec<ErrorObject>,
    },
    Complete {
        id: String,
    },
    ConnectionError {
        errors: Vec<ErrorObject>,
    },
}

#[derive(Deserialize)]
struct ErrorsPayload {
    #[serde(default, deserialize_with = "errors_one_or_many")]
    errors: Vec<ErrorObject>,
}

fn errors_of(
    kind: &'static str,
    id: Option<String>,
    obj: &mut Map<String, Value>,
) -> Result<Vec<ErrorObject>, DecodeError> {
    // Events-API style frames carry `errors` at the top level; GraphQL ones under `payload`.
    let source = match obj.remove("payload") {
        Some(p @ Value::Object(_)) => p,
        _ => Value::Object(std::mem::take(obj)),
    };
    serde_json::from_value::<ErrorsPayload>(source)
        .map(|p| p.errors)
        .map_err(|e| DecodeError::BadPayload {
            kind,
            id,
            reason: e.to_string(),
        })
}

impl ServerMessage {
    /// Reads a server frame, tolerating the variants real peers send.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        let RawFrame {
            kind,
            id,
            fields: mut obj,
        } = split_frame(text)?;
        match kind.as_str() {
            "connection_ack" => {
                let timeout = obj
                    .get("payload")
                    .and_then(|p| p.get("connectionTimeoutMs"))
                    .or_else(|| obj.get("connectionTimeoutMs"))
                    .and_then(Value::as_u64)
                    .unwrap_or(DEFAULT_CONNECTION_TIMEOUT_MS);
                Ok(ServerMessage::ConnectionAck {
                    connection_timeout_ms: timeout,
                })
            }
            "ka" => Ok(ServerMessage::Ka),
            "start_ack" => Ok(ServerMessage::StartAck {
                id: id.ok_or(DecodeError::MissingId { kind: "start_ack" })?,
            }),
            "complete" => Ok(ServerMessage::Complete {
                id: id.ok_or(DecodeError::MissingId { kind: "complete" })?,
            }),
            "data" => {
                let id = id.ok_or(DecodeError::MissingId { kind: "data" })?;
                let payload = obj
                    .remove("payload")
                    .ok_or_else(|| DecodeError::BadPayload {
                        kind: "data",
                        id: Some(id.clone()),
                        reason: "missing".to_owned(),
                    })?;
                Ok(ServerMessage::Data { id, payload })
            }
            "error" => {
                let errors = errors_of("error", id.clone(), &mut obj)?;
                Ok(ServerMessage::Error { id, errors })
            }
            "connection_error" => Ok(ServerMessage::ConnectionError {
                errors: errors_of("connection_error", None, &mut obj)?,
            }),
            _ => Err(DecodeError::UnknownType(kind)),
        }
    }

    /// Writes the frame as AppSync documents it (`errors` always an array).
    pub fn encode(&self) -> String {
        match self {
            ServerMessage::ConnectionAck {
                connection_timeout_ms,
            } => json!({"type": "connection_ack", "payload": {"connectionTimeoutMs": connection_timeout_ms}})
                .to_string(),
            ServerMessage::Ka => r#"{"type":"ka"}"#.to_owned(),
            ServerMessage::StartAck { id } => json!({"type": "start_ack", "id": id}).to_string(),
            ServerMessage::Complete { id } => json!({"type": "complete", "id": id}).to_string(),
            ServerMessage::Data { id, payload } => encode_data_frame(id, &payload.to_string()),
            ServerMessage::Error { id: Some(id), errors } => {
                json!({"type": "error", "id": id, "payload": {"errors": errors}}).to_string()
            }
            ServerMessage::Error { id: None, errors } => {
                json!({"type": "error", "payload": {"errors": errors}}).to_string()
            }
            ServerMessage::ConnectionError { errors } => {
                json!({"type": "connection_error", "payload": {"errors": errors}}).to_string()
            }
        }
    }

    /// The errors an `error` or `connection_error` frame carries.
    pub fn errors(&self) -> &[ErrorObject] {
        match self {
            ServerMessage::Error { errors, .. } | ServerMessage::ConnectionError { errors } => {
                errors
            }
            _ => &[],
        }
    }
}

/// A `data` frame around an already serialised GraphQL response, so a fan-out serialises the
/// published payload once and only writes the subscription id per subscriber.
pub fn encode_data_frame(id: &str, payload_json: &str) -> String {
    data_frame_with_prefix(&data_frame_prefix(id), payload_json)
}

/// What comes before the payload in every `data` frame of subscription `id`:
/// `{"type":"data","id":"<id>","payload":`. A fan-out makes it once per subscription and
/// shares the payload, so a delivery costs no serialisation ([`data_frame_with_prefix`]).
pub fn data_frame_prefix(id: &str) -> String {
    let id = serde_json::to_string(id).unwrap_or_default();
    let mut prefix = String::with_capacity(id.len() + 30);
    prefix.push_str(r#"{"type":"data","id":"#);
    prefix.push_str(&id);
    prefix.push_str(r#","payload":"#);
    prefix
}

/// What ends every `data` frame, after its payload.
pub const DATA_FRAME_END: &str = "}";

/// A `data` frame from its subscription's [`data_frame_prefix`] and a serialised payload:
/// `prefix`, `payload_json`, [`DATA_FRAME_END`]. A server that writes its own WebSocket
/// frames can write the three parts in turn and never build this string.
pub fn data_frame_with_prefix(prefix: &str, payload_json: &str) -> String {
    let mut frame = String::with_capacity(prefix.len() + payload_json.len() + DATA_FRAME_END.len());
    frame.push_str(prefix);
    frame.push_str(payload_json);
    frame.push_str(DATA_FRAME_END);
    frame
}
