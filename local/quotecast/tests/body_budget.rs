//! One port, two services, one budget for request bodies: on the local stack's port AppSync's
//! `/graphql` (5 MiB bodies) and DynamoDB's `POST /` (16 MiB bodies) share the connection
//! cap, and without a shared budget their worst cases add up (320 × 16 MiB + 704 × 5 MiB
//! ≈ 8.4 GiB against `/graphql`'s own 1,024 × 5 MiB). Here the budget is 16 connections ×
//! 64 KiB = 1 MiB, and bodies of both routes that would pass it are refused before a byte of
//! them is read.
#![allow(clippy::unwrap_used)]

#[path = "../../appsync/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use quotecast::server::LocalServer;
use quotecast_dynamodb::HistoryStore;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const BODY_LIMIT: usize = 64 * 1024;
const HELD_DYNAMODB: usize = 300 * 1024;

/// Opens a request whose headers declare `declared` bytes and sends 10 of them: the server
/// reserves the declared length and waits for the rest.
async fn hold(addr: std::net::SocketAddr, head: String, declared: usize) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let head = format!("POST {head}content-length: {declared}\r\n\r\n");
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&[b' '; 10]).await.unwrap();
    socket
}

/// The request line and headers of a DynamoDB call signed (by AWS's signer) for `dynamodb`;
/// its body never comes whole, so only the checks before the body matter.
fn dynamodb_head(base: &str, body: &[u8]) -> String {
    let mut head = String::from("/ HTTP/1.1\r\nx-amz-target: DynamoDB_20120810.DescribeTable\r\n");
    for (k, v) in iam_headers_for("dynamodb", &format!("{base}/"), body, SECRET) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head
}

/// A whole DynamoDB `DescribeTable` padded to `size` bytes: (status, `__type`).
async fn describe(base: &str, size: usize) -> (u16, String) {
    let mut body = br#"{"TableName": "quotecast-history"}"#.to_vec();
    body.resize(size, b' ');
    let url = format!("{base}/");
    let mut request = reqwest::Client::new()
        .post(&url)
        .header("x-amz-target", "DynamoDB_20120810.DescribeTable")
        .body(body.clone());
    for (k, v) in iam_headers_for("dynamodb", &url, &body, SECRET) {
        if k != "host" {
            request = request.header(k, v);
        }
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    (
        status,
        answer["__type"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A whole `/graphql` query with the public key, padded to `size` bytes: (status, errorType).
async fn query(base: &str, size: usize) -> (u16, String) {
    let mut body = br#"{"query": "{ history(name: \"AMZN\") { name } }"}"#.to_vec();
    body.resize(size, b' ');
    let response = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .header("x-api-key", API_KEY)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    let error_type = answer["errors"][0]["errorType"]
        .as_str()
        .unwrap_or_default();
    (status, error_type.to_owned())
}

/// Retries `f` until it gives `want` (the server sees a held body a moment after it is sent).
async fn becomes<F, Fut>(mut f: F, want: (u16, &str)) -> (u16, String)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, String)>,
{
    let mut got = f().await;
    for _ in 0..100 {
        if (got.0, got.1.as_str()) == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        got = f().await;
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_both_services_share_one_budget_on_the_stacks_port() {
    let dir = std::env::temp_dir().join(format!("quotecast-budget-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = HistoryStore::open(&dir, quotecast_dynamodb::DEFAULT_TABLE_NAME).unwrap();
    let mut config = config();
    config.max_http_connections = 16;
    config.max_request_bytes = BODY_LIMIT;
    let server = LocalServer::bind("127.0.0.1:0".parse().unwrap(), config, Some(store.clone()))
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let base = format!("http://{addr}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    assert_eq!(describe(&base, 100).await, (200, String::new()));

    // Three DynamoDB bodies of 300 KiB awaiting their signature: 900 of the 1,024 KiB.
    let pending = vec![b' '; HELD_DYNAMODB];
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(hold(addr, dynamodb_head(&base, &pending), HELD_DYNAMODB).await);
    }
    // A fourth of 300 KiB does not fit: throttled, as DynamoDB throttles (the SDKs retry).
    let throttled = becomes(
        || describe(&base, HELD_DYNAMODB),
        (400, "com.amazon.coral.availability#ThrottlingException"),
    )
    .await;
    assert_eq!(
        (throttled.0, throttled.1.as_str()),
        (400, "com.amazon.coral.availability#ThrottlingException")
    );
    // 124 KiB left: a 64 KiB `/graphql` body is held too, leaving 60 KiB.
    let graphql_head = format!("/graphql HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {API_KEY}\r\n");
    held.push(hold(addr, graphql_head, BODY_LIMIT).await);
    let refused = becomes(
        || query(&base, BODY_LIMIT),
        (503, "ServiceUnavailableException"),
    )
    .await;
    assert_eq!(
        (refused.0, refused.1.as_str()),
        (503, "ServiceUnavailableException"),
        "a second 64 KiB body would pass the budget"
    );
    // Small requests still fit meanwhile, on both routes.
    assert_eq!(query(&base, 1_000).await.0, 200);
    assert_eq!(describe(&base, 1_000).await, (200, String::new()));

    // The held bodies end: the budget is whole again.
    drop(held);
    assert_eq!(
        becomes(|| describe(&base, HELD_DYNAMODB), (200, "")).await,
        (200, String::new())
    );
    assert_eq!(becomes(|| query(&base, BODY_LIMIT), (200, "")).await.0, 200);
    let _ = stop.send(());
    let _ = task.await;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
