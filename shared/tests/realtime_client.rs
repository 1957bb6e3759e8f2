//! The sans-IO real-time client, transition by transition.
#![allow(clippy::unwrap_used)]

use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::client::{
    Client, ClientConfig, ConnectionState, Event, Input, Output,
};
use quotecast_shared::realtime::{AuthObject, ClientMessage, ServerMessage};
use serde_json::json;

const URL: &str = "wss://api.example.com/graphql/realtime";

fn client() -> Client {
    Client::new(
        ClientConfig::new(URL, AuthObject::api_key("api.example.com", "da2-key")),
        42,
    )
}

fn sub(id: &str) -> Input {
    Input::Subscribe {
        id: id.to_owned(),
        request: GraphqlRequest::subscribe(Some(&format!(r#"{{"name":{{"eq":"{id}"}}}}"#))),
    }
}

fn frame(msg: ServerMessage) -> Input {
    Input::Frame(msg.encode())
}

fn sent(out: &[Output]) -> Vec<ClientMessage> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(text) => Some(ClientMessage::decode(text).unwrap()),
            _ => None,
        })
        .collect()
}

fn started_ids(out: &[Output]) -> Vec<String> {
    sent(out)
        .into_iter()
        .filter_map(|m| match m {
            ClientMessage::Start { id, .. } => Some(id),
            _ => None,
        })
        .collect()
}

/// A client that is live with `ids` acknowledged, at time 0, keep-alive timeout 10 s.
fn live(ids: &[&str]) -> Client {
    let mut c = client();
    for id in ids {
        c.handle(0, sub(id));
    }
    c.handle(0, Input::Opened);
    c.handle(
        0,
        frame(ServerMessage::ConnectionAck {
            connection_timeout_ms: 10_000,
        }),
    );
    for id in ids {
        c.handle(
            0,
            frame(ServerMessage::StartAck {
                id: (*id).to_owned(),
            }),
        );
    }
    assert_eq!(c.state(), &ConnectionState::Live);
    c
}

#[test]
fn the_first_subscription_opens_a_socket_with_the_header_subprotocol() {
    let mut c = client();
    assert_eq!(c.state(), &ConnectionState::Idle);
    assert_eq!(c.next_deadline(), None);
    let out = c.handle(0, sub("AMZN"));
    let Output::Open { url, protocols } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(url, URL);
    assert_eq!(protocols[0], "graphql-ws");
    let auth = AuthObject::from_subprotocols(protocols.iter().map(String::as_str)).unwrap();
    assert_eq!(auth.get("x-api-key"), Some("da2-key"));
    assert_eq!(
        out[1],
        Output::Event(Event::State(ConnectionState::Connecting))
    );
    assert_eq!(c.next_deadline(), Some(15_000), "connection_ack timeout");
    assert_eq!(
        sent(&c.handle(5, Input::Opened)),
        [ClientMessage::ConnectionInit]
    );
}

#[test]
fn the_ack_starts_every_wanted_subscription_and_acks_and_data_are_reported() {
    let mut c = client();
    c.handle(0, sub("AMZN"));
    c.handle(0, sub("TSLA"));
    c.handle(1, Input::Opened);
    let out = c.handle(
        2,
        frame(ServerMessage::ConnectionAck {
            connection_timeout_ms: 300_000,
        }),
    );
    assert!(out.contains(&Output::Event(Event::State(ConnectionState::Live))));
    assert_eq!(started_ids(&out), ["AMZN", "TSLA"]);
    let ClientMessage::Start { payload, .. } = &sent(&out)[0] else {
        panic!()
    };
    assert_eq!(
        payload.authorization().unwrap().get("x-api-key"),
        Some("da2-key"),
        "auth in every start"
    );
    assert_eq!(
        payload.request().unwrap().variables["filter"],
        r#"{"name":{"eq":"AMZN"}}"#
    );
    assert_eq!(
        c.handle(3, frame(ServerMessage::StartAck { id: "AMZN".into() })),
        [Output::Event(Event::Acked { id: "AMZN".into() })]
    );
    let data = ServerMessage::Data {
        id: "AMZN".into(),
        payload: json!({"data": {"subscribe": {"name": "AMZN"}}}),
    };
    let out = c.handle(4, frame(data));
    assert!(matches!(&out[0], Output::Event(Event::Data { id, .. }) if id == "AMZN"));
    let stray = ServerMessage::Data {
        id: "GONE".into(),
        payload: json!({}),
    };
    assert!(
        c.handle(5, frame(stray)).is_empty(),
        "data for an unknown id is dropped"
    );
    assert!(
        c.handle(6, Input::Frame("garbage".into())).is_empty(),
        "garbage is ignored"
    );
    assert_eq!(
        c.subscriptions().collect::<Vec<_>>(),
        [("AMZN", true), ("TSLA", false)]
    );
}

#[test]
fn subscribing_and_unsubscribing_while_live_touch_only_that_ticker() {
    let mut c = live(&["AMZN", "TSLA"]);
    let out = c.handle(10, sub("MSFT"));
    assert_eq!(started_ids(&out), ["MSFT"], "no reconnect, no other start");
    assert_eq!(
        sent(&c.handle(11, Input::Unsubscribe { id: "AMZN".into() })),
        [ClientMessage::Stop { id: "AMZN".into() }]
    );
    assert!(
        c.handle(12, Input::Unsubscribe { id: "NOPE".into() })
            .is_empty()
    );
    let late = ServerMessage::Data {
        id: "AMZN".into(),
        payload: json!({}),
    };
    assert!(
        c.handle(13, frame(late)).is_empty(),
        "nothing after unsubscribing"
    );
    assert_eq!(c.state(), &ConnectionState::Live);
}

#[test]
fn a_missing_ack_closes_and_reconnects_after_a_jittered_wait() {
    let mut c = client();
    c.handle(0, sub("AMZN"));
    c.handle(0, Input::Opened);
    assert!(c.tick(14_999).is_empty());
    let out = c.tick(15_000);
    assert!(matches!(out[0], Output::Close { .. }));
    let Output::Event(Event::State(ConnectionState::Reconnecting { at_ms, attempt: 1 })) = out[1]
    else {
        panic!("{out:?}")
    };
    assert!((15_000..=15_500).contains(&at_ms), "first wait ≤ base");
    assert_eq!(c.next_deadline(), Some(at_ms));
    assert!(c.tick(at_ms - 1).is_empty());
    assert!(matches!(c.tick(at_ms)[0], Output::Open { .. }));
}

#[test]
fn silence_beyond_the_keepalive_timeout_reconnects_and_any_frame_counts_as_life() {
    let mut c = live(&["AMZN"]);
    assert_eq!(c.next_deadline(), Some(10_000));
    c.handle(6_000, frame(ServerMessage::Ka));
    assert_eq!(c.next_deadline(), Some(16_000));
    c.handle(
        9_000,
        frame(ServerMessage::Data {
            id: "AMZN".into(),
            payload: json!({}),
        }),
    );
    assert!(c.tick(18_999).is_empty());
    let out = c.tick(19_000);
    assert_eq!(
        out[0],
        Output::Close {
            code: 3008,
            reason: "keep-alive timeout".into()
        }
    );
    assert!(matches!(c.state(), ConnectionState::Reconnecting { .. }));
}

#[test]
fn after_a_reconnect_every_wanted_subscription_restarts_with_its_id() {
    let mut c = live(&["AMZN", "TSLA"]);
    c.handle(100, Input::Unsubscribe { id: "TSLA".into() });
    c.handle(100, sub("MSFT"));
    c.handle(200, Input::Closed);
    let ConnectionState::Reconnecting { at_ms, .. } = *c.state() else {
        panic!()
    };
    assert!(c.subscriptions().all(|(_, acked)| !acked));
    c.tick(at_ms);
    c.handle(at_ms, Input::Opened);
    let out = c.handle(
        at_ms,
        frame(ServerMessage::ConnectionAck {
            connection_timeout_ms: 10_000,
        }),
    );
    assert_eq!(started_ids(&out), ["AMZN", "MSFT"]);
}

#[test]
fn backoff_grows_is_capped_and_resets_once_live() {
    let mut c = client();
    c.handle(0, sub("AMZN"));
    let mut now = 0;
    let mut waits = Vec::new();
    for _ in 0..12 {
        c.handle(now, Input::Closed);
        let ConnectionState::Reconnecting { at_ms, .. } = *c.state() else {
            panic!()
        };
        waits.push(at_ms - now);
        now = at_ms;
        c.tick(now);
    }
    for (i, w) in waits.iter().enumerate() {
        assert!(*w <= (500i64 << i).min(30_000), "attempt {i}: {w}");
    }
    assert!(
        waits[8..].iter().any(|w| *w > 2_000),
        "later waits reach far: {waits:?}"
    );
    c.handle(now, Input::Opened);
    c.handle(
        now,
        frame(ServerMessage::ConnectionAck {
            connection_timeout_ms: 10_000,
        }),
    );
    c.handle(now + 1, Input::Closed);
    let ConnectionState::Reconnecting { at_ms, attempt } = *c.state() else {
        panic!()
    };
    assert_eq!(attempt, 1, "a live connection resets the count");
    assert!(at_ms - (now + 1) <= 500);
}

#[test]
fn a_start_without_ack_is_sent_again_with_the_same_id() {
    let mut c = client();
    c.handle(0, sub("AMZN"));
    c.handle(0, Input::Opened);
    c.handle(
        0,
        frame(ServerMessage::ConnectionAck {
            connection_timeout_ms: 300_000,
        }),
    );
    assert_eq!(c.next_deadline(), Some(15_000));
    assert_eq!(started_ids(&c.tick(15_000)), ["AMZN"]);
    c.handle(15_001, frame(ServerMessage::StartAck { id: "AMZN".into() }));
    assert_eq!(
        c.next_deadline(),
        Some(315_001),
        "only the keep-alive is left"
    );
}

/// A client whose `start` for AMZN went out at 0 and is still unanswered at 15 s.
fn awaiting_a_late_ack() -> Client {
    let mut c = client();
    c.handle(0, sub("AMZN"));
    c.handle(0, Input::Opened);
    c.handle(
        0,
        frame(ServerMessage::ConnectionAck {
            connection_timeout_ms: 300_000,
        }),
    );
    c
}

fn error(id: &str, error_type: &str) -> Input {
    Input::Frame(format!(
        r#"{{"type":"error","id":"{id}","payload":{{"errors":[{{"errorType":"{error_type}","message":"m"}}]}}}}"#
    ))
}

fn data(id: &str) -> Input {
    frame(ServerMessage::Data {
        id: id.to_owned(),
        payload: json!({"data": {"subscribe": {"name": "AMZN", "data": "{}"}}}),
    })
}

fn events(out: Vec<Output>) -> Vec<Event> {
    out.into_iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn a_late_start_ack_is_stopped_before_the_start_is_sent_again() {
    // The server registered the first `start`; only its ack is late.
    let mut c = awaiting_a_late_ack();
    let retry = sent(&c.tick(15_000));
    assert_eq!(
        retry.iter().map(ClientMessage::encode).collect::<Vec<_>>(),
        [
            ClientMessage::Stop { id: "AMZN".into() }.encode(),
            retry[1].encode(),
        ]
    );
    assert!(matches!(&retry[1], ClientMessage::Start { id, .. } if id == "AMZN"));
    // What that server sends back, in order: the late ack, `complete` for the `stop`, the
    // second ack, then data.
    let late = c.handle(15_001, frame(ServerMessage::StartAck { id: "AMZN".into() }));
    assert_eq!(events(late), [Event::Acked { id: "AMZN".into() }]);
    assert!(
        events(c.handle(15_002, frame(ServerMessage::Complete { id: "AMZN".into() }))).is_empty()
    );
    c.handle(15_003, frame(ServerMessage::StartAck { id: "AMZN".into() }));
    assert!(matches!(
        events(c.handle(15_004, data("AMZN"))).as_slice(),
        [Event::Data { id, .. }] if id == "AMZN"
    ));
    assert_eq!(c.subscriptions().collect::<Vec<_>>(), [("AMZN", true)]);
    assert_eq!(c.next_deadline(), Some(315_004), "no retry left");
}

#[test]
fn a_stop_that_finds_nothing_does_not_drop_the_subscription() {
    // The first `start` was never registered: the server answers the `stop` with
    // `UnknownOperationError`, then acks the second `start`.
    let mut c = awaiting_a_late_ack();
    c.tick(15_000);
    assert!(events(c.handle(15_001, error("AMZN", "UnknownOperationError"))).is_empty());
    assert_eq!(c.subscriptions().collect::<Vec<_>>(), [("AMZN", false)]);
    let out = c.handle(15_002, frame(ServerMessage::StartAck { id: "AMZN".into() }));
    assert_eq!(events(out), [Event::Acked { id: "AMZN".into() }]);
    assert_eq!(events(c.handle(15_003, data("AMZN"))).len(), 1);
    // An `UnknownOperationError` that answers no `stop` of ours is a refusal as before.
    let out = c.handle(15_004, error("AMZN", "UnknownOperationError"));
    assert!(matches!(
        events(out).as_slice(),
        [Event::SubscriptionFailed { id, .. }] if id == "AMZN"
    ));
}

#[test]
fn duplicated_operation_for_a_restarted_id_means_it_is_live() {
    // A server that registered the first `start` and refuses the second as a duplicate (as
    // one that handles a `start` before an earlier `stop` would): the id is live, not gone.
    let mut c = awaiting_a_late_ack();
    c.tick(15_000);
    let out = c.handle(15_001, error("AMZN", "DuplicatedOperationError"));
    assert_eq!(events(out), [Event::Acked { id: "AMZN".into() }]);
    assert_eq!(c.subscriptions().collect::<Vec<_>>(), [("AMZN", true)]);
    // The late ack and the answer to the `stop` change nothing; data is delivered.
    c.handle(15_002, frame(ServerMessage::StartAck { id: "AMZN".into() }));
    assert!(events(c.handle(15_003, error("AMZN", "UnknownOperationError"))).is_empty());
    assert_eq!(events(c.handle(15_004, data("AMZN"))).len(), 1);
    assert_eq!(c.subscriptions().collect::<Vec<_>>(), [("AMZN", true)]);
}

#[test]
fn a_stop_completing_after_a_duplicate_starts_the_subscription_again() {
    // A server that handled the second `start` before the `stop`: duplicate, then the `stop`
    // removes the only registration. The client must not believe it is still live.
    let mut c = awaiting_a_late_ack();
    c.tick(15_000);
    c.handle(15_001, error("AMZN", "DuplicatedOperationError"));
    let out = c.handle(15_002, frame(ServerMessage::Complete { id: "AMZN".into() }));
    assert_eq!(started_ids(&out), ["AMZN"]);
    assert_eq!(c.subscriptions().collect::<Vec<_>>(), [("AMZN", false)]);
    c.handle(15_003, frame(ServerMessage::StartAck { id: "AMZN".into() }));
    assert_eq!(c.subscriptions().collect::<Vec<_>>(), [("AMZN", true)]);
}

#[test]
fn a_refused_subscription_is_dropped_and_reported() {
    let mut c = live(&["AMZN", "BAD"]);
    // Real AppSync sometimes sends `errors` as an object.
    let text = r#"{"type":"error","id":"BAD","payload":{"errors":{"errorType":"BadRequestException","message":"invalid subscription filter"}}}"#;
    let out = c.handle(1, Input::Frame(text.into()));
    let Output::Event(Event::SubscriptionFailed { id, errors }) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (id.as_str(), errors[0].error_type.as_deref()),
        ("BAD", Some("BadRequestException"))
    );
    assert_eq!(
        c.subscriptions().map(|(id, _)| id).collect::<Vec<_>>(),
        ["AMZN"]
    );
    assert_eq!(c.state(), &ConnectionState::Live);
}

#[test]
fn a_wrong_api_key_fails_for_good_until_the_user_acts() {
    let mut c = client();
    c.handle(0, sub("AMZN"));
    c.handle(0, Input::Opened);
    let refused = r#"{"type":"connection_error","payload":{"errors":[{"errorType":"UnauthorizedException","message":"You are not authorized to make this call.","errorCode":401}]}}"#;
    let out = c.handle(1, Input::Frame(refused.into()));
    assert!(matches!(out[0], Output::Close { .. }));
    assert!(
        matches!(c.state(), ConnectionState::Failed { errors } if errors[0].error_code == Some(401))
    );
    assert!(c.handle(2, Input::Closed).is_empty(), "no reconnect loop");
    assert_eq!(c.next_deadline(), None);
    assert!(
        matches!(c.handle(3, sub("TSLA"))[0], Output::Open { .. }),
        "a new subscribe tries again"
    );
}

#[test]
fn retryable_connection_level_errors_do_not_give_up() {
    let mut c = live(&["AMZN"]);
    let throttled = ServerMessage::Error {
        id: None,
        errors: vec![quotecast_shared::realtime::ErrorObject::new(
            "LimitExceededError",
            "Rate limit exceeded",
        )],
    };
    assert!(c.handle(1, frame(throttled)).is_empty());
    assert_eq!(c.state(), &ConnectionState::Live);
}

#[test]
fn losing_the_socket_with_nothing_wanted_goes_idle() {
    let mut c = live(&["AMZN"]);
    c.handle(1, Input::Unsubscribe { id: "AMZN".into() });
    let out = c.handle(2, Input::Closed);
    assert_eq!(out, [Output::Event(Event::State(ConnectionState::Idle))]);
    assert_eq!(c.next_deadline(), None);
}
