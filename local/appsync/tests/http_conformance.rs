//! `POST /graphql`, row by row of `APPSYNC_SPEC.md` §C.3–C.5, over real HTTP.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use quotecast_appsync::Config;
use quotecast_shared::graphql::{GraphqlRequest, PUBLISH_MUTATION};
use quotecast_shared::realtime::ServerMessage;
use serde_json::{Value, json};

/// Posts raw bytes with the given headers; returns status, `x-amzn-ErrorType` and JSON body.
async fn post(
    server: &TestServer,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .post(server.graphql_url())
        .body(body.to_owned());
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, error_type, response.json().await.unwrap())
}

/// Posts `body` as a writer: SigV4-signed with the test IAM key (the public key only reads).
async fn as_writer(server: &TestServer, body: &str) -> (u16, Value) {
    let headers = iam_headers(&server.graphql_url(), body.as_bytes(), SECRET);
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(k, _)| k != "host")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, _, body) = post(server, &headers, body).await;
    (status, body)
}

async fn with_key(server: &TestServer, body: &str) -> (u16, Value) {
    let (status, _, body) = post(server, &[("x-api-key", API_KEY)], body).await;
    (status, body)
}

/// The public key is in every browser: it may query and subscribe, never publish. AppSync
/// answers a field the caller's mode may not reach with HTTP 200, `null` data and an
/// `Unauthorized` error naming the field (§C.3).
#[tokio::test]
async fn the_public_api_key_may_query_but_never_publish() {
    let server = start(config()).await;
    let mut subscriber = server.client().await;
    let all = GraphqlRequest::subscribe(None);
    subscriber
        .subscribe("s", &all, &server.auth())
        .await
        .unwrap();
    let (status, body) = with_key(&server, &publish_body("AMZN", json!("{\"close\":1}"))).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["publish"], Value::Null);
    assert_eq!(body["errors"][0]["errorType"], "Unauthorized");
    assert_eq!(
        body["errors"][0]["message"],
        "Not Authorized to access publish on type Mutation"
    );
    let query = json!({"query": "query { getChannel { name } }"}).to_string();
    let (status, body) = with_key(&server, &query).await;
    assert_eq!((status, body.get("errors")), (200, None), "{body}");
    // Nothing reached the subscriber; a signed publish does.
    let (_, body) = as_writer(&server, &publish_body("AMZN", json!("{\"close\":2}"))).await;
    assert_eq!(body.get("errors"), None, "{body}");
    let frame = subscriber.recv().await.unwrap();
    let ServerMessage::Data { payload, .. } = frame else {
        panic!("expected data, got {frame:?}");
    };
    assert_eq!(payload["data"]["subscribe"]["data"], "{\"close\":2}");
    server.stop().await;
}

fn publish_body(name: &str, data: Value) -> String {
    json!({"query": PUBLISH_MUTATION, "variables": {"name": name, "data": data}}).to_string()
}

/// `quotecast appsync --schema`: a schema without auth directives (the reference sample's)
/// leaves every field to the default mode, so there the API key may publish — exactly as on
/// the reference's API — and IAM, an additional mode, may not.
#[tokio::test]
async fn a_schema_without_auth_directives_lets_the_api_key_publish() {
    let sdl = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schema/reference/schema.graphql"
    ))
    .unwrap();
    let server = start(Config {
        schema_sdl: Some(sdl.into()),
        ..config()
    })
    .await;
    let mut subscriber = server.client().await;
    let all = GraphqlRequest::subscribe(None);
    subscriber
        .subscribe("s", &all, &server.auth())
        .await
        .unwrap();
    let (status, body) = with_key(&server, &publish_body("AMZN", json!("{\"close\":3}"))).await;
    assert_eq!((status, body.get("errors")), (200, None), "{body}");
    let frame = subscriber.recv().await.unwrap();
    assert!(matches!(frame, ServerMessage::Data { .. }), "{frame:?}");
    let (_, body) = as_writer(&server, &publish_body("AMZN", json!("{\"close\":4}"))).await;
    assert_eq!(body["errors"][0]["errorType"], "Unauthorized", "{body}");
    server.stop().await;
}

/// The name index is read as filters read the event: with a schema whose `name` is AWSJSON,
/// the published text `1` is the number 1, which `{"name":{"eq":"1"}}` does not match, and
/// the text `"AMZN"` is the string AMZN, which `{"name":{"eq":"AMZN"}}` does.
#[tokio::test]
async fn an_awsjson_name_is_indexed_as_the_filters_read_it() {
    let sdl = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schema/schema.graphql"
    ))
    .unwrap()
    .replacen(
        "name: String\n  data: AWSJSON",
        "name: AWSJSON\n  data: AWSJSON",
        1,
    )
    .replace("publish(name: String!", "publish(name: AWSJSON!");
    assert!(sdl.contains("publish(name: AWSJSON!"));
    let server = start(Config {
        schema_sdl: Some(sdl.into()),
        ..config()
    })
    .await;
    let mut subscriber = server.client().await;
    for (id, filter) in [
        ("one", r#"{"name":{"eq":"1"}}"#),
        ("amzn", r#"{"name":{"eq":"AMZN"}}"#),
    ] {
        subscriber
            .subscribe(id, &GraphqlRequest::subscribe(Some(filter)), &server.auth())
            .await
            .unwrap();
    }
    for name in ["1", "\"AMZN\""] {
        let body = json!({
            "query": "mutation P($name: AWSJSON!, $data: AWSJSON!) { publish(name: $name, data: $data) { name data } }",
            "variables": {"name": name, "data": "{\"close\":1}"},
        })
        .to_string();
        let (status, body) = as_writer(&server, &body).await;
        assert_eq!((status, body.get("errors")), (200, None), "{body}");
    }
    match subscriber.recv().await.unwrap() {
        ServerMessage::Data { id, .. } => assert_eq!(id, "amzn"),
        other => panic!("{other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn malformed_bodies_are_400_malformed_http_request() {
    let server = start(config()).await;
    let (status, body) = as_writer(&server, "").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"errors": [{"errorType": "MalformedHttpRequestException", "message": "Request body is empty."}]})
    );
    for bad in ["meow", "{}", "[]", r#"{"query": 5}"#] {
        let (status, body) = as_writer(&server, bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(
            body["errors"][0]["message"], "Unable to parse GraphQL query.",
            "{bad}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn missing_or_wrong_api_keys_are_401_unauthorized() {
    let server = start(config()).await;
    let body = publish_body("AMZN", json!("{}"));
    let (status, error_type, json) = post(&server, &[], &body).await;
    assert_eq!(
        (status, error_type.as_deref()),
        (401, Some("UnauthorizedException"))
    );
    assert_eq!(
        json["errors"][0]["message"],
        "Valid authorization header not provided."
    );
    assert!(json.get("data").is_none(), "no data key on auth failures");
    let (status, error_type, _) = post(&server, &[("x-api-key", "da2-wrong")], &body).await;
    assert_eq!(
        (status, error_type.as_deref()),
        (401, Some("UnauthorizedException"))
    );
    let (status, _, _) = post(&server, &[("authorization", "Bearer eyJ")], &body).await;
    assert_eq!(status, 401);
    server.stop().await;
}

#[tokio::test]
async fn sigv4_signed_requests_are_verified() {
    let server = start(config()).await;
    let body = publish_body("AMZN", json!(r#"{"close":1}"#));
    let url = server.graphql_url();
    let signed = iam_headers(&url, body.as_bytes(), SECRET);
    let headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, _, json) = post(&server, &headers, &body).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["data"]["publish"]["name"], "AMZN");
    // The same signature on other bytes.
    let (status, error_type, _) = post(&server, &headers, &publish_body("TSLA", json!("{}"))).await;
    assert_eq!(
        (status, error_type.as_deref()),
        (403, Some("InvalidSignatureException"))
    );
    // The wrong secret.
    let forged = iam_headers(&url, body.as_bytes(), "guess");
    let headers: Vec<(&str, &str)> = forged
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, error_type, _) = post(&server, &headers, &body).await;
    assert_eq!(
        (status, error_type.as_deref()),
        (403, Some("InvalidSignatureException"))
    );
    // An unknown access key.
    let unknown: Vec<(String, String)> = signed
        .iter()
        .map(|(k, v)| (k.clone(), v.replace(ACCESS_KEY_ID, "AKIDUNKNOWN")))
        .collect();
    let headers: Vec<(&str, &str)> = unknown
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, error_type, _) = post(&server, &headers, &body).await;
    assert_eq!(
        (status, error_type.as_deref()),
        (403, Some("UnrecognizedClientException"))
    );
    server.stop().await;
}

#[tokio::test]
async fn validation_errors_are_200_with_null_data() {
    let server = start(config()).await;
    let (status, body) = as_writer(
        &server,
        &json!({"query": "mutation { publish(name: \"A\", data: \"{}\") { nope } }"}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], Value::Null);
    let error = &body["errors"][0];
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Validation error of type FieldUndefined")
    );
    assert_eq!(error["path"], Value::Null);
    assert_eq!(error["locations"][0]["line"], 1);
    assert!(error.get("errorType").is_none());
    let (_, body) = as_writer(
        &server,
        &json!({"query": "mutation { publish(name: \"A\") { name } }"}).to_string(),
    )
    .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("MissingFieldArgument")
    );
    let (_, body) = as_writer(&server, &json!({"query": "query {"}).to_string()).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid Syntax")
    );
    let (_, body) = as_writer(
        &server,
        &json!({"query": "mutation($x: String) { publish(name: \"A\", data: \"{}\") { name } }"})
            .to_string(),
    )
    .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("UnusedVariable")
    );
    let (_, body) = as_writer(
        &server,
        &json!({"query": "mutation($n: String) { publish(name: $n, data: \"{}\") { name } }"})
            .to_string(),
    )
    .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("VariableTypeMismatch")
    );
    let (_, body) = as_writer(
        &server,
        &json!({"query": "mutation { ...F } fragment F on Mutation { ...F }"}).to_string(),
    )
    .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("FragmentCycle")
    );
    server.stop().await;
}

#[tokio::test]
async fn missing_and_invalid_variables_are_reported() {
    let server = start(config()).await;
    let (status, body) = as_writer(
        &server,
        &json!({"query": PUBLISH_MUTATION, "variables": {"data": "{}"}}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], Value::Null);
    assert_eq!(
        body["errors"][0]["message"],
        "Variable 'name' has coerced Null value for NonNull type 'String!'"
    );
    let (_, body) = as_writer(&server, &publish_body("A", json!("{not json"))).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Variable 'data' has an invalid value")
    );
    let (_, body) = as_writer(
        &server,
        &json!({"query": PUBLISH_MUTATION, "variables": {"name": 5, "data": "{}"}}).to_string(),
    )
    .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("is not a valid 'String'")
    );
    server.stop().await;
}

#[tokio::test]
async fn awsjson_accepts_text_and_raw_objects_and_returns_text() {
    let server = start(config()).await;
    let (_, body) = as_writer(&server, &publish_body("A", json!(r#"{"close": 1.5}"#))).await;
    assert_eq!(
        body["data"]["publish"]["data"], r#"{"close": 1.5}"#,
        "text is kept as written"
    );
    let (_, body) = as_writer(&server, &publish_body("A", json!({"close": 1.5}))).await;
    assert_eq!(
        body["data"]["publish"]["data"], r#"{"close":1.5}"#,
        "raw objects are normalised to text"
    );
    let literal = json!({"query": "mutation { publish(name: \"A\", data: {close: 1}) { data } }"})
        .to_string();
    let (_, body) = as_writer(&server, &literal).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("AWSJSON literals are JSON text")
    );
    server.stop().await;
}

#[tokio::test]
async fn aliased_publishes_run_and_reach_subscribers_in_order() {
    let server = start(config()).await;
    let mut c = server.client().await;
    c.subscribe("all", &GraphqlRequest::subscribe(None), &server.auth())
        .await
        .unwrap();
    let channels: Vec<_> = (0..20)
        .map(|i| channel(if i % 2 == 0 { "AMZN" } else { "TSLA" }, i))
        .collect();
    let (status, body) = server.http().publish(&channels).await.unwrap();
    assert_eq!(status, 200);
    for i in 0..20 {
        assert_eq!(
            body["data"][format!("m{i}")]["name"],
            channels[i].name.as_str()
        );
    }
    for i in 0..20u64 {
        let (_, _, seq) = data_seq(&c.recv().await.unwrap()).unwrap();
        assert_eq!(seq, i, "delivery order follows document order");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_mutation_selection_shapes_what_subscribers_get() {
    let server = start(config()).await;
    let mut c = server.client().await;
    let wide = GraphqlRequest::new("subscription { subscribe { name data __typename } }");
    c.subscribe("wide", &wide, &server.auth()).await.unwrap();
    let narrow =
        json!({"query": "mutation { publish(name: \"AMZN\", data: \"{}\") { name } }"}).to_string();
    as_writer(&server, &narrow).await;
    match c.recv().await.unwrap() {
        ServerMessage::Data { payload, .. } => assert_eq!(
            payload,
            json!({"data": {"subscribe": {"name": "AMZN", "data": null, "__typename": "Channel"}}})
        ),
        other => panic!("{}", other.encode()),
    }
    // Subscriber aliases and fragments shape the frame too.
    let aliased = GraphqlRequest::new(
        "subscription S { quotes: subscribe { sym: name ...D } } fragment D on Channel { data }",
    );
    c.subscribe("aliased", &aliased, &server.auth())
        .await
        .unwrap();
    let (_, body) = as_writer(&server, &publish_body("TSLA", json!("{\"x\":1}"))).await;
    assert!(body.get("errors").is_none(), "{body}");
    let mut frames = Vec::new();
    for _ in 0..2 {
        if let ServerMessage::Data { id, payload } = c.recv().await.unwrap() {
            frames.push((id, payload));
        }
    }
    frames.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        frames[0].1,
        json!({"data": {"quotes": {"sym": "TSLA", "data": "{\"x\":1}"}}})
    );
    assert_eq!(frames[1].1["data"]["subscribe"]["name"], "TSLA");
    server.stop().await;
}

#[tokio::test]
async fn get_channel_is_null_and_subscriptions_are_refused_over_http() {
    let server = start(config()).await;
    let (status, body) = server
        .http()
        .post(&GraphqlRequest::new("query { getChannel { name data } }"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, json!({"data": {"getChannel": null}}));
    let (_, body) = server
        .http()
        .post(&GraphqlRequest::subscribe(None))
        .await
        .unwrap();
    assert_eq!(body["errors"][0]["errorType"], "UnsupportedOperation");
    let two_ops =
        GraphqlRequest::new("query A { getChannel { name } } query B { getChannel { data } }");
    let (_, body) = server.http().post(&two_ops).await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Must provide operation name")
    );
    let mut named = two_ops.clone();
    named.operation_name = Some("B".into());
    let (_, body) = server.http().post(&named).await.unwrap();
    assert_eq!(body, json!({"data": {"getChannel": null}}));
    server.stop().await;
}

#[tokio::test]
async fn payloads_over_the_limit_are_refused_not_dropped() {
    let server = start(config()).await;
    let mut c = server.client().await;
    c.subscribe("all", &GraphqlRequest::subscribe(None), &server.auth())
        .await
        .unwrap();
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(241 * 1024));
    let (status, body) = as_writer(&server, &publish_body("BIG", json!(big))).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["publish"], Value::Null);
    assert_eq!(body["errors"][0]["errorType"], "PayloadTooLargeError");
    assert_eq!(body["errors"][0]["path"], json!(["publish"]));
    c.set_timeout(std::time::Duration::from_millis(300));
    assert!(c.recv().await.is_err(), "nothing was published");
    server.stop().await;
}

#[tokio::test]
async fn skip_and_include_directives_shape_the_result() {
    let server = start(config()).await;
    let query = "mutation($s: Boolean!) { publish(name: \"A\", data: \"{}\") { name @skip(if: $s) data @include(if: false) } }";
    let (_, body) = as_writer(
        &server,
        &json!({"query": query, "variables": {"s": true}}).to_string(),
    )
    .await;
    assert_eq!(body, json!({"data": {"publish": {}}}));
    let (_, body) = as_writer(
        &server,
        &json!({"query": query, "variables": {"s": false}}).to_string(),
    )
    .await;
    assert_eq!(body, json!({"data": {"publish": {"name": "A"}}}));
    let (_, body) = as_writer(
        &server,
        &json!({"query": "mutation { publish(name: \"A\", data: \"{}\") { name @live } }"})
            .to_string(),
    )
    .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("UnknownDirective")
    );
    server.stop().await;
}
