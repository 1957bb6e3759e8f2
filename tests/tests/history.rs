//! Quote history end to end: the consumer stores every bar (through the DynamoDB wire
//! protocol) before it publishes it, `history` reads the same store with the public key, the
//! bars link to each other by `prevTimestamp`, and history survives a restart of the stack.
//! A history write that fails fails its partition: nothing of it published, nothing committed.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use quotecast::stack::{StackConfig, start};
use quotecast_appsync_client::{ClientError, GraphqlHttp, RealtimeClient};
use quotecast_consumer::Consumer;
use quotecast_dynamodb::HistoryStore;
use quotecast_e2e::fault_proxy::{Fault, FaultProxy};
use quotecast_e2e::kafka_event::KafkaEventBuilder;
use quotecast_e2e::*;
use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::ServerMessage;
use quotecast_shared::subscription::filter_for;
use quotecast_shared::{Channel, Quote};
use serde_json::Value;

/// `history(name, limit)` with the public key: the bars, oldest first as returned.
async fn history(reader: &GraphqlHttp, name: &str, limit: u32) -> Vec<Quote> {
    let request = GraphqlRequest::new(
        "query($n: String!, $l: Int) { history(name: $n, limit: $l) { name data } }",
    )
    .with_variable("n", name)
    .with_variable("l", limit);
    let (status, body) = reader.post(&request).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bar| {
            assert_eq!(bar["name"], name);
            Quote::from_json(bar["data"].as_str().unwrap()).unwrap()
        })
        .collect()
}

/// Oldest first, each bar linked to the one before it.
fn assert_linked(bars: &[Quote]) {
    for pair in bars.windows(2) {
        assert!(
            pair[0].timestamp < pair[1].timestamp,
            "out of order: {pair:?}"
        );
        assert_eq!(
            pair[1].prev_timestamp,
            Some(pair[0].timestamp),
            "not linked: {pair:?}"
        );
    }
}

/// The next `data` frame's quote.
async fn next_quote(client: &mut RealtimeClient) -> Quote {
    loop {
        match client.recv().await.unwrap() {
            ServerMessage::Data { payload, .. } => {
                let channel = &payload["data"]["subscribe"];
                return Quote::from_json(channel["data"].as_str().unwrap()).unwrap();
            }
            ServerMessage::Ka => continue,
            other => panic!("unexpected {}", other.encode()),
        }
    }
}

/// The "done when", on the stack `quotecast dev` runs (one bar per symbol per second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_stack_serves_linked_history_that_outlives_a_restart() {
    let config = StackConfig {
        default_symbols: vec!["AMZN".to_owned()],
        ..stack_config(&["AMZN", "MSFT"], Duration::from_secs(1))
    };
    let restart = config.clone();
    let stack = start(config).await.unwrap();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let reader = GraphqlHttp::new(&format!("http://{}/graphql", stack.addr), API_KEY);

    let before = history(&reader, "AMZN", 60).await;
    assert!(before.len() >= 8, "{} bars after 12 s", before.len());
    assert_linked(&before);

    // A new subscription's first live bar links to a bar history returns.
    let mut live = stack_subscriber(stack.addr, Some(&filter_for("AMZN"))).await;
    live.set_timeout(Duration::from_secs(5));
    let first = next_quote(&mut live).await;
    let now = history(&reader, "AMZN", 60).await;
    let held: BTreeSet<i64> = now.iter().map(|q| q.timestamp).collect();
    let prev = first
        .prev_timestamp
        .expect("a live bar links to its predecessor");
    assert!(held.contains(&prev), "{prev} not in {held:?}");
    assert!(
        held.contains(&first.timestamp),
        "stored before it was published"
    );
    drop(live);

    // After a stop and a start on the same data directory, the earlier bars are still there.
    stack.stop().await;
    let stack = start(restart).await.unwrap();
    let reader = GraphqlHttp::new(&format!("http://{}/graphql", stack.addr), API_KEY);
    let after = history(&reader, "AMZN", 1000).await;
    let kept: BTreeSet<i64> = after.iter().map(|q| q.timestamp).collect();
    for bar in &now {
        assert!(kept.contains(&bar.timestamp), "bar {} lost", bar.timestamp);
    }
    assert_eq!(history(&reader, "MSFT", 1).await.len(), 1);
    stack.stop().await;
}

const T0: i64 = 1_700_000_000_000;

/// `n` bars of `symbol` on partition 0, one a minute, linked.
fn bars_event(symbol: &str, n: i64) -> Value {
    let mut event = KafkaEventBuilder::new();
    for i in 0..n {
        let quote = Quote::new(symbol, T0 + i * 60_000, [10.0, 11.0, 9.0, 10.5], i as u64)
            .unwrap()
            .with_prev_timestamp((i > 0).then(|| T0 + (i - 1) * 60_000))
            .unwrap();
        event = event.record(
            "quotes",
            0,
            100 + i,
            Some(symbol.as_bytes()),
            Some(quote.to_json().as_bytes()),
            &[],
        );
    }
    event.build()
}

/// The consumer as on AWS, with a history table behind `dynamodb_url`, and short retries.
fn consumer(graphql_url: &str, dynamodb_url: &str) -> Consumer {
    history_consumer(
        graphql_url,
        dynamodb_url,
        &[
            ("RETRY_BASE_MS", "5"),
            ("RETRY_MAX_DELAY_MS", "20"),
            ("RETRY_BUDGET_MS", "1500"),
            ("REQUEST_TIMEOUT_MS", "500"),
        ],
    )
}

/// Counts `data` frames until 300 ms pass without one.
async fn count_deliveries(client: &mut RealtimeClient) -> usize {
    client.set_timeout(Duration::from_millis(300));
    let mut n = 0;
    loop {
        match client.recv().await {
            Ok(ServerMessage::Data { .. }) => n += 1,
            Ok(other) => panic!("unexpected {}", other.encode()),
            Err(ClientError::Timeout(_)) => return n,
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bar_is_stored_before_it_is_published_and_a_replay_is_harmless() {
    let (server, store) = LocalAppSync::start_with_history("consumer-history").await;
    let dynamodb = server.dynamodb_url();
    let consumer = consumer(&server.graphql_url(), &dynamodb);
    let mut subscriber = server.subscriber("all").await;
    let event = bars_event("AMZN", 300);

    let response = consumer.handle_json(event.clone()).await.unwrap();
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(count_deliveries(&mut subscriber).await, 300);
    let stored = history(&server.reader(), "AMZN", 1000).await;
    assert_eq!(stored.len(), 300);
    assert_linked(&stored);
    // Exactly what was published: the consumer's own JSON of each record.
    let first = Quote::from_json(&Channel::for_quote(&stored[0]).data).unwrap();
    assert_eq!(first, stored[0]);

    // Kafka delivers the batch again: same items, no duplicates.
    let response = consumer.handle_json(event).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(store.item_count().unwrap(), 300);
    assert_eq!(history(&server.reader(), "AMZN", 1000).await.len(), 300);
}

/// A consumer writing its history through `dynamodb_url` handles 60 bars of AMZN: no record
/// fails, all 60 reach the subscriber and the store.
async fn sixty_delivered_and_stored(
    server: &LocalAppSync,
    store: &HistoryStore,
    subscriber: &mut RealtimeClient,
    dynamodb_url: &str,
) {
    let response = consumer(&server.graphql_url(), dynamodb_url)
        .handle_json(bars_event("AMZN", 60))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(count_deliveries(subscriber).await, 60);
    assert_eq!(store.item_count().unwrap(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_throttling_is_retried_and_a_failing_table_fails_the_partition_unpublished() {
    let (server, store) = LocalAppSync::start_with_history("consumer-history-faults").await;
    let dynamodb = server.dynamodb_url();

    // The first three DynamoDB calls are throttled: retried, everything delivered once.
    let throttled = FaultProxy::start_dynamodb(
        &dynamodb,
        Arc::new(|n, _| {
            if n < 3 {
                Fault::Fail(503)
            } else {
                Fault::Forward
            }
        }),
    )
    .await;
    let mut subscriber = server.subscriber("all").await;
    sixty_delivered_and_stored(&server, &store, &mut subscriber, &throttled.url()).await;
    assert!(throttled.counts().0 > 3);

    // A table that keeps failing: the partition is reported from its first record and no bar
    // of it reaches a subscriber (it is not done: it was not stored).
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = attempts.clone();
    let broken = FaultProxy::start_dynamodb(
        &dynamodb,
        Arc::new(move |_, _| {
            seen.fetch_add(1, Ordering::SeqCst);
            Fault::Fail(500)
        }),
    )
    .await;
    let consumer_b = consumer(&server.graphql_url(), &broken.url());
    let started = Instant::now();
    let response = consumer_b
        .handle_json(bars_event("TSLA", 60))
        .await
        .unwrap();
    assert_eq!(response.batch_item_failures.len(), 1, "{response:?}");
    assert_eq!(
        response.batch_item_failures[0].item_identifier.offset, 100,
        "redelivery starts at the first record"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(attempts.load(Ordering::SeqCst) > 1, "retried first");
    assert_eq!(count_deliveries(&mut subscriber).await, 0);
    assert!(history(&server.reader(), "TSLA", 10).await.is_empty());

    // A refusal (a table that does not exist) is not retried, and fails the same way.
    let consumer_c = history_consumer(
        &server.graphql_url(),
        &dynamodb,
        &[("HISTORY_TABLE", "no-such-table")],
    );
    let started = Instant::now();
    let response = consumer_c
        .handle_json(bars_event("NFLX", 10))
        .await
        .unwrap();
    assert_eq!(response.batch_item_failures.len(), 1, "{response:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a refusal is final"
    );
    assert_eq!(count_deliveries(&mut subscriber).await, 0);
}

/// DynamoDB's answer to a `BatchWriteItem` it could only partly write: the items of `body`
/// (a `BatchWriteItem` request) all listed as unprocessed.
fn nothing_processed(body: &[u8]) -> Fault {
    let request: serde_json::Value = serde_json::from_slice(body).unwrap();
    let answer = serde_json::json!({ "UnprocessedItems": request["RequestItems"] });
    Fault::Answer(200, answer.to_string())
}

/// A `BatchWriteItem` answered 200 with `UnprocessedItems` did not store them: the consumer
/// sends them again, and publishes only once they are stored; items that stay unprocessed
/// fail the partition, unpublished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unprocessed_items_are_sent_again_and_never_counted_as_stored() {
    let (server, store) = LocalAppSync::start_with_history("consumer-history-unprocessed").await;
    let dynamodb = server.dynamodb_url();
    let mut subscriber = server.subscriber("all").await;

    // The first two calls write nothing and say so.
    let partly = FaultProxy::start_dynamodb(
        &dynamodb,
        Arc::new(|n, body| {
            if n < 2 {
                nothing_processed(body)
            } else {
                Fault::Forward
            }
        }),
    )
    .await;
    sixty_delivered_and_stored(&server, &store, &mut subscriber, &partly.url()).await;
    let (seen, forwarded) = partly.counts();
    assert!(
        seen > forwarded && forwarded >= 3,
        "{seen} calls, {forwarded} forwarded"
    );

    // Never processed: the partition fails from its first record, nothing published.
    let never =
        FaultProxy::start_dynamodb(&dynamodb, Arc::new(|_, body| nothing_processed(body))).await;
    let consumer_b = consumer(&server.graphql_url(), &never.url());
    let response = consumer_b
        .handle_json(bars_event("TSLA", 30))
        .await
        .unwrap();
    assert_eq!(response.batch_item_failures.len(), 1, "{response:?}");
    assert_eq!(response.batch_item_failures[0].item_identifier.offset, 100);
    assert!(never.counts().0 > 1, "sent again before giving up");
    assert_eq!(count_deliveries(&mut subscriber).await, 0);
    assert!(history(&server.reader(), "TSLA", 10).await.is_empty());
}

/// A bar in the reference sample's format: no time of its own.
fn reference_payload(close: f64) -> String {
    let value = serde_json::json!({"Open": close, "High": close + 1.0, "Low": close - 1.0,
        "Close": close, "Adj Close": close, "Volume": 10});
    serde_json::json!({"topic": "amazon", "value": value.to_string()}).to_string()
}

/// Reference-format bars are stored under their record's time and `historyPage` gives that
/// time back, so a card opens on each of them (the dashboard used to date every bar of an
/// answer alike and keep one). Two such records of one channel in one millisecond cannot
/// both be kept under a key of ms: the consumer says so, with both offsets, unless they are
/// the same bar twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_bars_keep_their_record_times_and_a_same_millisecond_pair_is_reported() {
    let (server, _store) = LocalAppSync::start_with_history("reference-history").await;
    let consumer = consumer(&server.graphql_url(), &server.dynamodb_url());
    let mut event = KafkaEventBuilder::new();
    for offset in 0..120 {
        let payload = reference_payload(100.0 + offset as f64);
        event = event.record("amazon", 0, offset, None, Some(payload.as_bytes()), &[]);
    }
    // Offsets 120..=122 in the millisecond of 120: 121 is another bar, 122 a duplicate of it.
    for (offset, close) in [(120, 1.0), (121, 2.0), (122, 2.0)] {
        let payload = reference_payload(close);
        event = event.record("amazon", 0, offset, None, Some(payload.as_bytes()), &[]);
    }
    let mut event = event.build();
    for record in event["records"]["amazon-0"].as_array_mut().unwrap() {
        if record["offset"].as_i64().unwrap() > 120 {
            record["timestamp"] = (T0 + 120).into();
        }
    }
    let kafka = quotecast_consumer::records::decode_event(event).unwrap();
    let (response, stats) = consumer.handle(&kafka).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!((stats.published, stats.replaced), (123, 1), "{stats:?}");

    let request = GraphqlRequest::new(
        "{ historyPage(name: \"amazon\", limit: 1000) { items { data timestamp } next } }",
    );
    let (_, body) = server.reader().post(&request).await.unwrap();
    let items = body["data"]["historyPage"]["items"].as_array().unwrap();
    let times: Vec<i64> = items
        .iter()
        .map(|b| b["timestamp"].as_i64().unwrap())
        .collect();
    assert_eq!(
        times,
        (0..=120).map(|i| T0 + i).collect::<Vec<_>>(),
        "{body}"
    );
    // The millisecond of 120..=122 holds the last of them.
    let last: Value = serde_json::from_str(items[120]["data"].as_str().unwrap()).unwrap();
    assert!(
        last["value"].as_str().unwrap().contains("\"Close\":2.0"),
        "{last}"
    );
}
