//! The producer's librdkafka context: it hears the brokers refuse the client's login.
//!
//! librdkafka reports a failed TLS handshake or SASL login through its error callback only,
//! then reconnects with backoff; a message waiting for that broker fails at
//! `message.timeout.ms` as a plain timeout. With a wrong password the producer would wait
//! the whole timeout per invocation and then blame the network. This context remembers the
//! last refusal so [`crate::kafka::QuotePublisher::publish`] can stop at once and say
//! "authentication", with librdkafka's own reason. Each publish forgets what came before it,
//! so a refusal that is over (a failed re-authentication, then a good login on a new
//! connection) does not fail every publish after it.

use std::future::Future;
use std::sync::Arc;

use quotecast_shared::kafka_security::LOGIN_REFUSAL_CODES;
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use tokio::sync::watch;

/// The most recent refusal, until forgotten (at the start of each publish).
#[derive(Clone)]
pub struct AuthWatch {
    refusal: Arc<watch::Sender<Option<String>>>,
}

impl Default for AuthWatch {
    fn default() -> Self {
        AuthWatch {
            refusal: Arc::new(watch::channel(None).0),
        }
    }
}

impl AuthWatch {
    /// Resolves with the reason once the brokers have refused the login (at once if they
    /// already have); never resolves while they have not.
    pub fn refused(&self) -> impl Future<Output = String> + Send + 'static {
        let mut refusal = self.refusal.subscribe();
        async move {
            let reason = refusal
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|reason| reason.clone());
            match reason {
                Some(reason) => reason,
                // The sender lives as long as the producer; without it nothing can refuse.
                None => std::future::pending().await,
            }
        }
    }

    /// Forgets the refusal heard so far: from now on only a new one counts.
    pub fn forget(&self) {
        self.refusal.send_if_modified(|r| r.take().is_some());
    }
}

/// Whether librdkafka's error is the brokers refusing TLS or the SASL login (as opposed to
/// a broker being down, which is worth waiting out).
pub fn is_login_refusal(error: &KafkaError) -> bool {
    error
        .rdkafka_error_code()
        .is_some_and(|code| LOGIN_REFUSAL_CODES.contains(&(code as i32)))
}

impl ClientContext for AuthWatch {
    fn error(&self, error: KafkaError, reason: &str) {
        if is_login_refusal(&error) {
            tracing::error!(error = %error, reason, "Kafka refused the login");
            self.refusal.send_replace(Some(reason.to_owned()));
        } else {
            tracing::warn!(error = %error, reason, "librdkafka");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::RDKafkaErrorCode;

    #[tokio::test]
    async fn a_refusal_is_heard_until_forgotten() {
        let watch = AuthWatch::default();
        let pending = watch.refused();
        tokio::pin!(pending);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), &mut pending)
                .await
                .is_err()
        );
        watch.error(
            KafkaError::Global(RDKafkaErrorCode::Authentication),
            "SASL SCRAM-SHA-512 mechanism handshake failed",
        );
        assert_eq!(
            pending.await,
            "SASL SCRAM-SHA-512 mechanism handshake failed"
        );
        // Already refused: a later publish learns it at once.
        assert!(watch.refused().await.contains("handshake failed"));
        // A refusal before a publish does not fail it: a stale one blocked every later
        // publish (seen with Tansu, which fails one re-authentication a minute).
        watch.forget();
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), watch.refused())
                .await
                .is_err()
        );
        // Each of librdkafka's login refusals counts, and a broker going away does not.
        for code in [
            RDKafkaErrorCode::SSL,
            RDKafkaErrorCode::SaslAuthenticationFailed,
            RDKafkaErrorCode::UnsupportedSASLMechanism,
            RDKafkaErrorCode::IllegalSASLState,
        ] {
            assert!(is_login_refusal(&KafkaError::Global(code)), "{code:?}");
        }
        watch.error(
            KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
            "Connection refused",
        );
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), watch.refused())
                .await
                .is_err()
        );
    }
}
