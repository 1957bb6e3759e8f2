//! Real-time frames from either side: decoding never panics, and a decoded client frame
//! re-encodes to an equal frame.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quotecast_shared::realtime::{ClientMessage, ServerMessage};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(msg) = ClientMessage::decode(text) {
        assert_eq!(ClientMessage::decode(&msg.encode()).ok(), Some(msg));
    }
    let _ = ServerMessage::decode(text);
});
