//! Quote payloads in both formats (ours, and the reference sample's).
#![no_main]
use libfuzzer_sys::fuzz_target;
use quotecast_shared::Quote;
use quotecast_shared::quote::{ReferenceQuote, parse_quote_payload};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = Quote::from_json(text) {
        assert_eq!(Quote::from_json(&q.to_json()).ok(), Some(q));
    }
    let _ = ReferenceQuote::from_json(text);
    let _ = parse_quote_payload(text, "AMZN", 0);
});
