//! Configuration from environment variables, checked once at start-up with clear errors.

use std::time::Duration;

use crate::history::{self, HistoryTarget};
use crate::retry::RetryPolicy;

/// How the consumer authenticates to AppSync.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthConfig {
    /// `APPSYNC_API_KEY`.
    ApiKey(String),
    /// `APPSYNC_API_KEY_SECRET`: a Secrets Manager secret id whose JSON has `appSyncApiKey`
    /// (the reference sample's layout).
    ApiKeySecret(String),
    /// SigV4 with the function's own credentials (`AWS_ACCESS_KEY_ID` and friends).
    Iam,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `APPSYNC_URL`: the GraphQL endpoint, `https://<id>.appsync-api.<region>.amazonaws.com/graphql`.
    pub appsync_url: String,
    pub auth: AuthConfig,
    /// `AWS_REGION` (set by Lambda): for SigV4 and Secrets Manager.
    pub region: String,
    /// `PUBLISH_CHUNK_SIZE`: records per request (1–250, default 250): at most the API's
    /// `ResolverCountLimit` (`RESOLVER_COUNT_LIMIT`), since each record is one resolver run.
    pub chunk_size: usize,
    /// `PUBLISH_MAX_REQUEST_BYTES`: request body bound (default 512 KiB).
    pub max_request_bytes: usize,
    /// `PARTITION_CONCURRENCY`: partitions published at once (default 8).
    pub partition_concurrency: usize,
    /// `REQUEST_TIMEOUT_MS`: one HTTP request, from connecting to the last byte of the
    /// answer (default 10 s, 100 ms – 120 s).
    pub request_timeout: Duration,
    /// `RETRY_BASE_MS`, `RETRY_MAX_DELAY_MS` (backoff), and `RETRY_BUDGET_MS` (default 20 s,
    /// 100 ms – 900 s): one deadline per invocation, from its start; no request starts after
    /// it. An invocation therefore ends within `RETRY_BUDGET_MS + REQUEST_TIMEOUT_MS`, which
    /// must stay below the function's timeout.
    pub retry: RetryPolicy,
    /// `HISTORY_TABLE` (with `HISTORY_RETENTION_HOURS`, default 24, 1–8760, and the
    /// DynamoDB endpoint): where every bar is also stored, signed with the function's own
    /// credentials whatever `AUTH_MODE` is. Absent: no history is written.
    pub history: Option<HistoryTarget>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: &'static str,
    },
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from `(name, value)` pairs instead of the environment (the
    /// local stack, tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    /// Reads the configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let appsync_url = get("APPSYNC_URL").ok_or(ConfigError::Missing("APPSYNC_URL"))?;
        if !(appsync_url.starts_with("https://") || appsync_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                var: "APPSYNC_URL",
                value: appsync_url,
                reason: "must be an http(s) URL",
            });
        }
        let mode = get("AUTH_MODE").unwrap_or_else(|| {
            if get("APPSYNC_API_KEY").is_some() || get("APPSYNC_API_KEY_SECRET").is_some() {
                "API_KEY".to_owned()
            } else {
                "AWS_IAM".to_owned()
            }
        });
        let auth = match mode.as_str() {
            "API_KEY" => match (get("APPSYNC_API_KEY"), get("APPSYNC_API_KEY_SECRET")) {
                (Some(key), _) => AuthConfig::ApiKey(key),
                (None, Some(secret)) => AuthConfig::ApiKeySecret(secret),
                (None, None) => {
                    return Err(ConfigError::Missing(
                        "APPSYNC_API_KEY or APPSYNC_API_KEY_SECRET",
                    ));
                }
            },
            "AWS_IAM" => AuthConfig::Iam,
            _ => {
                return Err(ConfigError::Invalid {
                    var: "AUTH_MODE",
                    value: mode,
                    reason: "must be API_KEY or AWS_IAM",
                });
            }
        };
        let table = get("HISTORY_TABLE");
        let needs_region =
            matches!(auth, AuthConfig::Iam | AuthConfig::ApiKeySecret(_)) || table.is_some();
        let region = match get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")) {
            Some(r) => r,
            None if needs_region => return Err(ConfigError::Missing("AWS_REGION")),
            None => "us-east-1".to_owned(),
        };
        let number =
            |var: &'static str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
                match get(var) {
                    None => Ok(default),
                    Some(v) => match v.trim().parse::<u64>() {
                        Ok(n) if (min..=max).contains(&n) => Ok(n),
                        _ => Err(ConfigError::Invalid {
                            var,
                            value: v,
                            reason: "must be a whole number in the allowed range (see the README)",
                        }),
                    },
                }
            };
        let ms = |var, default, min, max| number(var, default, min, max).map(Duration::from_millis);
        let history = match table {
            None => None,
            Some(table) => Some(HistoryTarget {
                endpoint: history::endpoint(get, &region),
                table,
                retention: Duration::from_secs(
                    number("HISTORY_RETENTION_HOURS", 24, 1, 24 * 365)? * 3600,
                ),
            }),
        };
        Ok(Config {
            appsync_url,
            auth,
            region,
            chunk_size: number(
                "PUBLISH_CHUNK_SIZE",
                250,
                1,
                quotecast_shared::graphql::RESOLVER_COUNT_LIMIT as u64,
            )? as usize,
            max_request_bytes: number(
                "PUBLISH_MAX_REQUEST_BYTES",
                512 * 1024,
                4 * 1024,
                5 * 1024 * 1024,
            )? as usize,
            partition_concurrency: number("PARTITION_CONCURRENCY", 8, 1, 256)? as usize,
            request_timeout: ms("REQUEST_TIMEOUT_MS", 10_000, 100, 120_000)?,
            retry: RetryPolicy {
                base: ms("RETRY_BASE_MS", 100, 1, 60_000)?,
                max_delay: ms("RETRY_MAX_DELAY_MS", 5_000, 1, 300_000)?,
                // Not 0: a deadline at the start would send nothing, ever.
                budget: ms("RETRY_BUDGET_MS", 20_000, 100, 900_000)?,
            },
            history,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_auth_modes() {
        let c = from(&[
            ("APPSYNC_URL", "https://x/graphql"),
            ("APPSYNC_API_KEY", "da2-k"),
        ])
        .unwrap();
        assert_eq!(c.auth, AuthConfig::ApiKey("da2-k".into()));
        assert_eq!((c.chunk_size, c.partition_concurrency), (250, 8));
        assert_eq!(c.retry.budget, Duration::from_secs(20));
        let c = from(&[
            ("APPSYNC_URL", "https://x/graphql"),
            ("APPSYNC_API_KEY_SECRET", "arn:s"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .unwrap();
        assert_eq!(c.auth, AuthConfig::ApiKeySecret("arn:s".into()));
        let c = from(&[
            ("APPSYNC_URL", "https://x/graphql"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .unwrap();
        assert_eq!(c.auth, AuthConfig::Iam);
        let c = from(&[
            ("APPSYNC_URL", "https://x/graphql"),
            ("APPSYNC_API_KEY", "k"),
            ("PUBLISH_CHUNK_SIZE", "250"),
        ])
        .unwrap();
        assert_eq!(c.chunk_size, 250);
        assert_eq!(c.history, None);
    }

    #[test]
    fn history_needs_a_region_and_follows_the_sdk_endpoint_variables() {
        let base = [
            ("APPSYNC_URL", "https://x/graphql"),
            ("APPSYNC_API_KEY", "k"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            from(&[&base[..], extra, &[("HISTORY_TABLE", "quotes")]].concat())
        };
        assert_eq!(with(&[]), Err(ConfigError::Missing("AWS_REGION")));
        let h = with(&[("AWS_REGION", "eu-west-1")])
            .unwrap()
            .history
            .unwrap();
        assert_eq!(h.table, "quotes");
        assert_eq!(h.endpoint, "https://dynamodb.eu-west-1.amazonaws.com/");
        assert_eq!(h.retention, Duration::from_secs(24 * 3600));
        let h = with(&[
            ("AWS_REGION", "r"),
            ("AWS_ENDPOINT_URL", "http://all"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9/"),
            ("HISTORY_RETENTION_HOURS", "2"),
        ])
        .unwrap()
        .history
        .unwrap();
        assert_eq!(h.endpoint, "http://127.0.0.1:9/");
        assert_eq!(h.retention, Duration::from_secs(7200));
        assert!(matches!(
            with(&[("AWS_REGION", "r"), ("HISTORY_RETENTION_HOURS", "0")]),
            Err(ConfigError::Invalid {
                var: "HISTORY_RETENTION_HOURS",
                ..
            })
        ));
    }

    #[test]
    fn bad_configuration_is_named() {
        assert_eq!(from(&[]), Err(ConfigError::Missing("APPSYNC_URL")));
        assert!(matches!(
            from(&[("APPSYNC_URL", "ftp://x")]),
            Err(ConfigError::Invalid {
                var: "APPSYNC_URL",
                ..
            })
        ));
        assert_eq!(
            from(&[("APPSYNC_URL", "https://x/graphql")]),
            Err(ConfigError::Missing("AWS_REGION"))
        );
        assert!(matches!(
            from(&[("APPSYNC_URL", "https://x"), ("AUTH_MODE", "COGNITO")]),
            Err(ConfigError::Invalid {
                var: "AUTH_MODE",
                ..
            })
        ));
        assert_eq!(
            from(&[("APPSYNC_URL", "https://x"), ("AUTH_MODE", "API_KEY")]),
            Err(ConfigError::Missing(
                "APPSYNC_API_KEY or APPSYNC_API_KEY_SECRET"
            ))
        );
        assert!(matches!(
            from(&[
                ("APPSYNC_URL", "https://x"),
                ("APPSYNC_API_KEY", "k"),
                ("RETRY_BUDGET_MS", "0"),
            ]),
            Err(ConfigError::Invalid {
                var: "RETRY_BUDGET_MS",
                ..
            })
        ));
        for bad in ["0", "251", "1001", "ten", "-1"] {
            let err = from(&[
                ("APPSYNC_URL", "https://x"),
                ("APPSYNC_API_KEY", "k"),
                ("PUBLISH_CHUNK_SIZE", bad),
            ])
            .unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        var: "PUBLISH_CHUNK_SIZE",
                        ..
                    }
                ),
                "{bad}"
            );
            assert!(err.to_string().contains("PUBLISH_CHUNK_SIZE"));
        }
    }
}
