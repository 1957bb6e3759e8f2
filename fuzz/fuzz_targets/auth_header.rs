//! The auth object in both handshake transports: `header-<base64url>` and `?header=&payload=`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quotecast_shared::realtime::AuthObject;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = AuthObject::from_subprotocols(["graphql-ws", &format!("header-{text}")]);
    let _ = AuthObject::from_query(text);
    if let Ok(auth) = AuthObject::from_json(data) {
        assert_eq!(
            AuthObject::from_subprotocols([auth.to_subprotocol().as_str()]).ok(),
            Some(auth.clone())
        );
        assert_eq!(AuthObject::from_query(&auth.to_query()).ok(), Some(auth));
    }
});
