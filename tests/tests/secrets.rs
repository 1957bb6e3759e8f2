//! The API key from Secrets Manager, against a stand-in for AWS that speaks
//! `GetSecretValue`'s real wire format (AWS itself cannot be reached from here).
#![allow(clippy::unwrap_used)]

use aws_credential_types::Credentials;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use quotecast_consumer::secrets::{SecretError, api_key_from_secret};
use serde_json::{Value, json};

/// Answers like Secrets Manager: JSON-RPC on `/`, selected by `X-Amz-Target`, SigV4 required.
async fn secrets_manager(headers: HeaderMap, body: String) -> impl IntoResponse {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let signed = header("authorization").starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
        && header("authorization").contains("/eu-west-1/secretsmanager/aws4_request")
        && !header("x-amz-date").is_empty()
        && header("x-amz-security-token") == "session";
    if header("x-amz-target") != "secretsmanager.GetSecretValue"
        || header("content-type") != "application/x-amz-json-1.1"
        || !signed
    {
        return (
            StatusCode::BAD_REQUEST,
            json!({"__type": "InvalidRequestException", "Message": "bad request"}).to_string(),
        );
    }
    let id = serde_json::from_str::<Value>(&body).unwrap()["SecretId"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = match id.as_str() {
        "quotecast/appsync" => json!({"appSyncApiKey": "da2-from-secrets"}).to_string(),
        "quotecast/other" => json!({"somethingElse": 1}).to_string(),
        _ => {
            let body = json!({"__type": "ResourceNotFoundException", "Message": "Secrets Manager can't find the specified secret."});
            return (StatusCode::BAD_REQUEST, body.to_string());
        }
    };
    let reply = json!({"ARN": format!("arn:aws:secretsmanager:eu-west-1:123456789012:secret:{id}"), "Name": id, "SecretString": secret, "VersionId": "v1", "VersionStages": ["AWSCURRENT"], "CreatedDate": 1.7e9});
    (StatusCode::OK, reply.to_string())
}

#[tokio::test]
async fn the_api_key_is_read_from_the_secret_json() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, Router::new().route("/", post(secrets_manager))).await
    });
    let http = reqwest::Client::new();
    let creds = Credentials::new("AKIDTEST", "secret", Some("session".into()), None, "test");
    let key = api_key_from_secret(&http, &endpoint, "eu-west-1", "quotecast/appsync", &creds)
        .await
        .unwrap();
    assert_eq!(key, "da2-from-secrets");
    match api_key_from_secret(&http, &endpoint, "eu-west-1", "quotecast/missing", &creds).await {
        Err(SecretError::Aws { kind, message, .. }) => {
            assert_eq!(kind, "ResourceNotFoundException");
            assert!(message.contains("can't find"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        api_key_from_secret(&http, &endpoint, "eu-west-1", "quotecast/other", &creds).await,
        Err(SecretError::NoApiKey(_))
    ));
    let unsigned_region =
        api_key_from_secret(&http, &endpoint, "us-east-1", "quotecast/appsync", &creds).await;
    assert!(
        matches!(unsigned_region, Err(SecretError::Aws { .. })),
        "the stand-in checks the signing scope"
    );
    assert!(matches!(
        api_key_from_secret(&http, "http://127.0.0.1:1/", "eu-west-1", "x", &creds).await,
        Err(SecretError::Network(_))
    ));
}
