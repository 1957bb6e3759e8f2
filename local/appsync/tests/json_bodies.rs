//! JSON the server accepts is read as written: a key written twice in an object is refused
//! (over HTTP, in a socket frame, in a `start`'s data, in an AWSJSON argument), never read
//! last-wins; and a body is refused before it is built when it holds more values or objects
//! than its length allows (5 MiB of one-entry objects cost ~0.45 GB once built).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::ServerMessage;
use serde_json::Value;

/// Posts `body` as it is written, with the API key.
async fn post_text(server: &TestServer, body: String) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(server.graphql_url())
        .header("x-api-key", API_KEY)
        .timeout(Duration::from_secs(10))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(Value::Null);
    (status, json, started.elapsed())
}

fn error_of(body: &Value) -> (&str, &str) {
    (
        body["errors"][0]["errorType"].as_str().unwrap_or(""),
        body["errors"][0]["message"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn a_key_written_twice_is_refused_over_http_on_the_socket_and_in_awsjson() {
    let server = start(config()).await;
    // Over HTTP: at the top, and inside the variables.
    for body in [
        r#"{"query": "query { getChannel { name } }", "query": "mutation { x }"}"#,
        r#"{"query": "query Q($n: String!) { history(name: $n) { name } }", "variables": {"n": "A", "n": "B"}}"#,
    ] {
        let (status, answer, _) = post_text(&server, body.to_owned()).await;
        let (error_type, message) = error_of(&answer);
        assert_eq!(status, 400, "{answer}");
        assert_eq!(error_type, "MalformedHttpRequestException");
        assert!(message.contains("duplicate key"), "{message}");
    }
    // Each once: served.
    let (status, answer, _) = post_text(
        &server,
        r#"{"query": "query { getChannel { name } }"}"#.to_owned(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");

    // An AWSJSON argument with a key twice: a field error, nothing published.
    let mut subscriber = server.client().await;
    subscriber
        .subscribe("all", &GraphqlRequest::subscribe(None), &server.auth())
        .await
        .unwrap();
    let publish = GraphqlRequest::new(
        "mutation P($d: AWSJSON!) { publish(name: \"AMZN\", data: $d) { name data } }",
    )
    .with_variable("d", r#"{"close": 1, "close": 2}"#);
    let (status, answer) = server.http().post(&publish).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"], Value::Null, "{answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("duplicate key"), "{answer}");
    subscriber.set_timeout(Duration::from_millis(300));
    assert!(subscriber.recv().await.is_err(), "nothing was published");
    subscriber.set_timeout(Duration::from_secs(2));

    // A socket frame and a `start`'s data: an error frame each; the connection stays.
    subscriber
        .send_text(r#"{"type": "stop", "id": "all", "id": "other"}"#)
        .await
        .unwrap();
    match subscriber.recv().await.unwrap() {
        ServerMessage::Error { errors, .. } => {
            assert_eq!(errors[0].error_type.as_deref(), Some("BadRequestException"));
            let message = errors[0].message.as_deref().unwrap_or("");
            assert!(message.contains("duplicate key"), "{errors:?}");
        }
        other => panic!("expected an error frame, got {other:?}"),
    }
    let data = r#"{"query": "subscription { subscribe { name } }", "query": "subscription { subscribe { data } }"}"#;
    let start = serde_json::json!({
        "type": "start",
        "id": "twice",
        "payload": {
            "data": data,
            "extensions": {"authorization": server.auth()},
        },
    });
    subscriber.send_text(&start.to_string()).await.unwrap();
    match subscriber.recv().await.unwrap() {
        ServerMessage::Error { id, errors } => {
            assert_eq!(id.as_deref(), Some("twice"));
            let message = errors[0].message.as_deref().unwrap_or("");
            assert!(message.contains("duplicate key"), "{errors:?}");
        }
        other => panic!("expected an error for the start, got {other:?}"),
    }
    // A filter with a key twice: refused at `start`, not read as the last one.
    let twice =
        GraphqlRequest::subscribe(Some(r#"{"name": {"eq": "AMZN"}, "name": {"eq": "MSFT"}}"#));
    let refused = subscriber
        .subscribe("filter-twice", &twice, &server.auth())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("duplicate key"), "{refused}");
    // A frame holding more values than its length allows (a 4,097-element array in a
    // 10 KB frame): an error frame, nothing built from it.
    let zeros = vec!["0"; 5_000].join(",");
    subscriber
        .send_text(&format!(
            r#"{{"type": "stop", "id": "all", "x": [{zeros}]}}"#
        ))
        .await
        .unwrap();
    match subscriber.recv().await.unwrap() {
        ServerMessage::Error { errors, .. } => {
            let message = errors[0].message.as_deref().unwrap_or("");
            assert!(message.contains("more than 4096 values"), "{errors:?}");
        }
        other => panic!("expected an error frame, got {other:?}"),
    }
    assert_still_serves(&server, "after").await;
    server.stop().await;
}

#[tokio::test]
async fn a_body_of_many_small_values_is_refused_before_it_is_built() {
    let server = start(config()).await;
    let query = "query Q($n: String!) { history(name: $n) { name } }";
    // ~5 MiB of one-entry objects, then of small numbers, in the variables.
    let objects = vec![r#"{"a":1}"#; 600_000].join(",");
    let numbers = vec!["0"; 2_500_000].join(",");
    for (list, what) in [(objects, "objects"), (numbers, "values")] {
        let body = format!(r#"{{"query": "{query}", "variables": {{"n": "A", "x": [{list}]}}}}"#);
        assert!(body.len() < 5 * 1024 * 1024, "{}", body.len());
        let (status, answer, took) = post_text(&server, body).await;
        println!("{what}: refused in {took:?}");
        let (error_type, message) = error_of(&answer);
        assert_eq!(status, 400, "{answer}");
        assert_eq!(error_type, "MalformedHttpRequestException");
        assert!(message.contains(what), "{message}");
    }
    assert_still_serves(&server, "after").await;
    server.stop().await;
}
