//! The AppSync GraphQL real-time protocol (`graphql-ws` subprotocol, AppSync dialect).
//!
//! Frames are defined once here and used by the local server, the dashboard, the load
//! generator and the tests. Decoding is tolerant where real peers differ (`errors` as an
//! object or an array, `connectionTimeoutMs` at either level); encoding is strict and always
//! writes the form AppSync documents. See `APPSYNC_SPEC.md` §A.

pub mod auth;
mod by_id;
pub mod client;
pub mod error;
pub mod message;
pub mod url;

pub use auth::{AuthError, AuthMode, AuthObject};
pub use error::ErrorObject;
pub use message::{ClientMessage, DecodeError, ServerMessage, StartPayload};

/// The subprotocol every AppSync real-time connection negotiates.
pub const SUBPROTOCOL: &str = "graphql-ws";

/// Keep-alive deadline AppSync announces in `connection_ack`, and the client's fallback.
pub const DEFAULT_CONNECTION_TIMEOUT_MS: u64 = 300_000;

/// Largest `data` payload AppSync delivers (240 KB).
pub const MAX_PAYLOAD_BYTES: usize = 240 * 1024;
