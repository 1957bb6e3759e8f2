//! DynamoDB's JSON 1.0 wire format, as far as the endpoint needs it: error shapes, checked
//! attribute values, the table's key, item sizes, and the limits of the service.
//!
//! Attribute values stay `serde_json` values in DynamoDB JSON (`{"S":"AMZN"}`,
//! `{"M":{…}}`): the endpoint stores and returns them as the client sent them, after
//! checking them here (one type per value, valid numbers and base64, non-empty sets, at
//! most [`MAX_NESTING`] levels), so a stored item is always one DynamoDB would have taken.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::table::{Item, Key, PARTITION_KEY, SORT_KEY};

/// `X-Amz-Target` is this prefix and the operation name.
pub const TARGET_PREFIX: &str = "DynamoDB_20120810.";
/// The content type of requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// DynamoDB's largest request (`BatchWriteItem`'s 16 MB), checked as the body arrives.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// DynamoDB's largest item: 400 KB, counted as [`item_size`] does.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// Put and delete requests in one `BatchWriteItem`.
pub const MAX_BATCH_WRITES: usize = 25;
/// Levels of nested `M` and `L` values in an attribute value (DynamoDB: 32).
pub const MAX_NESTING: usize = 32;
/// Bytes of items one `Query` page reads at most (DynamoDB: 1 MB).
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;
/// The longest partition key value, in UTF-8 bytes.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
/// A number's largest magnitude, as a power of ten (9.99…E+125 is the largest DynamoDB takes).
const MAX_NUMBER_ORDER: i64 = 125;
/// A non-zero number's smallest magnitude, as a power of ten (1E-130).
const MIN_NUMBER_ORDER: i64 = -130;

/// The errors the endpoint answers with, as DynamoDB names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Validation,
    Serialization,
    UnknownOperation,
    ResourceNotFound,
    MissingAuthenticationToken,
    UnrecognizedClient,
    InvalidSignature,
    IncompleteSignature,
    RequestTooLarge,
    RequestTimeout,
    InternalServerError,
    Throttling,
}

impl ErrorKind {
    /// The `__type` of the error body.
    pub fn type_name(self) -> &'static str {
        match self {
            ErrorKind::Validation | ErrorKind::RequestTooLarge => {
                "com.amazon.coral.validate#ValidationException"
            }
            ErrorKind::Serialization => "com.amazon.coral.service#SerializationException",
            ErrorKind::UnknownOperation => "com.amazon.coral.service#UnknownOperationException",
            ErrorKind::ResourceNotFound => {
                "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
            }
            ErrorKind::MissingAuthenticationToken => {
                "com.amazon.coral.service#MissingAuthenticationTokenException"
            }
            ErrorKind::UnrecognizedClient => "com.amazon.coral.service#UnrecognizedClientException",
            ErrorKind::InvalidSignature => "com.amazon.coral.service#InvalidSignatureException",
            ErrorKind::IncompleteSignature => {
                "com.amazon.coral.service#IncompleteSignatureException"
            }
            ErrorKind::RequestTimeout => "com.amazon.coral.service#RequestTimeoutException",
            ErrorKind::InternalServerError => {
                "com.amazonaws.dynamodb.v20120810#InternalServerError"
            }
            ErrorKind::Throttling => "com.amazon.coral.availability#ThrottlingException",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A refused request: DynamoDB's error type and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.type_name())]
pub struct DynamoError {
    pub kind: ErrorKind,
    pub message: String,
}

impl DynamoError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> DynamoError {
        DynamoError {
            kind,
            message: message.into(),
        }
    }

    pub fn validation(message: impl Into<String>) -> DynamoError {
        DynamoError::new(ErrorKind::Validation, message)
    }

    pub fn serialization(message: impl Into<String>) -> DynamoError {
        DynamoError::new(ErrorKind::Serialization, message)
    }

    /// What DynamoDB says about a table (or index) that does not exist.
    pub fn not_found() -> DynamoError {
        DynamoError::new(ErrorKind::ResourceNotFound, "Requested resource not found")
    }
}

impl IntoResponse for DynamoError {
    /// `{"__type": …, "message": …}` with the kind's status, as DynamoDB answers.
    fn into_response(self) -> Response {
        let body = json!({"__type": self.kind.type_name(), "message": self.message});
        json_response(self.kind.status(), &body)
    }
}

/// A response body in the protocol's content type.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// The one type letter of an attribute value, and its content.
fn single_type(value: &Value) -> Result<(&str, &Value), DynamoError> {
    let Some(map) = value.as_object() else {
        return Err(DynamoError::serialization(
            "An attribute value must be a JSON object",
        ));
    };
    let mut entries = map.iter();
    match (entries.next(), entries.next()) {
        (Some((kind, content)), None) => Ok((kind.as_str(), content)),
        (None, _) => Err(DynamoError::validation(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        )),
        (Some(_), Some(_)) => Err(DynamoError::validation(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        )),
    }
}

/// Checks one attribute value whole: its type, its content, its nesting.
pub fn check_value(value: &Value, depth: usize) -> Result<(), DynamoError> {
    if depth > MAX_NESTING {
        return Err(DynamoError::validation(format!(
            "Nesting Levels have exceeded supported limits: attribute values may nest at most {MAX_NESTING} levels"
        )));
    }
    let (kind, content) = single_type(value)?;
    let wrong =
        || DynamoError::serialization(format!("Unexpected value for attribute type {kind}"));
    match kind {
        "S" => content.as_str().map(|_| ()).ok_or_else(wrong),
        "N" => check_number(content.as_str().ok_or_else(wrong)?),
        "B" => check_binary(content.as_str().ok_or_else(wrong)?),
        "BOOL" => content.as_bool().map(|_| ()).ok_or_else(wrong),
        "NULL" => match content.as_bool() {
            Some(true) => Ok(()),
            Some(false) => Err(DynamoError::validation(
                "One or more parameter values were invalid: Null attribute value types must have the value of true",
            )),
            None => Err(wrong()),
        },
        "L" => {
            for v in content.as_array().ok_or_else(wrong)? {
                check_value(v, depth + 1)?;
            }
            Ok(())
        }
        "M" => {
            for v in content.as_object().ok_or_else(wrong)?.values() {
                check_value(v, depth + 1)?;
            }
            Ok(())
        }
        "SS" | "NS" | "BS" => {
            let members = content.as_array().ok_or_else(wrong)?;
            if members.is_empty() {
                return Err(DynamoError::validation(
                    "One or more parameter values were invalid: An string set  may not be empty",
                ));
            }
            let mut seen = std::collections::HashSet::new();
            for m in members {
                let m = m.as_str().ok_or_else(wrong)?;
                match kind {
                    "NS" => check_number(m)?,
                    "BS" => check_binary(m)?,
                    _ => {}
                }
                if !seen.insert(m) {
                    return Err(DynamoError::validation(
                        "One or more parameter values were invalid: Input collection contains duplicates",
                    ));
                }
            }
            Ok(())
        }
        other => Err(DynamoError::serialization(format!(
            "Unknown attribute value type {other}"
        ))),
    }
}

/// A DynamoDB number: decimal, optional sign, fraction and exponent, at most 38
/// significant digits.
fn check_number(n: &str) -> Result<(), DynamoError> {
    let bad = || {
        DynamoError::validation(format!(
            "A value provided cannot be converted into a number: {n:?}"
        ))
    };
    let body = n.strip_prefix(['-', '+']).unwrap_or(n);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) {
        return Err(bad());
    }
    if let Some(e) = exponent {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        if e.is_empty() || !digits(e) || e.len() > 4 {
            return Err(bad());
        }
    }
    let digits = format!("{whole}{fraction}");
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    if significant.len() > 38 {
        return Err(DynamoError::validation(
            "Attempting to store more than 38 significant digits in a Number",
        ));
    }
    if significant.is_empty() {
        return Ok(());
    }
    // The power of ten of the first significant digit: its place in `whole`, moved by the
    // exponent (at most 4 digits, checked above).
    let leading_zeros = (digits.len() - digits.trim_start_matches('0').len()) as i64;
    let exponent: i64 = match exponent {
        Some(e) => e.parse().map_err(|_| bad())?,
        None => 0,
    };
    let order = whole.len() as i64 - 1 - leading_zeros + exponent;
    if order > MAX_NUMBER_ORDER {
        return Err(DynamoError::validation(
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ));
    }
    if order < MIN_NUMBER_ORDER {
        return Err(DynamoError::validation(
            "Number underflow. Attempting to store a number with magnitude smaller than supported range",
        ));
    }
    Ok(())
}

fn check_binary(b: &str) -> Result<(), DynamoError> {
    base64::engine::general_purpose::STANDARD
        .decode(b)
        .map(|_| ())
        .map_err(|_| {
            DynamoError::serialization("Base64 encoded value expected for attribute type B")
        })
}

/// An item's size as DynamoDB counts it toward the 400 KB limit: attribute names plus
/// values (strings and binaries by their bytes, numbers by their text, a close upper bound
/// of DynamoDB's count; 1 byte for `BOOL` and `NULL`; 3 bytes plus 1 per element for `L`
/// and `M`).
pub fn item_size(attributes: &Map<String, Value>) -> usize {
    attributes
        .iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &Value) -> usize {
    let Ok((kind, content)) = single_type(value) else {
        return 0;
    };
    match (kind, content) {
        ("S" | "N", Value::String(s)) => s.len(),
        ("B", Value::String(s)) => s.len() * 3 / 4,
        ("BOOL" | "NULL", _) => 1,
        ("L", Value::Array(values)) => 3 + values.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        ("M", Value::Object(map)) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        (_, Value::Array(members)) => members.iter().map(|m| m.as_str().map_or(0, str::len)).sum(),
        _ => 0,
    }
}

/// Checks a whole item (every value, the key attributes, the size) and makes it an [`Item`].
pub fn item(attributes: Map<String, Value>) -> Result<Item, DynamoError> {
    for value in attributes.values() {
        check_value(value, 1)?;
    }
    let missing = |name: &str| {
        DynamoError::validation(format!(
            "One or more parameter values were invalid: Missing the key {name} in the item"
        ))
    };
    let symbol = attributes
        .get(PARTITION_KEY)
        .ok_or_else(|| missing(PARTITION_KEY))?;
    let timestamp = attributes.get(SORT_KEY).ok_or_else(|| missing(SORT_KEY))?;
    let symbol = partition_key(symbol)?;
    let timestamp = sort_key(timestamp)?;
    if item_size(&attributes) > MAX_ITEM_BYTES {
        return Err(DynamoError::validation(
            "Item size has exceeded the maximum allowed size",
        ));
    }
    Ok(Item {
        symbol,
        timestamp,
        attributes,
    })
}

/// A `Key` map: exactly the table's two key attributes.
pub fn key(attributes: &Map<String, Value>) -> Result<Key, DynamoError> {
    let mismatch = || DynamoError::validation("The provided key element does not match the schema");
    if attributes.len() != 2 {
        return Err(mismatch());
    }
    let (Some(symbol), Some(timestamp)) = (attributes.get(PARTITION_KEY), attributes.get(SORT_KEY))
    else {
        return Err(mismatch());
    };
    check_value(symbol, 1)?;
    check_value(timestamp, 1)?;
    Ok(Key {
        symbol: partition_key(symbol)?,
        timestamp: sort_key(timestamp)?,
    })
}

fn type_mismatch(name: &str, expected: &str, actual: &str) -> DynamoError {
    DynamoError::validation(format!(
        "One or more parameter values were invalid: Type mismatch for key {name} expected: {expected} actual: {actual}"
    ))
}

/// The partition key's value: a non-empty string.
pub fn partition_key(value: &Value) -> Result<String, DynamoError> {
    match single_type(value)? {
        ("S", Value::String(s)) if s.is_empty() => Err(DynamoError::validation(format!(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: {PARTITION_KEY}"
        ))),
        ("S", Value::String(s)) if s.len() > MAX_PARTITION_KEY_BYTES => {
            Err(DynamoError::validation(format!(
                // DynamoDB's own text, without the space before the number (moto copies it).
                "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of{MAX_PARTITION_KEY_BYTES} bytes"
            )))
        }
        ("S", Value::String(s)) => Ok(s.clone()),
        (kind, _) => Err(type_mismatch(PARTITION_KEY, "S", kind)),
    }
}

/// The sort key's value: a number that is a whole `i64` (this endpoint's one refusal where
/// DynamoDB would accept: it stores timestamps as 64-bit integers).
pub fn sort_key(value: &Value) -> Result<i64, DynamoError> {
    match single_type(value)? {
        ("N", Value::String(n)) => whole_number(n),
        (kind, _) => Err(type_mismatch(SORT_KEY, "N", kind)),
    }
}

/// A number's text as an `i64`, or the endpoint's own ValidationException.
pub fn whole_number(n: &str) -> Result<i64, DynamoError> {
    n.parse::<i64>().map_err(|_| {
        DynamoError::validation(format!(
            "One or more parameter values were invalid: the sort key {SORT_KEY} must be a whole number of milliseconds from {} to {} (this local endpoint stores it as a 64-bit integer); got {n:?}",
            i64::MIN,
            i64::MAX
        ))
    })
}

/// The table's key of `item` in DynamoDB JSON (a `LastEvaluatedKey`).
pub fn key_json(symbol: &str, timestamp: i64) -> Value {
    json!({
        PARTITION_KEY: {"S": symbol},
        SORT_KEY: {"N": timestamp.to_string()},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_have_exactly_one_valid_type() {
        for ok in [
            json!({"S": ""}),
            json!({"N": "-1.5e10"}),
            json!({"N": "0.000"}),
            json!({"B": "AAE="}),
            json!({"BOOL": false}),
            json!({"NULL": true}),
            json!({"L": [{"S": "a"}, {"M": {"x": {"N": "1"}}}]}),
            json!({"SS": ["a", "b"]}),
            json!({"NS": ["1", "2"]}),
        ] {
            assert_eq!(check_value(&ok, 1), Ok(()), "{ok}");
        }
        for (bad, kind) in [
            (json!({}), ErrorKind::Validation),
            (json!({"S": "a", "N": "1"}), ErrorKind::Validation),
            (json!({"N": "1x"}), ErrorKind::Validation),
            (json!({"N": "."}), ErrorKind::Validation),
            (json!({"N": 1}), ErrorKind::Serialization),
            (json!({"B": "***"}), ErrorKind::Serialization),
            (json!({"NULL": false}), ErrorKind::Validation),
            (json!({"SS": []}), ErrorKind::Validation),
            (json!({"SS": ["a", "a"]}), ErrorKind::Validation),
            (json!({"X": "a"}), ErrorKind::Serialization),
            (json!("a"), ErrorKind::Serialization),
        ] {
            assert_eq!(check_value(&bad, 1).map_err(|e| e.kind), Err(kind), "{bad}");
        }
    }

    #[test]
    fn numbers_stay_within_dynamodbs_range() {
        for ok in [
            "9.9999999999999999999999999999999999999E+125",
            "-9.9999999999999999999999999999999999999E+125",
            "1E-130",
            "0.0001e-126",
            "1000e122",
            "0e9999",
            "0",
        ] {
            assert_eq!(check_value(&json!({"N": ok}), 1), Ok(()), "{ok}");
        }
        for (bad, what) in [
            ("1e9999", "overflow"),
            ("1E+126", "overflow"),
            ("10000e122", "overflow"),
            ("-1E+126", "overflow"),
            ("1E-131", "underflow"),
            ("0.1e-130", "underflow"),
        ] {
            let e = check_value(&json!({"N": bad}), 1).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Validation, "{bad}");
            assert!(e.message.contains(what), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn a_partition_key_may_hold_2048_bytes_and_no_more() {
        let key = |n: usize| partition_key(&json!({"S": "é".repeat(n / 2)}));
        assert_eq!(key(2048).map(|k| k.len()), Ok(2048));
        let e = key(2050).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Validation);
        assert!(e.message.contains("Size of hashkey"), "{}", e.message);
    }

    #[test]
    fn nesting_is_bounded_at_32_levels() {
        let nest =
            |levels: usize| (1..levels).fold(json!({"S": "x"}), |inner, _| json!({"L": [inner]}));
        assert_eq!(check_value(&nest(MAX_NESTING), 1), Ok(()));
        assert!(check_value(&nest(MAX_NESTING + 1), 1).is_err());
    }

    #[test]
    fn items_need_both_keys_of_the_right_types() {
        let item_of = |v: Value| item(v.as_object().cloned().unwrap_or_default());
        let ok = item_of(json!({"symbol": {"S": "AMZN"}, "timestamp": {"N": "17"}})).unwrap();
        assert_eq!((ok.symbol.as_str(), ok.timestamp), ("AMZN", 17));
        for bad in [
            json!({"symbol": {"S": "AMZN"}}),
            json!({"symbol": {"N": "1"}, "timestamp": {"N": "17"}}),
            json!({"symbol": {"S": ""}, "timestamp": {"N": "17"}}),
            json!({"symbol": {"S": "A"}, "timestamp": {"N": "1.5"}}),
            json!({"symbol": {"S": "A"}, "timestamp": {"N": "9223372036854775808"}}),
            json!({"symbol": {"S": "A"}, "timestamp": {"S": "17"}}),
        ] {
            let e = item_of(bad.clone()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Validation, "{bad}");
        }
        let big = "x".repeat(MAX_ITEM_BYTES);
        let e = item_of(json!({"symbol": {"S": "A"}, "timestamp": {"N": "1"}, "d": {"S": big}}));
        assert_eq!(
            e.unwrap_err().message,
            "Item size has exceeded the maximum allowed size"
        );
    }
}
