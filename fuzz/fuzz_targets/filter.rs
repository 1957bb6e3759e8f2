//! Enhanced filters: parse, expand and check limits, evaluate, and read back the stored form.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quotecast_shared::filter::{Expr, Filter};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let Ok(expr) = Expr::parse(&value) else {
        return;
    };
    if let Ok(filter) = Filter::from_expr(&expr) {
        let event = serde_json::json!({"name": "AMZN", "data": {"close": 1.5, "tags": ["a", 1]}, "n": null});
        assert_eq!(filter.matches(&event), expr.matches(&event));
        assert_eq!(
            Filter::from_filter_group(&filter.to_filter_group()).ok(),
            Some(filter)
        );
    }
});
