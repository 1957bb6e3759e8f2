//! No socket event panics the server: clients that reset their TCP connection (SO_LINGER 0,
//! so the server gets an RST, not a FIN) while frames are being written to them, round after
//! round, under a publisher that keeps flooding.
//!
//! The server runs in this process, so a panic hook sees every panic of its tasks: tokio
//! catches a task's panic and only the task dies, which a test that merely checks the server
//! still answers would miss. This binary holds this one test so that no other test's panic
//! can be counted.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use quotecast_appsync_client::{RealtimeClient, Transport};
use quotecast_shared::Channel;
use quotecast_shared::graphql::GraphqlRequest;
use tokio_tungstenite::MaybeTlsStream;

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default(info);
    }));
}

const ROUNDS: usize = 8;
const CLIENTS_PER_ROUND: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_resetting_mid_write_never_panic_the_server() {
    count_panics();
    let mut cfg = config();
    // Small enough that some readers also overflow and close as slow consumers mid-write.
    cfg.max_queued_bytes_per_connection = 256 * 1024;
    let server = start(cfg).await;

    // A publisher flooding 8 KB quotes until the rounds are over.
    let flooding = Arc::new(AtomicBool::new(true));
    let publisher = {
        let http = server.http();
        let flooding = flooding.clone();
        tokio::spawn(async move {
            let blob = "x".repeat(8 * 1024);
            let mut seq = 0u64;
            while flooding.load(Ordering::Relaxed) {
                let chunk: Vec<Channel> = (seq..seq + 20)
                    .map(|s| Channel::new("AMZN", format!(r#"{{"seq":{s},"blob":"{blob}"}}"#)))
                    .collect();
                seq += 20;
                let (status, _) = http.publish(&chunk).await.unwrap();
                assert_eq!(status, 200);
            }
            seq
        })
    };

    for round in 0..ROUNDS {
        let clients = futures_util::stream::iter(0..CLIENTS_PER_ROUND).map(|i| {
            let url = server.realtime_url();
            let auth = server.auth();
            async move {
                let mut c = RealtimeClient::connect(&url, &auth, Transport::Subprotocol)
                    .await
                    .unwrap();
                c.init().await.unwrap();
                c.subscribe("s", &GraphqlRequest::subscribe(None), &auth)
                    .await
                    .unwrap();
                // Read a little (more for some), leave the rest unread, then reset.
                for _ in 0..(i % 4) {
                    let _ = c.next().await;
                }
                let socket = c.into_socket();
                if let MaybeTlsStream::Plain(tcp) = socket.get_ref() {
                    tcp.set_zero_linger().unwrap();
                }
                drop(socket);
            }
        });
        clients
            .buffer_unordered(CLIENTS_PER_ROUND)
            .collect::<Vec<()>>()
            .await;
        assert_eq!(PANICS.load(Ordering::SeqCst), 0, "panic in round {round}");
    }
    flooding.store(false, Ordering::Relaxed);
    let published = publisher.await.unwrap();
    assert!(published > 0);

    assert!(
        eventually(|| server.app.connection_count() == 0).await,
        "connections left: {}",
        server.app.connection_count()
    );
    assert_eq!(server.app.hub.subscription_count(), 0);
    // Give the last connection tasks time to finish (a panic would come at their end).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a server task panicked");

    // And the server still serves.
    assert_still_serves(&server, "after").await;
    server.stop().await;
    assert_eq!(PANICS.load(Ordering::SeqCst), 0);
}
