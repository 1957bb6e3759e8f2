//! An HTTP proxy in front of a real server that fails or delays requests on command, to test
//! how clients survive throttling, server errors and timeouts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Forward,
    /// Answer with this status and do not forward.
    Fail(u16),
    /// Forward after this long (past a client timeout, this is a timeout).
    Delay(Duration),
    /// Answer with this status and JSON body and do not forward (a DynamoDB answer that
    /// leaves items unprocessed, say).
    Answer(u16, String),
}

/// Decides per request, from its sequence number (from 0) and body.
pub type Policy = Arc<dyn Fn(usize, &[u8]) -> Fault + Send + Sync>;

struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    policy: Policy,
    seen: AtomicUsize,
    forwarded: AtomicUsize,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    path: &'static str,
    state: Arc<ProxyState>,
}

impl FaultProxy {
    /// A proxy of `POST /graphql` to `upstream` (a GraphQL URL).
    pub async fn start(upstream: &str, policy: Policy) -> FaultProxy {
        FaultProxy::start_at("/graphql", upstream, policy).await
    }

    /// A proxy of `POST /` to `upstream`: a DynamoDB endpoint (its JSON protocol posts to
    /// `/` with the operation in `x-amz-target`, which is passed on with every header).
    pub async fn start_dynamodb(upstream: &str, policy: Policy) -> FaultProxy {
        FaultProxy::start_at("/", upstream, policy).await
    }

    async fn start_at(path: &'static str, upstream: &str, policy: Policy) -> FaultProxy {
        let state = Arc::new(ProxyState {
            upstream: upstream.to_owned(),
            client: reqwest::Client::new(),
            policy,
            seen: AtomicUsize::new(0),
            forwarded: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route(path, post(forward))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        FaultProxy { addr, path, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }

    /// Requests received, and requests passed on to the upstream.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.state.seen.load(Ordering::SeqCst),
            self.state.forwarded.load(Ordering::SeqCst),
        )
    }
}

async fn forward(
    State(state): State<Arc<ProxyState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let n = state.seen.fetch_add(1, Ordering::SeqCst);
    match (state.policy)(n, &body) {
        Fault::Fail(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, "injected failure").into_response();
        }
        Fault::Answer(status, body) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, [("content-type", "application/json")], body).into_response();
        }
        Fault::Delay(d) => tokio::time::sleep(d).await,
        Fault::Forward => {}
    }
    state.forwarded.fetch_add(1, Ordering::SeqCst);
    let mut request = state.client.post(&state.upstream).body(body);
    // The client's `host` goes on as it came: a SigV4 signature covers it, so a rewritten
    // one would fail verification upstream.
    for (name, value) in &headers {
        if name != "content-length" {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(r) => {
            let status =
                StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let text = r.text().await.unwrap_or_default();
            (status, [("content-type", "application/json")], text).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
