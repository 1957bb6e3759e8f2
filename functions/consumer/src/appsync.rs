//! The AppSync HTTP client: batched `publish` mutations with an API key or SigV4.
//!
//! One client per container (connection pool and credentials reused across invocations).
//! Errors say whether a retry could help: network errors, 429 and 5xx could; auth failures,
//! bad requests and GraphQL validation errors could not. AppSync answers field errors with
//! HTTP 200 (§C.3), so the body is always read.

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

#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    #[error("network error: {0}")]
    Network(String),
    #[error("AppSync answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("AppSync refused the request: {0}")]
    Refused(String),
    #[error(transparent)]
    Signing(#[from] SigningError),
}

impl Retryable for PublishError {
    fn is_retryable(&self) -> bool {
        match self {
            PublishError::Network(_) => true,
            PublishError::Status { status, .. } => *status == 429 || *status >= 500,
            PublishError::Refused(_) | PublishError::Signing(_) => false,
        }
    }
}

/// A request AppSync executed; some fields may have failed on their own.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Published {
    /// (index in the batch, message) of each failed `publish`.
    pub field_errors: Vec<(usize, String)>,
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
        match &self.auth {
            Auth::ApiKey(key) => {
                builder = builder
                    .header("x-api-key", key)
                    .header("content-type", "application/json");
            }
            Auth::Iam {
                credentials,
                region,
            } => {
                let base = [
                    ("content-type", "application/json"),
                    ("host", host_of(&self.url)),
                ];
                for (k, v) in sign_post(
                    &self.url,
                    &base,
                    body.as_bytes(),
                    "appsync",
                    region,
                    credentials,
                )? {
                    if k != "host" {
                        builder = builder.header(k, v);
                    }
                }
            }
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
        match index {
            Some(i) => field_errors.push((i, message(e))),
            None => return Err(PublishError::Refused(message(e))),
        }
    }
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
            vec![(1, "too big".to_owned())]
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
    }
}
