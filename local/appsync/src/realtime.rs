//! The WebSocket upgrade of the real-time endpoint: connection limit, the auth object from
//! whichever transport the client used (§A.2), and the `graphql-ws` subprotocol.
//!
//! Missing or unreadable credentials refuse the upgrade with HTTP 401, as AppSync does.
//! Readable but wrong ones get AppSync's `connection_error` (§A.2), but at once, on a socket
//! that takes no connection permit and is closed within a second (`connection::refuse`):
//! AppSync answers `connection_init`, so a wrong caller used to hold a permit until it sent
//! one or the 30 s init timeout ran out — 50 such sockets that never sent it locked every
//! good client out of a `--max-connections 50` server with 429. The typed frame is kept
//! (rather than a 401 at the upgrade) because a browser cannot see an upgrade's status:
//! Amplify and our dashboard would retry a failed open, but stop at a non-retryable
//! `connection_error` and can tell the user to check the API key.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use quotecast_shared::realtime::auth::HEADER_SUBPROTOCOL_PREFIX;
use quotecast_shared::realtime::{AuthObject, SUBPROTOCOL};
use tungstenite::protocol::WebSocketConfig;

use super::auth::{AuthFailure, error_type};
use super::connection;
use super::http::error_response;
use super::state::AppSync;
use super::websocket::upgrade::Upgrade;

/// Path whose signature authenticates a real-time connection (§A.3).
pub const CONNECT_PATH: &str = "/graphql/connect";

/// The headers of the upgrade request that can form an auth object (transport 3).
const AUTH_HEADERS: [&str; 8] = [
    "host",
    "x-api-key",
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "accept",
    "content-encoding",
    "content-type",
];

/// Finds the auth object in the subprotocols, the query string, or plain headers.
fn auth_object(
    ws: &Upgrade,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<AuthObject, String> {
    let offered: Vec<&str> = ws
        .requested_protocols()
        .filter_map(|p| p.to_str().ok())
        .collect();
    if offered
        .iter()
        .any(|p| p.starts_with(HEADER_SUBPROTOCOL_PREFIX))
    {
        return AuthObject::from_subprotocols(offered).map_err(|e| e.to_string());
    }
    if let Some(q) = query.filter(|q| q.split('&').any(|p| p.starts_with("header="))) {
        return AuthObject::from_query(q).map_err(|e| e.to_string());
    }
    let mut auth = AuthObject::new();
    for name in AUTH_HEADERS {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            auth = auth.with(name, v);
        }
    }
    if auth.get("x-api-key").is_none() && auth.get("authorization").is_none() {
        return Err(
            "no credentials in the header- subprotocol, the query string or the headers".to_owned(),
        );
    }
    Ok(auth)
}

/// A refused upgrade also closes its connection: a client that wanted a WebSocket has no
/// further HTTP request to send, and an idle keep-alive connection would hold an HTTP
/// connection slot until the header read timeout.
fn refuse(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

pub async fn upgrade(
    State(app): State<Arc<AppSync>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ws: Upgrade,
) -> Response {
    let auth = match auth_object(&ws, query.as_deref(), &headers) {
        Ok(auth) => auth,
        Err(detail) => {
            tracing::debug!(%detail, "real-time upgrade refused");
            return refuse(error_response(
                StatusCode::UNAUTHORIZED,
                "UnauthorizedException",
                &format!("Valid authorization header not provided. ({detail})"),
            ));
        }
    };
    if let Err(failure) = app.auth.auth_object(&auth, CONNECT_PATH, b"{}") {
        tracing::debug!(%failure, "real-time connection refused");
        if failure == AuthFailure::Missing {
            // An auth object without a key or signature: no credentials, as AppSync sees it.
            return refuse(error_response(
                StatusCode::UNAUTHORIZED,
                error_type(&failure),
                &failure.to_string(),
            ));
        }
        let config = socket_config(&app, 0);
        return ws.accept(SUBPROTOCOL, move |socket| {
            connection::refuse(socket, failure, config)
        });
    }
    // Only an authenticated caller may take one of the limited connection slots.
    let Ok(permit) = app.connections.clone().try_acquire_owned() else {
        return refuse(error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededError",
            "Connection limit reached; try again later.",
        ));
    };
    // Browsers fail the connection unless one offered subprotocol is selected; never echo
    // the `header-` entry.
    let config = socket_config(&app, app.config.max_request_bytes);
    ws.accept(SUBPROTOCOL, move |socket| {
        connection::run(socket, config, app, permit)
    })
}

/// What the socket's reader accepts: frames up to `max_bytes`, read through a small buffer.
///
/// Frames up to the payload limit are answered by the handler; the socket's own cap is
/// higher so that an oversized frame is read whole and refused with an error frame, rather
/// than cut off mid-frame (which resets the TCP connection). A refused socket reads nothing
/// it answers, so its cap is the buffer's.
///
/// The read buffer is small (tungstenite's is 128 KiB, allocated per connection): AppSync
/// frames are almost all under 1 KiB, and a larger frame still arrives whole, in a buffer
/// grown to its declared length, up to the cap. The server's frames are written by the
/// connection's writer (`websocket::frame`), not by tungstenite.
fn socket_config(app: &AppSync, max_bytes: usize) -> WebSocketConfig {
    let buffer = app.config.websocket_read_buffer_bytes;
    WebSocketConfig::default()
        .read_buffer_size(buffer)
        .write_buffer_size(buffer)
        .max_message_size(Some(max_bytes.max(buffer)))
        .max_frame_size(Some(max_bytes.max(buffer)))
}
