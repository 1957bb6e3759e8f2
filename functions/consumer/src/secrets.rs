//! The API key from Secrets Manager (`GetSecretValue`), as the reference sample stores it:
//! a secret whose JSON holds `appSyncApiKey`.
//!
//! One signed JSON-RPC call, made once per container, without the whole AWS SDK. The
//! endpoint follows the SDKs' `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL`.

use aws_credential_types::Credentials;
use serde_json::{Value, json};

use crate::signing::{SigningError, host_of, sign_post};

/// The field of the secret's JSON holding the key.
pub const API_KEY_FIELD: &str = "appSyncApiKey";

#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretError {
    #[error("Secrets Manager could not be reached: {0}")]
    Network(String),
    #[error("Secrets Manager refused GetSecretValue for {secret_id}: {kind}: {message}")]
    Aws {
        secret_id: String,
        kind: String,
        message: String,
    },
    #[error("secret {0} has no SecretString holding JSON with `{API_KEY_FIELD}`")]
    NoApiKey(String),
    #[error(transparent)]
    Signing(#[from] SigningError),
}

/// The Secrets Manager endpoint for `region`, unless the environment overrides it.
pub fn endpoint(region: &str) -> String {
    std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|_| format!("https://secretsmanager.{region}.amazonaws.com/"))
}

pub async fn api_key_from_secret(
    http: &reqwest::Client,
    endpoint: &str,
    region: &str,
    secret_id: &str,
    credentials: &Credentials,
) -> Result<String, SecretError> {
    let body = json!({ "SecretId": secret_id }).to_string();
    let base = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "secretsmanager.GetSecretValue"),
        ("host", host_of(endpoint)),
    ];
    let mut request = http.post(endpoint).body(body.clone());
    for (k, v) in sign_post(
        endpoint,
        &base,
        body.as_bytes(),
        "secretsmanager",
        region,
        credentials,
    )? {
        if k != "host" {
            request = request.header(k, v);
        }
    }
    let response = request
        .send()
        .await
        .map_err(|e| SecretError::Network(e.to_string()))?;
    let status = response.status();
    let reply: Value = response
        .json()
        .await
        .map_err(|e| SecretError::Network(e.to_string()))?;
    if !status.is_success() {
        let field = |name: &str| {
            reply
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        return Err(SecretError::Aws {
            secret_id: secret_id.to_owned(),
            kind: field("__type"),
            message: field("message").to_owned() + &field("Message"),
        });
    }
    reply
        .get("SecretString")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|secret| secret.get(API_KEY_FIELD)?.as_str().map(str::to_owned))
        .ok_or_else(|| SecretError::NoApiKey(secret_id.to_owned()))
}
