//! The consumer's view of a Lambda Kafka event: event decoding and record → channel.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quotecast_consumer::records::{channel_of, decode_event, partitions};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(event) = decode_event(value) else {
        return;
    };
    for (_, records) in partitions(&event) {
        for record in records {
            let _ = channel_of(record);
        }
    }
});
