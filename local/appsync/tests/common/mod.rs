//! A real server on a free loopback port, and real clients for it.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use quotecast_appsync::server::AppSync;
use quotecast_appsync::{Config, Server};
use quotecast_appsync_client::{GraphqlHttp, RealtimeClient, Transport};
use quotecast_shared::Channel;
use quotecast_shared::realtime::{AuthObject, ServerMessage};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const API_KEY: &str = "da2-testkey0000000000000000";
pub const ACCESS_KEY_ID: &str = "AKIDQUOTECASTTEST";
/// The test IAM key as a writer's [`Auth`].
pub fn iam_writer() -> quotecast_consumer::appsync::Auth {
    quotecast_consumer::appsync::Auth::Iam {
        credentials: aws_credential_types::Credentials::new(
            ACCESS_KEY_ID,
            SECRET,
            None,
            None,
            "test",
        ),
        region: "us-east-1".to_owned(),
    }
}

pub const SECRET: &str = "quotecast/test/secret+key";

pub fn config() -> Config {
    Config::default()
        .with_api_key(API_KEY)
        .with_iam_credential(ACCESS_KEY_ID, SECRET)
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub app: Arc<AppSync>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

pub async fn start(config: Config) -> TestServer {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let app = server.app().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        app,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestServer {
    pub fn graphql_url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    pub fn realtime_url(&self) -> String {
        format!("ws://{}/graphql/realtime", self.addr)
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn auth(&self) -> AuthObject {
        AuthObject::api_key(&self.host(), API_KEY)
    }

    /// GraphQL over HTTP as a writer: SigV4 with the test IAM key, as the consumer signs
    /// (the public API key may not publish).
    pub fn http(&self) -> GraphqlHttp {
        GraphqlHttp::with_auth(&self.graphql_url(), iam_writer())
    }

    /// GraphQL over HTTP with the public API key: a reader.
    pub fn reader(&self) -> GraphqlHttp {
        GraphqlHttp::new(&self.graphql_url(), API_KEY)
    }

    /// A connected, acknowledged client using the subprotocol transport.
    pub async fn client(&self) -> RealtimeClient {
        let mut c =
            RealtimeClient::connect(&self.realtime_url(), &self.auth(), Transport::Subprotocol)
                .await
                .unwrap();
        c.init().await.unwrap();
        c
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// Asserts the server still serves: a new client subscribes to everything as `id`, a publish
/// reaches it.
pub async fn assert_still_serves(server: &TestServer, id: &str) {
    let mut c = server.client().await;
    c.subscribe(
        id,
        &quotecast_shared::graphql::GraphqlRequest::subscribe(None),
        &server.auth(),
    )
    .await
    .unwrap();
    server.http().publish(&[channel("AMZN", 1)]).await.unwrap();
    assert!(matches!(
        c.recv().await.unwrap(),
        ServerMessage::Data { .. }
    ));
}

/// A quote-like channel message with a recognisable sequence number.
pub fn channel(name: &str, seq: u64) -> Channel {
    Channel::new(
        name,
        format!(r#"{{"symbol":"{name}","seq":{seq},"close":{}}}"#, 100 + seq),
    )
}

/// The `seq` of a `data` frame's channel, with the frame's subscription id.
pub fn data_seq(msg: &ServerMessage) -> Option<(String, String, u64)> {
    let ServerMessage::Data { id, payload } = msg else {
        return None;
    };
    let channel = &payload["data"]["subscribe"];
    let data: serde_json::Value = serde_json::from_str(channel["data"].as_str()?).ok()?;
    Some((
        id.clone(),
        channel["name"].as_str()?.to_owned(),
        data["seq"].as_u64()?,
    ))
}

/// SigV4 headers (lower-case names) for `POST url` with `body`, signed for AppSync with the
/// test credentials by AWS's own signer.
pub fn iam_headers(url: &str, body: &[u8], secret: &str) -> Vec<(String, String)> {
    iam_headers_for("appsync", url, body, secret)
}

/// [`iam_headers`] signed for another `service` (`dynamodb` beside AppSync on one port).
pub fn iam_headers_for(
    service: &str,
    url: &str,
    body: &[u8],
    secret: &str,
) -> Vec<(String, String)> {
    let host = url.split('/').nth(2).unwrap().to_owned();
    let base = vec![
        (
            "accept".to_owned(),
            "application/json, text/javascript".to_owned(),
        ),
        ("content-encoding".to_owned(), "amz-1.0".to_owned()),
        (
            "content-type".to_owned(),
            "application/json; charset=UTF-8".to_owned(),
        ),
        ("host".to_owned(), host),
    ];
    let identity = Credentials::new(ACCESS_KEY_ID, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        url,
        base.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::builder().method("POST").uri(url);
    for (k, v) in &base {
        request = request.header(k, v);
    }
    let mut request = request.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect()
}

/// The IAM auth object for a real-time handshake (`/graphql/connect`, body `{}`) or a
/// `start` (`/graphql`, body = the start's data).
pub fn iam_auth(host: &str, path: &str, body: &str, secret: &str) -> AuthObject {
    let url = format!("https://{host}{path}");
    iam_headers(&url, body.as_bytes(), secret)
        .into_iter()
        .fold(AuthObject::new(), |auth, (k, v)| auth.with(&k, &v))
}

/// Waits until `f` holds, checking every 10 ms, for at most 5 s.
pub async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}
