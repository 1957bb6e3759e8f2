//! The producer's librdkafka context: it hears the brokers refuse the client's login.
//!
//! librdkafka reports a failed TLS handshake or SASL login through its error callback only,
//! then reconnects with backoff; a message waiting for that broker fails at
//! `message.timeout.ms` as a plain timeout. With a wrong password the producer would wait
//! the whole timeout per invocation and then blame the network. This context remembers the
//! refusals so [`crate::kafka::QuotePublisher::publish`] can stop at once and say
//! "authentication", with librdkafka's own reason. Each publish counts only refusals heard
//! after it started, so a refusal that is over (a failed re-authentication, then a good login
//! on a new connection) does not fail every publish after it.

use std::future::Future;
use std::sync::Arc;

use quotecast_shared::kafka_security::is_login_refusal_code;
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use tokio::sync::watch;

/// The refusals heard so far: how many, and the last one's reason.
#[derive(Clone)]
pub struct AuthWatch {
    refusals: Arc<watch::Sender<(u64, String)>>,
}

impl Default for AuthWatch {
    fn default() -> Self {
        AuthWatch {
            refusals: Arc::new(watch::channel((0, String::new())).0),
        }
    }
}

impl AuthWatch {
    /// Refusals heard so far: a publish notes it at its start and waits only for later ones,
    /// so a refusal that is over (a failed re-authentication, then a good login on a new
    /// connection) fails no publish after it, and concurrent publishes do not hide one
    /// another's.
    pub fn heard(&self) -> u64 {
        self.refusals.borrow().0
    }

    /// Resolves with the reason of the first refusal after the `heard`-th; never resolves
    /// while there is none.
    pub fn refused_after(&self, heard: u64) -> impl Future<Output = String> + Send + 'static {
        let mut refusals = self.refusals.subscribe();
        async move {
            let reason = refusals
                .wait_for(|(count, _)| *count > heard)
                .await
                .ok()
                .map(|refusal| refusal.1.clone());
            match reason {
                Some(reason) => reason,
                // The sender lives as long as the producer; without it nothing can refuse.
                None => std::future::pending().await,
            }
        }
    }
}

/// Whether librdkafka's error is the brokers refusing TLS or the SASL login (as opposed to
/// a broker being down, which is worth waiting out).
pub fn is_login_refusal(error: &KafkaError) -> bool {
    error
        .rdkafka_error_code()
        .is_some_and(|code| is_login_refusal_code(code as i32))
}

impl ClientContext for AuthWatch {
    fn error(&self, error: KafkaError, reason: &str) {
        if is_login_refusal(&error) {
            tracing::error!(error = %error, reason, "Kafka refused the login");
            self.refusals.send_modify(|(count, last)| {
                *count += 1;
                reason.clone_into(last);
            });
        } else {
            tracing::warn!(error = %error, reason, "librdkafka");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::RDKafkaErrorCode;

    fn refuse(watch: &AuthWatch, reason: &str) {
        watch.error(KafkaError::Global(RDKafkaErrorCode::Authentication), reason);
    }

    async fn hears(future: impl Future<Output = String>) -> Option<String> {
        tokio::time::timeout(std::time::Duration::from_millis(20), future)
            .await
            .ok()
    }

    #[tokio::test]
    async fn a_publish_hears_only_refusals_after_it_started() {
        let watch = AuthWatch::default();
        let first = watch.heard();
        let waiting = watch.refused_after(first);
        tokio::pin!(waiting);
        assert_eq!(hears(&mut waiting).await, None);
        refuse(&watch, "SASL SCRAM-SHA-512 mechanism handshake failed");
        assert_eq!(
            waiting.await,
            "SASL SCRAM-SHA-512 mechanism handshake failed"
        );
        // A publish started before the refusal but waiting after it hears it at once.
        assert!(hears(watch.refused_after(first)).await.is_some());
        // A refusal before a publish does not fail it: a stale one blocked every later
        // publish (seen with Tansu, which fails one re-authentication a minute).
        assert_eq!(hears(watch.refused_after(watch.heard())).await, None);
        // Each of librdkafka's login refusals counts, and a broker going away does not.
        for code in [
            RDKafkaErrorCode::SSL,
            RDKafkaErrorCode::SaslAuthenticationFailed,
            RDKafkaErrorCode::UnsupportedSASLMechanism,
            RDKafkaErrorCode::IllegalSASLState,
        ] {
            assert!(is_login_refusal(&KafkaError::Global(code)), "{code:?}");
        }
        let before = watch.heard();
        watch.error(
            KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
            "Connection refused",
        );
        assert_eq!(watch.heard(), before);
    }
}
