//! Publish cost: one publish does work proportional to the subscriptions it reaches, however
//! many distinct aliases or selection sets they use, and no filter is big enough to make
//! testing it expensive (issue 13, point 5).
//!
//! Before the fix the hub looked a payload up by scanning the (selection, key) pairs already
//! written, so 3,000 subscriptions with unique aliases cost ~4.5 million comparisons under
//! the hub's read lock per publish, and wrote the same selection 3,000 times.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use quotecast_appsync::graphql::{SelectedField, Selection};
use quotecast_appsync::hub::{Hub, Subscriber};
use quotecast_appsync::outbox::{Batch, Outbox};
use quotecast_shared::filter::{Filter, MAX_CONDITIONS};
use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::{ClientMessage, ServerMessage, StartPayload};
use serde_json::{Map, Value, json};

const SUBSCRIPTIONS: usize = 3_000;

/// A filter at every limit: 10 groups × 5 distinct fields = [`MAX_CONDITIONS`], pinning no
/// channel name (so every subscription is a candidate), written so that a publish of `seq`
/// evaluates all 50 conditions: groups 0–8 fail on their last condition, group 9 decides.
fn maximal_filter(seq_wanted: u64) -> Value {
    let group = |last: Value| {
        json!({"and": [
            {"name": {"ne": "NOPE"}},
            {"data.symbol": {"ne": "NOPE"}},
            {"data.close": {"gt": 0}},
            {"data.seq": {"ge": 0}},
            last,
        ]})
    };
    let mut groups: Vec<Value> = (0..9)
        .map(|g| group(json!({"data.missing": {"eq": g}})))
        .collect();
    groups.push(group(json!({"data.seq": {"eq": seq_wanted}})));
    json!({ "or": groups })
}

fn field(key: &str, name: &str) -> SelectedField {
    SelectedField {
        key: key.to_owned(),
        name: name.to_owned(),
        sub: None,
    }
}

/// Subscription `i`'s response key and selection: both aliased uniquely when `unique_inner`,
/// only the root field otherwise.
fn shape(i: usize, unique_inner: bool) -> (String, Selection) {
    let name_key = if unique_inner {
        format!("n{i}")
    } else {
        "name".to_owned()
    };
    let selection = Selection {
        type_name: "Channel".to_owned(),
        fields: vec![field(&name_key, "name"), field("data", "data")],
    };
    (format!("a{i}"), selection)
}

/// Registers `n` subscriptions with unique aliases and maximal filters (even ones match
/// seq 5), publishes seq 5, checks every frame, then publishes four times more. Returns the
/// fastest of the five publishes and the selections the first one wrote.
async fn publish_to(n: usize, unique_inner: bool) -> (Duration, u64) {
    let hub = Hub::new();
    let filters = [
        Filter::from_input(&maximal_filter(5)).unwrap(),
        Filter::from_input(&maximal_filter(6)).unwrap(),
    ];
    assert!(
        filters
            .iter()
            .all(|f| f.groups().iter().map(Vec::len).sum::<usize>() == MAX_CONDITIONS)
    );
    let outboxes: Vec<Arc<Outbox>> = (0..n)
        .map(|i| {
            let outbox = Arc::new(Outbox::new(1 << 16, 8 * 1024));
            let (key, selection) = shape(i, unique_inner);
            let sub = Subscriber {
                outbox: outbox.clone(),
                id: format!("s{i}"),
                key,
                filter: filters[i % 2].clone(),
                selection,
            };
            hub.register("subscribe", sub, || {});
            outbox
        })
        .collect();
    let data = r#"{"symbol":"AMZN","seq":5,"close":105}"#;
    let published: Map<String, Value> = json!({"name": "AMZN", "data": data})
        .as_object()
        .cloned()
        .unwrap();
    let event = json!({"name": "AMZN", "data": serde_json::from_str::<Value>(data).unwrap()});

    let started = Instant::now();
    let fan_out = hub.publish("subscribe", &published, &event);
    let took = started.elapsed();

    let writes = hub.selection_writes();
    assert_eq!((fan_out.delivered, fan_out.dropped), (n / 2, 0));
    for (i, outbox) in outboxes.iter().enumerate() {
        let mut batch = Batch::default();
        // Frames already queued are taken at once; an empty outbox would wait, so bound it.
        let _ = tokio::time::timeout(Duration::ZERO, outbox.next_batch(&mut batch)).await;
        if i % 2 == 1 {
            assert!(batch.is_empty(), "s{i} does not match but got {batch:?}");
            continue;
        }
        let texts = read_texts(batch.bytes());
        assert_eq!(texts.len(), 1, "s{i} must get the publish exactly once");
        let text = &texts[0];
        let Ok(ServerMessage::Data { id, payload }) = ServerMessage::decode(text) else {
            panic!("not a data frame: {text}");
        };
        let (key, selection) = shape(i, unique_inner);
        let name_key = &selection.fields[0].key;
        assert_eq!(id, format!("s{i}"));
        assert_eq!(
            payload,
            json!({"data": {key: {name_key.as_str(): "AMZN", "data": data}}})
        );
    }
    let fastest = (0..4)
        .map(|_| {
            let started = Instant::now();
            hub.publish("subscribe", &published, &event);
            started.elapsed()
        })
        .fold(took, Duration::min);
    (fastest, writes)
}

#[tokio::test]
async fn unique_root_aliases_share_one_written_selection() {
    let (took, writes) = publish_to(SUBSCRIPTIONS, false).await;
    eprintln!("3,000 unique root aliases, 50-condition filters: publish took {took:?}");
    // One selection set among 1,500 matching subscriptions: written once, not 1,500 times.
    assert_eq!(writes, 1);
    assert!(took < Duration::from_secs(2), "publish took {took:?}");
}

#[tokio::test]
async fn unique_selection_sets_cost_linear_time() {
    let (took, writes) = publish_to(SUBSCRIPTIONS, true).await;
    eprintln!("3,000 unique selection sets, 50-condition filters: publish took {took:?}");
    // Each matching subscription has its own selection: each is written once, found by id.
    assert_eq!(writes, (SUBSCRIPTIONS / 2) as u64);
    // Generous for a loaded machine: ~50 ms unoptimised (the old scan: ~100-220 ms).
    assert!(took < Duration::from_secs(2), "publish took {took:?}");
}

/// The same through the server: 30 connections × 100 subscriptions, each `aN: subscribe`
/// with a maximal filter; one HTTP publish reaches each matching subscription once.
#[tokio::test]
async fn one_publish_through_the_server_to_3000_aliased_subscriptions() {
    let server = start(config()).await;
    let per_connection = server.app.config.max_subscriptions_per_connection;
    let mut clients = Vec::new();
    for c in 0..SUBSCRIPTIONS.div_ceil(per_connection) {
        let mut client = server.client().await;
        let subs: Vec<(String, GraphqlRequest)> = (c * per_connection
            ..((c + 1) * per_connection).min(SUBSCRIPTIONS))
            .map(|i| {
                let query = format!(
                    "subscription S($filter: String) {{ a{i}: subscribe(filter: $filter) {{ name data }} }}"
                );
                let filter = maximal_filter(if i % 2 == 0 { 5 } else { 6 }).to_string();
                (
                    format!("s{i}"),
                    GraphqlRequest::new(&query).with_variable("filter", filter.as_str()),
                )
            })
            .collect();
        client.subscribe_many(&subs, &server.auth()).await.unwrap();
        clients.push(client);
    }
    assert_eq!(server.app.hub.subscription_count(), SUBSCRIPTIONS);
    assert_eq!(server.app.hub.distinct_selections(), 1);

    let writes_before = server.app.hub.selection_writes();
    let started = Instant::now();
    let (status, _) = server.http().publish(&[channel("AMZN", 5)]).await.unwrap();
    assert_eq!(status, 200);
    eprintln!(
        "HTTP publish to 3,000 aliased subscriptions: {:?}",
        started.elapsed()
    );
    assert_eq!(server.app.hub.selection_writes() - writes_before, 1);

    let mut got = std::collections::BTreeSet::new();
    for client in &mut clients {
        client.set_timeout(Duration::from_millis(300));
        while let Ok(msg) = client.recv().await {
            let ServerMessage::Data { id, payload } = msg else {
                panic!("unexpected {}", msg.encode());
            };
            let i: usize = id[1..].parse().unwrap();
            assert_eq!(i % 2, 0, "{id} does not match");
            assert_eq!(payload["data"][format!("a{i}")]["name"], "AMZN");
            assert!(got.insert(i), "{id} got the publish twice");
        }
    }
    assert_eq!(got.len(), SUBSCRIPTIONS / 2);
    server.stop().await;
}

/// 51 conditions (one more than [`MAX_CONDITIONS`]) on one field: AppSync's distinct-field
/// limit alone lets this through; `start` refuses it with the reason.
#[tokio::test]
async fn a_filter_with_too_many_conditions_is_refused_at_start() {
    let server = start(config()).await;
    let mut c = server.client().await;
    let ands = |n: usize| {
        json!({"and": (0..n).map(|i| json!({"name": {"ne": format!("X{i}")}})).collect::<Vec<_>>()})
            .to_string()
    };
    for n in [MAX_CONDITIONS + 1, 3_000] {
        c.send(&ClientMessage::Start {
            id: "f".to_owned(),
            payload: StartPayload::new(&GraphqlRequest::subscribe(Some(&ands(n))), server.auth()),
        })
        .await
        .unwrap();
        match c.recv().await.unwrap() {
            ServerMessage::Error {
                id: Some(id),
                errors,
            } => {
                assert_eq!(id, "f");
                assert_eq!(errors[0].error_type.as_deref(), Some("BadRequestException"));
                let msg = errors[0].message.clone().unwrap_or_default();
                assert!(msg.contains("at least 51 conditions"), "{msg}");
                assert!(msg.contains("at most 50"), "{msg}");
            }
            other => panic!("expected an error, got {}", other.encode()),
        }
    }
    assert_eq!(server.app.hub.subscription_count(), 0);
    // Exactly at the limit is accepted.
    c.subscribe(
        "ok",
        &GraphqlRequest::subscribe(Some(&ands(MAX_CONDITIONS))),
        &server.auth(),
    )
    .await
    .unwrap();
    server.stop().await;
}

/// The text messages in bytes a server wrote, read by tungstenite as a client would.
fn read_texts(bytes: &[u8]) -> Vec<String> {
    use tungstenite::protocol::{Role, WebSocket};
    let mut ws =
        WebSocket::from_raw_socket(std::io::Cursor::new(bytes.to_vec()), Role::Client, None);
    let mut texts = Vec::new();
    while let Ok(message) = ws.read() {
        texts.push(message.into_text().unwrap().to_string());
    }
    texts
}
