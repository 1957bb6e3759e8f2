//! Clients that hold sockets without earning them: half-sent HTTP requests (headers or body
//! never finished) and WebSocket upgrades with wrong credentials. Neither may slow a good
//! client, and neither may hold anything once its bound has passed.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use quotecast_appsync_client::{ClientError, Incoming, RealtimeClient, Transport};
use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::{AuthObject, ServerMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the socket (or resets it), for at most `within`; true if it
/// did.
async fn closed_by_server(socket: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// The slowest of `n` queries in a row from a good client.
async fn slowest_query(server: &TestServer, n: usize) -> Duration {
    let reader = server.reader();
    let request = GraphqlRequest::new("query { __typename }");
    let mut slowest = Duration::ZERO;
    for _ in 0..n {
        let started = Instant::now();
        let (status, body) = reader.post(&request).await.unwrap();
        assert_eq!(status, 200, "{body}");
        slowest = slowest.max(started.elapsed());
    }
    slowest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_http_requests_do_not_slow_a_good_client_and_are_dropped_at_the_timeout() {
    let mut cfg = config();
    cfg.http_header_read_timeout = Duration::from_secs(2);
    cfg.http_body_read_timeout = Duration::from_secs(2);
    let server = start(cfg).await;
    let addr = server.addr;

    // 250 that never finish their headers, 250 whose body stops at 10 of 1,000 bytes.
    let opened = Instant::now();
    let sockets: Vec<TcpStream> = futures_util::stream::iter(0..500)
        .map(|i| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let head = if i % 2 == 0 {
                format!("POST /graphql HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {API_KEY}\r\n")
            } else {
                format!(
                    "POST /graphql HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {API_KEY}\r\n\
                     content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"query\":"
                )
            };
            s.write_all(head.as_bytes()).await.unwrap();
            s
        })
        .buffer_unordered(100)
        .collect()
        .await;
    assert!(
        eventually(|| server.app.http_connection_count() >= 500).await,
        "held: {}",
        server.app.http_connection_count()
    );

    // A good client meanwhile answers at once.
    let slowest = slowest_query(&server, 50).await;
    println!(
        "slowest of 50 queries with 500 half-sent requests open: {slowest:?}; {} HTTP connections",
        server.app.http_connection_count()
    );
    assert!(slowest < Duration::from_millis(250), "{slowest:?}");

    // Every half-sent request's socket is closed by the server once its timeout has passed
    // (2 s from its headers or body; they were all opened within the first moments).
    let mut closed = 0;
    for mut s in sockets {
        let left = Duration::from_secs(5).saturating_sub(opened.elapsed());
        if closed_by_server(&mut s, left).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 500);
    println!("all 500 closed {:?} after they opened", opened.elapsed());
    assert!(
        eventually(|| server.app.http_connection_count() == 0).await,
        "held: {}",
        server.app.http_connection_count()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connections_over_the_cap_are_answered_503_and_closed() {
    let mut cfg = config();
    cfg.max_http_connections = 20;
    let server = start(cfg).await;
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    assert!(eventually(|| server.app.http_connection_count() == 20).await);
    let mut extra = TcpStream::connect(server.addr).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(2), extra.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    // A client reads as many bytes as the head declares, not to the close.
    let declared = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|n| n.parse::<usize>().ok());
    assert_eq!(declared, Some(body.len()), "{response}");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        body["errors"][0]["errorType"],
        "ServiceUnavailableException"
    );
    // Room again once the idle ones leave.
    drop(idle);
    assert!(eventually(|| server.app.http_connection_count() == 0).await);
    assert!(slowest_query(&server, 1).await < Duration::from_secs(1));
    server.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_while_reading_and_an_unauthenticated_one_is_not_read() {
    let mut cfg = config();
    cfg.max_request_bytes = 64 * 1024;
    let server = start(cfg).await;
    // Declared too large: refused before a byte of the body is read.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: x\r\nx-api-key: {API_KEY}\r\ncontent-length: 10000000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 1024];
    let n = s.read(&mut response).await.unwrap();
    assert!(response[..n].starts_with(b"HTTP/1.1 413 "));
    // Chunked, so the length is only known as it arrives: refused once past the limit.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: x\r\nx-api-key: {API_KEY}\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "x".repeat(16 * 1024));
    for _ in 0..5 {
        // The server may close as soon as it has refused.
        if s.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let n = s.read(&mut response).await.unwrap();
    assert!(response[..n].starts_with(b"HTTP/1.1 413 "));
    // No credentials: 401 at once, though the body never comes.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-length: 60000\r\n\r\n")
        .await
        .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(1), s.read(&mut response))
        .await
        .unwrap()
        .unwrap();
    assert!(response[..n].starts_with(b"HTTP/1.1 401 "));
    server.stop().await;
}

/// A raw upgrade request with `auth` in the `header-` subprotocol; returns the socket after
/// reading the response's status line.
async fn upgrade_with(addr: std::net::SocketAddr, auth: &AuthObject) -> (TcpStream, u16) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /graphql/realtime HTTP/1.1\r\nhost: {addr}\r\nconnection: upgrade\r\n\
         upgrade: websocket\r\nsec-websocket-version: 13\r\n\
         sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         sec-websocket-protocol: graphql-ws, {}\r\n\r\n",
        auth.to_subprotocol()
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).await.unwrap();
    let status = std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap();
    (s, status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_upgrades_are_refused_at_once_and_hold_nothing() {
    let mut cfg = config();
    cfg.max_connections = 50;
    let server = start(cfg).await;
    let addr = server.addr;
    let wrong = AuthObject::api_key(&server.host(), "da2-wrong");

    // Good clients before the attack.
    let mut before = Vec::new();
    for i in 0..5 {
        let mut c = server.client().await;
        c.subscribe(
            &format!("b{i}"),
            &GraphqlRequest::subscribe(None),
            &server.auth(),
        )
        .await
        .unwrap();
        before.push(c);
    }

    // 2,000 wrong-key upgrades in waves of 500, never sending `connection_init`, whose
    // sockets the clients leave open.
    let started = Instant::now();
    let mut statuses = std::collections::BTreeMap::new();
    let mut held_open = Vec::new();
    for _ in 0..4 {
        let wave: Vec<(TcpStream, u16)> = futures_util::stream::iter(0..500)
            .map(|_| upgrade_with(addr, &wrong))
            .buffer_unordered(100)
            .collect()
            .await;
        for (socket, status) in wave {
            *statuses.entry(status).or_insert(0) += 1;
            held_open.push(socket);
        }
        // A good client connects, subscribes and receives meanwhile.
        assert_still_serves(&server, "during").await;
        // 1,000 fds per wave: close the previous one's before the next.
        if held_open.len() > 500 {
            held_open.drain(..500);
        }
    }
    println!(
        "2,000 wrong-key upgrades upgraded {statuses:?} (connection_error, no permit) in {:?}",
        started.elapsed()
    );
    // Upgraded (for the `connection_error` frame), but without a permit.
    assert_eq!(statuses.get(&101), Some(&2000), "{statuses:?}");

    // Nothing held 2 s later: no connection permit, no HTTP connection, and the server
    // closed every socket the clients left open.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        server.app.connection_count(),
        5,
        "only the good clients from before"
    );
    assert_eq!(server.app.http_connection_count(), 0);
    for mut s in held_open {
        assert!(closed_by_server(&mut s, Duration::from_millis(100)).await);
    }

    // The good clients from before still receive.
    server.http().publish(&[channel("MSFT", 2)]).await.unwrap();
    for c in &mut before {
        assert!(matches!(
            c.recv().await.unwrap(),
            ServerMessage::Data { .. }
        ));
    }
    server.stop().await;
}

#[tokio::test]
async fn wrong_credentials_get_connection_error_at_once_on_every_transport() {
    let server = start(config()).await;
    let wrong = AuthObject::api_key(&server.host(), "da2-wrong");
    for transport in [Transport::Subprotocol, Transport::Query, Transport::Headers] {
        let started = Instant::now();
        let mut c = RealtimeClient::connect(&server.realtime_url(), &wrong, transport)
            .await
            .unwrap();
        // Before any `connection_init`.
        match c.recv().await.unwrap() {
            ServerMessage::ConnectionError { errors } => {
                assert_eq!(
                    errors[0].error_type.as_deref(),
                    Some("UnauthorizedException")
                );
                assert_eq!(errors[0].error_code, Some(401));
            }
            other => panic!("{transport:?}: {}", other.encode()),
        }
        assert!(matches!(c.next().await.unwrap(), Incoming::Closed(_)));
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(server.app.connection_count(), 0);
    }
    // A handshake signed with the wrong secret.
    let bad = iam_auth(&server.host(), "/graphql/connect", "{}", "not-the-secret");
    let mut c = RealtimeClient::connect(&server.realtime_url(), &bad, Transport::Subprotocol)
        .await
        .unwrap();
    match c.recv().await.unwrap() {
        ServerMessage::ConnectionError { errors } => assert_eq!(
            errors[0].error_type.as_deref(),
            Some("InvalidSignatureException")
        ),
        other => panic!("{}", other.encode()),
    }
    // Missing credentials are still refused at the upgrade, as AppSync does.
    let none = AuthObject::new().with("host", &server.host());
    assert!(matches!(
        RealtimeClient::connect(&server.realtime_url(), &none, Transport::Subprotocol).await,
        Err(ClientError::Rejected { status: 401, .. })
    ));
    server.stop().await;
}
