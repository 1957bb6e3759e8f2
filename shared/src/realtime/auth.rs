//! The auth object of the real-time handshake and of each `start`, and its two transports.
//!
//! The auth object is a flat JSON object of header-like strings (`host`, `x-api-key`,
//! `Authorization`, `x-amz-date`, ...). It is kept as an ordered list of pairs, looked up
//! case-insensitively, because a SigV4 verifier needs every header the client signed,
//! whatever its spelling, and unknown keys must be ignored rather than refused. A name given
//! twice, in any case, is refused.
//!
//! Transports (§A.2): the `header-<base64url>` WebSocket subprotocol, and the query string
//! `header=<base64>&payload=<base64("{}")>`. Old Amplify versions put standard base64 into
//! the query unescaped, so decoding percent-decodes (never turning `+` into a space) and
//! accepts both base64 alphabets with or without padding.

use super::url::percent_encode;
use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Prefix of the subprotocol entry that carries the auth object.
pub const HEADER_SUBPROTOCOL_PREFIX: &str = "header-";

/// Why an auth object could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    #[error("auth header is not valid base64")]
    Base64,
    #[error("auth header is not a JSON object of strings: {0}")]
    Json(String),
    #[error("query string has no `header` parameter")]
    MissingHeaderParam,
    #[error("query string has no `payload` parameter")]
    MissingPayloadParam,
    #[error("query string has an invalid percent escape")]
    PercentEscape,
    #[error("no `header-` subprotocol was offered")]
    MissingSubprotocol,
}

/// The auth object: header names and values, in the order received.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthObject {
    headers: Vec<(String, String)>,
}

/// The credential an auth object carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode<'a> {
    ApiKey(&'a str),
    /// A SigV4 `Authorization: AWS4-HMAC-SHA256 ...` header; verify with all the headers.
    Iam(&'a str),
    /// A JWT or Lambda-authoriser token in `Authorization`.
    Token(&'a str),
    Missing,
}

impl AuthObject {
    pub fn new() -> Self {
        AuthObject::default()
    }

    /// The API-key auth object: `{"host": ..., "x-api-key": ...}`.
    pub fn api_key(host: &str, api_key: &str) -> Self {
        AuthObject::new()
            .with("host", host)
            .with("x-api-key", api_key)
    }

    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The value of header `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn host(&self) -> Option<&str> {
        self.get("host")
    }

    /// Which credential this object carries; an API key wins over an `Authorization` header.
    pub fn mode(&self) -> AuthMode<'_> {
        if let Some(key) = self.get("x-api-key") {
            return AuthMode::ApiKey(key);
        }
        match self.get("authorization") {
            Some(a) if a.starts_with("AWS4-HMAC-SHA256") => AuthMode::Iam(a),
            Some(a) => AuthMode::Token(a),
            None => AuthMode::Missing,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, AuthError> {
        serde_json::from_slice(bytes).map_err(|e| AuthError::Json(e.to_string()))
    }

    /// The `header-<base64url, no padding>` subprotocol entry.
    pub fn to_subprotocol(&self) -> String {
        format!(
            "{HEADER_SUBPROTOCOL_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.to_json())
        )
    }

    /// Reads the auth object from the offered subprotocols (the `Sec-WebSocket-Protocol`
    /// values, already split on commas).
    pub fn from_subprotocols<'a>(
        offered: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, AuthError> {
        let entry = offered
            .into_iter()
            .map(str::trim)
            .find_map(|p| p.strip_prefix(HEADER_SUBPROTOCOL_PREFIX))
            .ok_or(AuthError::MissingSubprotocol)?;
        AuthObject::from_json(&decode_base64_any(entry)?)
    }

    /// The query string of the original transport: `header=<base64>&payload=e30=`,
    /// percent-encoded.
    pub fn to_query(&self) -> String {
        format!(
            "header={}&payload={}",
            percent_encode(&STANDARD.encode(self.to_json())),
            percent_encode(&STANDARD.encode("{}"))
        )
    }

    /// Reads the auth object from a query string (without the leading `?`). Unknown
    /// parameters are ignored; `payload` must be present, as AppSync requires.
    pub fn from_query(query: &str) -> Result<Self, AuthError> {
        let mut header = None;
        let mut payload = false;
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "header" => header = Some(percent_decode(value)?),
                "payload" => payload = true,
                _ => {}
            }
        }
        let header = header.ok_or(AuthError::MissingHeaderParam)?;
        if !payload {
            return Err(AuthError::MissingPayloadParam);
        }
        AuthObject::from_json(&decode_base64_any(&header)?)
    }
}

/// Decodes base64 in either alphabet, padded or not. A space stands for a `+` that some
/// layer decoded as form encoding.
pub fn decode_base64_any(text: &str) -> Result<Vec<u8>, AuthError> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let normalised: String = text
        .trim()
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            ' ' => '+',
            c => c,
        })
        .collect();
    LENIENT.decode(normalised).map_err(|_| AuthError::Base64)
}

fn percent_decode(text: &str) -> Result<String, AuthError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(AuthError::PercentEscape)?;
            let hex = std::str::from_utf8(hex).map_err(|_| AuthError::PercentEscape)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| AuthError::PercentEscape)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| AuthError::PercentEscape)
}

impl Serialize for AuthObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.headers.len()))?;
        for (n, v) in &self.headers {
            map.serialize_entry(n, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for AuthObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AuthVisitor;
        impl<'de> Visitor<'de> for AuthVisitor {
            type Value = AuthObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of header names to string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AuthObject, A::Error> {
                let mut headers = Vec::new();
                let mut seen = std::collections::HashSet::new();
                while let Some((name, value)) = map.next_entry::<String, serde_json::Value>()? {
                    // A name given twice (in any case) is refused: the SigV4 verifier and a
                    // lookup by name could otherwise each take a different one of them.
                    if !seen.insert(name.to_ascii_lowercase()) {
                        return Err(de::Error::custom(format!(
                            "auth header `{name}` is given twice"
                        )));
                    }
                    match value {
                        serde_json::Value::String(v) => headers.push((name, v)),
                        // Numbers and booleans appear in hand-written clients; keep their text.
                        serde_json::Value::Number(n) => headers.push((name, n.to_string())),
                        serde_json::Value::Bool(b) => headers.push((name, b.to_string())),
                        serde_json::Value::Null => {}
                        _ => {
                            return Err(de::Error::custom(format!(
                                "auth header `{name}` is not a string"
                            )));
                        }
                    }
                }
                Ok(AuthObject { headers })
            }
        }
        d.deserialize_map(AuthVisitor)
    }
}
