//! The load generator against a real server: it counts every frame and measures latency.
#![allow(clippy::unwrap_used)]

// The AppSync twin's test harness (a bare AppSync server, the test keys, clients), shared
// rather than copied; a test that needs DynamoDB beside it composes a `LocalServer` itself.
#[path = "../../appsync/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use quotecast::loadtest::LoadTest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_run_delivers_everything_and_reports_latency() {
    let server = start(config()).await;
    let test = LoadTest {
        graphql_url: server.graphql_url(),
        realtime_url: server.realtime_url(),
        api_key: API_KEY.to_owned(),
        publish_auth: iam_writer(),
        connections: 20,
        subscriptions_per_connection: 3,
        symbols: 7,
        rate: 400,
        batch: 4,
        duration: Duration::from_secs(1),
        warmup: Duration::ZERO,
    };
    let report = test.run().await.unwrap();
    assert_eq!(report.connections, 20);
    assert_eq!(report.subscriptions, 60);
    assert!(report.publishes >= 100, "{report}");
    assert_eq!(report.publish_errors, 0);
    // 60 subscriptions over 7 symbols: each publish matches 8 or 9 of them.
    assert!(
        report.expected_deliveries >= report.publishes * 8,
        "{report}"
    );
    assert_eq!(report.deliveries, report.expected_deliveries, "{report}");
    assert!(report.latency_p50_ms > 0.0 && report.latency_max_ms >= report.latency_p99_ms);
    assert_eq!(report.reader_errors, 0);
    assert!(
        eventually(|| server.app.hub.subscription_count() == 0).await,
        "readers closed their connections"
    );
    server.stop().await;
}

/// A TCP proxy that holds every chunk from the client for `delay` before passing it on: a
/// server that answers each request `delay` late, while the server itself stays fast.
async fn slow_proxy(upstream: std::net::SocketAddr, delay: Duration) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let up = async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        tokio::time::sleep(delay).await;
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = server_write.shutdown().await;
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                };
                tokio::join!(up, down);
            });
        }
    });
    addr
}

/// With the server answering every publish 300 ms late and at most 8 requests in flight, the
/// publisher can send about 27 of the 100 requests due per second. Latency measured from the
/// schedule grows with the backlog (the last request goes out ~3 s late), and only what
/// arrived inside the 1 s window counts as deliveries/s. A publisher that stamped after its
/// wait would report ~300 ms, and one that divided the drain by the window would report most
/// frames as delivered in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_shows_as_latency_from_the_schedule() {
    let server = start(config()).await;
    let proxy = slow_proxy(server.addr, Duration::from_millis(300)).await;
    let test = LoadTest {
        graphql_url: format!("http://{proxy}/graphql"),
        realtime_url: server.realtime_url(),
        api_key: API_KEY.to_owned(),
        publish_auth: iam_writer(),
        connections: 4,
        subscriptions_per_connection: 2,
        symbols: 4,
        rate: 400,
        batch: 4,
        duration: Duration::from_secs(1),
        warmup: Duration::ZERO,
    };
    let report = test.run().await.unwrap();
    eprintln!("{report}");
    // Every request due in the window went out, however late.
    assert_eq!(report.publish_requests, 100, "{report}");
    assert_eq!(report.publish_errors, 0, "{report}");
    assert_eq!(report.deliveries, report.expected_deliveries, "{report}");
    assert!(report.behind_schedule_max_ms > 1500.0, "{report}");
    assert!(report.last_sent_secs > 2.0, "{report}");
    assert!(report.latency_max_ms > 2000.0, "{report}");
    assert!(report.latency_p50_ms > 1000.0, "{report}");
    // Most frames arrived after the window: they are not credited to it.
    assert!(
        report.deliveries_in_window * 2 < report.deliveries,
        "{report}"
    );
    assert!(
        (report.deliveries_per_sec - report.deliveries_in_window as f64).abs() < 1.0,
        "{report}"
    );
    server.stop().await;
}
