//! One ticker's subscription: the filter that selects its channel, and the quote in a `data`
//! payload. The payload is `{"data": {"subscribe": {"name", "data"}}}`, where `data` is
//! AWSJSON (text, or an object from lenient peers) in our format or the reference sample's.
//! The dashboard, `quotecast smoke` and the load generator subscribe the same way.

use serde_json::Value;

use crate::channel::Channel;
use crate::quote::{Quote, parse_quote_payload};

/// The quote in a `data` payload; `received_at_ms` dates reference-format bars, which carry
/// no time of their own.
pub fn quote_from_payload(payload: &Value, received_at_ms: i64) -> Result<Quote, String> {
    let channel = payload
        .get("data")
        .and_then(|d| d.get("subscribe"))
        .filter(|c| !c.is_null())
        .ok_or("the payload has no data.subscribe")?;
    let channel: Channel =
        serde_json::from_value(channel.clone()).map_err(|e| format!("not a Channel: {e}"))?;
    parse_quote_payload(&channel.data, &channel.name, received_at_ms).map_err(|e| e.to_string())
}

/// The filter that subscribes to one ticker's channel.
pub fn filter_for(symbol: &str) -> String {
    serde_json::json!({ "name": { "eq": symbol } }).to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_our_format_as_text_or_object() {
        let quote = r#"{"symbol":"AMZN","timestamp":60000,"open":1,"high":2,"low":0.5,"close":1.5,"volume":7}"#;
        let text = json!({"data": {"subscribe": {"name": "AMZN", "data": quote}}});
        let q = quote_from_payload(&text, 1).unwrap();
        assert_eq!(
            (q.symbol.as_str(), q.timestamp, q.close),
            ("AMZN", 60_000, 1.5)
        );
        let raw: Value = serde_json::from_str(quote).unwrap();
        let object = json!({"data": {"subscribe": {"name": "AMZN", "data": raw}}});
        assert_eq!(quote_from_payload(&object, 1).unwrap(), q);
    }

    #[test]
    fn reads_the_reference_format() {
        let data = r#"{"topic":"amazon","value":"{\"Open\":3.1,\"High\":3.3,\"Low\":3.0,\"Close\":3.2,\"Adj Close\":3.2,\"Volume\":1200.0}"}"#;
        let payload = json!({"data": {"subscribe": {"name": "AMZN", "data": data}}});
        let q = quote_from_payload(&payload, 42_000).unwrap();
        assert_eq!(
            (q.symbol.as_str(), q.timestamp, q.close, q.volume),
            ("AMZN", 42_000, 3.2, 1200)
        );
    }

    #[test]
    fn says_what_is_wrong_with_other_payloads() {
        for bad in [
            json!({}),
            json!({"data": {"subscribe": null}}),
            json!({"data": {"subscribe": {"name": "A"}}}),
            json!({"data": {"subscribe": {"name": "A", "data": "{\"x\":1}"}}}),
            json!({"data": {"subscribe": {"name": "A", "data": "not json"}}}),
        ] {
            assert!(quote_from_payload(&bad, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_escape_the_symbol() {
        assert_eq!(filter_for("AMZN"), r#"{"name":{"eq":"AMZN"}}"#);
        assert_eq!(filter_for("A\"B"), r#"{"name":{"eq":"A\"B"}}"#);
    }
}
