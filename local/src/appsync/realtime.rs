//! The WebSocket upgrade of the real-time endpoint: connection limit, the auth object from
//! whichever transport the client used (§A.2), and the `graphql-ws` subprotocol.
//!
//! Missing or unreadable credentials refuse the upgrade with HTTP 401, as AppSync does;
//! readable but wrong ones are answered with `connection_error` after `connection_init`.

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use quotecast_shared::realtime::auth::HEADER_SUBPROTOCOL_PREFIX;
use quotecast_shared::realtime::{AuthObject, SUBPROTOCOL};

use super::connection;
use super::http::error_response;
use super::server::AppSync;

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
    ws: &WebSocketUpgrade,
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

pub async fn upgrade(
    State(app): State<Arc<AppSync>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    mut ws: WebSocketUpgrade,
) -> Response {
    let Ok(permit) = app.connections.clone().try_acquire_owned() else {
        return error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededError",
            "Connection limit reached; try again later.",
        );
    };
    let auth = match auth_object(&ws, query.as_deref(), &headers) {
        Ok(auth) => auth,
        Err(detail) => {
            tracing::debug!(%detail, "real-time upgrade refused");
            return error_response(
                StatusCode::UNAUTHORIZED,
                "UnauthorizedException",
                &format!("Valid authorization header not provided. ({detail})"),
            );
        }
    };
    let principal = app.auth.auth_object(&auth, CONNECT_PATH, b"{}");
    // Browsers fail the connection unless one offered subprotocol is selected; never echo
    // the `header-` entry.
    ws.set_selected_protocol(HeaderValue::from_static(SUBPROTOCOL));
    // Frames up to the payload limit are answered by the handler; the socket's own cap is
    // higher so that an oversized frame is read whole and refused with an error frame,
    // rather than cut off mid-frame (which resets the TCP connection).
    ws.max_message_size(app.config.max_request_bytes)
        .max_frame_size(app.config.max_request_bytes)
        .on_upgrade(move |socket| connection::run(socket, app, principal, permit))
}
