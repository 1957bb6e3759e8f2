//! How a writer — `quotecast publish`, `quotecast loadtest` — finds its endpoint and signs.
//!
//! Publishing is IAM's job (the public API key only reads), so every writer needs
//! credentials. In order: credentials given outright; an API key given outright (for APIs
//! whose schema lets the key publish, like the reference sample's); the standard AWS chain
//! when asked for (`--aws`); the local stack's own key (`<data dir>/credentials.json`) when
//! no endpoint is named or the named one is the local stack's (`localhost`, `127.0.0.1` and
//! `[::1]` name the same machine); the AWS chain for an AWS endpoint (`*.amazonaws.com`);
//! else an error that says which credentials to give, rather than a guess.

use std::path::PathBuf;

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use quotecast_consumer::appsync::Auth;

use crate::credentials::{CredentialsError, LOCAL_REGION, LocalCredentials};

/// What the user said about where to write and how to sign.
#[derive(Debug, Clone, Default)]
pub struct WriterOptions {
    /// The GraphQL endpoint; `None` means the local stack's.
    pub url: Option<String>,
    /// The local stack's data directory (its `credentials.json`).
    pub data_dir: PathBuf,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Signing region; by default the endpoint's (`….appsync-api.<region>.amazonaws.com`).
    pub region: Option<String>,
    /// Use the standard AWS credential chain (environment, profile, instance role).
    pub aws_chain: bool,
    /// Send this API key instead of signing.
    pub api_key: Option<String>,
}

/// An endpoint and the way to authenticate to it.
#[derive(Debug, Clone)]
pub struct Writer {
    pub graphql_url: String,
    pub auth: Auth,
    /// Where the credentials came from, for the user ("local stack (…/credentials.json)").
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error(transparent)]
    Local(#[from] CredentialsError),
    #[error("--access-key-id and --secret-access-key go together")]
    HalfAKey,
    #[error(
        "no AWS credentials for {url}: {reason} (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or pass --access-key-id/--secret-access-key)"
    )]
    NoChainCredentials { url: String, reason: String },
    #[error("{0} is not an http(s) URL")]
    BadUrl(String),
    #[error(
        "no credentials for {url}: it is neither the local stack's endpoint (from {local}) nor an AWS one; pass --access-key-id/--secret-access-key, --aws, or --api-key"
    )]
    NoCredentials { url: String, local: String },
}

/// Whether two endpoint URLs name the same endpoint, counting every loopback name (and the
/// any-address a stack may listen on) as this machine.
pub fn same_endpoint(a: &str, b: &str) -> bool {
    fn normalised(url: &str) -> Option<(String, String, String)> {
        let (scheme, rest) = url.split_once("://")?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (h, p),
            _ => (authority, if scheme == "https" { "443" } else { "80" }),
        };
        let host = match host.to_ascii_lowercase().as_str() {
            "localhost" | "127.0.0.1" | "[::1]" | "0.0.0.0" | "[::]" => "loopback".to_owned(),
            other => other.to_owned(),
        };
        Some((
            scheme.to_ascii_lowercase(),
            format!("{host}:{port}"),
            path.trim_end_matches('/').to_owned(),
        ))
    }
    matches!((normalised(a), normalised(b)), (Some(x), Some(y)) if x == y)
}

/// Whether `url` is an AWS service endpoint (where the AWS credential chain is the answer).
fn is_aws_endpoint(url: &str) -> bool {
    let host = quotecast_shared::realtime::url::host_of(url);
    let host = host.split(':').next().unwrap_or(host);
    host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")
}

/// The region in an AppSync endpoint's host name, if it is one.
pub fn region_of(url: &str) -> Option<String> {
    let host = quotecast_shared::realtime::url::host_of(url);
    let mut labels = host.split('.');
    labels.find(|l| *l == "appsync-api")?;
    labels.next().map(str::to_owned)
}

impl WriterOptions {
    fn region_for(&self, url: &str) -> String {
        self.region
            .clone()
            .or_else(|| region_of(url))
            .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
            .unwrap_or_else(|| LOCAL_REGION.to_owned())
    }

    /// Decides endpoint and credentials, in the order the module documentation gives.
    pub async fn resolve(&self) -> Result<Writer, WriterError> {
        if let Some(url) = &self.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(WriterError::BadUrl(url.clone()));
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => {
                let url = self.url_or_local()?;
                return Ok(Writer {
                    auth: Auth::Iam {
                        credentials: Credentials::new(
                            id,
                            secret,
                            self.session_token.clone(),
                            None,
                            "command line",
                        ),
                        region: self.region_for(&url),
                    },
                    graphql_url: url,
                    source: format!("IAM key {id} (command line)"),
                });
            }
            (None, None) => {}
            _ => return Err(WriterError::HalfAKey),
        }
        if let Some(key) = &self.api_key {
            return Ok(Writer {
                graphql_url: self.url_or_local()?,
                auth: Auth::ApiKey(key.clone()),
                source: "API key (command line)".to_owned(),
            });
        }
        if !self.aws_chain {
            match (&self.url, LocalCredentials::read(&self.data_dir)) {
                (None, local) => return Ok(local_writer(local?, &self.data_dir)),
                (Some(url), Ok(local)) if same_endpoint(url, &local.graphql_url) => {
                    let mut writer = local_writer(local, &self.data_dir);
                    writer.graphql_url = url.clone();
                    return Ok(writer);
                }
                (Some(url), local) if !is_aws_endpoint(url) => {
                    return Err(WriterError::NoCredentials {
                        url: url.clone(),
                        local: match local {
                            Ok(l) => format!(
                                "{}: {}",
                                crate::credentials::CREDENTIALS_FILE,
                                l.graphql_url
                            ),
                            Err(e) => e.to_string(),
                        },
                    });
                }
                _ => {}
            }
        }
        let url = self.url_or_local()?;
        let region = self.region_for(&url);
        let credentials =
            chain_credentials(&region)
                .await
                .map_err(|reason| WriterError::NoChainCredentials {
                    url: url.clone(),
                    reason,
                })?;
        Ok(Writer {
            source: format!(
                "IAM key {} (AWS credential chain)",
                credentials.access_key_id()
            ),
            auth: Auth::Iam {
                credentials,
                region,
            },
            graphql_url: url,
        })
    }

    fn url_or_local(&self) -> Result<String, WriterError> {
        match &self.url {
            Some(url) => Ok(url.clone()),
            None => Ok(LocalCredentials::read(&self.data_dir)?.graphql_url),
        }
    }
}

fn local_writer(local: LocalCredentials, data_dir: &std::path::Path) -> Writer {
    Writer {
        graphql_url: local.graphql_url.clone(),
        source: format!(
            "IAM key {} (local stack, {})",
            local.access_key_id,
            data_dir
                .join(crate::credentials::CREDENTIALS_FILE)
                .display()
        ),
        auth: local.auth(),
    }
}

/// Credentials from the standard AWS chain (environment, shared config and credentials
/// files and their profiles, web identity, container and instance roles; not SSO, whose
/// clients are not built in).
async fn chain_credentials(region: &str) -> Result<Credentials, String> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .load()
        .await;
    let provider = config
        .credentials_provider()
        .ok_or_else(|| "no credential provider is configured".to_owned())?;
    provider
        .provide_credentials()
        .await
        .map_err(|e| format!("{e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("quotecast-writer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn loopback_names_are_one_machine_but_ports_and_paths_differ() {
        assert!(same_endpoint(
            "http://localhost:8080/graphql",
            "http://127.0.0.1:8080/graphql"
        ));
        assert!(same_endpoint(
            "http://[::1]:8080/graphql/",
            "http://0.0.0.0:8080/graphql"
        ));
        assert!(!same_endpoint(
            "http://127.0.0.1:8081/graphql",
            "http://127.0.0.1:8080/graphql"
        ));
        assert!(!same_endpoint(
            "http://127.0.0.1:8080/other",
            "http://127.0.0.1:8080/graphql"
        ));
        assert!(!same_endpoint(
            "https://127.0.0.1:8080/graphql",
            "http://127.0.0.1:8080/graphql"
        ));
        assert!(same_endpoint(
            "https://a.example/graphql",
            "https://a.example:443/graphql"
        ));
    }

    #[tokio::test]
    async fn an_unknown_endpoint_without_credentials_is_an_error_not_a_guess() {
        let dir = scratch("unknown");
        let options = WriterOptions {
            url: Some("http://10.1.2.3:8080/graphql".into()),
            data_dir: dir,
            ..WriterOptions::default()
        };
        let err = options.resolve().await.unwrap_err();
        assert!(matches!(err, WriterError::NoCredentials { .. }), "{err}");
        assert!(err.to_string().contains("--access-key-id"), "{err}");
    }

    #[test]
    fn the_region_comes_from_an_appsync_host() {
        assert_eq!(
            region_of("https://abc.appsync-api.eu-west-1.amazonaws.com/graphql").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of("http://127.0.0.1:8080/graphql"), None);
    }

    #[tokio::test]
    async fn without_an_endpoint_the_local_stack_is_used_and_must_exist() {
        let dir = scratch("local");
        let options = WriterOptions {
            data_dir: dir.clone(),
            ..WriterOptions::default()
        };
        let missing = options.resolve().await.unwrap_err();
        assert!(missing.to_string().contains("cargo xtask dev"), "{missing}");
        let local = LocalCredentials::generate("http://127.0.0.1:7/graphql").unwrap();
        local.write(&dir).unwrap();
        let writer = options.resolve().await.unwrap();
        assert_eq!(writer.graphql_url, "http://127.0.0.1:7/graphql");
        assert!(
            matches!(&writer.auth, Auth::Iam { credentials, .. } if credentials.access_key_id() == local.access_key_id)
        );
        // Named explicitly, the same endpoint still gets the local key.
        let named = WriterOptions {
            url: Some(local.graphql_url.clone()),
            ..options.clone()
        };
        assert!(
            named
                .resolve()
                .await
                .unwrap()
                .source
                .contains("local stack")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn explicit_credentials_win_and_must_come_in_pairs() {
        let options = WriterOptions {
            url: Some("https://x.appsync-api.ap-south-1.amazonaws.com/graphql".into()),
            access_key_id: Some("AKIDEXAMPLE".into()),
            data_dir: scratch("explicit"),
            ..WriterOptions::default()
        };
        assert!(matches!(
            options.resolve().await,
            Err(WriterError::HalfAKey)
        ));
        let options = WriterOptions {
            secret_access_key: Some("s".into()),
            ..options
        };
        let writer = options.resolve().await.unwrap();
        assert!(matches!(writer.auth, Auth::Iam { ref region, .. } if region == "ap-south-1"));
        let bad = WriterOptions {
            url: Some("ftp://h/graphql".into()),
            ..options
        };
        assert!(matches!(bad.resolve().await, Err(WriterError::BadUrl(_))));
    }
}
