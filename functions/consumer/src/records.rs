//! From Kafka records to channel messages.
//!
//! A record's value is one quote: ours (`Quote` JSON), or the reference sample's
//! `{"topic", "value"}` payload, which is checked and forwarded with the record's time added
//! as `timestamp` (unless it has one), the bar's only time. The channel
//! name is the record key (the symbol); without a key, our quote's own symbol; without
//! either, the topic name (the reference's topic-per-stock layout).

use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use quotecast_shared::quote::{ReferenceQuote, dated_reference, validate_symbol};
use quotecast_shared::{Channel, Quote, QuoteError};
use serde_json::Value;

/// Why a record was skipped rather than published.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Skip {
    #[error("tombstone (null value)")]
    Tombstone,
    #[error("{field} is not valid base64")]
    Base64 { field: &'static str },
    #[error("{field} is not UTF-8")]
    NotUtf8 { field: &'static str },
    #[error("key is not a valid symbol: {0}")]
    BadKey(QuoteError),
    #[error("value is not a quote: {0}")]
    BadQuote(QuoteError),
}

/// Reads the Lambda event JSON. Tolerates what AWS's own documentation examples show: a
/// `partition` written as a string, and records without `headers`. Each record's time is the
/// event's, to the millisecond: aws_lambda_events 1.2 goes through seconds as an `f64` and
/// truncates, so a third of all times came out a millisecond early (…001 read as …000),
/// putting neighbouring records in one millisecond.
pub fn decode_event(mut event: Value) -> Result<KafkaEvent, serde_json::Error> {
    let mut exact_ms: Vec<(String, usize, i64)> = Vec::new();
    if let Some(partitions) = event.get_mut("records").and_then(Value::as_object_mut) {
        for (key, list) in partitions.iter_mut() {
            let Some(list) = list.as_array_mut() else {
                continue;
            };
            for (index, record) in list.iter_mut().enumerate() {
                normalize_record(record);
                if let Some(ms) = record.get("timestamp").and_then(whole_ms) {
                    exact_ms.push((key.clone(), index, ms));
                }
            }
        }
    }
    let mut event: KafkaEvent = serde_json::from_value(event)?;
    for (key, index, ms) in exact_ms {
        if let Some(record) = event.records.get_mut(&key).and_then(|r| r.get_mut(index))
            && let Some(time) = chrono::DateTime::from_timestamp_millis(ms)
        {
            record.timestamp.0 = time;
        }
    }
    Ok(event)
}

/// A whole number of milliseconds, as a number or a numeric string.
fn whole_ms(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(t) => t.trim().parse().ok(),
        _ => None,
    }
}

/// One record made readable by aws_lambda_events (see [`decode_event`]).
fn normalize_record(record: &mut Value) {
    let Some(obj) = record.as_object_mut() else {
        return;
    };
    {
        if let Some(Value::String(p)) = obj.get("partition")
            && let Ok(n) = p.trim().parse::<i64>()
        {
            obj.insert("partition".to_owned(), Value::from(n));
        }
        obj.entry("headers")
            .or_insert_with(|| Value::Array(Vec::new()));
        // aws_lambda_events panics (an assert) on fractional milliseconds; AWS never sends
        // them, so whole milliseconds are kept and the fraction dropped (found by fuzzing).
        let fractional = match obj.get("timestamp") {
            Some(Value::Number(n)) if !n.is_i64() && !n.is_u64() => n.as_f64(),
            Some(Value::String(t)) => t.trim().parse::<f64>().ok().filter(|f| f.fract() != 0.0),
            _ => None,
        };
        if let Some(ms) = fractional.filter(|f| f.is_finite() && f.abs() < 9.0e15) {
            obj.insert("timestamp".to_owned(), Value::from(ms.floor() as i64));
        }
    }
}

fn decode_text(field: &'static str, b64: &str) -> Result<String, Skip> {
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|_| Skip::Base64 { field })?;
    String::from_utf8(bytes).map_err(|_| Skip::NotUtf8 { field })
}

/// The channel message a record publishes.
pub fn channel_of(record: &KafkaRecord) -> Result<Channel, Skip> {
    bar_of(record).map(|(channel, _)| channel)
}

/// Where a bar's time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dated {
    /// Our quote's own `timestamp`: two records with one time are one bar, the later its
    /// newer version.
    ByQuote,
    /// The record's timestamp (the reference payload has no time of its own): two records
    /// in one millisecond are two bars that the history, keyed by ms, cannot both keep.
    ByRecord,
}

/// The channel message a record publishes and the bar's time (ms), its key in the history:
/// our quote's own `timestamp`, or for the reference payload (which has none) the record's.
pub fn bar_of(record: &KafkaRecord) -> Result<(Channel, (i64, Dated)), Skip> {
    let value = record.value.as_deref().ok_or(Skip::Tombstone)?;
    let text = decode_text("value", value)?;
    let key = match record.key.as_deref() {
        Some(k) => {
            let k = decode_text("key", k)?;
            let k = k.trim().to_owned();
            validate_symbol(&k).map_err(Skip::BadKey)?;
            Some(k)
        }
        None => None,
    };
    match Quote::from_json(&text) {
        Ok(quote) => {
            let name = key.unwrap_or_else(|| quote.symbol.clone());
            Ok((
                Channel::new(name, quote.to_json()),
                (quote.timestamp, Dated::ByQuote),
            ))
        }
        // A well-formed quote of ours that fails validation is bad, not a reference payload.
        Err(e @ QuoteError::Malformed(_)) if !looks_like_reference(&text) => Err(Skip::BadQuote(e)),
        Err(QuoteError::Malformed(_)) => {
            let name = key.or_else(|| record.topic.clone()).unwrap_or_default();
            let reference = ReferenceQuote::from_json(&text).map_err(Skip::BadQuote)?;
            // Dated with the record's time (unless it carries its own), so the live bar and
            // its stored copy read alike in every browser.
            let (text, at) = dated_reference(&text, record.timestamp.0.timestamp_millis())
                .map_err(Skip::BadQuote)?;
            reference.into_quote(&name, at).map_err(Skip::BadQuote)?;
            Ok((Channel::new(name, text), (at, Dated::ByRecord)))
        }
        Err(e) => Err(Skip::BadQuote(e)),
    }
}

fn looks_like_reference(text: &str) -> bool {
    serde_json::from_str::<Value>(text)
        .is_ok_and(|v| v.get("topic").is_some() && v.get("value").is_some())
}

/// The partitions of an event in a stable order, each with its records in offset order.
pub fn partitions(event: &KafkaEvent) -> Vec<(&str, Vec<&KafkaRecord>)> {
    let mut partitions: Vec<(&str, Vec<&KafkaRecord>)> = event
        .records
        .iter()
        .map(|(key, records)| {
            let mut records: Vec<&KafkaRecord> = records.iter().collect();
            records.sort_by_key(|r| r.offset);
            (key.as_str(), records)
        })
        .collect();
    partitions.sort_by(|a, b| a.0.cmp(b.0));
    partitions
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        STANDARD.encode(s)
    }

    fn record(key: Option<&str>, value: Option<&str>) -> KafkaRecord {
        let event = json!({"records": {"quotes-0": [{
            "topic": "quotes", "partition": 0, "offset": 7, "timestamp": 1700000000000i64,
            "timestampType": "CREATE_TIME", "key": key.map(b64), "value": value.map(b64), "headers": []
        }]}});
        decode_event(event).unwrap().records["quotes-0"][0].clone()
    }

    const QUOTE: &str =
        r#"{"symbol":"AMZN","timestamp":1,"open":1,"high":2,"low":0.5,"close":1.5,"volume":10}"#;

    /// aws_lambda_events alone reads 1700000000001 as …000 (seconds through an f64).
    #[test]
    fn record_times_are_exact_to_the_millisecond() {
        for ms in [
            1_700_000_000_001i64,
            1_700_000_000_003,
            1_764_000_000_999,
            0,
            1,
        ] {
            let event = json!({"records": {"quotes-0": [
                {"topic": "quotes", "partition": 0, "offset": 7, "timestamp": ms,
                 "timestampType": "CREATE_TIME", "key": null, "value": null, "headers": []},
                {"topic": "quotes", "partition": 0, "offset": 8, "timestamp": ms.to_string(),
                 "timestampType": "CREATE_TIME", "key": null, "value": null}
            ]}});
            let event = decode_event(event).unwrap();
            for record in &event.records["quotes-0"] {
                assert_eq!(record.timestamp.0.timestamp_millis(), ms);
            }
        }
    }

    #[test]
    fn our_quotes_are_published_under_their_key_or_symbol() {
        let ch = channel_of(&record(Some("TSLA"), Some(QUOTE))).unwrap();
        assert_eq!(ch.name, "TSLA");
        assert_eq!(Quote::from_json(&ch.data).unwrap().close, 1.5);
        assert_eq!(channel_of(&record(None, Some(QUOTE))).unwrap().name, "AMZN");
    }

    #[test]
    fn reference_payloads_are_checked_and_forwarded_dated_by_their_record() {
        let payload = r#"{"topic":"amazon","value":"{\"Open\":1,\"High\":2,\"Low\":0.5,\"Close\":1.5,\"Adj Close\":1.5,\"Volume\":10}"}"#;
        let ch = channel_of(&record(None, Some(payload))).unwrap();
        assert_eq!(ch.name, "quotes", "topic name without a key");
        let sent: Value = serde_json::from_str(&ch.data).unwrap();
        let mut expected: Value = serde_json::from_str(payload).unwrap();
        expected["timestamp"] = json!(1_700_000_000_000i64);
        assert_eq!(sent, expected, "the payload, with the record's time added");
        // Read back by any client, it is the record's bar at the record's time.
        let read = quotecast_shared::quote::parse_quote_payload(&ch.data, "quotes", 5).unwrap();
        assert_eq!((read.timestamp, read.close), (1_700_000_000_000, 1.5));
        // A payload with its own time keeps it, as it is.
        let own = payload.replacen('{', r#"{"timestamp":1600000000000,"#, 1);
        let (ch, (at, _)) = bar_of(&record(None, Some(&own))).unwrap();
        assert_eq!((ch.data.as_str(), at), (own.as_str(), 1_600_000_000_000));
        assert_eq!(
            channel_of(&record(Some("AMZN"), Some(payload)))
                .unwrap()
                .name,
            "AMZN"
        );
        let inverted = r#"{"topic":"amazon","value":"{\"Open\":1,\"High\":1,\"Low\":2,\"Close\":1,\"Volume\":10}"}"#;
        assert!(matches!(
            channel_of(&record(None, Some(inverted))),
            Err(Skip::BadQuote(QuoteError::HighBelowLow { .. }))
        ));
    }

    #[test]
    fn unreadable_records_are_skipped_with_a_reason() {
        assert_eq!(channel_of(&record(Some("A"), None)), Err(Skip::Tombstone));
        let mut r = record(Some("A"), Some(QUOTE));
        r.value = Some("***".into());
        assert_eq!(channel_of(&r), Err(Skip::Base64 { field: "value" }));
        r.value = Some(STANDARD.encode([0xff, 0xfe]));
        assert_eq!(channel_of(&r), Err(Skip::NotUtf8 { field: "value" }));
        assert!(matches!(
            channel_of(&record(Some("A"), Some("not json"))),
            Err(Skip::BadQuote(_))
        ));
        assert!(matches!(
            channel_of(&record(Some("A B"), Some(QUOTE))),
            Err(Skip::BadKey(_))
        ));
        let negative = QUOTE.replace("\"volume\":10", "\"volume\":-1");
        assert!(matches!(
            channel_of(&record(None, Some(&negative))),
            Err(Skip::BadQuote(QuoteError::NegativeVolume { .. }))
        ));
    }

    /// Found by `cargo xtask fuzz` (target `kafka_event`): a fractional timestamp made
    /// aws_lambda_events panic.
    #[test]
    fn fuzz_regression_fractional_timestamps_do_not_panic() {
        let text = include_str!("../tests/fixtures/fuzz-fractional-timestamp.json");
        let event = decode_event(serde_json::from_str(text).unwrap()).unwrap();
        // The crate converts through f64 seconds, which may lose a millisecond.
        let ms = event.records["quotes-0"][0].timestamp.0.timestamp_millis();
        assert!((ms - 154_588_465_098).abs() <= 1, "{ms}");
        let as_text = json!({"records": {"t-0": [{"topic": "t", "partition": 0, "offset": 1, "timestamp": "12.5", "timestampType": "CREATE_TIME", "value": null}]}});
        assert!(decode_event(as_text).is_ok());
        let absurd = json!({"records": {"t-0": [{"topic": "t", "partition": 0, "offset": 1, "timestamp": 1e300, "timestampType": "CREATE_TIME", "value": null}]}});
        let _ = decode_event(absurd);
    }

    #[test]
    fn documentation_quirks_are_tolerated() {
        let event = json!({"eventSource": "SelfManagedKafka", "records": {"t-0": [
            {"topic": "t", "partition": "0", "offset": 2, "timestamp": 1, "timestampType": "CREATE_TIME", "key": null, "value": null},
            {"topic": "t", "partition": 0, "offset": 1, "timestamp": 1, "timestampType": "CREATE_TIME", "value": null, "headers": [{"h": [-61, -85]}]}
        ]}});
        let event = decode_event(event).unwrap();
        let parts = partitions(&event);
        assert_eq!(
            parts[0].1.iter().map(|r| r.offset).collect::<Vec<_>>(),
            [1, 2],
            "offset order"
        );
        assert_eq!(
            parts[0].1[0].headers[0]["h"]
                .iter()
                .map(|b| *b as u8)
                .collect::<Vec<_>>(),
            "ë".as_bytes()
        );
        assert!(decode_event(json!({"records": {"t-0": [{"partition": "zero"}]}})).is_err());
    }
}

#[cfg(test)]
mod never_panic {
    use proptest::prelude::*;
    use serde_json::json;

    use super::{channel_of, decode_event, partitions};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn any_record_is_published_or_skipped(
            key in proptest::option::of("[A-Za-z0-9+/=%*]{0,12}"),
            value in proptest::option::of("[A-Za-z0-9+/=%*]{0,40}"),
            partition in prop_oneof![Just(json!(0)), Just(json!("1")), Just(json!("x")), Just(json!(null)), Just(json!(-3))],
        ) {
            let event = json!({"records": {"t-0": [{"topic": "t", "partition": partition, "offset": 1, "timestamp": 1, "timestampType": "CREATE_TIME", "key": key, "value": value}]}});
            if let Ok(event) = decode_event(event) {
                for (_, records) in partitions(&event) {
                    for r in records {
                        let _ = channel_of(r);
                    }
                }
            }
        }
    }
}
