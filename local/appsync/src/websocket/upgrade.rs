//! The HTTP/1.1 upgrade to a WebSocket (RFC 6455 §4.2), taken by hand so that the
//! connection gets the raw socket.
//!
//! It checks what axum's `WebSocketUpgrade` checks, with AppSync's error shape for a
//! request that is not an upgrade. The server speaks HTTP/1.1 only
//! (`quotecast_aws_local::http_server`), so HTTP/2's extended CONNECT never arrives.

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tungstenite::handshake::derive_accept_key;

use crate::http::error_response;

/// The upgraded socket a connection is served on.
pub type Socket = TokioIo<Upgraded>;

/// A request to upgrade to a WebSocket, checked.
pub struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
    protocols: Vec<HeaderValue>,
}

impl Upgrade {
    /// The subprotocols the client offered, in its order.
    pub fn requested_protocols(&self) -> impl Iterator<Item = &HeaderValue> {
        self.protocols.iter()
    }

    /// Answers 101, with `protocol` selected if the client offered it (RFC 6455 §4.1: a
    /// client fails a connection whose server selects a subprotocol it did not offer), and
    /// serves the socket with `serve` once the client has it. A client that leaves before
    /// the switch is only logged.
    pub fn accept<F, Fut>(self, protocol: &'static str, serve: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => serve(TokioIo::new(upgraded)).await,
                Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
            }
        });
        let accept = derive_accept_key(self.key.as_bytes());
        let mut response = Response::new(axum::body::Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        if self.protocols.iter().any(|p| p == protocol) {
            headers.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(protocol),
            );
        }
        response
    }
}

fn refused(status: StatusCode, message: &str) -> Response {
    error_response(status, "BadRequestException", message)
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        if parts.method != Method::GET {
            return Err(refused(
                StatusCode::METHOD_NOT_ALLOWED,
                "a WebSocket upgrade must be a GET request",
            ));
        }
        let headers = &parts.headers;
        if !has_token(headers, header::CONNECTION, "upgrade") {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                "the Connection header does not include 'upgrade'",
            ));
        }
        if !has_token(headers, header::UPGRADE, "websocket") {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                "the Upgrade header is not 'websocket'",
            ));
        }
        if headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v.as_bytes() != b"13")
        {
            // RFC 6455 §4.2.2: say which version the server speaks.
            let mut response = refused(
                StatusCode::BAD_REQUEST,
                "the Sec-WebSocket-Version header is not 13",
            );
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return Err(response);
        }
        let Some(key) = headers
            .get(header::SEC_WEBSOCKET_KEY)
            .filter(|key| is_nonce(key.as_bytes()))
            .cloned()
        else {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                "the Sec-WebSocket-Key header is not 16 bytes in base64",
            ));
        };
        let protocols = headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .filter_map(|p| HeaderValue::from_bytes(p.trim_ascii()).ok())
            .collect();
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            return Err(refused(
                StatusCode::UPGRADE_REQUIRED,
                "this connection cannot be upgraded",
            ));
        };
        Ok(Upgrade {
            key,
            on_upgrade,
            protocols,
        })
    }
}

/// Whether `key` is a base64-encoded 16-byte value, as a `Sec-WebSocket-Key` must be
/// (RFC 6455 §4.1).
fn is_nonce(key: &[u8]) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok_and(|nonce| nonce.len() == 16)
}

/// Whether header `name` lists `token` (case-insensitive, comma-separated).
fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    async fn extract(request: Request<()>) -> Result<Upgrade, Response> {
        let (mut parts, ()) = request.into_parts();
        Upgrade::from_request_parts(&mut parts, &()).await
    }

    fn upgrade_request(version: &str) -> axum::http::request::Builder {
        Request::get("/graphql")
            .header("connection", "keep-alive, Upgrade")
            .header("upgrade", "WebSocket")
            .header("sec-websocket-version", version)
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-protocol", "graphql-ws, header-abc")
    }

    #[tokio::test]
    async fn requests_that_are_not_upgrades_are_refused_with_a_reason() {
        let cases = [
            (
                Request::post("/graphql").body(()).unwrap(),
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                Request::get("/graphql").body(()).unwrap(),
                StatusCode::BAD_REQUEST,
            ),
            (
                upgrade_request("8").body(()).unwrap(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Request::get("/graphql")
                    .header("connection", "upgrade")
                    .header("upgrade", "websocket")
                    .header("sec-websocket-version", "13")
                    .body(())
                    .unwrap(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Request::get("/graphql")
                    .header("connection", "upgrade")
                    .header("upgrade", "websocket")
                    .header("sec-websocket-version", "13")
                    .header("sec-websocket-key", "c2hvcnQ=")
                    .body(())
                    .unwrap(),
                StatusCode::BAD_REQUEST,
            ),
            // Well-formed, but nothing to upgrade (no hyper connection behind it).
            (
                upgrade_request("13").body(()).unwrap(),
                StatusCode::UPGRADE_REQUIRED,
            ),
        ];
        for (request, status) in cases {
            let what = format!("{} {:?}", request.method(), request.headers());
            let Err(response) = extract(request).await else {
                panic!("{what} was accepted");
            };
            assert_eq!(response.status(), status, "{what}");
        }
    }

    #[tokio::test]
    async fn a_wrong_version_is_told_the_one_spoken() {
        let Err(response) = extract(upgrade_request("8").body(()).unwrap()).await else {
            panic!("version 8 was accepted");
        };
        assert_eq!(response.headers()[header::SEC_WEBSOCKET_VERSION], "13");
    }

    /// The 101 for RFC 6455's sample key, with and without `graphql-ws` among the offers.
    #[tokio::test]
    async fn the_switch_answers_the_key_and_selects_only_an_offered_protocol() {
        for (offered, selected) in [
            (vec!["graphql-ws", "header-abc"], Some("graphql-ws")),
            (vec!["header-abc"], None),
            (vec![], None),
        ] {
            let upgrade = Upgrade {
                key: HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
                on_upgrade: hyper::upgrade::on(Request::new(())),
                protocols: offered
                    .iter()
                    .map(|p| HeaderValue::from_static(p))
                    .collect(),
            };
            let response = upgrade.accept("graphql-ws", |_socket| async {});
            assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
            let headers = response.headers();
            assert_eq!(
                headers[header::SEC_WEBSOCKET_ACCEPT],
                "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
            );
            assert_eq!(headers[header::UPGRADE], "websocket");
            assert_eq!(headers[header::CONNECTION], "upgrade");
            assert_eq!(
                headers
                    .get(header::SEC_WEBSOCKET_PROTOCOL)
                    .map(|v| v.to_str().unwrap()),
                selected,
                "offered {offered:?}"
            );
        }
    }

    #[test]
    fn header_tokens_are_matched_whole_and_case_blind() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(has_token(&headers, header::CONNECTION, "upgrade"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgraded"));
        assert!(!has_token(&headers, header::CONNECTION, "upgrade"));
    }
}
