//! Quote validation, our JSON form, and the reference sample's payload.
#![allow(clippy::unwrap_used)]

use quotecast_shared::quote::{
    MAX_SYMBOL_LEN, ReferenceQuote, parse_quote_payload, validate_symbol,
};
use quotecast_shared::{Channel, Quote, QuoteError};
use serde_json::Value;

fn amzn() -> Quote {
    Quote::new(
        "AMZN",
        1_700_000_000_000,
        [190.0, 191.5, 189.5, 191.0],
        1_062_884,
    )
    .unwrap()
}

#[test]
fn valid_quote_round_trips_through_json() {
    let q = amzn().with_previous_close(Some(190.5)).unwrap();
    let text = q.to_json();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["symbol"], "AMZN");
    assert_eq!(v["timestamp"], 1_700_000_000_000i64);
    assert_eq!(v["previousClose"], 190.5);
    assert_eq!(v["volume"], 1_062_884);
    assert_eq!(Quote::from_json(&text).unwrap(), q);
}

/// Found by the fuzz smoke run: without serde_json's `float_roundtrip`, a price written as
/// `1.2000000000057881e21` was read back as `1.200000000005788e21`, so a quote changed on its
/// way through JSON; the property test below found `4.246723175691972e-187`.
#[test]
fn prices_round_trip_exactly_through_json() {
    for price in [
        1.2000000000057881e21,
        1.200000000005788e21,
        4.246723175691972e-187,
    ] {
        let q = Quote::new("AMZN", 0, [price, price, price, price], 1).unwrap();
        let back = Quote::from_json(&q.to_json()).unwrap();
        assert_eq!(back.open.to_bits(), price.to_bits(), "{price:e}");
        assert_eq!(back, q);
    }
}

/// Every finite f64, either sign, subnormals and zeros included.
fn finite_f64() -> proptest::num::f64::Any {
    use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
    /// Any finite prices, written and read back, are the same bits.
    #[test]
    fn any_finite_prices_round_trip_exactly(
        open in finite_f64(),
        close in finite_f64(),
        previous in finite_f64(),
    ) {
        let q = Quote::new("AMZN", 1, [open, f64::MAX, f64::MIN, close], 7)
            .unwrap()
            .with_previous_close(Some(previous))
            .unwrap();
        let back = Quote::from_json(&q.to_json()).unwrap();
        proptest::prop_assert_eq!(back.open.to_bits(), open.to_bits());
        proptest::prop_assert_eq!(back.close.to_bits(), close.to_bits());
        proptest::prop_assert_eq!(back.previous_close.map(f64::to_bits), Some(previous.to_bits()));
    }
}

#[test]
fn previous_close_is_optional_and_omitted_when_absent() {
    let text = amzn().to_json();
    assert!(!text.contains("previousClose"));
    assert_eq!(Quote::from_json(&text).unwrap().previous_close, None);
}

#[test]
fn prev_timestamp_round_trips_and_is_omitted_when_absent() {
    let q = amzn().with_prev_timestamp(Some(1_699_999_940_000)).unwrap();
    let text = q.to_json();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["prevTimestamp"], 1_699_999_940_000i64);
    assert_eq!(Quote::from_json(&text).unwrap(), q);
    assert_eq!(q.prev_timestamp, Some(1_699_999_940_000));

    assert_eq!(amzn().prev_timestamp, None, "Quote::new links nothing");
    let first = amzn().to_json();
    assert!(!first.contains("prevTimestamp"), "{first}");
    assert_eq!(Quote::from_json(&first).unwrap(), amzn());
    // Setting None clears a link.
    assert_eq!(q.with_prev_timestamp(None).unwrap(), amzn());
}

#[test]
fn payloads_without_prev_timestamp_still_parse() {
    // A quote as the producer wrote it before `prevTimestamp` existed.
    let old = r#"{"symbol":"AMZN","timestamp":1700000000000,"open":190.0,"high":191.5,"low":189.5,"close":191.0,"volume":1062884,"previousClose":190.5}"#;
    let q = Quote::from_json(old).unwrap();
    assert_eq!(q.prev_timestamp, None);
    assert_eq!(q.previous_close, Some(190.5));
    assert_eq!(q.to_json(), old, "and is written back unchanged");
    assert_eq!(parse_quote_payload(old, "AMZN", 0).unwrap(), q);
    assert_eq!(serde_json::from_str::<Quote>(old).unwrap(), q);
    // An explicit null is the same as absent.
    let null = old.replacen('}', r#","prevTimestamp":null}"#, 1);
    assert_eq!(Quote::from_json(&null).unwrap(), q);
}

#[test]
fn prev_timestamp_must_be_before_the_bar_and_not_before_1970() {
    let t = amzn().timestamp;
    assert_eq!(
        amzn().with_prev_timestamp(Some(t)).unwrap_err(),
        QuoteError::PrevTimestampNotBefore {
            prev: t,
            timestamp: t
        }
    );
    assert_eq!(
        amzn().with_prev_timestamp(Some(t + 60_000)).unwrap_err(),
        QuoteError::PrevTimestampNotBefore {
            prev: t + 60_000,
            timestamp: t
        }
    );
    assert_eq!(
        amzn().with_prev_timestamp(Some(-1)).unwrap_err(),
        QuoteError::NegativePrevTimestamp { prev: -1 }
    );
    assert_eq!(
        amzn()
            .with_prev_timestamp(Some(t - 1))
            .unwrap()
            .prev_timestamp,
        Some(t - 1)
    );
    assert_eq!(
        amzn().with_prev_timestamp(Some(0)).unwrap().prev_timestamp,
        Some(0)
    );
    let message = amzn().with_prev_timestamp(Some(t)).unwrap_err().to_string();
    assert_eq!(
        message,
        "quote prevTimestamp 1700000000000 is not before the quote's timestamp 1700000000000"
    );
    // The JSON form goes through the same checks.
    let with_prev = |prev: &str| {
        format!(
            r#"{{"symbol":"X","timestamp":1000,"open":1,"high":1,"low":1,"close":1,"volume":1,"prevTimestamp":{prev}}}"#
        )
    };
    assert_eq!(
        Quote::from_json(&with_prev("1000")),
        Err(QuoteError::PrevTimestampNotBefore {
            prev: 1000,
            timestamp: 1000
        })
    );
    assert_eq!(
        Quote::from_json(&with_prev("-5")),
        Err(QuoteError::NegativePrevTimestamp { prev: -5 })
    );
    assert!(serde_json::from_str::<Quote>(&with_prev("2000")).is_err());
    assert!(matches!(
        Quote::from_json(&with_prev("\"999\"")),
        Err(QuoteError::Malformed(_))
    ));
    assert_eq!(
        Quote::from_json(&with_prev("999")).unwrap().prev_timestamp,
        Some(999)
    );
}

#[test]
fn change_is_computed_from_previous_close() {
    let q = amzn().with_previous_close(Some(200.0)).unwrap();
    let (change, pct) = q.change().unwrap();
    assert!((change - -9.0).abs() < 1e-9);
    assert!((pct - -4.5).abs() < 1e-9);
    assert_eq!(amzn().change(), None);
    assert_eq!(
        amzn().with_previous_close(Some(0.0)).unwrap().change(),
        None
    );
}

#[test]
fn symbols_are_checked() {
    assert_eq!(validate_symbol(""), Err(QuoteError::EmptySymbol));
    let long = "A".repeat(MAX_SYMBOL_LEN + 1);
    assert_eq!(
        validate_symbol(&long),
        Err(QuoteError::SymbolTooLong {
            len: MAX_SYMBOL_LEN + 1
        })
    );
    assert!(matches!(
        validate_symbol("AM ZN"),
        Err(QuoteError::SymbolInvalid { .. })
    ));
    assert!(matches!(
        validate_symbol("AMZN\n"),
        Err(QuoteError::SymbolInvalid { .. })
    ));
    for ok in ["BRK.B", "^GSPC", "BTC-USD", "A"] {
        assert_eq!(validate_symbol(ok), Ok(()), "{ok}");
    }
}

#[test]
fn invalid_prices_are_refused_with_their_field() {
    let bad = |ohlc: [f64; 4]| Quote::new("X", 0, ohlc, 1).unwrap_err();
    assert_eq!(
        bad([f64::NAN, 1.0, 1.0, 1.0]),
        QuoteError::NonFinite { field: "open" }
    );
    assert_eq!(
        bad([1.0, f64::INFINITY, 1.0, 1.0]),
        QuoteError::NonFinite { field: "high" }
    );
    assert_eq!(
        bad([1.0, 1.0, f64::NEG_INFINITY, 1.0]),
        QuoteError::NonFinite { field: "low" }
    );
    assert_eq!(
        bad([1.0, 1.0, 1.0, f64::NAN]),
        QuoteError::NonFinite { field: "close" }
    );
    assert_eq!(
        bad([1.0, 1.0, 2.0, 1.0]),
        QuoteError::HighBelowLow {
            high: 1.0,
            low: 2.0
        }
    );
    assert_eq!(
        Quote::new("X", -1, [1.0; 4], 1).unwrap_err(),
        QuoteError::NegativeTimestamp { timestamp: -1 }
    );
    assert_eq!(
        amzn().with_previous_close(Some(f64::NAN)).unwrap_err(),
        QuoteError::NonFinite {
            field: "previousClose"
        }
    );
}

#[test]
fn invalid_json_quotes_get_typed_errors() {
    let with = |volume: &str, high: &str| {
        format!(
            r#"{{"symbol":"X","timestamp":1,"open":1,"high":{high},"low":1,"close":1,"volume":{volume}}}"#
        )
    };
    assert_eq!(
        Quote::from_json(&with("-5", "1")),
        Err(QuoteError::NegativeVolume { volume: -5.0 })
    );
    assert_eq!(
        Quote::from_json(&with("1.5", "1")),
        Err(QuoteError::FractionalVolume { volume: 1.5 })
    );
    assert_eq!(
        Quote::from_json(&with("1", "0.5")),
        Err(QuoteError::HighBelowLow {
            high: 0.5,
            low: 1.0
        })
    );
    assert_eq!(Quote::from_json(&with("1e3", "1")).unwrap().volume, 1000);
    assert!(matches!(
        Quote::from_json("{\"symbol\":\"X\"}"),
        Err(QuoteError::Malformed(_))
    ));
    assert!(matches!(
        Quote::from_json("not json"),
        Err(QuoteError::Malformed(_))
    ));
    // serde's own entry point runs the same validation.
    assert!(serde_json::from_str::<Quote>(&with("-5", "1")).is_err());
}

/// Bars of the reference sample's fallback data set, as its producer would send them.
fn reference_bars() -> Vec<Value> {
    let text = include_str!("fixtures/reference-fallback-bars.json");
    let file: Value = serde_json::from_str(text).unwrap();
    file["bars"].as_array().unwrap().clone()
}

/// The reference producer's Kafka value: the bar as pandas column names, as JSON text.
fn reference_payload(bar: &Value) -> String {
    let inner = serde_json::json!({
        "Open": bar["open"], "High": bar["high"], "Low": bar["low"],
        "Close": bar["close"], "Adj Close": bar["adj_close"], "Volume": bar["volume"],
    });
    serde_json::json!({"topic": "amazon", "value": inner.to_string()}).to_string()
}

#[test]
fn every_reference_fallback_bar_parses_into_a_valid_quote() {
    let bars = reference_bars();
    assert!(bars.len() > 10);
    for (i, bar) in bars.iter().enumerate() {
        let r = ReferenceQuote::from_json(&reference_payload(bar)).unwrap();
        assert_eq!(r.topic, "amazon");
        assert_eq!(r.close, bar["close"].as_f64().unwrap());
        assert_eq!(r.adj_close, bar["adj_close"].as_f64());
        let q = r.into_quote("AMZN", 1_000 + i as i64).unwrap();
        assert_eq!(q.symbol, "AMZN");
        assert_eq!(q.open, bar["open"].as_f64().unwrap());
        assert_eq!(q.volume, bar["volume"].as_u64().unwrap());
    }
}

#[test]
fn reference_payload_with_object_value_and_without_adj_close_is_read() {
    let text =
        r#"{"topic":"amazon","value":{"Open":1,"High":2,"Low":0.5,"Close":1.5,"Volume":10}}"#;
    let r = ReferenceQuote::from_json(text).unwrap();
    assert_eq!(r.adj_close, None);
    assert_eq!(r.high, 2.0);
}

#[test]
fn bad_reference_payloads_are_refused() {
    // Python's json.dumps writes NaN for missing pandas values.
    let nan = r#"{"topic":"amazon","value":"{\"Open\":NaN,\"High\":1,\"Low\":1,\"Close\":1,\"Volume\":1}"}"#;
    assert!(
        matches!(ReferenceQuote::from_json(nan), Err(QuoteError::Malformed(m)) if m.contains("reference `value`"))
    );
    let missing = r#"{"topic":"amazon","value":"{\"Open\":1}"}"#;
    assert!(matches!(
        ReferenceQuote::from_json(missing),
        Err(QuoteError::Malformed(_))
    ));
    // `value` neither JSON text nor an object, or an object short of a field.
    for value in ["42", "[1,2]", "null", r#"{"Open":1,"High":2}"#] {
        let text = format!(r#"{{"topic":"amazon","value":{value}}}"#);
        assert!(
            matches!(ReferenceQuote::from_json(&text), Err(QuoteError::Malformed(m)) if m.contains("reference `value`")),
            "{value}"
        );
    }
    let inverted = r#"{"topic":"amazon","value":"{\"Open\":1,\"High\":1,\"Low\":2,\"Close\":1,\"Volume\":1}"}"#;
    let r = ReferenceQuote::from_json(inverted).unwrap();
    assert!(matches!(
        r.into_quote("AMZN", 0),
        Err(QuoteError::HighBelowLow { .. })
    ));
}

#[test]
fn channel_payloads_are_read_in_both_formats() {
    let ours = parse_quote_payload(&amzn().to_json(), "IGNORED", 5).unwrap();
    assert_eq!(ours, amzn());
    let bar = &reference_bars()[0];
    let theirs = parse_quote_payload(&reference_payload(bar), "AMZN", 42).unwrap();
    assert_eq!(theirs.symbol, "AMZN");
    assert_eq!(theirs.timestamp, 42);
    assert_eq!(theirs.close, bar["close"].as_f64().unwrap());
    assert!(parse_quote_payload("[1,2]", "AMZN", 0).is_err());
    assert!(parse_quote_payload("", "AMZN", 0).is_err());
}

/// AppSync may write an `AWSJSON` field whose resolver returned a string as the JSON text of
/// that string: both formats are read through one such layer, and only one.
#[test]
fn double_encoded_payloads_are_read_once_through() {
    let text = amzn().to_json();
    let twice = serde_json::to_string(&text).unwrap();
    assert_eq!(parse_quote_payload(&twice, "IGNORED", 5).unwrap(), amzn());
    let bar = &reference_bars()[0];
    let reference = serde_json::to_string(&reference_payload(bar)).unwrap();
    assert_eq!(
        parse_quote_payload(&reference, "AMZN", 42)
            .unwrap()
            .timestamp,
        42
    );
    let thrice = serde_json::to_string(&twice).unwrap();
    assert!(parse_quote_payload(&thrice, "AMZN", 0).is_err());
    assert!(parse_quote_payload("\"not json\"", "AMZN", 0).is_err());
}

#[test]
fn channel_carries_quote_as_text_and_accepts_raw_objects() {
    let ch = Channel::for_quote(&amzn());
    assert_eq!(ch.name, "AMZN");
    let wire = serde_json::to_value(&ch).unwrap();
    assert!(wire["data"].is_string(), "AWSJSON is written as text");
    let raw: Channel = serde_json::from_str(r#"{"name":"AMZN","data":{"a":1}}"#).unwrap();
    assert_eq!(raw.data, r#"{"a":1}"#);
    let text: Channel = serde_json::from_str(r#"{"name":"AMZN","data":"{\"a\": 1}"}"#).unwrap();
    assert_eq!(text.data, r#"{"a": 1}"#);
}

#[test]
fn typed_symbols_are_trimmed_and_only_ascii_letters_upper_cased() {
    use quotecast_shared::quote::normalize_symbol;
    assert_eq!(normalize_symbol("  brk.b "), Ok("BRK.B".to_owned()));
    // `ı` upper-cases to ASCII `I` in Unicode: a typed `ıbm` is not IBM.
    assert_eq!(normalize_symbol("ıbm"), Ok("ıBM".to_owned()));
    assert_eq!(normalize_symbol("ñu"), Ok("ñU".to_owned()));
    assert!(normalize_symbol(" \t").is_err());
}
