//! Time and randomness from the browser, for the state machine's deadlines and jitter.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// A seed for the reconnect jitter, different in every tab so that tabs reconnecting after
/// the same outage spread out.
pub fn random_seed() -> u64 {
    (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64
}
