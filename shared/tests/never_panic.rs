//! Every decoder of outside input, fed arbitrary input: errors are fine, panics are not.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use quotecast_shared::Quote;
use quotecast_shared::filter::Filter;
use quotecast_shared::lambda::KafkaBatchResponse;
use quotecast_shared::quote::{ReferenceQuote, parse_quote_payload};
use quotecast_shared::realtime::{AuthObject, ClientMessage, ServerMessage};

/// Strings that look enough like the real inputs to get past the first checks.
fn jsonish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::string::string_regex(r#"\{("[a-z]{1,8}":("[a-z0-9 ]{0,6}"|-?[0-9]{1,4}|\{\}|\[\]|null|true),?){0,4}\}"#).unwrap(),
        proptest::string::string_regex(r#"\{"type":"(start|stop|connection_init|data|error|ka|complete|start_ack|connection_ack)"(,"id":"[a-z0-9]{0,4}")?(,"payload":(\{"data":"[^"]{0,10}"\}|\{"errors":\[?\{\}\]?\}|null|1))?\}"#).unwrap(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn realtime_frames(text in jsonish()) {
        let _ = ClientMessage::decode(&text);
        let _ = ServerMessage::decode(&text);
    }

    #[test]
    fn decoded_client_frames_encode_back_to_themselves(text in jsonish()) {
        if let Ok(msg) = ClientMessage::decode(&text) {
            prop_assert_eq!(ClientMessage::decode(&msg.encode()).unwrap(), msg);
        }
    }

    #[test]
    fn auth_headers_in_both_transports(text in any::<String>(), query in "[a-zA-Z0-9=&%+/_ -]{0,60}") {
        let _ = AuthObject::from_subprotocols([format!("header-{text}").as_str()]);
        let _ = AuthObject::from_query(&query);
        let _ = AuthObject::from_query(&format!("header={text}&payload=e30="));
    }

    #[test]
    fn filters(text in jsonish()) {
        if let Ok(filter) = Filter::from_input_text(&text) {
            let _ = filter.matches(&serde_json::json!({"name": "AMZN", "a": {"b": 1}}));
        }
    }

    #[test]
    fn quote_payloads(text in jsonish(), name in "[A-Z]{0,5}") {
        let _ = Quote::from_json(&text);
        let _ = ReferenceQuote::from_json(&text);
        let _ = parse_quote_payload(&text, &name, 0);
        let _ = serde_json::from_str::<KafkaBatchResponse>(&text);
    }
}
