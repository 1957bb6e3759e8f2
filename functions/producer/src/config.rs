//! Configuration from environment variables, checked once at start-up with clear errors.

use std::time::Duration;

/// The symbols the simulator (and a default Yahoo run) publish.
pub const DEFAULT_SYMBOLS: [&str; 20] = [
    "AMZN", "AAPL", "MSFT", "GOOG", "META", "TSLA", "NVDA", "NFLX", "AMD", "INTC", "ORCL", "CRM",
    "ADBE", "IBM", "CSCO", "QCOM", "PYPL", "UBER", "SHOP", "SNOW",
];

#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    /// `SOURCE=sim`: `SIM_SEED`, `SIM_INTERVAL_MS`.
    Sim { seed: u64, interval_ms: i64 },
    /// `SOURCE=yahoo`: `YAHOO_BASE_URL`.
    Yahoo { base_url: String },
    /// `SOURCE=replay`: `REPLAY_FILE`, `REPLAY_LOOP`.
    Replay { path: String, looping: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Brokers {
    /// `BOOTSTRAP_SERVERS`.
    Bootstrap(String),
    /// `MSK_CLUSTER_ARN`: looked up with MSK's GetBootstrapBrokers.
    ClusterArn(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum KafkaAuth {
    Plaintext,
    /// SASL_SSL + SCRAM-SHA-512 with `{"username","password"}` from the Secrets Manager
    /// secret `MSK_SECRET_ARN` (MSK requires its name to start with `AmazonMSK_`). The
    /// brokers' certificate is verified against the system's CAs (MSK's are Amazon's), or
    /// against `KAFKA_CA_FILE` (a PEM file) for a cluster with its own CA.
    Scram {
        secret_id: String,
        ca_file: Option<String>,
    },
}

/// `EMIT_FOR_SECONDS` / `EMIT_INTERVAL_MS`: keep publishing inside one invocation, for
/// sub-minute updates from a one-minute schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmitWindow {
    pub duration: Duration,
    pub every: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub source: SourceConfig,
    /// `SYMBOLS`, comma-separated.
    pub symbols: Vec<String>,
    /// `TOPIC` (default `quotes`).
    pub topic: String,
    pub brokers: Brokers,
    pub auth: KafkaAuth,
    pub emit: Option<EmitWindow>,
    /// `MESSAGE_TIMEOUT_MS`: how long one message may take to be delivered (default 30 s).
    pub message_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: String,
    },
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let invalid = |var: &'static str, value: String, reason: &str| ConfigError::Invalid {
            var,
            value,
            reason: reason.to_owned(),
        };
        let number =
            |var: &'static str, default: u64, max: u64| -> Result<u64, ConfigError> {
                match get(var) {
                    None => Ok(default),
                    Some(v) => v.parse::<u64>().ok().filter(|n| *n <= max).ok_or_else(|| {
                        invalid(var, v, &format!("must be a whole number up to {max}"))
                    }),
                }
            };
        let source = match get("SOURCE").as_deref().unwrap_or("sim") {
            "sim" => SourceConfig::Sim {
                seed: number("SIM_SEED", 1, u64::MAX)?,
                interval_ms: number("SIM_INTERVAL_MS", 1000, 86_400_000)?.max(1) as i64,
            },
            "yahoo" => SourceConfig::Yahoo {
                base_url: get("YAHOO_BASE_URL")
                    .unwrap_or_else(|| "https://query1.finance.yahoo.com".to_owned()),
            },
            "replay" => SourceConfig::Replay {
                path: get("REPLAY_FILE").ok_or(ConfigError::Missing("REPLAY_FILE"))?,
                looping: match get("REPLAY_LOOP").as_deref() {
                    None | Some("true" | "1" | "yes") => true,
                    Some("false" | "0" | "no") => false,
                    Some(other) => {
                        return Err(invalid(
                            "REPLAY_LOOP",
                            other.to_owned(),
                            "must be true or false",
                        ));
                    }
                },
            },
            other => {
                return Err(invalid(
                    "SOURCE",
                    other.to_owned(),
                    "must be sim, yahoo or replay",
                ));
            }
        };
        let symbols: Vec<String> = match get("SYMBOLS") {
            Some(list) => list
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            None => DEFAULT_SYMBOLS.iter().map(|s| (*s).to_owned()).collect(),
        };
        for s in &symbols {
            quotecast_shared::quote::validate_symbol(s)
                .map_err(|e| invalid("SYMBOLS", s.clone(), &e.to_string()))?;
        }
        if symbols.is_empty() {
            return Err(invalid("SYMBOLS", String::new(), "names no symbol"));
        }
        let brokers = match (get("BOOTSTRAP_SERVERS"), get("MSK_CLUSTER_ARN")) {
            (Some(b), _) => Brokers::Bootstrap(b),
            (None, Some(arn)) if arn.starts_with("arn:") => Brokers::ClusterArn(arn),
            (None, Some(arn)) => {
                return Err(invalid(
                    "MSK_CLUSTER_ARN",
                    arn,
                    "must be an ARN (arn:aws:kafka:...)",
                ));
            }
            (None, None) => {
                return Err(ConfigError::Missing("BOOTSTRAP_SERVERS or MSK_CLUSTER_ARN"));
            }
        };
        let auth = match (get("KAFKA_SECURITY").as_deref(), get("MSK_SECRET_ARN")) {
            (Some("PLAINTEXT"), _) | (None, None) => KafkaAuth::Plaintext,
            (Some("SASL_SCRAM") | None, Some(secret_id)) => KafkaAuth::Scram {
                secret_id,
                ca_file: get("KAFKA_CA_FILE"),
            },
            (Some("SASL_SCRAM"), None) => return Err(ConfigError::Missing("MSK_SECRET_ARN")),
            (Some(other), _) => {
                return Err(invalid(
                    "KAFKA_SECURITY",
                    other.to_owned(),
                    "must be PLAINTEXT or SASL_SCRAM",
                ));
            }
        };
        let emit_for = number("EMIT_FOR_SECONDS", 0, 900)?;
        let emit = (emit_for > 0).then(|| -> Result<EmitWindow, ConfigError> {
            Ok(EmitWindow {
                duration: Duration::from_secs(emit_for),
                every: Duration::from_millis(number("EMIT_INTERVAL_MS", 5000, 900_000)?.max(10)),
            })
        });
        Ok(Config {
            source,
            symbols,
            topic: get("TOPIC").unwrap_or_else(|| "quotes".to_owned()),
            brokers,
            auth,
            emit: emit.transpose()?,
            message_timeout: Duration::from_millis(
                number("MESSAGE_TIMEOUT_MS", 30_000, 900_000)?.max(100),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_are_the_local_setup() {
        let c = from(&[("BOOTSTRAP_SERVERS", "127.0.0.1:9092")]).unwrap();
        assert_eq!(
            c.source,
            SourceConfig::Sim {
                seed: 1,
                interval_ms: 1000
            }
        );
        assert_eq!(c.symbols.len(), 20);
        assert_eq!(
            (c.topic.as_str(), &c.auth, c.emit),
            ("quotes", &KafkaAuth::Plaintext, None)
        );
        let msk = from(&[
            ("MSK_CLUSTER_ARN", "arn:aws:kafka:us-east-1:1:cluster/q/x"),
            ("MSK_SECRET_ARN", "AmazonMSK_q"),
            ("SOURCE", "yahoo"),
            ("SYMBOLS", "AMZN, TSLA"),
            ("EMIT_FOR_SECONDS", "50"),
        ])
        .unwrap();
        assert_eq!(
            msk.auth,
            KafkaAuth::Scram {
                secret_id: "AmazonMSK_q".into(),
                ca_file: None,
            }
        );
        assert_eq!(msk.symbols, ["AMZN", "TSLA"]);
        let own_ca = from(&[
            ("BOOTSTRAP_SERVERS", "b:9096"),
            ("MSK_SECRET_ARN", "AmazonMSK_q"),
            ("KAFKA_CA_FILE", "/etc/kafka/ca.pem"),
        ])
        .unwrap();
        assert_eq!(
            own_ca.auth,
            KafkaAuth::Scram {
                secret_id: "AmazonMSK_q".into(),
                ca_file: Some("/etc/kafka/ca.pem".into()),
            }
        );
        assert_eq!(
            msk.emit,
            Some(EmitWindow {
                duration: Duration::from_secs(50),
                every: Duration::from_secs(5)
            })
        );
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(
            from(&[]),
            Err(ConfigError::Missing("BOOTSTRAP_SERVERS or MSK_CLUSTER_ARN"))
        );
        let b = ("BOOTSTRAP_SERVERS", "x:1");
        assert_eq!(
            from(&[b, ("SOURCE", "replay")]),
            Err(ConfigError::Missing("REPLAY_FILE"))
        );
        assert_eq!(
            from(&[b, ("KAFKA_SECURITY", "SASL_SCRAM")]),
            Err(ConfigError::Missing("MSK_SECRET_ARN"))
        );
        for (var, value) in [
            ("SOURCE", "bloomberg"),
            ("SIM_SEED", "-1"),
            ("SYMBOLS", "AM ZN"),
            ("KAFKA_SECURITY", "SSL"),
            ("EMIT_FOR_SECONDS", "3600"),
            ("REPLAY_LOOP", "maybe"),
        ] {
            let mut pairs = vec![b, (var, value)];
            if var == "REPLAY_LOOP" {
                pairs.push(("SOURCE", "replay"));
                pairs.push(("REPLAY_FILE", "f.csv"));
            }
            match from(&pairs) {
                Err(ConfigError::Invalid { var: v, .. }) => assert_eq!(v, var),
                other => panic!("{var}={value}: {other:?}"),
            }
        }
        assert!(matches!(
            from(&[("MSK_CLUSTER_ARN", "my-cluster")]),
            Err(ConfigError::Invalid {
                var: "MSK_CLUSTER_ARN",
                ..
            })
        ));
    }
}
