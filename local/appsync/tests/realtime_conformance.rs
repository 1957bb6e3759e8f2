//! The real-time protocol, row by row of `APPSYNC_SPEC.md` §A.2–A.8, over real sockets.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use quotecast_appsync_client::{ClientError, Incoming, RealtimeClient, Transport};
use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::{AuthObject, ClientMessage, ServerMessage, StartPayload};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn subscribe_all() -> GraphqlRequest {
    GraphqlRequest::subscribe(None)
}

fn start_msg(id: &str, request: &GraphqlRequest, auth: AuthObject) -> ClientMessage {
    ClientMessage::Start {
        id: id.to_owned(),
        payload: StartPayload::new(request, auth),
    }
}

/// The close frame expected next, with `code`.
async fn expect_close(c: &mut RealtimeClient, code: u16) {
    match c.next().await.unwrap() {
        Incoming::Closed(Some(frame)) => assert_eq!(u16::from(frame.code), code),
        other => panic!("expected a close frame with {code}, got {other:?}"),
    }
}

/// A `start` frame 10 KB over the 240 KB payload limit.
fn oversized_start() -> String {
    format!(
        r#"{{"type":"start","id":"big","payload":{{"data":"{}"}}}}"#,
        "x".repeat(250 * 1024)
    )
}

/// The single error frame expected next: (id, errorType, message).
async fn expect_error(c: &mut RealtimeClient) -> (Option<String>, Option<String>, String) {
    match c.recv().await.unwrap() {
        ServerMessage::Error { id, errors } => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            (
                id,
                errors[0].error_type.clone(),
                errors[0].message.clone().unwrap_or_default(),
            )
        }
        other => panic!("expected an error frame, got {}", other.encode()),
    }
}

#[tokio::test]
async fn subprotocol_handshake_selects_graphql_ws_and_acks_with_timeout() {
    let server = start(config()).await;
    let mut request = server.realtime_url().into_client_request().unwrap();
    let protocols = format!("graphql-ws, {}", server.auth().to_subprotocol());
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocols.parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-ws",
        "never echo header-"
    );
    use futures_util::{SinkExt, StreamExt};
    socket
        .send(Message::text(r#"{"type":"connection_init"}"#))
        .await
        .unwrap();
    let ack = socket.next().await.unwrap().unwrap().into_text().unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&ack).unwrap(),
        serde_json::json!({"type": "connection_ack", "payload": {"connectionTimeoutMs": 300000}})
    );
    let ka = socket.next().await.unwrap().unwrap().into_text().unwrap();
    assert_eq!(ka.as_str(), r#"{"type":"ka"}"#, "a ka follows the ack");
    server.stop().await;
}

#[tokio::test]
async fn every_auth_transport_and_both_paths_are_accepted() {
    let server = start(config()).await;
    let urls = [
        server.realtime_url(),
        format!("ws://{}/graphql", server.addr),
        format!(
            "ws://{}/graphql/realtime?x-amz-user-agent=test",
            server.addr
        ),
    ];
    for url in &urls {
        for transport in [Transport::Subprotocol, Transport::Query, Transport::Headers] {
            let mut c = RealtimeClient::connect(url, &server.auth(), transport)
                .await
                .unwrap();
            assert_eq!(c.init().await.unwrap(), 300_000, "{url} {transport:?}");
        }
    }
    server.stop().await;
}

/// RFC 6455 §4.1: a client fails the connection if the server selects a subprotocol it did
/// not offer; AppSync's query and header transports need none.
#[tokio::test]
async fn a_client_offering_no_subprotocol_is_selected_none() {
    let server = start(config()).await;
    let url = format!("{}?{}", server.realtime_url(), server.auth().to_query());
    let request = url.into_client_request().unwrap();
    assert!(!request.headers().contains_key("sec-websocket-protocol"));
    let mut c = RealtimeClient::open(request).await.unwrap();
    assert_eq!(c.init().await.unwrap(), 300_000);
    server.stop().await;
}

#[tokio::test]
async fn raw_unescaped_standard_base64_in_the_query_is_accepted() {
    use base64::Engine;
    let server = start(config()).await;
    // A key with characters whose base64 has '+' and '/'.
    let auth = AuthObject::api_key(&server.host(), API_KEY).with("x-pad", ">>>???");
    let header = base64::engine::general_purpose::STANDARD.encode(auth.to_json());
    assert!(header.contains('+') || header.contains('/'));
    let url = format!("{}?header={header}&payload=e30=", server.realtime_url());
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-ws".parse().unwrap());
    let mut c = RealtimeClient::open(request).await.unwrap();
    assert_eq!(c.init().await.unwrap(), 300_000);
    server.stop().await;
}

#[tokio::test]
async fn missing_or_unreadable_credentials_refuse_the_upgrade_with_401() {
    let server = start(config()).await;
    let no_auth = RealtimeClient::open(server.realtime_url().into_client_request().unwrap()).await;
    match no_auth {
        Err(ClientError::Rejected { status, body }) => {
            assert_eq!(status, 401);
            assert!(body.contains("UnauthorizedException"), "{body}");
        }
        other => panic!("expected 401, got {:?}", other.err()),
    }
    let mut request = server.realtime_url().into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-ws, header-!!!notbase64".parse().unwrap(),
    );
    assert!(matches!(
        RealtimeClient::open(request).await,
        Err(ClientError::Rejected { status: 401, .. })
    ));
    let url = format!("{}?header=%%%&payload=e30=", server.realtime_url());
    assert!(matches!(
        RealtimeClient::open(url.into_client_request().unwrap()).await,
        Err(ClientError::Rejected { status: 401, .. })
    ));
    server.stop().await;
}

#[tokio::test]
async fn wrong_api_key_gets_connection_error_then_close() {
    let server = start(config()).await;
    let auth = AuthObject::api_key(&server.host(), "da2-wrong");
    let mut c = RealtimeClient::connect(&server.realtime_url(), &auth, Transport::Subprotocol)
        .await
        .unwrap();
    c.send(&ClientMessage::ConnectionInit).await.unwrap();
    match c.recv().await.unwrap() {
        ServerMessage::ConnectionError { errors } => {
            assert_eq!(
                errors[0].error_type.as_deref(),
                Some("UnauthorizedException")
            );
            assert_eq!(errors[0].error_code, Some(401));
            assert!(!errors[0].is_retryable());
        }
        other => panic!("{}", other.encode()),
    }
    assert!(matches!(c.next().await.unwrap(), Incoming::Closed(_)));
    server.stop().await;
}

#[tokio::test]
async fn iam_signed_handshake_and_start_are_verified() {
    let server = start(config()).await;
    let host = server.host();
    let connect = iam_auth(&host, "/graphql/connect", "{}", SECRET);
    let mut c = RealtimeClient::connect(&server.realtime_url(), &connect, Transport::Subprotocol)
        .await
        .unwrap();
    c.init().await.unwrap();
    let request = subscribe_all();
    let data = request.to_json();
    c.subscribe(
        "iam-1",
        &request,
        &iam_auth(&host, "/graphql", &data, SECRET),
    )
    .await
    .unwrap();
    // A start signed for other bytes than its data is refused.
    let wrong = iam_auth(&host, "/graphql", "{}", SECRET);
    c.send(&start_msg("iam-2", &request, wrong)).await.unwrap();
    let (id, error_type, _) = expect_error(&mut c).await;
    assert_eq!(id.as_deref(), Some("iam-2"));
    assert_eq!(error_type.as_deref(), Some("InvalidSignatureException"));
    // A handshake signed with the wrong secret is refused after connection_init.
    let bad = iam_auth(&host, "/graphql/connect", "{}", "not-the-secret");
    let mut c = RealtimeClient::connect(&server.realtime_url(), &bad, Transport::Query)
        .await
        .unwrap();
    c.send(&ClientMessage::ConnectionInit).await.unwrap();
    assert!(matches!(
        c.recv().await.unwrap(),
        ServerMessage::ConnectionError { .. }
    ));
    server.stop().await;
}

#[tokio::test]
async fn start_ack_data_stop_complete() {
    let server = start(config()).await;
    let mut c = server.client().await;
    let filter = r#"{"name":{"eq":"AMZN"}}"#;
    c.subscribe(
        "sub-1",
        &GraphqlRequest::subscribe(Some(filter)),
        &server.auth(),
    )
    .await
    .unwrap();
    let (status, body) = server.http().publish(&[channel("AMZN", 1)]).await.unwrap();
    assert_eq!(status, 200, "{body}");
    match c.recv().await.unwrap() {
        ServerMessage::Data { id, payload } => {
            assert_eq!(id, "sub-1");
            assert_eq!(payload["data"]["subscribe"]["name"], "AMZN");
            assert!(
                payload["data"]["subscribe"]["data"].is_string(),
                "AWSJSON stays text"
            );
        }
        other => panic!("{}", other.encode()),
    }
    c.send(&ClientMessage::Stop { id: "sub-1".into() })
        .await
        .unwrap();
    assert_eq!(
        c.recv().await.unwrap(),
        ServerMessage::Complete { id: "sub-1".into() }
    );
    server.http().publish(&[channel("AMZN", 2)]).await.unwrap();
    c.set_timeout(Duration::from_millis(300));
    assert!(
        matches!(c.recv().await, Err(ClientError::Timeout(_))),
        "nothing after complete"
    );
    assert!(eventually(|| server.app.hub.subscription_count() == 0).await);
    server.stop().await;
}

#[tokio::test]
async fn keep_alives_arrive_at_the_configured_interval() {
    let mut cfg = config();
    cfg.keep_alive_interval = Duration::from_millis(100);
    let server = start(cfg).await;
    let mut c = server.client().await;
    let started = std::time::Instant::now();
    let mut kas = 0;
    while kas < 4 {
        if let Incoming::Frame(ServerMessage::Ka) = c.next().await.unwrap() {
            kas += 1;
        }
    }
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "ka came too fast: {:?}",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn frames_before_the_ack_are_ignored() {
    let server = start(config()).await;
    let mut c = RealtimeClient::connect(
        &server.realtime_url(),
        &server.auth(),
        Transport::Subprotocol,
    )
    .await
    .unwrap();
    c.send(&start_msg("early", &subscribe_all(), server.auth()))
        .await
        .unwrap();
    c.init().await.unwrap();
    c.set_timeout(Duration::from_millis(300));
    assert!(
        matches!(c.recv().await, Err(ClientError::Timeout(_))),
        "no start_ack for a start before the ack"
    );
    assert_eq!(server.app.hub.subscription_count(), 0);
    server.stop().await;
}

#[tokio::test]
async fn queries_mutations_and_other_dialects_are_unsupported_operations() {
    let server = start(config()).await;
    let mut c = server.client().await;
    let query = GraphqlRequest::new("query { getChannel { name } }");
    c.send(&start_msg("q1", &query, server.auth()))
        .await
        .unwrap();
    let (id, t, msg) = expect_error(&mut c).await;
    assert_eq!((id, t.as_deref()), (None, Some("UnsupportedOperation")));
    assert_eq!(msg, "query not supported through the realtime channel");
    c.send_text(r#"{"type":"subscribe","id":"x","payload":{}}"#)
        .await
        .unwrap();
    let (id, t, msg) = expect_error(&mut c).await;
    assert_eq!((id, t.as_deref()), (None, Some("UnsupportedOperation")));
    assert_eq!(msg, "subscribe not supported through the realtime channel");
    server.stop().await;
}

#[tokio::test]
async fn garbage_frames_get_errors_and_the_connection_lives_on() {
    let server = start(config()).await;
    let mut c = server.client().await;
    for garbage in [
        r#"{"type":"start","id":"#,
        "not json",
        "[]",
        r#"{"id":"x"}"#,
        r#"{"type":"stop"}"#,
    ] {
        c.send_text(garbage).await.unwrap();
        let (id, t, _) = expect_error(&mut c).await;
        assert_eq!(id, None, "{garbage}");
        assert!(t.is_some(), "{garbage}");
    }
    c.send_text(r#"{"type":"start","id":"bad-payload","payload":{"data":{"query":"q"}}}"#)
        .await
        .unwrap();
    let (id, t, _) = expect_error(&mut c).await;
    assert_eq!(
        (id.as_deref(), t.as_deref()),
        (Some("bad-payload"), Some("BadRequestException"))
    );
    c.send_message(Message::binary(vec![1, 2, 3]))
        .await
        .unwrap();
    let (_, t, _) = expect_error(&mut c).await;
    assert_eq!(t.as_deref(), Some("UnsupportedOperation"));
    // Still usable.
    c.subscribe("after-garbage", &subscribe_all(), &server.auth())
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn duplicate_ids_and_the_subscription_limit_are_errors_with_the_id() {
    let mut cfg = config();
    cfg.max_subscriptions_per_connection = 3;
    let server = start(cfg).await;
    let mut c = server.client().await;
    c.subscribe("a", &subscribe_all(), &server.auth())
        .await
        .unwrap();
    c.send(&start_msg("a", &subscribe_all(), server.auth()))
        .await
        .unwrap();
    let (id, t, _) = expect_error(&mut c).await;
    assert_eq!(
        (id.as_deref(), t.as_deref()),
        (Some("a"), Some("DuplicatedOperationError"))
    );
    c.subscribe("b", &subscribe_all(), &server.auth())
        .await
        .unwrap();
    c.subscribe("c", &subscribe_all(), &server.auth())
        .await
        .unwrap();
    c.send(&start_msg("d", &subscribe_all(), server.auth()))
        .await
        .unwrap();
    let (id, t, msg) = expect_error(&mut c).await;
    assert_eq!(
        (id.as_deref(), t.as_deref()),
        (Some("d"), Some("MaxSubscriptionsReachedError"))
    );
    assert_eq!(msg, "Max number of 3 subscriptions reached");
    // Stopping one frees a place.
    c.send(&ClientMessage::Stop { id: "a".into() })
        .await
        .unwrap();
    assert_eq!(
        c.recv().await.unwrap(),
        ServerMessage::Complete { id: "a".into() }
    );
    c.subscribe("d", &subscribe_all(), &server.auth())
        .await
        .unwrap();
    c.send(&ClientMessage::Stop { id: "zzz".into() })
        .await
        .unwrap();
    let (id, t, _) = expect_error(&mut c).await;
    assert_eq!(
        (id.as_deref(), t.as_deref()),
        (Some("zzz"), Some("UnknownOperationError"))
    );
    server.stop().await;
}

#[tokio::test]
async fn start_authorization_is_checked_per_subscription() {
    let server = start(config()).await;
    let mut c = server.client().await;
    c.send(&start_msg(
        "wrong",
        &subscribe_all(),
        AuthObject::api_key(&server.host(), "da2-nope"),
    ))
    .await
    .unwrap();
    let (id, t, _) = expect_error(&mut c).await;
    assert_eq!(
        (id.as_deref(), t.as_deref()),
        (Some("wrong"), Some("UnauthorizedException"))
    );
    c.send_text(&format!(
        r#"{{"type":"start","id":"none","payload":{{"data":{}}}}}"#,
        serde_json::to_string(&subscribe_all().to_json()).unwrap()
    ))
    .await
    .unwrap();
    let (id, t, _) = expect_error(&mut c).await;
    assert_eq!(
        (id.as_deref(), t.as_deref()),
        (Some("none"), Some("UnauthorizedException"))
    );
    server.stop().await;
}

#[tokio::test]
async fn validation_errors_name_the_subscription() {
    let server = start(config()).await;
    let mut c = server.client().await;
    let bad = GraphqlRequest::new("subscription { subscribe { name price } }");
    c.send(&start_msg("v1", &bad, server.auth())).await.unwrap();
    let (id, t, msg) = expect_error(&mut c).await;
    assert_eq!(id.as_deref(), Some("v1"));
    assert_eq!(t, None, "validation errors carry no errorType");
    assert!(
        msg.starts_with("Validation error of type FieldUndefined: Field 'price' in type 'Channel'"),
        "{msg}"
    );
    let two = GraphqlRequest::new("subscription { a: subscribe { name } b: subscribe { name } }");
    c.send(&start_msg("v2", &two, server.auth())).await.unwrap();
    let (_, _, msg) = expect_error(&mut c).await;
    assert!(msg.contains("SubscriptionMultipleRootFields"), "{msg}");
    server.stop().await;
}

#[tokio::test]
async fn invalid_filters_are_refused_at_start() {
    let server = start(config()).await;
    let mut c = server.client().await;
    for (filter, expected) in [
        (
            r#"{"name":{"like":"A%"}}"#,
            "unknown filter operator `like`",
        ),
        (
            r#"{"name":{"in":["A","B","C","D","E","F"]}}"#,
            "at most 5 are allowed",
        ),
        (r#"{"a.b.c.d.e.f":{"eq":1}}"#, "nested 6 levels"),
        (
            r#"{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1}"#,
            "6 distinct fields",
        ),
        (r#"{"name":}"#, "filter is not valid JSON"),
    ] {
        c.send(&start_msg(
            "f",
            &GraphqlRequest::subscribe(Some(filter)),
            server.auth(),
        ))
        .await
        .unwrap();
        let (id, t, msg) = expect_error(&mut c).await;
        assert_eq!(
            (id.as_deref(), t.as_deref()),
            (Some("f"), Some("BadRequestException")),
            "{filter}"
        );
        assert!(msg.contains(expected), "{filter}: {msg}");
    }
    // Texts that are not `{…}`: refused as subscribe.js refuses them, `BadFilter`, word for
    // word (tests/tests/resolvers.rs runs subscribe.js on the same texts).
    for filter in ["{not json", "[1]", r#""x""#, "null"] {
        c.send(&start_msg(
            "f",
            &GraphqlRequest::subscribe(Some(filter)),
            server.auth(),
        ))
        .await
        .unwrap();
        let (_, t, msg) = expect_error(&mut c).await;
        assert_eq!(t.as_deref(), Some("BadFilter"), "{filter}");
        assert!(
            msg.starts_with("filter must be a JSON object, e.g."),
            "{filter}: {msg}"
        );
    }
    assert_eq!(server.app.hub.subscription_count(), 0);
    server.stop().await;
}

#[tokio::test]
async fn frames_over_240_kb_are_refused_with_an_error_and_a_close() {
    let server = start(config()).await;
    let mut c = server.client().await;
    c.send_text(&oversized_start()).await.unwrap();
    let (_, t, msg) = expect_error(&mut c).await;
    assert_eq!(t.as_deref(), Some("LimitExceededError"), "{msg}");
    expect_close(&mut c, 1009).await;
    server.stop().await;
}

/// A frame pipelined behind the one that closed the connection is read, not left in the
/// socket: dropping a socket with unread bytes resets it, and the reset can cost the
/// client the error and close frames it has not read yet.
#[tokio::test]
async fn frames_pipelined_after_a_closing_one_end_the_stream_cleanly() {
    let server = start(config()).await;
    let mut c = server.client().await;
    c.send_text(&oversized_start()).await.unwrap();
    c.send(&start_msg("after", &subscribe_all(), server.auth()))
        .await
        .unwrap();
    let (_, t, msg) = expect_error(&mut c).await;
    assert_eq!(t.as_deref(), Some("LimitExceededError"), "{msg}");
    expect_close(&mut c, 1009).await;
    // The end of the stream, not a reset.
    assert!(matches!(c.next().await, Ok(Incoming::Closed(None))));
    server.stop().await;
}

/// RFC 6455 §5.5.1: the close a client starts is answered with its code, and the TCP
/// connection then ends.
#[tokio::test]
async fn a_client_that_closes_gets_its_code_back_and_the_stream_ends() {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    let server = start(config()).await;
    let mut c = server.client().await;
    c.subscribe("s", &subscribe_all(), &server.auth())
        .await
        .unwrap();
    c.send_message(Message::Close(Some(CloseFrame {
        code: 4000.into(),
        reason: "bye".into(),
    })))
    .await
    .unwrap();
    loop {
        match c.next().await.unwrap() {
            Incoming::Frame(ServerMessage::Ka) => continue,
            Incoming::Closed(Some(frame)) => {
                assert_eq!(u16::from(frame.code), 4000);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(c.next().await, Ok(Incoming::Closed(None))));
    assert!(eventually(|| server.app.connection_count() == 0).await);
    server.stop().await;
}

#[tokio::test]
async fn silent_sockets_are_closed_after_the_init_timeout() {
    let mut cfg = config();
    cfg.connection_init_timeout = Duration::from_millis(200);
    let server = start(cfg).await;
    let mut c = RealtimeClient::connect(
        &server.realtime_url(),
        &server.auth(),
        Transport::Subprotocol,
    )
    .await
    .unwrap();
    expect_close(&mut c, 4408).await;
    assert!(eventually(|| server.app.connection_count() == 0).await);
    server.stop().await;
}

#[tokio::test]
async fn a_publish_right_after_start_ack_is_always_delivered() {
    let server = start(config()).await;
    let mut c = server.client().await;
    let http = server.http();
    for i in 0..50u64 {
        let id = format!("race-{i}");
        let filter = format!(r#"{{"name":{{"eq":"R{i}"}}}}"#);
        c.subscribe(
            &id,
            &GraphqlRequest::subscribe(Some(&filter)),
            &server.auth(),
        )
        .await
        .unwrap();
        http.publish(&[channel(&format!("R{i}"), i)]).await.unwrap();
        let got = data_seq(&c.recv().await.unwrap()).unwrap();
        assert_eq!(got, (id, format!("R{i}"), i));
    }
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_connections_with_going_away() {
    let server = start(config()).await;
    let mut c = server.client().await;
    c.subscribe("s", &subscribe_all(), &server.auth())
        .await
        .unwrap();
    let app = server.app.clone();
    let stopping = tokio::spawn(server.stop());
    expect_close(&mut c, 1001).await;
    stopping.await.unwrap();
    assert_eq!(app.hub.subscription_count(), 0);
    assert_eq!(app.connection_count(), 0);
}

#[tokio::test]
async fn pipelined_starts_on_a_live_stream_are_all_acknowledged() {
    let server = start(config()).await;
    let mut c = server.client().await;
    c.subscribe("first", &subscribe_all(), &server.auth())
        .await
        .unwrap();
    server
        .http()
        .publish(&[channel("AMZN", 1), channel("AMZN", 2)])
        .await
        .unwrap();
    let more: Vec<(String, GraphqlRequest)> = (0..5)
        .map(|i| (format!("more{i}"), subscribe_all()))
        .collect();
    let passed_over = c.subscribe_many(&more, &server.auth()).await.unwrap();
    assert!(passed_over <= 2);
    assert_eq!(server.app.hub.subscription_count(), 6);
    server.stop().await;
}
