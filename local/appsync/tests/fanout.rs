//! Fan-out: filters route each publish to exactly the right subscribers, in order, and a
//! client that stops reading is cut off without holding up anyone else.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use quotecast_appsync_client::{ClientError, Incoming};
use quotecast_shared::Channel;
use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::ServerMessage;

/// Subscriptions with their filter and, independently of the filter code, what they should get.
#[allow(clippy::type_complexity)]
fn routes() -> Vec<(&'static str, Option<&'static str>, fn(&str, u64) -> bool)> {
    vec![
        ("eq", Some(r#"{"name":{"eq":"AMZN"}}"#), |n, _| n == "AMZN"),
        ("in", Some(r#"{"name":{"in":["AMZN","TSLA"]}}"#), |n, _| {
            n == "AMZN" || n == "TSLA"
        }),
        ("bare", Some(r#"{"name":"MSFT"}"#), |n, _| n == "MSFT"),
        (
            "or",
            Some(r#"{"or":[{"name":{"eq":"MSFT"}},{"data.close":{"gt":105}}]}"#),
            |n, s| n == "MSFT" || 100 + s > 105,
        ),
        (
            "and",
            Some(r#"{"and":[{"name":{"beginsWith":"T"}},{"data.seq":{"lt":3}}]}"#),
            |n, s| n.starts_with('T') && s < 3,
        ),
        (
            "ne",
            Some(r#"{"name":{"ne":"AMZN"},"data.seq":{"between":[1,4]}}"#),
            |n, s| n != "AMZN" && s > 1 && s < 4,
        ),
        // Indexed under a name, yet the name is not the whole test: the server may skip
        // testing only filters that say nothing else.
        (
            "pinned-and",
            Some(r#"{"name":{"eq":"AMZN"},"data.seq":{"lt":3}}"#),
            |n, s| n == "AMZN" && s < 3,
        ),
        (
            "pinned-or",
            Some(r#"{"or":[{"name":"AMZN"},{"name":"TSLA","data.seq":{"gt":3}}]}"#),
            |n, s| n == "AMZN" || (n == "TSLA" && s > 3),
        ),
        ("all", None, |_, _| true),
        ("none", Some(r#"{"name":{"eq":"NOPE"}}"#), |_, _| false),
    ]
}

#[tokio::test]
async fn filters_deliver_to_exactly_the_right_subscribers_in_order() {
    let server = start(config()).await;
    let mut c = server.client().await;
    let mut other = server.client().await;
    for (id, filter, _) in routes() {
        c.subscribe(id, &GraphqlRequest::subscribe(filter), &server.auth())
            .await
            .unwrap();
    }
    other
        .subscribe(
            "eq-elsewhere",
            &GraphqlRequest::subscribe(Some(r#"{"name":{"eq":"AMZN"}}"#)),
            &server.auth(),
        )
        .await
        .unwrap();

    let mut published: Vec<Channel> = Vec::new();
    for seq in 0..9 {
        for name in ["AMZN", "TSLA", "MSFT", "TWTR"] {
            published.push(channel(name, seq));
        }
    }
    for chunk in published.chunks(10) {
        let (status, _) = server.http().publish(chunk).await.unwrap();
        assert_eq!(status, 200);
    }

    let expected: BTreeMap<&str, Vec<(String, u64)>> = routes()
        .into_iter()
        .map(|(id, _, wants)| {
            let got = (0..9)
                .flat_map(|seq| ["AMZN", "TSLA", "MSFT", "TWTR"].map(|n| (n.to_owned(), seq)))
                .filter(|(n, s)| wants(n, *s))
                .collect();
            (id, got)
        })
        .collect();
    let total: usize = expected.values().map(Vec::len).sum();
    let mut received: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for _ in 0..total {
        let (id, name, seq) = data_seq(&c.recv().await.unwrap()).unwrap();
        received.entry(id).or_default().push((name, seq));
    }
    for (id, want) in &expected {
        assert_eq!(
            received.get(*id).cloned().unwrap_or_default(),
            *want,
            "subscription {id}"
        );
    }
    c.set_timeout(Duration::from_millis(300));
    assert!(
        matches!(c.recv().await, Err(ClientError::Timeout(_))),
        "no extra deliveries"
    );
    for seq in 0..9 {
        let (id, name, s) = data_seq(&other.recv().await.unwrap()).unwrap();
        assert_eq!(
            (id.as_str(), name.as_str(), s),
            ("eq-elsewhere", "AMZN", seq)
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_and_the_others_get_everything() {
    let mut cfg = config();
    cfg.max_queued_bytes_per_connection = 2 * 1024 * 1024;
    let server = start(cfg).await;
    let mut fast = server.client().await;
    let mut slow = server.client().await;
    fast.subscribe("fast", &GraphqlRequest::subscribe(None), &server.auth())
        .await
        .unwrap();
    slow.subscribe("slow", &GraphqlRequest::subscribe(None), &server.auth())
        .await
        .unwrap();
    assert_eq!(server.app.connection_count(), 2);

    // The slow client starts reading again once the server has given up on it (its
    // subscription left the hub): what it finds then is a cut-short stream, then the close.
    let app = server.app.clone();
    let slow_reader = tokio::spawn(async move {
        while app.hub.subscription_count() != 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut seen = 0u64;
        loop {
            match slow.next().await {
                Ok(Incoming::Frame(ServerMessage::Data { .. })) => seen += 1,
                Ok(Incoming::Frame(_)) => {}
                Ok(Incoming::Closed(frame)) => return (seen, frame),
                Err(e) => panic!("no close frame after {seen} frames: {e}"),
                Ok(Incoming::Garbage(g)) => panic!("{g}"),
            }
        }
    });

    // ~40 MB in 10 KB quotes: far more than socket buffers and the outbox hold. The
    // publisher stays at most ~1 MB ahead of the fast reader, as a reader that keeps up would.
    let blob = "x".repeat(10 * 1024);
    let total = 4000u64;
    let http = server.http();
    let fast_seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let progress = fast_seen.clone();
    let publisher = tokio::spawn(async move {
        for start in (0..total).step_by(20) {
            while start > progress.load(std::sync::atomic::Ordering::Relaxed) + 100 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let chunk: Vec<Channel> = (start..start + 20)
                .map(|seq| Channel::new("AMZN", format!(r#"{{"seq":{seq},"blob":"{blob}"}}"#)))
                .collect();
            let (status, _) = http.publish(&chunk).await.unwrap();
            assert_eq!(status, 200);
        }
    });
    for expected in 0..total {
        let msg = fast.recv().await.unwrap();
        let ServerMessage::Data { payload, .. } = msg else {
            panic!("{}", msg.encode())
        };
        let data: serde_json::Value =
            serde_json::from_str(payload["data"]["subscribe"]["data"].as_str().unwrap()).unwrap();
        assert_eq!(data["seq"], expected);
        fast_seen.store(expected + 1, std::sync::atomic::Ordering::Relaxed);
    }
    publisher.await.unwrap();
    assert!(
        eventually(|| server.app.connection_count() == 1).await,
        "the slow client was not disconnected"
    );
    assert_eq!(
        server.app.hub.subscription_count(),
        1,
        "its subscription left with it"
    );

    // The slow client found its stream cut short: fewer frames than published, then a close
    // frame saying why (1008, policy violation), not a bare TCP close.
    let (seen, close) = slow_reader.await.unwrap();
    assert!(
        seen < total,
        "slow client received everything ({seen}); nothing was tested"
    );
    let close = close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1008, "{close:?}");
    assert_eq!(
        close.reason.as_str(),
        "send queue full: client is not reading"
    );
    server.stop().await;
}
