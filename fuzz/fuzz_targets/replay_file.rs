//! The producer's replay reader: CSV and both JSON layouts, errors with line numbers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quotecast_producer::source::replay::Replay;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(mut replay) = Replay::from_text("fuzz.csv", text, "AMZN", true) {
        let _ = replay.remaining();
    }
});
