//! Every real-time frame of §A.4: round trips, the peers' variants, and bad input.
#![allow(clippy::unwrap_used)]

use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::message::{MAX_ID_LEN, encode_data_frame, is_valid_id};
use quotecast_shared::realtime::{
    AuthObject, ClientMessage, DecodeError, ErrorObject, ServerMessage, StartPayload,
};
use serde_json::{Value, json};

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn start() -> ClientMessage {
    let auth = AuthObject::api_key("example.appsync-api.us-east-1.amazonaws.com", "da2-key");
    ClientMessage::Start {
        id: "ee849ef0-cf23-4cb8-9fcb-152ae4fd1e69".into(),
        payload: StartPayload::new(
            &GraphqlRequest::subscribe(Some(r#"{"name":{"eq":"AMZN"}}"#)),
            auth,
        ),
    }
}

#[test]
fn client_frames_encode_as_documented_and_round_trip() {
    assert_eq!(
        parse(&ClientMessage::ConnectionInit.encode()),
        json!({"type": "connection_init"})
    );
    let stop = ClientMessage::Stop { id: "s1".into() };
    assert_eq!(parse(&stop.encode()), json!({"type": "stop", "id": "s1"}));
    let frame = parse(&start().encode());
    assert_eq!(frame["type"], "start");
    assert!(
        frame["payload"]["data"].is_string(),
        "start data must be a JSON string"
    );
    assert_eq!(
        frame["payload"]["extensions"]["authorization"]["x-api-key"],
        "da2-key"
    );
    for msg in [ClientMessage::ConnectionInit, stop, start()] {
        assert_eq!(ClientMessage::decode(&msg.encode()).unwrap(), msg);
    }
}

#[test]
fn start_payload_data_decodes_into_the_graphql_request() {
    let ClientMessage::Start { payload, .. } = start() else {
        unreachable!()
    };
    let req = payload.request().unwrap();
    assert!(req.query.starts_with("subscription Subscribe"));
    assert_eq!(req.variables["filter"], r#"{"name":{"eq":"AMZN"}}"#);
    assert_eq!(
        payload.authorization().unwrap().get("X-API-KEY"),
        Some("da2-key")
    );
}

#[test]
fn amplify_start_frame_with_extra_keys_is_accepted() {
    let text = r#"{"id":"abc-1","type":"start","payload":{"data":"{\"query\":\"subscription S { subscribe { name } }\",\"variables\":{}}","extensions":{"authorization":{"host":"h","x-api-key":"k","x-amz-date":"20240101T000000Z","x-amz-user-agent":"aws-amplify/6"}}}}"#;
    let ClientMessage::Start { id, payload } = ClientMessage::decode(text).unwrap() else {
        panic!("not a start")
    };
    assert_eq!(id, "abc-1");
    assert_eq!(
        payload.authorization().unwrap().get("x-amz-user-agent"),
        Some("aws-amplify/6")
    );
}

#[test]
fn start_without_extensions_decodes_with_no_authorization() {
    let text = r#"{"id":"a","type":"start","payload":{"data":"{}"}}"#;
    let ClientMessage::Start { payload, .. } = ClientMessage::decode(text).unwrap() else {
        panic!()
    };
    assert!(payload.authorization().is_none());
    assert!(payload.request().is_err(), "{{}} has no query");
}

#[test]
fn bad_client_frames_get_distinct_errors() {
    assert!(matches!(
        ClientMessage::decode(r#"{"type":"start""#),
        Err(DecodeError::NotJson(_))
    ));
    assert!(matches!(
        ClientMessage::decode(""),
        Err(DecodeError::NotJson(_))
    ));
    assert_eq!(ClientMessage::decode("[1]"), Err(DecodeError::NotObject));
    assert_eq!(
        ClientMessage::decode(r#"{"id":"a"}"#),
        Err(DecodeError::MissingType)
    );
    assert_eq!(
        ClientMessage::decode(r#"{"type":7}"#),
        Err(DecodeError::MissingType)
    );
    assert_eq!(
        ClientMessage::decode(r#"{"type":"subscribe","id":"a"}"#),
        Err(DecodeError::UnknownType("subscribe".into()))
    );
    assert_eq!(
        DecodeError::UnknownType("subscribe".into()).to_string(),
        "subscribe not supported through the realtime channel"
    );
    assert_eq!(
        ClientMessage::decode(r#"{"type":"stop"}"#),
        Err(DecodeError::MissingId { kind: "stop" })
    );
    assert_eq!(
        ClientMessage::decode(r#"{"type":"start","payload":{"data":"{}"}}"#),
        Err(DecodeError::MissingId { kind: "start" })
    );
    assert!(matches!(
        ClientMessage::decode(r#"{"type":"stop","id":"has space"}"#),
        Err(DecodeError::InvalidId { .. })
    ));
    let no_payload = ClientMessage::decode(r#"{"type":"start","id":"x1"}"#).unwrap_err();
    assert_eq!(no_payload.id(), Some("x1"));
    let data_not_string =
        ClientMessage::decode(r#"{"type":"start","id":"x2","payload":{"data":{"query":"q"}}}"#)
            .unwrap_err();
    assert!(matches!(
        &data_not_string,
        DecodeError::BadPayload { kind: "start", .. }
    ));
    assert_eq!(data_not_string.id(), Some("x2"));
}

#[test]
fn subscription_ids_follow_the_documented_pattern() {
    assert!(is_valid_id("ee849ef0-cf23-4cb8-9fcb-152ae4fd1e69"));
    assert!(is_valid_id("a_b+c"));
    assert!(is_valid_id(&"a".repeat(MAX_ID_LEN)));
    assert!(!is_valid_id(&"a".repeat(MAX_ID_LEN + 1)));
    assert!(!is_valid_id(""));
    assert!(!is_valid_id("a/b"));
    assert!(!is_valid_id("ü"));
}

fn all_server_frames() -> Vec<ServerMessage> {
    vec![
        ServerMessage::ConnectionAck {
            connection_timeout_ms: 300_000,
        },
        ServerMessage::Ka,
        ServerMessage::StartAck { id: "s1".into() },
        ServerMessage::Data {
            id: "s1".into(),
            payload: json!({"data": {"subscribe": {"name": "AMZN", "data": "{}"}}}),
        },
        ServerMessage::Error {
            id: Some("s1".into()),
            errors: vec![ErrorObject::new(
                "MaxSubscriptionsReachedError",
                "Max number of 100 subscriptions reached",
            )],
        },
        ServerMessage::Error {
            id: None,
            errors: vec![ErrorObject::new(
                "UnsupportedOperation",
                "unknown not supported through the realtime channel",
            )],
        },
        ServerMessage::Complete { id: "s1".into() },
        ServerMessage::ConnectionError {
            errors: vec![
                ErrorObject::new(
                    "UnauthorizedException",
                    "You are not authorized to make this call.",
                )
                .with_code(401),
            ],
        },
    ]
}

#[test]
fn server_frames_round_trip() {
    for msg in all_server_frames() {
        assert_eq!(
            ServerMessage::decode(&msg.encode()).unwrap(),
            msg,
            "{}",
            msg.encode()
        );
    }
}

#[test]
fn server_frames_encode_exactly_as_documented() {
    let f = all_server_frames();
    assert_eq!(
        parse(&f[0].encode()),
        json!({"type":"connection_ack","payload":{"connectionTimeoutMs":300000}})
    );
    assert_eq!(f[1].encode(), r#"{"type":"ka"}"#);
    assert_eq!(parse(&f[2].encode()), json!({"type":"start_ack","id":"s1"}));
    assert_eq!(
        parse(&f[3].encode())["payload"]["data"]["subscribe"]["name"],
        "AMZN"
    );
    let err = parse(&f[4].encode());
    assert!(
        err["payload"]["errors"].is_array(),
        "server always writes an array"
    );
    assert_eq!(err["id"], "s1");
    assert!(parse(&f[5].encode()).get("id").is_none());
    assert_eq!(parse(&f[6].encode()), json!({"type":"complete","id":"s1"}));
    assert_eq!(
        parse(&f[7].encode()),
        json!({"type":"connection_error","payload":{"errors":[{"errorType":"UnauthorizedException","message":"You are not authorized to make this call.","errorCode":401}]}})
    );
}

#[test]
fn server_decoding_tolerates_real_peer_variants() {
    // `errors` as a single object (seen for MaxSubscriptionsReachedError).
    let one = r#"{"type":"error","id":"s1","payload":{"errors":{"errorType":"MaxSubscriptionsReachedError","message":"Max number of 100 subscriptions reached"}}}"#;
    let msg = ServerMessage::decode(one).unwrap();
    assert_eq!(msg.errors().len(), 1);
    assert_eq!(
        msg.errors()[0].error_type.as_deref(),
        Some("MaxSubscriptionsReachedError")
    );
    // Validation errors carry only a message, plus fields we keep.
    let validation = r#"{"type":"error","id":"s2","payload":{"errors":[{"message":"Validation error of type FieldUndefined","locations":[{"line":1,"column":2}]}]}}"#;
    let msg = ServerMessage::decode(validation).unwrap();
    assert_eq!(msg.errors()[0].error_type, None);
    assert!(msg.errors()[0].extra.contains_key("locations"));
    assert!(
        !msg.errors()[0].extra.contains_key("message"),
        "known keys are not extra"
    );
    // `null` is absent; a known key of the wrong type is refused, as the derive did.
    let nulls = r#"{"type":"error","payload":{"errors":[{"errorType":null,"errorCode":null,"message":"m"}]}}"#;
    let msg = ServerMessage::decode(nulls).unwrap();
    assert_eq!(
        (
            msg.errors()[0].error_type.as_deref(),
            msg.errors()[0].error_code
        ),
        (None, None)
    );
    let wrong = r#"{"type":"error","payload":{"errors":[{"errorCode":"401"}]}}"#;
    assert!(ServerMessage::decode(wrong).is_err());
    // Ack without payload, and the Events API's top-level timeout.
    assert_eq!(
        ServerMessage::decode(r#"{"type":"connection_ack"}"#).unwrap(),
        ServerMessage::ConnectionAck {
            connection_timeout_ms: 300_000
        }
    );
    assert_eq!(
        ServerMessage::decode(r#"{"type":"connection_ack","connectionTimeoutMs":60000}"#).unwrap(),
        ServerMessage::ConnectionAck {
            connection_timeout_ms: 60_000
        }
    );
    // Events-style errors at the top level.
    let top = r#"{"type":"error","errors":[{"errorType":"X","message":"m"}]}"#;
    assert_eq!(
        ServerMessage::decode(top).unwrap().errors()[0].describe(),
        "X: m"
    );
    // No errors at all is an empty list, not a failure.
    assert!(
        ServerMessage::decode(r#"{"type":"error","id":"s"}"#)
            .unwrap()
            .errors()
            .is_empty()
    );
}

#[test]
fn bad_server_frames_are_refused() {
    assert_eq!(
        ServerMessage::decode(r#"{"type":"data"}"#),
        Err(DecodeError::MissingId { kind: "data" })
    );
    assert!(matches!(
        ServerMessage::decode(r#"{"type":"data","id":"a"}"#),
        Err(DecodeError::BadPayload { .. })
    ));
    assert_eq!(
        ServerMessage::decode(r#"{"type":"start_ack"}"#),
        Err(DecodeError::MissingId { kind: "start_ack" })
    );
    assert_eq!(
        ServerMessage::decode(r#"{"type":"complete"}"#),
        Err(DecodeError::MissingId { kind: "complete" })
    );
    assert!(matches!(
        ServerMessage::decode(r#"{"type":"error","payload":{"errors":[1]}}"#),
        Err(DecodeError::BadPayload { .. })
    ));
    assert_eq!(
        ServerMessage::decode(r#"{"type":"next"}"#),
        Err(DecodeError::UnknownType("next".into()))
    );
    assert!(matches!(
        ServerMessage::decode("{"),
        Err(DecodeError::NotJson(_))
    ));
}

#[test]
fn prebuilt_data_frames_equal_encoded_ones() {
    let payload = json!({"data": {"subscribe": {"name": "A\"B", "data": "{}"}}});
    let direct = ServerMessage::Data {
        id: "x\"y".into(),
        payload: payload.clone(),
    }
    .encode();
    let shared = encode_data_frame("x\"y", &payload.to_string());
    assert_eq!(parse(&direct), parse(&shared));
    assert_eq!(
        ServerMessage::decode(&shared).unwrap(),
        ServerMessage::Data {
            id: "x\"y".into(),
            payload
        }
    );
}

#[test]
fn errors_are_classified_like_amplify() {
    let e = |t: &str| ErrorObject::new(t, "m");
    assert!(!e("UnauthorizedException").is_retryable());
    assert!(!e("BadRequestException").is_retryable());
    assert!(
        !e("BadFilter").is_retryable(),
        "subscribe.js's refusal of a filter text"
    );
    assert!(!ErrorObject::message_only("x").with_code(403).is_retryable());
    assert!(!e("Whatever").with_code(401).is_retryable());
    assert!(e("LimitExceededError").is_retryable());
    assert!(e("MaxSubscriptionsReachedError").is_retryable());
    assert!(ErrorObject::message_only("Validation error").is_retryable());
    assert!(e("Unauthorized").is_auth_error());
    assert!(e("NotAuthorizedException").is_auth_error());
    assert!(ErrorObject::new("X", "Token has expired.").is_auth_error());
    assert!(!e("LimitExceededError").is_auth_error());
    assert_eq!(ErrorObject::default().describe(), "unspecified error");
}

/// Found by `cargo xtask fuzz` (target `realtime_frame`): `"extensions": {}` decoded to a
/// value that encoded differently.
#[test]
fn fuzz_regression_start_with_empty_extensions_round_trips() {
    let text = include_str!("fixtures/fuzz-start-empty-extensions.json");
    let msg = ClientMessage::decode(text).unwrap();
    assert_eq!(ClientMessage::decode(&msg.encode()).unwrap(), msg);
    let ClientMessage::Start { payload, .. } = msg else {
        panic!()
    };
    assert!(payload.extensions.is_none() && payload.authorization().is_none());
}
