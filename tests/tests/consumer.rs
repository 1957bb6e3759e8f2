//! The consumer Lambda's handler against the real local AppSync server: every record
//! arrives, in order per partition; bad records are skipped; failures are retried and what
//! still fails is reported for redelivery, with nothing after it published; a denied
//! principal loses nothing; one deadline bounds an invocation however slow AppSync is.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use quotecast_appsync_client::{ClientError, RealtimeClient};
use quotecast_consumer::appsync::Auth;
use quotecast_consumer::{Config, Consumer};
use quotecast_e2e::fault_proxy::{Fault, FaultProxy};
use quotecast_e2e::kafka_event::KafkaEventBuilder;
use quotecast_e2e::*;
use quotecast_shared::Quote;
use quotecast_shared::lambda::KafkaBatchResponse;
use quotecast_shared::quote::parse_quote_payload;
use quotecast_shared::realtime::ServerMessage;

fn config(url: &str) -> Config {
    config_with(url, &[])
}

/// The test configuration with some variables replaced.
fn config_with(url: &str, overrides: &[(&str, &str)]) -> Config {
    let mut pairs = vec![
        ("APPSYNC_URL", url),
        ("AUTH_MODE", "AWS_IAM"),
        ("AWS_REGION", "us-east-1"),
        ("PUBLISH_CHUNK_SIZE", "100"),
        ("RETRY_BASE_MS", "5"),
        ("RETRY_MAX_DELAY_MS", "20"),
        ("RETRY_BUDGET_MS", "2000"),
        ("REQUEST_TIMEOUT_MS", "500"),
    ];
    for (k, v) in overrides {
        pairs.retain(|(name, _)| name != k);
        pairs.push((k, v));
    }
    Config::from_pairs(&pairs).unwrap()
}

fn iam(secret: &str) -> Auth {
    Auth::Iam {
        credentials: Credentials::new(
            ACCESS_KEY_ID,
            secret,
            Some("session-token".into()),
            None,
            "test",
        ),
        region: "us-east-1".into(),
    }
}

/// A consumer that signs with IAM, as on AWS: the public key may not publish.
fn consumer(url: &str) -> Consumer {
    Consumer::new(&config(url), iam(SECRET)).unwrap()
}

/// Our quote JSON for `symbol` with `seq` as its volume, so order can be checked.
fn quote(symbol: &str, seq: u64) -> Vec<u8> {
    Quote::new(
        symbol,
        1_700_000_000_000 + seq as i64,
        [10.0, 11.0, 9.0, 10.5],
        seq,
    )
    .unwrap()
    .to_json()
    .into_bytes()
}

/// `partitions` partitions of `per_partition` records; partition p carries symbols `P{p}A` and `P{p}B`.
fn event(partitions: i64, per_partition: u64) -> serde_json::Value {
    let mut b = KafkaEventBuilder::new();
    for p in 0..partitions {
        for seq in 0..per_partition {
            let symbol = format!("P{p}{}", if seq % 2 == 0 { 'A' } else { 'B' });
            b = b.record(
                "quotes",
                p,
                1000 + seq as i64,
                Some(symbol.as_bytes()),
                Some(&quote(&symbol, seq)),
                &[],
            );
        }
    }
    b.build()
}

/// Reads `data` frames until `count` arrived (or 300 ms of silence); returns the volumes per symbol.
async fn collect(c: &mut RealtimeClient, count: usize) -> BTreeMap<String, Vec<u64>> {
    let mut got: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut n = 0;
    loop {
        if n >= count {
            c.set_timeout(Duration::from_millis(300));
        }
        match c.recv().await {
            Ok(ServerMessage::Data { payload, .. }) => {
                let ch = &payload["data"]["subscribe"];
                let q = parse_quote_payload(
                    ch["data"].as_str().unwrap(),
                    ch["name"].as_str().unwrap(),
                    0,
                )
                .unwrap();
                got.entry(ch["name"].as_str().unwrap().to_owned())
                    .or_default()
                    .push(q.volume);
                n += 1;
            }
            Ok(other) => panic!("{}", other.encode()),
            Err(ClientError::Timeout(_)) => return got,
            Err(e) => panic!("{e}"),
        }
    }
}

fn expected(partitions: i64, per_partition: u64) -> BTreeMap<String, Vec<u64>> {
    let mut want: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for p in 0..partitions {
        for seq in 0..per_partition {
            let symbol = format!("P{p}{}", if seq % 2 == 0 { 'A' } else { 'B' });
            want.entry(symbol).or_default().push(seq);
        }
    }
    want
}

#[tokio::test]
async fn every_record_of_every_partition_arrives_in_order_in_few_requests() {
    let appsync = LocalAppSync::start().await;
    let mut sub = appsync.subscriber("all").await;
    let proxy = FaultProxy::start(&appsync.graphql_url(), Arc::new(|_, _| Fault::Forward)).await;
    let consumer = iam_consumer(&proxy.url());
    let response = consumer.handle_json(event(4, 250)).await.unwrap();
    assert_eq!(response, KafkaBatchResponse::default());
    assert_eq!(collect(&mut sub, 1000).await, expected(4, 250));
    assert_eq!(
        proxy.counts().0,
        4,
        "1,000 records over 4 partitions: one request of 250 each"
    );
}

#[tokio::test]
async fn bad_records_are_skipped_and_the_rest_goes_on() {
    let appsync = LocalAppSync::start().await;
    let mut sub = appsync.subscriber("all").await;
    let c = consumer(&appsync.graphql_url());
    let event = KafkaEventBuilder::new()
        .record("quotes", 0, 1, Some(b"AMZN"), Some(&quote("AMZN", 1)), &[("trace", "ë".as_bytes())])
        .record("quotes", 0, 2, Some(b"AMZN"), Some(b"not json"), &[])
        .record("quotes", 0, 3, Some(b"AMZN"), None, &[])
        .record("quotes", 0, 4, None, Some(&quote("TSLA", 4)), &[])
        .record("quotes", 0, 5, Some(&[0xff, 0xfe]), Some(&quote("AMZN", 5)), &[])
        .record("quotes", 0, 6, Some(b"AMZN"), Some(br#"{"symbol":"AMZN","timestamp":1,"open":1,"high":0,"low":1,"close":1,"volume":1}"#), &[])
        .record("quotes", 0, 7, Some(b"AMZN"), Some(&quote("AMZN", 7)), &[])
        .record("amazon", 0, 8, None, Some(br#"{"topic":"amazon","value":"{\"Open\":1,\"High\":2,\"Low\":0.5,\"Close\":1.5,\"Adj Close\":1.5,\"Volume\":10}"}"#), &[])
        .build();
    let mut raw = event.clone();
    raw["records"]["quotes-0"][1]["value"] = serde_json::json!("%%% not base64");
    let response = c.handle_json(raw).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let got = collect(&mut sub, 4).await;
    assert_eq!(got.get("AMZN"), Some(&vec![1, 7]));
    assert_eq!(
        got.get("TSLA"),
        Some(&vec![4]),
        "no key: the quote's own symbol"
    );
    assert!(
        got.contains_key("amazon"),
        "reference payload, no key: the topic name"
    );
    // Counted, not lost silently.
    let (_, stats) = c
        .handle(&quotecast_consumer::records::decode_event(event).unwrap())
        .await;
    assert_eq!(
        (stats.records, stats.published, stats.skipped, stats.failed),
        (8, 4, 4, 0)
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_until_delivered() {
    let appsync = LocalAppSync::start().await;
    let mut sub = appsync.subscriber("all").await;
    // Every other request fails: 429, 500, 503, then a timeout, in turn.
    let proxy = FaultProxy::start(
        &appsync.graphql_url(),
        Arc::new(|n, _| match n % 8 {
            1 => Fault::Fail(429),
            3 => Fault::Fail(500),
            5 => Fault::Fail(503),
            7 => Fault::Delay(Duration::from_millis(800)),
            _ => Fault::Forward,
        }),
    )
    .await;
    // A roomy deadline: this test is about retries, not about running out of time.
    let c = Consumer::new(
        &config_with(&proxy.url(), &[("RETRY_BUDGET_MS", "20000")]),
        iam(SECRET),
    )
    .unwrap();
    let (response, stats) = c
        .handle(&quotecast_consumer::records::decode_event(event(2, 300)).unwrap())
        .await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(stats.published, 600);
    assert!(stats.requests > 6, "retries happened: {stats:?}");
    // A request that timed out on the client may still have been delivered: at least once,
    // in order, nothing missing.
    let got = collect(&mut sub, 600).await;
    for (symbol, seqs) in expected(2, 300) {
        assert!(
            is_subsequence_in_order(&seqs, &got[&symbol]),
            "{symbol} out of order"
        );
        let mut delivered = got[&symbol].clone();
        delivered.sort();
        delivered.dedup();
        assert_eq!(delivered, seqs, "{symbol} complete");
    }
}

/// Whether `got` walks through `want` without skipping ahead: replays of earlier items
/// (at-least-once delivery) are allowed, gaps and reordering past the frontier are not.
fn is_subsequence_in_order(want: &[u64], got: &[u64]) -> bool {
    let mut frontier: Option<usize> = None;
    for v in got {
        match want.iter().position(|w| w == v) {
            Some(i) if i <= frontier.map_or(0, |f| f + 1) => {
                frontier = Some(frontier.map_or(i, |f| f.max(i)))
            }
            _ => return false,
        }
    }
    true
}

#[test]
fn the_order_check_itself_catches_gaps_and_reordering() {
    assert!(is_subsequence_in_order(&[0, 2, 4, 6], &[0, 2, 4, 2, 4, 6]));
    assert!(!is_subsequence_in_order(&[0, 2, 4, 6], &[0, 4, 2, 6]));
    assert!(!is_subsequence_in_order(&[0, 2, 4, 6], &[2, 0, 4, 6]));
    assert!(!is_subsequence_in_order(&[0, 2, 4], &[0, 9]));
}

#[tokio::test]
async fn a_partition_that_keeps_failing_is_reported_and_nothing_after_it_is_sent() {
    let appsync = LocalAppSync::start().await;
    let mut sub = appsync.subscriber("all").await;
    // Requests carrying partition 1's records from volume 150 on fail with 500 for ever.
    let proxy = FaultProxy::start(
        &appsync.graphql_url(),
        Arc::new(|_, body| {
            let text = String::from_utf8_lossy(body);
            if text.contains("P1A") && text.contains(r#"\"volume\":150"#) {
                Fault::Fail(500)
            } else {
                Fault::Forward
            }
        }),
    )
    .await;
    let c = consumer(&proxy.url());
    let (response, stats) = c
        .handle(&quotecast_consumer::records::decode_event(event(3, 250)).unwrap())
        .await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        response.failed_offset("quotes-1"),
        Some(1100),
        "first offset of the failing request"
    );
    assert_eq!(stats.failed, 150);
    assert_eq!(stats.published, 600);
    let got = collect(&mut sub, 600).await;
    let want = expected(3, 250);
    for symbol in ["P0A", "P0B", "P2A", "P2B"] {
        assert_eq!(
            got[symbol], want[symbol],
            "{symbol}: other partitions are complete"
        );
    }
    assert_eq!(
        got["P1A"],
        (0..100).step_by(2).collect::<Vec<u64>>(),
        "nothing after the failure"
    );
    assert_eq!(got["P1B"], (1..100).step_by(2).collect::<Vec<u64>>());
}

#[tokio::test]
async fn sigv4_publishing_is_verified_by_the_local_server() {
    let appsync = LocalAppSync::start().await;
    let mut sub = appsync.subscriber("all").await;
    let good = Consumer::new(&config(&appsync.graphql_url()), iam(SECRET)).unwrap();
    let response = good.handle_json(event(1, 10)).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(collect(&mut sub, 10).await, expected(1, 10));
    let forged = Consumer::new(&config(&appsync.graphql_url()), iam("wrong")).unwrap();
    let (response, stats) = forged
        .handle(&quotecast_consumer::records::decode_event(event(1, 10)).unwrap())
        .await;
    assert_eq!(response.failed_offset("quotes-0"), Some(1000));
    assert_eq!(stats.requests, 1, "a 403 is not retried");
}

#[tokio::test]
async fn a_wrong_api_key_fails_the_batch_without_retrying() {
    let appsync = LocalAppSync::start().await;
    let c = Consumer::new(
        &config(&appsync.graphql_url()),
        Auth::ApiKey("da2-wrong".into()),
    )
    .unwrap();
    let (response, stats) = c
        .handle(&quotecast_consumer::records::decode_event(event(2, 5)).unwrap())
        .await;
    assert_eq!(response.batch_item_failures.len(), 2);
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.failed, 10);
}

/// quotecast's schema with `publish` admitting only `directive`.
fn schema_with_publish_only(directive: &str) -> String {
    format!(
        r#"
        type Channel @aws_api_key @aws_iam {{ name: String data: AWSJSON }}
        type Query {{ getChannel: Channel @aws_api_key @aws_iam }}
        type Mutation {{ publish(name: String!, data: AWSJSON!): Channel {directive} }}
        type Subscription {{
          subscribe(filter: String): Channel @aws_subscribe(mutations: ["publish"]) @aws_api_key @aws_iam
        }}
        schema {{ query: Query mutation: Mutation subscription: Subscription }}
        "#
    )
}

/// Issue 13: an IAM field denial (HTTP 200, `data.m0 = null`, `errorType: Unauthorized`) used
/// to count as "refused one by one": every record skipped and committed, nothing published.
/// The server denies the consumer's principal on `publish` by the schema's directives, both
/// ways round: `@aws_iam` only with an API-key consumer, `@aws_api_key` only with SigV4.
#[tokio::test]
async fn a_principal_denied_on_publish_skips_nothing_and_commits_nothing() {
    for (directive, auth) in [
        ("@aws_iam", Auth::ApiKey(API_KEY.to_owned())),
        ("@aws_api_key", iam(SECRET)),
    ] {
        let sdl = schema_with_publish_only(directive);
        let appsync = LocalAppSync::start_with(|c| c.schema_sdl = Some(sdl.as_str().into())).await;
        let mut sub = appsync.subscriber("all").await;
        let c = Consumer::new(&config(&appsync.graphql_url()), auth).unwrap();
        let (response, stats) = c
            .handle(&quotecast_consumer::records::decode_event(event(2, 150)).unwrap())
            .await;
        assert_eq!(
            (
                response.failed_offset("quotes-0"),
                response.failed_offset("quotes-1"),
                response.batch_item_failures.len()
            ),
            (Some(1000), Some(1000), 2),
            "publish {directive}: each partition from its first record, nothing committed"
        );
        assert_eq!(
            (stats.published, stats.skipped, stats.failed),
            (0, 0, 300),
            "publish {directive}: nothing skipped: {stats:?}"
        );
        assert_eq!(stats.requests, 2, "a denial is not retried: {stats:?}");
        assert!(collect(&mut sub, 0).await.is_empty(), "nothing delivered");
    }
}

/// The one refusal that is about the record itself: a payload above the subscription payload
/// limit is refused every time, so that record alone is skipped and counted.
#[tokio::test]
async fn a_record_too_large_to_deliver_is_skipped_and_the_partition_goes_on() {
    let appsync = LocalAppSync::start_with(|c| c.max_payload_bytes = 2048).await;
    let mut sub = appsync.subscriber("all").await;
    // A reference-sample payload is forwarded as it is, padding included.
    let big = format!(
        r#"{{"topic":"amazon","value":"{{\"Open\":1,\"High\":2,\"Low\":0.5,\"Close\":1.5,\"Adj Close\":1.5,\"Volume\":10}}","pad":"{}"}}"#,
        "x".repeat(4096)
    );
    let event = KafkaEventBuilder::new()
        .record("quotes", 0, 1, Some(b"AMZN"), Some(&quote("AMZN", 1)), &[])
        .record("quotes", 0, 2, Some(b"AMZN"), Some(big.as_bytes()), &[])
        .record("quotes", 0, 3, Some(b"AMZN"), Some(&quote("AMZN", 3)), &[])
        .build();
    let c = Consumer::new(&config(&appsync.graphql_url()), iam(SECRET)).unwrap();
    let (response, stats) = c
        .handle(&quotecast_consumer::records::decode_event(event).unwrap())
        .await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(
        (stats.published, stats.skipped, stats.failed),
        (2, 1, 0),
        "{stats:?}"
    );
    assert_eq!(collect(&mut sub, 2).await.get("AMZN"), Some(&vec![1, 3]));
}

/// Issue 14: a budget per request let a slow AppSync stretch an invocation past the Lambda's
/// timeout (and then every partition was delivered again). Partition 1's requests take
/// 600 ms each, five chunks of them; the deadline (1 s from the start) stops it after the
/// request in flight, partition 0 is unaffected.
#[tokio::test]
async fn a_slow_appsync_cannot_stretch_an_invocation_past_its_deadline() {
    let appsync = LocalAppSync::start().await;
    let mut sub = appsync.subscriber("all").await;
    let proxy = FaultProxy::start(
        &appsync.graphql_url(),
        Arc::new(|_, body| {
            if String::from_utf8_lossy(body).contains("P1") {
                Fault::Delay(Duration::from_millis(600))
            } else {
                Fault::Forward
            }
        }),
    )
    .await;
    let (budget, request_timeout) = (Duration::from_millis(1000), Duration::from_millis(1000));
    let c = Consumer::new(
        &config_with(
            &proxy.url(),
            &[
                ("PUBLISH_CHUNK_SIZE", "10"),
                ("RETRY_BUDGET_MS", "1000"),
                ("REQUEST_TIMEOUT_MS", "1000"),
            ],
        ),
        iam(SECRET),
    )
    .unwrap();
    let started = Instant::now();
    let (response, stats) = c
        .handle(&quotecast_consumer::records::decode_event(event(2, 50)).unwrap())
        .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < budget + request_timeout + Duration::from_millis(400),
        "the invocation took {elapsed:?}"
    );
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "only the slow partition: {response:?}"
    );
    assert_eq!(
        response.failed_offset("quotes-1"),
        Some(1020),
        "two chunks started before the deadline, the third did not"
    );
    assert_eq!((stats.published, stats.failed), (70, 30), "{stats:?}");
    let got = collect(&mut sub, 70).await;
    let want = expected(2, 50);
    assert_eq!((&got["P0A"], &got["P0B"]), (&want["P0A"], &want["P0B"]));
    assert_eq!(got["P1A"], (0..20).step_by(2).collect::<Vec<u64>>());
}

/// A partition whose requests fail with 503 for ever while another succeeds: the invocation
/// returns by the deadline (plus at most one request timeout) and reports only the failing
/// partition, from its first record.
#[tokio::test]
async fn a_partition_failing_for_ever_is_reported_by_the_deadline_and_only_it() {
    let appsync = LocalAppSync::start().await;
    let proxy = FaultProxy::start(
        &appsync.graphql_url(),
        Arc::new(|_, body| {
            if String::from_utf8_lossy(body).contains("P1") {
                Fault::Fail(503)
            } else {
                Fault::Forward
            }
        }),
    )
    .await;
    let c = Consumer::new(
        &config_with(
            &proxy.url(),
            &[("PUBLISH_CHUNK_SIZE", "10"), ("RETRY_BUDGET_MS", "1000")],
        ),
        iam(SECRET),
    )
    .unwrap();
    let started = Instant::now();
    let (response, stats) = c
        .handle(&quotecast_consumer::records::decode_event(event(3, 50)).unwrap())
        .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(1000 + 500 + 400),
        "the invocation took {elapsed:?}"
    );
    assert!(
        elapsed > Duration::from_millis(500),
        "it retried until near the deadline: {elapsed:?}"
    );
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "only the failing partition: {response:?}"
    );
    assert_eq!(response.failed_offset("quotes-1"), Some(1000));
    assert_eq!((stats.published, stats.failed), (100, 50), "{stats:?}");
    assert!(
        stats.requests > 10 + 3,
        "partition 1 was retried: {stats:?}"
    );
}
