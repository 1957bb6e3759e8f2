//! GraphQL error objects as AppSync sends them in `error`, `connection_error` and HTTP bodies,
//! and the client-side classification of which ones are worth retrying.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// One error of an `errors` list. Every field is optional because AppSync omits different
/// ones in different places (validation errors carry only `message`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorObject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    /// `path`, `locations`, `data`, `errorInfo` and whatever else a peer adds.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Error types and codes after which retrying with the same credentials cannot help
/// (Amplify's `NON_RETRYABLE_ERROR_TYPES` / `NON_RETRYABLE_CODES`), and `BadFilter`, the type
/// `subscribe.js` refuses a filter text with (the same text is refused again).
const NON_RETRYABLE_TYPES: [&str; 3] =
    ["BadRequestException", "UnauthorizedException", "BadFilter"];
const NON_RETRYABLE_CODES: [i64; 3] = [400, 401, 403];

impl ErrorObject {
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorObject {
            error_type: Some(error_type.into()),
            message: Some(message.into()),
            ..ErrorObject::default()
        }
    }

    /// An error with a message only, as AppSync reports GraphQL validation errors.
    pub fn message_only(message: impl Into<String>) -> Self {
        ErrorObject {
            message: Some(message.into()),
            ..ErrorObject::default()
        }
    }

    pub fn with_code(mut self, code: i64) -> Self {
        self.error_code = Some(code);
        self
    }

    /// Whether reconnecting or re-sending could succeed; `false` for auth and bad-request
    /// errors.
    pub fn is_retryable(&self) -> bool {
        let bad_type = self
            .error_type
            .as_deref()
            .is_some_and(|t| NON_RETRYABLE_TYPES.contains(&t));
        let bad_code = self
            .error_code
            .is_some_and(|c| NON_RETRYABLE_CODES.contains(&c));
        !(bad_type || bad_code)
    }

    /// Whether fresh credentials might help (Amplify's `AUTH_ERROR_TYPES`).
    pub fn is_auth_error(&self) -> bool {
        matches!(
            self.error_type.as_deref(),
            Some("UnauthorizedException" | "Unauthorized" | "NotAuthorizedException")
        ) || self
            .message
            .as_deref()
            .is_some_and(|m| m.contains("Token expired") || m.contains("Token has expired"))
    }

    /// A one-line description for logs and the dashboard.
    pub fn describe(&self) -> String {
        match (&self.error_type, &self.message) {
            (Some(t), Some(m)) => format!("{t}: {m}"),
            (Some(t), None) => t.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => "unspecified error".to_owned(),
        }
    }
}

/// By hand rather than `#[serde(flatten)]`: flatten (like `untagged`) buffers through serde's
/// `Content` machinery, about 12 KB of the dashboard's wasm for what one map does here.
impl<'de> Deserialize<'de> for ErrorObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut extra = Map::<String, Value>::deserialize(d)?;
        Ok(ErrorObject {
            error_type: take(&mut extra, "errorType")?,
            message: take(&mut extra, "message")?,
            error_code: take(&mut extra, "errorCode")?,
            extra,
        })
    }
}

/// Removes `key` from `map`: absent or `null` is `None`, a value of the wrong type an error.
fn take<T: DeserializeOwned, E: serde::de::Error>(
    map: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<T>, E> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|e| E::custom(format_args!("`{key}`: {e}"))),
    }
}

/// Reads an `errors` value that real AppSync sometimes sends as a single object instead of
/// an array (seen for `MaxSubscriptionsReachedError`).
pub fn errors_one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ErrorObject>, D::Error> {
    let errors = match Option::<Value>::deserialize(d)? {
        None => return Ok(Vec::new()),
        Some(many @ Value::Array(_)) => serde_json::from_value(many),
        Some(one) => serde_json::from_value(one).map(|e| vec![e]),
    };
    errors.map_err(D::Error::custom)
}
