//! Publishing quotes to Kafka: key = symbol (so a symbol's quotes stay in order on one
//! partition), idempotent producer, lz4 compression, and every delivery report awaited
//! before returning. A failure names the topic, partition and key; nothing is dropped
//! silently.

use std::collections::VecDeque;
use std::time::Duration;

use quotecast_shared::Quote;
pub use quotecast_shared::kafka_security::{KafkaSecurity, ScramMechanism};
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer, PurgeConfig};

use crate::auth_watch::AuthWatch;

#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    pub security: KafkaSecurity,
    pub topic: String,
    /// How long librdkafka may try to deliver one message before reporting it failed.
    pub message_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot create the Kafka producer: {0}")]
    Client(KafkaError),
    #[error(transparent)]
    Delivery(Box<DeliveryFailure>),
    /// The brokers refused the client's TLS or SASL login. librdkafka would retry and let each
    /// message time out much later; this ends the publish at the first refusal heard during
    /// it, with librdkafka's reason, and purges what it still held in its queue.
    #[error(
        "Kafka authentication failed at {bootstrap_servers}: {reason}; \
         the publish of {total} quotes was abandoned (any the brokers had acknowledged stay)"
    )]
    Authentication {
        bootstrap_servers: String,
        reason: String,
        total: usize,
    },
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{failed} of {total} quotes were not delivered; first: topic {topic}, partition {partition}, key {key}: {error}"
)]
pub struct DeliveryFailure {
    pub failed: usize,
    pub total: usize,
    pub topic: String,
    pub partition: String,
    pub key: String,
    pub error: KafkaError,
}

/// One producer per container: connections and idempotence state are kept across invocations.
pub struct QuotePublisher {
    producer: FutureProducer<AuthWatch>,
    auth: AuthWatch,
    topic: String,
    bootstrap_servers: String,
}

impl QuotePublisher {
    pub fn new(settings: &KafkaSettings) -> Result<QuotePublisher, PublishError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &settings.bootstrap_servers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "lz4")
            .set("linger.ms", "1")
            .set(
                "message.timeout.ms",
                settings.message_timeout.as_millis().to_string(),
            );
        for (key, value) in settings.security.client_settings() {
            config.set(key, value);
        }
        let auth = AuthWatch::default();
        Ok(QuotePublisher {
            producer: config
                .create_with_context(auth.clone())
                .map_err(PublishError::Client)?,
            auth,
            topic: settings.topic.clone(),
            bootstrap_servers: settings.bootstrap_servers.clone(),
        })
    }

    /// Publishes `quotes` in order and waits until the broker has acknowledged every one, or
    /// until the brokers refuse the client's login.
    pub async fn publish(&self, quotes: &[Quote]) -> Result<usize, PublishError> {
        // A refusal heard before this call may be over: librdkafka reconnects and logs in
        // again (a broker failing one re-authentication, say). Only one heard during the call
        // ends it; a login that is still wrong is refused again within librdkafka's
        // reconnect backoff (100 ms, doubling to at most 10 s).
        let refused = self.auth.refused_after(self.auth.heard());
        tokio::select! {
            // A publish that has finished is reported as it finished.
            biased;
            published = self.deliver(quotes) => published,
            reason = refused => {
                // What is still queued here would go out on a later login, after the
                // handler reported it failed: the retry would send it twice.
                self.producer.purge(PurgeConfig::default().queue());
                Err(PublishError::Authentication {
                    bootstrap_servers: self.bootstrap_servers.clone(),
                    reason,
                    total: quotes.len(),
                })
            }
        }
    }

    async fn deliver(&self, quotes: &[Quote]) -> Result<usize, PublishError> {
        let mut pending: VecDeque<(String, DeliveryFuture)> = VecDeque::with_capacity(quotes.len());
        let mut failures: Vec<(String, String, KafkaError)> = Vec::new();
        for quote in quotes {
            let payload = quote.to_json();
            loop {
                let record = FutureRecord::to(&self.topic)
                    .key(quote.symbol.as_bytes())
                    .payload(payload.as_bytes())
                    .timestamp(quote.timestamp);
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push_back((quote.symbol.clone(), delivery));
                        break;
                    }
                    // The local queue is full: wait for the oldest delivery to make room.
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        match pending.pop_front() {
                            Some((key, delivery)) => {
                                record_outcome(key, delivery.await, &mut failures)
                            }
                            None => tokio::time::sleep(Duration::from_millis(1)).await,
                        }
                    }
                    Err((error, _)) => {
                        failures.push((quote.symbol.clone(), "unassigned".to_owned(), error));
                        break;
                    }
                }
            }
        }
        for (key, delivery) in pending {
            record_outcome(key, delivery.await, &mut failures);
        }
        let failed = failures.len();
        match failures.into_iter().next() {
            None => Ok(quotes.len()),
            Some((key, partition, error)) => {
                Err(PublishError::Delivery(Box::new(DeliveryFailure {
                    failed,
                    total: quotes.len(),
                    topic: self.topic.clone(),
                    partition,
                    key,
                    error,
                })))
            }
        }
    }

    /// Waits for everything queued to be delivered (at shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout)
    }
}

/// Notes a failed delivery; `Err(_)` of the outer result means the producer went away.
fn record_outcome<E>(
    key: String,
    outcome: Result<rdkafka::producer::future_producer::OwnedDeliveryResult, E>,
    failures: &mut Vec<(String, String, KafkaError)>,
) {
    match outcome {
        Ok(Ok(_)) => {}
        Ok(Err((error, message))) => {
            use rdkafka::Message;
            failures.push((key, message.partition().to_string(), error));
        }
        Err(_) => failures.push((key, "unknown".to_owned(), KafkaError::Canceled)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(security: KafkaSecurity) -> KafkaSettings {
        KafkaSettings {
            bootstrap_servers: "127.0.0.1:1".to_owned(),
            security,
            topic: "quotes".to_owned(),
            message_timeout: Duration::from_secs(1),
        }
    }

    /// librdkafka refuses `security.protocol=SASL_SSL` at client creation when it was built
    /// without OpenSSL, and SCRAM without its SASL support: a build missing the `ssl` feature
    /// fails here, not on AWS.
    #[test]
    fn our_librdkafka_has_tls_and_scram_built_in() {
        let native = ClientConfig::new().create_native_config().unwrap();
        let features = native.get("builtin.features").unwrap();
        let features: Vec<&str> = features.split(',').collect();
        for wanted in ["ssl", "sasl_scram"] {
            assert!(features.contains(&wanted), "{wanted} not in {features:?}");
        }
        let msk = KafkaSecurity::msk_scram("quotecast".into(), "pw".into());
        assert!(QuotePublisher::new(&settings(msk)).is_ok());
        // The check has teeth: a property librdkafka does not support fails creation.
        let mut unsupported = ClientConfig::new();
        unsupported.set("security.protocol", "SASL_SSL");
        unsupported.set("sasl.mechanism", "SCRAM-SHA-1024");
        assert!(
            unsupported
                .create::<rdkafka::producer::BaseProducer>()
                .is_err()
        );
    }
}
