//! The AppSync HTTP client: batched `publish` mutations with an API key or SigV4.
//!
//! One client per container (connection pool and credentials reused across invocations).
//! Errors say whether a retry could help: network errors, 429 and 5xx could; auth failures,
//! bad requests and GraphQL validation errors could not. AppSync answers field errors with
//! HTTP 200 (§C.3), so the body is always read.
//!
//! A field error (one aliased `publish` refused, the others executed) is classified by its
//! `errorType` ([`classify`]). Only a refusal that names the record's own data is final for
//! that record and lets the consumer skip it; anything else — an IAM denial, throttling, an
//! internal error, a type this code does not know — says nothing about the record, so
//! skipping would lose every record of a misconfigured deployment silently. Those stop the
//! partition at that record instead, and Kafka delivers it again.

use std::time::Duration;

use aws_credential_types::Credentials;
use quotecast_shared::graphql::PublishBatch;
use serde_json::Value;

use crate::retry::Retryable;
use crate::signing::{SigningError, host_of, sign_post};

#[derive(Debug, Clone)]
pub enum Auth {
    ApiKey(String),
    Iam {
        credentials: Credentials,
        region: String,
    },
}

impl Auth {
    /// The headers that authenticate a JSON `POST url` carrying `body`: `x-api-key`, or
    /// SigV4's (`authorization`, `x-amz-date`, `x-amz-security-token` with temporary
    /// credentials) over `content-type` and `host`, which the HTTP client sets itself. Every
    /// writer — this Lambda, the local tools — authenticates through here.
    pub fn headers(&self, url: &str, body: &[u8]) -> Result<Vec<(String, String)>, SigningError> {
        const JSON: (&str, &str) = ("content-type", "application/json");
        match self {
            Auth::ApiKey(key) => Ok(vec![
                ("x-api-key".to_owned(), key.clone()),
                (JSON.0.to_owned(), JSON.1.to_owned()),
            ]),
            Auth::Iam {
                credentials,
                region,
            } => {
                let base = [JSON, ("host", host_of(url))];
                let signed = sign_post(url, &base, body, "appsync", region, credentials)?;
                Ok(signed
                    .into_iter()
                    .filter(|(name, _)| name != "host")
                    .collect())
            }
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    #[error("network error: {0}")]
    Network(String),
    #[error("AppSync answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("AppSync refused the request: {0}")]
    Refused(String),
    #[error("AppSync refused a publish ({}): {message}", error_type.as_deref().unwrap_or("no errorType"))]
    Field {
        error_type: Option<String>,
        message: String,
        kind: FieldErrorKind,
    },
    #[error("the invocation's retry budget was spent before this request could be sent")]
    OutOfTime,
    /// The bars could not be stored, so they were not published (a bar is done only when
    /// both succeeded).
    #[error("history not written, so not published: {0}")]
    History(#[from] crate::history::HistoryError),
    #[error(transparent)]
    Signing(#[from] SigningError),
}

impl Retryable for PublishError {
    fn is_retryable(&self) -> bool {
        match self {
            PublishError::Network(_) => true,
            PublishError::Status { status, .. } => *status == 429 || *status >= 500,
            PublishError::Field { kind, .. } => *kind == FieldErrorKind::Transient,
            PublishError::History(e) => e.is_retryable(),
            PublishError::Refused(_) | PublishError::Signing(_) | PublishError::OutOfTime => false,
        }
    }
}

/// What a field error's `errorType` says about the record it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// Refused for the record's own data: every later attempt would be refused the same way.
    /// The record is skipped (logged with partition and offset, counted).
    RecordRefused,
    /// Throttling or a transient server failure: sent again from this record while the
    /// invocation's budget lasts, then the partition stops here.
    Transient,
    /// Not about the record (an auth denial, a resolver or internal error) or not known: the
    /// partition stops at this record and is delivered again.
    Fatal,
}

/// `errorType`s that refuse one record for its own content. AppSync itself sends none of
/// these for a `publish` on a NONE data source (it drops an oversize subscription payload
/// silently); the local server refuses a payload above the 240 KB subscription limit with
/// `PayloadTooLargeError`. Kept short on purpose: a type added here loses records when it
/// turns out to be about something else.
pub const RECORD_REFUSALS: &[&str] = &["PayloadTooLargeError"];

/// `errorType`s of throttling and transient server failures (AppSync's service exceptions
/// and the local server's rate limit), and data-source throttles such as
/// `Lambda:TooManyRequestsException` by their suffix.
pub const TRANSIENT: &[&str] = &[
    "LimitExceededError",
    "ThrottlingException",
    "TooManyRequestsException",
    "InternalFailure",
    "InternalFailureException",
    "InternalServerError",
    "ServiceUnavailableException",
];

/// Classifies a field error by its `errorType` (absent: unknown, so [`FieldErrorKind::Fatal`]).
pub fn classify(error_type: Option<&str>) -> FieldErrorKind {
    match error_type {
        Some(t) if RECORD_REFUSALS.contains(&t) => FieldErrorKind::RecordRefused,
        Some(t)
            if TRANSIENT.contains(&t)
                || t.ends_with(":TooManyRequestsException")
                || t.ends_with(":ThrottlingException") =>
        {
            FieldErrorKind::Transient
        }
        _ => FieldErrorKind::Fatal,
    }
}

/// One `publish` of a request that AppSync refused on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Index of the record in the request (its alias is `m{index}`).
    pub index: usize,
    pub error_type: Option<String>,
    pub message: String,
    pub kind: FieldErrorKind,
}

impl FieldError {
    pub fn into_error(self) -> PublishError {
        PublishError::Field {
            error_type: self.error_type,
            message: self.message,
            kind: self.kind,
        }
    }
}

/// A request AppSync executed; some fields may have failed on their own.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Published {
    /// Each failed `publish`, by index.
    pub field_errors: Vec<FieldError>,
}

pub struct AppSyncClient {
    http: reqwest::Client,
    url: String,
    auth: Auth,
}

impl AppSyncClient {
    pub fn new(url: &str, auth: Auth, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(AppSyncClient {
            http,
            url: url.to_owned(),
            auth,
        })
    }

    /// Sends `batch` as one request.
    pub async fn publish(&self, batch: &PublishBatch) -> Result<Published, PublishError> {
        let Some(request) = batch.to_request() else {
            return Ok(Published::default());
        };
        let body = request.to_json();
        let mut builder = self.http.post(&self.url);
        for (name, value) in self.auth.headers(&self.url, body.as_bytes())? {
            builder = builder.header(name, value);
        }
        let response = builder
            .body(body)
            .send()
            .await
            .map_err(|e| PublishError::Network(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| PublishError::Network(e.to_string()))?;
        if status != 200 {
            return Err(PublishError::Status {
                status,
                body: text.chars().take(500).collect(),
            });
        }
        let body: Value = serde_json::from_str(&text).map_err(|_| PublishError::Status {
            status,
            body: format!("not JSON: {}", text.chars().take(200).collect::<String>()),
        })?;
        interpret(&body)
    }
}

/// Reads a 200 response: a request-level failure (no `data`) or per-field errors.
fn interpret(body: &Value) -> Result<Published, PublishError> {
    let errors = body
        .get("errors")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let message = |e: &Value| {
        e.get("message")
            .and_then(Value::as_str)
            .unwrap_or("unspecified error")
            .to_owned()
    };
    if body.get("data").is_none_or(Value::is_null) {
        let first = errors
            .first()
            .map(message)
            .unwrap_or_else(|| "no data in the response".to_owned());
        return Err(PublishError::Refused(first));
    }
    let mut field_errors = Vec::new();
    for e in errors {
        let index = e
            .get("path")
            .and_then(|p| p.get(0))
            .and_then(Value::as_str)
            .and_then(|alias| alias.strip_prefix('m'))
            .and_then(|i| i.parse::<usize>().ok());
        let error_type = e.get("errorType").and_then(Value::as_str);
        match index {
            Some(index) => field_errors.push(FieldError {
                index,
                error_type: error_type.map(str::to_owned),
                message: message(e),
                kind: classify(error_type),
            }),
            None => return Err(PublishError::Refused(message(e))),
        }
    }
    // One error per record, the gravest if AppSync sent several for it.
    let severity = |k: FieldErrorKind| match k {
        FieldErrorKind::Fatal => 0,
        FieldErrorKind::Transient => 1,
        FieldErrorKind::RecordRefused => 2,
    };
    field_errors.sort_by_key(|f| (f.index, severity(f.kind)));
    field_errors.dedup_by_key(|f| f.index);
    Ok(Published { field_errors })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn responses_are_read_like_appsync_writes_them() {
        assert_eq!(
            interpret(&json!({"data": {"m0": {"name": "A"}}})).unwrap(),
            Published::default()
        );
        let partial = json!({"data": {"m0": {}, "m1": null}, "errors": [{"path": ["m1"], "errorType": "PayloadTooLargeError", "message": "too big"}]});
        assert_eq!(
            interpret(&partial).unwrap().field_errors,
            vec![FieldError {
                index: 1,
                error_type: Some("PayloadTooLargeError".to_owned()),
                message: "too big".to_owned(),
                kind: FieldErrorKind::RecordRefused,
            }]
        );
        // An IAM denial as AppSync writes it (§C.3): HTTP 200, the field null.
        let denied = json!({"data": {"m0": null, "m1": null}, "errors": [
            {"path": ["m1"], "data": null, "errorType": "Unauthorized", "errorInfo": null, "message": "Not Authorized to access publish on type Mutation"},
            {"path": ["m0"], "data": null, "errorType": "Unauthorized", "errorInfo": null, "message": "Not Authorized to access publish on type Mutation"}
        ]});
        let errors = interpret(&denied).unwrap().field_errors;
        assert_eq!(
            errors.iter().map(|f| (f.index, f.kind)).collect::<Vec<_>>(),
            [(0, FieldErrorKind::Fatal), (1, FieldErrorKind::Fatal)],
            "in index order, and never a skip"
        );
        let twice = json!({"data": {"m0": null}, "errors": [
            {"path": ["m0"], "errorType": "PayloadTooLargeError", "message": "big"},
            {"path": ["m0"], "errorType": "Unauthorized", "message": "denied"}
        ]});
        let errors = interpret(&twice).unwrap().field_errors;
        assert_eq!(
            errors.iter().map(|f| (f.index, f.kind)).collect::<Vec<_>>(),
            [(0, FieldErrorKind::Fatal)],
            "one error per record, the gravest"
        );
        let invalid = json!({"data": null, "errors": [{"message": "Validation error of type FieldUndefined"}]});
        assert!(
            matches!(interpret(&invalid), Err(PublishError::Refused(m)) if m.contains("FieldUndefined"))
        );
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        assert!(PublishError::Network("reset".into()).is_retryable());
        for status in [429, 500, 502, 503] {
            assert!(
                PublishError::Status {
                    status,
                    body: String::new()
                }
                .is_retryable()
            );
        }
        for status in [400, 401, 403, 404] {
            assert!(
                !PublishError::Status {
                    status,
                    body: String::new()
                }
                .is_retryable()
            );
        }
        assert!(!PublishError::Refused("x".into()).is_retryable());
        assert!(!PublishError::OutOfTime.is_retryable());
    }

    #[test]
    fn only_refusals_of_the_record_itself_are_skips() {
        use FieldErrorKind::*;
        let table = [
            (Some("PayloadTooLargeError"), RecordRefused),
            (Some("Unauthorized"), Fatal),
            (Some("UnauthorizedException"), Fatal),
            (Some("MappingTemplate"), Fatal),
            (Some("Code"), Fatal),
            (Some("Lambda:Unhandled"), Fatal),
            (Some("SomethingNew"), Fatal),
            (None, Fatal),
            (Some("LimitExceededError"), Transient),
            (Some("ThrottlingException"), Transient),
            (Some("Lambda:TooManyRequestsException"), Transient),
            (Some("InternalFailure"), Transient),
            (Some("ServiceUnavailableException"), Transient),
        ];
        for (error_type, kind) in table {
            assert_eq!(classify(error_type), kind, "{error_type:?}");
        }
        let field = |kind| PublishError::Field {
            error_type: None,
            message: String::new(),
            kind,
        };
        assert!(field(Transient).is_retryable());
        assert!(!field(Fatal).is_retryable());
        assert!(!field(RecordRefused).is_retryable());
    }
}
