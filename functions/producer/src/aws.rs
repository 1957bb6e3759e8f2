//! AWS look-ups made once per container with the AWS SDK: the SCRAM credentials from the MSK
//! Secrets Manager secret, and the SASL/SCRAM bootstrap brokers of a cluster ARN.

use aws_sdk_kafka::Client as KafkaClient;
use aws_sdk_secretsmanager::Client as SecretsClient;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("Secrets Manager GetSecretValue({secret_id}) failed: {reason}")]
    Secret { secret_id: String, reason: String },
    #[error("secret {0} is not JSON with `username` and `password` (MSK's SCRAM secret layout)")]
    SecretShape(String),
    #[error("MSK GetBootstrapBrokers({arn}) failed: {reason}")]
    Brokers { arn: String, reason: String },
    #[error(
        "cluster {0} has no SASL/SCRAM bootstrap brokers; enable SASL/SCRAM client authentication"
    )]
    NoScramBrokers(String),
}

#[derive(Deserialize)]
struct ScramSecret {
    username: String,
    password: String,
}

/// `(username, password)` from the secret's JSON.
pub async fn scram_credentials(
    client: &SecretsClient,
    secret_id: &str,
) -> Result<(String, String), AwsError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| AwsError::Secret {
            secret_id: secret_id.to_owned(),
            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        })?;
    let text = out
        .secret_string()
        .ok_or_else(|| AwsError::SecretShape(secret_id.to_owned()))?;
    parse_scram_secret(secret_id, text)
}

pub fn parse_scram_secret(secret_id: &str, text: &str) -> Result<(String, String), AwsError> {
    let s: ScramSecret =
        serde_json::from_str(text).map_err(|_| AwsError::SecretShape(secret_id.to_owned()))?;
    Ok((s.username, s.password))
}

/// The SASL/SCRAM bootstrap string of the cluster.
pub async fn scram_bootstrap(client: &KafkaClient, arn: &str) -> Result<String, AwsError> {
    let out = client
        .get_bootstrap_brokers()
        .cluster_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::Brokers {
            arn: arn.to_owned(),
            reason: aws_sdk_kafka::error::DisplayErrorContext(e).to_string(),
        })?;
    out.bootstrap_broker_string_sasl_scram()
        .map(str::to_owned)
        .ok_or_else(|| AwsError::NoScramBrokers(arn.to_owned()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_msk_secret_layout_is_read() {
        let (u, p) =
            super::parse_scram_secret("s", r#"{"username":"quotecast","password":"p@ss"}"#)
                .unwrap();
        assert_eq!((u.as_str(), p.as_str()), ("quotecast", "p@ss"));
        assert!(super::parse_scram_secret("s", r#"{"user":"x"}"#).is_err());
        assert!(super::parse_scram_secret("s", "plain").is_err());
    }
}
