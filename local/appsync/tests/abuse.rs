//! Limits and abuse over real sockets: connection storms leave nothing behind, and
//! subscription limits hold at scale.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use quotecast_appsync_client::{RealtimeClient, Transport};
use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::{ClientMessage, ServerMessage, StartPayload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_storm_leaks_no_subscription_and_no_connection() {
    let server = start(config()).await;
    let storm = futures_util::stream::iter(0..400).map(|i| {
        let url = server.realtime_url();
        let auth = server.auth();
        async move {
            let mut c = RealtimeClient::connect(&url, &auth, Transport::Subprotocol)
                .await
                .unwrap();
            c.init().await.unwrap();
            for s in 0..3 {
                c.subscribe(&format!("s{s}"), &GraphqlRequest::subscribe(None), &auth)
                    .await
                    .unwrap();
            }
            match i % 4 {
                // Polite: stop each subscription, then close.
                0 => {
                    for s in 0..3 {
                        c.send(&ClientMessage::Stop {
                            id: format!("s{s}"),
                        })
                        .await
                        .unwrap();
                    }
                    drop(c);
                }
                // Half-sent start, then gone.
                1 => {
                    let _ = c
                        .send_text(r#"{"type":"start","id":"x","payload":{"data":"#)
                        .await;
                    drop(c);
                }
                // Vanish mid-stream without a close frame.
                _ => drop(c.into_socket()),
            }
        }
    });
    storm.buffer_unordered(50).collect::<Vec<()>>().await;
    // Everything that was opened is gone again.
    assert!(
        eventually(|| server.app.connection_count() == 0).await,
        "connections left: {}",
        server.app.connection_count()
    );
    assert_eq!(server.app.hub.subscription_count(), 0);
    // And the server still works.
    assert_still_serves(&server, "after").await;
    server.stop().await;
}

#[tokio::test]
async fn thousands_of_subscriptions_on_one_connection_within_a_raised_limit() {
    let mut cfg = config();
    cfg.max_subscriptions_per_connection = 3000;
    let server = start(cfg).await;
    let mut c = server.client().await;
    let request = GraphqlRequest::subscribe(Some(r#"{"name":{"eq":"AMZN"}}"#));
    // Pipelined: all starts first, then all acks.
    for i in 0..3001 {
        c.send(&ClientMessage::Start {
            id: format!("s{i}"),
            payload: StartPayload::new(&request, server.auth()),
        })
        .await
        .unwrap();
    }
    c.set_timeout(Duration::from_secs(20));
    let (mut acks, mut refused) = (0, 0);
    while acks + refused < 3001 {
        match c.recv().await.unwrap() {
            ServerMessage::StartAck { .. } => acks += 1,
            ServerMessage::Error {
                id: Some(id),
                errors,
            } => {
                assert_eq!(
                    (id.as_str(), errors[0].error_type.as_deref()),
                    ("s3000", Some("MaxSubscriptionsReachedError"))
                );
                refused += 1;
            }
            other => panic!("{}", other.encode()),
        }
    }
    assert_eq!((acks, refused), (3000, 1));
    assert_eq!(server.app.hub.subscription_count(), 3000);
    server.http().publish(&[channel("AMZN", 7)]).await.unwrap();
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..3000 {
        let (id, _, seq) = data_seq(&c.recv().await.unwrap()).unwrap();
        assert_eq!(seq, 7);
        ids.insert(id);
    }
    assert_eq!(ids.len(), 3000, "one frame per subscription");
    drop(c);
    assert!(eventually(|| server.app.hub.subscription_count() == 0).await);
    server.stop().await;
}
