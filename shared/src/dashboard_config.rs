//! `/config.json`: where the API lives and which tickers to offer, read at start-up so that
//! one build of the dashboard serves the local stack and an S3 bucket alike. The same file
//! tells `quotecast smoke` which deployment to check, and `cargo xtask publish-dashboard`
//! writes it: one reading of it, here.
//!
//! Besides our own keys, the names of Amplify's `aws-exports` (`aws_appsync_graphqlEndpoint`,
//! `aws_appsync_apiKey`) are accepted, so a config written for the reference sample's React
//! app works unchanged.

use serde::Deserialize;

use crate::quote::normalize_symbol;
use crate::realtime::AuthObject;
use crate::realtime::url::{host_of, realtime_url};

/// AppSync's observed default limit of subscriptions on one connection (`APPSYNC_SPEC.md`
/// §A.7); more tickers than this are spread over more connections.
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 100;

/// The dashboard's run-time configuration, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardConfig {
    pub graphql_url: String,
    pub realtime_url: String,
    pub api_key: String,
    /// Tickers shown to a first-time visitor.
    pub default_symbols: Vec<String>,
    /// Tickers suggested while typing.
    pub suggestions: Vec<String>,
    pub max_subscriptions_per_connection: usize,
}

/// Why `/config.json` cannot be used; each names the key to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("config.json is not a JSON object of the expected shape: {0}")]
    Malformed(String),
    #[error("config.json has no `{0}`")]
    Missing(&'static str),
    #[error("config.json `{field}` must be an {expected} URL, not {value:?}")]
    BadUrl {
        field: &'static str,
        expected: &'static str,
        value: String,
    },
    #[error("config.json `{field}` lists {symbol:?}, which is not a ticker symbol: {reason}")]
    BadSymbol {
        field: &'static str,
        symbol: String,
        reason: String,
    },
    #[error("config.json `maxSubscriptionsPerConnection` must be at least 1")]
    ZeroSubscriptions,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(alias = "aws_appsync_graphqlEndpoint")]
    graphql_url: Option<String>,
    realtime_url: Option<String>,
    #[serde(alias = "aws_appsync_apiKey")]
    api_key: Option<String>,
    #[serde(default)]
    default_symbols: Vec<String>,
    #[serde(default)]
    symbols: Vec<String>,
    max_subscriptions_per_connection: Option<usize>,
}

impl DashboardConfig {
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let wire: Wire =
            serde_json::from_str(text).map_err(|e| ConfigError::Malformed(e.to_string()))?;
        let graphql_url = wire
            .graphql_url
            .filter(|u| !u.trim().is_empty())
            .ok_or(ConfigError::Missing("graphqlUrl"))?;
        check_scheme("graphqlUrl", &graphql_url, &["http", "https"], "http(s)")?;
        let api_key = wire
            .api_key
            .filter(|k| !k.trim().is_empty())
            .ok_or(ConfigError::Missing("apiKey"))?;
        let realtime_url = match wire.realtime_url.filter(|u| !u.trim().is_empty()) {
            Some(url) => {
                check_scheme("realtimeUrl", &url, &["ws", "wss"], "ws(s)")?;
                url
            }
            None => realtime_url(&graphql_url),
        };
        let max = wire
            .max_subscriptions_per_connection
            .unwrap_or(DEFAULT_MAX_SUBSCRIPTIONS);
        if max == 0 {
            return Err(ConfigError::ZeroSubscriptions);
        }
        let default_symbols = symbols("defaultSymbols", &wire.default_symbols)?;
        let mut suggestions = symbols("symbols", &wire.symbols)?;
        for s in &default_symbols {
            if !suggestions.contains(s) {
                suggestions.push(s.clone());
            }
        }
        Ok(DashboardConfig {
            graphql_url,
            realtime_url,
            api_key,
            default_symbols,
            suggestions,
            max_subscriptions_per_connection: max,
        })
    }

    /// The API-key auth object; its `host` is the GraphQL endpoint's, as AppSync requires
    /// even when the real-time endpoint is on another host.
    pub fn auth(&self) -> AuthObject {
        AuthObject::api_key(host_of(&self.graphql_url), &self.api_key)
    }
}

fn check_scheme(
    field: &'static str,
    url: &str,
    schemes: &[&str],
    expected: &'static str,
) -> Result<(), ConfigError> {
    let ok = url
        .split_once("://")
        .is_some_and(|(scheme, rest)| schemes.contains(&scheme) && !host_of(rest).is_empty());
    if ok {
        Ok(())
    } else {
        Err(ConfigError::BadUrl {
            field,
            expected,
            value: url.to_owned(),
        })
    }
}

fn symbols(field: &'static str, raw: &[String]) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for symbol in raw {
        let s = normalize_symbol(symbol).map_err(|reason| ConfigError::BadSymbol {
            field,
            symbol: symbol.clone(),
            reason,
        })?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_the_local_stack_config() {
        let c = DashboardConfig::from_json(
            r#"{"graphqlUrl":"http://127.0.0.1:8080/graphql",
                "realtimeUrl":"ws://127.0.0.1:8080/graphql/realtime",
                "apiKey":"da2-quotecastlocal","defaultSymbols":["amzn","TSLA","AMZN"],
                "symbols":["MSFT"]}"#,
        )
        .unwrap();
        assert_eq!(c.realtime_url, "ws://127.0.0.1:8080/graphql/realtime");
        assert_eq!(c.default_symbols, ["AMZN", "TSLA"]);
        assert_eq!(c.suggestions, ["MSFT", "AMZN", "TSLA"]);
        assert_eq!(c.max_subscriptions_per_connection, 100);
        assert_eq!(c.auth().host(), Some("127.0.0.1:8080"));
    }

    #[test]
    fn derives_the_realtime_url_like_aws() {
        let c = DashboardConfig::from_json(
            r#"{"aws_appsync_graphqlEndpoint":
                  "https://abcdefghijklmnopqrstuvwxyz.appsync-api.eu-west-1.amazonaws.com/graphql",
                "aws_appsync_apiKey":"da2-x"}"#,
        )
        .unwrap();
        assert_eq!(
            c.realtime_url,
            "wss://abcdefghijklmnopqrstuvwxyz.appsync-realtime-api.eu-west-1.amazonaws.com/graphql"
        );
        assert_eq!(
            c.auth().host(),
            Some("abcdefghijklmnopqrstuvwxyz.appsync-api.eu-west-1.amazonaws.com")
        );
    }

    #[test]
    fn names_what_is_wrong() {
        let err = |text: &str| DashboardConfig::from_json(text).unwrap_err();
        assert!(matches!(err("[1]"), ConfigError::Malformed(_)));
        assert_eq!(err(r#"{"apiKey":"k"}"#), ConfigError::Missing("graphqlUrl"));
        assert_eq!(
            err(r#"{"graphqlUrl":"http://h/graphql","apiKey":"  "}"#),
            ConfigError::Missing("apiKey")
        );
        assert!(matches!(
            err(r#"{"graphqlUrl":"ftp://h/graphql","apiKey":"k"}"#),
            ConfigError::BadUrl {
                field: "graphqlUrl",
                ..
            }
        ));
        assert!(matches!(
            err(r#"{"graphqlUrl":"http://h/graphql","apiKey":"k","realtimeUrl":"http://h"}"#),
            ConfigError::BadUrl {
                field: "realtimeUrl",
                ..
            }
        ));
        assert!(matches!(
            err(r#"{"graphqlUrl":"http://h/graphql","apiKey":"k","symbols":["A B"]}"#),
            ConfigError::BadSymbol {
                field: "symbols",
                ..
            }
        ));
        assert_eq!(
            err(r#"{"graphqlUrl":"http://h/g","apiKey":"k","maxSubscriptionsPerConnection":0}"#),
            ConfigError::ZeroSubscriptions
        );
    }
}
