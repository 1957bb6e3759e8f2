//! The auth object, both handshake transports, and the real-time URL rule.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use quotecast_shared::realtime::auth::decode_base64_any;
use quotecast_shared::realtime::url::{host_of, realtime_url};
use quotecast_shared::realtime::{AuthError, AuthMode, AuthObject};

const HOST: &str = "abcdefghijklmnopqrstuvwxyz.appsync-api.us-east-1.amazonaws.com";

fn iam() -> AuthObject {
    AuthObject::new()
        .with("accept", "application/json, text/javascript")
        .with("content-encoding", "amz-1.0")
        .with("content-type", "application/json; charset=UTF-8")
        .with("host", HOST)
        .with("x-amz-date", "20200401T001010Z")
        .with("X-Amz-Security-Token", "token")
        .with("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20200401/us-east-1/appsync/aws4_request, SignedHeaders=accept;content-encoding;content-type;host;x-amz-date;x-amz-security-token, Signature=abc")
}

#[test]
fn modes_are_recognised_and_lookups_ignore_case() {
    let key = AuthObject::api_key(HOST, "da2-k");
    assert_eq!(key.mode(), AuthMode::ApiKey("da2-k"));
    assert_eq!(key.host(), Some(HOST));
    assert!(matches!(iam().mode(), AuthMode::Iam(a) if a.starts_with("AWS4-HMAC-SHA256")));
    assert_eq!(iam().get("x-amz-security-token"), Some("token"));
    assert_eq!(
        AuthObject::new().with("Authorization", "eyJ").mode(),
        AuthMode::Token("eyJ")
    );
    assert_eq!(
        AuthObject::new().with("host", HOST).mode(),
        AuthMode::Missing
    );
}

#[test]
fn subprotocol_transport_round_trips_without_padding_or_unsafe_characters() {
    for auth in [AuthObject::api_key(HOST, "da2-k"), iam()] {
        let proto = auth.to_subprotocol();
        let encoded = proto.strip_prefix("header-").unwrap();
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{proto}"
        );
        let back = AuthObject::from_subprotocols(["graphql-ws", proto.as_str()]).unwrap();
        assert_eq!(back, auth);
    }
}

#[test]
fn subprotocol_accepts_padded_and_standard_alphabet_encodings() {
    let json = AuthObject::api_key(HOST, "da2-k?>").to_json();
    for encoded in [
        URL_SAFE.encode(&json),
        URL_SAFE_NO_PAD.encode(&json),
        STANDARD.encode(&json),
    ] {
        let offered = format!("header-{encoded}");
        let auth = AuthObject::from_subprotocols([" graphql-ws", offered.as_str()]).unwrap();
        assert_eq!(auth.get("x-api-key"), Some("da2-k?>"));
    }
}

#[test]
fn query_transport_round_trips_and_accepts_raw_base64() {
    let auth = iam();
    let query = auth.to_query();
    assert!(query.ends_with("&payload=e30%3D"), "{query}");
    assert!(!query.contains('+') && !query.contains('/'));
    assert_eq!(AuthObject::from_query(&query).unwrap(), auth);
    // Amplify before 2024 sent standard base64 unescaped; some layers turn '+' into ' '.
    let raw = format!("header={}&payload=e30=", STANDARD.encode(auth.to_json()));
    assert_eq!(AuthObject::from_query(&raw).unwrap(), auth);
    let spaced = raw.replace('+', " ");
    assert_eq!(AuthObject::from_query(&spaced).unwrap(), auth);
    // base64url, no padding, extra parameters (Amplify v6 custom headers).
    let url = format!(
        "x-custom=1&header={}&payload=e30",
        URL_SAFE_NO_PAD.encode(auth.to_json())
    );
    assert_eq!(AuthObject::from_query(&url).unwrap(), auth);
}

#[test]
fn bad_handshakes_get_distinct_errors() {
    assert_eq!(
        AuthObject::from_query("payload=e30="),
        Err(AuthError::MissingHeaderParam)
    );
    let header = STANDARD.encode(AuthObject::api_key(HOST, "k").to_json());
    assert_eq!(
        AuthObject::from_query(&format!("header={header}")),
        Err(AuthError::MissingPayloadParam)
    );
    assert_eq!(
        AuthObject::from_query("header=%ZZ&payload=e30="),
        Err(AuthError::PercentEscape)
    );
    assert_eq!(
        AuthObject::from_query("header=%4&payload=e30="),
        Err(AuthError::PercentEscape)
    );
    assert_eq!(
        AuthObject::from_query("header=!!!!&payload=e30="),
        Err(AuthError::Base64)
    );
    assert!(matches!(
        AuthObject::from_query(&format!("header={}&payload=e30=", STANDARD.encode("[1]"))),
        Err(AuthError::Json(_))
    ));
    assert!(matches!(
        AuthObject::from_subprotocols([format!(
            "header-{}",
            URL_SAFE_NO_PAD.encode(r#"{"host":{"a":1}}"#)
        )
        .as_str()]),
        Err(AuthError::Json(_))
    ));
    assert_eq!(
        AuthObject::from_subprotocols(["graphql-ws"]),
        Err(AuthError::MissingSubprotocol)
    );
    assert_eq!(
        AuthObject::from_subprotocols(["header-%%%"]),
        Err(AuthError::Base64)
    );
    assert_eq!(decode_base64_any("e30").unwrap(), b"{}");
}

#[test]
fn scalar_header_values_are_kept_as_text_and_nulls_dropped() {
    let auth =
        AuthObject::from_json(br#"{"host":"h","x-api-key":"k","n":1,"b":true,"z":null}"#).unwrap();
    assert_eq!(auth.get("n"), Some("1"));
    assert_eq!(auth.get("b"), Some("true"));
    assert_eq!(auth.get("z"), None);
    assert_eq!(auth.headers().count(), 4);
}

#[test]
fn realtime_url_follows_amplify_rule() {
    assert_eq!(
        realtime_url(&format!("https://{HOST}/graphql")),
        "wss://abcdefghijklmnopqrstuvwxyz.appsync-realtime-api.us-east-1.amazonaws.com/graphql"
    );
    assert_eq!(
        realtime_url(
            "https://abcdefghijklmnopqrstuvwxyz.appsync-api.cn-north-1.amazonaws.com.cn/graphql"
        ),
        "wss://abcdefghijklmnopqrstuvwxyz.appsync-realtime-api.cn-north-1.amazonaws.com.cn/graphql"
    );
    assert_eq!(
        realtime_url("https://api.example.com/graphql"),
        "wss://api.example.com/graphql/realtime"
    );
    assert_eq!(
        realtime_url("http://127.0.0.1:8080/graphql"),
        "ws://127.0.0.1:8080/graphql/realtime"
    );
    // An API id of the wrong length is a custom domain.
    assert_eq!(
        realtime_url("https://short.appsync-api.us-east-1.amazonaws.com/graphql"),
        "wss://short.appsync-api.us-east-1.amazonaws.com/graphql/realtime"
    );
    assert_eq!(host_of("http://127.0.0.1:8080/graphql"), "127.0.0.1:8080");
    assert_eq!(host_of(&format!("https://{HOST}/graphql?x=1")), HOST);
}

/// A header named twice (in any case) is refused: before, lookups took the first and a SigV4
/// verifier walking the pairs could take another.
#[test]
fn a_header_named_twice_is_refused() {
    for json in [
        r#"{"host":"a","x-api-key":"da2-k","x-api-key":"da2-other"}"#,
        r#"{"host":"a","Authorization":"x","authorization":"y"}"#,
    ] {
        let e = AuthObject::from_json(json.as_bytes()).unwrap_err();
        assert!(
            matches!(&e, AuthError::Json(m) if m.contains("given twice")),
            "{e}"
        );
        let subprotocol = format!("header-{}", URL_SAFE_NO_PAD.encode(json));
        assert!(AuthObject::from_subprotocols([subprotocol.as_str()]).is_err());
    }
    let once = r#"{"host":"a","x-api-key":"da2-k","X-Amz-Date":"1"}"#;
    assert!(AuthObject::from_json(once.as_bytes()).is_ok());
}
