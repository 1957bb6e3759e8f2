//! How a Kafka client reaches the brokers, said once for every client quotecast runs (the
//! producer Lambda, the event source mapping twin, `quotecast dev`, the tests) as librdkafka
//! settings. It lives here, not beside librdkafka, so the producer and the local twins
//! agree on one spelling of MSK's SASL/SCRAM listener: SASL_SSL, a SCRAM mechanism, and a CA
//! that is verified.

use std::fmt;

/// The SCRAM mechanism. MSK's SASL/SCRAM listener takes SCRAM-SHA-512 only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScramMechanism {
    Sha512,
    Sha256,
}

impl ScramMechanism {
    /// librdkafka's `sasl.mechanism` value.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub enum KafkaSecurity {
    Plaintext,
    /// SASL_SSL: TLS with the server's certificate verified, then SCRAM.
    SaslScram {
        mechanism: ScramMechanism,
        username: String,
        password: String,
        /// A PEM file of the CA to trust; `None`: the system's trust store (librdkafka's
        /// `probe`), which is what MSK's Amazon-issued certificates need.
        ca_file: Option<String>,
    },
}

impl KafkaSecurity {
    /// MSK's SASL/SCRAM listener, as its client documentation configures it.
    pub fn msk_scram(username: String, password: String) -> Self {
        KafkaSecurity::SaslScram {
            mechanism: ScramMechanism::Sha512,
            username,
            password,
            ca_file: None,
        }
    }

    /// The librdkafka properties that say it, to set on a client's configuration.
    pub fn client_settings(&self) -> Vec<(&'static str, String)> {
        match self {
            KafkaSecurity::Plaintext => vec![("security.protocol", "plaintext".to_owned())],
            KafkaSecurity::SaslScram {
                mechanism,
                username,
                password,
                ca_file,
            } => vec![
                ("security.protocol", "SASL_SSL".to_owned()),
                ("sasl.mechanism", mechanism.name().to_owned()),
                ("sasl.username", username.clone()),
                ("sasl.password", password.clone()),
                (
                    "ssl.ca.location",
                    ca_file.clone().unwrap_or_else(|| "probe".to_owned()),
                ),
                // librdkafka's default since 2.0, said so that no build can turn it off:
                // the broker's name must be in its certificate.
                ("ssl.endpoint.identification.algorithm", "https".to_owned()),
            ],
        }
    }
}

/// librdkafka's error codes (`rd_kafka_resp_err_t`) for brokers refusing a client's TLS or
/// SASL login, as opposed to a broker being down, which is worth waiting out: `__SSL` (-181),
/// `__AUTHENTICATION` (-169), `UNSUPPORTED_SASL_MECHANISM` (33), `ILLEGAL_SASL_STATE` (34),
/// `SASL_AUTHENTICATION_FAILED` (58). librdkafka reports them through its error callback and
/// reconnects; every client of ours that must say "authentication" instead of timing out
/// checks this list.
pub const LOGIN_REFUSAL_CODES: [i32; 5] = [-181, -169, 33, 34, 58];

/// Whether librdkafka's error code (`rd_kafka_resp_err_t` as a number) is a login refusal.
pub fn is_login_refusal_code(code: i32) -> bool {
    LOGIN_REFUSAL_CODES.contains(&code)
}

/// The password never reaches a log line.
impl fmt::Debug for KafkaSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KafkaSecurity::Plaintext => f.write_str("Plaintext"),
            KafkaSecurity::SaslScram {
                mechanism,
                username,
                ca_file,
                ..
            } => f
                .debug_struct("SaslScram")
                .field("mechanism", &mechanism.name())
                .field("username", username)
                .field("password", &"<redacted>")
                .field("ca_file", ca_file)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msk_scram_is_sasl_ssl_with_sha512_and_a_verified_ca() {
        let settings = KafkaSecurity::msk_scram("u".into(), "secret-pw".into()).client_settings();
        let get = |k: &str| {
            settings
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(get("ssl.ca.location"), Some("probe"));
        assert_eq!(get("ssl.endpoint.identification.algorithm"), Some("https"));
        assert!(get("enable.ssl.certificate.verification").is_none());
    }

    #[test]
    fn the_password_is_not_in_debug_output() {
        let text = format!(
            "{:?}",
            KafkaSecurity::msk_scram("u".into(), "secret-pw".into())
        );
        assert!(!text.contains("secret-pw"), "{text}");
        assert!(text.contains("SCRAM-SHA-512"), "{text}");
    }
}
