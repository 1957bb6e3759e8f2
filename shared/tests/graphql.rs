//! The GraphQL documents and the batched publish request.
#![allow(clippy::unwrap_used)]

use quotecast_shared::Channel;
use quotecast_shared::graphql::{
    GET_CHANNEL_QUERY, GraphqlRequest, PUBLISH_MUTATION, PublishBatch, SCHEMA,
    SUBSCRIBE_SUBSCRIPTION,
};
use serde_json::Value;

#[test]
fn schema_keeps_the_reference_fields() {
    for needle in [
        "type Channel",
        "name: String\n",
        "data: AWSJSON\n",
        "publish(name: String!, data: AWSJSON!): Channel",
        "getChannel: Channel",
        "subscribe(filter: String): Channel",
        r#"@aws_subscribe(mutations: ["publish"])"#,
    ] {
        assert!(SCHEMA.contains(needle), "schema lost {needle:?}");
    }
    assert!(PUBLISH_MUTATION.contains("publish(name: $name, data: $data)"));
    assert!(SUBSCRIBE_SUBSCRIPTION.contains("subscribe(filter: $filter)"));
    assert!(GET_CHANNEL_QUERY.contains("getChannel"));
}

#[test]
fn single_publish_request_uses_variables() {
    let req = GraphqlRequest::publish(&Channel::new("AMZN", r#"{"close":1}"#));
    let body: Value = serde_json::from_str(&req.to_json()).unwrap();
    assert_eq!(body["query"], PUBLISH_MUTATION);
    assert_eq!(body["variables"]["name"], "AMZN");
    assert_eq!(body["variables"]["data"], r#"{"close":1}"#);
    assert!(body.get("operationName").is_none());
    let back: GraphqlRequest = serde_json::from_value(body).unwrap();
    assert_eq!(back, req);
}

#[test]
fn subscribe_request_carries_the_filter_only_when_given() {
    assert!(GraphqlRequest::subscribe(None).variables.is_empty());
    let req = GraphqlRequest::subscribe(Some("{}"));
    assert_eq!(req.variables["filter"], "{}");
}

#[test]
fn batch_aliases_fields_in_order_with_their_own_variables() {
    let mut batch = PublishBatch::new();
    assert!(batch.is_empty());
    assert!(
        batch.to_request().is_none(),
        "an empty batch has no valid document"
    );
    let channels: Vec<Channel> = (0..3)
        .map(|i| Channel::new(format!("S{i}"), format!(r#"{{"n":"quote \"{i}\""}}"#)))
        .collect();
    for ch in &channels {
        batch.push(ch.clone());
    }
    assert_eq!(batch.len(), 3);
    let req = batch.to_request().unwrap();
    assert_eq!(req.operation_name.as_deref(), Some("PublishBatch"));
    let positions: Vec<usize> = (0..3)
        .map(|i| {
            req.query
                .find(&format!(
                    "{}: publish(name: $n{i}, data: $d{i})",
                    PublishBatch::alias(i)
                ))
                .unwrap()
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "fields in push order"
    );
    assert!(req.query.contains("$n2: String!, $d2: AWSJSON!"));
    for (i, ch) in channels.iter().enumerate() {
        assert_eq!(req.variables[&format!("n{i}")], ch.name.as_str());
        assert_eq!(req.variables[&format!("d{i}")], ch.data.as_str());
    }
    assert!(
        req.to_json().len() <= batch.estimated_body_len(),
        "estimate is an upper bound"
    );
    assert_eq!(batch.channels(), channels.as_slice());
}

#[test]
fn kafka_batch_response_has_the_documented_shape() {
    use quotecast_shared::lambda::KafkaBatchResponse;
    let mut r = KafkaBatchResponse::default();
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        serde_json::json!({"batchItemFailures": []})
    );
    r.fail("mytopic-0", 15);
    r.fail("mytopic-0", 12);
    assert_eq!(
        serde_json::to_value(&r).unwrap()["batchItemFailures"][0],
        serde_json::json!({"itemIdentifier": {"partition": "mytopic-0", "offset": 15}})
    );
    assert_eq!(r.failed_offset("mytopic-0"), Some(12));
    assert_eq!(r.failed_offset("mytopic-1"), None);
    let null: KafkaBatchResponse = serde_json::from_str(r#"{"batchItemFailures":null}"#).unwrap();
    assert!(null.batch_item_failures.is_empty());
    let missing: KafkaBatchResponse = serde_json::from_str("{}").unwrap();
    assert!(missing.batch_item_failures.is_empty());
}
